//! Long simulations of the drift compensator between two free-running device clocks.
//!
//! The render device is the time reference: it pulls a 256-frame block every 256 / 48 000 s.
//! The capture device samples a 997 Hz sine (15 kHz in two scenarios) on its own clock (nominal rate × (1 + drift)) and
//! delivers 10 ms packets, each late by a random 0–1.5 ms; one packet in a hundred is held
//! back up to one more period so two arrive together (bursty delivery).
//!
//! Each scenario runs one hour of simulated audio in release builds (`cargo test --release`)
//! and four minutes in debug builds, mono. After the initial lock it asserts:
//! - no underrun, overrun or priming block ever (from start to end, in fact);
//! - the reported latency stays within `latency_range_ms` (nominal ± 1.5 ms);
//! - the drift estimate stays within `DRIFT_ESTIMATE_BOUND_PPM` of the simulated drift
//!   (checked at every block from 120 s on);
//! - THD+N of the output sine < -90 dB in 20 Hz–20 kHz outside ±25 Hz of the fundamental,
//!   measured on 65 536-frame Blackman-Harris windows spread over the run;
//! - the applied correction stays within 60 ppm of the true drift (bounded wow).
//!
//! `reported_latency_matches_measured_delay` checks `latency_frames()` against impulses timed
//! through the path; `stalls_resync_and_recover` checks underrun/overrun recovery.
//! The bounds are documented in docs/DUPLEX.md.

use std::f64::consts::PI;

use wasio_engine::drift::{DriftCompensator, DriftConfig, PullOutcome, ResamplerQuality};

const OUTPUT_RATE: f64 = 48_000.0;
const BLOCK: usize = 256;
const TONE_HZ: f64 = 997.0;
const TONE_AMPLITUDE: f64 = 0.5;
/// The loop acquires within a few seconds; all bounds below apply from here on.
const LOCK_TIME_S: f64 = 30.0;
/// Range of `latency_frames()` after lock, in ms. Nominal: the target fill (1176 frames,
/// 24.5 ms at 48 kHz) minus half a block (2.7 ms, Little's law) plus the sinc delay (half the
/// taps: 1.3 ms Standard, 2.7 ms High) = 23.2 / 24.5 ms; ±1.5 ms for the controller's residual
/// error.
fn latency_range_ms(quality: ResamplerQuality) -> (f64, f64) {
    match quality {
        ResamplerQuality::Standard => (21.7, 24.7),
        ResamplerQuality::High => (23.0, 26.0),
    }
}

/// Bound on |drift_ppm() - true drift| from 120 s (four lock times) on.
const DRIFT_ESTIMATE_BOUND_PPM: f64 = 3.0;
const THD_N_BOUND_DB: f64 = -90.0;
const WOW_BOUND_PPM: f64 = 60.0;
const FFT_LEN: usize = 1 << 16;

fn simulated_seconds() -> f64 {
    if cfg!(debug_assertions) {
        240.0
    } else {
        3600.0
    }
}

/// xorshift64*: deterministic jitter without a dependency.
struct Rng(u64);

impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Sine generator by complex rotation, renormalised now and then (exact to ~1e-15).
struct Oscillator {
    re: f64,
    im: f64,
    step_re: f64,
    step_im: f64,
    count: u32,
}

impl Oscillator {
    fn new(cycles_per_sample: f64) -> Self {
        let w = 2.0 * PI * cycles_per_sample;
        Oscillator {
            re: 1.0,
            im: 0.0,
            step_re: w.cos(),
            step_im: w.sin(),
            count: 0,
        }
    }

    fn next(&mut self) -> f64 {
        let out = self.im;
        let re = self.re * self.step_re - self.im * self.step_im;
        self.im = self.re * self.step_im + self.im * self.step_re;
        self.re = re;
        self.count += 1;
        if self.count == 4096 {
            self.count = 0;
            let norm = (self.re * self.re + self.im * self.im).sqrt();
            self.re /= norm;
            self.im /= norm;
        }
        out
    }
}

struct Scenario {
    drift_ppm: f64,
    capture_rate: f64,
    capture_packet: usize,
    tone_hz: f64,
    quality: ResamplerQuality,
    seed: u64,
}

struct Report {
    underruns: u64,
    overruns: u64,
    non_audio_after_lock: u64,
    latency_min_ms: f64,
    latency_max_ms: f64,
    drift_estimate_ppm: f64,
    drift_error_max_ppm: f64,
    worst_thd_n_db: f64,
    max_wow_ppm: f64,
}

fn run(scenario: &Scenario) -> Report {
    let nominal_ratio = scenario.capture_rate / OUTPUT_RATE;
    let jitter_frames = (0.0015 * scenario.capture_rate) as usize;
    let target = DriftConfig::recommended_target_fill(
        nominal_ratio,
        BLOCK,
        scenario.capture_packet,
        jitter_frames,
    );
    let config =
        DriftConfig::new(1, nominal_ratio, OUTPUT_RATE, BLOCK, target).quality(scenario.quality);
    let mut comp = DriftCompensator::new(config).expect("valid config");

    let true_capture_rate = scenario.capture_rate * (1.0 + scenario.drift_ppm * 1e-6);
    let packet_period = scenario.capture_packet as f64 / true_capture_rate;
    let block_period = BLOCK as f64 / OUTPUT_RATE;
    let mut rng = Rng(scenario.seed);
    // The tone is defined in true time, so its frequency is exact on the render clock.
    let mut tone = Oscillator::new(scenario.tone_hz / true_capture_rate);
    let mut packet = vec![0.0f32; scenario.capture_packet];
    let mut block = vec![0.0f32; BLOCK];

    let total_s = simulated_seconds();
    let total_pulls = (total_s / block_period) as u64;
    let lock_pull = (LOCK_TIME_S / block_period) as u64;
    // THD+N windows: four, evenly spread after lock.
    let window_starts: Vec<u64> = (1..=4)
        .map(|k| lock_pull + (total_pulls - lock_pull) * k / 5)
        .collect();
    let mut capture_buf: Vec<f32> = Vec::with_capacity(FFT_LEN);
    let mut capturing = false;

    let mut packets_produced: u64 = 0;
    let mut next_delivery = packet_period;
    let mut report = Report {
        underruns: 0,
        overruns: 0,
        non_audio_after_lock: 0,
        latency_min_ms: f64::INFINITY,
        latency_max_ms: 0.0,
        drift_estimate_ppm: 0.0,
        drift_error_max_ppm: 0.0,
        worst_thd_n_db: f64::NEG_INFINITY,
        max_wow_ppm: 0.0,
    };
    for pull in 0..total_pulls {
        let pull_time = (pull + 1) as f64 * block_period;
        while next_delivery <= pull_time {
            for sample in packet.iter_mut() {
                *sample = (TONE_AMPLITUDE * tone.next()) as f32;
            }
            comp.push_input(&packet);
            packets_produced += 1;
            let ready = (packets_produced + 1) as f64 * packet_period;
            let mut delay = rng.next_f64() * 0.0015;
            if rng.next_f64() < 0.01 {
                delay += rng.next_f64() * packet_period;
            }
            // Deliveries stay in order: a late packet holds back the next one too.
            next_delivery = (ready + delay).max(next_delivery);
        }
        let outcome = comp.pull_output(&mut block, BLOCK);
        if pull < lock_pull {
            continue;
        }
        if outcome != PullOutcome::Audio {
            report.non_audio_after_lock += 1;
        }
        let latency_ms = comp.latency_frames() / OUTPUT_RATE * 1e3;
        report.latency_min_ms = report.latency_min_ms.min(latency_ms);
        report.latency_max_ms = report.latency_max_ms.max(latency_ms);
        if pull >= 4 * lock_pull {
            let error = (comp.drift_ppm() - scenario.drift_ppm).abs();
            report.drift_error_max_ppm = report.drift_error_max_ppm.max(error);
        }
        let wow = (comp.correction_ppm() - scenario.drift_ppm).abs();
        report.max_wow_ppm = report.max_wow_ppm.max(wow);
        if window_starts.contains(&pull) {
            capturing = true;
            capture_buf.clear();
        }
        if capturing {
            let take = (FFT_LEN - capture_buf.len()).min(BLOCK);
            capture_buf.extend_from_slice(&block[..take]);
            if capture_buf.len() == FFT_LEN {
                capturing = false;
                let thd_n = thd_n_db(&capture_buf, OUTPUT_RATE);
                report.worst_thd_n_db = report.worst_thd_n_db.max(thd_n);
            }
        }
    }
    report.underruns = comp.underruns();
    report.overruns = comp.overruns();
    report.drift_estimate_ppm = comp.drift_ppm();
    report
}

fn check(drift_ppm: f64, seed: u64) {
    let scenario = Scenario {
        drift_ppm,
        capture_rate: 48_000.0,
        capture_packet: 480,
        tone_hz: TONE_HZ,
        quality: ResamplerQuality::Standard,
        seed,
    };
    check_scenario(&scenario);
}

fn check_scenario(scenario: &Scenario) {
    let r = run(scenario);
    eprintln!(
        "{} Hz tone, {:?}, drift {:+} ppm @ {} Hz: est {:+.3} ppm (max err {:.3}), latency {:.2}..{:.2} ms, THD+N {:.1} dB, \
         wow {:.1} ppm, underruns {}, overruns {}",
        scenario.tone_hz,
        scenario.quality,
        scenario.drift_ppm,
        scenario.capture_rate,
        r.drift_estimate_ppm,
        r.drift_error_max_ppm,
        r.latency_min_ms,
        r.latency_max_ms,
        r.worst_thd_n_db,
        r.max_wow_ppm,
        r.underruns,
        r.overruns
    );
    assert_eq!(r.underruns, 0, "underruns");
    assert_eq!(r.overruns, 0, "overruns");
    assert_eq!(r.non_audio_after_lock, 0, "silent blocks after lock");
    let (latency_low, latency_high) = latency_range_ms(scenario.quality);
    assert!(r.latency_max_ms <= latency_high, "latency above bound");
    assert!(r.latency_min_ms >= latency_low, "latency below bound");
    assert!(
        (r.drift_estimate_ppm - scenario.drift_ppm).abs() <= DRIFT_ESTIMATE_BOUND_PPM,
        "final drift estimate off"
    );
    assert!(
        r.drift_error_max_ppm <= DRIFT_ESTIMATE_BOUND_PPM,
        "drift estimate wandered"
    );
    assert!(r.worst_thd_n_db < THD_N_BOUND_DB, "THD+N too high");
    assert!(r.max_wow_ppm <= WOW_BOUND_PPM, "ratio wanders too far");
}

/// THD+N in dB: power in 20 Hz–20 kHz outside ±25 Hz of the strongest bin, over the power
/// inside that notch. 7-term Blackman-Harris window (sidelobes < -180 dB).
fn thd_n_db(signal: &[f32], rate: f64) -> f64 {
    let n = signal.len();
    const BH7: [f64; 7] = [
        0.271_051_400_693_424,
        -0.433_297_939_234_485,
        0.218_122_999_543_110,
        -0.065_925_446_388_031,
        0.010_811_742_098_371,
        -0.000_776_584_825_226,
        0.000_013_887_217_352,
    ];
    let mut re: Vec<f64> = signal
        .iter()
        .enumerate()
        .map(|(i, &s)| {
            let x = 2.0 * PI * i as f64 / n as f64;
            let w: f64 = BH7
                .iter()
                .enumerate()
                .map(|(k, a)| a * (k as f64 * x).cos())
                .sum();
            s as f64 * w
        })
        .collect();
    let mut im = vec![0.0; n];
    fft(&mut re, &mut im);
    let bin_hz = rate / n as f64;
    let power: Vec<f64> = (0..n / 2).map(|k| re[k] * re[k] + im[k] * im[k]).collect();
    let peak = (1..n / 2)
        .max_by(|&a, &b| power[a].total_cmp(&power[b]))
        .unwrap_or(0);
    let notch = (25.0 / bin_hz).ceil() as usize;
    let low = (20.0 / bin_hz).ceil() as usize;
    let high = (20_000.0 / bin_hz).floor() as usize;
    let mut fundamental = 0.0;
    let mut rest = 0.0;
    for (k, p) in power.iter().enumerate().take(high + 1).skip(low) {
        if k.abs_diff(peak) <= notch {
            fundamental += p;
        } else {
            rest += p;
        }
    }
    10.0 * (rest / fundamental).log10()
}

/// In-place iterative radix-2 FFT.
fn fft(re: &mut [f64], im: &mut [f64]) {
    let n = re.len();
    assert!(n.is_power_of_two());
    let mut j = 0;
    for i in 1..n {
        let mut bit = n >> 1;
        while j & bit != 0 {
            j ^= bit;
            bit >>= 1;
        }
        j |= bit;
        if i < j {
            re.swap(i, j);
            im.swap(i, j);
        }
    }
    let mut len = 2;
    while len <= n {
        let angle = -2.0 * PI / len as f64;
        for start in (0..n).step_by(len) {
            for k in 0..len / 2 {
                let (s, c) = (angle * k as f64).sin_cos();
                let (a, b) = (start + k, start + k + len / 2);
                let tr = re[b] * c - im[b] * s;
                let ti = re[b] * s + im[b] * c;
                re[b] = re[a] - tr;
                im[b] = im[a] - ti;
                re[a] += tr;
                im[a] += ti;
            }
        }
        len <<= 1;
    }
}

#[test]
fn thd_n_meter_sees_distortion() {
    // The meter must be able to fail: a clean sine reads far below -90 dB, one with a
    // -80 dB third harmonic reads about -80 dB.
    let rate = OUTPUT_RATE;
    let clean: Vec<f32> = (0..FFT_LEN)
        .map(|i| (0.5 * (2.0 * PI * TONE_HZ * i as f64 / rate).sin()) as f32)
        .collect();
    assert!(thd_n_db(&clean, rate) < -120.0);
    let distorted: Vec<f32> = (0..FFT_LEN)
        .map(|i| {
            let t = 2.0 * PI * TONE_HZ * i as f64 / rate;
            (0.5 * t.sin() + 0.5e-4 * (3.0 * t).sin()) as f32
        })
        .collect();
    let measured = thd_n_db(&distorted, rate);
    assert!((measured + 80.0).abs() < 0.5, "measured {measured}");
}

#[test]
fn drift_0_ppm() {
    check(0.0, 1);
}

#[test]
fn drift_plus_100_ppm() {
    check(100.0, 2);
}

#[test]
fn drift_minus_100_ppm() {
    check(-100.0, 3);
}

#[test]
fn drift_plus_500_ppm() {
    check(500.0, 4);
}

#[test]
fn drift_minus_500_ppm() {
    check(-500.0, 5);
}

#[test]
fn drift_plus_2000_ppm() {
    check(2000.0, 6);
}

#[test]
fn drift_minus_2000_ppm() {
    check(-2000.0, 7);
}

#[test]
fn drift_44k1_capture_to_48k_render() {
    // Different nominal rates: 441-frame packets at 44.1 kHz, 150 ppm fast.
    check_scenario(&Scenario {
        drift_ppm: 150.0,
        capture_rate: 44_100.0,
        capture_packet: 441,
        tone_hz: TONE_HZ,
        quality: ResamplerQuality::Standard,
        seed: 8,
    });
}

#[test]
fn high_tone_standard_quality() {
    // 15 kHz stresses the sinc interpolation far more than 997 Hz.
    check_scenario(&Scenario {
        drift_ppm: -300.0,
        capture_rate: 48_000.0,
        capture_packet: 480,
        tone_hz: 15_000.0,
        quality: ResamplerQuality::Standard,
        seed: 9,
    });
}

#[test]
fn high_tone_high_quality() {
    check_scenario(&Scenario {
        drift_ppm: 300.0,
        capture_rate: 48_000.0,
        capture_packet: 480,
        tone_hz: 15_000.0,
        quality: ResamplerQuality::High,
        seed: 10,
    });
}

/// Mean measured time from `push_input` of a frame to the `pull_output` returning it, and the
/// mean of `latency_frames()`, both in ms. Impulses 0.25 s apart, at random frames of
/// their packets, after the lock time; High quality so the sinc delay (2.7 ms) counts.
fn measured_and_reported_latency_ms(drift_ppm: f64, seconds: f64) -> (f64, f64) {
    let packet_frames = 480;
    let target = DriftConfig::recommended_target_fill(1.0, BLOCK, packet_frames, 72);
    let config =
        DriftConfig::new(1, 1.0, OUTPUT_RATE, BLOCK, target).quality(ResamplerQuality::High);
    let mut comp = DriftCompensator::new(config).expect("valid config");
    let true_capture_rate = OUTPUT_RATE * (1.0 + drift_ppm * 1e-6);
    let packet_period = packet_frames as f64 / true_capture_rate;
    let block_period = BLOCK as f64 / OUTPUT_RATE;
    let mut rng = Rng(42);
    let mut packet = vec![0.0f32; packet_frames];
    let mut block = vec![0.0f32; BLOCK];
    let mut pending_pushes = std::collections::VecDeque::new();
    let mut next_impulse = LOCK_TIME_S;
    let mut packets: u64 = 0;
    let mut next_delivery = packet_period;
    let mut peak: Option<(f32, f64)> = None;
    let (mut measured_sum, mut measured_count) = (0.0, 0u32);
    let (mut reported_sum, mut reported_count) = (0.0, 0u32);
    let pulls = (seconds / block_period) as u64;
    for pull in 0..pulls {
        let pull_time = (pull + 1) as f64 * block_period;
        while next_delivery <= pull_time {
            packet.fill(0.0);
            if next_delivery >= next_impulse {
                let index = ((rng.next_f64() * packet_frames as f64) as usize).min(479);
                packet[index] = 1.0;
                pending_pushes.push_back(next_delivery);
                next_impulse += 0.25;
            }
            comp.push_input(&packet);
            packets += 1;
            let ready = (packets + 1) as f64 * packet_period;
            next_delivery = (ready + rng.next_f64() * 0.0015).max(next_delivery);
        }
        let outcome = comp.pull_output(&mut block, BLOCK);
        if pull_time < LOCK_TIME_S {
            continue;
        }
        assert_eq!(outcome, PullOutcome::Audio);
        reported_sum += comp.latency_frames() / OUTPUT_RATE * 1e3;
        reported_count += 1;
        let block_peak = block.iter().fold(0.0f32, |m, s| m.max(s.abs()));
        if block_peak > 0.3 {
            if peak.is_none_or(|(value, _)| block_peak > value) {
                peak = Some((block_peak, pull_time));
            }
        } else if let Some((_, emerged)) = peak.take() {
            let pushed: f64 = pending_pushes.pop_front().expect("impulse was pushed");
            measured_sum += (emerged - pushed) * 1e3;
            measured_count += 1;
        }
    }
    assert!(measured_count > 100, "too few impulses: {measured_count}");
    (
        measured_sum / measured_count as f64,
        reported_sum / reported_count as f64,
    )
}

#[test]
fn reported_latency_matches_measured_delay() {
    let seconds = if cfg!(debug_assertions) { 300.0 } else { 900.0 };
    for drift_ppm in [100.0, -700.0] {
        let (measured, reported) = measured_and_reported_latency_ms(drift_ppm, seconds);
        eprintln!("drift {drift_ppm:+} ppm: measured {measured:.3} ms, reported {reported:.3} ms");
        assert!(
            (measured - reported).abs() < 0.25,
            "latency_frames() is off: measured {measured} ms, reported {reported} ms"
        );
    }
}

#[test]
fn stalls_resync_and_recover() {
    // At 60 s the capture side stalls for 250 ms, then delivers the whole backlog at once:
    // underrun, re-priming (the backlog beyond the target is dropped, uncounted). At 100 s
    // the render side stops pulling for 250 ms, more than the FIFO holds: overrun, resync.
    let (stall_start, stall_len) = (60.0, 0.25);
    let render_stall = 100.0..100.25;
    let recovered = render_stall.end + LOCK_TIME_S;
    let seconds = 220.0;
    let drift_ppm = 250.0;
    let packet_frames = 480;
    let target = DriftConfig::recommended_target_fill(1.0, BLOCK, packet_frames, 72);
    let config = DriftConfig::new(1, 1.0, OUTPUT_RATE, BLOCK, target);
    let mut comp = DriftCompensator::new(config).expect("valid config");
    let true_capture_rate = OUTPUT_RATE * (1.0 + drift_ppm * 1e-6);
    let packet_period = packet_frames as f64 / true_capture_rate;
    let block_period = BLOCK as f64 / OUTPUT_RATE;
    let mut rng = Rng(77);
    let mut tone = Oscillator::new(TONE_HZ / true_capture_rate);
    let mut packet = vec![0.0f32; packet_frames];
    let mut block = vec![0.0f32; BLOCK];
    let mut packets: u64 = 0;
    let mut next_delivery = packet_period;
    let mut counts_at_recovery = None;
    let (latency_low, latency_high) = latency_range_ms(ResamplerQuality::Standard);
    for pull in 0..(seconds / block_period) as u64 {
        let pull_time = (pull + 1) as f64 * block_period;
        while next_delivery <= pull_time {
            for sample in packet.iter_mut() {
                *sample = (TONE_AMPLITUDE * tone.next()) as f32;
            }
            comp.push_input(&packet);
            packets += 1;
            let ready = (packets + 1) as f64 * packet_period;
            let mut delivery = ready + rng.next_f64() * 0.0015;
            if (stall_start..stall_start + stall_len).contains(&ready) {
                delivery = stall_start + stall_len;
            }
            next_delivery = delivery.max(next_delivery);
        }
        if render_stall.contains(&pull_time) {
            continue;
        }
        let outcome = comp.pull_output(&mut block, BLOCK);
        if pull_time < recovered {
            if pull_time < stall_start && pull_time > LOCK_TIME_S {
                assert_eq!(outcome, PullOutcome::Audio, "before the stall");
            }
            continue;
        }
        let counts = (comp.underruns(), comp.overruns());
        // Each overflow during the render stall counts: after a resync to the target the
        // FIFO refills to capacity within 116 ms, so 250 ms give two.
        assert_eq!(counts, (1, 2), "underruns and overruns");
        assert_eq!(*counts_at_recovery.get_or_insert(counts), counts);
        assert_eq!(outcome, PullOutcome::Audio, "after recovery");
        let latency_ms = comp.latency_frames() / OUTPUT_RATE * 1e3;
        assert!(
            (latency_low..=latency_high).contains(&latency_ms),
            "latency {latency_ms} ms after recovery"
        );
    }
    eprintln!(
        "stalls: underruns {}, overruns {}, drift estimate {:+.3} ppm",
        comp.underruns(),
        comp.overruns(),
        comp.drift_ppm()
    );
    assert!((comp.drift_ppm() - drift_ppm).abs() <= DRIFT_ESTIMATE_BOUND_PPM);
}
