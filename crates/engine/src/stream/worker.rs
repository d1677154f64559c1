//! The device thread's command loop: it owns the apartment and every port object, serves
//! the driver's requests while idle, and runs a real-time loop while streaming.

use super::capture_setup::{open_capture, OpenCapture, RenderSide};
use super::ctx::Ctx;
use super::endpoints::{
    describe, endpoint_by_id, enumerator, select_capture_endpoint, select_render_endpoint,
};
use super::live::{
    enter_pro_audio, go_live, leave_pro_audio, prefill_silence, start_poll_timer, LiveClient,
};
use super::modes_exec::{open_render_client, shared_flags, ClientRequest, OpenedClient};
use super::notify::{StreamWatcher, WatchState};
use super::options::EngineOptions;
use super::render_loop::{run_input_only_loop, run_render_loop, RenderLoop, RtFailure};
use crate::backend::{
    BackendError, DeviceSelector, EndpointInfo, InputStreamInfo, OutputPlan, OutputRequest,
    StreamCounters, StreamHandler, StreamInfo, StreamReport,
};
use crate::buffers::HostBuffers;
use crate::capture::CapturePath;
use crate::clock::PositionCell;
use crate::config::Mode;
use crate::convert::{host_to_device, DeviceFormat, HostSampleType};
use crate::deadline::DeadlineAccount;
use crate::duplex::{DeviceRenderer, InputOnlyScheduler};
use crate::format::{frames_to_hns, StreamFormat};
use crate::log::{RtEvent, RtLogProducer};
use crate::modes::StreamMode;
use crate::port::{AudioClient, AudioPort, DeviceEnumerator, ShareMode};
use crate::render::{output_latency_frames, routes_for, RenderConfig, RenderRoute};
use crate::rt_guard;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::time::Duration;

pub(crate) type Reply<T> = Sender<Result<T, BackendError>>;

/// What host threads ask the device thread.
pub(crate) enum Command {
    DescribeOutput(DeviceSelector, Reply<EndpointInfo>),
    DescribeInput(DeviceSelector, Reply<Option<EndpointInfo>>),
    SupportsRate(String, u32, Reply<bool>),
    ProbeOutput(String, Mode, u32, Option<DeviceFormat>, Reply<OutputPlan>),
    OpenOutput(Box<OutputRequest>, Reply<StreamInfo>),
    Start(bool, Reply<()>),
    Stop(Reply<StreamReport>),
    Close(Reply<()>),
}

struct OpenStream<P: AudioPort> {
    device: P::Device,
    live: Option<LiveClient<P>>,
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
    /// Wasio.toml's WASAPI period and buffer duration overrides.
    period: Option<Duration>,
    buffer_duration: Option<Duration>,
    running: bool,
    last_report: StreamReport,
    /// The input side (its client drops before its event).
    capture: Option<OpenCapture<P>>,
    /// No output channels: the render client stays idle, the capture clock drives switches.
    input_only: bool,
    /// Endpoint notifications for this stream; unregistered when the stream is dropped.
    _watch: Option<P::Registration>,
    watch_state: Arc<WatchState>,
}

impl<P: AudioPort> OpenStream<P> {
    /// Adopts the format and sizes of a (re)opened client.
    fn configure(&mut self, opened: &OpenedClient<P::Client>) {
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

pub(crate) struct Worker<P: AudioPort> {
    pub port: Arc<P>,
    pub inbox: Receiver<Command>,
    pub wake: Arc<P::Handle>,
    pub options: EngineOptions,
    stream: Option<OpenStream<P>>,
}

impl<P: AudioPort> Worker<P> {
    pub fn new(
        port: Arc<P>,
        inbox: Receiver<Command>,
        wake: Arc<P::Handle>,
        options: EngineOptions,
    ) -> Self {
        Self {
            port,
            inbox,
            wake,
            options,
            stream: None,
        }
    }

    pub fn serve(mut self) {
        let port = self.port.clone();
        while let Ok(command) = self.inbox.recv() {
            match command {
                Command::DescribeOutput(selector, reply) => {
                    let _ = reply.send(
                        select_render_endpoint(&*port, &selector)
                            .and_then(|d| describe(&d))
                            .map(|(info, _)| info),
                    );
                }
                Command::DescribeInput(selector, reply) => {
                    // No capture device is not an error: the driver then has no inputs.
                    let _ = reply.send(Ok(select_capture_endpoint(&*port, &selector)
                        .and_then(|d| describe(&d))
                        .map(|(info, _)| info)
                        .ok()));
                }
                Command::SupportsRate(id, rate, reply) => {
                    let _ = reply.send(self.supports_rate(&id, rate));
                }
                Command::ProbeOutput(id, mode, rate, preferred, reply) => {
                    let _ = reply.send(self.probe_output(&id, mode, rate, preferred));
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
        self.stream = None;
    }

    fn supports_rate(&self, endpoint_id: &str, rate: u32) -> Result<bool, BackendError> {
        let device = endpoint_by_id(&*self.port, endpoint_id)?;
        let (info, client) = describe(&device)?;
        let format = StreamFormat {
            sample_rate: rate,
            ..info.mix_format
        };
        let result = client.initialize(
            ShareMode::Shared,
            shared_flags(rate, info.mix_format.sample_rate),
            frames_to_hns(info.default_period_frames.max(1), rate),
            0,
            &format.to_extensible(),
        );
        Ok(result.is_ok())
    }

    /// The plan a stream would get, by opening and releasing a trial client.
    fn probe_output(
        &self,
        endpoint_id: &str,
        mode: Mode,
        rate: u32,
        preferred_format: Option<DeviceFormat>,
    ) -> Result<OutputPlan, BackendError> {
        let device = endpoint_by_id(&*self.port, endpoint_id)?;
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

    fn open_output(&mut self, request: OutputRequest) -> Result<StreamInfo, BackendError> {
        let port = &*self.port;
        let device = endpoint_by_id(port, &request.endpoint_id)?;
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
        let input_only = request.routes.is_empty();
        let capture = match request.capture {
            Some(capture) => Some(open_capture(
                port,
                capture,
                RenderSide {
                    device: &device,
                    name: &endpoint.name,
                    sample_rate: rate,
                    block_frames: request.block_frames,
                    host_sample_type: request.host_sample_type,
                    period_frames: opened.period_frames,
                    input_only,
                },
                self.options.clock_relation,
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
        let watch_state = Arc::new(WatchState::default());
        let watcher = StreamWatcher {
            render_id: info.endpoint.id.clone(),
            capture_id: info.input.as_ref().map(|i| i.endpoint.id.clone()),
            follow_default: request.device == DeviceSelector::FollowDefault,
            request_reset: request.request_reset.clone(),
            state: watch_state.clone(),
        };
        let registration = enumerator(port)?
            .register_endpoint_notification_callback(Arc::new(watcher))
            .ctx("IMMDeviceEnumerator::RegisterEndpointNotificationCallback");
        let watch = match registration {
            Ok(registration) => Some(registration),
            // Without follow-default the watcher only adds a courtesy: go on without it.
            Err(e) if request.device == DeviceSelector::FollowDefault => return Err(e),
            Err(_) => None,
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
            period: request.period,
            buffer_duration: request.buffer_duration,
            running: false,
            last_report: StreamReport::default(),
            capture,
            input_only,
            _watch: watch,
            watch_state,
        });
        Ok(info)
    }

    fn start(&mut self, deferred_output: bool) -> Result<(), BackendError> {
        let port = &*self.port;
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
            stream.live = Some(go_live(port, opened)?);
        }
        if let Some(capture) = &stream.capture {
            capture.buffers.clear();
            capture
                .stream
                .client
                .reset()
                .ctx("IAudioClient::Reset (capture)")?;
            capture
                .stream
                .client
                .start()
                .ctx("IAudioClient::Start (capture)")?;
            if stream.input_only {
                // The render client stays idle: the capture clock drives the switches.
                port.reset_event(&self.wake).ctx("ResetEvent")?;
                stream.buffers.clear();
                stream.positions.clear();
                stream.counters.publish(&Default::default());
                stream.running = true;
                return Ok(());
            }
        }
        let live = stream.live.as_mut().expect("opened above");
        port.reset_event(&self.wake).ctx("ResetEvent")?;
        live.client.reset().ctx("IAudioClient::Reset")?;
        prefill_silence(live, stream.render_config.device_buffer_frames)?;
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
            start_poll_timer(
                port,
                &live.signal,
                stream.info.period_frames,
                config.sample_rate,
            )?;
        }
        live.client.start().ctx("IAudioClient::Start")?;
        stream.running = true;
        Ok(())
    }

    /// The real-time part: runs until the wake event or a failure.
    fn stream_until_woken(&mut self) {
        let port = &*self.port;
        let Some(stream) = self.stream.as_mut() else {
            return;
        };
        if stream.live.is_none() && !stream.input_only {
            return;
        }
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
                stream
                    .watch_state
                    .reset_asked
                    .store(true, Ordering::Release);
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
        stream.watch_state.running.store(true, Ordering::Release);
        let mmcss = enter_pro_audio(port);
        rt_guard::reset();
        let failure = {
            let _rt = rt_guard::enter_rt();
            stream.rt_log.push(RtEvent::StreamStarted {
                sample_rate: stream.render_config.sample_rate,
                buffer_frames: stream.render_config.block_frames as u32,
            });
            let failure = match (
                capture_path.as_mut(),
                input_only.as_mut(),
                stream.capture.as_mut(),
            ) {
                (Some(path), Some(scheduler), Some(capture)) => run_input_only_loop(
                    port,
                    capture,
                    path,
                    scheduler,
                    stream.handler.as_mut(),
                    &stream.counters,
                    &self.wake,
                ),
                (path, _, capture) => match stream.live.as_mut() {
                    Some(live) => run_render_loop(RenderLoop {
                        port,
                        live,
                        device_buffer_frames: stream.render_config.device_buffer_frames,
                        sample_rate: stream.render_config.sample_rate,
                        poll_period_frames: (!stream.stream_mode.is_event_driven())
                            .then_some(stream.info.period_frames),
                        renderer: &mut renderer,
                        handler: stream.handler.as_mut(),
                        rt_log: &mut stream.rt_log,
                        counters: &stream.counters,
                        deadlines: &mut deadlines,
                        capture: capture.zip(path),
                        wake: &self.wake,
                    }),
                    None => None,
                },
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
        leave_pro_audio(port, mmcss);
        stream.watch_state.running.store(false, Ordering::Release);
        let failure = failure.map(RtFailure::into_error);
        if let Some(error) = &failure {
            stream
                .watch_state
                .reset_asked
                .store(true, Ordering::Release);
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
            // Stopping a failed or stopped client is harmless. The real-time loop has ended
            // (stop runs on this thread, after it).
            let _ = live.client.stop();
            // Dropping `live` releases the client: the device is free for others now.
        }
        if let Some(capture) = &stream.capture {
            let _ = capture.stream.client.stop();
        }
        stream.running = false;
        stream.last_report.clone()
    }
}
