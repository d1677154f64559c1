//! Round-trip analysis of an impulse train (OS-independent): the impulses a duplex stream wrote
//! to its output, found again in what its input recorded.
//!
//! - Detection: per channel, samples above a threshold (half the channel's peak, and never
//!   below a tenth of the written amplitude, so a silent recording has no impulses) grouped
//!   when closer than `merge_frames`; an impulse is the group's largest sample (±1 frame is the
//!   resolution, no sub-sample fit).
//! - Alignment: the written polarities are pseudo-random, so the base delay is the one that
//!   lines up the most impulses with matching polarity; a delay longer than the interval is
//!   therefore not mistaken for the same delay minus whole intervals.
//! - Matching: each written impulse owns the window of ±interval/2 around its expected arrival;
//!   none there is a missing impulse, several a doubled one; detected impulses in no window are
//!   unexpected. The delay of each impulse is that of the nearest one in its window, so slow
//!   drift shows as a spread of delays.

use crate::analysis::Check;

/// An impulse the output wrote: its frame in the output stream and its polarity (±1).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WrittenImpulse {
    pub frame: u64,
    pub polarity: f64,
}

#[derive(Clone, Debug)]
pub struct ImpulseConfig {
    pub channels: usize,
    /// Amplitude of the written impulses.
    pub amplitude: f64,
    /// Frames between written impulses.
    pub interval_frames: u64,
    /// Exceedances closer than this form one impulse.
    pub merge_frames: usize,
}

/// An impulse found in the recording.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DetectedImpulse {
    pub frame: u64,
    pub value: f64,
}

/// What became of one written impulse.
#[derive(Clone, Debug, PartialEq)]
pub struct ImpulseMatch {
    pub written: WrittenImpulse,
    /// The nearest impulse in its window, if any.
    pub received: Option<DetectedImpulse>,
    /// Impulses found in its window (more than one: doubled).
    pub copies: usize,
}

impl ImpulseMatch {
    pub fn delay(&self) -> Option<i64> {
        self.received
            .map(|received| received.frame as i64 - self.written.frame as i64)
    }

    /// The received impulse has the written polarity.
    pub fn polarity_ok(&self) -> bool {
        self.received
            .is_some_and(|received| received.value.signum() == self.written.polarity.signum())
    }
}

/// The round trip of one input channel.
#[derive(Clone, Debug)]
pub struct ImpulseReport {
    pub channel: usize,
    pub threshold: f64,
    pub detected: usize,
    /// The delay that lines up the most impulses; `None` when nothing lined up.
    pub base_delay: Option<i64>,
    pub matches: Vec<ImpulseMatch>,
    /// Detected impulses outside every window.
    pub unexpected: Vec<DetectedImpulse>,
}

impl ImpulseReport {
    /// Per-impulse delays (frames), in written order.
    pub fn delays(&self) -> Vec<i64> {
        self.matches
            .iter()
            .filter_map(ImpulseMatch::delay)
            .collect()
    }

    pub fn missing(&self) -> Vec<u64> {
        self.matches
            .iter()
            .filter(|m| m.received.is_none())
            .map(|m| m.written.frame)
            .collect()
    }

    pub fn doubled(&self) -> Vec<u64> {
        self.matches
            .iter()
            .filter(|m| m.copies > 1)
            .map(|m| m.written.frame)
            .collect()
    }

    pub fn wrong_polarity(&self) -> Vec<u64> {
        self.matches
            .iter()
            .filter(|m| m.received.is_some() && !m.polarity_ok())
            .map(|m| m.written.frame)
            .collect()
    }

    pub fn min_delay(&self) -> Option<i64> {
        self.delays().into_iter().min()
    }

    pub fn max_delay(&self) -> Option<i64> {
        self.delays().into_iter().max()
    }

    pub fn median_delay(&self) -> Option<i64> {
        let mut delays = self.delays();
        delays.sort_unstable();
        delays.get(delays.len() / 2).copied()
    }

    /// Largest distance of a delay from the median.
    pub fn deviation(&self) -> Option<i64> {
        let median = self.median_delay()?;
        self.delays()
            .into_iter()
            .map(|delay| (delay - median).abs())
            .max()
    }

    /// Where the delay changed by more than `tolerance` frames from one received impulse to
    /// the next: (index of the written impulse, change in frames). A step up is time inserted
    /// in the loop (e.g. silence after an underrun), a step down is time lost.
    pub fn steps(&self, tolerance: i64) -> Vec<(usize, i64)> {
        let received: Vec<(usize, i64)> = self
            .matches
            .iter()
            .enumerate()
            .filter_map(|(index, m)| Some((index, m.delay()?)))
            .collect();
        received
            .windows(2)
            .filter_map(|pair| {
                let change = pair[1].1 - pair[0].1;
                (change.abs() > tolerance).then_some((pair[1].0, change))
            })
            .collect()
    }

    /// Delay of the last received impulse minus that of the first.
    pub fn drift(&self) -> Option<i64> {
        let delays = self.delays();
        Some(delays.last()? - delays.first()?)
    }
}

/// Finds impulses in one channel.
pub fn find_impulses(data: &[f64], threshold: f64, merge_frames: usize) -> Vec<DetectedImpulse> {
    let mut found: Vec<DetectedImpulse> = Vec::new();
    let mut last_loud: Option<usize> = None;
    for (frame, &value) in data.iter().enumerate() {
        if value.abs() < threshold {
            continue;
        }
        let joins = last_loud.is_some_and(|last| frame - last < merge_frames);
        last_loud = Some(frame);
        match found.last_mut() {
            Some(current) if joins => {
                if value.abs() > current.value.abs() {
                    *current = DetectedImpulse {
                        frame: frame as u64,
                        value,
                    };
                }
            }
            _ => found.push(DetectedImpulse {
                frame: frame as u64,
                value,
            }),
        }
    }
    found
}

/// The base delay: among the delays from a written to a detected impulse of the same polarity,
/// the one that lines up the most written impulses (±1 frame); ties go to the shortest.
fn base_delay(written: &[WrittenImpulse], detected: &[DetectedImpulse]) -> Option<i64> {
    let mut candidates: Vec<i64> = written
        .iter()
        .flat_map(|w| {
            detected
                .iter()
                .filter(move |d| d.value.signum() == w.polarity.signum() && d.frame >= w.frame)
                .map(move |d| d.frame as i64 - w.frame as i64)
        })
        .collect();
    candidates.sort_unstable();
    candidates.dedup();
    let frames: Vec<i64> = detected.iter().map(|d| d.frame as i64).collect();
    let lined_up = |delay: i64| {
        written
            .iter()
            .filter(|w| {
                let expected = w.frame as i64 + delay;
                let start = frames.partition_point(|&frame| frame < expected - 1);
                detected[start..]
                    .iter()
                    .take_while(|d| d.frame as i64 <= expected + 1)
                    .any(|d| d.value.signum() == w.polarity.signum())
            })
            .count()
    };
    let mut best: Option<(usize, i64)> = None;
    for delay in candidates {
        let score = lined_up(delay);
        if best.is_none_or(|(best_score, _)| score > best_score) {
            best = Some((score, delay));
        }
    }
    best.map(|(_, delay)| delay)
}

/// Analyses an interleaved recording against the impulses written; one report per channel.
pub fn analyse_impulses(
    samples: &[f32],
    written: &[WrittenImpulse],
    config: &ImpulseConfig,
) -> Result<Vec<ImpulseReport>, String> {
    let channels = config.channels;
    if channels == 0 {
        return Err("zero channels".to_string());
    }
    if written.is_empty() {
        return Err("no impulse was written".to_string());
    }
    if config.interval_frames < 2 {
        return Err("the impulse interval must be at least 2 frames".to_string());
    }
    let frames = samples.len() / channels;
    let half_window = (config.interval_frames / 2) as i64;
    let mut reports = Vec::new();
    for channel in 0..channels {
        let data: Vec<f64> = (0..frames)
            .map(|frame| samples[frame * channels + channel] as f64)
            .collect();
        let peak = data.iter().fold(0.0f64, |peak, x| peak.max(x.abs()));
        let threshold = (0.5 * peak).max(0.1 * config.amplitude.abs());
        let detected = find_impulses(&data, threshold, config.merge_frames);
        let base = base_delay(written, &detected);
        let mut owned = vec![false; detected.len()];
        let matches = written
            .iter()
            .map(|&w| {
                let Some(base) = base else {
                    return ImpulseMatch {
                        written: w,
                        received: None,
                        copies: 0,
                    };
                };
                let expected = w.frame as i64 + base;
                let mut copies = 0;
                let mut nearest: Option<(i64, usize)> = None;
                for (index, d) in detected.iter().enumerate() {
                    let offset = d.frame as i64 - expected;
                    if offset < -half_window || offset >= half_window {
                        continue;
                    }
                    copies += 1;
                    owned[index] = true;
                    if nearest.is_none_or(|(distance, _)| offset.abs() < distance) {
                        nearest = Some((offset.abs(), index));
                    }
                }
                ImpulseMatch {
                    written: w,
                    received: nearest.map(|(_, index)| detected[index]),
                    copies,
                }
            })
            .collect();
        let unexpected = detected
            .iter()
            .zip(&owned)
            .filter(|(_, owned)| !**owned)
            .map(|(d, _)| *d)
            .collect();
        reports.push(ImpulseReport {
            channel,
            threshold,
            detected: detected.len(),
            base_delay: base,
            matches,
            unexpected,
        });
    }
    Ok(reports)
}

/// What the round trip must show.
#[derive(Clone, Debug)]
pub struct ImpulseExpectation {
    /// Every delay within this many frames of the median.
    pub tolerance_frames: i64,
    /// A delay the host reported, and how far the measured one may be from it.
    pub reported_delay: Option<(f64, f64)>,
}

impl ImpulseExpectation {
    pub fn checks(&self, reports: &[ImpulseReport]) -> Vec<Check> {
        // Written frames of bad impulses, as glitch events (the bench runs at 48 kHz).
        let events = |frames: &[u64]| crate::verdict::events_at(frames, 48_000.0);
        let mut checks = Vec::new();
        for report in reports {
            let ch = report.channel;
            let written = report.matches.len();
            let missing = report.missing();
            checks.push(
                Check::new(
                    format!("impulses ch{ch}"),
                    missing.is_empty(),
                    format!(
                        "{} of {written} received ({} detected, threshold {:.3}, aligned at {})",
                        written - missing.len(),
                        report.detected,
                        report.threshold,
                        report
                            .base_delay
                            .map(|delay| format!("{delay} frames"))
                            .unwrap_or_else(|| "nothing".to_string())
                    ),
                    format!("all {written}"),
                )
                .downstream(events(&missing)),
            );
            // Lost, doubled and stray impulses and steps of the delay are events below the
            // driver unless the control says otherwise (crate::verdict); polarity and the
            // delay against the reported latency are the driver's own.
            checks.push(
                frame_list_check(format!("missing ch{ch}"), &missing, "written at")
                    .downstream(events(&missing)),
            );
            let doubled = report.doubled();
            checks.push(
                frame_list_check(format!("doubled ch{ch}"), &doubled, "written at")
                    .downstream(events(&doubled)),
            );
            let unexpected: Vec<u64> = report.unexpected.iter().map(|d| d.frame).collect();
            checks.push(
                frame_list_check(format!("unexpected ch{ch}"), &unexpected, "recorded at")
                    .downstream(events(&unexpected)),
            );
            // An inverting driver inverts every impulse; a few garbled by a gap below the
            // driver are glitches.
            let wrong = report.wrong_polarity();
            let received = written - missing.len();
            let polarity = frame_list_check(format!("polarity ch{ch}"), &wrong, "written at");
            checks.push(if wrong.len() * 2 > received {
                polarity
            } else {
                polarity.downstream(events(&wrong))
            });
            checks.push(
                Check::new(
                    format!("delay ch{ch}"),
                    report
                        .deviation()
                        .is_some_and(|deviation| deviation <= self.tolerance_frames),
                    describe_delays(report),
                    format!("constant ±{} frame(s)", self.tolerance_frames),
                )
                .downstream(events(
                    &report
                        .steps(self.tolerance_frames)
                        .iter()
                        .map(|&(index, _)| report.matches[index].written.frame)
                        .collect::<Vec<u64>>(),
                )),
            );
            if let Some((reported, tolerance)) = self.reported_delay {
                let median = report.median_delay();
                let steady = report
                    .deviation()
                    .is_some_and(|deviation| deviation <= self.tolerance_frames);
                let check = Check::new(
                    format!("delay vs reported ch{ch}"),
                    median.is_some_and(|median| (median as f64 - reported).abs() <= tolerance),
                    match (median, steady) {
                        (Some(median), true) => format!("{median} frames"),
                        (Some(median), false) => format!(
                            "{median} frames (median; the delay moved during the stream, so \
                             no single latency was true: not judged)"
                        ),
                        (None, _) => "no delay".to_string(),
                    },
                    format!("{reported:.0} ±{tolerance:.0} frames (reported latency)"),
                );
                // Only a steady round trip can be compared with one reported figure.
                checks.push(if steady { check } else { check.downstream(1) });
            }
        }
        let medians: Vec<Option<i64>> = reports.iter().map(ImpulseReport::median_delay).collect();
        checks.push(Check::new(
            "same delay on every channel",
            medians.windows(2).all(
                |pair| matches!(pair, [Some(a), Some(b)] if (a - b).abs() <= self.tolerance_frames),
            ) && medians.iter().all(Option::is_some),
            format!("{medians:?}"),
            format!("equal ±{}", self.tolerance_frames),
        ));
        checks
    }
}

/// "median M frames (min A, max B, drift D) over N impulses".
pub fn describe_delays(report: &ImpulseReport) -> String {
    match (
        report.median_delay(),
        report.min_delay(),
        report.max_delay(),
        report.drift(),
    ) {
        (Some(median), Some(min), Some(max), Some(drift)) => {
            let steps = report.steps(1);
            let shown: Vec<String> = steps
                .iter()
                .take(6)
                .map(|(index, change)| format!("{change:+} at #{index}"))
                .collect();
            let steps = match steps.len() {
                0 => String::new(),
                1..=6 => format!("; steps {}", shown.join(", ")),
                count => format!("; steps {}, … ({count} in all)", shown.join(", ")),
            };
            format!(
                "median {median} frames (min {min}, max {max}, spread {}, drift {drift:+}) over {} impulses{steps}",
                max - min,
                report.delays().len()
            )
        }
        _ => "no impulse received".to_string(),
    }
}

fn frame_list_check(name: String, frames: &[u64], what: &str) -> Check {
    let measured = if frames.is_empty() {
        "none".to_string()
    } else {
        let shown: Vec<String> = frames.iter().take(5).map(u64::to_string).collect();
        let more = if frames.len() > 5 { ", …" } else { "" };
        format!("{} ({what} frame {}{more})", frames.len(), shown.join(", "))
    };
    Check::new(name, frames.is_empty(), measured, "none")
}

/// Written impulses as the bench host writes them: every `interval` frames from `interval / 2`,
/// polarity from `polarity(k)`; for tests and synthetic signals.
#[cfg(test)]
fn train(count: u64, interval: u64, polarity: impl Fn(u64) -> f64) -> Vec<WrittenImpulse> {
    (0..count)
        .map(|k| WrittenImpulse {
            frame: k * interval + interval / 2,
            polarity: polarity(k),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const INTERVAL: u64 = 12_000;
    const CHANNELS: usize = 2;

    fn config() -> ImpulseConfig {
        ImpulseConfig {
            channels: CHANNELS,
            amplitude: 0.8,
            interval_frames: INTERVAL,
            merge_frames: 16,
        }
    }

    fn polarity(k: u64) -> f64 {
        // Any fixed, non-periodic-looking sequence will do for the tests.
        if (k * 7 + k / 3) % 5 < 2 {
            -1.0
        } else {
            1.0
        }
    }

    /// A recording of `frames` frames with low noise, and `0.8 * polarity` at each (frame, polarity).
    fn recording(frames: usize, impulses: &[(u64, f64)]) -> Vec<f32> {
        let mut samples: Vec<f32> = (0..frames * CHANNELS)
            .map(|n| 1e-4 * (((n * 7919) % 200) as f32 / 100.0 - 1.0))
            .collect();
        for &(frame, polarity) in impulses {
            for ch in 0..CHANNELS {
                samples[frame as usize * CHANNELS + ch] = (0.8 * polarity) as f32;
            }
        }
        samples
    }

    fn delayed(written: &[WrittenImpulse], delay: impl Fn(usize) -> i64) -> Vec<(u64, f64)> {
        written
            .iter()
            .enumerate()
            .map(|(k, w)| ((w.frame as i64 + delay(k)) as u64, w.polarity))
            .collect()
    }

    fn passes(checks: &[Check], name: &str) -> bool {
        checks
            .iter()
            .filter(|check| check.name.starts_with(name))
            .all(|check| check.passed)
    }

    fn expectation() -> ImpulseExpectation {
        ImpulseExpectation {
            tolerance_frames: 1,
            reported_delay: None,
        }
    }

    #[test]
    fn a_clean_round_trip_gives_one_constant_delay() {
        let written = train(20, INTERVAL, polarity);
        let samples = recording(21 * INTERVAL as usize, &delayed(&written, |_| 1234));
        let reports = analyse_impulses(&samples, &written, &config()).unwrap();
        assert_eq!(reports.len(), CHANNELS);
        for report in &reports {
            assert_eq!(report.base_delay, Some(1234));
            assert_eq!(report.delays(), vec![1234; 20]);
            assert_eq!(report.drift(), Some(0));
            assert!(report.missing().is_empty() && report.doubled().is_empty());
            assert!(report.unexpected.is_empty());
        }
        let checks = ImpulseExpectation {
            tolerance_frames: 1,
            reported_delay: Some((1233.0, 2.0)),
        }
        .checks(&reports);
        assert!(checks.iter().all(|check| check.passed), "{checks:?}");
    }

    #[test]
    fn a_delay_longer_than_the_interval_is_found_by_polarity() {
        let written = train(30, INTERVAL, polarity);
        let delay = INTERVAL as i64 + 321;
        let samples = recording(32 * INTERVAL as usize, &delayed(&written, |_| delay));
        let reports = analyse_impulses(&samples, &written, &config()).unwrap();
        assert_eq!(reports[0].base_delay, Some(delay));
        assert!(reports[0].missing().is_empty());
        assert!(reports[0].wrong_polarity().is_empty());
    }

    #[test]
    fn a_missing_impulse_is_reported() {
        let written = train(20, INTERVAL, polarity);
        let mut arrived = delayed(&written, |_| 500);
        arrived.remove(7);
        let samples = recording(21 * INTERVAL as usize, &arrived);
        let reports = analyse_impulses(&samples, &written, &config()).unwrap();
        assert_eq!(reports[0].missing(), vec![written[7].frame]);
        assert_eq!(reports[0].delays().len(), 19);
        let checks = expectation().checks(&reports);
        assert!(!passes(&checks, "missing"));
        assert!(!passes(&checks, "impulses"));
        assert!(passes(&checks, "doubled") && passes(&checks, "delay ch"));
    }

    #[test]
    fn a_doubled_impulse_is_reported() {
        let written = train(20, INTERVAL, polarity);
        let mut arrived = delayed(&written, |_| 500);
        // The same impulse again one buffer later, as a repeated buffer would give.
        arrived.push((arrived[4].0 + 256, arrived[4].1));
        let samples = recording(21 * INTERVAL as usize, &arrived);
        let reports = analyse_impulses(&samples, &written, &config()).unwrap();
        assert_eq!(reports[0].doubled(), vec![written[4].frame]);
        assert!(reports[0].missing().is_empty());
        // The delay is that of the nearest copy.
        assert_eq!(reports[0].delays(), vec![500; 20]);
        assert!(!passes(&expectation().checks(&reports), "doubled"));
    }

    #[test]
    fn a_jitter_of_two_frames_breaks_the_one_frame_tolerance() {
        let written = train(20, INTERVAL, polarity);
        let samples = recording(
            21 * INTERVAL as usize,
            &delayed(&written, |k| if k == 11 { 502 } else { 500 }),
        );
        let reports = analyse_impulses(&samples, &written, &config()).unwrap();
        assert_eq!(reports[0].median_delay(), Some(500));
        assert_eq!(reports[0].deviation(), Some(2));
        assert_eq!(
            (reports[0].min_delay(), reports[0].max_delay()),
            (Some(500), Some(502))
        );
        let checks = expectation().checks(&reports);
        assert!(!passes(&checks, "delay ch"));
        assert!(passes(&checks, "missing") && passes(&checks, "doubled"));
        // One frame of jitter is within the tolerance.
        let samples = recording(
            21 * INTERVAL as usize,
            &delayed(&written, |k| if k % 2 == 0 { 501 } else { 500 }),
        );
        let reports = analyse_impulses(&samples, &written, &config()).unwrap();
        assert!(expectation().checks(&reports).iter().all(|c| c.passed));
    }

    #[test]
    fn a_drifting_delay_is_measured_impulse_by_impulse() {
        let written = train(20, INTERVAL, polarity);
        // The input clock runs slow: 3 frames more delay per impulse.
        let samples = recording(
            21 * INTERVAL as usize,
            &delayed(&written, |k| 800 + 3 * k as i64),
        );
        let reports = analyse_impulses(&samples, &written, &config()).unwrap();
        let delays = reports[0].delays();
        assert_eq!(delays.len(), 20);
        assert_eq!(delays, (0..20).map(|k| 800 + 3 * k).collect::<Vec<i64>>());
        assert_eq!(reports[0].drift(), Some(57));
        assert_eq!(reports[0].steps(1).len(), 19);
        assert_eq!(reports[0].steps(3), vec![]);
        assert!(reports[0].missing().is_empty() && reports[0].doubled().is_empty());
        assert!(!passes(&expectation().checks(&reports), "delay ch"));
    }

    #[test]
    fn steps_of_the_delay_are_located() {
        let written = train(20, INTERVAL, polarity);
        // 1000 frames of silence inserted before impulse 9, 160 lost before impulse 15.
        let delay = |k: usize| match k {
            0..=8 => 1600,
            9..=14 => 2600,
            _ => 2440,
        };
        let samples = recording(21 * INTERVAL as usize, &delayed(&written, delay));
        let reports = analyse_impulses(&samples, &written, &config()).unwrap();
        assert_eq!(reports[0].steps(1), vec![(9, 1000), (15, -160)]);
        let text = describe_delays(&reports[0]);
        assert!(text.contains("steps +1000 at #9, -160 at #15"), "{text}");
        assert!(reports[0].missing().is_empty());
    }

    #[test]
    fn a_smeared_impulse_counts_once_at_its_peak() {
        let written = train(3, INTERVAL, |_| 1.0);
        let mut samples = recording(4 * INTERVAL as usize, &delayed(&written, |_| 100));
        let at = (written[1].frame + 100) as usize;
        for (offset, value) in [(-2isize, 0.5f32), (-1, 0.7), (1, 0.6), (3, 0.45)] {
            samples[(at as isize + offset) as usize * CHANNELS] = value;
        }
        let reports = analyse_impulses(&samples, &written, &config()).unwrap();
        assert_eq!(reports[0].detected, 3);
        assert_eq!(reports[0].delays(), vec![100, 100, 100]);
    }

    #[test]
    fn silence_has_no_impulse_and_fails_every_delay_check() {
        let written = train(10, INTERVAL, polarity);
        let samples = recording(11 * INTERVAL as usize, &[]);
        let reports = analyse_impulses(&samples, &written, &config()).unwrap();
        assert_eq!(reports[0].detected, 0);
        assert_eq!(reports[0].base_delay, None);
        assert_eq!(reports[0].missing().len(), 10);
        let checks = expectation().checks(&reports);
        assert!(!passes(&checks, "delay ch"));
        assert!(!passes(&checks, "same delay"));
    }

    #[test]
    fn a_stray_click_is_unexpected() {
        let written = train(10, INTERVAL, polarity);
        let mut arrived = delayed(&written, |_| 40);
        // Right between two windows' centres but inside one: counts as doubled; put one before
        // the first window instead, where no written impulse can explain it.
        arrived.push((3, 1.0));
        let samples = recording(11 * INTERVAL as usize, &arrived);
        let reports = analyse_impulses(&samples, &written, &config()).unwrap();
        assert_eq!(reports[0].unexpected.len(), 1);
        assert!(!passes(&expectation().checks(&reports), "unexpected"));
    }

    #[test]
    fn bad_input_is_an_error() {
        let written = train(2, INTERVAL, polarity);
        assert!(analyse_impulses(&[0.0; 8], &[], &config()).is_err());
        let zero = ImpulseConfig {
            channels: 0,
            ..config()
        };
        assert!(analyse_impulses(&[0.0; 8], &written, &zero).is_err());
    }
}
