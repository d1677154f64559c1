//! The interface between the driver core and an audio backend (WASAPI on Windows, a
//! simulated device in tests). The backend owns the device thread; the core never waits on
//! it from the real-time path.

use crate::buffers::HostBuffers;
use crate::capture::{ClockRelation, InputMonitor};
use crate::clock::PositionCell;
pub use crate::config::{DeviceSelector, Mode};
use crate::convert::{DeviceFormat, HostSampleType};
use crate::format::StreamFormat;
use crate::log::RtLogProducer;
use crate::modes::{ModeReport, StreamMode};
use crate::render::{RenderStats, SwitchHandler};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

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

/// Asks the host for a reset (`kAsioResetRequest`), giving the reason for the log. Callable
/// from any thread except the real-time loop; it never blocks on the host.
pub type ResetRequester = Arc<dyn Fn(&str) + Send + Sync>;

/// Live counters of a running stream, published by the device thread after each device
/// event (plain atomic stores, real-time safe) and read by the status writer.
#[derive(Debug, Default)]
pub struct StreamCounters {
    switches: AtomicU64,
    underruns: AtomicU64,
}

impl StreamCounters {
    pub fn publish(&self, stats: &RenderStats) {
        self.switches.store(stats.switches, Ordering::Relaxed);
        self.underruns.store(stats.underruns, Ordering::Relaxed);
    }

    /// `(buffer switches, underruns)` of the current run.
    pub fn read(&self) -> (u64, u64) {
        (
            self.switches.load(Ordering::Relaxed),
            self.underruns.load(Ordering::Relaxed),
        )
    }
}

/// Everything needed to open the output stream.
pub struct OutputRequest {
    /// The endpoint [`Backend::describe_output`] chose (`EndpointInfo::id`).
    pub endpoint_id: String,
    /// How it was chosen; with [`DeviceSelector::FollowDefault`] the backend watches the
    /// Windows default and calls `request_reset` when it changes while the stream exists.
    pub device: DeviceSelector,
    pub mode: Mode,
    /// WASAPI period and buffer duration overrides (`period_ms`, `buffer_ms`).
    pub period: Option<Duration>,
    pub buffer_duration: Option<Duration>,
    pub sample_rate: u32,
    pub block_frames: usize,
    pub buffers: Arc<HostBuffers>,
    pub host_sample_type: HostSampleType,
    /// (index in `buffers`, device channel) for each active output channel.
    pub routes: Vec<(usize, usize)>,
    pub positions: Arc<PositionCell>,
    pub handler: Box<dyn StreamHandler>,
    /// The audio thread's log: start, stop, underruns, device errors (wait-free pushes).
    pub rt_log: RtLogProducer,
    pub counters: Arc<StreamCounters>,
    pub request_reset: ResetRequester,
    /// The exclusive format to try first: the one the probe found, which fixed the host's
    /// sample type.
    pub preferred_format: Option<DeviceFormat>,
    /// Input channels, when the host asked for any. With no output `routes`, the stream is
    /// input only and the capture clock drives it.
    pub capture: Option<CaptureRequest>,
}

/// The input side of a stream (see `capture` and `duplex`).
pub struct CaptureRequest {
    /// The capture endpoint (Wasio.toml `[input] device`).
    pub device: DeviceSelector,
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
    /// What the capture packets' stamps mark (the input latency is measured from them).
    pub stamps: crate::capture_clock::StampMeaning,
    /// Input latency before it is measured (the target level, resampler delay).
    pub predicted_latency_frames: usize,
}

/// How a selector reads in messages: `name "Speakers"`, `the default device`, ….
pub fn describe_selector(selector: &DeviceSelector) -> String {
    match selector {
        DeviceSelector::Default => "the default device".into(),
        DeviceSelector::FollowDefault => "the default device (followed)".into(),
        DeviceSelector::Name(name) => format!("name {name:?}"),
        DeviceSelector::Id(id) => format!("id {id:?}"),
        DeviceSelector::Regex(regex) => format!("regex {:?}", regex.as_str()),
    }
}

/// The first of `endpoints` (friendly name, ID) that a name, ID or regex selector matches,
/// or an error naming the selector and listing the endpoints that exist.
pub fn select_endpoint(
    selector: &DeviceSelector,
    endpoints: &[(String, String)],
) -> Result<usize, BackendError> {
    if let Some(index) = endpoints
        .iter()
        .position(|(name, id)| selector.matches(name, id))
    {
        return Ok(index);
    }
    // Names only: the message must fit ASIO's 124-byte error buffer; IDs are in the log.
    let listed = if endpoints.is_empty() {
        "there are no active output devices".to_string()
    } else {
        let names: Vec<String> = endpoints
            .iter()
            .map(|(name, _)| format!("{name:?}"))
            .collect();
        format!("devices: {}", names.join(", "))
    };
    Err(BackendError::new(
        "selecting the output device",
        format!(
            "no output device matches {} (Wasio.toml output.device); {listed}",
            describe_selector(selector)
        ),
    ))
}

/// What a stream would get if opened now: found by opening (and releasing) trial streams
/// down the mode chain, so that the sample type, the sizes and the latencies told to the
/// host before createBuffers are those of the real stream.
#[derive(Clone, Debug, PartialEq)]
pub struct OutputPlan {
    pub mode: StreamMode,
    pub format: StreamFormat,
    /// The device period, and the smallest one it allows, in frames at the plan's rate.
    pub period_frames: usize,
    pub min_period_frames: usize,
    pub device_buffer_frames: usize,
    pub stream_latency_frames: usize,
    pub report: ModeReport,
}

/// What an opened stream looks like, for getLatencies, the log and the status line.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamInfo {
    pub endpoint: EndpointInfo,
    pub format: StreamFormat,
    pub mode: &'static str,
    /// The mode in effect, and why each better one was refused.
    pub mode_report: ModeReport,
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
    /// The output endpoint `device` selects and its formats.
    fn describe_output(&self, device: &DeviceSelector) -> Result<EndpointInfo, BackendError>;
    /// The capture endpoint `device` selects (inputs come from it), if there is one.
    /// Backends without input keep this default.
    fn describe_input(
        &self,
        _device: &DeviceSelector,
    ) -> Result<Option<EndpointInfo>, BackendError> {
        Ok(None)
    }
    /// Whether the endpoint with this ID can stream at `rate`.
    fn supports_rate(&self, endpoint_id: &str, rate: u32) -> Result<bool, BackendError>;
    /// The mode and format a stream at `rate` on this endpoint would open in, by trial
    /// (nothing stays open). Fails with every mode's refusal when none opens.
    /// `preferred`: the exclusive format to try first.
    fn probe_output(
        &self,
        endpoint_id: &str,
        mode: Mode,
        rate: u32,
        preferred: Option<DeviceFormat>,
    ) -> Result<OutputPlan, BackendError>;
    /// Opens (initializes, does not start) the output stream, replacing any open one.
    fn open_output(&self, request: OutputRequest) -> Result<StreamInfo, BackendError>;
    /// Starts streaming. `deferred_output`: the host does not call outputReady.
    fn start(&self, deferred_output: bool) -> Result<(), BackendError>;
    /// Stops streaming; returns once the real-time loop has ended. The endpoint is released
    /// (other applications may take it); `start` opens it again.
    fn stop(&self) -> Result<StreamReport, BackendError>;
    /// Stops and releases the stream and its endpoint.
    fn close(&self) -> Result<(), BackendError>;
}
