//! The capture side: a shared-mode, event-driven capture client whose packets go into the
//! engine's [`CapturePath`], and the decision whether it shares the render device's clock.

use crate::endpoint::{activate_client, default_endpoint, describe, endpoint_by_id};
use crate::enumerate::{find_endpoint, Flow};
use crate::error::Context;
use wasio_engine::backend::{describe_selector, BackendError, DeviceSelector, EndpointInfo};
use wasio_engine::capture::{CapturePath, ClockRelation};
use wasio_engine::capture_clock::StampMeaning;
use wasio_engine::format::StreamFormat;
use windows::Win32::Devices::FunctionDiscovery::PKEY_Device_ContainerId;
use windows::Win32::Foundation::HANDLE;
use windows::Win32::Media::Audio::{
    eCapture, IAudioCaptureClient, IAudioClient, IMMDevice, AUDCLNT_BUFFERFLAGS_DATA_DISCONTINUITY,
    AUDCLNT_BUFFERFLAGS_SILENT, AUDCLNT_SHAREMODE_SHARED, AUDCLNT_STREAMFLAGS_AUTOCONVERTPCM,
    AUDCLNT_STREAMFLAGS_EVENTCALLBACK, AUDCLNT_STREAMFLAGS_SRC_DEFAULT_QUALITY, WAVEFORMATEX,
};
use windows::Win32::System::Com::STGM_READ;
use windows::Win32::System::LibraryLoader::{GetModuleHandleW, GetProcAddress};
use windows::Win32::System::Variant::VT_CLSID;

/// PulseAudio (and so Wine on Linux) names a sink's monitor source like this.
const MONITOR_PREFIX: &str = "Monitor of ";
/// The container every built-in device of a PC belongs to: no evidence of one clock.
const COMPUTER_CONTAINER: u128 = 0x00000000_0000_0000_ffff_ffffffffffff;

/// The capture endpoint a selector (Wasio.toml `[input] device`) picks: the Windows default
/// capture device, or the first active one matching a name, ID or regex.
pub(crate) fn select_capture_endpoint(
    selector: &DeviceSelector,
) -> Result<IMMDevice, BackendError> {
    if selector.is_default() {
        return default_endpoint(eCapture);
    }
    match find_endpoint(Flow::Capture, selector)? {
        Some(details) => endpoint_by_id(&details.id),
        None => Err(BackendError::new(
            "selecting the input device",
            format!(
                "no input device matches {} (Wasio.toml input.device)",
                describe_selector(selector)
            ),
        )),
    }
}

/// An opened (initialized, not started) capture stream.
pub(crate) struct CaptureStream {
    pub client: IAudioClient,
    pub capture_client: IAudioCaptureClient,
    pub endpoint: EndpointInfo,
    pub format: StreamFormat,
    pub period_frames: usize,
    pub buffer_frames: usize,
}

impl CaptureStream {
    /// Opens `device` for shared, event-driven capture at `rate` (the engine converts the
    /// rate if it differs from the mix format's), signalling `event`.
    pub fn open(device: &IMMDevice, rate: u32, event: HANDLE) -> Result<Self, BackendError> {
        let (endpoint, _) = describe(device)?;
        let client = activate_client(device)?;
        let format = StreamFormat {
            sample_rate: rate,
            ..endpoint.mix_format
        };
        let bytes = format.to_extensible();
        let mut flags = AUDCLNT_STREAMFLAGS_EVENTCALLBACK;
        if rate != endpoint.mix_format.sample_rate {
            flags |= AUDCLNT_STREAMFLAGS_AUTOCONVERTPCM | AUDCLNT_STREAMFLAGS_SRC_DEFAULT_QUALITY;
        }
        // SAFETY: `bytes` is a valid WAVEFORMATEXTENSIBLE that outlives the call; the event
        // outlives the client (the worker drops the stream first).
        let (buffer_frames, capture_client) = unsafe {
            client
                .Initialize(
                    AUDCLNT_SHAREMODE_SHARED,
                    flags,
                    0,
                    0,
                    bytes.as_ptr() as *const WAVEFORMATEX,
                    None,
                )
                .context("IAudioClient::Initialize (capture, shared, event)")?;
            client
                .SetEventHandle(event)
                .context("IAudioClient::SetEventHandle (capture)")?;
            (
                client
                    .GetBufferSize()
                    .context("IAudioClient::GetBufferSize (capture)")? as usize,
                client
                    .GetService::<IAudioCaptureClient>()
                    .context("IAudioClient::GetService(IAudioCaptureClient)")?,
            )
        };
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

    /// Moves every packet the device holds into `path`. Real-time safe: COM calls on the
    /// running client and the engine's allocation-free push.
    pub fn drain(
        &self,
        path: &mut CapturePath,
    ) -> Result<(), (&'static str, windows::core::Error)> {
        let frame_bytes = path.frame_bytes();
        loop {
            // SAFETY: plain COM call on the running client.
            let next = unsafe { self.capture_client.GetNextPacketSize() }
                .map_err(|e| ("IAudioCaptureClient::GetNextPacketSize", e))?;
            if next == 0 {
                return Ok(());
            }
            let (mut data, mut frames, mut flags) = (std::ptr::null_mut(), 0u32, 0u32);
            let (mut position, mut qpc) = (0u64, 0u64);
            // SAFETY: out-pointers to locals; `data` is valid for `frames` frames until
            // ReleaseBuffer.
            unsafe {
                self.capture_client.GetBuffer(
                    &mut data,
                    &mut frames,
                    &mut flags,
                    Some(&mut position),
                    Some(&mut qpc),
                )
            }
            .map_err(|e| ("IAudioCaptureClient::GetBuffer", e))?;
            if frames == 0 {
                return Ok(());
            }
            let silent = flags & AUDCLNT_BUFFERFLAGS_SILENT.0 as u32 != 0 || data.is_null();
            let bytes = if silent {
                None
            } else {
                // SAFETY: GetBuffer returned `frames` whole frames at `data`.
                Some(unsafe {
                    std::slice::from_raw_parts(data as *const u8, frames as usize * frame_bytes)
                })
            };
            path.push_packet(
                bytes,
                frames as usize,
                position,
                qpc.saturating_mul(100),
                flags & AUDCLNT_BUFFERFLAGS_DATA_DISCONTINUITY.0 as u32 != 0,
            );
            // SAFETY: releases exactly the packet obtained above.
            unsafe { self.capture_client.ReleaseBuffer(frames) }
                .map_err(|e| ("IAudioCaptureClient::ReleaseBuffer", e))?;
        }
    }
}

/// Whether the capture device runs on the render device's clock: a PulseAudio monitor of
/// that very sink, or both endpoints in one physical device (same container, other than
/// "this computer", whose built-in devices may each have their own clock). Otherwise the
/// engine finds out while running ([`ClockRelation::Detect`]).
pub(crate) fn clock_relation(
    render: &IMMDevice,
    render_name: &str,
    capture: &IMMDevice,
    capture_name: &str,
) -> ClockRelation {
    if capture_name.strip_prefix(MONITOR_PREFIX) == Some(render_name) {
        return ClockRelation::Shared;
    }
    match (container_id(render), container_id(capture)) {
        (Some(a), Some(b)) if a == b && a != COMPUTER_CONTAINER => ClockRelation::Shared,
        // No evidence either way (Wine's default "PulseAudio" endpoints, say): start
        // bit-exact and watch the FIFO.
        _ => ClockRelation::Detect,
    }
}

fn container_id(device: &IMMDevice) -> Option<u128> {
    // SAFETY: plain COM calls on valid interfaces; the PROPVARIANT frees itself on drop.
    let value = unsafe {
        device
            .OpenPropertyStore(STGM_READ)
            .ok()?
            .GetValue(&PKEY_Device_ContainerId)
            .ok()?
    };
    if value.vt() != VT_CLSID {
        return None;
    }
    // SAFETY: vt says the union holds a CLSID pointer owned by `value`.
    let guid = unsafe { value.Anonymous.Anonymous.Anonymous.puuid };
    // SAFETY: checked non-null; read while `value` is alive.
    (!guid.is_null()).then(|| unsafe { (*guid).to_u128() })
}

/// What capture packets' QPC stamps mark here. Windows' audio engine stamps the capture of a
/// packet's first frame; Wine (recognised by ntdll's `wine_get_version` export) stamps a
/// packet when it reads it from the sound server, after its last frame was captured.
pub(crate) fn capture_stamp_meaning() -> StampMeaning {
    // SAFETY: ntdll is loaded in every process; both calls only look names up.
    let wine = unsafe {
        GetModuleHandleW(windows::core::w!("ntdll.dll"))
            .ok()
            .and_then(|ntdll| GetProcAddress(ntdll, windows::core::s!("wine_get_version")))
            .is_some()
    };
    if wine {
        StampMeaning::ReadTime
    } else {
        StampMeaning::FirstFrame
    }
}
