//! A simulated device implementing [`Backend`]: a thread that plays one period per
//! tick on a simulated clock and fills the free space through the real render pipeline,
//! exactly as the WASAPI device thread does. It can also capture ([`SimInputSpec`]): on the
//! render clock or on its own clock (a ppm offset, bursty delivery), a ramp or a loopback of
//! what was played. The driver core is tested against it natively.
//!
//! It also simulates what a device allows: which modes it refuses (with which HRESULT),
//! which exclusive formats it accepts, and the period alignment it wants. The mode chain and
//! format negotiation run exactly as in the WASAPI backend ([`crate::modes`]); the
//! exclusive event-driven mode runs the [`PeriodRenderer`] (one switch per period, no ring).

use crate::backend::{
    select_endpoint, Backend, BackendError, CaptureRequest, DeviceSelector, EndpointInfo,
    InputStreamInfo, OutputPlan, OutputRequest, ResetRequester, StreamCounters, StreamHandler,
    StreamInfo, StreamReport,
};
use crate::buffers::HostBuffers;
use crate::capture::{CaptureConfig, CapturePath, CaptureRoute, ClockRelation};
use crate::capture_clock::StampMeaning;
use crate::clock::ClockReading;
use crate::clock::PositionCell;
use crate::config::Mode;
use crate::convert::{host_to_device, HostSampleType};
use crate::drift::ResamplerQuality;
use crate::duplex::{DeviceRenderer, InputOnlyScheduler};
use crate::format::{DeviceFormat, StreamFormat};
use crate::log::{RtEvent, RtLogProducer};
use crate::modes::{
    alignment_frames, chain_error, exclusive_format_candidates, negotiate_format, select_mode,
    ModeReport, StreamMode, AUDCLNT_E_BUFFER_SIZE_NOT_ALIGNED, AUDCLNT_E_UNSUPPORTED_FORMAT,
};
use crate::render::{output_latency_frames, routes_for, RenderConfig, RenderRoute};
use crate::rt_guard;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How the simulated device behaves.
#[derive(Clone, Debug)]
pub struct SimDeviceSpec {
    pub mix_format: StreamFormat,
    pub period_frames: usize,
    pub buffer_frames: usize,
    pub stream_latency_frames: usize,
    pub supported_rates: Vec<u32>,
    /// Real time per simulated period (the simulation runs faster than real time).
    pub tick: Duration,
    /// The active endpoints (friendly name, ID); the first is the Windows default. All
    /// share the format above.
    pub endpoints: Vec<(String, String)>,
    /// Modes the device refuses, with the HRESULT it answers (the rest open).
    pub refused_modes: Vec<(StreamMode, i32)>,
    /// Formats accepted in exclusive mode (at every supported rate).
    pub exclusive_formats: Vec<DeviceFormat>,
    /// Device buffer in exclusive polling mode, in periods (winealsa: 8).
    pub exclusive_poll_periods: usize,
    /// A capture endpoint, if the device has one.
    pub input: Option<SimInputSpec>,
}

impl SimDeviceSpec {
    /// A device that allows every mode and every exclusive format.
    pub fn exclusive_capable() -> Self {
        Self {
            refused_modes: Vec::new(),
            ..Self::default()
        }
    }

    /// A device that behaves as Wine's ALSA driver does: exclusive event-driven refused,
    /// exclusive polling with float32, int16, packed int24 and int32 (not 24-in-32), an
    /// 8-period buffer, no IAudioClient3.
    pub fn wine_alsa() -> Self {
        Self {
            refused_modes: vec![
                (
                    StreamMode::ExclusiveEvent,
                    crate::modes::AUDCLNT_E_DEVICE_IN_USE,
                ),
                (StreamMode::SharedLowLatency, crate::modes::E_NOTIMPL),
            ],
            exclusive_formats: vec![
                DeviceFormat::Float32,
                DeviceFormat::Int16,
                DeviceFormat::Int24Packed,
                DeviceFormat::Int32,
            ],
            ..Self::default()
        }
    }
}

/// What the simulated capture device records.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SimSignal {
    /// Capture frame `c`, channel `ch` is `ramp_value(c, ch)`.
    Ramp,
    /// What the output played `delay_frames` earlier (shared clock only), as a loopback
    /// cable or a sink's monitor does.
    Loopback { delay_frames: usize },
}

/// The exact sample a [`SimSignal::Ramp`] capture holds (f32, exact in every format path).
pub fn ramp_value(frame: u64, channel: usize) -> f32 {
    (frame % (1 << 20)) as f32 + channel as f32 * 0.5
}

/// The simulated capture endpoint.
#[derive(Clone, Debug)]
pub struct SimInputSpec {
    pub mix_format: StreamFormat,
    pub period_frames: usize,
    pub buffer_frames: usize,
    /// Runs on the render clock (true) or on its own, `ppm` faster.
    pub shared_clock: bool,
    /// Report the clock relation as unknown ([`ClockRelation::Detect`]), as a backend does
    /// that cannot tell, instead of what `shared_clock` says.
    pub detect_clock: bool,
    pub ppm: f64,
    /// Every `burst_every`-th packet arrives together with the next (a late wake-up);
    /// 0: never.
    pub burst_every: u64,
    pub signal: SimSignal,
    /// What the packets' QPC stamps mark: the first frame's capture (Windows) or the moment
    /// the packet is delivered (Wine).
    pub stamps: StampMeaning,
    /// The rates the capture endpoint accepts; `None`: the same as the output's.
    pub supported_rates: Option<Vec<u32>>,
}

impl Default for SimInputSpec {
    fn default() -> Self {
        Self {
            mix_format: StreamFormat {
                sample_rate: 48_000,
                channels: 2,
                channel_mask: 0x3,
                encoding: DeviceFormat::Float32,
            },
            period_frames: 480,
            buffer_frames: 1440,
            shared_clock: true,
            detect_clock: false,
            ppm: 0.0,
            burst_every: 7,
            signal: SimSignal::Ramp,
            stamps: StampMeaning::FirstFrame,
            supported_rates: None,
        }
    }
}

impl Default for SimDeviceSpec {
    /// A device like Wine's PulseAudio driver: shared event mode only.
    fn default() -> Self {
        Self {
            mix_format: StreamFormat {
                sample_rate: 48_000,
                channels: 2,
                channel_mask: 0x3,
                encoding: DeviceFormat::Float32,
            },
            period_frames: 480,
            buffer_frames: 1440,
            stream_latency_frames: 0,
            supported_rates: vec![44_100, 48_000, 96_000],
            tick: Duration::from_millis(1),
            input: None,
            endpoints: vec![("Simulated output".into(), "{sim}.output".into())],
            // As Wine's PulseAudio driver: shared mode only.
            refused_modes: vec![
                (
                    StreamMode::ExclusiveEvent,
                    crate::modes::AUDCLNT_E_EXCLUSIVE_MODE_NOT_ALLOWED,
                ),
                (
                    StreamMode::ExclusivePoll,
                    crate::modes::AUDCLNT_E_EXCLUSIVE_MODE_NOT_ALLOWED,
                ),
                (StreamMode::SharedLowLatency, crate::modes::E_NOTIMPL),
            ],
            exclusive_formats: DeviceFormat::ALL.to_vec(),
            exclusive_poll_periods: 8,
        }
    }
}

/// Shared knobs and observations of a [`SimulatedBackend`].
#[derive(Default)]
pub struct SimControl {
    /// Make the next tick fail as a vanished device does.
    pub fail_next_tick: AtomicBool,
    /// Make the device play out everything queued at the next tick (an underrun: the
    /// driver's next write finds the device empty).
    pub drain_next_tick: AtomicBool,
    /// Everything the device played, interleaved device bytes (kept when `record` is set).
    pub played: Mutex<Vec<u8>>,
    pub record: AtomicBool,
    pub ticks: AtomicU64,
    /// Capture packets delivered.
    pub capture_packets: AtomicU64,
    /// The ID of the endpoint the last stream was opened on.
    pub opened_endpoint: Mutex<Option<String>>,
    /// Whether a stream holds the endpoint now (opened and not released by stop/close).
    pub endpoint_held: AtomicBool,
    /// How many times the endpoint was opened for streaming.
    pub endpoint_opens: AtomicU64,
}

/// A negotiated simulated stream.
struct Negotiated {
    mode: StreamMode,
    format: StreamFormat,
    period_frames: usize,
    buffer_frames: usize,
    report: ModeReport,
}

struct Opened {
    rate: u32,
    mode: StreamMode,
    config: RenderConfig,
    routes: Vec<RenderRoute>,
    buffers: Arc<HostBuffers>,
    positions: Arc<PositionCell>,
    /// With the device thread while running.
    handler: Option<(Box<dyn StreamHandler>, RtLogProducer)>,
    counters: Arc<StreamCounters>,
    device: DeviceSelector,
    request_reset: ResetRequester,
    capture: Option<(CaptureConfig, Vec<CaptureRoute>, CaptureRequest)>,
}

type ThreadResult = ((Box<dyn StreamHandler>, RtLogProducer), StreamReport);

struct Running {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<ThreadResult>,
}

pub struct SimulatedBackend {
    spec: SimDeviceSpec,
    pub control: Arc<SimControl>,
    opened: Mutex<Option<Opened>>,
    running: Mutex<Option<Running>>,
}

impl SimulatedBackend {
    pub fn new(spec: SimDeviceSpec) -> Self {
        Self {
            spec,
            control: Arc::new(SimControl::default()),
            opened: Mutex::new(None),
            running: Mutex::new(None),
        }
    }

    /// Simulates the user changing the Windows default output device: a stream opened with
    /// `follow-default` asks the host for a reset, as the WASAPI backend's notification
    /// client does. Returns whether a reset was requested.
    pub fn change_default_endpoint(&self) -> bool {
        let opened = self.opened.lock().unwrap();
        match opened.as_ref() {
            Some(o) if o.device == DeviceSelector::FollowDefault => {
                (o.request_reset)("the Windows default output device changed");
                true
            }
            _ => false,
        }
    }

    fn endpoint(&self, index: usize) -> EndpointInfo {
        let (name, id) = self.spec.endpoints[index].clone();
        EndpointInfo {
            id,
            name,
            mix_format: self.spec.mix_format,
            default_period_frames: self.spec.period_frames,
            min_period_frames: self.spec.period_frames / 2,
            shared_buffer_frames: self.spec.buffer_frames,
            shared_stream_latency_frames: self.spec.stream_latency_frames,
        }
    }

    fn input_endpoint(&self) -> Option<EndpointInfo> {
        let input = self.spec.input.as_ref()?;
        Some(EndpointInfo {
            id: "{sim}.input".into(),
            name: "Simulated input".into(),
            mix_format: input.mix_format,
            default_period_frames: input.period_frames,
            min_period_frames: input.period_frames / 2,
            shared_buffer_frames: input.buffer_frames,
            shared_stream_latency_frames: 0,
        })
    }
}

impl SimulatedBackend {
    /// The mode chain against the simulated device. `block`: the ASIO buffer, which must be
    /// an aligned period in exclusive event mode (None when probing).
    fn negotiate(
        &self,
        requested: Mode,
        rate: u32,
        block: Option<usize>,
        preferred: Option<DeviceFormat>,
    ) -> Result<Negotiated, BackendError> {
        let spec = &self.spec;
        let mix = spec.mix_format;
        let scaled = |frames: usize| frames * rate as usize / mix.sample_rate as usize;
        let chosen = select_mode(requested, |mode| {
            if let Some(&(_, hr)) = spec.refused_modes.iter().find(|(m, _)| *m == mode) {
                return Err(BackendError::from_hresult("IAudioClient::Initialize", hr));
            }
            if !spec.supported_rates.contains(&rate) {
                return Err(BackendError::from_hresult(
                    "IAudioClient::Initialize",
                    AUDCLNT_E_UNSUPPORTED_FORMAT,
                ));
            }
            if !mode.is_exclusive() {
                let format = StreamFormat {
                    sample_rate: rate,
                    ..mix
                };
                let period = if mode == StreamMode::SharedLowLatency {
                    spec.period_frames / 2
                } else {
                    spec.period_frames
                };
                return Ok((format, scaled(period), scaled(spec.buffer_frames)));
            }
            let candidates =
                exclusive_format_candidates(mix.channels, mix.channel_mask, rate, preferred);
            let (format, _, ()) = negotiate_format(&candidates, |f, _| {
                if spec.exclusive_formats.contains(&f.encoding) {
                    Ok(())
                } else {
                    Err(BackendError::from_hresult(
                        "IAudioClient::Initialize",
                        AUDCLNT_E_UNSUPPORTED_FORMAT,
                    ))
                }
            })?;
            if mode == StreamMode::ExclusivePoll {
                let period = scaled(spec.period_frames);
                return Ok((format, period, period * spec.exclusive_poll_periods));
            }
            let step = alignment_frames(format.frame_bytes()) as usize;
            // A probe asks for the default period, retried aligned as WASAPI makes us.
            let period = block
                .unwrap_or(
                    crate::modes::align_up(scaled(spec.period_frames) as u32, step as u32) as usize,
                );
            if !period.is_multiple_of(step) {
                // What WASAPI does: refuse, then report the aligned size to retry with.
                let aligned = period.div_ceil(step) * step;
                let mut e = BackendError::from_hresult(
                    "IAudioClient::Initialize (exclusive, event)",
                    AUDCLNT_E_BUFFER_SIZE_NOT_ALIGNED,
                );
                e.detail =
                    format!("{period} frames is not an aligned period; the nearest is {aligned}");
                return Err(e);
            }
            Ok((format, period, period))
        });
        match chosen {
            Ok((mode, (format, period_frames, buffer_frames), report)) => Ok(Negotiated {
                mode,
                format,
                period_frames,
                buffer_frames,
                report,
            }),
            Err(report) => Err(chain_error(&report)),
        }
    }
}

impl Backend for SimulatedBackend {
    fn describe_output(&self, device: &DeviceSelector) -> Result<EndpointInfo, BackendError> {
        if self.spec.endpoints.is_empty() {
            return Err(BackendError::from_hresult(
                "IMMDeviceEnumerator::GetDefaultAudioEndpoint",
                0x8007_0490_u32 as i32,
            ));
        }
        let index = if device.is_default() {
            0
        } else {
            select_endpoint(device, &self.spec.endpoints)?
        };
        Ok(self.endpoint(index))
    }

    fn describe_input(
        &self,
        _device: &DeviceSelector,
    ) -> Result<Option<EndpointInfo>, BackendError> {
        Ok(self.input_endpoint())
    }

    fn supports_rate(&self, endpoint_id: &str, rate: u32) -> Result<bool, BackendError> {
        let input_rates = self
            .spec
            .input
            .as_ref()
            .and_then(|i| i.supported_rates.as_ref());
        match input_rates {
            Some(rates) if self.input_endpoint().is_some_and(|i| i.id == endpoint_id) => {
                Ok(rates.contains(&rate))
            }
            _ => Ok(self.spec.supported_rates.contains(&rate)),
        }
    }

    fn probe_output(
        &self,
        _endpoint_id: &str,
        mode: Mode,
        rate: u32,
        preferred: Option<DeviceFormat>,
    ) -> Result<OutputPlan, BackendError> {
        let n = self.negotiate(mode, rate, None, preferred)?;
        Ok(OutputPlan {
            mode: n.mode,
            format: n.format,
            period_frames: n.period_frames,
            min_period_frames: n.period_frames / 2,
            device_buffer_frames: n.buffer_frames,
            stream_latency_frames: self.spec.stream_latency_frames,
            report: n.report,
        })
    }

    fn open_output(&self, request: OutputRequest) -> Result<StreamInfo, BackendError> {
        self.close()?;
        let index = self
            .spec
            .endpoints
            .iter()
            .position(|(_, id)| *id == request.endpoint_id)
            .ok_or_else(|| {
                BackendError::from_hresult("IMMDeviceEnumerator::GetDevice", 0x8007_0490_u32 as i32)
            })?;
        let negotiated = self.negotiate(
            request.mode,
            request.sample_rate,
            Some(request.block_frames),
            request.preferred_format,
        )?;
        let format = negotiated.format;
        let routes = routes_for(&request.routes, request.host_sample_type, &format);
        let config = RenderConfig::for_device(
            request.block_frames,
            &format,
            request.sample_rate,
            negotiated.buffer_frames,
            0,
        );
        let has_output = !request.routes.is_empty();
        let mut capture = None;
        let mut input_info = None;
        if let (Some(req), Some(spec), Some(endpoint)) = (
            request.capture,
            self.spec.input.as_ref(),
            self.input_endpoint(),
        ) {
            let capture_format = StreamFormat {
                sample_rate: request.sample_rate,
                ..spec.mix_format
            };
            let relation = if !has_output || (spec.shared_clock && !spec.detect_clock) {
                ClockRelation::Shared
            } else if spec.detect_clock {
                ClockRelation::Detect
            } else {
                ClockRelation::Independent
            };
            let config = CaptureConfig {
                block_frames: request.block_frames,
                sample_rate: request.sample_rate as f64,
                device_channels: capture_format.channels as usize,
                device_format: capture_format.encoding,
                host_sample_type: request.host_sample_type,
                packet_frames: spec.period_frames,
                max_packet_frames: spec.buffer_frames,
                render_burst_frames: if has_output {
                    self.spec.period_frames.max(request.block_frames)
                } else {
                    0
                },
                relation,
                quality: ResamplerQuality::Standard,
                stamps: spec.stamps,
            };
            let routes = req
                .routes
                .iter()
                .map(|&(host_buffer, device_channel)| CaptureRoute {
                    host_buffer,
                    device_channel,
                })
                .collect();
            input_info = Some(InputStreamInfo {
                endpoint,
                format: capture_format,
                period_frames: spec.period_frames,
                device_buffer_frames: spec.buffer_frames,
                relation,
                stamps: config.stamps,
                predicted_latency_frames: config.predicted_latency_frames(),
            });
            capture = Some((config, routes, req));
        }
        let info = StreamInfo {
            endpoint: self.endpoint(index),
            format,
            mode: negotiated.mode.label(),
            mode_report: negotiated.report,
            period_frames: negotiated.period_frames,
            device_buffer_frames: negotiated.buffer_frames,
            stream_latency_frames: self.spec.stream_latency_frames,
            input: input_info,
            has_output,
        };
        *self.opened.lock().unwrap() = Some(Opened {
            rate: request.sample_rate,
            mode: negotiated.mode,
            config,
            routes,
            buffers: request.buffers,
            positions: request.positions,
            handler: Some((request.handler, request.rt_log)),
            counters: request.counters,
            device: request.device,
            request_reset: request.request_reset,
            capture,
        });
        *self.control.opened_endpoint.lock().unwrap() = Some(request.endpoint_id);
        Ok(info)
    }

    fn start(&self, deferred_output: bool) -> Result<(), BackendError> {
        let mut opened = self.opened.lock().unwrap();
        let opened = opened
            .as_mut()
            .ok_or_else(|| BackendError::new("start", "no stream is open"))?;
        let (mut handler, mut rt_log) = opened
            .handler
            .take()
            .ok_or_else(|| BackendError::new("start", "already running"))?;
        let mut config = opened.config;
        config.deferred_output = deferred_output;
        config.output_latency_frames = output_latency_frames(
            config.device_buffer_frames,
            self.spec.stream_latency_frames,
            config.block_frames,
            deferred_output,
        );
        opened.buffers.clear();
        opened.positions.clear();
        let mut pipeline = DeviceRenderer::new(
            opened.mode.block_is_period(),
            config,
            opened.routes.clone(),
            opened.buffers.clone(),
            opened.positions.clone(),
        );
        // Stopping released the endpoint: starting takes it again.
        self.control.endpoint_held.store(true, Ordering::Release);
        self.control.endpoint_opens.fetch_add(1, Ordering::AcqRel);
        let mut capture = match &opened.capture {
            Some((config, routes, request)) => {
                request.buffers.clear();
                Some(
                    CapturePath::new(
                        config.clone(),
                        routes.clone(),
                        request.buffers.clone(),
                        request.monitor.clone(),
                    )
                    .map_err(|e| BackendError::new("building the input path", e.to_string()))?,
                )
            }
            None => None,
        };
        let has_output = !opened.routes.is_empty() || capture.is_none();
        let mut input_only = capture
            .as_ref()
            .filter(|_| !has_output)
            .map(|c| InputOnlyScheduler::new(c, opened.positions.clone()));
        let stop = Arc::new(AtomicBool::new(false));
        let (spec, control, rate) = (self.spec.clone(), self.control.clone(), opened.rate);
        let input = spec.input.clone().unwrap_or_default();
        let counters = opened.counters.clone();
        counters.publish(&pipeline.stats());
        let thread_stop = stop.clone();
        let (buffer_frames, period_frames) = (
            config.device_buffer_frames,
            if opened.mode.block_is_period() {
                config.block_frames
            } else {
                spec.period_frames * rate as usize / spec.mix_format.sample_rate as usize
            },
        );
        let thread = std::thread::spawn(move || {
            let block_frames = config.block_frames as u32;
            let frame_bytes = pipeline.frame_bytes();
            let mut device = vec![0u8; buffer_frames * frame_bytes];
            pipeline.prefill_silence(&mut device);
            let mut queued = buffer_frames;
            let mut position = 0u64;
            // Loopback: what is queued in the device, and what it played (from `history_start`).
            let loopback_delay = match input.signal {
                SimSignal::Loopback { delay_frames } => Some(delay_frames as u64),
                SimSignal::Ramp => None,
            };
            let mut device_queue: VecDeque<u8> = VecDeque::new();
            device_queue.resize(spec.buffer_frames * frame_bytes, 0);
            let mut history: VecDeque<u8> = VecDeque::new();
            let mut history_start = 0u64;
            let capture_frame_bytes =
                input.mix_format.channels as usize * input.mix_format.encoding.bytes_per_sample();
            let mut packet = vec![0u8; input.period_frames * capture_frame_bytes];
            let to_device = host_to_device(HostSampleType::Float32Lsb, input.mix_format.encoding);
            let ppm = if input.shared_clock { 0.0 } else { input.ppm };
            let render_period_ns = spec.period_frames as f64 * 1e9 / rate as f64;
            let capture_period_ns =
                input.period_frames as f64 * 1e9 / (rate as f64 * (1.0 + ppm * 1e-6));
            let mut next_render_ns = render_period_ns;
            let mut next_capture_ns = capture_period_ns;
            let (mut packets_due, mut packets_done) = (0u64, 0u64);
            rt_guard::reset();
            {
                let _rt = rt_guard::enter_rt();
                rt_log.push(RtEvent::StreamStarted {
                    sample_rate: rate as f64,
                    buffer_frames: block_frames,
                });
            }
            let mut failure = None;
            while !thread_stop.load(Ordering::Acquire) {
                let render_now =
                    has_output && (capture.is_none() || next_render_ns <= next_capture_ns);
                if render_now || input_only.is_some() {
                    std::thread::sleep(spec.tick);
                    if control.fail_next_tick.swap(false, Ordering::AcqRel) {
                        const DEVICE_INVALIDATED: i32 = 0x8889_0004_u32 as i32;
                        rt_log.push(RtEvent::DeviceError {
                            call: "IAudioClient::GetCurrentPadding",
                            hresult: DEVICE_INVALIDATED,
                        });
                        failure = Some(BackendError::from_hresult(
                            "IAudioClient::GetCurrentPadding",
                            DEVICE_INVALIDATED,
                        ));
                        break;
                    }
                }
                if !render_now {
                    // A capture event: packets are delivered, some of them late in pairs.
                    next_capture_ns += capture_period_ns;
                    packets_due += 1;
                    if input.burst_every > 0 && packets_due % input.burst_every == 0 {
                        continue;
                    }
                    let Some(path) = capture.as_mut() else {
                        continue;
                    };
                    while packets_done < packets_due {
                        let first = packets_done * input.period_frames as u64;
                        for i in 0..input.period_frames {
                            let c = first + i as u64;
                            for ch in 0..input.mix_format.channels as usize {
                                let value = match loopback_delay {
                                    None => ramp_value(c, ch),
                                    Some(delay) => c
                                        .checked_sub(delay)
                                        .filter(|p| *p >= history_start && *p < position)
                                        .and_then(|p| {
                                            let at =
                                                (p - history_start) as usize * frame_bytes + ch * 4;
                                            (ch * 4 < frame_bytes).then(|| {
                                                f32::from_le_bytes([
                                                    history[at],
                                                    history[at + 1],
                                                    history[at + 2],
                                                    history[at + 3],
                                                ])
                                            })
                                        })
                                        .unwrap_or(0.0),
                                };
                                let bps = input.mix_format.encoding.bytes_per_sample();
                                to_device(
                                    &value.to_le_bytes(),
                                    &mut packet[i * capture_frame_bytes + ch * bps..],
                                    capture_frame_bytes,
                                    1,
                                );
                            }
                        }
                        let qpc_ns = 1_000_000_000
                            + match input.stamps {
                                StampMeaning::FirstFrame => {
                                    (packets_done as f64 * capture_period_ns).round() as u64
                                }
                                // Delivered now, with the packets of a late wake-up.
                                StampMeaning::ReadTime => {
                                    (packets_due as f64 * capture_period_ns).round() as u64
                                }
                            };
                        {
                            let _rt = rt_guard::enter_rt();
                            path.push_packet(
                                Some(&packet),
                                input.period_frames,
                                first,
                                qpc_ns,
                                false,
                            );
                        }
                        packets_done += 1;
                        control.capture_packets.fetch_add(1, Ordering::Relaxed);
                    }
                    if let Some(scheduler) = input_only.as_mut() {
                        let _rt = rt_guard::enter_rt();
                        scheduler.run_ready(path, handler.as_mut());
                    }
                    if input_only.is_some() {
                        control.ticks.fetch_add(1, Ordering::Relaxed);
                    }
                    continue;
                }
                next_render_ns += render_period_ns;
                let played = if control.drain_next_tick.swap(false, Ordering::AcqRel) {
                    queued
                } else {
                    period_frames.min(queued)
                };
                queued -= played;
                position += played as u64;
                if loopback_delay.is_some() {
                    history.extend(device_queue.drain(..played * frame_bytes));
                    let keep = (input.buffer_frames * 4 + spec.buffer_frames) as u64
                        + loopback_delay.unwrap_or(0);
                    let excess = (position - history_start).saturating_sub(keep);
                    history.drain(..excess as usize * frame_bytes);
                    history_start += excess;
                }
                let clock = ClockReading {
                    position_frames: position as f64,
                    qpc_ns: 1_000_000_000 + position * 1_000_000_000 / rate as u64,
                };
                let free = buffer_frames - queued;
                {
                    let _rt = rt_guard::enter_rt();
                    let underruns = pipeline.stats().underruns;
                    let dst = &mut device[..free * frame_bytes];
                    pipeline.render(dst, queued, &clock, capture.as_mut(), handler.as_mut());
                    let stats = pipeline.stats();
                    if stats.underruns > underruns {
                        rt_log.push(RtEvent::OutputUnderrun {
                            frames: free as u32,
                        });
                    }
                    counters.publish(&stats);
                }
                if loopback_delay.is_some() {
                    device_queue.extend(&device[..free * frame_bytes]);
                }
                if control.record.load(Ordering::Relaxed) {
                    control
                        .played
                        .lock()
                        .unwrap()
                        .extend_from_slice(&device[..free * frame_bytes]);
                }
                queued = buffer_frames;
                control.ticks.fetch_add(1, Ordering::Relaxed);
            }
            {
                let _rt = rt_guard::enter_rt();
                rt_log.push(RtEvent::StreamStopped {
                    sample_position: pipeline.stats().switches * block_frames as u64,
                });
            }
            let stats = match &input_only {
                Some(scheduler) => scheduler.stats(),
                None => pipeline.stats(),
            };
            let report = StreamReport {
                stats,
                rt_allocations: rt_guard::rt_allocations(),
                failure: failure.clone(),
            };
            if let Some(e) = &failure {
                handler.stream_failed(e);
            }
            ((handler, rt_log), report)
        });
        *self.running.lock().unwrap() = Some(Running { stop, thread });
        Ok(())
    }

    fn stop(&self) -> Result<StreamReport, BackendError> {
        let Some(running) = self.running.lock().unwrap().take() else {
            return Ok(StreamReport::default());
        };
        // Released as soon as the device thread has ended, before stop returns.
        let released = EndpointRelease(&self.control);
        running.stop.store(true, Ordering::Release);
        let (handler, report) = running
            .thread
            .join()
            .map_err(|_| BackendError::new("stop", "device thread panicked"))?;
        if let Some(opened) = self.opened.lock().unwrap().as_mut() {
            // The handler comes back for the next start.
            opened.handler = Some(handler);
        }
        drop(released);
        Ok(report)
    }

    fn close(&self) -> Result<(), BackendError> {
        self.stop()?;
        *self.opened.lock().unwrap() = None;
        Ok(())
    }
}

/// Marks the endpoint released when dropped (also if joining the device thread failed).
struct EndpointRelease<'a>(&'a SimControl);

impl Drop for EndpointRelease<'_> {
    fn drop(&mut self) {
        self.0.endpoint_held.store(false, Ordering::Release);
    }
}
