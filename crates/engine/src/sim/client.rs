//! `IAudioClient::Initialize` and `IAudioClient3::InitializeSharedAudioStream` on the
//! simulated machine, by Microsoft's documented rules:
//!
//! - shared mode: the mix format, or any PCM/float format and rate the engine converts
//!   when `AUTOCONVERTPCM` is set (the profile's rates); periodicity 0; the buffer is at
//!   least what was asked and at least the engine's minimum (three periods), rounded to
//!   whole frames; events every engine period (10 ms);
//! - IAudioClient3: the mix format only, a period that is a whole number of fundamental
//!   periods between the minimum and the maximum (`E_INVALIDARG` otherwise);
//! - exclusive mode: the device's own formats and rates; the period clamped to the
//!   device's minimum; event-driven streams need buffer duration = periodicity
//!   (`AUDCLNT_E_BUFDURATION_PERIOD_NOT_EQUAL`) and, on a device that wants it, a period of
//!   whole 128-byte runs (`AUDCLNT_E_BUFFER_SIZE_NOT_ALIGNED`, after which GetBufferSize
//!   reports the next aligned size and the client cannot be initialized again); the buffer
//!   of an event-driven stream is its period, one event per period;
//! - one exclusive stream per endpoint, and none while shared streams exist
//!   (`AUDCLNT_E_DEVICE_IN_USE`).

use super::spec::Client3Support;
use super::streams::{Shape, Stream, StreamKind};
use super::world::{Init, World};
use crate::format::{hns_to_frames, StreamFormat};
use crate::port::{
    stream_flags, EnginePeriods, Flow, Hr, PortResult, ShareMode, AUDCLNT_E_ALREADY_INITIALIZED,
    AUDCLNT_E_BUFDURATION_PERIOD_NOT_EQUAL, AUDCLNT_E_BUFFER_SIZE_ERROR,
    AUDCLNT_E_BUFFER_SIZE_NOT_ALIGNED, AUDCLNT_E_DEVICE_INVALIDATED, AUDCLNT_E_DEVICE_IN_USE,
    AUDCLNT_E_UNSUPPORTED_FORMAT, E_INVALIDARG, E_NOINTERFACE, E_NOTIMPL, E_POINTER,
};

/// The longest exclusive buffer Windows takes (2 s for push streams).
const MAX_EXCLUSIVE_BUFFER_HNS: i64 = 20_000_000;

/// The client's endpoint, if the client is alive and valid.
pub(crate) fn live_endpoint(world: &World, id: usize) -> PortResult<usize> {
    let client = world.clients.get(id).ok_or(E_POINTER)?;
    if client.generation != world.endpoints[client.endpoint].generation {
        return Err(AUDCLNT_E_DEVICE_INVALIDATED);
    }
    Ok(client.endpoint)
}

fn parse(format: &[u8]) -> PortResult<StreamFormat> {
    if format.len() < 18 {
        return Err(E_POINTER);
    }
    StreamFormat::parse(format).map_err(|_| AUDCLNT_E_UNSUPPORTED_FORMAT)
}

/// frames = duration × rate, to the nearest frame (as the alignment recipe relies on).
fn frames(hns: i64, rate: u32) -> u32 {
    hns_to_frames(hns, rate) as u32
}

/// Whether another client of the endpoint is initialized (`exclusive`: exclusively).
fn others(world: &World, id: usize, endpoint: usize, exclusive_only: bool) -> bool {
    world.clients.iter().any(|(other, c)| {
        other != id
            && c.endpoint == endpoint
            && c.generation == world.endpoints[endpoint].generation
            && matches!(c.init, Init::Ready)
            && c.stream.as_ref().is_some_and(|s| {
                !exclusive_only
                    || matches!(
                        s.kind,
                        StreamKind::ExclusiveEvent | StreamKind::ExclusivePoll
                    )
            })
    })
}

/// Whether the shared engine takes `format` with these flags on `endpoint`.
fn shared_format_ok(world: &World, endpoint: usize, format: &StreamFormat, flags: u32) -> bool {
    let e = &world.endpoints[endpoint];
    if *format == e.mix {
        return true;
    }
    let converts = flags & stream_flags::AUTOCONVERTPCM != 0;
    converts && format.channels == e.mix.channels && e.rates.contains(&format.sample_rate)
}

pub(crate) fn initialize(
    world: &mut World,
    id: usize,
    share: ShareMode,
    flags: u32,
    buffer_hns: i64,
    period_hns: i64,
    bytes: &[u8],
) -> PortResult<()> {
    let endpoint = live_endpoint(world, id)?;
    match world.clients.get(id).map(|c| &c.init) {
        Some(Init::Fresh) => {}
        _ => return Err(AUDCLNT_E_ALREADY_INITIALIZED),
    }
    let result = match share {
        ShareMode::Shared => init_shared(world, id, endpoint, flags, buffer_hns, period_hns, bytes),
        ShareMode::Exclusive => {
            init_exclusive(world, id, endpoint, flags, buffer_hns, period_hns, bytes)
        }
    };
    let client = world.clients.get_mut(id).ok_or(E_POINTER)?;
    match result {
        Ok(stream) => {
            client.stream = Some(stream);
            client.init = Init::Ready;
            Ok(())
        }
        Err((hr, aligned)) => {
            client.init = match aligned {
                Some(frames) => Init::Unaligned(frames),
                None => Init::Failed,
            };
            Err(hr)
        }
    }
}

type InitResult = Result<Stream, (Hr, Option<u32>)>;

fn init_shared(
    world: &World,
    id: usize,
    endpoint: usize,
    flags: u32,
    buffer_hns: i64,
    period_hns: i64,
    bytes: &[u8],
) -> InitResult {
    let format = parse(bytes).map_err(|hr| (hr, None))?;
    if period_hns != 0 || buffer_hns < 0 {
        return Err((E_INVALIDARG, None));
    }
    if !shared_format_ok(world, endpoint, &format, flags) {
        return Err((AUDCLNT_E_UNSUPPORTED_FORMAT, None));
    }
    if others(world, id, endpoint, true) {
        return Err((AUDCLNT_E_DEVICE_IN_USE, None));
    }
    let e = &world.endpoints[endpoint];
    let rate = format.sample_rate;
    let period = frames(e.default_period_hns, rate);
    let buffer = frames(buffer_hns.max(e.min_buffer_hns), rate);
    let capture = e.flow == Flow::Capture;
    let ppm = e
        .input
        .as_ref()
        .filter(|i| !i.shared_clock)
        .map_or(0.0, |i| i.ppm);
    let latency = crate::format::frames_to_hns(world.spec.stream_latency_frames, rate);
    Ok(Stream::new(Shape {
        kind: StreamKind::Shared,
        capture,
        event_driven: flags & stream_flags::EVENTCALLBACK != 0,
        format,
        buffer_frames: buffer,
        period_frames: period,
        latency_hns: if capture { 0 } else { latency },
        ppm,
    }))
}

fn init_exclusive(
    world: &World,
    id: usize,
    endpoint: usize,
    flags: u32,
    buffer_hns: i64,
    period_hns: i64,
    bytes: &[u8],
) -> InitResult {
    let spec = &world.spec;
    let e = &world.endpoints[endpoint];
    let event = flags & stream_flags::EVENTCALLBACK != 0;
    if flags & stream_flags::AUTOCONVERTPCM != 0 {
        return Err((E_INVALIDARG, None));
    }
    if let Some(hr) = spec.exclusive_refusal {
        return Err((hr, None));
    }
    if let Some(hr) = spec.exclusive_event_refusal.filter(|_| event) {
        return Err((hr, None));
    }
    if others(world, id, endpoint, false) {
        return Err((AUDCLNT_E_DEVICE_IN_USE, None));
    }
    let format = parse(bytes).map_err(|hr| (hr, None))?;
    let native = format.channels == e.mix.channels
        && e.rates.contains(&format.sample_rate)
        && spec.exclusive_formats.contains(&format.encoding);
    if !native || e.flow == Flow::Capture {
        return Err((AUDCLNT_E_UNSUPPORTED_FORMAT, None));
    }
    if event && buffer_hns != period_hns {
        return Err((AUDCLNT_E_BUFDURATION_PERIOD_NOT_EQUAL, None));
    }
    let rate = format.sample_rate;
    // 0 asks for the default period; a period below the minimum is raised to it.
    let period_hns = if period_hns == 0 {
        e.default_period_hns
    } else {
        period_hns.max(e.min_period_hns)
    };
    let period = frames(period_hns, rate).max(1);
    if event {
        if let Some(align) = spec.alignment_bytes {
            let bytes = period as usize * format.frame_bytes();
            if !bytes.is_multiple_of(align) {
                let step = align / gcd(format.frame_bytes(), align);
                let aligned = (period as usize).div_ceil(step) * step;
                return Err((AUDCLNT_E_BUFFER_SIZE_NOT_ALIGNED, Some(aligned as u32)));
            }
        }
        return Ok(Stream::new(Shape {
            kind: StreamKind::ExclusiveEvent,
            capture: false,
            event_driven: true,
            format,
            buffer_frames: period,
            period_frames: period,
            latency_hns: 0,
            ppm: 0.0,
        }));
    }
    if buffer_hns > MAX_EXCLUSIVE_BUFFER_HNS {
        return Err((AUDCLNT_E_BUFFER_SIZE_ERROR, None));
    }
    let buffer = match spec.exclusive_poll_periods {
        Some(periods) => period * periods as u32,
        None => frames(buffer_hns, rate).max(period),
    };
    Ok(Stream::new(Shape {
        kind: StreamKind::ExclusivePoll,
        capture: false,
        event_driven: false,
        format,
        buffer_frames: buffer,
        period_frames: period,
        latency_hns: 0,
        ppm: 0.0,
    }))
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// `QueryInterface(IAudioClient3)`.
pub(crate) fn client3(world: &World, id: usize) -> PortResult<()> {
    let endpoint = live_endpoint(world, id)?;
    if world.endpoints[endpoint].flow == Flow::Capture
        || world.spec.client3 == Client3Support::Absent
    {
        return Err(E_NOINTERFACE);
    }
    Ok(())
}

/// `GetSharedModeEnginePeriod` for a format, in frames at its rate.
pub(crate) fn engine_periods(world: &World, id: usize, bytes: &[u8]) -> PortResult<EnginePeriods> {
    let endpoint = live_endpoint(world, id)?;
    let format = parse(bytes)?;
    let e = &world.endpoints[endpoint];
    let scale = |f: u32| (f as u64 * format.sample_rate as u64 / e.mix.sample_rate as u64) as u32;
    // Wine's arithmetic: duration × rate / 10⁷, truncated.
    let truncated = |hns: i64| (hns as u64 * format.sample_rate as u64 / 10_000_000) as u32;
    match world.spec.client3 {
        Client3Support::Absent => Err(E_NOINTERFACE),
        Client3Support::NotImplemented => Err(E_NOTIMPL),
        Client3Support::Periods {
            default_frames,
            fundamental_frames,
            min_frames,
            max_frames,
        } => Ok(EnginePeriods {
            default_frames: scale(default_frames),
            fundamental_frames: scale(fundamental_frames),
            min_frames: scale(min_frames),
            max_frames: scale(max_frames),
        }),
        Client3Support::Nominal => Ok(EnginePeriods {
            default_frames: truncated(e.default_period_hns),
            fundamental_frames: 1,
            min_frames: truncated(e.min_period_hns),
            max_frames: truncated(e.default_period_hns),
        }),
    }
}

/// The engine's period now: the smallest low-latency stream's, else the default.
pub(crate) fn current_engine_period(world: &World, id: usize) -> PortResult<(Vec<u8>, u32)> {
    let endpoint = live_endpoint(world, id)?;
    if world.spec.client3 == Client3Support::NotImplemented {
        return Err(E_NOTIMPL);
    }
    let e = &world.endpoints[endpoint];
    let period = world
        .clients
        .iter()
        .filter(|(_, c)| c.endpoint == endpoint)
        .filter_map(|(_, c)| c.stream.as_ref())
        .filter(|s| s.kind == StreamKind::LowLatency && s.running)
        .map(|s| s.period_frames)
        .min()
        .unwrap_or_else(|| frames(e.default_period_hns, e.mix.sample_rate));
    Ok((e.mix.to_extensible().to_vec(), period))
}

/// `InitializeSharedAudioStream(flags, period, format)`.
pub(crate) fn initialize_shared_audio_stream(
    world: &mut World,
    id: usize,
    flags: u32,
    period_frames: u32,
    bytes: &[u8],
) -> PortResult<()> {
    let endpoint = live_endpoint(world, id)?;
    match world.spec.client3 {
        Client3Support::Absent => return Err(E_NOINTERFACE),
        Client3Support::NotImplemented => return Err(E_NOTIMPL),
        // Wine 10: an ordinary shared stream at the engine's default period.
        Client3Support::Nominal => {
            return initialize(world, id, ShareMode::Shared, flags, 0, 0, bytes);
        }
        Client3Support::Periods { .. } => {}
    }
    match world.clients.get(id).map(|c| &c.init) {
        Some(Init::Fresh) => {}
        _ => return Err(AUDCLNT_E_ALREADY_INITIALIZED),
    }
    let format = parse(bytes)?;
    let periods = engine_periods(world, id, bytes)?;
    let e = &world.endpoints[endpoint];
    let mut result = Ok(());
    if flags & !stream_flags::EVENTCALLBACK != 0 {
        result = Err(E_INVALIDARG);
    } else if format != e.mix {
        result = Err(AUDCLNT_E_UNSUPPORTED_FORMAT);
    } else if period_frames < periods.min_frames
        || period_frames > periods.max_frames
        || !period_frames.is_multiple_of(periods.fundamental_frames.max(1))
    {
        result = Err(E_INVALIDARG);
    } else if others(world, id, endpoint, true) {
        result = Err(AUDCLNT_E_DEVICE_IN_USE);
    }
    let buffer = period_frames * world.spec.client3_buffer_periods as u32;
    let client = world.clients.get_mut(id).ok_or(E_POINTER)?;
    match result {
        Ok(()) => {
            client.stream = Some(Stream::new(Shape {
                kind: StreamKind::LowLatency,
                capture: false,
                event_driven: flags & stream_flags::EVENTCALLBACK != 0,
                format,
                buffer_frames: buffer,
                period_frames,
                latency_hns: 0,
                ppm: 0.0,
            }));
            client.init = Init::Ready;
            Ok(())
        }
        Err(hr) => {
            client.init = Init::Failed;
            Err(hr)
        }
    }
}
