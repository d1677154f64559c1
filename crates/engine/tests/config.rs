//! The configuration model and parser: defaults, every kind of invalid value, round trips.

use std::path::{Path, PathBuf};
use std::time::Duration;

use wasio_engine::config::*;

const FILE: &str = r"C:\Users\me\Wasio.toml";

fn parse(text: &str) -> Result<Settings, ConfigError> {
    Settings::parse(text, Path::new(FILE))
}

#[test]
fn empty_file_gives_defaults() {
    let settings = parse("").unwrap();
    assert_eq!(settings, Settings::default());
    assert_eq!(settings.sample_rate, None);
    assert_eq!(settings.buffer, None, "no [buffer]: the driver's own range");
    assert_eq!(BufferSizePolicy::default().offered(), (32, 4096, 512, -1));
    let partial = parse("[buffer]\npreferred = 256\n").unwrap();
    assert_eq!(partial.buffer.unwrap().offered(), (32, 4096, 256, -1));
    assert_eq!(settings.output.mode, Mode::Auto);
    assert_eq!(settings.output.device, DeviceSelector::Default);
    assert_eq!(settings.input.channels, ChannelSelection::All);
    assert_eq!(settings.output.sample_type, SampleTypeChoice::Native);
    assert!(settings.output.enabled && settings.input.enabled);
    assert_eq!(settings.logging.enabled, None);
    assert_eq!(settings.logging.level, LogLevel::Debug);
    assert_eq!(settings.logging.max_size_bytes, 4 * 1024 * 1024);
    assert_eq!(settings.logging.keep, 2);
}

#[test]
fn comments_only_file_gives_defaults() {
    assert_eq!(parse("# nothing\n\n# here\n").unwrap(), Settings::default());
}

#[test]
fn missing_file_gives_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings::load(&default_config_path(dir.path())).unwrap();
    assert_eq!(settings, Settings::default());
}

#[test]
fn default_paths_are_in_the_profile_directory() {
    let profile = Path::new("/home/me");
    assert_eq!(default_config_path(profile), profile.join("Wasio.toml"));
    assert_eq!(default_log_path(profile), profile.join("Wasio.log"));
}

#[test]
fn full_file_parses_to_typed_settings() {
    let text = r#"
sample_rate = 44100
[buffer]
min = 64
max = 1024
preferred = 256
granularity = 32
[logging]
enabled = true
path = 'D:\logs\wasio.log'
level = "trace"
max_size_kib = 512
keep = 5
[output]
device = { name = "Speakers (Realtek(R) Audio)" }
mode = "exclusive-event"
channels = [1, 0]
sample_type = "int32-24"
period_ms = 3.0
buffer_ms = 3.0
[input]
enabled = true
device = { regex = "USB.*Mic" }
mode = "shared-low-latency"
channels = 1
sample_type = "float32"
period_ms = 2.5
"#;
    let settings = parse(text).unwrap();
    assert_eq!(settings.sample_rate, Some(44100.0));
    assert_eq!(settings.buffer.unwrap().offered(), (64, 1024, 256, 32));
    assert_eq!(settings.logging.enabled, Some(true));
    assert_eq!(
        settings.logging.path,
        Some(PathBuf::from(r"D:\logs\wasio.log"))
    );
    assert_eq!(settings.logging.level, LogLevel::Trace);
    assert_eq!(settings.logging.max_size_bytes, 512 * 1024);
    assert_eq!(settings.logging.keep, 5);
    assert_eq!(
        settings.output.device,
        DeviceSelector::Name("Speakers (Realtek(R) Audio)".into())
    );
    assert_eq!(settings.output.mode, Mode::ExclusiveEvent);
    assert_eq!(settings.output.channels, ChannelSelection::List(vec![1, 0]));
    assert_eq!(settings.output.sample_type, SampleTypeChoice::Int32Lsb24);
    assert_eq!(settings.output.period, Some(Duration::from_millis(3)));
    assert_eq!(
        settings.output.buffer_duration,
        Some(Duration::from_millis(3))
    );
    assert!(settings
        .input
        .device
        .matches("Yeti USB Mic", "{0.0.1.00000000}.{x}"));
    assert!(!settings
        .input
        .device
        .matches("Line In", "{0.0.1.00000000}.{x}"));
    assert_eq!(settings.input.mode, Mode::SharedLowLatency);
    assert_eq!(settings.input.channels, ChannelSelection::Count(1));
    assert_eq!(settings.input.period, Some(Duration::from_micros(2500)));
    assert_eq!(settings.input.buffer_duration, None);
}

#[test]
fn every_keyword_parses() {
    for mode in Mode::ALL {
        let text = format!("[output]\nmode = \"{mode}\"\n");
        assert_eq!(parse(&text).unwrap().output.mode, *mode);
    }
    for sample_type in SampleTypeChoice::ALL {
        let text = format!("[input]\nsample_type = \"{sample_type}\"\n");
        assert_eq!(parse(&text).unwrap().input.sample_type, *sample_type);
    }
    for level in LogLevel::ALL {
        let text = format!("[logging]\nlevel = \"{level}\"\n");
        assert_eq!(parse(&text).unwrap().logging.level, *level);
    }
    let follow = parse("[output]\ndevice = \"follow-default\"\n").unwrap();
    assert_eq!(follow.output.device, DeviceSelector::FollowDefault);
    let id = parse("[input]\ndevice = { id = \"{0.0.1.00000000}.{ABC}\" }\n").unwrap();
    assert!(id
        .input
        .device
        .matches("anything", "{0.0.1.00000000}.{abc}"));
    let dotted = parse("[output]\ndevice.name = \"DAC\"\n").unwrap();
    assert_eq!(dotted.output.device, DeviceSelector::Name("DAC".into()));
}

#[test]
fn single_buffer_size_reports_granularity_zero() {
    let settings = parse("[buffer]\nmin = 256\nmax = 256\npreferred = 256\n").unwrap();
    let policy = settings.buffer.unwrap();
    assert_eq!(policy.offered(), (256, 256, 256, 0));
    assert!(policy.accepts(256));
    assert!(!policy.accepts(128));
}

#[test]
fn buffer_policy_accepts_and_nearest() {
    let powers = BufferSizePolicy::default();
    assert!(powers.accepts(32) && powers.accepts(512) && powers.accepts(4096));
    assert!(!powers.accepts(16) && !powers.accepts(441) && !powers.accepts(8192));
    assert_eq!(powers.nearest(441), 512);
    assert_eq!(powers.nearest(300), 256);
    assert_eq!(powers.nearest(1), 32);
    assert_eq!(powers.nearest(100_000), 4096);
    assert_eq!(powers.nearest(512), 512);

    let steps = BufferSizePolicy {
        min: 48,
        max: 480,
        preferred: 96,
        step: BufferStep::Frames(48),
    };
    assert_eq!(steps.offered(), (48, 480, 96, 48));
    assert!(steps.accepts(48) && steps.accepts(144) && steps.accepts(480));
    assert!(!steps.accepts(100) && !steps.accepts(528));
    assert_eq!(steps.nearest(100), 96);
    assert_eq!(steps.nearest(130), 144);
    assert_eq!(steps.nearest(120), 144, "a tie goes to the larger size");
    assert_eq!(steps.nearest(1000), 480);
    for frames in 0..600 {
        assert!(steps.accepts(steps.nearest(frames)), "nearest({frames})");
        assert!(powers.accepts(powers.nearest(frames)), "nearest({frames})");
    }
}

/// `(file text, line, column, key, start of the message)`.
const INVALID: &[(&str, usize, usize, Option<&str>, &str)] = &[
    // Syntax.
    ("sample_rate = \n", 1, 15, None, "syntax error: "),
    ("[output\nmode = \"auto\"\n", 1, 8, None, "syntax error: "),
    ("x = 1\nx = 2\n", 2, 1, None, "syntax error: duplicate key"),
    ("mode = \"auto\n", 1, 13, None, "syntax error: "),
    // Unknown keys and sections.
    ("[outpt]\n", 1, 2, Some("outpt"), "unknown field `outpt`, expected one of"),
    ("[output]\nmde = \"auto\"\n", 2, 1, Some("output.mde"), "unknown field `mde`"),
    ("[buffer]\nsize = 3\n", 2, 1, Some("buffer.size"), "unknown field `size`"),
    ("[logging]\nfile = \"x\"\n", 2, 1, Some("logging.file"), "unknown field `file`"),
    // Wrong types.
    ("sample_rate = \"48k\"\n", 1, 15, Some("sample_rate"), "invalid type: string \"48k\", expected a number"),
    ("[buffer]\nmin = 1.5\n", 2, 7, Some("buffer.min"), "invalid type: floating point `1.5`, expected an integer"),
    ("[output]\nenabled = \"yes\"\n", 2, 11, Some("output.enabled"), "invalid type: string \"yes\", expected true or false"),
    ("[output]\nmode = 3\n", 2, 8, Some("output.mode"), "invalid type: integer `3`, expected a mode: one of auto,"),
    ("[output]\nchannels = \"all\"\n", 2, 12, Some("output.channels"), "invalid type: string \"all\", expected a channel count or a list"),
    ("[output]\nchannels = [0, \"a\"]\n", 2, 16, Some("output.channels[1]"), "invalid type: string \"a\", expected an integer"),
    ("output = 3\n", 1, 10, Some("output"), "must be a table, written [output]; got integer"),
    ("[[input]]\n", 1, 1, Some("input"), "must be a table: write [input], not [[input]]"),
    ("[logging]\nlevel = 1\n", 2, 9, Some("logging.level"), "invalid type: integer `1`, expected a log level"),
    // Unknown words.
    ("[output]\nmode = \"exclusiv\"\n", 2, 8, Some("output.mode"),
        "unknown mode \"exclusiv\"; expected one of auto, exclusive-event, exclusive-poll, shared-low-latency, shared"),
    ("[input]\nsample_type = \"int8\"\n", 2, 15, Some("input.sample_type"), "unknown sample type \"int8\"; expected one of native, float32,"),
    ("[logging]\nlevel = \"verbose\"\n", 2, 9, Some("logging.level"), "unknown log level \"verbose\""),
    ("[buffer]\ngranularity = \"pow2\"\n", 2, 15, Some("buffer.granularity"), "unknown granularity \"pow2\""),
    ("[output]\ndevice = \"Speakers\"\n", 2, 10, Some("output.device"), "unknown device \"Speakers\"; expected \"default\""),
    ("[output]\ndevice = { nam = \"x\" }\n", 2, 10, Some("output.device"), "unknown device key \"nam\""),
    ("[output]\ndevice = { name = \"x\", id = \"y\" }\n", 2, 10, Some("output.device"), "a device table takes exactly one of name, id or regex"),
    ("[output]\ndevice = {}\n", 2, 10, Some("output.device"), "a device table takes exactly one of name, id or regex"),
    ("[output]\ndevice = { name = 3 }\n", 2, 19, Some("output.device.name"), "invalid type: integer `3`, expected a string"),
    // Out of range.
    ("sample_rate = 0\n", 1, 15, Some("sample_rate"), "must be between 8000 and 768000 Hz, got 0"),
    ("sample_rate = -44100\n", 1, 15, Some("sample_rate"), "must be between 8000 and 768000 Hz, got -44100"),
    ("sample_rate = nan\n", 1, 15, Some("sample_rate"), "must be between 8000 and 768000 Hz, got NaN"),
    ("sample_rate = inf\n", 1, 15, Some("sample_rate"), "must be between 8000 and 768000 Hz, got inf"),
    ("sample_rate = 1e9\n", 1, 15, Some("sample_rate"), "must be between 8000 and 768000 Hz, got 1000000000"),
    ("[buffer]\nmin = 0\n", 2, 7, Some("buffer.min"), "must be between 16 and 32768 frames, got 0"),
    ("[buffer]\nmax = -64\n", 2, 7, Some("buffer.max"), "must be between 16 and 32768 frames, got -64"),
    ("[buffer]\npreferred = 1000000\n", 2, 13, Some("buffer.preferred"), "must be between 16 and 32768 frames, got 1000000"),
    ("[buffer]\ngranularity = 0\n", 2, 15, Some("buffer.granularity"), "must be between 1 and 32768 frames, got 0"),
    ("[buffer]\ngranularity = -1\n", 2, 15, Some("buffer.granularity"), "must be between 1 and 32768 frames, got -1"),
    ("[output]\nchannels = 0\n", 2, 12, Some("output.channels"), "must be between 1 and 256 channels, got 0"),
    ("[output]\nchannels = 1000\n", 2, 12, Some("output.channels"), "must be between 1 and 256 channels, got 1000"),
    ("[output]\nchannels = []\n", 2, 12, Some("output.channels"), "the channel list is empty"),
    ("[input]\nchannels = [0, -1]\n", 2, 16, Some("input.channels[1]"), "channel numbers are 0-based and below 256, got -1"),
    ("[input]\nchannels = [0, 256]\n", 2, 16, Some("input.channels[1]"), "channel numbers are 0-based and below 256, got 256"),
    ("[output]\nchannels = [0, 1, 1]\n", 2, 19, Some("output.channels[2]"), "channel 1 is listed twice"),
    ("[output]\nperiod_ms = 0\n", 2, 13, Some("output.period_ms"), "must be between 0.1 and 1000 ms, got 0"),
    ("[output]\nperiod_ms = -inf\n", 2, 13, Some("output.period_ms"), "must be between 0.1 and 1000 ms, got -inf"),
    ("[input]\nbuffer_ms = 5000\n", 2, 13, Some("input.buffer_ms"), "must be between 0.1 and 2000 ms, got 5000"),
    ("[output]\nperiod_ms = 1e400\n", 2, 13, Some("output.period_ms"), "floating-point number overflowed"),
    ("[logging]\nmax_size_kib = 1\n", 2, 16, Some("logging.max_size_kib"), "must be between 16 and 1048576 KiB, got 1"),
    ("[logging]\nkeep = 99\n", 2, 8, Some("logging.keep"), "must be between 0 and 20, got 99"),
    ("[logging]\npath = \"  \"\n", 2, 8, Some("logging.path"), "must not be empty"),
    ("[output]\ndevice = { name = \"\" }\n", 2, 19, Some("output.device.name"), "device name must not be empty"),
    ("[input]\ndevice = { id = \" \" }\n", 2, 17, Some("input.device.id"), "device ID must not be empty"),
    ("[output]\ndevice = { regex = \"\" }\n", 2, 20, Some("output.device.regex"), "device regex must not be empty"),
    ("[output]\ndevice = { regex = \"USB(\" }\n", 2, 20, Some("output.device.regex"), "invalid regex \"USB(\": unclosed group"),
    ("[output]\ndevice.regex = \"[z-a]\"\n", 2, 16, Some("output.device.regex"), "invalid regex \"[z-a]\": invalid character class range"),
    // Cross-field contradictions.
    ("[buffer]\nmin = 512\nmax = 256\n", 2, 7, Some("buffer.min"), "min (512) is larger than max (256)"),
    ("[buffer]\nmax = 16\n", 2, 7, Some("buffer.max"), "min (32) is larger than max (16)"),
    ("[buffer]\npreferred = 8192\n", 2, 13, Some("buffer.preferred"), "preferred (8192) is not between min (32) and max (4096)"),
    ("[buffer]\nmin = 1024\n", 2, 7, Some("buffer.min"), "preferred (512) is not between min (1024) and max (4096)"),
    ("[buffer]\npreferred = 441\n", 2, 13, Some("buffer.preferred"), "441 is not a power of two, but granularity is \"power-of-two\""),
    ("[buffer]\nmin = 48\nmax = 480\npreferred = 96\ngranularity = \"power-of-two\"\n", 2, 7, Some("buffer.min"), "48 is not a power of two"),
    ("[buffer]\nmin = 48\nmax = 500\npreferred = 96\ngranularity = 48\n", 5, 15, Some("buffer.granularity"), "max (500) is not min (48) plus a multiple of granularity (48)"),
    ("[buffer]\nmin = 48\nmax = 480\npreferred = 100\ngranularity = 48\n", 4, 13, Some("buffer.preferred"), "preferred (100) is not min (48) plus a multiple of granularity (48)"),
    ("[output]\nenabled = false\n[input]\nenabled = false\n", 4, 11, Some("input.enabled"), "output and input are both disabled"),
    ("[output]\nmode = \"exclusive-event\"\nperiod_ms = 3\nbuffer_ms = 6\n", 4, 13, Some("output.buffer_ms"),
        "in exclusive-event mode the buffer equals the period; buffer_ms (6) differs from period_ms (3)"),
    ("[input]\nmode = \"exclusive-poll\"\nperiod_ms = 10\nbuffer_ms = 5\n", 4, 13, Some("input.buffer_ms"), "buffer_ms (5) is shorter than period_ms (10)"),
    ("[input]\nmode = \"shared\"\nperiod_ms = 10\n", 3, 13, Some("input.period_ms"), "shared mode runs at the Windows engine period"),
    ("[output]\nmode = \"shared-low-latency\"\nbuffer_ms = 20\n", 3, 13, Some("output.buffer_ms"), "shared-low-latency mode sets only a period"),
];

#[test]
fn every_invalid_case_names_line_column_key_and_problem() {
    for &(text, line, column, key, message) in INVALID {
        let error = match parse(text) {
            Ok(settings) => panic!("{text:?} was accepted as {settings:?}"),
            Err(error) => error,
        };
        assert_eq!(
            (error.line, error.column, error.key.as_deref()),
            (Some(line), Some(column), key),
            "location of {text:?}: {error}"
        );
        assert!(
            error.message.starts_with(message),
            "message of {text:?}: {:?} should start with {message:?}",
            error.message
        );
        assert_eq!(error.path, Path::new(FILE));
        let shown = error.to_string();
        let expected_prefix = match key {
            Some(key) => format!("{FILE}:{line}:{column}: {key}: "),
            None => format!("{FILE}:{line}:{column}: "),
        };
        assert!(shown.starts_with(&expected_prefix), "{shown}");
        assert!(shown.ends_with(&error.message), "{shown}");
        let short = error.short();
        assert!(short.len() < ASIO_ERROR_MESSAGE_BYTES, "{short}");
        assert!(
            short.starts_with(&format!("Wasio.toml:{line}:{column}: ")),
            "{short}"
        );
    }
}

#[test]
fn display_matches_the_documented_form() {
    let text = "# Wasio\n\n[output]\ndevice = \"default\"\n\n\nmode = \"exclusiv\"\n";
    let error = parse(text).unwrap_err();
    assert_eq!(
        error.to_string(),
        r#"C:\Users\me\Wasio.toml:7:8: output.mode: unknown mode "exclusiv"; expected one of auto, exclusive-event, exclusive-poll, shared-low-latency, shared"#
    );
    assert_eq!(
        error.short(),
        r#"Wasio.toml:7:8: output.mode: unknown mode "exclusiv"; expected one of auto, exclusive-event, exclusive-poll, shared-low-..."#
    );
    assert_eq!(error.short().len(), ASIO_ERROR_MESSAGE_BYTES - 1);
}

#[test]
fn short_cuts_at_a_character_boundary() {
    let error = parse("[output]\ndevice = { name = \"\" }\n[input]\nmode = \"ééééééééééééééééééééééééééééééééééééééééééééééééééééééééé\"\n")
        .unwrap_err();
    let short = error.short();
    assert!(short.len() < ASIO_ERROR_MESSAGE_BYTES);
    // The first problem in the file is reported first.
    assert_eq!(error.key.as_deref(), Some("input.mode"));
    assert!(short.ends_with("..."));
}

#[test]
fn columns_count_characters_not_bytes() {
    let error = parse("# é\n[output]\ndevice = { name = \"é\" }\nmode = \"x\"\n").unwrap_err();
    assert_eq!((error.line, error.column), (Some(4), Some(8)));
    let error = parse("[output]\ndevice = { name = \"éé\", id = 3 }\n").unwrap_err();
    assert_eq!((error.line, error.column), (Some(2), Some(30)), "{error}");
}

#[test]
fn all_errors_are_reported_in_file_order() {
    let text =
        "sample_rate = 0\n[output]\nchannels = [1, 1]\nperiod_ms = 0\n[logging]\nkeep = -1\n";
    let errors = Settings::parse_all_errors(text, Path::new(FILE)).unwrap_err();
    let keys: Vec<_> = errors.iter().map(|e| e.key.clone().unwrap()).collect();
    assert_eq!(
        keys,
        [
            "sample_rate",
            "output.channels[1]",
            "output.period_ms",
            "logging.keep"
        ]
    );
    let lines: Vec<_> = errors.iter().map(|e| e.line.unwrap()).collect();
    assert_eq!(lines, [1, 3, 4, 6]);
}

#[test]
fn unreadable_and_misencoded_files_give_clear_errors() {
    let dir = tempfile::tempdir().unwrap();

    // A directory where the file should be.
    let error = Settings::load(dir.path()).unwrap_err();
    assert!(
        error.message.starts_with("cannot read the file: "),
        "{error}"
    );
    assert_eq!((error.line, error.key.as_deref()), (None, None));
    assert!(error
        .to_string()
        .starts_with(&format!("{}: cannot read", dir.path().display())));

    let latin1 = dir.path().join("latin1.toml");
    std::fs::write(
        &latin1,
        b"[output]\ndevice = { name = \"Haut-parleurs \xe9\" }\n",
    )
    .unwrap();
    let error = Settings::load(&latin1).unwrap_err();
    assert_eq!(
        error.message,
        "the file is not valid UTF-8; save it as UTF-8"
    );
    assert_eq!((error.line, error.column), (Some(2), Some(34)));

    let utf16 = dir.path().join("utf16.toml");
    let mut bytes = vec![0xFF, 0xFE];
    for unit in "[output]\n".encode_utf16() {
        bytes.extend_from_slice(&unit.to_le_bytes());
    }
    std::fs::write(&utf16, bytes).unwrap();
    let error = Settings::load(&utf16).unwrap_err();
    assert!(error.message.contains("UTF-16"), "{error}");

    let huge = dir.path().join("huge.toml");
    std::fs::write(&huge, vec![b'#'; (MAX_CONFIG_FILE_BYTES + 1) as usize]).unwrap();
    let error = Settings::load(&huge).unwrap_err();
    assert!(error.message.contains("at most"), "{error}");
}

#[test]
fn byte_order_mark_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("Wasio.toml");
    std::fs::write(
        &path,
        b"\xEF\xBB\xBFsample_rate = 96000\n[output]\nmode = 5\n",
    )
    .unwrap();
    let error = Settings::load(&path).unwrap_err();
    assert_eq!((error.line, error.column), (Some(3), Some(8)));
    std::fs::write(&path, b"\xEF\xBB\xBFsample_rate = 96000\n").unwrap();
    assert_eq!(Settings::load(&path).unwrap().sample_rate, Some(96000.0));
}

fn example_settings() -> Vec<Settings> {
    let mut all = vec![Settings::default()];

    let mut duplex = Settings {
        sample_rate: Some(44100.0),
        ..Settings::default()
    };
    duplex.output.device = DeviceSelector::Name("Speakers (USB DAC \"Pro\")".into());
    duplex.input.device = DeviceSelector::Regex(regex::Regex::new(r"(?i)usb.*mic\b").unwrap());
    duplex.input.channels = ChannelSelection::List(vec![3, 1]);
    duplex.output.channels = ChannelSelection::Count(2);
    duplex.output.mode = Mode::SharedLowLatency;
    duplex.output.period = Some(Duration::from_micros(2667));
    all.push(duplex);

    let mut exclusive = Settings {
        buffer: Some(BufferSizePolicy {
            min: 48,
            max: 960,
            preferred: 144,
            step: BufferStep::Frames(48),
        }),
        logging: LogSettings {
            enabled: Some(false),
            path: Some(PathBuf::from(r"C:\Temp\wasio log.txt")),
            level: LogLevel::Trace,
            max_size_bytes: 64 * 1024,
            keep: 0,
        },
        ..Settings::default()
    };
    exclusive.output.mode = Mode::ExclusiveEvent;
    exclusive.output.sample_type = SampleTypeChoice::Int32Lsb24;
    exclusive.output.period = Some(Duration::from_millis(3));
    exclusive.output.buffer_duration = Some(Duration::from_millis(3));
    exclusive.output.device = DeviceSelector::Id("{0.0.0.00000000}.{a1b2}".into());
    exclusive.input.enabled = false;
    exclusive.input.device = DeviceSelector::FollowDefault;
    all.push(exclusive);
    all
}

#[test]
fn settings_round_trip_through_a_saved_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("Wasio.toml");
    for settings in example_settings() {
        settings.save(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(SAVED_FILE_HEADER), "{text}");
        let loaded = Settings::load(&path).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(loaded, settings, "{text}");
        // Saving the loaded settings writes the same file.
        loaded.save(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    }
    assert!(!dir.path().join("Wasio.toml.tmp").exists());
}

#[test]
fn saved_defaults_are_just_the_header() {
    assert_eq!(Config::default().to_toml_string(), SAVED_FILE_HEADER);
    assert_eq!(Config::from(&Settings::default()), Config::default());
}

#[test]
fn config_round_trips_as_written() {
    let text = "sample_rate = 48000.0\n[buffer]\ngranularity = 64\nmin = 64\nmax = 1024\npreferred = 128\n[output]\ndevice = \"follow-default\"\nchannels = [0, 1]\n[input]\nchannels = 4\ndevice = { id = \"x\" }\n";
    let config = Config::parse(text, Path::new(FILE)).unwrap();
    let again = Config::parse(&config.to_toml_string(), Path::new(FILE)).unwrap();
    assert_eq!(again, config);
    assert_eq!(config.input.channels, Some(ChannelsConfig::Count(4)));
    assert_eq!(config.buffer.granularity, Some(GranularityConfig::Step(64)));
}

#[test]
fn config_load_reports_missing_file_as_none() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(Config::load(&dir.path().join("Wasio.toml")).unwrap(), None);
}

#[test]
fn logging_is_on_by_key_or_by_the_log_file_existing() {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path();
    let log = default_log_path(profile);
    let mut settings = LogSettings::default();
    assert_eq!(settings.active_path(profile), None);
    std::fs::write(&log, "").unwrap();
    assert_eq!(settings.active_path(profile), Some(log.clone()));
    settings.enabled = Some(false);
    assert_eq!(
        settings.active_path(profile),
        None,
        "false wins over the file"
    );
    std::fs::remove_file(&log).unwrap();
    settings.enabled = Some(true);
    assert_eq!(settings.active_path(profile), Some(log));
    settings.path = Some(PathBuf::from("logs/w.log"));
    assert_eq!(
        settings.active_path(profile),
        Some(profile.join("logs").join("w.log"))
    );
}
