//! Endpoints: finding them, naming them, and reading their formats.

use crate::error::Context;
use wasio_engine::backend::{select_endpoint, BackendError, DeviceSelector, EndpointInfo};
use wasio_engine::format::{hns_to_frames, StreamFormat};
use windows::Win32::Devices::FunctionDiscovery::PKEY_Device_FriendlyName;
use windows::Win32::Media::Audio::{
    eConsole, eRender, EDataFlow, IAudioClient, IMMDevice, IMMDeviceEnumerator, MMDeviceEnumerator,
    AUDCLNT_SHAREMODE_SHARED, AUDCLNT_STREAMFLAGS_EVENTCALLBACK, DEVICE_STATE_ACTIVE, WAVEFORMATEX,
};
use windows::Win32::System::Com::{CoCreateInstance, CoTaskMemFree, CLSCTX_ALL, STGM_READ};
use windows::Win32::System::Variant::VT_LPWSTR;

pub(crate) fn enumerator() -> Result<IMMDeviceEnumerator, BackendError> {
    // SAFETY: COM is initialized on this thread (the worker's MTA).
    unsafe { CoCreateInstance(&MMDeviceEnumerator, None, CLSCTX_ALL) }
        .context("CoCreateInstance(MMDeviceEnumerator)")
}

pub(crate) fn default_endpoint(flow: EDataFlow) -> Result<IMMDevice, BackendError> {
    let enumerator = enumerator()?;
    // SAFETY: plain COM call on a valid interface.
    unsafe { enumerator.GetDefaultAudioEndpoint(flow, eConsole) }
        .context("IMMDeviceEnumerator::GetDefaultAudioEndpoint")
}

/// The endpoint with this ID (`IMMDevice::GetId`).
pub(crate) fn endpoint_by_id(id: &str) -> Result<IMMDevice, BackendError> {
    let enumerator = enumerator()?;
    let wide: Vec<u16> = id.encode_utf16().chain([0]).collect();
    // SAFETY: a NUL-terminated wide string that outlives the call.
    unsafe { enumerator.GetDevice(windows::core::PCWSTR(wide.as_ptr())) }
        .context("IMMDeviceEnumerator::GetDevice")
}

/// Every active render endpoint with its friendly name and ID, in Windows' order.
pub(crate) fn active_render_endpoints() -> Result<Vec<(IMMDevice, String, String)>, BackendError> {
    let enumerator = enumerator()?;
    // SAFETY: plain COM calls on valid interfaces; indices below the count.
    unsafe {
        let collection = enumerator
            .EnumAudioEndpoints(eRender, DEVICE_STATE_ACTIVE)
            .context("IMMDeviceEnumerator::EnumAudioEndpoints")?;
        let count = collection
            .GetCount()
            .context("IMMDeviceCollection::GetCount")?;
        let mut endpoints = Vec::with_capacity(count as usize);
        for index in 0..count {
            let device = collection
                .Item(index)
                .context("IMMDeviceCollection::Item")?;
            let id = endpoint_id(&device)?;
            let name = friendly_name(&device).unwrap_or_else(|_| "(unnamed endpoint)".into());
            endpoints.push((device, name, id));
        }
        Ok(endpoints)
    }
}

/// The render endpoint a selector picks: the Windows default, or the first active endpoint
/// matching a name, ID or regex (an error lists the endpoints that exist).
pub(crate) fn select_render_endpoint(selector: &DeviceSelector) -> Result<IMMDevice, BackendError> {
    if selector.is_default() {
        return default_endpoint(eRender);
    }
    let mut endpoints = active_render_endpoints()?;
    let listed: Vec<(String, String)> = endpoints
        .iter()
        .map(|(_, name, id)| (name.clone(), id.clone()))
        .collect();
    let index = select_endpoint(selector, &listed)?;
    Ok(endpoints.swap_remove(index).0)
}

pub(crate) fn activate_client(device: &IMMDevice) -> Result<IAudioClient, BackendError> {
    // SAFETY: plain COM call on a valid interface.
    unsafe { device.Activate::<IAudioClient>(CLSCTX_ALL, None) }
        .context("IMMDevice::Activate(IAudioClient)")
}

pub(crate) fn endpoint_id(device: &IMMDevice) -> Result<String, BackendError> {
    // SAFETY: GetId returns a CoTaskMem string we free after copying.
    unsafe {
        let id = device.GetId().context("IMMDevice::GetId")?;
        let text = id.to_string().unwrap_or_default();
        CoTaskMemFree(Some(id.0 as *const _));
        Ok(text)
    }
}

pub(crate) fn friendly_name(device: &IMMDevice) -> Result<String, BackendError> {
    // SAFETY: plain COM calls on valid interfaces; the PROPVARIANT frees itself on drop.
    let value = unsafe {
        let store = device
            .OpenPropertyStore(STGM_READ)
            .context("IMMDevice::OpenPropertyStore")?;
        store
            .GetValue(&PKEY_Device_FriendlyName)
            .context("IPropertyStore::GetValue(FriendlyName)")?
    };
    // Read the string directly: PROPVARIANT's Display goes through PropVariantToBSTR, which
    // Wine does not implement (calling it kills the host process).
    if value.vt() != VT_LPWSTR {
        return Err(BackendError::new(
            "reading the endpoint name",
            format!("unexpected type {}", value.vt().0),
        ));
    }
    // SAFETY: vt says the union holds a NUL-terminated wide string owned by `value`.
    let text = unsafe { value.Anonymous.Anonymous.Anonymous.pwszVal.to_string() };
    text.map_err(|e| BackendError::new("reading the endpoint name", e.to_string()))
}

/// Reads a WAVEFORMATEX the system allocated, frees it, and parses it.
///
/// # Safety
/// `format` must be a CoTaskMem-allocated WAVEFORMATEX (with its `cbSize` tail) or null.
pub(crate) unsafe fn take_wave_format(
    format: *mut WAVEFORMATEX,
    what: &str,
) -> Result<StreamFormat, BackendError> {
    if format.is_null() {
        return Err(BackendError::new(what, "returned no format"));
    }
    // SAFETY: the caller guarantees a valid WAVEFORMATEX; cbSize says how long its tail is.
    let bytes = unsafe {
        let extra = std::ptr::addr_of!((*format).cbSize).read_unaligned() as usize;
        std::slice::from_raw_parts(format as *const u8, 18 + extra).to_vec()
    };
    // SAFETY: the format was allocated by COM for us to free.
    unsafe { CoTaskMemFree(Some(format as *const _)) };
    StreamFormat::parse(&bytes).map_err(|e| BackendError::new(what, e.0))
}

pub(crate) fn describe(device: &IMMDevice) -> Result<(EndpointInfo, IAudioClient), BackendError> {
    let client = activate_client(device)?;
    // SAFETY: GetMixFormat returns a CoTaskMem WAVEFORMATEX, consumed by take_wave_format.
    let mix_format = unsafe {
        take_wave_format(
            client
                .GetMixFormat()
                .context("IAudioClient::GetMixFormat")?,
            "IAudioClient::GetMixFormat",
        )?
    };
    let (mut default_period, mut min_period) = (0i64, 0i64);
    // SAFETY: out-pointers to locals.
    unsafe { client.GetDevicePeriod(Some(&mut default_period), Some(&mut min_period)) }
        .context("IAudioClient::GetDevicePeriod")?;
    let (shared_buffer_frames, shared_stream_latency_frames) =
        trial_shared_stream(device, &mix_format)?;
    let info = EndpointInfo {
        id: endpoint_id(device)?,
        shared_buffer_frames,
        shared_stream_latency_frames,
        name: friendly_name(device).unwrap_or_else(|_| "(unnamed endpoint)".into()),
        mix_format,
        default_period_frames: hns_to_frames(default_period, mix_format.sample_rate),
        min_period_frames: hns_to_frames(min_period, mix_format.sample_rate),
    };
    Ok((info, client))
}

/// Opens and drops a shared event-mode client at `format`, to learn the device buffer and
/// stream latency a real stream will get.
fn trial_shared_stream(
    device: &IMMDevice,
    format: &StreamFormat,
) -> Result<(usize, usize), BackendError> {
    let client = activate_client(device)?;
    let bytes = format.to_extensible();
    // SAFETY: `bytes` is a valid WAVEFORMATEXTENSIBLE that outlives the call.
    unsafe {
        client
            .Initialize(
                AUDCLNT_SHAREMODE_SHARED,
                AUDCLNT_STREAMFLAGS_EVENTCALLBACK,
                0,
                0,
                bytes.as_ptr() as *const WAVEFORMATEX,
                None,
            )
            .context("IAudioClient::Initialize (trial)")?;
        let buffer = client
            .GetBufferSize()
            .context("IAudioClient::GetBufferSize (trial)")? as usize;
        let latency = client
            .GetStreamLatency()
            .context("IAudioClient::GetStreamLatency (trial)")?;
        Ok((buffer, hns_to_frames(latency, format.sample_rate)))
    }
}
