//! The simulated `IAudioClient` and its services.

use super::client::{self, live_endpoint};
use super::streams::StreamKind;
use super::world::{Init, Shared, World};
use super::{SimHandle, SimPort};
use crate::port::*;
use crate::rt_guard::outside_rt;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// `IAudioClient` (and, through [`SimClient3`], `IAudioClient3`).
pub struct SimClient {
    pub(crate) id: usize,
    pub(crate) shared: Arc<Shared>,
}

impl Drop for SimClient {
    fn drop(&mut self) {
        let mut world = self.shared.lock();
        world.clients.remove(self.id);
        let held = world.render_held();
        self.shared
            .control
            .endpoint_held
            .store(held, Ordering::Release);
    }
}

impl SimClient {
    /// Runs `f` on this client's stream, if it is alive, valid and initialized.
    fn with_stream<T>(
        &self,
        f: impl FnOnce(&mut World, &mut super::streams::Stream) -> PortResult<T>,
    ) -> PortResult<T> {
        outside_rt(|| {
            let mut world = self.shared.lock();
            live_endpoint(&world, self.id)?;
            let mut stream = world
                .clients
                .get_mut(self.id)
                .and_then(|c| c.stream.take())
                .ok_or(AUDCLNT_E_NOT_INITIALIZED)?;
            let result = f(&mut world, &mut stream);
            if let Some(c) = world.clients.get_mut(self.id) {
                c.stream = Some(stream);
            }
            result
        })
    }

    fn after_init(&self, result: PortResult<()>) -> PortResult<()> {
        let world = self.shared.lock();
        let control = &self.shared.control;
        control
            .endpoint_held
            .store(world.render_held(), Ordering::Release);
        if result.is_ok() {
            let client = world.clients.get(self.id).ok_or(E_POINTER)?;
            let endpoint = &world.endpoints[client.endpoint];
            if endpoint.flow == Flow::Render {
                *control
                    .opened_endpoint
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()) = Some(endpoint.id.clone());
            }
        }
        result
    }
}

impl AudioClient for SimClient {
    type Port = SimPort;

    fn initialize(
        &self,
        share: ShareMode,
        flags: u32,
        buffer_hns: i64,
        period_hns: i64,
        format: &[u8],
    ) -> PortResult<()> {
        let result = {
            let mut world = self.shared.lock();
            client::initialize(
                &mut world, self.id, share, flags, buffer_hns, period_hns, format,
            )
        };
        self.after_init(result)
    }

    fn buffer_size(&self) -> PortResult<u32> {
        let world = self.shared.lock();
        live_endpoint(&world, self.id)?;
        let client = world.clients.get(self.id).ok_or(E_POINTER)?;
        match (&client.init, &client.stream) {
            (Init::Unaligned(aligned), _) => Ok(*aligned),
            (Init::Ready, Some(stream)) => Ok(stream.buffer_frames),
            _ => Err(AUDCLNT_E_NOT_INITIALIZED),
        }
    }

    fn stream_latency(&self) -> PortResult<i64> {
        self.with_stream(|_, s| Ok(s.latency_hns))
    }

    fn current_padding(&self) -> PortResult<u32> {
        self.with_stream(|_, s| Ok(s.queued_frames()))
    }

    fn is_format_supported(&self, share: ShareMode, format: &[u8]) -> PortResult<FormatSupport> {
        let world = self.shared.lock();
        let endpoint = live_endpoint(&world, self.id)?;
        let parsed =
            crate::format::StreamFormat::parse(format).map_err(|_| AUDCLNT_E_UNSUPPORTED_FORMAT)?;
        let e = &world.endpoints[endpoint];
        match share {
            ShareMode::Shared if parsed == e.mix => Ok(FormatSupport::Supported),
            ShareMode::Shared => Ok(FormatSupport::Closest(e.mix.to_extensible().to_vec())),
            ShareMode::Exclusive => {
                if let Some(hr) = world.spec.exclusive_refusal {
                    return Err(hr);
                }
                let native = e.flow == Flow::Render
                    && parsed.channels == e.mix.channels
                    && e.rates.contains(&parsed.sample_rate)
                    && world.spec.exclusive_formats.contains(&parsed.encoding);
                if native {
                    Ok(FormatSupport::Supported)
                } else {
                    Err(AUDCLNT_E_UNSUPPORTED_FORMAT)
                }
            }
        }
    }

    fn mix_format(&self) -> PortResult<Vec<u8>> {
        let world = self.shared.lock();
        let endpoint = live_endpoint(&world, self.id)?;
        Ok(world.endpoints[endpoint].mix.to_extensible().to_vec())
    }

    fn device_period(&self) -> PortResult<(i64, i64)> {
        let world = self.shared.lock();
        let endpoint = live_endpoint(&world, self.id)?;
        let e = &world.endpoints[endpoint];
        Ok((e.default_period_hns, e.min_period_hns))
    }

    fn start(&self) -> PortResult<()> {
        let capture = self.with_stream(|world, s| {
            if s.running {
                return Err(AUDCLNT_E_NOT_STOPPED);
            }
            let event = world.clients.get(self.id).and_then(|c| c.event);
            if s.event_driven && event.is_none() {
                return Err(AUDCLNT_E_EVENTHANDLE_NOT_SET);
            }
            s.running = true;
            s.start_ns = world.now_ns;
            s.next_period = 1;
            if s.kind == StreamKind::ExclusiveEvent || !s.capture {
                let endpoint = world.clients.get(self.id).map_or(0, |c| c.endpoint);
                if s.position == 0 {
                    world.endpoints[endpoint].history.restart(&s.format);
                }
            }
            Ok(s.capture)
        })?;
        if !capture {
            self.shared
                .control
                .endpoint_opens
                .fetch_add(1, Ordering::AcqRel);
        }
        Ok(())
    }

    fn stop(&self) -> PortResult<()> {
        self.with_stream(|_, s| {
            s.running = false;
            Ok(())
        })
    }

    fn reset(&self) -> PortResult<()> {
        self.with_stream(|_, s| {
            if s.running {
                return Err(AUDCLNT_E_NOT_STOPPED);
            }
            s.reset();
            Ok(())
        })
    }

    fn set_event_handle(&self, event: &SimHandle) -> PortResult<()> {
        let handle = event.id();
        self.with_stream(|world, s| {
            if !s.event_driven {
                return Err(AUDCLNT_E_EVENTHANDLE_NOT_EXPECTED);
            }
            if let Some(c) = world.clients.get_mut(self.id) {
                c.event = Some(handle);
            }
            Ok(())
        })
    }

    fn render_client(&self) -> PortResult<SimRender> {
        let (frame_bytes, buffer) = self.with_stream(|_, s| {
            if s.capture {
                return Err(AUDCLNT_E_WRONG_ENDPOINT_TYPE);
            }
            Ok((s.frame_bytes, s.buffer_frames as usize))
        })?;
        Ok(SimRender {
            id: self.id,
            shared: self.shared.clone(),
            scratch: vec![0; frame_bytes * buffer],
            frame_bytes,
        })
    }

    fn capture_client(&self) -> PortResult<SimCapture> {
        let (frame_bytes, buffer) = self.with_stream(|_, s| {
            if !s.capture {
                return Err(AUDCLNT_E_WRONG_ENDPOINT_TYPE);
            }
            Ok((s.frame_bytes, s.buffer_frames as usize))
        })?;
        Ok(SimCapture {
            id: self.id,
            shared: self.shared.clone(),
            scratch: vec![0; frame_bytes * buffer],
        })
    }

    fn clock(&self) -> PortResult<SimClock> {
        self.with_stream(|_, _| Ok(()))?;
        Ok(SimClock {
            id: self.id,
            shared: self.shared.clone(),
        })
    }

    fn client3(&self) -> PortResult<SimClient3> {
        client::client3(&self.shared.lock(), self.id)?;
        Ok(SimClient3 {
            id: self.id,
            shared: self.shared.clone(),
        })
    }
}

/// The same client's `IAudioClient3` face.
pub struct SimClient3 {
    id: usize,
    shared: Arc<Shared>,
}

impl AudioClient3 for SimClient3 {
    fn shared_mode_engine_period(&self, format: &[u8]) -> PortResult<EnginePeriods> {
        client::engine_periods(&self.shared.lock(), self.id, format)
    }

    fn current_shared_mode_engine_period(&self) -> PortResult<(Vec<u8>, u32)> {
        client::current_engine_period(&self.shared.lock(), self.id)
    }

    fn initialize_shared_audio_stream(
        &self,
        flags: u32,
        period_frames: u32,
        format: &[u8],
    ) -> PortResult<()> {
        let result = {
            let mut world = self.shared.lock();
            client::initialize_shared_audio_stream(
                &mut world,
                self.id,
                flags,
                period_frames,
                format,
            )
        };
        let world = self.shared.lock();
        self.shared
            .control
            .endpoint_held
            .store(world.render_held(), Ordering::Release);
        result
    }
}

/// `IAudioRenderClient`: hands out its own buffer, queued on release.
pub struct SimRender {
    id: usize,
    shared: Arc<Shared>,
    scratch: Vec<u8>,
    frame_bytes: usize,
}

impl SimRender {
    fn with_stream<T>(
        &self,
        f: impl FnOnce(&mut super::streams::Stream) -> PortResult<T>,
    ) -> PortResult<T> {
        outside_rt(|| {
            let mut world = self.shared.lock();
            live_endpoint(&world, self.id)?;
            let stream = world
                .clients
                .get_mut(self.id)
                .and_then(|c| c.stream.as_mut())
                .ok_or(AUDCLNT_E_NOT_INITIALIZED)?;
            f(stream)
        })
    }
}

impl RenderClient for SimRender {
    fn get_buffer(&mut self, frames: u32) -> PortResult<&mut [u8]> {
        self.with_stream(|s| {
            if s.pending_get.is_some() {
                return Err(AUDCLNT_E_OUT_OF_ORDER);
            }
            if frames > s.buffer_frames - s.queued_frames() {
                return Err(AUDCLNT_E_BUFFER_TOO_LARGE);
            }
            s.pending_get = Some(frames);
            Ok(())
        })?;
        let bytes = frames as usize * self.frame_bytes;
        Ok(&mut self.scratch[..bytes])
    }

    fn release_buffer(&mut self, frames: u32, flags: u32) -> PortResult<()> {
        let scratch = &self.scratch;
        let frame_bytes = self.frame_bytes;
        let id = self.id;
        let shared = &self.shared;
        outside_rt(|| {
            let mut world = shared.lock();
            live_endpoint(&world, id)?;
            let s = world
                .clients
                .get_mut(id)
                .and_then(|c| c.stream.as_mut())
                .ok_or(AUDCLNT_E_NOT_INITIALIZED)?;
            let asked = s.pending_get.take().ok_or(AUDCLNT_E_OUT_OF_ORDER)?;
            if frames > asked {
                return Err(AUDCLNT_E_INVALID_SIZE);
            }
            let bytes = frames as usize * frame_bytes;
            if flags & buffer_flags::SILENT != 0 {
                s.queue.extend(std::iter::repeat_n(0u8, bytes));
            } else {
                s.queue.extend(&scratch[..bytes]);
            }
            Ok(())
        })
    }
}

/// `IAudioCaptureClient`: copies the next packet into its own buffer.
pub struct SimCapture {
    id: usize,
    shared: Arc<Shared>,
    scratch: Vec<u8>,
}

impl CaptureClient for SimCapture {
    fn next_packet_size(&mut self) -> PortResult<u32> {
        outside_rt(|| {
            let world = self.shared.lock();
            live_endpoint(&world, self.id)?;
            let s = world
                .clients
                .get(self.id)
                .and_then(|c| c.stream.as_ref())
                .ok_or(AUDCLNT_E_NOT_INITIALIZED)?;
            Ok(s.packets.front().map_or(0, |p| p.frames))
        })
    }

    fn get_buffer(&mut self) -> PortResult<CapturePacket<'_>> {
        let (frames, flags, position, stamp_ns, bytes) = {
            let scratch = &mut self.scratch;
            outside_rt(|| {
                let mut world = self.shared.lock();
                live_endpoint(&world, self.id)?;
                let now = world.now_ns;
                let s = world
                    .clients
                    .get_mut(self.id)
                    .and_then(|c| c.stream.as_mut())
                    .ok_or(AUDCLNT_E_NOT_INITIALIZED)?;
                if s.reading.is_some() {
                    return Err(AUDCLNT_E_OUT_OF_ORDER);
                }
                let Some(packet) = s.packets.front() else {
                    // AUDCLNT_S_BUFFER_EMPTY.
                    return Ok((0, 0, 0, now, 0));
                };
                let bytes = packet.data.len().min(scratch.len());
                scratch[..bytes].copy_from_slice(&packet.data[..bytes]);
                let flags = if packet.discontinuity {
                    buffer_flags::DATA_DISCONTINUITY
                } else {
                    0
                };
                let result = (
                    packet.frames,
                    flags,
                    packet.position,
                    packet.stamp_ns.unwrap_or(now),
                    bytes,
                );
                s.reading = Some(packet.frames);
                Ok(result)
            })?
        };
        Ok(CapturePacket {
            data: &self.scratch[..bytes],
            frames,
            flags,
            device_position: position,
            qpc_100ns: stamp_ns / 100,
        })
    }

    fn release_buffer(&mut self, frames: u32) -> PortResult<()> {
        outside_rt(|| {
            let mut world = self.shared.lock();
            live_endpoint(&world, self.id)?;
            let s = world
                .clients
                .get_mut(self.id)
                .and_then(|c| c.stream.as_mut())
                .ok_or(AUDCLNT_E_NOT_INITIALIZED)?;
            let read = s.reading.take().ok_or(AUDCLNT_E_OUT_OF_ORDER)?;
            match frames {
                0 => Ok(()),
                f if f == read => {
                    s.packets.pop_front();
                    Ok(())
                }
                _ => Err(AUDCLNT_E_INVALID_SIZE),
            }
        })
    }
}

/// `IAudioClock`: the position in bytes (the frequency is the byte rate), with its QPC time.
pub struct SimClock {
    id: usize,
    shared: Arc<Shared>,
}

impl AudioClock for SimClock {
    fn frequency(&self) -> PortResult<u64> {
        let world = self.shared.lock();
        live_endpoint(&world, self.id)?;
        let s = world
            .clients
            .get(self.id)
            .and_then(|c| c.stream.as_ref())
            .ok_or(AUDCLNT_E_NOT_INITIALIZED)?;
        Ok(s.format.sample_rate as u64 * s.frame_bytes as u64)
    }

    fn position(&self) -> PortResult<(u64, u64)> {
        outside_rt(|| {
            let world = self.shared.lock();
            live_endpoint(&world, self.id)?;
            let s = world
                .clients
                .get(self.id)
                .and_then(|c| c.stream.as_ref())
                .ok_or(AUDCLNT_E_NOT_INITIALIZED)?;
            let frames = if s.capture {
                s.packets_made * s.period_frames as u64
            } else {
                s.position_at(world.now_ns)
            };
            Ok((frames * s.frame_bytes as u64, world.now_ns / 100))
        })
    }
}
