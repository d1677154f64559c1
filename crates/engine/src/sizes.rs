//! The buffer sizes offered to the host (`getBufferSize`) and the check of its choice.
//!
//! There is one model, [`BufferSizePolicy`] (from the configuration module): a `[buffer]`
//! section in Wasio.toml gives it directly; without one the driver offers
//! [`BufferSizePolicy::decoupled`].

pub use crate::config::{BufferSizePolicy, BufferStep};
use crate::error::{DriverError, DriverResult};

/// Smallest size offered by default: some hosts misbehave below 32 frames (FlexASIO #88).
pub const MIN_BUFFER_FRAMES: u32 = 32;
/// Largest size offered by default: 8192 frames is 170 ms at 48 kHz, beyond any live use.
pub const MAX_BUFFER_FRAMES: u32 = 8192;

impl BufferSizePolicy {
    /// The range for a decoupled (ring-buffered) stream: any size from 32 to 8192 frames.
    /// The preferred size is the device period, so each switch matches one device event.
    pub fn decoupled(device_period_frames: u32) -> Self {
        Self {
            min: MIN_BUFFER_FRAMES,
            max: MAX_BUFFER_FRAMES,
            preferred: device_period_frames.clamp(MIN_BUFFER_FRAMES, MAX_BUFFER_FRAMES),
            step: BufferStep::Frames(1),
        }
    }

    /// Validates a host's `createBuffers` size, explaining a refusal.
    pub fn check(&self, size: i64) -> DriverResult<usize> {
        if let Ok(frames) = u32::try_from(size) {
            if self.accepts(frames) {
                return Ok(frames as usize);
            }
        }
        let rule = match self.step {
            _ if self.min == self.max => format!("exactly {}", self.min),
            BufferStep::PowerOfTwo => "a power of two".to_string(),
            BufferStep::Frames(1) => "any size".to_string(),
            BufferStep::Frames(step) => format!("the minimum plus a multiple of {step}"),
        };
        Err(DriverError::invalid_parameter(format!(
            "buffer size {size} is not offered: {rule} from {} to {} frames",
            self.min, self.max
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoupled_range_takes_any_size_including_441() {
        let r = BufferSizePolicy::decoupled(480);
        assert_eq!(r.offered(), (32, 8192, 480, 1));
        for size in [32, 64, 256, 441, 480, 1000, 8192] {
            assert_eq!(r.check(size).unwrap(), size as usize);
        }
        for size in [-1, 0, 1, 31, 8193, i64::MAX] {
            let err = r.check(size).unwrap_err();
            assert!(err.message.contains("not offered"), "{}", err.message);
        }
    }

    #[test]
    fn preferred_is_clamped_into_the_range() {
        assert_eq!(BufferSizePolicy::decoupled(8).preferred, 32);
        assert_eq!(BufferSizePolicy::decoupled(100_000).preferred, 8192);
    }

    #[test]
    fn refusals_name_the_rule() {
        let pow2 = BufferSizePolicy {
            min: 64,
            max: 1024,
            preferred: 256,
            step: BufferStep::PowerOfTwo,
        };
        assert_eq!(pow2.check(128).unwrap(), 128);
        assert!(pow2
            .check(192)
            .unwrap_err()
            .message
            .contains("power of two"));
        let single = BufferSizePolicy {
            min: 480,
            max: 480,
            preferred: 480,
            step: BufferStep::PowerOfTwo,
        };
        assert!(single
            .check(479)
            .unwrap_err()
            .message
            .contains("exactly 480"));
        let step = BufferSizePolicy {
            min: 48,
            max: 960,
            preferred: 480,
            step: BufferStep::Frames(48),
        };
        assert_eq!(step.check(96).unwrap(), 96);
        assert!(step
            .check(100)
            .unwrap_err()
            .message
            .contains("multiple of 48"));
    }
}
