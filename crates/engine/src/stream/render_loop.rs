//! The real-time loops: the render (and duplex) loop, paced by the audio event or the
//! polling timer, and the input-only loop, paced by the capture event. Both wait only on
//! their signals and the wake event, never allocate, lock or log synchronously (records go
//! to the wait-free log ring), and hold a silence watchdog: a device that stops signalling
//! is asked whether it lives, and given up when it stays silent for 10 s.

use super::capture_setup::OpenCapture;
use super::live::LiveClient;
use crate::backend::{BackendError, StreamCounters, StreamHandler};
use crate::capture::CapturePath;
use crate::clock::ClockReading;
use crate::deadline::DeadlineAccount;
use crate::duplex::{DeviceRenderer, InputOnlyScheduler};
use crate::format::frames_to_hns;
use crate::log::{LogLevel, RtEvent, RtLogProducer};
use crate::port::{AudioClient, AudioClock, AudioPort, Hr, RenderClient, Wait};

/// How long one wait for the audio event lasts before the device is asked whether it lives.
pub const EVENT_TIMEOUT_MS: u32 = 2000;
/// A device that answers but delivers no event for this many waits in a row is gone.
pub const MAX_SILENT_WAITS: u32 = 5;

/// A failure inside the real-time loop: no allocation until the loop has ended.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RtFailure {
    pub step: &'static str,
    pub hresult: Option<i32>,
}

impl RtFailure {
    fn from(step: &'static str, hr: Hr) -> Self {
        Self {
            step,
            hresult: Some(hr.0),
        }
    }
    fn silent(step: &'static str) -> Self {
        Self {
            step,
            hresult: None,
        }
    }
    pub fn into_error(self) -> BackendError {
        match self.hresult {
            Some(hr) => BackendError::from_hresult(self.step, hr),
            None => BackendError::new(self.step, "no audio event for 10 s: the device stopped"),
        }
    }
}

/// What the render loop works with, built before it starts.
pub(crate) struct RenderLoop<'a, P: AudioPort> {
    pub port: &'a P,
    pub live: &'a mut LiveClient<P>,
    pub device_buffer_frames: usize,
    pub sample_rate: f64,
    /// The polling period (exclusive polling mode), or None when event-driven.
    pub poll_period_frames: Option<usize>,
    pub renderer: &'a mut DeviceRenderer,
    pub handler: &'a mut dyn StreamHandler,
    pub rt_log: &'a mut RtLogProducer,
    pub counters: &'a StreamCounters,
    pub deadlines: &'a mut DeadlineAccount,
    /// With inputs: the capture stream and the path its packets go into.
    pub capture: Option<(&'a mut OpenCapture<P>, &'a mut CapturePath)>,
    pub wake: &'a P::Handle,
}

/// Waits on the stream's signal (audio event or poll timer) and fills the device each
/// time. Returns `None` when woken (stop), or the failure that ended the stream.
/// Allocation-free.
pub(crate) fn run_render_loop<P: AudioPort>(mut l: RenderLoop<'_, P>) -> Option<RtFailure> {
    let port = l.port;
    let frame_bytes = l.renderer.frame_bytes();
    let buffer_frames = l.device_buffer_frames as u32;
    let rate = l.sample_rate;
    // A timer always fires: a device that stopped shows as a padding that never moves for
    // as long as an event-driven device may stay silent (10 s). The timer ticks at half a
    // period.
    let event_driven = l.poll_period_frames.is_none();
    let tick_ms = l.poll_period_frames.map_or(EVENT_TIMEOUT_MS, |frames| {
        (frames_to_hns(frames, rate as u32) / 20_000).max(1) as u32
    });
    let max_idle_ticks = (EVENT_TIMEOUT_MS * MAX_SILENT_WAITS / tick_ms).max(1);
    let mut idle_ticks = 0u32;
    let mut silent_waits = 0u32;
    // When the render signal last came: in duplex, capture events keep the thread busy
    // while a vanished render device stays silent, so silence is timed, not only waited.
    let mut heard_ns = port.qpc_ns();
    let silence_ns = EVENT_TIMEOUT_MS as u64 * 1_000_000;
    loop {
        // With inputs the capture event is waited on too (duplex: one thread, both clocks'
        // events): its packets go into the input path, and each switch takes its input block
        // first ([`crate::duplex::DuplexSwitch`]).
        let woke = match &l.capture {
            Some((capture, _)) => {
                port.wait_for_multiple(&[&l.live.signal, &capture.event, l.wake], EVENT_TIMEOUT_MS)
            }
            None => port.wait_for_multiple(&[&l.live.signal, l.wake], EVENT_TIMEOUT_MS),
        };
        let wake_index = if l.capture.is_some() { 2 } else { 1 };
        let index = match woke {
            Ok(Wait::Signaled(index)) => Some(index),
            Ok(Wait::Timeout) => None,
            Err(e) => return Some(RtFailure::from("WaitForMultipleObjects", e)),
        };
        let woke_ns = port.qpc_ns();
        if index == Some(wake_index) {
            return None;
        }
        if index == Some(0) {
            heard_ns = woke_ns;
            silent_waits = 0;
        } else if index.is_none() || woke_ns.saturating_sub(heard_ns) >= silence_ns {
            // A slow event is not a dead device: ask the client. An error ends the stream
            // (a vanished device answers AUDCLNT_E_DEVICE_INVALIDATED); otherwise keep
            // waiting, and give up only when the device stays silent for long.
            if let Err(e) = l.live.client.current_padding() {
                return Some(RtFailure::from(
                    "IAudioClient::GetCurrentPadding (no audio event)",
                    e,
                ));
            }
            silent_waits += 1;
            if silent_waits >= MAX_SILENT_WAITS {
                return Some(RtFailure::silent("waiting for the audio event"));
            }
            heard_ns = woke_ns;
        }
        let Some(index) = index else {
            continue;
        };
        if let Some((open, path)) = l.capture.as_mut() {
            if let Err((step, e)) = open.stream.drain(path) {
                return Some(RtFailure::from(step, e));
            }
            if index == 1 {
                continue;
            }
        }
        // Exclusive event mode: each event asks for the whole buffer (one period).
        let padding = if l.renderer.is_period() {
            0
        } else {
            match l.live.client.current_padding() {
                Ok(p) => p,
                Err(e) => return Some(RtFailure::from("IAudioClient::GetCurrentPadding", e)),
            }
        };
        let frames = buffer_frames.saturating_sub(padding);
        if frames == 0 {
            idle_ticks += 1;
            if !event_driven && idle_ticks > max_idle_ticks {
                return Some(RtFailure::silent("polling the device"));
            }
            continue;
        }
        idle_ticks = 0;
        let (position, qpc) = match l.live.clock.position() {
            Ok(reading) => reading,
            Err(e) => return Some(RtFailure::from("IAudioClock::GetPosition", e)),
        };
        let reading = ClockReading::from_audio_clock(position, l.live.clock_frequency, qpc, rate)
            .unwrap_or(ClockReading {
                position_frames: 0.0,
                qpc_ns: qpc.saturating_mul(100),
            });
        let underruns = l.renderer.stats().underruns;
        let render_started_ns;
        {
            let dst = match l.live.render.get_buffer(frames) {
                Ok(d) => d,
                Err(e) => return Some(RtFailure::from("IAudioRenderClient::GetBuffer", e)),
            };
            let dst_len = (frames as usize * frame_bytes).min(dst.len());
            render_started_ns = port.qpc_ns();
            l.renderer.render(
                &mut dst[..dst_len],
                padding as usize,
                &reading,
                l.capture.as_mut().map(|(_, path)| &mut **path),
                l.handler,
            );
        }
        // The driver's own code and the host's switches, not WASAPI calls (which under Wine
        // wait on locks its timer thread holds).
        let handling_ns = port.qpc_ns().saturating_sub(render_started_ns);
        let stats = l.renderer.stats();
        if stats.underruns > underruns {
            l.rt_log.push(RtEvent::OutputUnderrun { frames });
        }
        l.counters.publish(&stats);
        if let Err(e) = l.live.render.release_buffer(frames, 0) {
            return Some(RtFailure::from("IAudioRenderClient::ReleaseBuffer", e));
        }
        let late_blocks = l.deadlines.counts().late_blocks;
        l.deadlines.write(
            woke_ns,
            stats.underruns > underruns,
            handling_ns,
            port.qpc_ns(),
        );
        if l.deadlines.counts().late_blocks > late_blocks {
            l.rt_log.push(RtEvent::message(
                LogLevel::Warn,
                "late block: the driver held a device write longer than the device buffer lasts (max µs so far)",
                &[(l.deadlines.counts().max_handling_ns / 1000) as i64],
            ));
        }
    }
}

/// The input-only real-time loop: waits on the capture event and the wake event, moves
/// the captured packets into the input path and runs a switch per whole block
/// ([`InputOnlyScheduler`]). Returns `None` when woken (stop), or the failure that ended
/// the stream. Allocation-free.
pub(crate) fn run_input_only_loop<P: AudioPort>(
    port: &P,
    capture: &mut OpenCapture<P>,
    path: &mut CapturePath,
    scheduler: &mut InputOnlyScheduler,
    handler: &mut dyn StreamHandler,
    counters: &StreamCounters,
    wake: &P::Handle,
) -> Option<RtFailure> {
    let mut silent_waits = 0u32;
    loop {
        match port.wait_for_multiple(&[&capture.event, wake], EVENT_TIMEOUT_MS) {
            Ok(Wait::Timeout) => {
                if let Err(e) = capture.stream.client.current_padding() {
                    return Some(RtFailure::from(
                        "IAudioClient::GetCurrentPadding (no capture event)",
                        e,
                    ));
                }
                silent_waits += 1;
                if silent_waits >= MAX_SILENT_WAITS {
                    return Some(RtFailure::silent("waiting for the capture event"));
                }
                continue;
            }
            Ok(Wait::Signaled(1)) => return None,
            Ok(Wait::Signaled(_)) => {}
            Err(e) => return Some(RtFailure::from("WaitForMultipleObjects", e)),
        }
        silent_waits = 0;
        if let Err((step, e)) = capture.stream.drain(path) {
            return Some(RtFailure::from(step, e));
        }
        scheduler.run_ready(path, handler);
        counters.publish(&scheduler.stats());
    }
}
