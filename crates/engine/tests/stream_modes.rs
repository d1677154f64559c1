//! The shipping stream engine over the simulated WASAPI in every mode of the chain, for
//! output, input and duplex: exclusive event-driven (aligned and unaligned periods),
//! exclusive polling, IAudioClient3 at each period it allows, shared; Wine 10's nominal
//! IAudioClient3; MMCSS around the real-time loop.

mod harness;

use harness::{assert_counter, open, Want};
use std::sync::atomic::Ordering;
use std::time::Duration;
use wasio_engine::backend::Backend;
use wasio_engine::config::Mode;
use wasio_engine::modes::StreamMode;
use wasio_engine::rt_guard::CountingAllocator;
use wasio_engine::sim::{ramp_value, SimDeviceSpec, SimInputSpec};

#[global_allocator]
static ALLOCATOR: CountingAllocator<std::alloc::System> = CountingAllocator(std::alloc::System);

/// Every mode of the chain, on the profile that grants it: (profile, setting, mode got,
/// period, device buffer) at 48 kHz stereo float32.
fn modes() -> Vec<(SimDeviceSpec, Mode, StreamMode, usize, usize)> {
    let windows = SimDeviceSpec::exclusive_capable;
    vec![
        (windows(), Mode::Auto, StreamMode::ExclusiveEvent, 256, 256),
        (
            windows(),
            Mode::ExclusivePoll,
            StreamMode::ExclusivePoll,
            480,
            960,
        ),
        (
            windows(),
            Mode::SharedLowLatency,
            StreamMode::SharedLowLatency,
            144,
            432,
        ),
        (windows(), Mode::Shared, StreamMode::Shared, 480, 1440),
        (
            SimDeviceSpec::wine_alsa(),
            Mode::Auto,
            StreamMode::ExclusivePoll,
            480,
            3840,
        ),
        (
            SimDeviceSpec::default(),
            Mode::Auto,
            StreamMode::Shared,
            480,
            1440,
        ),
    ]
}

fn with_input(spec: SimDeviceSpec) -> SimDeviceSpec {
    SimDeviceSpec {
        input: Some(SimInputSpec::default()),
        ..spec
    }
}

/// Checks that `samples` are silence, then the capture ramp of `channel` without a gap.
fn assert_ramp(samples: &[f32], channel: usize) {
    let start = samples
        .iter()
        .position(|&v| v != 0.0)
        .expect("no input arrived");
    let first = (samples[start] - channel as f32 * 0.5) as u64;
    for (i, &v) in samples[start..].iter().enumerate() {
        assert_eq!(v, ramp_value(first + i as u64, channel), "input sample {i}");
    }
}

#[test]
fn every_mode_plays_the_hosts_samples_one_block_per_switch() {
    for (spec, setting, mode, period, buffer) in modes() {
        let block = if mode == StreamMode::ExclusiveEvent {
            256
        } else {
            441
        };
        let s = open(spec, Want::output(setting, block)).unwrap();
        let what = format!("{setting:?} -> {mode:?}");
        assert_eq!(s.info.mode_report.chosen, Some(mode), "{what}");
        assert_eq!(
            (s.info.period_frames, s.info.device_buffer_frames),
            (period, buffer),
            "{what}"
        );
        s.backend.control.record.store(true, Ordering::SeqCst);
        let report = s.run(60);
        assert_eq!(report.stats.underruns, 0, "{what}");
        assert_eq!(report.rt_allocations, 0, "{what}");
        assert_eq!(report.stats.deadlines.driver_faults(), 0, "{what}");
        assert!(report.failure.is_none(), "{what}");
        assert!(assert_counter(&s.played_channel(1)) >= 40 * block, "{what}");
        // Switch times follow the device clock: exactly one block apart.
        let timings = s.seen.timings.lock().unwrap();
        for pair in timings.windows(2).skip(1) {
            assert_eq!(
                pair[1].sample_position - pair[0].sample_position,
                block as u64
            );
            let ns = pair[1].system_time_ns as f64 - pair[0].system_time_ns as f64;
            assert!(
                (ns - block as f64 * 1e9 / 48_000.0).abs() < 1_000.0,
                "{what}: {ns}"
            );
        }
    }
}

#[test]
fn every_mode_records_in_duplex_and_input_only() {
    for (spec, setting, mode, _, _) in modes() {
        for outputs in [2, 0] {
            let block = if mode == StreamMode::ExclusiveEvent {
                256
            } else {
                300
            };
            let want = Want {
                outputs,
                inputs: 2,
                ..Want::output(setting, block)
            };
            let s = open(with_input(spec.clone()), want).unwrap();
            let what = format!("{setting:?} -> {mode:?}, {outputs} outputs");
            let input = s.info.input.as_ref().expect("the stream has inputs");
            assert_eq!(input.period_frames, 480, "{what}");
            let report = s.run(80);
            assert_eq!(report.rt_allocations, 0, "{what}");
            assert!(report.failure.is_none(), "{what}");
            let recorded = s.seen.recorded.lock().unwrap().clone();
            assert_ramp(&recorded[0], 0);
            assert_ramp(&recorded[1], 1);
            assert_eq!(s.monitor.underruns.load(Ordering::Relaxed), 0, "{what}");
            assert_eq!(s.monitor.overruns.load(Ordering::Relaxed), 0, "{what}");
            assert_eq!(s.info.has_output, outputs > 0, "{what}");
        }
    }
}

#[test]
fn exclusive_event_at_an_unaligned_period_is_retried_aligned_or_refused() {
    // 44.1 kHz: the default period, 441 frames of stereo float32 (3528 bytes), is no whole
    // number of 128-byte runs; the next aligned period is 448 frames.
    let spec = SimDeviceSpec::exclusive_capable;
    let plan = {
        let s = open(
            spec(),
            Want {
                rate: 44_100,
                ..Want::output(Mode::ExclusiveEvent, 448)
            },
        )
        .unwrap();
        assert_eq!(
            (s.info.period_frames, s.info.device_buffer_frames),
            (448, 448)
        );
        let report = s.run(40);
        assert_eq!(report.stats.underruns, 0);
        assert_eq!(
            report.stats.frames_to_device,
            (report.stats.switches + 1) * 448
        );
        s.info
    };
    assert_eq!(plan.mode_report.chosen, Some(StreamMode::ExclusiveEvent));
    // A buffer of 441 frames cannot be the period: refused with the HRESULT and the size
    // the device wants.
    let error = open(
        spec(),
        Want {
            rate: 44_100,
            ..Want::output(Mode::ExclusiveEvent, 441)
        },
    )
    .err()
    .expect("an unaligned period is refused");
    let text = error.to_string();
    assert!(text.contains("AUDCLNT_E_BUFFER_SIZE_NOT_ALIGNED"), "{text}");
    // A device without the HD Audio constraint takes 441 frames as they are.
    let free = SimDeviceSpec {
        alignment_bytes: None,
        ..spec()
    };
    let s = open(
        free,
        Want {
            rate: 44_100,
            ..Want::output(Mode::ExclusiveEvent, 441)
        },
    )
    .unwrap();
    assert_eq!(s.info.period_frames, 441);
    assert_eq!(s.run(20).stats.underruns, 0);
}

#[test]
fn iaudioclient3_runs_at_each_period_it_allows() {
    // Fundamental 48 frames (1 ms), minimum 144, maximum 480: 3 ms to 10 ms in 1 ms steps;
    // 3.5 ms is rounded up to the next fundamental multiple.
    let asked = [3.0, 3.5, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0];
    let got = [144, 192, 192, 240, 288, 336, 384, 432, 480];
    for (ms, frames) in asked.into_iter().zip(got) {
        let want = Want {
            period: Some(Duration::from_secs_f64(ms / 1000.0)),
            ..Want::output(Mode::SharedLowLatency, 256)
        };
        let s = open(SimDeviceSpec::exclusive_capable(), want).unwrap();
        assert_eq!(s.info.period_frames, frames, "{ms} ms");
        assert_eq!(s.info.device_buffer_frames, 3 * frames, "{ms} ms");
        let port = s.backend.port().clone();
        let (t0, ticks0) = (
            port.now_ns(),
            s.backend.control.ticks.load(Ordering::SeqCst),
        );
        let report = s.run(60);
        let (t1, ticks1) = (
            port.now_ns(),
            s.backend.control.ticks.load(Ordering::SeqCst),
        );
        assert_eq!(report.stats.underruns, 0, "{ms} ms");
        // The engine woke the stream once per period.
        let periods = (t1 - t0) as f64 / (frames as f64 * 1e9 / 48_000.0);
        assert!(((ticks1 - ticks0) as f64 - periods).abs() <= 2.0, "{ms} ms");
    }
}

#[test]
fn wine10s_nominal_iaudioclient3_is_refused_and_auto_lands_on_shared() {
    let s = open(SimDeviceSpec::wine10_pulse(), Want::output(Mode::Auto, 256)).unwrap();
    let report = s.plan.report.to_string();
    assert_eq!(s.plan.report.chosen, Some(StreamMode::Shared), "{report}");
    assert!(
        report.contains("shared, low-latency (IAudioClient3) refused")
            && report.contains("reports no usable period"),
        "{report}"
    );
    let forced = open(
        SimDeviceSpec::wine10_pulse(),
        Want::output(Mode::SharedLowLatency, 256),
    );
    let text = forced.err().expect("forcing it fails").to_string();
    assert!(text.contains("no mode opened"), "{text}");
}

#[test]
fn the_real_time_loop_runs_under_mmcss_and_leaves_it_after() {
    let s = open(
        SimDeviceSpec::exclusive_capable(),
        Want::output(Mode::Auto, 256),
    )
    .unwrap();
    let control = s.backend.control.clone();
    s.backend.start(false).unwrap();
    harness::wait_until("switches", || s.switches() >= 5);
    assert!(control.mmcss_active.load(Ordering::SeqCst));
    assert!(control.time_critical.load(Ordering::SeqCst));
    s.backend.stop().unwrap();
    assert!(!control.mmcss_active.load(Ordering::SeqCst));
    assert!(!control.time_critical.load(Ordering::SeqCst));
    assert_eq!(control.mmcss_entered.load(Ordering::SeqCst), 1);
}
