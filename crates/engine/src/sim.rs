//! A simulated output device implementing [`Backend`]: a thread that plays one period per
//! tick on a simulated clock and fills the free space through the real render pipeline,
//! exactly as the WASAPI device thread does. The driver core is tested against it natively.

use crate::backend::{
    check_mode_available, select_endpoint, Backend, BackendError, DeviceSelector, EndpointInfo,
    OutputRequest, ResetRequester, StreamCounters, StreamHandler, StreamInfo, StreamReport,
};
use crate::buffers::HostBuffers;
use crate::clock::ClockReading;
use crate::clock::PositionCell;
use crate::convert::host_to_device;
use crate::format::{DeviceFormat, StreamFormat};
use crate::log::{RtEvent, RtLogProducer};
use crate::render::{output_latency_frames, RenderConfig, RenderPipeline, RenderRoute};
use crate::rt_guard;
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
}

impl Default for SimDeviceSpec {
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
            endpoints: vec![("Simulated output".into(), "{sim}.output".into())],
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
    /// The ID of the endpoint the last stream was opened on.
    pub opened_endpoint: Mutex<Option<String>>,
}

struct Opened {
    rate: u32,
    config: RenderConfig,
    routes: Vec<RenderRoute>,
    buffers: Arc<HostBuffers>,
    positions: Arc<PositionCell>,
    /// With the device thread while running.
    handler: Option<(Box<dyn StreamHandler>, RtLogProducer)>,
    counters: Arc<StreamCounters>,
    device: DeviceSelector,
    request_reset: ResetRequester,
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

    fn supports_rate(&self, _endpoint_id: &str, rate: u32) -> Result<bool, BackendError> {
        Ok(self.spec.supported_rates.contains(&rate))
    }

    fn open_output(&self, request: OutputRequest) -> Result<StreamInfo, BackendError> {
        check_mode_available(request.mode)?;
        let index = self
            .spec
            .endpoints
            .iter()
            .position(|(_, id)| *id == request.endpoint_id)
            .ok_or_else(|| {
                BackendError::from_hresult("IMMDeviceEnumerator::GetDevice", 0x8007_0490_u32 as i32)
            })?;
        if !self.spec.supported_rates.contains(&request.sample_rate) {
            return Err(BackendError::from_hresult(
                "IAudioClient::Initialize",
                0x8889_0008_u32 as i32,
            ));
        }
        let format = StreamFormat {
            sample_rate: request.sample_rate,
            ..self.spec.mix_format
        };
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
        let config = RenderConfig {
            block_frames: request.block_frames,
            device_channels: format.channels as usize,
            device_bytes_per_sample: format.encoding.bytes_per_sample(),
            device_buffer_frames: self.spec.buffer_frames,
            sample_rate: request.sample_rate as f64,
            deferred_output: false,
            output_latency_frames: 0,
        };
        let info = StreamInfo {
            endpoint: self.endpoint(index),
            format,
            mode: "simulated",
            period_frames: self.spec.period_frames,
            device_buffer_frames: self.spec.buffer_frames,
            stream_latency_frames: self.spec.stream_latency_frames,
        };
        self.close()?;
        *self.opened.lock().unwrap() = Some(Opened {
            rate: request.sample_rate,
            config,
            routes,
            buffers: request.buffers,
            positions: request.positions,
            handler: Some((request.handler, request.rt_log)),
            counters: request.counters,
            device: request.device,
            request_reset: request.request_reset,
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
        let mut pipeline = RenderPipeline::new(
            config,
            opened.routes.clone(),
            opened.buffers.clone(),
            opened.positions.clone(),
        );
        let stop = Arc::new(AtomicBool::new(false));
        let (spec, control, rate) = (self.spec.clone(), self.control.clone(), opened.rate);
        let counters = opened.counters.clone();
        counters.publish(&pipeline.stats());
        let thread_stop = stop.clone();
        let thread = std::thread::spawn(move || {
            let block_frames = pipeline.config().block_frames as u32;
            let frame_bytes = pipeline.frame_bytes();
            let mut device = vec![0u8; spec.buffer_frames * frame_bytes];
            pipeline.prefill_silence(&mut device);
            let mut queued = spec.buffer_frames;
            let mut position = 0u64;
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
                let played = if control.drain_next_tick.swap(false, Ordering::AcqRel) {
                    queued
                } else {
                    spec.period_frames.min(queued)
                };
                queued -= played;
                position += played as u64;
                let clock = ClockReading {
                    position_frames: position as f64,
                    qpc_ns: 1_000_000_000 + position * 1_000_000_000 / rate as u64,
                };
                let free = spec.buffer_frames - queued;
                {
                    let _rt = rt_guard::enter_rt();
                    let underruns = pipeline.stats().underruns;
                    pipeline.render(
                        &mut device[..free * frame_bytes],
                        queued,
                        &clock,
                        handler.as_mut(),
                    );
                    let stats = pipeline.stats();
                    if stats.underruns > underruns {
                        rt_log.push(RtEvent::OutputUnderrun {
                            frames: free as u32,
                        });
                    }
                    counters.publish(&stats);
                }
                if control.record.load(Ordering::Relaxed) {
                    control
                        .played
                        .lock()
                        .unwrap()
                        .extend_from_slice(&device[..free * frame_bytes]);
                }
                queued = spec.buffer_frames;
                control.ticks.fetch_add(1, Ordering::Relaxed);
            }
            {
                let _rt = rt_guard::enter_rt();
                rt_log.push(RtEvent::StreamStopped {
                    sample_position: pipeline.stats().switches * block_frames as u64,
                });
            }
            let report = StreamReport {
                stats: pipeline.stats(),
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
        running.stop.store(true, Ordering::Release);
        let (handler, report) = running
            .thread
            .join()
            .map_err(|_| BackendError::new("stop", "device thread panicked"))?;
        if let Some(opened) = self.opened.lock().unwrap().as_mut() {
            // The handler comes back for the next start.
            opened.handler = Some(handler);
        }
        Ok(report)
    }

    fn close(&self) -> Result<(), BackendError> {
        self.stop()?;
        *self.opened.lock().unwrap() = None;
        Ok(())
    }
}
