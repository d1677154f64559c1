//! Throughput of every conversion kernel relative to `memcpy`, measured in the same run.
//!
//! Each kernel converts one channel of a 1024-frame stereo buffer (device side interleaved, host
//! side contiguous). The baseline is `copy_from_slice` of the same number of device-side bytes
//! (1024 × device sample size). After criterion has measured everything, the bench reads the
//! samples criterion wrote and prints `kernel time / memcpy time` as a Markdown table (1.0 = as
//! fast as memcpy; higher is slower). Both sides use their fastest sample; memcpy is measured
//! before and after the kernels and the faster of the two is used. Run: `cargo bench -p wasio-engine --bench convert`.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use criterion::{Criterion, Throughput};
use wasio_engine::convert::{device_to_host, host_to_device, DeviceFormat, HostSampleType};

const FRAMES: usize = 1024;
const CHANNELS: usize = 2;

/// Deterministic sample bytes that are valid, in-range values of `host` (floats in ±1.0).
fn host_samples(host: HostSampleType) -> Vec<u8> {
    let mut state = 0x1234_5678u32;
    let mut next = move || {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        state as i32
    };
    (0..FRAMES)
        .flat_map(|_| match host {
            HostSampleType::Float32Lsb => (next() as f32 / 2147483648.0).to_le_bytes().to_vec(),
            HostSampleType::Float64Lsb => (next() as f64 / 2147483648.0).to_le_bytes().to_vec(),
            other => {
                let bits = other.int_bits().unwrap_or(32);
                let value = next() >> (32 - bits);
                value.to_le_bytes()[..other.bytes_per_sample()].to_vec()
            }
        })
        .collect()
}

fn device_samples(device: DeviceFormat) -> Vec<u8> {
    // Convert valid int32 values so every format holds realistic data.
    let src = host_samples(HostSampleType::Int32Lsb);
    let width = device.bytes_per_sample();
    let mut out = vec![0u8; FRAMES * CHANNELS * width];
    for ch in 0..CHANNELS {
        host_to_device(HostSampleType::Int32Lsb, device)(
            &src,
            &mut out[ch * width..],
            CHANNELS * width,
            FRAMES,
        );
    }
    out
}

fn id(from: impl std::fmt::Debug, to: impl std::fmt::Debug) -> String {
    format!("{from:?}_to_{to:?}")
}

/// Measures memcpy of 2, 3 and 4 bytes per frame; run before and after the kernels so that a
/// change in machine load during the run shows up in the printed figures.
fn bench_memcpy(c: &mut Criterion, when: &str) {
    let mut memcpy = c.benchmark_group("memcpy");
    for bytes in [2usize, 3, 4] {
        let src = vec![0x5Au8; FRAMES * bytes];
        let mut dst = vec![0u8; FRAMES * bytes];
        memcpy.throughput(Throughput::Bytes((FRAMES * bytes) as u64));
        memcpy.bench_function(format!("{bytes}_bytes_{when}"), |b| {
            b.iter(|| dst.copy_from_slice(black_box(&src)))
        });
    }
    memcpy.finish();
}

fn bench(c: &mut Criterion) {
    bench_memcpy(c, "first");
    let mut group = c.benchmark_group("host_to_device");
    for host in HostSampleType::ALL {
        let src = host_samples(host);
        for device in DeviceFormat::ALL {
            let width = device.bytes_per_sample();
            let kernel = host_to_device(host, device);
            let mut dst = vec![0u8; FRAMES * CHANNELS * width];
            group.throughput(Throughput::Bytes((FRAMES * width) as u64));
            group.bench_function(id(host, device), |b| {
                b.iter(|| kernel(black_box(&src), &mut dst, CHANNELS * width, FRAMES))
            });
        }
    }
    group.finish();

    let mut group = c.benchmark_group("device_to_host");
    for device in DeviceFormat::ALL {
        let width = device.bytes_per_sample();
        let src = device_samples(device);
        for host in HostSampleType::ALL {
            let kernel = device_to_host(device, host);
            let mut dst = vec![0u8; FRAMES * host.bytes_per_sample()];
            group.throughput(Throughput::Bytes((FRAMES * width) as u64));
            group.bench_function(id(device, host), |b| {
                b.iter(|| kernel(black_box(&src), CHANNELS * width, &mut dst, FRAMES))
            });
        }
    }
    group.finish();
    bench_memcpy(c, "last");
}

/// Where criterion writes its results (same lookup order as criterion 0.5).
fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return home.into();
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(target).join("criterion");
    }
    // The bench binary lives in <target>/<profile>/deps/.
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.ancestors().nth(3).map(|t| t.join("criterion")))
        .unwrap_or_else(|| PathBuf::from("target/criterion"))
}

/// Fastest per-iteration time in nanoseconds over the samples criterion took for `function`
/// during this run (files written after `since`). On a shared, loaded machine the fastest sample
/// is the most stable estimate of a kernel's own cost; the mean drifts with the load.
fn best_ns(group: &str, function: &str, since: SystemTime) -> Option<f64> {
    let path = criterion_dir()
        .join(group)
        .join(function)
        .join("new/sample.json");
    if std::fs::metadata(&path).ok()?.modified().ok()? < since {
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    let iters = json["iters"].as_array()?;
    let times = json["times"].as_array()?;
    iters
        .iter()
        .zip(times)
        .filter_map(|(n, t)| Some(t.as_f64()? / n.as_f64()?))
        .min_by(f64::total_cmp)
}

fn print_ratio_table(since: SystemTime) {
    let ratio = |group: &str, function: String, device: DeviceFormat| {
        let memcpy = |when| format!("{}_bytes_{when}", device.bytes_per_sample());
        let first = best_ns("memcpy", &memcpy("first"), since)?;
        let last = best_ns("memcpy", &memcpy("last"), since)?;
        let base = first.min(last);
        Some(best_ns(group, &function, since)? / base)
    };
    let cell = |r: Option<f64>| r.map_or("–".to_string(), |r| format!("{r:.1}"));
    let header: Vec<String> = DeviceFormat::ALL.iter().map(|d| format!("{d:?}")).collect();
    for bytes in [2, 3, 4] {
        let first = best_ns("memcpy", &format!("{bytes}_bytes_first"), since);
        let last = best_ns("memcpy", &format!("{bytes}_bytes_last"), since);
        if let (Some(first), Some(last)) = (first, last) {
            println!("memcpy {bytes} × {FRAMES} bytes: {first:.1} ns first, {last:.1} ns last");
        }
    }
    println!("\nKernel time / memcpy time of the same device-side bytes ({FRAMES} frames, stereo interleave)\n");
    for (title, group) in [
        ("host → device", "host_to_device"),
        ("device → host", "device_to_host"),
    ] {
        println!("| {title} | {} |", header.join(" | "));
        println!("|---|{}", "---:|".repeat(header.len()));
        for host in HostSampleType::ALL {
            let cells: Vec<String> = DeviceFormat::ALL
                .iter()
                .map(|&d| {
                    let function = if group == "host_to_device" {
                        id(host, d)
                    } else {
                        id(d, host)
                    };
                    cell(ratio(group, function, d))
                })
                .collect();
            println!("| {host:?} | {} |", cells.join(" | "));
        }
        println!();
    }
}

fn main() {
    let start = SystemTime::now();
    // Short measurements keep the whole run near a minute, so it fits in CI.
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_millis(400))
        .sample_size(20)
        .configure_from_args();
    bench(&mut criterion);
    criterion.final_summary();
    print_ratio_table(start);
}
