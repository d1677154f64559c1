//! The test signal: a phase-continuous sine (f64 phase accumulator) for an exact number of
//! frames, then silence. Allocation-free; runs inside the audio callback.

use std::f64::consts::TAU;

pub struct ToneGenerator {
    phase: f64,
    step: f64,
    amplitude: f64,
    tone_frames_left: u64,
}

impl ToneGenerator {
    pub fn new(
        frequency_hz: f64,
        sample_rate: f64,
        amplitude: f64,
        tone_frames: u64,
    ) -> ToneGenerator {
        ToneGenerator {
            phase: 0.0,
            step: TAU * frequency_hz / sample_rate,
            amplitude,
            tone_frames_left: tone_frames,
        }
    }

    /// The next frame's sample value (the same on every channel).
    #[inline]
    pub fn next_sample(&mut self) -> f32 {
        if self.tone_frames_left == 0 {
            return 0.0;
        }
        self.tone_frames_left -= 1;
        let value = self.amplitude * self.phase.sin();
        self.phase += self.step;
        if self.phase >= TAU {
            self.phase -= TAU;
        }
        value as f32
    }

    /// Fills interleaved frames.
    pub fn fill_interleaved(&mut self, out: &mut [f32], channels: usize) {
        for frame in out.chunks_exact_mut(channels) {
            frame.fill(self.next_sample());
        }
    }

    /// Fills one buffer per channel (non-interleaved), `frames` frames each.
    pub fn fill_planar(&mut self, out: &mut [&mut [f32]], frames: usize) {
        for frame in 0..frames {
            let value = self.next_sample();
            for channel in out.iter_mut() {
                channel[frame] = value;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tone_is_exact_and_phase_continuous_across_odd_buffers() {
        let mut tone = ToneGenerator::new(997.0, 48_000.0, 0.5, 1000);
        let mut all = Vec::new();
        for size in [7usize, 256, 441, 1, 999] {
            let mut buffer = vec![1.0f32; size * 2];
            tone.fill_interleaved(&mut buffer, 2);
            all.extend(buffer.chunks_exact(2).map(|frame| {
                assert_eq!(frame[0], frame[1]);
                frame[0]
            }));
        }
        let step = TAU * 997.0 / 48_000.0;
        for (n, value) in all.iter().enumerate() {
            let expected = if n < 1000 {
                (0.5 * (n as f64 * step).sin()) as f32
            } else {
                0.0
            };
            assert!(
                (value - expected).abs() < 1e-6,
                "frame {n}: {value} vs {expected}"
            );
        }
    }

    #[test]
    fn planar_matches_interleaved() {
        let mut a = ToneGenerator::new(440.0, 44_100.0, 0.25, 300);
        let mut b = ToneGenerator::new(440.0, 44_100.0, 0.25, 300);
        let mut interleaved = vec![0.0f32; 2 * 512];
        a.fill_interleaved(&mut interleaved, 2);
        let (mut left, mut right) = (vec![0.0f32; 512], vec![0.0f32; 512]);
        b.fill_planar(&mut [&mut left, &mut right], 512);
        for n in 0..512 {
            assert_eq!(interleaved[2 * n], left[n]);
            assert_eq!(interleaved[2 * n + 1], right[n]);
        }
    }
}

/// An impulse train: one sample of `±amplitude` every `interval` frames, starting at frame
/// `interval / 2`, for `signal_frames` frames, then silence. The polarity of impulse `k` follows
/// [`impulse_polarity`], so the train is not periodic as a whole: a delay can be told apart from
/// the same delay plus whole intervals. Allocation-free; runs inside the audio callback.
pub struct ImpulseTrain {
    interval: u64,
    amplitude: f32,
    signal_frames: u64,
    frame: u64,
}

impl ImpulseTrain {
    /// `interval` is at least 2 frames.
    pub fn new(interval: u64, amplitude: f32, signal_frames: u64) -> ImpulseTrain {
        ImpulseTrain {
            interval: interval.max(2),
            amplitude,
            signal_frames,
            frame: 0,
        }
    }

    /// The next frame's sample value (the same on every channel), and the polarity when this
    /// frame carries an impulse.
    #[inline]
    pub fn next_sample(&mut self) -> (f32, Option<f32>) {
        let frame = self.frame;
        self.frame += 1;
        if frame >= self.signal_frames || frame % self.interval != self.interval / 2 {
            return (0.0, None);
        }
        let polarity = impulse_polarity(frame / self.interval);
        (polarity * self.amplitude, Some(polarity))
    }
}

/// The polarity (±1) of impulse number `index`: bit 0 of a 32-bit multiplicative hash, a fixed
/// pseudo-random sequence.
pub fn impulse_polarity(index: u64) -> f32 {
    let hash = (index as u32 ^ 0x5bd1_e995).wrapping_mul(0x9e37_79b1);
    if hash >> 31 == 0 {
        1.0
    } else {
        -1.0
    }
}

#[cfg(test)]
mod impulse_tests {
    use super::*;

    #[test]
    fn impulses_fall_every_interval_with_mixed_polarity() {
        let mut train = ImpulseTrain::new(100, 0.8, 1_000);
        let mut impulses = Vec::new();
        for frame in 0..1_200u64 {
            let (value, polarity) = train.next_sample();
            match polarity {
                Some(sign) => {
                    assert_eq!(value, sign * 0.8);
                    impulses.push((frame, sign));
                }
                None => assert_eq!(value, 0.0),
            }
        }
        let frames: Vec<u64> = impulses.iter().map(|(frame, _)| *frame).collect();
        assert_eq!(frames, (0..10).map(|k| 50 + 100 * k).collect::<Vec<_>>());
        let positive = impulses.iter().filter(|(_, sign)| *sign > 0.0).count();
        assert!(positive > 0 && positive < impulses.len(), "{impulses:?}");
    }

    #[test]
    fn polarity_sequence_is_balanced() {
        let positive = (0..1_000).filter(|&k| impulse_polarity(k) > 0.0).count();
        assert!((400..=600).contains(&positive), "{positive}");
    }
}
