//! Endpoint enumeration: every render and capture endpoint with its state, formats and
//! periods, for `wasio devices`, the control panel's pickers and device selection by name,
//! ID or regex.

use super::ctx::Ctx;
use super::endpoints::{activate_client, endpoint_id, enumerator, friendly_name, mix_format};
use crate::backend::BackendError;
use crate::config::DeviceSelector;
use crate::format::{hns_to_frames, DeviceFormat, StreamFormat};
use crate::port::{
    AudioClient, AudioPort, Device, DeviceCollection, DeviceEnumerator, DeviceState, Flow, Role,
    ShareMode,
};

/// `IMMDevice::GetState`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EndpointState {
    Active,
    Disabled,
    Unplugged,
    NotPresent,
    /// A value Windows did not document at the time of writing.
    Unknown(u32),
}

impl EndpointState {
    pub fn from_raw(state: DeviceState) -> Self {
        match state {
            DeviceState::ACTIVE => EndpointState::Active,
            DeviceState::DISABLED => EndpointState::Disabled,
            DeviceState::UNPLUGGED => EndpointState::Unplugged,
            DeviceState::NOTPRESENT => EndpointState::NotPresent,
            other => EndpointState::Unknown(other.0),
        }
    }

    /// `active`, `disabled`, `unplugged`, `not present`.
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointState::Active => "active",
            EndpointState::Disabled => "disabled",
            EndpointState::Unplugged => "unplugged",
            EndpointState::NotPresent => "not present",
            EndpointState::Unknown(_) => "unknown",
        }
    }
}

/// Everything Wasio knows about one endpoint.
#[derive(Clone, Debug, PartialEq)]
pub struct EndpointDetails {
    /// `IMMDevice::GetId`, what `device = { id = "…" }` selects.
    pub id: String,
    /// The friendly name, what `{ name = "…" }` and `{ regex = "…" }` select.
    pub name: String,
    /// [`Flow::Render`] or [`Flow::Capture`].
    pub flow: Flow,
    pub state: EndpointState,
    /// Whether this is the default console endpoint of its flow.
    pub is_default: bool,
    /// The shared-mode mix format (active endpoints only).
    pub mix_format: Option<StreamFormat>,
    /// `GetDevicePeriod`, in 100 ns units and in frames at the mix rate.
    pub default_period_hns: Option<i64>,
    pub min_period_hns: Option<i64>,
    pub default_period_frames: Option<usize>,
    pub min_period_frames: Option<usize>,
    /// The mix format's speaker mask (0 when the format does not say).
    pub channel_mask: Option<u32>,
    /// The probed formats `IsFormatSupported(AUDCLNT_SHAREMODE_EXCLUSIVE)` accepts, at the
    /// mix format's channel count and mask ([`EXCLUSIVE_PROBE_ENCODINGS`] ×
    /// [`EXCLUSIVE_PROBE_RATES`]).
    pub exclusive_formats: Vec<StreamFormat>,
    /// Why some details are missing (e.g. the audio client could not be activated).
    pub problem: Option<String>,
    /// When exclusive mode accepted none of the probed formats: the answers it gave instead.
    pub exclusive_refusal: Option<String>,
}

impl EndpointDetails {
    /// Whether `selector` picks this endpoint: the default selectors pick the default endpoint,
    /// the others compare the name and ID ([`DeviceSelector::matches`]).
    pub fn is_selected_by(&self, selector: &DeviceSelector) -> bool {
        if selector.is_default() {
            self.is_default
        } else {
            selector.matches(&self.name, &self.id)
        }
    }
}

/// Encodings probed for exclusive mode, in order of preference.
pub const EXCLUSIVE_PROBE_ENCODINGS: [DeviceFormat; 5] = [
    DeviceFormat::Float32,
    DeviceFormat::Int32,
    DeviceFormat::Int24In32,
    DeviceFormat::Int24Packed,
    DeviceFormat::Int16,
];

/// Rates probed for exclusive mode, in Hz.
pub const EXCLUSIVE_PROBE_RATES: [u32; 8] = [
    32_000, 44_100, 48_000, 88_200, 96_000, 176_400, 192_000, 384_000,
];

/// Lists the endpoints of `flow` in every state, render endpoints first, in the order
/// Windows enumerates them.
///
/// Runs on a thread of its own in the multithreaded apartment, so it works from any caller
/// (a host's STA thread included) and leaves the caller's COM state alone.
pub fn list_endpoints<P: AudioPort>(
    port: &P,
    flow: Flow,
) -> Result<Vec<EndpointDetails>, BackendError> {
    let flows: &[Flow] = match flow {
        Flow::All => &[Flow::Render, Flow::Capture],
        Flow::Render => &[Flow::Render],
        Flow::Capture => &[Flow::Capture],
    };
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let _com = port.enter_mta().ctx("CoInitializeEx")?;
                let mut all = Vec::new();
                for &flow in flows {
                    all.extend(list_flow(port, flow)?);
                }
                Ok(all)
            })
            .join()
            .unwrap_or_else(|_| {
                Err(BackendError::new(
                    "listing the audio endpoints",
                    "the enumeration thread panicked",
                ))
            })
    })
}

/// The endpoint of `flow` that `selector` picks: the first match in enumeration order among
/// the active endpoints, `None` when nothing matches.
pub fn find_endpoint<P: AudioPort>(
    port: &P,
    flow: Flow,
    selector: &DeviceSelector,
) -> Result<Option<EndpointDetails>, BackendError> {
    Ok(list_endpoints(port, flow)?
        .into_iter()
        .find(|e| e.state == EndpointState::Active && e.is_selected_by(selector)))
}

fn list_flow<P: AudioPort>(port: &P, flow: Flow) -> Result<Vec<EndpointDetails>, BackendError> {
    let enumerator = enumerator(port)?;
    let collection = enumerator
        .enum_audio_endpoints(flow, DeviceState::ALL)
        .ctx("IMMDeviceEnumerator::EnumAudioEndpoints")?;
    let count = collection.count().ctx("IMMDeviceCollection::GetCount")?;
    // No default endpoint (none active) is not an error.
    let default_id = enumerator
        .default_audio_endpoint(flow, Role::Console)
        .ok()
        .and_then(|device| endpoint_id(&device).ok());
    let mut endpoints = Vec::with_capacity(count as usize);
    for index in 0..count {
        let device = collection.item(index).ctx("IMMDeviceCollection::Item")?;
        endpoints.push(details(&device, flow, default_id.as_deref())?);
    }
    Ok(endpoints)
}

fn details<D: Device>(
    device: &D,
    requested: Flow,
    default_id: Option<&str>,
) -> Result<EndpointDetails, BackendError> {
    let id = endpoint_id(device)?;
    let state = device.state().ctx("IMMDevice::GetState")?;
    let flow = match device.data_flow() {
        Ok(Flow::Capture) => Flow::Capture,
        Ok(_) => Flow::Render,
        Err(_) => requested,
    };
    let mut details = EndpointDetails {
        is_default: default_id == Some(id.as_str()),
        id,
        name: friendly_name(device),
        flow,
        state: EndpointState::from_raw(state),
        mix_format: None,
        default_period_hns: None,
        min_period_hns: None,
        default_period_frames: None,
        min_period_frames: None,
        channel_mask: None,
        exclusive_formats: Vec::new(),
        problem: None,
        exclusive_refusal: None,
    };
    if details.state == EndpointState::Active {
        if let Err(error) = fill_stream_details(device, &mut details) {
            details.problem = Some(error.to_string());
        }
    }
    Ok(details)
}

fn fill_stream_details<D: Device>(
    device: &D,
    details: &mut EndpointDetails,
) -> Result<(), BackendError> {
    let client = activate_client(device)?;
    let mix = mix_format(&client)?;
    details.mix_format = Some(mix);
    details.channel_mask = Some(mix.channel_mask);
    let (default_period, min_period) = client
        .device_period()
        .ctx("IAudioClient::GetDevicePeriod")?;
    details.default_period_hns = Some(default_period);
    details.min_period_hns = Some(min_period);
    details.default_period_frames = Some(hns_to_frames(default_period, mix.sample_rate));
    details.min_period_frames = Some(hns_to_frames(min_period, mix.sample_rate));
    let mut refusals: Vec<i32> = Vec::new();
    for encoding in EXCLUSIVE_PROBE_ENCODINGS {
        for rate in EXCLUSIVE_PROBE_RATES {
            let candidate = StreamFormat {
                sample_rate: rate,
                encoding,
                ..mix
            };
            match client.is_format_supported(ShareMode::Exclusive, &candidate.to_extensible()) {
                Ok(_) => details.exclusive_formats.push(candidate),
                Err(hr) if !refusals.contains(&hr.0) => refusals.push(hr.0),
                Err(_) => {}
            }
        }
    }
    if details.exclusive_formats.is_empty() {
        let answers: Vec<String> = refusals
            .iter()
            .map(|&hr| crate::hresult::HresultDisplay(hr).to_string())
            .collect();
        details.exclusive_refusal = Some(format!(
            "every probed format was refused: {}",
            answers.join(", ")
        ));
    }
    Ok(())
}
