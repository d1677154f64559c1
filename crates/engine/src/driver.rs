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
    Backend, BackendError, CaptureRequest, EndpointInfo, OutputRequest, StreamHandler, StreamInfo,
    StreamReport,
};
use crate::buffers::HostBuffers;
use crate::capture::{CaptureConfig, ClockRelation, InputMonitor};
use crate::channels::{channel_names, to_asio_name};
use crate::clock::PositionCell;
use crate::convert::HostSampleType;
use crate::error::{DriverError, DriverResult};
use crate::latency_watch::{LatchedLatency, LatencyWatch};
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
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// The name hosts list and `getDriverName` returns.
pub const DRIVER_NAME: &str = "Wasio";
/// Rates outside this range are refused before any device is asked.
pub const MIN_SAMPLE_RATE: f64 = 8_000.0;
pub const MAX_SAMPLE_RATE: f64 = 768_000.0;
/// `getErrorMessage` writes at most this many bytes, NUL included.
pub const ERROR_MESSAGE_CAPACITY: usize = 124;

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
    /// Rates asked about, with the answer (answers while running come from here).
    rate_answers: Vec<(u32, bool)>,
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
    /// Whether the running stream was started deferred (the host had not called
    /// outputReady yet): its latency stays that until the next start.
    started_deferred: AtomicBool,
    /// Mirror of `Inner::state` for the lock-free calls.
    state: AtomicU8,
    /// The input side's measurements (latency, drift, counters), shared with the device thread.
    input_monitor: Arc<InputMonitor>,
    /// The measured input latency `getLatencies` reports while running (-1: not yet).
    input_latency: LatchedLatency,
    latency_watch: Mutex<Option<LatencyWatch>>,
}

impl DriverCore {
    pub fn new(make_backend: BackendFactory) -> Self {
        Self {
            make_backend,
            inner: Mutex::new(Inner {
                state: DriverState::Loaded,
                backend: None,
                output: None,
                input: None,
                sample_rate: 0,
                rate_answers: Vec::new(),
                sizes: BufferSizeRange::decoupled(480),
                host_sample_type: HostSampleType::Float32Lsb,
                prepared: None,
                last_report: StreamReport::default(),
            }),
            last_error: Arc::new(Mutex::new(String::new())),
            positions: Arc::new(PositionCell::new()),
            output_ready_seen: AtomicBool::new(false),
            started_deferred: AtomicBool::new(true),
            state: AtomicU8::new(STATE_LOADED),
            input_monitor: Arc::new(InputMonitor::new()),
            input_latency: Arc::new(AtomicI32::new(-1)),
            latency_watch: Mutex::new(None),
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

    /// The input side's live figures: measured latency, drift (ppm), counters.
    pub fn input_monitor(&self) -> Arc<InputMonitor> {
        self.input_monitor.clone()
    }

    /// What the last stream run did (counters, allocations on the audio thread, failure).
    pub fn last_report(&self) -> StreamReport {
        lock(&self.inner).last_report.clone()
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
            // A machine without a capture device still plays: no inputs then.
            inner.input = backend.describe_input().ok().flatten();
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
        self.finish(result)
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
                }
                .predicted_latency_frames(),
                _ => 0,
            },
        }
    }

    /// The output latency the host is told now, in frames.
    fn output_latency(&self, inner: &Inner) -> usize {
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

    fn rate_supported(inner: &mut Inner, rate: u32) -> DriverResult<bool> {
        if let Some(&(_, answer)) = inner.rate_answers.iter().find(|(r, _)| *r == rate) {
            return Ok(answer);
        }
        if rate == inner.sample_rate && inner.state != DriverState::Initialized {
            return Ok(true);
        }
        if inner.state == DriverState::Running {
            // Never disturb a running stream with a trial: unknown rates are refused.
            return Ok(false);
        }
        let backend = inner
            .backend
            .clone()
            .ok_or_else(|| DriverError::not_present("no device"))?;
        let answer = backend
            .supports_rate(rate)
            .map_err(|e| backend_error("checking the sample rate", e))?;
        inner.rate_answers.push((rate, answer));
        Ok(answer)
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

    pub fn set_sample_rate(&self, rate: f64) -> AsioError {
        let result = (|| {
            let mut inner = self.checked(AsioCall::SetSampleRate)?;
            let hz = Self::valid_rate(rate)?;
            if hz == inner.sample_rate {
                return Ok(());
            }
            if inner.state == DriverState::Running {
                return Err(DriverError::invalid_mode(format!(
                    "cannot change the rate to {hz} Hz while running: stop the stream first"
                )));
            }
            if !Self::rate_supported(&mut inner, hz)? {
                return Err(DriverError::no_clock(format!(
                    "the output device cannot run at {hz} Hz"
                )));
            }
            let previous = inner.sample_rate;
            inner.sample_rate = hz;
            if let Some(o) = &inner.output {
                inner.sizes = BufferSizeRange::decoupled(scale_frames(
                    o.default_period_frames,
                    o.mix_format.sample_rate,
                    hz,
                ) as u32);
            }
            if inner.prepared.is_some() {
                // The buffers stay; the stream is re-opened at the new rate.
                if let Err(e) = self.reopen(&mut inner) {
                    inner.sample_rate = previous;
                    return Err(e);
                }
            }
            Ok(())
        })();
        self.finish(result)
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
            let (endpoint, direction) = if is_input {
                (inner.input.as_ref(), "input")
            } else {
                (inner.output.as_ref(), "output")
            };
            let count = endpoint.map_or(0, |e| e.mix_format.channels as i32);
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
            let mask = endpoint.map_or(0, |e| e.mix_format.channel_mask);
            let names = channel_names(mask, count as usize);
            info.is_active = match &inner.prepared {
                Some(p) if is_input && p.input_channels.contains(&(channel as usize)) => ASIO_TRUE,
                Some(p) if !is_input && p.output_channels.contains(&(channel as usize)) => {
                    ASIO_TRUE
                }
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
        self.finish(result)
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
            capture: (!input_channels.is_empty()).then(|| CaptureRequest {
                buffers: input_buffers.clone(),
                routes: input_channels.iter().copied().enumerate().collect(),
                monitor: self.input_monitor.clone(),
            }),
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
        // Taken out first: the watcher may be inside the host's message handler, which
        // may call back into the driver.
        let watch = lock(&self.latency_watch).take();
        if let Some(watch) = watch {
            watch.stop();
        }
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
