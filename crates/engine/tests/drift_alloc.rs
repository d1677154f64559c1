//! `push_input` / `pull_output` must not allocate once the compensator is built: the engine's
//! counting global allocator (`rt_guard`) counts allocations made inside a real-time section,
//! through every path: priming, steady state, bursty packets, odd pull sizes, underrun with
//! resync, overrun with resync, getters and the monitor.

use std::alloc::System;
use std::sync::Mutex;

use wasio_engine::drift::{
    CompensationMode, DriftCompensator, DriftConfig, PullOutcome, ResamplerQuality,
};
use wasio_engine::rt_guard::{self, CountingAllocator};

#[global_allocator]
static ALLOCATOR: CountingAllocator<System> = CountingAllocator(System);

/// The real-time allocation count is process-wide: one counting window at a time, so that
/// tests running in parallel do not see each other's allocations.
static COUNTING_WINDOW: Mutex<()> = Mutex::new(());

/// Allocations (and frees) made while running `f` as a real-time section.
fn allocations_during(f: impl FnOnce()) -> u64 {
    let _window = COUNTING_WINDOW.lock().unwrap_or_else(|e| e.into_inner());
    let before = rt_guard::rt_allocations();
    {
        let _rt = rt_guard::enter_rt();
        f();
    }
    rt_guard::rt_allocations() - before
}

const CHANNELS: usize = 2;
const BLOCK: usize = 128;

/// One workout through every path; returns the outcomes seen so the test can check coverage.
fn workout(comp: &mut DriftCompensator, packet: &[f32], out: &mut [f32]) -> [u32; 3] {
    let mut seen = [0u32; 3];
    let mut record = |outcome: PullOutcome| {
        seen[match outcome {
            PullOutcome::Audio => 0,
            PullOutcome::Priming => 1,
            PullOutcome::Underrun => 2,
        }] += 1;
    };
    let monitor = comp.monitor();
    let mut sink = 0.0;
    for round in 0..3_000usize {
        // Bursty capture: 0 to 3 packets of varying size per block, averaging one block.
        let packets = [1usize, 0, 2, 1, 3, 0, 1][round % 7].min(2 + round % 2);
        for k in 0..packets {
            let frames = [96usize, 160, 128, 141][(round + k) % 4];
            comp.push_input(&packet[..frames * CHANNELS]);
        }
        let frames = [BLOCK, BLOCK, BLOCK / 2, BLOCK * 2 + 3][round % 4];
        record(comp.pull_output(out, frames));
        // Starve it now and then (underrun path) and flood it (overrun path).
        if round % 500 == 250 {
            for _ in 0..20 {
                record(comp.pull_output(out, BLOCK));
            }
        }
        if round % 500 == 400 {
            for _ in 0..40 {
                comp.push_input(&packet[..160 * CHANNELS]);
            }
        }
        sink += comp.drift_ppm() + comp.latency_frames() + comp.correction_ppm();
        sink += (comp.fill_frames() + comp.underruns() as usize + comp.overruns() as usize) as f64;
        sink += monitor.drift_ppm() + monitor.latency_frames();
    }
    std::hint::black_box(sink);
    seen
}

fn check_no_allocation(config: DriftConfig) {
    let mut comp = DriftCompensator::new(config).expect("valid config");
    let packet: Vec<f32> = (0..512 * CHANNELS)
        .map(|i| (i as f32 * 0.01).sin())
        .collect();
    let mut out = vec![0.0f32; (BLOCK * 2 + 3) * CHANNELS];
    // Warm-up: the first calls go through every path once before counting starts.
    workout(&mut comp, &packet, &mut out);
    let mut seen = [0; 3];
    let allocations = allocations_during(|| seen = workout(&mut comp, &packet, &mut out));
    assert!(seen.iter().all(|&n| n > 0), "not every path ran: {seen:?}");
    assert!(comp.overruns() > 0, "overrun path not exercised");
    assert_eq!(allocations, 0, "push/pull allocated");
}

#[test]
fn counting_allocator_counts() {
    // The check below must be able to fail.
    let n = allocations_during(|| {
        std::hint::black_box(vec![1u8; 64]);
    });
    assert!(n >= 2, "allocator did not count: {n}");
}

#[test]
fn adaptive_standard_does_not_allocate() {
    check_no_allocation(DriftConfig::new(CHANNELS, 1.0, 48_000.0, BLOCK, 400));
}

#[test]
fn adaptive_high_different_rates_does_not_allocate() {
    let ratio = 44_100.0 / 48_000.0;
    check_no_allocation(
        DriftConfig::new(CHANNELS, ratio, 48_000.0, BLOCK, 400).quality(ResamplerQuality::High),
    );
}

#[test]
fn passthrough_does_not_allocate() {
    check_no_allocation(
        DriftConfig::new(CHANNELS, 1.0, 48_000.0, BLOCK, 400).mode(CompensationMode::PassThrough),
    );
}
