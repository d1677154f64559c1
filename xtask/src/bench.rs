//! The Wine + PulseAudio bench: a private PulseAudio daemon with null sinks, a private
//! WINEPREFIX with the `bcryptprimitives` shim, silent keep-alive streams, recording, and a
//! runner for Windows executables.
//!
//! Everything lives under `target/bench/`. Teardown runs on `Drop` (so also on every error
//! path): it stops only the processes this bench started (by PID), runs `wineserver -k` for
//! its own prefix, and removes the runtime directory. PIDs are also written to
//! `target/bench/pids` so a later run can clean up after a run that was killed.

use crate::setup::Tools;
use crate::util::{self, detail, step, Res};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Sample rate of the bench's sinks.
pub const SINK_RATE: u32 = 48_000;
/// Channels of the bench's sinks.
pub const SINK_CHANNELS: u32 = 2;
/// The default sink, where Wine's default audio endpoint plays.
pub const SINK_A: &str = "wasio_a";
/// A second sink for cross-device tests.
pub const SINK_B: &str = "wasio_b";

/// Bumped when the prefix preparation changes, to rebuild old prefixes.
const PREFIX_VERSION: &str = "wasio-prefix-2";
/// The registry hives saved right after the prefix is created and restored at every start.
const REGISTRY_HIVES: [&str; 3] = ["system.reg", "user.reg", "userdef.reg"];

/// A running bench. Dropping it tears everything down.
pub struct Bench {
    pub dir: PathBuf,
    pub run_dir: PathBuf,
    pub prefix: PathBuf,
    pub logs: PathBuf,
    pub tools: Tools,
    pulse_socket: PathBuf,
    /// Processes we started and must stop, in start order (stopped in reverse).
    children: Vec<(String, Child)>,
    wineserver_started: bool,
    torn_down: bool,
    /// Whether Wine processes get [`PULSE_LATENCY_MSEC`] (see [`Bench::pulse_defaults`]).
    pulse_defaults: std::sync::atomic::AtomicBool,
}

/// What a Windows executable did under Wine.
#[derive(Debug, Clone)]
pub struct ExeOutput {
    /// Exit code; `None` when it was killed (timeout or signal), or when Wine reported an
    /// unhandled exception ([`ExeOutput::crash_line`]): a fault in a thread that outlives
    /// `main` can leave the exit code 0, so a crashed run never counts by its code.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub timed_out: bool,
    pub elapsed: Duration,
}

/// What Wine prints when a Windows program crashes (`wine: Unhandled page fault on …`,
/// winedbg's `Unhandled exception: …`, `…, starting debugger...`).
const CRASH_MARKERS: [&str; 2] = ["Unhandled", "starting debugger"];

impl ExeOutput {
    pub fn success(&self) -> bool {
        self.code == Some(0) && !self.timed_out && self.crash_line().is_none()
    }

    /// The first line of stdout or stderr in which Wine reports a crash.
    pub fn crash_line(&self) -> Option<&str> {
        self.stderr
            .lines()
            .chain(self.stdout.lines())
            .map(str::trim)
            .find(|line| CRASH_MARKERS.iter().any(|marker| line.contains(marker)))
    }

    /// One line describing how it ended, for reports.
    pub fn describe_end(&self) -> String {
        if let Some(line) = self.crash_line() {
            return format!("crashed: {line}");
        }
        match (self.timed_out, self.code) {
            (true, _) => format!("timed out after {:.1} s", self.elapsed.as_secs_f64()),
            (false, Some(code)) => format!("exit code {code}"),
            (false, None) => "killed by a signal".to_string(),
        }
    }
}

impl Bench {
    /// Starts PulseAudio, prepares the Wine prefix, starts the keep-alive streams.
    pub fn up(root: &Path, tools: &Tools) -> Res<Bench> {
        Bench::up_in(root, tools, "bench")
    }

    /// [`Bench::up`] in `target/<name>/`, for another Wine (`tools`, see chroot.rs).
    pub fn up_in(root: &Path, tools: &Tools, name: &str) -> Res<Bench> {
        step("bench: starting");
        let dir = util::target_dir(root).join(name);
        let run_dir = dir.join("run");
        let mut bench = Bench {
            prefix: dir.join("prefix"),
            logs: dir.join("logs"),
            pulse_socket: run_dir.join("pulse").join("native"),
            run_dir,
            dir,
            tools: tools.clone(),
            children: Vec::new(),
            wineserver_started: false,
            torn_down: false,
            pulse_defaults: std::sync::atomic::AtomicBool::new(false),
        };
        bench.reap_stale_processes();
        // Any error below drops `bench`, which tears down what was started.
        if bench.run_dir.exists() {
            fs::remove_dir_all(&bench.run_dir)
                .map_err(|e| format!("cannot clear {}: {e}", bench.run_dir.display()))?;
        }
        for dir in [&bench.run_dir.join("pulse"), &bench.logs] {
            fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        // libpulse insists on a private runtime directory.
        set_mode(&bench.run_dir, 0o700)?;
        bench.start_pulse()?;
        bench.prepare_prefix()?;
        bench.start_wineserver()?;
        for sink in [SINK_A, SINK_B] {
            bench.start_keepalive(sink)?;
        }
        step("bench: up");
        Ok(bench)
    }

    /// Environment shared by Pulse clients and Wine processes.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("XDG_RUNTIME_DIR", self.run_dir.display().to_string()),
            (
                "PULSE_SERVER",
                format!("unix:{}", self.pulse_socket.display()),
            ),
            // The daemon runs with anonymous auth; never look at the user's cookie.
            (
                "PULSE_COOKIE",
                self.run_dir.join("pulse/cookie").display().to_string(),
            ),
            ("WINEPREFIX", self.prefix.display().to_string()),
            ("WINEARCH", "win64".to_string()),
            (
                "WINEDEBUG",
                std::env::var("WINEDEBUG").unwrap_or_else(|_| "-all".to_string()),
            ),
            // Wine 8.0 has no builtin bcryptprimitives: load our shim from system32.
            // mscoree/mshtml disabled so wineboot never asks for Mono/Gecko.
            (
                "WINEDLLOVERRIDES",
                "bcryptprimitives=n,b;mscoree=;mshtml=".to_string(),
            ),
        ]
    }

    /// A command with the bench environment.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(program);
        command.envs(self.env());
        command
    }

    /// `wine64 <program> args...` with the bench environment.
    /// Wine's Pulse streams get [`PULSE_LATENCY_MSEC`].
    pub fn wine(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = self.command(&self.tools.wine64);
        if self
            .pulse_defaults
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            command.env_remove("PULSE_LATENCY_MSEC");
        } else {
            command.envs(pulse_latency_env());
        }
        command.arg(program);
        command
    }

    /// While the guard lives, Wine processes keep PulseAudio's default stream latency instead
    /// of [`PULSE_LATENCY_MSEC`]: tests that judge the input latency need winepulse's 10 ms
    /// capture fragments (at 60 ms, PulseAudio hands capture over in fragments whose
    /// alignment WASAPI does not show, which leaves up to 60 ms of the input latency unseen).
    /// Such tests make the output robust with Wasio.toml `buffer_ms` instead.
    pub fn pulse_defaults(&self) -> PulseDefaults<'_> {
        self.pulse_defaults
            .store(true, std::sync::atomic::Ordering::Relaxed);
        PulseDefaults { bench: self }
    }

    /// Sets Wine's audio driver (`HKCU\Software\Wine\Drivers Audio`), e.g. `pulse` or `alsa`.
    pub fn set_wine_audio_driver(&self, driver: &str) -> Res<()> {
        let mut reg = self.wine("reg");
        reg.args([
            "add",
            "HKCU\\Software\\Wine\\Drivers",
            "/v",
            "Audio",
            "/t",
            "REG_SZ",
            "/d",
            driver,
            "/f",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        util::run(&mut reg)
    }

    /// Runs a Windows program under wine64 with a timeout; stdout/stderr are captured through
    /// log files under `target/bench/logs/<label>.{out,err}`.
    pub fn run_windows(
        &self,
        label: &str,
        program: impl AsRef<std::ffi::OsStr>,
        args: &[String],
        timeout: Duration,
    ) -> Res<ExeOutput> {
        self.run_windows_with_env(label, program, args, &[], timeout)
    }

    /// [`Bench::run_windows`] with extra environment variables.
    pub fn run_windows_with_env(
        &self,
        label: &str,
        program: impl AsRef<std::ffi::OsStr>,
        args: &[String],
        env: &[(&str, &str)],
        timeout: Duration,
    ) -> Res<ExeOutput> {
        let out_path = self.logs.join(format!("{label}.out"));
        let err_path = self.logs.join(format!("{label}.err"));
        let stdout = File::create(&out_path)
            .map_err(|e| format!("cannot create {}: {e}", out_path.display()))?;
        let stderr = File::create(&err_path)
            .map_err(|e| format!("cannot create {}: {e}", err_path.display()))?;
        let mut command = self.wine(program);
        command
            .envs(env.iter().copied())
            .args(args)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        detail(&format!("$ {}", util::describe(&command)));
        let started = Instant::now();
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start wine64: {e}"))?;
        let status = util::wait_timeout(&mut child, timeout);
        let timed_out = status.is_none();
        if timed_out {
            // The wine64 process *is* the Windows process: killing it ends the program.
            let _ = child.kill();
            let _ = child.wait();
        }
        let elapsed = started.elapsed();
        let mut output = ExeOutput {
            code: status.and_then(|status| status.code()),
            stdout: fs::read_to_string(&out_path).unwrap_or_default(),
            stderr: fs::read_to_string(&err_path).unwrap_or_default(),
            timed_out,
            elapsed,
        };
        if let Some(line) = output.crash_line() {
            detail(&format!(
                "{label}: Wine reported a crash (exit code {:?}): {line}",
                output.code
            ));
            output.code = None;
        }
        Ok(output)
    }

    /// Starts recording a Pulse source (e.g. `wasio_a.monitor`) to a raw float32le file at the
    /// sink rate and channel count.
    pub fn start_recording(&self, source: &str, path: &Path) -> Res<Recording> {
        let file =
            File::create(path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        let log = self.log_file(&format!("parec-{source}"))?;
        let mut command = self.command("parec");
        command
            .arg(format!("--device={source}"))
            .args(raw_format_args())
            // A roomy capture buffer: the recorder must never be the one that drops audio.
            .args([
                "--latency-msec=100",
                "--raw",
                "--client-name=wasio-recorder",
            ])
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(log);
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start parec: {e}"))?;
        self.remember_pid(child.id(), "parec");
        let mut recording = Recording {
            child: Some(child),
            path: path.to_path_buf(),
        };
        // Nothing may play before the recorder is really streaming: on a busy machine parec can
        // take a second to connect. The keep-alive stream makes the monitor produce (silent)
        // data all the time, so wait until 0.3 s of it has arrived.
        let flowing = (SINK_RATE * SINK_CHANNELS * 4) as u64 * 3 / 10;
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(child) = recording.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    recording.child = None;
                    return Err(format!(
                        "parec exited at once ({status}); see {}",
                        self.logs.display()
                    ));
                }
            }
            let size = fs::metadata(path).map(|meta| meta.len()).unwrap_or(0);
            if size >= flowing {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "parec recorded only {size} bytes in 15 s: the recorder is not streaming"
                ));
            }
            thread::sleep(Duration::from_millis(20));
        }
        Ok(recording)
    }

    /// Plays a raw float32le file (sink format) into a sink with pacat and waits for it.
    pub fn play_raw(&self, sink: &str, path: &Path, timeout: Duration) -> Res<()> {
        let input = File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let mut command = self.command("pacat");
        command
            .arg("--playback")
            .arg(format!("--device={sink}"))
            .args(raw_format_args())
            // A roomy playback buffer: the reference player must not underrun on a busy machine.
            .args(["--latency-msec=200", "--raw", "--client-name=wasio-player"])
            .stdin(input)
            .stdout(Stdio::null())
            .stderr(self.log_file("pacat-play")?);
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start pacat: {e}"))?;
        match util::wait_timeout(&mut child, timeout) {
            Some(status) if status.success() => Ok(()),
            Some(status) => Err(format!("pacat failed ({status})")),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                Err("pacat did not finish in time".to_string())
            }
        }
    }

    /// The Windows path (through Wine's `Z:` drive) of a host path.
    pub fn windows_path(path: &Path) -> String {
        let absolute = if path.is_absolute() {
            path.to_path_buf()
        } else {
            std::env::current_dir().unwrap_or_default().join(path)
        };
        format!("Z:{}", absolute.display()).replace('/', "\\")
    }

    fn log_file(&self, name: &str) -> Res<File> {
        let path = self.logs.join(format!("{name}.log"));
        File::create(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))
    }

    fn start_pulse(&mut self) -> Res<()> {
        let script = self.run_dir.join("bench.pa");
        let mut text = format!(
            "load-module module-native-protocol-unix socket={} auth-anonymous=1\n",
            self.pulse_socket.display()
        );
        for sink in [SINK_A, SINK_B] {
            text.push_str(&format!(
                "load-module module-null-sink sink_name={sink} rate={SINK_RATE} format=float32le channels={SINK_CHANNELS} sink_properties=device.description={sink}\n"
            ));
        }
        text.push_str(&format!(
            "set-default-sink {SINK_A}\nset-default-source {SINK_A}.monitor\n"
        ));
        fs::write(&script, text).map_err(|e| format!("cannot write {}: {e}", script.display()))?;
        let config_home = self.run_dir.join("config");
        fs::create_dir_all(config_home.join("pulse")).map_err(|e| e.to_string())?;
        fs::write(
            config_home.join("pulse/daemon.conf"),
            format!("default-sample-format = float32le\ndefault-sample-rate = {SINK_RATE}\nalternate-sample-rate = {SINK_RATE}\ndefault-sample-channels = {SINK_CHANNELS}\nflat-volumes = no\n"),
        )
        .map_err(|e| e.to_string())?;

        let mut command = self.command("pulseaudio");
        command
            .env("XDG_CONFIG_HOME", &config_home)
            .env("HOME", &self.run_dir)
            .args([
                "-n",
                "--daemonize=no",
                "--exit-idle-time=-1",
                "--use-pid-file=no",
            ])
            .args(["--system=no", "--disallow-exit=yes", "--log-level=notice"])
            .arg("-F")
            .arg(&script)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(self.log_file("pulseaudio")?);
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start pulseaudio: {e}"))?;
        detail(&format!(
            "pulseaudio pid {} (socket {})",
            child.id(),
            self.pulse_socket.display()
        ));
        self.track("pulseaudio", child);

        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some((_, child)) = self.children.last_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(format!(
                        "pulseaudio exited ({status}); see {}",
                        self.logs.join("pulseaudio.log").display()
                    ));
                }
            }
            let answer = self
                .command("pactl")
                .args(["list", "short", "sinks"])
                .stdin(Stdio::null())
                .stderr(Stdio::null())
                .output();
            if let Ok(answer) = answer {
                let sinks = String::from_utf8_lossy(&answer.stdout);
                if answer.status.success() && sinks.contains(SINK_A) && sinks.contains(SINK_B) {
                    for line in sinks.lines() {
                        detail(&format!(
                            "sink: {}",
                            line.split_whitespace().collect::<Vec<_>>().join(" ")
                        ));
                    }
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err("pulseaudio did not answer within 15 s".to_string());
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    fn prepare_prefix(&mut self) -> Res<()> {
        let marker = self.prefix.join(".wasio-prefix");
        let ready = fs::read_to_string(&marker)
            .map(|text| text.trim() == PREFIX_VERSION)
            .unwrap_or(false);
        if !ready {
            if self.prefix.exists() {
                detail("Wine prefix incomplete or outdated: recreating it");
                let _ = self.command(&self.tools.wineserver).arg("-k").status();
                fs::remove_dir_all(&self.prefix)
                    .map_err(|e| format!("cannot remove {}: {e}", self.prefix.display()))?;
            }
            detail(&format!(
                "creating Wine prefix {} (wineboot)",
                self.prefix.display()
            ));
            self.wineserver_started = true;
            let started = Instant::now();
            let mut boot = self.wine("wineboot");
            boot.arg("-i")
                .stdin(Stdio::null())
                .stdout(self.log_file("wineboot")?)
                .stderr(self.log_file("wineboot.err")?);
            util::run(&mut boot)?;
            // Route Wine's audio to PulseAudio explicitly, so a Pulse failure is loud instead
            // of a silent fallback to ALSA.
            self.set_wine_audio_driver("pulse")?;
            self.wait_wineserver()?;
            let pristine = self.pristine_dir();
            fs::create_dir_all(&pristine)
                .map_err(|e| format!("cannot create {}: {e}", pristine.display()))?;
            for hive in REGISTRY_HIVES {
                fs::copy(self.prefix.join(hive), pristine.join(hive))
                    .map_err(|e| format!("cannot save the pristine {hive}: {e}"))?;
            }
            detail(&format!(
                "prefix ready in {:.1} s",
                started.elapsed().as_secs_f64()
            ));
        } else {
            // Every run starts from the registry as wineboot left it: a driver registered by an
            // earlier run (maybe another build, at another path) must not make tests pass.
            for hive in REGISTRY_HIVES {
                fs::copy(self.pristine_dir().join(hive), self.prefix.join(hive))
                    .map_err(|e| format!("cannot restore the pristine {hive}: {e}"))?;
            }
            detail(&format!(
                "Wine prefix {} ready (cached, registry reset to pristine)",
                self.prefix.display()
            ));
        }
        self.install_shim()?;
        if !ready {
            fs::write(&marker, PREFIX_VERSION).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn pristine_dir(&self) -> PathBuf {
        self.prefix.join(".wasio-pristine")
    }

    fn install_shim(&self) -> Res<()> {
        let Some(shim) = &self.tools.shim_dll else {
            return Ok(());
        };
        let contents = fs::read(shim).map_err(|e| format!("cannot read shim: {e}"))?;
        let system32 = self.prefix.join("drive_c/windows/system32");
        let target = system32.join("bcryptprimitives.dll");
        if !util::same_contents(&target, &contents) {
            fs::write(&target, contents)
                .map_err(|e| format!("cannot install shim into {}: {e}", system32.display()))?;
            detail(&format!("shim installed: {}", target.display()));
        }
        Ok(())
    }

    fn wait_wineserver(&self) -> Res<()> {
        let mut wait = self.command(&self.tools.wineserver);
        wait.arg("-w");
        let mut child = wait
            .spawn()
            .map_err(|e| format!("cannot run wineserver -w: {e}"))?;
        match util::wait_timeout(&mut child, Duration::from_secs(120)) {
            Some(_) => Ok(()),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                Err("wineserver -w did not return within 120 s".to_string())
            }
        }
    }

    /// A persistent wineserver in the foreground, so every Wine run reuses it and we own its PID.
    fn start_wineserver(&mut self) -> Res<()> {
        let mut command = self.command(&self.tools.wineserver);
        command
            .args(["-f", "-p"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(self.log_file("wineserver")?);
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start wineserver: {e}"))?;
        detail(&format!("wineserver pid {}", child.id()));
        self.wineserver_started = true;
        self.track("wineserver", child);
        thread::sleep(Duration::from_millis(200));
        if let Some((_, child)) = self.children.last_mut() {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "wineserver exited at once ({status}): is another one running for this prefix?"
                ));
            }
        }
        Ok(())
    }

    fn start_keepalive(&mut self, sink: &str) -> Res<()> {
        // An idle null sink renders in 2 s blocks; a silent 10 ms stream keeps it ticking.
        let zeros = File::open("/dev/zero").map_err(|e| format!("cannot open /dev/zero: {e}"))?;
        let mut command = self.command("pacat");
        command
            .arg("--playback")
            .arg(format!("--device={sink}"))
            .args(raw_format_args())
            .args(["--latency-msec=10", "--raw"])
            .arg(format!("--client-name=wasio-keepalive-{sink}"))
            .stdin(zeros)
            .stdout(Stdio::null())
            .stderr(self.log_file(&format!("keepalive-{sink}"))?);
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start pacat: {e}"))?;
        detail(&format!(
            "silent keep-alive stream on {sink}: pacat pid {}",
            child.id()
        ));
        self.track(&format!("pacat keep-alive {sink}"), child);
        Ok(())
    }

    fn track(&mut self, name: &str, child: Child) {
        self.remember_pid(child.id(), name);
        self.children.push((name.to_string(), child));
    }

    fn pids_file(&self) -> PathBuf {
        self.dir.join("pids")
    }

    /// Records `<pid> <cmdline>` so a later run can stop processes a killed run left behind.
    fn remember_pid(&self, pid: u32, _name: &str) {
        let Some(cmdline) = proc_cmdline(pid) else {
            return;
        };
        let line = format!("{pid} {cmdline}\n");
        let _ = fs::create_dir_all(&self.dir);
        let _ = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.pids_file())
            .and_then(|mut file| std::io::Write::write_all(&mut file, line.as_bytes()));
    }

    /// Stops processes listed in `target/bench/pids` by an earlier run, but only those whose
    /// command line is still exactly the one recorded (so never an unrelated process).
    fn reap_stale_processes(&self) {
        let Ok(text) = fs::read_to_string(self.pids_file()) else {
            return;
        };
        for line in text.lines() {
            let Some((pid, cmdline)) = line.split_once(' ') else {
                continue;
            };
            let Ok(pid) = pid.parse::<u32>() else {
                continue;
            };
            if proc_cmdline(pid).as_deref() == Some(cmdline) {
                detail(&format!(
                    "stopping leftover process {pid} from an earlier run: {cmdline}"
                ));
                util::signal(pid, "TERM");
                thread::sleep(Duration::from_millis(300));
                if proc_cmdline(pid).as_deref() == Some(cmdline) {
                    util::signal(pid, "KILL");
                }
            }
        }
        if self.prefix.join("system.reg").exists() {
            let _ = self
                .command(&self.tools.wineserver)
                .arg("-k")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let _ = fs::remove_file(self.pids_file());
    }

    /// Stops everything. Idempotent; also run by `Drop`.
    pub fn teardown(&mut self) {
        if self.torn_down {
            return;
        }
        self.torn_down = true;
        step("bench: teardown");
        if self.wineserver_started {
            // Kills every Wine process of *this* prefix and its wineserver.
            let status = self
                .command(&self.tools.wineserver)
                .arg("-k")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            detail(&format!(
                "wineserver -k ({}): {}",
                self.prefix.display(),
                status
                    .map(|s| s.to_string())
                    .unwrap_or_else(|e| e.to_string())
            ));
        }
        while let Some((name, mut child)) = self.children.pop() {
            util::stop_child(&mut child, "TERM", Duration::from_secs(3));
            detail(&format!("stopped {name} (pid {})", child.id()));
        }
        if let Err(error) = fs::remove_dir_all(&self.run_dir) {
            if error.kind() != std::io::ErrorKind::NotFound {
                detail(&format!(
                    "cannot remove {}: {error}",
                    self.run_dir.display()
                ));
            }
        }
        let _ = fs::remove_file(self.pids_file());
        self.check_nothing_left();
    }

    /// Verifies that no process carrying this bench's private environment survived teardown.
    /// Such a process can only descend from this bench, so it is stopped too.
    fn check_nothing_left(&self) {
        let markers = [
            format!("WINEPREFIX={}", self.prefix.display()),
            format!("XDG_RUNTIME_DIR={}", self.run_dir.display()),
        ];
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let left = processes_with_env(&markers);
            if left.is_empty() {
                detail("no bench process left behind");
                return;
            }
            if Instant::now() > deadline {
                for (pid, cmdline) in &left {
                    if is_bench_program(cmdline) {
                        detail(&format!("left behind, killing: {pid} {cmdline}"));
                        util::signal(*pid, "KILL");
                    } else {
                        detail(&format!(
                            "left behind (not ours to kill, please check): {pid} {cmdline}"
                        ));
                    }
                }
                return;
            }
            thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Wine processes and the Pulse tools the bench runs; anything else found with the bench's
/// environment (e.g. a user's shell with WINEPREFIX exported) is only reported.
fn is_bench_program(cmdline: &str) -> bool {
    let program = cmdline.split(' ').next().unwrap_or("");
    let base = program
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    base.ends_with(".exe")
        || base.starts_with("wine")
        || ["pacat", "parec", "pulseaudio"].contains(&base.as_str())
}

/// This process and its ancestors.
fn ancestors() -> Vec<u32> {
    let mut chain = vec![std::process::id()];
    while let Some(&pid) = chain.last() {
        let parent = fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|stat| {
                // Fields after the ")" that ends the command name: state, ppid, ...
                let rest = &stat[stat.rfind(')')? + 1..];
                rest.split_whitespace().nth(1)?.parse::<u32>().ok()
            });
        match parent {
            Some(parent) if parent > 1 && !chain.contains(&parent) => chain.push(parent),
            _ => break,
        }
    }
    chain
}

/// Processes (other than this one and its ancestors) whose environment holds one of `markers` exactly.
fn processes_with_env(markers: &[String]) -> Vec<(u32, String)> {
    let own = ancestors();
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| !own.contains(pid))
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/environ"))
                .map(|environ| {
                    environ
                        .split(|&byte| byte == 0)
                        .any(|entry| markers.iter().any(|marker| entry == marker.as_bytes()))
                })
                .unwrap_or(false)
        })
        .map(|pid| (pid, proc_cmdline(pid).unwrap_or_default()))
        .collect()
}

impl Drop for Bench {
    fn drop(&mut self) {
        self.teardown();
    }
}

/// A running `parec`. Stop it with [`Recording::stop`]; dropping it also stops it.
pub struct Recording {
    child: Option<Child>,
    pub path: PathBuf,
}

impl Recording {
    /// Stops the recorder (SIGINT, so it flushes) and returns the recorded samples.
    pub fn stop(mut self) -> Res<Vec<f32>> {
        // Let the tail of the sound reach the monitor source.
        thread::sleep(Duration::from_millis(300));
        if let Some(mut child) = self.child.take() {
            util::stop_child(&mut child, "INT", Duration::from_secs(3));
        }
        read_f32_file(&self.path)
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            util::stop_child(&mut child, "INT", Duration::from_secs(3));
        }
    }
}

/// Reads a raw little-endian float32 file.
pub fn read_f32_file(path: &Path) -> Res<Vec<f32>> {
    let bytes = fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(bytes
        .chunks_exact(4)
        .map(|chunk| f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]))
        .collect())
}

/// Writes a raw little-endian float32 file.
pub fn write_f32_file(path: &Path, samples: &[f32]) -> Res<()> {
    let bytes: Vec<u8> = samples
        .iter()
        .flat_map(|sample| sample.to_le_bytes())
        .collect();
    fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn raw_format_args() -> [String; 3] {
    [
        "--format=float32le".to_string(),
        format!("--rate={SINK_RATE}"),
        format!("--channels={SINK_CHANNELS}"),
    ]
}

fn proc_cmdline(pid: u32) -> Option<String> {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let text = String::from_utf8_lossy(&raw).replace('\0', " ");
    let text = text.trim().to_string();
    (!text.is_empty()).then_some(text)
}

fn set_mode(path: &Path, mode: u32) -> Res<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| format!("cannot chmod {}: {e}", path.display()))
}

/// Target latency, in ms, of Wine's Pulse streams (libpulse's `PULSE_LATENCY_MSEC`, set for
/// Wine processes only: the bench's own `pacat`/`parec` keep their buffers).
///
/// Wine 8's winepulse asks Pulse for a stream buffer of about three WASAPI periods and refills
/// it from a timer thread; on a loaded machine that thread runs late, the stream runs dry and
/// Pulse plays silence the driver never sent. A 60 ms buffer absorbs those delays. Measured
/// with `--only register,bench-pa-wasapi,play-256 --repeat 5`, alternating with and without
/// under the same load (load average 4-6 on 2 cores), first attempts passing: bench-pa-wasapi
/// 8/10 with, 4/10 without; play-256 7/10 with, 1/10 without. The cost: the WASAPI stream
/// latency the driver reports grows (play-256: 55 ms → 80-105 ms). `WASIO_BENCH_PULSE_LATENCY_MSEC`
/// overrides it; 0 leaves Pulse's defaults.
const PULSE_LATENCY_MSEC: u32 = 60;

/// See [`Bench::pulse_defaults`].
pub struct PulseDefaults<'a> {
    bench: &'a Bench,
}

impl Drop for PulseDefaults<'_> {
    fn drop(&mut self) {
        self.bench
            .pulse_defaults
            .store(false, std::sync::atomic::Ordering::Relaxed);
    }
}

fn pulse_latency_env() -> Vec<(&'static str, String)> {
    let ms = std::env::var("WASIO_BENCH_PULSE_LATENCY_MSEC")
        .ok()
        .and_then(|value| value.parse::<u32>().ok())
        .unwrap_or(PULSE_LATENCY_MSEC);
    if ms == 0 {
        Vec::new()
    } else {
        vec![("PULSE_LATENCY_MSEC", ms.to_string())]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_paths_go_through_the_z_drive() {
        assert_eq!(
            Bench::windows_path(Path::new("/work/target/wasio_driver.dll")),
            "Z:\\work\\target\\wasio_driver.dll"
        );
    }

    #[test]
    fn only_wine_and_pulse_programs_are_killed_as_leftovers() {
        assert!(is_bench_program("C:\\windows\\system32\\services.exe"));
        assert!(is_bench_program("/usr/lib/wine/wineserver64 -p0"));
        assert!(is_bench_program("pacat --playback --device=wasio_a"));
        assert!(is_bench_program("/usr/bin/pulseaudio -n"));
        assert!(!is_bench_program("/bin/bash"));
        assert!(!is_bench_program("cargo xtask test"));
    }

    #[test]
    fn ancestors_start_with_this_process() {
        let chain = ancestors();
        assert_eq!(chain[0], std::process::id());
        assert!(!chain.contains(&1));
    }

    fn output(stdout: &str, stderr: &str) -> ExeOutput {
        ExeOutput {
            code: Some(0),
            stdout: stdout.into(),
            stderr: stderr.into(),
            timed_out: false,
            elapsed: Duration::from_secs(1),
        }
    }

    #[test]
    fn wine_crash_lines_fail_a_run() {
        let clean = output("ok\n", "ALSA lib pcm.c: something\n");
        assert!(clean.success());
        assert_eq!(clean.crash_line(), None);
        assert_eq!(clean.describe_end(), "exit code 0");
        let fault = "wine: Unhandled page fault on execute access to 000000018083FF5E at address \
                     000000018083FF5E (thread 0124), starting debugger...";
        let crashed = output("{}\n", &format!("ALSA lib x\n{fault}\n{fault}\n"));
        assert!(!crashed.success());
        assert_eq!(crashed.crash_line(), Some(fault));
        assert_eq!(crashed.describe_end(), format!("crashed: {fault}"));
        let winedbg = output("Unhandled exception: page fault on read access to 0x00000000 in 64-bit code (0x0000000180001234).\n", "");
        assert!(winedbg
            .crash_line()
            .unwrap()
            .starts_with("Unhandled exception: page fault"));
        assert!(!winedbg.success());
        let debugger = output("", "wine: Assertion failed, starting debugger...\n");
        assert!(!debugger.success());
    }

    #[test]
    fn raw_float_files_round_trip() {
        let path =
            std::env::temp_dir().join(format!("wasio-bench-test-{}.f32", std::process::id()));
        let samples = [0.0f32, -1.0, 0.5, f32::MIN_POSITIVE];
        write_f32_file(&path, &samples).unwrap();
        assert_eq!(read_f32_file(&path).unwrap(), samples);
        let _ = fs::remove_file(&path);
    }
}
