//! Wasio's WASAPI port: the only code that talks to Windows audio
//! (`windows::Win32::Media::Audio`).
//!
//! [`WasapiPort`] implements the engine's port ([`wasio_engine::port`]): one WASAPI or
//! Win32 call per method, the HRESULT as the error, no loops, no retries, no decisions.
//! The stream engine that drives it ([`wasio_engine::stream::StreamEngine`]: the mode chain,
//! the device thread, the real-time loops, device loss) is the engine's, tested natively
//! against the simulated WASAPI.
//!
//! The wrappers are our own rather than HEnquist's `wasapi` crate: that crate copies audio
//! through slices and deques instead of handing out the device buffer, returns its own error
//! type (boxed or `thiserror`, which allocates, where the real-time loop needs the bare
//! HRESULT), decides timing and share modes in its own initialize helpers, and builds on
//! another `windows` release than this workspace (a second copy of the largest dependency,
//! for x64 and x86). The port needs exactly one call per method, including the ones it does
//! not wrap (`IAudioClient3`, the failed client's `GetBufferSize` of the alignment recipe).
#![cfg(windows)]

pub mod port;
mod process;

pub use port::WasapiPort;
pub use process::process_alive;
pub use wasio_engine::port::Flow;
pub use wasio_engine::stream::enumerate::{
    EndpointDetails, EndpointState, EXCLUSIVE_PROBE_ENCODINGS, EXCLUSIVE_PROBE_RATES,
};

use wasio_engine::backend::BackendError;
use wasio_engine::config::DeviceSelector;
use wasio_engine::stream::{EngineOptions, StreamEngine};

/// The driver's device thread: the engine's stream engine over WASAPI.
pub type DeviceEngine = StreamEngine<WasapiPort>;

/// Starts the device thread over WASAPI with the shipped options.
pub fn spawn_engine() -> Result<DeviceEngine, BackendError> {
    StreamEngine::spawn(std::sync::Arc::new(WasapiPort), EngineOptions::default())
}

/// Every endpoint of `flow` with its formats (see
/// [`wasio_engine::stream::enumerate::list_endpoints`]).
pub fn list_endpoints(flow: Flow) -> Result<Vec<EndpointDetails>, BackendError> {
    wasio_engine::stream::enumerate::list_endpoints(&WasapiPort, flow)
}

/// The active endpoint of `flow` that `selector` picks, if any.
pub fn find_endpoint(
    flow: Flow,
    selector: &DeviceSelector,
) -> Result<Option<EndpointDetails>, BackendError> {
    wasio_engine::stream::enumerate::find_endpoint(&WasapiPort, flow, selector)
}
