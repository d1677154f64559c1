//! `wasio-pa-host`: drives ASIO drivers through PortAudio's ASIO host API, as real hosts do.
//!
//! ```text
//! wasio-pa-host list [--portaudio DLL]
//! wasio-pa-host play --device NAME [--rate 48000] [--frames-per-buffer 256] [--freq 997]
//!                    [--amplitude 0.5] [--seconds 5] [--channels 2] [--tail-seconds 0.5]
//!                    [--non-interleaved] [--suggested-latency S] [--host-api ASIO]
//!                    [--portaudio DLL] [--pattern counter --sample-format int16|int24|int32|float32]
//!                    [--progress]
//! wasio-pa-host duplex --device NAME [--input-device NAME] [--rate 48000]
//!                    [--frames-per-buffer 256] [--in-channels 2] [--out-channels 2]
//!                    [--seconds 5] [--tail-seconds 1] [--signal impulses|sine]
//!                    [--impulse-interval-ms 250] [--amplitude A] [--freq 997]
//!                    [--record-input FILE.f32] [--suggested-latency S] [--host-api ASIO]
//!                    [--portaudio DLL] [--progress]
//! ```
//! `play` and `duplex` reports carry a `timing` object (timing.rs): the callback interval
//! jitter, the deviation of PortAudio's output DAC times from the sample clock, and how long
//! open, start, the first callback, stop and close took. `--progress` adds
//! `{"kind":"progress","event":"running"|"stopping"}` lines when the first callback has run and
//! right before `Pa_StopStream` (the bench measures CPU between them).
//! `duplex` opens one full-duplex stream: the output plays an impulse train (one sample of
//! ±amplitude every interval, polarity pseudo-random) or a sine; every input frame is kept and
//! written to `--record-input` (float32 interleaved) at the end. Its report lists the output
//! frame and polarity of every impulse written. `--input-device` is for host APIs other than
//! ASIO, where input and output are separate devices.
//! `--pattern counter` (play) writes the counter of `pattern.rs` in `--sample-format` instead
//! of the tone (PortAudio copies it unchanged when the format is the driver's ASIO sample
//! type), for bit-exactness tests.
//! `--host-api` picks another PortAudio host API (e.g. "Windows WASAPI") to check the bench
//! itself without a driver.
//! Output: one JSON object per line on stdout; diagnostics on stderr.
//! The PortAudio DLL is `--portaudio`, else `$WASIO_PORTAUDIO_DLL`, else
//! `libportaudio{64,32}bit-asio.dll` next to the executable, else the DLL search path.
//!
//! Exit codes: 0 ok, 2 usage, 3 PortAudio unavailable, 4 device not found or unsuitable,
//! 5 stream could not be opened/started, 6 stream failed or hung.

// Only the OS-independent parts (arguments, tone) are built and tested off Windows.
#![cfg_attr(not(windows), allow(dead_code))]

mod args;
mod pattern;
mod timing;
mod tone;

#[cfg(windows)]
mod json;

#[cfg(windows)]
mod commands;
#[cfg(windows)]
mod duplex;
#[cfg(windows)]
mod pa;

/// Why a command failed, with its exit code.
#[derive(Debug)]
pub struct Failure {
    pub code: i32,
    pub message: String,
}

impl Failure {
    pub fn new(code: i32, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }
}

pub const EXIT_USAGE: i32 = 2;
pub const EXIT_NO_PORTAUDIO: i32 = 3;
pub const EXIT_DEVICE: i32 = 4;
pub const EXIT_OPEN: i32 = 5;
pub const EXIT_STREAM: i32 = 6;

const USAGE: &str =
    "usage: wasio-pa-host list | play --device NAME [--rate HZ] [--frames-per-buffer N] \
[--freq HZ] [--amplitude A] [--seconds S] [--channels N] [--tail-seconds S] [--non-interleaved] \
[--suggested-latency S] [--host-api NAME] [--portaudio DLL] [--progress] | duplex --device NAME \
[--input-device NAME] [--rate HZ] [--frames-per-buffer N] [--in-channels N] [--out-channels N] \
[--seconds S] [--tail-seconds S] [--signal impulses|sine] [--impulse-interval-ms MS] \
[--amplitude A] [--freq HZ] [--record-input FILE] [--suggested-latency S] [--host-api NAME] \
[--portaudio DLL] [--progress]";

fn main() {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let code = match args::Args::parse(&raw) {
        Err(message) => {
            eprintln!("wasio-pa-host: {message}\n{USAGE}");
            EXIT_USAGE
        }
        Ok(args) => match run(args) {
            Ok(()) => 0,
            Err(failure) => {
                eprintln!("wasio-pa-host: {}", failure.message);
                failure.code
            }
        },
    };
    std::process::exit(code);
}

#[cfg(windows)]
fn run(args: args::Args) -> Result<(), Failure> {
    commands::run(args)
}

#[cfg(not(windows))]
fn run(args: args::Args) -> Result<(), Failure> {
    let _ = args;
    Err(Failure::new(
        EXIT_NO_PORTAUDIO,
        "wasio-pa-host runs on Windows (or under Wine) only",
    ))
}
