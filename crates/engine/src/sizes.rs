//! The buffer sizes offered to the host (`getBufferSize`) and the check of its choice.

use crate::error::{DriverError, DriverResult};

/// Smallest size offered: some hosts misbehave below 32 frames (FlexASIO #88).
pub const MIN_BUFFER_FRAMES: u32 = 32;
/// Largest size offered: 8192 frames is 170 ms at 48 kHz, beyond any live use.
pub const MAX_BUFFER_FRAMES: u32 = 8192;

/// What `getBufferSize` returns, in ASIO's terms: `granularity` > 0 is a step from `min`,
/// -1 means powers of two between `min` and `max`, 0 means only `preferred`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufferSizeRange {
    pub min: u32,
    pub max: u32,
    pub preferred: u32,
    pub granularity: i32,
}

impl BufferSizeRange {
    /// The range for a decoupled (ring-buffered) stream: any size from 32 to 8192 frames.
    /// The preferred size is the device period, so each switch matches one device event.
    pub fn decoupled(device_period_frames: u32) -> Self {
        Self {
            min: MIN_BUFFER_FRAMES,
            max: MAX_BUFFER_FRAMES,
            preferred: device_period_frames.clamp(MIN_BUFFER_FRAMES, MAX_BUFFER_FRAMES),
            granularity: 1,
        }
    }

    pub fn accepts(&self, size: i64) -> bool {
        if size < self.min as i64 || size > self.max as i64 {
            return false;
        }
        match self.granularity {
            -1 => (size as u64).is_power_of_two(),
            0 => size == self.preferred as i64,
            g if g > 0 => (size - self.min as i64) % g as i64 == 0,
            _ => false,
        }
    }

    /// Validates a host's `createBuffers` size, explaining a refusal.
    pub fn check(&self, size: i64) -> DriverResult<usize> {
        if self.accepts(size) {
            return Ok(size as usize);
        }
        let rule = match self.granularity {
            -1 => "a power of two".to_string(),
            0 => format!("exactly {}", self.preferred),
            1 => "any size".to_string(),
            g => format!("a multiple of {g} above the minimum"),
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
        let r = BufferSizeRange::decoupled(480);
        assert_eq!(
            (r.min, r.max, r.preferred, r.granularity),
            (32, 8192, 480, 1)
        );
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
        assert_eq!(BufferSizeRange::decoupled(8).preferred, 32);
        assert_eq!(BufferSizeRange::decoupled(100_000).preferred, 8192);
    }

    #[test]
    fn granularity_rules() {
        let pow2 = BufferSizeRange {
            min: 64,
            max: 1024,
            preferred: 256,
            granularity: -1,
        };
        assert!(pow2.accepts(128) && !pow2.accepts(192) && !pow2.accepts(2048));
        let single = BufferSizeRange {
            min: 480,
            max: 480,
            preferred: 480,
            granularity: 0,
        };
        assert!(single.accepts(480) && !single.accepts(479));
        let step = BufferSizeRange {
            min: 48,
            max: 960,
            preferred: 480,
            granularity: 48,
        };
        assert!(step.accepts(96) && !step.accepts(100));
        assert!(step
            .check(100)
            .unwrap_err()
            .message
            .contains("multiple of 48"));
    }
}
