//! The counter pattern for bit-exactness tests: sample `k` of the stream (interleaved index,
//! `frame × channels + channel`) holds a value derived from `k` that is never zero, so a
//! captured device stream can be checked sample by sample: nothing lost, repeated or
//! altered. The same formula is in `xtask/src/wine_tests_exclusive.rs`, which checks it.
//!
//! - int16: `k mod 65535 + 1`, as 16-bit little-endian.
//! - int24: `k mod (2^24 − 1) + 1`, as 3 bytes little-endian.
//! - int32: `k mod (2^32 − 1) + 1`, as 32-bit little-endian.
//! - float32: `(k mod 2^23 + 1) / 2^24`, exact in f32.

/// The sample formats the pattern is written in (PortAudio's `paInt16` … `paFloat32`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SampleFormat {
    Int16,
    Int24,
    Int32,
    Float32,
}

impl SampleFormat {
    pub fn parse(text: &str) -> Result<SampleFormat, String> {
        match text {
            "int16" => Ok(SampleFormat::Int16),
            "int24" => Ok(SampleFormat::Int24),
            "int32" => Ok(SampleFormat::Int32),
            "float32" => Ok(SampleFormat::Float32),
            other => Err(format!(
                "--sample-format: {other:?} (expected int16, int24, int32 or float32)"
            )),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SampleFormat::Int16 => "int16",
            SampleFormat::Int24 => "int24",
            SampleFormat::Int32 => "int32",
            SampleFormat::Float32 => "float32",
        }
    }

    /// PortAudio's `PaSampleFormat` bit.
    pub fn pa_format(self) -> std::ffi::c_ulong {
        match self {
            SampleFormat::Float32 => 0x1,
            SampleFormat::Int32 => 0x2,
            SampleFormat::Int24 => 0x4,
            SampleFormat::Int16 => 0x8,
        }
    }

    pub fn bytes(self) -> usize {
        match self {
            SampleFormat::Int16 => 2,
            SampleFormat::Int24 => 3,
            SampleFormat::Int32 | SampleFormat::Float32 => 4,
        }
    }

    /// The bytes of sample `k`.
    pub fn encode(self, k: u64, out: &mut [u8]) {
        match self {
            SampleFormat::Int16 => out.copy_from_slice(&((k % 0xFFFF + 1) as u16).to_le_bytes()),
            SampleFormat::Int24 => {
                out.copy_from_slice(&((k % 0xFF_FFFF + 1) as u32).to_le_bytes()[..3])
            }
            SampleFormat::Int32 => {
                out.copy_from_slice(&((k % 0xFFFF_FFFF + 1) as u32).to_le_bytes())
            }
            SampleFormat::Float32 => {
                let v = ((k % (1 << 23)) + 1) as f32 / (1u32 << 24) as f32;
                out.copy_from_slice(&v.to_le_bytes())
            }
        }
    }
}

/// Writes the counter into interleaved buffers, `frames` at a time, then silence once
/// `total_frames` were written.
pub struct CounterPattern {
    pub format: SampleFormat,
    channels: usize,
    next_sample: u64,
    total_samples: u64,
}

impl CounterPattern {
    pub fn new(format: SampleFormat, channels: usize, total_frames: u64) -> Self {
        Self {
            format,
            channels,
            next_sample: 0,
            total_samples: total_frames * channels as u64,
        }
    }

    /// Fills `out` (whole interleaved frames) and advances. Real-time safe.
    pub fn fill(&mut self, out: &mut [u8]) {
        let bytes = self.format.bytes();
        for sample in out.chunks_exact_mut(bytes) {
            if self.next_sample < self.total_samples {
                self.format.encode(self.next_sample, sample);
                self.next_sample += 1;
            } else {
                sample.fill(0);
            }
        }
    }

    pub fn channels(&self) -> usize {
        self.channels
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_never_zero_and_follow_the_formula() {
        let mut out = [0u8; 4];
        for format in [
            SampleFormat::Int16,
            SampleFormat::Int24,
            SampleFormat::Int32,
            SampleFormat::Float32,
        ] {
            let b = format.bytes();
            for k in [
                0u64,
                1,
                65_534,
                65_535,
                0xFF_FFFE,
                0xFF_FFFF,
                1 << 23,
                1 << 40,
            ] {
                format.encode(k, &mut out[..b]);
                assert!(out[..b].iter().any(|&x| x != 0), "{format:?} {k}");
            }
        }
        SampleFormat::Int16.encode(65_535, &mut out[..2]);
        assert_eq!(&out[..2], &[1, 0], "wraps to 1, never 0");
        SampleFormat::Int24.encode(2, &mut out[..3]);
        assert_eq!(&out[..3], &[3, 0, 0]);
        SampleFormat::Float32.encode(0, &mut out);
        assert_eq!(f32::from_le_bytes(out), 1.0 / 16_777_216.0);
    }

    #[test]
    fn the_counter_runs_across_buffers_then_falls_silent() {
        let mut p = CounterPattern::new(SampleFormat::Int16, 2, 3);
        let mut a = [0xAAu8; 8];
        let mut b = [0xAAu8; 8];
        p.fill(&mut a);
        p.fill(&mut b);
        assert_eq!(a, [1, 0, 2, 0, 3, 0, 4, 0]);
        assert_eq!(b, [5, 0, 6, 0, 0, 0, 0, 0]);
        assert_eq!(p.channels(), 2);
    }
}
