//! Choices the shipped driver leaves at their defaults.

use crate::capture::ClockRelation;

/// Choices the shipped driver leaves at their defaults.
#[derive(Clone, Debug, Default)]
pub struct EngineOptions {
    /// The relation between the capture and the render clock of duplex streams. `None` (the
    /// driver): decided from the endpoints (a PulseAudio monitor of the sink, or one
    /// physical device: shared; otherwise detected while running). Windows gives no evidence
    /// of two clocks, so only this option makes a stream resample from its start.
    pub clock_relation: Option<ClockRelation>,
}
