//! How long each phase of `cargo xtask test` took, printed at the end of the run.

use std::sync::Mutex;
use std::time::{Duration, Instant};

static PHASES: Mutex<Vec<(String, Duration)>> = Mutex::new(Vec::new());

/// Runs `f` and records its wall time under `name`.
pub fn timed<T>(name: &str, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let result = f();
    record(name, started.elapsed());
    result
}

pub fn record(name: &str, duration: Duration) {
    PHASES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .push((name.to_string(), duration));
}

/// The table of phases and their total, one line each.
pub fn report() -> Vec<String> {
    let phases = PHASES.lock().unwrap_or_else(|p| p.into_inner());
    let total: Duration = phases.iter().map(|(_, d)| *d).sum();
    phases
        .iter()
        .map(|(name, duration)| format!("{:>7.1} s  {name}", duration.as_secs_f64()))
        .chain(std::iter::once(format!(
            "{:>7.1} s  total ({:.1} min)",
            total.as_secs_f64(),
            total.as_secs_f64() / 60.0
        )))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_are_listed_in_order_with_their_total() {
        record("first", Duration::from_millis(1500));
        let answer = timed("second", || 7);
        assert_eq!(answer, 7);
        let lines = report();
        let first = lines.iter().position(|l| l.ends_with("  first")).unwrap();
        let second = lines.iter().position(|l| l.ends_with("  second")).unwrap();
        assert!(first < second);
        assert!(lines.last().unwrap().contains("total"));
    }
}
