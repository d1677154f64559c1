//! The commands, on top of the run-time-loaded PortAudio API.

use crate::args::Args;
use crate::json::JsonObject;
use crate::pa::*;
use crate::pattern::{CounterPattern, SampleFormat};
use crate::timing::{self, Phases, Stamps};
use crate::tone::ToneGenerator;
use crate::{Failure, EXIT_DEVICE, EXIT_NO_PORTAUDIO, EXIT_OPEN, EXIT_STREAM, EXIT_USAGE};
use std::cell::UnsafeCell;
use std::ffi::{c_int, c_ulong, c_void};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) fn usage(message: String) -> Failure {
    Failure::new(EXIT_USAGE, message)
}

pub fn run(mut args: Args) -> Result<(), Failure> {
    let dll = args.text("portaudio").map_err(usage)?;
    match args.command.as_str() {
        "list" => {
            args.finish().map_err(usage)?;
            let session = Session::open(dll)?;
            list(&session);
            Ok(())
        }
        "play" => {
            let options = PlayOptions::take(&mut args).map_err(usage)?;
            args.finish().map_err(usage)?;
            let session = Session::open(dll)?;
            play(&session, &options)
        }
        "duplex" => {
            let options = crate::duplex::DuplexOptions::take(&mut args).map_err(usage)?;
            args.finish().map_err(usage)?;
            let session = Session::open(dll)?;
            crate::duplex::duplex(&session, &options)
        }
        other => Err(usage(format!(
            "unknown command {other:?} (expected list, play or duplex)"
        ))),
    }
}

/// An initialised PortAudio; terminated on drop.
pub(crate) struct Session {
    pub(crate) pa: PortAudio,
    dll: PathBuf,
}

impl Session {
    pub(crate) fn open(explicit: Option<String>) -> Result<Session, Failure> {
        let dll = locate_dll(explicit);
        let pa =
            PortAudio::load(&dll).map_err(|message| Failure::new(EXIT_NO_PORTAUDIO, message))?;
        // SAFETY: resolved entry point; no preconditions.
        let error = unsafe { (pa.initialize)() };
        if error != PA_NO_ERROR {
            return Err(Failure::new(
                EXIT_NO_PORTAUDIO,
                format!("Pa_Initialize failed: {}", pa.error_text(error)),
            ));
        }
        Ok(Session { pa, dll })
    }

    fn devices(&self) -> impl Iterator<Item = (PaDeviceIndex, &PaDeviceInfo)> {
        // SAFETY: resolved entry point, PortAudio is initialised.
        let count = unsafe { (self.pa.get_device_count)() };
        (0..count.max(0)).filter_map(|index| Some((index, self.pa.device(index)?)))
    }

    fn host_api_of(&self, device: &PaDeviceInfo) -> Option<&PaHostApiInfo> {
        self.pa.host_api(device.host_api)
    }

    /// The output-capable device called `name` on the host API `host_api` (a PortAudio host
    /// API name such as "ASIO" or "Windows WASAPI", compared case-insensitively).
    fn find_device(
        &self,
        host_api: &str,
        name: &str,
    ) -> Result<(PaDeviceIndex, &PaDeviceInfo), Failure> {
        self.find_device_for(host_api, name, Direction::Output)
    }

    /// The device called `name` on `host_api` that can do `direction`.
    pub(crate) fn find_device_for(
        &self,
        host_api: &str,
        name: &str,
        direction: Direction,
    ) -> Result<(PaDeviceIndex, &PaDeviceInfo), Failure> {
        let mut candidates = Vec::new();
        for (index, device) in self.devices() {
            // SAFETY: host API names are NUL-terminated strings.
            let api_name = self
                .host_api_of(device)
                .map(|api| unsafe { c_text(api.name) })
                .unwrap_or_default();
            let channels = match direction {
                Direction::Input => device.max_input_channels,
                Direction::Output => device.max_output_channels,
            };
            if !api_name.eq_ignore_ascii_case(host_api) || channels < 1 {
                continue;
            }
            // SAFETY: PortAudio device names are NUL-terminated strings.
            let device_name = unsafe { c_text(device.name) };
            if device_name == name {
                return Ok((index, device));
            }
            candidates.push(device_name);
        }
        Err(Failure::new(
            EXIT_DEVICE,
            format!(
                "no {host_api} {} device named {name:?} ({host_api} {} devices: {candidates:?})",
                direction.name(),
                direction.name()
            ),
        ))
    }
}

/// Which side of a device a stream uses.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Direction {
    Input,
    Output,
}

impl Direction {
    fn name(self) -> &'static str {
        match self {
            Direction::Input => "input",
            Direction::Output => "output",
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // SAFETY: PortAudio was initialised by `open`.
        unsafe { (self.pa.terminate)() };
    }
}

fn locate_dll(explicit: Option<String>) -> PathBuf {
    if let Some(path) = explicit.or_else(|| std::env::var("WASIO_PORTAUDIO_DLL").ok()) {
        return PathBuf::from(path);
    }
    let name = if cfg!(target_pointer_width = "64") {
        "libportaudio64bit-asio.dll"
    } else {
        "libportaudio32bit-asio.dll"
    };
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(name)))
        .filter(|path| path.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}

fn list(session: &Session) {
    let pa = &session.pa;
    println!(
        "{}",
        JsonObject::new()
            .str("kind", "portaudio")
            .str("version", &pa.version_text())
            .str("dll", &session.dll.display().to_string())
            .finish()
    );
    // SAFETY: resolved entry point, PortAudio is initialised.
    let api_count = unsafe { (pa.get_host_api_count)() };
    for index in 0..api_count.max(0) {
        let Some(api) = pa.host_api(index) else {
            continue;
        };
        println!(
            "{}",
            JsonObject::new()
                .str("kind", "host_api")
                .int("index", index.into())
                .int("type", api.type_id.into())
                // SAFETY: host API names are NUL-terminated strings.
                .str("name", &unsafe { c_text(api.name) })
                .int("device_count", api.device_count.into())
                .finish()
        );
    }
    for (index, device) in session.devices() {
        let api = session.host_api_of(device);
        let mut line = JsonObject::new()
            .str("kind", "device")
            .int("index", index.into())
            // SAFETY: device names are NUL-terminated strings.
            .str("name", &unsafe { c_text(device.name) })
            // SAFETY: host API names are NUL-terminated strings.
            .str(
                "host_api",
                &api.map(|api| unsafe { c_text(api.name) })
                    .unwrap_or_default(),
            )
            .int(
                "host_api_type",
                api.map(|api| api.type_id).unwrap_or(-1).into(),
            )
            .int("max_input_channels", device.max_input_channels.into())
            .int("max_output_channels", device.max_output_channels.into())
            .num("default_sample_rate", device.default_sample_rate)
            .num(
                "default_low_output_latency",
                device.default_low_output_latency,
            )
            .num(
                "default_low_input_latency",
                device.default_low_input_latency,
            );
        if api.map(|api| api.type_id) == Some(PA_ASIO) {
            line = match pa.asio_buffer_sizes(index) {
                Ok([min, max, preferred, granularity]) => line.object(
                    "buffer_sizes",
                    JsonObject::new()
                        .int("min", min.into())
                        .int("max", max.into())
                        .int("preferred", preferred.into())
                        .int("granularity", granularity.into()),
                ),
                Err(error) => line.str("buffer_sizes_error", &error),
            };
        }
        println!("{}", line.finish());
    }
}

struct PlayOptions {
    device: String,
    /// PortAudio host API name; "ASIO" unless testing the bench through another API.
    host_api: String,
    rate: f64,
    frames_per_buffer: u32,
    frequency: f64,
    amplitude: f64,
    seconds: f64,
    tail_seconds: f64,
    channels: u32,
    non_interleaved: bool,
    /// `--pattern counter`: the counter in this format instead of the tone.
    counter: Option<SampleFormat>,
    /// Suggested output latency in seconds; defaults to one buffer so PortAudio's ASIO host
    /// uses exactly `frames_per_buffer` when the driver allows it.
    suggested_latency: Option<f64>,
    /// `--progress`: print `{"kind":"progress"}` lines when the stream runs and stops.
    progress: bool,
}

impl PlayOptions {
    fn take(args: &mut Args) -> Result<PlayOptions, String> {
        let options = PlayOptions {
            device: args.required_text("device")?,
            host_api: args.text("host-api")?.unwrap_or_else(|| "ASIO".to_string()),
            rate: args.value("rate", 48_000.0)?,
            frames_per_buffer: args.value("frames-per-buffer", 256)?,
            frequency: args.value("freq", 997.0)?,
            amplitude: args.value("amplitude", 0.5)?,
            seconds: args.value("seconds", 5.0)?,
            tail_seconds: args.value("tail-seconds", 0.5)?,
            channels: args.value("channels", 2)?,
            non_interleaved: args.flag("non-interleaved")?,
            counter: match args.text("pattern")?.as_deref() {
                None | Some("tone") => None,
                Some("counter") => Some(SampleFormat::parse(
                    &args
                        .text("sample-format")?
                        .unwrap_or_else(|| "float32".to_string()),
                )?),
                Some(other) => {
                    return Err(format!("--pattern: {other:?} (expected tone or counter)"))
                }
            },
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
        if !(options.frequency > 0.0 && options.frequency < options.rate / 2.0) {
            return Err(format!(
                "--freq must be between 0 and rate/2 (got {})",
                options.frequency
            ));
        }
        if !(options.amplitude.is_finite() && options.amplitude.abs() <= 1.0) {
            return Err(format!(
                "--amplitude must be within [-1, 1] (got {})",
                options.amplitude
            ));
        }
        if !(options.seconds >= 0.0
            && options.seconds <= 3600.0
            && options.tail_seconds >= 0.0
            && options.tail_seconds <= 60.0)
        {
            return Err(
                "--seconds must be within [0, 3600] and --tail-seconds within [0, 60]".to_string(),
            );
        }
        if options.counter.is_some() && options.non_interleaved {
            return Err("--pattern counter writes interleaved buffers only".to_string());
        }
        if options.channels == 0 || options.channels > 64 {
            return Err(format!(
                "--channels must be within 1..=64 (got {})",
                options.channels
            ));
        }
        Ok(options)
    }
}

/// Shared between the audio callback and the main thread.
struct PlayState {
    /// Only touched by the callback; PortAudio never runs two callbacks of a stream at once.
    tone: UnsafeCell<ToneGenerator>,
    /// `--pattern counter`: replaces the tone. Touched only by the callback, like `tone`.
    counter: Option<UnsafeCell<CounterPattern>>,
    /// Per-callback times; the callback's until the stream is closed, like `tone`.
    stamps: UnsafeCell<Stamps>,
    channels: usize,
    non_interleaved: bool,
    frames_per_buffer: u64,
    frames: AtomicU64,
    callbacks: AtomicU64,
    /// Callbacks whose frame count differed from the requested buffer size.
    odd_sized_callbacks: AtomicU64,
    flag_counts: [AtomicU64; STATUS_FLAGS.len()],
}

// SAFETY: `tone`, `counter` and `stamps` are only accessed from the stream callback, which
// PortAudio serialises (and `stamps` by the main thread after the stream is closed); all other
// fields are atomics or immutable.
unsafe impl Sync for PlayState {}

unsafe extern "C" fn play_callback(
    _input: *const c_void,
    output: *mut c_void,
    frame_count: c_ulong,
    time_info: *const PaStreamCallbackTimeInfo,
    status_flags: PaStreamCallbackFlags,
    user_data: *mut c_void,
) -> c_int {
    let body = std::panic::AssertUnwindSafe(|| {
        // SAFETY: `user_data` is the PlayState that `play` keeps alive until the stream is closed.
        let state = unsafe { &*(user_data as *const PlayState) };
        // SAFETY: only this callback touches the stamps while the stream is open; `time_info`
        // is NULL or valid for the duration of the call.
        unsafe {
            (*state.stamps.get()).record(state.frames.load(Ordering::Relaxed), dac_time(time_info))
        };
        // SAFETY: only this callback touches the generator, never concurrently (see PlayState).
        let tone = unsafe { &mut *state.tone.get() };
        let frames = frame_count as usize;
        if let (Some(counter), false) = (&state.counter, output.is_null()) {
            // SAFETY: only this callback touches the pattern (see PlayState).
            let counter = unsafe { &mut *counter.get() };
            let bytes = frames * counter.channels() * counter.format.bytes();
            // SAFETY: an interleaved stream in the counter's format gives `bytes` bytes.
            let buffer = unsafe { std::slice::from_raw_parts_mut(output as *mut u8, bytes) };
            counter.fill(buffer);
        } else if !output.is_null() && frames > 0 {
            if state.non_interleaved {
                let mut planes: [&mut [f32]; 64] = std::array::from_fn(|_| Default::default());
                for (channel, plane) in planes.iter_mut().enumerate().take(state.channels) {
                    // SAFETY: for a non-interleaved stream `output` is an array of `channels`
                    // pointers, each to `frame_count` floats.
                    *plane = unsafe {
                        std::slice::from_raw_parts_mut(
                            *(output as *mut *mut f32).add(channel),
                            frames,
                        )
                    };
                }
                tone.fill_planar(&mut planes[..state.channels], frames);
            } else {
                // SAFETY: an interleaved paFloat32 stream gives `frame_count * channels` floats.
                let buffer = unsafe {
                    std::slice::from_raw_parts_mut(output as *mut f32, frames * state.channels)
                };
                tone.fill_interleaved(buffer, state.channels);
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

fn play(session: &Session, options: &PlayOptions) -> Result<(), Failure> {
    let pa = &session.pa;
    let (device_index, device) = session.find_device(&options.host_api, &options.device)?;
    if device.max_output_channels < options.channels as i32 {
        return Err(Failure::new(
            EXIT_DEVICE,
            format!(
                "{:?} has {} output channels, {} requested",
                options.device, device.max_output_channels, options.channels
            ),
        ));
    }
    let tone_frames = (options.seconds * options.rate).round() as u64;
    let tail_frames = (options.tail_seconds * options.rate).round() as u64;
    let stamps = Stamps::new((tone_frames + tail_frames) / u64::from(options.frames_per_buffer));
    let mut clock = PhaseClock::new(stamps.base(), options.progress);
    let state = Box::new(PlayState {
        stamps: UnsafeCell::new(stamps),
        tone: UnsafeCell::new(ToneGenerator::new(
            options.frequency,
            options.rate,
            options.amplitude,
            tone_frames,
        )),
        counter: options.counter.map(|format| {
            UnsafeCell::new(CounterPattern::new(
                format,
                options.channels as usize,
                tone_frames,
            ))
        }),
        channels: options.channels as usize,
        non_interleaved: options.non_interleaved,
        frames_per_buffer: options.frames_per_buffer.into(),
        frames: AtomicU64::new(0),
        callbacks: AtomicU64::new(0),
        odd_sized_callbacks: AtomicU64::new(0),
        flag_counts: Default::default(),
    });
    let mut format = options.counter.map_or(PA_FLOAT32, SampleFormat::pa_format);
    if options.non_interleaved {
        format |= PA_NON_INTERLEAVED;
    }
    let parameters = PaStreamParameters {
        device: device_index,
        channel_count: options.channels as c_int,
        sample_format: format,
        suggested_latency: options
            .suggested_latency
            .unwrap_or(options.frames_per_buffer as f64 / options.rate),
        host_api_specific_stream_info: std::ptr::null_mut(),
    };

    let report = |error: Option<&str>, latency: Option<&PaStreamInfo>, clock: &PhaseClock| {
        let mut flags = JsonObject::new();
        for (index, (_, name)) in STATUS_FLAGS.iter().enumerate() {
            flags = flags.int(
                name,
                state.flag_counts[index].load(Ordering::Relaxed) as i64,
            );
        }
        let mut line = JsonObject::new()
            .str("kind", "play")
            .str("device", &options.device)
            .str("host_api", &options.host_api)
            .num("rate", options.rate)
            .int("frames_per_buffer", options.frames_per_buffer.into())
            .int("channels", options.channels.into())
            .bool("interleaved", !options.non_interleaved)
            .str("pattern", options.counter.map_or("tone", |_| "counter"))
            .str(
                "sample_format",
                options.counter.map_or("float32", SampleFormat::name),
            )
            .num("frequency", options.frequency)
            .num("amplitude", options.amplitude)
            .int("tone_frames", tone_frames as i64)
            .int("tail_frames", tail_frames as i64)
            .int("frames_played", state.frames.load(Ordering::Acquire) as i64)
            .int("callbacks", state.callbacks.load(Ordering::Relaxed) as i64)
            .int(
                "odd_sized_callbacks",
                state.odd_sized_callbacks.load(Ordering::Relaxed) as i64,
            )
            .object("status_flags", flags);
        if let Some(info) = latency {
            line = line
                .num("output_latency_s", info.output_latency)
                .num("input_latency_s", info.input_latency)
                .num("stream_sample_rate", info.sample_rate);
        }
        // SAFETY: the stream is closed (or never opened): the callback no longer runs.
        let stamps = unsafe { &*state.stamps.get() };
        line = line.object(
            "timing",
            clock.report(stamps, options.rate, options.frames_per_buffer),
        );
        println!("{}", line.opt_str("error", error).finish());
    };

    let done = start_watchdog(
        "play",
        timing::watchdog_limit(options.seconds + options.tail_seconds),
    );

    let mut stream: *mut PaStream = std::ptr::null_mut();
    // SAFETY: valid parameters; `state` outlives the stream (closed below before it drops).
    let (open_ms, error) = timing::timed(|| unsafe {
        (pa.open_stream)(
            &mut stream,
            std::ptr::null(),
            &parameters,
            options.rate,
            options.frames_per_buffer,
            PA_CLIP_OFF | PA_DITHER_OFF,
            Some(play_callback),
            &*state as *const PlayState as *mut c_void,
        )
    });
    clock.phases.open_ms = open_ms;
    if error != PA_NO_ERROR {
        let text = format!("Pa_OpenStream: {}", pa.error_text(error));
        report(Some(&text), None, &clock);
        done.store(true, Ordering::Release);
        return Err(Failure::new(EXIT_OPEN, text));
    }
    // SAFETY: `stream` is open; the info stays valid while it is.
    let info = unsafe { (pa.get_stream_info)(stream).as_ref() };
    let info_copy = info.map(|info| PaStreamInfo {
        struct_version: info.struct_version,
        input_latency: info.input_latency,
        output_latency: info.output_latency,
        sample_rate: info.sample_rate,
    });

    let outcome = run_stream(
        pa,
        stream,
        &state.frames,
        tone_frames + tail_frames,
        &mut clock,
    );
    let (stop_error, close_error) = stop_and_close(pa, stream, &state.frames, &mut clock);
    let outcome = outcome.and_then(|()| match (stop_error, close_error) {
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
    done.store(true, Ordering::Release);
    match outcome {
        Ok(()) => {
            report(None, info_copy.as_ref(), &clock);
            Ok(())
        }
        Err((code, text)) => {
            report(Some(&text), info_copy.as_ref(), &clock);
            Err(Failure::new(code, text))
        }
    }
}

/// A driver that hangs PortAudio must not hang the bench: after `limit`, unless the returned
/// flag was set, prints a `{"kind": kind, "error": "hung: ..."}` report and exits.
pub(crate) fn start_watchdog(kind: &'static str, limit: Duration) -> Arc<AtomicBool> {
    let done = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&done);
    std::thread::spawn(move || {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if flag.load(Ordering::Acquire) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        println!(
            "{}",
            JsonObject::new()
                .str("kind", kind)
                .str(
                    "error",
                    &format!("hung: no result within {:.0} s", limit.as_secs_f64())
                )
                .finish()
        );
        eprintln!("wasio-pa-host: PortAudio or the driver hung; exiting");
        std::process::exit(EXIT_STREAM);
    });
    done
}

/// PortAudio's `outputBufferDacTime` (NaN without time info).
///
/// # Safety
/// `time_info` is NULL or points to a valid `PaStreamCallbackTimeInfo`.
pub(crate) unsafe fn dac_time(time_info: *const PaStreamCallbackTimeInfo) -> f64 {
    // SAFETY: guaranteed by the caller.
    unsafe { time_info.as_ref() }.map_or(f64::NAN, |info| info.output_buffer_dac_time)
}

/// The main thread's side of the timing: the phases of the stream and the progress lines.
pub(crate) struct PhaseClock {
    /// The stamps' base instant.
    base: Instant,
    pub(crate) phases: Phases,
    /// When `Pa_StartStream` was called, ns since `base`.
    start_call_ns: Option<u64>,
    progress: bool,
}

impl PhaseClock {
    pub(crate) fn new(base: Instant, progress: bool) -> PhaseClock {
        PhaseClock {
            base,
            phases: Phases::default(),
            start_call_ns: None,
            progress,
        }
    }

    fn progress(&self, event: &str, frames: u64) {
        if self.progress {
            println!(
                "{}",
                JsonObject::new()
                    .str("kind", "progress")
                    .str("event", event)
                    .int("frames", frames as i64)
                    .finish()
            );
        }
    }

    /// The `"timing"` object, once the stream is closed.
    pub(crate) fn report(&self, stamps: &Stamps, rate: f64, block: u32) -> JsonObject {
        let recorded = stamps.recorded();
        let mut phases = self.phases;
        if let (Some(first), Some(start)) = (recorded.first(), self.start_call_ns) {
            phases.first_callback_ms = first.wall_ns.saturating_sub(start) as f64 / 1e6;
        }
        let settle = timing::settle_frames(rate);
        let summary = timing::summarise(recorded, rate, block.into(), settle);
        timing::to_json(&summary, &phases, recorded.len(), settle)
    }
}

/// Stops and closes the stream, timing both; returns their error codes.
pub(crate) fn stop_and_close(
    pa: &PortAudio,
    stream: *mut PaStream,
    frames_done: &AtomicU64,
    clock: &mut PhaseClock,
) -> (PaError, PaError) {
    clock.progress("stopping", frames_done.load(Ordering::Acquire));
    // SAFETY: `stream` is open; stopping an already stopped stream only returns an error code.
    let (stop_ms, stop_error) = timing::timed(|| unsafe { (pa.stop_stream)(stream) });
    // SAFETY: `stream` is open and not used after this.
    let (close_ms, close_error) = timing::timed(|| unsafe { (pa.close_stream)(stream) });
    clock.phases.stop_ms = stop_ms;
    clock.phases.close_ms = close_ms;
    (stop_error, close_error)
}

/// Starts the stream and waits until the callback has counted `total_frames` in `frames_done`.
pub(crate) fn run_stream(
    pa: &PortAudio,
    stream: *mut PaStream,
    frames_done: &AtomicU64,
    total_frames: u64,
    clock: &mut PhaseClock,
) -> Result<(), (i32, String)> {
    clock.start_call_ns = Some(clock.base.elapsed().as_nanos() as u64);
    // SAFETY: `stream` is open.
    let (start_ms, error) = timing::timed(|| unsafe { (pa.start_stream)(stream) });
    clock.phases.start_ms = start_ms;
    if error != PA_NO_ERROR {
        return Err((
            EXIT_OPEN,
            format!("Pa_StartStream: {}", pa.error_text(error)),
        ));
    }
    const STALL: Duration = Duration::from_secs(3);
    let mut last_frames = 0;
    let mut last_progress = Instant::now();
    loop {
        let frames = frames_done.load(Ordering::Acquire);
        if last_frames == 0 && frames > 0 {
            clock.progress("running", frames);
        }
        if frames >= total_frames {
            return Ok(());
        }
        if frames != last_frames {
            last_frames = frames;
            last_progress = Instant::now();
        } else if last_progress.elapsed() > STALL {
            return Err((
                EXIT_STREAM,
                format!(
                    "stream stalled: no callback for {} s after {frames} frames",
                    STALL.as_secs()
                ),
            ));
        }
        // SAFETY: `stream` is open.
        let active = unsafe { (pa.is_stream_active)(stream) };
        if active < 0 {
            return Err((
                EXIT_STREAM,
                format!("Pa_IsStreamActive: {}", pa.error_text(active)),
            ));
        }
        if active == 0 {
            return Err((
                EXIT_STREAM,
                format!("stream stopped by itself after {frames} frames"),
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
