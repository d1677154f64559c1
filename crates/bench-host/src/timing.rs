//! Per-callback timing, the `"timing"` object of the play and duplex reports.
//!
//! The stream callback records its wall-clock time and PortAudio's `outputBufferDacTime` into
//! storage allocated (and touched) before the stream starts; after the stream is closed,
//! [`summarise`] turns them into the interval jitter and the deviation of the time stamps from
//! the sample clock. The main thread times the stream's phases (open, start, first callback,
//! stop, close). Everything here is OS-independent and tested natively.

use json_lite::JsonObject;
use std::time::Instant;

/// One callback.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Stamp {
    /// When the callback ran, nanoseconds since [`Stamps::base`].
    pub wall_ns: u64,
    /// Frames of the stream before this callback (the index of its first frame).
    pub frame: u64,
    /// PortAudio's `outputBufferDacTime` in seconds (NaN without time info; 0 when the host
    /// API gives none).
    pub dac_time: f64,
}

/// At most this many callbacks are timed (24 MiB); later ones are not recorded.
pub const MAX_STAMPS: usize = 1 << 20;

/// Storage the callback fills; it never grows or allocates.
pub struct Stamps {
    base: Instant,
    stamps: Vec<Stamp>,
    len: usize,
}

impl Stamps {
    /// Room for `expected_callbacks` plus a quarter and 256 (up to [`MAX_STAMPS`]). Every entry
    /// is written here, so the memory is resident before the stream starts: a long run's
    /// resident size then stays flat.
    pub fn new(expected_callbacks: u64) -> Stamps {
        let capacity = expected_callbacks
            .saturating_add(expected_callbacks / 4 + 256)
            .min(MAX_STAMPS as u64) as usize;
        let mut stamps = Vec::with_capacity(capacity);
        stamps.resize(capacity, Stamp::default());
        Stamps {
            base: Instant::now(),
            stamps,
            len: 0,
        }
    }

    /// The instant `wall_ns` counts from.
    pub fn base(&self) -> Instant {
        self.base
    }

    /// Records one callback (real-time safe: no allocation, no lock).
    #[inline]
    pub fn record(&mut self, frame: u64, dac_time: f64) {
        if let Some(slot) = self.stamps.get_mut(self.len) {
            *slot = Stamp {
                wall_ns: self.base.elapsed().as_nanos() as u64,
                frame,
                dac_time,
            };
            self.len += 1;
        }
    }

    pub fn recorded(&self) -> &[Stamp] {
        &self.stamps[..self.len]
    }
}

/// Durations of the stream's phases, in ms (NaN when the phase did not happen).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Phases {
    /// `Pa_OpenStream`.
    pub open_ms: f64,
    /// `Pa_StartStream` until it returned.
    pub start_ms: f64,
    /// From the `Pa_StartStream` call to the first callback.
    pub first_callback_ms: f64,
    /// `Pa_StopStream`.
    pub stop_ms: f64,
    /// `Pa_CloseStream`.
    pub close_ms: f64,
}

impl Default for Phases {
    fn default() -> Phases {
        Phases {
            open_ms: f64::NAN,
            start_ms: f64::NAN,
            first_callback_ms: f64::NAN,
            stop_ms: f64::NAN,
            close_ms: f64::NAN,
        }
    }
}

/// Milliseconds `f` took, and its result.
pub fn timed<T>(f: impl FnOnce() -> T) -> (f64, T) {
    let started = Instant::now();
    let result = f();
    (started.elapsed().as_secs_f64() * 1e3, result)
}

/// What the callbacks' times say.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// Callbacks after the start-up fill, the ones the figures below cover.
    pub callbacks_timed: usize,
    pub interval_mean_ms: f64,
    /// Population standard deviation of the intervals.
    pub interval_stdev_ms: f64,
    pub interval_max_ms: f64,
    /// Largest |residual| of the DAC times from their least-squares line against the frame
    /// index, in frames.
    pub stamp_residual_max_frames: f64,
    pub stamp_residual_rms_frames: f64,
    /// Consecutive DAC-time deltas that differ from (frames between them) / rate by more than
    /// a quarter block.
    pub stamp_steps: usize,
}

/// Callbacks whose first frame is below `settle_frames` (the start-up fill of the device
/// buffer, where drivers and PortAudio call back-to-back) are left out.
pub fn summarise(stamps: &[Stamp], rate: f64, block_frames: u64, settle_frames: u64) -> Summary {
    let settled: Vec<Stamp> = stamps
        .iter()
        .copied()
        .filter(|stamp| stamp.frame >= settle_frames)
        .collect();
    let intervals: Vec<f64> = settled
        .windows(2)
        .map(|pair| pair[1].wall_ns.saturating_sub(pair[0].wall_ns) as f64 / 1e6)
        .collect();
    let (interval_mean_ms, interval_stdev_ms, interval_max_ms) = mean_stdev_max(&intervals);
    // Host APIs without time stamps give 0.
    let valid: Vec<(f64, f64)> = settled
        .iter()
        .filter(|stamp| stamp.dac_time.is_finite() && stamp.dac_time != 0.0)
        .map(|stamp| (stamp.frame as f64, stamp.dac_time))
        .collect();
    let (max, rms) = line_fit_residuals(&valid);
    let quarter_block = 0.25 * block_frames as f64 / rate;
    let stamp_steps = valid
        .windows(2)
        .filter(|pair| {
            let expected = (pair[1].0 - pair[0].0) / rate;
            ((pair[1].1 - pair[0].1) - expected).abs() > quarter_block
        })
        .count();
    Summary {
        callbacks_timed: settled.len(),
        interval_mean_ms,
        interval_stdev_ms,
        interval_max_ms,
        stamp_residual_max_frames: max * rate,
        stamp_residual_rms_frames: rms * rate,
        stamp_steps,
    }
}

/// Mean, population standard deviation and maximum (NaN for no values).
pub fn mean_stdev_max(values: &[f64]) -> (f64, f64, f64) {
    if values.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (mean, variance.sqrt(), max)
}

/// Least-squares line `y = a + b x` through `points`; returns the largest |residual| and the
/// RMS residual, in y's unit (NaN for fewer than 3 points).
pub fn line_fit_residuals(points: &[(f64, f64)]) -> (f64, f64) {
    if points.len() < 3 {
        return (f64::NAN, f64::NAN);
    }
    // Relative to the first point: DAC times are large numbers of seconds.
    let (x0, y0) = points[0];
    let n = points.len() as f64;
    let (mut sx, mut sy, mut sxx, mut sxy) = (0.0, 0.0, 0.0, 0.0);
    for &(x, y) in points {
        let (x, y) = (x - x0, y - y0);
        sx += x;
        sy += y;
        sxx += x * x;
        sxy += x * y;
    }
    let denominator = n * sxx - sx * sx;
    let slope = if denominator.abs() > 0.0 {
        (n * sxy - sx * sy) / denominator
    } else {
        0.0
    };
    let intercept = (sy - slope * sx) / n;
    let (mut max, mut squares) = (0.0f64, 0.0);
    for &(x, y) in points {
        let residual = (y - y0) - (intercept + slope * (x - x0));
        max = max.max(residual.abs());
        squares += residual * residual;
    }
    (max, (squares / n).sqrt())
}

/// The report's `"timing"` object. Field names are relied upon by xtask and tests.
pub fn to_json(
    summary: &Summary,
    phases: &Phases,
    recorded: usize,
    settle_frames: u64,
) -> JsonObject {
    JsonObject::new()
        .int("callbacks_timed", summary.callbacks_timed as i64)
        .num("interval_mean_ms", summary.interval_mean_ms)
        .num("interval_stdev_ms", summary.interval_stdev_ms)
        .num("interval_max_ms", summary.interval_max_ms)
        .num(
            "stamp_residual_max_frames",
            summary.stamp_residual_max_frames,
        )
        .num(
            "stamp_residual_rms_frames",
            summary.stamp_residual_rms_frames,
        )
        .int("stamp_steps", summary.stamp_steps as i64)
        .num("open_ms", phases.open_ms)
        .num("start_ms", phases.start_ms)
        .num("first_callback_ms", phases.first_callback_ms)
        .num("stop_ms", phases.stop_ms)
        .num("close_ms", phases.close_ms)
        .int("callbacks_recorded", recorded as i64)
        .int("settle_frames", settle_frames as i64)
}

/// How long a stream of `seconds` may take before the watchdog ends the host: 20 s, plus 10 %
/// of its length, since a device clock that stalls under load (Wine's winepulse) delivers the
/// stream's frames later than the wall clock (measured: 3 % late over 30 minutes).
pub fn watchdog_limit(seconds: f64) -> std::time::Duration {
    std::time::Duration::from_secs_f64(seconds * 1.1 + 20.0)
}

/// The start-up fill left out of the figures: the first second of the stream.
pub fn settle_frames(rate: f64) -> u64 {
    rate.round() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(index: u64, wall_ms: f64, dac: f64) -> Stamp {
        Stamp {
            wall_ns: (wall_ms * 1e6) as u64,
            frame: index * 256,
            dac_time: dac,
        }
    }

    #[test]
    fn a_line_has_no_residual_and_a_kink_shows() {
        let line: Vec<(f64, f64)> = (0..10)
            .map(|i| (i as f64, 1000.0 + 0.5 * i as f64))
            .collect();
        let (max, rms) = line_fit_residuals(&line);
        assert!(max < 1e-9 && rms < 1e-9, "{max} {rms}");
        // One point off by 1: the fit spreads it, the largest residual stays below 1.
        let mut bumped = line.clone();
        bumped[5].1 += 1.0;
        let (max, rms) = line_fit_residuals(&bumped);
        assert!(max > 0.85 && max < 1.0, "{max}");
        assert!(
            (rms - (0.9f64.powi(2) / 10.0 + 9.0 * 0.01 / 10.0).sqrt()).abs() < 0.02,
            "{rms}"
        );
        assert!(line_fit_residuals(&line[..2]).0.is_nan());
    }

    #[test]
    fn jitter_statistics() {
        let (mean, stdev, max) = mean_stdev_max(&[4.0, 6.0, 4.0, 6.0]);
        assert_eq!((mean, stdev, max), (5.0, 1.0, 6.0));
        assert!(mean_stdev_max(&[]).0.is_nan());
    }

    #[test]
    fn summary_of_a_steady_stream_with_one_late_stamp() {
        let rate = 48_000.0;
        let block = 256.0 / rate;
        let mut stamps: Vec<Stamp> = (0..200)
            .map(|i| stamp(i, i as f64 * block * 1e3, 10.0 + i as f64 * block))
            .collect();
        // Callback 100 runs 2 ms late and its DAC time says so (one step in, one step out).
        stamps[100].wall_ns += 2_000_000;
        stamps[100].dac_time += 0.002;
        let summary = summarise(&stamps, rate, 256, 0);
        assert_eq!(summary.callbacks_timed, 200);
        assert!((summary.interval_mean_ms - block * 1e3).abs() < 1e-3);
        assert!((summary.interval_max_ms - (block * 1e3 + 2.0)).abs() < 1e-3);
        assert!(summary.interval_stdev_ms > 0.1);
        assert_eq!(summary.stamp_steps, 2);
        assert!((summary.stamp_residual_max_frames - 96.0).abs() < 1.0);
        // Leaving out the start-up fill.
        let settled = summarise(&stamps, rate, 256, 150 * 256);
        assert_eq!(settled.callbacks_timed, 50);
        assert_eq!(settled.stamp_steps, 0);
        assert!(settled.stamp_residual_max_frames < 1e-3);
    }

    #[test]
    fn clock_drift_is_not_a_deviation() {
        // DAC times on a clock 100 ppm fast: a straight line, no residual, no step.
        let rate = 48_000.0;
        let stamps: Vec<Stamp> = (0..1000)
            .map(|i| stamp(i, 0.0, 5.0 + i as f64 * 256.0 / rate * 1.0001))
            .collect();
        let summary = summarise(&stamps, rate, 256, 0);
        assert!(summary.stamp_residual_max_frames < 1e-3);
        assert_eq!(summary.stamp_steps, 0);
    }

    #[test]
    fn missing_time_stamps_give_no_figures() {
        let stamps: Vec<Stamp> = (0..10).map(|i| stamp(i, i as f64, 0.0)).collect();
        let summary = summarise(&stamps, 48_000.0, 256, 0);
        assert!(summary.stamp_residual_max_frames.is_nan());
        assert_eq!(summary.stamp_steps, 0);
        let json = to_json(&summary, &Phases::default(), 10, 0).finish();
        assert!(
            json.contains("\"stamp_residual_rms_frames\":null"),
            "{json}"
        );
        assert!(json.contains("\"stamp_steps\":0"), "{json}");
    }

    #[test]
    fn long_streams_get_a_proportional_watchdog() {
        assert_eq!(watchdog_limit(5.0).as_secs_f64(), 25.5);
        assert_eq!(watchdog_limit(1800.0).as_secs(), 2000);
    }

    #[test]
    fn storage_never_grows() {
        let mut stamps = Stamps::new(0);
        for i in 0..300 {
            stamps.record(i, 1.0);
        }
        assert_eq!(stamps.recorded().len(), 256);
        assert!(stamps.recorded()[1].wall_ns >= stamps.recorded()[0].wall_ns);
    }
}
