//! `unload-no-crash`: after a host releases the driver, COM may unload the DLL at once; no
//! driver thread may still run in it (issue 9). `wasio unload-check` streams ~1 s with the
//! driver's log on, releases the driver, frees unused COM libraries until the DLL is unmapped
//! and lives on for 1.5 s; a thread left in the DLL crashes it then, and Wine's
//! `Unhandled page fault` line fails the run (`ExeOutput::crash_line`).

use crate::analysis::Check;
use crate::json;
use crate::util::Res;
use crate::wine_tests::{WineContext, DRIVER_NAME};
use std::path::PathBuf;
use std::time::Duration;

/// Wasio.log (logging on, as hosts users turn it on) while it lives.
struct DriverLog {
    path: PathBuf,
}

impl DriverLog {
    fn start(ctx: &WineContext) -> Res<DriverLog> {
        let profile = crate::wine_tests_config::user_profile(ctx.bench)?;
        let path = profile.join("Wasio.log");
        std::fs::write(&path, "").map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        Ok(DriverLog { path })
    }

    fn text(&self) -> String {
        std::fs::read_to_string(&self.path).unwrap_or_default()
    }
}

impl Drop for DriverLog {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

pub fn unload_no_crash(ctx: &WineContext) -> Res<Vec<Check>> {
    // Registers this build (a file-backed run: as the first Wine command of a run it starts
    // Wine's services, which would otherwise hold `reg query`'s output pipe open).
    let registered = ctx.regsvr32("unload-regsvr32", false)?;
    if !registered.success() {
        return Err(format!("regsvr32 failed: {}", registered.describe_end()));
    }
    let mut checks = Vec::new();
    for (label, reset) in [("unload-check", false), ("unload-check-reset", true)] {
        let log = DriverLog::start(ctx)?;
        let mut args = vec!["unload-check", "--driver", DRIVER_NAME, "--json"];
        if reset {
            args.push("--reset");
        }
        let output = ctx.cli(label, &args, Duration::from_secs(90))?;
        let mut measured = output.describe_end();
        if output.code != Some(0) && output.crash_line().is_none() {
            if let Some(last) = output.stderr.lines().rev().find(|l| !l.starts_with("ALSA")) {
                measured = format!("{measured}: {}", last.trim());
            }
        }
        checks.push(Check::new(
            format!("{label}: exits 0, no crash"),
            output.success(),
            measured,
            "exit code 0, no `Unhandled` line from Wine",
        ));
        let start = output.stdout.find('{').unwrap_or(output.stdout.len());
        let report = json::parse(output.stdout[start..].trim()).unwrap_or(json::Json::Null);
        let field = |key: &str| {
            report
                .get(key)
                .map_or("missing".to_string(), |value| value.to_compact())
        };
        checks.push(Check::new(
            format!("{label}: streamed"),
            report.num("switches").is_some_and(|n| n > 10.0),
            field("switches"),
            "> 10 buffer switches",
        ));
        if reset {
            checks.push(Check::new(
                format!("{label}: reset requested"),
                report.num("reset_requests").is_some_and(|n| n >= 1.0),
                field("reset_requests"),
                ">= 1 kAsioResetRequest after Wasio.toml was touched",
            ));
        }
        checks.push(Check::new(
            format!("{label}: DLL unloaded"),
            report.get("unloaded") == Some(&json::Json::Bool(true)),
            format!(
                "unloaded {} after {} ms; DllCanUnloadNow {} at first, {} last",
                field("unloaded"),
                field("unload_ms"),
                field("can_unload_now"),
                field("last_can_unload_now")
            ),
            "GetModuleHandleW(wasio_driver.dll) null within 5 s",
        ));
        let text = log.text();
        let released = text.lines().any(|l| l.contains(": released"));
        let closed = text.trim_end().ends_with("log closed");
        checks.push(Check::new(
            format!("{label}: driver log"),
            released && closed && text.contains("stream stopped"),
            format!(
                "{} lines, release logged: {released}, ends with `log closed`: {closed}",
                text.lines().count()
            ),
            "logging on: the stream, the release and the log's end logged",
        ));
    }
    Ok(checks)
}
