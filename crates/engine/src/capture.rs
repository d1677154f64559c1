//! The input path: capture packets of the device's size in, ASIO blocks of the host's size out.
//!
//! Capture packets (device format, interleaved) are queued in a FIFO on the device thread;
//! each buffer switch takes exactly one block from it into the host's input half. Two FIFOs:
//!
//! - **Same clock** (both directions on one device clock, or input only): a byte FIFO in the
//!   device's own format. Nothing is resampled; the host gets the device's samples through
//!   the same conversion kernels as the output path (bit-exact when the formats match).
//! - **Independent clocks**: [`crate::drift::DriftCompensator`] resamples the routed channels
//!   onto the render clock and holds its fill at a target.
//!
//! Both start by priming: the host gets silence until the FIFO's *level* reaches its target,
//! then the excess is dropped so every run starts at exactly the target. The level is the age
//! of the oldest queued frame at the switch's system time: the frames queued plus how long
//! ago the newest was captured (the capture phase). Holding the level, not just the frame
//! count, makes the input latency the same on every run, whatever the phase between capture
//! packets and render periods happened to be at start. With a shared clock the relation
//! between input block N and output block N is fixed from then on.
//!
//! The input latency is measured, not guessed: at each switch, the age of the block's first
//! frame against the switch's system time (both on QPC time, the capture side from the
//! packets' stamps through [`CaptureClock`]). It is published through [`InputMonitor`].
//!
//! Real-time safe after construction: no allocation, no lock.

use crate::buffers::HostBuffers;
use crate::capture_clock::{CaptureClock, StampMeaning};
use crate::clock_detect::{ClockDetector, Verdict};
use crate::convert::{device_to_host, DeviceFormat, DeviceToHost, HostSampleType};
use crate::drift::{
    CompensationMode, DriftCompensator, DriftConfig, DriftError, DriftMonitor, PullOutcome,
    ResamplerQuality,
};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// Whether input and output run on one device clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockRelation {
    /// One clock (or no output): a plain FIFO, nothing resampled.
    Shared,
    /// Two clocks: adaptive resampling onto the render clock.
    Independent,
    /// Not known: start bit-exact as [`Self::Shared`], and change to resampling (once, for
    /// the rest of the run) if the FIFO level drifts away by more than
    /// [`CaptureConfig::drift_threshold_frames`].
    Detect,
}

impl ClockRelation {
    pub fn describe(self) -> &'static str {
        match self {
            ClockRelation::Shared => "same clock, bit-exact",
            ClockRelation::Independent => "independent clocks, adaptive resampling",
            ClockRelation::Detect => "clock relation detected while running",
        }
    }
}

/// Everything the capture path needs, fixed when the stream is opened.
#[derive(Clone, Debug)]
pub struct CaptureConfig {
    /// The host's ASIO buffer size.
    pub block_frames: usize,
    pub sample_rate: f64,
    pub device_channels: usize,
    pub device_format: DeviceFormat,
    pub host_sample_type: HostSampleType,
    /// Frames per capture packet (the capture device period).
    pub packet_frames: usize,
    /// Largest packet the device may deliver at once (its buffer size).
    pub max_packet_frames: usize,
    /// Frames the render side consumes in one burst (its device period, at least one block);
    /// 0 for an input-only stream.
    pub render_burst_frames: usize,
    pub relation: ClockRelation,
    pub quality: ResamplerQuality,
    /// What the capture packets' QPC stamps mark.
    pub stamps: StampMeaning,
}

impl CaptureConfig {
    /// The FIFO level held at each switch (frames queued plus the capture phase), in frames:
    /// a render burst plus one block, plus the capture side's burstiness
    /// ([`DriftConfig::recommended_target_fill`]). Input only: one block (a switch runs as
    /// soon as a block is complete).
    pub fn target_fill_frames(&self) -> usize {
        if self.render_burst_frames == 0 {
            return self.block_frames;
        }
        self.render_burst_frames
            + DriftConfig::recommended_target_fill(
                1.0,
                self.block_frames,
                self.packet_frames,
                self.packet_frames / 2,
            )
    }

    /// The input latency expected before any measurement, in frames: the age of a block's
    /// first frame at its switch is the level held minus one (the level counts the block's
    /// first frame itself), plus the resampler's delay.
    pub fn predicted_latency_frames(&self) -> usize {
        if self.render_burst_frames == 0 {
            // Input only: a switch runs when the packet completing its block arrives, up to
            // a packet after the block's last frame was captured.
            return self.block_frames + self.packet_frames;
        }
        let resampler = match self.relation {
            ClockRelation::Shared | ClockRelation::Detect => 0,
            ClockRelation::Independent => self.quality_taps() / 2,
        };
        (self.target_fill_frames() + resampler).saturating_sub(1)
    }

    /// How far (frames) the smoothed FIFO level of a [`ClockRelation::Detect`] stream may move
    /// from where it settled before the clocks count as different: inside the FIFO's margin
    /// (3/4 packet beyond the capture burstiness), outside the wander of one clock. Measured
    /// under Wine on one clock (render and capture timing both tick-quantised by winepulse's
    /// 10 ms timer): up to 127 frames with 480-frame packets, so a quarter packet was too
    /// tight and tripped on a third of the runs.
    pub fn drift_threshold_frames(&self) -> f64 {
        (self.packet_frames / 2 + 64) as f64
    }

    fn quality_taps(&self) -> usize {
        match self.quality {
            ResamplerQuality::Standard => 128,
            ResamplerQuality::High => 256,
        }
    }
}

/// One active host input channel and where it comes from on the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CaptureRoute {
    /// Index of the channel inside the input [`HostBuffers`].
    pub host_buffer: usize,
    /// Device channel (0-based, in the device's interleaving order).
    pub device_channel: usize,
}

/// Counters and figures of the input path, readable from any thread.
#[derive(Debug, Default)]
pub struct InputMonitor {
    latency_bits: AtomicU64,
    measured: AtomicBool,
    /// Blocks the host got as silence because the FIFO ran dry (after priming).
    pub underruns: AtomicU64,
    /// Packets that found the FIFO full.
    pub overruns: AtomicU64,
    /// Packets the device flagged as discontinuous (it lost frames itself).
    pub discontinuities: AtomicU64,
    pub packets: AtomicU64,
    pub frames_captured: AtomicU64,
    /// Set once a [`ClockRelation::Detect`] stream found two clocks and resamples.
    pub resampling: AtomicBool,
    /// Detection figures (f64 bits): the largest distance (frames) of the smoothed level from
    /// where it settled, and the stream time (s) at which two clocks were detected.
    level_wander_bits: AtomicU64,
    detected_at_bits: AtomicU64,
    /// Steps of the level a [`ClockRelation::Detect`] stream saw and settled after (glitches
    /// on one clock, not drift).
    pub level_steps: AtomicU64,
    drift: std::sync::OnceLock<Arc<DriftMonitor>>,
}

impl InputMonitor {
    pub fn new() -> Self {
        Self::default()
    }

    /// The measured input latency in frames (smoothed), once a block of audio reached the host.
    pub fn measured_latency_frames(&self) -> Option<f64> {
        self.measured
            .load(Ordering::Acquire)
            .then(|| f64::from_bits(self.latency_bits.load(Ordering::Relaxed)))
    }

    /// The drift of the capture clock against the render clock, in ppm (0 with one clock).
    pub fn drift_ppm(&self) -> f64 {
        self.drift.get().map_or(0.0, |d| d.drift_ppm())
    }

    /// Forgets the previous run's measurement (a new stream starts).
    pub fn clear(&self) {
        self.measured.store(false, Ordering::Release);
        self.resampling.store(false, Ordering::Relaxed);
        self.level_wander_bits
            .store(0f64.to_bits(), Ordering::Relaxed);
        self.detected_at_bits
            .store(0f64.to_bits(), Ordering::Relaxed);
        self.level_steps.store(0, Ordering::Relaxed);
    }

    /// For a stream whose clock relation was detected while running: how far (frames) the
    /// smoothed FIFO level moved from where it settled at most, and when (s into the stream)
    /// two clocks were detected, if they were.
    pub fn detection(&self) -> (f64, Option<f64>) {
        let wander = f64::from_bits(self.level_wander_bits.load(Ordering::Relaxed));
        let at = f64::from_bits(self.detected_at_bits.load(Ordering::Relaxed));
        (
            wander,
            self.resampling.load(Ordering::Relaxed).then_some(at),
        )
    }

    fn publish_latency(&self, frames: f64) {
        self.latency_bits.store(frames.to_bits(), Ordering::Relaxed);
        self.measured.store(true, Ordering::Release);
    }
}

/// A fixed byte ring of whole frames in the device format, with priming.
struct ByteFifo {
    bytes: Vec<u8>,
    frame_bytes: usize,
    capacity_frames: usize,
    read_frame: usize,
    len_frames: usize,
    target_frames: usize,
    primed: bool,
}

impl ByteFifo {
    fn new(frame_bytes: usize, capacity_frames: usize, target_frames: usize) -> Self {
        Self {
            bytes: vec![0; frame_bytes * capacity_frames],
            frame_bytes,
            capacity_frames,
            read_frame: 0,
            len_frames: 0,
            target_frames,
            primed: false,
        }
    }

    fn discard(&mut self, frames: usize) {
        let frames = frames.min(self.len_frames);
        self.read_frame = (self.read_frame + frames) % self.capacity_frames;
        self.len_frames -= frames;
    }

    /// Appends frames (None: silence). Returns true on an overrun (oldest frames dropped
    /// back to the target while running).
    fn push(&mut self, data: Option<&[u8]>, frames: usize) -> bool {
        let frames = frames.min(self.capacity_frames);
        let free = self.capacity_frames - self.len_frames;
        let mut overrun = false;
        if frames > free {
            if self.primed {
                overrun = true;
                let keep = self.target_frames.min(self.capacity_frames - frames);
                let excess = self.len_frames.saturating_sub(keep);
                self.discard(excess);
            } else {
                self.discard(frames - free);
            }
        }
        let mut start = (self.read_frame + self.len_frames) % self.capacity_frames;
        let mut done = 0;
        while done < frames {
            let run = (frames - done).min(self.capacity_frames - start);
            let dst = &mut self.bytes[start * self.frame_bytes..(start + run) * self.frame_bytes];
            match data {
                Some(src) => dst.copy_from_slice(
                    &src[done * self.frame_bytes..(done + run) * self.frame_bytes],
                ),
                None => dst.fill(0),
            }
            done += run;
            start = (start + run) % self.capacity_frames;
        }
        self.len_frames += frames;
        overrun
    }

    /// Ends priming once the level (frames queued plus `phase`, the capture phase) reaches
    /// the target and a whole `block` is queued. The excess is dropped, so every run starts
    /// at exactly the target level. Returns whether the FIFO is primed.
    fn prime(&mut self, phase: f64, block: usize) -> bool {
        if !self.primed {
            let level = self.len_frames as f64 + phase;
            if level < self.target_frames as f64 || self.len_frames < block {
                return false;
            }
            let excess = (level - self.target_frames as f64).round() as usize;
            self.discard(excess.min(self.len_frames - block));
            self.primed = true;
        }
        self.primed
    }

    /// The oldest `frames` frames as up to two slices, if available.
    fn peek(&self, frames: usize) -> Option<(&[u8], &[u8])> {
        if self.len_frames < frames {
            return None;
        }
        let first = frames.min(self.capacity_frames - self.read_frame);
        let start = self.read_frame * self.frame_bytes;
        let a = &self.bytes[start..start + first * self.frame_bytes];
        let b = &self.bytes[..(frames - first) * self.frame_bytes];
        Some((a, b))
    }
}

enum Fifo {
    Bytes(ByteFifo),
    Drift {
        compensator: Box<DriftCompensator>,
        /// Per-route planar f32 bytes of a packet chunk, then interleaved f32.
        planar: Vec<u8>,
        interleaved_in: Vec<f32>,
        interleaved_out: Vec<f32>,
        out_bytes: Vec<u8>,
    },
}

/// What a [`CapturePath::pull_block`] delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputBlock {
    /// Captured audio.
    Audio,
    /// Silence while the FIFO fills to its target (start-up).
    Priming,
    /// Silence: the FIFO ran dry.
    Underrun,
}

/// When (s into the stream) a [`ClockRelation::Detect`] stream takes the level it then holds
/// against.
const DETECT_REFERENCE_S: f64 = 3.0;
/// Largest packet chunk converted at once on the drift path.
const DRIFT_CHUNK_FRAMES: usize = 1024;
/// Time constant of the latency measurement's smoothing, in switches.
const LATENCY_SMOOTHING_SWITCHES: f64 = 32.0;

pub struct CapturePath {
    config: CaptureConfig,
    frame_bytes: usize,
    routes: Vec<CaptureRoute>,
    device_convert: DeviceToHost,
    float_convert: DeviceToHost,
    buffers: Arc<HostBuffers>,
    fifo: Fifo,
    /// A drift FIFO built in advance for a [`ClockRelation::Detect`] stream.
    standby: Option<Fifo>,
    /// Whether the level ramps (two clocks) or only steps (glitches on one clock).
    detector: ClockDetector,
    /// Capture stream index of the next frame to arrive.
    frames_pushed: u64,
    /// Device position the next packet should start at (to detect lost frames).
    expected_device_position: Option<u64>,
    /// Capture clock: stream index ↔ QPC time.
    clock: CaptureClock,
    latency_ema: Option<f64>,
    monitor: Arc<InputMonitor>,
}

impl CapturePath {
    /// Builds the path; allocates everything it will use.
    pub fn new(
        config: CaptureConfig,
        routes: Vec<CaptureRoute>,
        buffers: Arc<HostBuffers>,
        monitor: Arc<InputMonitor>,
    ) -> Result<Self, DriftError> {
        let frame_bytes = config.device_channels * config.device_format.bytes_per_sample();
        let target = config.target_fill_frames();
        let capacity = 4 * (target + 2 * config.block_frames) + 2 * config.max_packet_frames;
        let build_drift = |monitor: &InputMonitor| -> Result<Fifo, DriftError> {
            let drift = DriftConfig::new(
                routes.len().max(1),
                1.0,
                config.sample_rate,
                config.block_frames,
                target,
            )
            .mode(CompensationMode::Adaptive)
            .quality(config.quality)
            .fifo_capacity_frames(capacity);
            let compensator = Box::new(DriftCompensator::new(drift)?);
            let _ = monitor.drift.set(compensator.monitor());
            let channels = routes.len().max(1);
            Ok(Fifo::Drift {
                compensator,
                planar: vec![0; DRIFT_CHUNK_FRAMES * 4],
                interleaved_in: vec![0.0; DRIFT_CHUNK_FRAMES * channels],
                interleaved_out: vec![0.0; config.block_frames * channels],
                out_bytes: vec![0; config.block_frames * channels * 4],
            })
        };
        let (fifo, standby) = match config.relation {
            ClockRelation::Shared => (
                Fifo::Bytes(ByteFifo::new(frame_bytes, capacity, target)),
                None,
            ),
            ClockRelation::Independent => (build_drift(&monitor)?, None),
            ClockRelation::Detect => (
                Fifo::Bytes(ByteFifo::new(frame_bytes, capacity, target)),
                Some(build_drift(&monitor)?),
            ),
        };
        monitor.clear();
        Ok(Self {
            device_convert: device_to_host(config.device_format, config.host_sample_type),
            float_convert: device_to_host(DeviceFormat::Float32, config.host_sample_type),
            frame_bytes,
            routes,
            buffers,
            fifo,
            standby,
            detector: ClockDetector::new(
                config.block_frames as f64 / config.sample_rate,
                DETECT_REFERENCE_S,
                config.drift_threshold_frames(),
            ),
            frames_pushed: 0,
            expected_device_position: None,
            clock: CaptureClock::new(config.stamps, config.sample_rate),
            latency_ema: None,
            monitor,
            config,
        })
    }

    pub fn config(&self) -> &CaptureConfig {
        &self.config
    }
    pub fn frame_bytes(&self) -> usize {
        self.frame_bytes
    }
    pub fn monitor(&self) -> Arc<InputMonitor> {
        self.monitor.clone()
    }

    /// Queues one capture packet: `frames` interleaved device frames (`None`: the device
    /// flagged it silent), whose first frame has device position `device_position` (frames)
    /// recorded at QPC time `qpc_ns`. `discontinuity`: the device says it lost frames.
    pub fn push_packet(
        &mut self,
        data: Option<&[u8]>,
        frames: usize,
        device_position: u64,
        qpc_ns: u64,
        discontinuity: bool,
    ) {
        if frames == 0 {
            return;
        }
        let m = self.monitor.clone();
        m.packets.fetch_add(1, Ordering::Relaxed);
        m.frames_captured
            .fetch_add(frames as u64, Ordering::Relaxed);
        let lost = self
            .expected_device_position
            .is_some_and(|expected| device_position > expected);
        if discontinuity && self.frames_pushed > 0 || lost {
            m.discontinuities.fetch_add(1, Ordering::Relaxed);
            // Frames went missing: the count no longer maps onto the device's timeline.
            self.clock.reset();
        }
        self.expected_device_position = Some(device_position + frames as u64);
        self.clock.observe(self.frames_pushed, frames, qpc_ns);
        self.frames_pushed += frames as u64;
        let data = data.map(|d| &d[..frames * self.frame_bytes]);
        let overrun = push_into(
            &mut self.fifo,
            &self.routes,
            self.config.device_format,
            self.frame_bytes,
            data,
            frames,
        );
        if overrun {
            m.overruns.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Whether a whole block can be pulled now (input-only streams switch when it can).
    pub fn block_ready(&mut self) -> bool {
        let block = self.config.block_frames;
        match &mut self.fifo {
            Fifo::Bytes(fifo) => fifo.prime(0.0, block) && fifo.len_frames >= block,
            Fifo::Drift { compensator, .. } => compensator.fill_frames() >= block,
        }
    }

    /// The capture phase at a switch: how old (frames) the newest captured frame is.
    fn phase_at(&self, switch_time_ns: u64) -> f64 {
        let newest = self.frames_pushed.saturating_sub(1) as f64;
        self.clock.time_of(newest).map_or(0.0, |newest_ns| {
            (switch_time_ns as f64 - newest_ns) * self.config.sample_rate / 1e9
        })
    }

    /// For a [`ClockRelation::Detect`] stream: follows the FIFO level (`fill` before the pull
    /// plus the capture phase; constant on one clock) and, once it ramps away from where it
    /// settled by more than the threshold ([`ClockDetector`]: a step is a glitch, not drift),
    /// hands the FIFO's frames to the drift compensator and resamples from then on.
    fn detect_drift(&mut self, fill: usize, phase: f64) {
        if self.standby.is_none() || self.is_resampling() {
            return;
        }
        let verdict = self.detector.observe(fill as f64 + phase);
        let m = &self.monitor;
        m.level_wander_bits
            .store(self.detector.wander.to_bits(), Ordering::Relaxed);
        match verdict {
            Verdict::Same => {}
            Verdict::Step(_) => {
                m.level_steps.fetch_add(1, Ordering::Relaxed);
            }
            Verdict::Drift => {
                m.detected_at_bits
                    .store(self.detector.elapsed_s().to_bits(), Ordering::Relaxed);
                self.start_resampling(phase)
            }
        }
    }

    fn start_resampling(&mut self, phase: f64) {
        let Some(mut drift) = self.standby.take() else {
            return;
        };
        if let Fifo::Bytes(bytes) = &mut self.fifo {
            let queued = bytes.len_frames;
            if let Some((a, b)) = bytes.peek(queued) {
                let fb = self.frame_bytes;
                for part in [a, b] {
                    push_into(
                        &mut drift,
                        &self.routes,
                        self.config.device_format,
                        fb,
                        Some(part),
                        part.len() / fb,
                    );
                }
            }
        }
        if let Fifo::Drift { compensator, .. } = &mut drift {
            compensator.resume(phase);
        }
        // The byte FIFO is kept (and freed with the path, outside the real-time loop).
        self.standby = Some(std::mem::replace(&mut self.fifo, drift));
        self.monitor.resampling.store(true, Ordering::Relaxed);
    }

    /// Whether the stream resamples now.
    pub fn is_resampling(&self) -> bool {
        matches!(self.fifo, Fifo::Drift { .. })
    }

    /// Fills the host's input `half` with the next block; `switch_time_ns` is the switch's
    /// system time (QPC ns), against which the block's age is measured.
    pub fn pull_block(&mut self, half: usize, switch_time_ns: u64) -> InputBlock {
        let block = self.config.block_frames;
        let host_bps = self.buffers.bytes_per_sample();
        let phase = self.phase_at(switch_time_ns);
        let mut detect_fill = None;
        // The block's first frame, counted back from the newest frame captured.
        let (outcome, age_frames) = match &mut self.fifo {
            Fifo::Bytes(fifo) => {
                let primed = fifo.prime(phase, block);
                let fill = fifo.len_frames;
                match fifo.peek(block).filter(|_| primed) {
                    Some((a, b)) => {
                        let first_frames = a.len() / self.frame_bytes;
                        let bps = self.config.device_format.bytes_per_sample();
                        for route in &self.routes {
                            // SAFETY: the device thread owns the input halves during a switch.
                            let dst = unsafe { self.buffers.half_mut(route.host_buffer, half) };
                            let offset = route.device_channel * bps;
                            if first_frames > 0 {
                                (self.device_convert)(
                                    &a[offset..],
                                    self.frame_bytes,
                                    &mut dst[..first_frames * host_bps],
                                    first_frames,
                                );
                            }
                            if first_frames < block {
                                (self.device_convert)(
                                    &b[offset..],
                                    self.frame_bytes,
                                    &mut dst[first_frames * host_bps..],
                                    block - first_frames,
                                );
                            }
                        }
                        fifo.discard(block);
                        detect_fill = Some(fill);
                        (InputBlock::Audio, fill as f64 - 1.0)
                    }
                    None if primed => {
                        fifo.primed = false;
                        (InputBlock::Underrun, 0.0)
                    }
                    None => (InputBlock::Priming, 0.0),
                }
            }
            Fifo::Drift {
                compensator,
                interleaved_out,
                out_bytes,
                ..
            } => {
                let channels = self.routes.len().max(1);
                // Priming ends by dropping the excess: the first run starts at the target.
                let fill = if compensator.is_running() {
                    compensator.fill_frames()
                } else {
                    compensator
                        .fill_frames()
                        .min(compensator.target_fill_frames())
                };
                let outcome =
                    match compensator.pull_output_with_phase(interleaved_out, block, phase) {
                        PullOutcome::Audio => InputBlock::Audio,
                        PullOutcome::Priming => InputBlock::Priming,
                        PullOutcome::Underrun => InputBlock::Underrun,
                    };
                if outcome == InputBlock::Audio {
                    for (dst, s) in out_bytes.chunks_exact_mut(4).zip(interleaved_out.iter()) {
                        dst.copy_from_slice(&s.to_le_bytes());
                    }
                    for (k, route) in self.routes.iter().enumerate() {
                        // SAFETY: the device thread owns the input halves during a switch.
                        let dst = unsafe { self.buffers.half_mut(route.host_buffer, half) };
                        (self.float_convert)(&out_bytes[k * 4..], channels * 4, dst, block);
                    }
                }
                (
                    outcome,
                    fill as f64 - 1.0 + compensator.resampler_delay_frames(),
                )
            }
        };
        if let Some(fill) = detect_fill {
            self.detect_drift(fill, phase);
        }
        match outcome {
            InputBlock::Audio => self.measure_latency(age_frames, switch_time_ns),
            InputBlock::Underrun => {
                self.monitor.underruns.fetch_add(1, Ordering::Relaxed);
                self.silence(half);
            }
            InputBlock::Priming => self.silence(half),
        }
        outcome
    }

    /// The QPC time (ns) at which the frame `age_frames` before the newest was captured.
    pub fn capture_time_ns(&self, age_frames: f64) -> Option<u64> {
        let frame = self.frames_pushed.checked_sub(1)? as f64 - age_frames;
        Some(self.clock.time_of(frame)?.max(0.0) as u64)
    }

    /// Frames queued (input frames).
    pub fn fill_frames(&self) -> usize {
        match &self.fifo {
            Fifo::Bytes(fifo) => fifo.len_frames,
            Fifo::Drift { compensator, .. } => compensator.fill_frames(),
        }
    }

    fn measure_latency(&mut self, age_frames: f64, switch_time_ns: u64) {
        let Some(captured_ns) = self.capture_time_ns(age_frames) else {
            return;
        };
        let frames = (switch_time_ns as f64 - captured_ns as f64) * self.config.sample_rate / 1e9;
        let smoothed = match self.latency_ema {
            None => frames,
            Some(previous) => previous + (frames - previous) / LATENCY_SMOOTHING_SWITCHES,
        };
        self.latency_ema = Some(smoothed);
        self.monitor.publish_latency(smoothed);
    }

    fn silence(&self, half: usize) {
        for route in &self.routes {
            // SAFETY: the device thread owns the input halves during a switch.
            unsafe { self.buffers.half_mut(route.host_buffer, half) }.fill(0);
        }
    }
}

/// Device samples (strided) to contiguous little-endian f32.
fn to_f32(format: DeviceFormat) -> DeviceToHost {
    device_to_host(format, HostSampleType::Float32Lsb)
}

/// Appends frames to either FIFO (the drift one takes the routed channels as f32). Returns
/// true on an overrun.
fn push_into(
    fifo: &mut Fifo,
    routes: &[CaptureRoute],
    format: DeviceFormat,
    frame_bytes: usize,
    data: Option<&[u8]>,
    frames: usize,
) -> bool {
    match fifo {
        Fifo::Bytes(fifo) => fifo.push(data, frames),
        Fifo::Drift {
            compensator,
            planar,
            interleaved_in,
            ..
        } => {
            let before = compensator.overruns();
            let channels = routes.len().max(1);
            let bps = format.bytes_per_sample();
            let mut done = 0;
            while done < frames {
                let chunk = (frames - done).min(DRIFT_CHUNK_FRAMES);
                let dst = &mut interleaved_in[..chunk * channels];
                match data {
                    None => dst.fill(0.0),
                    Some(src) => {
                        let src = &src[done * frame_bytes..];
                        for (k, route) in routes.iter().enumerate() {
                            let planar = &mut planar[..chunk * 4];
                            (to_f32(format))(
                                &src[route.device_channel * bps..],
                                frame_bytes,
                                planar,
                                chunk,
                            );
                            for (i, s) in planar.chunks_exact(4).enumerate() {
                                dst[i * channels + k] =
                                    f32::from_le_bytes([s[0], s[1], s[2], s[3]]);
                            }
                        }
                    }
                }
                compensator.push_input(dst);
                done += chunk;
            }
            compensator.overruns() > before
        }
    }
}
