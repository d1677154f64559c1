//! The test tone: 1 kHz for 1 s through WASAPI shared mode on the chosen output endpoint,
//! directly (not through the driver), on a thread of its own, through the calls of the
//! `wasio-wasapi` port (the only crate that names Windows audio).

use std::time::{Duration, Instant};

use wasio_engine::convert::{host_to_device, HostSampleType};
use wasio_engine::format::StreamFormat;
use wasio_engine::port::{
    AudioClient, AudioClock, AudioPort, Device, DeviceEnumerator, Flow, Hr, RenderClient, Role,
    ShareMode,
};
use wasio_wasapi::WasapiPort;

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
    let port = WasapiPort;
    // This thread's COM membership, left when the guard drops (after every COM object).
    let _apartment = port.enter_mta().map_err(failed("CoInitializeEx"))?;
    play_in_apartment(&port, endpoint_id)
}

fn play_in_apartment(port: &WasapiPort, endpoint_id: Option<&str>) -> Result<(), String> {
    let enumerator = port
        .create_enumerator()
        .map_err(failed("creating the device enumerator"))?;
    let device = match endpoint_id {
        Some(id) => enumerator
            .device(id)
            .map_err(failed("finding the output device"))?,
        None => enumerator
            .default_audio_endpoint(Flow::Render, Role::Console)
            .map_err(failed("finding the default output device"))?,
    };
    let client = device
        .activate_audio_client()
        .map_err(failed("IMMDevice::Activate"))?;
    let mix = client
        .mix_format()
        .map_err(failed("IAudioClient::GetMixFormat"))?;
    let format = StreamFormat::parse(&mix).map_err(|e| format!("the device's mix format: {e}"))?;
    client
        .initialize(ShareMode::Shared, 0, BUFFER_HNS, 0, &mix)
        .map_err(failed("IAudioClient::Initialize"))?;
    let buffer_frames = client
        .buffer_size()
        .map_err(failed("IAudioClient::GetBufferSize"))?;
    let mut render = client
        .render_client()
        .map_err(failed("IAudioClient::GetService"))?;
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
        let padding = client
            .current_padding()
            .map_err(failed("IAudioClient::GetCurrentPadding"))?;
        let frames = (buffer_frames.saturating_sub(padding) as usize).min(total - written);
        if frames > 0 {
            block.clear();
            for n in written..written + frames {
                block.extend_from_slice(&(tone_sample(n, format.sample_rate) as f32).to_le_bytes());
            }
            // Each channel gets the same samples, `frame_bytes` apart.
            let out = render
                .get_buffer(frames as u32)
                .map_err(failed("IAudioRenderClient::GetBuffer"))?;
            for channel in 0..format.channels as usize {
                convert(
                    &block,
                    &mut out[channel * sample_bytes..],
                    frame_bytes,
                    frames,
                );
            }
            render
                .release_buffer(frames as u32, 0)
                .map_err(failed("IAudioRenderClient::ReleaseBuffer"))?;
            written += frames;
        }
        if !started {
            // The buffer holds the first samples.
            client.start().map_err(failed("IAudioClient::Start"))?;
            started = true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // Stop only once the device clock says the tone itself has played: the client's padding
    // can reach zero while the audio engine still holds some of it.
    let tone_frames = ((LEAD_SECONDS + TONE_SECONDS) * format.sample_rate as f64).round() as u64;
    let clock = client
        .clock()
        .map_err(failed("IAudioClient::GetService(IAudioClock)"))?;
    let frequency = clock
        .frequency()
        .map_err(failed("IAudioClock::GetFrequency"))?;
    while Instant::now() < deadline {
        let played = clock.position().is_ok_and(|(position, _)| {
            frequency > 0
                && position as u128 * format.sample_rate as u128 / frequency as u128
                    >= tone_frames as u128
        });
        if played {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // The tail of silence is still queued: it covers the engine's own buffering.
    std::thread::sleep(Duration::from_millis(100));
    let _ = client.stop();
    Ok(())
}

/// Names the failed call in an error message.
fn failed(what: &'static str) -> impl Fn(Hr) -> String {
    move |hr| format!("{what} failed: {hr}")
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
