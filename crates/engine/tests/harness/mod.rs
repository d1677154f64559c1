//! Runs the shipping stream engine over the simulated WASAPI through the `Backend`
//! interface, as the driver core does: a recording host writes a float counter to the
//! outputs and keeps what the inputs deliver.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wasio_engine::backend::{
    Backend, BackendError, CaptureRequest, DeviceSelector, OutputPlan, OutputRequest,
    StreamCounters, StreamHandler, StreamInfo, StreamReport,
};
use wasio_engine::buffers::HostBuffers;
use wasio_engine::capture::InputMonitor;
use wasio_engine::clock::PositionCell;
use wasio_engine::config::Mode;
use wasio_engine::convert::HostSampleType;
use wasio_engine::log::RtLogProducer;
use wasio_engine::modes::host_type_for;
use wasio_engine::render::{SwitchHandler, SwitchTiming};
use wasio_engine::rt_guard::outside_rt;
use wasio_engine::sim::{SimDeviceSpec, SimulatedBackend};

/// What the host saw, shared with the test.
#[derive(Default)]
pub struct Seen {
    pub switches: AtomicU64,
    pub timings: Mutex<Vec<SwitchTiming>>,
    /// Per input channel, everything delivered.
    pub recorded: Mutex<Vec<Vec<f32>>>,
    pub failure: Mutex<Option<String>>,
    pub resets: AtomicU64,
}

struct Recorder {
    outputs: Arc<HostBuffers>,
    inputs: Arc<HostBuffers>,
    block: usize,
    written: u64,
    seen: Arc<Seen>,
}

impl SwitchHandler for Recorder {
    fn buffer_switch(&mut self, timing: &SwitchTiming) {
        outside_rt(|| {
            let mut recorded = self.seen.recorded.lock().unwrap();
            for (channel, kept) in recorded.iter_mut().enumerate() {
                // SAFETY: by the protocol the host owns this half now.
                let half = unsafe { self.inputs.half(channel, timing.half) };
                kept.extend(
                    half.chunks_exact(4)
                        .map(|b| f32::from_le_bytes(b.try_into().unwrap())),
                );
            }
            for channel in 0..self.outputs.channels() {
                // SAFETY: as above.
                let half = unsafe { self.outputs.half_mut(channel, timing.half) };
                for (i, s) in half.chunks_exact_mut(4).enumerate() {
                    let value = (self.written + i as u64 + 1) as f32;
                    s.copy_from_slice(&value.to_le_bytes());
                }
            }
            self.written += self.block as u64;
            self.seen.timings.lock().unwrap().push(*timing);
        });
        self.seen.switches.fetch_add(1, Ordering::SeqCst);
    }
}

impl StreamHandler for Recorder {
    fn stream_failed(&mut self, error: &BackendError) {
        *self.seen.failure.lock().unwrap() = Some(error.to_string());
    }
}

/// A stream to open.
pub struct Want {
    pub mode: Mode,
    pub rate: u32,
    pub block: usize,
    pub outputs: usize,
    pub inputs: usize,
    pub period: Option<Duration>,
    pub device: DeviceSelector,
}

impl Want {
    pub fn output(mode: Mode, block: usize) -> Self {
        Self {
            mode,
            rate: 48_000,
            block,
            outputs: 2,
            inputs: 0,
            period: None,
            device: DeviceSelector::Default,
        }
    }
}

/// An open stream on a simulated machine.
pub struct Stream {
    pub backend: SimulatedBackend,
    pub info: StreamInfo,
    /// What the probe down the mode chain found (with every refusal).
    pub plan: OutputPlan,
    pub seen: Arc<Seen>,
    pub monitor: Arc<InputMonitor>,
}

/// Opens `want` on a machine like `spec`, down the mode chain as the driver does (a probe
/// first, then the stream in the mode the probe found).
pub fn open(spec: SimDeviceSpec, want: Want) -> Result<Stream, BackendError> {
    let backend = SimulatedBackend::new(spec);
    let endpoint = backend.describe_output(&want.device)?;
    let plan = backend.probe_output(&endpoint.id, want.mode, want.rate, None)?;
    let host = if want.outputs > 0 {
        host_type_for(plan.mode, plan.format.encoding)
    } else {
        HostSampleType::Float32Lsb
    };
    assert_eq!(
        host,
        HostSampleType::Float32Lsb,
        "the harness writes floats"
    );
    let outputs = Arc::new(HostBuffers::new(want.outputs, want.block, 4).unwrap());
    let inputs = Arc::new(HostBuffers::new(want.inputs, want.block, 4).unwrap());
    let seen = Arc::new(Seen::default());
    *seen.recorded.lock().unwrap() = vec![Vec::new(); want.inputs];
    let monitor = Arc::new(InputMonitor::new());
    let capture = (want.inputs > 0).then(|| CaptureRequest {
        device: DeviceSelector::Default,
        buffers: inputs.clone(),
        routes: (0..want.inputs).map(|c| (c, c)).collect(),
        monitor: monitor.clone(),
    });
    let resets = seen.clone();
    let info = backend.open_output(OutputRequest {
        endpoint_id: endpoint.id.clone(),
        device: want.device.clone(),
        mode: plan.mode.setting(),
        period: want.period,
        buffer_duration: None,
        sample_rate: want.rate,
        block_frames: want.block,
        buffers: outputs.clone(),
        host_sample_type: host,
        routes: (0..want.outputs).map(|c| (c, c)).collect(),
        positions: Arc::new(PositionCell::new()),
        handler: Box::new(Recorder {
            outputs,
            inputs,
            block: want.block,
            written: 0,
            seen: seen.clone(),
        }),
        rt_log: RtLogProducer::disabled(),
        counters: Arc::new(StreamCounters::default()),
        request_reset: Arc::new(move |_: &str| {
            resets.resets.fetch_add(1, Ordering::SeqCst);
        }),
        preferred_format: None,
        capture,
    })?;
    Ok(Stream {
        backend,
        info,
        plan,
        seen,
        monitor,
    })
}

impl Stream {
    pub fn switches(&self) -> u64 {
        self.seen.switches.load(Ordering::SeqCst)
    }

    /// Starts, waits for `n` more switches, stops, and returns the report.
    pub fn run(&self, n: u64) -> StreamReport {
        let target = self.switches() + n;
        self.backend.start(false).expect("start");
        wait_until("buffer switches", || self.switches() >= target);
        self.backend.stop().expect("stop")
    }

    pub fn failure(&self) -> Option<String> {
        self.seen.failure.lock().unwrap().clone()
    }

    /// The device's played bytes as floats of channel 0 (recording must be on).
    pub fn played_channel(&self, channel: usize) -> Vec<f32> {
        let channels = self.info.format.channels as usize;
        let played = self.backend.control.played.lock().unwrap();
        played
            .chunks_exact(4 * channels)
            .map(|f| f32::from_le_bytes(f[channel * 4..channel * 4 + 4].try_into().unwrap()))
            .collect()
    }
}

/// Waits (up to 30 s of real time) until `done` holds.
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Checks that `samples` hold silence, then the host's counter 1, 2, 3… without a gap.
/// Returns how many counter samples were found.
pub fn assert_counter(samples: &[f32]) -> usize {
    let start = samples
        .iter()
        .position(|&s| s != 0.0)
        .expect("the host's samples reached the device");
    for (i, &s) in samples[start..].iter().enumerate() {
        assert_eq!(
            s,
            (i + 1) as f32,
            "sample {} after the start: lost or repeated",
            i
        );
    }
    samples.len() - start
}
