//! Analysis of a recorded test tone (OS-independent).
//!
//! Input: interleaved float32 frames, as `parec` records the bench's null-sink monitor.
//! The tone region is found by level; inside it:
//! - the frequency is fitted by least squares over the whole region (a recurrence estimate
//!   refined by a 4-parameter sine fit, Gauss–Newton);
//! - level: RMS, peak and fitted amplitude per channel;
//! - glitches: the sine recurrence residual `x[n] - 2cos(w)x[n-1] + x[n-2]`, which is zero for
//!   a pure sine, is compared against a fraction of the amplitude;
//! - dropouts: runs of near-silent samples a sine cannot produce;
//! - phase jumps: the phase of short windows against the global fit (catches jumps the
//!   residual misses, e.g. at a sine peak, where the jump is only in the slope).

use std::f64::consts::PI;

/// Tunables of the analysis. `Default` suits the bench (48 kHz, tones around 1 kHz).
#[derive(Clone, Debug)]
pub struct AnalysisConfig {
    pub sample_rate: f64,
    pub channels: usize,
    /// Samples above this fraction of the recording's peak belong to the tone.
    pub region_threshold: f64,
    /// A recurrence residual above this fraction of the amplitude is a glitch.
    pub glitch_threshold: f64,
    /// Frames at each end of the region excluded from glitch/phase checks (onset and release).
    pub edge_margin: usize,
    /// Residual exceedances closer than this many frames form one glitch event.
    pub cluster_frames: usize,
    /// Window length for the phase track, in frames.
    pub phase_window: usize,
    /// A phase change (radians) across two windows above this is a phase jump.
    pub phase_jump_threshold: f64,
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        AnalysisConfig {
            sample_rate: 48_000.0,
            channels: 2,
            region_threshold: 0.02,
            glitch_threshold: 0.01,
            // Stream start/stop through Wine's WASAPI ramps the first few samples: onsets are
            // not dropouts. Gross loss at the edges still shows in the duration.
            edge_margin: 480,
            cluster_frames: 64,
            phase_window: 480,
            phase_jump_threshold: 0.02,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ChannelLevel {
    pub rms: f64,
    /// Median RMS of windows of ten whole periods: the level where the tone plays, which a
    /// gap inserted below the driver does not pull down (the level check uses it).
    pub window_rms: f64,
    pub peak: f64,
    /// Amplitude of the fitted sine.
    pub amplitude: f64,
}

/// A discontinuity found by the recurrence residual.
#[derive(Clone, Debug, PartialEq)]
pub struct Glitch {
    pub channel: usize,
    /// Frame index in the recording.
    pub frame: usize,
    /// Largest residual of the event, relative to the channel's amplitude.
    pub residual: f64,
}

/// A run of frames a sine cannot produce (near-silent for too long).
#[derive(Clone, Debug, PartialEq)]
pub struct Dropout {
    pub channel: usize,
    pub frame: usize,
    pub frames: usize,
}

/// A step in the phase track.
#[derive(Clone, Debug, PartialEq)]
pub struct PhaseJump {
    pub channel: usize,
    /// Frame index (start of the window where the jump was seen).
    pub frame: usize,
    /// Phase change in radians, wrapped to (-pi, pi].
    pub radians: f64,
}

#[derive(Clone, Debug)]
pub struct ToneReport {
    pub sample_rate: f64,
    /// First frame of the tone in the recording.
    pub start_frame: usize,
    /// One past the last frame of the tone.
    pub end_frame: usize,
    pub frequency_hz: f64,
    /// From the median interval between zero crossings: what the tone is where it plays,
    /// which a phase jump inserted below the driver does not bias (the frequency check).
    pub median_frequency_hz: f64,
    pub channels: Vec<ChannelLevel>,
    pub glitches: Vec<Glitch>,
    pub dropouts: Vec<Dropout>,
    pub phase_jumps: Vec<PhaseJump>,
    /// RMS of the fit residual relative to the amplitude (a distortion/noise figure).
    pub residual_rms_relative: f64,
}

impl ToneReport {
    pub fn duration_frames(&self) -> usize {
        self.end_frame - self.start_frame
    }

    pub fn duration_seconds(&self) -> f64 {
        self.duration_frames() as f64 / self.sample_rate
    }

    /// Level of a channel in dB relative to `amplitude` (the peak of the sine that was played).
    pub fn level_db(&self, channel: usize, amplitude: f64) -> f64 {
        20.0 * (self.channels[channel].window_rms * 2f64.sqrt() / amplitude).log10()
    }

    /// Glitch events: the glitches, dropouts and phase jumps of every channel, merged as
    /// [`crate::verdict::events_at`] does (one gap shows as all three, on each channel).
    pub fn discontinuity_events(&self) -> usize {
        let frames: Vec<u64> = self
            .glitches
            .iter()
            .map(|g| g.frame as u64)
            .chain(self.dropouts.iter().map(|d| d.frame as u64))
            .chain(self.phase_jumps.iter().map(|p| p.frame as u64))
            .collect();
        crate::verdict::events_at(&frames, self.sample_rate) as usize
    }

    /// Number of distinct problems (glitches, dropouts, phase jumps).
    pub fn problem_count(&self) -> usize {
        self.glitches.len() + self.dropouts.len() + self.phase_jumps.len()
    }
}

/// One row of a PASS/FAIL table.
#[derive(Clone, Debug)]
pub struct Check {
    pub name: String,
    pub passed: bool,
    pub measured: String,
    pub expected: String,
    /// `Some(events)` for a check of what happened below the driver (winepulse →
    /// PulseAudio → the recording), with the glitch events it found; `None` for a hard check
    /// of what Wasio itself did. See [`crate::verdict`].
    pub downstream_events: Option<u64>,
    /// A hard check that a stall of the driver's thread by the system explains: when the
    /// driver's log shows underruns after late wake-ups, its failure is a glitch instead.
    pub excused_by_late_wakes: bool,
}

impl Check {
    pub fn new(
        name: impl Into<String>,
        passed: bool,
        measured: impl Into<String>,
        expected: impl Into<String>,
    ) -> Check {
        Check {
            name: name.into(),
            passed,
            measured: measured.into(),
            expected: expected.into(),
            downstream_events: None,
            excused_by_late_wakes: false,
        }
    }

    /// See [`Check::excused_by_late_wakes`] (e.g. bytes through the paced ALSA bench: a
    /// thread the scheduler woke too late lets the device play silence).
    pub fn unless_late_wake(mut self) -> Check {
        self.excused_by_late_wakes = true;
        self
    }

    /// Marks a check of the path below the driver; `events` are the glitch events it found
    /// (a failed check counts at least one).
    pub fn downstream(mut self, events: u64) -> Check {
        self.downstream_events = Some(if self.passed { events } else { events.max(1) });
        self
    }

    pub fn is_downstream(&self) -> bool {
        self.downstream_events.is_some()
    }
}

/// What the played tone should look like once recorded.
#[derive(Clone, Debug)]
pub struct ToneExpectation {
    pub frequency_hz: f64,
    pub frequency_tolerance_hz: f64,
    pub amplitude: f64,
    pub level_tolerance_db: f64,
    pub duration_frames: usize,
    pub duration_tolerance_frames: usize,
}

impl ToneExpectation {
    /// Compares a report with the expectation, one check per figure.
    pub fn checks(&self, report: &ToneReport) -> Vec<Check> {
        let mut checks = Vec::new();
        // Frequency and level where the tone plays (median estimates): what the driver played,
        // whatever gaps were inserted below it.
        let frequency_error = report.median_frequency_hz - self.frequency_hz;
        checks.push(Check::new(
            "frequency",
            frequency_error.abs() <= self.frequency_tolerance_hz,
            format!(
                "{:.4} Hz (median crossing interval; fit over the whole tone {:.4} Hz)",
                report.median_frequency_hz, report.frequency_hz
            ),
            format!("{} ±{} Hz", self.frequency_hz, self.frequency_tolerance_hz),
        ));
        for channel in 0..report.channels.len() {
            let level = report.level_db(channel, self.amplitude);
            checks.push(Check::new(
                format!("level ch{channel}"),
                level.abs() <= self.level_tolerance_db,
                format!(
                    "{level:+.3} dB (median window rms {:.4}, whole-tone rms {:.4}, peak {:.4})",
                    report.channels[channel].window_rms,
                    report.channels[channel].rms,
                    report.channels[channel].peak
                ),
                format!(
                    "0 ±{} dB re amplitude {}",
                    self.level_tolerance_db, self.amplitude
                ),
            ));
        }
        let duration = report.duration_frames();
        checks.push(
            Check::new(
                "duration",
                duration.abs_diff(self.duration_frames) <= self.duration_tolerance_frames,
                format!("{duration} frames ({:.4} s)", report.duration_seconds()),
                format!(
                    "{} ±{} frames",
                    self.duration_frames, self.duration_tolerance_frames
                ),
            )
            .downstream(1),
        );
        // Gaps and discontinuities in a recording happen below the driver as well: they
        // are glitch events judged against the control (crate::verdict). Frequency and
        // level are what the driver played.
        let events = report.discontinuity_events() as u64;
        checks.push(
            none_of("dropouts", &report.dropouts, |d| {
                format!("ch{} @{} ({} frames)", d.channel, d.frame, d.frames)
            })
            .downstream(events),
        );
        checks.push(
            none_of("glitches", &report.glitches, |g| {
                format!("ch{} @{} (residual {:.3})", g.channel, g.frame, g.residual)
            })
            .downstream(events),
        );
        checks.push(
            none_of("phase jumps", &report.phase_jumps, |p| {
                format!("ch{} @{} ({:+.3} rad)", p.channel, p.frame, p.radians)
            })
            .downstream(events),
        );
        checks
    }
}

/// A check that `items` is empty; the measured text lists the first few otherwise.
fn none_of<T>(name: &str, items: &[T], describe: impl Fn(&T) -> String) -> Check {
    Check::new(
        name,
        items.is_empty(),
        describe_list(items, describe),
        "none",
    )
}

fn describe_list<T>(items: &[T], describe: impl Fn(&T) -> String) -> String {
    if items.is_empty() {
        return "none".to_string();
    }
    let shown: Vec<String> = items.iter().take(4).map(describe).collect();
    let more = if items.len() > 4 {
        format!(" … ({} in all)", items.len())
    } else {
        String::new()
    };
    format!("{}{more}", shown.join(", "))
}

/// Analyses an interleaved recording. Fails when there is no tone to analyse.
pub fn analyse(samples: &[f32], config: &AnalysisConfig) -> Result<ToneReport, String> {
    let channels = config.channels;
    if channels == 0 {
        return Err("zero channels".to_string());
    }
    let frames = samples.len() / channels;
    let channel_data: Vec<Vec<f64>> = (0..channels)
        .map(|ch| {
            (0..frames)
                .map(|frame| samples[frame * channels + ch] as f64)
                .collect()
        })
        .collect();

    let global_peak = channel_data
        .iter()
        .flat_map(|data| data.iter())
        .fold(0.0f64, |peak, x| peak.max(x.abs()));
    if global_peak < 1e-4 {
        return Err(format!(
            "no tone in the recording ({frames} frames, peak {global_peak:.2e})"
        ));
    }
    let threshold = config.region_threshold * global_peak;
    let loud = |frame: usize| {
        channel_data
            .iter()
            .any(|data| data[frame].abs() > threshold)
    };
    let first_loud = (0..frames).find(|&f| loud(f)).expect("peak exists");
    let last_loud = (0..frames).rev().find(|&f| loud(f)).expect("peak exists");
    // A sine played from phase 0 starts with an exact zero just before the first loud sample.
    let start = if first_loud > 0
        && channel_data
            .iter()
            .all(|data| data[first_loud - 1].abs() <= threshold)
    {
        first_loud - 1
    } else {
        first_loud
    };
    let end = last_loud + 1;
    let length = end - start;
    if length < 16 {
        return Err(format!("tone region too short ({length} frames)"));
    }

    // Frequency from the loudest channel.
    let loudest = (0..channels)
        .max_by(|&a, &b| {
            energy(&channel_data[a][start..end]).total_cmp(&energy(&channel_data[b][start..end]))
        })
        .expect("channels > 0");
    let region = &channel_data[loudest][start..end];
    let omega0 = crossing_omega(region).ok_or("cannot estimate the frequency (no oscillation)")?;
    let fit = fit_sine(region, omega0);
    let omega = fit.omega;
    let frequency_hz = omega * config.sample_rate / (2.0 * PI);

    let mut levels = Vec::new();
    let mut glitches = Vec::new();
    let mut dropouts = Vec::new();
    let mut phase_jumps = Vec::new();
    let mut residual_sum = 0.0;
    let mut amplitude_sum = 0.0;
    for (channel, data) in channel_data.iter().enumerate() {
        let region = &data[start..end];
        let rms = (energy(region) / region.len() as f64).sqrt();
        let peak = region.iter().fold(0.0f64, |peak, x| peak.max(x.abs()));
        let channel_fit = fit_fixed_omega(region, omega);
        let amplitude = channel_fit.amplitude();
        levels.push(ChannelLevel {
            rms,
            window_rms: median_window_rms(region, 2.0 * PI / omega).unwrap_or(rms),
            peak,
            amplitude,
        });
        if amplitude < 1e-6 {
            continue; // A silent channel has no sine to check.
        }
        residual_sum += channel_fit.residual_rms(region);
        amplitude_sum += amplitude;
        find_glitches(
            region,
            omega,
            amplitude,
            channel,
            start,
            config,
            &mut glitches,
        );
        find_dropouts(region, omega, amplitude, channel, start, &mut dropouts);
        find_phase_jumps(region, omega, channel, start, config, &mut phase_jumps);
    }

    Ok(ToneReport {
        sample_rate: config.sample_rate,
        start_frame: start,
        end_frame: end,
        frequency_hz,
        median_frequency_hz: omega0 * config.sample_rate / (2.0 * PI),
        channels: levels,
        glitches,
        dropouts,
        phase_jumps,
        residual_rms_relative: if amplitude_sum > 0.0 {
            residual_sum / amplitude_sum
        } else {
            0.0
        },
    })
}

/// The median RMS over consecutive windows of ten whole periods (`None` when the region is
/// shorter than three windows).
fn median_window_rms(data: &[f64], period: f64) -> Option<f64> {
    let window = (10.0 * period).round() as usize;
    if window == 0 || data.len() < 3 * window {
        return None;
    }
    let mut values: Vec<f64> = data
        .chunks_exact(window)
        .map(|chunk| (energy(chunk) / window as f64).sqrt())
        .collect();
    values.sort_by(f64::total_cmp);
    Some(values[values.len() / 2])
}

fn energy(data: &[f64]) -> f64 {
    data.iter().map(|x| x * x).sum()
}

/// Frequency (radians per sample) from the median interval between rising zero crossings,
/// located by linear interpolation. Robust to onsets, dropouts and phase jumps, which would bias
/// a global estimate; precise enough (~1e-5 relative) to start the least-squares fit.
fn crossing_omega(data: &[f64]) -> Option<f64> {
    let mut crossings = Vec::new();
    for n in 1..data.len() {
        let (before, after) = (data[n - 1], data[n]);
        if before < 0.0 && after >= 0.0 {
            crossings.push((n - 1) as f64 + before / (before - after));
        }
    }
    let mut intervals: Vec<f64> = crossings.windows(2).map(|pair| pair[1] - pair[0]).collect();
    if intervals.len() < 3 {
        return None;
    }
    intervals.sort_by(f64::total_cmp);
    let period = intervals[intervals.len() / 2];
    (period > 2.0).then(|| 2.0 * PI / period)
}

/// `x[n] ≈ a cos(w t) + b sin(w t) + offset`, with `t = n - centre`.
#[derive(Clone, Copy, Debug)]
struct SineFit {
    omega: f64,
    a: f64,
    b: f64,
    offset: f64,
    centre: f64,
}

impl SineFit {
    fn amplitude(&self) -> f64 {
        self.a.hypot(self.b)
    }

    fn value(&self, n: usize) -> f64 {
        let t = n as f64 - self.centre;
        let (sin, cos) = (self.omega * t).sin_cos();
        self.a * cos + self.b * sin + self.offset
    }

    fn residual_rms(&self, data: &[f64]) -> f64 {
        let sum: f64 = data
            .iter()
            .enumerate()
            .map(|(n, x)| (x - self.value(n)).powi(2))
            .sum();
        (sum / data.len() as f64).sqrt()
    }
}

/// Linear least squares for a, b, offset at a fixed frequency.
fn fit_fixed_omega(data: &[f64], omega: f64) -> SineFit {
    let centre = (data.len() as f64 - 1.0) / 2.0;
    let mut normal = [[0.0f64; 3]; 3];
    let mut rhs = [0.0f64; 3];
    for (n, &x) in data.iter().enumerate() {
        let (sin, cos) = (omega * (n as f64 - centre)).sin_cos();
        let basis = [cos, sin, 1.0];
        accumulate(&mut normal, &mut rhs, &basis, x);
    }
    let [a, b, offset] = solve(normal, rhs).unwrap_or([0.0; 3]);
    SineFit {
        omega,
        a,
        b,
        offset,
        centre,
    }
}

/// 4-parameter sine fit (IEEE 1057 style): Gauss–Newton on the frequency. Keeps the start
/// when an iteration makes the fit worse (a broken signal must not throw the estimate away).
fn fit_sine(data: &[f64], omega0: f64) -> SineFit {
    let start = fit_fixed_omega(data, omega0);
    let refined = gauss_newton(data, start);
    if refined.residual_rms(data) <= start.residual_rms(data) {
        refined
    } else {
        start
    }
}

fn gauss_newton(data: &[f64], start: SineFit) -> SineFit {
    let mut fit = start;
    for _ in 0..8 {
        let mut normal = [[0.0f64; 4]; 4];
        let mut rhs = [0.0f64; 4];
        for (n, &x) in data.iter().enumerate() {
            let t = n as f64 - fit.centre;
            let (sin, cos) = (fit.omega * t).sin_cos();
            let model = fit.a * cos + fit.b * sin + fit.offset;
            // Jacobian in (a, b, offset, omega); solve for the increment.
            let basis = [cos, sin, 1.0, t * (fit.b * cos - fit.a * sin)];
            accumulate(&mut normal, &mut rhs, &basis, x - model);
        }
        let Some([da, db, doffset, domega]) = solve(normal, rhs) else {
            break;
        };
        fit.a += da;
        fit.b += db;
        fit.offset += doffset;
        fit.omega += domega;
        if domega.abs() < 1e-13 {
            break;
        }
    }
    fit
}

fn accumulate<const N: usize>(
    normal: &mut [[f64; N]; N],
    rhs: &mut [f64; N],
    basis: &[f64; N],
    target: f64,
) {
    for i in 0..N {
        rhs[i] += basis[i] * target;
        for j in 0..N {
            normal[i][j] += basis[i] * basis[j];
        }
    }
}

/// Gaussian elimination with partial pivoting.
fn solve<const N: usize>(mut matrix: [[f64; N]; N], mut rhs: [f64; N]) -> Option<[f64; N]> {
    for col in 0..N {
        let pivot =
            (col..N).max_by(|&a, &b| matrix[a][col].abs().total_cmp(&matrix[b][col].abs()))?;
        if matrix[pivot][col].abs() < 1e-300 {
            return None;
        }
        matrix.swap(col, pivot);
        rhs.swap(col, pivot);
        for row in col + 1..N {
            let factor = matrix[row][col] / matrix[col][col];
            let pivot_row = matrix[col];
            for (cell, pivot_cell) in matrix[row].iter_mut().zip(pivot_row).skip(col) {
                *cell -= factor * pivot_cell;
            }
            rhs[row] -= factor * rhs[col];
        }
    }
    let mut solution = [0.0; N];
    for row in (0..N).rev() {
        let mut sum = rhs[row];
        for k in row + 1..N {
            sum -= matrix[row][k] * solution[k];
        }
        solution[row] = sum / matrix[row][row];
    }
    Some(solution)
}

fn find_glitches(
    region: &[f64],
    omega: f64,
    amplitude: f64,
    channel: usize,
    offset: usize,
    config: &AnalysisConfig,
    out: &mut Vec<Glitch>,
) {
    let two_cos = 2.0 * omega.cos();
    let limit = config.glitch_threshold * amplitude;
    let first = 2 + config.edge_margin;
    let last = region.len().saturating_sub(config.edge_margin);
    let mut current: Option<Glitch> = None;
    let mut last_exceed = 0usize;
    for n in first..last {
        let residual = (region[n] - two_cos * region[n - 1] + region[n - 2]).abs();
        if residual <= limit {
            continue;
        }
        let relative = residual / amplitude;
        match current.as_mut() {
            Some(event) if n - last_exceed <= config.cluster_frames => {
                event.residual = event.residual.max(relative);
            }
            _ => {
                if let Some(event) = current.take() {
                    out.push(event);
                }
                current = Some(Glitch {
                    channel,
                    frame: offset + n,
                    residual: relative,
                });
            }
        }
        last_exceed = n;
    }
    out.extend(current);
}

fn find_dropouts(
    region: &[f64],
    omega: f64,
    amplitude: f64,
    channel: usize,
    offset: usize,
    out: &mut Vec<Dropout>,
) {
    // A sine stays below 1% of its amplitude for about 0.02/w samples around a zero crossing;
    // anything clearly longer is missing signal.
    let quiet = 0.01 * amplitude;
    let min_run = ((0.04 / omega).ceil() as usize).max(1) + 2;
    let mut run_start = None;
    for (n, x) in region.iter().enumerate() {
        if x.abs() < quiet {
            run_start.get_or_insert(n);
            continue;
        }
        if let Some(begin) = run_start.take() {
            if n - begin >= min_run {
                out.push(Dropout {
                    channel,
                    frame: offset + begin,
                    frames: n - begin,
                });
            }
        }
    }
    // The region ends at a loud sample, so no run is open here.
}

fn find_phase_jumps(
    region: &[f64],
    omega: f64,
    channel: usize,
    offset: usize,
    config: &AnalysisConfig,
    out: &mut Vec<PhaseJump>,
) {
    let window = config.phase_window.max(16);
    let margin = config.edge_margin;
    if region.len() < 2 * margin + 3 * window {
        return;
    }
    // Phase of each window against one global time base.
    let mut phases = Vec::new();
    let mut starts = Vec::new();
    let mut begin = margin;
    while begin + window <= region.len() - margin {
        // Least squares x ≈ p cos(w n) + q sin(w n); for x = A sin(w n + phi),
        // p = A sin(phi) and q = A cos(phi). Exact for any window length.
        let mut normal = [[0.0f64; 2]; 2];
        let mut rhs = [0.0f64; 2];
        for (n, &x) in region.iter().enumerate().skip(begin).take(window) {
            let (sin, cos) = (omega * n as f64).sin_cos();
            accumulate(&mut normal, &mut rhs, &[cos, sin], x);
        }
        let [p, q] = solve(normal, rhs).unwrap_or([0.0; 2]);
        phases.push(p.atan2(q));
        starts.push(begin);
        begin += window;
    }
    let mut k = 2;
    while k < phases.len() {
        let change = wrap(phases[k] - phases[k - 2]);
        if change.abs() > config.phase_jump_threshold {
            // Report the jump once: the largest change around here.
            let mut best = (k, change);
            while k + 1 < phases.len() {
                let next = wrap(phases[k + 1] - phases[k - 1]);
                if next.abs() <= config.phase_jump_threshold {
                    break;
                }
                if next.abs() > best.1.abs() {
                    best = (k + 1, next);
                }
                k += 1;
            }
            out.push(PhaseJump {
                channel,
                frame: offset + starts[best.0 - 1],
                radians: best.1,
            });
            k += 2;
        } else {
            k += 1;
        }
    }
}

fn wrap(angle: f64) -> f64 {
    let mut angle = angle % (2.0 * PI);
    if angle > PI {
        angle -= 2.0 * PI;
    } else if angle <= -PI {
        angle += 2.0 * PI;
    }
    angle
}

/// Builds an interleaved test tone the way `wasio-pa-host play` does: phase-continuous sine
/// from phase 0, the same on every channel. Used by the unit tests and the bench self-test.
pub fn synth_tone(
    sample_rate: f64,
    channels: usize,
    frequency_hz: f64,
    amplitude: f64,
    lead_frames: usize,
    tone_frames: usize,
    tail_frames: usize,
) -> Vec<f32> {
    let mut out = Vec::with_capacity((lead_frames + tone_frames + tail_frames) * channels);
    out.resize(lead_frames * channels, 0.0);
    let step = 2.0 * PI * frequency_hz / sample_rate;
    let mut phase = 0.0f64;
    for _ in 0..tone_frames {
        let value = (amplitude * phase.sin()) as f32;
        out.extend(std::iter::repeat_n(value, channels));
        phase += step;
        if phase >= 2.0 * PI {
            phase -= 2.0 * PI;
        }
    }
    out.resize(out.len() + tail_frames * channels, 0.0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: f64 = 48_000.0;
    const LEAD: usize = 12_000;
    const TONE: usize = 240_000;

    fn tone(frequency: f64, amplitude: f64) -> Vec<f32> {
        synth_tone(RATE, 2, frequency, amplitude, LEAD, TONE, 12_000)
    }

    fn expectation() -> ToneExpectation {
        ToneExpectation {
            frequency_hz: 997.0,
            frequency_tolerance_hz: 0.5,
            amplitude: 0.5,
            level_tolerance_db: 0.5,
            duration_frames: TONE,
            duration_tolerance_frames: 256,
        }
    }

    fn failed(report: &ToneReport) -> Vec<String> {
        expectation()
            .checks(report)
            .into_iter()
            .filter(|check| !check.passed)
            .map(|check| check.name)
            .collect()
    }

    fn analyse_default(samples: &[f32]) -> ToneReport {
        analyse(samples, &AnalysisConfig::default()).expect("tone found")
    }

    #[test]
    fn clean_tone_passes_every_check() {
        let report = analyse_default(&tone(997.0, 0.5));
        assert!(
            (report.frequency_hz - 997.0).abs() < 1e-3,
            "{}",
            report.frequency_hz
        );
        assert!(
            report.start_frame.abs_diff(LEAD) <= 1,
            "{}",
            report.start_frame
        );
        assert!(
            report.duration_frames().abs_diff(TONE) <= 1,
            "{}",
            report.duration_frames()
        );
        for channel in 0..2 {
            assert!(report.level_db(channel, 0.5).abs() < 0.01);
            assert!((report.channels[channel].amplitude - 0.5).abs() < 1e-4);
        }
        assert_eq!(report.problem_count(), 0, "{report:?}");
        assert!(failed(&report).is_empty(), "{:?}", failed(&report));
    }

    #[test]
    fn tiny_noise_is_not_a_glitch() {
        let mut samples = tone(997.0, 0.5);
        let mut state = 12345u32;
        for sample in samples.iter_mut() {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            *sample += ((state >> 8) as f32 / (1u32 << 24) as f32 - 0.5) * 2e-4;
        }
        let report = analyse_default(&samples);
        assert!(
            failed(&report).is_empty(),
            "{:?} {report:?}",
            failed(&report)
        );
    }

    #[test]
    fn dropout_is_found() {
        let mut samples = tone(997.0, 0.5);
        let at = LEAD + 100_000;
        samples[at * 2..(at + 256) * 2].fill(0.0);
        let report = analyse_default(&samples);
        assert_eq!(report.dropouts.len(), 2, "{:?}", report.dropouts); // one per channel
        assert_eq!(report.dropouts[0].frame.abs_diff(at), 0);
        assert!(report.dropouts[0].frames >= 256);
        assert!(!report.glitches.is_empty());
        assert!(failed(&report).contains(&"dropouts".to_string()));
        assert!(failed(&report).contains(&"glitches".to_string()));
    }

    #[test]
    fn phase_jump_is_found() {
        let mut samples = tone(997.0, 0.5);
        let at = LEAD + 150_000;
        let step = 2.0 * PI * 997.0 / RATE;
        for frame in at..LEAD + TONE {
            let value = (0.5 * ((frame - LEAD) as f64 * step + 1.0).sin()) as f32;
            samples[frame * 2] = value;
            samples[frame * 2 + 1] = value;
        }
        let report = analyse_default(&samples);
        assert_eq!(report.phase_jumps.len(), 2, "{:?}", report.phase_jumps);
        assert!(
            (report.phase_jumps[0].radians - 1.0).abs() < 0.05,
            "{:?}",
            report.phase_jumps
        );
        assert!(report.phase_jumps[0].frame.abs_diff(at) <= 2 * 480);
        assert!(!report.glitches.is_empty());
        assert!(failed(&report).contains(&"phase jumps".to_string()));
    }

    #[test]
    fn small_phase_jump_at_a_peak_is_found_by_the_phase_track() {
        // At a peak the value barely moves, so the residual may stay small: the phase track must catch it.
        let step = 2.0 * PI * 997.0 / RATE;
        let mut samples = tone(997.0, 0.5);
        let mut at = LEAD + 120_000;
        while ((at - LEAD) as f64 * step).sin() < 0.999 {
            at += 1;
        }
        for frame in at..LEAD + TONE {
            let value = (0.5 * ((frame - LEAD) as f64 * step + 0.1).sin()) as f32;
            samples[frame * 2] = value;
            samples[frame * 2 + 1] = value;
        }
        let report = analyse_default(&samples);
        assert!(!report.phase_jumps.is_empty(), "{report:?}");
        assert!((report.phase_jumps[0].radians - 0.1).abs() < 0.02);
    }

    #[test]
    fn doubled_block_is_found() {
        let clean = tone(997.0, 0.5);
        let at = LEAD + 60_000;
        let block = 441;
        let mut samples = clean[..(at + block) * 2].to_vec();
        samples.extend_from_slice(&clean[at * 2..]);
        let report = analyse_default(&samples);
        assert_eq!(report.duration_frames(), TONE + block);
        assert!(!report.glitches.is_empty());
        assert!(!report.phase_jumps.is_empty());
        let failed = failed(&report);
        assert!(failed.contains(&"glitches".to_string()), "{failed:?}");
        // 441 frames is more than the 256-frame tolerance.
        assert!(failed.contains(&"duration".to_string()), "{failed:?}");
    }

    #[test]
    fn wrong_frequency_is_measured() {
        let report = analyse_default(&tone(1000.0, 0.5));
        assert!(
            (report.frequency_hz - 1000.0).abs() < 1e-3,
            "{}",
            report.frequency_hz
        );
        assert_eq!(report.problem_count(), 0);
        assert_eq!(failed(&report), vec!["frequency".to_string()]);
    }

    #[test]
    fn slightly_wrong_frequency_is_measured_precisely() {
        // 0.6 Hz off: must fail the ±0.5 Hz check, which needs a precise estimate.
        let report = analyse_default(&tone(997.6, 0.5));
        assert!(
            (report.frequency_hz - 997.6).abs() < 1e-3,
            "{}",
            report.frequency_hz
        );
        assert_eq!(failed(&report), vec!["frequency".to_string()]);
    }

    #[test]
    fn wrong_level_is_measured() {
        let report = analyse_default(&tone(997.0, 0.4));
        let expected_db = 20.0 * (0.4f64 / 0.5).log10();
        assert!((report.level_db(0, 0.5) - expected_db).abs() < 0.01);
        assert_eq!(
            failed(&report),
            vec!["level ch0".to_string(), "level ch1".to_string()]
        );
    }

    #[test]
    fn one_silent_channel_fails_its_level_only() {
        let mut samples = tone(997.0, 0.5);
        for frame in samples.chunks_exact_mut(2) {
            frame[1] = 0.0;
        }
        let report = analyse_default(&samples);
        assert_eq!(failed(&report), vec!["level ch1".to_string()]);
    }

    #[test]
    fn tone_cut_in_mid_phase_is_still_measured_precisely() {
        // Seen on the bench: the first samples of a stream lost, so the tone starts near a peak.
        let mut samples = tone(997.0, 0.5);
        samples[LEAD * 2..(LEAD + 10) * 2].fill(0.0);
        let report = analyse_default(&samples);
        assert!(
            (report.frequency_hz - 997.0).abs() < 1e-3,
            "{}",
            report.frequency_hz
        );
        assert!(
            failed(&report).is_empty(),
            "{:?} {report:?}",
            failed(&report)
        );
    }

    #[test]
    fn gaps_inserted_below_the_driver_move_neither_frequency_nor_level() {
        // A loaded machine: four gaps of 2000 to 6000 frames of silence inserted into the
        // recording (the tone goes on after each, as a downstream gap leaves it).
        let mut samples = tone(997.0, 0.5);
        for (k, gap) in [2000usize, 5000, 3000, 6000].iter().enumerate() {
            let at = LEAD + 20_000 + k * 58_000;
            let silence = vec![0.0f32; gap * 2];
            samples.splice(at * 2..at * 2, silence);
        }
        let report = analyse_default(&samples);
        assert_eq!(report.discontinuity_events(), 4, "{report:?}");
        assert!(
            (report.median_frequency_hz - 997.0).abs() < 0.05,
            "{report:?}"
        );
        for channel in 0..2 {
            assert!(report.level_db(channel, 0.5).abs() < 0.1, "{report:?}");
        }
        let hard: Vec<String> = expectation()
            .checks(&report)
            .into_iter()
            .filter(|c| !c.passed && !c.is_downstream())
            .map(|c| c.name)
            .collect();
        assert!(hard.is_empty(), "{hard:?}");
    }

    #[test]
    fn frequency_survives_dropouts() {
        let mut samples = tone(997.0, 0.5);
        for at in [LEAD + 30_000, LEAD + 90_000, LEAD + 170_000] {
            samples[at * 2..(at + 441) * 2].fill(0.0);
        }
        let report = analyse_default(&samples);
        assert!(
            (report.frequency_hz - 997.0).abs() < 0.01,
            "{}",
            report.frequency_hz
        );
        assert_eq!(report.dropouts.len(), 6);
    }

    #[test]
    fn silence_is_an_error() {
        let samples = vec![0.0f32; 96_000];
        assert!(analyse(&samples, &AnalysisConfig::default()).is_err());
    }

    #[test]
    fn truncated_tone_fails_duration() {
        let samples = synth_tone(RATE, 2, 997.0, 0.5, LEAD, TONE - 1_000, 12_000);
        let report = analyse_default(&samples);
        assert_eq!(failed(&report), vec!["duration".to_string()]);
    }

    #[test]
    fn wrap_stays_in_range() {
        assert!((wrap(3.0 * PI) - PI).abs() < 1e-12);
        assert!((wrap(-0.5) + 0.5).abs() < 1e-12);
        assert!((wrap(2.0 * PI + 0.25) - 0.25).abs() < 1e-12);
    }
}
