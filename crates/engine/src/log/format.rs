//! Formatting of log lines: `2026-11-21 23:59:59.123456 [host.exe pid 1234 tid 5678] wasio 0.1.0 INFO message`.

use std::fmt::Write;

use crate::config::LogLevel;

/// Microseconds since the Unix epoch, UTC, as `YYYY-MM-DD hh:mm:ss.uuuuuu`.
pub fn format_timestamp(micros_since_epoch: u64, out: &mut String) {
    let micros = micros_since_epoch % 1_000_000;
    let seconds = micros_since_epoch / 1_000_000;
    let (day_seconds, days) = (seconds % 86_400, seconds / 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{micros:06}",
        day_seconds / 3600,
        day_seconds / 60 % 60,
        day_seconds % 60
    );
}

/// Gregorian date of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The level as written in the log.
pub fn level_label(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Error => "ERROR",
        LogLevel::Warn => "WARN",
        LogLevel::Info => "INFO",
        LogLevel::Debug => "DEBUG",
        LogLevel::Trace => "TRACE",
    }
}

/// What every line says about where it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinePrefix {
    pub process_name: String,
    pub pid: u32,
    pub driver_version: String,
}

/// Appends one complete line, ending in `\n`. Further lines of a multi-line message are
/// indented by four spaces so every entry starts with a timestamp.
pub fn format_line(
    prefix: &LinePrefix,
    micros_since_epoch: u64,
    thread_id: u64,
    level: LogLevel,
    message: &str,
    out: &mut String,
) {
    format_timestamp(micros_since_epoch, out);
    let _ = write!(
        out,
        " [{} pid {} tid {thread_id}] wasio {} {} ",
        prefix.process_name,
        prefix.pid,
        prefix.driver_version,
        level_label(level)
    );
    let mut lines = message.trim_end().split('\n');
    out.push_str(lines.next().unwrap_or("").trim_end_matches('\r'));
    for line in lines {
        out.push_str("\n    ");
        out.push_str(line.trim_end_matches('\r'));
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_with_microseconds() {
        let mut text = String::new();
        format_timestamp(0, &mut text);
        assert_eq!(text, "1970-01-01 00:00:00.000000");
        text.clear();
        // 2026-11-21 23:59:59.123456 UTC
        format_timestamp(1_795_305_599_123_456, &mut text);
        assert_eq!(text, "2026-11-21 23:59:59.123456");
        text.clear();
        // Leap day 2024-02-29 12:00:00.000001
        format_timestamp(1_709_208_000_000_001, &mut text);
        assert_eq!(text, "2024-02-29 12:00:00.000001");
        text.clear();
        format_timestamp(951_868_800_000_000, &mut text);
        assert_eq!(text, "2000-03-01 00:00:00.000000");
    }

    #[test]
    fn lines_carry_process_thread_version_and_level() {
        let prefix = LinePrefix {
            process_name: "host.exe".into(),
            pid: 1234,
            driver_version: "0.1.0".into(),
        };
        let mut text = String::new();
        format_line(
            &prefix,
            1_795_305_599_123_456,
            5678,
            LogLevel::Info,
            "first\r\nsecond\n",
            &mut text,
        );
        assert_eq!(
            text,
            "2026-11-21 23:59:59.123456 [host.exe pid 1234 tid 5678] wasio 0.1.0 INFO first\n    second\n"
        );
    }
}
