//! Cost of the drift-compensation path per block, against a plain copy of the same frames.
//!
//! Each benchmark moves one ASIO block (256 frames, stereo, f32 interleaved) from a capture
//! packet to an output buffer. `copy` is `copy_from_slice`; `passthrough` goes through the
//! FIFO; `adaptive_*` through FIFO + controller + sinc resampler at a 100 ppm drift.
//! Report them as ratios to `copy` (see docs/DUPLEX.md); absolute times depend on the machine.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use wasio_engine::drift::{CompensationMode, DriftCompensator, DriftConfig, ResamplerQuality};

const CHANNELS: usize = 2;
const BLOCK: usize = 256;
const RATE: f64 = 48_000.0;

fn capture_packet() -> Vec<f32> {
    (0..BLOCK * CHANNELS)
        .map(|i| (i as f32 * 0.013).sin() * 0.5)
        .collect()
}

/// A compensator fed one block per pull, with the capture side running 100 ppm fast: every
/// 10 000th block carries one extra frame.
fn bench_compensator(c: &mut Criterion, name: &str, config: DriftConfig) {
    let packet = capture_packet();
    let mut comp = DriftCompensator::new(config).expect("valid bench config");
    let mut out = vec![0.0f32; BLOCK * CHANNELS];
    let target = comp.target_fill_frames();
    while comp.fill_frames() < target + BLOCK {
        comp.push_input(&packet);
    }
    let mut blocks: u64 = 0;
    c.bench_function(name, |b| {
        b.iter(|| {
            blocks += 1;
            let extra = usize::from(blocks.is_multiple_of(10_000));
            comp.push_input(&packet[..(BLOCK - 1 + extra) * CHANNELS]);
            comp.push_input(&packet[..CHANNELS]);
            comp.pull_output(black_box(&mut out), BLOCK);
        })
    });
}

fn resampler_vs_copy(c: &mut Criterion) {
    let packet = capture_packet();
    let mut out = vec![0.0f32; BLOCK * CHANNELS];
    c.bench_function("copy", |b| {
        b.iter(|| out.copy_from_slice(black_box(&packet)));
    });

    let target = DriftConfig::recommended_target_fill(1.0, BLOCK, BLOCK, 64);
    let base = DriftConfig::new(CHANNELS, 1.0, RATE, BLOCK, target);
    bench_compensator(
        c,
        "passthrough",
        base.clone().mode(CompensationMode::PassThrough),
    );
    bench_compensator(
        c,
        "adaptive_standard",
        base.clone().quality(ResamplerQuality::Standard),
    );
    bench_compensator(c, "adaptive_high", base.quality(ResamplerQuality::High));
}

criterion_group!(benches, resampler_vs_copy);
criterion_main!(benches);
