//! One background thread per driver instance, from `init` to release: it notices changes
//! to Wasio.toml (the driver then asks the host for a reset) and keeps the status file
//! current. It never runs on a host thread and never touches the real-time loop.

use crate::backend::StreamCounters;
use crate::config::ConfigWatcher;
use crate::log::now_micros;
use crate::status::{DriverStatus, StatusFile};
use crate::threads::{self, DriverThread};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often the configuration file is looked at.
pub const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// How often the status file is rewritten while running.
pub const STATUS_INTERVAL: Duration = Duration::from_millis(500);

/// The status file, the snapshot the driver keeps current, and the live counters.
pub struct StatusSource {
    pub file: StatusFile,
    pub snapshot: Arc<Mutex<DriverStatus>>,
    pub counters: Arc<StreamCounters>,
    /// The input side's live figures (latency, drift, resampling).
    pub input: Arc<crate::capture::InputMonitor>,
}

/// The thread's handle: dropping it stops and joins the thread, which deletes the status
/// file on its way out.
pub struct Monitor {
    poke: Option<Sender<()>>,
    thread: Option<DriverThread>,
}

impl Monitor {
    /// `on_config_change` runs on the monitor thread once per settled change of the file.
    pub fn spawn(
        config_path: Option<PathBuf>,
        status: Option<StatusSource>,
        mut on_config_change: impl FnMut() + Send + 'static,
    ) -> std::io::Result<Monitor> {
        let (poke, pokes) = mpsc::channel::<()>();
        // The file as it is now is the reference (taken here, not when the thread runs).
        let mut watcher = config_path.map(ConfigWatcher::new);
        let thread = threads::spawn("wasio-monitor", move || {
            // A change is reported once the file has stayed the same for one poll:
            // editors save in several steps.
            let mut changed_at: Option<Instant> = None;
            let mut last_write: Option<Instant> = None;
            loop {
                let poked = match pokes.recv_timeout(POLL_INTERVAL) {
                    Ok(()) => true,
                    Err(RecvTimeoutError::Timeout) => false,
                    Err(RecvTimeoutError::Disconnected) => break,
                };
                while pokes.try_recv().is_ok() {}
                if let Some(watcher) = watcher.as_mut() {
                    if watcher.poll() {
                        changed_at = Some(Instant::now());
                    } else if changed_at.is_some_and(|at| at.elapsed() >= POLL_INTERVAL) {
                        changed_at = None;
                        on_config_change();
                    }
                }
                if let Some(status) = &status {
                    let mut snapshot = status
                        .snapshot
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .clone();
                    let due = last_write.is_none_or(|at| at.elapsed() >= STATUS_INTERVAL);
                    if poked || (snapshot.state == "running" && due) {
                        let (switches, xruns) = status.counters.read();
                        snapshot.switches = switches;
                        snapshot.xruns = xruns;
                        if !snapshot.input_device.is_empty() {
                            snapshot.drift_ppm = status.input.drift_ppm();
                            if status.input.resampling.load(Ordering::Relaxed) {
                                snapshot.input_mode = "resampled (two clocks detected)".into();
                            }
                        }
                        snapshot.updated_unix_ms = now_micros() / 1000;
                        // A status file is best effort; the driver works without it.
                        let _ = status.file.write(&snapshot);
                        last_write = Some(Instant::now());
                    }
                }
            }
        })?;
        Ok(Monitor {
            poke: Some(poke),
            thread: Some(thread),
        })
    }

    /// Asks for the status file to be written now (after a state change).
    pub fn poke(&self) {
        if let Some(poke) = &self.poke {
            let _ = poke.send(());
        }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.poke.take();
        if let Some(thread) = self.thread.take() {
            thread.join();
        }
    }
}
