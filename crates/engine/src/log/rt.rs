//! Logging from the real-time audio thread: fixed-size records pushed into a wait-free ring
//! buffer (rtrb), formatted later by the writer thread. Pushing never allocates, locks or
//! blocks; when the ring is full the record is dropped and counted.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::config::LogLevel;
use crate::hresult::HresultDisplay;

use super::{now_micros, ThreadIdFn};

/// What happened on the audio thread. `Copy` and fixed-size, so it can cross a ring buffer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RtEvent {
    /// The stream started running.
    StreamStarted {
        sample_rate: f64,
        buffer_frames: u32,
    },
    /// The stream stopped, at this ASIO sample position.
    StreamStopped { sample_position: u64 },
    /// One ASIO buffer switch (logged at trace level).
    BufferSwitch { index: u64, sample_position: u64 },
    /// The device wanted output that was not ready; `frames` of silence were played.
    OutputUnderrun { frames: u32 },
    /// Captured input was lost because the host did not take it in time.
    InputOverrun { frames: u32 },
    /// The device position moved by an unexpected amount.
    TimingJump {
        expected_frames: u64,
        actual_frames: u64,
    },
    /// A WASAPI call failed on the audio thread.
    DeviceError { call: &'static str, hresult: i32 },
    /// Any other event: a static text and up to three numbers (see [`RtEvent::message`]).
    Message {
        level: LogLevel,
        text: &'static str,
        values: [i64; 3],
        value_count: u8,
    },
}

impl RtEvent {
    /// A free-form event; at most the first three `values` are kept.
    pub fn message(level: LogLevel, text: &'static str, values: &[i64]) -> RtEvent {
        let mut stored = [0; 3];
        let count = values.len().min(3);
        stored[..count].copy_from_slice(&values[..count]);
        RtEvent::Message {
            level,
            text,
            values: stored,
            value_count: count as u8,
        }
    }

    pub fn level(&self) -> LogLevel {
        match self {
            RtEvent::StreamStarted { .. } | RtEvent::StreamStopped { .. } => LogLevel::Info,
            RtEvent::BufferSwitch { .. } => LogLevel::Trace,
            RtEvent::OutputUnderrun { .. }
            | RtEvent::InputOverrun { .. }
            | RtEvent::TimingJump { .. } => LogLevel::Warn,
            RtEvent::DeviceError { .. } => LogLevel::Error,
            RtEvent::Message { level, .. } => *level,
        }
    }

    /// The message text of the log line (run on the writer thread).
    pub fn describe(&self, out: &mut String) {
        let _ = match *self {
            RtEvent::StreamStarted {
                sample_rate,
                buffer_frames,
            } => write!(
                out,
                "audio thread: stream started at {sample_rate} Hz, {buffer_frames} frames per buffer"
            ),
            RtEvent::StreamStopped { sample_position } => write!(
                out,
                "audio thread: stream stopped at sample position {sample_position}"
            ),
            RtEvent::BufferSwitch {
                index,
                sample_position,
            } => write!(
                out,
                "audio thread: buffer switch to half {index} at sample position {sample_position}"
            ),
            RtEvent::OutputUnderrun { frames } => {
                write!(out, "audio thread: output underrun, {frames} frames of silence")
            }
            RtEvent::InputOverrun { frames } => {
                write!(out, "audio thread: input overrun, {frames} frames lost")
            }
            RtEvent::TimingJump {
                expected_frames,
                actual_frames,
            } => write!(
                out,
                "audio thread: device position moved {actual_frames} frames, expected {expected_frames}"
            ),
            RtEvent::DeviceError { call, hresult } => write!(
                out,
                "audio thread: {call} failed: {}",
                HresultDisplay(hresult)
            ),
            RtEvent::Message {
                text,
                values,
                value_count,
                ..
            } => {
                out.push_str("audio thread: ");
                out.push_str(text);
                for (i, value) in values.iter().take(value_count as usize).enumerate() {
                    let separator = if i == 0 { ": " } else { ", " };
                    let _ = write!(out, "{separator}{value}");
                }
                Ok(())
            }
        };
    }
}

/// One event with when and where it happened.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RtRecord {
    pub micros_since_epoch: u64,
    pub thread_id: u64,
    pub event: RtEvent,
}

/// The audio thread's end of a log ring. Get one from [`super::Logger::rt_producer`].
pub struct RtLogProducer {
    inner: Option<ProducerInner>,
}

struct ProducerInner {
    producer: rtrb::Producer<RtRecord>,
    dropped: Arc<AtomicU64>,
    thread_id: ThreadIdFn,
    level: LogLevel,
}

impl RtLogProducer {
    /// A producer that discards everything (logging off).
    pub fn disabled() -> Self {
        RtLogProducer { inner: None }
    }

    pub(super) fn new(
        producer: rtrb::Producer<RtRecord>,
        dropped: Arc<AtomicU64>,
        thread_id: ThreadIdFn,
        level: LogLevel,
    ) -> Self {
        RtLogProducer {
            inner: Some(ProducerInner {
                producer,
                dropped,
                thread_id,
                level,
            }),
        }
    }

    /// Whether events of this level are kept (false when logging is off).
    #[inline]
    pub fn enabled(&self, level: LogLevel) -> bool {
        self.inner
            .as_ref()
            .is_some_and(|inner| level <= inner.level)
    }

    /// Queues `event` for the writer. Returns false when it was filtered out by level or the
    /// ring was full (then it is counted, and the writer logs how many were dropped).
    /// Wait-free: no allocation, no lock, no system call beyond reading the clock.
    #[inline]
    pub fn push(&mut self, event: RtEvent) -> bool {
        let Some(inner) = self.inner.as_mut() else {
            return false;
        };
        if event.level() > inner.level {
            return false;
        }
        let record = RtRecord {
            micros_since_epoch: now_micros(),
            thread_id: (inner.thread_id)(),
            event,
        };
        match inner.producer.push(record) {
            Ok(()) => true,
            Err(_) => {
                inner.dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// How many records were dropped because the ring was full.
    pub fn dropped(&self) -> u64 {
        self.inner
            .as_ref()
            .map_or(0, |inner| inner.dropped.load(Ordering::Relaxed))
    }
}

/// The writer's end of a log ring.
pub(super) struct RtSource {
    pub consumer: rtrb::Consumer<RtRecord>,
    pub dropped: Arc<AtomicU64>,
    pub dropped_reported: u64,
}
