//! The Wasio ASIO driver: an in-process COM server implementing IASIO.
//!
//! Everything ASIO means lives in `wasio_engine::driver::DriverCore`; this crate is the COM
//! face (class factory, the IASIO vtable with the right calling convention per
//! architecture, registration) and the wiring to the WASAPI backend. No panic crosses the
//! ABI: every entry point runs inside `catch_unwind`.

use asio_abi::Guid;

/// The COM class (and, as hosts use it, interface) id of Wasio.
pub const CLSID_WASIO: Guid = Guid::from_u128(0x9fdcfb3d_0253_4e80_81e3_6c4798778f5b);

/// The key name under `HKLM\SOFTWARE\ASIO` and the name hosts list.
pub const ASIO_KEY_NAME: &str = wasio_engine::driver::DRIVER_NAME;

#[cfg(windows)]
mod com;
#[cfg(windows)]
mod iasio;
#[cfg(windows)]
mod registry;

// Debug builds count allocations on the audio thread (see wasio_engine::rt_guard).
#[cfg(debug_assertions)]
#[global_allocator]
static ALLOCATOR: wasio_engine::rt_guard::CountingAllocator<std::alloc::System> =
    wasio_engine::rt_guard::CountingAllocator(std::alloc::System);
