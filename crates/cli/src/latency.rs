//! `wasio latency`: a round-trip latency meter, like RTL Utility.
//!
//! It opens the registered driver through the ABI as a host does (like PortAudio, it asks
//! once after init whether `outputReady` works and then calls it after every switch), plays
//! an impulse train on
//! output channel 0, records input channel 0, and finds the delay by correlating the
//! recording with the train (folded over the impulse period, then impulse by impulse). It
//! reports the round trip in frames and ms, next to what `getLatencies` says (input +
//! output) and the difference. Loop output 0 back to input 0 first (a cable, or a sink's
//! monitor as the capture device).
//!
//! The analysis is OS-independent and tested natively; the host part needs Windows.

use crate::json::Json;

/// Options of `wasio latency`.
#[derive(Clone, Debug, PartialEq)]
pub struct LatencyOptions {
    pub driver: String,
    /// `--rate`: the sample rate to set; default: the driver's current rate.
    pub rate: Option<f64>,
    /// `--buffer`: frames per buffer; default: the driver's preferred size.
    pub buffer: Option<i32>,
    /// `--seconds`: how long to measure.
    pub seconds: f64,
    pub json: bool,
}

impl Eq for LatencyOptions {}

pub const DEFAULT_SECONDS: f64 = 3.0;
/// Amplitude of each impulse (-6 dBFS).
pub const IMPULSE_LEVEL: f32 = 0.5;

/// Impulses are this far apart: longer than any round trip worth measuring.
pub fn impulse_period(rate: f64) -> usize {
    (rate / 2.0).round().max(4096.0) as usize
}

/// The output sample at host position `n`: the impulse train.
pub fn impulse_sample(n: u64, period: usize) -> f32 {
    if n.is_multiple_of(period as u64) {
        IMPULSE_LEVEL
    } else {
        0.0
    }
}

/// What the recording says about the impulses that came back.
#[derive(Clone, Debug, PartialEq)]
pub struct ImpulseAnalysis {
    /// Round trip in frames: the lag at which the folded recording peaks.
    pub round_trip_frames: usize,
    /// Impulses whose whole return window was recorded (from the first that came back).
    pub impulses_expected: usize,
    /// Those that came back: one peak above half the level, near the round trip.
    pub impulses_found: usize,
    /// Windows holding more than one peak.
    pub impulses_doubled: usize,
    /// Spread of the individual impulses' delays (frames), 0 when all agree.
    pub min_lag: usize,
    pub max_lag: usize,
    /// Each returned impulse's delay, in order.
    pub lags: Vec<usize>,
}

/// Finds the impulse train (period `period`, the first at host sample 0) in `recorded`.
pub fn analyse(recorded: &[f32], period: usize) -> Option<ImpulseAnalysis> {
    if period == 0 || recorded.len() < 2 * period {
        return None;
    }
    // Fold: the sum over impulses of |x| at each lag.
    let mut folded = vec![0.0f64; period];
    for (i, &x) in recorded.iter().enumerate() {
        folded[i % period] += x.abs() as f64;
    }
    let (round_trip, &peak) = folded
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))?;
    if peak <= 0.0 {
        return None;
    }
    let threshold = IMPULSE_LEVEL * 0.5;
    let window = (period / 4).max(2);
    let (mut expected, mut found, mut doubled) = (0, 0, 0);
    let (mut min_lag, mut max_lag) = (usize::MAX, 0);
    let mut lags = Vec::new();
    let mut started = false;
    for k in 0.. {
        let center = k * period + round_trip;
        let start = center.saturating_sub(window);
        let end = center + window;
        if end > recorded.len() {
            break;
        }
        let peaks: Vec<usize> = (start..end)
            .filter(|&i| recorded[i].abs() >= threshold)
            .collect();
        if peaks.is_empty() {
            if started {
                expected += 1;
            }
            continue;
        }
        started = true;
        expected += 1;
        found += 1;
        // Peaks more than two frames apart are two arrivals.
        if peaks.last().unwrap_or(&0) - peaks[0] > 2 {
            doubled += 1;
        }
        let strongest = peaks
            .iter()
            .copied()
            .max_by(|&a, &b| recorded[a].abs().total_cmp(&recorded[b].abs()))
            .unwrap_or(center);
        let lag = strongest - k * period;
        lags.push(lag);
        min_lag = min_lag.min(lag);
        max_lag = max_lag.max(lag);
    }
    (found > 0).then_some(ImpulseAnalysis {
        round_trip_frames: round_trip,
        impulses_expected: expected,
        impulses_found: found,
        impulses_doubled: doubled,
        min_lag,
        max_lag,
        lags,
    })
}

/// The meter's result, with what the driver reported.
#[derive(Clone, Debug, PartialEq)]
pub struct LatencyReport {
    pub driver: String,
    pub sample_rate: f64,
    pub buffer_frames: i32,
    pub analysis: ImpulseAnalysis,
    pub reported_input: i32,
    pub reported_output: i32,
    /// Switches whose sample position did not follow the previous one by one block.
    pub position_breaks: u64,
    /// Switches with time info (the positions checked).
    pub timed_switches: u64,
}

impl LatencyReport {
    fn ms(&self, frames: f64) -> f64 {
        frames * 1000.0 / self.sample_rate
    }
    pub fn reported_sum(&self) -> i64 {
        self.reported_input as i64 + self.reported_output as i64
    }
    /// Measured minus reported, frames.
    pub fn difference_frames(&self) -> i64 {
        self.analysis.round_trip_frames as i64 - self.reported_sum()
    }

    pub fn to_text(&self) -> String {
        let a = &self.analysis;
        format!(
            "wasio latency: driver '{}', {} Hz, buffer {} frames\n\
             measured round trip: {} frames ({:.2} ms), impulses {}/{} back, {} doubled, spread {}..{}\n\
             reported latency:    {} frames ({:.2} ms) = input {} + output {}\n\
             difference:          {} frames ({:.2} ms), measured minus reported\n",
            self.driver,
            self.sample_rate,
            self.buffer_frames,
            a.round_trip_frames,
            self.ms(a.round_trip_frames as f64),
            a.impulses_found,
            a.impulses_expected,
            a.impulses_doubled,
            a.min_lag,
            a.max_lag,
            self.reported_sum(),
            self.ms(self.reported_sum() as f64),
            self.reported_input,
            self.reported_output,
            self.difference_frames(),
            self.ms(self.difference_frames() as f64),
        )
    }

    pub fn to_json(&self) -> Json {
        let a = &self.analysis;
        Json::object([
            ("ok", Json::Bool(true)),
            ("driver", Json::string(self.driver.clone())),
            ("sample_rate", Json::Number(self.sample_rate)),
            ("buffer_frames", Json::Int(self.buffer_frames as i64)),
            ("position_breaks", Json::Int(self.position_breaks as i64)),
            ("timed_switches", Json::Int(self.timed_switches as i64)),
            ("round_trip_frames", Json::Int(a.round_trip_frames as i64)),
            (
                "round_trip_ms",
                Json::Number(self.ms(a.round_trip_frames as f64)),
            ),
            ("impulses_expected", Json::Int(a.impulses_expected as i64)),
            ("impulses_found", Json::Int(a.impulses_found as i64)),
            ("impulses_doubled", Json::Int(a.impulses_doubled as i64)),
            ("min_lag_frames", Json::Int(a.min_lag as i64)),
            ("max_lag_frames", Json::Int(a.max_lag as i64)),
            (
                "lags_frames",
                Json::Array(a.lags.iter().map(|&l| Json::Int(l as i64)).collect()),
            ),
            (
                "reported_input_frames",
                Json::Int(self.reported_input as i64),
            ),
            (
                "reported_output_frames",
                Json::Int(self.reported_output as i64),
            ),
            ("reported_sum_frames", Json::Int(self.reported_sum())),
            (
                "reported_sum_ms",
                Json::Number(self.ms(self.reported_sum() as f64)),
            ),
            ("difference_frames", Json::Int(self.difference_frames())),
            (
                "difference_ms",
                Json::Number(self.ms(self.difference_frames() as f64)),
            ),
        ])
    }
}

#[cfg(windows)]
pub use host::{on_buffer_switch, run};

#[cfg(windows)]
mod host {
    use super::*;
    use crate::host::{AsioDriver, OutputReadyCaller};
    use asio_abi::{AsioBufferInfo, ASIO_FALSE, ASIO_TRUE};
    use std::sync::atomic::{AtomicPtr, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;
    use wasio_engine::convert::{
        device_to_host, host_to_device, DeviceFormat, DeviceToHost, HostSampleType, HostToDevice,
    };

    /// The running measurement, driven by the host's buffer switches.
    struct Meter {
        block: usize,
        period: usize,
        input: [usize; 2],
        output: [usize; 2],
        sample_bytes: usize,
        /// Host samples → f32 (the engine's host → device kernel, device = f32).
        input_to_f32: HostToDevice,
        /// f32 → host samples.
        f32_to_output: DeviceToHost,
        /// Called after each switch when the driver accepted the probe after init, as
        /// PortAudio and most DAWs do.
        output_ready: Option<OutputReadyCaller>,
        state: Mutex<MeterState>,
    }

    struct MeterState {
        switches: u64,
        recorded: Vec<f32>,
        scratch: Vec<u8>,
    }

    impl Meter {
        fn switch(&self, index: i32) {
            let Ok(mut state) = self.state.lock() else {
                return;
            };
            let half = (index & 1) as usize;
            let block = self.block;
            let state = &mut *state;
            // SAFETY: the driver handed out `block` samples per half; this half is the
            // host's during the switch.
            let input = unsafe {
                std::slice::from_raw_parts(self.input[half] as *const u8, block * self.sample_bytes)
            };
            (self.input_to_f32)(input, &mut state.scratch, 4, block);
            let room = state.recorded.capacity() - state.recorded.len();
            let take = block.min(room);
            for s in state.scratch.chunks_exact(4).take(take) {
                state
                    .recorded
                    .push(f32::from_le_bytes([s[0], s[1], s[2], s[3]]));
            }
            let first = state.switches * block as u64;
            for (i, s) in state.scratch.chunks_exact_mut(4).enumerate() {
                s.copy_from_slice(&impulse_sample(first + i as u64, self.period).to_le_bytes());
            }
            // SAFETY: as above, for the output half.
            let output = unsafe {
                std::slice::from_raw_parts_mut(
                    self.output[half] as *mut u8,
                    block * self.sample_bytes,
                )
            };
            (self.f32_to_output)(&state.scratch, 4, output, block);
            state.switches += 1;
            if let Some(output_ready) = self.output_ready {
                output_ready.call();
            }
        }
    }

    static ACTIVE: AtomicPtr<Meter> = AtomicPtr::new(std::ptr::null_mut());

    /// Called by the host's buffer-switch callbacks.
    pub fn on_buffer_switch(index: i32) {
        let raw = ACTIVE.load(Ordering::Acquire);
        if !raw.is_null() {
            // SAFETY: an installed meter lives until `run` uninstalls it after stop.
            unsafe { &*raw }.switch(index);
        }
    }

    /// Runs the meter; prints the report (or JSON); returns the exit code.
    pub fn run(options: &LatencyOptions) -> i32 {
        match measure(options) {
            Ok(report) => {
                if options.json {
                    outln!("{}", report.to_json().to_pretty());
                } else {
                    crate::print_out(&report.to_text());
                }
                0
            }
            Err(message) => crate::fail(options.json, &message),
        }
    }

    fn measure(options: &LatencyOptions) -> Result<LatencyReport, String> {
        let mut driver = AsioDriver::open(&options.driver).map_err(|e| e.to_string())?;
        driver.init().map_err(|e| e.to_string())?;
        // Like PortAudio and the SDK's sample host: ask once whether outputReady is
        // supported, and if so call it after every switch.
        let output_ready = driver
            .output_ready()
            .is_ok()
            .then(|| driver.output_ready_caller());
        if let Some(rate) = options.rate {
            driver.set_sample_rate(rate).map_err(|e| e.to_string())?;
        }
        let rate = driver.sample_rate().map_err(|e| e.to_string())?;
        let (inputs, outputs) = driver.channels().map_err(|e| e.to_string())?;
        if inputs < 1 || outputs < 1 {
            return Err(format!(
                "the driver has {inputs} inputs and {outputs} outputs; the meter needs one of each"
            ));
        }
        let sizes = driver.buffer_size().map_err(|e| e.to_string())?;
        let block = options.buffer.unwrap_or(sizes.preferred);
        let input_type = driver
            .channel_info(0, true)
            .map_err(|e| e.to_string())?
            .sample_type;
        let output_type = driver
            .channel_info(0, false)
            .map_err(|e| e.to_string())?
            .sample_type;
        let host_type = HostSampleType::from_asio(input_type)
            .filter(|_| input_type == output_type)
            .ok_or_else(|| format!("unsupported sample types {input_type}/{output_type}"))?;
        let mut infos = [AsioBufferInfo::zeroed(), AsioBufferInfo::zeroed()];
        infos[0].is_input = ASIO_TRUE;
        infos[1].is_input = ASIO_FALSE;
        driver
            .create_buffers(&mut infos, block)
            .map_err(|e| e.to_string())?;
        let frames = (options.seconds * rate).ceil() as usize;
        let (input, output) = (infos[0].buffers, infos[1].buffers);
        let meter = Arc::new(Meter {
            block: block as usize,
            period: impulse_period(rate),
            input: [input[0] as usize, input[1] as usize],
            output: [output[0] as usize, output[1] as usize],
            sample_bytes: host_type.bytes_per_sample(),
            input_to_f32: host_to_device(host_type, DeviceFormat::Float32),
            f32_to_output: device_to_host(DeviceFormat::Float32, host_type),
            output_ready,
            state: Mutex::new(MeterState {
                switches: 0,
                recorded: Vec::with_capacity(frames),
                scratch: vec![0; block as usize * 4],
            }),
        });
        let raw = Arc::into_raw(meter.clone()) as *mut Meter;
        ACTIVE.store(raw, Ordering::Release);
        crate::callbacks::HOST.reset();
        crate::callbacks::HOST.set_block_frames(block as u64);
        let result = (|| {
            driver.start().map_err(|e| e.to_string())?;
            std::thread::sleep(Duration::from_secs_f64(options.seconds + 0.5));
            // While running: the input latency is the one measured on this stream.
            let latencies = driver.latencies();
            driver.stop().map_err(|e| e.to_string())?;
            latencies.map_err(|e| e.to_string())
        })();
        ACTIVE.store(std::ptr::null_mut(), Ordering::Release);
        // SAFETY: `raw` came from Arc::into_raw above; the stream is stopped (or never
        // started), so no switch uses it any more.
        drop(unsafe { Arc::from_raw(raw) });
        let _ = driver.dispose_buffers();
        let (reported_input, reported_output) = result?;
        let recorded = std::mem::take(
            &mut meter
                .state
                .lock()
                .map_err(|_| "the meter's state was poisoned".to_string())?
                .recorded,
        );
        let analysis = analyse(&recorded, meter.period).ok_or_else(|| {
            "no impulse came back: connect output 1 to input 1 (or make the output's monitor \
             the capture device)"
                .to_string()
        })?;
        let host = crate::callbacks::HOST.snapshot();
        crate::callbacks::HOST.set_block_frames(0);
        Ok(LatencyReport {
            driver: options.driver.clone(),
            sample_rate: rate,
            buffer_frames: block,
            analysis,
            reported_input,
            reported_output,
            position_breaks: host.position_breaks,
            timed_switches: host.time_info_switches,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loopback(frames: usize, period: usize, delay: usize) -> Vec<f32> {
        (0..frames)
            .map(|i| {
                i.checked_sub(delay)
                    .map_or(0.0, |n| impulse_sample(n as u64, period))
            })
            .collect()
    }

    #[test]
    fn a_clean_loopback_gives_its_delay() {
        let period = impulse_period(48_000.0);
        let recorded = loopback(48_000 * 3, period, 1_234);
        let a = analyse(&recorded, period).unwrap();
        assert_eq!(a.round_trip_frames, 1_234);
        assert_eq!((a.min_lag, a.max_lag), (1_234, 1_234));
        assert_eq!(a.impulses_found, a.impulses_expected);
        assert_eq!(a.impulses_doubled, 0);
        assert!(a.impulses_found >= 5);
    }

    #[test]
    fn missing_doubled_and_late_starts_are_counted() {
        let period = 24_000;
        let mut recorded = loopback(period * 8, period, 500);
        // The first impulse lost while the input primes: not counted as missing.
        recorded[500] = 0.0;
        // The fourth missing, the sixth doubled.
        recorded[3 * period + 500] = 0.0;
        recorded[5 * period + 520] = 0.5;
        let a = analyse(&recorded, period).unwrap();
        assert_eq!(a.round_trip_frames, 500);
        assert_eq!(a.impulses_found, 6);
        assert_eq!(a.impulses_expected, 7);
        assert_eq!(a.impulses_doubled, 1);
    }

    #[test]
    fn noise_only_finds_nothing() {
        let recorded = vec![0.01f32; 100_000];
        assert_eq!(analyse(&recorded, 24_000), None);
        assert_eq!(analyse(&[], 24_000), None);
    }

    #[test]
    fn the_report_compares_measured_and_reported() {
        let report = LatencyReport {
            driver: "Wasio".into(),
            sample_rate: 48_000.0,
            buffer_frames: 256,
            analysis: analyse(&loopback(96_000, 24_000, 3_000), 24_000).unwrap(),
            reported_input: 1_200,
            reported_output: 1_790,
            position_breaks: 0,
            timed_switches: 0,
        };
        assert_eq!(report.difference_frames(), 10);
        let text = report.to_text();
        assert!(text.contains("3000 frames (62.50 ms)"), "{text}");
        assert!(text.contains("input 1200 + output 1790"), "{text}");
        let json = report.to_json().to_pretty();
        assert!(json.contains("\"difference_frames\": 10"), "{json}");
    }
}
