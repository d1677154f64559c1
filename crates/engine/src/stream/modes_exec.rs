//! The mode chain as executed: opening a render client in the best mode the device allows
//! (exclusive event-driven, exclusive polling, IAudioClient3 low-latency shared, shared),
//! exclusive format negotiation (WAVEFORMATEXTENSIBLE then plain WAVEFORMATEX, float32 →
//! int32 → 24-in-32 → packed int24 → int16) and the period alignment retry. The decisions
//! themselves are [`crate::modes`]'s pure functions.

use super::ctx::Ctx;
use super::endpoints::activate_client;
use crate::backend::{BackendError, EndpointInfo, OutputPlan};
use crate::config::Mode;
use crate::convert::DeviceFormat;
use crate::format::{frames_to_hns, hns_to_frames, StreamFormat};
use crate::modes::{
    aligned_period_hns, chain_error, exclusive_format_candidates, negotiate_format, select_mode,
    ModeReport, StreamMode, WaveLayout, AUDCLNT_E_BUFFER_SIZE_NOT_ALIGNED,
    AUDCLNT_E_UNSUPPORTED_FORMAT,
};
use crate::port::{
    stream_flags, AudioClient, AudioClient3, AudioPort, Device, EnginePeriods, ShareMode,
};
use std::time::Duration;

/// An initialized (not started) render client and what it turned out to be.
pub(crate) struct OpenedClient<C> {
    pub client: C,
    pub mode: StreamMode,
    pub format: StreamFormat,
    pub period_frames: usize,
    pub min_period_frames: usize,
    pub device_buffer_frames: usize,
    pub stream_latency_frames: usize,
    pub report: ModeReport,
}

impl<C> OpenedClient<C> {
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
    pub period: Option<Duration>,
    /// Wasio.toml `buffer_ms`: the WASAPI buffer duration (shared and exclusive polling).
    pub buffer_duration: Option<Duration>,
}

type Client<D> = <<D as Device>::Port as AudioPort>::Client;

fn hns(duration: Duration) -> i64 {
    (duration.as_nanos() / 100) as i64
}

/// Walks the mode chain for `request` on `device` and returns the first client that opens.
pub(crate) fn open_render_client<D: Device>(
    device: &D,
    endpoint: &EndpointInfo,
    request: &ClientRequest,
) -> Result<OpenedClient<Client<D>>, BackendError> {
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
fn finish<C: AudioClient>(
    client: C,
    format: StreamFormat,
    period_frames: usize,
    min_period_frames: usize,
) -> Result<OpenedClient<C>, BackendError> {
    let buffer = client.buffer_size().ctx("IAudioClient::GetBufferSize")?;
    let latency = client
        .stream_latency()
        .ctx("IAudioClient::GetStreamLatency")?;
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

/// The flags of a shared stream at `rate`: the engine converts other rates than the mix's.
pub(crate) fn shared_flags(rate: u32, mix_rate: u32) -> u32 {
    if rate != mix_rate {
        stream_flags::AUTOCONVERTPCM | stream_flags::SRC_DEFAULT_QUALITY
    } else {
        0
    }
}

fn open_shared<D: Device>(
    device: &D,
    endpoint: &EndpointInfo,
    request: &ClientRequest,
) -> Result<OpenedClient<Client<D>>, BackendError> {
    let rate = request.rate;
    let client = activate_client(device)?;
    let mix = endpoint.mix_format;
    let format = StreamFormat {
        sample_rate: rate,
        ..mix
    };
    let flags = stream_flags::EVENTCALLBACK | shared_flags(rate, mix.sample_rate);
    // Buffer duration 0 asks for the smallest buffer the engine allows in event mode;
    // `buffer_ms` in Wasio.toml overrides it.
    let buffer_hns = request.buffer_duration.map_or(0, hns);
    client
        .initialize(
            ShareMode::Shared,
            flags,
            buffer_hns,
            0,
            &format.to_extensible(),
        )
        .ctx("IAudioClient::Initialize (shared, event)")?;
    let period = scaled(endpoint.default_period_frames, mix.sample_rate, rate);
    let min = scaled(endpoint.min_period_frames, mix.sample_rate, rate);
    finish(client, format, period, min)
}

/// Whether IAudioClient3's periods describe a real low-latency engine. Wine 10 answers
/// with a 208 hns minimum (0 or 1 frames) and a fundamental of 1 frame, and runs its
/// default 10 ms whatever is asked: a minimum below one fundamental period, or under a
/// millisecond, is not a period any audio engine wakes a client at.
pub fn check_engine_periods(p: &EnginePeriods, rate: u32) -> Result<(), String> {
    let plausible = p.min_frames > 0
        && p.fundamental_frames > 0
        && p.min_frames >= p.fundamental_frames
        && p.min_frames as u64 * 1000 >= rate as u64
        && p.max_frames >= p.min_frames;
    if plausible && p.min_frames >= p.default_frames {
        // Wine 10 with a long PULSE_LATENCY_MSEC reports its default as the minimum.
        return Err(format!(
            "the engine's minimum period ({} frames) is not below its default ({} frames): nothing to gain",
            p.min_frames, p.default_frames
        ));
    }
    if plausible {
        Ok(())
    } else {
        Err(format!(
            "the engine reports no usable period (default {}, fundamental {}, min {}, max {} frames)",
            p.default_frames, p.fundamental_frames, p.min_frames, p.max_frames
        ))
    }
}

/// IAudioClient3 at the engine's smallest period. Only at the mix format: the engine period
/// cannot be lowered for a converted stream.
fn open_shared_low_latency<D: Device>(
    device: &D,
    endpoint: &EndpointInfo,
    request: &ClientRequest,
) -> Result<OpenedClient<Client<D>>, BackendError> {
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
    let client = activate_client(device)?;
    let client3 = client
        .client3()
        .ctx("IAudioClient::QueryInterface(IAudioClient3)")?;
    let wave = mix.to_extensible();
    let periods = client3
        .shared_mode_engine_period(&wave)
        .ctx("IAudioClient3::GetSharedModeEnginePeriod")?;
    check_engine_periods(&periods, rate)
        .map_err(|why| BackendError::new("IAudioClient3::GetSharedModeEnginePeriod", why))?;
    let EnginePeriods {
        fundamental_frames: fundamental,
        min_frames: min,
        max_frames: max,
        ..
    } = periods;
    // The smallest period, or `period_ms` rounded up to the engine's fundamental period.
    let period = match request.period {
        Some(p) => {
            let frames = hns_to_frames(hns(p), rate) as u32;
            (frames.div_ceil(fundamental) * fundamental).clamp(min, max)
        }
        None => min,
    };
    client3
        .initialize_shared_audio_stream(stream_flags::EVENTCALLBACK, period, &wave)
        .ctx("IAudioClient3::InitializeSharedAudioStream")?;
    drop(client3);
    finish(client, mix, period as usize, min as usize)
}

/// Initializes a fresh client in exclusive mode with `format`. On failure, the client comes
/// back too (the alignment recipe asks the failed client for the aligned size).
fn initialize_exclusive<D: Device>(
    device: &D,
    format: &StreamFormat,
    layout: WaveLayout,
    event: bool,
    period_hns: i64,
    poll_buffer_hns: Option<i64>,
) -> Result<Client<D>, (BackendError, Option<Client<D>>)> {
    let client = activate_client(device).map_err(|e| (e, None))?;
    let extensible = format.to_extensible();
    let plain = format.to_plain();
    let wave: &[u8] = match (layout, &plain) {
        (WaveLayout::Plain, Some(p)) => p,
        _ => &extensible,
    };
    let (flags, buffer_hns) = if event {
        // Event-driven exclusive: buffer duration = periodicity = one period.
        (stream_flags::EVENTCALLBACK, period_hns)
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
    match client.initialize(ShareMode::Exclusive, flags, buffer_hns, period_hns, wave) {
        Ok(()) => Ok(client),
        Err(hr) => Err((BackendError::from_hresult(what, hr.0), Some(client))),
    }
}

fn open_exclusive<D: Device>(
    device: &D,
    endpoint: &EndpointInfo,
    request: &ClientRequest,
    mode: StreamMode,
) -> Result<OpenedClient<Client<D>>, BackendError> {
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
                let aligned = failed
                    .buffer_size()
                    .ctx("IAudioClient::GetBufferSize (alignment)")?
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
