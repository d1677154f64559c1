//! Device-clock arithmetic: where a frame of the stream plays, in QPC time.
//!
//! Timestamps never come from when a callback happened to run. The backend reads the
//! device position together with the QPC time it was sampled at (IAudioClock::GetPosition);
//! every time the engine hands out is extrapolated from such a reading.

use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

/// One reading of the device clock: the stream position (in frames, fractional when the
/// device counts bytes or another unit) and the QPC time of that reading in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClockReading {
    pub position_frames: f64,
    pub qpc_ns: u64,
}

impl ClockReading {
    /// Converts an IAudioClock reading: `position` in units of `frequency` per second, and the
    /// QPC time in 100 ns units as IAudioClock returns it.
    pub fn from_audio_clock(
        position: u64,
        frequency: u64,
        qpc_100ns: u64,
        sample_rate: f64,
    ) -> Option<Self> {
        if frequency == 0 || sample_rate.is_nan() || sample_rate <= 0.0 {
            return None;
        }
        Some(Self {
            position_frames: position as f64 * sample_rate / frequency as f64,
            qpc_ns: qpc_100ns.saturating_mul(100),
        })
    }

    /// The QPC time (ns) at which stream frame `frame` is at the device, extrapolated
    /// from this reading at the nominal `sample_rate`.
    pub fn time_of_frame_ns(&self, frame: u64, sample_rate: f64) -> u64 {
        let delta_ns = (frame as f64 - self.position_frames) * 1e9 / sample_rate;
        let t = self.qpc_ns as f64 + delta_ns;
        if t <= 0.0 {
            0
        } else {
            t as u64
        }
    }
}

/// The latest (sample position, system time) pair, written by the audio thread and read by
/// `getSamplePosition` on any host thread. A sequence lock over atomics: the writer never
/// waits, readers retry if they raced a write.
#[derive(Default)]
pub struct PositionCell {
    sequence: AtomicU32,
    sample_position: AtomicU64,
    system_time_ns: AtomicU64,
}

impl PositionCell {
    pub fn new() -> Self {
        Self::default()
    }

    /// Publishes a new pair (audio thread only: a single writer).
    pub fn publish(&self, sample_position: u64, system_time_ns: u64) {
        let seq = self.sequence.load(Ordering::Relaxed);
        self.sequence.store(seq.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        self.sample_position
            .store(sample_position, Ordering::Relaxed);
        self.system_time_ns.store(system_time_ns, Ordering::Relaxed);
        self.sequence.store(seq.wrapping_add(2), Ordering::Release);
    }

    /// Reads a consistent pair; `None` before the first publish.
    pub fn read(&self) -> Option<(u64, u64)> {
        loop {
            let before = self.sequence.load(Ordering::Acquire);
            if before == 0 {
                return None;
            }
            if before % 2 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let position = self.sample_position.load(Ordering::Relaxed);
            let time = self.system_time_ns.load(Ordering::Relaxed);
            fence(Ordering::Acquire);
            if self.sequence.load(Ordering::Relaxed) == before {
                return Some((position, time));
            }
        }
    }

    /// Forgets the published pair (a new stream starts at position 0).
    pub fn clear(&self) {
        self.sequence.store(0, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn audio_clock_byte_units_become_frames() {
        // winepulse's shared mode counts bytes: frequency = rate * block_align.
        let r =
            ClockReading::from_audio_clock(48_000 * 8, 48_000 * 8, 10_000_000, 48_000.0).unwrap();
        assert_eq!(r.position_frames, 48_000.0);
        assert_eq!(r.qpc_ns, 1_000_000_000);
        assert!(ClockReading::from_audio_clock(1, 0, 1, 48_000.0).is_none());
        assert!(ClockReading::from_audio_clock(1, 1, 1, f64::NAN).is_none());
    }

    #[test]
    fn frame_times_extrapolate_at_the_sample_rate() {
        let r = ClockReading {
            position_frames: 1000.0,
            qpc_ns: 5_000_000_000,
        };
        assert_eq!(r.time_of_frame_ns(1000, 48_000.0), 5_000_000_000);
        assert_eq!(r.time_of_frame_ns(1480, 48_000.0), 5_010_000_000);
        assert_eq!(r.time_of_frame_ns(520, 48_000.0), 4_990_000_000);
    }

    #[test]
    fn position_cell_is_empty_until_published_and_consistent_under_race() {
        let cell = Arc::new(PositionCell::new());
        assert_eq!(cell.read(), None);
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        // The writer publishes until the reader has checked enough reads (not for a fixed
        // count: on a loaded machine it could finish before the reader ever ran).
        let writer = {
            let (cell, stop) = (cell.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut i = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    i += 1;
                    cell.publish(i, i * 3);
                }
                i
            })
        };
        let mut seen = 0;
        while seen < 100_000 {
            if let Some((p, t)) = cell.read() {
                assert_eq!(t, p * 3, "torn read");
                seen += 1;
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let last = writer.join().unwrap();
        assert_eq!(cell.read(), Some((last, last * 3)));
        cell.clear();
        assert_eq!(cell.read(), None);
    }
}
