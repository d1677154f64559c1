//! What happens to a stream from the outside, over the simulated WASAPI: a device
//! invalidated mid-stream (in every mode: the host hears kAsioResetRequest and stop,
//! disposeBuffers and release still return), a device unplugged, a new default device with
//! `follow-default`, audio events that come late or in bursts, and a device that stops
//! signalling (the silence watchdog).

mod common;
mod harness;

use asio_abi::*;
use common::{callbacks, error_text, host_in, wait_until, RESET_REQUESTS};
use harness::{open, Want};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use wasio_engine::backend::{Backend, DeviceSelector};
use wasio_engine::config::Mode;
use wasio_engine::driver::DriverCore;
use wasio_engine::sim::{EventTiming, SimDeviceSpec, SimInputSpec};

fn create(d: &DriverCore, channels: &[(bool, i32)], block: i32) -> AsioError {
    let mut infos: Vec<AsioBufferInfo> = channels
        .iter()
        .map(|&(is_input, c)| {
            let mut i = AsioBufferInfo::zeroed();
            i.is_input = if is_input { ASIO_TRUE } else { ASIO_FALSE };
            i.channel_num = c;
            i
        })
        .collect();
    let cb = callbacks();
    // SAFETY: live locals; the callbacks are 'static.
    unsafe { d.create_buffers(infos.as_mut_ptr(), infos.len() as i32, block, &cb) }
}

#[test]
fn a_device_invalidated_mid_stream_resets_the_host_in_every_mode() {
    let duplex = || SimDeviceSpec {
        input: Some(SimInputSpec::default()),
        ..SimDeviceSpec::default()
    };
    let out = [(false, 0), (false, 1)];
    let inout = [(true, 0), (false, 0), (false, 1)];
    let input = [(true, 0), (true, 1)];
    type Case<'a> = (SimDeviceSpec, &'a str, &'a [(bool, i32)], i32);
    let cases: [Case; 6] = [
        (
            SimDeviceSpec::exclusive_capable(),
            "exclusive-event",
            &out,
            256,
        ),
        (
            SimDeviceSpec::exclusive_capable(),
            "exclusive-poll",
            &out,
            441,
        ),
        (
            SimDeviceSpec::exclusive_capable(),
            "shared-low-latency",
            &out,
            441,
        ),
        (SimDeviceSpec::default(), "shared", &out, 441),
        (duplex(), "shared", &inout, 256),
        (duplex(), "shared", &input, 256),
    ];
    for (spec, mode, channels, block) in cases {
        let dir = tempfile::tempdir().unwrap();
        let h = host_in(
            dir.path(),
            spec,
            Some(&format!("[output]\nmode = \"{mode}\"\n")),
        );
        let d = &h.driver;
        let what = format!("{mode}, {} channels", channels.len());
        assert_eq!(
            d.init(std::ptr::null_mut()),
            ASIO_TRUE,
            "{what}: {}",
            error_text(d)
        );
        assert_eq!(
            create(d, channels, block),
            ASE_OK,
            "{what}: {}",
            error_text(d)
        );
        assert_eq!(d.start(), ASE_OK, "{what}");
        common::wait_for_switches(5);
        h.backend
            .control
            .fail_next_tick
            .store(true, Ordering::SeqCst);
        wait_until("the reset request", || {
            RESET_REQUESTS.load(Ordering::SeqCst) >= 1
        });
        let text = error_text(d);
        assert!(
            text.contains("AUDCLNT_E_DEVICE_INVALIDATED"),
            "{what}: {text}"
        );
        // The host answers: every call returns, promptly.
        let begun = Instant::now();
        assert_eq!(d.stop(), ASE_OK, "{what}");
        assert_eq!(d.dispose_buffers(), ASE_OK, "{what}");
        drop(h);
        assert!(begun.elapsed() < Duration::from_secs(5), "{what}");
        assert_eq!(
            RESET_REQUESTS.load(Ordering::SeqCst),
            1,
            "{what}: one reset"
        );
    }
}

#[test]
fn an_unplugged_device_asks_for_one_reset_while_prepared_and_fails_a_running_stream() {
    let spec = || SimDeviceSpec {
        input: Some(SimInputSpec::default()),
        ..SimDeviceSpec::default()
    };
    let duplex = || Want {
        inputs: 1,
        ..Want::output(Mode::Auto, 256)
    };
    // Prepared: the output, then the input, goes away.
    for id in ["{sim}.output", "{sim}.input"] {
        let s = open(spec(), duplex()).unwrap();
        s.backend.port().unplug(id);
        s.backend.port().unplug(id);
        assert_eq!(s.seen.resets.load(Ordering::SeqCst), 1, "{id}");
        assert!(
            s.backend.start(false).is_err(),
            "{id}: the stream cannot start"
        );
        assert!(s.backend.close().is_ok());
    }
    // Another endpoint going away is not this stream's business.
    let s = open(
        SimDeviceSpec {
            endpoints: common::two_endpoints().endpoints,
            ..spec()
        },
        duplex(),
    )
    .unwrap();
    s.backend.port().unplug("{0.0.0.00000000}.{bbbb}");
    assert_eq!(s.seen.resets.load(Ordering::SeqCst), 0);
    // Running: the stream fails by itself (the driver then asks for the reset).
    let s = open(spec(), duplex()).unwrap();
    s.backend.start(false).unwrap();
    harness::wait_until("switches", || s.switches() >= 5);
    s.backend.port().unplug("{sim}.output");
    harness::wait_until("the failure", || s.failure().is_some());
    assert!(s
        .failure()
        .unwrap()
        .contains("AUDCLNT_E_DEVICE_INVALIDATED"));
    assert_eq!(s.seen.resets.load(Ordering::SeqCst), 0);
    let report = s.backend.stop().unwrap();
    assert!(report.failure.is_some());
    assert!(s.backend.close().is_ok());
}

#[test]
fn a_new_default_device_resets_a_follow_default_stream_once() {
    for follow in [true, false] {
        let device = if follow {
            DeviceSelector::FollowDefault
        } else {
            DeviceSelector::Default
        };
        let s = open(
            SimDeviceSpec::default(),
            Want {
                device,
                ..Want::output(Mode::Auto, 256)
            },
        )
        .unwrap();
        s.backend.start(false).unwrap();
        harness::wait_until("switches", || s.switches() >= 3);
        // A headset is plugged in and becomes the default; then the user switches back.
        s.backend.port().change_default_endpoint();
        s.backend.port().change_default_endpoint();
        assert_eq!(
            s.seen.resets.load(Ordering::SeqCst),
            follow as u64,
            "{follow}"
        );
        s.backend.stop().unwrap();
    }
}

#[test]
fn late_events_within_the_buffer_cost_nothing() {
    let late = |every, ms| EventTiming {
        late_every: every,
        late_by: Duration::from_millis(ms),
        burst_every: 0,
    };
    for (spec, mode, block) in [
        (SimDeviceSpec::default(), Mode::Auto, 441),
        (
            SimDeviceSpec::exclusive_capable(),
            Mode::ExclusiveEvent,
            256,
        ),
    ] {
        // Up to 2 ms late: within one 5.3 ms exclusive period, within a 30 ms shared buffer.
        let spec = SimDeviceSpec {
            events: late(3, 2),
            ..spec
        };
        let s = open(spec, Want::output(mode, block)).unwrap();
        let report = s.run(100);
        assert!(s.backend.control.late_events.load(Ordering::SeqCst) > 10);
        assert_eq!(report.stats.underruns, 0, "{mode:?}");
        assert_eq!(report.stats.deadlines.driver_faults(), 0, "{mode:?}");
    }
}

#[test]
fn events_in_bursts_are_caught_up_at_once() {
    // Every fourth event never comes: the next one fills two periods' worth.
    let spec = SimDeviceSpec {
        events: EventTiming {
            burst_every: 4,
            ..EventTiming::default()
        },
        ..SimDeviceSpec::default()
    };
    let s = open(spec, Want::output(Mode::Auto, 300)).unwrap();
    let port = s.backend.port().clone();
    let t0 = port.now_ns();
    let report = s.run(200);
    let elapsed = (port.now_ns() - t0) as f64 / 1e9;
    assert!(s.backend.control.skipped_events.load(Ordering::SeqCst) > 20);
    assert_eq!(report.stats.underruns, 0);
    // The switches kept up with the device clock.
    let expected = elapsed * 48_000.0 / 300.0;
    assert!(
        (report.stats.switches as f64 - expected).abs() < 8.0,
        "{report:?}"
    );
}

#[test]
fn events_later_than_the_buffer_are_late_wake_ups_not_driver_faults() {
    // Every tenth event comes 45 ms late: the 30 ms shared buffer runs dry meanwhile.
    let spec = SimDeviceSpec {
        events: EventTiming {
            late_every: 10,
            late_by: Duration::from_millis(45),
            burst_every: 0,
        },
        ..SimDeviceSpec::default()
    };
    let s = open(spec, Want::output(Mode::Auto, 256)).unwrap();
    let report = s.run(200);
    assert!(report.stats.underruns >= 3, "{report:?}");
    assert!(report.stats.deadlines.late_wakes >= 3, "{report:?}");
    assert_eq!(report.stats.deadlines.driver_faults(), 0, "{report:?}");
}

#[test]
fn a_device_that_stops_signalling_is_given_up_after_ten_seconds() {
    let spec = SimDeviceSpec {
        tick: Duration::ZERO,
        events: EventTiming {
            burst_every: 1,
            ..EventTiming::default()
        },
        ..SimDeviceSpec::default()
    };
    let s = open(spec, Want::output(Mode::Auto, 256)).unwrap();
    let t0 = s.backend.port().now_ns();
    s.backend.start(false).unwrap();
    harness::wait_until("the failure", || s.failure().is_some());
    let failure = s.failure().unwrap();
    assert!(failure.contains("no audio event for 10 s"), "{failure}");
    let silent = (s.backend.port().now_ns() - t0) as f64 / 1e9;
    assert!((10.0..10.1).contains(&silent), "{silent} s of silence");
    assert!(s.backend.stop().unwrap().failure.is_some());
}
