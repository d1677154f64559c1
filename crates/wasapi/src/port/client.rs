//! `IAudioClient`, `IAudioClient3` and the client's services.

use super::{hr, OwnedHandle, WasapiPort};
use std::cell::Cell;
use std::rc::Rc;
use wasio_engine::port::{
    AudioClient, AudioClient3, AudioClock, CaptureClient, CapturePacket, EnginePeriods,
    FormatSupport, Hr, PortResult, RenderClient, ShareMode, E_POINTER,
};
use windows::core::Interface;
use windows::Win32::Media::Audio::{
    IAudioCaptureClient, IAudioClient, IAudioClient3, IAudioClock, IAudioRenderClient,
    AUDCLNT_SHAREMODE, AUDCLNT_SHAREMODE_EXCLUSIVE, AUDCLNT_SHAREMODE_SHARED, WAVEFORMATEX,
};
use windows::Win32::System::Com::CoTaskMemFree;

fn share_mode(share: ShareMode) -> AUDCLNT_SHAREMODE {
    match share {
        ShareMode::Shared => AUDCLNT_SHAREMODE_SHARED,
        ShareMode::Exclusive => AUDCLNT_SHAREMODE_EXCLUSIVE,
    }
}

/// A WAVEFORMATEX the caller hands in: at least the 18-byte header, or `E_POINTER`.
fn wave(format: &[u8]) -> PortResult<*const WAVEFORMATEX> {
    if format.len() < 18 {
        return Err(E_POINTER);
    }
    Ok(format.as_ptr() as *const WAVEFORMATEX)
}

/// `nBlockAlign` of a WAVEFORMATEX: the bytes of one frame.
fn block_align(format: &[u8]) -> u16 {
    u16::from_le_bytes([format[12], format[13]])
}

/// Copies a WAVEFORMATEX the system allocated and frees it.
///
/// # Safety
/// `format` must be a CoTaskMem-allocated WAVEFORMATEX (with its `cbSize` tail) or null.
unsafe fn take_format(format: *mut WAVEFORMATEX) -> PortResult<Vec<u8>> {
    if format.is_null() {
        return Err(E_POINTER);
    }
    // SAFETY: the caller guarantees a valid WAVEFORMATEX; cbSize says how long its tail is.
    let bytes = unsafe {
        let extra = std::ptr::addr_of!((*format).cbSize).read_unaligned() as usize;
        std::slice::from_raw_parts(format as *const u8, 18 + extra).to_vec()
    };
    // SAFETY: the format was allocated by COM for us to free.
    unsafe { CoTaskMemFree(Some(format as *const _)) };
    Ok(bytes)
}

/// `IAudioClient`, and the frame size it was initialized with (so that the buffers its
/// services hand out can be typed as byte slices of the right length).
pub struct WasapiClient {
    client: IAudioClient,
    /// Shared with the client's IAudioClient3 face, which may initialize it.
    block_align: Rc<Cell<u16>>,
}

impl WasapiClient {
    pub(crate) fn new(client: IAudioClient) -> Self {
        Self {
            client,
            block_align: Rc::new(Cell::new(0)),
        }
    }
}

impl AudioClient for WasapiClient {
    type Port = WasapiPort;

    fn initialize(
        &self,
        share: ShareMode,
        flags: u32,
        buffer_hns: i64,
        period_hns: i64,
        format: &[u8],
    ) -> PortResult<()> {
        let pointer = wave(format)?;
        // SAFETY: `format` is a whole WAVEFORMATEX(TENSIBLE) that outlives the call.
        unsafe {
            self.client.Initialize(
                share_mode(share),
                flags,
                buffer_hns,
                period_hns,
                pointer,
                None,
            )
        }
        .map_err(hr)?;
        self.block_align.set(block_align(format));
        Ok(())
    }

    fn buffer_size(&self) -> PortResult<u32> {
        // SAFETY: plain COM call on a valid interface.
        unsafe { self.client.GetBufferSize() }.map_err(hr)
    }

    fn stream_latency(&self) -> PortResult<i64> {
        // SAFETY: plain COM call on a valid interface.
        unsafe { self.client.GetStreamLatency() }.map_err(hr)
    }

    fn current_padding(&self) -> PortResult<u32> {
        // SAFETY: plain COM call on a valid interface.
        unsafe { self.client.GetCurrentPadding() }.map_err(hr)
    }

    fn is_format_supported(&self, share: ShareMode, format: &[u8]) -> PortResult<FormatSupport> {
        let pointer = wave(format)?;
        let mut closest: *mut WAVEFORMATEX = std::ptr::null_mut();
        // Exclusive mode takes no closest-match pointer.
        let out = (share == ShareMode::Shared).then_some(&mut closest as *mut _);
        // SAFETY: `format` outlives the call; `closest` is a local out-pointer.
        let result = unsafe {
            self.client
                .IsFormatSupported(share_mode(share), pointer, out)
        };
        if result.is_err() {
            return Err(Hr(result.0));
        }
        if closest.is_null() {
            return Ok(FormatSupport::Supported);
        }
        // SAFETY: S_FALSE hands a CoTaskMem format for us to free.
        Ok(FormatSupport::Closest(unsafe { take_format(closest) }?))
    }

    fn mix_format(&self) -> PortResult<Vec<u8>> {
        // SAFETY: GetMixFormat returns a CoTaskMem WAVEFORMATEX, consumed by take_format.
        unsafe { take_format(self.client.GetMixFormat().map_err(hr)?) }
    }

    fn device_period(&self) -> PortResult<(i64, i64)> {
        let (mut default, mut minimum) = (0i64, 0i64);
        // SAFETY: out-pointers to locals.
        unsafe {
            self.client
                .GetDevicePeriod(Some(&mut default), Some(&mut minimum))
        }
        .map_err(hr)?;
        Ok((default, minimum))
    }

    fn start(&self) -> PortResult<()> {
        // SAFETY: plain COM call on a valid interface.
        unsafe { self.client.Start() }.map_err(hr)
    }

    fn stop(&self) -> PortResult<()> {
        // SAFETY: plain COM call on a valid interface.
        unsafe { self.client.Stop() }.map_err(hr)
    }

    fn reset(&self) -> PortResult<()> {
        // SAFETY: plain COM call on a valid interface.
        unsafe { self.client.Reset() }.map_err(hr)
    }

    fn set_event_handle(&self, event: &OwnedHandle) -> PortResult<()> {
        // SAFETY: plain COM call; the engine drops the client before the event.
        unsafe { self.client.SetEventHandle(event.0) }.map_err(hr)
    }

    fn render_client(&self) -> PortResult<WasapiRender> {
        // SAFETY: plain COM call on a valid interface.
        let render = unsafe { self.client.GetService::<IAudioRenderClient>() }.map_err(hr)?;
        Ok(WasapiRender {
            render,
            frame_bytes: self.block_align.get() as usize,
        })
    }

    fn capture_client(&self) -> PortResult<WasapiCapture> {
        // SAFETY: plain COM call on a valid interface.
        let capture = unsafe { self.client.GetService::<IAudioCaptureClient>() }.map_err(hr)?;
        Ok(WasapiCapture {
            capture,
            frame_bytes: self.block_align.get() as usize,
        })
    }

    fn clock(&self) -> PortResult<WasapiClock> {
        // SAFETY: plain COM call on a valid interface.
        unsafe { self.client.GetService::<IAudioClock>() }
            .map(WasapiClock)
            .map_err(hr)
    }

    fn client3(&self) -> PortResult<WasapiClient3> {
        let client3 = self.client.cast::<IAudioClient3>().map_err(hr)?;
        Ok(WasapiClient3 {
            client3,
            block_align: self.block_align.clone(),
        })
    }
}

/// The same object's `IAudioClient3`. It records the frame size in the client it came from
/// when it initializes the stream.
pub struct WasapiClient3 {
    client3: IAudioClient3,
    /// The originating [`WasapiClient`]'s frame size.
    block_align: Rc<Cell<u16>>,
}

impl AudioClient3 for WasapiClient3 {
    fn shared_mode_engine_period(&self, format: &[u8]) -> PortResult<EnginePeriods> {
        let pointer = wave(format)?;
        let mut p = EnginePeriods::default();
        // SAFETY: `format` outlives the call; the out-pointers are fields of a local.
        unsafe {
            self.client3.GetSharedModeEnginePeriod(
                pointer,
                &mut p.default_frames,
                &mut p.fundamental_frames,
                &mut p.min_frames,
                &mut p.max_frames,
            )
        }
        .map_err(hr)?;
        Ok(p)
    }

    fn current_shared_mode_engine_period(&self) -> PortResult<(Vec<u8>, u32)> {
        let (mut format, mut period) = (std::ptr::null_mut(), 0u32);
        // SAFETY: out-pointers to locals; the format is CoTaskMem, consumed by take_format.
        unsafe {
            self.client3
                .GetCurrentSharedModeEnginePeriod(&mut format, &mut period)
                .map_err(hr)?;
            Ok((take_format(format)?, period))
        }
    }

    fn initialize_shared_audio_stream(
        &self,
        flags: u32,
        period_frames: u32,
        format: &[u8],
    ) -> PortResult<()> {
        let pointer = wave(format)?;
        // SAFETY: `format` outlives the call.
        unsafe {
            self.client3
                .InitializeSharedAudioStream(flags, period_frames, pointer, None)
        }
        .map_err(hr)?;
        self.block_align.set(block_align(format));
        Ok(())
    }
}

/// `IAudioRenderClient`.
pub struct WasapiRender {
    render: IAudioRenderClient,
    frame_bytes: usize,
}

impl RenderClient for WasapiRender {
    fn get_buffer(&mut self, frames: u32) -> PortResult<&mut [u8]> {
        // SAFETY: plain COM call on the running client.
        let data = unsafe { self.render.GetBuffer(frames) }.map_err(hr)?;
        if data.is_null() || frames == 0 {
            return Ok(&mut []);
        }
        // SAFETY: GetBuffer hands `frames` frames of `frame_bytes` (the format's nBlockAlign)
        // writable bytes, valid until ReleaseBuffer, which the `&mut self` borrow holds off.
        Ok(unsafe { std::slice::from_raw_parts_mut(data, frames as usize * self.frame_bytes) })
    }

    fn release_buffer(&mut self, frames: u32, flags: u32) -> PortResult<()> {
        // SAFETY: releases the frames obtained by the last GetBuffer.
        unsafe { self.render.ReleaseBuffer(frames, flags) }.map_err(hr)
    }
}

/// `IAudioCaptureClient`.
pub struct WasapiCapture {
    capture: IAudioCaptureClient,
    frame_bytes: usize,
}

impl CaptureClient for WasapiCapture {
    fn next_packet_size(&mut self) -> PortResult<u32> {
        // SAFETY: plain COM call on the running client.
        unsafe { self.capture.GetNextPacketSize() }.map_err(hr)
    }

    fn get_buffer(&mut self) -> PortResult<CapturePacket<'_>> {
        let (mut data, mut frames, mut flags) = (std::ptr::null_mut(), 0u32, 0u32);
        let (mut position, mut qpc) = (0u64, 0u64);
        // SAFETY: out-pointers to locals.
        unsafe {
            self.capture.GetBuffer(
                &mut data,
                &mut frames,
                &mut flags,
                Some(&mut position),
                Some(&mut qpc),
            )
        }
        .map_err(hr)?;
        let data: &[u8] = if data.is_null() || frames == 0 {
            &[]
        } else {
            // SAFETY: GetBuffer handed `frames` whole frames at `data`, valid until
            // ReleaseBuffer, which the `&mut self` borrow holds off.
            unsafe { std::slice::from_raw_parts(data, frames as usize * self.frame_bytes) }
        };
        Ok(CapturePacket {
            data,
            frames,
            flags,
            device_position: position,
            qpc_100ns: qpc,
        })
    }

    fn release_buffer(&mut self, frames: u32) -> PortResult<()> {
        // SAFETY: releases exactly the packet obtained by the last GetBuffer.
        unsafe { self.capture.ReleaseBuffer(frames) }.map_err(hr)
    }
}

/// `IAudioClock`.
pub struct WasapiClock(IAudioClock);

impl AudioClock for WasapiClock {
    fn frequency(&self) -> PortResult<u64> {
        // SAFETY: plain COM call on a valid interface.
        unsafe { self.0.GetFrequency() }.map_err(hr)
    }

    fn position(&self) -> PortResult<(u64, u64)> {
        let (mut position, mut qpc) = (0u64, 0u64);
        // SAFETY: out-pointers to locals.
        unsafe { self.0.GetPosition(&mut position, Some(&mut qpc)) }.map_err(hr)?;
        Ok((position, qpc))
    }
}
