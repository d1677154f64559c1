//! Wine tests of the modes: exclusive polling through winealsa into an ALSA file (the bytes
//! the host wrote must arrive exactly), sample-rate switching while running, and the fallback
//! to shared mode through winepulse, which refuses exclusive use (the reason must show).
//!
//! The counter pattern (`crates/bench-host/src/pattern.rs`) is checked here with the same
//! formula: sample `k` (interleaved index) holds int16 `k mod 65535 + 1`, int24
//! `k mod (2^24 − 1) + 1`, int32 `k mod (2^32 − 1) + 1`, float32 `(k mod 2^23 + 1) / 2^24`.
//!
//! The sample type and forced modes are set in Wasio.toml (`output.sample_type`,
//! `output.mode`) in the prefix's profile, removed after each test.

use crate::analysis::Check;
use crate::bench::{Bench, ExeOutput};
use crate::bench_alsa::AlsaFileBench;
use crate::json::{self, Json};
use crate::util::Res;
use crate::wine_tests::{exit_check, WineContext, WineTest, DRIVER_NAME};
use std::path::PathBuf;
use std::time::Duration;

/// Wasio.toml in the prefix's `%USERPROFILE%` while it lives.
struct Config(PathBuf);

impl Config {
    fn write(bench: &Bench, text: &str) -> Res<Config> {
        let users = bench.prefix.join("drive_c/users");
        let profile = std::fs::read_dir(&users)
            .map_err(|e| format!("cannot list {}: {e}", users.display()))?
            .filter_map(|entry| entry.ok())
            .map(|entry| entry.path())
            .find(|path| path.is_dir() && path.file_name().is_some_and(|n| n != "Public"))
            .ok_or_else(|| format!("no user profile in {}", users.display()))?;
        let path = profile.join("Wasio.toml");
        crate::util::detail(&format!("{}:\n{text}", path.display()));
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(Config(path))
    }
}

impl Drop for Config {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

pub fn tests() -> Vec<WineTest> {
    vec![
        WineTest {
            name: "exclusive-alsa-int16",
            about: "winealsa into an ALSA file: auto lands on exclusive polling; a 5 s int16 counter from PortAudio arrives byte for byte",
            run: |ctx| bit_exact(ctx, "int16"),
            // Streams in real time: a gap inserted downstream (winealsa/Pulse under load)
            // breaks the byte comparison as surely as a driver bug, so attempts apply.
            realtime: true,
        },
        WineTest {
            name: "exclusive-alsa-int24",
            about: "as exclusive-alsa-int16, packed 24-bit samples",
            run: |ctx| bit_exact(ctx, "int24"),
            // Streams in real time: a gap inserted downstream (winealsa/Pulse under load)
            // breaks the byte comparison as surely as a driver bug, so attempts apply.
            realtime: true,
        },
        WineTest {
            name: "exclusive-alsa-int32",
            about: "as exclusive-alsa-int16, 32-bit samples",
            run: |ctx| bit_exact(ctx, "int32"),
            // Streams in real time: a gap inserted downstream (winealsa/Pulse under load)
            // breaks the byte comparison as surely as a driver bug, so attempts apply.
            realtime: true,
        },
        WineTest {
            name: "exclusive-alsa-float32",
            about: "as exclusive-alsa-int16, float32 (the native default of auto)",
            run: |ctx| bit_exact(ctx, "float32"),
            // Streams in real time: a gap inserted downstream (winealsa/Pulse under load)
            // breaks the byte comparison as surely as a driver bug, so attempts apply.
            realtime: true,
        },
        WineTest {
            name: "exclusive-alsa-rates",
            about: "exclusive polling through winealsa: 44100 -> 48000 -> 96000 while running, the stream continues at each rate",
            run: alsa_rates,
            // Streams in real time: a gap inserted downstream (winealsa/Pulse under load)
            // breaks the byte comparison as surely as a driver bug, so attempts apply.
            realtime: true,
        },
        WineTest {
            name: "mode-pulse-fallback",
            about: "winepulse refuses exclusive: auto lands on shared and says why; forcing exclusive fails with the HRESULT; rates switch while running",
            run: pulse_fallback,
            // Streams in real time: a gap inserted downstream (winealsa/Pulse under load)
            // breaks the byte comparison as surely as a driver bug, so attempts apply.
            realtime: true,
        },
    ]
}

const RATES: [f64; 3] = [44_100.0, 48_000.0, 96_000.0];
const SECONDS: f64 = 5.0;
const RATE: f64 = 48_000.0;
const CHANNELS: usize = 2;

fn register(ctx: &WineContext) -> Res<Check> {
    Ok(exit_check("regsvr32", &ctx.regsvr32("regsvr32", false)?))
}

/// The mode line `wasio rates` printed, and its rate lines.
fn rates_report(output: &ExeOutput) -> (Option<String>, Option<String>, Vec<Json>) {
    let lines = json::parse_lines(&output.stdout).unwrap_or_default();
    let mode = lines
        .iter()
        .find(|l| l.str("kind") == Some("mode"))
        .and_then(|l| l.str("status").map(str::to_string));
    let init_error = lines
        .iter()
        .find(|l| l.str("kind") == Some("init"))
        .and_then(|l| l.str("error").map(str::to_string));
    let rates = lines
        .into_iter()
        .filter(|l| l.str("kind") == Some("rate"))
        .collect();
    (mode, init_error, rates)
}

fn cli_args(rates: &[f64], seconds: f64) -> Vec<String> {
    let rates: Vec<String> = rates.iter().map(|r| format!("{r}")).collect();
    vec![
        "rates".into(),
        "--driver".into(),
        DRIVER_NAME.into(),
        "--rates".into(),
        rates.join(","),
        "--seconds".into(),
        format!("{seconds}"),
    ]
}

/// One check per rate: accepted, reported, and the stream running at about that rate.
/// `paced_sink`: the device plays in real time (Pulse's null sink does; ALSA's `null`
/// takes data as fast as Wine hands it over, so there the stream must only not be slower).
fn rate_checks(rates: &[Json], paced_sink: bool) -> Vec<Check> {
    let mut checks = Vec::new();
    for (i, &rate) in RATES.iter().enumerate() {
        let line = rates.iter().find(|l| l.num("rate") == Some(rate));
        let Some(line) = line else {
            checks.push(Check::new(
                format!("{rate} Hz"),
                false,
                "no report",
                "a report",
            ));
            continue;
        };
        let code = line.num("code").unwrap_or(f64::NAN);
        let reported = line.num("reported_rate").unwrap_or(f64::NAN);
        let speed = line.num("frames_per_second").unwrap_or(0.0);
        let changes = line.num("rate_changes_seen").unwrap_or(0.0);
        let resets = line.num("reset_requests").unwrap_or(0.0);
        let error = line.str("error").unwrap_or("none");
        checks.push(Check::new(
            format!("setSampleRate({rate}) while running"),
            code == 0.0 && reported == rate,
            format!("code {code}, getSampleRate {reported}, error {error}"),
            format!("ASE_OK, {rate}"),
        ));
        // The first rate may equal the current one (no change, no callback).
        let fast_sink = !paced_sink;
        let within = if fast_sink {
            speed >= rate * 0.8
        } else {
            (speed - rate).abs() <= rate * 0.2
        };
        // Switches counted against the wall clock: a starved machine slows the paced path
        // below the driver too, so a shortfall is a glitch, judged against the control.
        checks.push(Check::new(
            format!("stream at {rate} Hz"),
            within,
            format!(
                "{speed:.0} frames/s ({} switches), sampleRateDidChange seen {changes}, resets {resets}",
                line.num("switches").unwrap_or(0.0)
            ),
            if fast_sink {
                format!("at least {rate} −20% frames/s (the null device is not paced)")
            } else {
                format!("{rate} ±20% frames/s (buffer switches × buffer size / time)")
            },
        ).downstream(1));
        if i == RATES.len() - 1 {
            checks.push(Check::new(
                "no reset request",
                resets == 0.0,
                format!("{resets}"),
                "0",
            ));
        }
    }
    checks
}

fn bit_exact(ctx: &WineContext, format: &str) -> Res<Vec<Check>> {
    let mut checks = vec![register(ctx)?];
    let alsa = AlsaFileBench::enter(ctx.bench, &format!("bit-exact-{format}"), "raw")?;
    let _config = Config::write(
        ctx.bench,
        &format!("[output]\nsample_type = \"{format}\"\n"),
    )?;
    // Which mode did auto choose, and why?
    let probe = alsa.run_windows(
        &format!("alsa-{format}-mode"),
        Bench::windows_path(&ctx.artifacts.cli_exe),
        &cli_args(&[RATE], 0.5),
        Duration::from_secs(60),
    )?;
    let (mode, init_error, _) = rates_report(&probe);
    let mode_text = mode
        .clone()
        .or(init_error)
        .unwrap_or_else(|| probe.stderr.trim().to_string());
    checks.push(Check::new(
        "mode chosen by auto",
        mode.as_deref().is_some_and(|m| {
            m.starts_with("exclusive, polling (mode = auto")
                && m.contains("exclusive, event-driven refused")
                && m.contains("AUDCLNT_E_")
        }),
        mode_text,
        "exclusive, polling, with the event-driven refusal by name",
    ));
    let _ = std::fs::remove_file(&alsa.capture);
    let mut args = vec![
        "play".to_string(),
        "--device".into(),
        DRIVER_NAME.into(),
        format!("--rate={RATE}"),
        "--frames-per-buffer=256".into(),
        format!("--seconds={SECONDS}"),
        "--tail-seconds=0.5".into(),
        format!("--channels={CHANNELS}"),
        "--pattern".into(),
        "counter".into(),
        "--sample-format".into(),
        format.into(),
    ];
    args.push(format!(
        "--portaudio={}",
        Bench::windows_path(&ctx.bench.tools.portaudio_dll_64)
    ));
    let play = alsa.run_windows(
        &format!("alsa-{format}-play"),
        Bench::windows_path(&ctx.artifacts.pa_host_exe),
        &args,
        Duration::from_secs_f64(SECONDS + 40.0),
    )?;
    checks.push(exit_check("wasio-pa-host play", &play));
    let report = json::parse_lines(&play.stdout).ok().and_then(|lines| {
        lines
            .into_iter()
            .rev()
            .find(|l| l.str("kind") == Some("play"))
    });
    if let Some(report) = &report {
        checks.push(Check::new(
            "PortAudio sample format",
            report.str("sample_format") == Some(format) && report.str("pattern") == Some("counter"),
            format!(
                "{} {}",
                report.str("pattern").unwrap_or("?"),
                report.str("sample_format").unwrap_or("?")
            ),
            format!("counter {format}"),
        ));
    }
    let captured = alsa.captured()?;
    let expected_samples = (SECONDS * RATE) as u64 * CHANNELS as u64;
    let verdict = verify_counter(&captured, format, expected_samples);
    checks.push(Check::new(
        "captured bytes = host samples",
        verdict.is_ok(),
        match &verdict {
            Ok(summary) => summary.clone(),
            Err(problem) => problem.clone(),
        },
        format!(
            "{expected_samples} samples ({} s) in order, none lost, repeated or altered, silence around",
            SECONDS
        ),
    )
    .unless_late_wake());
    drop(alsa);
    Ok(checks)
}

/// The counter value of sample `k` as bytes, as the bench host writes it.
fn counter_bytes(format: &str, k: u64) -> Vec<u8> {
    match format {
        "int16" => ((k % 0xFFFF + 1) as u16).to_le_bytes().to_vec(),
        "int24" => ((k % 0xFF_FFFF + 1) as u32).to_le_bytes()[..3].to_vec(),
        "int32" => ((k % 0xFFFF_FFFF + 1) as u32).to_le_bytes().to_vec(),
        _ => (((k % (1 << 23)) + 1) as f32 / (1u32 << 24) as f32)
            .to_le_bytes()
            .to_vec(),
    }
}

fn sample_bytes(format: &str) -> usize {
    match format {
        "int16" => 2,
        "int24" => 3,
        _ => 4,
    }
}

/// Checks that `captured` is silence, then exactly `samples` counter samples, then silence.
/// Returns a summary, or where and how it differs.
pub fn verify_counter(captured: &[u8], format: &str, samples: u64) -> Result<String, String> {
    let width = sample_bytes(format);
    if captured.is_empty() {
        return Err("the capture is empty: nothing reached the ALSA device".into());
    }
    let units: Vec<&[u8]> = captured.chunks_exact(width).collect();
    let Some(start) = units.iter().position(|u| u.iter().any(|&b| b != 0)) else {
        return Err(format!("{} bytes of silence only", captured.len()));
    };
    if start % CHANNELS != 0 {
        return Err(format!(
            "the first sample is at sample {start}, inside a frame"
        ));
    }
    for k in 0..samples {
        let at = start + k as usize;
        let Some(got) = units.get(at) else {
            return Err(format!(
                "the capture ends after {k} of {samples} samples: {} lost",
                samples - k
            ));
        };
        let want = counter_bytes(format, k);
        if *got != want.as_slice() {
            // Say whether it looks like a loss or a repeat.
            let found = (0..samples.min(k + 4096))
                .find(|&j| counter_bytes(format, j).as_slice() == *got)
                .map_or("unknown".to_string(), |j| format!("sample {j}"));
            return Err(format!(
                "sample {k} (byte {}) is {got:02X?}, expected {want:02X?} (it is {found}: lost or repeated data)",
                at * width
            ));
        }
    }
    let tail = &units[start + samples as usize..];
    if let Some(extra) = tail.iter().position(|u| u.iter().any(|&b| b != 0)) {
        return Err(format!(
            "non-silent data {extra} samples after the counter ended: repeated data"
        ));
    }
    Ok(format!(
        "{samples} samples exact after {} silent frames, then {} silent frames ({} bytes)",
        start / CHANNELS,
        tail.len() / CHANNELS,
        captured.len()
    ))
}

fn alsa_rates(ctx: &WineContext) -> Res<Vec<Check>> {
    let mut checks = vec![register(ctx)?];
    let alsa = AlsaFileBench::enter(ctx.bench, "rates", "wav")?;
    let output = alsa.run_windows(
        "alsa-rates",
        Bench::windows_path(&ctx.artifacts.cli_exe),
        &cli_args(&RATES, 3.0),
        Duration::from_secs(90),
    )?;
    checks.push(exit_check("wasio rates", &output));
    let (mode, init_error, rates) = rates_report(&output);
    checks.push(Check::new(
        "mode",
        mode.as_deref()
            .is_some_and(|m| m.starts_with("exclusive, polling")),
        mode.or(init_error).unwrap_or_default(),
        "exclusive, polling",
    ));
    checks.extend(rate_checks(&rates, true));
    // The device itself: the file PCM rewrites its WAV header each time Wine opens it, so
    // the capture tells the rate of the last stream.
    let header = alsa.captured()?;
    let device_rate = (header.len() >= 28 && &header[..4] == b"RIFF")
        .then(|| u32::from_le_bytes([header[24], header[25], header[26], header[27]]));
    checks.push(Check::new(
        "rate the ALSA device ran at last",
        device_rate == Some(RATES[RATES.len() - 1] as u32),
        device_rate.map_or("no WAV header".to_string(), |r| format!("{r} Hz")),
        format!("{} Hz", RATES[RATES.len() - 1]),
    ));
    drop(alsa);
    Ok(checks)
}

fn pulse_fallback(ctx: &WineContext) -> Res<Vec<Check>> {
    let mut checks = vec![register(ctx)?];
    let cli = Bench::windows_path(&ctx.artifacts.cli_exe);
    let output = ctx.bench.run_windows(
        "pulse-rates",
        &cli,
        &cli_args(&RATES, 2.0),
        Duration::from_secs(90),
    )?;
    checks.push(exit_check("wasio rates", &output));
    let (mode, init_error, rates) = rates_report(&output);
    checks.push(Check::new(
        "auto through winepulse",
        mode.as_deref().is_some_and(|m| {
            m.starts_with("shared, event-driven (mode = auto")
                && m.contains("exclusive, event-driven refused")
                && m.contains("exclusive, polling refused")
                && m.contains("AUDCLNT_E_")
        }),
        mode.or(init_error).unwrap_or_default(),
        "shared, event-driven, each exclusive refusal with its HRESULT by name",
    ));
    checks.extend(rate_checks(&rates, true));
    // Forcing exclusive where it is refused: init fails and says why.
    let config = Config::write(ctx.bench, "[output]\nmode = \"exclusive-poll\"\n")?;
    let forced = ctx.bench.run_windows(
        "pulse-forced-exclusive",
        &cli,
        &cli_args(&[RATE], 0.5),
        Duration::from_secs(60),
    )?;
    drop(config);
    let (_, init_error, _) = rates_report(&forced);
    checks.push(Check::new(
        "forced exclusive-poll through winepulse",
        init_error
            .as_deref()
            .is_some_and(|e| e.contains("exclusive, polling") && e.contains("AUDCLNT_E_")),
        init_error.unwrap_or_else(|| forced.stdout.trim().to_string()),
        "init fails; getErrorMessage names the mode and the HRESULT",
    ));
    Ok(checks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(format: &str, lead: usize, samples: u64, tail: usize) -> Vec<u8> {
        let width = sample_bytes(format);
        let mut out = vec![0u8; lead * width];
        for k in 0..samples {
            out.extend(counter_bytes(format, k));
        }
        out.extend(vec![0u8; tail * width]);
        out
    }

    #[test]
    fn an_exact_capture_passes() {
        for format in ["int16", "int24", "int32", "float32"] {
            let data = stream(format, 64, 70_000, 32);
            assert!(verify_counter(&data, format, 70_000).is_ok(), "{format}");
        }
    }

    #[test]
    fn lost_repeated_or_altered_samples_fail() {
        let width = 2;
        let good = stream("int16", 8, 1000, 8);
        let mut lost = good.clone();
        lost.drain(8 * width + 100 * width..8 * width + 102 * width);
        assert!(verify_counter(&lost, "int16", 1000).is_err());
        let mut repeated = good.clone();
        let chunk = repeated[8 * width + 10 * width..8 * width + 12 * width].to_vec();
        repeated.splice(8 * width + 12 * width..8 * width + 12 * width, chunk);
        assert!(verify_counter(&repeated, "int16", 1000).is_err());
        let mut altered = good.clone();
        altered[8 * width + 500 * width] ^= 1;
        assert!(verify_counter(&altered, "int16", 1000).is_err());
        let short = stream("int16", 8, 999, 8);
        assert!(verify_counter(&short, "int16", 1000).is_err());
        assert!(verify_counter(&[], "int16", 1000).is_err());
        assert!(verify_counter(&[0u8; 64], "int16", 1000).is_err());
    }
}
