//! The report of `wasio info`: what a driver says about itself, as text or JSON.

use std::fmt::Write;

use asio_abi::{error_name, AsioError, SampleType, ASE_OK, ASE_SUCCESS};

use crate::error::AsioErrorWithMessage;
use crate::json::Json;

/// Rates probed with `canSampleRate`.
pub const COMMON_RATES: [f64; 13] = [
    8000.0, 11025.0, 16000.0, 22050.0, 32000.0, 44100.0, 48000.0, 88200.0, 96000.0, 176400.0,
    192000.0, 352800.0, 384000.0,
];

/// One channel as `getChannelInfo` describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct ChannelReport {
    pub index: i32,
    pub is_input: bool,
    pub is_active: bool,
    pub group: i32,
    pub sample_type: i32,
    pub name: String,
}

/// `getBufferSize` results.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufferSizes {
    pub min: i32,
    pub max: i32,
    pub preferred: i32,
    pub granularity: i32,
}

impl BufferSizes {
    /// What the granularity means: -1 powers of two, 0 a single size, n steps of n.
    pub fn granularity_meaning(&self) -> String {
        match self.granularity {
            -1 => "powers of two".into(),
            0 => "single size".into(),
            n if n > 0 => format!("steps of {n}"),
            n => format!("invalid ({n})"),
        }
    }
}

/// One clock source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClockReport {
    pub index: i32,
    pub name: String,
    pub is_current: bool,
}

/// Everything `wasio info` gathers. Each query keeps its own result so that one failing
/// call does not hide the others.
#[derive(Clone, Debug, PartialEq)]
pub struct DriverReport {
    /// Registry key of the driver.
    pub registry_name: String,
    pub clsid: String,
    pub dll_path: Option<String>,
    pub driver_name: String,
    pub driver_version: i32,
    /// `(inputs, outputs)`.
    pub channel_counts: Result<(i32, i32), AsioErrorWithMessage>,
    /// Channels whose `getChannelInfo` worked; failures are in `channel_errors`.
    pub channels: Vec<ChannelReport>,
    pub channel_errors: Vec<(bool, i32, AsioErrorWithMessage)>,
    pub buffer_sizes: Result<BufferSizes, AsioErrorWithMessage>,
    /// `(input, output)` in samples.
    pub latencies: Result<(i32, i32), AsioErrorWithMessage>,
    pub sample_rate: Result<f64, AsioErrorWithMessage>,
    /// `(rate, canSampleRate code)`.
    pub rates: Vec<(f64, AsioError)>,
    pub clock_sources: Result<Vec<ClockReport>, AsioErrorWithMessage>,
    /// `(future selector name, code)`.
    pub features: Vec<(&'static str, AsioError)>,
}

fn sample_type_name(raw: i32) -> String {
    SampleType::try_from(raw)
        .map(|t| t.name().to_string())
        .unwrap_or_else(|_| format!("unknown({raw})"))
}

fn result_json<T>(result: &Result<T, AsioErrorWithMessage>, ok: impl Fn(&T) -> Json) -> Json {
    match result {
        Ok(value) => ok(value),
        Err(error) => Json::object([("failed", error.to_json())]),
    }
}

/// Whether a `future` code means "supported".
pub fn future_supported(code: AsioError) -> bool {
    code == ASE_SUCCESS || code == ASE_OK
}

impl DriverReport {
    /// Human-readable, one fact per line.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "Registry key:  {}", self.registry_name);
        let _ = writeln!(out, "CLSID:         {}", self.clsid);
        let _ = writeln!(
            out,
            "DLL:           {}",
            self.dll_path.as_deref().unwrap_or("(not registered)")
        );
        let _ = writeln!(out, "Driver name:   {}", self.driver_name);
        let _ = writeln!(out, "Version:       {}", self.driver_version);
        match &self.channel_counts {
            Ok((inputs, outputs)) => {
                let _ = writeln!(out, "Channels:      {inputs} in, {outputs} out");
            }
            Err(e) => {
                let _ = writeln!(out, "Channels:      {e}");
            }
        }
        match &self.buffer_sizes {
            Ok(b) => {
                let _ = writeln!(
                    out,
                    "Buffer sizes:  min {}, max {}, preferred {}, granularity {} ({})",
                    b.min,
                    b.max,
                    b.preferred,
                    b.granularity,
                    b.granularity_meaning()
                );
            }
            Err(e) => {
                let _ = writeln!(out, "Buffer sizes:  {e}");
            }
        }
        match &self.latencies {
            Ok((input, output)) => {
                let _ = writeln!(out, "Latencies:     input {input}, output {output} samples");
            }
            Err(e) => {
                let _ = writeln!(out, "Latencies:     {e}");
            }
        }
        match &self.sample_rate {
            Ok(rate) => {
                let _ = writeln!(out, "Sample rate:   {rate} Hz");
            }
            Err(e) => {
                let _ = writeln!(out, "Sample rate:   {e}");
            }
        }
        let supported: Vec<String> = self
            .rates
            .iter()
            .filter(|(_, code)| *code == ASE_OK)
            .map(|(rate, _)| format!("{rate}"))
            .collect();
        let _ = writeln!(
            out,
            "Rates:         {}",
            if supported.is_empty() {
                "none of the common rates".to_string()
            } else {
                supported.join(", ")
            }
        );
        match &self.clock_sources {
            Ok(clocks) => {
                let list: Vec<String> = clocks
                    .iter()
                    .map(|c| {
                        let current = if c.is_current { " (current)" } else { "" };
                        format!("{} \"{}\"{current}", c.index, c.name)
                    })
                    .collect();
                let _ = writeln!(out, "Clock sources: {}", list.join(", "));
            }
            Err(e) => {
                let _ = writeln!(out, "Clock sources: {e}");
            }
        }
        for (name, code) in &self.features {
            let answer = if future_supported(*code) { "yes" } else { "no" };
            let _ = writeln!(out, "{name:<30} {answer} ({})", error_name(*code));
        }
        for is_input in [true, false] {
            let _ = writeln!(out, "{}:", if is_input { "Inputs" } else { "Outputs" });
            for c in self.channels.iter().filter(|c| c.is_input == is_input) {
                let _ = writeln!(
                    out,
                    "  {:>3}  {:<32} {:<18} group {}{}",
                    c.index,
                    c.name,
                    sample_type_name(c.sample_type),
                    c.group,
                    if c.is_active { ", active" } else { "" }
                );
            }
            for (_, index, e) in self
                .channel_errors
                .iter()
                .filter(|(i, _, _)| *i == is_input)
            {
                let _ = writeln!(out, "  {index:>3}  {e}");
            }
        }
        out
    }

    /// The same facts as JSON.
    pub fn to_json(&self) -> Json {
        let channel_json = |c: &ChannelReport| {
            Json::object([
                ("index", Json::from(c.index)),
                ("input", Json::from(c.is_input)),
                ("name", Json::string(c.name.clone())),
                ("sample_type", Json::string(sample_type_name(c.sample_type))),
                ("sample_type_value", Json::from(c.sample_type)),
                ("group", Json::from(c.group)),
                ("active", Json::from(c.is_active)),
            ])
        };
        Json::object([
            ("registry_name", Json::string(self.registry_name.clone())),
            ("clsid", Json::string(self.clsid.clone())),
            ("dll", Json::opt(self.dll_path.clone())),
            ("driver_name", Json::string(self.driver_name.clone())),
            ("driver_version", Json::from(self.driver_version)),
            (
                "channels",
                result_json(&self.channel_counts, |(i, o)| {
                    Json::object([("inputs", Json::from(*i)), ("outputs", Json::from(*o))])
                }),
            ),
            (
                "channel_info",
                Json::Array(self.channels.iter().map(channel_json).collect()),
            ),
            (
                "channel_info_errors",
                Json::Array(
                    self.channel_errors
                        .iter()
                        .map(|(input, index, e)| {
                            Json::object([
                                ("input", Json::from(*input)),
                                ("index", Json::from(*index)),
                                ("failed", e.to_json()),
                            ])
                        })
                        .collect(),
                ),
            ),
            (
                "buffer_sizes",
                result_json(&self.buffer_sizes, |b| {
                    Json::object([
                        ("min", Json::from(b.min)),
                        ("max", Json::from(b.max)),
                        ("preferred", Json::from(b.preferred)),
                        ("granularity", Json::from(b.granularity)),
                    ])
                }),
            ),
            (
                "latencies",
                result_json(&self.latencies, |(i, o)| {
                    Json::object([("input", Json::from(*i)), ("output", Json::from(*o))])
                }),
            ),
            (
                "sample_rate",
                result_json(&self.sample_rate, |r| Json::from(*r)),
            ),
            (
                "can_sample_rate",
                Json::Array(
                    self.rates
                        .iter()
                        .map(|(rate, code)| {
                            Json::object([
                                ("rate", Json::from(*rate)),
                                ("supported", Json::from(*code == ASE_OK)),
                                ("code", Json::string(error_name(*code))),
                            ])
                        })
                        .collect(),
                ),
            ),
            (
                "clock_sources",
                result_json(&self.clock_sources, |clocks| {
                    Json::Array(
                        clocks
                            .iter()
                            .map(|c| {
                                Json::object([
                                    ("index", Json::from(c.index)),
                                    ("name", Json::string(c.name.clone())),
                                    ("current", Json::from(c.is_current)),
                                ])
                            })
                            .collect(),
                    )
                }),
            ),
            (
                "future",
                Json::Object(
                    self.features
                        .iter()
                        .map(|(name, code)| {
                            (
                                name.to_string(),
                                Json::object([
                                    ("supported", Json::from(future_supported(*code))),
                                    ("code", Json::string(error_name(*code))),
                                ]),
                            )
                        })
                        .collect(),
                ),
            ),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use asio_abi::{ASE_INVALID_PARAMETER, ASE_NO_CLOCK};

    fn sample() -> DriverReport {
        DriverReport {
            registry_name: "Wasio".into(),
            clsid: "{00000000-0000-0000-0000-000000000001}".into(),
            dll_path: Some("C:\\wasio\\wasio_driver.dll".into()),
            driver_name: "Wasio".into(),
            driver_version: 3,
            channel_counts: Ok((1, 2)),
            channels: vec![
                ChannelReport {
                    index: 0,
                    is_input: true,
                    is_active: false,
                    group: 0,
                    sample_type: SampleType::Float32Lsb as i32,
                    name: "In 1".into(),
                },
                ChannelReport {
                    index: 0,
                    is_input: false,
                    is_active: false,
                    group: 0,
                    sample_type: 99,
                    name: "Out 1".into(),
                },
            ],
            channel_errors: vec![(
                false,
                1,
                AsioErrorWithMessage {
                    call: "getChannelInfo",
                    code: ASE_INVALID_PARAMETER,
                    message: "bad".into(),
                },
            )],
            buffer_sizes: Ok(BufferSizes {
                min: 32,
                max: 2048,
                preferred: 480,
                granularity: -1,
            }),
            latencies: Err(AsioErrorWithMessage {
                call: "getLatencies",
                code: -1000,
                message: String::new(),
            }),
            sample_rate: Ok(48000.0),
            rates: vec![(44100.0, ASE_NO_CLOCK), (48000.0, ASE_OK)],
            clock_sources: Ok(vec![ClockReport {
                index: 0,
                name: "Internal".into(),
                is_current: true,
            }]),
            features: vec![("kAsioCanTimeInfo", ASE_SUCCESS)],
        }
    }

    #[test]
    fn text_report_lists_every_fact() {
        let text = sample().to_text();
        for expected in [
            "Channels:      1 in, 2 out",
            "Buffer sizes:  min 32, max 2048, preferred 480, granularity -1 (powers of two)",
            "Latencies:     getLatencies failed: ASE_NotPresent (-1000)",
            "Sample rate:   48000 Hz",
            "Rates:         48000\n",
            "Clock sources: 0 \"Internal\" (current)",
            "kAsioCanTimeInfo               yes (ASE_SUCCESS)",
            "In 1",
            "ASIOSTFloat32LSB",
            "unknown(99)",
            "    1  getChannelInfo failed: ASE_InvalidParameter (-998): bad",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
    }

    #[test]
    fn json_report_has_results_and_failures() {
        let json = sample().to_json().to_pretty();
        for expected in [
            "\"inputs\": 1",
            "\"preferred\": 480",
            "\"latencies\": {\n    \"failed\": {",
            "\"error\": \"ASE_NotPresent\"",
            "\"sample_rate\": 48000.0",
            "\"sample_type\": \"ASIOSTFloat32LSB\"",
            "\"supported\": false,\n      \"code\": \"ASE_NoClock\"",
            "\"kAsioCanTimeInfo\": {\n      \"supported\": true",
            "\"dll\": \"C:\\\\wasio\\\\wasio_driver.dll\"",
        ] {
            assert!(json.contains(expected), "missing {expected:?} in\n{json}");
        }
    }

    #[test]
    fn granularity_meanings() {
        let sizes = |granularity| BufferSizes {
            min: 1,
            max: 1,
            preferred: 1,
            granularity,
        };
        assert_eq!(sizes(-1).granularity_meaning(), "powers of two");
        assert_eq!(sizes(0).granularity_meaning(), "single size");
        assert_eq!(sizes(32).granularity_meaning(), "steps of 32");
        assert_eq!(sizes(-5).granularity_meaning(), "invalid (-5)");
    }
}
