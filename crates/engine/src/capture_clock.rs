//! When each captured frame was captured, from the capture packets' QPC stamps.
//!
//! The input latency (and the capture phase the FIFOs are held at) rests on this. A packet's
//! stamp is only an upper bound on when its frames were captured: a stamp taken late (the
//! reading thread woke late, or several packets were read in one burst) makes the frames
//! look younger than they are, never older. So the estimate is the *lower envelope* of the
//! stamps: capture time = offset + frame index / rate, where offset is the smallest
//! `stamp - reference index / rate` over the last [`WINDOW_PACKETS`] packets.
//!
//! The window is short on purpose. Measured under Wine: steady stamps agree within 0.3 ms,
//! but the device clock runs up to 400 ppm off QPC, and a stream's first packets can sit a
//! whole packet off the rest (a packet lost at start without a discontinuity flag). A long
//! minimum would carry such a start into the FIFO's priming and the input latency for
//! seconds; eight packets forget it within one render burst or two.
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

/// Packets the lower envelope is taken over.
pub const WINDOW_PACKETS: usize = 8;

/// The capture clock: frame index → QPC time (ns).
#[derive(Clone, Debug)]
pub struct CaptureClock {
    meaning: StampMeaning,
    ns_per_frame: f64,
    /// `stamp - reference index * ns_per_frame` of the last packets (a ring).
    offsets: [f64; WINDOW_PACKETS],
    /// Packets in the ring (up to its size), and where the next goes.
    filled: usize,
    next: usize,
}

impl CaptureClock {
    pub fn new(meaning: StampMeaning, sample_rate: f64) -> Self {
        Self {
            meaning,
            ns_per_frame: 1e9 / sample_rate,
            offsets: [0.0; WINDOW_PACKETS],
            filled: 0,
            next: 0,
        }
    }

    /// Takes a packet of `frames` frames whose first frame has index `first_frame`, stamped
    /// at `stamp_ns`.
    pub fn observe(&mut self, first_frame: u64, frames: usize, stamp_ns: u64) {
        let reference = match self.meaning {
            StampMeaning::FirstFrame => first_frame,
            StampMeaning::ReadTime => first_frame + frames as u64,
        };
        let offset = stamp_ns as f64 - reference as f64 * self.ns_per_frame;
        // A packet stamped most of a packet later than the estimate: frames went missing
        // unannounced (Wine overwrites the newest packet of a full ring without a flag), or
        // this read was late. Start the window again from here: after a loss this regime is
        // the right one at once; after a late read the next packets bring the minimum back.
        let step = 0.75 * frames as f64 * self.ns_per_frame;
        if self
            .estimate()
            .is_some_and(|estimate| offset > estimate + step)
        {
            self.reset();
        }
        self.offsets[self.next] = offset;
        self.next = (self.next + 1) % WINDOW_PACKETS;
        self.filled = (self.filled + 1).min(WINDOW_PACKETS);
    }

    /// Forgets the history (the frame count no longer matches the device's: it lost frames).
    pub fn reset(&mut self) {
        self.filled = 0;
        self.next = 0;
    }

    /// When frame `index` (fractional indices allowed) was captured, in QPC ns; `None` before
    /// the first packet.
    pub fn time_of(&self, index: f64) -> Option<f64> {
        Some(self.estimate()? + index * self.ns_per_frame)
    }

    /// The lower envelope of the window's offsets.
    fn estimate(&self) -> Option<f64> {
        let offset = self.offsets[..self.filled]
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min);
        offset.is_finite().then_some(offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: f64 = 48_000.0;
    const NS: f64 = 1e9 / RATE;

    #[test]
    fn first_frame_stamps_give_each_frames_time() {
        let mut clock = CaptureClock::new(StampMeaning::FirstFrame, RATE);
        assert_eq!(clock.time_of(0.0), None);
        clock.observe(0, 480, 1_000_000);
        clock.observe(480, 480, 1_000_000 + 10_000_000);
        assert!((clock.time_of(480.0).unwrap() - 11_000_000.0).abs() < 1.0);
        assert!((clock.time_of(960.0).unwrap() - 21_000_000.0).abs() < 1.0);
    }

    #[test]
    fn read_time_stamps_mark_the_end_of_the_packet() {
        // Frames 0..2880 are captured from t = 0 over 60 ms; the packet is read at 60 ms.
        let mut clock = CaptureClock::new(StampMeaning::ReadTime, RATE);
        clock.observe(0, 2880, 60_000_000);
        assert!(clock.time_of(0.0).unwrap().abs() < 1.0);
        assert!((clock.time_of(2879.0).unwrap() - 2879.0 * NS).abs() < 1.0);
        // Taken as first-frame stamps, the same packet would look 60 ms younger.
        let mut naive = CaptureClock::new(StampMeaning::FirstFrame, RATE);
        naive.observe(0, 2880, 60_000_000);
        assert!((naive.time_of(0.0).unwrap() - 60_000_000.0).abs() < 1.0);
    }

    #[test]
    fn late_and_burst_reads_do_not_move_the_estimate() {
        // 10 ms packets read at 10 ms ticks, some of them late, some in bursts of three.
        let mut clock = CaptureClock::new(StampMeaning::ReadTime, RATE);
        let mut state = 12345u32;
        let mut k = 0u64;
        let (mut sum, mut count) = (0.0, 0.0);
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
            sum += error;
            count += 1.0;
        }
        // The earliest of eight reads up to 4 ms late is about 0.44 ms late on average.
        assert!(sum / count < 1e6, "{} ns on average", sum / count);
    }

    #[test]
    fn the_minimum_follows_a_drifting_clock() {
        // The device runs 500 ppm slow against QPC: each packet's offset grows; a minimum
        // over all history would fall behind, the sliding one lags by its window only.
        let mut clock = CaptureClock::new(StampMeaning::FirstFrame, RATE);
        let true_ns_per_frame = NS * (1.0 + 500e-6);
        for k in 0..6000u64 {
            clock.observe(k * 480, 480, (k as f64 * 480.0 * true_ns_per_frame) as u64);
        }
        let index = 6000.0 * 480.0;
        let error = clock.time_of(index).unwrap() - index * true_ns_per_frame;
        // Eight 10 ms packets of 500 ppm drift at most: 40 µs.
        assert!(error.abs() <= 41_000.0, "{error} ns");
    }

    #[test]
    fn a_packet_lost_unannounced_moves_the_estimate_at_once() {
        // Wine, measured: the first two packets sit a whole packet off the rest (the third
        // was lost without a discontinuity flag, so the count runs 480 frames short).
        let mut clock = CaptureClock::new(StampMeaning::ReadTime, RATE);
        // Real packet r is read when complete, at (r + 1) * 10 ms; real packet 2 is lost.
        let stamp = |r: u64| (r + 1) * 10_000_000;
        clock.observe(0, 480, stamp(0));
        clock.observe(480, 480, stamp(1));
        // Received packet c >= 2 is real packet c + 1: frame index i was captured at
        // (i + 480) / rate, and the estimate says so from the first such packet on.
        for c in 2..(2 + 2 * WINDOW_PACKETS as u64) {
            clock.observe(c * 480, 480, stamp(c + 1));
            let index = (c * 480) as f64;
            let error = clock.time_of(index).unwrap() - (index + 480.0) * NS;
            assert!(error.abs() < 1.0, "packet {c}: {error} ns");
        }
    }

    #[test]
    fn reset_forgets_the_history() {
        let mut clock = CaptureClock::new(StampMeaning::FirstFrame, RATE);
        clock.observe(0, 480, 0);
        clock.reset();
        assert_eq!(clock.time_of(0.0), None);
        clock.observe(0, 480, 5_000_000);
        assert!((clock.time_of(0.0).unwrap() - 5e6).abs() < 1.0);
    }
}
