//! Keeps the input latency the host is told truthful while a stream runs.
//!
//! The device thread measures the input latency ([`InputMonitor`]); this watcher, on its own
//! thread (never the audio thread), latches the measurement into the value `getLatencies`
//! returns and tells the host with `kAsioLatenciesChanged` when it moved. Small wobbles do not
//! count: the first measurement is latched when it differs from what the host was told, later
//! ones only when they move by more than [`RELATCH_FRAMES`].

use crate::capture::InputMonitor;
use crate::threads::{self, DriverThread};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How often the measurement is looked at.
const POLL: Duration = Duration::from_millis(50);
/// Switches' worth of smoothing happen before the first latch: wait this long.
const SETTLE: Duration = Duration::from_millis(300);
/// A latched latency moves again only by more than this many frames.
pub const RELATCH_FRAMES: f64 = 8.0;

/// The latency value `getLatencies` reads: -1 until a measurement was latched.
pub type LatchedLatency = Arc<AtomicI32>;

/// The watcher's handle: [`LatencyWatch::stop`] or dropping it stops the thread and waits for
/// it.
pub struct LatencyWatch {
    stop: Arc<AtomicBool>,
    thread: Option<DriverThread>,
}

impl LatencyWatch {
    /// Starts watching the device thread's measurement. `told` is what the host was told
    /// before; `notify` sends kAsioLatenciesChanged (it runs on the watcher's thread).
    pub fn spawn(
        monitor: Arc<InputMonitor>,
        latched: LatchedLatency,
        told: i32,
        notify: Box<dyn Fn() + Send>,
    ) -> std::io::Result<Self> {
        Self::spawn_with(
            move || monitor.measured_latency_frames(),
            latched,
            told,
            notify,
        )
    }

    /// [`LatencyWatch::spawn`] with the measurement read by `measure` (frames, once known).
    pub fn spawn_with(
        measure: impl Fn() -> Option<f64> + Send + 'static,
        latched: LatchedLatency,
        told: i32,
        notify: Box<dyn Fn() + Send>,
    ) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = stop.clone();
        let thread = threads::spawn("wasio-latency", move || {
            let started = std::time::Instant::now();
            while !thread_stop.load(Ordering::Acquire) {
                std::thread::park_timeout(POLL);
                if started.elapsed() < SETTLE {
                    continue;
                }
                let Some(measured) = measure() else {
                    continue;
                };
                let current = latched.load(Ordering::Acquire);
                let moved = if current < 0 {
                    (measured.round() as i32) != told
                } else {
                    (measured - current as f64).abs() > RELATCH_FRAMES
                };
                if current < 0 || moved {
                    latched.store(measured.round().max(0.0) as i32, Ordering::Release);
                }
                if moved && !thread_stop.load(Ordering::Acquire) {
                    notify();
                }
            }
        })?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops the watcher and waits for it. Called from the watcher's own thread (a host that
    /// stops the driver from its message handler), it only lets it end; the thread is then
    /// adopted (see [`crate::threads`]) and joined once it has.
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for LatencyWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            if let Some(handle) = thread.thread() {
                handle.unpark();
            }
            thread.join();
        }
    }
}
