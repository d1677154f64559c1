//! The stream engine: the device thread and everything it does, generic over the port
//! ([`crate::port`]), so that the code a Windows machine runs is the code `cargo test` runs
//! against the simulated WASAPI ([`crate::sim`]).
//!
//! - [`StreamEngine`]: implements [`Backend`] for the driver core: host threads send it
//!   commands and wait for the answer; its device thread owns every port object.
//! - `worker`: the device thread's command loop (open, start, stop, close, probes).
//! - `endpoints`: endpoint selection, description, and the clock relation of a capture
//!   endpoint to the render endpoint.
//! - `modes_exec`: the mode chain as executed: trial opens, refusals with their HRESULT,
//!   format negotiation, the alignment retry, IAudioClient3.
//! - `capture_setup`: the capture client and the packets it hands the input path.
//! - `live`: the running client's services, the polling timer, MMCSS.
//! - `render_loop`: the real-time loops (render/duplex and input-only) with the silence
//!   watchdog and the deadline account.
//! - `notify`: reactions to a new default device and to a removed device.
//! - [`enumerate`]: every endpoint with its formats, for `wasio devices` and the panel.

mod capture_setup;
mod ctx;
mod endpoints;
pub mod enumerate;
mod live;
mod modes_exec;
mod notify;
mod options;
mod render_loop;
mod worker;

pub use endpoints::COMPUTER_CONTAINER;
pub use modes_exec::check_engine_periods;
pub use options::EngineOptions;
pub use render_loop::{EVENT_TIMEOUT_MS, MAX_SILENT_WAITS};

use crate::backend::{
    Backend, BackendError, DeviceSelector, EndpointInfo, OutputPlan, OutputRequest, StreamInfo,
    StreamReport,
};
use crate::config::Mode;
use crate::convert::DeviceFormat;
use crate::port::AudioPort;
use ctx::Ctx;
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use worker::{Command, Reply};

/// The driver's handle on its device thread.
pub struct StreamEngine<P: AudioPort> {
    port: Arc<P>,
    commands: Option<Sender<Command>>,
    wake: Arc<P::Handle>,
    thread: Option<JoinHandle<()>>,
}

impl<P: AudioPort> StreamEngine<P> {
    /// Starts the device thread (`wasio-device`), which enters the multithreaded apartment.
    pub fn spawn(port: Arc<P>, options: EngineOptions) -> Result<Self, BackendError> {
        let wake = Arc::new(port.create_event().ctx("CreateEventW")?);
        let (commands, inbox) = channel();
        let (ready_tx, ready_rx) = channel();
        let (thread_port, thread_wake) = (port.clone(), wake.clone());
        let thread = std::thread::Builder::new()
            .name("wasio-device".into())
            .spawn(move || {
                let apartment = match thread_port.enter_mta().ctx("CoInitializeEx") {
                    Ok(apartment) => {
                        let _ = ready_tx.send(Ok(()));
                        apartment
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                worker::Worker::new(thread_port, inbox, thread_wake, options).serve();
                drop(apartment);
            })
            .map_err(|e| BackendError::new("spawning the device thread", e.to_string()))?;
        ready_rx
            .recv()
            .map_err(|_| BackendError::new("device thread", "exited during start-up"))??;
        Ok(Self {
            port,
            commands: Some(commands),
            wake,
            thread: Some(thread),
        })
    }

    /// The port this engine runs over.
    pub fn port(&self) -> &Arc<P> {
        &self.port
    }

    fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, BackendError> {
        let (tx, rx) = channel();
        self.commands
            .as_ref()
            .and_then(|c| c.send(make(tx)).ok())
            .ok_or_else(|| BackendError::new("device thread", "is not running"))?;
        rx.recv()
            .map_err(|_| BackendError::new("device thread", "ended without answering"))?
    }

    fn wake(&self) -> Result<(), BackendError> {
        self.port.set_event(&self.wake).ctx("SetEvent")
    }
}

impl<P: AudioPort> Backend for StreamEngine<P> {
    fn describe_output(&self, device: &DeviceSelector) -> Result<EndpointInfo, BackendError> {
        let device = device.clone();
        self.ask(|reply| Command::DescribeOutput(device, reply))
    }

    fn describe_input(
        &self,
        device: &DeviceSelector,
    ) -> Result<Option<EndpointInfo>, BackendError> {
        let device = device.clone();
        self.ask(|reply| Command::DescribeInput(device, reply))
    }

    fn supports_rate(&self, endpoint_id: &str, rate: u32) -> Result<bool, BackendError> {
        let id = endpoint_id.to_string();
        self.ask(|reply| Command::SupportsRate(id, rate, reply))
    }

    fn probe_output(
        &self,
        endpoint_id: &str,
        mode: Mode,
        rate: u32,
        preferred: Option<DeviceFormat>,
    ) -> Result<OutputPlan, BackendError> {
        let id = endpoint_id.to_string();
        self.ask(|reply| Command::ProbeOutput(id, mode, rate, preferred, reply))
    }

    fn open_output(&self, request: OutputRequest) -> Result<StreamInfo, BackendError> {
        self.ask(|reply| Command::OpenOutput(Box::new(request), reply))
    }

    fn start(&self, deferred_output: bool) -> Result<(), BackendError> {
        self.ask(|reply| Command::Start(deferred_output, reply))
    }

    fn stop(&self) -> Result<StreamReport, BackendError> {
        self.wake()?;
        self.ask(Command::Stop)
    }

    fn close(&self) -> Result<(), BackendError> {
        self.wake()?;
        self.ask(Command::Close)
    }
}

impl<P: AudioPort> Drop for StreamEngine<P> {
    fn drop(&mut self) {
        // Wake a running loop, close the inbox, and wait: port objects are released on
        // their own thread before any handle they use is closed.
        let _ = self.wake();
        self.commands.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
