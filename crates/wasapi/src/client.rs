//! Opening a render `IAudioClient` in the best mode the device allows: the mode chain
//! (exclusive event-driven, exclusive polling, IAudioClient3 low-latency shared, shared),
//! exclusive format negotiation (WAVEFORMATEXTENSIBLE then plain WAVEFORMATEX, float32 →
//! int32 → 24-in-32 → packed int24 → int16) and the period alignment retry. The decisions
//! are `wasio_engine::modes`, tested natively; here are only the WASAPI calls.

use crate::endpoint::activate_client;
use crate::error::Context;
use wasio_engine::backend::{BackendError, EndpointInfo, OutputPlan};
use wasio_engine::config::Mode;
use wasio_engine::convert::DeviceFormat;
use wasio_engine::format::{frames_to_hns, hns_to_frames, StreamFormat};
use wasio_engine::modes::{
    aligned_period_hns, chain_error, exclusive_format_candidates, negotiate_format, select_mode,
    ModeReport, StreamMode, WaveLayout, AUDCLNT_E_BUFFER_SIZE_NOT_ALIGNED,
    AUDCLNT_E_UNSUPPORTED_FORMAT,
};
use windows::core::Interface;
use windows::Win32::Media::Audio::{
    IAudioClient, IAudioClient3, IMMDevice, AUDCLNT_SHAREMODE_EXCLUSIVE, AUDCLNT_SHAREMODE_SHARED,
    AUDCLNT_STREAMFLAGS_AUTOCONVERTPCM, AUDCLNT_STREAMFLAGS_EVENTCALLBACK,
    AUDCLNT_STREAMFLAGS_SRC_DEFAULT_QUALITY, WAVEFORMATEX,
};

/// An initialized (not started) render client and what it turned out to be.
pub(crate) struct OpenedClient {
    pub client: IAudioClient,
    pub mode: StreamMode,
    pub format: StreamFormat,
    pub period_frames: usize,
    pub min_period_frames: usize,
    pub device_buffer_frames: usize,
    pub stream_latency_frames: usize,
    pub report: ModeReport,
}

impl OpenedClient {
    pub fn plan(&self) -> OutputPlan {
        OutputPlan {
            mode: self.mode,
            format: self.format,
            period_frames: self.period_frames,
            min_period_frames: self.min_period_frames,
            device_buffer_frames: self.device_buffer_frames,
            stream_latency_frames: self.stream_latency_frames,
            report: self.report.clone(),
        }
    }
}

/// What to open.
pub(crate) struct ClientRequest {
    pub mode: Mode,
    pub rate: u32,
    /// The ASIO buffer, which must be the period in exclusive event mode (None: a probe,
    /// which takes the default period).
    pub block_frames: Option<usize>,
    /// The exclusive format to try first.
    pub preferred_format: Option<DeviceFormat>,
    /// Wasio.toml `period_ms`: the exclusive period, or the low-latency engine period.
    pub period: Option<std::time::Duration>,
    /// Wasio.toml `buffer_ms`: the WASAPI buffer duration (shared and exclusive polling).
    pub buffer_duration: Option<std::time::Duration>,
}

fn hns(duration: std::time::Duration) -> i64 {
    (duration.as_nanos() / 100) as i64
}

/// Walks the mode chain for `request` on `device` and returns the first client that opens.
pub(crate) fn open_render_client(
    device: &IMMDevice,
    endpoint: &EndpointInfo,
    request: &ClientRequest,
) -> Result<OpenedClient, BackendError> {
    let chosen = select_mode(request.mode, |mode| match mode {
        StreamMode::ExclusiveEvent | StreamMode::ExclusivePoll => {
            open_exclusive(device, endpoint, request, mode)
        }
        StreamMode::SharedLowLatency => open_shared_low_latency(device, endpoint, request),
        StreamMode::Shared => open_shared(device, endpoint, request),
    });
    match chosen {
        Ok((mode, mut opened, report)) => {
            opened.mode = mode;
            opened.report = report;
            Ok(opened)
        }
        Err(report) => Err(chain_error(&report)),
    }
}

/// Buffer size and stream latency of an initialized client.
fn finish(
    client: IAudioClient,
    format: StreamFormat,
    period_frames: usize,
    min_period_frames: usize,
) -> Result<OpenedClient, BackendError> {
    // SAFETY: plain COM calls on an initialized client.
    let (buffer, latency) = unsafe {
        (
            client
                .GetBufferSize()
                .context("IAudioClient::GetBufferSize")?,
            client
                .GetStreamLatency()
                .context("IAudioClient::GetStreamLatency")?,
        )
    };
    Ok(OpenedClient {
        client,
        mode: StreamMode::Shared,
        format,
        period_frames,
        min_period_frames,
        device_buffer_frames: buffer as usize,
        stream_latency_frames: hns_to_frames(latency, format.sample_rate),
        report: ModeReport::default(),
    })
}

fn scaled(frames: usize, from: u32, to: u32) -> usize {
    if from == 0 {
        return frames;
    }
    (frames as u64 * to as u64 / from as u64) as usize
}

fn open_shared(
    device: &IMMDevice,
    endpoint: &EndpointInfo,
    request: &ClientRequest,
) -> Result<OpenedClient, BackendError> {
    let rate = request.rate;
    let client = activate_client(device)?;
    let mix = endpoint.mix_format;
    let format = StreamFormat {
        sample_rate: rate,
        ..mix
    };
    let bytes = format.to_extensible();
    let mut flags = AUDCLNT_STREAMFLAGS_EVENTCALLBACK;
    if rate != mix.sample_rate {
        flags |= AUDCLNT_STREAMFLAGS_AUTOCONVERTPCM | AUDCLNT_STREAMFLAGS_SRC_DEFAULT_QUALITY;
    }
    // Buffer duration 0 asks for the smallest buffer the engine allows in event mode;
    // `buffer_ms` in Wasio.toml overrides it.
    let buffer_hns = request.buffer_duration.map_or(0, hns);
    // SAFETY: `bytes` is a valid WAVEFORMATEXTENSIBLE that outlives the call.
    unsafe {
        client.Initialize(
            AUDCLNT_SHAREMODE_SHARED,
            flags,
            buffer_hns,
            0,
            bytes.as_ptr() as *const WAVEFORMATEX,
            None,
        )
    }
    .context("IAudioClient::Initialize (shared, event)")?;
    let period = scaled(endpoint.default_period_frames, mix.sample_rate, rate);
    let min = scaled(endpoint.min_period_frames, mix.sample_rate, rate);
    finish(client, format, period, min)
}

/// IAudioClient3 at the engine's smallest period. Only at the mix format: the engine period
/// cannot be lowered for a converted stream.
fn open_shared_low_latency(
    device: &IMMDevice,
    endpoint: &EndpointInfo,
    request: &ClientRequest,
) -> Result<OpenedClient, BackendError> {
    let rate = request.rate;
    let mix = endpoint.mix_format;
    if rate != mix.sample_rate {
        let mut e = BackendError::from_hresult(
            "IAudioClient3::InitializeSharedAudioStream",
            AUDCLNT_E_UNSUPPORTED_FORMAT,
        );
        e.detail = format!("only at the mix rate, {} Hz", mix.sample_rate);
        return Err(e);
    }
    let client3 = activate_client(device)?
        .cast::<IAudioClient3>()
        .context("IAudioClient::QueryInterface(IAudioClient3)")?;
    let bytes = mix.to_extensible();
    let wave = bytes.as_ptr() as *const WAVEFORMATEX;
    let (mut default, mut fundamental, mut min, mut max) = (0u32, 0u32, 0u32, 0u32);
    // SAFETY: `wave` is a valid WAVEFORMATEXTENSIBLE that outlives the calls; the
    // out-pointers are locals.
    unsafe {
        client3
            .GetSharedModeEnginePeriod(wave, &mut default, &mut fundamental, &mut min, &mut max)
            .context("IAudioClient3::GetSharedModeEnginePeriod")?;
    }
    // IAudioClient3 is worth it only for a period below the default one, and only one the
    // engine can run. Wine 10 answers with its default period and a minimum of winepulse's
    // 208 hns (0 frames once rounded down; with a longer PULSE_LATENCY_MSEC, the default
    // itself), and runs the default period whatever is asked: plain shared mode then says
    // what really runs.
    if min == 0 || fundamental == 0 || min >= default {
        let mut e = BackendError::from_hresult(
            "IAudioClient3::GetSharedModeEnginePeriod",
            0x8889_0020_u32 as i32, // AUDCLNT_E_INVALID_DEVICE_PERIOD
        );
        e.detail = if min == 0 || fundamental == 0 {
            format!("the engine reports a minimum period of {min} frames (fundamental {fundamental}, default {default}): not a period it can run")
        } else {
            format!("the engine's minimum period ({min} frames) is not below its default ({default} frames): nothing to gain")
        };
        return Err(e);
    }
    // The smallest period, or `period_ms` rounded up to the engine's fundamental period.
    let period = match request.period {
        Some(p) => {
            let frames = hns_to_frames(hns(p), rate) as u32;
            let step = fundamental.max(1);
            (frames.div_ceil(step) * step).clamp(min, max.max(min))
        }
        None => min,
    };
    // SAFETY: as above.
    unsafe {
        client3
            .InitializeSharedAudioStream(AUDCLNT_STREAMFLAGS_EVENTCALLBACK, period, wave, None)
            .context("IAudioClient3::InitializeSharedAudioStream")?;
    }
    let client = client3
        .cast::<IAudioClient>()
        .context("IAudioClient3::QueryInterface(IAudioClient)")?;
    finish(client, mix, period as usize, min as usize)
}

/// Initializes a fresh client in exclusive mode with `format`.
fn initialize_exclusive(
    device: &IMMDevice,
    format: &StreamFormat,
    layout: WaveLayout,
    event: bool,
    period_hns: i64,
    poll_buffer_hns: Option<i64>,
) -> Result<IAudioClient, (BackendError, Option<IAudioClient>)> {
    let client = activate_client(device).map_err(|e| (e, None))?;
    let extensible = format.to_extensible();
    let plain = format.to_plain();
    let wave = match (layout, &plain) {
        (WaveLayout::Plain, Some(p)) => p.as_ptr(),
        _ => extensible.as_ptr(),
    } as *const WAVEFORMATEX;
    let (flags, buffer_hns) = if event {
        // Event-driven exclusive: buffer duration = periodicity = one period.
        (AUDCLNT_STREAMFLAGS_EVENTCALLBACK, period_hns)
    } else {
        // Polling: two periods of buffer (or `buffer_ms`), filled on a timer at half a
        // period.
        (0, poll_buffer_hns.unwrap_or(period_hns * 2).max(period_hns))
    };
    let what = if event {
        "IAudioClient::Initialize (exclusive, event)"
    } else {
        "IAudioClient::Initialize (exclusive, polling)"
    };
    // SAFETY: `wave` points into `extensible` or `plain`, valid for the call.
    let result = unsafe {
        client.Initialize(
            AUDCLNT_SHAREMODE_EXCLUSIVE,
            flags,
            buffer_hns,
            period_hns,
            wave,
            None,
        )
    };
    match result {
        Ok(()) => Ok(client),
        Err(e) => Err((BackendError::from_hresult(what, e.code().0), Some(client))),
    }
}

fn open_exclusive(
    device: &IMMDevice,
    endpoint: &EndpointInfo,
    request: &ClientRequest,
    mode: StreamMode,
) -> Result<OpenedClient, BackendError> {
    let mix = endpoint.mix_format;
    let rate = request.rate;
    let event = mode == StreamMode::ExclusiveEvent;
    let default_period = scaled(endpoint.default_period_frames, mix.sample_rate, rate).max(1);
    let min_period = scaled(endpoint.min_period_frames, mix.sample_rate, rate).max(1);
    let period_frames = match (event, request.block_frames, request.period) {
        (true, Some(block), _) => block,
        (_, _, Some(p)) => hns_to_frames(hns(p), rate).max(1),
        _ => default_period,
    };
    let poll_buffer_hns = request.buffer_duration.map(hns);
    let candidates = exclusive_format_candidates(
        mix.channels,
        mix.channel_mask,
        rate,
        request.preferred_format,
    );
    let (format, _layout, (client, period)) = negotiate_format(&candidates, |format, layout| {
        let period_hns = frames_to_hns(period_frames, rate).max(1);
        match initialize_exclusive(device, format, layout, event, period_hns, poll_buffer_hns) {
            Ok(client) => Ok((client, period_frames)),
            Err((e, Some(failed))) if e.hresult == Some(AUDCLNT_E_BUFFER_SIZE_NOT_ALIGNED) => {
                // Microsoft's recipe: the failed client reports the aligned size; a new
                // client is initialized at that period.
                // SAFETY: plain COM call; valid after this failure by the documentation.
                let aligned = unsafe { failed.GetBufferSize() }
                    .context("IAudioClient::GetBufferSize (alignment)")?
                    as usize;
                drop(failed);
                if event && request.block_frames.is_some_and(|b| b != aligned) {
                    let mut e = e;
                    e.detail = format!(
                        "{period_frames} frames is not an aligned period; the device wants {aligned}"
                    );
                    return Err(e);
                }
                let aligned_hns = aligned_period_hns(aligned as u32, rate);
                initialize_exclusive(device, format, layout, event, aligned_hns, poll_buffer_hns)
                    .map(|client| (client, aligned))
                    .map_err(|(e, _)| e)
            }
            Err((e, _)) => Err(e),
        }
    })?;
    let mut opened = finish(client, format, period, min_period)?;
    if event {
        // The device buffer is the period.
        opened.period_frames = opened.device_buffer_frames;
    }
    Ok(opened)
}
