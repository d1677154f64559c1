//! The driver's log (see docs/CONFIGURATION.md, "Logging").
//!
//! A [`Logger`] owns a background writer thread. Ordinary threads call [`Logger::log`] (or the
//! `log_info!`-style macros): the line is formatted on the caller's thread and pushed into a
//! bounded queue under a briefly held mutex, never waiting for I/O. The audio thread gets an
//! [`RtLogProducer`] and pushes fixed-size [`RtEvent`]s into a wait-free ring. The writer
//! merges both by timestamp, formats and writes them, and rotates the file at its size bound.
//!
//! OS facts (process name, PID, thread IDs) come in through [`LoggerOptions`], so this module
//! runs and is tested on any OS.
//!
//! The process-wide log ([`global`]) is started by the first `init` that finds logging on and
//! stopped ([`stop_global`]: written out, writer joined) when the last driver instance is
//! released, so no writer thread outlives the driver in a DLL COM may unload; a later `init`
//! starts it again. The audio thread never touches it: its ring stays valid on its own.

mod file;
mod format;
mod rt;

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use crate::config::LogLevel;
use crate::config::LogSettings;
use crate::threads::{self, DriverThread};
pub use file::rotated_path;
pub use format::{format_line, format_timestamp, level_label, LinePrefix};
use rt::RtSource;
pub use rt::{RtEvent, RtLogProducer, RtRecord};

/// Returns an ID for the calling thread (the Windows layer passes `GetCurrentThreadId`).
pub type ThreadIdFn = fn() -> u64;

/// Messages longer than this are cut, so one call cannot blow the file's size bound.
pub const MAX_MESSAGE_BYTES: usize = 8 * 1024;

/// A thread ID that needs no OS call: small numbers handed out in order of first use.
pub fn portable_thread_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local! {
        static ID: u64 = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    ID.with(|id| *id)
}

/// Microseconds since the Unix epoch (0 if the clock is before it).
pub fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_micros() as u64)
}

static GLOBAL: Mutex<Option<Arc<Logger>>> = Mutex::new(None);
/// Whether [`GLOBAL`] holds a logger: callers skip the lock while logging is off.
static GLOBAL_ON: AtomicBool = AtomicBool::new(false);
/// Starting and stopping the global log, one at a time.
static LIFECYCLE: Mutex<()> = Mutex::new(());

fn lock_any<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every state these locks guard stays consistent across a panic (plain takes and sets).
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The process-wide log while it runs (never on the audio thread: this takes a lock).
pub fn global() -> Option<Arc<Logger>> {
    if !GLOBAL_ON.load(Ordering::Acquire) {
        return None;
    }
    lock_any(&GLOBAL).clone()
}

/// The process-wide log if it writes lines of `level`.
pub fn global_at(level: LogLevel) -> Option<Arc<Logger>> {
    global().filter(|logger| logger.enabled(level))
}

/// Starts the process-wide log unless it is running already (then `options` are ignored:
/// one file per process, whichever driver instance turned it on first).
pub fn start_global(options: LoggerOptions) -> io::Result<Arc<Logger>> {
    let _one_at_a_time = lock_any(&LIFECYCLE);
    if let Some(logger) = lock_any(&GLOBAL).clone() {
        return Ok(logger);
    }
    let logger = Arc::new(Logger::start(options)?);
    *lock_any(&GLOBAL) = Some(logger.clone());
    GLOBAL_ON.store(true, Ordering::Release);
    Ok(logger)
}

/// Stops the process-wide log if `still_wanted` (asked under the start/stop lock) says no:
/// writes out what is queued and joins the writer thread. Lines logged afterwards are
/// dropped until [`start_global`] runs again. Returns whether a log was stopped.
pub fn stop_global_unless(still_wanted: impl FnOnce() -> bool) -> bool {
    let _one_at_a_time = lock_any(&LIFECYCLE);
    if still_wanted() {
        return false;
    }
    let logger = {
        let mut global = lock_any(&GLOBAL);
        GLOBAL_ON.store(false, Ordering::Release);
        global.take()
    };
    match logger {
        Some(logger) => {
            logger.info(format_args!("log closed"));
            logger.stop();
            true
        }
        None => false,
    }
}

/// Stops the process-wide log (see [`stop_global_unless`]).
pub fn stop_global() -> bool {
    stop_global_unless(|| false)
}

/// The running process, as the OS layer describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    /// Executable file name, e.g. `Reaper.exe`.
    pub name: String,
    pub pid: u32,
}

/// How to start a [`Logger`].
#[derive(Debug, Clone)]
pub struct LoggerOptions {
    pub path: PathBuf,
    pub level: LogLevel,
    /// Rotate when the file would grow past this many bytes.
    pub max_size_bytes: u64,
    /// Rotated files kept; 0 truncates the file instead.
    pub keep: u32,
    pub process: ProcessInfo,
    pub driver_version: String,
    pub thread_id: ThreadIdFn,
    /// Lines from ordinary threads waiting for the writer; more are dropped and counted.
    pub queue_capacity: usize,
    /// How often the writer looks at the real-time rings (they cannot wake it).
    pub poll_interval: Duration,
}

impl LoggerOptions {
    /// Options with the defaults of [`LogSettings`] for the file at `path`.
    pub fn new(path: PathBuf, process: ProcessInfo, driver_version: impl Into<String>) -> Self {
        Self::from_settings(&LogSettings::default(), path, process, driver_version)
    }

    /// Options from the validated `[logging]` settings; `path` is the resolved log file
    /// ([`LogSettings::active_path`]).
    pub fn from_settings(
        settings: &LogSettings,
        path: PathBuf,
        process: ProcessInfo,
        driver_version: impl Into<String>,
    ) -> Self {
        LoggerOptions {
            path,
            level: settings.level,
            max_size_bytes: settings.max_size_bytes,
            keep: settings.keep,
            process,
            driver_version: driver_version.into(),
            thread_id: portable_thread_id,
            queue_capacity: 4096,
            poll_interval: Duration::from_millis(20),
        }
    }
}

/// The log. Cheap to call when off ([`Logger::disabled`]); [`Logger::stop`] (or dropping it)
/// writes what is queued and joins the writer thread.
pub struct Logger {
    shared: Option<Arc<Shared>>,
    writer: Mutex<Option<DriverThread>>,
}

struct Shared {
    level: LogLevel,
    thread_id: ThreadIdFn,
    queue_capacity: usize,
    poll_interval: Duration,
    state: Mutex<State>,
    /// Wakes the writer: lines queued, flush requested, or stop.
    wake: Condvar,
    /// Wakes `flush` callers when the writer has written up to their ticket.
    flushed: Condvar,
    dropped_lines: AtomicU64,
}

#[derive(Default)]
struct State {
    lines: VecDeque<Entry>,
    new_rt_sources: Vec<RtSource>,
    flush_requested: u64,
    flush_done: u64,
    stop: bool,
    /// The writer has made its last pass.
    writer_done: bool,
}

struct Entry {
    micros_since_epoch: u64,
    thread_id: u64,
    level: LogLevel,
    text: String,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    lock_any(state)
}

impl Logger {
    /// A logger that drops everything, without a thread or file.
    pub fn disabled() -> Logger {
        Logger {
            shared: None,
            writer: Mutex::new(None),
        }
    }

    /// Opens the file (errors are returned now, not lost later) and starts the writer.
    pub fn start(options: LoggerOptions) -> io::Result<Logger> {
        let file =
            file::RotatingFile::open(options.path.clone(), options.max_size_bytes, options.keep)?;
        let shared = Arc::new(Shared {
            level: options.level,
            thread_id: options.thread_id,
            queue_capacity: options.queue_capacity.max(1),
            poll_interval: options.poll_interval,
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            flushed: Condvar::new(),
            dropped_lines: AtomicU64::new(0),
        });
        let prefix = LinePrefix {
            process_name: options.process.name.clone(),
            pid: options.process.pid,
            driver_version: options.driver_version.clone(),
        };
        let writer_shared = Arc::clone(&shared);
        let writer = threads::spawn("wasio-log", move || {
            Writer::new(writer_shared, file, prefix).run()
        })?;
        let logger = Logger {
            shared: Some(shared),
            writer: Mutex::new(Some(writer)),
        };
        logger.log(
            LogLevel::Info,
            format_args!(
                "log opened: {}, level {}, rotated at {} bytes, {} old files kept",
                options.path.display(),
                options.level,
                options.max_size_bytes,
                options.keep
            ),
        );
        Ok(logger)
    }

    /// Whether lines of this level are written.
    #[inline]
    pub fn enabled(&self, level: LogLevel) -> bool {
        self.shared.as_ref().is_some_and(|s| level <= s.level)
    }

    /// Queues one line. Formats on the caller's thread; never waits for the file.
    pub fn log(&self, level: LogLevel, message: fmt::Arguments<'_>) {
        let Some(shared) = &self.shared else { return };
        if level > shared.level {
            return;
        }
        let micros_since_epoch = now_micros();
        let thread_id = (shared.thread_id)();
        let mut text = message.to_string();
        if text.len() > MAX_MESSAGE_BYTES {
            text = crate::config::truncate_with_ellipsis(&text, MAX_MESSAGE_BYTES);
        }
        let entry = Entry {
            micros_since_epoch,
            thread_id,
            level,
            text,
        };
        {
            let mut state = lock(&shared.state);
            if state.stop {
                return;
            }
            if state.lines.len() >= shared.queue_capacity {
                shared.dropped_lines.fetch_add(1, Ordering::Relaxed);
                return;
            }
            state.lines.push_back(entry);
        }
        shared.wake.notify_one();
    }

    pub fn error(&self, message: fmt::Arguments<'_>) {
        self.log(LogLevel::Error, message)
    }
    pub fn warn(&self, message: fmt::Arguments<'_>) {
        self.log(LogLevel::Warn, message)
    }
    pub fn info(&self, message: fmt::Arguments<'_>) {
        self.log(LogLevel::Info, message)
    }
    pub fn debug(&self, message: fmt::Arguments<'_>) {
        self.log(LogLevel::Debug, message)
    }
    pub fn trace(&self, message: fmt::Arguments<'_>) {
        self.log(LogLevel::Trace, message)
    }

    /// A ring for one real-time thread, holding up to `capacity` records between writer
    /// passes. Call this off the audio thread (it allocates), then move the producer there.
    pub fn rt_producer(&self, capacity: usize) -> RtLogProducer {
        let Some(shared) = &self.shared else {
            return RtLogProducer::disabled();
        };
        let (producer, consumer) = rtrb::RingBuffer::new(capacity.max(1));
        let dropped = Arc::new(AtomicU64::new(0));
        lock(&shared.state).new_rt_sources.push(RtSource {
            consumer,
            dropped: Arc::clone(&dropped),
            dropped_reported: 0,
        });
        RtLogProducer::new(producer, dropped, shared.thread_id, shared.level)
    }

    /// Lines from ordinary threads dropped because the queue was full.
    pub fn dropped_lines(&self) -> u64 {
        self.shared
            .as_ref()
            .map_or(0, |s| s.dropped_lines.load(Ordering::Relaxed))
    }

    /// Waits until everything queued before this call (and the rings' contents) is written and
    /// flushed to the file, or `timeout` passes. Returns whether it was written. For tests and
    /// shutdown, never for the audio thread.
    pub fn flush(&self, timeout: Duration) -> bool {
        let Some(shared) = &self.shared else {
            return true;
        };
        let deadline = Instant::now() + timeout;
        let mut state = lock(&shared.state);
        state.flush_requested += 1;
        let ticket = state.flush_requested;
        shared.wake.notify_one();
        while state.flush_done < ticket && !state.writer_done {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            state = shared
                .flushed
                .wait_timeout(state, left)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
        true
    }

    /// Writes what is queued, then ends and joins the writer thread. Later lines are dropped.
    pub fn stop(&self) {
        if let Some(shared) = &self.shared {
            lock(&shared.state).stop = true;
            shared.wake.notify_one();
        }
        let writer = lock_any(&self.writer).take();
        if let Some(writer) = writer {
            writer.join();
        }
    }
}

impl Drop for Logger {
    fn drop(&mut self) {
        self.stop();
    }
}

impl fmt::Debug for Logger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Logger")
            .field("enabled", &self.shared.is_some())
            .finish()
    }
}

/// The writer thread's state.
struct Writer {
    shared: Arc<Shared>,
    file: file::RotatingFile,
    prefix: LinePrefix,
    rt_sources: Vec<RtSource>,
    dropped_lines_reported: u64,
    line: String,
}

impl Writer {
    fn new(shared: Arc<Shared>, file: file::RotatingFile, prefix: LinePrefix) -> Self {
        Writer {
            shared,
            file,
            prefix,
            rt_sources: Vec::new(),
            dropped_lines_reported: 0,
            line: String::with_capacity(256),
        }
    }

    fn run(mut self) {
        loop {
            let (mut entries, flush_ticket, stop) = {
                let shared = Arc::clone(&self.shared);
                let state = lock(&shared.state);
                let (mut state, _) = shared
                    .wake
                    .wait_timeout_while(state, shared.poll_interval, |state| {
                        state.lines.is_empty()
                            && !state.stop
                            && state.flush_requested == state.flush_done
                    })
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                self.rt_sources.append(&mut state.new_rt_sources);
                let entries: Vec<Entry> = state.lines.drain(..).collect();
                (entries, state.flush_requested, state.stop)
            };
            self.collect_rt(&mut entries);
            self.report_dropped_lines(&mut entries);
            // Both queues are in time order; merge them (the sort is stable).
            entries.sort_by_key(|entry| entry.micros_since_epoch);
            for entry in &entries {
                self.line.clear();
                format_line(
                    &self.prefix,
                    entry.micros_since_epoch,
                    entry.thread_id,
                    entry.level,
                    &entry.text,
                    &mut self.line,
                );
                // Nowhere to report a failing log file; lines are lost until it works again.
                let _ = self.file.write_line(&self.line);
            }
            let _ = self.file.flush();
            {
                let mut state = lock(&self.shared.state);
                if state.flush_done < flush_ticket {
                    state.flush_done = flush_ticket;
                }
                state.writer_done = stop;
                self.shared.flushed.notify_all();
            }
            if stop {
                return;
            }
        }
    }

    fn collect_rt(&mut self, entries: &mut Vec<Entry>) {
        for source in &mut self.rt_sources {
            while let Ok(record) = source.consumer.pop() {
                let mut text = String::new();
                record.event.describe(&mut text);
                entries.push(Entry {
                    micros_since_epoch: record.micros_since_epoch,
                    thread_id: record.thread_id,
                    level: record.event.level(),
                    text,
                });
            }
            let dropped = source.dropped.load(Ordering::Relaxed);
            if dropped > source.dropped_reported {
                entries.push(Entry {
                    micros_since_epoch: now_micros(),
                    thread_id: (self.shared.thread_id)(),
                    level: LogLevel::Warn,
                    text: format!(
                        "{} audio-thread log records dropped (ring full)",
                        dropped - source.dropped_reported
                    ),
                });
                source.dropped_reported = dropped;
            }
        }
        // A ring whose producer is gone and that is empty will never yield anything again.
        self.rt_sources
            .retain(|source| !(source.consumer.is_abandoned() && source.consumer.is_empty()));
    }

    fn report_dropped_lines(&mut self, entries: &mut Vec<Entry>) {
        let dropped = self.shared.dropped_lines.load(Ordering::Relaxed);
        if dropped > self.dropped_lines_reported {
            entries.push(Entry {
                micros_since_epoch: now_micros(),
                thread_id: (self.shared.thread_id)(),
                level: LogLevel::Warn,
                text: format!(
                    "{} log lines dropped (queue full)",
                    dropped - self.dropped_lines_reported
                ),
            });
            self.dropped_lines_reported = dropped;
        }
    }
}

/// Logs at a level with `format!` syntax: `log_at!(logger, LogLevel::Info, "rate {}", rate)`.
/// Nothing is formatted when the level is off.
#[macro_export]
macro_rules! log_at {
    ($logger:expr, $level:expr, $($arg:tt)+) => {
        $crate::log::Logger::log(&$logger, $level, ::std::format_args!($($arg)+))
    };
}

/// `log_error!(logger, "...", args)`.
#[macro_export]
macro_rules! log_error {
    ($logger:expr, $($arg:tt)+) => { $crate::log_at!($logger, $crate::log::LogLevel::Error, $($arg)+) };
}

/// `log_warn!(logger, "...", args)`.
#[macro_export]
macro_rules! log_warn {
    ($logger:expr, $($arg:tt)+) => { $crate::log_at!($logger, $crate::log::LogLevel::Warn, $($arg)+) };
}

/// `log_info!(logger, "...", args)`.
#[macro_export]
macro_rules! log_info {
    ($logger:expr, $($arg:tt)+) => { $crate::log_at!($logger, $crate::log::LogLevel::Info, $($arg)+) };
}

/// `log_debug!(logger, "...", args)`.
#[macro_export]
macro_rules! log_debug {
    ($logger:expr, $($arg:tt)+) => { $crate::log_at!($logger, $crate::log::LogLevel::Debug, $($arg)+) };
}

/// `log_trace!(logger, "...", args)`.
#[macro_export]
macro_rules! log_trace {
    ($logger:expr, $($arg:tt)+) => { $crate::log_at!($logger, $crate::log::LogLevel::Trace, $($arg)+) };
}
