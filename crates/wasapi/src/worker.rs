//! The device thread: owns the COM apartment and every WASAPI object, serves the driver's
//! requests while idle, and runs the real-time loop while streaming.
//!
//! The host's threads never touch WASAPI: they send a command and wait for its answer.
//! While streaming, the thread waits on exactly two things: the device's audio event and
//! the wake event the driver sets to stop it.

use crate::capture::{clock_relation, select_capture_endpoint, CaptureStream};
use crate::com::MtaGuard;
use crate::endpoint::{activate_client, describe, endpoint_by_id, select_render_endpoint};
use crate::error::Context;
use crate::notify::DefaultDeviceRegistration;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use wasio_engine::backend::{
    check_mode_available, Backend, BackendError, DeviceSelector, EndpointInfo, InputStreamInfo,
    OutputRequest, StreamCounters, StreamHandler, StreamInfo, StreamReport,
};
use wasio_engine::buffers::HostBuffers;
use wasio_engine::capture::{
    CaptureConfig, CapturePath, CaptureRoute, ClockRelation, InputMonitor,
};
use wasio_engine::clock::{ClockReading, PositionCell};
use wasio_engine::convert::host_to_device;
use wasio_engine::drift::ResamplerQuality;
use wasio_engine::duplex::{DuplexSwitch, InputOnlyScheduler};
use wasio_engine::format::{frames_to_hns, hns_to_frames, StreamFormat};
use wasio_engine::log::{RtEvent, RtLogProducer};
use wasio_engine::render::{output_latency_frames, RenderConfig, RenderPipeline, RenderRoute};
use wasio_engine::rt_guard;
use windows::core::w;
use windows::Win32::Foundation::{CloseHandle, HANDLE, WAIT_OBJECT_0, WAIT_TIMEOUT};
use windows::Win32::Media::Audio::{
    IAudioClient, IAudioClock, IAudioRenderClient, AUDCLNT_BUFFERFLAGS_SILENT,
    AUDCLNT_SHAREMODE_SHARED, AUDCLNT_STREAMFLAGS_AUTOCONVERTPCM,
    AUDCLNT_STREAMFLAGS_EVENTCALLBACK, AUDCLNT_STREAMFLAGS_SRC_DEFAULT_QUALITY, WAVEFORMATEX,
};
use windows::Win32::System::Threading::{
    AvRevertMmThreadCharacteristics, AvSetMmThreadCharacteristicsW, AvSetMmThreadPriority,
    CreateEventW, GetCurrentThread, ResetEvent, SetEvent, SetThreadPriority,
    WaitForMultipleObjects, AVRT_PRIORITY_CRITICAL, THREAD_PRIORITY_NORMAL,
    THREAD_PRIORITY_TIME_CRITICAL,
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

struct OpenStream {
    client: IAudioClient,
    render_client: IAudioRenderClient,
    clock: IAudioClock,
    clock_frequency: u64,
    audio_event: OwnedEvent,
    info: StreamInfo,
    render_config: RenderConfig,
    routes: Vec<RenderRoute>,
    buffers: Arc<HostBuffers>,
    positions: Arc<PositionCell>,
    handler: Box<dyn StreamHandler>,
    rt_log: RtLogProducer,
    counters: Arc<StreamCounters>,
    /// Watches the Windows default for `follow-default`; dropped with the stream.
    _default_watch: Option<DefaultDeviceRegistration>,
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
        // Exclusive and low-latency modes are not implemented yet: refuse them clearly.
        check_mode_available(request.mode)?;
        let device = endpoint_by_id(&request.endpoint_id)?;
        let (endpoint, _) = describe(&device)?;
        let client = activate_client(&device)?;
        let rate = request.sample_rate;
        let format = StreamFormat {
            sample_rate: rate,
            ..endpoint.mix_format
        };
        let bytes = format.to_extensible();
        let flags = AUDCLNT_STREAMFLAGS_EVENTCALLBACK
            | shared_flags(rate != endpoint.mix_format.sample_rate);
        // Buffer duration 0 asks for the smallest buffer the engine allows in event mode;
        // `buffer_ms` in Wasio.toml overrides it.
        let buffer_duration_hns = request
            .buffer_duration
            .map_or(0, |d| (d.as_nanos() / 100) as i64);
        // SAFETY: `bytes` is a valid WAVEFORMATEXTENSIBLE that outlives the call.
        unsafe {
            client.Initialize(
                AUDCLNT_SHAREMODE_SHARED,
                flags,
                buffer_duration_hns,
                0,
                bytes.as_ptr() as *const WAVEFORMATEX,
                None,
            )
        }
        .context("IAudioClient::Initialize (shared, event)")?;
        let audio_event = OwnedEvent::new_auto_reset()?;
        // SAFETY: plain COM calls on an initialized client; the event outlives the client.
        let (device_buffer_frames, stream_latency, render_client, clock) = unsafe {
            client
                .SetEventHandle(audio_event.0)
                .context("IAudioClient::SetEventHandle")?;
            (
                client
                    .GetBufferSize()
                    .context("IAudioClient::GetBufferSize")? as usize,
                client
                    .GetStreamLatency()
                    .context("IAudioClient::GetStreamLatency")?,
                client
                    .GetService::<IAudioRenderClient>()
                    .context("IAudioClient::GetService(IAudioRenderClient)")?,
                client
                    .GetService::<IAudioClock>()
                    .context("IAudioClient::GetService(IAudioClock)")?,
            )
        };
        // SAFETY: plain COM call on a valid interface.
        let clock_frequency =
            unsafe { clock.GetFrequency() }.context("IAudioClock::GetFrequency")?;
        let stream_latency_frames = hns_to_frames(stream_latency, rate);
        let convert = host_to_device(request.host_sample_type, format.encoding);
        let routes = request
            .routes
            .iter()
            .map(|&(host_buffer, device_channel)| RenderRoute {
                host_buffer,
                device_channel,
                convert,
            })
            .collect();
        let render_config = RenderConfig {
            block_frames: request.block_frames,
            device_channels: format.channels as usize,
            device_bytes_per_sample: format.encoding.bytes_per_sample(),
            device_buffer_frames,
            sample_rate: rate as f64,
            deferred_output: false,
            output_latency_frames: output_latency_frames(
                device_buffer_frames,
                stream_latency_frames,
                request.block_frames,
                false,
            ),
        };
        let period_frames = endpoint.default_period_frames * rate as usize
            / endpoint.mix_format.sample_rate as usize;
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
            mode: "shared, event-driven",
            period_frames,
            device_buffer_frames,
            stream_latency_frames,
            input: capture.as_ref().map(|c| InputStreamInfo {
                endpoint: c.stream.endpoint.clone(),
                format: c.stream.format,
                period_frames: c.stream.period_frames,
                device_buffer_frames: c.stream.buffer_frames,
                relation: c.config.relation,
                predicted_latency_frames: c.config.predicted_latency_frames(),
            }),
            has_output: !input_only,
        };
        let default_watch = match request.device {
            DeviceSelector::FollowDefault => Some(DefaultDeviceRegistration::register(
                &info.endpoint.id,
                request.request_reset.clone(),
            )?),
            _ => None,
        };
        self.stream = Some(OpenStream {
            client,
            render_client,
            clock,
            clock_frequency,
            audio_event,
            info: info.clone(),
            render_config,
            routes,
            buffers: request.buffers,
            positions: request.positions,
            handler: request.handler,
            rt_log: request.rt_log,
            counters: request.counters,
            _default_watch: default_watch,
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
        // SAFETY: plain COM call on an initialized event.
        unsafe { ResetEvent(self.wake.0) }.context("ResetEvent")?;
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
                stream.buffers.clear();
                stream.positions.clear();
                stream.running = true;
                return Ok(());
            }
        }
        // SAFETY: plain COM calls on an initialized, stopped client; the buffer returned by
        // GetBuffer is exactly `frames * frame_bytes` long until ReleaseBuffer.
        unsafe {
            stream.client.Reset().context("IAudioClient::Reset")?;
            let frames = stream.render_config.device_buffer_frames;
            let data = stream
                .render_client
                .GetBuffer(frames as u32)
                .context("IAudioRenderClient::GetBuffer (pre-fill)")?;
            let frame_bytes = stream.info.format.frame_bytes();
            std::ptr::write_bytes(data, 0, frames * frame_bytes);
            stream
                .render_client
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
        // SAFETY: plain COM call on an initialized client.
        unsafe { stream.client.Start() }.context("IAudioClient::Start")?;
        stream.running = true;
        Ok(())
    }

    /// The real-time part: runs until the wake event or a failure.
    fn stream_until_woken(&mut self) {
        let Some(stream) = self.stream.as_mut() else {
            return;
        };
        // Everything the loop needs is built before it starts.
        let mut pipeline = RenderPipeline::new(
            stream.render_config,
            stream.routes.clone(),
            stream.buffers.clone(),
            stream.positions.clone(),
        );
        let mut silence =
            vec![0u8; stream.render_config.device_buffer_frames * pipeline.frame_bytes()];
        pipeline.prefill_silence(&mut silence);
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
        let failure = {
            let _rt = rt_guard::enter_rt();
            stream.rt_log.push(RtEvent::StreamStarted {
                sample_rate: stream.render_config.sample_rate,
                buffer_frames: stream.render_config.block_frames as u32,
            });
            let failure = match capture_path.as_mut() {
                Some(path) => run_duplex_loop(
                    stream,
                    &mut pipeline,
                    path,
                    input_only.as_mut(),
                    self.wake.0,
                ),
                None => run_render_loop(stream, &mut pipeline, self.wake.0),
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
                sample_position: pipeline.stats().switches
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
        stream.last_report = StreamReport {
            stats: input_only.map_or(pipeline.stats(), |s| s.stats()),
            rt_allocations,
            failure,
        };
    }

    fn stop(&mut self) -> StreamReport {
        let Some(stream) = self.stream.as_mut() else {
            return StreamReport::default();
        };
        if stream.running {
            // SAFETY: plain COM call; stopping a failed or stopped client is harmless.
            let _ = unsafe { stream.client.Stop() };
            if let Some(capture) = &stream.capture {
                // SAFETY: as above, for the capture client.
                let _ = unsafe { capture.stream.client.Stop() };
            }
            stream.running = false;
        }
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

/// Waits on the audio event and fills the device each time. Returns `None` when woken
/// (stop), or the failure that ended the stream. Allocation-free.
fn run_render_loop(
    stream: &mut OpenStream,
    pipeline: &mut RenderPipeline,
    wake: HANDLE,
) -> Option<RtFailure> {
    let handles = [stream.audio_event.0, wake];
    let frame_bytes = pipeline.frame_bytes();
    let buffer_frames = stream.render_config.device_buffer_frames as u32;
    let rate = stream.render_config.sample_rate;
    let mut silent_waits = 0u32;
    loop {
        // SAFETY: both handles stay open for the whole loop.
        let woke = unsafe { WaitForMultipleObjects(&handles, false, EVENT_TIMEOUT_MS) };
        if woke == WAIT_TIMEOUT {
            // A slow event is not a dead device: ask the client. An error ends the stream
            // (a vanished device answers AUDCLNT_E_DEVICE_INVALIDATED); otherwise keep
            // waiting, and give up only when the device stays silent for a long time.
            // SAFETY: plain COM call on the running client.
            if let Err(e) = unsafe { stream.client.GetCurrentPadding() } {
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
        if woke.0 == WAIT_OBJECT_0.0 + 1 {
            return None;
        }
        if woke != WAIT_OBJECT_0 {
            return Some(RtFailure {
                step: "WaitForMultipleObjects",
                hresult: Some(windows::core::Error::from_thread().code().0),
            });
        }
        // SAFETY: plain COM calls on the running client; `data` is valid for `frames`
        // frames until ReleaseBuffer.
        unsafe {
            let padding = match stream.client.GetCurrentPadding() {
                Ok(p) => p,
                Err(e) => return Some(RtFailure::from("IAudioClient::GetCurrentPadding", e)),
            };
            let frames = buffer_frames.saturating_sub(padding);
            if frames == 0 {
                continue;
            }
            let (mut position, mut qpc) = (0u64, 0u64);
            if let Err(e) = stream.clock.GetPosition(&mut position, Some(&mut qpc)) {
                return Some(RtFailure::from("IAudioClock::GetPosition", e));
            }
            let reading =
                ClockReading::from_audio_clock(position, stream.clock_frequency, qpc, rate)
                    .unwrap_or(ClockReading {
                        position_frames: 0.0,
                        qpc_ns: qpc.saturating_mul(100),
                    });
            let data = match stream.render_client.GetBuffer(frames) {
                Ok(d) => d,
                Err(e) => return Some(RtFailure::from("IAudioRenderClient::GetBuffer", e)),
            };
            let dst = std::slice::from_raw_parts_mut(data, frames as usize * frame_bytes);
            let underruns = pipeline.stats().underruns;
            pipeline.render(dst, padding as usize, &reading, stream.handler.as_mut());
            let stats = pipeline.stats();
            if stats.underruns > underruns {
                stream.rt_log.push(RtEvent::OutputUnderrun { frames });
            }
            stream.counters.publish(&stats);
            if let Err(e) = stream.render_client.ReleaseBuffer(frames, 0) {
                return Some(RtFailure::from("IAudioRenderClient::ReleaseBuffer", e));
            }
        }
    }
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

/// The duplex (or input-only) real-time loop: waits on the render event, the capture event
/// and the wake event. Every wake-up first moves the captured packets into the input path;
/// a render event then fills the device, each buffer switch taking its input block first
/// ([`DuplexSwitch`]); an input-only stream runs a switch per captured block instead.
/// Returns `None` when woken (stop), or the failure that ended the stream. Allocation-free.
fn run_duplex_loop(
    stream: &mut OpenStream,
    pipeline: &mut RenderPipeline,
    path: &mut CapturePath,
    mut input_only: Option<&mut InputOnlyScheduler>,
    wake: HANDLE,
) -> Option<RtFailure> {
    let capture = stream.capture.as_ref()?;
    let capture_event = capture.event.0;
    let duplex_handles = [stream.audio_event.0, capture_event, wake];
    let input_handles = [capture_event, wake];
    let handles: &[HANDLE] = if input_only.is_some() {
        &input_handles
    } else {
        &duplex_handles
    };
    let wake_index = handles.len() as u32 - 1;
    let render_index = if input_only.is_some() { None } else { Some(0) };
    let frame_bytes = pipeline.frame_bytes();
    let buffer_frames = stream.render_config.device_buffer_frames as u32;
    let rate = stream.render_config.sample_rate;
    let mut silent_waits = 0u32;
    loop {
        // SAFETY: every handle stays open for the whole loop.
        let woke = unsafe { WaitForMultipleObjects(handles, false, EVENT_TIMEOUT_MS) };
        if woke == WAIT_TIMEOUT {
            // As in the render loop: ask the device whether it lives, give up after a while.
            let client = match (&stream.capture, input_only.is_some()) {
                (Some(c), true) => &c.stream.client,
                _ => &stream.client,
            };
            // SAFETY: plain COM call on the running client.
            if let Err(e) = unsafe { client.GetCurrentPadding() } {
                return Some(RtFailure::from(
                    "IAudioClient::GetCurrentPadding (no audio event)",
                    e,
                ));
            }
            silent_waits += 1;
            if silent_waits >= MAX_SILENT_WAITS {
                return Some(RtFailure {
                    step: "waiting for the audio events",
                    hresult: None,
                });
            }
            continue;
        }
        silent_waits = 0;
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
        if let Some(capture) = &stream.capture {
            if let Err((step, e)) = capture.stream.drain(path) {
                return Some(RtFailure::from(step, e));
            }
        }
        if let Some(scheduler) = input_only.as_deref_mut() {
            scheduler.run_ready(path, stream.handler.as_mut());
            stream.counters.publish(&scheduler.stats());
            continue;
        }
        if render_index != Some(index) {
            continue;
        }
        // SAFETY: plain COM calls on the running client; `data` is valid for `frames`
        // frames until ReleaseBuffer.
        unsafe {
            let padding = match stream.client.GetCurrentPadding() {
                Ok(p) => p,
                Err(e) => return Some(RtFailure::from("IAudioClient::GetCurrentPadding", e)),
            };
            let frames = buffer_frames.saturating_sub(padding);
            if frames == 0 {
                continue;
            }
            let (mut position, mut qpc) = (0u64, 0u64);
            if let Err(e) = stream.clock.GetPosition(&mut position, Some(&mut qpc)) {
                return Some(RtFailure::from("IAudioClock::GetPosition", e));
            }
            let reading =
                ClockReading::from_audio_clock(position, stream.clock_frequency, qpc, rate)
                    .unwrap_or(ClockReading {
                        position_frames: 0.0,
                        qpc_ns: qpc.saturating_mul(100),
                    });
            let data = match stream.render_client.GetBuffer(frames) {
                Ok(d) => d,
                Err(e) => return Some(RtFailure::from("IAudioRenderClient::GetBuffer", e)),
            };
            let dst = std::slice::from_raw_parts_mut(data, frames as usize * frame_bytes);
            let underruns = pipeline.stats().underruns;
            let mut duplex = DuplexSwitch {
                capture: path,
                host: stream.handler.as_mut(),
            };
            pipeline.render(dst, padding as usize, &reading, &mut duplex);
            let stats = pipeline.stats();
            if stats.underruns > underruns {
                stream.rt_log.push(RtEvent::OutputUnderrun { frames });
            }
            stream.counters.publish(&stats);
            if let Err(e) = stream.render_client.ReleaseBuffer(frames, 0) {
                return Some(RtFailure::from("IAudioRenderClient::ReleaseBuffer", e));
            }
        }
    }
}
