//! Wasio's WASAPI backend: the only code that talks to Windows audio.
//!
//! It stays thin: formats, buffering, timing, conversion and the IASIO semantics live in
//! `wasio-engine`, where they are tested natively. Here: endpoints, `IAudioClient` set-up,
//! and the device thread that owns its COM apartment, runs at MMCSS "Pro Audio" priority
//! and drives the engine from the audio events. It implements
//! [`wasio_engine::backend::Backend`].
#![cfg(windows)]

mod capture;
mod client;
mod com;
mod endpoint;
mod enumerate;
mod error;
mod notify;
pub mod port;
mod process;
mod worker;

pub use enumerate::{
    find_endpoint, list_endpoints, EndpointDetails, EndpointState, Flow, EXCLUSIVE_PROBE_ENCODINGS,
    EXCLUSIVE_PROBE_RATES,
};
pub use port::WasapiPort;
pub use process::process_alive;
pub use worker::DeviceWorker;
