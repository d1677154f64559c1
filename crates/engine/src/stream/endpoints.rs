//! Endpoints: finding them, naming them, reading their formats, and whether a capture
//! endpoint shares the render endpoint's clock.

use super::ctx::Ctx;
use crate::backend::{
    describe_selector, select_endpoint, BackendError, DeviceSelector, EndpointInfo,
};
use crate::capture::ClockRelation;
use crate::format::{hns_to_frames, StreamFormat};
use crate::port::{
    stream_flags, AudioClient, AudioPort, Device, DeviceCollection, DeviceEnumerator, DeviceState,
    Flow, Role, ShareMode,
};

/// PulseAudio (and so Wine on Linux) names a sink's monitor source like this.
const MONITOR_PREFIX: &str = "Monitor of ";
/// The container every built-in device of a PC belongs to: no evidence of one clock.
pub const COMPUTER_CONTAINER: u128 = 0x00000000_0000_0000_ffff_ffffffffffff;

pub(crate) fn enumerator<P: AudioPort>(port: &P) -> Result<P::Enumerator, BackendError> {
    port.create_enumerator()
        .ctx("CoCreateInstance(MMDeviceEnumerator)")
}

pub(crate) fn default_endpoint<P: AudioPort>(
    port: &P,
    flow: Flow,
) -> Result<P::Device, BackendError> {
    enumerator(port)?
        .default_audio_endpoint(flow, Role::Console)
        .ctx("IMMDeviceEnumerator::GetDefaultAudioEndpoint")
}

/// The endpoint with this ID (`IMMDevice::GetId`).
pub(crate) fn endpoint_by_id<P: AudioPort>(port: &P, id: &str) -> Result<P::Device, BackendError> {
    enumerator(port)?
        .device(id)
        .ctx("IMMDeviceEnumerator::GetDevice")
}

pub(crate) fn endpoint_id<D: Device>(device: &D) -> Result<String, BackendError> {
    device.id().ctx("IMMDevice::GetId")
}

pub(crate) fn friendly_name<D: Device>(device: &D) -> String {
    device
        .friendly_name()
        .unwrap_or_else(|_| "(unnamed endpoint)".into())
}

/// Every active endpoint of `flow` with its friendly name and ID, in Windows' order.
pub(crate) fn active_endpoints<P: AudioPort>(
    port: &P,
    flow: Flow,
) -> Result<Vec<(P::Device, String, String)>, BackendError> {
    let collection = enumerator(port)?
        .enum_audio_endpoints(flow, DeviceState::ACTIVE)
        .ctx("IMMDeviceEnumerator::EnumAudioEndpoints")?;
    let count = collection.count().ctx("IMMDeviceCollection::GetCount")?;
    let mut endpoints = Vec::with_capacity(count as usize);
    for index in 0..count {
        let device = collection.item(index).ctx("IMMDeviceCollection::Item")?;
        let id = endpoint_id(&device)?;
        let name = friendly_name(&device);
        endpoints.push((device, name, id));
    }
    Ok(endpoints)
}

/// The render endpoint a selector picks: the Windows default, or the first active endpoint
/// matching a name, ID or regex (an error lists the endpoints that exist).
pub(crate) fn select_render_endpoint<P: AudioPort>(
    port: &P,
    selector: &DeviceSelector,
) -> Result<P::Device, BackendError> {
    if selector.is_default() {
        return default_endpoint(port, Flow::Render);
    }
    let mut endpoints = active_endpoints(port, Flow::Render)?;
    let listed: Vec<(String, String)> = endpoints
        .iter()
        .map(|(_, name, id)| (name.clone(), id.clone()))
        .collect();
    let index = select_endpoint(selector, &listed)?;
    Ok(endpoints.swap_remove(index).0)
}

/// The capture endpoint a selector (Wasio.toml `[input] device`) picks: the Windows default
/// capture device, or the first active one matching a name, ID or regex.
pub(crate) fn select_capture_endpoint<P: AudioPort>(
    port: &P,
    selector: &DeviceSelector,
) -> Result<P::Device, BackendError> {
    if selector.is_default() {
        return default_endpoint(port, Flow::Capture);
    }
    let mut endpoints = active_endpoints(port, Flow::Capture)?;
    match endpoints
        .iter()
        .position(|(_, name, id)| selector.matches(name, id))
    {
        Some(index) => Ok(endpoints.swap_remove(index).0),
        None => Err(BackendError::new(
            "selecting the input device",
            format!(
                "no input device matches {} (Wasio.toml input.device)",
                describe_selector(selector)
            ),
        )),
    }
}

pub(crate) fn activate_client<D: Device>(
    device: &D,
) -> Result<<D::Port as AudioPort>::Client, BackendError> {
    device
        .activate_audio_client()
        .ctx("IMMDevice::Activate(IAudioClient)")
}

/// The mix format of an activated client.
pub(crate) fn mix_format<C: AudioClient>(client: &C) -> Result<StreamFormat, BackendError> {
    let bytes = client.mix_format().ctx("IAudioClient::GetMixFormat")?;
    StreamFormat::parse(&bytes).map_err(|e| BackendError::new("IAudioClient::GetMixFormat", e.0))
}

/// The endpoint's name, formats and periods, and an activated (not initialized) client.
pub(crate) fn describe<D: Device>(
    device: &D,
) -> Result<(EndpointInfo, <D::Port as AudioPort>::Client), BackendError> {
    let client = activate_client(device)?;
    let mix_format = mix_format(&client)?;
    let (default_period, min_period) = client
        .device_period()
        .ctx("IAudioClient::GetDevicePeriod")?;
    let (shared_buffer_frames, shared_stream_latency_frames) =
        trial_shared_stream(device, &mix_format)?;
    let info = EndpointInfo {
        id: endpoint_id(device)?,
        shared_buffer_frames,
        shared_stream_latency_frames,
        name: friendly_name(device),
        mix_format,
        default_period_frames: hns_to_frames(default_period, mix_format.sample_rate),
        min_period_frames: hns_to_frames(min_period, mix_format.sample_rate),
    };
    Ok((info, client))
}

/// Opens and drops a shared event-mode client at `format`, to learn the device buffer and
/// stream latency a real stream will get.
fn trial_shared_stream<D: Device>(
    device: &D,
    format: &StreamFormat,
) -> Result<(usize, usize), BackendError> {
    let client = activate_client(device)?;
    client
        .initialize(
            ShareMode::Shared,
            stream_flags::EVENTCALLBACK,
            0,
            0,
            &format.to_extensible(),
        )
        .ctx("IAudioClient::Initialize (trial)")?;
    let buffer = client
        .buffer_size()
        .ctx("IAudioClient::GetBufferSize (trial)")? as usize;
    let latency = client
        .stream_latency()
        .ctx("IAudioClient::GetStreamLatency (trial)")?;
    Ok((buffer, hns_to_frames(latency, format.sample_rate)))
}

/// Whether the capture device runs on the render device's clock: a PulseAudio monitor of
/// that very sink, or both endpoints in one physical device (same container, other than
/// "this computer", whose built-in devices may each have their own clock). Otherwise the
/// engine finds out while running ([`ClockRelation::Detect`]).
pub(crate) fn clock_relation<D: Device>(
    render: &D,
    render_name: &str,
    capture: &D,
    capture_name: &str,
) -> ClockRelation {
    if capture_name.strip_prefix(MONITOR_PREFIX) == Some(render_name) {
        return ClockRelation::Shared;
    }
    match (
        render.container_id().ok().flatten(),
        capture.container_id().ok().flatten(),
    ) {
        (Some(a), Some(b)) if a == b && a != COMPUTER_CONTAINER => ClockRelation::Shared,
        // No evidence either way (Wine's default "PulseAudio" endpoints, say): start
        // bit-exact and watch the FIFO.
        _ => ClockRelation::Detect,
    }
}
