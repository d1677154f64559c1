//! When each captured frame was captured, from the capture packets' QPC stamps.
//!
//! The input latency (and the capture phase the FIFOs are held at) rests on this. A packet's
//! stamp is only an upper bound on when its frames were captured: a stamp taken late (the
//! reading thread woke late, or several packets were read in one burst) makes the frames
//! look younger than they are, never older. So the estimate is the *lower envelope* of the
//! stamps: capture time = offset + frame index / rate, where offset is the smallest
//! `stamp - reference index / rate` seen over the last one to two seconds (a sliding minimum
//! in two buckets, so clock drift between QPC and the device is followed).
//!
//! What a stamp refers to depends on the platform ([`StampMeaning`]): Windows stamps the
//! capture of a packet's first frame; Wine stamps a packet when it reads it from PulseAudio or
//! ALSA, that is after its last frame was captured. Taking a read-time stamp as a first-frame
//! stamp would make every input look one packet (on the bench 60 ms) younger than it is.
//!
//! Real-time safe: fixed-size state, no allocation.

/// What a capture packet's QPC stamp marks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StampMeaning {
    /// The capture of the packet's first frame (Windows' audio engine).
    FirstFrame,
    /// The moment the packet was read, after its last frame was captured (Wine's winepulse
    /// and winealsa stamp packets when they take them from the sound server).
    ReadTime,
}

impl StampMeaning {
    pub fn describe(self) -> &'static str {
        match self {
            StampMeaning::FirstFrame => "stamps mark each packet's first frame",
            StampMeaning::ReadTime => "stamps mark when each packet was read (Wine)",
        }
    }
}

/// The capture clock: frame index → QPC time (ns).
#[derive(Clone, Debug)]
pub struct CaptureClock {
    meaning: StampMeaning,
    ns_per_frame: f64,
    /// Packets per bucket of the sliding minimum (about one second).
    packets_per_bucket: u32,
    packets_in_bucket: u32,
    current_min: f64,
    previous_min: f64,
}

impl CaptureClock {
    pub fn new(meaning: StampMeaning, sample_rate: f64, packet_frames: usize) -> Self {
        let packets_per_second = sample_rate / packet_frames.max(1) as f64;
        Self {
            meaning,
            ns_per_frame: 1e9 / sample_rate,
            packets_per_bucket: packets_per_second.ceil().max(4.0) as u32,
            packets_in_bucket: 0,
            current_min: f64::INFINITY,
            previous_min: f64::INFINITY,
        }
    }

    pub fn meaning(&self) -> StampMeaning {
        self.meaning
    }

    /// Takes a packet of `frames` frames whose first frame has index `first_frame`, stamped
    /// at `stamp_ns`.
    pub fn observe(&mut self, first_frame: u64, frames: usize, stamp_ns: u64) {
        let reference = match self.meaning {
            StampMeaning::FirstFrame => first_frame,
            StampMeaning::ReadTime => first_frame + frames as u64,
        };
        let offset = stamp_ns as f64 - reference as f64 * self.ns_per_frame;
        self.current_min = self.current_min.min(offset);
        self.packets_in_bucket += 1;
        if self.packets_in_bucket >= self.packets_per_bucket {
            self.previous_min = self.current_min;
            self.current_min = f64::INFINITY;
            self.packets_in_bucket = 0;
        }
    }

    /// Forgets the history (the frame count no longer matches the device's: it lost frames).
    pub fn reset(&mut self) {
        self.packets_in_bucket = 0;
        self.current_min = f64::INFINITY;
        self.previous_min = f64::INFINITY;
    }

    /// When frame `index` (fractional indices allowed) was captured, in QPC ns; `None` before
    /// the first packet.
    pub fn time_of(&self, index: f64) -> Option<f64> {
        let offset = self.current_min.min(self.previous_min);
        offset
            .is_finite()
            .then_some(offset + index * self.ns_per_frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: f64 = 48_000.0;
    const NS: f64 = 1e9 / RATE;

    #[test]
    fn first_frame_stamps_give_each_frames_time() {
        let mut clock = CaptureClock::new(StampMeaning::FirstFrame, RATE, 480);
        assert_eq!(clock.time_of(0.0), None);
        clock.observe(0, 480, 1_000_000);
        clock.observe(480, 480, 1_000_000 + 10_000_000);
        assert!((clock.time_of(480.0).unwrap() - 11_000_000.0).abs() < 1.0);
        assert!((clock.time_of(960.0).unwrap() - 21_000_000.0).abs() < 1.0);
    }

    #[test]
    fn read_time_stamps_mark_the_end_of_the_packet() {
        // Frames 0..2880 are captured from t = 0 over 60 ms; the packet is read at 60 ms.
        let mut clock = CaptureClock::new(StampMeaning::ReadTime, RATE, 2880);
        clock.observe(0, 2880, 60_000_000);
        assert!(clock.time_of(0.0).unwrap().abs() < 1.0);
        assert!((clock.time_of(2879.0).unwrap() - 2879.0 * NS).abs() < 1.0);
        // Taken as first-frame stamps, the same packet would look 60 ms younger.
        let mut naive = CaptureClock::new(StampMeaning::FirstFrame, RATE, 2880);
        naive.observe(0, 2880, 60_000_000);
        assert!((naive.time_of(0.0).unwrap() - 60_000_000.0).abs() < 1.0);
    }

    #[test]
    fn late_and_burst_reads_do_not_move_the_estimate() {
        // 10 ms packets read at 10 ms ticks, some of them late, some in bursts of three.
        let mut clock = CaptureClock::new(StampMeaning::ReadTime, RATE, 480);
        let mut state = 12345u32;
        let mut k = 0u64;
        while k < 600 {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let burst = if state.is_multiple_of(7) { 3 } else { 1 };
            // The last packet of the burst completes at (k + burst) * 10 ms; read up to 4 ms later.
            let read_ns = ((k + burst) as f64 * 10e6) + (state % 4_000_000) as f64;
            for j in 0..burst {
                clock.observe((k + j) * 480, 480, read_ns as u64);
            }
            k += burst;
            let error = clock.time_of((k * 480) as f64).unwrap() - (k * 480) as f64 * NS;
            assert!((0.0..=4e6).contains(&error), "packet {k}: {error} ns");
        }
        // With many packets some were read on time: the estimate is exact to well under a ms.
        let error = clock.time_of(0.0).unwrap();
        assert!(error.abs() < 200_000.0, "{error} ns");
    }

    #[test]
    fn the_minimum_follows_a_drifting_clock() {
        // The device runs 500 ppm slow against QPC: each packet's offset grows; a minimum
        // over all history would fall behind, the sliding one stays within two buckets.
        let mut clock = CaptureClock::new(StampMeaning::FirstFrame, RATE, 480);
        let true_ns_per_frame = NS * (1.0 + 500e-6);
        for k in 0..6000u64 {
            clock.observe(k * 480, 480, (k as f64 * 480.0 * true_ns_per_frame) as u64);
        }
        let index = 6000.0 * 480.0;
        let error = clock.time_of(index).unwrap() - index * true_ns_per_frame;
        // Two seconds of 500 ppm drift at most: 1 ms.
        assert!(error.abs() <= 1.0e6, "{error} ns");
    }

    #[test]
    fn reset_forgets_the_history() {
        let mut clock = CaptureClock::new(StampMeaning::FirstFrame, RATE, 480);
        clock.observe(0, 480, 0);
        clock.reset();
        assert_eq!(clock.time_of(0.0), None);
        clock.observe(0, 480, 5_000_000);
        assert!((clock.time_of(0.0).unwrap() - 5e6).abs() < 1.0);
    }
}
