//! Wasio's WASAPI backend: the only code that talks to Windows audio.
//!
//! It stays thin: formats, buffering, timing and conversion live in `wasio-engine`, where
//! they are tested natively. Here: endpoints, `IAudioClient` set-up, and the device thread
//! that owns its COM apartment, runs at MMCSS "Pro Audio" priority and drives the engine
//! from the audio events.

mod error;
pub use error::BackendError;

#[cfg(windows)]
mod com;
#[cfg(windows)]
mod endpoint;
#[cfg(windows)]
mod worker;

#[cfg(windows)]
pub use endpoint::EndpointInfo;
#[cfg(windows)]
pub use worker::{DeviceWorker, OutputRequest, StreamHandler, StreamInfo, StreamReport};
