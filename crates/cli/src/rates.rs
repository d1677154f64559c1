//! `wasio rates`: opens a driver, shows the output mode it chose, streams silence on every
//! output, and switches the sample rate while running, reporting after each switch whether
//! the stream went on (buffer switches counted) at the rate the driver reports. One JSON
//! object per line, for the Wine tests.

use std::time::{Duration, Instant};

use asio_abi::AsioBufferInfo;
use wasio_engine::driver::{FUTURE_WASIO_MODE_STATUS, MODE_STATUS_BYTES};

use crate::callbacks::HOST;
use crate::host::AsioDriver;
use crate::json::Json;

/// The output mode a Wasio driver reports through its own `future` selector, or why not.
pub fn mode_status(driver: &mut AsioDriver) -> Result<String, String> {
    let mut text = vec![0u8; MODE_STATUS_BYTES];
    // SAFETY: the selector writes at most MODE_STATUS_BYTES bytes, NUL included.
    let result = unsafe { driver.future(FUTURE_WASIO_MODE_STATUS, text.as_mut_ptr().cast()) };
    result.map_err(|e| e.to_string())?;
    let end = text.iter().position(|&b| b == 0).unwrap_or(text.len());
    Ok(String::from_utf8_lossy(&text[..end]).into_owned())
}

fn line(kind: &str, pairs: Vec<(&str, Json)>) {
    let mut all = vec![("kind", Json::string(kind))];
    all.extend(pairs);
    outln!("{}", Json::object(all).to_compact());
}

/// Runs the command; returns the exit code (1 when any step failed).
pub fn run(name: &str, rates: &[f64], seconds_each: f64) -> i32 {
    let mut driver = match AsioDriver::open(name) {
        Ok(driver) => driver,
        Err(error) => {
            eprintln!("wasio: {error}");
            return 1;
        }
    };
    if let Err(error) = driver.init() {
        line("init", vec![("error", Json::string(error.to_string()))]);
        return 1;
    }
    match mode_status(&mut driver) {
        Ok(status) => line("mode", vec![("status", Json::string(status))]),
        Err(error) => line("mode", vec![("error", Json::string(error))]),
    }
    let outputs = driver.channels().map(|(_, outputs)| outputs).unwrap_or(0);
    let size = driver.buffer_size().map(|s| s.preferred).unwrap_or(0);
    let mut infos: Vec<AsioBufferInfo> = (0..outputs)
        .map(|channel| {
            let mut info = AsioBufferInfo::zeroed();
            info.channel_num = channel;
            info
        })
        .collect();
    HOST.reset();
    let mut failed = false;
    if let Err(error) = driver
        .create_buffers(&mut infos, size)
        .and_then(|()| driver.start())
    {
        line("start", vec![("error", Json::string(error.to_string()))]);
        return 1;
    }
    let settle = Duration::from_secs_f64(seconds_each.clamp(0.1, 60.0));
    let mut measure = |driver: &mut AsioDriver, rate: f64, code: i32, error: Option<String>| {
        let before = HOST.snapshot().buffer_switches;
        let started = Instant::now();
        std::thread::sleep(settle);
        let switches = HOST.snapshot().buffer_switches - before;
        let elapsed = started.elapsed().as_secs_f64();
        let reported = driver.sample_rate().unwrap_or(f64::NAN);
        let snapshot = HOST.snapshot();
        if code != 0 || switches == 0 || reported != rate {
            failed = true;
        }
        line(
            "rate",
            vec![
                ("rate", Json::Number(rate)),
                ("code", Json::Number(code as f64)),
                ("error", error.map_or(Json::Null, Json::String)),
                ("reported_rate", Json::Number(reported)),
                ("switches", Json::Number(switches as f64)),
                ("seconds", Json::Number(elapsed)),
                ("buffer_frames", Json::Number(size as f64)),
                (
                    "frames_per_second",
                    Json::Number(switches as f64 * size as f64 / elapsed),
                ),
                (
                    "rate_changes_seen",
                    Json::Number(snapshot.sample_rate_changes as f64),
                ),
                (
                    "reset_requests",
                    Json::Number(snapshot.message_count(asio_abi::message::RESET_REQUEST) as f64),
                ),
            ],
        );
    };
    for &rate in rates {
        let result = driver.set_sample_rate(rate);
        let code = crate::host::code_of(&result);
        measure(&mut driver, rate, code, result.err().map(|e| e.to_string()));
    }
    let stopped = driver.stop().and_then(|()| driver.dispose_buffers());
    if let Err(error) = stopped {
        line("stop", vec![("error", Json::string(error.to_string()))]);
        failed = true;
    }
    i32::from(failed)
}
