//! Clock-drift compensation between a capture and a render endpoint.
//!
//! When ASIO input and output live on two different WASAPI endpoints, each runs on its own
//! crystal, so the capture side delivers slightly more or fewer frames than the render side
//! consumes (typically tens to hundreds of ppm). [`DriftCompensator`] sits between the two:
//! capture packets go into a FIFO with [`DriftCompensator::push_input`], and each ASIO buffer
//! is taken out with [`DriftCompensator::pull_output`], resampled by an adaptive sinc resampler
//! (`rubato::Async`) whose ratio is steered by a PI controller holding the FIFO fill at a
//! target. The integral term of that controller *is* the drift estimate
//! ([`DriftCompensator::drift_ppm`]).
//!
//! When both directions share one device clock, select [`CompensationMode::PassThrough`]: the
//! FIFO is then copied out bit-exactly and nothing is resampled.
//!
//! Sample layout: **interleaved f32** frames on both sides (the layout WASAPI buffers use; the
//! driver converts device samples to f32 before pushing and after pulling).
//!
//! Real-time safety: everything is allocated in [`DriftCompensator::new`]; `push_input`,
//! `pull_output` and the getters never allocate, lock or block (proved by
//! `tests/drift_alloc.rs`). Both calls take `&mut self`: the owner (the driver's audio thread,
//! which services both endpoint events) serialises them.
//!
//! See `docs/DUPLEX.md` for the control-loop design and the measured bounds.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{
    Adjustable, Async, FixedAsync, Resampler, Resizable, SincInterpolationParameters,
    SincInterpolationType, WindowFunction,
};

/// How the capture stream is brought onto the render clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompensationMode {
    /// Adaptive resampling with a fill-level control loop (different device clocks).
    Adaptive,
    /// Pure FIFO copy, bit-exact (both directions share one device clock and one rate).
    PassThrough,
}

/// Sinc filter used by the adaptive resampler. Both keep THD+N of a sine below -90 dB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResamplerQuality {
    /// 128-tap Blackman-Harris² sinc, linear interpolation between 1024 sub-phases; cutoff
    /// 0.895 × Nyquist (flat within 0.05 dB to 20 kHz at 48 kHz). 64 taps would also meet
    /// -90 dB THD+N but lose 2 dB at 18 kHz.
    Standard,
    /// 256-tap Blackman-Harris² sinc, cubic interpolation between 256 sub-phases (rubato's
    /// recommended setting); cutoff 0.947 × Nyquist, flat to 20 kHz at 44.1 kHz too.
    High,
}

impl ResamplerQuality {
    fn sinc_parameters(self) -> SincInterpolationParameters {
        match self {
            ResamplerQuality::Standard => {
                SincInterpolationParameters::new(128, WindowFunction::BlackmanHarris2)
                    .oversampling_factor(1024)
                    .interpolation(SincInterpolationType::Linear)
            }
            ResamplerQuality::High => {
                SincInterpolationParameters::new(256, WindowFunction::BlackmanHarris2)
                    .oversampling_factor(256)
                    .interpolation(SincInterpolationType::Cubic)
            }
        }
    }
}

/// Construction parameters of a [`DriftCompensator`]. Frame counts are per channel.
#[derive(Debug, Clone, PartialEq)]
pub struct DriftConfig {
    /// Interleaved channels on both sides.
    pub channels: usize,
    /// Nominal `input_rate / output_rate` (1.0 when both endpoints run the same nominal rate).
    pub nominal_ratio: f64,
    /// Nominal output (render) rate in Hz; sets the control-loop time constants.
    pub output_rate_hz: f64,
    /// Frames per ASIO buffer; `pull_output` is expected to be called with this many frames
    /// (any count works, larger ones are processed in chunks of this size).
    pub block_frames: usize,
    /// FIFO fill, in input frames, the controller holds when a block is pulled. See
    /// [`DriftConfig::recommended_target_fill`].
    pub target_fill_frames: usize,
    /// FIFO capacity in input frames; a push that does not fit is an overrun.
    pub fifo_capacity_frames: usize,
    /// Adaptive resampling or bit-exact pass-through.
    pub mode: CompensationMode,
    /// Resampler filter.
    pub quality: ResamplerQuality,
    /// Largest ratio correction the controller may apply, relative (0.01 = ±1 %).
    pub max_correction: f64,
    /// Loop time constant while acquiring lock (s): fast, pulls in a large initial drift.
    pub acquire_time_s: f64,
    /// Loop time constant once locked (s): slow, so the ratio barely moves.
    pub track_time_s: f64,
    /// Time constant of each of the two cascaded low-passes on the fill samples while
    /// acquiring (s); it scales with the loop time constant (× 16 once tracking).
    pub fill_filter_time_s: f64,
}

impl DriftConfig {
    /// A configuration with the defaults documented on each field's setter below:
    /// adaptive mode, [`ResamplerQuality::Standard`], ±1 % correction, 1 s acquisition,
    /// 16 s tracking, 50 ms fill filter, FIFO capacity `4 × (target + 2 × block)` input frames.
    pub fn new(
        channels: usize,
        nominal_ratio: f64,
        output_rate_hz: f64,
        block_frames: usize,
        target_fill_frames: usize,
    ) -> Self {
        let block_in = (block_frames as f64 * nominal_ratio).ceil() as usize;
        DriftConfig {
            channels,
            nominal_ratio,
            output_rate_hz,
            block_frames,
            target_fill_frames,
            fifo_capacity_frames: 4 * (target_fill_frames + 2 * block_in),
            mode: CompensationMode::Adaptive,
            quality: ResamplerQuality::Standard,
            max_correction: 0.01,
            acquire_time_s: 1.0,
            track_time_s: 16.0,
            fill_filter_time_s: 0.05,
        }
    }

    /// A target fill that rides out the capture side's burstiness: one output block worth of
    /// input frames (consumed per pull), half a capture packet (the fill is sampled anywhere
    /// in the packets' sawtooth), one more packet (a wake-up a whole period late, so two
    /// packets arrive together), the delivery jitter, plus a quarter packet and 8 frames of
    /// headroom for the controller's residual error.
    pub fn recommended_target_fill(
        nominal_ratio: f64,
        block_frames: usize,
        capture_packet_frames: usize,
        capture_jitter_frames: usize,
    ) -> usize {
        let block_in = (block_frames as f64 * nominal_ratio).ceil() as usize;
        block_in + capture_packet_frames * 7 / 4 + capture_jitter_frames + 8
    }

    /// Sets [`DriftConfig::mode`].
    pub fn mode(mut self, mode: CompensationMode) -> Self {
        self.mode = mode;
        self
    }

    /// Sets [`DriftConfig::quality`].
    pub fn quality(mut self, quality: ResamplerQuality) -> Self {
        self.quality = quality;
        self
    }

    /// Sets [`DriftConfig::fifo_capacity_frames`].
    pub fn fifo_capacity_frames(mut self, frames: usize) -> Self {
        self.fifo_capacity_frames = frames;
        self
    }

    fn validate(&self) -> Result<(), DriftError> {
        let invalid = |what: &'static str| Err(DriftError::InvalidConfig(what));
        if self.channels == 0 {
            return invalid("channels must be at least 1");
        }
        if !(self.nominal_ratio.is_finite() && self.nominal_ratio > 0.0) {
            return invalid("nominal_ratio must be finite and > 0");
        }
        if !(self.output_rate_hz.is_finite() && self.output_rate_hz > 0.0) {
            return invalid("output_rate_hz must be finite and > 0");
        }
        if self.block_frames == 0 {
            return invalid("block_frames must be at least 1");
        }
        if self.mode == CompensationMode::PassThrough && self.nominal_ratio != 1.0 {
            return invalid("pass-through needs nominal_ratio == 1 (same rate, same clock)");
        }
        if !(self.max_correction > 0.0 && self.max_correction <= 0.1) {
            return invalid("max_correction must be in (0, 0.1]");
        }
        let times = [
            self.acquire_time_s,
            self.track_time_s,
            self.fill_filter_time_s,
        ];
        if times.iter().any(|t| !(t.is_finite() && *t > 0.0)) {
            return invalid("time constants must be finite and > 0");
        }
        if self.track_time_s < self.acquire_time_s {
            return invalid("track_time_s must be >= acquire_time_s");
        }
        let block_in = (self.block_frames as f64 * self.nominal_ratio).ceil() as usize;
        if self.target_fill_frames < block_in {
            return invalid("target_fill_frames must hold at least one block of input");
        }
        if self.fifo_capacity_frames < self.target_fill_frames + 2 * block_in {
            return invalid("fifo_capacity_frames must exceed target_fill_frames + 2 blocks");
        }
        Ok(())
    }
}

/// Why a [`DriftCompensator`] could not be built.
#[derive(Debug, Clone, PartialEq)]
pub enum DriftError {
    /// A configuration value is out of range (the text says which).
    InvalidConfig(&'static str),
    /// rubato refused the resampler parameters.
    Resampler(String),
}

impl fmt::Display for DriftError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DriftError::InvalidConfig(what) => write!(f, "invalid drift configuration: {what}"),
            DriftError::Resampler(why) => write!(f, "resampler construction failed: {why}"),
        }
    }
}

impl std::error::Error for DriftError {}

/// What one [`DriftCompensator::pull_output`] call delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullOutcome {
    /// Audio from the FIFO (resampled, or copied in pass-through mode).
    Audio,
    /// Silence while the FIFO fills up to its target (start-up or after an underrun).
    Priming,
    /// The FIFO ran dry: silence, counted in [`DriftCompensator::underruns`], re-priming.
    Underrun,
}

/// Figures published by the audio thread for other threads (logging, UI, getLatencies).
/// All values are written with relaxed atomic stores at the end of each pull.
#[derive(Debug, Default)]
pub struct DriftMonitor {
    drift_ppm_bits: AtomicU64,
    latency_frames_bits: AtomicU64,
    underruns: AtomicU64,
    overruns: AtomicU64,
}

impl DriftMonitor {
    /// Smoothed clock drift estimate, ppm (see [`DriftCompensator::drift_ppm`]).
    pub fn drift_ppm(&self) -> f64 {
        f64::from_bits(self.drift_ppm_bits.load(Ordering::Relaxed))
    }

    /// Delay through FIFO and resampler, output frames (see [`DriftCompensator::latency_frames`]).
    pub fn latency_frames(&self) -> f64 {
        f64::from_bits(self.latency_frames_bits.load(Ordering::Relaxed))
    }

    /// Underruns so far.
    pub fn underruns(&self) -> u64 {
        self.underruns.load(Ordering::Relaxed)
    }

    /// Overruns so far.
    pub fn overruns(&self) -> u64 {
        self.overruns.load(Ordering::Relaxed)
    }
}

/// Interleaved f32 ring of whole frames, fixed capacity.
struct FrameFifo {
    samples: Vec<f32>,
    channels: usize,
    capacity_frames: usize,
    read_frame: usize,
    len_frames: usize,
}

impl FrameFifo {
    fn new(channels: usize, capacity_frames: usize) -> Self {
        FrameFifo {
            samples: vec![0.0; channels * capacity_frames],
            channels,
            capacity_frames,
            read_frame: 0,
            len_frames: 0,
        }
    }

    fn len(&self) -> usize {
        self.len_frames
    }

    fn free(&self) -> usize {
        self.capacity_frames - self.len_frames
    }

    /// Appends whole frames; the caller has made room.
    fn write(&mut self, frames: &[f32]) {
        let count = frames.len() / self.channels;
        debug_assert!(count <= self.free());
        let start = (self.read_frame + self.len_frames) % self.capacity_frames;
        let first = count.min(self.capacity_frames - start);
        let split = first * self.channels;
        self.samples[start * self.channels..start * self.channels + split]
            .copy_from_slice(&frames[..split]);
        self.samples[..(count - first) * self.channels].copy_from_slice(&frames[split..]);
        self.len_frames += count;
    }

    /// Moves the oldest `dest.len() / channels` frames into `dest`.
    fn read(&mut self, dest: &mut [f32]) {
        let count = dest.len() / self.channels;
        debug_assert!(count <= self.len_frames);
        let first = count.min(self.capacity_frames - self.read_frame);
        let split = first * self.channels;
        let start = self.read_frame * self.channels;
        dest[..split].copy_from_slice(&self.samples[start..start + split]);
        dest[split..count * self.channels]
            .copy_from_slice(&self.samples[..(count - first) * self.channels]);
        self.discard(count);
    }

    fn discard(&mut self, count: usize) {
        let count = count.min(self.len_frames);
        self.read_frame = (self.read_frame + count) % self.capacity_frames;
        self.len_frames -= count;
    }
}

/// PI controller on the low-passed FIFO fill, with gain scheduling from a fast acquisition
/// time constant to a slow tracking one.
///
/// Plant (per output frame, input frames): `d fill / dn = r · (drift − correction)`, with
/// `r = nominal_ratio`. With `correction = kp·e + i`, `i += ki·e·dn` the closed loop is
/// `s² + r·kp·s + r·ki`; `kp = 2ζ/(rτ)`, `ki = 1/(rτ²)` make it `s² + 2ζ/τ·s + 1/τ²`:
/// time constant `τ`, damping `ζ = 1` (critical). In steady state `e → 0` and
/// `i → drift`: the integrator is the drift estimate.
struct FillController {
    target: f64,
    nominal_ratio: f64,
    /// Two cascaded one-pole low-passes over the fill sampled at each pull.
    stage1: f64,
    stage2: f64,
    filter_time_frames: f64,
    integrator: f64,
    correction: f64,
    max_correction: f64,
    tau_frames: f64,
    acquire_tau_frames: f64,
    track_tau_frames: f64,
    /// Output frames since the last (re)acquisition started.
    frames_since_acquire: f64,
    drift_smoothed: f64,
}

impl FillController {
    const DAMPING: f64 = 1.0;

    fn new(config: &DriftConfig) -> Self {
        let rate = config.output_rate_hz;
        FillController {
            target: config.target_fill_frames as f64,
            nominal_ratio: config.nominal_ratio,
            stage1: config.target_fill_frames as f64,
            stage2: config.target_fill_frames as f64,
            filter_time_frames: config.fill_filter_time_s * rate,
            integrator: 0.0,
            correction: 0.0,
            max_correction: config.max_correction,
            tau_frames: config.acquire_time_s * rate,
            acquire_tau_frames: config.acquire_time_s * rate,
            track_tau_frames: config.track_time_s * rate,
            frames_since_acquire: 0.0,
            drift_smoothed: 0.0,
        }
    }

    /// Restarts filtering and acquisition after a resync; keeps the drift estimate.
    fn resync(&mut self) {
        self.stage1 = self.target;
        self.stage2 = self.target;
        self.tau_frames = self.acquire_tau_frames;
        self.frames_since_acquire = 0.0;
    }

    fn filtered_fill(&self) -> f64 {
        self.stage2
    }

    /// Low-passes the fill sampled at a pull of `frames` output frames; returns the error.
    fn observe(&mut self, fill: f64, frames: usize) -> f64 {
        let dn = frames as f64;
        // The fill filter slows down with the loop, keeping the same phase margin while
        // smoothing the packet sawtooth and jitter far more once locked.
        let filter_frames = self.filter_time_frames * (self.tau_frames / self.acquire_tau_frames);
        let alpha = 1.0 - (-dn / filter_frames).exp();
        self.stage1 += alpha * (fill - self.stage1);
        self.stage2 += alpha * (self.stage1 - self.stage2);
        self.stage2 - self.target
    }

    /// Feeds the fill sampled at a pull of `frames` output frames; returns the new correction
    /// (relative change of input frames consumed per output frame).
    fn update(&mut self, fill: f64, frames: usize) -> f64 {
        let dn = frames as f64;
        let error = self.observe(fill, frames);

        // Gain scheduling: after four acquisition time constants the loop slows down
        // geometrically (×e every 4 acquisition constants) to the tracking constant; a large
        // error (lost lock, e.g. a capture stall) returns it to acquisition.
        self.frames_since_acquire += dn;
        if error.abs() > 0.5 * self.target {
            self.tau_frames = self.acquire_tau_frames;
            self.frames_since_acquire = 0.0;
        } else if self.frames_since_acquire > 4.0 * self.acquire_tau_frames {
            let growth = (dn / (4.0 * self.acquire_tau_frames)).exp();
            self.tau_frames = (self.tau_frames * growth).min(self.track_tau_frames);
        }

        let r = self.nominal_ratio;
        let kp = 2.0 * Self::DAMPING / (r * self.tau_frames);
        let ki = 1.0 / (r * self.tau_frames * self.tau_frames);
        let limit = self.max_correction;
        let unclamped = kp * error + self.integrator;
        // Conditional integration (anti-windup): do not wind further into saturation.
        let saturated = (unclamped >= limit && error > 0.0) || (unclamped <= -limit && error < 0.0);
        if !saturated {
            self.integrator = (self.integrator + ki * error * dn).clamp(-limit, limit);
        }
        self.correction = (kp * error + self.integrator).clamp(-limit, limit);

        // The displayed estimate is smoothed over the loop's own time constant.
        let beta = 1.0 - (-dn / self.tau_frames).exp();
        self.drift_smoothed += beta * (self.integrator - self.drift_smoothed);
        self.correction
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StreamState {
    /// Outputting silence until the FIFO reaches the target fill.
    Priming,
    Running,
}

/// Brings a capture stream onto the render clock; see the [module docs](self).
pub struct DriftCompensator {
    channels: usize,
    mode: CompensationMode,
    nominal_ratio: f64,
    block_frames: usize,
    target_fill: usize,
    fifo: FrameFifo,
    /// Linear copy of the FIFO frames handed to the resampler (the FIFO may wrap).
    resampler_input: Vec<f32>,
    resampler: Option<Async<f32>>,
    /// Chunk size the resampler is currently set to (≤ block_frames).
    resampler_chunk: usize,
    controller: FillController,
    state: StreamState,
    underruns: u64,
    overruns: u64,
    /// Input frames the resampler holds beyond the current output position (filter history
    /// and look-ahead), averaged; part of [`Self::latency_frames`].
    resampler_delay_out_frames: f64,
    /// Capture phase passed to the current pull (see [`Self::pull_output_with_phase`]).
    phase_frames: f64,
    monitor: Arc<DriftMonitor>,
}

impl fmt::Debug for DriftCompensator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DriftCompensator")
            .field("channels", &self.channels)
            .field("mode", &self.mode)
            .field("nominal_ratio", &self.nominal_ratio)
            .field("block_frames", &self.block_frames)
            .field("target_fill", &self.target_fill)
            .field("fill", &self.fifo.len())
            .field("state", &self.state)
            .field("drift_ppm", &self.drift_ppm())
            .field("underruns", &self.underruns)
            .field("overruns", &self.overruns)
            .finish()
    }
}

impl DriftCompensator {
    /// Builds the compensator; allocates everything it will ever need.
    pub fn new(config: DriftConfig) -> Result<Self, DriftError> {
        config.validate()?;
        let channels = config.channels;
        let (resampler, resampler_input, resampler_delay_out_frames) = match config.mode {
            CompensationMode::PassThrough => (None, Vec::new(), 0.0),
            CompensationMode::Adaptive => {
                // rubato's ratio is output rate / input rate.
                let ratio = 1.0 / config.nominal_ratio;
                // Correction c maps to relative ratio 1 / (1 + c); allow a hair more than
                // the controller's bound so a clamped correction is always accepted.
                let max_relative = 1.0 / (1.0 - config.max_correction) * 1.0001;
                let resampler = Async::<f32>::new_sinc(
                    ratio,
                    max_relative,
                    &config.quality.sinc_parameters(),
                    config.block_frames,
                    channels,
                    FixedAsync::Output,
                )
                .map_err(|e| DriftError::Resampler(e.to_string()))?;
                let input = vec![0.0; resampler.input_frames_max() * channels];
                // rubato keeps `2·taps` frames of history, and its output position trails the
                // newest input by half the taps once the history is primed (output_delay()).
                let delay = resampler.output_delay() as f64;
                (Some(resampler), input, delay)
            }
        };
        Ok(DriftCompensator {
            channels,
            mode: config.mode,
            nominal_ratio: config.nominal_ratio,
            block_frames: config.block_frames,
            target_fill: config.target_fill_frames,
            fifo: FrameFifo::new(channels, config.fifo_capacity_frames),
            resampler_input,
            resampler,
            resampler_chunk: config.block_frames,
            controller: FillController::new(&config),
            state: StreamState::Priming,
            underruns: 0,
            overruns: 0,
            resampler_delay_out_frames,
            phase_frames: 0.0,
            monitor: Arc::new(DriftMonitor::default()),
        })
    }

    /// Capture side: appends interleaved frames (any packet size; a trailing partial frame is
    /// ignored). Returns the number of frames stored.
    ///
    /// Never blocks. If the packet does not fit, that is an overrun: the oldest frames are
    /// dropped so that the FIFO holds `target_fill_frames` after the push (resync), and it
    /// is counted. A packet larger than the whole FIFO keeps only its newest frames. While
    /// priming (nothing pulled yet, or after an underrun) a full FIFO just drops its oldest
    /// frames uncounted: they were never going to be played.
    pub fn push_input(&mut self, interleaved: &[f32]) -> usize {
        let frames = interleaved.len() / self.channels;
        if frames == 0 {
            return 0;
        }
        let capacity = self.fifo.capacity_frames;
        let kept = &interleaved[(frames - frames.min(capacity)) * self.channels..];
        let kept_frames = kept.len() / self.channels;
        if self.state == StreamState::Priming {
            let short = kept_frames.saturating_sub(self.fifo.free());
            self.fifo.discard(short);
        } else if kept_frames > self.fifo.free() {
            self.overruns += 1;
            self.monitor
                .overruns
                .store(self.overruns, Ordering::Relaxed);
            let keep_after = self.target_fill.max(kept_frames).min(capacity);
            let drop = (self.fifo.len() + kept_frames).saturating_sub(keep_after);
            self.fifo.discard(drop);
            if kept_frames > self.fifo.free() {
                // Packet alone exceeds the target: it replaces everything.
                self.fifo.discard(self.fifo.len());
            }
            self.controller.resync();
        }
        self.fifo.write(&kept[..kept_frames * self.channels]);
        kept_frames
    }

    /// Render side: writes exactly `frames` interleaved frames into `out` (which must hold at
    /// least `frames × channels` samples; a shorter `out` limits `frames` to what fits).
    ///
    /// Never blocks. While priming (start-up, or after an underrun) it outputs silence until
    /// the FIFO reaches `target_fill_frames`; older frames beyond the target are then dropped. If the FIFO cannot supply a block, that is an
    /// underrun: the block is silence, it is counted, and the compensator re-primes (resync).
    pub fn pull_output(&mut self, out: &mut [f32], frames: usize) -> PullOutcome {
        self.pull_output_with_phase(out, frames, 0.0)
    }

    /// [`Self::pull_output`] for a caller that knows the capture phase: how many input
    /// frames have been captured but not yet pushed (the age of the newest pushed frame at
    /// this pull, in frames). Priming and the controller then hold the level `fill + phase`
    /// at the target instead of the fill.
    ///
    /// Why: when pulls come in bursts locked to the render clock and packets arrive on the
    /// capture clock, the fill sampled at each pull carries a packet-sized term that beats
    /// slowly (a whole packet over `1 / drift` periods, e.g. 67 s at 150 ppm). The loop
    /// follows such a slow beat and the drift estimate wanders with it; `fill + phase` has no
    /// such term.
    pub fn pull_output_with_phase(
        &mut self,
        out: &mut [f32],
        frames: usize,
        phase_frames: f64,
    ) -> PullOutcome {
        self.phase_frames = if phase_frames.is_finite() {
            phase_frames
        } else {
            0.0
        };
        let frames = frames.min(out.len() / self.channels);
        let out = &mut out[..frames * self.channels];
        let outcome = self.pull_blocks(out, frames);
        if outcome != PullOutcome::Audio {
            out.fill(0.0);
        }
        self.publish();
        outcome
    }

    /// Takes over a running stream: delivers from what the FIFO holds at once (no priming),
    /// with `phase_frames` as the capture phase of the next pull (see
    /// [`Self::pull_output_with_phase`]). The controller then steers the level from where it
    /// is back to the target. Real-time safe.
    pub fn resume(&mut self, phase_frames: f64) {
        self.state = StreamState::Running;
        self.controller.resync();
        self.phase_frames = phase_frames;
    }

    fn pull_blocks(&mut self, out: &mut [f32], frames: usize) -> PullOutcome {
        if self.state == StreamState::Priming {
            // The level: frames queued plus the capture phase (how old the newest is).
            let level = self.fifo.len() as f64 + self.phase_frames;
            if level < self.target_fill as f64 || self.fifo.len() < self.block_frames {
                return PullOutcome::Priming;
            }
            // Frames beyond the target (render started late, or stalled) would only add
            // latency the ±1 % loop takes seconds to drain: start exactly at the target level,
            // so the latency does not depend on the capture phase at start.
            let excess = (level - self.target_fill as f64).round() as usize;
            self.fifo
                .discard(excess.min(self.fifo.len() - self.block_frames));
            self.state = StreamState::Running;
            self.controller.resync();
        }
        let mut done = 0;
        while done < frames {
            let chunk = (frames - done).min(self.block_frames);
            let dest = &mut out[done * self.channels..(done + chunk) * self.channels];
            if !self.pull_chunk(dest, chunk) {
                self.underruns += 1;
                self.monitor
                    .underruns
                    .store(self.underruns, Ordering::Relaxed);
                self.state = StreamState::Priming;
                if let Some(resampler) = self.resampler.as_mut() {
                    // Start the next run from clean filter history, not a stale tail.
                    resampler.reset();
                    self.resampler_chunk = self.block_frames;
                }
                return PullOutcome::Underrun;
            }
            done += chunk;
        }
        PullOutcome::Audio
    }

    /// One chunk of at most `block_frames`; false when the FIFO cannot supply it.
    fn pull_chunk(&mut self, dest: &mut [f32], chunk: usize) -> bool {
        let fill = self.fifo.len();
        let observed = fill as f64 + self.phase_frames;
        let Some(resampler) = self.resampler.as_mut() else {
            if fill < chunk {
                return false;
            }
            self.controller.observe(observed, chunk);
            self.fifo.read(dest);
            return true;
        };
        if chunk != self.resampler_chunk {
            // Cannot fail: 0 < chunk <= block_frames, the size the resampler was built with.
            if resampler.set_chunk_size(chunk).is_err() {
                return false;
            }
            self.resampler_chunk = chunk;
        }
        let correction = self.controller.update(observed, chunk);
        // Cannot fail: |correction| <= max_correction, inside the resampler's bounds.
        let _ = resampler.set_resample_ratio_relative(1.0 / (1.0 + correction), true);
        let needed = resampler.input_frames_next();
        if fill < needed {
            return false;
        }
        let input = &mut self.resampler_input[..needed * self.channels];
        self.fifo.read(input);
        let processed = match (
            InterleavedSlice::new(&*input, self.channels, needed),
            InterleavedSlice::new_mut(dest, self.channels, chunk),
        ) {
            (Ok(input), Ok(mut output)) => resampler.process_into_buffer(&input, &mut output, None),
            // Cannot happen: both buffers are sized above from the resampler's own figures.
            _ => return false,
        };
        matches!(processed, Ok((_, written)) if written == chunk)
    }

    fn publish(&self) {
        let m = &self.monitor;
        m.drift_ppm_bits
            .store(self.drift_ppm().to_bits(), Ordering::Relaxed);
        m.latency_frames_bits
            .store(self.latency_frames().to_bits(), Ordering::Relaxed);
    }

    /// Estimated clock drift of the capture device relative to the render device, in ppm,
    /// smoothed: positive when capture delivers more frames than `nominal_ratio` predicts
    /// (its clock runs fast). Always 0 in pass-through mode.
    pub fn drift_ppm(&self) -> f64 {
        match self.mode {
            CompensationMode::PassThrough => 0.0,
            CompensationMode::Adaptive => self.controller.drift_smoothed * 1e6,
        }
    }

    /// Current correction applied to the resampling ratio, ppm (drift estimate plus the
    /// proportional term steering the fill back to target).
    pub fn correction_ppm(&self) -> f64 {
        self.controller.correction * 1e6
    }

    /// Mean time a frame spends between `push_input` and the `pull_output` that returns it,
    /// in output frames: by Little's law the time-averaged FIFO fill over the input rate, plus
    /// the resampler's filter delay (half its taps). The fill is sampled just before each pull
    /// and smoothed; between pulls it averages half a block less. Add this to the input
    /// latency reported to the ASIO host.
    pub fn latency_frames(&self) -> f64 {
        let mean_fill_out = self.controller.filtered_fill() / self.nominal_ratio;
        (mean_fill_out - self.block_frames as f64 / 2.0).max(0.0) + self.resampler_delay_out_frames
    }

    /// Delay of the resampler's filter in output frames (half its taps; 0 in pass-through):
    /// the first frame of a pulled block lies this far behind the oldest frame it consumed.
    pub fn resampler_delay_frames(&self) -> f64 {
        self.resampler_delay_out_frames
    }

    /// Frames currently queued in the FIFO (input frames).
    pub fn fill_frames(&self) -> usize {
        self.fifo.len()
    }

    /// Smoothed FIFO fill seen by the controller (input frames).
    pub fn filtered_fill_frames(&self) -> f64 {
        self.controller.filtered_fill()
    }

    /// The fill the controller holds (input frames).
    pub fn target_fill_frames(&self) -> usize {
        self.target_fill
    }

    /// Pulls that found the FIFO empty (each delivered silence and re-primed).
    pub fn underruns(&self) -> u64 {
        self.underruns
    }

    /// Pushes that found the FIFO full (each dropped the oldest frames back to the target).
    pub fn overruns(&self) -> u64 {
        self.overruns
    }

    /// True once primed and delivering audio.
    pub fn is_running(&self) -> bool {
        self.state == StreamState::Running
    }

    /// The mode chosen at construction.
    pub fn mode(&self) -> CompensationMode {
        self.mode
    }

    /// Channels per frame.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// A handle other threads can read drift, latency and counters from without touching the
    /// audio thread's state.
    pub fn monitor(&self) -> Arc<DriftMonitor> {
        Arc::clone(&self.monitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interleaved_ramp(frames: usize, channels: usize, start: usize) -> Vec<f32> {
        (0..frames * channels)
            .map(|i| ((start * channels + i) % 65_521) as f32 * 1e-5)
            .collect()
    }

    #[test]
    fn fifo_wraps_and_preserves_order() {
        let mut fifo = FrameFifo::new(2, 5);
        let a = interleaved_ramp(3, 2, 0);
        fifo.write(&a);
        let mut out = vec![0.0; 4];
        fifo.read(&mut out);
        assert_eq!(out, a[..4]);
        let b = interleaved_ramp(4, 2, 3);
        fifo.write(&b);
        assert_eq!(fifo.len(), 5);
        let mut rest = vec![0.0; 10];
        fifo.read(&mut rest);
        assert_eq!(rest[..2], a[4..]);
        assert_eq!(rest[2..], b[..]);
    }

    #[test]
    fn rejects_bad_configs() {
        let ok = DriftConfig::new(2, 1.0, 48_000.0, 256, 1024);
        assert!(DriftCompensator::new(ok.clone()).is_ok());
        let zero_channels = DriftConfig {
            channels: 0,
            ..ok.clone()
        };
        assert!(DriftCompensator::new(zero_channels).is_err());
        let nan_ratio = DriftConfig {
            nominal_ratio: f64::NAN,
            ..ok.clone()
        };
        assert!(DriftCompensator::new(nan_ratio).is_err());
        let small_target = DriftConfig {
            target_fill_frames: 100,
            ..ok.clone()
        };
        assert!(DriftCompensator::new(small_target).is_err());
        let passthrough_resampling = DriftConfig::new(2, 44_100.0 / 48_000.0, 48_000.0, 256, 1024)
            .mode(CompensationMode::PassThrough);
        assert!(DriftCompensator::new(passthrough_resampling).is_err());
    }

    #[test]
    fn passthrough_is_bit_exact() {
        let config =
            DriftConfig::new(2, 1.0, 48_000.0, 64, 100).mode(CompensationMode::PassThrough);
        let mut comp = DriftCompensator::new(config).unwrap();
        let input = interleaved_ramp(10_000, 2, 7);
        let mut output = Vec::new();
        let mut block = vec![0.0f32; 128];
        let mut pushed = 0;
        // Packets of 37 frames against blocks of 64: bursty but same average rate.
        while output.len() < 2 * 9_000 {
            while pushed < 10_000 && comp.fill_frames() < 150 {
                let end = (pushed + 37).min(10_000);
                comp.push_input(&input[pushed * 2..end * 2]);
                pushed = end;
            }
            if comp.pull_output(&mut block, 64) == PullOutcome::Audio {
                output.extend_from_slice(&block);
            }
        }
        assert_eq!(comp.underruns(), 0);
        // Priming ended by dropping the frames beyond the target; from there on every
        // sample comes out unchanged and in order.
        let skipped = input.iter().position(|&s| s == output[0]).unwrap();
        assert!(skipped <= 2 * 150, "dropped {skipped} samples at start");
        assert_eq!(output[..], input[skipped..skipped + output.len()]);
    }

    #[test]
    fn underrun_gives_silence_and_reprimes() {
        let config = DriftConfig::new(1, 1.0, 48_000.0, 64, 128);
        let mut comp = DriftCompensator::new(config).unwrap();
        let mut block = vec![1.0f32; 64];
        assert_eq!(comp.pull_output(&mut block, 64), PullOutcome::Priming);
        assert!(block.iter().all(|&s| s == 0.0));
        comp.push_input(&vec![0.5; 128]);
        assert_eq!(comp.pull_output(&mut block, 64), PullOutcome::Audio);
        // No more input: within two more blocks the FIFO cannot supply one.
        let mut outcome = PullOutcome::Audio;
        for _ in 0..2 {
            block.fill(1.0);
            outcome = comp.pull_output(&mut block, 64);
            if outcome != PullOutcome::Audio {
                break;
            }
        }
        assert_eq!(outcome, PullOutcome::Underrun);
        assert!(block.iter().all(|&s| s == 0.0));
        assert_eq!(comp.underruns(), 1);
        assert_eq!(comp.monitor().underruns(), 1);
        assert!(!comp.is_running());
    }

    #[test]
    fn overrun_drops_oldest_back_to_target() {
        let config = DriftConfig::new(1, 1.0, 48_000.0, 64, 128)
            .mode(CompensationMode::PassThrough)
            .fifo_capacity_frames(300);
        let mut comp = DriftCompensator::new(config).unwrap();
        let ramp: Vec<f32> = (0..600).map(|i| i as f32).collect();
        let mut block = vec![0.0f32; 64];
        comp.push_input(&ramp[..128]);
        assert_eq!(comp.pull_output(&mut block, 64), PullOutcome::Audio);
        assert_eq!(comp.push_input(&ramp[128..328]), 200);
        assert_eq!(comp.overruns(), 0);
        assert_eq!(comp.fill_frames(), 264);
        assert_eq!(comp.push_input(&ramp[328..428]), 100);
        assert_eq!(comp.overruns(), 1);
        assert_eq!(comp.monitor().overruns(), 1);
        assert_eq!(comp.fill_frames(), 128);
        assert_eq!(comp.pull_output(&mut block, 64), PullOutcome::Audio);
        // The newest 128 frames survive: 300..428.
        assert_eq!(block[0], 300.0);
        // A packet larger than the target replaces everything older.
        assert_eq!(comp.push_input(&ramp[..290]), 290);
        assert_eq!(comp.overruns(), 2);
        assert_eq!(comp.fill_frames(), 290);
    }

    #[test]
    fn priming_overflow_is_not_an_overrun() {
        let config = DriftConfig::new(1, 1.0, 48_000.0, 64, 128)
            .mode(CompensationMode::PassThrough)
            .fifo_capacity_frames(300);
        let mut comp = DriftCompensator::new(config).unwrap();
        let ramp: Vec<f32> = (0..500).map(|i| i as f32).collect();
        comp.push_input(&ramp[..250]);
        comp.push_input(&ramp[250..]);
        assert_eq!(comp.overruns(), 0);
        assert_eq!(comp.fill_frames(), 300);
        let mut block = vec![0.0f32; 64];
        assert_eq!(comp.pull_output(&mut block, 64), PullOutcome::Audio);
        assert_eq!(block[0], 372.0);
    }

    #[test]
    fn late_render_start_begins_at_target_fill() {
        let config =
            DriftConfig::new(1, 1.0, 48_000.0, 64, 128).mode(CompensationMode::PassThrough);
        let mut comp = DriftCompensator::new(config).unwrap();
        let ramp: Vec<f32> = (0..500).map(|i| i as f32).collect();
        comp.push_input(&ramp);
        let mut block = vec![0.0f32; 64];
        assert_eq!(comp.pull_output(&mut block, 64), PullOutcome::Audio);
        assert_eq!(block[0], 372.0);
        assert_eq!(comp.fill_frames(), 64);
    }

    #[test]
    fn compensator_can_move_to_the_audio_thread() {
        fn assert_send<T: Send>() {}
        assert_send::<DriftCompensator>();
        fn assert_sync<T: Send + Sync>() {}
        assert_sync::<DriftMonitor>();
    }

    #[test]
    fn odd_pull_sizes_are_chunked() {
        let config = DriftConfig::new(2, 1.0, 48_000.0, 64, 256);
        let mut comp = DriftCompensator::new(config).unwrap();
        comp.push_input(&vec![0.25; 2 * 600]);
        let mut out = vec![0.0f32; 2 * 150];
        assert_eq!(comp.pull_output(&mut out, 150), PullOutcome::Audio);
        let mut small = vec![0.0f32; 2 * 10];
        assert_eq!(comp.pull_output(&mut small, 10), PullOutcome::Audio);
    }
}
