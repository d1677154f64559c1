//! The simulated WASAPI: an implementation of the port ([`crate::port`]) that behaves as
//! Windows documents, for tests and tools (feature `sim`; never in the shipped DLL).
//!
//! It has no stream orchestration of its own: the driver's stream engine
//! ([`crate::stream::StreamEngine`]) runs over it exactly as it runs over WASAPI. What it
//! simulates (see `client` for the rules of each mode):
//!
//! - endpoints with names, IDs, states, containers and notifications (a new default
//!   device, a device unplugged);
//! - `IAudioClient` in shared mode (10 ms engine periods, a buffer of at least three,
//!   `AUTOCONVERTPCM`), IAudioClient3 (default, fundamental, minimum and maximum periods,
//!   the mix format only), exclusive event-driven mode (buffer = period, one event per
//!   period, `AUDCLNT_E_BUFFER_SIZE_NOT_ALIGNED` and the aligned size from GetBufferSize)
//!   and exclusive polling;
//! - render devices that take one period per period and play silence when starved; an
//!   `IAudioClock` that reads where they are, with the QPC time of the reading;
//! - capture devices that record a packet per period, stamped at its first frame (Windows)
//!   or when read (Wine), with device positions, losing packets when nobody reads them;
//! - devices invalidated mid-stream (`AUDCLNT_E_DEVICE_INVALIDATED`);
//! - profiles for the known quirks ([`SimDeviceSpec`]): Wine's PulseAudio and ALSA
//!   drivers, Wine 10's nominal IAudioClient3, devices that want aligned periods, drivers
//!   whose events come late or in bursts.
//!
//! Time is simulated: it moves only while the device thread waits, to the next thing that
//! happens, so tests run fast and always alike ([`SimDeviceSpec::tick`] paces it).

mod client;
mod client_objects;
mod control;
mod objects;
mod spec;
mod streams;
mod world;

pub use control::SimControl;
pub use objects::{
    SimCapture, SimClient, SimClient3, SimClock, SimCollection, SimDevice, SimEnumerator,
    SimHandle, SimPort, SimRegistration, SimRender,
};
pub use spec::{ramp_value, Client3Support, EventTiming, SimDeviceSpec, SimInputSpec, SimSignal};
pub use world::{BOOT_NS, SIM_CONTAINER};

use crate::backend::{
    Backend, BackendError, DeviceSelector, EndpointInfo, OutputPlan, OutputRequest, StreamInfo,
    StreamReport,
};
use crate::capture::ClockRelation;
use crate::config::Mode;
use crate::convert::DeviceFormat;
use crate::stream::{EngineOptions, StreamEngine};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// The driver's stream engine over the simulated WASAPI, with the machine's knobs.
pub struct SimulatedBackend {
    engine: StreamEngine<SimPort>,
    pub control: Arc<SimControl>,
}

impl SimulatedBackend {
    /// A machine as `spec` describes, driven by the shipping stream engine. Inputs on their
    /// own clock (`shared_clock: false` without `detect_clock`) are declared independent
    /// through [`EngineOptions::clock_relation`]: Windows offers no evidence of two clocks.
    pub fn new(spec: SimDeviceSpec) -> Self {
        let independent = spec
            .input
            .as_ref()
            .is_some_and(|i| !i.shared_clock && !i.detect_clock);
        let options = EngineOptions {
            clock_relation: independent.then_some(ClockRelation::Independent),
        };
        let control = Arc::new(SimControl::default());
        let port = Arc::new(SimPort::new(spec, control.clone()));
        let engine =
            StreamEngine::spawn(port, options).expect("the simulated device thread starts");
        Self { engine, control }
    }

    /// The simulated machine.
    pub fn port(&self) -> &Arc<SimPort> {
        self.engine.port()
    }

    /// The user makes the next output the Windows default. Returns whether the driver asked
    /// the host for a reset because of it (a stream with `follow-default` does).
    pub fn change_default_endpoint(&self) -> bool {
        let before = self.control.resets_requested.load(Ordering::Acquire);
        self.port().change_default_endpoint();
        self.control.resets_requested.load(Ordering::Acquire) > before
    }
}

impl Backend for SimulatedBackend {
    fn describe_output(&self, device: &DeviceSelector) -> Result<EndpointInfo, BackendError> {
        self.engine.describe_output(device)
    }
    fn describe_input(
        &self,
        device: &DeviceSelector,
    ) -> Result<Option<EndpointInfo>, BackendError> {
        self.engine.describe_input(device)
    }
    fn supports_rate(&self, endpoint_id: &str, rate: u32) -> Result<bool, BackendError> {
        self.engine.supports_rate(endpoint_id, rate)
    }
    fn probe_output(
        &self,
        endpoint_id: &str,
        mode: Mode,
        rate: u32,
        preferred: Option<DeviceFormat>,
    ) -> Result<OutputPlan, BackendError> {
        self.engine.probe_output(endpoint_id, mode, rate, preferred)
    }
    fn open_output(&self, mut request: OutputRequest) -> Result<StreamInfo, BackendError> {
        // Count the driver's reset requests, then pass them on.
        let (inner, control) = (request.request_reset.clone(), self.control.clone());
        request.request_reset = Arc::new(move |reason: &str| {
            control.resets_requested.fetch_add(1, Ordering::AcqRel);
            inner(reason)
        });
        self.engine.open_output(request)
    }
    fn start(&self, deferred_output: bool) -> Result<(), BackendError> {
        self.engine.start(deferred_output)
    }
    fn stop(&self) -> Result<StreamReport, BackendError> {
        self.engine.stop()
    }
    fn close(&self) -> Result<(), BackendError> {
        self.engine.close()
    }
}
