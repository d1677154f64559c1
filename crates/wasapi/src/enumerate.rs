//! Endpoint enumeration: every render and capture endpoint with its state, formats and
//! periods, for `wasio devices`, the control panel's pickers and device selection by name,
//! ID or regex.

use crate::com::MtaGuard;
use crate::endpoint::{activate_client, endpoint_id, enumerator, friendly_name, take_wave_format};
use crate::error::Context;
use wasio_engine::backend::BackendError;
use wasio_engine::config::DeviceSelector;
use wasio_engine::format::{hns_to_frames, DeviceFormat, StreamFormat};
use windows::core::Interface;
use windows::Win32::Media::Audio::{
    eAll, eCapture, eConsole, eRender, EDataFlow, IMMDevice, IMMEndpoint,
    AUDCLNT_SHAREMODE_EXCLUSIVE, DEVICE_STATE, DEVICE_STATEMASK_ALL, DEVICE_STATE_ACTIVE,
    DEVICE_STATE_DISABLED, DEVICE_STATE_NOTPRESENT, DEVICE_STATE_UNPLUGGED, WAVEFORMATEX,
};

/// Which endpoints to list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Flow {
    Render,
    Capture,
    /// Both (only as a request: an endpoint is either render or capture).
    All,
}

impl Flow {
    pub fn as_str(self) -> &'static str {
        match self {
            Flow::Render => "render",
            Flow::Capture => "capture",
            Flow::All => "all",
        }
    }

    fn data_flow(self) -> EDataFlow {
        match self {
            Flow::Render => eRender,
            Flow::Capture => eCapture,
            Flow::All => eAll,
        }
    }
}

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
    fn from_raw(state: u32) -> Self {
        match state {
            s if s == DEVICE_STATE_ACTIVE.0 => EndpointState::Active,
            s if s == DEVICE_STATE_DISABLED.0 => EndpointState::Disabled,
            s if s == DEVICE_STATE_UNPLUGGED.0 => EndpointState::Unplugged,
            s if s == DEVICE_STATE_NOTPRESENT.0 => EndpointState::NotPresent,
            other => EndpointState::Unknown(other),
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
pub fn list_endpoints(flow: Flow) -> Result<Vec<EndpointDetails>, BackendError> {
    let flows: &[Flow] = match flow {
        Flow::All => &[Flow::Render, Flow::Capture],
        Flow::Render => &[Flow::Render],
        Flow::Capture => &[Flow::Capture],
    };
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let _com = MtaGuard::enter()?;
                let mut all = Vec::new();
                for &flow in flows {
                    all.extend(list_flow(flow)?);
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
pub fn find_endpoint(
    flow: Flow,
    selector: &DeviceSelector,
) -> Result<Option<EndpointDetails>, BackendError> {
    Ok(list_endpoints(flow)?
        .into_iter()
        .find(|e| e.state == EndpointState::Active && e.is_selected_by(selector)))
}

fn list_flow(flow: Flow) -> Result<Vec<EndpointDetails>, BackendError> {
    let enumerator = enumerator()?;
    // SAFETY: plain COM calls on a valid interface.
    let collection = unsafe {
        enumerator.EnumAudioEndpoints(flow.data_flow(), DEVICE_STATE(DEVICE_STATEMASK_ALL))
    }
    .context("IMMDeviceEnumerator::EnumAudioEndpoints")?;
    // SAFETY: as above.
    let count = unsafe { collection.GetCount() }.context("IMMDeviceCollection::GetCount")?;
    // No default endpoint (none active) is not an error.
    // SAFETY: as above.
    let default_id = unsafe { enumerator.GetDefaultAudioEndpoint(flow.data_flow(), eConsole) }
        .ok()
        .and_then(|device| endpoint_id(&device).ok());
    let mut endpoints = Vec::with_capacity(count as usize);
    for index in 0..count {
        // SAFETY: index < count.
        let device = unsafe { collection.Item(index) }.context("IMMDeviceCollection::Item")?;
        endpoints.push(details(&device, flow, default_id.as_deref())?);
    }
    Ok(endpoints)
}

fn details(
    device: &IMMDevice,
    requested: Flow,
    default_id: Option<&str>,
) -> Result<EndpointDetails, BackendError> {
    let id = endpoint_id(device)?;
    // SAFETY: plain COM call on a valid interface.
    let state = unsafe { device.GetState() }.context("IMMDevice::GetState")?;
    let flow = device
        .cast::<IMMEndpoint>()
        .ok()
        // SAFETY: plain COM call on a valid interface.
        .and_then(|endpoint| unsafe { endpoint.GetDataFlow() }.ok())
        .map_or(requested, |f| {
            if f == eCapture {
                Flow::Capture
            } else {
                Flow::Render
            }
        });
    let mut details = EndpointDetails {
        is_default: default_id == Some(id.as_str()),
        id,
        name: friendly_name(device).unwrap_or_else(|_| "(unnamed endpoint)".into()),
        flow,
        state: EndpointState::from_raw(state.0),
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

fn fill_stream_details(
    device: &IMMDevice,
    details: &mut EndpointDetails,
) -> Result<(), BackendError> {
    let client = activate_client(device)?;
    // SAFETY: GetMixFormat returns a CoTaskMem WAVEFORMATEX, consumed by take_wave_format.
    let mix = unsafe {
        take_wave_format(
            client
                .GetMixFormat()
                .context("IAudioClient::GetMixFormat")?,
            "IAudioClient::GetMixFormat",
        )?
    };
    details.mix_format = Some(mix);
    details.channel_mask = Some(mix.channel_mask);
    let (mut default_period, mut min_period) = (0i64, 0i64);
    // SAFETY: out-pointers to locals.
    unsafe { client.GetDevicePeriod(Some(&mut default_period), Some(&mut min_period)) }
        .context("IAudioClient::GetDevicePeriod")?;
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
            let bytes = candidate.to_extensible();
            // SAFETY: `bytes` is a valid WAVEFORMATEXTENSIBLE that outlives the call; exclusive
            // mode takes no closest-match pointer.
            let hr = unsafe {
                client.IsFormatSupported(
                    AUDCLNT_SHAREMODE_EXCLUSIVE,
                    bytes.as_ptr() as *const WAVEFORMATEX,
                    None,
                )
            };
            if hr.0 == 0 {
                details.exclusive_formats.push(candidate);
            } else if !refusals.contains(&hr.0) {
                refusals.push(hr.0);
            }
        }
    }
    if details.exclusive_formats.is_empty() {
        let answers: Vec<String> = refusals
            .iter()
            .map(|&hr| match wasio_engine::hresult::hresult_name(hr) {
                Some(name) => format!("{name} (0x{:08X})", hr as u32),
                None => format!("0x{:08X}", hr as u32),
            })
            .collect();
        details.exclusive_refusal = Some(format!(
            "every probed format was refused: {}",
            answers.join(", ")
        ));
    }
    Ok(())
}
