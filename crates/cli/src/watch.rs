//! `wasio watch [--driver NAME] [--seconds N]`: streams silence through a driver for N
//! seconds and reports every `asioMessage` the driver sends meanwhile (e.g. the
//! `kAsioResetRequest` after Wasio.toml changes). Each message is printed to stderr as it
//! arrives; stdout gets one JSON document at the end.

use crate::args::{UsageError, DEFAULT_DRIVER};

/// `wasio watch` options.
#[derive(Clone, Debug, PartialEq)]
pub struct WatchOptions {
    pub driver: String,
    pub seconds: f64,
}

/// Parses the arguments after `watch`.
pub fn parse(args: &[String]) -> Result<WatchOptions, UsageError> {
    let mut options = WatchOptions {
        driver: DEFAULT_DRIVER.to_string(),
        seconds: 5.0,
    };
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let mut value = |name: &str| {
            rest.next()
                .cloned()
                .ok_or_else(|| UsageError(format!("{name} needs a value")))
        };
        match arg.as_str() {
            "--driver" => options.driver = value("--driver")?,
            "--seconds" => {
                let text = value("--seconds")?;
                options.seconds = text
                    .parse::<f64>()
                    .ok()
                    .filter(|s| s.is_finite() && *s > 0.0 && *s <= 3600.0)
                    .ok_or_else(|| {
                        UsageError(format!("--seconds takes 0 to 3600 seconds, not '{text}'"))
                    })?;
            }
            other => return Err(UsageError(format!("watch: unknown option '{other}'"))),
        }
    }
    Ok(options)
}

/// Runs `wasio watch` with the arguments after `watch`; returns the exit code.
pub fn main(args: &[String]) -> i32 {
    match parse(args) {
        Ok(options) => run(&options),
        Err(error) => {
            eprintln!("wasio: {error}\n\nusage: wasio watch [--driver NAME] [--seconds N]");
            2
        }
    }
}

#[cfg(not(windows))]
fn run(_options: &WatchOptions) -> i32 {
    eprintln!("wasio: this command talks to ASIO drivers and needs Windows (or Wine)");
    1
}

#[cfg(windows)]
fn run(options: &WatchOptions) -> i32 {
    use crate::callbacks::HOST;
    use crate::host::AsioDriver;
    use crate::json::Json;
    use asio_abi::{message, AsioBufferInfo, ASIO_FALSE};
    use std::time::{Duration, Instant};

    let fail = |error: &dyn std::fmt::Display| {
        eprintln!("wasio: {error}");
        1
    };
    let mut driver = match AsioDriver::open(&options.driver) {
        Ok(driver) => driver,
        Err(error) => return fail(&error),
    };
    if let Err(error) = driver.init() {
        return fail(&error);
    }
    let outputs = match driver.channels() {
        Ok((_, outputs)) => outputs,
        Err(error) => return fail(&error),
    };
    let size = match driver.buffer_size() {
        Ok(sizes) => sizes.preferred,
        Err(error) => return fail(&error),
    };
    let mut infos: Vec<AsioBufferInfo> = (0..outputs)
        .map(|channel| {
            let mut info = AsioBufferInfo::zeroed();
            info.is_input = ASIO_FALSE;
            info.channel_num = channel;
            info
        })
        .collect();
    HOST.reset();
    if let Err(error) = driver.create_buffers(&mut infos, size) {
        return fail(&error);
    }
    // The driver zeroes the buffers and this host never writes them: silence.
    if let Err(error) = driver.start() {
        return fail(&error);
    }
    eprintln!(
        "wasio: streaming silence on {outputs} channels, {size} frames, for {} s",
        options.seconds
    );
    let started = Instant::now();
    let mut seen = HOST.snapshot().messages;
    let mut events = Vec::new();
    while started.elapsed().as_secs_f64() < options.seconds {
        std::thread::sleep(Duration::from_millis(10));
        let now = HOST.snapshot().messages;
        for (selector, (&count, &before)) in now.iter().zip(seen.iter()).enumerate() {
            for _ in before..count {
                let at_ms = started.elapsed().as_millis() as i64;
                let name = message::name(selector as i32);
                eprintln!("wasio: message {name} ({selector}) at {at_ms} ms");
                events.push(Json::object([
                    ("selector", Json::from(selector as i64)),
                    ("name", Json::string(name)),
                    ("at_ms", Json::from(at_ms)),
                ]));
            }
        }
        seen = now;
    }
    let switches = HOST.snapshot().buffer_switches;
    let _ = driver.stop();
    let _ = driver.dispose_buffers();
    outln!(
        "{}",
        Json::object([
            ("driver", Json::string(options.driver.clone())),
            ("seconds", Json::Number(options.seconds)),
            ("buffer_frames", Json::from(size as i64)),
            ("buffer_switches", Json::from(switches as i64)),
            ("messages", Json::Array(events)),
        ])
        .to_pretty()
    );
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<WatchOptions, UsageError> {
        parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn parses_options() {
        assert_eq!(
            p(&[]).unwrap(),
            WatchOptions {
                driver: "Wasio".into(),
                seconds: 5.0
            }
        );
        assert_eq!(
            p(&["--seconds", "2.5", "--driver", "X"]).unwrap(),
            WatchOptions {
                driver: "X".into(),
                seconds: 2.5
            }
        );
        assert!(p(&["--seconds", "0"]).is_err());
        assert!(p(&["--seconds"]).is_err());
        assert!(p(&["--json"]).unwrap_err().0.contains("unknown option"));
    }
}
