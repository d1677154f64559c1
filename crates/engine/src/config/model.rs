//! `Config`: the file's contents as written, before validation. Every key is optional; a missing
//! key means "use the default". The control panel edits this and saves it with [`Config::save`].

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

/// Defines a C-like enum written in the file as one of a fixed set of lower-case words, with an
/// error message that names the kind of value and lists the words.
macro_rules! keyword_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident ($what:literal) {
            $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every value, in documentation order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The word used in the file.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// The accepted words, comma-separated.
            pub fn expected() -> String {
                Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
            }
        }

        impl FromStr for $name {
            type Err = String;

            fn from_str(text: &str) -> Result<Self, String> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == text)
                    .ok_or_else(|| {
                        format!("unknown {} {:?}; expected one of {}", $what, text, Self::expected())
                    })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct KeywordVisitor;
                impl Visitor<'_> for KeywordVisitor {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        write!(f, "a {}: one of {}", $what, $name::expected())
                    }
                    fn visit_str<E: de::Error>(self, text: &str) -> Result<$name, E> {
                        text.parse().map_err(E::custom)
                    }
                }
                deserializer.deserialize_str(KeywordVisitor)
            }
        }
    };
}

keyword_enum! {
    /// How a direction's WASAPI stream is opened.
    pub enum Mode ("mode") {
        /// Exclusive event-driven if the device allows it, else shared low-latency, else shared.
        Auto = "auto",
        /// Exclusive mode, event-driven (`AUDCLNT_STREAMFLAGS_EVENTCALLBACK`).
        ExclusiveEvent = "exclusive-event",
        /// Exclusive mode, the driver polls the device on a timer.
        ExclusivePoll = "exclusive-poll",
        /// Shared mode with the smallest engine period (`IAudioClient3`).
        SharedLowLatency = "shared-low-latency",
        /// Plain shared mode, through the Windows mixer.
        Shared = "shared",
    }
}

keyword_enum! {
    /// The ASIO sample type the driver offers the host for a direction.
    pub enum SampleTypeChoice ("sample type") {
        /// The device's own format in exclusive mode (no conversion); 32-bit float in shared mode.
        Native = "native",
        /// `ASIOSTFloat32LSB`.
        Float32 = "float32",
        /// `ASIOSTFloat64LSB`.
        Float64 = "float64",
        /// `ASIOSTInt16LSB`.
        Int16 = "int16",
        /// `ASIOSTInt24LSB` (packed, 3 bytes per sample).
        Int24 = "int24",
        /// `ASIOSTInt32LSB`.
        Int32 = "int32",
        /// `ASIOSTInt32LSB16`: 16-bit samples in the low bits of 32-bit words.
        Int32Lsb16 = "int32-16",
        /// `ASIOSTInt32LSB18`: 18-bit samples in the low bits of 32-bit words.
        Int32Lsb18 = "int32-18",
        /// `ASIOSTInt32LSB20`: 20-bit samples in the low bits of 32-bit words.
        Int32Lsb20 = "int32-20",
        /// `ASIOSTInt32LSB24`: 24-bit samples in the low bits of 32-bit words.
        Int32Lsb24 = "int32-24",
    }
}

keyword_enum! {
    /// The most detailed level written to the log; levels compare from `Error` (least
    /// detailed) to `Trace`.
    pub enum LogLevel ("log level") {
        Error = "error",
        Warn = "warn",
        Info = "info",
        /// Adds every ASIO call and state change.
        Debug = "debug",
        /// Adds per-buffer events (`getSamplePosition`, buffer switches).
        Trace = "trace",
    }
}

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Default sample rate in Hz, used until the host sets one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample_rate: Option<f64>,
    /// The buffer sizes offered to the host.
    #[serde(skip_serializing_if = "BufferConfig::is_empty")]
    pub buffer: BufferConfig,
    #[serde(skip_serializing_if = "LoggingConfig::is_empty")]
    pub logging: LoggingConfig,
    #[serde(skip_serializing_if = "DirectionConfig::is_empty")]
    pub output: DirectionConfig,
    #[serde(skip_serializing_if = "DirectionConfig::is_empty")]
    pub input: DirectionConfig,
}

/// `[buffer]`: the buffer sizes, in frames, the driver offers (ASIO `getBufferSize`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BufferConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub granularity: Option<GranularityConfig>,
}

impl BufferConfig {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// `granularity = "power-of-two"` or a step in frames, e.g. `granularity = 32`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum GranularityConfig {
    PowerOfTwo,
    Step(i64),
}

const POWER_OF_TWO: &str = "power-of-two";

impl Serialize for GranularityConfig {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            GranularityConfig::PowerOfTwo => serializer.serialize_str(POWER_OF_TWO),
            GranularityConfig::Step(step) => serializer.serialize_i64(*step),
        }
    }
}

impl<'de> Deserialize<'de> for GranularityConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct GranularityVisitor;
        impl Visitor<'_> for GranularityVisitor {
            type Value = GranularityConfig;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "\"{POWER_OF_TWO}\" or a step in frames")
            }
            fn visit_i64<E: de::Error>(self, step: i64) -> Result<Self::Value, E> {
                Ok(GranularityConfig::Step(step))
            }
            fn visit_u64<E: de::Error>(self, step: u64) -> Result<Self::Value, E> {
                Ok(GranularityConfig::Step(
                    i64::try_from(step).unwrap_or(i64::MAX),
                ))
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
                if text == POWER_OF_TWO {
                    Ok(GranularityConfig::PowerOfTwo)
                } else {
                    Err(E::custom(format!(
                        "unknown granularity {text:?}; expected \"{POWER_OF_TWO}\" or a step in frames such as 1 or 32"
                    )))
                }
            }
        }
        deserializer.deserialize_any(GranularityVisitor)
    }
}

/// `[logging]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoggingConfig {
    /// `true` logs, `false` does not even if the log file exists, absent: log if the file exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<LogLevel>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_size_kib: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep: Option<i64>,
}

impl LoggingConfig {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// `[output]` or `[input]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DirectionConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<DeviceConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channels: Option<ChannelsConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample_type: Option<SampleTypeChoice>,
    /// WASAPI period override, milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period_ms: Option<f64>,
    /// WASAPI buffer duration override, milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buffer_ms: Option<f64>,
}

impl DirectionConfig {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// `device = "default" | "follow-default" | { name = "…" } | { id = "…" } | { regex = "…" }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceConfig {
    Default,
    FollowDefault,
    Name(String),
    Id(String),
    Regex(String),
}

const DEVICE_EXPECTED: &str =
    "\"default\", \"follow-default\", { name = \"…\" }, { id = \"…\" } or { regex = \"…\" }";

impl Serialize for DeviceConfig {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (key, value) = match self {
            DeviceConfig::Default => return serializer.serialize_str("default"),
            DeviceConfig::FollowDefault => return serializer.serialize_str("follow-default"),
            DeviceConfig::Name(name) => ("name", name),
            DeviceConfig::Id(id) => ("id", id),
            DeviceConfig::Regex(regex) => ("regex", regex),
        };
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry(key, value)?;
        map.end()
    }
}

impl<'de> Deserialize<'de> for DeviceConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DeviceVisitor;
        impl<'de> Visitor<'de> for DeviceVisitor {
            type Value = DeviceConfig;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a device: {DEVICE_EXPECTED}")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
                match text {
                    "default" => Ok(DeviceConfig::Default),
                    "follow-default" => Ok(DeviceConfig::FollowDefault),
                    _ => Err(E::custom(format!(
                        "unknown device {text:?}; expected {DEVICE_EXPECTED} (to select a device by name, write {{ name = {text:?} }})"
                    ))),
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut found: Option<DeviceConfig> = None;
                while let Some(key) = map.next_key::<String>()? {
                    let make: fn(String) -> DeviceConfig = match key.as_str() {
                        "name" => DeviceConfig::Name,
                        "id" => DeviceConfig::Id,
                        "regex" => DeviceConfig::Regex,
                        _ => {
                            return Err(de::Error::custom(format!(
                            "unknown device key {key:?}; expected exactly one of name, id or regex"
                        )))
                        }
                    };
                    let value: String = map.next_value()?;
                    if found.is_some() {
                        return Err(de::Error::custom(
                            "a device table takes exactly one of name, id or regex",
                        ));
                    }
                    found = Some(make(value));
                }
                found.ok_or_else(|| {
                    de::Error::custom("a device table takes exactly one of name, id or regex")
                })
            }
        }
        deserializer.deserialize_any(DeviceVisitor)
    }
}

/// `channels = 2` (the first two) or `channels = [0, 1]` (0-based device channels).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelsConfig {
    Count(i64),
    List(Vec<i64>),
}

impl Serialize for ChannelsConfig {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ChannelsConfig::Count(count) => serializer.serialize_i64(*count),
            ChannelsConfig::List(list) => list.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for ChannelsConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ChannelsVisitor;
        impl<'de> Visitor<'de> for ChannelsVisitor {
            type Value = ChannelsConfig;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a channel count or a list of 0-based channel numbers")
            }
            fn visit_i64<E: de::Error>(self, count: i64) -> Result<Self::Value, E> {
                Ok(ChannelsConfig::Count(count))
            }
            fn visit_u64<E: de::Error>(self, count: u64) -> Result<Self::Value, E> {
                Ok(ChannelsConfig::Count(
                    i64::try_from(count).unwrap_or(i64::MAX),
                ))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut list = Vec::new();
                while let Some(channel) = seq.next_element::<i64>()? {
                    list.push(channel);
                }
                Ok(ChannelsConfig::List(list))
            }
        }
        deserializer.deserialize_any(ChannelsVisitor)
    }
}
