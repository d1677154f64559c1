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

use crate::backend::{
    Backend, BackendError, EndpointInfo, OutputPlan, OutputRequest, StreamHandler, StreamInfo,
    StreamReport,
};
use crate::buffers::HostBuffers;
use crate::channels::{channel_names, to_asio_name};
use crate::clock::PositionCell;
use crate::config::{Mode, SampleTypeChoice};
use crate::convert::HostSampleType;
use crate::error::{DriverError, DriverResult};
use crate::modes::{exclusive_event_sizes, host_type_for_choice, preferred_exclusive_format};
use crate::render::{output_latency_frames, SwitchHandler, SwitchTiming};
use crate::rt_guard;
use crate::sizes::BufferSizeRange;
use crate::state::{check_call, AsioCall, DriverState};
use asio_abi::{
    future, message, time_flags, AsioBool, AsioBufferInfo, AsioCallbacks, AsioChannelInfo,
    AsioClockSource, AsioError, AsioInternalBufferInfo, AsioIoFormat, AsioSamples, AsioTime,
    AsioTimeStamp, ASE_NOT_PRESENT, ASE_OK, ASE_SP_NOT_ADVANCING, ASE_SUCCESS, ASIO_FALSE,
    ASIO_TRUE,
};
use std::ffi::{c_char, c_void};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// The name hosts list and `getDriverName` returns.
pub const DRIVER_NAME: &str = "Wasio";
/// Rates outside this range are refused before any device is asked.
pub const MIN_SAMPLE_RATE: f64 = 8_000.0;
pub const MAX_SAMPLE_RATE: f64 = 768_000.0;
/// `getErrorMessage` writes at most this many bytes, NUL included.
pub const ERROR_MESSAGE_CAPACITY: usize = 124;

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

/// Maps a backend failure to the ASIO code hosts understand.
fn backend_error(what: &str, e: BackendError) -> DriverError {
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

/// The host's bufferSwitch, called on the device thread.
struct HostSwitch {
    messenger: HostMessenger,
    time: Box<AsioTime>,
    sample_rate: f64,
    last_error: Arc<Mutex<String>>,
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
        *lock(&self.last_error) = text;
        // Hosts may call back into the driver (stop, disposeBuffers) from the reset handler,
        // so the message goes out from its own thread, never from the device thread.
        let messenger = self.messenger;
        let _ = std::thread::Builder::new()
            .name("wasio-reset".into())
            .spawn(move || messenger.send(message::RESET_REQUEST, messenger.reset_request));
    }
}

struct Prepared {
    buffers: Arc<HostBuffers>,
    /// Device channel of each host buffer, in createBuffers order.
    output_channels: Vec<usize>,
    block_frames: usize,
    messenger: HostMessenger,
    info: StreamInfo,
}

struct Inner {
    state: DriverState,
    backend: Option<Arc<dyn Backend>>,
    output: Option<EndpointInfo>,
    sample_rate: u32,
    /// The mode asked for (`output.mode`).
    requested_mode: Mode,
    /// The sample type asked for (`output.sample_type`).
    sample_type_choice: SampleTypeChoice,
    /// What a stream at `sample_rate` opens in (found at init and on rate changes).
    plan: Option<OutputPlan>,
    /// Rates asked about, with the plan found (answers while running come from here).
    rate_answers: Vec<(u32, Option<OutputPlan>)>,
    sizes: BufferSizeRange,
    host_sample_type: HostSampleType,
    prepared: Option<Prepared>,
    last_report: StreamReport,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic inside a call is caught at the ABI; the state it guarded is still usable.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

const STATE_LOADED: u8 = 0;
const STATE_PREPARED: u8 = 2;
const STATE_RUNNING: u8 = 3;

/// One driver instance.
pub struct DriverCore {
    make_backend: BackendFactory,
    inner: Mutex<Inner>,
    last_error: Arc<Mutex<String>>,
    positions: Arc<PositionCell>,
    output_ready_seen: AtomicBool,
    /// Mirror of `Inner::state` for the lock-free calls.
    state: AtomicU8,
}

impl DriverCore {
    pub fn new(make_backend: BackendFactory) -> Self {
        let core = Self::without_overrides(make_backend);
        core.apply_env_overrides();
        core
    }

    /// Stop-gap until Wasio.toml reaches the driver: the Wine tests force the output mode and
    /// sample type with `WASIO_OUTPUT_MODE` and `WASIO_SAMPLE_TYPE` (Wasio.toml keywords).
    /// Unset (as everywhere but in the tests), nothing changes.
    fn apply_env_overrides(&self) {
        let read = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        if let Some(mode) = read("WASIO_OUTPUT_MODE").and_then(|v| v.parse::<Mode>().ok()) {
            self.set_mode(mode);
        }
        if let Some(choice) =
            read("WASIO_SAMPLE_TYPE").and_then(|v| v.parse::<SampleTypeChoice>().ok())
        {
            self.set_sample_type_choice(choice);
        }
    }

    fn without_overrides(make_backend: BackendFactory) -> Self {
        Self {
            make_backend,
            inner: Mutex::new(Inner {
                state: DriverState::Loaded,
                backend: None,
                output: None,
                sample_rate: 0,
                requested_mode: Mode::Auto,
                sample_type_choice: SampleTypeChoice::Native,
                plan: None,
                rate_answers: Vec::new(),
                sizes: BufferSizeRange::decoupled(480),
                host_sample_type: HostSampleType::Float32Lsb,
                prepared: None,
                last_report: StreamReport::default(),
            }),
            last_error: Arc::new(Mutex::new(String::new())),
            positions: Arc::new(PositionCell::new()),
            output_ready_seen: AtomicBool::new(false),
            state: AtomicU8::new(STATE_LOADED),
        }
    }

    fn set_state(&self, inner: &mut Inner, state: DriverState) {
        inner.state = state;
        self.state.store(
            match state {
                DriverState::Loaded => STATE_LOADED,
                DriverState::Initialized => 1,
                DriverState::Prepared => STATE_PREPARED,
                DriverState::Running => STATE_RUNNING,
            },
            Ordering::Release,
        );
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

    /// What the last stream run did (counters, allocations on the audio thread, failure).
    pub fn last_report(&self) -> StreamReport {
        lock(&self.inner).last_report.clone()
    }

    /// Sets the output mode (`output.mode` in Wasio.toml). It applies from the next
    /// `init`, or the next `createBuffers`; the rates known so far are asked again.
    pub fn set_mode(&self, mode: Mode) {
        let mut inner = lock(&self.inner);
        if inner.requested_mode != mode {
            inner.requested_mode = mode;
            inner.rate_answers.clear();
        }
    }

    /// Sets the ASIO sample type choice (`output.sample_type`); applies from the next `init`.
    pub fn set_sample_type_choice(&self, choice: SampleTypeChoice) {
        let mut inner = lock(&self.inner);
        if inner.sample_type_choice != choice {
            inner.sample_type_choice = choice;
            inner.rate_answers.clear();
        }
    }

    /// The mode the output is in (or would open in), with the reason each better mode was
    /// refused, e.g. for the CLI and the log.
    pub fn mode_status(&self) -> Option<String> {
        let inner = lock(&self.inner);
        match (&inner.prepared, &inner.plan) {
            (Some(p), _) => Some(p.info.mode_report.to_string()),
            (None, Some(plan)) => Some(plan.report.to_string()),
            _ => None,
        }
    }

    /// The mode, format and sizes a stream will get: from a probe of the backend.
    fn apply_plan(inner: &mut Inner, plan: OutputPlan) {
        inner.sizes = if plan.mode.block_is_period() {
            exclusive_event_sizes(
                plan.min_period_frames as u32,
                plan.period_frames as u32,
                plan.format.frame_bytes(),
            )
        } else {
            BufferSizeRange::decoupled(plan.period_frames as u32)
        };
        // The buffers' sample type cannot change under the host: it stays until
        // disposeBuffers (conversion keeps it correct meanwhile).
        if inner.prepared.is_none() {
            inner.host_sample_type =
                host_type_for_choice(inner.sample_type_choice, plan.mode, plan.format.encoding);
        }
        let rate = inner.sample_rate;
        if !inner.rate_answers.iter().any(|(r, _)| *r == rate) {
            inner.rate_answers.push((rate, Some(plan.clone())));
        }
        inner.plan = Some(plan);
    }

    // ---- IASIO -------------------------------------------------------------------------

    pub fn init(&self, _sys_handle: *mut c_void) -> AsioBool {
        let result = (|| {
            let mut inner = lock(&self.inner);
            check_call(inner.state, AsioCall::Init)?;
            let backend = match &inner.backend {
                Some(b) => b.clone(),
                None => {
                    let b = (self.make_backend)()
                        .map_err(|e| backend_error("starting the device thread", e))?;
                    inner.backend = Some(b.clone());
                    b
                }
            };
            let output = backend.describe_output().map_err(|e| match e.hresult {
                Some(_) if !e.is_device_lost() => {
                    DriverError::not_present(format!("no usable output device: {e}"))
                }
                _ => DriverError::not_present(format!("no output device: {e}")),
            })?;
            if inner.sample_rate == 0 || inner.output.as_ref().map(|o| &o.id) != Some(&output.id) {
                inner.sample_rate = output.mix_format.sample_rate;
                inner.rate_answers.clear();
            }
            inner.sizes = BufferSizeRange::decoupled(scale_frames(
                output.default_period_frames,
                output.mix_format.sample_rate,
                inner.sample_rate,
            ) as u32);
            inner.output = Some(output);
            let rate = inner.sample_rate;
            let preferred = preferred_exclusive_format(inner.sample_type_choice);
            let plan = backend
                .probe_output(inner.requested_mode, rate, preferred)
                .map_err(|e| {
                    if e.is_device_lost() {
                        backend_error("opening the output", e)
                    } else {
                        DriverError::not_present(e.to_string())
                    }
                })?;
            Self::apply_plan(&mut inner, plan);
            self.set_state(&mut inner, DriverState::Initialized);
            Ok(())
        })();
        match result {
            Ok(()) => ASIO_TRUE,
            Err(e) => {
                self.fail(e);
                ASIO_FALSE
            }
        }
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
            let channels = inner
                .output
                .as_ref()
                .map_or(0, |o| o.mix_format.channels as i32);
            // SAFETY: checked non-null; the host owns the memory.
            unsafe {
                *inputs = 0;
                *outputs = channels;
            }
            Ok(())
        })();
        self.finish(result)
    }

    /// The output latency the host is told now, in frames.
    fn output_latency(&self, inner: &Inner) -> usize {
        let deferred = !self.output_ready_seen.load(Ordering::Acquire);
        match (&inner.prepared, &inner.output) {
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
            // SAFETY: checked non-null.
            unsafe {
                *input = 0;
                *output = out;
            }
            Ok(())
        })();
        self.finish(result)
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
            let s = inner.sizes;
            // SAFETY: checked non-null.
            unsafe {
                *min = s.min as i32;
                *max = s.max as i32;
                *preferred = s.preferred as i32;
                *granularity = s.granularity;
            }
            Ok(())
        })();
        self.finish(result)
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
    /// mode opens at that rate. While running, only rates tried before are known: a trial
    /// would disturb the stream (or be refused, the device being held exclusively).
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
        let preferred = preferred_exclusive_format(inner.sample_type_choice);
        let answer = match backend.probe_output(inner.requested_mode, rate, preferred) {
            Ok(plan) => Some(plan),
            Err(e) if e.is_device_lost() => {
                return Err(backend_error("checking the sample rate", e))
            }
            Err(_) => None,
        };
        inner.rate_answers.push((rate, answer.clone()));
        Ok(answer)
    }

    fn rate_supported(inner: &mut Inner, rate: u32) -> DriverResult<bool> {
        Ok(Self::plan_for_rate(inner, rate)?.is_some())
    }

    pub fn can_sample_rate(&self, rate: f64) -> AsioError {
        let result = (|| {
            let mut inner = self.checked(AsioCall::CanSampleRate)?;
            let hz = Self::valid_rate(rate)?;
            if Self::rate_supported(&mut inner, hz)? {
                Ok(())
            } else {
                Err(DriverError::no_clock(format!(
                    "the output device cannot run at {hz} Hz"
                )))
            }
        })();
        self.finish(result)
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
        self.finish(result)
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
        self.finish(result)
    }

    /// Moves a stopped driver to `hz`: plan, sizes, and the stream if buffers exist.
    fn change_rate(&self, inner: &mut Inner, hz: u32) -> DriverResult<()> {
        let Some(plan) = Self::plan_for_rate(inner, hz)? else {
            return Err(DriverError::no_clock(format!(
                "the output device cannot run at {hz} Hz"
            )));
        };
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
            (_, Err(_), Some(m)) => {
                m.send(message::RESET_REQUEST, m.reset_request);
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
        self.finish(result)
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
        self.finish(result)
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
            let output = inner
                .output
                .as_ref()
                .ok_or_else(|| DriverError::not_present("no output device"))?;
            let count = output.mix_format.channels as i32;
            if is_input {
                return Err(DriverError::invalid_parameter(format!(
                    "input channel {channel} does not exist: there are no inputs"
                )));
            }
            if channel < 0 || channel >= count {
                return Err(DriverError::invalid_parameter(format!(
                    "output channel {channel} does not exist: there are {count} (0 to {})",
                    count - 1
                )));
            }
            let names = channel_names(output.mix_format.channel_mask, count as usize);
            info.is_active = match &inner.prepared {
                Some(p) if p.output_channels.contains(&(channel as usize)) => ASIO_TRUE,
                _ => ASIO_FALSE,
            };
            info.channel_group = 0;
            info.sample_type = inner.host_sample_type.asio_value();
            info.name = to_asio_name(&names[channel as usize]);
            Ok(())
        })();
        self.finish(result)
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
            let output_count = inner
                .output
                .as_ref()
                .map_or(0, |o| o.mix_format.channels as usize);
            if count <= 0 || count as usize > output_count {
                return Err(DriverError::invalid_parameter(format!(
                    "createBuffers: {count} channels asked for; between 1 and {output_count} exist"
                )));
            }
            let block_frames = inner.sizes.check(buffer_size as i64)?;
            // SAFETY: checked non-null; the host owns `count` entries.
            let requests = unsafe { std::slice::from_raw_parts_mut(infos, count as usize) };
            let mut output_channels = Vec::with_capacity(requests.len());
            for (i, request) in requests.iter().enumerate() {
                let channel = request.channel_num;
                if request.is_input != ASIO_FALSE {
                    return Err(DriverError::invalid_parameter(format!("createBuffers: entry {i} asks for input channel {channel}; there are no inputs")));
                }
                if channel < 0 || channel as usize >= output_count {
                    return Err(DriverError::invalid_parameter(format!("createBuffers: entry {i} asks for output channel {channel}; there are {output_count}")));
                }
                if output_channels.contains(&(channel as usize)) {
                    return Err(DriverError::invalid_parameter(format!(
                        "createBuffers: output channel {channel} is asked for twice"
                    )));
                }
                output_channels.push(channel as usize);
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
            let buffers = Arc::new(HostBuffers::new(
                output_channels.len(),
                block_frames,
                inner.host_sample_type.bytes_per_sample(),
            )?);
            // SAFETY: the host's callbacks, asked about what they support.
            let messenger = unsafe { HostMessenger::query(callbacks) };
            let info = self.open_stream(
                &mut inner,
                &buffers,
                &output_channels,
                block_frames,
                messenger,
            )?;
            for (i, request) in requests.iter_mut().enumerate() {
                request.buffers = [buffers.pointer(i, 0), buffers.pointer(i, 1)];
            }
            inner.prepared = Some(Prepared {
                buffers,
                output_channels,
                block_frames,
                messenger,
                info,
            });
            self.set_state(&mut inner, DriverState::Prepared);
            Ok(())
        })();
        self.finish(result)
    }

    fn open_stream(
        &self,
        inner: &mut Inner,
        buffers: &Arc<HostBuffers>,
        output_channels: &[usize],
        block_frames: usize,
        messenger: HostMessenger,
    ) -> DriverResult<StreamInfo> {
        let backend = inner
            .backend
            .clone()
            .ok_or_else(|| DriverError::not_present("no device"))?;
        let handler = HostSwitch {
            messenger,
            time: Box::new(AsioTime::zeroed()),
            sample_rate: inner.sample_rate as f64,
            last_error: self.last_error.clone(),
        };
        let request = OutputRequest {
            sample_rate: inner.sample_rate,
            block_frames,
            buffers: buffers.clone(),
            host_sample_type: inner.host_sample_type,
            routes: output_channels.iter().copied().enumerate().collect(),
            positions: self.positions.clone(),
            handler: Box::new(handler),
            mode: inner.requested_mode,
            preferred_format: inner
                .plan
                .as_ref()
                .map(|p| p.format.encoding)
                .or(preferred_exclusive_format(inner.sample_type_choice)),
        };
        backend
            .open_output(request)
            .map_err(|e| backend_error("opening the output stream", e))
    }

    fn reopen(&self, inner: &mut Inner) -> DriverResult<()> {
        let p = inner
            .prepared
            .take()
            .ok_or_else(|| DriverError::invalid_mode("no stream to re-open"))?;
        let opened = self.open_stream(
            inner,
            &p.buffers,
            &p.output_channels,
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
                inner.host_sample_type =
                    host_type_for_choice(inner.sample_type_choice, plan.mode, plan.format.encoding);
            }
            self.set_state(&mut inner, DriverState::Initialized);
            Ok(())
        })();
        self.finish(result)
    }

    pub fn start(&self) -> AsioError {
        let result = (|| {
            let mut inner = self.checked(AsioCall::Start)?;
            let backend = inner
                .backend
                .clone()
                .ok_or_else(|| DriverError::not_present("no device"))?;
            let deferred = !self.output_ready_seen.load(Ordering::Acquire);
            backend
                .start(deferred)
                .map_err(|e| backend_error("starting the stream", e))?;
            self.set_state(&mut inner, DriverState::Running);
            Ok(())
        })();
        self.finish(result)
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
        let report = backend
            .stop()
            .map_err(|e| backend_error("stopping the stream", e))?;
        lock(&self.inner).last_report = report;
        Ok(())
    }

    pub fn stop(&self) -> AsioError {
        let result = (|| {
            drop(self.checked(AsioCall::Stop)?);
            self.stop_stream()
        })();
        self.finish(result)
    }

    pub fn control_panel(&self) -> AsioError {
        self.fail(DriverError::not_present(
            "Wasio has no settings window in this version; edit Wasio.toml instead",
        ))
    }

    /// # Safety
    /// `opt` must be null or point to what `selector` defines.
    pub unsafe fn future(&self, selector: i32, opt: *mut c_void) -> AsioError {
        let inner = lock(&self.inner);
        match selector {
            future::CAN_TIME_INFO => ASE_SUCCESS,
            FUTURE_WASIO_MODE_STATUS if !opt.is_null() => {
                let status = match (&inner.prepared, &inner.plan) {
                    (Some(p), _) => p.info.mode_report.to_string(),
                    (None, Some(plan)) => plan.report.to_string(),
                    _ => return ASE_NOT_PRESENT,
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
                    let info = AsioInternalBufferInfo {
                        input_samples: 0,
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
    pub fn output_ready(&self) -> AsioError {
        let state = self.state.load(Ordering::Acquire);
        if state != STATE_PREPARED && state != STATE_RUNNING {
            return self.fail(DriverError::invalid_mode(
                "outputReady: no buffers exist; call createBuffers first",
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
        let inner = lock(&self.inner);
        if let Some(backend) = &inner.backend {
            let _ = backend.close();
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
