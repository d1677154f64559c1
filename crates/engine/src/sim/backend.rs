//! [`SimulatedBackend`]: the shipping stream engine over the simulated WASAPI, as the
//! driver core sees a backend.

use super::{SimControl, SimDeviceSpec, SimPort};
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
