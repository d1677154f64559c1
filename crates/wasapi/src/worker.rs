//! The device thread: owns the COM apartment and every WASAPI object, serves the driver's
//! requests while idle, and runs the real-time loop while streaming.
//!
//! The host's threads never touch WASAPI: they send a command and wait for its answer.
//! While streaming, the thread waits on exactly two things: the device's audio event and
//! the wake event the driver sets to stop it.

use crate::capture::{clock_relation, select_capture_endpoint, CaptureStream};
use crate::client::{open_render_client, ClientRequest, OpenedClient};
use crate::com::MtaGuard;
use crate::endpoint::{describe, endpoint_by_id, select_render_endpoint};
use crate::error::Context;
use crate::notify::DefaultDeviceRegistration;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use wasio_engine::backend::{
    Backend, BackendError, DeviceSelector, EndpointInfo, InputStreamInfo, OutputPlan,
    OutputRequest, StreamCounters, StreamHandler, StreamInfo, StreamReport,
};
use wasio_engine::buffers::HostBuffers;
use wasio_engine::capture::{
    CaptureConfig, CapturePath, CaptureRoute, ClockRelation, InputMonitor,
};
use wasio_engine::clock::{ClockReading, PositionCell};
use wasio_engine::config::Mode;
use wasio_engine::convert::{host_to_device, DeviceFormat, HostSampleType};
use wasio_engine::deadline::DeadlineAccount;
use wasio_engine::drift::ResamplerQuality;
use wasio_engine::duplex::{DeviceRenderer, InputOnlyScheduler};
use wasio_engine::format::{frames_to_hns, StreamFormat};
use wasio_engine::log::{LogLevel, RtEvent, RtLogProducer};
use wasio_engine::modes::StreamMode;
use wasio_engine::render::{output_latency_frames, routes_for, RenderConfig, RenderRoute};
use wasio_engine::rt_guard;
use windows::core::{w, PCWSTR};
use windows::Win32::Foundation::{CloseHandle, HANDLE, WAIT_OBJECT_0, WAIT_TIMEOUT};
use windows::Win32::Media::Audio::{
    IAudioClient, IAudioClock, IAudioRenderClient, IMMDevice, AUDCLNT_BUFFERFLAGS_SILENT,
    AUDCLNT_SHAREMODE_SHARED, AUDCLNT_STREAMFLAGS_AUTOCONVERTPCM,
    AUDCLNT_STREAMFLAGS_SRC_DEFAULT_QUALITY, WAVEFORMATEX,
};
use windows::Win32::System::Performance::{QueryPerformanceCounter, QueryPerformanceFrequency};
use windows::Win32::System::Threading::{
    AvRevertMmThreadCharacteristics, AvSetMmThreadCharacteristicsW, AvSetMmThreadPriority,
    CreateEventW, CreateWaitableTimerExW, GetCurrentThread, ResetEvent, SetEvent,
    SetThreadPriority, SetWaitableTimer, WaitForMultipleObjects, AVRT_PRIORITY_CRITICAL,
    CREATE_WAITABLE_TIMER_HIGH_RESOLUTION, THREAD_PRIORITY_NORMAL, THREAD_PRIORITY_TIME_CRITICAL,
    TIMER_ALL_ACCESS,
};

/// How long one wait for the audio event lasts before the device is asked whether it lives.
const EVENT_TIMEOUT_MS: u32 = 2000;
/// A device that answers but delivers no event for this many waits in a row is gone.
const MAX_SILENT_WAITS: u32 = 5;

type Reply<T> = Sender<Result<T, BackendError>>;

enum Command {
    DescribeOutput(DeviceSelector, Reply<EndpointInfo>),
    DescribeInput(DeviceSelector, Reply<Option<EndpointInfo>>),
    SupportsRate(String, u32, Reply<bool>),
    ProbeOutput(String, Mode, u32, Option<DeviceFormat>, Reply<OutputPlan>),
    OpenOutput(Box<OutputRequest>, Reply<StreamInfo>),
    Start(bool, Reply<()>),
    Stop(Reply<StreamReport>),
    Close(Reply<()>),
}

/// A Win32 event handle that may move between threads and closes itself.
struct OwnedEvent(HANDLE);
// SAFETY: an event handle is a kernel object reference, usable from any thread.
unsafe impl Send for OwnedEvent {}
// SAFETY: SetEvent/WaitFor* on one handle from several threads is how events are used.
unsafe impl Sync for OwnedEvent {}

impl OwnedEvent {
    fn new_auto_reset() -> Result<Self, BackendError> {
        // SAFETY: creates an unnamed auto-reset event with default security.
        unsafe { CreateEventW(None, false, false, None) }
            .map(OwnedEvent)
            .context("CreateEventW")
    }
}

impl Drop for OwnedEvent {
    fn drop(&mut self) {
        // SAFETY: we own the handle; nobody uses it after drop (threads are joined first).
        let _ = unsafe { CloseHandle(self.0) };
    }
}

/// The driver's handle on its device thread.
pub struct DeviceWorker {
    commands: Option<Sender<Command>>,
    wake: Arc<OwnedEvent>,
    thread: Option<JoinHandle<()>>,
}

impl DeviceWorker {
    pub fn spawn() -> Result<Self, BackendError> {
        let wake = Arc::new(OwnedEvent::new_auto_reset()?);
        let (commands, inbox) = channel();
        let (ready_tx, ready_rx) = channel();
        let worker_wake = wake.clone();
        let thread = std::thread::Builder::new()
            .name("wasio-device".into())
            .spawn(move || {
                let apartment = match MtaGuard::enter() {
                    Ok(guard) => {
                        let _ = ready_tx.send(Ok(()));
                        guard
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                Worker {
                    inbox,
                    wake: worker_wake,
                    stream: None,
                }
                .serve();
                drop(apartment);
            })
            .map_err(|e| BackendError::new("spawning the device thread", e.to_string()))?;
        ready_rx
            .recv()
            .map_err(|_| BackendError::new("device thread", "exited during start-up"))??;
        Ok(Self {
            commands: Some(commands),
            wake,
            thread: Some(thread),
        })
    }

    fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, BackendError> {
        let (tx, rx) = channel();
        self.commands
            .as_ref()
            .and_then(|c| c.send(make(tx)).ok())
            .ok_or_else(|| BackendError::new("device thread", "is not running"))?;
        rx.recv()
            .map_err(|_| BackendError::new("device thread", "ended without answering"))?
    }
}

impl Backend for DeviceWorker {
    fn describe_output(&self, device: &DeviceSelector) -> Result<EndpointInfo, BackendError> {
        let device = device.clone();
        self.ask(|reply| Command::DescribeOutput(device, reply))
    }

    fn describe_input(
        &self,
        device: &DeviceSelector,
    ) -> Result<Option<EndpointInfo>, BackendError> {
        let device = device.clone();
        self.ask(|reply| Command::DescribeInput(device, reply))
    }

    fn supports_rate(&self, endpoint_id: &str, rate: u32) -> Result<bool, BackendError> {
        let id = endpoint_id.to_string();
        self.ask(|reply| Command::SupportsRate(id, rate, reply))
    }

    fn probe_output(
        &self,
        endpoint_id: &str,
        mode: Mode,
        rate: u32,
        preferred: Option<DeviceFormat>,
    ) -> Result<OutputPlan, BackendError> {
        let id = endpoint_id.to_string();
        self.ask(|reply| Command::ProbeOutput(id, mode, rate, preferred, reply))
    }

    fn open_output(&self, request: OutputRequest) -> Result<StreamInfo, BackendError> {
        self.ask(|reply| Command::OpenOutput(Box::new(request), reply))
    }

    fn start(&self, deferred_output: bool) -> Result<(), BackendError> {
        self.ask(|reply| Command::Start(deferred_output, reply))
    }

    fn stop(&self) -> Result<StreamReport, BackendError> {
        // SAFETY: the wake event lives as long as self.
        unsafe { SetEvent(self.wake.0) }.context("SetEvent")?;
        self.ask(Command::Stop)
    }

    fn close(&self) -> Result<(), BackendError> {
        // SAFETY: the wake event lives as long as self.
        unsafe { SetEvent(self.wake.0) }.context("SetEvent")?;
        self.ask(Command::Close)
    }
}

impl Drop for DeviceWorker {
    fn drop(&mut self) {
        // Wake a running loop, close the inbox, and wait: WASAPI objects are released on
        // their own thread before any handle they use is closed.
        // SAFETY: the wake event lives until the Arc's last owner (after the join).
        let _ = unsafe { SetEvent(self.wake.0) };
        self.commands.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The WASAPI objects of a stream, held only while it runs: `stop` releases them so that
/// other applications get the device back at once.
struct LiveClient {
    client: IAudioClient,
    render_client: IAudioRenderClient,
    clock: IAudioClock,
    clock_frequency: u64,
    /// The audio event (event-driven modes) or a periodic waitable timer (polling).
    signal: OwnedEvent,
}

struct OpenStream {
    device: IMMDevice,
    live: Option<LiveClient>,
    info: StreamInfo,
    stream_mode: StreamMode,
    host_sample_type: HostSampleType,
    render_config: RenderConfig,
    routes: Vec<RenderRoute>,
    buffers: Arc<HostBuffers>,
    positions: Arc<PositionCell>,
    handler: Box<dyn StreamHandler>,
    rt_log: RtLogProducer,
    counters: Arc<StreamCounters>,
    /// Watches the Windows default for `follow-default`; dropped with the stream.
    _default_watch: Option<DefaultDeviceRegistration>,
    /// Wasio.toml's WASAPI period and buffer duration overrides.
    period: Option<std::time::Duration>,
    buffer_duration: Option<std::time::Duration>,
    running: bool,
    last_report: StreamReport,
    /// The input side (dropped before its event, declared below it).
    capture: Option<OpenCapture>,
    /// No output channels: the render client stays idle, the capture clock drives switches.
    input_only: bool,
}

struct OpenCapture {
    stream: CaptureStream,
    config: CaptureConfig,
    routes: Vec<CaptureRoute>,
    buffers: Arc<HostBuffers>,
    monitor: Arc<InputMonitor>,
    event: OwnedEvent,
}

impl OpenStream {
    /// Adopts the format and sizes of a (re)opened client.
    fn configure(&mut self, opened: &OpenedClient) {
        let format = opened.format;
        let convert = host_to_device(self.host_sample_type, format.encoding);
        for route in &mut self.routes {
            route.convert = convert;
        }
        let config = &mut self.render_config;
        config.device_channels = format.channels as usize;
        config.device_bytes_per_sample = format.encoding.bytes_per_sample();
        config.device_buffer_frames = opened.device_buffer_frames;
        self.info.format = format;
        self.info.period_frames = opened.period_frames;
        self.info.device_buffer_frames = opened.device_buffer_frames;
        self.info.stream_latency_frames = opened.stream_latency_frames;
    }
}

struct Worker {
    inbox: Receiver<Command>,
    wake: Arc<OwnedEvent>,
    stream: Option<OpenStream>,
}

/// A failure inside the real-time loop: no allocation until the loop has ended.
#[derive(Clone, Copy)]
struct RtFailure {
    step: &'static str,
    hresult: Option<i32>,
}

impl RtFailure {
    fn from(step: &'static str, e: windows::core::Error) -> Self {
        Self {
            step,
            hresult: Some(e.code().0),
        }
    }
    fn into_error(self) -> BackendError {
        match self.hresult {
            Some(hr) => BackendError::from_hresult(self.step, hr),
            None => BackendError::new(self.step, "no audio event for 10 s: the device stopped"),
        }
    }
}

impl Worker {
    fn serve(mut self) {
        while let Ok(command) = self.inbox.recv() {
            match command {
                Command::DescribeOutput(selector, reply) => {
                    let _ = reply.send(
                        select_render_endpoint(&selector)
                            .and_then(|d| describe(&d))
                            .map(|(info, _)| info),
                    );
                }
                Command::DescribeInput(selector, reply) => {
                    // No capture device is not an error: the driver then has no inputs.
                    let _ = reply.send(Ok(select_capture_endpoint(&selector)
                        .and_then(|d| describe(&d))
                        .map(|(info, _)| info)
                        .ok()));
                }
                Command::SupportsRate(id, rate, reply) => {
                    let _ = reply.send(self.supports_rate(&id, rate));
                }
                Command::ProbeOutput(id, mode, rate, preferred, reply) => {
                    let _ = reply.send(probe_output(&id, mode, rate, preferred));
                }
                Command::OpenOutput(request, reply) => {
                    self.stream = None;
                    let result = self.open_output(*request);
                    let _ = reply.send(result);
                }
                Command::Start(deferred_output, reply) => {
                    let result = self.start(deferred_output);
                    let ok = result.is_ok();
                    let _ = reply.send(result);
                    if ok {
                        self.stream_until_woken();
                    }
                }
                Command::Stop(reply) => {
                    let _ = reply.send(Ok(self.stop()));
                }
                Command::Close(reply) => {
                    self.stop();
                    self.stream = None;
                    let _ = reply.send(Ok(()));
                }
            }
        }
        self.stop();
    }

    fn supports_rate(&self, endpoint_id: &str, rate: u32) -> Result<bool, BackendError> {
        let device = endpoint_by_id(endpoint_id)?;
        let (info, client) = describe(&device)?;
        let format = StreamFormat {
            sample_rate: rate,
            ..info.mix_format
        };
        let flags = shared_flags(rate != info.mix_format.sample_rate);
        let bytes = format.to_extensible();
        // SAFETY: `bytes` is a valid WAVEFORMATEXTENSIBLE that outlives the call.
        let result = unsafe {
            client.Initialize(
                AUDCLNT_SHAREMODE_SHARED,
                flags,
                frames_to_hns(info.default_period_frames.max(1), rate),
                0,
                bytes.as_ptr() as *const WAVEFORMATEX,
                None,
            )
        };
        Ok(result.is_ok())
    }

    fn open_output(&mut self, request: OutputRequest) -> Result<StreamInfo, BackendError> {
        let device = endpoint_by_id(&request.endpoint_id)?;
        let (endpoint, _) = describe(&device)?;
        let rate = request.sample_rate;
        let opened = open_render_client(
            &device,
            &endpoint,
            &ClientRequest {
                mode: request.mode,
                rate,
                block_frames: Some(request.block_frames),
                preferred_format: request.preferred_format,
                period: request.period,
                buffer_duration: request.buffer_duration,
            },
        )?;
        if opened.mode.block_is_period() && opened.period_frames != request.block_frames {
            return Err(BackendError::new(
                "opening the exclusive event-driven stream",
                format!(
                    "the device period is {} frames, the buffer {}",
                    opened.period_frames, request.block_frames
                ),
            ));
        }
        let format = opened.format;
        let routes = routes_for(&request.routes, request.host_sample_type, &format);
        let render_config = RenderConfig::for_device(
            request.block_frames,
            &format,
            rate,
            opened.device_buffer_frames,
            output_latency_frames(
                opened.device_buffer_frames,
                opened.stream_latency_frames,
                request.block_frames,
                false,
            ),
        );
        let period_frames = opened.period_frames;
        let input_only = request.routes.is_empty();
        let (block_frames, host_sample_type) = (request.block_frames, request.host_sample_type);
        let capture = match request.capture {
            Some(capture) => Some(open_capture(
                capture,
                (&device, &endpoint.name),
                (rate, block_frames, host_sample_type),
                period_frames,
                input_only,
            )?),
            None => None,
        };
        let info = StreamInfo {
            endpoint,
            format,
            mode: opened.mode.label(),
            mode_report: opened.report.clone(),
            period_frames: opened.period_frames,
            device_buffer_frames: opened.device_buffer_frames,
            stream_latency_frames: opened.stream_latency_frames,
            input: capture.as_ref().map(|c| InputStreamInfo {
                endpoint: c.stream.endpoint.clone(),
                format: c.stream.format,
                period_frames: c.stream.period_frames,
                device_buffer_frames: c.stream.buffer_frames,
                relation: c.config.relation,
                stamps: c.config.stamps,
                predicted_latency_frames: c.config.predicted_latency_frames(),
            }),
            has_output: !input_only,
        };
        // Nothing is held until start: the trial told what the stream will be.
        drop(opened);
        let default_watch = match request.device {
            DeviceSelector::FollowDefault => Some(DefaultDeviceRegistration::register(
                &info.endpoint.id,
                request.request_reset.clone(),
            )?),
            _ => None,
        };
        self.stream = Some(OpenStream {
            device,
            live: None,
            info: info.clone(),
            stream_mode: info.mode_report.chosen.unwrap_or(StreamMode::Shared),
            host_sample_type: request.host_sample_type,
            render_config,
            routes,
            buffers: request.buffers,
            positions: request.positions,
            handler: request.handler,
            rt_log: request.rt_log,
            counters: request.counters,
            _default_watch: default_watch,
            period: request.period,
            buffer_duration: request.buffer_duration,
            running: false,
            last_report: StreamReport::default(),
            capture,
            input_only,
        });
        Ok(info)
    }

    fn start(&mut self, deferred_output: bool) -> Result<(), BackendError> {
        let stream = self
            .stream
            .as_mut()
            .ok_or_else(|| BackendError::new("start", "no stream is open"))?;
        if stream.running {
            return Ok(());
        }
        if let Some(failure) = &stream.last_report.failure {
            return Err(BackendError::new(
                "start",
                format!("the stream failed earlier and must be re-created: {failure}"),
            ));
        }
        if stream.live.is_none() {
            // The mode the stream was opened in, forced: a start must not silently land
            // somewhere else.
            let opened = open_render_client(
                &stream.device,
                &stream.info.endpoint,
                &ClientRequest {
                    mode: stream.stream_mode.setting(),
                    rate: stream.info.format.sample_rate,
                    block_frames: Some(stream.render_config.block_frames),
                    preferred_format: Some(stream.info.format.encoding),
                    period: stream.period,
                    buffer_duration: stream.buffer_duration,
                },
            )?;
            if stream.stream_mode.block_is_period()
                && opened.period_frames != stream.render_config.block_frames
            {
                return Err(BackendError::new(
                    "start",
                    "the device period changed; the host must re-create the buffers",
                ));
            }
            stream.configure(&opened);
            stream.live = Some(go_live(opened)?);
        }
        if let Some(capture) = &stream.capture {
            capture.buffers.clear();
            // SAFETY: plain COM calls on an initialized, stopped capture client.
            unsafe {
                capture
                    .stream
                    .client
                    .Reset()
                    .context("IAudioClient::Reset (capture)")?;
                capture
                    .stream
                    .client
                    .Start()
                    .context("IAudioClient::Start (capture)")?;
            }
            if stream.input_only {
                // The render client stays idle: the capture clock drives the switches.
                // SAFETY: plain COM call on an initialized event.
                unsafe { ResetEvent(self.wake.0) }.context("ResetEvent")?;
                stream.buffers.clear();
                stream.positions.clear();
                stream.counters.publish(&Default::default());
                stream.running = true;
                return Ok(());
            }
        }
        let live = stream.live.as_ref().expect("opened above");
        // SAFETY: plain COM calls on an initialized, stopped client; the buffer returned by
        // GetBuffer is exactly `frames * frame_bytes` long until ReleaseBuffer.
        unsafe {
            ResetEvent(self.wake.0).context("ResetEvent")?;
            live.client.Reset().context("IAudioClient::Reset")?;
            let frames = stream.render_config.device_buffer_frames;
            let data = live
                .render_client
                .GetBuffer(frames as u32)
                .context("IAudioRenderClient::GetBuffer (pre-fill)")?;
            let frame_bytes = stream.info.format.frame_bytes();
            std::ptr::write_bytes(data, 0, frames * frame_bytes);
            live.render_client
                .ReleaseBuffer(frames as u32, AUDCLNT_BUFFERFLAGS_SILENT.0 as u32)
                .context("IAudioRenderClient::ReleaseBuffer (pre-fill)")?;
        }
        let config = &mut stream.render_config;
        config.deferred_output = deferred_output;
        config.output_latency_frames = output_latency_frames(
            config.device_buffer_frames,
            stream.info.stream_latency_frames,
            config.block_frames,
            deferred_output,
        );
        stream.buffers.clear();
        stream.positions.clear();
        stream.counters.publish(&Default::default());
        if stream.stream_mode == StreamMode::ExclusivePoll {
            start_poll_timer(&live.signal, stream.info.period_frames, config.sample_rate)?;
        }
        // SAFETY: plain COM call on an initialized client.
        unsafe { live.client.Start() }.context("IAudioClient::Start")?;
        stream.running = true;
        Ok(())
    }

    /// The real-time part: runs until the wake event or a failure.
    fn stream_until_woken(&mut self) {
        let Some(stream) = self.stream.as_mut() else {
            return;
        };
        let Some(live) = stream.live.as_ref() else {
            return;
        };
        // Everything the loop needs is built before it starts.
        let (config, routes) = (stream.render_config, stream.routes.clone());
        let (buffers, positions) = (stream.buffers.clone(), stream.positions.clone());
        let mut renderer = DeviceRenderer::new(
            stream.stream_mode.block_is_period(),
            config,
            routes,
            buffers,
            positions,
        );
        let mut silence = vec![0u8; config.device_buffer_frames * renderer.frame_bytes()];
        renderer.prefill_silence(&mut silence);
        drop(silence);
        let mmcss = enter_pro_audio();
        rt_guard::reset();
        let mut capture_path = match stream.capture.as_ref().map(|c| {
            CapturePath::new(
                c.config.clone(),
                c.routes.clone(),
                c.buffers.clone(),
                c.monitor.clone(),
            )
        }) {
            Some(Ok(path)) => Some(path),
            Some(Err(e)) => {
                let error = BackendError::new("building the input path", e.to_string());
                stream.handler.stream_failed(&error);
                stream.last_report.failure = Some(error);
                return;
            }
            None => None,
        };
        let mut input_only = capture_path
            .as_ref()
            .filter(|_| stream.input_only)
            .map(|path| InputOnlyScheduler::new(path, stream.positions.clone()));
        let rate = stream.render_config.sample_rate;
        let frames_ns = |frames: usize| (frames as f64 * 1e9 / rate) as u64;
        let mut deadlines = DeadlineAccount::new(
            frames_ns(stream.info.period_frames),
            frames_ns(stream.render_config.device_buffer_frames),
        );
        let failure = {
            let _rt = rt_guard::enter_rt();
            stream.rt_log.push(RtEvent::StreamStarted {
                sample_rate: stream.render_config.sample_rate,
                buffer_frames: stream.render_config.block_frames as u32,
            });
            let failure = match (capture_path.as_mut(), input_only.as_mut()) {
                (Some(path), Some(scheduler)) => run_input_only_loop(
                    stream.capture.as_ref(),
                    path,
                    scheduler,
                    stream.handler.as_mut(),
                    &stream.counters,
                    self.wake.0,
                ),
                (capture, _) => run_render_loop(
                    live,
                    &stream.render_config,
                    (!stream.stream_mode.is_event_driven()).then_some(stream.info.period_frames),
                    &mut renderer,
                    stream.handler.as_mut(),
                    (&mut stream.rt_log, &stream.counters, &mut deadlines),
                    stream.capture.as_ref().zip(capture),
                    self.wake.0,
                ),
            };
            if let Some(RtFailure {
                step,
                hresult: Some(hresult),
            }) = failure
            {
                stream.rt_log.push(RtEvent::DeviceError {
                    call: step,
                    hresult,
                });
            }
            stream.rt_log.push(RtEvent::StreamStopped {
                sample_position: renderer.stats().switches
                    * stream.render_config.block_frames as u64,
            });
            failure
        };
        let rt_allocations = rt_guard::rt_allocations();
        if let Some(task) = mmcss {
            // SAFETY: reverts the MMCSS registration made on this thread.
            let _ = unsafe { AvRevertMmThreadCharacteristics(task) };
        }
        // SAFETY: back to normal priority for the idle command loop.
        let _ = unsafe { SetThreadPriority(GetCurrentThread(), THREAD_PRIORITY_NORMAL) };
        let failure = failure.map(RtFailure::into_error);
        if let Some(error) = &failure {
            stream.handler.stream_failed(error);
        }
        let mut stats = input_only.map_or(renderer.stats(), |s| s.stats());
        stats.deadlines = deadlines.counts();
        stream.last_report = StreamReport {
            stats,
            rt_allocations,
            failure,
        };
    }

    fn stop(&mut self) -> StreamReport {
        let Some(stream) = self.stream.as_mut() else {
            return StreamReport::default();
        };
        if let Some(live) = stream.live.take() {
            // SAFETY: plain COM call; stopping a failed or stopped client is harmless. The
            // real-time loop has ended (stop runs on this thread, after it).
            let _ = unsafe { live.client.Stop() };
            // Dropping `live` releases the client: the device is free for others now.
        }
        if let Some(capture) = &stream.capture {
            // SAFETY: plain COM call; stopping a stopped client is harmless.
            let _ = unsafe { capture.stream.client.Stop() };
        }
        stream.running = false;
        stream.last_report.clone()
    }
}

fn shared_flags(needs_rate_conversion: bool) -> u32 {
    if needs_rate_conversion {
        AUDCLNT_STREAMFLAGS_AUTOCONVERTPCM | AUDCLNT_STREAMFLAGS_SRC_DEFAULT_QUALITY
    } else {
        0
    }
}

/// Raises this thread for audio: MMCSS "Pro Audio" at critical priority, and
/// THREAD_PRIORITY_TIME_CRITICAL as well, which is what counts where MMCSS is only a stub
/// (Wine maps thread priorities to Unix nice levels). Returns the MMCSS task to revert.
fn enter_pro_audio() -> Option<HANDLE> {
    let mut task_index = 0u32;
    // SAFETY: registers this thread with MMCSS; reverted by the caller.
    let task = unsafe { AvSetMmThreadCharacteristicsW(w!("Pro Audio"), &mut task_index) }.ok();
    if let Some(task) = task {
        // SAFETY: `task` was just returned for this thread.
        let _ = unsafe { AvSetMmThreadPriority(task, AVRT_PRIORITY_CRITICAL) };
    }
    // SAFETY: changes the priority of the calling thread only; restored on exit.
    let _ = unsafe { SetThreadPriority(GetCurrentThread(), THREAD_PRIORITY_TIME_CRITICAL) };
    task
}

/// The plan a stream would get, by opening and releasing a trial client.
fn probe_output(
    endpoint_id: &str,
    mode: Mode,
    rate: u32,
    preferred_format: Option<DeviceFormat>,
) -> Result<OutputPlan, BackendError> {
    let device = endpoint_by_id(endpoint_id)?;
    let (endpoint, _) = describe(&device)?;
    let opened = open_render_client(
        &device,
        &endpoint,
        &ClientRequest {
            mode,
            rate,
            block_frames: None,
            preferred_format,
            period: None,
            buffer_duration: None,
        },
    )?;
    Ok(opened.plan())
}

/// Takes the services of an initialized client and the signal that paces it: the audio
/// event in event-driven modes, a periodic waitable timer when polling.
fn go_live(opened: OpenedClient) -> Result<LiveClient, BackendError> {
    let client = opened.client;
    let signal = if opened.mode.is_event_driven() {
        let event = OwnedEvent::new_auto_reset()?;
        // SAFETY: plain COM call; the event outlives the client (dropped after it).
        unsafe { client.SetEventHandle(event.0) }.context("IAudioClient::SetEventHandle")?;
        event
    } else {
        // High resolution where the system has it (Windows 10 1803+), else a plain timer.
        // SAFETY: creates an unnamed timer with default security.
        let timer = unsafe {
            CreateWaitableTimerExW(
                None,
                PCWSTR::null(),
                CREATE_WAITABLE_TIMER_HIGH_RESOLUTION,
                TIMER_ALL_ACCESS.0,
            )
        }
        .or_else(|_| {
            // SAFETY: as above, without the flag.
            unsafe { CreateWaitableTimerExW(None, PCWSTR::null(), 0, TIMER_ALL_ACCESS.0) }
        })
        .context("CreateWaitableTimerExW")?;
        OwnedEvent(timer)
    };
    // SAFETY: plain COM calls on an initialized client.
    let (render_client, clock) = unsafe {
        (
            client
                .GetService::<IAudioRenderClient>()
                .context("IAudioClient::GetService(IAudioRenderClient)")?,
            client
                .GetService::<IAudioClock>()
                .context("IAudioClient::GetService(IAudioClock)")?,
        )
    };
    // SAFETY: plain COM call on a valid interface.
    let clock_frequency = unsafe { clock.GetFrequency() }.context("IAudioClock::GetFrequency")?;
    Ok(LiveClient {
        client,
        render_client,
        clock,
        clock_frequency,
        signal,
    })
}

/// Arms the polling timer: every half period (at least 1 ms), first tick half a period
/// from now.
fn start_poll_timer(
    timer: &OwnedEvent,
    period_frames: usize,
    rate: f64,
) -> Result<(), BackendError> {
    let half_period_hns = frames_to_hns(period_frames, rate as u32) / 2;
    let due = -half_period_hns.max(10_000);
    let period_ms = (half_period_hns / 10_000).max(1) as i32;
    // SAFETY: `timer` is a waitable timer we own; no completion routine.
    unsafe { SetWaitableTimer(timer.0, &due, period_ms, None, None, false) }
        .context("SetWaitableTimer")
}

/// Waits on the stream's signal (audio event or poll timer) and fills the device each
/// time. Returns `None` when woken (stop), or the failure that ended the stream.
/// Allocation-free.
fn run_render_loop(
    live: &LiveClient,
    config: &RenderConfig,
    poll_period_frames: Option<usize>,
    renderer: &mut DeviceRenderer,
    handler: &mut dyn StreamHandler,
    (rt_log, counters, deadlines): (&mut RtLogProducer, &StreamCounters, &mut DeadlineAccount),
    mut capture: Option<(&OpenCapture, &mut CapturePath)>,
    wake: HANDLE,
) -> Option<RtFailure> {
    // With inputs the capture event is waited on too (duplex: one thread, both clocks'
    // events): its packets go into the input path, and each switch takes its input block
    // first ([`DuplexSwitch`]).
    let duplex_handles = [
        live.signal.0,
        capture.as_ref().map_or(wake, |(c, _)| c.event.0),
        wake,
    ];
    let plain_handles = [live.signal.0, wake];
    let handles: &[HANDLE] = if capture.is_some() {
        &duplex_handles
    } else {
        &plain_handles
    };
    let wake_index = handles.len() as u32 - 1;
    let frame_bytes = renderer.frame_bytes();
    let buffer_frames = config.device_buffer_frames as u32;
    let rate = config.sample_rate;
    // A timer always fires: a device that stopped shows as a padding that never moves for
    // as long as an event-driven device may stay silent (10 s). The timer ticks at half a
    // period.
    let event_driven = poll_period_frames.is_none();
    let tick_ms = poll_period_frames.map_or(EVENT_TIMEOUT_MS, |frames| {
        (frames_to_hns(frames, rate as u32) / 20_000).max(1) as u32
    });
    let max_idle_ticks = (EVENT_TIMEOUT_MS * MAX_SILENT_WAITS / tick_ms).max(1);
    let mut idle_ticks = 0u32;
    let mut silent_waits = 0u32;
    loop {
        // SAFETY: both handles stay open for the whole loop.
        let woke = unsafe { WaitForMultipleObjects(handles, false, EVENT_TIMEOUT_MS) };
        if woke == WAIT_TIMEOUT {
            // A slow event is not a dead device: ask the client. An error ends the stream
            // (a vanished device answers AUDCLNT_E_DEVICE_INVALIDATED); otherwise keep
            // waiting, and give up only when the device stays silent for a long time.
            // SAFETY: plain COM call on the running client.
            if let Err(e) = unsafe { live.client.GetCurrentPadding() } {
                return Some(RtFailure::from(
                    "IAudioClient::GetCurrentPadding (no audio event)",
                    e,
                ));
            }
            silent_waits += 1;
            if silent_waits >= MAX_SILENT_WAITS {
                return Some(RtFailure {
                    step: "waiting for the audio event",
                    hresult: None,
                });
            }
            continue;
        }
        silent_waits = 0;
        let woke_ns = qpc_ns();
        let index = woke.0.wrapping_sub(WAIT_OBJECT_0.0);
        if index == wake_index {
            return None;
        }
        if index > wake_index {
            return Some(RtFailure {
                step: "WaitForMultipleObjects",
                hresult: Some(windows::core::Error::from_thread().code().0),
            });
        }
        if let Some((open, path)) = capture.as_mut() {
            if let Err((step, e)) = open.stream.drain(path) {
                return Some(RtFailure::from(step, e));
            }
            if index == 1 {
                continue;
            }
        }
        // SAFETY: plain COM calls on the running client; `data` is valid for `frames`
        // frames until ReleaseBuffer.
        unsafe {
            // Exclusive event mode: each event asks for the whole buffer (one period).
            let padding = if renderer.is_period() {
                0
            } else {
                match live.client.GetCurrentPadding() {
                    Ok(p) => p,
                    Err(e) => return Some(RtFailure::from("IAudioClient::GetCurrentPadding", e)),
                }
            };
            let frames = buffer_frames.saturating_sub(padding);
            if frames == 0 {
                idle_ticks += 1;
                if !event_driven && idle_ticks > max_idle_ticks {
                    return Some(RtFailure {
                        step: "polling the device",
                        hresult: None,
                    });
                }
                continue;
            }
            idle_ticks = 0;
            let (mut position, mut qpc) = (0u64, 0u64);
            if let Err(e) = live.clock.GetPosition(&mut position, Some(&mut qpc)) {
                return Some(RtFailure::from("IAudioClock::GetPosition", e));
            }
            let reading = ClockReading::from_audio_clock(position, live.clock_frequency, qpc, rate)
                .unwrap_or(ClockReading {
                    position_frames: 0.0,
                    qpc_ns: qpc.saturating_mul(100),
                });
            let data = match live.render_client.GetBuffer(frames) {
                Ok(d) => d,
                Err(e) => return Some(RtFailure::from("IAudioRenderClient::GetBuffer", e)),
            };
            let dst = std::slice::from_raw_parts_mut(data, frames as usize * frame_bytes);
            let underruns = renderer.stats().underruns;
            let render_started_ns = qpc_ns();
            renderer.render(
                dst,
                padding as usize,
                &reading,
                capture.as_mut().map(|(_, path)| &mut **path),
                handler,
            );
            let handling_ns = qpc_ns().saturating_sub(render_started_ns);
            let stats = renderer.stats();
            if stats.underruns > underruns {
                rt_log.push(RtEvent::OutputUnderrun { frames });
            }
            counters.publish(&stats);
            if let Err(e) = live.render_client.ReleaseBuffer(frames, 0) {
                return Some(RtFailure::from("IAudioRenderClient::ReleaseBuffer", e));
            }
            let late_blocks = deadlines.counts().late_blocks;
            deadlines.write(woke_ns, stats.underruns > underruns, handling_ns, qpc_ns());
            if deadlines.counts().late_blocks > late_blocks {
                rt_log.push(RtEvent::message(
                    LogLevel::Warn,
                    "late block: the driver held a device write longer than the device buffer lasts (max µs so far)",
                    &[(deadlines.counts().max_handling_ns / 1000) as i64],
                ));
            }
        }
    }
}

/// The performance counter now, in nanoseconds (the clock IAudioClock's QPC readings use).
fn qpc_ns() -> u64 {
    let (mut count, mut frequency) = (0i64, 0i64);
    // SAFETY: both calls only write the given integers; they cannot fail on XP and later.
    unsafe {
        let _ = QueryPerformanceCounter(&mut count);
        let _ = QueryPerformanceFrequency(&mut frequency);
    }
    (count as i128 * 1_000_000_000 / frequency.max(1) as i128) as u64
}

/// Opens the capture side of a stream on the default capture endpoint, and decides how its
/// clock relates to the render device's.
fn open_capture(
    request: wasio_engine::backend::CaptureRequest,
    (render_device, render_name): (&windows::Win32::Media::Audio::IMMDevice, &str),
    (sample_rate, block_frames, host_sample_type): (
        u32,
        usize,
        wasio_engine::convert::HostSampleType,
    ),
    render_period_frames: usize,
    input_only: bool,
) -> Result<OpenCapture, BackendError> {
    let device = select_capture_endpoint(&request.device)?;
    let event = OwnedEvent::new_auto_reset()?;
    let stream = CaptureStream::open(&device, sample_rate, event.0)?;
    let relation = if input_only {
        ClockRelation::Shared
    } else {
        clock_relation(render_device, render_name, &device, &stream.endpoint.name)
    };
    let config = CaptureConfig {
        block_frames,
        sample_rate: sample_rate as f64,
        device_channels: stream.format.channels as usize,
        device_format: stream.format.encoding,
        host_sample_type,
        packet_frames: stream.period_frames,
        max_packet_frames: stream.buffer_frames,
        render_burst_frames: if input_only {
            0
        } else {
            render_period_frames.max(block_frames)
        },
        relation,
        quality: ResamplerQuality::Standard,
        stamps: crate::capture::capture_stamp_meaning(),
    };
    let routes = request
        .routes
        .iter()
        .map(|&(host_buffer, device_channel)| CaptureRoute {
            host_buffer,
            device_channel,
        })
        .collect();
    Ok(OpenCapture {
        stream,
        config,
        routes,
        buffers: request.buffers,
        monitor: request.monitor,
        event,
    })
}

/// The input-only real-time loop: waits on the capture event and the wake event, moves
/// the captured packets into the input path and runs a switch per whole block
/// ([`InputOnlyScheduler`]). Returns `None` when woken (stop), or the failure that ended
/// the stream. Allocation-free.
fn run_input_only_loop(
    capture: Option<&OpenCapture>,
    path: &mut CapturePath,
    scheduler: &mut InputOnlyScheduler,
    handler: &mut dyn StreamHandler,
    counters: &StreamCounters,
    wake: HANDLE,
) -> Option<RtFailure> {
    let capture = capture?;
    let handles = [capture.event.0, wake];
    let mut silent_waits = 0u32;
    loop {
        // SAFETY: both handles stay open for the whole loop.
        let woke = unsafe { WaitForMultipleObjects(&handles, false, EVENT_TIMEOUT_MS) };
        if woke == WAIT_TIMEOUT {
            // SAFETY: plain COM call on the running client.
            if let Err(e) = unsafe { capture.stream.client.GetCurrentPadding() } {
                return Some(RtFailure::from(
                    "IAudioClient::GetCurrentPadding (no capture event)",
                    e,
                ));
            }
            silent_waits += 1;
            if silent_waits >= MAX_SILENT_WAITS {
                return Some(RtFailure {
                    step: "waiting for the capture event",
                    hresult: None,
                });
            }
            continue;
        }
        silent_waits = 0;
        if woke.0 == WAIT_OBJECT_0.0 + 1 {
            return None;
        }
        if woke != WAIT_OBJECT_0 {
            return Some(RtFailure {
                step: "WaitForMultipleObjects",
                hresult: Some(windows::core::Error::from_thread().code().0),
            });
        }
        if let Err((step, e)) = capture.stream.drain(path) {
            return Some(RtFailure::from(step, e));
        }
        scheduler.run_ready(path, handler);
        counters.publish(&scheduler.stats());
    }
}
