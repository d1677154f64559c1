//! The port: what the stream engine needs from Windows audio, shaped like the COM objects it
//! uses, one method per WASAPI or Win32 call.
//!
//! - [`AudioPort`]: the factory of everything else, and the Win32 calls that are not methods
//!   of an audio object: the COM apartment, events and waitable timers,
//!   `WaitForMultipleObjects`, `QueryPerformanceCounter`, MMCSS and thread priority.
//! - [`DeviceEnumerator`], [`DeviceCollection`], [`Device`]: `IMMDeviceEnumerator`,
//!   `IMMDeviceCollection`, `IMMDevice` (with its property store and `IMMEndpoint`), and
//!   endpoint notifications (`IMMNotificationClient`, delivered to a [`NotificationSink`]).
//! - [`AudioClient`], [`AudioClient3`]: `IAudioClient` and `IAudioClient3`.
//! - [`RenderClient`], [`CaptureClient`], [`AudioClock`]: the services of a client.
//!
//! Errors are the HRESULT the call returned ([`Hr`]), nothing else: an `Hr` is `Copy`, so a
//! failure inside the real-time loop costs no allocation. Formats cross the port as the bytes
//! of a `WAVEFORMATEX`/`WAVEFORMATEXTENSIBLE`, as WASAPI takes and gives them.
//!
//! Implementations: `wasio-wasapi`'s `WasapiPort` (the only code that names
//! `windows::Win32::Media::Audio`) and, for tests and tools, [`crate::sim`]'s simulated
//! WASAPI. Neither makes a decision: the mode chain, retries, the real-time loops and every
//! reaction live in [`crate::stream`], generic over this port.

mod hr;
mod objects;
mod types;

pub use hr::*;
pub use objects::*;
pub use types::*;
