//! The simulated devices at work: what a render endpoint plays each period, what a capture
//! endpoint records, when the driver signals, and what the clock reads.

use super::control::SimControl;
use super::spec::SimSignal;
use super::world::World;
use crate::capture_clock::StampMeaning;
use crate::convert::{host_to_device, HostSampleType};
use crate::format::{DeviceFormat, StreamFormat};
use std::collections::VecDeque;
use std::sync::atomic::Ordering;

/// How a stream was initialized.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StreamKind {
    Shared,
    /// IAudioClient3's `InitializeSharedAudioStream`.
    LowLatency,
    ExclusiveEvent,
    ExclusivePoll,
}

/// One period's worth the render device took, for the clock.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Chunk {
    pub time_ns: u64,
    pub start: u64,
    pub frames: u32,
}

/// A capture packet waiting to be read.
pub(crate) struct Packet {
    pub position: u64,
    pub frames: u32,
    /// The first frame's capture time; `None`: stamped when read (Wine).
    pub stamp_ns: Option<u64>,
    pub data: Vec<u8>,
    pub discontinuity: bool,
}

/// An initialized client's stream.
pub(crate) struct Stream {
    pub kind: StreamKind,
    pub capture: bool,
    pub event_driven: bool,
    pub format: StreamFormat,
    pub frame_bytes: usize,
    pub buffer_frames: u32,
    /// The device or engine period, frames at the stream's rate.
    pub period_frames: u32,
    pub latency_hns: i64,
    pub running: bool,
    pub start_ns: u64,
    /// Simulated ns per period (a capture clock `ppm` fast is shorter).
    pub period_ns: f64,
    /// The next period, counted from 1 since start.
    pub next_period: u64,
    // Render side.
    pub queue: VecDeque<u8>,
    pub pending_get: Option<u32>,
    pub chunk: Option<Chunk>,
    /// Frames taken by the device since the last reset.
    pub position: u64,
    // Capture side.
    pub packets: VecDeque<Packet>,
    pub packets_made: u64,
    pub lost: bool,
    pub reading: Option<u32>,
    /// A late event is due then: the driver's events until it are folded into it.
    pub hold_until: u64,
}

/// What Initialize decided a stream is.
pub(crate) struct Shape {
    pub kind: StreamKind,
    pub capture: bool,
    pub event_driven: bool,
    pub format: StreamFormat,
    pub buffer_frames: u32,
    pub period_frames: u32,
    pub latency_hns: i64,
    /// How much faster than nominal the device's clock runs.
    pub ppm: f64,
}

impl Stream {
    pub fn new(shape: Shape) -> Self {
        let Shape {
            kind,
            capture,
            event_driven,
            format,
            buffer_frames,
            period_frames,
            latency_hns,
            ppm,
        } = shape;
        let frame_bytes = format.frame_bytes();
        Self {
            kind,
            capture,
            event_driven,
            format,
            frame_bytes,
            buffer_frames,
            period_frames,
            latency_hns,
            running: false,
            start_ns: 0,
            period_ns: period_frames as f64 * 1e9
                / (format.sample_rate as f64 * (1.0 + ppm * 1e-6)),
            next_period: 1,
            queue: VecDeque::with_capacity(buffer_frames as usize * frame_bytes),
            pending_get: None,
            chunk: None,
            position: 0,
            packets: VecDeque::new(),
            packets_made: 0,
            lost: false,
            reading: None,
            hold_until: 0,
        }
    }

    pub fn queued_frames(&self) -> u32 {
        if self.capture {
            self.packets.iter().map(|p| p.frames).sum()
        } else {
            (self.queue.len() / self.frame_bytes.max(1)) as u32
        }
    }

    /// When the next period is due, while running.
    pub fn next_due(&self) -> Option<u64> {
        self.running
            .then(|| self.start_ns + (self.next_period as f64 * self.period_ns).round() as u64)
    }

    /// The render device's position at `now`: the frames it has played, the current
    /// period's counted as they play.
    pub fn position_at(&self, now: u64) -> u64 {
        match self.chunk {
            None => self.position,
            Some(chunk) => {
                let elapsed = now.saturating_sub(chunk.time_ns) as u128
                    * self.format.sample_rate as u128
                    / 1_000_000_000;
                chunk.start + (elapsed as u64).min(chunk.frames as u64)
            }
        }
    }

    /// Start after a reset: the device position is 0 again.
    pub fn reset(&mut self) {
        self.queue.clear();
        self.pending_get = None;
        self.chunk = None;
        self.position = 0;
        self.packets.clear();
        self.packets_made = 0;
        self.lost = false;
        self.reading = None;
        self.next_period = 1;
    }
}

/// What a render endpoint played lately, for loopback captures: chunks by the frame time
/// they started at (frames since the stream started) and their bytes.
#[derive(Default)]
pub(crate) struct History {
    pub frame_bytes: usize,
    pub float: bool,
    /// (frame time, first stream frame, frames).
    chunks: VecDeque<(u64, u64, u32)>,
    bytes: VecDeque<u8>,
    /// Stream frame of `bytes[0]`.
    base: u64,
}

impl History {
    pub fn restart(&mut self, format: &StreamFormat) {
        *self = History {
            frame_bytes: format.frame_bytes(),
            float: format.encoding == DeviceFormat::Float32,
            ..History::default()
        };
    }

    fn record(&mut self, frame_time: u64, start: u64, played: &[u8]) {
        let frames = (played.len() / self.frame_bytes.max(1)) as u32;
        if self.chunks.is_empty() {
            self.base = start;
        }
        self.chunks.push_back((frame_time, start, frames));
        self.bytes.extend(played);
        // Two seconds at 192 kHz is plenty for any loopback delay.
        while self.chunks.len() > 2 && frame_time - self.chunks[0].0 > 384_000 {
            let (_, _, old) = self.chunks.pop_front().unwrap_or_default();
            self.bytes.drain(..old as usize * self.frame_bytes);
            self.base += old as u64;
        }
    }

    /// Channel `channel` of what was playing at frame time `t` (0 in a gap or unknown).
    fn sample_at(&self, t: u64, channel: usize) -> f32 {
        if !self.float || (channel + 1) * 4 > self.frame_bytes {
            return 0.0;
        }
        for &(time, start, frames) in self.chunks.iter().rev() {
            if time <= t && t < time + frames as u64 {
                let frame = start + (t - time);
                let at = (frame - self.base) as usize * self.frame_bytes + channel * 4;
                return f32::from_le_bytes([
                    self.bytes[at],
                    self.bytes[at + 1],
                    self.bytes[at + 2],
                    self.bytes[at + 3],
                ]);
            }
            if time + (frames as u64) <= t {
                return 0.0;
            }
        }
        0.0
    }
}

/// One period of the stream of client `id`, due at `due`.
pub(crate) fn period(world: &mut World, control: &SimControl, id: usize, due: u64) {
    let Some(client) = world.clients.get(id) else {
        return;
    };
    let endpoint = client.endpoint;
    if control.fail_next_tick.swap(false, Ordering::AcqRel) {
        // Every client of the endpoint is invalidated; no event comes any more.
        world.endpoints[endpoint].generation += 1;
        control
            .endpoint_held
            .store(world.render_held(), Ordering::Release);
        return;
    }
    let capture = client.stream.as_ref().is_some_and(|s| s.capture);
    if capture {
        capture_period(world, control, id, endpoint, due);
    } else {
        render_period(world, control, id, endpoint, due);
    }
}

fn render_period(world: &mut World, control: &SimControl, id: usize, endpoint: usize, due: u64) {
    let loopback = world.endpoints.iter().any(|e| {
        e.input
            .as_ref()
            .is_some_and(|i| matches!(i.signal, SimSignal::Loopback { .. }))
    });
    let events = world.spec.events;
    let Some(client) = world.clients.get_mut(id) else {
        return;
    };
    let event = client.event;
    let Some(s) = client.stream.as_mut() else {
        return;
    };
    let queued = s.queued_frames();
    let take = if control.drain_next_tick.swap(false, Ordering::AcqRel) {
        queued
    } else {
        s.period_frames.min(queued)
    };
    let played: Vec<u8> = s.queue.drain(..take as usize * s.frame_bytes).collect();
    s.chunk = Some(Chunk {
        time_ns: due,
        start: s.position,
        frames: take,
    });
    let (start, frame_time) = (s.position, s.next_period * s.period_frames as u64);
    s.position += take as u64;
    let n = s.next_period;
    s.next_period += 1;
    let event_driven = s.event_driven;
    let held = due < s.hold_until;
    let late = !held && events.late_every > 0 && n % events.late_every == 0;
    if late {
        s.hold_until = due + events.late_by.as_nanos() as u64;
    }
    if control.record.load(Ordering::Relaxed) {
        if let Ok(mut all) = control.played.lock() {
            all.extend_from_slice(&played);
        }
    }
    if loopback {
        world.endpoints[endpoint]
            .history
            .record(frame_time, start, &played);
    }
    control.ticks.fetch_add(1, Ordering::Relaxed);
    let Some(event) = event.filter(|_| event_driven) else {
        return;
    };
    if held || events.burst_every > 0 && n % events.burst_every == 0 {
        // Folded into a late event, or never signalled: the next one comes for both.
        control.skipped_events.fetch_add(1, Ordering::Relaxed);
    } else if late {
        // The driver's thread ran late: this event, and every one due meanwhile, come then.
        control.late_events.fetch_add(1, Ordering::Relaxed);
        world
            .pending
            .push((due + events.late_by.as_nanos() as u64, event));
    } else {
        world.signal(event);
    }
}

fn capture_period(world: &mut World, control: &SimControl, id: usize, endpoint: usize, due: u64) {
    let Some(input) = world.endpoints[endpoint].input.clone() else {
        return;
    };
    let render_history = world.default_render.map(|r| &world.endpoints[r].history);
    let Some(s) = world.clients.get(id).and_then(|c| c.stream.as_ref()) else {
        return;
    };
    let (frames, k) = (s.period_frames, s.packets_made);
    let first = k * frames as u64;
    let full = s.queued_frames() + frames > s.buffer_frames;
    let data = if full {
        Vec::new()
    } else {
        record(&input.signal, render_history, &s.format, first, frames)
    };
    let first_frame_ns = s.start_ns + (k as f64 * s.period_ns).round() as u64;
    let Some(client) = world.clients.get_mut(id) else {
        return;
    };
    let event = client.event;
    let Some(s) = client.stream.as_mut() else {
        return;
    };
    if full {
        // The buffer is full: this packet is lost, and the next says so.
        s.lost = true;
        control.capture_overflows.fetch_add(1, Ordering::Relaxed);
    } else {
        s.packets.push_back(Packet {
            position: first,
            frames,
            stamp_ns: (input.stamps == StampMeaning::FirstFrame).then_some(first_frame_ns),
            data,
            discontinuity: std::mem::take(&mut s.lost),
        });
    }
    s.packets_made += 1;
    s.next_period += 1;
    let _ = due;
    control.capture_packets.fetch_add(1, Ordering::Relaxed);
    if let Some(event) = event {
        if input.burst_every > 0 && (k + 1) % input.burst_every == 0 {
            return;
        }
        world.signal(event);
    }
}

/// The bytes a capture device records for frames `first..first + frames`.
fn record(
    signal: &SimSignal,
    render: Option<&History>,
    format: &StreamFormat,
    first: u64,
    frames: u32,
) -> Vec<u8> {
    let frame_bytes = format.frame_bytes();
    let bps = format.encoding.bytes_per_sample();
    let mut data = vec![0u8; frames as usize * frame_bytes];
    let to_device = host_to_device(HostSampleType::Float32Lsb, format.encoding);
    let mut column = vec![0u8; frames as usize * 4];
    for channel in 0..format.channels as usize {
        for i in 0..frames as usize {
            let c = first + i as u64;
            let value = match signal {
                SimSignal::Ramp => super::spec::ramp_value(c, channel),
                SimSignal::Loopback { delay_frames } => c
                    .checked_sub(*delay_frames as u64)
                    .and_then(|t| render.map(|h| h.sample_at(t, channel)))
                    .unwrap_or(0.0),
            };
            column[i * 4..i * 4 + 4].copy_from_slice(&value.to_le_bytes());
        }
        to_device(
            &column,
            &mut data[channel * bps..],
            frame_bytes,
            frames as usize,
        );
    }
    data
}
