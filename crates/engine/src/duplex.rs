//! Input and output in one buffer switch, on one device thread.
//!
//! The device thread waits on the render event, the capture event and its wake event in
//! one loop. Capture events only queue packets ([`CapturePath::push_packet`]); render
//! events run the output pipeline, which runs the buffer switches. [`DuplexSwitch`] puts
//! the input half in place right before the host's bufferSwitch, so switch N hands the
//! host input block N and takes output block N: one clock (the render clock) drives
//! switches, sample positions and timestamps, and with a shared clock the relation between
//! the two blocks is fixed.
//!
//! Input-only streams have no render clock: [`InputOnlyScheduler`] runs a switch each time
//! a whole block has been captured, with times from the capture clock.

use crate::buffers::HostBuffers;
use crate::capture::{CapturePath, InputBlock};
use crate::clock::{ClockReading, PositionCell};
use crate::period::PeriodRenderer;
use crate::render::{
    RenderConfig, RenderPipeline, RenderRoute, RenderStats, SwitchHandler, SwitchTiming,
};
use std::sync::Arc;

/// The host's switch, preceded by the input block for the same switch.
pub struct DuplexSwitch<'a, H: SwitchHandler + ?Sized> {
    pub capture: &'a mut CapturePath,
    pub host: &'a mut H,
}

impl<H: SwitchHandler + ?Sized> SwitchHandler for DuplexSwitch<'_, H> {
    fn buffer_switch(&mut self, timing: &SwitchTiming) {
        self.capture.pull_block(timing.half, timing.system_time_ns);
        self.host.buffer_switch(timing);
    }
}

/// Runs the switches of an input-only stream from the capture clock.
pub struct InputOnlyScheduler {
    block_frames: usize,
    sample_rate: f64,
    /// The input latency reported to the host: a switch's system time is its block's first
    /// frame's capture time plus this.
    latency_frames: usize,
    positions: Arc<PositionCell>,
    stats: RenderStats,
}

impl InputOnlyScheduler {
    pub fn new(capture: &CapturePath, positions: Arc<PositionCell>) -> Self {
        let config = capture.config();
        Self {
            block_frames: config.block_frames,
            sample_rate: config.sample_rate,
            latency_frames: config.predicted_latency_frames(),
            positions,
            stats: RenderStats::default(),
        }
    }

    pub fn latency_frames(&self) -> usize {
        self.latency_frames
    }

    /// Counters (`frames_to_device` stays 0: nothing is rendered).
    pub fn stats(&self) -> RenderStats {
        self.stats
    }

    /// Runs a switch for every whole block queued in `capture`. Call after each capture
    /// event. Real-time safe.
    pub fn run_ready<H: SwitchHandler + ?Sized>(
        &mut self,
        capture: &mut CapturePath,
        host: &mut H,
    ) -> usize {
        let mut ran = 0;
        while capture.block_ready() {
            let age = capture.fill_frames() as f64 - 1.0;
            let Some(first_ns) = capture.capture_time_ns(age) else {
                break;
            };
            let block = self.stats.switches;
            let timing = SwitchTiming {
                half: (block % 2) as usize,
                sample_position: block * self.block_frames as u64,
                system_time_ns: first_ns
                    + (self.latency_frames as f64 * 1e9 / self.sample_rate) as u64,
            };
            if capture.pull_block(timing.half, timing.system_time_ns) != InputBlock::Audio {
                break;
            }
            self.positions
                .publish(timing.sample_position, timing.system_time_ns);
            host.buffer_switch(&timing);
            self.stats.switches += 1;
            ran += 1;
        }
        ran
    }
}

/// A stream's output path, with its input half when the stream has inputs: what the WASAPI
/// worker and the simulated device both run at each device event.
pub enum DeviceRenderer {
    /// Host blocks through the ring (shared modes, exclusive polling).
    Ring(RenderPipeline),
    /// Exclusive event-driven: one buffer switch per period, written directly.
    Period(PeriodRenderer),
}

impl DeviceRenderer {
    /// `block_is_period`: the ASIO block is the device period (exclusive event mode).
    pub fn new(
        block_is_period: bool,
        config: RenderConfig,
        routes: Vec<RenderRoute>,
        buffers: Arc<HostBuffers>,
        positions: Arc<PositionCell>,
    ) -> Self {
        if block_is_period {
            Self::Period(PeriodRenderer::new(config, routes, buffers, positions))
        } else {
            Self::Ring(RenderPipeline::new(config, routes, buffers, positions))
        }
    }

    /// Whether each event takes the whole buffer (one period) rather than its free space.
    pub fn is_period(&self) -> bool {
        matches!(self, Self::Period(_))
    }

    pub fn frame_bytes(&self) -> usize {
        match self {
            Self::Ring(r) => r.frame_bytes(),
            Self::Period(r) => r.frame_bytes(),
        }
    }

    pub fn prefill_silence(&mut self, dst: &mut [u8]) {
        match self {
            Self::Ring(r) => r.prefill_silence(dst),
            Self::Period(r) => r.prefill_silence(dst),
        }
    }

    pub fn stats(&self) -> RenderStats {
        match self {
            Self::Ring(r) => r.stats(),
            Self::Period(r) => r.stats(),
        }
    }

    /// Fills `dst` (the device's free space; `device_padding` frames are still queued),
    /// running the host's switches, each preceded by its input block when `capture` is given.
    /// Real-time safe.
    pub fn render<H: SwitchHandler + ?Sized>(
        &mut self,
        dst: &mut [u8],
        device_padding: usize,
        clock: &ClockReading,
        capture: Option<&mut CapturePath>,
        host: &mut H,
    ) {
        match (self, capture) {
            (Self::Ring(r), Some(capture)) => r.render(
                dst,
                device_padding,
                clock,
                &mut DuplexSwitch { capture, host },
            ),
            (Self::Period(r), Some(capture)) => {
                r.render(dst, clock, &mut DuplexSwitch { capture, host })
            }
            (Self::Ring(r), None) => r.render(dst, device_padding, clock, host),
            (Self::Period(r), None) => r.render(dst, clock, host),
        }
    }
}
