//! The IASIO semantics, independent of COM and of WASAPI.
//!
//! Every method takes the host's raw arguments, checks them and the life-cycle state, and
//! returns the ASIO code; a refusal also leaves a sentence for `getErrorMessage`. The COM
//! layer only forwards calls here (inside `catch_unwind`), so all of this runs natively
//! against a simulated backend in tests.
//!
//! Locking: host calls take `inner` briefly, and never hold it while waiting for the device
//! thread to stop (the host's bufferSwitch may call back into the driver meanwhile).
//! `getSamplePosition` and `outputReady`, which hosts call from inside bufferSwitch, are
//! lock-free.
//!
//! Configuration: every `init` reads Wasio.toml from the profile directory the [`DriverEnv`]
//! gives (a bad file fails `init` with `file:line:col: key: problem`) and applies the device
//! selector, mode, channel subset, sample type, starting rate and buffer sizes. From the first
//! `init` to release, a monitor thread watches the file (a change asks the host for a reset)
//! and keeps the status file current.
//!
//! Logging: one process-wide log ([`crate::log::global`]), started by the first `init` that
//! finds it enabled. Every call is logged at debug level with its arguments and result
//! (except the two lock-free calls, which run on the host's audio thread); state changes, the
//! stream chosen, backend failures and reset requests at info or error level. The audio
//! thread gets a wait-free [`RtLogProducer`] through the [`OutputRequest`].

use crate::backend::{
    describe_selector, Backend, BackendError, CaptureRequest, EndpointInfo, OutputPlan,
    OutputRequest, ResetRequester, StreamCounters, StreamHandler, StreamInfo, StreamReport,
};
use crate::buffers::HostBuffers;
use crate::capture::{CaptureConfig, ClockRelation, InputMonitor};
use crate::channels::{channel_names, to_asio_name};
use crate::clock::PositionCell;
use crate::config::{
    default_config_path, ChannelSelection, LogLevel, LogSettings, SampleTypeChoice, Settings,
};
use crate::convert::HostSampleType;
use crate::env::DriverEnv;
use crate::error::{DriverError, DriverResult};
use crate::latency_watch::{LatchedLatency, LatencyWatch};
use crate::log::{self as wlog, LoggerOptions, RtLogProducer};
use crate::modes::{exclusive_event_sizes, host_type_for_choice, preferred_exclusive_format};
use crate::monitor::{Monitor, StatusSource};
use crate::render::{output_latency_frames, SwitchHandler, SwitchTiming};
use crate::rt_guard;
use crate::sizes::BufferSizePolicy;
use crate::state::{check_call, AsioCall, DriverState};
use crate::status::{DriverStatus, StatusFile};
use crate::threads::{self, DriverThread};
use asio_abi::{
    future, message, time_flags, AsioBool, AsioBufferInfo, AsioCallbacks, AsioChannelInfo,
    AsioClockSource, AsioError, AsioInternalBufferInfo, AsioIoFormat, AsioSamples, AsioTime,
    AsioTimeStamp, ASE_NOT_PRESENT, ASE_OK, ASE_SP_NOT_ADVANCING, ASE_SUCCESS, ASIO_FALSE,
    ASIO_TRUE,
};
use std::ffi::{c_char, c_void};
use std::fmt::Write as _;
use std::sync::atomic::{
    AtomicBool, AtomicI32, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
};
use std::sync::{Arc, Mutex, MutexGuard};

/// The name hosts list and `getDriverName` returns.
pub const DRIVER_NAME: &str = "Wasio";
/// Rates outside this range are refused before any device is asked.
pub const MIN_SAMPLE_RATE: f64 = 8_000.0;
pub const MAX_SAMPLE_RATE: f64 = 768_000.0;
/// `getErrorMessage` writes at most this many bytes, NUL included.
pub const ERROR_MESSAGE_CAPACITY: usize = 124;
/// Records the audio thread's log ring holds between two passes of the log writer.
pub const RT_LOG_CAPACITY: usize = 1024;

/// Writes a line to the process-wide log when it is on at this level; formats nothing
/// otherwise.
macro_rules! log_at {
    ($level:expr, $($arg:tt)+) => {
        if let Some(logger) = crate::log::global_at($level) {
            logger.log($level, format_args!($($arg)+));
        }
    };
}

/// Wasio's own `future` selector: writes the output mode in effect, with the reason each
/// better mode was refused, as a NUL-terminated string into the
/// [`MODE_STATUS_BYTES`]-byte buffer `opt` points to ("WAS" + 1; no ASIO selector is near).
pub const FUTURE_WASIO_MODE_STATUS: i32 = 0x5741_5301;
/// Size of the buffer [`FUTURE_WASIO_MODE_STATUS`] writes.
pub const MODE_STATUS_BYTES: usize = 1024;

/// `getDriverVersion`: major × 10000 + minor × 100 + patch.
pub fn driver_version_number() -> i32 {
    let mut parts = crate::DRIVER_VERSION
        .split('.')
        .map(|p| p.parse::<i32>().unwrap_or(0));
    let (major, minor, patch) = (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    );
    major * 10_000 + minor * 100 + patch
}

pub type BackendFactory = Box<dyn Fn() -> Result<Arc<dyn Backend>, BackendError> + Send + Sync>;

/// Maps a backend failure to the ASIO code hosts understand, and logs it (the HRESULT by
/// name).
fn backend_error(what: &str, e: BackendError) -> DriverError {
    log_at!(LogLevel::Error, "{what}: {e}");
    if e.is_device_lost() {
        DriverError::not_present(format!("{what}: the audio device is gone: {e}"))
    } else {
        DriverError::hw_malfunction(format!("{what}: {e}"))
    }
}

/// What the host said it supports, asked once at createBuffers.
#[derive(Clone, Copy)]
struct HostMessenger {
    callbacks: AsioCallbacks,
    reset_request: bool,
    latencies_changed: bool,
    time_info: bool,
}

impl HostMessenger {
    /// Asks `kAsioSelectorSupported` before relying on any other message.
    ///
    /// # Safety
    /// `callbacks` must hold valid host function pointers (or None).
    unsafe fn query(callbacks: AsioCallbacks) -> Self {
        let mut m = Self {
            callbacks,
            reset_request: false,
            latencies_changed: false,
            time_info: false,
        };
        let Some(ask) = callbacks.asio_message else {
            return m;
        };
        let null = std::ptr::null_mut();
        // SAFETY: the host's asioMessage, called with the documented arguments.
        let supported = |selector: i32| unsafe { ask(message::SELECTOR_SUPPORTED, selector, null, null as *mut f64) } != 0;
        m.reset_request = supported(message::RESET_REQUEST);
        m.latencies_changed = supported(message::LATENCIES_CHANGED);
        m.time_info = { callbacks.buffer_switch_time_info }.is_some()
            && supported(message::SUPPORTS_TIME_INFO)
            // SAFETY: as above.
            && unsafe { ask(message::SUPPORTS_TIME_INFO, 0, null, null as *mut f64) } != 0;
        m
    }

    /// Sends a message the host said it supports; returns whether it was sent.
    fn send(&self, selector: i32, supported: bool) -> bool {
        match (supported, self.callbacks.asio_message) {
            (true, Some(ask)) => {
                // SAFETY: the host's asioMessage, for a selector it declared supported.
                unsafe { ask(selector, 0, std::ptr::null_mut(), std::ptr::null_mut()) };
                true
            }
            _ => false,
        }
    }
}

/// Sends the host `kAsioResetRequest` for whoever notices a reason: a failed stream, a
/// changed Wasio.toml, a new Windows default device. Shared with those threads.
struct Notifier {
    /// The host's callbacks, from createBuffers to disposeBuffers.
    messenger: Mutex<Option<HostMessenger>>,
    last_error: Arc<Mutex<String>>,
    resets_sent: AtomicU64,
    /// Reset threads not joined yet (finished ones are joined at the next request).
    resets: Mutex<Vec<DriverThread>>,
}

impl Notifier {
    /// Asks the host for a reset if it said it supports one. The message goes out from its
    /// own thread: hosts may call back into the driver (stop, disposeBuffers, even release)
    /// from their handler, and the caller may be the device or monitor thread.
    fn request_reset(self: &Arc<Self>, reason: &str) {
        let messenger = *lock(&self.messenger);
        let Some(messenger) = messenger else {
            log_at!(
                LogLevel::Info,
                "reset not requested ({reason}): no buffers exist, the next init applies it"
            );
            return;
        };
        if !messenger.reset_request {
            log_at!(
                LogLevel::Warn,
                "reset not requested ({reason}): the host does not support kAsioResetRequest"
            );
            return;
        }
        let reason = reason.to_string();
        let reason_for_thread = reason.clone();
        let notifier = self.clone();
        let spawned = threads::spawn("wasio-reset", move || {
            // Asked again: disposeBuffers or the release may have come meanwhile.
            let Some(messenger) = *lock(&notifier.messenger) else {
                log_at!(
                    LogLevel::Info,
                    "reset not requested ({reason_for_thread}): the buffers are gone"
                );
                return;
            };
            log_at!(
                LogLevel::Info,
                "sending kAsioResetRequest: {reason_for_thread}"
            );
            messenger.send(message::RESET_REQUEST, true);
            notifier.resets_sent.fetch_add(1, Ordering::AcqRel);
        });
        match spawned {
            Ok(thread) => {
                let mut resets = lock(&self.resets);
                // Finished ones end at once: joining them does not wait.
                let (done, running): (Vec<_>, Vec<_>) =
                    resets.drain(..).partition(DriverThread::is_finished);
                *resets = running;
                resets.push(thread);
                drop(resets);
                for thread in done {
                    thread.join();
                }
            }
            Err(e) => log_at!(
                LogLevel::Error,
                "reset not requested ({}): no thread: {e}",
                reason
            ),
        }
    }
}

/// The host's bufferSwitch, called on the device thread.
struct HostSwitch {
    messenger: HostMessenger,
    time: Box<AsioTime>,
    sample_rate: f64,
    notifier: Arc<Notifier>,
}

impl SwitchHandler for HostSwitch {
    fn buffer_switch(&mut self, timing: &SwitchTiming) {
        let half = timing.half as i32;
        // The host's own allocations are not ours to count.
        rt_guard::outside_rt(|| {
            if self.messenger.time_info {
                let info = &mut self.time.time_info;
                info.speed = 1.0;
                info.sample_position = AsioSamples::from_u64(timing.sample_position);
                info.system_time = AsioTimeStamp::from_u64(timing.system_time_ns);
                info.sample_rate = self.sample_rate;
                info.flags = time_flags::SYSTEM_TIME_VALID
                    | time_flags::SAMPLE_POSITION_VALID
                    | time_flags::SAMPLE_RATE_VALID
                    | time_flags::SPEED_VALID;
                if let Some(switch) = self.messenger.callbacks.buffer_switch_time_info {
                    // SAFETY: host callback with a time struct that lives as long as the stream.
                    unsafe { switch(&mut *self.time, half, ASIO_TRUE) };
                }
            } else if let Some(switch) = self.messenger.callbacks.buffer_switch {
                // SAFETY: host callback with the documented arguments.
                unsafe { switch(half, ASIO_TRUE) };
            }
        });
    }
}

impl StreamHandler for HostSwitch {
    fn stream_failed(&mut self, error: &BackendError) {
        let text =
            format!("The stream stopped: {error}. Waiting for the host to reset the driver.");
        log_at!(LogLevel::Error, "stream failed: {error}");
        *lock(&self.notifier.last_error) = text;
        self.notifier.request_reset("the stream failed");
    }
}

struct Prepared {
    buffers: Arc<HostBuffers>,
    /// Host output channel of each buffer, in createBuffers order.
    output_channels: Vec<usize>,
    /// The same for inputs (capture device channels), in their own buffers.
    input_buffers: Arc<HostBuffers>,
    input_channels: Vec<usize>,
    block_frames: usize,
    messenger: HostMessenger,
    info: StreamInfo,
}

struct Inner {
    state: DriverState,
    backend: Option<Arc<dyn Backend>>,
    output: Option<EndpointInfo>,
    /// The capture endpoint inputs come from (None: no inputs).
    input: Option<EndpointInfo>,
    sample_rate: u32,
    /// What a stream at `sample_rate` opens in (found at init and on rate changes).
    plan: Option<OutputPlan>,
    /// Why the last probe found no mode (for init's message).
    last_probe_error: Option<String>,
    /// Rates asked about, with the plan found (answers while running come from here).
    rate_answers: Vec<(u32, Option<OutputPlan>)>,
    /// Rates asked about on the input endpoint (shared mode: a trial open each).
    input_rate_answers: Vec<(u32, bool)>,
    sizes: BufferSizePolicy,
    host_sample_type: HostSampleType,
    /// Wasio.toml as read by the last init.
    settings: Settings,
    /// Device channel behind each host output channel, and its name.
    exposed: Vec<(usize, String)>,
    prepared: Option<Prepared>,
    last_report: StreamReport,
    monitor: Option<Monitor>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic inside a call is caught at the ABI; the state it guarded is still usable.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

const STATE_LOADED: u8 = 0;
const STATE_INITIALIZED: u8 = 1;
const STATE_PREPARED: u8 = 2;
const STATE_RUNNING: u8 = 3;

/// Numbers driver instances within the process (status file names, log lines).
static NEXT_INSTANCE: AtomicU32 = AtomicU32::new(1);
/// Driver instances alive in the process; the last release stops the process-wide log.
static LIVE_INSTANCES: AtomicUsize = AtomicUsize::new(0);

/// Driver instances alive in the process.
pub fn live_instances() -> usize {
    LIVE_INSTANCES.load(Ordering::Acquire)
}

fn state_word(state: DriverState) -> &'static str {
    match state {
        DriverState::Loaded => "loaded",
        DriverState::Initialized => "initialized",
        DriverState::Prepared => "prepared",
        DriverState::Running => "running",
    }
}

/// The ASIO sample type for a configured choice before any stream was planned; `native`
/// means the mixer's 32-bit float (see [`host_type_for_choice`] once the mode is known).
pub fn host_sample_type(choice: SampleTypeChoice) -> HostSampleType {
    match choice {
        SampleTypeChoice::Native | SampleTypeChoice::Float32 => HostSampleType::Float32Lsb,
        SampleTypeChoice::Float64 => HostSampleType::Float64Lsb,
        SampleTypeChoice::Int16 => HostSampleType::Int16Lsb,
        SampleTypeChoice::Int24 => HostSampleType::Int24Lsb,
        SampleTypeChoice::Int32 => HostSampleType::Int32Lsb,
        SampleTypeChoice::Int32Lsb16 => HostSampleType::Int32Lsb16,
        SampleTypeChoice::Int32Lsb18 => HostSampleType::Int32Lsb18,
        SampleTypeChoice::Int32Lsb20 => HostSampleType::Int32Lsb20,
        SampleTypeChoice::Int32Lsb24 => HostSampleType::Int32Lsb24,
    }
}

/// The device channels a `channels` setting exposes, in host order.
fn exposed_channels(
    selection: &ChannelSelection,
    device_channels: usize,
) -> DriverResult<Vec<usize>> {
    let fail = |what: String| {
        DriverError::invalid_parameter(format!(
            "Wasio.toml: output.channels: {what}; the device has {device_channels}"
        ))
    };
    match selection {
        ChannelSelection::All => Ok((0..device_channels).collect()),
        ChannelSelection::Count(count) if *count as usize <= device_channels => {
            Ok((0..*count as usize).collect())
        }
        ChannelSelection::Count(count) => Err(fail(format!("{count} channels asked for"))),
        ChannelSelection::List(list) => list
            .iter()
            .map(|&channel| {
                if (channel as usize) < device_channels {
                    Ok(channel as usize)
                } else {
                    Err(fail(format!("channel {channel} does not exist (0-based)")))
                }
            })
            .collect(),
    }
}

/// One driver instance.
pub struct DriverCore {
    make_backend: BackendFactory,
    env: DriverEnv,
    instance: u32,
    inner: Mutex<Inner>,
    last_error: Arc<Mutex<String>>,
    positions: Arc<PositionCell>,
    output_ready_seen: AtomicBool,
    /// Whether the running stream was started deferred (the host had not called
    /// outputReady yet): its latency stays that until the next start.
    started_deferred: AtomicBool,
    /// Mirror of `Inner::state` for the lock-free calls.
    state: AtomicU8,
    notifier: Arc<Notifier>,
    counters: Arc<StreamCounters>,
    status: Arc<Mutex<DriverStatus>>,
    /// The input side's measurements (latency, drift, counters), shared with the device thread.
    input_monitor: Arc<InputMonitor>,
    /// The measured input latency `getLatencies` reports while running (-1: not yet).
    input_latency: LatchedLatency,
    latency_watch: Mutex<Option<LatencyWatch>>,
}

impl DriverCore {
    pub fn new(make_backend: BackendFactory, env: DriverEnv) -> Self {
        let instance = NEXT_INSTANCE.fetch_add(1, Ordering::Relaxed);
        LIVE_INSTANCES.fetch_add(1, Ordering::AcqRel);
        let last_error = Arc::new(Mutex::new(String::new()));
        let status = DriverStatus {
            pid: env.process.pid,
            process: env.process.name.clone(),
            instance: instance.into(),
            state: state_word(DriverState::Loaded).into(),
            driver_version: crate::DRIVER_VERSION.into(),
            ..DriverStatus::default()
        };
        Self {
            make_backend,
            instance,
            inner: Mutex::new(Inner {
                state: DriverState::Loaded,
                backend: None,
                output: None,
                input: None,
                sample_rate: 0,
                last_probe_error: None,
                plan: None,
                rate_answers: Vec::new(),
                input_rate_answers: Vec::new(),
                sizes: BufferSizePolicy::decoupled(480),
                host_sample_type: HostSampleType::Float32Lsb,
                settings: Settings::default(),
                exposed: Vec::new(),
                prepared: None,
                last_report: StreamReport::default(),
                monitor: None,
            }),
            notifier: Arc::new(Notifier {
                messenger: Mutex::new(None),
                last_error: last_error.clone(),
                resets_sent: AtomicU64::new(0),
                resets: Mutex::new(Vec::new()),
            }),
            last_error,
            positions: Arc::new(PositionCell::new()),
            output_ready_seen: AtomicBool::new(false),
            started_deferred: AtomicBool::new(true),
            state: AtomicU8::new(STATE_LOADED),
            counters: Arc::new(StreamCounters::default()),
            status: Arc::new(Mutex::new(status)),
            env,
            input_monitor: Arc::new(InputMonitor::new()),
            input_latency: Arc::new(AtomicI32::new(-1)),
            latency_watch: Mutex::new(None),
        }
    }

    /// This instance's number within the process (as in its status file's name).
    pub fn instance(&self) -> u32 {
        self.instance
    }

    /// How many kAsioResetRequest messages were sent to the host.
    pub fn resets_sent(&self) -> u64 {
        self.notifier.resets_sent.load(Ordering::Acquire)
    }

    /// The status file of this instance, if the environment gives a directory for it.
    pub fn status_path(&self) -> Option<std::path::PathBuf> {
        self.env.status_dir.as_ref().map(|dir| {
            StatusFile::new(dir, self.env.process.pid, self.instance.into())
                .path()
                .to_path_buf()
        })
    }

    fn set_state(&self, inner: &mut Inner, state: DriverState) {
        let previous = inner.state;
        inner.state = state;
        self.state.store(
            match state {
                DriverState::Loaded => STATE_LOADED,
                DriverState::Initialized => STATE_INITIALIZED,
                DriverState::Prepared => STATE_PREPARED,
                DriverState::Running => STATE_RUNNING,
            },
            Ordering::Release,
        );
        if previous != state {
            log_at!(
                LogLevel::Info,
                "instance {}: state {} -> {}",
                self.instance,
                state_word(previous),
                state_word(state)
            );
        }
        self.update_status(inner);
    }

    /// Refreshes the status snapshot from `inner` and has the monitor write it.
    fn update_status(&self, inner: &Inner) {
        {
            let mut status = lock(&self.status);
            status.state = state_word(inner.state).into();
            status.sample_rate = inner.sample_rate.into();
            if let Some(output) = &inner.output {
                status.device = output.name.clone();
            }
            match &inner.prepared {
                Some(p) => {
                    status.mode = p.info.mode.into();
                    status.buffer_frames = p.block_frames as u32;
                    status.period_frames = p.info.period_frames as u32;
                    status.device_buffer_frames = p.info.device_buffer_frames as u32;
                    status.format = format!(
                        "{:?} {}ch {} Hz",
                        p.info.format.encoding, p.info.format.channels, p.info.format.sample_rate
                    );
                }
                None => {
                    status.mode.clear();
                    status.buffer_frames = 0;
                    status.period_frames = 0;
                    status.device_buffer_frames = 0;
                    status.format.clear();
                }
            }
            status.input_latency = self.input_latency(inner) as i32;
            status.output_latency = self.output_latency(inner) as i32;
            match inner
                .prepared
                .as_ref()
                .filter(|p| !p.input_channels.is_empty())
                .and_then(|p| p.info.input.as_ref())
            {
                Some(input) => {
                    status.input_device = input.endpoint.name.clone();
                    status.input_mode = input.relation.describe().into();
                    status.drift_ppm = self.input_monitor.drift_ppm();
                }
                None => {
                    status.input_device.clear();
                    status.input_mode.clear();
                    status.drift_ppm = 0.0;
                }
            }
        }
        if let Some(monitor) = &inner.monitor {
            monitor.poke();
        }
    }

    /// The current state (for logs and tests).
    pub fn state(&self) -> DriverState {
        lock(&self.inner).state
    }

    /// The last error message, as `getErrorMessage` returns it.
    pub fn error_message(&self) -> String {
        lock(&self.last_error).clone()
    }

    /// Records a failure for `getErrorMessage` and returns its code.
    pub fn fail(&self, error: DriverError) -> AsioError {
        *lock(&self.last_error) = error.message;
        error.code
    }

    fn finish(&self, result: DriverResult<()>) -> AsioError {
        match result {
            Ok(()) => ASE_OK,
            Err(e) => self.fail(e),
        }
    }

    /// The input side's live figures: measured latency, drift (ppm), counters.
    pub fn input_monitor(&self) -> Arc<InputMonitor> {
        self.input_monitor.clone()
    }

    /// What the last stream run did (counters, allocations on the audio thread, failure).
    pub fn last_report(&self) -> StreamReport {
        lock(&self.inner).last_report.clone()
    }

    // ---- IASIO -------------------------------------------------------------------------

    /// Reads Wasio.toml (a missing file gives the defaults); a bad file is refused here.
    fn load_settings(&self) -> DriverResult<Settings> {
        let Some(profile) = &self.env.user_profile_dir else {
            return Ok(Settings::default());
        };
        let path = default_config_path(profile);
        match Settings::load(&path) {
            Ok(settings) => Ok(settings),
            Err(e) => {
                // Log with the default log settings (on if Wasio.log exists), so the error
                // itself is recorded.
                self.start_log(&LogSettings::default());
                log_at!(LogLevel::Error, "configuration: {e}");
                Err(DriverError::invalid_parameter(e.short()))
            }
        }
    }

    /// Starts the process-wide log if these settings turn it on and it is not running.
    fn start_log(&self, settings: &LogSettings) {
        if wlog::global().is_some() {
            return;
        }
        let Some(profile) = &self.env.user_profile_dir else {
            return;
        };
        let Some(path) = settings.active_path(profile) else {
            return;
        };
        let mut options = LoggerOptions::from_settings(
            settings,
            path,
            self.env.process.clone(),
            crate::DRIVER_VERSION,
        );
        options.thread_id = self.env.thread_id;
        // The driver works without its log; a file that cannot be opened is not an error.
        let _ = wlog::start_global(options);
    }

    /// Starts this instance's monitor thread (config watch, status file) once.
    fn start_monitor(&self, inner: &mut Inner) {
        if inner.monitor.is_some() {
            return;
        }
        let config_path = self
            .env
            .user_profile_dir
            .as_deref()
            .map(default_config_path);
        let status = self.env.status_dir.as_ref().map(|dir| StatusSource {
            file: StatusFile::new(dir, self.env.process.pid, self.instance.into()),
            snapshot: self.status.clone(),
            counters: self.counters.clone(),
            input: self.input_monitor.clone(),
        });
        let notifier = self.notifier.clone();
        let instance = self.instance;
        let started = Monitor::spawn(config_path, status, move || {
            log_at!(LogLevel::Info, "instance {instance}: Wasio.toml changed");
            notifier.request_reset("Wasio.toml changed");
        });
        match started {
            Ok(monitor) => inner.monitor = Some(monitor),
            Err(e) => log_at!(
                LogLevel::Error,
                "no monitor thread (config watch, status file): {e}"
            ),
        }
    }

    pub fn init(&self, _sys_handle: *mut c_void) -> AsioBool {
        let result = (|| {
            let mut inner = lock(&self.inner);
            check_call(inner.state, AsioCall::Init)?;
            self.start_monitor(&mut inner);
            let settings = self.load_settings()?;
            self.start_log(&settings.logging);
            log_at!(
                LogLevel::Info,
                "instance {}: init in {} (pid {}), driver {}",
                self.instance,
                self.env.process.name,
                self.env.process.pid,
                crate::DRIVER_VERSION
            );
            if !settings.output.enabled {
                return Err(DriverError::not_present(
                    "Wasio.toml: output.enabled = false, and this version has no inputs: nothing to open",
                ));
            }
            let backend = match &inner.backend {
                Some(b) => b.clone(),
                None => {
                    let b = (self.make_backend)()
                        .map_err(|e| backend_error("starting the device thread", e))?;
                    inner.backend = Some(b.clone());
                    b
                }
            };
            let selector = &settings.output.device;
            let output = backend.describe_output(selector).map_err(|e| {
                log_at!(
                    LogLevel::Error,
                    "no output device for {}: {e}",
                    describe_selector(selector)
                );
                if e.hresult.is_none() && !selector.is_default() {
                    // The selector matched nothing: the detail names it and lists devices.
                    DriverError::not_present(e.detail)
                } else if e.hresult.is_some() && !e.is_device_lost() {
                    DriverError::not_present(format!("no usable output device: {e}"))
                } else {
                    DriverError::not_present(format!("no output device: {e}"))
                }
            })?;
            let exposed = exposed_channels(
                &settings.output.channels,
                output.mix_format.channels as usize,
            )?;
            let names = channel_names(
                output.mix_format.channel_mask,
                output.mix_format.channels as usize,
            );
            // Answers depend on the device and on the mode and sample type asked for.
            inner.rate_answers.clear();
            inner.input_rate_answers.clear();
            inner.plan = None;
            inner.settings = settings.clone();
            inner.sample_rate = output.mix_format.sample_rate;
            inner.output = Some(output.clone());
            if let Some(rate) = settings.sample_rate {
                let hz = Self::valid_rate(rate).map_err(|e| {
                    DriverError::no_clock(format!("Wasio.toml: sample_rate: {}", e.message))
                })?;
                if !Self::rate_supported(&mut inner, hz)? {
                    return Err(DriverError::no_clock(format!(
                        "Wasio.toml: sample_rate: the output device cannot run at {hz} Hz"
                    )));
                }
                inner.sample_rate = hz;
            }
            inner.exposed = exposed
                .into_iter()
                .map(|channel| (channel, names[channel].clone()))
                .collect();
            inner.host_sample_type = host_sample_type(settings.output.sample_type);
            inner.settings = settings;
            let rate = inner.sample_rate;
            let plan = Self::plan_for_rate(&mut inner, rate)?.ok_or_else(|| {
                DriverError::not_present(
                    inner
                        .last_probe_error
                        .clone()
                        .unwrap_or_else(|| format!("no output mode works at {rate} Hz")),
                )
            })?;
            Self::apply_plan(&mut inner, plan);
            log_at!(
                LogLevel::Info,
                "output: {} ({}), {} channels of {} exposed, {:?} to the host, {} Hz, mode {} -> {}, buffer sizes {:?}{}",
                output.name,
                output.id,
                inner.exposed.len(),
                output.mix_format.channels,
                inner.host_sample_type,
                inner.sample_rate,
                inner.settings.output.mode,
                inner.plan.as_ref().map_or(String::new(), |p| p.report.to_string()),
                inner.sizes.offered(),
                if inner.settings.buffer.is_some() { " (from Wasio.toml)" } else { "" }
            );
            // A machine without a capture device still plays: no inputs then.
            inner.input = if inner.settings.input.enabled {
                backend
                    .describe_input(&inner.settings.input.device)
                    .ok()
                    .flatten()
            } else {
                None
            };
            if let Some(input) = &inner.input {
                log_at!(
                    LogLevel::Info,
                    "input: {} ({}), {} channels",
                    input.name,
                    input.id,
                    input.mix_format.channels
                );
            }
            self.set_state(&mut inner, DriverState::Initialized);
            Ok(())
        })();
        let answer = match result {
            Ok(()) => ASIO_TRUE,
            Err(e) => {
                self.fail(e);
                ASIO_FALSE
            }
        };
        self.log_call("init", (answer != ASIO_TRUE).then_some("ASIOFalse"), |_| {});
        answer
    }

    /// The sizes offered: Wasio.toml's `[buffer]`; else, in exclusive event mode, the
    /// aligned periods; else any size around the device period.
    fn refresh_sizes(inner: &mut Inner) {
        inner.sizes = match (inner.settings.buffer, &inner.output) {
            (Some(policy), _) => policy,
            (None, _) if inner.plan.is_some() => {
                let plan = inner.plan.as_ref().expect("checked above");
                if plan.mode.block_is_period() {
                    exclusive_event_sizes(
                        plan.min_period_frames as u32,
                        plan.period_frames as u32,
                        plan.format.frame_bytes(),
                    )
                } else {
                    BufferSizePolicy::decoupled(plan.period_frames as u32)
                }
            }
            (None, Some(o)) => BufferSizePolicy::decoupled(scale_frames(
                o.default_period_frames,
                o.mix_format.sample_rate,
                inner.sample_rate,
            ) as u32),
            (None, None) => BufferSizePolicy::decoupled(480),
        };
    }

    /// Logs one ASIO call at debug level: its name, what `details` writes (arguments and
    /// what was returned through pointers) and the result (`None`: success; else the code's
    /// name), with the error message on failure. Formats nothing when the log is off.
    fn log_call(&self, call: &str, failure: Option<&str>, details: impl FnOnce(&mut String)) {
        let Some(logger) = wlog::global_at(LogLevel::Debug) else {
            return;
        };
        let mut text = String::new();
        details(&mut text);
        match failure {
            None => logger.debug(format_args!("{call}({text}) -> ok")),
            Some(code) => logger.debug(format_args!(
                "{call}({text}) -> {code}: {}",
                self.error_message()
            )),
        }
    }

    /// [`Self::log_call`] for calls that return an ASIO error code; passes `code` through.
    fn logged(&self, call: &str, code: AsioError, details: impl FnOnce(&mut String)) -> AsioError {
        let failure = (code != ASE_OK && code != ASE_SUCCESS).then(|| asio_abi::error_name(code));
        self.log_call(call, failure, details);
        code
    }

    /// # Safety
    /// `name` must be null or point to at least 32 writable bytes.
    pub unsafe fn get_driver_name(&self, name: *mut c_char) {
        if !name.is_null() {
            let text = to_asio_name(DRIVER_NAME);
            // SAFETY: the host provides 32 bytes, as the interface defines.
            unsafe { std::ptr::copy_nonoverlapping(text.as_ptr(), name, text.len()) };
        }
    }

    pub fn get_driver_version(&self) -> i32 {
        driver_version_number()
    }

    /// # Safety
    /// `string` must be null or point to at least 124 writable bytes.
    pub unsafe fn get_error_message(&self, string: *mut c_char) {
        if string.is_null() {
            return;
        }
        let message = lock(&self.last_error);
        let text = if message.is_empty() {
            "No error."
        } else {
            message.as_str()
        };
        let mut end = text.len().min(ERROR_MESSAGE_CAPACITY - 1);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        // SAFETY: at most 123 bytes plus the NUL fit the host's 124-byte buffer.
        unsafe {
            std::ptr::copy_nonoverlapping(text.as_ptr() as *const c_char, string, end);
            *string.add(end) = 0;
        }
    }

    fn checked(&self, call: AsioCall) -> DriverResult<MutexGuard<'_, Inner>> {
        let inner = lock(&self.inner);
        check_call(inner.state, call)?;
        Ok(inner)
    }

    /// # Safety
    /// Pointers must be null or valid for writing.
    pub unsafe fn get_channels(&self, inputs: *mut i32, outputs: *mut i32) -> AsioError {
        let result = (|| {
            let inner = self.checked(AsioCall::GetChannels)?;
            if inputs.is_null() || outputs.is_null() {
                return Err(DriverError::invalid_parameter(
                    "getChannels: a null pointer was passed",
                ));
            }
            let channels = inner.exposed.len() as i32;
            let input_channels = inner
                .input
                .as_ref()
                .map_or(0, |i| i.mix_format.channels as i32);
            // SAFETY: checked non-null; the host owns the memory.
            unsafe {
                *inputs = input_channels;
                *outputs = channels;
            }
            Ok(())
        })();
        let code = self.finish(result);
        self.logged("getChannels", code, |t| {
            if code == ASE_OK {
                // SAFETY: written above, so the pointers are valid.
                let _ = write!(t, "-> inputs {}, outputs {}", unsafe { *inputs }, unsafe {
                    *outputs
                });
            }
        })
    }

    /// The input latency the host is told now, in frames: measured while running,
    /// predicted before.
    fn input_latency(&self, inner: &Inner) -> usize {
        let latched = self.input_latency.load(Ordering::Acquire);
        match &inner.prepared {
            Some(p) if p.input_channels.is_empty() => 0,
            Some(_) if latched >= 0 => latched as usize,
            Some(p) => p
                .info
                .input
                .as_ref()
                .map_or(0, |i| i.predicted_latency_frames),
            None => match (&inner.input, &inner.output) {
                (Some(input), Some(output)) => CaptureConfig {
                    block_frames: inner.sizes.preferred as usize,
                    sample_rate: inner.sample_rate as f64,
                    device_channels: input.mix_format.channels as usize,
                    device_format: input.mix_format.encoding,
                    host_sample_type: inner.host_sample_type,
                    packet_frames: scale_frames(
                        input.default_period_frames,
                        input.mix_format.sample_rate,
                        inner.sample_rate,
                    ),
                    max_packet_frames: input.shared_buffer_frames,
                    render_burst_frames: scale_frames(
                        output.default_period_frames,
                        output.mix_format.sample_rate,
                        inner.sample_rate,
                    )
                    .max(inner.sizes.preferred as usize),
                    relation: ClockRelation::Shared,
                    quality: crate::drift::ResamplerQuality::Standard,
                    stamps: crate::capture_clock::StampMeaning::FirstFrame,
                }
                .predicted_latency_frames(),
                _ => 0,
            },
        }
    }

    /// The output latency the host is told now, in frames (a fault-injection build may be
    /// told to lie here: see [`crate::fault`]).
    fn output_latency(&self, inner: &Inner) -> usize {
        self.true_output_latency(inner) + crate::fault::latency_error_frames()
    }

    fn true_output_latency(&self, inner: &Inner) -> usize {
        let deferred = if inner.state == DriverState::Running {
            self.started_deferred.load(Ordering::Acquire)
        } else {
            !self.output_ready_seen.load(Ordering::Acquire)
        };
        match (&inner.prepared, &inner.output) {
            (Some(p), _) if !p.info.has_output => 0,
            (Some(p), _) => output_latency_frames(
                p.info.device_buffer_frames,
                p.info.stream_latency_frames,
                p.block_frames,
                deferred,
            ),
            (None, _) if inner.plan.is_some() => {
                let plan = inner.plan.as_ref().expect("checked above");
                output_latency_frames(
                    plan.device_buffer_frames,
                    plan.stream_latency_frames,
                    inner.sizes.preferred as usize,
                    deferred,
                )
            }
            (None, Some(o)) => output_latency_frames(
                scale_frames(
                    o.shared_buffer_frames,
                    o.mix_format.sample_rate,
                    inner.sample_rate,
                ),
                scale_frames(
                    o.shared_stream_latency_frames,
                    o.mix_format.sample_rate,
                    inner.sample_rate,
                ),
                inner.sizes.preferred as usize,
                deferred,
            ),
            (None, None) => 0,
        }
    }

    /// # Safety
    /// Pointers must be null or valid for writing.
    pub unsafe fn get_latencies(&self, input: *mut i32, output: *mut i32) -> AsioError {
        let result = (|| {
            let inner = self.checked(AsioCall::GetLatencies)?;
            if input.is_null() || output.is_null() {
                return Err(DriverError::invalid_parameter(
                    "getLatencies: a null pointer was passed",
                ));
            }
            let out = self.output_latency(&inner) as i32;
            let inp = self.input_latency(&inner) as i32;
            // SAFETY: checked non-null.
            unsafe {
                *input = inp;
                *output = out;
            }
            Ok(())
        })();
        let code = self.finish(result);
        self.logged("getLatencies", code, |t| {
            if code == ASE_OK {
                // SAFETY: written above, so the pointers are valid.
                let _ = write!(t, "-> input {}, output {}", unsafe { *input }, unsafe {
                    *output
                });
            }
        })
    }

    /// # Safety
    /// Pointers must be null or valid for writing.
    pub unsafe fn get_buffer_size(
        &self,
        min: *mut i32,
        max: *mut i32,
        preferred: *mut i32,
        granularity: *mut i32,
    ) -> AsioError {
        let result = (|| {
            let inner = self.checked(AsioCall::GetBufferSize)?;
            if min.is_null() || max.is_null() || preferred.is_null() || granularity.is_null() {
                return Err(DriverError::invalid_parameter(
                    "getBufferSize: a null pointer was passed",
                ));
            }
            let (offered_min, offered_max, offered_preferred, offered_granularity) =
                inner.sizes.offered();
            // SAFETY: checked non-null.
            unsafe {
                *min = offered_min;
                *max = offered_max;
                *preferred = offered_preferred;
                *granularity = offered_granularity;
            }
            Ok(())
        })();
        let code = self.finish(result);
        self.logged("getBufferSize", code, |t| {
            if code == ASE_OK {
                // SAFETY: written above, so the pointers are valid.
                let _ = unsafe {
                    write!(
                        t,
                        "-> min {}, max {}, preferred {}, granularity {}",
                        *min, *max, *preferred, *granularity
                    )
                };
            }
        })
    }

    /// Turns a host's rate into whole Hz, refusing what is not a sample rate.
    fn valid_rate(rate: f64) -> DriverResult<u32> {
        if !rate.is_finite() || rate <= 0.0 {
            return Err(DriverError::invalid_parameter(format!(
                "{rate} is not a sample rate"
            )));
        }
        if !(MIN_SAMPLE_RATE..=MAX_SAMPLE_RATE).contains(&rate) || rate.fract() != 0.0 {
            return Err(DriverError::no_clock(format!(
                "{rate} Hz is not supported: rates are whole numbers from {MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz"
            )));
        }
        Ok(rate as u32)
    }

    /// The plan for a stream at `rate`, by trial of the mode chain (cached), or None when no
    /// mode opens at that rate (the reason is kept for `init`'s message). While running,
    /// only rates tried before are known: a trial would disturb the stream (or be refused,
    /// the device being held exclusively).
    fn plan_for_rate(inner: &mut Inner, rate: u32) -> DriverResult<Option<OutputPlan>> {
        if let Some((_, answer)) = inner.rate_answers.iter().find(|(r, _)| *r == rate) {
            return Ok(answer.clone());
        }
        if rate == inner.sample_rate && inner.plan.is_some() {
            return Ok(inner.plan.clone());
        }
        if inner.state == DriverState::Running {
            return Ok(None);
        }
        let backend = inner
            .backend
            .clone()
            .ok_or_else(|| DriverError::not_present("no device"))?;
        let endpoint_id = inner
            .output
            .as_ref()
            .map(|o| o.id.clone())
            .unwrap_or_default();
        let output = &inner.settings.output;
        let preferred = preferred_exclusive_format(output.sample_type);
        let answer = match backend.probe_output(&endpoint_id, output.mode, rate, preferred) {
            Ok(plan) => Some(plan),
            Err(e) if e.is_device_lost() => {
                return Err(backend_error("checking the sample rate", e))
            }
            Err(e) => {
                log_at!(LogLevel::Info, "no stream at {rate} Hz: {e}");
                inner.last_probe_error = Some(e.to_string());
                None
            }
        };
        inner.rate_answers.push((rate, answer.clone()));
        Ok(answer)
    }

    /// In duplex both endpoints must run at the rate: the output (by its mode plan) and
    /// the input (a trial shared-mode open).
    fn rate_supported(inner: &mut Inner, rate: u32) -> DriverResult<bool> {
        Ok(Self::plan_for_rate(inner, rate)?.is_some() && Self::input_supports_rate(inner, rate)?)
    }

    fn input_supports_rate(inner: &mut Inner, rate: u32) -> DriverResult<bool> {
        let Some(input_id) = inner.input.as_ref().map(|i| i.id.clone()) else {
            return Ok(true);
        };
        if rate == inner.sample_rate {
            return Ok(true);
        }
        if let Some(&(_, answer)) = inner.input_rate_answers.iter().find(|(r, _)| *r == rate) {
            return Ok(answer);
        }
        let backend = inner
            .backend
            .clone()
            .ok_or_else(|| DriverError::not_present("no device"))?;
        let answer = backend
            .supports_rate(&input_id, rate)
            .map_err(|e| backend_error("checking the input's sample rate", e))?;
        if !answer {
            log_at!(LogLevel::Info, "the input cannot run at {rate} Hz");
        }
        inner.input_rate_answers.push((rate, answer));
        Ok(answer)
    }

    /// The mode, format and sizes a stream will get: from a probe of the backend.
    fn apply_plan(inner: &mut Inner, plan: OutputPlan) {
        // The buffers' sample type cannot change under the host: it stays until
        // disposeBuffers (conversion keeps it correct meanwhile).
        if inner.prepared.is_none() {
            inner.host_sample_type = host_type_for_choice(
                inner.settings.output.sample_type,
                plan.mode,
                plan.format.encoding,
            );
        }
        let rate = inner.sample_rate;
        if !inner.rate_answers.iter().any(|(r, _)| *r == rate) {
            inner.rate_answers.push((rate, Some(plan.clone())));
        }
        inner.plan = Some(plan);
        Self::refresh_sizes(inner);
    }

    /// The mode the output is in (or would open in), with the reason each better mode was
    /// refused, e.g. for the CLI and the log.
    pub fn mode_status(&self) -> Option<String> {
        let inner = lock(&self.inner);
        Self::mode_status_of(&inner)
    }

    fn mode_status_of(inner: &Inner) -> Option<String> {
        match (&inner.prepared, &inner.plan) {
            (Some(p), _) => Some(p.info.mode_report.to_string()),
            (None, Some(plan)) => Some(plan.report.to_string()),
            _ => None,
        }
    }

    pub fn can_sample_rate(&self, rate: f64) -> AsioError {
        let result = (|| {
            let mut inner = self.checked(AsioCall::CanSampleRate)?;
            let hz = Self::valid_rate(rate)?;
            if Self::plan_for_rate(&mut inner, hz)?.is_none() {
                Err(DriverError::no_clock(format!(
                    "the output device cannot run at {hz} Hz"
                )))
            } else if !Self::input_supports_rate(&mut inner, hz)? {
                Err(DriverError::no_clock(format!(
                    "the input device cannot run at {hz} Hz (in duplex both must)"
                )))
            } else {
                Ok(())
            }
        })();
        let code = self.finish(result);
        self.logged("canSampleRate", code, |t| {
            let _ = write!(t, "{rate}");
        })
    }

    /// # Safety
    /// `rate` must be null or valid for writing.
    pub unsafe fn get_sample_rate(&self, rate: *mut f64) -> AsioError {
        let result = (|| {
            let inner = self.checked(AsioCall::GetSampleRate)?;
            if rate.is_null() {
                return Err(DriverError::invalid_parameter(
                    "getSampleRate: a null pointer was passed",
                ));
            }
            // SAFETY: checked non-null.
            unsafe { *rate = inner.sample_rate as f64 };
            Ok(())
        })();
        let code = self.finish(result);
        self.logged("getSampleRate", code, |t| {
            if code == ASE_OK {
                // SAFETY: written above, so the pointer is valid.
                let _ = write!(t, "-> {}", unsafe { *rate });
            }
        })
    }

    /// Changes the rate before createBuffers, while prepared (the stream is re-opened) or
    /// while running (the stream is stopped, re-opened at the new rate and restarted; the
    /// host then hears of it through `sampleRateDidChange`, or `kAsioResetRequest` when the
    /// stream could not continue).
    pub fn set_sample_rate(&self, rate: f64) -> AsioError {
        let result = (|| {
            let mut inner = self.checked(AsioCall::SetSampleRate)?;
            let hz = Self::valid_rate(rate)?;
            if hz == inner.sample_rate {
                return Ok(());
            }
            if inner.state == DriverState::Running {
                drop(inner);
                return self.restart_at_rate(hz);
            }
            self.change_rate(&mut inner, hz)
        })();
        let code = self.finish(result);
        self.logged("setSampleRate", code, |t| {
            let _ = write!(t, "{rate}");
        })
    }

    /// Moves a stopped driver to `hz`: plan, sizes, and the stream if buffers exist.
    fn change_rate(&self, inner: &mut Inner, hz: u32) -> DriverResult<()> {
        let Some(plan) = Self::plan_for_rate(inner, hz)? else {
            return Err(DriverError::no_clock(format!(
                "the output device cannot run at {hz} Hz"
            )));
        };
        if !Self::input_supports_rate(inner, hz)? {
            return Err(DriverError::no_clock(format!(
                "the input device cannot run at {hz} Hz (in duplex both must)"
            )));
        }
        let (previous_rate, previous_plan, previous_sizes) =
            (inner.sample_rate, inner.plan.clone(), inner.sizes);
        inner.sample_rate = hz;
        Self::apply_plan(inner, plan);
        if inner.prepared.is_some() {
            // The buffers stay; the stream is re-opened at the new rate.
            if let Err(e) = self.reopen(inner) {
                inner.sample_rate = previous_rate;
                inner.plan = previous_plan;
                inner.sizes = previous_sizes;
                return Err(e);
            }
        }
        self.update_status(inner);
        Ok(())
    }

    /// `setSampleRate` while running: stop, re-open at `hz`, start again.
    fn restart_at_rate(&self, hz: u32) -> DriverResult<()> {
        self.stop_stream()?;
        let mut inner = lock(&self.inner);
        let changed = self.change_rate(&mut inner, hz);
        // Running again, at the new rate or (after a refusal) at the old one.
        let restarted = match inner.prepared.as_ref() {
            Some(_) => {
                let backend = inner
                    .backend
                    .clone()
                    .ok_or_else(|| DriverError::not_present("no device"))?;
                let deferred = !self.output_ready_seen.load(Ordering::Acquire);
                backend
                    .start(deferred)
                    .map_err(|e| backend_error("restarting the stream", e))
            }
            None => Err(DriverError::invalid_mode(
                "the stream could not be re-opened; the host must reset the driver",
            )),
        };
        let messenger = inner.prepared.as_ref().map(|p| p.messenger);
        if restarted.is_ok() {
            self.set_state(&mut inner, DriverState::Running);
        }
        log_at!(
            LogLevel::Info,
            "sample rate {} Hz while running: {}",
            hz,
            match (&changed, &restarted) {
                (Ok(()), Ok(())) => "the stream restarted at the new rate".to_string(),
                (Err(e), Ok(())) => format!("refused ({}); the stream goes on", e.message),
                (_, Err(e)) => format!("the stream could not restart: {}", e.message),
            }
        );
        drop(inner);
        match (&changed, &restarted, messenger) {
            (Ok(()), Ok(()), Some(m)) => {
                if let Some(did_change) = m.callbacks.sample_rate_did_change {
                    // SAFETY: the host's callback, with the new rate; no lock is held.
                    unsafe { did_change(hz as f64) };
                }
                if m.latencies_changed {
                    m.send(message::LATENCIES_CHANGED, true);
                }
            }
            (_, Err(_), _) => {
                self.notifier
                    .request_reset("the stream could not restart after a rate change");
            }
            _ => {}
        }
        changed.and(restarted)
    }

    /// # Safety
    /// `clocks` must be null or valid for `*num` entries; `num` null or valid.
    pub unsafe fn get_clock_sources(
        &self,
        clocks: *mut AsioClockSource,
        num: *mut i32,
    ) -> AsioError {
        let result = (|| {
            let _inner = self.checked(AsioCall::GetClockSources)?;
            if clocks.is_null() || num.is_null() {
                return Err(DriverError::invalid_parameter(
                    "getClockSources: a null pointer was passed",
                ));
            }
            // SAFETY: checked non-null.
            let capacity = unsafe { *num };
            if capacity < 1 {
                return Err(DriverError::invalid_parameter(format!(
                    "getClockSources: room for {capacity} sources"
                )));
            }
            let mut source = AsioClockSource::zeroed();
            source.index = 0;
            source.associated_channel = -1;
            source.associated_group = -1;
            source.is_current_source = ASIO_TRUE;
            source.name = to_asio_name("Device clock");
            // SAFETY: checked non-null, room for at least one.
            unsafe {
                *clocks = source;
                *num = 1;
            }
            Ok(())
        })();
        let code = self.finish(result);
        self.logged("getClockSources", code, |t| {
            if code == ASE_OK {
                t.push_str("-> 1 source: Device clock");
            }
        })
    }

    pub fn set_clock_source(&self, reference: i32) -> AsioError {
        let result = (|| {
            let _inner = self.checked(AsioCall::SetClockSource)?;
            if reference != 0 {
                return Err(DriverError::invalid_parameter(format!(
                    "clock source {reference} does not exist; the only one is 0"
                )));
            }
            Ok(())
        })();
        let code = self.finish(result);
        self.logged("setClockSource", code, |t| {
            let _ = write!(t, "{reference}");
        })
    }

    /// Lock-free: hosts call it from inside bufferSwitch.
    ///
    /// # Safety
    /// Pointers must be null or valid for writing.
    pub unsafe fn get_sample_position(
        &self,
        position: *mut AsioSamples,
        stamp: *mut AsioTimeStamp,
    ) -> AsioError {
        let state = self.state.load(Ordering::Acquire);
        if state != STATE_PREPARED && state != STATE_RUNNING {
            return self.fail(DriverError::invalid_mode(
                "getSamplePosition: no stream exists; call createBuffers and start",
            ));
        }
        if position.is_null() || stamp.is_null() {
            return self.fail(DriverError::invalid_parameter(
                "getSamplePosition: a null pointer was passed",
            ));
        }
        match self.positions.read() {
            Some((samples, time_ns)) => {
                // SAFETY: checked non-null; the structs are 4-byte aligned words.
                unsafe {
                    position.write_unaligned(AsioSamples::from_u64(samples));
                    stamp.write_unaligned(AsioTimeStamp::from_u64(time_ns));
                }
                ASE_OK
            }
            None => ASE_SP_NOT_ADVANCING,
        }
    }

    /// # Safety
    /// `info` must be null or valid for reading and writing.
    pub unsafe fn get_channel_info(&self, info: *mut AsioChannelInfo) -> AsioError {
        let result = (|| {
            let inner = self.checked(AsioCall::GetChannelInfo)?;
            if info.is_null() {
                return Err(DriverError::invalid_parameter(
                    "getChannelInfo: a null pointer was passed",
                ));
            }
            // SAFETY: checked non-null; the host owns the struct.
            let info = unsafe { &mut *info };
            let (channel, is_input) = (info.channel, info.is_input != ASIO_FALSE);
            let (count, direction) = if is_input {
                (
                    inner
                        .input
                        .as_ref()
                        .map_or(0, |i| i.mix_format.channels as i32),
                    "input",
                )
            } else {
                (inner.exposed.len() as i32, "output")
            };
            if count == 0 {
                return Err(DriverError::invalid_parameter(format!(
                    "{direction} channel {channel} does not exist: there are no {direction}s"
                )));
            }
            if channel < 0 || channel >= count {
                return Err(DriverError::invalid_parameter(format!(
                    "{direction} channel {channel} does not exist: there are {count} (0 to {})",
                    count - 1
                )));
            }
            info.is_active = match &inner.prepared {
                Some(p) if is_input && p.input_channels.contains(&(channel as usize)) => ASIO_TRUE,
                Some(p) if !is_input && p.output_channels.contains(&(channel as usize)) => {
                    ASIO_TRUE
                }
                _ => ASIO_FALSE,
            };
            info.channel_group = 0;
            info.sample_type = inner.host_sample_type.asio_value();
            info.name = if is_input {
                let mask = inner
                    .input
                    .as_ref()
                    .map_or(0, |i| i.mix_format.channel_mask);
                to_asio_name(&channel_names(mask, count as usize)[channel as usize])
            } else {
                to_asio_name(&inner.exposed[channel as usize].1)
            };
            Ok(())
        })();
        let code = self.finish(result);
        self.logged("getChannelInfo", code, |t| {
            if info.is_null() {
                return;
            }
            // SAFETY: checked non-null; the host's struct.
            let info = unsafe { &*info };
            let (channel, input) = (info.channel, info.is_input);
            let _ = write!(t, "channel {channel}, input {input}");
            if code == ASE_OK {
                let (active, sample_type) = (info.is_active, info.sample_type);
                let name = info.name;
                let end = name.iter().position(|&c| c == 0).unwrap_or(name.len());
                let name: String = name[..end].iter().map(|&c| c as u8 as char).collect();
                let _ = write!(t, " -> {name:?}, active {active}, type {sample_type}");
            }
        })
    }

    /// # Safety
    /// `infos` must be null or valid for `count` entries; `callbacks` null or valid, and
    /// its function pointers valid until disposeBuffers.
    pub unsafe fn create_buffers(
        &self,
        infos: *mut AsioBufferInfo,
        count: i32,
        buffer_size: i32,
        callbacks: *const AsioCallbacks,
    ) -> AsioError {
        let result = (|| {
            let mut inner = self.checked(AsioCall::CreateBuffers)?;
            if infos.is_null() || callbacks.is_null() {
                return Err(DriverError::invalid_parameter(
                    "createBuffers: a null pointer was passed",
                ));
            }
            let output_count = inner.exposed.len();
            let input_count = inner
                .input
                .as_ref()
                .map_or(0, |i| i.mix_format.channels as usize);
            if count <= 0 || count as usize > output_count + input_count {
                return Err(DriverError::invalid_parameter(format!(
                    "createBuffers: {count} channels asked for; between 1 and {} exist",
                    output_count + input_count
                )));
            }
            let block_frames = inner.sizes.check(buffer_size as i64)?;
            // SAFETY: checked non-null; the host owns `count` entries.
            let requests = unsafe { std::slice::from_raw_parts_mut(infos, count as usize) };
            let mut output_channels = Vec::with_capacity(requests.len());
            let mut input_channels = Vec::with_capacity(requests.len());
            for (i, request) in requests.iter().enumerate() {
                let channel = request.channel_num;
                let (list, available, direction) = if request.is_input != ASIO_FALSE {
                    (&mut input_channels, input_count, "input")
                } else {
                    (&mut output_channels, output_count, "output")
                };
                if channel < 0 || channel as usize >= available {
                    return Err(DriverError::invalid_parameter(format!("createBuffers: entry {i} asks for {direction} channel {channel}; there are {available}")));
                }
                if list.contains(&(channel as usize)) {
                    return Err(DriverError::invalid_parameter(format!(
                        "createBuffers: {direction} channel {channel} is asked for twice"
                    )));
                }
                list.push(channel as usize);
            }
            // SAFETY: checked non-null.
            let callbacks = unsafe { *callbacks };
            if { callbacks.buffer_switch }.is_none() && { callbacks.buffer_switch_time_info }
                .is_none()
            {
                return Err(DriverError::invalid_parameter(
                    "createBuffers: the host gave no bufferSwitch callback",
                ));
            }
            let bytes_per_sample = inner.host_sample_type.bytes_per_sample();
            let buffers = Arc::new(HostBuffers::new(
                output_channels.len(),
                block_frames,
                bytes_per_sample,
            )?);
            let input_buffers = Arc::new(HostBuffers::new(
                input_channels.len(),
                block_frames,
                bytes_per_sample,
            )?);
            // SAFETY: the host's callbacks, asked about what they support.
            let messenger = unsafe { HostMessenger::query(callbacks) };
            let info = self.open_stream(
                &mut inner,
                (&buffers, &output_channels),
                (&input_buffers, &input_channels),
                block_frames,
                messenger,
            )?;
            let (mut next_output, mut next_input) = (0, 0);
            for request in requests.iter_mut() {
                let (set, next) = if request.is_input != ASIO_FALSE {
                    (&input_buffers, &mut next_input)
                } else {
                    (&buffers, &mut next_output)
                };
                request.buffers = [set.pointer(*next, 0), set.pointer(*next, 1)];
                *next += 1;
            }
            *lock(&self.notifier.messenger) = Some(messenger);
            inner.prepared = Some(Prepared {
                buffers,
                output_channels,
                input_buffers,
                input_channels,
                block_frames,
                messenger,
                info,
            });
            self.set_state(&mut inner, DriverState::Prepared);
            Ok(())
        })();
        let code = self.finish(result);
        self.logged("createBuffers", code, |t| {
            let _ = write!(t, "{count} channels, {buffer_size} frames");
            if !infos.is_null() && (1..=64).contains(&count) {
                // SAFETY: the host's `count` entries (checked non-null).
                let entries = unsafe { std::slice::from_raw_parts(infos, count as usize) };
                let list: Vec<String> = entries
                    .iter()
                    .map(|e| {
                        format!(
                            "{}{}",
                            if e.is_input != ASIO_FALSE {
                                "in"
                            } else {
                                "out"
                            },
                            { e.channel_num }
                        )
                    })
                    .collect();
                let _ = write!(t, " [{}]", list.join(" "));
            }
        })
    }

    fn open_stream(
        &self,
        inner: &mut Inner,
        (buffers, output_channels): (&Arc<HostBuffers>, &[usize]),
        (input_buffers, input_channels): (&Arc<HostBuffers>, &[usize]),
        block_frames: usize,
        messenger: HostMessenger,
    ) -> DriverResult<StreamInfo> {
        let backend = inner
            .backend
            .clone()
            .ok_or_else(|| DriverError::not_present("no device"))?;
        let endpoint_id = inner
            .output
            .as_ref()
            .map(|o| o.id.clone())
            .ok_or_else(|| DriverError::not_present("no output device"))?;
        let handler = HostSwitch {
            messenger,
            time: Box::new(AsioTime::zeroed()),
            sample_rate: inner.sample_rate as f64,
            notifier: self.notifier.clone(),
        };
        let notifier = self.notifier.clone();
        let request_reset: ResetRequester =
            Arc::new(move |reason: &str| notifier.request_reset(reason));
        let output = &inner.settings.output;
        let request = OutputRequest {
            endpoint_id,
            device: output.device.clone(),
            mode: output.mode,
            period: output.period,
            buffer_duration: output.buffer_duration,
            sample_rate: inner.sample_rate,
            block_frames,
            buffers: buffers.clone(),
            host_sample_type: inner.host_sample_type,
            routes: output_channels
                .iter()
                .map(|&host_channel| inner.exposed[host_channel].0)
                .enumerate()
                .collect(),
            positions: self.positions.clone(),
            handler: Box::new(handler),
            rt_log: wlog::global().map_or_else(RtLogProducer::disabled, |logger| {
                logger.rt_producer(RT_LOG_CAPACITY)
            }),
            counters: self.counters.clone(),
            request_reset,
            preferred_format: inner
                .plan
                .as_ref()
                .map(|p| p.format.encoding)
                .or(preferred_exclusive_format(output.sample_type)),
            capture: (!input_channels.is_empty()).then(|| CaptureRequest {
                device: inner.settings.input.device.clone(),
                buffers: input_buffers.clone(),
                routes: input_channels.iter().copied().enumerate().collect(),
                monitor: self.input_monitor.clone(),
            }),
        };
        let info = backend
            .open_output(request)
            .map_err(|e| backend_error("opening the output stream", e))?;
        log_at!(
            LogLevel::Info,
            "stream opened: {} ({}), mode {}, {:?} {} ch {} Hz (host {:?}), period {} frames, device buffer {} frames, stream latency {} frames, ASIO buffer {} frames, latency out {} frames",
            info.endpoint.name,
            info.endpoint.id,
            info.mode_report,
            info.format.encoding,
            info.format.channels,
            info.format.sample_rate,
            inner.host_sample_type,
            info.period_frames,
            info.device_buffer_frames,
            info.stream_latency_frames,
            block_frames,
            output_latency_frames(
                info.device_buffer_frames,
                info.stream_latency_frames,
                block_frames,
                !self.output_ready_seen.load(Ordering::Acquire)
            )
        );
        if let Some(input) = &info.input {
            log_at!(
                LogLevel::Info,
                "input opened: {} ({}), {:?} {} ch, period {} frames, device buffer {} frames, {}, {}, input latency {} frames until measured",
                input.endpoint.name,
                input.endpoint.id,
                input.format.encoding,
                input.format.channels,
                input.period_frames,
                input.device_buffer_frames,
                input.relation.describe(),
                input.stamps.describe(),
                input.predicted_latency_frames
            );
        }
        Ok(info)
    }

    fn reopen(&self, inner: &mut Inner) -> DriverResult<()> {
        let p = inner
            .prepared
            .take()
            .ok_or_else(|| DriverError::invalid_mode("no stream to re-open"))?;
        let opened = self.open_stream(
            inner,
            (&p.buffers, &p.output_channels),
            (&p.input_buffers, &p.input_channels),
            p.block_frames,
            p.messenger,
        );
        match opened {
            Ok(info) => {
                inner.prepared = Some(Prepared { info, ..p });
                Ok(())
            }
            Err(e) => {
                // The old stream was replaced by nothing: back to initialized.
                self.set_state(inner, DriverState::Initialized);
                Err(e)
            }
        }
    }

    pub fn dispose_buffers(&self) -> AsioError {
        let result = (|| {
            let running = self.checked(AsioCall::DisposeBuffers)?.state == DriverState::Running;
            if running {
                self.stop_stream()?;
            }
            let mut inner = lock(&self.inner);
            check_call(inner.state, AsioCall::DisposeBuffers)?;
            if let Some(backend) = inner.backend.clone() {
                backend
                    .close()
                    .map_err(|e| backend_error("closing the stream", e))?;
            }
            inner.prepared = None;
            if let Some(plan) = &inner.plan {
                inner.host_sample_type = host_type_for_choice(
                    inner.settings.output.sample_type,
                    plan.mode,
                    plan.format.encoding,
                );
            }
            *lock(&self.notifier.messenger) = None;
            self.set_state(&mut inner, DriverState::Initialized);
            Ok(())
        })();
        let code = self.finish(result);
        self.logged("disposeBuffers", code, |_| {})
    }

    pub fn start(&self) -> AsioError {
        let result = (|| {
            let mut inner = self.checked(AsioCall::Start)?;
            let backend = inner
                .backend
                .clone()
                .ok_or_else(|| DriverError::not_present("no device"))?;
            let deferred = !self.output_ready_seen.load(Ordering::Acquire);
            let told = self.input_latency(&inner) as i32;
            self.started_deferred.store(deferred, Ordering::Release);
            self.input_latency.store(-1, Ordering::Release);
            self.input_monitor.clear();
            backend
                .start(deferred)
                .map_err(|e| backend_error("starting the stream", e))?;
            self.set_state(&mut inner, DriverState::Running);
            if let Some(p) = inner
                .prepared
                .as_ref()
                .filter(|p| !p.input_channels.is_empty())
            {
                let messenger = p.messenger;
                let watch = LatencyWatch::spawn(
                    self.input_monitor.clone(),
                    self.input_latency.clone(),
                    told,
                    Box::new(move || {
                        messenger.send(message::LATENCIES_CHANGED, messenger.latencies_changed);
                    }),
                );
                // Without the watcher the predicted latency stays reported: not fatal.
                *lock(&self.latency_watch) = watch.ok();
            }
            Ok(())
        })();
        let code = self.finish(result);
        self.logged("start", code, |_| {})
    }

    /// Stops a running stream without holding the lock while the device thread finishes:
    /// the host's last bufferSwitch may call into the driver meanwhile.
    fn stop_stream(&self) -> DriverResult<()> {
        let backend = {
            let mut inner = lock(&self.inner);
            if inner.state != DriverState::Running {
                return Ok(());
            }
            self.set_state(&mut inner, DriverState::Prepared);
            inner
                .backend
                .clone()
                .ok_or_else(|| DriverError::not_present("no device"))?
        };
        // Taken out first: the watcher may be inside the host's message handler, which
        // may call back into the driver.
        let watch = lock(&self.latency_watch).take();
        if let Some(watch) = watch {
            watch.stop();
        }
        let report = backend
            .stop()
            .map_err(|e| backend_error("stopping the stream", e))?;
        log_at!(
            LogLevel::Info,
            "stream stopped: {} buffer switches, {} underruns, {} late wake-ups, {} driver underruns, {} late blocks, {} slow writes, {} us max handling, {} allocations on the audio thread{}",
            report.stats.switches,
            report.stats.underruns,
            report.stats.deadlines.late_wakes,
            report.stats.deadlines.driver_underruns,
            report.stats.deadlines.late_blocks,
            report.stats.deadlines.slow_writes,
            report.stats.deadlines.max_handling_ns / 1000,
            report.rt_allocations,
            report.failure.as_ref().map_or(String::new(), |f| format!(", failed: {f}"))
        );
        let has_inputs = lock(&self.inner)
            .prepared
            .as_ref()
            .is_some_and(|p| !p.input_channels.is_empty());
        if has_inputs {
            let m = &self.input_monitor;
            log_at!(
                LogLevel::Info,
                "input stopped: latency {} frames measured, drift {:+.1} ppm{}, {} packets, {} underruns, {} overruns, {} device discontinuities",
                m.measured_latency_frames()
                    .map_or("not".into(), |l| format!("{l:.1}")),
                m.drift_ppm(),
                match m.detection() {
                    (wander, Some(at)) => format!(
                        " (two clocks detected {at:.1} s in, the level having moved {wander:.0} frames: resampled)"
                    ),
                    (wander, None) if wander > 0.0 => format!(
                        " (one clock: the level moved {wander:.0} frames at most, {} step(s) taken as glitches)",
                        m.level_steps.load(Ordering::Relaxed)
                    ),
                    _ => String::new(),
                },
                m.packets.load(Ordering::Relaxed),
                m.underruns.load(Ordering::Relaxed),
                m.overruns.load(Ordering::Relaxed),
                m.discontinuities.load(Ordering::Relaxed)
            );
        }
        lock(&self.inner).last_report = report;
        Ok(())
    }

    pub fn stop(&self) -> AsioError {
        let result = (|| {
            drop(self.checked(AsioCall::Stop)?);
            self.stop_stream()
        })();
        let code = self.finish(result);
        self.logged("stop", code, |_| {})
    }

    /// Opens the settings window through the environment (the DLL starts
    /// `wasio-panel.exe` and returns at once).
    pub fn control_panel(&self) -> AsioError {
        let code = match (self.env.control_panel)() {
            Ok(()) => ASE_OK,
            Err(e) => self.fail(e),
        };
        self.logged("controlPanel", code, |_| {})
    }

    /// # Safety
    /// `opt` must be null or point to what `selector` defines.
    pub unsafe fn future(&self, selector: i32, opt: *mut c_void) -> AsioError {
        // SAFETY: forwarded under the same contract.
        let code = unsafe { self.future_unlogged(selector, opt) };
        self.logged("future", code, |t| {
            let _ = write!(t, "{}", future::name(selector));
        })
    }

    /// # Safety
    /// As [`Self::future`].
    unsafe fn future_unlogged(&self, selector: i32, opt: *mut c_void) -> AsioError {
        let inner = lock(&self.inner);
        match selector {
            future::CAN_TIME_INFO => ASE_SUCCESS,
            FUTURE_WASIO_MODE_STATUS if !opt.is_null() => {
                let Some(status) = Self::mode_status_of(&inner) else {
                    return ASE_NOT_PRESENT;
                };
                let bytes = status.as_bytes();
                let n = bytes.len().min(MODE_STATUS_BYTES - 1);
                // SAFETY: the selector defines `opt` as MODE_STATUS_BYTES writable bytes.
                unsafe {
                    std::ptr::copy_nonoverlapping(bytes.as_ptr(), opt as *mut u8, n);
                    *(opt as *mut u8).add(n) = 0;
                }
                ASE_SUCCESS
            }
            future::GET_INTERNAL_BUFFER_SAMPLES => match (&inner.prepared, opt.is_null()) {
                (Some(p), false) => {
                    let buffered = self.output_latency(&inner).saturating_sub(p.block_frames);
                    let input = self.input_latency(&inner);
                    let info = AsioInternalBufferInfo {
                        input_samples: input.saturating_sub(p.block_frames) as i32,
                        output_samples: buffered as i32,
                    };
                    // SAFETY: the selector defines `opt` as an AsioInternalBufferInfo.
                    unsafe { (opt as *mut AsioInternalBufferInfo).write_unaligned(info) };
                    ASE_SUCCESS
                }
                _ => ASE_NOT_PRESENT,
            },
            future::CAN_DO_IO_FORMAT | future::SET_IO_FORMAT | future::GET_IO_FORMAT
                if !opt.is_null() =>
            {
                let format = opt as *mut AsioIoFormat;
                if selector == future::GET_IO_FORMAT {
                    // SAFETY: the selector defines `opt` as an AsioIoFormat.
                    unsafe {
                        std::ptr::addr_of_mut!((*format).format_type)
                            .write_unaligned(asio_abi::io_format::PCM)
                    };
                    return ASE_SUCCESS;
                }
                // SAFETY: as above.
                let asked = unsafe { std::ptr::addr_of!((*format).format_type).read_unaligned() };
                if asked == asio_abi::io_format::PCM {
                    ASE_SUCCESS
                } else {
                    ASE_NOT_PRESENT
                }
            }
            _ => ASE_NOT_PRESENT,
        }
    }

    /// Lock-free: hosts call it from inside bufferSwitch, on the real-time thread.
    ///
    /// Hosts built on the SDK's pattern (PortAudio among them) also call it once right after
    /// init, before any buffer exists, to learn whether the driver supports it, and call it
    /// after every switch only if that probe succeeds. So it succeeds once initialized, and
    /// the probe counts: such a host's output goes out without the extra block, and
    /// getLatencies says so from the start.
    pub fn output_ready(&self) -> AsioError {
        let state = self.state.load(Ordering::Acquire);
        if state != STATE_INITIALIZED && state != STATE_PREPARED && state != STATE_RUNNING {
            return self.fail(DriverError::invalid_mode(
                "outputReady: the driver is not initialized; call init first",
            ));
        }
        self.output_ready_seen.store(true, Ordering::Release);
        ASE_OK
    }
}

impl Drop for DriverCore {
    fn drop(&mut self) {
        // The host released the driver, maybe while running: stop and close first, then the
        // backend (its device thread) goes with the last reference.
        let _ = self.stop_stream();
        // Reset threads still pending must not call a host that released us.
        *lock(&self.notifier.messenger) = None;
        // Those still running may be inside the host's handler, which may wait for the very
        // thread releasing us: adopted, not joined (DllCanUnloadNow waits for them instead).
        drop(std::mem::take(&mut *lock(&self.notifier.resets)));
        let monitor = {
            let mut inner = lock(&self.inner);
            if let Some(backend) = &inner.backend {
                let _ = backend.close();
            }
            inner.monitor.take()
        };
        // Joins the monitor thread, which deletes the status file.
        drop(monitor);
        log_at!(LogLevel::Info, "instance {}: released", self.instance);
        if let Some(logger) = wlog::global() {
            logger.flush(std::time::Duration::from_millis(500));
        }
        // The last instance stops the log: its writer must not outlive the driver (COM may
        // unload the DLL now). A new instance's init starts it again.
        if LIVE_INSTANCES.fetch_sub(1, Ordering::AcqRel) == 1 {
            wlog::stop_global_unless(|| LIVE_INSTANCES.load(Ordering::Acquire) > 0);
        }
    }
}

/// Converts a frame count measured at `from` Hz into frames at `to` Hz.
fn scale_frames(frames: usize, from: u32, to: u32) -> usize {
    if from == 0 {
        return frames;
    }
    (frames as u64 * to as u64 / from as u64) as usize
}
