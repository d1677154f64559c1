//! Wine test of `wasio latency`: the round trip through the bench's loopback (Wine's default
//! capture device is `wasio_a.monitor`, its default render device `wasio_a`), measured by
//! the CLI as a host, against what the driver reports with getLatencies.

use crate::analysis::Check;
use crate::bench::Bench;
use crate::json;
use crate::util::{detail, Res};
use crate::wine_tests::{WineContext, WineTest, DRIVER_NAME};
use std::time::Duration;

/// Measured minus reported round trip may differ by this much: three ticks of winepulse's
/// 10 ms timer. On the input side winepulse stamps capture packets when it reads them (a
/// constant lateness within one tick stays unseen); on the output side the frames PulseAudio
/// holds vary with its timer (its sink input's buffer latency was seen at 7.5-30 ms) while the
/// driver reports the nominal WASAPI stream latency. Measured with a correct driver on steady
/// streams: -16.9 to +29 ms. Reporting the output side from the device clock (issue 11) is
/// what would tighten this. A driver that lies by 100 ms (`fault-wrong-latency`, a forgotten
/// device buffer) is caught with margin; smaller lies are not, under Wine.
pub const MAX_REPORTED_ERROR_MS: f64 = 30.0;

/// The bench as tests that judge latency run it: Wine's Pulse streams at PulseAudio's
/// defaults (see [`crate::bench::Bench::pulse_defaults`]) and, for the robustness the other
/// tests get from `PULSE_LATENCY_MSEC`, a 60 ms WASAPI output buffer from Wasio.toml.
pub struct LatencyBench<'a> {
    _pulse: crate::bench::PulseDefaults<'a>,
    config: std::path::PathBuf,
}

/// Wasio.toml while a latency test runs.
const LATENCY_BENCH_CONFIG: &str = "[output]\nbuffer_ms = 100\n";

impl<'a> LatencyBench<'a> {
    pub fn enter(ctx: &'a WineContext) -> Res<LatencyBench<'a>> {
        let config = crate::wine_tests_config::user_profile(ctx.bench)?.join("Wasio.toml");
        std::fs::write(&config, LATENCY_BENCH_CONFIG)
            .map_err(|e| format!("cannot write {}: {e}", config.display()))?;
        detail(&format!(
            "latency bench: PulseAudio's default stream latency for Wine, {} = {:?}",
            config.display(),
            LATENCY_BENCH_CONFIG
        ));
        Ok(LatencyBench {
            _pulse: ctx.bench.pulse_defaults(),
            config,
        })
    }
}

impl Drop for LatencyBench<'_> {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.config);
    }
}

pub fn tests() -> Vec<WineTest> {
    vec![WineTest {
        name: "cli-latency",
        about: "`wasio latency` at 256 and 441 frames through the sink's monitor: every impulse back once, at one delay (±1 frame), close to getLatencies",
        run: cli_latency,
        realtime: true,
    }]
}

fn cli_latency(ctx: &WineContext) -> Res<Vec<Check>> {
    let _bench = LatencyBench::enter(ctx)?;
    let mut checks = Vec::new();
    for buffer in ["256", "441"] {
        let args: Vec<String> = [
            "latency",
            "--driver",
            DRIVER_NAME,
            "--buffer",
            buffer,
            "--seconds",
            "6",
            "--json",
        ]
        .iter()
        .map(|a| a.to_string())
        .collect();
        crate::verdict::record_stream_seconds(6.0);
        let probe = pulse_latency_probe(ctx, &[Duration::from_secs(4)]);
        let output = ctx.bench.run_windows(
            &format!("cli-latency-{buffer}"),
            Bench::windows_path(&ctx.artifacts.cli_exe),
            &args,
            Duration::from_secs(90),
        )?;
        if let Ok(lines) = probe.join() {
            for line in lines {
                detail(&format!("buffer {buffer}: PulseAudio says: {line}"));
            }
        }
        checks.push(Check::new(
            format!("wasio latency --buffer {buffer}: exit code"),
            output.code == Some(0) && !output.timed_out,
            format!("{}: {}", output.describe_end(), output.stderr.trim()),
            "exit code 0",
        ));
        let Some(start) = output.stdout.find('{') else {
            continue;
        };
        let report = json::parse(output.stdout[start..].trim())?;
        let num = |key: &str| report.num(key).unwrap_or(f64::NAN);
        detail(&format!(
            "buffer {buffer}: round trip {} frames ({:.2} ms), reported {} = in {} + out {}, difference {} frames ({:.2} ms)",
            num("round_trip_frames"),
            num("round_trip_ms"),
            num("reported_sum_frames"),
            num("reported_input_frames"),
            num("reported_output_frames"),
            num("difference_frames"),
            num("difference_ms"),
        ));
        if let Some(json::Json::Array(lags)) = report.get("lags_frames") {
            let lags: Vec<String> = lags.iter().map(|l| format!("{l:?}")).collect();
            detail(&format!(
                "buffer {buffer}: delay of each impulse: {}",
                lags.join(" ")
            ));
        }
        // What the driver did: its sample positions tile the stream, one block per switch.
        checks.push(Check::new(
            format!("buffer {buffer}: sample positions advance one block per switch"),
            num("position_breaks") == 0.0 && num("timed_switches") > 0.0,
            format!(
                "{} breaks in {} switches with time info",
                num("position_breaks"),
                num("timed_switches")
            ),
            "0 breaks",
        ));
        // What happened below it: lost or doubled impulses and steps of the delay are
        // glitch events, judged against the control (crate::verdict).
        let lost =
            (num("impulses_expected") - num("impulses_found")).abs() + num("impulses_doubled");
        checks.push(
            Check::new(
                format!("buffer {buffer}: every impulse came back, once"),
                num("impulses_found") == num("impulses_expected")
                    && num("impulses_found") >= 8.0
                    && num("impulses_doubled") == 0.0,
                format!(
                    "{}/{} back, {} doubled",
                    num("impulses_found"),
                    num("impulses_expected"),
                    num("impulses_doubled")
                ),
                ">= 8, all back, none doubled",
            )
            .downstream(if lost.is_finite() { lost as u64 } else { 1 }),
        );
        checks.push(
            Check::new(
                format!("buffer {buffer}: one delay"),
                num("max_lag_frames") - num("min_lag_frames") <= 2.0,
                format!(
                    "{}..{} frames",
                    num("min_lag_frames"),
                    num("max_lag_frames")
                ),
                "spread <= 2 frames (±1)",
            )
            .downstream(1),
        );
        // Only a steady round trip, every impulse back at one delay, can be compared with
        // the one figure getLatencies gives; a moving one was moved below the driver.
        let steady = num("max_lag_frames") - num("min_lag_frames") <= 2.0
            && num("impulses_found") == num("impulses_expected");
        let accuracy = Check::new(
            format!("buffer {buffer}: getLatencies close to the measured round trip"),
            num("difference_ms").abs() <= MAX_REPORTED_ERROR_MS,
            if steady {
                format!("{:.2} ms", num("difference_ms"))
            } else {
                format!(
                    "{:.2} ms (the round trip moved during the stream: not judged)",
                    num("difference_ms")
                )
            },
            format!("within ±{MAX_REPORTED_ERROR_MS} ms"),
        );
        checks.push(if steady {
            accuracy
        } else {
            accuracy.downstream(1)
        });
    }
    Ok(checks)
}

/// At each of `times` (from now), asks PulseAudio for the latency of Wine's streams (`pactl
/// list sink-inputs` / `source-outputs`): the part of the round trip below WASAPI.
pub fn pulse_latency_probe(
    ctx: &WineContext,
    times: &[Duration],
) -> std::thread::JoinHandle<Vec<String>> {
    let mut commands: Vec<std::process::Command> = ["sink-inputs", "source-outputs"]
        .iter()
        .map(|what| {
            let mut command = ctx.bench.command("pactl");
            command.args(["list", what]);
            command
        })
        .collect();
    let times = times.to_vec();
    std::thread::spawn(move || {
        let started = std::time::Instant::now();
        let mut lines = Vec::new();
        for at in times {
            std::thread::sleep(at.saturating_sub(started.elapsed()));
            lines.extend(
                pulse_latencies(&mut commands)
                    .into_iter()
                    .map(|line| format!("at {:.1} s: {line}", at.as_secs_f64())),
            );
        }
        lines
    })
}

fn pulse_latencies(commands: &mut [std::process::Command]) -> Vec<String> {
    let mut lines = Vec::new();
    for command in commands.iter_mut() {
        let Ok(out) = command.output() else { continue };
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let mut block = String::new();
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with("Sink Input #") || line.starts_with("Source Output #") {
                if !block.is_empty() {
                    lines.push(std::mem::take(&mut block));
                }
                block.push_str(line);
            } else if line.starts_with("application.name")
                || line.starts_with("Buffer Latency")
                || line.starts_with("Sink Latency")
                || line.starts_with("Source Latency")
                || line.starts_with("Sink:")
                || line.starts_with("Source:")
            {
                block.push_str(" | ");
                block.push_str(line);
            }
        }
        if !block.is_empty() {
            lines.push(block);
        }
    }
    lines
}
