//! Whether two devices of unknown relation share a clock, from the capture FIFO's level.
//!
//! On one clock the level (frames queued plus the age of the newest captured frame) stays
//! where it settled; on two clocks it ramps at the drift rate. Devices also glitch: a lost or
//! inserted packet moves the level by a *step*, once, on one clock too. A step is not drift,
//! and resampling would only walk the latency back over seconds and give up bit-exactness
//! for the rest of the run, so the detector tells the two apart by shape: when the level
//! has moved past the threshold, it looks at the last seconds of the smoothed level; if one
//! second holds more than half of the move, it was a step, and the detector settles again
//! at the new level.
//!
//! Pure and real-time safe (fixed-size state).

/// Seconds of the smoothed level kept, one sample per second.
const HISTORY_S: usize = 8;

/// What one observation concluded.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Verdict {
    /// Nothing to do (settling, or within the threshold).
    Same,
    /// The level stepped by this many frames and the detector settled at the new level.
    Step(f64),
    /// The level ramps: two clocks.
    Drift,
}

#[derive(Clone, Debug)]
pub struct ClockDetector {
    /// Smoothing per observation (observation period / 1 s).
    alpha: f64,
    period_s: f64,
    reference_after_s: f64,
    threshold: f64,
    elapsed_s: f64,
    level_ema: Option<f64>,
    reference: Option<f64>,
    /// The smoothed level at each whole second, newest last (a ring).
    history: [f64; HISTORY_S],
    history_len: usize,
    history_next: usize,
    next_sample_s: f64,
    /// Largest distance of the smoothed level from its reference so far.
    pub wander: f64,
}

impl ClockDetector {
    /// `period_s`: time between observations (one buffer switch); `reference_after_s`: when
    /// the level it holds against is taken; `threshold`: frames the level may move.
    pub fn new(period_s: f64, reference_after_s: f64, threshold: f64) -> Self {
        Self {
            alpha: period_s.clamp(1e-6, 1.0),
            period_s,
            reference_after_s,
            threshold,
            elapsed_s: 0.0,
            level_ema: None,
            reference: None,
            history: [0.0; HISTORY_S],
            history_len: 0,
            history_next: 0,
            next_sample_s: 1.0,
            wander: 0.0,
        }
    }

    /// Seconds of stream observed.
    pub fn elapsed_s(&self) -> f64 {
        self.elapsed_s
    }

    /// Takes the level at one switch.
    pub fn observe(&mut self, level: f64) -> Verdict {
        self.elapsed_s += self.period_s;
        let ema = match self.level_ema {
            None => level,
            Some(ema) => ema + self.alpha * (level - ema),
        };
        self.level_ema = Some(ema);
        if self.elapsed_s >= self.next_sample_s {
            self.next_sample_s += 1.0;
            self.history[self.history_next] = ema;
            self.history_next = (self.history_next + 1) % HISTORY_S;
            self.history_len = (self.history_len + 1).min(HISTORY_S);
        }
        let Some(reference) = self.reference else {
            if self.elapsed_s >= self.reference_after_s {
                self.reference = Some(ema);
            }
            return Verdict::Same;
        };
        let moved = ema - reference;
        self.wander = self.wander.max(moved.abs());
        if moved.abs() <= self.threshold {
            return Verdict::Same;
        }
        if self.largest_second_move() > moved.abs() / 2.0 {
            self.reference = Some(ema);
            return Verdict::Step(moved);
        }
        Verdict::Drift
    }

    /// The largest move of the smoothed level between consecutive whole seconds, over the
    /// history and up to now.
    fn largest_second_move(&self) -> f64 {
        let oldest = (self.history_next + HISTORY_S - self.history_len) % HISTORY_S;
        let mut largest: f64 = 0.0;
        let mut previous: Option<f64> = None;
        for k in 0..self.history_len {
            let value = self.history[(oldest + k) % HISTORY_S];
            if let Some(p) = previous {
                largest = largest.max((value - p).abs());
            }
            previous = Some(value);
        }
        if let (Some(p), Some(now)) = (previous, self.level_ema) {
            largest = largest.max((now - p).abs());
        }
        largest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PERIOD_S: f64 = 256.0 / 48_000.0;
    const THRESHOLD: f64 = 304.0;

    /// Runs `seconds` of levels from `level(t)`; returns the first verdict other than Same.
    fn run(seconds: f64, level: impl Fn(f64) -> f64) -> (Option<(f64, Verdict)>, ClockDetector) {
        let mut detector = ClockDetector::new(PERIOD_S, 3.0, THRESHOLD);
        let mut first = None;
        while detector.elapsed_s() < seconds {
            let t = detector.elapsed_s();
            let verdict = detector.observe(level(t));
            if verdict != Verdict::Same && first.is_none() {
                first = Some((t, verdict));
            }
        }
        (first, detector)
    }

    #[test]
    fn one_clock_stays_the_same() {
        // 127 frames of wander, as measured under Wine.
        let (first, detector) = run(120.0, |t| 1824.0 + 127.0 * (t * 0.7).sin());
        assert_eq!(first, None);
        assert!(detector.wander < THRESHOLD);
    }

    #[test]
    fn drift_is_found_at_any_rate() {
        for ppm in [50.0, -50.0, 200.0, 2000.0, -2000.0] {
            let rate = ppm * 1e-6 * 48_000.0;
            let (first, _) = run(400.0, |t| 1824.0 + rate * (t - 3.0).max(0.0));
            let (at, verdict) = first.unwrap_or_else(|| panic!("{ppm} ppm not found"));
            assert_eq!(verdict, Verdict::Drift, "{ppm} ppm");
            // Found soon after the level crossed the threshold (plus the smoothing's lag).
            let crossing = 3.0 + THRESHOLD / rate.abs();
            assert!(
                at < crossing + 3.0,
                "{ppm} ppm found at {at:.1} s, crossed at {crossing:.1} s"
            );
        }
    }

    #[test]
    fn a_step_is_not_drift() {
        // Wine, measured: a glitch moves the level by hundreds of frames, once.
        for step in [350.0, -500.0, 1000.0] {
            let (first, detector) = run(60.0, |t| 1824.0 + if t > 20.0 { step } else { 0.0 });
            let (_, verdict) = first.unwrap_or_else(|| panic!("step {step} not seen"));
            assert!(matches!(verdict, Verdict::Step(moved) if moved.signum() == step.signum()));
            // Settled at the new level: nothing more after it.
            let mut detector = detector;
            for _ in 0..10_000 {
                assert_eq!(detector.observe(1824.0 + step), Verdict::Same);
            }
        }
    }

    #[test]
    fn drift_after_a_step_is_still_found() {
        let rate = 200e-6 * 48_000.0;
        let (first, mut detector) = run(15.0, |t| 1824.0 + if t > 10.0 { 600.0 } else { 0.0 });
        assert!(matches!(first, Some((_, Verdict::Step(_)))));
        let mut found = false;
        for k in 0..(120.0 / PERIOD_S) as usize {
            let t = k as f64 * PERIOD_S;
            if detector.observe(2424.0 + rate * t) == Verdict::Drift {
                found = true;
                break;
            }
        }
        assert!(found);
    }
}
