//! The capture side of a stream: a shared-mode, event-driven capture client whose packets
//! go into the engine's [`CapturePath`], and how its clock relates to the render device's.

use super::ctx::Ctx;
use super::endpoints::{activate_client, clock_relation, describe, select_capture_endpoint};
use crate::backend::{BackendError, CaptureRequest, EndpointInfo};
use crate::buffers::HostBuffers;
use crate::capture::{CaptureConfig, CapturePath, CaptureRoute, ClockRelation, InputMonitor};
use crate::capture_clock::StampMeaning;
use crate::convert::HostSampleType;
use crate::drift::ResamplerQuality;
use crate::format::StreamFormat;
use crate::port::{
    buffer_flags, stream_flags, AudioClient, AudioPort, CaptureClient, Hr, ShareMode,
};
use std::sync::Arc;

/// An opened (initialized, not started) capture stream.
pub(crate) struct CaptureStream<P: AudioPort> {
    pub client: P::Client,
    pub capture_client: P::Capture,
    pub endpoint: EndpointInfo,
    pub format: StreamFormat,
    pub period_frames: usize,
    pub buffer_frames: usize,
}

impl<P: AudioPort> CaptureStream<P> {
    /// Opens `device` for shared, event-driven capture at `rate` (the engine converts the
    /// rate if it differs from the mix format's), signalling `event`.
    pub fn open(device: &P::Device, rate: u32, event: &P::Handle) -> Result<Self, BackendError> {
        let (endpoint, _) = describe(device)?;
        let client = activate_client(device)?;
        let format = StreamFormat {
            sample_rate: rate,
            ..endpoint.mix_format
        };
        let flags = stream_flags::EVENTCALLBACK
            | super::modes_exec::shared_flags(rate, endpoint.mix_format.sample_rate);
        client
            .initialize(ShareMode::Shared, flags, 0, 0, &format.to_extensible())
            .ctx("IAudioClient::Initialize (capture, shared, event)")?;
        client
            .set_event_handle(event)
            .ctx("IAudioClient::SetEventHandle (capture)")?;
        let buffer_frames = client
            .buffer_size()
            .ctx("IAudioClient::GetBufferSize (capture)")? as usize;
        let capture_client = client
            .capture_client()
            .ctx("IAudioClient::GetService(IAudioCaptureClient)")?;
        let period_frames = (endpoint.default_period_frames as u64 * rate as u64
            / endpoint.mix_format.sample_rate.max(1) as u64)
            .max(1) as usize;
        Ok(Self {
            client,
            capture_client,
            endpoint,
            format,
            period_frames,
            buffer_frames,
        })
    }

    /// Moves every packet the device holds into `path`. Real-time safe: port calls on the
    /// running client and the engine's allocation-free push.
    pub fn drain(&mut self, path: &mut CapturePath) -> Result<(), (&'static str, Hr)> {
        loop {
            let next = self
                .capture_client
                .next_packet_size()
                .map_err(|e| ("IAudioCaptureClient::GetNextPacketSize", e))?;
            if next == 0 {
                return Ok(());
            }
            let packet = self
                .capture_client
                .get_buffer()
                .map_err(|e| ("IAudioCaptureClient::GetBuffer", e))?;
            let frames = packet.frames;
            if frames == 0 {
                return Ok(());
            }
            let silent = packet.flags & buffer_flags::SILENT != 0 || packet.data.is_empty();
            path.push_packet(
                (!silent).then_some(packet.data),
                frames as usize,
                packet.device_position,
                packet.qpc_100ns.saturating_mul(100),
                packet.flags & buffer_flags::DATA_DISCONTINUITY != 0,
            );
            self.capture_client
                .release_buffer(frames)
                .map_err(|e| ("IAudioCaptureClient::ReleaseBuffer", e))?;
        }
    }
}

/// The input side of an open stream. The stream is dropped before its event.
pub(crate) struct OpenCapture<P: AudioPort> {
    pub stream: CaptureStream<P>,
    pub config: CaptureConfig,
    pub routes: Vec<CaptureRoute>,
    pub buffers: Arc<HostBuffers>,
    pub monitor: Arc<InputMonitor>,
    pub event: P::Handle,
}

/// What capture packets' QPC stamps mark. Windows' audio engine stamps the capture of a
/// packet's first frame; Wine stamps a packet when it reads it from the sound server, after
/// its last frame was captured.
pub(crate) fn capture_stamp_meaning<P: AudioPort>(port: &P) -> StampMeaning {
    if port.is_wine() {
        StampMeaning::ReadTime
    } else {
        StampMeaning::FirstFrame
    }
}

/// What [`open_capture`] needs to know about the render side.
pub(crate) struct RenderSide<'a, P: AudioPort> {
    pub device: &'a P::Device,
    pub name: &'a str,
    pub sample_rate: u32,
    pub block_frames: usize,
    pub host_sample_type: HostSampleType,
    pub period_frames: usize,
    /// No output channels: the capture clock drives the switches.
    pub input_only: bool,
}

/// Opens the capture side of a stream on the endpoint the request selects, and decides how
/// its clock relates to the render device's (`forced`: an engine option overrides that).
pub(crate) fn open_capture<P: AudioPort>(
    port: &P,
    request: CaptureRequest,
    render: RenderSide<'_, P>,
    forced: Option<ClockRelation>,
) -> Result<OpenCapture<P>, BackendError> {
    let device = select_capture_endpoint(port, &request.device)?;
    let event = port.create_event().ctx("CreateEventW")?;
    let stream = CaptureStream::<P>::open(&device, render.sample_rate, &event)?;
    let relation = if render.input_only {
        ClockRelation::Shared
    } else if let Some(relation) = forced {
        relation
    } else {
        clock_relation(render.device, render.name, &device, &stream.endpoint.name)
    };
    let block_frames = render.block_frames;
    let config = CaptureConfig {
        block_frames,
        sample_rate: render.sample_rate as f64,
        device_channels: stream.format.channels as usize,
        device_format: stream.format.encoding,
        host_sample_type: render.host_sample_type,
        packet_frames: stream.period_frames,
        max_packet_frames: stream.buffer_frames,
        render_burst_frames: if render.input_only {
            0
        } else {
            render.period_frames.max(block_frames)
        },
        relation,
        quality: ResamplerQuality::Standard,
        stamps: capture_stamp_meaning(port),
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
