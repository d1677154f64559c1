//! Driver faults that a test build injects (feature `fault-injection`) to prove the bench
//! turns red when the driver is at fault. The shipped DLL is built without the feature:
//! [`active`] is then `None` and every fault point compiles away.
//!
//! `WASIO_FAULT` in the host's environment picks one fault:
//! - `skip-block[@N]`: switch N (default 200) never reaches the host; its block is silence;
//! - `late-block[@N]`: the driver holds switch N for three device buffers before the host;
//! - `wrong-latency[@F]`: getLatencies (and the timestamps) claim F more output frames
//!   (default 4800, 100 ms at 48 kHz, a whole device buffer of the latency bench: well beyond the bench's 30 ms tolerance) than the stream has.

/// The environment variable a fault-injection build reads.
pub const ENV: &str = "WASIO_FAULT";

const DEFAULT_BLOCK: u64 = 200;
const DEFAULT_LATENCY_ERROR: usize = 4800;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    SkipBlock { at: u64 },
    LateBlock { at: u64 },
    WrongLatency { frames: usize },
}

/// Parses a `WASIO_FAULT` value; an empty one means no fault.
pub fn parse(text: &str) -> Result<Option<Fault>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let (name, argument) = match text.split_once('@') {
        Some((name, argument)) => (name, Some(argument)),
        None => (text, None),
    };
    let number = |default: u64| -> Result<u64, String> {
        argument.map_or(Ok(default), |a| {
            a.parse()
                .map_err(|_| format!("{ENV}={text}: {a:?} is not a count"))
        })
    };
    match name {
        "skip-block" => Ok(Some(Fault::SkipBlock {
            at: number(DEFAULT_BLOCK)?,
        })),
        "late-block" => Ok(Some(Fault::LateBlock {
            at: number(DEFAULT_BLOCK)?,
        })),
        "wrong-latency" => Ok(Some(Fault::WrongLatency {
            frames: number(DEFAULT_LATENCY_ERROR as u64)? as usize,
        })),
        other => Err(format!(
            "{ENV}: unknown fault {other:?} (skip-block, late-block, wrong-latency)"
        )),
    }
}

/// The fault this process injects: read once from the environment in a fault-injection
/// build, never in a shipped one.
#[cfg(feature = "fault-injection")]
pub fn active() -> Option<Fault> {
    static ACTIVE: std::sync::OnceLock<Option<Fault>> = std::sync::OnceLock::new();
    *ACTIVE.get_or_init(|| {
        use crate::log::{global_at, LogLevel};
        let parsed = parse(&std::env::var(ENV).unwrap_or_default());
        let line = match &parsed {
            Ok(Some(fault)) => Some((LogLevel::Warn, format!("fault injected: {fault:?}"))),
            Ok(None) => None,
            Err(error) => Some((LogLevel::Error, error.clone())),
        };
        if let Some((level, text)) = line {
            if let Some(logger) = global_at(level) {
                logger.log(level, format_args!("{text}"));
            }
        }
        parsed.ok().flatten()
    })
}

/// The fault this process injects: never one in a shipped build.
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn active() -> Option<Fault> {
    None
}

/// Output frames the reported latency claims beyond the truth (0 without a fault).
pub fn latency_error_frames() -> usize {
    match active() {
        Some(Fault::WrongLatency { frames }) => frames,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_parse_with_and_without_an_argument() {
        assert_eq!(parse(""), Ok(None));
        assert_eq!(
            parse("skip-block"),
            Ok(Some(Fault::SkipBlock { at: DEFAULT_BLOCK }))
        );
        assert_eq!(parse("late-block@7"), Ok(Some(Fault::LateBlock { at: 7 })));
        assert_eq!(
            parse("wrong-latency@480"),
            Ok(Some(Fault::WrongLatency { frames: 480 }))
        );
        assert!(parse("skip-block@x").is_err());
        assert!(parse("melt").is_err());
    }

    #[cfg(not(feature = "fault-injection"))]
    #[test]
    fn a_shipped_build_injects_nothing_whatever_the_environment() {
        std::env::set_var(ENV, "skip-block@0");
        assert_eq!(active(), None);
        assert_eq!(latency_error_frames(), 0);
        std::env::remove_var(ENV);
    }
}
