//! `Settings`: a validated [`Config`] with typed values and every default filled in.

use std::path::{Path, PathBuf};
use std::time::Duration;

use regex::Regex;

use super::model::*;

/// Sample rates accepted for `sample_rate`, in Hz.
pub const SAMPLE_RATE_RANGE: (f64, f64) = (8_000.0, 768_000.0);
/// Buffer sizes accepted in `[buffer]`, in frames.
pub const BUFFER_FRAMES_RANGE: (u32, u32) = (16, 32_768);
/// Highest channel count, and highest channel number plus one.
pub const MAX_CHANNELS: u32 = 256;
/// `period_ms` and `buffer_ms` bounds, in milliseconds.
pub const PERIOD_MS_RANGE: (f64, f64) = (0.1, 1_000.0);
pub const BUFFER_MS_RANGE: (f64, f64) = (0.1, 2_000.0);
/// `logging.max_size_kib` bounds.
pub const LOG_SIZE_KIB_RANGE: (u64, u64) = (16, 1_048_576);
/// Highest `logging.keep`.
pub const MAX_LOG_KEEP: u32 = 20;

/// File name of the configuration file, in the user's profile directory.
pub const CONFIG_FILE_NAME: &str = "Wasio.toml";
/// File name of the log file, in the user's profile directory. Its existence turns logging on.
pub const LOG_FILE_NAME: &str = "Wasio.log";

/// `%USERPROFILE%\Wasio.toml`, given the profile directory.
pub fn default_config_path(user_profile_dir: &Path) -> PathBuf {
    user_profile_dir.join(CONFIG_FILE_NAME)
}

/// `%USERPROFILE%\Wasio.log`, given the profile directory.
pub fn default_log_path(user_profile_dir: &Path) -> PathBuf {
    user_profile_dir.join(LOG_FILE_NAME)
}

/// Everything the driver needs, validated.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    /// Sample rate used until the host sets one; `None`: the output device's mix format rate.
    pub sample_rate: Option<f64>,
    /// The sizes offered to the host when `[buffer]` is in the file; `None`: the driver's
    /// own range (any size from 32 to 8192 frames, preferred = the device period). Keys left
    /// out of a written `[buffer]` take [`BufferSizePolicy::default`]'s values.
    pub buffer: Option<BufferSizePolicy>,
    pub logging: LogSettings,
    pub output: DirectionSettings,
    pub input: DirectionSettings,
}

/// The buffer sizes offered to the host, in frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferSizePolicy {
    pub min: u32,
    pub max: u32,
    pub preferred: u32,
    pub step: BufferStep,
}

/// How the sizes between `min` and `max` are spaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BufferStep {
    /// Powers of two only (ASIO granularity -1).
    PowerOfTwo,
    /// `min`, `min + n`, `min + 2n`, … (ASIO granularity n).
    Frames(u32),
}

impl Default for BufferSizePolicy {
    fn default() -> Self {
        BufferSizePolicy {
            min: 32,
            max: 4096,
            preferred: 512,
            step: BufferStep::PowerOfTwo,
        }
    }
}

impl BufferSizePolicy {
    /// `(min, max, preferred, granularity)` as ASIO `getBufferSize` reports them: granularity -1
    /// for powers of two, 0 when only one size is offered, else the step.
    pub fn offered(&self) -> (i32, i32, i32, i32) {
        let granularity = if self.min == self.max {
            0
        } else {
            match self.step {
                BufferStep::PowerOfTwo => -1,
                BufferStep::Frames(step) => step as i32,
            }
        };
        (
            self.min as i32,
            self.max as i32,
            self.preferred as i32,
            granularity,
        )
    }

    /// Whether `frames` is one of the offered sizes.
    // `u32::is_multiple_of` is newer than the workspace's rust-version (1.82).
    #[allow(clippy::manual_is_multiple_of)]
    pub fn accepts(&self, frames: u32) -> bool {
        if frames < self.min || frames > self.max {
            return false;
        }
        match self.step {
            BufferStep::PowerOfTwo => frames.is_power_of_two(),
            BufferStep::Frames(step) => (frames - self.min) % step.max(1) == 0,
        }
    }

    /// The offered size closest to `frames` (the larger one on a tie).
    pub fn nearest(&self, frames: u32) -> u32 {
        // Written not to panic even for a hand-built policy with min > max or a zero step.
        let clamped = frames.max(self.min).min(self.max);
        let (below, above) = match self.step {
            BufferStep::PowerOfTwo => {
                let above = clamped
                    .checked_next_power_of_two()
                    .map_or(self.max, |power| power.min(self.max));
                let below = if above == clamped {
                    above
                } else {
                    (above / 2).max(self.min)
                };
                (below, above)
            }
            BufferStep::Frames(step) => {
                let step = step.max(1);
                let offset = clamped.saturating_sub(self.min);
                let below = self.min.saturating_add(offset / step * step);
                let above = match below.checked_add(step) {
                    Some(next) if below != clamped && next <= self.max => next,
                    _ => below,
                };
                (below, above)
            }
        };
        if clamped.abs_diff(below) < above.abs_diff(clamped) {
            below
        } else {
            above
        }
    }
}

/// `[logging]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    /// `Some(true)`: log; `Some(false)`: never; `None`: log if the log file exists.
    pub enabled: Option<bool>,
    /// The log file; `None`: `%USERPROFILE%\Wasio.log`. A relative path is relative to the
    /// profile directory.
    pub path: Option<PathBuf>,
    pub level: LogLevel,
    /// Size at which the file is rotated, in bytes.
    pub max_size_bytes: u64,
    /// Rotated files kept (`Wasio.log.1` … `Wasio.log.<keep>`); 0 truncates instead.
    pub keep: u32,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            enabled: None,
            path: None,
            level: LogLevel::Debug,
            max_size_bytes: 4096 * 1024,
            keep: 2,
        }
    }
}

impl LogSettings {
    /// The log file path, resolved against the profile directory.
    pub fn file_path(&self, user_profile_dir: &Path) -> PathBuf {
        match &self.path {
            Some(path) => user_profile_dir.join(path),
            None => default_log_path(user_profile_dir),
        }
    }

    /// The file to log to, or `None` when logging is off: on when `enabled = true`, or when
    /// `enabled` is absent and the log file already exists (FlexASIO's convention).
    pub fn active_path(&self, user_profile_dir: &Path) -> Option<PathBuf> {
        let path = self.file_path(user_profile_dir);
        let on = match self.enabled {
            Some(enabled) => enabled,
            None => path.is_file(),
        };
        on.then_some(path)
    }
}

/// `[output]` or `[input]`, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct DirectionSettings {
    pub enabled: bool,
    pub device: DeviceSelector,
    pub mode: Mode,
    pub channels: ChannelSelection,
    pub sample_type: SampleTypeChoice,
    /// WASAPI period override.
    pub period: Option<Duration>,
    /// WASAPI buffer duration override.
    pub buffer_duration: Option<Duration>,
}

impl Default for DirectionSettings {
    fn default() -> Self {
        DirectionSettings {
            enabled: true,
            device: DeviceSelector::Default,
            mode: Mode::Auto,
            channels: ChannelSelection::All,
            sample_type: SampleTypeChoice::Native,
            period: None,
            buffer_duration: None,
        }
    }
}

/// Which endpoint a direction uses.
#[derive(Debug, Clone)]
pub enum DeviceSelector {
    /// The Windows default endpoint when the stream opens.
    Default,
    /// The Windows default endpoint; the driver asks for a reset when it changes.
    FollowDefault,
    /// The endpoint whose friendly name is exactly this.
    Name(String),
    /// The endpoint with this ID (`IMMDevice::GetId`).
    Id(String),
    /// The first endpoint whose friendly name contains a match.
    Regex(Regex),
}

impl PartialEq for DeviceSelector {
    fn eq(&self, other: &Self) -> bool {
        use DeviceSelector::*;
        match (self, other) {
            (Default, Default) | (FollowDefault, FollowDefault) => true,
            (Name(a), Name(b)) | (Id(a), Id(b)) => a == b,
            (Regex(a), Regex(b)) => a.as_str() == b.as_str(),
            _ => false,
        }
    }
}

impl DeviceSelector {
    /// Whether this selects the Windows default endpoint rather than a particular one.
    pub fn is_default(&self) -> bool {
        matches!(
            self,
            DeviceSelector::Default | DeviceSelector::FollowDefault
        )
    }

    /// Whether the endpoint with this friendly name and ID is the one selected by name, ID or
    /// regex. Always false for the default selectors: ask Windows for the default endpoint.
    pub fn matches(&self, friendly_name: &str, endpoint_id: &str) -> bool {
        match self {
            DeviceSelector::Default | DeviceSelector::FollowDefault => false,
            DeviceSelector::Name(name) => name == friendly_name,
            DeviceSelector::Id(id) => id.eq_ignore_ascii_case(endpoint_id),
            DeviceSelector::Regex(regex) => regex.is_match(friendly_name),
        }
    }
}

/// Which device channels a direction exposes to the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelSelection {
    /// Every channel of the device.
    All,
    /// The first n channels.
    Count(u32),
    /// These 0-based device channels, in this order (ASIO channel `i` is device channel `list[i]`).
    List(Vec<u32>),
}

/// A problem found by [`Config::validate`]: the dotted key and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationIssue {
    pub path: Vec<KeySegment>,
    pub message: String,
}

/// One step of a key path: a table key, or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySegment {
    Key(String),
    Index(usize),
}

/// Formats a key path as `output.channels[2]`, quoting keys that are not bare TOML keys.
pub fn format_key_path(path: &[KeySegment]) -> String {
    let mut text = String::new();
    for segment in path {
        match segment {
            KeySegment::Key(key) => {
                if !text.is_empty() {
                    text.push('.');
                }
                let bare = !key.is_empty()
                    && key
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                if bare {
                    text.push_str(key);
                } else {
                    text.push_str(&format!("{key:?}"));
                }
            }
            KeySegment::Index(index) => text.push_str(&format!("[{index}]")),
        }
    }
    text
}

impl ValidationIssue {
    pub fn key(&self) -> String {
        format_key_path(&self.path)
    }
}

/// Collects issues under a key path.
struct Checker {
    issues: Vec<ValidationIssue>,
}

impl Checker {
    fn report(&mut self, path: &[&str], index: Option<usize>, message: String) {
        let mut segments: Vec<KeySegment> = path
            .iter()
            .map(|k| KeySegment::Key(k.to_string()))
            .collect();
        if let Some(index) = index {
            segments.push(KeySegment::Index(index));
        }
        self.issues.push(ValidationIssue {
            path: segments,
            message,
        });
    }

    fn integer_in(&mut self, path: &[&str], value: i64, range: (u64, u64), unit: &str) -> u64 {
        let (low, high) = range;
        if value < low as i64 || value > high as i64 {
            self.report(
                path,
                None,
                format!("must be between {low} and {high}{unit}, got {value}"),
            );
            return low;
        }
        value as u64
    }

    fn float_in(&mut self, path: &[&str], value: f64, range: (f64, f64), unit: &str) -> f64 {
        let (low, high) = range;
        if !value.is_finite() || value < low || value > high {
            self.report(
                path,
                None,
                format!("must be between {low} and {high}{unit}, got {value}"),
            );
            return low;
        }
        value
    }
}

impl Config {
    /// Checks every value and cross-field rule, fills in defaults, and compiles regexes.
    pub fn validate(&self) -> Result<Settings, Vec<ValidationIssue>> {
        let mut check = Checker { issues: Vec::new() };
        let defaults = Settings::default();

        let sample_rate = self
            .sample_rate
            .map(|rate| check.float_in(&["sample_rate"], rate, SAMPLE_RATE_RANGE, " Hz"));

        let buffer = (!self.buffer.is_empty())
            .then(|| validate_buffer(&mut check, &self.buffer, BufferSizePolicy::default()));
        let logging = validate_logging(&mut check, &self.logging, &defaults.logging);
        let output = validate_direction(&mut check, "output", &self.output);
        let input = validate_direction(&mut check, "input", &self.input);

        if !output.enabled && !input.enabled {
            check.report(
                &["input", "enabled"],
                None,
                "output and input are both disabled; enable at least one".to_string(),
            );
        }

        if check.issues.is_empty() {
            Ok(Settings {
                sample_rate,
                buffer,
                logging,
                output,
                input,
            })
        } else {
            Err(check.issues)
        }
    }
}

fn validate_buffer(
    check: &mut Checker,
    config: &BufferConfig,
    defaults: BufferSizePolicy,
) -> BufferSizePolicy {
    let range = (BUFFER_FRAMES_RANGE.0 as u64, BUFFER_FRAMES_RANGE.1 as u64);
    let mut size = |key: &'static str, value: Option<i64>, default: u32| -> (u32, bool) {
        match value {
            Some(value) => {
                let before = check.issues.len();
                let frames = check.integer_in(&["buffer", key], value, range, " frames") as u32;
                (frames, check.issues.len() == before)
            }
            None => (default, true),
        }
    };
    let (min, min_ok) = size("min", config.min, defaults.min);
    let (max, max_ok) = size("max", config.max, defaults.max);
    let (preferred, preferred_ok) = size("preferred", config.preferred, defaults.preferred);
    let step = match config.granularity {
        None => defaults.step,
        Some(GranularityConfig::PowerOfTwo) => BufferStep::PowerOfTwo,
        Some(GranularityConfig::Step(step)) => {
            let before = check.issues.len();
            let step = check.integer_in(
                &["buffer", "granularity"],
                step,
                (1, BUFFER_FRAMES_RANGE.1 as u64),
                " frames",
            ) as u32;
            if check.issues.len() != before {
                return defaults;
            }
            BufferStep::Frames(step)
        }
    };
    if !(min_ok && max_ok && preferred_ok) {
        return defaults;
    }
    // Report a contradiction at a key the user wrote, preferring the most specific one.
    let blame = |candidates: &[(&'static str, bool)]| -> &'static str {
        candidates
            .iter()
            .find(|(_, written)| *written)
            .map(|(key, _)| *key)
            .unwrap_or(candidates[0].0)
    };
    let written_min = config.min.is_some();
    let written_max = config.max.is_some();
    let written_preferred = config.preferred.is_some();
    let written_granularity = config.granularity.is_some();
    if min > max {
        let key = blame(&[("min", written_min), ("max", written_max)]);
        check.report(
            &["buffer", key],
            None,
            format!("min ({min}) is larger than max ({max})"),
        );
        return defaults;
    }
    if preferred < min || preferred > max {
        let key = blame(&[
            ("preferred", written_preferred),
            ("min", written_min),
            ("max", written_max),
        ]);
        check.report(
            &["buffer", key],
            None,
            format!("preferred ({preferred}) is not between min ({min}) and max ({max})"),
        );
        return defaults;
    }
    match step {
        BufferStep::PowerOfTwo if min != max => {
            for (key, value, written) in [
                ("min", min, written_min),
                ("max", max, written_max),
                ("preferred", preferred, written_preferred),
            ] {
                if !value.is_power_of_two() {
                    let key = if written {
                        key
                    } else {
                        blame(&[("granularity", written_granularity), (key, true)])
                    };
                    check.report(
                        &["buffer", key],
                        None,
                        format!(
                            "{value} is not a power of two, but granularity is \"power-of-two\"; \
                             use a power of two or set granularity to a step in frames"
                        ),
                    );
                    return defaults;
                }
            }
        }
        BufferStep::Frames(step) if min != max => {
            if (max - min) % step != 0 {
                let key = blame(&[("granularity", written_granularity), ("max", written_max)]);
                check.report(
                    &["buffer", key],
                    None,
                    format!(
                        "max ({max}) is not min ({min}) plus a multiple of granularity ({step})"
                    ),
                );
                return defaults;
            }
            if (preferred - min) % step != 0 {
                let key = blame(&[
                    ("preferred", written_preferred),
                    ("granularity", written_granularity),
                ]);
                check.report(
                    &["buffer", key],
                    None,
                    format!(
                        "preferred ({preferred}) is not min ({min}) plus a multiple of granularity ({step})"
                    ),
                );
                return defaults;
            }
        }
        _ => {}
    }
    BufferSizePolicy {
        min,
        max,
        preferred,
        step,
    }
}

fn validate_logging(
    check: &mut Checker,
    config: &LoggingConfig,
    defaults: &LogSettings,
) -> LogSettings {
    let path = match &config.path {
        Some(path) if path.trim().is_empty() => {
            check.report(
                &["logging", "path"],
                None,
                "must not be empty; remove the key to use the default".to_string(),
            );
            None
        }
        Some(path) => Some(PathBuf::from(path)),
        None => None,
    };
    let max_size_bytes = match config.max_size_kib {
        Some(kib) => {
            check.integer_in(
                &["logging", "max_size_kib"],
                kib,
                LOG_SIZE_KIB_RANGE,
                " KiB",
            ) * 1024
        }
        None => defaults.max_size_bytes,
    };
    let keep = match config.keep {
        Some(keep) => {
            check.integer_in(&["logging", "keep"], keep, (0, MAX_LOG_KEEP as u64), "") as u32
        }
        None => defaults.keep,
    };
    LogSettings {
        enabled: config.enabled,
        path,
        level: config.level.unwrap_or(defaults.level),
        max_size_bytes,
        keep,
    }
}

fn validate_direction(
    check: &mut Checker,
    section: &'static str,
    config: &DirectionConfig,
) -> DirectionSettings {
    let defaults = DirectionSettings::default();
    let device = match &config.device {
        None | Some(DeviceConfig::Default) => DeviceSelector::Default,
        Some(DeviceConfig::FollowDefault) => DeviceSelector::FollowDefault,
        Some(DeviceConfig::Name(name)) => {
            if name.trim().is_empty() {
                check.report(
                    &[section, "device", "name"],
                    None,
                    "device name must not be empty".to_string(),
                );
            }
            DeviceSelector::Name(name.clone())
        }
        Some(DeviceConfig::Id(id)) => {
            if id.trim().is_empty() {
                check.report(
                    &[section, "device", "id"],
                    None,
                    "device ID must not be empty".to_string(),
                );
            }
            DeviceSelector::Id(id.clone())
        }
        Some(DeviceConfig::Regex(pattern)) => match compile_device_regex(pattern) {
            Ok(regex) => DeviceSelector::Regex(regex),
            Err(message) => {
                check.report(&[section, "device", "regex"], None, message);
                DeviceSelector::Default
            }
        },
    };

    let channels = match &config.channels {
        None => ChannelSelection::All,
        Some(ChannelsConfig::Count(count)) => ChannelSelection::Count(check.integer_in(
            &[section, "channels"],
            *count,
            (1, MAX_CHANNELS as u64),
            " channels",
        ) as u32),
        Some(ChannelsConfig::List(list)) => {
            if list.is_empty() {
                check.report(
                    &[section, "channels"],
                    None,
                    "the channel list is empty; list at least one 0-based channel number"
                        .to_string(),
                );
            }
            let mut channels = Vec::with_capacity(list.len());
            for (index, &channel) in list.iter().enumerate() {
                if channel < 0 || channel >= MAX_CHANNELS as i64 {
                    check.report(
                        &[section, "channels"],
                        Some(index),
                        format!(
                            "channel numbers are 0-based and below {MAX_CHANNELS}, got {channel}"
                        ),
                    );
                } else if channels.contains(&(channel as u32)) {
                    check.report(
                        &[section, "channels"],
                        Some(index),
                        format!("channel {channel} is listed twice"),
                    );
                } else {
                    channels.push(channel as u32);
                }
            }
            ChannelSelection::List(channels)
        }
    };

    let mode = config.mode.unwrap_or(defaults.mode);
    let period_ms = config
        .period_ms
        .map(|ms| check.float_in(&[section, "period_ms"], ms, PERIOD_MS_RANGE, " ms"));
    let buffer_ms = config
        .buffer_ms
        .map(|ms| check.float_in(&[section, "buffer_ms"], ms, BUFFER_MS_RANGE, " ms"));
    if period_ms.is_some() && mode == Mode::Shared {
        check.report(
            &[section, "period_ms"],
            None,
            "shared mode runs at the Windows engine period; remove period_ms or use shared-low-latency"
                .to_string(),
        );
    }
    if let Some(buffer_ms) = buffer_ms {
        if mode == Mode::SharedLowLatency {
            check.report(
                &[section, "buffer_ms"],
                None,
                "shared-low-latency mode sets only a period; remove buffer_ms or use period_ms"
                    .to_string(),
            );
        } else if let Some(period_ms) = period_ms {
            if mode == Mode::ExclusiveEvent && buffer_ms != period_ms {
                check.report(
                    &[section, "buffer_ms"],
                    None,
                    format!(
                        "in exclusive-event mode the buffer equals the period; buffer_ms ({buffer_ms}) differs from period_ms ({period_ms})"
                    ),
                );
            } else if buffer_ms < period_ms {
                check.report(
                    &[section, "buffer_ms"],
                    None,
                    format!("buffer_ms ({buffer_ms}) is shorter than period_ms ({period_ms})"),
                );
            }
        }
    }

    DirectionSettings {
        enabled: config.enabled.unwrap_or(defaults.enabled),
        device,
        mode,
        channels,
        sample_type: config.sample_type.unwrap_or(defaults.sample_type),
        period: period_ms.map(duration_from_ms),
        buffer_duration: buffer_ms.map(duration_from_ms),
    }
}

/// Compiles a device regex with a size limit, turning the regex crate's multi-line diagnostics
/// into one line.
fn compile_device_regex(pattern: &str) -> Result<Regex, String> {
    if pattern.is_empty() {
        return Err("device regex must not be empty".to_string());
    }
    regex::RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .build()
        .map_err(|error| {
            let detail = match &error {
                regex::Error::Syntax(text) => text
                    .lines()
                    .find_map(|line| line.strip_prefix("error: "))
                    .unwrap_or_else(|| text.lines().last().unwrap_or(""))
                    .to_string(),
                regex::Error::CompiledTooBig(_) => "the regex is too large".to_string(),
                other => other.to_string(),
            };
            format!("invalid regex {pattern:?}: {detail}")
        })
}

impl From<&Settings> for Config {
    /// The file contents for these settings, writing only values that differ from the defaults.
    fn from(settings: &Settings) -> Config {
        let defaults = Settings::default();
        let logging = &settings.logging;
        Config {
            sample_rate: settings.sample_rate,
            buffer: match settings.buffer {
                None => BufferConfig::default(),
                // A written [buffer] is saved whole, so that it stays written.
                Some(buffer) => BufferConfig {
                    min: Some(buffer.min as i64),
                    max: Some(buffer.max as i64),
                    preferred: Some(buffer.preferred as i64),
                    granularity: Some(match buffer.step {
                        BufferStep::PowerOfTwo => GranularityConfig::PowerOfTwo,
                        BufferStep::Frames(step) => GranularityConfig::Step(step as i64),
                    }),
                },
            },
            logging: LoggingConfig {
                enabled: logging.enabled,
                path: logging
                    .path
                    .as_ref()
                    .map(|path| path.to_string_lossy().into_owned()),
                level: (logging.level != defaults.logging.level).then_some(logging.level),
                max_size_kib: (logging.max_size_bytes != defaults.logging.max_size_bytes)
                    .then_some((logging.max_size_bytes / 1024) as i64),
                keep: (logging.keep != defaults.logging.keep).then_some(logging.keep as i64),
            },
            output: direction_config(&settings.output),
            input: direction_config(&settings.input),
        }
    }
}

fn direction_config(settings: &DirectionSettings) -> DirectionConfig {
    let defaults = DirectionSettings::default();
    DirectionConfig {
        enabled: (settings.enabled != defaults.enabled).then_some(settings.enabled),
        device: match &settings.device {
            DeviceSelector::Default => None,
            DeviceSelector::FollowDefault => Some(DeviceConfig::FollowDefault),
            DeviceSelector::Name(name) => Some(DeviceConfig::Name(name.clone())),
            DeviceSelector::Id(id) => Some(DeviceConfig::Id(id.clone())),
            DeviceSelector::Regex(regex) => Some(DeviceConfig::Regex(regex.as_str().to_string())),
        },
        mode: (settings.mode != defaults.mode).then_some(settings.mode),
        channels: match &settings.channels {
            ChannelSelection::All => None,
            ChannelSelection::Count(count) => Some(ChannelsConfig::Count(*count as i64)),
            ChannelSelection::List(list) => Some(ChannelsConfig::List(
                list.iter().map(|&c| c as i64).collect(),
            )),
        },
        sample_type: (settings.sample_type != defaults.sample_type).then_some(settings.sample_type),
        period_ms: settings.period.map(duration_to_ms),
        buffer_ms: settings.buffer_duration.map(duration_to_ms),
    }
}

fn duration_from_ms(ms: f64) -> Duration {
    Duration::from_nanos((ms * 1e6).round() as u64)
}

fn duration_to_ms(duration: Duration) -> f64 {
    duration.as_nanos() as f64 / 1e6
}
