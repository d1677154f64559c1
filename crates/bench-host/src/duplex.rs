//! `duplex`: one full-duplex stream; the output plays an impulse train or a sine, the input is
//! recorded to a raw float32 file for the round-trip analysis (`cargo xtask`, impulses.rs).

use crate::args::Args;
use crate::commands::{
    dac_time, run_stream, start_watchdog, stop_and_close, Direction, PhaseClock, Session,
};
use crate::json::JsonObject;
use crate::pa::*;
use crate::timing::{self, Stamps};
use crate::tone::{ImpulseTrain, ToneGenerator};
use crate::{Failure, EXIT_DEVICE, EXIT_OPEN, EXIT_STREAM};
use std::cell::UnsafeCell;
use std::ffi::{c_int, c_ulong, c_void};
use std::sync::atomic::{AtomicU64, Ordering};

/// What the output plays.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SignalKind {
    Impulses,
    Sine,
}

pub struct DuplexOptions {
    device: String,
    /// The input device when it differs from `device` (other host APIs than ASIO).
    input_device: Option<String>,
    host_api: String,
    rate: f64,
    frames_per_buffer: u32,
    in_channels: u32,
    out_channels: u32,
    seconds: f64,
    tail_seconds: f64,
    signal: SignalKind,
    impulse_interval_ms: f64,
    amplitude: f64,
    frequency: f64,
    record_input: Option<String>,
    /// Suggested latency (both directions) in seconds; default one buffer.
    suggested_latency: Option<f64>,
    /// `--progress`: print `{"kind":"progress"}` lines when the stream runs and stops.
    progress: bool,
}

impl DuplexOptions {
    pub fn take(args: &mut Args) -> Result<DuplexOptions, String> {
        let signal = match args.text("signal")?.as_deref() {
            None | Some("impulses") => SignalKind::Impulses,
            Some("sine") => SignalKind::Sine,
            Some(other) => return Err(format!("--signal: impulses or sine, not {other:?}")),
        };
        let options = DuplexOptions {
            device: args.required_text("device")?,
            input_device: args.text("input-device")?,
            host_api: args.text("host-api")?.unwrap_or_else(|| "ASIO".to_string()),
            rate: args.value("rate", 48_000.0)?,
            frames_per_buffer: args.value("frames-per-buffer", 256)?,
            in_channels: args.value("in-channels", 2)?,
            out_channels: args.value("out-channels", 2)?,
            seconds: args.value("seconds", 5.0)?,
            tail_seconds: args.value("tail-seconds", 1.0)?,
            signal,
            impulse_interval_ms: args.value("impulse-interval-ms", 250.0)?,
            amplitude: args.value(
                "amplitude",
                if signal == SignalKind::Impulses {
                    0.8
                } else {
                    0.5
                },
            )?,
            frequency: args.value("freq", 997.0)?,
            record_input: args.text("record-input")?,
            suggested_latency: args
                .text("suggested-latency")?
                .map(|text| text.parse())
                .transpose()
                .map_err(|_| "--suggested-latency: not a number".to_string())?,
            progress: args.flag("progress")?,
        };
        if !(options.rate.is_finite() && options.rate > 0.0) {
            return Err(format!("--rate must be positive (got {})", options.rate));
        }
        if options.frames_per_buffer == 0 {
            return Err("--frames-per-buffer must be at least 1".to_string());
        }
        for (name, count) in [
            ("in-channels", options.in_channels),
            ("out-channels", options.out_channels),
        ] {
            if count == 0 || count > 64 {
                return Err(format!("--{name} must be within 1..=64 (got {count})"));
            }
        }
        if !(options.seconds > 0.0
            && options.seconds <= 600.0
            && options.tail_seconds >= 0.0
            && options.tail_seconds <= 60.0)
        {
            return Err(
                "--seconds must be within (0, 600] and --tail-seconds within [0, 60]".to_string(),
            );
        }
        if !(options.impulse_interval_ms >= 1.0 && options.impulse_interval_ms <= 10_000.0) {
            return Err("--impulse-interval-ms must be within [1, 10000]".to_string());
        }
        if !(options.amplitude.is_finite() && options.amplitude.abs() <= 1.0) {
            return Err("--amplitude must be within [-1, 1]".to_string());
        }
        if !(options.frequency > 0.0 && options.frequency < options.rate / 2.0) {
            return Err("--freq must be between 0 and rate/2".to_string());
        }
        Ok(options)
    }

    fn signal_name(&self) -> &'static str {
        match self.signal {
            SignalKind::Impulses => "impulses",
            SignalKind::Sine => "sine",
        }
    }
}

enum Generator {
    Impulses(ImpulseTrain),
    Sine(ToneGenerator),
}

/// Everything the callback touches. The `UnsafeCell`s are the callback's alone: PortAudio never
/// runs two callbacks of one stream at once, and the main thread reads them only after the
/// stream is closed.
struct DuplexState {
    generator: UnsafeCell<Generator>,
    /// Preallocated; the callback appends while there is room.
    input: UnsafeCell<Vec<f32>>,
    /// (output frame, polarity) of each impulse written; preallocated.
    impulses: UnsafeCell<Vec<(u64, f32)>>,
    /// Per-callback times; preallocated.
    stamps: UnsafeCell<Stamps>,
    in_channels: usize,
    out_channels: usize,
    frames_per_buffer: u64,
    /// Output frames written.
    frames: AtomicU64,
    callbacks: AtomicU64,
    odd_sized_callbacks: AtomicU64,
    /// Callbacks that had no input buffer.
    callbacks_without_input: AtomicU64,
    /// Input frames that did not fit the preallocated buffer.
    input_frames_dropped: AtomicU64,
    flag_counts: [AtomicU64; STATUS_FLAGS.len()],
}

// SAFETY: the `UnsafeCell`s are only used by the serialised stream callback while the stream is
// open and by the main thread after it is closed (see DuplexState); the rest are atomics.
unsafe impl Sync for DuplexState {}

unsafe extern "C" fn duplex_callback(
    input: *const c_void,
    output: *mut c_void,
    frame_count: c_ulong,
    time_info: *const PaStreamCallbackTimeInfo,
    status_flags: PaStreamCallbackFlags,
    user_data: *mut c_void,
) -> c_int {
    let body = std::panic::AssertUnwindSafe(|| {
        // SAFETY: `user_data` is the DuplexState `duplex` keeps alive until the stream is closed.
        let state = unsafe { &*(user_data as *const DuplexState) };
        let frames = frame_count as usize;
        let written_before = state.frames.load(Ordering::Relaxed);
        // SAFETY: only this callback touches the stamps while the stream is open; `time_info`
        // is NULL or valid for the duration of the call.
        unsafe { (*state.stamps.get()).record(written_before, dac_time(time_info)) };
        if !output.is_null() {
            // SAFETY: an interleaved paFloat32 stream gives `frame_count * channels` floats.
            let out = unsafe {
                std::slice::from_raw_parts_mut(output as *mut f32, frames * state.out_channels)
            };
            // SAFETY: only this callback touches the generator and the impulse list.
            let generator = unsafe { &mut *state.generator.get() };
            // SAFETY: as above.
            let impulses = unsafe { &mut *state.impulses.get() };
            for (index, frame) in out.chunks_exact_mut(state.out_channels).enumerate() {
                let value = match generator {
                    Generator::Sine(tone) => tone.next_sample(),
                    Generator::Impulses(train) => {
                        let (value, polarity) = train.next_sample();
                        if let Some(polarity) = polarity {
                            if impulses.len() < impulses.capacity() {
                                impulses.push((written_before + index as u64, polarity));
                            }
                        }
                        value
                    }
                };
                frame.fill(value);
            }
        }
        if input.is_null() {
            state
                .callbacks_without_input
                .fetch_add(1, Ordering::Relaxed);
        } else {
            // SAFETY: an interleaved paFloat32 stream gives `frame_count * channels` floats.
            let samples = unsafe {
                std::slice::from_raw_parts(input as *const f32, frames * state.in_channels)
            };
            // SAFETY: only this callback touches the input buffer while the stream is open.
            let recorded = unsafe { &mut *state.input.get() };
            let room = recorded.capacity() - recorded.len();
            let taken = samples.len().min(room);
            recorded.extend_from_slice(&samples[..taken]);
            let dropped = ((samples.len() - taken) / state.in_channels) as u64;
            if dropped > 0 {
                state
                    .input_frames_dropped
                    .fetch_add(dropped, Ordering::Relaxed);
            }
        }
        for (index, (bit, _)) in STATUS_FLAGS.iter().enumerate() {
            if status_flags & bit != 0 {
                state.flag_counts[index].fetch_add(1, Ordering::Relaxed);
            }
        }
        if frame_count as u64 != state.frames_per_buffer {
            state.odd_sized_callbacks.fetch_add(1, Ordering::Relaxed);
        }
        state.callbacks.fetch_add(1, Ordering::Relaxed);
        state
            .frames
            .fetch_add(frame_count as u64, Ordering::Release);
        PA_CONTINUE
    });
    std::panic::catch_unwind(body).unwrap_or(PA_ABORT)
}

pub fn duplex(session: &Session, options: &DuplexOptions) -> Result<(), Failure> {
    let pa = &session.pa;
    let (output_index, output_device) =
        session.find_device_for(&options.host_api, &options.device, Direction::Output)?;
    let input_name = options.input_device.as_deref().unwrap_or(&options.device);
    let (input_index, input_device) =
        match session.find_device_for(&options.host_api, input_name, Direction::Input) {
            Ok(found) => found,
            Err(failure) if options.input_device.is_none() => {
                // The usual case before the driver has inputs: say it plainly.
                return Err(Failure::new(
                    EXIT_DEVICE,
                    format!(
                        "{input_name:?} has no input channels ({} in, {} out): {}",
                        output_device.max_input_channels,
                        output_device.max_output_channels,
                        failure.message
                    ),
                ));
            }
            Err(failure) => return Err(failure),
        };
    for (what, have, want) in [
        (
            "input",
            input_device.max_input_channels,
            options.in_channels,
        ),
        (
            "output",
            output_device.max_output_channels,
            options.out_channels,
        ),
    ] {
        if have < want as i32 {
            return Err(Failure::new(
                EXIT_DEVICE,
                format!("the device has {have} {what} channels, {want} requested"),
            ));
        }
    }

    let signal_frames = (options.seconds * options.rate).round() as u64;
    let total_frames = signal_frames + (options.tail_seconds * options.rate).round() as u64;
    let interval = (options.impulse_interval_ms * options.rate / 1000.0).round() as u64;
    let generator = match options.signal {
        SignalKind::Impulses => Generator::Impulses(ImpulseTrain::new(
            interval,
            options.amplitude as f32,
            signal_frames,
        )),
        SignalKind::Sine => Generator::Sine(ToneGenerator::new(
            options.frequency,
            options.rate,
            options.amplitude,
            signal_frames,
        )),
    };
    // Room for the whole run plus a few buffers of overshoot and a slow stop.
    let capacity_frames = total_frames as usize + 8 * options.frames_per_buffer as usize + 48_000;
    let stamps = Stamps::new(total_frames / u64::from(options.frames_per_buffer));
    let mut clock = PhaseClock::new(stamps.base(), options.progress);
    let state = Box::new(DuplexState {
        stamps: UnsafeCell::new(stamps),
        generator: UnsafeCell::new(generator),
        input: UnsafeCell::new(Vec::with_capacity(
            capacity_frames * options.in_channels as usize,
        )),
        impulses: UnsafeCell::new(Vec::with_capacity(
            (signal_frames / interval.max(2)) as usize + 2,
        )),
        in_channels: options.in_channels as usize,
        out_channels: options.out_channels as usize,
        frames_per_buffer: options.frames_per_buffer.into(),
        frames: AtomicU64::new(0),
        callbacks: AtomicU64::new(0),
        odd_sized_callbacks: AtomicU64::new(0),
        callbacks_without_input: AtomicU64::new(0),
        input_frames_dropped: AtomicU64::new(0),
        flag_counts: Default::default(),
    });
    let latency = options
        .suggested_latency
        .unwrap_or(options.frames_per_buffer as f64 / options.rate);
    let input_parameters = PaStreamParameters {
        device: input_index,
        channel_count: options.in_channels as c_int,
        sample_format: PA_FLOAT32,
        suggested_latency: latency,
        host_api_specific_stream_info: std::ptr::null_mut(),
    };
    let output_parameters = PaStreamParameters {
        device: output_index,
        channel_count: options.out_channels as c_int,
        sample_format: PA_FLOAT32,
        suggested_latency: latency,
        host_api_specific_stream_info: std::ptr::null_mut(),
    };

    let done = start_watchdog(
        "duplex",
        timing::watchdog_limit(options.seconds + options.tail_seconds),
    );
    let mut stream: *mut PaStream = std::ptr::null_mut();
    // SAFETY: valid parameters; `state` outlives the stream (closed below before it drops).
    let (open_ms, error) = timing::timed(|| unsafe {
        (pa.open_stream)(
            &mut stream,
            &input_parameters,
            &output_parameters,
            options.rate,
            options.frames_per_buffer,
            PA_CLIP_OFF | PA_DITHER_OFF,
            Some(duplex_callback),
            &*state as *const DuplexState as *mut c_void,
        )
    });
    clock.phases.open_ms = open_ms;
    if error != PA_NO_ERROR {
        let text = format!("Pa_OpenStream: {}", pa.error_text(error));
        done.store(true, std::sync::atomic::Ordering::Release);
        println!(
            "{}",
            JsonObject::new()
                .str("kind", "duplex")
                .str("error", &text)
                .finish()
        );
        return Err(Failure::new(EXIT_OPEN, text));
    }
    // SAFETY: `stream` is open; the info stays valid while it is. Copied at once.
    let info = unsafe { (pa.get_stream_info)(stream).as_ref() }
        .map(|info| (info.input_latency, info.output_latency, info.sample_rate));

    let outcome = run_stream(pa, stream, &state.frames, total_frames, &mut clock);
    let (stop_error, close_error) = stop_and_close(pa, stream, &state.frames, &mut clock);
    done.store(true, std::sync::atomic::Ordering::Release);
    let mut outcome = outcome.and_then(|()| match (stop_error, close_error) {
        (PA_NO_ERROR, PA_NO_ERROR) => Ok(()),
        (PA_NO_ERROR, error) => Err((
            EXIT_STREAM,
            format!("Pa_CloseStream: {}", pa.error_text(error)),
        )),
        (error, _) => Err((
            EXIT_STREAM,
            format!("Pa_StopStream: {}", pa.error_text(error)),
        )),
    });

    // The stream is closed: the callback's buffers are the main thread's now.
    // SAFETY: the stream is closed: the callback no longer runs.
    let timing = clock.report(
        unsafe { &*state.stamps.get() },
        options.rate,
        options.frames_per_buffer,
    );
    let recorded = state.input.into_inner();
    let impulses = state.impulses.into_inner();
    if let Some(path) = &options.record_input {
        let bytes: Vec<u8> = recorded.iter().flat_map(|x| x.to_le_bytes()).collect();
        if let Err(error) = std::fs::write(path, bytes) {
            outcome = outcome.and(Err((EXIT_STREAM, format!("cannot write {path}: {error}"))));
        }
    }

    let mut flags = JsonObject::new();
    for (index, (_, name)) in STATUS_FLAGS.iter().enumerate() {
        flags = flags.int(
            name,
            state.flag_counts[index].load(Ordering::Relaxed) as i64,
        );
    }
    let mut line = JsonObject::new()
        .str("kind", "duplex")
        .str("device", &options.device)
        .str("input_device", input_name)
        .str("host_api", &options.host_api)
        .num("rate", options.rate)
        .int("frames_per_buffer", options.frames_per_buffer.into())
        .int("in_channels", options.in_channels.into())
        .int("out_channels", options.out_channels.into())
        .str("signal", options.signal_name())
        .num("amplitude", options.amplitude)
        .int("signal_frames", signal_frames as i64)
        .int("frames", state.frames.load(Ordering::Acquire) as i64)
        .int(
            "input_frames_recorded",
            (recorded.len() / options.in_channels as usize) as i64,
        )
        .int(
            "input_frames_dropped",
            state.input_frames_dropped.load(Ordering::Relaxed) as i64,
        )
        .int("callbacks", state.callbacks.load(Ordering::Relaxed) as i64)
        .int(
            "odd_sized_callbacks",
            state.odd_sized_callbacks.load(Ordering::Relaxed) as i64,
        )
        .int(
            "callbacks_without_input",
            state.callbacks_without_input.load(Ordering::Relaxed) as i64,
        )
        .object("status_flags", flags)
        .opt_str("record_input", options.record_input.as_deref());
    line = match options.signal {
        SignalKind::Impulses => line
            .int("impulse_interval_frames", interval as i64)
            .int_array(
                "impulse_frames",
                impulses.iter().map(|(frame, _)| *frame as i64),
            )
            .int_array(
                "impulse_polarities",
                impulses.iter().map(|(_, polarity)| *polarity as i64),
            ),
        SignalKind::Sine => line.num("frequency", options.frequency),
    };
    if let Some((input_latency, output_latency, sample_rate)) = info {
        line = line
            .num("input_latency_s", input_latency)
            .num("output_latency_s", output_latency)
            .num("stream_sample_rate", sample_rate);
    }
    line = line.object("timing", timing);
    let error = outcome.as_ref().err().map(|(_, text)| text.as_str());
    println!("{}", line.opt_str("error", error).finish());
    outcome.map_err(|(code, text)| Failure::new(code, text))
}
