//! The test tone: 1 kHz for 1 s through WASAPI shared mode on the chosen output endpoint,
//! directly (not through the driver), on a thread of its own.

use std::time::{Duration, Instant};

use wasio_engine::convert::{host_to_device, HostSampleType};
use wasio_engine::format::StreamFormat;
use windows::core::HSTRING;
use windows::Win32::Media::Audio::{
    eConsole, eRender, IAudioClient, IAudioClock, IAudioRenderClient, IMMDevice,
    IMMDeviceEnumerator, MMDeviceEnumerator, AUDCLNT_SHAREMODE_SHARED, WAVEFORMATEX,
};
use windows::Win32::System::Com::{
    CoCreateInstance, CoInitializeEx, CoTaskMemFree, CoUninitialize, CLSCTX_ALL,
    COINIT_MULTITHREADED,
};

pub const TONE_HZ: f64 = 1000.0;
pub const TONE_SECONDS: f64 = 1.0;
/// -12 dBFS: clearly audible, never loud.
const TONE_AMPLITUDE: f64 = 0.25;
/// Fade in and out, so the tone starts and ends without a click.
const FADE_SECONDS: f64 = 0.005;
/// Silence written before the tone: an idle output (a suspended sink, a sleeping USB DAC)
/// can take a moment to wake, and would swallow the tone's start.
const LEAD_SECONDS: f64 = 0.2;
/// Silence written after the tone: stopping the stream drops what the audio engine still
/// buffers past the client's padding, which would cut the tone's end.
const TAIL_SECONDS: f64 = 0.5;
/// The shared-mode buffer asked for.
const BUFFER_HNS: i64 = 2_000_000;

/// Plays the tone on the endpoint with this ID (the default render endpoint for `None`).
/// Blocks for about a second; call it from a thread of its own.
pub fn play(endpoint_id: Option<&str>) -> Result<(), String> {
    // SAFETY: this thread's COM membership, balanced by CoUninitialize below.
    let hr = unsafe { CoInitializeEx(None, COINIT_MULTITHREADED) };
    if hr.is_err() {
        return Err(format!("CoInitializeEx failed: 0x{:08X}", hr.0));
    }
    let result = play_in_apartment(endpoint_id);
    // SAFETY: balances the successful CoInitializeEx above; every COM object is dropped.
    unsafe { CoUninitialize() };
    result
}

fn play_in_apartment(endpoint_id: Option<&str>) -> Result<(), String> {
    // SAFETY: COM is initialized on this thread.
    let created = unsafe { CoCreateInstance(&MMDeviceEnumerator, None, CLSCTX_ALL) };
    let enumerator: IMMDeviceEnumerator =
        created.map_err(failed("creating the device enumerator"))?;
    let device: IMMDevice = match endpoint_id {
        // SAFETY: plain COM calls on a valid interface.
        Some(id) => unsafe { enumerator.GetDevice(&HSTRING::from(id)) }
            .map_err(failed("finding the output device"))?,
        // SAFETY: as above.
        None => unsafe { enumerator.GetDefaultAudioEndpoint(eRender, eConsole) }
            .map_err(failed("finding the default output device"))?,
    };
    // SAFETY: as above.
    let activated = unsafe { device.Activate::<IAudioClient>(CLSCTX_ALL, None) };
    let client = activated.map_err(failed("IMMDevice::Activate"))?;
    // SAFETY: GetMixFormat returns a CoTaskMem WAVEFORMATEX; it is read, used and freed here.
    let (format, initialized) = unsafe {
        let mix = client
            .GetMixFormat()
            .map_err(failed("IAudioClient::GetMixFormat"))?;
        let extra = std::ptr::addr_of!((*mix).cbSize).read_unaligned() as usize;
        let bytes = std::slice::from_raw_parts(mix as *const u8, 18 + extra).to_vec();
        let initialized = client.Initialize(
            AUDCLNT_SHAREMODE_SHARED,
            0,
            BUFFER_HNS,
            0,
            mix as *const WAVEFORMATEX,
            None,
        );
        CoTaskMemFree(Some(mix as *const _));
        (StreamFormat::parse(&bytes), initialized)
    };
    let format = format.map_err(|e| format!("the device's mix format: {e}"))?;
    initialized.map_err(failed("IAudioClient::Initialize"))?;
    // SAFETY: plain COM calls on an initialized client.
    let (buffer_frames, render) = unsafe {
        (
            client
                .GetBufferSize()
                .map_err(failed("IAudioClient::GetBufferSize"))?,
            client
                .GetService::<IAudioRenderClient>()
                .map_err(failed("IAudioClient::GetService"))?,
        )
    };
    let total =
        ((LEAD_SECONDS + TONE_SECONDS + TAIL_SECONDS) * format.sample_rate as f64).round() as usize;
    let convert = host_to_device(HostSampleType::Float32Lsb, format.encoding);
    let frame_bytes = format.frame_bytes();
    let sample_bytes = format.encoding.bytes_per_sample();
    let mut written = 0usize;
    let mut block: Vec<u8> = Vec::new();
    let mut started = false;
    let deadline =
        Instant::now() + Duration::from_secs_f64(LEAD_SECONDS + TONE_SECONDS + TAIL_SECONDS + 3.0);
    while written < total {
        if Instant::now() > deadline {
            return Err("the device stopped taking audio".into());
        }
        // SAFETY: plain COM call on an initialized client.
        let padding = unsafe { client.GetCurrentPadding() }
            .map_err(failed("IAudioClient::GetCurrentPadding"))?;
        let frames = (buffer_frames.saturating_sub(padding) as usize).min(total - written);
        if frames > 0 {
            block.clear();
            for n in written..written + frames {
                block.extend_from_slice(&(tone_sample(n, format.sample_rate) as f32).to_le_bytes());
            }
            // SAFETY: GetBuffer gives `frames` frames of writable device memory until
            // ReleaseBuffer; each channel gets the same samples, `frame_bytes` apart.
            unsafe {
                let data = render
                    .GetBuffer(frames as u32)
                    .map_err(failed("IAudioRenderClient::GetBuffer"))?;
                let out = std::slice::from_raw_parts_mut(data, frames * frame_bytes);
                for channel in 0..format.channels as usize {
                    convert(
                        &block,
                        &mut out[channel * sample_bytes..],
                        frame_bytes,
                        frames,
                    );
                }
                render
                    .ReleaseBuffer(frames as u32, 0)
                    .map_err(failed("IAudioRenderClient::ReleaseBuffer"))?;
            }
            written += frames;
        }
        if !started {
            // SAFETY: plain COM call; the buffer holds the first samples.
            unsafe { client.Start() }.map_err(failed("IAudioClient::Start"))?;
            started = true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // Stop only once the device clock says the tone itself has played: the client's padding
    // can reach zero while the audio engine still holds some of it.
    let tone_frames = ((LEAD_SECONDS + TONE_SECONDS) * format.sample_rate as f64).round() as u64;
    // SAFETY: plain COM calls on a started client.
    let clock = unsafe { client.GetService::<IAudioClock>() }
        .map_err(failed("IAudioClient::GetService(IAudioClock)"))?;
    // SAFETY: as above.
    let frequency = unsafe { clock.GetFrequency() }.map_err(failed("IAudioClock::GetFrequency"))?;
    while Instant::now() < deadline {
        let mut position = 0u64;
        // SAFETY: `position` is a valid out pointer; the QPC time is not asked for.
        let played = unsafe { clock.GetPosition(&mut position, None) }.is_ok()
            && frequency > 0
            && position as u128 * format.sample_rate as u128 / frequency as u128
                >= tone_frames as u128;
        if played {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // The tail of silence is still queued: it covers the engine's own buffering.
    std::thread::sleep(Duration::from_millis(100));
    // SAFETY: as above.
    let _ = unsafe { client.Stop() };
    Ok(())
}

/// Names the failed call in an error message.
fn failed(what: &'static str) -> impl Fn(windows::core::Error) -> String {
    move |e| format!("{what} failed: {e}")
}

/// Sample `n` of the stream: the lead-in silence, the tone with its fades, silence after.
fn tone_sample(n: usize, rate: u32) -> f64 {
    let t = n as f64 / rate as f64 - LEAD_SECONDS;
    if t < 0.0 {
        return 0.0;
    }
    let fade = (t / FADE_SECONDS)
        .min((TONE_SECONDS - t) / FADE_SECONDS)
        .clamp(0.0, 1.0);
    TONE_AMPLITUDE * fade * (2.0 * std::f64::consts::PI * TONE_HZ * t).sin()
}
