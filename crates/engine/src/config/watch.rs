//! Detecting changes to the configuration file, so the driver can ask the host for a reset
//! (`kAsioResetRequest`).

use std::fs;
use std::hash::{DefaultHasher, Hasher};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, SystemTime};

use super::MAX_CONFIG_FILE_BYTES;
use crate::threads::{self, DriverThread};

/// What is known of the file at one moment. Two fingerprints differ when the file was created,
/// deleted, or its size, modification time or content changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileFingerprint {
    Missing,
    /// The file exists but could not be read (e.g. locked by an editor mid-save).
    Unreadable,
    Present {
        len: u64,
        modified: Option<SystemTime>,
        /// Hash of the content; catches same-size edits within the timestamp's resolution.
        content_hash: u64,
    },
}

impl FileFingerprint {
    pub fn of(path: &Path) -> FileFingerprint {
        let metadata = match fs::metadata(path) {
            Ok(metadata) => metadata,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return FileFingerprint::Missing
            }
            Err(_) => return FileFingerprint::Unreadable,
        };
        let modified = metadata.modified().ok();
        let len = metadata.len();
        let content_hash = if len <= MAX_CONFIG_FILE_BYTES {
            match fs::read(path) {
                Ok(bytes) => {
                    let mut hasher = DefaultHasher::new();
                    hasher.write(&bytes);
                    hasher.finish()
                }
                Err(_) => return FileFingerprint::Unreadable,
            }
        } else {
            0
        };
        FileFingerprint::Present {
            len,
            modified,
            content_hash,
        }
    }
}

/// Polls one file for changes.
#[derive(Debug)]
pub struct ConfigWatcher {
    path: PathBuf,
    last: FileFingerprint,
}

impl ConfigWatcher {
    /// Starts watching `path`; its current state is the reference for [`ConfigWatcher::poll`].
    pub fn new(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        let last = FileFingerprint::of(&path);
        ConfigWatcher { path, last }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True if the file changed (created, deleted, modified) since the last call or `new`.
    pub fn poll(&mut self) -> bool {
        let now = FileFingerprint::of(&self.path);
        if now == self.last {
            false
        } else {
            self.last = now;
            true
        }
    }

    /// Polls every `interval` on a background thread and calls `on_change` once per change.
    /// Editors often save in several steps, so a change is reported once the file has stayed
    /// the same for one `settle` period. Dropping the returned handle stops the thread.
    pub fn spawn(
        mut self,
        interval: Duration,
        settle: Duration,
        mut on_change: impl FnMut() + Send + 'static,
    ) -> std::io::Result<WatchThread> {
        let (stop_sender, stop_receiver) = mpsc::channel::<()>();
        let wait = move |duration: Duration| -> bool {
            // True when asked to stop (or the handle is gone).
            !matches!(
                stop_receiver.recv_timeout(duration),
                Err(RecvTimeoutError::Timeout)
            )
        };
        let thread = threads::spawn("wasio-config-watch", move || loop {
            if wait(interval) {
                return;
            }
            if !self.poll() {
                continue;
            }
            loop {
                if wait(settle) {
                    return;
                }
                if !self.poll() {
                    break;
                }
            }
            on_change();
        })?;
        Ok(WatchThread {
            stop: Some(stop_sender),
            thread: Some(thread),
        })
    }
}

/// The background watcher; dropping it stops and joins the thread.
#[derive(Debug)]
pub struct WatchThread {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<DriverThread>,
}

impl WatchThread {
    /// Stops the thread and waits for it (at most one callback in progress).
    pub fn stop(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            thread.join();
        }
    }
}

impl Drop for WatchThread {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}
