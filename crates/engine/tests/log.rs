//! The logger: line format, levels, rotation, real-time records, dropping instead of blocking.

use std::path::Path;
use std::time::Duration;

use wasio_engine::config::{LogLevel, LogSettings};
use wasio_engine::log::*;
use wasio_engine::{log_debug, log_info, log_trace, log_warn};

const FLUSH: Duration = Duration::from_secs(10);

fn fake_thread_id() -> u64 {
    5678
}

fn options(path: &Path) -> LoggerOptions {
    let mut options = LoggerOptions::new(
        path.to_path_buf(),
        ProcessInfo {
            name: "host.exe".into(),
            pid: 1234,
        },
        "0.1.0",
    );
    options.thread_id = fake_thread_id;
    options
}

fn read_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// The message part of a line, after `wasio <version> <LEVEL> `.
fn message(line: &str) -> &str {
    let after_version = line.split_once("] wasio 0.1.0 ").unwrap().1;
    after_version.split_once(' ').unwrap().1
}

#[test]
fn lines_have_timestamp_process_thread_version_and_level() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("Wasio.log");
    let logger = Logger::start(options(&path)).unwrap();
    log_info!(logger, "chose {} at {} Hz", "Speakers", 48000);
    logger.warn(format_args!("two\nlines"));
    assert!(logger.flush(FLUSH));
    let lines = read_lines(&path);
    assert_eq!(lines.len(), 4, "{lines:#?}");
    assert!(
        message(&lines[0]).starts_with("log opened: "),
        "{}",
        lines[0]
    );
    let line = &lines[1];
    // 2026-11-21 23:59:59.123456 [host.exe pid 1234 tid 5678] wasio 0.1.0 INFO chose ...
    let (date, rest) = line.split_at(26);
    let bytes = date.as_bytes();
    assert!(
        date.chars().enumerate().all(|(i, c)| match i {
            4 | 7 => c == '-',
            10 => c == ' ',
            13 | 16 => c == ':',
            19 => c == '.',
            _ => c.is_ascii_digit(),
        }),
        "{date}"
    );
    assert_eq!(bytes.len(), 26);
    assert_eq!(
        rest,
        " [host.exe pid 1234 tid 5678] wasio 0.1.0 INFO chose Speakers at 48000 Hz"
    );
    assert!(lines[2].ends_with("wasio 0.1.0 WARN two"), "{}", lines[2]);
    assert_eq!(lines[3], "    lines");
}

#[test]
fn levels_above_the_configured_one_are_not_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("Wasio.log");
    let mut options = options(&path);
    options.level = LogLevel::Info;
    let logger = Logger::start(options).unwrap();
    assert!(logger.enabled(LogLevel::Warn) && !logger.enabled(LogLevel::Debug));
    log_debug!(logger, "hidden debug");
    log_trace!(logger, "hidden trace");
    log_warn!(logger, "shown warn");
    let mut rt = logger.rt_producer(16);
    assert!(!rt.push(RtEvent::BufferSwitch {
        index: 0,
        sample_position: 0
    }));
    assert!(rt.push(RtEvent::OutputUnderrun { frames: 64 }));
    drop(logger); // Dropping writes everything queued.
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("hidden"), "{text}");
    assert!(!text.contains("buffer switch"), "{text}");
    assert!(text.contains("WARN shown warn"), "{text}");
    assert!(
        text.contains("WARN audio thread: output underrun, 64 frames of silence"),
        "{text}"
    );
}

#[test]
fn disabled_logger_writes_nothing_and_costs_nothing() {
    let logger = Logger::disabled();
    assert!(!logger.enabled(LogLevel::Error));
    log_info!(logger, "nowhere");
    let mut rt = logger.rt_producer(4);
    assert!(!rt.enabled(LogLevel::Error));
    assert!(!rt.push(RtEvent::OutputUnderrun { frames: 1 }));
    assert_eq!(rt.dropped(), 0);
    assert!(logger.flush(FLUSH));
}

#[test]
fn rotates_at_the_size_bound_and_keeps_n_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("Wasio.log");
    let mut options = options(&path);
    options.max_size_bytes = 4096;
    options.keep = 2;
    let logger = Logger::start(options).unwrap();
    for i in 0..400 {
        log_info!(logger, "line {i:04} padding padding padding");
    }
    assert!(logger.flush(FLUSH));
    drop(logger);
    let current = read_lines(&path);
    let first = read_lines(&rotated_path(&path, 1));
    let second = read_lines(&rotated_path(&path, 2));
    assert!(!rotated_path(&path, 3).exists());
    for file in [path.clone(), rotated_path(&path, 1), rotated_path(&path, 2)] {
        let len = std::fs::metadata(&file).unwrap().len();
        assert!(
            len <= 4096 && len > 2048,
            "{} is {len} bytes",
            file.display()
        );
    }
    // The files hold the newest lines, in order, without gaps: .2, then .1, then the current.
    let numbers: Vec<u32> = [second, first, current]
        .concat()
        .iter()
        .map(|line| message(line)[5..9].parse().unwrap())
        .collect();
    assert_eq!(*numbers.last().unwrap(), 399);
    for pair in numbers.windows(2) {
        assert_eq!(pair[1], pair[0] + 1);
    }
}

#[test]
fn keep_zero_truncates_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("Wasio.log");
    let mut options = options(&path);
    options.max_size_bytes = 2048;
    options.keep = 0;
    let logger = Logger::start(options).unwrap();
    for i in 0..200 {
        log_info!(logger, "line {i:04} padding padding padding");
    }
    drop(logger);
    let len = std::fs::metadata(&path).unwrap().len();
    assert!(len <= 2048, "{len}");
    assert!(!rotated_path(&path, 1).exists());
    let lines = read_lines(&path);
    assert!(lines
        .last()
        .unwrap()
        .ends_with("line 0199 padding padding padding"));
}

#[test]
fn appends_to_an_existing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("Wasio.log");
    std::fs::write(&path, "earlier line\n").unwrap();
    let logger = Logger::start(options(&path)).unwrap();
    log_info!(logger, "later line");
    drop(logger);
    let lines = read_lines(&path);
    assert_eq!(lines[0], "earlier line");
    assert!(lines.last().unwrap().ends_with("later line"));
}

#[test]
fn creates_the_log_directory_and_reports_an_unopenable_file() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("a").join("b").join("Wasio.log");
    drop(Logger::start(options(&nested)).unwrap());
    assert!(nested.is_file());
    // A directory where the file should be.
    assert!(Logger::start(options(dir.path())).is_err());
}

#[test]
fn real_time_records_arrive_in_order_with_their_thread() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("Wasio.log");
    let mut options = options(&path);
    options.level = LogLevel::Trace;
    let logger = Logger::start(options).unwrap();
    let mut rt = logger.rt_producer(4096);
    let audio = std::thread::spawn(move || {
        assert!(rt.push(RtEvent::StreamStarted {
            sample_rate: 48000.0,
            buffer_frames: 256
        }));
        for index in 0..1000u64 {
            assert!(rt.push(RtEvent::BufferSwitch {
                index: index % 2,
                sample_position: index * 256,
            }));
        }
        assert!(rt.push(RtEvent::DeviceError {
            call: "IAudioRenderClient::GetBuffer",
            hresult: 0x8889_0004_u32 as i32,
        }));
        assert!(rt.push(RtEvent::message(LogLevel::Info, "ring fill", &[12, 34])));
        assert!(rt.push(RtEvent::StreamStopped {
            sample_position: 256_000
        }));
        rt.dropped()
    });
    assert_eq!(audio.join().unwrap(), 0);
    assert!(logger.flush(FLUSH));
    let lines = read_lines(&path);
    let messages: Vec<&str> = lines[1..].iter().map(|line| message(line)).collect();
    assert_eq!(messages.len(), 1004, "{messages:#?}");
    assert_eq!(
        messages[0],
        "audio thread: stream started at 48000 Hz, 256 frames per buffer"
    );
    for (index, text) in messages[1..1001].iter().enumerate() {
        assert_eq!(
            *text,
            format!(
                "audio thread: buffer switch to half {} at sample position {}",
                index % 2,
                index * 256
            )
        );
    }
    assert_eq!(
        messages[1001],
        "audio thread: IAudioRenderClient::GetBuffer failed: AUDCLNT_E_DEVICE_INVALIDATED (0x88890004)"
    );
    assert_eq!(messages[1002], "audio thread: ring fill: 12, 34");
    assert_eq!(
        messages[1003],
        "audio thread: stream stopped at sample position 256000"
    );
    assert!(lines[1002].contains("wasio 0.1.0 ERROR"), "{}", lines[1002]);
    assert!(lines[1].contains("tid 5678"));
    // Timestamps never go backwards.
    let stamps: Vec<&str> = lines.iter().map(|line| &line[..26]).collect();
    assert!(stamps.windows(2).all(|pair| pair[0] <= pair[1]));
}

#[test]
fn a_full_ring_drops_and_counts_instead_of_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("Wasio.log");
    let mut options = options(&path);
    // The writer only looks at the ring when woken, so it stays full until the flush below.
    options.poll_interval = Duration::from_secs(3600);
    let logger = Logger::start(options).unwrap();
    assert!(logger.flush(FLUSH));
    let mut rt = logger.rt_producer(8);
    let accepted: Vec<bool> = (0..20)
        .map(|frames| rt.push(RtEvent::OutputUnderrun { frames }))
        .collect();
    assert_eq!(accepted, [[true; 8].as_slice(), &[false; 12]].concat());
    assert_eq!(rt.dropped(), 12);
    assert!(logger.flush(FLUSH));
    let lines = read_lines(&path);
    let messages: Vec<&str> = lines[1..].iter().map(|line| message(line)).collect();
    assert_eq!(messages.len(), 9, "{messages:#?}");
    for (frames, text) in messages[..8].iter().enumerate() {
        assert_eq!(
            *text,
            format!("audio thread: output underrun, {frames} frames of silence")
        );
    }
    assert_eq!(
        messages[8],
        "12 audio-thread log records dropped (ring full)"
    );
    // Drained: the ring takes records again.
    assert!(rt.push(RtEvent::OutputUnderrun { frames: 99 }));
}

#[test]
fn a_full_line_queue_drops_and_counts_every_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("Wasio.log");
    let mut options = options(&path);
    options.queue_capacity = 2;
    let logger = Logger::start(options).unwrap();
    assert!(logger.flush(FLUSH));
    let total = 5000u64;
    for i in 0..total {
        log_info!(logger, "burst {i}");
    }
    assert!(logger.flush(FLUSH));
    let lines = read_lines(&path);
    let written = lines
        .iter()
        .filter(|line| message(line).starts_with("burst "))
        .count() as u64;
    let reported: u64 = lines
        .iter()
        .filter_map(|line| message(line).strip_suffix(" log lines dropped (queue full)"))
        .map(|count| count.parse::<u64>().unwrap())
        .sum();
    assert_eq!(written + reported, total);
    assert_eq!(reported, logger.dropped_lines());
    assert!(reported > 0, "a 2-line queue cannot hold a 5000-line burst");
}

#[test]
fn long_messages_are_cut() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("Wasio.log");
    let logger = Logger::start(options(&path)).unwrap();
    log_info!(logger, "{}", "x".repeat(100_000));
    drop(logger);
    let lines = read_lines(&path);
    let text = message(lines.last().unwrap());
    assert_eq!(text.len(), MAX_MESSAGE_BYTES);
    assert!(text.ends_with("..."));
}

#[test]
fn options_follow_the_logging_settings() {
    let settings = LogSettings {
        level: LogLevel::Warn,
        max_size_bytes: 65536,
        keep: 7,
        ..LogSettings::default()
    };
    let options = LoggerOptions::from_settings(
        &settings,
        "x.log".into(),
        ProcessInfo {
            name: "a.exe".into(),
            pid: 1,
        },
        "9.9.9",
    );
    assert_eq!(
        (options.level, options.max_size_bytes, options.keep),
        (LogLevel::Warn, 65536, 7)
    );
    assert_eq!(options.driver_version, "9.9.9");
}

#[test]
fn portable_thread_ids_differ_between_threads() {
    let here = portable_thread_id();
    assert_eq!(here, portable_thread_id());
    let there = std::thread::spawn(portable_thread_id).join().unwrap();
    assert_ne!(here, there);
}
