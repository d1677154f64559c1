//! The interface between the driver core and an audio backend (WASAPI on Windows, a
//! simulated device in tests). The backend owns the device thread; the core never waits on
//! it from the real-time path.

use crate::buffers::HostBuffers;
use crate::capture::{ClockRelation, InputMonitor};
use crate::clock::PositionCell;
use crate::convert::HostSampleType;
use crate::format::StreamFormat;
use crate::render::{RenderStats, SwitchHandler};
use std::fmt;
use std::sync::Arc;

/// A failed backend step: which call failed, and its HRESULT by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendError {
    /// What was being done, e.g. "IAudioClient::Initialize".
    pub context: String,
    pub hresult: Option<i32>,
    /// Extra words (ours when there is no HRESULT).
    pub detail: String,
}

const AUDCLNT_E_DEVICE_INVALIDATED: i32 = 0x8889_0004_u32 as i32;
const AUDCLNT_E_SERVICE_NOT_RUNNING: i32 = 0x8889_0010_u32 as i32;
const E_NOTFOUND: i32 = 0x8007_0490_u32 as i32;

impl BackendError {
    pub fn new(context: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            context: context.into(),
            hresult: None,
            detail: detail.into(),
        }
    }
    pub fn from_hresult(context: impl Into<String>, hresult: i32) -> Self {
        Self {
            context: context.into(),
            hresult: Some(hresult),
            detail: String::new(),
        }
    }
    /// The device is gone or was invalidated (unplugged, disabled, format changed).
    pub fn is_device_lost(&self) -> bool {
        matches!(
            self.hresult,
            Some(AUDCLNT_E_DEVICE_INVALIDATED | AUDCLNT_E_SERVICE_NOT_RUNNING | E_NOTFOUND)
        )
    }
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed", self.context)?;
        if let Some(hr) = self.hresult {
            match crate::hresult::hresult_name(hr) {
                Some(name) => write!(f, ": {name} (0x{:08X})", hr as u32)?,
                None => write!(f, ": HRESULT 0x{:08X}", hr as u32)?,
            }
        }
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}

impl std::error::Error for BackendError {}

/// What the driver needs to know about an endpoint before opening a stream.
#[derive(Clone, Debug, PartialEq)]
pub struct EndpointInfo {
    pub id: String,
    pub name: String,
    pub mix_format: StreamFormat,
    pub default_period_frames: usize,
    pub min_period_frames: usize,
    /// Device buffer and stream latency of a trial shared-mode stream at the mix format,
    /// so that getLatencies is truthful before createBuffers.
    pub shared_buffer_frames: usize,
    pub shared_stream_latency_frames: usize,
}

/// The driver's side of a stream: buffer switches, and news of a failure.
pub trait StreamHandler: SwitchHandler + Send {
    /// The stream ended by itself (device lost, backend error). Called on the device
    /// thread after the real-time loop has ended, never inside it.
    fn stream_failed(&mut self, error: &BackendError);
}

/// Everything needed to open the output stream.
pub struct OutputRequest {
    pub sample_rate: u32,
    pub block_frames: usize,
    pub buffers: Arc<HostBuffers>,
    pub host_sample_type: HostSampleType,
    /// (index in `buffers`, device channel) for each active output channel.
    pub routes: Vec<(usize, usize)>,
    pub positions: Arc<PositionCell>,
    pub handler: Box<dyn StreamHandler>,
    /// Input channels, when the host asked for any. With no output `routes`, the stream is
    /// input only and the capture clock drives it.
    pub capture: Option<CaptureRequest>,
}

/// The input side of a stream (see `capture` and `duplex`).
pub struct CaptureRequest {
    pub buffers: Arc<HostBuffers>,
    /// (index in `buffers`, device channel) for each active input channel.
    pub routes: Vec<(usize, usize)>,
    /// Where the device thread publishes the measured input latency, drift and counters.
    pub monitor: Arc<InputMonitor>,
}

/// What an opened capture stream looks like.
#[derive(Clone, Debug, PartialEq)]
pub struct InputStreamInfo {
    pub endpoint: EndpointInfo,
    pub format: StreamFormat,
    pub period_frames: usize,
    pub device_buffer_frames: usize,
    pub relation: ClockRelation,
    /// Input latency before it is measured (target fill, a packet, resampler delay).
    pub predicted_latency_frames: usize,
}

/// What an opened stream looks like, for getLatencies, the log and the status line.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamInfo {
    pub endpoint: EndpointInfo,
    pub format: StreamFormat,
    pub mode: &'static str,
    pub period_frames: usize,
    pub device_buffer_frames: usize,
    pub stream_latency_frames: usize,
    /// The capture side, when the stream has inputs.
    pub input: Option<InputStreamInfo>,
    /// Whether the render side was opened (false for an input-only stream).
    pub has_output: bool,
}

/// What a finished run did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StreamReport {
    pub stats: RenderStats,
    /// Allocations counted on the real-time thread (0 unless the allocation guard is
    /// installed; it is in debug builds of the driver).
    pub rt_allocations: u64,
    pub failure: Option<BackendError>,
}

/// A device thread serving the driver. Calls come from host threads and may block until
/// the device thread answers; none of them is made from the real-time path.
pub trait Backend: Send + Sync {
    /// The default output endpoint and its formats.
    fn describe_output(&self) -> Result<EndpointInfo, BackendError>;
    /// The capture endpoint inputs come from, if there is one. Backends without input
    /// keep this default.
    fn describe_input(&self) -> Result<Option<EndpointInfo>, BackendError> {
        Ok(None)
    }
    /// Whether the output endpoint can stream at `rate`.
    fn supports_rate(&self, rate: u32) -> Result<bool, BackendError>;
    /// Opens (initializes, does not start) the output stream, replacing any open one.
    fn open_output(&self, request: OutputRequest) -> Result<StreamInfo, BackendError>;
    /// Starts streaming. `deferred_output`: the host does not call outputReady.
    fn start(&self, deferred_output: bool) -> Result<(), BackendError>;
    /// Stops streaming; returns once the real-time loop has ended.
    fn stop(&self) -> Result<StreamReport, BackendError>;
    /// Stops and releases the stream and its endpoint.
    fn close(&self) -> Result<(), BackendError>;
}
