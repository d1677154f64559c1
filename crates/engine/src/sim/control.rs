//! Knobs and observations of a simulated machine, shared with the tests.

use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Mutex;

/// Shared knobs and observations of a [`super::SimulatedBackend`] (or a bare
/// [`super::SimPort`]).
#[derive(Default)]
pub struct SimControl {
    /// Invalidate the clients of the endpoint whose running stream has the next period (the
    /// render endpoint, or the capture endpoint of an input-only stream), as a format change
    /// or a driver reset does: every call on them answers `AUDCLNT_E_DEVICE_INVALIDATED` from
    /// then on and no event comes; new clients work.
    pub fail_next_tick: AtomicBool,
    /// Make the render device play out everything queued at its next period (an underrun:
    /// the driver's next write finds the device empty).
    pub drain_next_tick: AtomicBool,
    /// Everything the render device played, interleaved device bytes (kept while `record`
    /// is set).
    pub played: Mutex<Vec<u8>>,
    pub record: AtomicBool,
    /// Render periods played (and capture packets of input-only streams).
    pub ticks: AtomicU64,
    /// Capture packets delivered.
    pub capture_packets: AtomicU64,
    /// Capture packets lost because the capture buffer was full.
    pub capture_overflows: AtomicU64,
    /// The ID of the endpoint the last render client was initialized on.
    pub opened_endpoint: Mutex<Option<String>>,
    /// Whether an initialized render client holds an endpoint now.
    pub endpoint_held: AtomicBool,
    /// How many times a render client was started.
    pub endpoint_opens: AtomicU64,
    /// Reset requests the driver made (counted by [`super::SimulatedBackend`]).
    pub resets_requested: AtomicU64,
    /// MMCSS registrations made, and whether one is in effect now.
    pub mmcss_entered: AtomicU64,
    pub mmcss_active: AtomicBool,
    /// Whether a thread asked for THREAD_PRIORITY_TIME_CRITICAL last (and not Normal since).
    pub time_critical: AtomicBool,
    /// Audio events the render driver signalled late, and events it skipped (bursts).
    pub late_events: AtomicU64,
    pub skipped_events: AtomicU64,
}
