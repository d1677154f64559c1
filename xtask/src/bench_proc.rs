//! Watching a Windows program under Wine from Linux, for `cargo xtask bench`: the program is a
//! Linux process (wine64 runs it in place), so its CPU time and resident memory are in
//! `/proc/<pid>`. Also the busy loop that loads the other core during a soak.

use crate::bench::{Bench, ExeOutput};
use crate::util::{self, detail, Res};
use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Linux reports `/proc/<pid>/stat` times in USER_HZ ticks, 100 per second on every
/// architecture the bench runs on.
const TICKS_PER_SECOND: f64 = 100.0;

/// The (pid, ppid, user + system ticks) of a `/proc/<pid>/stat` line.
pub fn parse_stat(text: &str) -> Option<(u32, u32, u64)> {
    let pid = text.split_whitespace().next()?.parse().ok()?;
    // Fields after the ")" that ends the command name: state(3) ppid(4) … utime(14) stime(15).
    let rest: Vec<&str> = text[text.rfind(')')? + 1..].split_whitespace().collect();
    let ppid = rest.get(1)?.parse().ok()?;
    let utime: u64 = rest.get(11)?.parse().ok()?;
    let stime: u64 = rest.get(12)?.parse().ok()?;
    Some((pid, ppid, utime + stime))
}

/// A `kB` field (e.g. `VmRSS`) of a `/proc/<pid>/status` text.
pub fn status_kib(text: &str, field: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let value = line.strip_prefix(field)?.strip_prefix(':')?;
        value.trim().strip_suffix("kB")?.trim().parse().ok()
    })
}

fn stat_of(pid: u32) -> Option<(u32, u32, u64)> {
    parse_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// `pid` and its descendants (a scan of /proc).
pub fn process_tree(pid: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(entries) = fs::read_dir("/proc") {
        for entry in entries.flatten() {
            if let Some(child) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            {
                if let Some((_, ppid, _)) = stat_of(child) {
                    parents.push((child, ppid));
                }
            }
        }
    }
    let mut tree = vec![pid];
    let mut index = 0;
    while index < tree.len() {
        let parent = tree[index];
        tree.extend(
            parents
                .iter()
                .filter(|(_, p)| *p == parent)
                .map(|(c, _)| *c),
        );
        index += 1;
    }
    tree
}

/// User + system CPU seconds of these processes so far (those that have exited count 0).
pub fn cpu_seconds(pids: &[u32]) -> f64 {
    pids.iter()
        .filter_map(|&pid| stat_of(pid))
        .map(|(_, _, ticks)| ticks as f64 / TICKS_PER_SECOND)
        .sum()
}

/// (VmRSS, RssAnon) of a process in KiB.
pub fn resident_kib(pid: u32) -> Option<(u64, u64)> {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    Some((
        status_kib(&text, "VmRSS")?,
        status_kib(&text, "RssAnon").unwrap_or(0),
    ))
}

/// The bench's own wineserver: a `wineserver` process whose environment names its prefix.
pub fn find_wineserver(bench: &Bench) -> Option<u32> {
    let marker = format!("WINEPREFIX={}", bench.prefix.display());
    fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
        let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let program = cmdline.split(|&b| b == 0).next()?;
        if !String::from_utf8_lossy(program).contains("wineserver") {
            return None;
        }
        let environ = fs::read(format!("/proc/{pid}/environ")).ok()?;
        environ
            .split(|&b| b == 0)
            .any(|entry| entry == marker.as_bytes())
            .then_some(pid)
    })
}

/// One look at the watched process while it streams.
#[derive(Clone, Debug)]
pub struct Sample {
    /// Seconds since the stream's first callback was announced.
    pub since_running: f64,
    /// CPU seconds of the process tree since then.
    pub cpu: f64,
    pub rss_kib: u64,
    pub anon_kib: u64,
}

/// A finished observed run.
pub struct Observed {
    pub output: ExeOutput,
    /// CPU seconds of the process tree between the `running` and `stopping` progress lines.
    pub stream_cpu: f64,
    /// Wall seconds between them (NaN when either line is missing).
    pub stream_seconds: f64,
    /// CPU seconds of the bench's wineserver over the same span.
    pub wineserver_cpu: f64,
}

/// How often the watched process is looked at.
const POLL: Duration = Duration::from_millis(50);

/// Runs `wine64 program args…` (which must print `--progress` lines) with stdout/stderr in
/// `logs/<label>.{out,err}`, measuring the CPU time of its process tree while it streams.
/// `every` is called at every multiple of `period` after the stream started, with a
/// [`Sample`] (for the soak's intervals).
pub fn run_observed(
    bench: &Bench,
    label: &str,
    program: &str,
    args: &[String],
    timeout: Duration,
    period: Option<Duration>,
    mut every: impl FnMut(&Sample),
) -> Res<Observed> {
    let out_path = bench.logs.join(format!("{label}.out"));
    let err_path = bench.logs.join(format!("{label}.err"));
    let file = |path: &PathBuf| {
        fs::File::create(path).map_err(|e| format!("cannot create {}: {e}", path.display()))
    };
    let mut command = bench.wine(program);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(file(&out_path)?)
        .stderr(file(&err_path)?);
    detail(&format!("$ {}", util::describe(&command)));
    let wineserver = find_wineserver(bench);
    let started = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot start wine64: {e}"))?;
    let pid = child.id();
    let mut progress = ProgressReader::new(&out_path);
    let mut tree = vec![pid];
    let mut tree_refreshed = Instant::now();
    // (when, tree CPU, wineserver CPU) at `running` and at `stopping`.
    let mut running: Option<(Instant, f64, f64)> = None;
    let mut stopping: Option<(Instant, f64, f64)> = None;
    let mut next_period = 1u32;
    let server_cpu = || wineserver.map_or(0.0, |pid| cpu_seconds(&[pid]));
    // The last look at the process taken while it still lived: a line read after the exit
    // (stop, close and exit can fit in one poll) is placed there.
    let mut alive_look = (Instant::now(), 0.0, server_cpu());
    let (status, timed_out) = loop {
        if tree_refreshed.elapsed() > Duration::from_secs(2) {
            tree = process_tree(pid);
            tree_refreshed = Instant::now();
        }
        let look = (Instant::now(), cpu_seconds(&tree), server_cpu());
        let exited = match child.try_wait() {
            Ok(Some(status)) => Some((Some(status), false)),
            _ if started.elapsed() > timeout => {
                let _ = child.kill();
                Some((child.wait().ok(), true))
            }
            _ => None,
        };
        if exited.is_none() {
            alive_look = look;
        }
        for event in progress.events() {
            match event.as_str() {
                "running" if running.is_none() => running = Some(alive_look),
                "stopping" if stopping.is_none() => stopping = Some(alive_look),
                _ => {}
            }
        }
        if let Some(end) = exited {
            break end;
        }
        if let (Some((since, cpu0, _)), None, Some(period)) = (running, stopping, period) {
            if since.elapsed() >= period * next_period {
                next_period += 1;
                let (rss_kib, anon_kib) = resident_kib(pid).unwrap_or((0, 0));
                every(&Sample {
                    since_running: since.elapsed().as_secs_f64(),
                    cpu: alive_look.1 - cpu0,
                    rss_kib,
                    anon_kib,
                });
            }
        }
        std::thread::sleep(POLL);
    };
    let (stream_cpu, stream_seconds, wineserver_cpu) = match (running, stopping) {
        (Some((t0, c0, s0)), Some((t1, c1, s1))) => ((c1 - c0), (t1 - t0).as_secs_f64(), s1 - s0),
        _ => (f64::NAN, f64::NAN, f64::NAN),
    };
    Ok(Observed {
        output: ExeOutput {
            code: status.and_then(|status| status.code()),
            stdout: fs::read_to_string(&out_path).unwrap_or_default(),
            stderr: fs::read_to_string(&err_path).unwrap_or_default(),
            timed_out,
            elapsed: started.elapsed(),
        },
        stream_cpu,
        stream_seconds,
        wineserver_cpu,
    })
}

/// Reads the `{"kind":"progress"}` lines a running host appends to its stdout file.
struct ProgressReader {
    path: PathBuf,
    offset: u64,
    partial: String,
}

impl ProgressReader {
    fn new(path: &Path) -> ProgressReader {
        ProgressReader {
            path: path.to_path_buf(),
            offset: 0,
            partial: String::new(),
        }
    }

    /// The events of the complete lines written since the last call.
    fn events(&mut self) -> Vec<String> {
        let Ok(mut file) = fs::File::open(&self.path) else {
            return Vec::new();
        };
        let mut text = String::new();
        if file.seek(SeekFrom::Start(self.offset)).is_err()
            || file.read_to_string(&mut text).is_err()
        {
            return Vec::new();
        }
        self.offset += text.len() as u64;
        self.partial.push_str(&text);
        let mut events = Vec::new();
        while let Some(end) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=end).collect();
            if let Ok(json) = crate::json::parse(line.trim()) {
                if json.str("kind") == Some("progress") {
                    events.extend(json.str("event").map(str::to_string));
                }
            }
        }
        events
    }
}

/// A busy loop on Linux for as long as it lives (the soak's load on the other core).
pub struct BusyLoop {
    child: Child,
}

impl BusyLoop {
    pub fn start() -> Res<BusyLoop> {
        let child = Command::new("sh")
            .args(["-c", "while :; do :; done"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start the busy loop: {e}"))?;
        detail(&format!(
            "load: busy loop `sh -c 'while :; do :; done'`, pid {}",
            child.id()
        ));
        Ok(BusyLoop { child })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for BusyLoop {
    fn drop(&mut self) {
        // Our own child, by PID.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_are_parsed_past_the_command_name() {
        let line = "4242 (wasio-pa-host.e (x)) S 4200 4242 4200 0 -1 4194560 1 0 0 0 150 25 3 4 20 0 9 0 1 2 3";
        assert_eq!(parse_stat(line), Some((4242, 4200, 175)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn status_fields_in_kib() {
        let text = "Name:\twine64\nVmRSS:\t  123456 kB\nRssAnon:\t   65432 kB\n";
        assert_eq!(status_kib(text, "VmRSS"), Some(123_456));
        assert_eq!(status_kib(text, "RssAnon"), Some(65_432));
        assert_eq!(status_kib(text, "VmSwap"), None);
    }

    #[test]
    fn this_process_is_in_its_own_tree_and_uses_cpu() {
        let me = std::process::id();
        let tree = process_tree(me);
        assert_eq!(tree[0], me);
        // Spin until a clock tick is charged (at most a few seconds).
        let started = Instant::now();
        let mut x = 0u64;
        while cpu_seconds(&tree) == 0.0 && started.elapsed() < Duration::from_secs(5) {
            for i in 0..1_000_000u64 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
            }
        }
        assert!(cpu_seconds(&tree) > 0.0, "{x}");
        assert!(resident_kib(me).is_some_and(|(rss, _)| rss > 0));
    }

    #[test]
    fn progress_lines_are_read_as_they_complete() {
        let path = std::env::temp_dir().join(format!("wasio-progress-{}.out", std::process::id()));
        fs::write(
            &path,
            "{\"kind\":\"progress\",\"event\":\"running\"}\n{\"kind\":\"prog",
        )
        .unwrap();
        let mut reader = ProgressReader::new(&path);
        assert_eq!(reader.events(), vec!["running".to_string()]);
        let mut file = fs::OpenOptions::new().append(true).open(&path).unwrap();
        std::io::Write::write_all(
            &mut file,
            b"ress\",\"event\":\"stopping\"}\n{\"kind\":\"play\"}\n",
        )
        .unwrap();
        assert_eq!(reader.events(), vec!["stopping".to_string()]);
        assert!(reader.events().is_empty());
        let _ = fs::remove_file(&path);
    }
}
