//! Wine tests of the user-facing tools: the `wasio` commands against the registered driver
//! and the control panel under Xvfb at 100 % and 150 % DPI (with screenshots).

use crate::analysis::{self, AnalysisConfig, Check, ToneExpectation};
use crate::bench;
use crate::bench::{Bench, ExeOutput};
use crate::json::{self, Json};
use crate::util::{self, detail, Res};
use crate::wine_tests::{sink_analysis_config, WineContext, WineTest, DRIVER_NAME, WINDOWS_TARGET};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long one `wasio` command may take under Wine.
const CLI_TIMEOUT: Duration = Duration::from_secs(60);

pub fn tests() -> Vec<WineTest> {
    vec![
        WineTest {
            name: "cli-devices",
            about: "`wasio devices --json` lists wasio_a and wasio_b and their monitors with state, ID, mix format and periods",
            realtime: false,
            run: cli_devices,
        },
        WineTest {
            name: "cli-config-check",
            about: "`wasio config check` passes a good file and lists every problem of a broken one with its line (exit 1)",
            realtime: false,
            run: cli_config_check,
        },
        WineTest {
            name: "cli-register",
            about: "`wasio unregister` and `wasio register` remove and restore the driver's registry key",
            realtime: false,
            run: cli_register,
        },
        WineTest {
            name: "cli-test",
            about: "`wasio test` runs a whole host session on the registered driver, every step PASS",
            realtime: false,
            run: cli_test,
        },
        WineTest {
            name: "cli-play-record",
            about: "`wasio test --play tone.wav --record out.wav` (16- and 24-bit): the recording equals the file sample for sample",
            realtime: false,
            run: cli_play_record,
        },
        WineTest {
            name: "cli-status",
            about: "`wasio status` says none is running, and reports a left-over status file as stale",
            realtime: false,
            run: cli_status,
        },
        WineTest {
            name: "cli-status-live",
            about: "while `wasio watch` streams, `wasio status --json` and the panel's status line show it running (PID, rate, buffer, device, format, latencies, switches growing); after it exits no file is left",
            realtime: false,
            run: cli_status_live,
        },
        WineTest {
            name: "unload-no-crash",
            about: "`wasio unload-check` (logging on; plain and with a reset request): after the last Release the DLL unloads and the host lives on 1.5 s without a crash",
            realtime: false,
            run: crate::wine_tests_unload::unload_no_crash,
        },
        WineTest {
            name: "panel-tone",
            about: "the panel's test tone goes to the chosen endpoint (wasio_b): 1 kHz, -12 dBFS, 1 s, clean",
            realtime: true,
            run: panel_tone,
        },
        WineTest {
            name: "panel-96",
            about: "the control panel at 96 DPI under Xvfb: every control exists, pickers filled; screenshot",
            realtime: false,
            run: |ctx| panel_test(ctx, 96),
        },
        WineTest {
            name: "panel-problem",
            about: "the control panel explains a combination that cannot work (exclusive mode on a sink that refuses it)",
            realtime: false,
            run: panel_problem_test,
        },
        WineTest {
            name: "panel-144",
            about: "the control panel at 144 DPI (150 %) under Xvfb: scaled layout, pickers filled; screenshot",
            realtime: false,
            run: |ctx| panel_test(ctx, 144),
        },
    ]
}

fn exit_is(name: &str, output: &ExeOutput, expected: i32) -> Check {
    let mut measured = output.describe_end();
    if output.code != Some(expected) {
        if let Some(last) = output
            .stderr
            .lines()
            .rev()
            .find(|l| !l.starts_with("ALSA lib"))
        {
            measured = format!("{measured}: {}", last.trim());
        }
    }
    Check::new(
        name,
        output.code == Some(expected) && !output.timed_out,
        measured,
        format!("exit code {expected}"),
    )
}

/// The JSON document on stdout (Wine may print lines of its own before it).
fn stdout_json(output: &ExeOutput) -> Res<Json> {
    let start = output
        .stdout
        .find(['{', '['])
        .ok_or_else(|| format!("no JSON on stdout: {:?}", output.stdout))?;
    json::parse(output.stdout[start..].trim())
}

fn array(value: Option<&Json>) -> &[Json] {
    match value {
        Some(Json::Array(items)) => items,
        _ => &[],
    }
}

fn boolean(value: Option<&Json>) -> Option<bool> {
    match value {
        Some(Json::Bool(b)) => Some(*b),
        _ => None,
    }
}

fn cli_devices(ctx: &WineContext) -> Res<Vec<Check>> {
    let output = ctx.cli("cli-devices", &["devices", "--json"], CLI_TIMEOUT)?;
    let mut checks = vec![exit_is("wasio devices --json", &output, 0)];
    let list = stdout_json(&output)?;
    let endpoints = array(Some(&list));
    for (sink, flow) in [
        ("wasio_a", "render"),
        ("wasio_b", "render"),
        ("Monitor of wasio_a", "capture"),
        ("Monitor of wasio_b", "capture"),
    ] {
        let found = endpoints
            .iter()
            .find(|e| e.str("name") == Some(sink) && e.str("flow") == Some(flow));
        let Some(e) = found else {
            let names: Vec<&str> = endpoints.iter().filter_map(|e| e.str("name")).collect();
            checks.push(Check::new(
                format!("{flow} endpoint {sink}"),
                false,
                format!("not listed; names: {}", names.join(", ")),
                "listed",
            ));
            continue;
        };
        let mix = e.get("mix_format");
        let rate = mix.and_then(|m| m.num("sample_rate"));
        let channels = mix.and_then(|m| m.num("channels"));
        let mask = e.num("channel_mask");
        let id_ok = e.str("id").is_some_and(|id| !id.is_empty());
        let periods_ok = e.num("default_period_hns").is_some_and(|p| p > 0.0)
            && e.num("min_period_hns").is_some_and(|p| p > 0.0)
            && e.num("default_period_frames").is_some_and(|p| p > 0.0);
        checks.push(Check::new(
            format!("{flow} endpoint {sink}"),
            e.str("state") == Some("active")
                && id_ok
                && rate == Some(48_000.0)
                && channels == Some(2.0)
                && mask == Some(3.0)
                && periods_ok
                && e.get("exclusive_formats").is_some(),
            format!(
                "state {:?}, id {}, mix {:?}, mask {mask:?}, default period {:?} frames, {} exclusive formats",
                e.str("state"),
                if id_ok { "present" } else { "missing" },
                mix.and_then(|m| m.str("text")),
                e.num("default_period_frames"),
                array(e.get("exclusive_formats")).len()
            ),
            "active, ID, 48000 Hz 2 ch mask 0x3, periods > 0, exclusive_formats present",
        ));
    }
    let defaults = endpoints
        .iter()
        .filter(|e| boolean(e.get("default")) == Some(true))
        .count();
    checks.push(Check::new(
        "one default per flow",
        defaults == 2,
        format!("{defaults} endpoints marked default"),
        "2 (one render, one capture)",
    ));
    let text = ctx.cli("cli-devices-text", &["devices"], CLI_TIMEOUT)?;
    checks.push(exit_is("wasio devices", &text, 0));
    checks.push(Check::new(
        "text listing names the sinks",
        text.stdout.contains("wasio_a") && text.stdout.contains("mix:"),
        format!("{} lines", text.stdout.lines().count()),
        "wasio_a with its mix format",
    ));
    Ok(checks)
}

fn cli_config_check(ctx: &WineContext) -> Res<Vec<Check>> {
    let dir = ctx.results.join("config-check");
    fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let good = dir.join("good.toml");
    let broken = dir.join("broken.toml");
    fs::write(
        &good,
        "sample_rate = 48000\n[buffer]\npreferred = 256\n[output]\nmode = \"shared\"\n",
    )
    .map_err(|e| e.to_string())?;
    // Problems on lines 2, 4 and 6.
    fs::write(
        &broken,
        "# broken on purpose\nsample_rate = 5\n[buffer]\nmin = 8\n[output]\nchannels = [0, 999]\n",
    )
    .map_err(|e| e.to_string())?;
    let good_path = Bench::windows_path(&good);
    let broken_path = Bench::windows_path(&broken);
    let mut checks = Vec::new();
    let ok = ctx.cli(
        "config-good",
        &["config", "check", "--file", &good_path],
        CLI_TIMEOUT,
    )?;
    checks.push(exit_is("good file", &ok, 0));
    checks.push(Check::new(
        "good file is valid",
        ok.stdout.contains(": valid"),
        ok.stdout.trim().to_string(),
        "…: valid",
    ));
    let bad = ctx.cli(
        "config-broken",
        &["config", "check", "--file", &broken_path],
        CLI_TIMEOUT,
    )?;
    checks.push(exit_is("broken file", &bad, 1));
    for (line, key) in [
        (2, "sample_rate"),
        (4, "buffer.min"),
        (6, "output.channels"),
    ] {
        let needle = format!("broken.toml:{line}:");
        let found = bad
            .stdout
            .lines()
            .any(|l| l.contains(&needle) && l.contains(key));
        checks.push(Check::new(
            format!("problem at line {line}"),
            found,
            bad.stdout
                .lines()
                .find(|l| l.contains(&needle))
                .unwrap_or("no such line")
                .to_string(),
            format!("broken.toml:{line}:… {key}: …"),
        ));
    }
    let json_out = ctx.cli(
        "config-broken-json",
        &["config", "check", "--file", &broken_path, "--json"],
        CLI_TIMEOUT,
    )?;
    checks.push(exit_is("broken file --json", &json_out, 1));
    let report = stdout_json(&json_out)?;
    let lines: Vec<f64> = array(report.get("problems"))
        .iter()
        .filter_map(|p| p.num("line"))
        .collect();
    checks.push(Check::new(
        "JSON problems with lines",
        boolean(report.get("valid")) == Some(false) && lines == [2.0, 4.0, 6.0],
        format!("valid {:?}, lines {lines:?}", boolean(report.get("valid"))),
        "valid false, lines [2, 4, 6]",
    ));
    let usage = ctx.cli("config-usage", &["config", "frobnicate"], CLI_TIMEOUT)?;
    checks.push(exit_is("unknown subcommand is a usage error", &usage, 2));
    Ok(checks)
}

fn registered(ctx: &WineContext) -> Res<bool> {
    Ok(ctx.asio_registry_clsid(DRIVER_NAME)?.is_some())
}

fn cli_register(ctx: &WineContext) -> Res<Vec<Check>> {
    let dll = Bench::windows_path(&ctx.artifacts.driver_dll);
    let mut checks = Vec::new();
    let off = ctx.cli(
        "cli-unregister",
        &["unregister", &dll, "--json"],
        CLI_TIMEOUT,
    )?;
    checks.push(exit_is("wasio unregister", &off, 0));
    let gone = !registered(ctx)?;
    checks.push(Check::new(
        "key removed",
        gone,
        format!("{}", !gone),
        "false",
    ));
    let on = ctx.cli("cli-register", &["register", &dll, "--json"], CLI_TIMEOUT)?;
    checks.push(exit_is("wasio register", &on, 0));
    let back = registered(ctx)?;
    checks.push(Check::new("key restored", back, format!("{back}"), "true"));
    let report = stdout_json(&on)?;
    checks.push(Check::new(
        "register --json",
        on.stdout.trim_start().starts_with('{') && boolean(report.get("ok")) == Some(true),
        on.stdout.trim().replace('\n', " "),
        "{\"ok\": true, …}",
    ));
    let missing = ctx.cli(
        "cli-register-missing",
        &["register", "C:\\no\\such.dll"],
        CLI_TIMEOUT,
    )?;
    checks.push(exit_is("a missing DLL fails cleanly", &missing, 1));
    Ok(checks)
}

/// Makes sure the driver is registered (tests may run alone with `--only`).
fn ensure_registered(ctx: &WineContext) -> Res<()> {
    if !registered(ctx)? {
        let output = ctx.regsvr32("tools-regsvr32", false)?;
        if !output.success() {
            return Err(format!("regsvr32 failed: {}", output.describe_end()));
        }
    }
    Ok(())
}

fn step_checks(report: &Json) -> Vec<Check> {
    array(report.get("steps"))
        .iter()
        .map(|step| {
            Check::new(
                format!("step {}", step.str("name").unwrap_or("?")),
                boolean(step.get("passed")) == Some(true),
                step.str("observed").unwrap_or("").to_string(),
                step.str("expected").unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn cli_test(ctx: &WineContext) -> Res<Vec<Check>> {
    ensure_registered(ctx)?;
    let output = ctx.cli(
        "cli-test",
        &[
            "test",
            "--driver",
            DRIVER_NAME,
            "--switches",
            "200",
            "--json",
        ],
        Duration::from_secs(120),
    )?;
    let mut checks = vec![exit_is("wasio test --json", &output, 0)];
    let report = stdout_json(&output)?;
    checks.extend(step_checks(&report));
    checks.push(Check::new(
        "switches",
        report.num("switches").is_some_and(|n| n >= 200.0),
        format!("{:?}", report.num("switches")),
        ">= 200",
    ));
    let text = ctx.cli(
        "cli-test-text",
        &["test", "--buffer", "441"],
        Duration::from_secs(120),
    )?;
    checks.push(exit_is("wasio test --buffer 441", &text, 0));
    let summary = text
        .stdout
        .lines()
        .rev()
        .find(|l| l.starts_with("test:"))
        .unwrap_or("no summary")
        .to_string();
    checks.push(Check::new(
        "text summary",
        summary.ends_with(" 0 failed"),
        summary,
        "test: N passed, 0 failed",
    ));
    let missing = ctx.cli(
        "cli-test-missing",
        &["test", "--driver", "NoSuchDriver"],
        CLI_TIMEOUT,
    )?;
    checks.push(exit_is("an unknown driver fails cleanly", &missing, 1));
    Ok(checks)
}

/// A 16-bit (or 24-bit) stereo WAV: 1 kHz left, 1.5 kHz right, a ramp of odd length.
fn write_tone_wav(path: &Path, bits: u16, rate: u32, frames: usize) -> Res<Vec<u8>> {
    let bytes_per_sample = (bits / 8) as usize;
    let mut data = Vec::with_capacity(frames * 2 * bytes_per_sample);
    let full_scale = ((1i64 << (bits - 1)) - 1) as f64;
    for n in 0..frames {
        for (channel, freq) in [1000.0, 1500.0].iter().enumerate() {
            let t = n as f64 / rate as f64;
            let value = (0.5 / (channel + 1) as f64
                * (2.0 * std::f64::consts::PI * freq * t).sin()
                * full_scale)
                .round() as i32;
            data.extend_from_slice(&value.to_le_bytes()[..bytes_per_sample]);
        }
    }
    let block_align = 2 * bytes_per_sample as u16;
    let mut file = Vec::new();
    file.extend_from_slice(b"RIFF");
    file.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    file.extend_from_slice(b"WAVEfmt ");
    file.extend_from_slice(&16u32.to_le_bytes());
    file.extend_from_slice(&1u16.to_le_bytes());
    file.extend_from_slice(&2u16.to_le_bytes());
    file.extend_from_slice(&rate.to_le_bytes());
    file.extend_from_slice(&(rate * block_align as u32).to_le_bytes());
    file.extend_from_slice(&block_align.to_le_bytes());
    file.extend_from_slice(&bits.to_le_bytes());
    file.extend_from_slice(b"data");
    file.extend_from_slice(&(data.len() as u32).to_le_bytes());
    file.extend_from_slice(&data);
    fs::write(path, &file).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(data)
}

/// The `data` chunk of a WAV file and its `fmt ` bits per sample.
fn wav_data(path: &Path) -> Res<(u16, Vec<u8>)> {
    let bytes = fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut at = 12;
    let mut bits = 0;
    while at + 8 <= bytes.len() {
        let size = u32::from_le_bytes([bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7]])
            as usize;
        let body = &bytes[at + 8..(at + 8 + size).min(bytes.len())];
        match &bytes[at..at + 4] {
            b"fmt " if body.len() >= 16 => bits = u16::from_le_bytes([body[14], body[15]]),
            b"data" => return Ok((bits, body.to_vec())),
            _ => {}
        }
        at += 8 + size + (size & 1);
    }
    Err(format!("{}: no data chunk", path.display()))
}

fn cli_play_record(ctx: &WineContext) -> Res<Vec<Check>> {
    ensure_registered(ctx)?;
    let dir = ctx.results.join("play-record");
    fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let mut checks = Vec::new();
    // 1.3 s: not a whole number of buffers, so the last block is partly silence.
    for (bits, buffer) in [(16u16, "256"), (24, "441")] {
        let tone = dir.join(format!("tone{bits}.wav"));
        let out = dir.join(format!("out{bits}.wav"));
        let _ = fs::remove_file(&out);
        let expected = write_tone_wav(&tone, bits, 48_000, 62_400)?;
        let output = ctx.cli(
            &format!("cli-play-record-{bits}"),
            &[
                "test",
                "--buffer",
                buffer,
                "--play",
                &Bench::windows_path(&tone),
                "--record",
                &Bench::windows_path(&out),
                "--json",
            ],
            Duration::from_secs(120),
        )?;
        checks.push(exit_is(&format!("{bits}-bit play/record"), &output, 0));
        if let Ok(report) = stdout_json(&output) {
            checks.extend(step_checks(&report).into_iter().filter(|c| !c.passed));
        }
        match wav_data(&out) {
            Ok((out_bits, recorded)) => {
                let first_difference = expected.iter().zip(&recorded).position(|(a, b)| a != b);
                checks.push(Check::new(
                    format!("{bits}-bit recording equals the file"),
                    out_bits == bits && recorded == expected,
                    format!(
                        "{out_bits}-bit, {} of {} bytes, first difference at {first_difference:?}",
                        recorded.len(),
                        expected.len()
                    ),
                    format!("{bits}-bit, identical data"),
                ));
            }
            Err(error) => checks.push(Check::new(
                format!("{bits}-bit recording"),
                false,
                error,
                "a WAV file",
            )),
        }
    }
    let wrong_rate = dir.join("tone44k.wav");
    write_tone_wav(&wrong_rate, 16, 44_100, 4_410)?;
    let refused = ctx.cli(
        "cli-play-wrong-rate",
        &[
            "test",
            "--rate",
            "48000",
            "--play",
            &Bench::windows_path(&wrong_rate),
        ],
        CLI_TIMEOUT,
    )?;
    checks.push(exit_is("a rate mismatch is refused", &refused, 1));
    checks.push(Check::new(
        "the refusal says why",
        refused.stdout.contains("does not resample"),
        refused
            .stdout
            .lines()
            .find(|l| l.contains("FAIL"))
            .unwrap_or("")
            .to_string(),
        "…does not resample…",
    ));
    Ok(checks)
}

/// The Unix path of Wine's `%TEMP%`.
fn wine_temp_dir(ctx: &WineContext) -> Res<PathBuf> {
    let echo = ctx
        .bench
        .wine("cmd")
        .args(["/c", "echo %TEMP%"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run wine cmd: {e}"))?;
    let windows = String::from_utf8_lossy(&echo.stdout).trim().to_string();
    let unix = ctx
        .bench
        .wine("winepath")
        .args(["-u", &windows])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run winepath: {e}"))?;
    let path = PathBuf::from(String::from_utf8_lossy(&unix.stdout).trim());
    if path.as_os_str().is_empty() {
        return Err(format!("cannot map %TEMP% ({windows:?}) to a Unix path"));
    }
    Ok(path)
}

fn cli_status(ctx: &WineContext) -> Res<Vec<Check>> {
    let status_dir = wine_temp_dir(ctx)?.join("Wasio");
    let mut checks = Vec::new();
    // Leave no status file of ours behind from an earlier run.
    let fake = status_dir.join("status-999999-7.json");
    let _ = fs::remove_file(&fake);
    let none = ctx.cli("cli-status", &["status"], CLI_TIMEOUT)?;
    checks.push(exit_is("wasio status", &none, 0));
    checks.push(Check::new(
        "says none is running",
        none.stdout.contains("no Wasio driver instance is running"),
        none.stdout.lines().next().unwrap_or("").to_string(),
        "no Wasio driver instance is running",
    ));
    // A file left by a host that died: its PID does not exist.
    fs::create_dir_all(&status_dir).map_err(|e| e.to_string())?;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    fs::write(
        &fake,
        format!(
            "{{\"pid\": 999999, \"process\": \"crashed.exe\", \"instance\": 7, \"state\": \"running\", \"mode\": \"shared\", \"device\": \"wasio_a\", \"sample_rate\": 48000.0, \"buffer_frames\": 256, \"period_frames\": 480, \"device_buffer_frames\": 960, \"format\": \"48000 Hz, 2 ch (mask 0x3), float32\", \"input_latency\": 0, \"output_latency\": 1216, \"switches\": 10, \"xruns\": 0, \"updated_unix_ms\": {now_ms}, \"driver_version\": \"0.1.0\"}}"
        ),
    )
    .map_err(|e| e.to_string())?;
    let stale = ctx.cli("cli-status-stale", &["status", "--json"], CLI_TIMEOUT)?;
    let _ = fs::remove_file(&fake);
    checks.push(exit_is("wasio status --json", &stale, 0));
    let report = stdout_json(&stale)?;
    let instance = array(report.get("instances"))
        .iter()
        .find(|i| i.str("process") == Some("crashed.exe"))
        .cloned();
    checks.push(Check::new(
        "a dead host's file is stale",
        report.num("running") == Some(0.0)
            && instance.as_ref().is_some_and(|i| {
                boolean(i.get("live")) == Some(false)
                    && i.str("staleness")
                        .is_some_and(|s| s.contains("no longer exists"))
            }),
        format!(
            "running {:?}, staleness {:?}",
            report.num("running"),
            instance.as_ref().and_then(|i| i.str("staleness"))
        ),
        "running 0, stale: the process no longer exists",
    ));
    Ok(checks)
}

/// How long `wasio watch` streams in `cli-status-live`: enough for two status calls and a
/// panel start on a loaded machine (each Wine process takes seconds to start).
const LIVE_WATCH_SECONDS: &str = "30";

/// Windows PIDs of the processes called `exe`, from `winedbg --command "info proc"` (Wine's
/// `tasklist` is a stub): an independent witness of the PID the status file claims.
fn windows_pids(ctx: &WineContext, exe: &str) -> Res<Vec<u32>> {
    let output = ctx
        .bench
        .wine("winedbg")
        .args(["--command", "info proc"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run winedbg: {e}"))?;
    Ok(parse_info_proc(
        &String::from_utf8_lossy(&output.stdout),
        exe,
    ))
}

/// Parses winedbg's `info proc` lines, e.g. ` 00000104 1        \_ 'wasio.exe'` (hex PIDs).
fn parse_info_proc(text: &str, exe: &str) -> Vec<u32> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim_start().trim_start_matches('=');
            let pid = u32::from_str_radix(line.split_whitespace().next()?, 16).ok()?;
            let name = line.split('\'').nth(1)?;
            name.eq_ignore_ascii_case(exe).then_some(pid)
        })
        .collect()
}

/// Waits until `wasio watch` (stderr in `err_path`) says it streams; returns its buffer size.
fn wait_until_streaming(err_path: &Path, watch_done: impl Fn() -> bool) -> Res<u32> {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let text = fs::read_to_string(err_path).unwrap_or_default();
        // Only a whole line: the file may be read while the line is half written.
        if let Some(line) = text
            .split_inclusive('\n')
            .filter_map(|l| l.strip_suffix('\n'))
            .map(|l| l.trim_end_matches('\r'))
            .find(|l| l.starts_with("wasio: streaming silence on"))
        {
            // "wasio: streaming silence on 2 channels, 256 frames, for 30 s"
            return line
                .split(", ")
                .nth(1)
                .and_then(|part| part.strip_suffix(" frames"))
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| format!("cannot read the buffer size from {line:?}"));
        }
        if watch_done() || Instant::now() > deadline {
            return Err(format!("`wasio watch` did not start streaming: {text}"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The name of the render endpoint `wasio devices --json` marks as the default.
fn default_render_name(ctx: &WineContext) -> Res<String> {
    let output = ctx.cli(
        "cli-status-live-devices",
        &["devices", "--json"],
        Duration::from_secs(60),
    )?;
    let list = stdout_json(&output)?;
    array(Some(&list))
        .iter()
        .find(|e| e.str("flow") == Some("render") && boolean(e.get("default")) == Some(true))
        .and_then(|e| e.str("name"))
        .map(str::to_string)
        .ok_or_else(|| "`wasio devices --json` marks no default render endpoint".to_string())
}

/// The live instance of process `pid` in a `wasio status --json` report.
fn live_instance(report: &Json, pid: u32) -> Option<Json> {
    array(report.get("instances"))
        .iter()
        .find(|i| i.num("pid") == Some(pid as f64) && boolean(i.get("live")) == Some(true))
        .cloned()
}

/// The panel's status line (`--self-check` reports every control's text).
fn panel_status_line(ctx: &WineContext, panel: &Path, display: &str) -> Res<String> {
    let output = run_with_display(
        ctx,
        "cli-status-live-panel",
        panel,
        &["--self-check"],
        display,
        Duration::from_secs(60),
    )?;
    let report = json::parse_lines(&output.stdout)
        .ok()
        .and_then(|lines| lines.into_iter().find(|l| l.get("controls").is_some()))
        .ok_or_else(|| {
            format!(
                "no self-check report from the panel: {}: {}",
                output.describe_end(),
                output.stderr.lines().last().unwrap_or("")
            )
        })?;
    array(report.get("controls"))
        .iter()
        .find(|c| c.str("name") == Some("status"))
        .and_then(|c| c.str("text"))
        .map(str::to_string)
        .ok_or_else(|| "the self-check report has no status control".to_string())
}

/// Waits until this prefix has no desktop process (`explorer.exe`) left from earlier Wine
/// processes, which may have started it without a display.
fn wait_for_no_desktop(ctx: &WineContext) -> Res<()> {
    let prefix = format!("WINEPREFIX={}", ctx.bench.prefix.display());
    let desktop_running = || {
        fs::read_dir("/proc")
            .map(|listing| {
                listing.filter_map(|e| e.ok()).any(|entry| {
                    let path = entry.path();
                    let command = fs::read(path.join("cmdline")).unwrap_or_default();
                    let program = command.split(|&b| b == 0).next().unwrap_or_default();
                    String::from_utf8_lossy(program).ends_with("explorer.exe")
                        && fs::read(path.join("environ"))
                            .unwrap_or_default()
                            .split(|&b| b == 0)
                            .any(|var| var == prefix.as_bytes())
                })
            })
            .unwrap_or(false)
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while desktop_running() {
        if Instant::now() > deadline {
            return Err("the prefix's desktop process did not exit within 60 s".into());
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    Ok(())
}

/// The checks made while the watch streams; returns them with the switch count last seen.
fn live_status_checks(
    ctx: &WineContext,
    panel: &Path,
    display: &str,
    watch_err: &Path,
    watch_done: &dyn Fn() -> bool,
) -> Res<(Vec<Check>, u32, f64)> {
    let buffer = wait_until_streaming(watch_err, watch_done)?;
    let pids = windows_pids(ctx, "wasio.exe")?;
    let [pid] = pids[..] else {
        return Err(format!(
            "expected one wasio.exe (the watch) in winedbg's process list, found PIDs {pids:?}"
        ));
    };
    let default_device = default_render_name(ctx)?;
    let mut checks = Vec::new();
    // The file is written at `start` (0 switches), then about twice a second: read until it
    // shows the first switches.
    let deadline = Instant::now() + Duration::from_secs(10);
    let (first, first_report, instance) = loop {
        let first = ctx.cli(
            "cli-status-live-1",
            &["status", "--json"],
            Duration::from_secs(60),
        )?;
        let report = stdout_json(&first)?;
        let instance = live_instance(&report, pid);
        let counting = instance
            .as_ref()
            .and_then(|i| i.num("switches"))
            .is_some_and(|n| n > 0.0);
        if counting || Instant::now() > deadline {
            break (first, report, instance);
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    checks.push(exit_is("wasio status --json while streaming", &first, 0));
    let Some(instance) = instance else {
        return Err(format!(
            "`wasio status --json` lists no live instance of PID {pid}: {}",
            first.stdout.trim()
        ));
    };
    checks.push(Check::new(
        "one instance running",
        first_report.num("running") == Some(1.0),
        format!("running {:?}", first_report.num("running")),
        "1",
    ));
    checks.push(Check::new(
        "process and PID",
        instance
            .str("process")
            .is_some_and(|p| p.eq_ignore_ascii_case("wasio.exe")),
        format!("{:?} PID {pid:#x}", instance.str("process")),
        format!("wasio.exe, PID {pid:#x} as winedbg lists it"),
    ));
    checks.push(Check::new(
        "state and mode",
        instance.str("state") == Some("running")
            && instance
                .str("mode")
                .is_some_and(|m| m.starts_with("shared")),
        format!("{:?}, {:?}", instance.str("state"), instance.str("mode")),
        "running, shared…",
    ));
    checks.push(Check::new(
        "device",
        instance.str("device") == Some(default_device.as_str()),
        format!("{:?}", instance.str("device")),
        format!("{default_device:?} (the default render endpoint in `wasio devices`)"),
    ));
    checks.push(Check::new(
        "rate and buffer",
        instance.num("sample_rate") == Some(bench::SINK_RATE as f64)
            && instance.num("buffer_frames") == Some(buffer as f64)
            && instance.num("period_frames").is_some_and(|p| p > 0.0)
            && instance
                .num("device_buffer_frames")
                .is_some_and(|d| d >= instance.num("period_frames").unwrap_or(f64::MAX)),
        format!(
            "{:?} Hz, buffer {:?}, period {:?}, device buffer {:?}",
            instance.num("sample_rate"),
            instance.num("buffer_frames"),
            instance.num("period_frames"),
            instance.num("device_buffer_frames")
        ),
        format!(
            "48000 Hz, buffer {buffer} (as the watch chose), period > 0, device buffer >= period"
        ),
    ));
    checks.push(Check::new(
        "format",
        instance
            .str("format")
            .is_some_and(|f| f.contains("48000 Hz") && (f.contains("2ch") || f.contains("2 ch"))),
        format!("{:?}", instance.str("format")),
        "names 48000 Hz and 2 channels",
    ));
    let output_latency = instance.num("output_latency").unwrap_or(0.0);
    checks.push(Check::new(
        "latencies",
        output_latency >= buffer as f64 && instance.num("input_latency").is_some(),
        format!(
            "input {:?}, output {output_latency} frames",
            instance.num("input_latency")
        ),
        format!("input reported, output >= one buffer ({buffer})"),
    ));
    let first_switches = instance.num("switches").unwrap_or(0.0);
    let xruns = instance.num("xruns");
    checks.push(Check::new(
        "xruns reported",
        xruns.is_some(),
        format!("{xruns:?}"),
        "a count",
    ));
    // The file is rewritten about twice a second: 1.5 s later the count must have grown.
    std::thread::sleep(Duration::from_millis(1500));
    let second = ctx.cli(
        "cli-status-live-2",
        &["status", "--json"],
        Duration::from_secs(60),
    )?;
    let second_switches = stdout_json(&second)
        .ok()
        .and_then(|report| live_instance(&report, pid))
        .and_then(|i| i.num("switches"))
        .unwrap_or(0.0);
    checks.push(Check::new(
        "switches > 0 and growing",
        first_switches > 0.0 && second_switches > first_switches,
        format!("{first_switches} then {second_switches}"),
        "> 0, then more",
    ));
    let text = ctx.cli("cli-status-live-text", &["status"], Duration::from_secs(60))?;
    let headline = format!("(PID {pid}), instance");
    checks.push(Check::new(
        "text report",
        text.stdout.contains(&headline) && text.stdout.contains("running [live]"),
        text.stdout.lines().next().unwrap_or("").to_string(),
        format!("wasio.exe (PID {pid}), instance N: running [live]"),
    ));
    let line = panel_status_line(ctx, panel, display)?;
    let still_streaming = !watch_done();
    checks.push(Check::new(
        "panel status line",
        still_streaming
            && line.contains(&format!("running in wasio.exe (PID {pid})"))
            && line.contains(&format!("buffer {buffer} frames")),
        format!(
            "{line:?}{}",
            if still_streaming {
                ""
            } else {
                " (the watch had ended)"
            }
        ),
        format!("Driver: running in wasio.exe (PID {pid}): shared, …, buffer {buffer} frames, …"),
    ));
    Ok((checks, pid, second_switches))
}

fn cli_status_live(ctx: &WineContext) -> Res<Vec<Check>> {
    // A Wine program run through log files first: the first Wine process on a fresh
    // wineserver starts its services, which would inherit (and hold open) the pipes of a
    // captured command such as `reg query` below.
    let before = ctx.cli(
        "cli-status-live-before",
        &["status", "--json"],
        Duration::from_secs(60),
    )?;
    let mut checks = vec![Check::new(
        "none running before",
        stdout_json(&before)?.num("running") == Some(0.0),
        before
            .stdout
            .lines()
            .find(|l| l.contains("\"running\""))
            .unwrap_or("")
            .trim()
            .to_string(),
        "\"running\": 0",
    )];
    ensure_registered(ctx)?;
    let panel = build_panel(ctx)?;
    let status_dir = wine_temp_dir(ctx)?.join("Wasio");
    // The watch starts the prefix's desktop process, which then lives as long as the watch:
    // it must start with a display for the panel to get a window (see `panel_case`).
    wait_for_no_desktop(ctx)?;
    let xvfb = Xvfb::start(&ctx.bench.logs.join("xvfb-cli-status-live.log"))?;
    let watch_label = "cli-status-live-watch";
    let watch_err = ctx.bench.logs.join(format!("{watch_label}.err"));
    let _ = fs::remove_file(&watch_err);
    let (live, watch) = std::thread::scope(|scope| {
        let watcher = scope.spawn(|| {
            run_with_display(
                ctx,
                watch_label,
                &ctx.artifacts.cli_exe,
                &[
                    "watch",
                    "--driver",
                    DRIVER_NAME,
                    "--seconds",
                    LIVE_WATCH_SECONDS,
                ],
                &xvfb.display,
                Duration::from_secs(150),
            )
        });
        let live = live_status_checks(ctx, &panel, &xvfb.display, &watch_err, &|| {
            watcher.is_finished()
        });
        let watch = watcher
            .join()
            .map_err(|_| "the watch thread panicked".to_string());
        (live, watch)
    });
    let watch = watch??;
    let (live_checks, pid, seen_switches) = live?;
    checks.extend(live_checks);
    checks.push(exit_is("wasio watch", &watch, 0));
    let final_switches = stdout_json(&watch)
        .ok()
        .and_then(|r| r.num("buffer_switches"))
        .unwrap_or(0.0);
    checks.push(Check::new(
        "the watch's own count covers the status's",
        final_switches >= seen_switches,
        format!("watch {final_switches}, status {seen_switches}"),
        "watch >= status",
    ));
    let after = ctx.cli(
        "cli-status-live-after",
        &["status", "--json"],
        Duration::from_secs(60),
    )?;
    let report = stdout_json(&after)?;
    let left = array(report.get("instances"))
        .iter()
        .filter(|i| i.num("pid") == Some(pid as f64))
        .count();
    let prefix = format!("status-{pid}-");
    let files: Vec<String> = fs::read_dir(&status_dir)
        .map(|listing| {
            listing
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| name.starts_with(&prefix))
                .collect()
        })
        .unwrap_or_default();
    checks.push(Check::new(
        "nothing left after the host exits",
        report.num("running") == Some(0.0) && left == 0 && files.is_empty(),
        format!(
            "running {:?}, {left} instance(s) of PID {pid}, files {files:?}",
            report.num("running")
        ),
        "running 0, no instance or file of that PID",
    ));
    Ok(checks)
}

/// An Xvfb server on a free display, stopped on drop.
struct Xvfb {
    display: String,
    child: Child,
}

impl Xvfb {
    fn start(log: &Path) -> Res<Xvfb> {
        let number = (90..200)
            .find(|n| {
                !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()
                    && !Path::new(&format!("/tmp/.X{n}-lock")).exists()
            })
            .ok_or("no free X display number")?;
        let display = format!(":{number}");
        let log = fs::File::create(log).map_err(|e| e.to_string())?;
        let child = Command::new("Xvfb")
            .args([&display, "-screen", "0", "1280x800x24", "-nolisten", "tcp"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start Xvfb (install package xvfb): {e}"))?;
        let xvfb = Xvfb { display, child };
        let socket = format!("/tmp/.X11-unix/X{number}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !Path::new(&socket).exists() {
            if Instant::now() > deadline {
                return Err("Xvfb did not start".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(xvfb)
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        util::stop_child(&mut self.child, "TERM", Duration::from_secs(3));
    }
}

/// Builds `wasio-panel.exe` next to the CLI (same profile).
fn build_panel(ctx: &WineContext) -> Res<PathBuf> {
    let exe = ctx.artifacts.cli_exe.with_file_name("wasio-panel.exe");
    let release = ctx
        .artifacts
        .cli_exe
        .parent()
        .and_then(|p| p.file_name())
        .is_some_and(|n| n == "release");
    let mut command = util::cargo();
    command.current_dir(util::workspace_root()).args([
        "build",
        "--target",
        WINDOWS_TARGET,
        "-p",
        "wasio-panel",
    ]);
    if release {
        command.arg("--release");
    }
    util::run(&mut command)?;
    if !exe.is_file() {
        return Err(format!("build did not produce {}", exe.display()));
    }
    Ok(exe)
}

/// Sets Wine's DPI. With `DISPLAY` set: a Wine process started without it could start the
/// prefix's desktop process without a display driver, and the panel then gets no window.
fn set_log_pixels(ctx: &WineContext, display: &str, dpi: u32) -> Res<()> {
    for key in [
        "HKCU\\Control Panel\\Desktop",
        "HKLM\\System\\CurrentControlSet\\Hardware Profiles\\Current\\Software\\Fonts",
    ] {
        let status = ctx
            .bench
            .wine("reg")
            .env("DISPLAY", display)
            .args(["add", key, "/v", "LogPixels", "/t", "REG_DWORD", "/d"])
            .arg(dpi.to_string())
            .arg("/f")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| format!("cannot run wine reg: {e}"))?;
        if !status.success() {
            return Err(format!("reg add {key} LogPixels={dpi} failed"));
        }
    }
    Ok(())
}

/// Xvfb has no window manager: make Wine draw the title bar and frame itself.
fn set_wine_decorations(ctx: &WineContext, display: &str, wine_draws: bool) -> Res<()> {
    let mut command = ctx.bench.wine("reg");
    command.env("DISPLAY", display);
    let key = "HKCU\\Software\\Wine\\X11 Driver";
    if wine_draws {
        command.args([
            "add",
            key,
            "/v",
            "Decorated",
            "/t",
            "REG_SZ",
            "/d",
            "N",
            "/f",
        ]);
    } else {
        command.args(["delete", key, "/v", "Decorated", "/f"]);
    }
    let status = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run wine reg: {e}"))?;
    if wine_draws && !status.success() {
        return Err("reg add Decorated=N failed".into());
    }
    Ok(())
}

/// A working configuration: the panel must show no problem.
const GOOD_PANEL_CONFIG: &str = "[output]\ndevice = { name = \"wasio_a\" }\nmode = \"shared\"\n";
/// Exclusive mode on a sink that refuses every exclusive format (Wine's PulseAudio driver).
const IMPOSSIBLE_PANEL_CONFIG: &str =
    "[output]\ndevice = { name = \"wasio_a\" }\nmode = \"exclusive-event\"\n";

/// What a panel run is given and must show.
struct PanelCase {
    label: &'static str,
    dpi: u32,
    config: &'static str,
    /// Words the problems line must contain; `None`: it must be empty.
    problem: Option<&'static str>,
}

fn panel_test(ctx: &WineContext, dpi: u32) -> Res<Vec<Check>> {
    let label = if dpi == 96 { "panel-96" } else { "panel-144" };
    panel_case(
        ctx,
        &PanelCase {
            label,
            dpi,
            config: GOOD_PANEL_CONFIG,
            problem: None,
        },
    )
}

fn panel_problem_test(ctx: &WineContext) -> Res<Vec<Check>> {
    panel_case(
        ctx,
        &PanelCase {
            label: "panel-problem",
            dpi: 96,
            config: IMPOSSIBLE_PANEL_CONFIG,
            problem: Some("accepts none of the tested formats in exclusive mode"),
        },
    )
}

fn panel_case(ctx: &WineContext, case: &PanelCase) -> Res<Vec<Check>> {
    let panel = build_panel(ctx)?;
    let dir = ctx.results.join(case.label);
    fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let xvfb = Xvfb::start(&ctx.bench.logs.join(format!("xvfb-{}.log", case.label)))?;
    set_log_pixels(ctx, &xvfb.display, case.dpi)?;
    set_wine_decorations(ctx, &xvfb.display, true)?;
    // A Wine GUI process started without DISPLAY (another test) can leave the prefix's
    // desktop process running without a display driver for a few seconds; a window created
    // then fails. Wait for it to go and try again.
    let mut result = panel_run(ctx, &xvfb, &panel, &dir, case);
    for _ in 0..3 {
        match &result {
            Err(error) if error.contains("cannot create the window") => {
                detail("the desktop had no display driver; retrying in 5 s");
                std::thread::sleep(Duration::from_secs(5));
                result = panel_run(ctx, &xvfb, &panel, &dir, case);
            }
            _ => break,
        }
    }
    set_wine_decorations(ctx, &xvfb.display, false)?;
    set_log_pixels(ctx, &xvfb.display, 96)?;
    result
}

fn panel_run(
    ctx: &WineContext,
    xvfb: &Xvfb,
    panel: &Path,
    dir: &Path,
    case: &PanelCase,
) -> Res<Vec<Check>> {
    let dpi = case.dpi;
    let config = dir.join("Wasio.toml");
    fs::write(&config, case.config).map_err(|e| e.to_string())?;
    let out_path = ctx.bench.logs.join(format!("{}.out", case.label));
    let err_path = ctx.bench.logs.join(format!("{}.err", case.label));
    let mut command = ctx.bench.wine(Bench::windows_path(panel));
    command
        .args(["--self-check", "--hold", "8", "--config"])
        .arg(Bench::windows_path(&config))
        .env("DISPLAY", &xvfb.display)
        .stdin(Stdio::null())
        .stdout(fs::File::create(&out_path).map_err(|e| e.to_string())?)
        .stderr(fs::File::create(&err_path).map_err(|e| e.to_string())?);
    detail(&format!(
        "$ DISPLAY={} {}",
        xvfb.display,
        util::describe(&command)
    ));
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot start the panel: {e}"))?;
    // The report is printed once the window is shown and painted.
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut report_text = String::new();
    while Instant::now() < deadline {
        report_text = fs::read_to_string(&out_path).unwrap_or_default();
        if report_text.contains("\"controls\"") || child.try_wait().ok().flatten().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    // Let the first status-timer tick and font rendering settle.
    std::thread::sleep(Duration::from_millis(1500));
    let screenshot = dir.join(format!("{}.png", case.label));
    let shot = take_screenshot(&xvfb.display, dir, &screenshot);
    let status = util::wait_timeout(&mut child, Duration::from_secs(30));
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let mut checks = vec![Check::new(
        "panel exits after the hold",
        status.is_some_and(|s| s.code() == Some(0)),
        format!("{status:?}"),
        "exit code 0",
    )];
    let report = json::parse_lines(&report_text)
        .ok()
        .and_then(|lines| lines.into_iter().find(|l| l.get("controls").is_some()))
        .ok_or_else(|| {
            format!(
                "no self-check report on stdout: {:?}; stderr: {}",
                report_text,
                fs::read_to_string(&err_path).unwrap_or_default()
            )
        })?;
    checks.push(Check::new(
        "self-check",
        boolean(report.get("ok")) == Some(true),
        format!("ok {:?}", boolean(report.get("ok"))),
        "ok true",
    ));
    checks.push(Check::new(
        "window DPI",
        report.num("dpi") == Some(dpi as f64),
        format!(
            "dpi {:?}, client {:?}×{:?}",
            report.num("dpi"),
            report.num("client_width"),
            report.num("client_height")
        ),
        format!("dpi {dpi}, client width scaled"),
    ));
    for control in array(report.get("controls")) {
        let name = control.str("name").unwrap_or("?");
        let items = array(control.get("items"));
        let measured = if items.is_empty() {
            format!(
                "{:?}, {:?}×{:?}",
                control.str("class"),
                control.num("width"),
                control.num("height")
            )
        } else {
            let first: Vec<String> = items
                .iter()
                .take(4)
                .filter_map(|i| match i {
                    Json::String(s) => Some(s.clone()),
                    _ => None,
                })
                .collect();
            format!("{} items: {}…", items.len(), first.join(" | "))
        };
        checks.push(Check::new(
            format!("control {name}"),
            boolean(control.get("ok")) == Some(true),
            measured,
            "exists, right class, pickers filled",
        ));
    }
    let outputs = array(
        array(report.get("controls"))
            .iter()
            .find(|c| c.str("name") == Some("Output device"))
            .and_then(|c| c.get("items")),
    )
    .iter()
    .filter_map(|i| match i {
        Json::String(s) => Some(s.clone()),
        _ => None,
    })
    .collect::<Vec<_>>();
    checks.push(Check::new(
        "output picker has the sinks",
        outputs.iter().any(|o| o.starts_with("wasio_a"))
            && outputs.iter().any(|o| o.starts_with("wasio_b")),
        outputs.join(" | "),
        "wasio_a and wasio_b from enumeration",
    ));
    let problems_text = array(report.get("controls"))
        .iter()
        .find(|c| c.str("name") == Some("problems"))
        .and_then(|c| c.str("text"))
        .unwrap_or("")
        .to_string();
    checks.push(match case.problem {
        None => Check::new(
            "no problem shown",
            problems_text.is_empty(),
            format!("{problems_text:?}"),
            "an empty problems line",
        ),
        Some(words) => Check::new(
            "the impossible combination is explained",
            problems_text.starts_with("Cannot be saved:") && problems_text.contains(words),
            problems_text.clone(),
            format!("Cannot be saved: … {words} …"),
        ),
    });
    checks.push(match shot {
        Ok(size) => Check::new(
            "screenshot",
            size > 0,
            format!("{} ({size} bytes)", screenshot.display()),
            "a PNG",
        ),
        Err(error) => Check::new("screenshot", false, error, "a PNG"),
    });
    Ok(checks)
}

/// `xwd -root` then ImageMagick's `convert` to PNG; returns the PNG's size.
fn take_screenshot(display: &str, dir: &Path, png: &Path) -> Res<u64> {
    let xwd = dir.join("screen.xwd");
    let status = Command::new("xwd")
        .args(["-root", "-silent", "-display", display, "-out"])
        .arg(&xwd)
        .status()
        .map_err(|e| format!("cannot run xwd (install x11-apps): {e}"))?;
    if !status.success() {
        return Err("xwd failed".into());
    }
    // Crop to the panel: the window sits at the top left of an otherwise empty screen.
    let status = Command::new("convert")
        .arg(format!("xwd:{}", xwd.display()))
        .args(["-trim", "+repage"])
        .arg(png)
        .status()
        .map_err(|e| format!("cannot run convert (install imagemagick): {e}"))?;
    let _ = fs::remove_file(&xwd);
    if !status.success() {
        return Err("convert failed".into());
    }
    fs::metadata(png)
        .map(|m| m.len())
        .map_err(|e| e.to_string())
}

/// The endpoint ID `wasio devices` reports for the render endpoint called `name`.
fn endpoint_id(ctx: &WineContext, name: &str) -> Res<String> {
    let output = ctx.cli("panel-tone-devices", &["devices", "--json"], CLI_TIMEOUT)?;
    let list = stdout_json(&output)?;
    array(Some(&list))
        .iter()
        .find(|e| e.str("name") == Some(name) && e.str("flow") == Some("render"))
        .and_then(|e| e.str("id"))
        .map(str::to_string)
        .ok_or_else(|| format!("wasio devices does not list {name}"))
}

fn panel_tone(ctx: &WineContext) -> Res<Vec<Check>> {
    let panel = build_panel(ctx)?;
    // wasio_b is not the default sink: the tone must follow the choice.
    let id = endpoint_id(ctx, bench::SINK_B)?;
    let recording_path = ctx.results.join("panel-tone.f32");
    let recording = ctx
        .bench
        .start_recording(&format!("{}.monitor", bench::SINK_B), &recording_path)?;
    // A display, like any GUI program run by the tests (see `panel_case`).
    let xvfb = Xvfb::start(&ctx.bench.logs.join("xvfb-panel-tone.log"))?;
    let output = run_with_display(
        ctx,
        "panel-tone",
        &panel,
        &["--test-tone", "--device", &id],
        &xvfb.display,
        Duration::from_secs(60),
    )?;
    crate::verdict::record_stream_seconds(1.0);
    let samples = recording.stop()?;
    drop(xvfb);
    let mut checks = vec![exit_is("wasio-panel --test-tone", &output, 0)];
    let config = AnalysisConfig {
        // The tone fades in and out over 5 ms (240 frames): keep the checks off the fades.
        edge_margin: 480,
        ..sink_analysis_config()
    };
    let expectation = ToneExpectation {
        frequency_hz: 1000.0,
        frequency_tolerance_hz: 0.5,
        amplitude: 0.25,
        level_tolerance_db: 0.5,
        duration_frames: bench::SINK_RATE as usize,
        duration_tolerance_frames: 480,
    };
    match analysis::analyse(&samples, &config) {
        Ok(report) => checks.extend(expectation.checks(&report)),
        Err(error) => checks.push(Check::new(
            "a tone was recorded",
            false,
            error,
            "a 1 kHz tone",
        )),
    }
    Ok(checks)
}

/// `Bench::run_windows` with `DISPLAY` set.
fn run_with_display(
    ctx: &WineContext,
    label: &str,
    program: &Path,
    args: &[&str],
    display: &str,
    timeout: Duration,
) -> Res<ExeOutput> {
    let out_path = ctx.bench.logs.join(format!("{label}.out"));
    let err_path = ctx.bench.logs.join(format!("{label}.err"));
    let mut command = ctx.bench.wine(Bench::windows_path(program));
    command
        .args(args)
        .env("DISPLAY", display)
        .stdin(Stdio::null())
        .stdout(fs::File::create(&out_path).map_err(|e| e.to_string())?)
        .stderr(fs::File::create(&err_path).map_err(|e| e.to_string())?);
    detail(&format!("$ DISPLAY={display} {}", util::describe(&command)));
    let started = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot start wine64: {e}"))?;
    let status = util::wait_timeout(&mut child, timeout);
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    Ok(ExeOutput {
        code: status.and_then(|s| s.code()),
        stdout: fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: fs::read_to_string(&err_path).unwrap_or_default(),
        timed_out: status.is_none(),
        elapsed: started.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn winedbg_process_list_is_parsed() {
        let text = " pid      threads  executable (all id:s are in hex)\n 00000044 2        'explorer.exe'\n 000000e0 7        \\_ 'rpcss.exe'\n 0000012c 5        \\_ 'WASIO.EXE'\n=00000104 1        \\_ 'winedbg.exe'\n";
        assert_eq!(parse_info_proc(text, "wasio.exe"), vec![0x12c]);
        assert_eq!(parse_info_proc(text, "winedbg.exe"), vec![0x104]);
        assert!(parse_info_proc(text, "nothing.exe").is_empty());
    }
}
