//! Real-host tests under Wine: a list of named test cases run on one bench.
//!
//! To add a test: write `fn my_test(ctx: &WineContext) -> Res<Vec<Check>>` and add a
//! [`WineTest`] line to [`all_tests`]. A test passes when it returns only passing checks; an
//! `Err` is a failure with that message.

use crate::analysis::{self, AnalysisConfig, Check, ToneExpectation, ToneReport};
use crate::bench::{self, Bench, ExeOutput};
use crate::json::{self, Json};
use crate::setup;
use crate::util::{self, detail, step, Res};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

pub const WINDOWS_TARGET: &str = "x86_64-pc-windows-gnu";
/// The name the driver registers under `HKLM\SOFTWARE\ASIO` and shows to hosts.
pub const DRIVER_NAME: &str = "Wasio";
const DRIVER_EXPORTS: [&str; 4] = [
    "DllRegisterServer",
    "DllUnregisterServer",
    "DllGetClassObject",
    "DllCanUnloadNow",
];

/// The Windows binaries under test.
#[derive(Clone, Debug)]
pub struct Artifacts {
    pub driver_dll: PathBuf,
    pub cli_exe: PathBuf,
    pub pa_host_exe: PathBuf,
}

impl Artifacts {
    /// Every binary is there (a build can succeed without producing one, e.g. a renamed crate).
    pub fn check_built(&self) -> Res<()> {
        for path in [&self.driver_dll, &self.cli_exe, &self.pa_host_exe] {
            if !path.is_file() {
                return Err(format!("build did not produce {}", path.display()));
            }
        }
        Ok(())
    }
}

/// Which binaries to test.
#[derive(Clone, Debug, Default)]
pub struct BuildChoice {
    pub release: bool,
    /// A prebuilt driver DLL to test instead of the one built here.
    pub driver: Option<PathBuf>,
    /// A prebuilt `wasio.exe` to use instead of the one built here.
    pub cli: Option<PathBuf>,
}

/// Cross-builds the driver, the CLI and the PortAudio test host, then applies the overrides.
pub fn build_windows(root: &Path, choice: &BuildChoice) -> Res<Artifacts> {
    let release = choice.release;
    step(&format!(
        "build: {WINDOWS_TARGET} ({})",
        if release { "release" } else { "dev" }
    ));
    let mut command = util::cargo();
    command
        .current_dir(root)
        .args(["build", "--target", WINDOWS_TARGET])
        .args([
            "-p",
            "wasio-driver",
            "-p",
            "wasio-cli",
            "-p",
            "wasio-bench-host",
        ]);
    if release {
        command.arg("--release");
    }
    util::run(&mut command)?;
    let dir = util::target_dir(root)
        .join(WINDOWS_TARGET)
        .join(if release { "release" } else { "debug" });
    let absolute = |path: &PathBuf| std::env::current_dir().unwrap_or_default().join(path);
    let artifacts = Artifacts {
        driver_dll: choice
            .driver
            .as_ref()
            .map(absolute)
            .unwrap_or_else(|| dir.join("wasio_driver.dll")),
        cli_exe: choice
            .cli
            .as_ref()
            .map(absolute)
            .unwrap_or_else(|| dir.join("wasio.exe")),
        pa_host_exe: dir.join("wasio-pa-host.exe"),
    };
    detail(&format!(
        "driver under test: {}",
        artifacts.driver_dll.display()
    ));
    artifacts.check_built()?;
    Ok(artifacts)
}

/// What a test sees: the running bench and the binaries.
pub struct WineContext<'a> {
    pub bench: &'a Bench,
    pub artifacts: &'a Artifacts,
    /// Recordings and other outputs worth keeping for a post-mortem.
    pub results: PathBuf,
}

/// How to play the test tone.
#[derive(Clone, Debug)]
pub struct PlaySpec {
    pub device: String,
    /// PortAudio host API name ("ASIO" for the driver).
    pub host_api: String,
    /// Suggested output latency in seconds (`None`: one buffer, as the host decides).
    pub suggested_latency: Option<f64>,
    pub rate: u32,
    pub frames_per_buffer: u32,
    pub frequency: f64,
    pub amplitude: f64,
    pub seconds: f64,
    pub tail_seconds: f64,
    pub channels: u32,
    pub non_interleaved: bool,
}

impl PlaySpec {
    /// The standard test: a 997 Hz sine at half scale for 5 s, stereo, 48 kHz.
    pub fn standard(frames_per_buffer: u32) -> PlaySpec {
        PlaySpec {
            device: DRIVER_NAME.to_string(),
            host_api: "ASIO".to_string(),
            suggested_latency: None,
            rate: 48_000,
            frames_per_buffer,
            frequency: 997.0,
            amplitude: 0.5,
            seconds: 5.0,
            tail_seconds: 0.5,
            channels: 2,
            non_interleaved: false,
        }
    }

    /// How long the host may take: the tone, its tail and 40 s for Wine and PortAudio.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.seconds + self.tail_seconds + 40.0)
    }

    pub fn args(&self) -> Vec<String> {
        let mut args = vec![
            "play".to_string(),
            "--device".to_string(),
            self.device.clone(),
            "--host-api".to_string(),
            self.host_api.clone(),
            format!("--rate={}", self.rate),
            format!("--frames-per-buffer={}", self.frames_per_buffer),
            format!("--freq={}", self.frequency),
            format!("--amplitude={}", self.amplitude),
            format!("--seconds={}", self.seconds),
            format!("--tail-seconds={}", self.tail_seconds),
            format!("--channels={}", self.channels),
        ];
        if self.non_interleaved {
            args.push("--non-interleaved".to_string());
        }
        if let Some(latency) = self.suggested_latency {
            args.push(format!("--suggested-latency={latency}"));
        }
        args
    }

    /// What the recording must show.
    pub fn expectation(&self) -> ToneExpectation {
        ToneExpectation {
            frequency_hz: self.frequency,
            frequency_tolerance_hz: 0.5,
            amplitude: self.amplitude,
            level_tolerance_db: 0.5,
            duration_frames: (self.seconds * self.rate as f64).round() as usize,
            duration_tolerance_frames: self.frames_per_buffer as usize,
        }
    }
}

/// A play run: the host's output, its JSON report, and the analysed recording.
pub struct PlayMeasurement {
    pub output: ExeOutput,
    pub report: Option<Json>,
    pub recording: PathBuf,
    pub analysis: Res<ToneReport>,
}

impl WineContext<'_> {
    /// Runs `wasio-pa-host` with the bench's PortAudio DLL.
    pub fn pa_host(&self, label: &str, args: &[String], timeout: Duration) -> Res<ExeOutput> {
        let mut all = args.to_vec();
        all.push(format!(
            "--portaudio={}",
            Bench::windows_path(&self.bench.tools.portaudio_dll_64)
        ));
        self.bench.run_windows(
            label,
            Bench::windows_path(&self.artifacts.pa_host_exe),
            &all,
            timeout,
        )
    }

    /// Runs the `wasio` CLI (e.g. `["misuse"]`) under Wine.
    pub fn cli(&self, label: &str, args: &[&str], timeout: Duration) -> Res<ExeOutput> {
        let args: Vec<String> = args.iter().map(|arg| arg.to_string()).collect();
        self.bench.run_windows(
            label,
            Bench::windows_path(&self.artifacts.cli_exe),
            &args,
            timeout,
        )
    }

    /// `wasio-pa-host list`, parsed.
    pub fn list_devices(&self, label: &str) -> Res<(ExeOutput, Vec<Json>)> {
        let output = self.pa_host(label, &["list".to_string()], Duration::from_secs(60))?;
        if !output.success() {
            return Err(format!(
                "wasio-pa-host list: {}: {}",
                output.describe_end(),
                output.stderr.trim()
            ));
        }
        let lines = json::parse_lines(&output.stdout)?;
        Ok((output, lines))
    }

    /// `regsvr32 [/u] /s <driver>`.
    pub fn regsvr32(&self, label: &str, unregister: bool) -> Res<ExeOutput> {
        let mut args = Vec::new();
        if unregister {
            args.push("/u".to_string());
        }
        args.push("/s".to_string());
        args.push(Bench::windows_path(&self.artifacts.driver_dll));
        self.bench
            .run_windows(label, "regsvr32", &args, Duration::from_secs(60))
    }

    /// The `CLSID` value of `HKLM\SOFTWARE\ASIO\<name>`, or `None` when the key is absent.
    pub fn asio_registry_clsid(&self, name: &str) -> Res<Option<String>> {
        let key = format!("HKLM\\SOFTWARE\\ASIO\\{name}");
        let output = self.reg_query(&key, Some("CLSID"))?;
        Ok(output.and_then(|text| reg_value(&text, "CLSID")))
    }

    /// `reg query KEY [/v VALUE]`; `None` when the key or value does not exist.
    pub fn reg_query(&self, key: &str, value: Option<&str>) -> Res<Option<String>> {
        let mut command = self.bench.wine("reg");
        command.args(["query", key]);
        match value {
            Some(value) => command.args(["/v", value]),
            None => command.arg("/ve"),
        };
        let result = command
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run wine reg: {e}"))?;
        Ok(result
            .status
            .success()
            .then(|| String::from_utf8_lossy(&result.stdout).into_owned()))
    }

    /// Plays the tone through PortAudio's ASIO host while recording the sink, then analyses it.
    pub fn play_and_record(&self, label: &str, spec: &PlaySpec) -> Res<PlayMeasurement> {
        let recording_path = self.results.join(format!("{label}.f32"));
        let recording = self
            .bench
            .start_recording(&format!("{}.monitor", bench::SINK_A), &recording_path)?;
        crate::verdict::record_stream_seconds(spec.seconds);
        let output = self.pa_host(label, &spec.args(), spec.timeout())?;
        let samples = recording.stop()?;
        Ok(PlayMeasurement {
            report: last_report(&output, "play"),
            output,
            recording: recording_path,
            analysis: analysis::analyse(&samples, &sink_analysis_config()),
        })
    }
}

/// The last JSON line of `kind` a `wasio-pa-host` run printed.
pub fn last_report(output: &ExeOutput, kind: &str) -> Option<Json> {
    let lines = json::parse_lines(&output.stdout).ok()?;
    lines
        .into_iter()
        .rev()
        .find(|line| line.str("kind") == Some(kind))
}

/// How a recording of a bench sink's monitor is analysed.
pub fn sink_analysis_config() -> AnalysisConfig {
    AnalysisConfig {
        sample_rate: bench::SINK_RATE as f64,
        channels: bench::SINK_CHANNELS as usize,
        ..AnalysisConfig::default()
    }
}

/// Finds `REG_SZ` data for `name` in `reg query` output.
fn reg_value(text: &str, name: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let mut parts = line.trim().splitn(3, "    ");
        let key = parts.next()?.trim();
        let _kind = parts.next()?;
        let data = parts.next()?.trim();
        key.eq_ignore_ascii_case(name).then(|| data.to_string())
    })
}

/// The ASIO device called `name` in `wasio-pa-host list` output.
pub fn find_asio_device<'a>(lines: &'a [Json], name: &str) -> Option<&'a Json> {
    lines.iter().find(|line| {
        line.str("kind") == Some("device")
            && line.num("host_api_type") == Some(3.0)
            && line.str("name") == Some(name)
    })
}

/// Describes the buffer sizes a device line reports.
pub fn describe_buffer_sizes(device: &Json) -> String {
    match device.get("buffer_sizes") {
        Some(sizes) => format!(
            "min {} max {} preferred {} granularity {}",
            sizes.num("min").unwrap_or(f64::NAN),
            sizes.num("max").unwrap_or(f64::NAN),
            sizes.num("preferred").unwrap_or(f64::NAN),
            sizes.num("granularity").unwrap_or(f64::NAN)
        ),
        None => format!(
            "unavailable: {}",
            device
                .str("buffer_sizes_error")
                .unwrap_or("no buffer_sizes in the report")
        ),
    }
}

pub type TestFn = fn(&WineContext) -> Res<Vec<Check>>;

/// A named test case.
pub struct WineTest {
    pub name: &'static str,
    pub about: &'static str,
    pub run: TestFn,
    /// The verdict rests on a real-time recording: one attempt, hard checks and glitches
    /// judged against the control (see [`crate::runner`] and [`crate::verdict`]).
    pub realtime: bool,
}

/// Every Wine test, in run order (bench self-tests first, then the driver).
pub fn all_tests() -> Vec<WineTest> {
    vec![
        WineTest {
            name: "bench-loopback",
            about: "pacat plays a synthetic 997 Hz tone into wasio_a; parec records it intact",
            realtime: true,
            run: bench_loopback,
        },
        WineTest {
            name: "rust-exe-runs",
            about: "a Rust Windows exe starts under Wine (bcryptprimitives shim) and rejects bad usage",
            realtime: false,
            run: rust_exe_runs,
        },
        WineTest {
            name: "portaudio-loads",
            about: "PortAudio's ASIO build loads under Wine and lists its host APIs, ASIO among them",
            realtime: false,
            run: portaudio_loads,
        },
        WineTest {
            name: "bench-pa-wasapi",
            about: "the play/record/analyse chain without the driver: PortAudio's WASAPI host plays into wasio_a",
            realtime: true,
            run: bench_pa_wasapi,
        },
        WineTest {
            name: "driver-exports",
            about: "wasio_driver.dll exports the four COM server entry points",
            realtime: false,
            run: driver_exports,
        },
        WineTest {
            name: "register",
            about: "regsvr32 registers the driver under HKLM\\SOFTWARE\\ASIO with an existing InprocServer32",
            realtime: false,
            run: register,
        },
        WineTest {
            name: "listed",
            about: "PortAudio's ASIO host lists Wasio with >= 2 outputs and its buffer sizes",
            realtime: false,
            run: listed,
        },
        WineTest {
            name: "cli-drivers",
            about: "`wasio drivers` lists Wasio",
            realtime: false,
            run: cli_drivers,
        },
        WineTest {
            name: "misuse",
            about: "`wasio misuse` calls the driver out of order and with bad arguments; every call is refused cleanly and the host lives",
            realtime: false,
            run: misuse,
        },
        WineTest {
            name: "play-256",
            about: "997 Hz for 5 s at 48 kHz, 256 frames per buffer, recorded and analysed",
            realtime: true,
            run: |ctx| play_test(ctx, "play-256", &PlaySpec::standard(256)),
        },
        WineTest {
            name: "play-441",
            about: "997 Hz for 5 s at 48 kHz, 441 frames per buffer, recorded and analysed",
            realtime: true,
            run: |ctx| play_test(ctx, "play-441", &PlaySpec::standard(441)),
        },
        WineTest {
            name: "unregister-round-trip",
            about: "regsvr32 /u removes the driver from the registry and from PortAudio; registering again brings it back",
            realtime: false,
            run: unregister_round_trip,
        },
    ]
    .into_iter()
    .chain(crate::wine_tests_tools::tests())
    .chain(crate::wine_tests_latency::tests())
    .chain(crate::wine_tests_config::tests())
    .chain(crate::wine_tests_duplex::tests())
    .chain(crate::wine_tests_exclusive::tests())
    .chain(crate::wine_tests_package::tests())
    .chain(crate::wine_tests_shim::tests())
    .chain(crate::wine_tests_faults::tests())
    .collect()
}

/// Bench self-tests only: they need no driver.
pub const BENCH_TESTS: [&str; 6] = [
    "bench-loopback",
    "rust-exe-runs",
    "portaudio-loads",
    "bench-pa-wasapi",
    "duplex-wasapi-loopback",
    "duplex-wasapi-across",
];

/// Tests of work that is not finished, with why: they run only when named with `--only`,
/// so the default run (and CI) stays a statement of what works. Each names its open issue.
pub const OPEN_ISSUE_TESTS: [(&str, &str); 0] = [];

/// PASS when the program exited with 0; shows the last stderr line otherwise.
pub fn exit_check(name: &str, output: &ExeOutput) -> Check {
    let mut measured = output.describe_end();
    if !output.success() {
        let stderr: Vec<&str> = output
            .stderr
            .lines()
            .filter(|line| !line.starts_with("ALSA lib"))
            .collect();
        if let Some(last) = stderr.last() {
            measured = format!("{measured}: {}", last.trim());
        }
    }
    Check::new(name, output.success(), measured, "exit code 0")
}

fn bench_loopback(ctx: &WineContext) -> Res<Vec<Check>> {
    let rate = bench::SINK_RATE as f64;
    let tone_frames = 2 * bench::SINK_RATE as usize;
    let samples = analysis::synth_tone(
        rate,
        bench::SINK_CHANNELS as usize,
        997.0,
        0.5,
        2_400,
        tone_frames,
        4_800,
    );
    let source = ctx.results.join("bench-loopback-source.f32");
    bench::write_f32_file(&source, &samples)?;
    let recording_path = ctx.results.join("bench-loopback.f32");
    let recording = ctx
        .bench
        .start_recording(&format!("{}.monitor", bench::SINK_A), &recording_path)?;
    crate::verdict::record_stream_seconds(tone_frames as f64 / rate);
    ctx.bench
        .play_raw(bench::SINK_A, &source, Duration::from_secs(20))?;
    let recorded = recording.stop()?;
    let report = analysis::analyse(&recorded, &AnalysisConfig::default())?;
    let expectation = ToneExpectation {
        frequency_hz: 997.0,
        frequency_tolerance_hz: 0.5,
        amplitude: 0.5,
        level_tolerance_db: 0.5,
        duration_frames: tone_frames,
        duration_tolerance_frames: 2,
    };
    Ok(expectation.checks(&report))
}

fn rust_exe_runs(ctx: &WineContext) -> Res<Vec<Check>> {
    let output = ctx.pa_host(
        "rust-exe-runs",
        &["no-such-command".to_string()],
        Duration::from_secs(60),
    )?;
    // Exit code 2 is the host's own usage error: the exe loaded and ran Rust code. Without the
    // shim Wine fails to load it (53, DLL not found).
    let usage_error = output.code == Some(2) && output.stderr.contains("unknown command");
    Ok(vec![Check::new(
        "usage error from Rust code",
        usage_error,
        format!(
            "{}: {}",
            output.describe_end(),
            output.stderr.lines().last().unwrap_or("").trim()
        ),
        "exit code 2, \"unknown command\"",
    )])
}

fn portaudio_loads(ctx: &WineContext) -> Res<Vec<Check>> {
    let (output, lines) = ctx.list_devices("portaudio-loads")?;
    let version = lines
        .iter()
        .find(|line| line.str("kind") == Some("portaudio"))
        .and_then(|line| line.str("version"))
        .unwrap_or("")
        .to_string();
    let apis: Vec<String> = lines
        .iter()
        .filter(|line| line.str("kind") == Some("host_api"))
        .filter_map(|line| line.str("name").map(String::from))
        .collect();
    let asio = lines
        .iter()
        .any(|line| line.str("kind") == Some("host_api") && line.num("type") == Some(3.0));
    Ok(vec![
        exit_check("list exits", &output),
        Check::new(
            "PortAudio version",
            !version.is_empty(),
            version,
            "a version text",
        ),
        Check::new(
            "ASIO host API",
            asio,
            apis.join(", "),
            "ASIO among the host APIs",
        ),
    ])
}

fn bench_pa_wasapi(ctx: &WineContext) -> Res<Vec<Check>> {
    let spec = PlaySpec {
        device: bench::SINK_A.to_string(),
        host_api: "Windows WASAPI".to_string(),
        // Shared-mode WASAPI through winepulse needs more than one 256-frame buffer.
        suggested_latency: Some(0.1),
        seconds: 2.0,
        ..PlaySpec::standard(256)
    };
    play_test(ctx, "bench-pa-wasapi", &spec)
}

fn driver_exports(ctx: &WineContext) -> Res<Vec<Check>> {
    let exports = setup::dll_exports(&ctx.artifacts.driver_dll)?;
    Ok(DRIVER_EXPORTS
        .iter()
        .map(|name| {
            let found = exports.iter().any(|export| export == name);
            Check::new(
                *name,
                found,
                if found {
                    "exported".to_string()
                } else {
                    let shown: Vec<&str> = exports.iter().take(6).map(String::as_str).collect();
                    let more = if exports.len() > 6 { ", …" } else { "" };
                    format!(
                        "missing ({} exports: {}{more})",
                        exports.len(),
                        shown.join(", ")
                    )
                },
                "exported",
            )
        })
        .collect())
}

fn register(ctx: &WineContext) -> Res<Vec<Check>> {
    let output = ctx.regsvr32("regsvr32", false)?;
    let mut checks = vec![exit_check("regsvr32", &output)];
    let clsid = ctx.asio_registry_clsid(DRIVER_NAME)?;
    checks.push(Check::new(
        "HKLM\\SOFTWARE\\ASIO\\Wasio CLSID",
        clsid.is_some(),
        clsid.clone().unwrap_or_else(|| "absent".to_string()),
        "a CLSID",
    ));
    if let Some(clsid) = clsid {
        let server = ctx
            .reg_query(&format!("HKCR\\CLSID\\{clsid}\\InprocServer32"), None)?
            .and_then(|text| reg_value(&text, "(Default)"));
        let expected = Bench::windows_path(&ctx.artifacts.driver_dll);
        let matches = server
            .as_deref()
            .is_some_and(|path| path.eq_ignore_ascii_case(&expected));
        checks.push(Check::new(
            "InprocServer32 path",
            matches,
            server.unwrap_or_else(|| "absent".to_string()),
            expected,
        ));
        // With `Apartment`, a host creating the driver from an MTA thread gets a marshalled
        // pointer, and IASIO has no proxy (field notes).
        let model = ctx
            .reg_query(
                &format!("HKCR\\CLSID\\{clsid}\\InprocServer32"),
                Some("ThreadingModel"),
            )?
            .and_then(|text| reg_value(&text, "ThreadingModel"));
        checks.push(Check::new(
            "ThreadingModel",
            model.as_deref() == Some("Both"),
            model.unwrap_or_else(|| "absent".to_string()),
            "Both",
        ));
    }
    Ok(checks)
}

fn listed(ctx: &WineContext) -> Res<Vec<Check>> {
    let (_, lines) = ctx.list_devices("listed")?;
    let Some(device) = find_asio_device(&lines, DRIVER_NAME) else {
        let names: Vec<&str> = lines
            .iter()
            .filter(|line| line.num("host_api_type") == Some(3.0))
            .filter_map(|line| line.str("name"))
            .collect();
        return Ok(vec![Check::new(
            "Wasio listed",
            false,
            format!("ASIO devices: {names:?}"),
            "an ASIO device named Wasio",
        )]);
    };
    let outputs = device.num("max_output_channels").unwrap_or(0.0);
    let sizes = device.get("buffer_sizes");
    let size = |key: &str| sizes.and_then(|sizes| sizes.num(key));
    let sane_sizes = match (size("min"), size("max"), size("preferred")) {
        (Some(min), Some(max), Some(preferred)) => {
            min >= 1.0 && min <= preferred && preferred <= max
        }
        _ => false,
    };
    Ok(vec![
        Check::new("Wasio listed", true, "found", "an ASIO device named Wasio"),
        Check::new(
            "output channels",
            outputs >= 2.0,
            format!("{outputs}"),
            ">= 2",
        ),
        Check::new(
            "buffer sizes",
            sane_sizes,
            describe_buffer_sizes(device),
            "1 <= min <= preferred <= max",
        ),
        Check::new(
            "default sample rate",
            device
                .num("default_sample_rate")
                .is_some_and(|rate| rate > 0.0),
            format!("{}", device.num("default_sample_rate").unwrap_or(0.0)),
            "> 0",
        ),
    ])
}

fn cli_drivers(ctx: &WineContext) -> Res<Vec<Check>> {
    let output = ctx.cli("cli-drivers", &["drivers"], Duration::from_secs(60))?;
    let listed = output.stdout.lines().any(|line| line.contains(DRIVER_NAME));
    Ok(vec![
        exit_check("wasio drivers", &output),
        Check::new(
            "lists Wasio",
            listed,
            format!("{} line(s) of output", output.stdout.lines().count()),
            "a line naming Wasio",
        ),
    ])
}

fn misuse(ctx: &WineContext) -> Res<Vec<Check>> {
    let output = ctx.cli(
        "misuse",
        &["misuse", "--driver", DRIVER_NAME],
        Duration::from_secs(120),
    )?;
    let summary = output
        .stdout
        .lines()
        .rev()
        .find(|line| line.starts_with("misuse:"))
        .unwrap_or("no summary line")
        .to_string();
    let failed_steps: Vec<&str> = output
        .stdout
        .lines()
        .filter(|line| line.contains("FAIL"))
        .collect();
    Ok(vec![
        exit_check("wasio misuse", &output),
        Check::new(
            "every step as expected",
            failed_steps.is_empty() && summary.contains(" 0 failed"),
            summary,
            "misuse: N passed, 0 failed",
        ),
        Check::new(
            "failed steps",
            failed_steps.is_empty(),
            if failed_steps.is_empty() {
                "none".to_string()
            } else {
                failed_steps.join(" | ")
            },
            "none",
        ),
    ])
}

/// Play a tone and compare the recording with the spec. Reusable by other tests.
pub fn play_test(ctx: &WineContext, label: &str, spec: &PlaySpec) -> Res<Vec<Check>> {
    let measurement = ctx.play_and_record(label, spec)?;
    // Dropouts on a saturated machine are worth reading next to the load.
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        detail(&format!(
            "machine load average (1/5/15 min): {}",
            load.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        ));
    }
    Ok(play_checks(spec, &measurement))
}

/// Checks for a play run: the host's own report, then the recording's analysis.
pub fn play_checks(spec: &PlaySpec, measurement: &PlayMeasurement) -> Vec<Check> {
    let mut checks = vec![exit_check("wasio-pa-host play", &measurement.output)];
    match &measurement.report {
        Some(report) => {
            let error = report.str("error");
            checks.push(Check::new(
                "PortAudio error",
                error.is_none(),
                error.unwrap_or("none").to_string(),
                "none",
            ));
            let expected_frames = (spec.seconds + spec.tail_seconds) * spec.rate as f64;
            let frames = report.num("frames_played").unwrap_or(0.0);
            checks.push(Check::new(
                "frames delivered",
                frames >= expected_frames.round(),
                format!(
                    "{frames} in {} callbacks ({} not of {} frames)",
                    report.num("callbacks").unwrap_or(0.0),
                    report.num("odd_sized_callbacks").unwrap_or(0.0),
                    spec.frames_per_buffer
                ),
                format!(">= {expected_frames}"),
            ));
            let flags = report.get("status_flags");
            let flag = |name: &str| flags.and_then(|flags| flags.num(name)).unwrap_or(0.0);
            let xruns = flag("output_underflow") + flag("output_overflow");
            checks.push(crate::wine_tests_duplex::flags_of_own_host(
                &spec.host_api,
                Check::new(
                    "PortAudio xrun flags",
                    xruns == 0.0,
                    format!(
                        "output underflow {}, overflow {}",
                        flag("output_underflow"),
                        flag("output_overflow")
                    ),
                    "0",
                ),
                xruns as u64,
            ));
            checks.push(Check::new(
                "reported output latency",
                report
                    .num("output_latency_s")
                    .is_some_and(|latency| latency > 0.0),
                match report.num("output_latency_s") {
                    Some(latency) => format!("{:.2} ms", latency * 1000.0),
                    None => "not reported".to_string(),
                },
                "> 0",
            ));
        }
        None => checks.push(Check::new(
            "play report",
            false,
            "no JSON report on stdout",
            "one {\"kind\":\"play\"} line",
        )),
    }
    match &measurement.analysis {
        Ok(report) => {
            // A tone already sounding in the first recorded frame means the recording missed
            // its start: the duration figure would be wrong.
            checks.push(
                Check::new(
                    "recorded from silence",
                    report.start_frame > 0,
                    format!("tone starts at recorded frame {}", report.start_frame),
                    "> 0",
                )
                .downstream(1),
            );
            checks.extend(spec.expectation().checks(report));
        }
        Err(error) => checks.push(Check::new(
            "recording",
            false,
            format!("{error} ({})", measurement.recording.display()),
            "the tone",
        )),
    }
    checks
}

fn unregister_round_trip(ctx: &WineContext) -> Res<Vec<Check>> {
    // Whether the driver is in the registry and listed by PortAudio, both as `expected`.
    let presence = |name: &str, label: &str, expected: bool| -> Res<Check> {
        let in_registry = ctx.asio_registry_clsid(DRIVER_NAME)?.is_some();
        let (_, lines) = ctx.list_devices(label)?;
        let listed = find_asio_device(&lines, DRIVER_NAME).is_some();
        Ok(Check::new(
            name,
            in_registry == expected && listed == expected,
            format!("registry {in_registry}, PortAudio {listed}"),
            format!("registry {expected}, PortAudio {expected}"),
        ))
    };
    Ok(vec![
        presence("registered before", "round-trip-before", true)?,
        exit_check("regsvr32 /u", &ctx.regsvr32("regsvr32-u", true)?),
        presence("gone after /u", "round-trip-gone", false)?,
        exit_check("regsvr32 again", &ctx.regsvr32("regsvr32-again", false)?),
        presence("listed again", "round-trip-back", true)?,
    ])
}

/// Runs the cross-build, the bench and the selected tests. Returns (passed, failed).
pub fn wine_test(
    root: &Path,
    tools: &setup::Tools,
    choice: &BuildChoice,
    filter: &dyn Fn(&str) -> bool,
    repeat: usize,
) -> Res<(usize, usize)> {
    with_context(root, tools, choice, |ctx| {
        let outcome = crate::phases::timed("Wine tests", || {
            crate::runner::run_tests(ctx, &all_tests(), filter, repeat)
        });
        detail(&format!(
            "logs: {}, recordings: {}",
            ctx.bench.logs.display(),
            ctx.results.display()
        ));
        Ok(outcome)
    })
}

/// Cross-builds, brings the bench up and runs `f` with a context whose recordings go to the
/// bench's `results` folder.
fn with_context<R>(
    root: &Path,
    tools: &setup::Tools,
    choice: &BuildChoice,
    f: impl FnOnce(&WineContext) -> Res<R>,
) -> Res<R> {
    let artifacts = crate::phases::timed("x86_64 Windows build", || build_windows(root, choice))?;
    let bench = crate::phases::timed("bench up (PulseAudio, Wine prefix)", || {
        Bench::up(root, tools)
    })?;
    let results = bench.dir.join("results");
    std::fs::create_dir_all(&results)
        .map_err(|e| format!("cannot create {}: {e}", results.display()))?;
    let ctx = WineContext {
        bench: &bench,
        artifacts: &artifacts,
        results,
    };
    f(&ctx)
}

/// `cargo xtask demo`: plays the test signal through PortAudio's ASIO host and shows what was measured.
pub fn demo(root: &Path, tools: &setup::Tools, choice: &BuildChoice) -> Res<()> {
    with_context(root, tools, choice, |ctx| {
        step("demo: register the driver");
        let output = ctx.regsvr32("demo-regsvr32", false)?;
        if !output.success() {
            return Err(format!("regsvr32 failed: {}", output.describe_end()));
        }
        let (_, lines) = ctx.list_devices("demo-list")?;
        let device = find_asio_device(&lines, DRIVER_NAME)
            .ok_or("PortAudio's ASIO host does not list Wasio after registration")?;
        step("demo: what the driver reports (`wasio info`)");
        let info = ctx.cli(
            "demo-info",
            &["info", "--driver", DRIVER_NAME],
            Duration::from_secs(60),
        )?;
        for line in info.stdout.lines().filter(|line| !line.trim().is_empty()) {
            detail(line);
        }
        step("demo: what PortAudio's ASIO host sees");
        detail(&format!(
            "device {:?}: {} in / {} out channels, default rate {} Hz",
            DRIVER_NAME,
            device.num("max_input_channels").unwrap_or(0.0),
            device.num("max_output_channels").unwrap_or(0.0),
            device.num("default_sample_rate").unwrap_or(0.0)
        ));
        detail(&format!(
            "buffer sizes offered: {}",
            describe_buffer_sizes(device)
        ));
        let spec = PlaySpec::standard(256);
        step(&format!(
            "demo: play {} Hz at amplitude {} for {} s, {} frames per buffer, recording {}.monitor",
            spec.frequency,
            spec.amplitude,
            spec.seconds,
            spec.frames_per_buffer,
            bench::SINK_A
        ));
        let measurement = ctx.play_and_record("demo-play", &spec)?;
        if let Some(report) = &measurement.report {
            detail(&format!(
                "PortAudio: output latency {:.2} ms, {} callbacks, {} frames, error: {}",
                report.num("output_latency_s").unwrap_or(f64::NAN) * 1000.0,
                report.num("callbacks").unwrap_or(0.0),
                report.num("frames_played").unwrap_or(0.0),
                report.str("error").unwrap_or("none")
            ));
        }
        match &measurement.analysis {
            Ok(report) => {
                detail(&format!(
                    "recorded frequency: {:.4} Hz",
                    report.frequency_hz
                ));
                for channel in 0..report.channels.len() {
                    detail(&format!(
                        "channel {channel}: level {:+.3} dB re {} (rms {:.4}, peak {:.4})",
                        report.level_db(channel, spec.amplitude),
                        spec.amplitude,
                        report.channels[channel].rms,
                        report.channels[channel].peak
                    ));
                }
                detail(&format!(
                    "duration: {} frames ({:.4} s); {} problem(s): dropouts {}, glitches {}, phase jumps {}",
                    report.duration_frames(),
                    report.duration_seconds(),
                    report.problem_count(),
                    report.dropouts.len(),
                    report.glitches.len(),
                    report.phase_jumps.len()
                ));
            }
            Err(error) => detail(&format!("recording: {error}")),
        }
        let checks = play_checks(&spec, &measurement);
        let failed = checks.iter().filter(|check| !check.passed).count();
        crate::runner::print_outcome(&crate::runner::TestOutcome {
            name: "demo",
            exposure: crate::verdict::Exposure::default(),
            checks,
            error: None,
            pool: crate::verdict::Pool::Wasio(crate::verdict::Kind::Play),
        });
        detail(&format!(
            "recording kept at {}",
            measurement.recording.display()
        ));
        if failed > 0 {
            return Err(format!("{failed} check(s) failed"));
        }
        Ok(())
    })
}

/// The cross-checks `cargo xtask test` runs besides the x86_64 build: the 32-bit driver.
pub fn check_i686(root: &Path) -> Res<()> {
    step("x86: the ASIO ABI's tests as 32-bit code (layouts, thiscall vtable)");
    util::run(util::cargo().current_dir(root).args([
        "test",
        "--target",
        "i686-unknown-linux-gnu",
        "-p",
        "wasio-asio-abi",
    ]))?;
    step("x86: build the i686-pc-windows-gnu driver and check its exports");
    util::run(util::cargo().current_dir(root).args([
        "build",
        "--target",
        "i686-pc-windows-gnu",
        "-p",
        "wasio-driver",
    ]))?;
    let dll = util::target_dir(root).join("i686-pc-windows-gnu/debug/wasio_driver.dll");
    let dump = util::output(Command::new("i686-w64-mingw32-objdump").arg("-p").arg(&dll))?;
    let exports = dump
        .split("[Ordinal/Name Pointer] Table")
        .nth(1)
        .ok_or("the x86 driver has no export table")?;
    for entry in [
        "DllCanUnloadNow",
        "DllGetClassObject",
        "DllRegisterServer",
        "DllUnregisterServer",
    ] {
        // Undecorated names: a host's GetProcAddress("DllGetClassObject") must find them.
        if !exports
            .lines()
            .any(|line| line.trim().ends_with(&format!("] {entry}")))
        {
            return Err(format!(
                "the x86 driver does not export {entry} undecorated:\n{exports}"
            ));
        }
    }
    detail("x86 driver exports: the four COM entry points, undecorated");
    Ok(())
}

/// Runs `cargo test --workspace` natively.
pub fn native_tests(root: &Path) -> Res<()> {
    step("native tests: cargo test --workspace");
    util::run(
        util::cargo()
            .current_dir(root)
            .args(["test", "--workspace"]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reg_query_output_is_parsed() {
        let text = "\r\nHKEY_LOCAL_MACHINE\\SOFTWARE\\ASIO\\Wasio\r\n    CLSID    REG_SZ    {01234567-89AB-CDEF-0123-456789ABCDEF}\r\n\r\n";
        assert_eq!(
            reg_value(text, "CLSID").as_deref(),
            Some("{01234567-89AB-CDEF-0123-456789ABCDEF}")
        );
        assert_eq!(reg_value(text, "Description"), None);
    }

    #[test]
    fn test_names_are_unique_and_bench_tests_exist() {
        let tests = all_tests();
        let mut names: Vec<&str> = tests.iter().map(|test| test.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), tests.len());
        for name in BENCH_TESTS {
            assert!(names.contains(&name));
        }
    }

    #[test]
    fn realtime_tests_are_the_recording_ones() {
        let tests = all_tests();
        let flagged = |name: &str| {
            tests
                .iter()
                .find(|test| test.name == name)
                .map(|test| test.realtime)
        };
        for name in [
            "play-256",
            "play-441",
            "bench-pa-wasapi",
            "duplex-loopback-256",
        ] {
            assert_eq!(flagged(name), Some(true), "{name}");
        }
        for name in [
            "register",
            "misuse",
            "cli-play-record",
            "unregister-round-trip",
        ] {
            assert_eq!(flagged(name), Some(false), "{name}");
        }
    }

    #[test]
    fn play_args_round_trip() {
        let spec = PlaySpec::standard(441);
        let args = spec.args();
        assert_eq!(args[0], "play");
        assert!(args.contains(&"--frames-per-buffer=441".to_string()));
        assert_eq!(spec.expectation().duration_frames, 240_000);
        assert_eq!(spec.expectation().duration_tolerance_frames, 441);
    }
}
