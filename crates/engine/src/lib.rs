//! Wasio's engine: everything that does not need Windows, tested natively.
//!
//! - [`state`]: the ASIO life cycle and which call is valid when.
//! - [`driver`]: the IASIO semantics, on raw host arguments.
//! - [`backend`]: what the driver core needs from an audio backend.
//! - [`buffers`]: the ASIO double buffers.
//! - [`render`]: host blocks → lock-free ring → device periods, with switch timing.
//! - [`capture`]: capture packets → FIFO (same clock) or drift compensator → host blocks.
//! - [`duplex`]: one device thread, input and output in one buffer switch; input-only streams.
//! - [`deadline`]: which xruns the driver caused (late blocks) and which the system did.
//! - [`fault`]: faults a test build injects (feature `fault-injection`) to prove the bench.
//! - [`clock`]: device-clock arithmetic and the lock-free sample-position cell.
//! - [`modes`]: the mode chain, exclusive formats and sizes, as pure decisions.
//! - [`period`]: the exclusive event-driven path, one ASIO buffer per device period.
//! - [`sizes`]: the buffer sizes offered to the host.
//! - [`format`]: WAVEFORMATEX(TENSIBLE) parsing and building.
//! - [`convert`]: sample conversion kernels between ASIO and device formats.
//! - [`channels`]: channel names from speaker masks.
//! - [`config`]: the Wasio.toml model, parser and watcher.
//! - [`hresult`]: HRESULT names for messages.
//! - [`status`]: the status file a running instance writes for `wasio status` and the panel.
//! - [`log`]: the log: background writer, wait-free records from the audio thread.
//! - [`drift`]: clock-drift compensation between two devices (rubato + a PI fill controller).
//! - [`env`]: what the driver needs from the OS (profile and status directories, process).
//! - [`monitor`]: the per-instance thread that watches Wasio.toml and writes the status file.
//! - [`port`]: what the stream engine needs from Windows audio, one method per WASAPI call.
//! - [`stream`]: the stream engine (device thread, mode chain, real-time loops), generic
//!   over the port.
//! - `sim` (feature `sim`, tests and tools only): a simulated WASAPI that behaves as
//!   Windows documents.
//! - [`rt_guard`]: the proof that the real-time thread does not allocate.

pub mod backend;
pub mod buffers;
pub mod capture;
pub mod capture_clock;
pub mod channels;
pub mod clock;
pub mod clock_detect;
pub mod config;
pub mod convert;
pub mod deadline;
pub mod drift;
pub mod driver;
pub mod duplex;
pub mod env;
pub mod error;
pub mod fault;
pub mod format;
pub mod hresult;
pub mod latency_watch;
pub mod log;
pub mod modes;
pub mod monitor;
pub mod period;
pub mod port;
pub mod render;
pub mod rt_guard;
#[cfg(feature = "sim")]
pub mod sim;
pub mod sizes;
pub mod state;
pub mod status;
pub mod stream;
pub mod threads;

pub use error::{DriverError, DriverResult};

/// The driver's version, as `getDriverVersion` and the log report it.
pub const DRIVER_VERSION: &str = env!("CARGO_PKG_VERSION");
