//! The panel's form, OS-independent: the choices each picker offers, the selection read from
//! and written to a [`Config`], and the problems a selection has before it is saved.

use wasio_engine::config::{
    ChannelsConfig, Config, DeviceConfig, Mode, SampleTypeChoice, BUFFER_FRAMES_RANGE,
};
use wasio_engine::format::StreamFormat;

/// An endpoint as the panel needs it (filled from WASAPI enumeration).
#[derive(Clone, Debug, PartialEq)]
pub struct Endpoint {
    pub id: String,
    pub name: String,
    pub is_default: bool,
    /// Shared-mode mix format.
    pub mix: Option<StreamFormat>,
    /// Formats exclusive mode accepts.
    pub exclusive: Vec<StreamFormat>,
}

/// One entry of a device picker.
#[derive(Clone, Debug, PartialEq)]
pub struct DeviceChoice {
    pub label: String,
    /// What is written to the file; `None` for "no input" (the direction is disabled).
    pub device: Option<DeviceConfig>,
    /// The endpoint this choice means now, if it is connected.
    pub endpoint: Option<Endpoint>,
}

/// Buffer sizes offered, in frames (`None`: the driver's default).
pub const BUFFER_SIZES: [u32; 10] = [32, 64, 128, 256, 441, 480, 512, 1024, 2048, 4096];
/// Sample rates offered, in Hz.
pub const SAMPLE_RATES: [u32; 7] = [32_000, 44_100, 48_000, 88_200, 96_000, 176_400, 192_000];
/// Channel counts offered.
pub const CHANNEL_COUNTS: [u32; 5] = [1, 2, 4, 6, 8];

/// Everything the pickers offer.
#[derive(Clone, Debug, PartialEq)]
pub struct Choices {
    pub outputs: Vec<DeviceChoice>,
    pub inputs: Vec<DeviceChoice>,
    pub modes: Vec<Mode>,
    pub sample_types: Vec<SampleTypeChoice>,
    /// `None`: the driver's default.
    pub buffer_sizes: Vec<Option<u32>>,
    /// `None`: the device's rate.
    pub sample_rates: Vec<Option<u32>>,
    /// `None`: every channel.
    pub channels: Vec<Option<u32>>,
}

/// The index chosen in each picker.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    pub output: usize,
    pub input: usize,
    pub mode: usize,
    pub sample_type: usize,
    pub buffer_size: usize,
    pub sample_rate: usize,
    pub channels: usize,
}

fn endpoint_choices(endpoints: &[Endpoint]) -> Vec<DeviceChoice> {
    endpoints
        .iter()
        .map(|e| {
            let same_name = endpoints.iter().filter(|o| o.name == e.name).count() > 1;
            DeviceChoice {
                label: if e.is_default {
                    format!("{} (Windows default)", e.name)
                } else {
                    e.name.clone()
                },
                // The name reads better in the file; the ID when two endpoints share a name.
                device: Some(if same_name {
                    DeviceConfig::Id(e.id.clone())
                } else {
                    DeviceConfig::Name(e.name.clone())
                }),
                endpoint: Some(e.clone()),
            }
        })
        .collect()
}

fn default_choices(endpoints: &[Endpoint]) -> [DeviceChoice; 2] {
    let default = endpoints.iter().find(|e| e.is_default).cloned();
    [
        DeviceChoice {
            label: "Windows default device".into(),
            device: Some(DeviceConfig::Default),
            endpoint: default.clone(),
        },
        DeviceChoice {
            label: "Follow the Windows default".into(),
            device: Some(DeviceConfig::FollowDefault),
            endpoint: default,
        },
    ]
}

/// Adds `value` to `list` (kept sorted, `None` first) unless present; returns its index.
fn index_adding(list: &mut Vec<Option<u32>>, value: Option<u32>) -> usize {
    if let Some(index) = list.iter().position(|v| *v == value) {
        return index;
    }
    list.push(value);
    list.sort_by_key(|v| v.map_or(0, |v| v as u64 + 1));
    list.iter().position(|v| *v == value).unwrap_or(0)
}

fn device_index(choices: &mut Vec<DeviceChoice>, device: &DeviceConfig) -> usize {
    let found = choices.iter().position(|c| match (&c.device, device) {
        (Some(a), b) if a == b => true,
        (_, DeviceConfig::Name(name)) => c.endpoint.as_ref().is_some_and(|e| &e.name == name),
        (_, DeviceConfig::Id(id)) => c
            .endpoint
            .as_ref()
            .is_some_and(|e| e.id.eq_ignore_ascii_case(id)),
        _ => false,
    });
    found.unwrap_or_else(|| {
        // Keep what the file says even when that device is not connected now.
        let label = match device {
            DeviceConfig::Name(name) => format!("{name} (not connected)"),
            DeviceConfig::Id(id) => format!("{id} (not connected)"),
            DeviceConfig::Regex(regex) => format!("names matching /{regex}/"),
            DeviceConfig::Default => "Windows default device".into(),
            DeviceConfig::FollowDefault => "Follow the Windows default".into(),
        };
        choices.push(DeviceChoice {
            label,
            device: Some(device.clone()),
            endpoint: None,
        });
        choices.len() - 1
    })
}

impl Choices {
    /// The choices for these endpoints, and the selection that shows `config`. Values in the
    /// file that no picker offers are added to it, so opening and saving changes nothing.
    pub fn new(render: &[Endpoint], capture: &[Endpoint], config: &Config) -> (Choices, Selection) {
        let mut outputs: Vec<DeviceChoice> = default_choices(render).into();
        outputs.extend(endpoint_choices(render));
        let mut inputs = vec![DeviceChoice {
            label: "None (no inputs)".into(),
            device: None,
            endpoint: None,
        }];
        inputs.extend(default_choices(capture));
        inputs.extend(endpoint_choices(capture));
        let mut choices = Choices {
            outputs,
            inputs,
            modes: Mode::ALL.to_vec(),
            sample_types: SampleTypeChoice::ALL.to_vec(),
            buffer_sizes: std::iter::once(None)
                .chain(BUFFER_SIZES.iter().map(|&b| Some(b)))
                .collect(),
            sample_rates: std::iter::once(None)
                .chain(SAMPLE_RATES.iter().map(|&r| Some(r)))
                .collect(),
            channels: std::iter::once(None)
                .chain(CHANNEL_COUNTS.iter().map(|&c| Some(c)))
                .collect(),
        };
        let output = device_index(
            &mut choices.outputs,
            config
                .output
                .device
                .as_ref()
                .unwrap_or(&DeviceConfig::Default),
        );
        let input = if config.input.enabled == Some(false) {
            0
        } else {
            device_index(
                &mut choices.inputs,
                config
                    .input
                    .device
                    .as_ref()
                    .unwrap_or(&DeviceConfig::Default),
            )
        };
        let mode = config.output.mode.unwrap_or(Mode::Auto);
        let sample_type = config
            .output
            .sample_type
            .unwrap_or(SampleTypeChoice::Native);
        let buffer = config.buffer.preferred.and_then(|b| u32::try_from(b).ok());
        let rate = config
            .sample_rate
            .filter(|r| r.fract() == 0.0 && *r > 0.0 && *r < u32::MAX as f64)
            .map(|r| r as u32);
        let channels = match &config.output.channels {
            Some(ChannelsConfig::Count(n)) => u32::try_from(*n).ok(),
            _ => None,
        };
        let selection = Selection {
            output,
            input,
            mode: Mode::ALL.iter().position(|m| *m == mode).unwrap_or(0),
            sample_type: SampleTypeChoice::ALL
                .iter()
                .position(|t| *t == sample_type)
                .unwrap_or(0),
            buffer_size: index_adding(&mut choices.buffer_sizes, buffer),
            sample_rate: index_adding(&mut choices.sample_rates, rate),
            channels: index_adding(&mut choices.channels, channels),
        };
        (choices, selection)
    }

    pub fn output_labels(&self) -> Vec<String> {
        self.outputs.iter().map(|c| c.label.clone()).collect()
    }
    pub fn input_labels(&self) -> Vec<String> {
        self.inputs.iter().map(|c| c.label.clone()).collect()
    }
    pub fn mode_labels(&self) -> Vec<String> {
        self.modes
            .iter()
            .map(|m| {
                match m {
                    Mode::Auto => "auto (exclusive if possible, else shared)",
                    Mode::ExclusiveEvent => "exclusive, event-driven",
                    Mode::ExclusivePoll => "exclusive, polled",
                    Mode::SharedLowLatency => "shared, low latency",
                    Mode::Shared => "shared",
                }
                .to_string()
            })
            .collect()
    }
    pub fn sample_type_labels(&self) -> Vec<String> {
        self.sample_types
            .iter()
            .map(|t| match t {
                SampleTypeChoice::Native => "native (device format; float32 when shared)".into(),
                other => other.as_str().to_string(),
            })
            .collect()
    }
    pub fn buffer_size_labels(&self) -> Vec<String> {
        self.buffer_sizes
            .iter()
            .map(|b| match b {
                None => "driver default (the device period)".into(),
                Some(frames) => format!("{frames} frames"),
            })
            .collect()
    }
    pub fn sample_rate_labels(&self) -> Vec<String> {
        self.sample_rates
            .iter()
            .map(|r| match r {
                None => "the device's rate".into(),
                Some(rate) => format!("{rate} Hz"),
            })
            .collect()
    }
    pub fn channel_labels(&self) -> Vec<String> {
        self.channels
            .iter()
            .map(|c| match c {
                None => "all of the device's channels".into(),
                Some(1) => "1 channel".into(),
                Some(n) => format!("the first {n} channels"),
            })
            .collect()
    }

    /// The output endpoint the selection means now (for the tone and the checks).
    pub fn output_endpoint(&self, selection: &Selection) -> Option<&Endpoint> {
        self.outputs
            .get(selection.output)
            .and_then(|c| c.endpoint.as_ref())
    }

    /// Writes the selection into `config`, leaving every key the panel does not show as it
    /// was.
    pub fn apply(&self, selection: &Selection, config: &mut Config) {
        if let Some(choice) = self.outputs.get(selection.output) {
            config.output.device = match &choice.device {
                Some(DeviceConfig::Default) => None,
                other => other.clone(),
            };
        }
        if let Some(choice) = self.inputs.get(selection.input) {
            match &choice.device {
                None => {
                    config.input.enabled = Some(false);
                    config.input.device = None;
                }
                Some(device) => {
                    config.input.enabled = None;
                    config.input.device = match device {
                        DeviceConfig::Default => None,
                        other => Some(other.clone()),
                    };
                }
            }
        }
        config.output.mode = self
            .modes
            .get(selection.mode)
            .copied()
            .filter(|m| *m != Mode::Auto);
        config.output.sample_type = self
            .sample_types
            .get(selection.sample_type)
            .copied()
            .filter(|t| *t != SampleTypeChoice::Native);
        let buffer = self
            .buffer_sizes
            .get(selection.buffer_size)
            .copied()
            .flatten();
        config.buffer.preferred = buffer.map(i64::from);
        if let Some(frames) = buffer {
            // Widen the offered range when the preferred size lies outside the defaults.
            let min = config.buffer.min.unwrap_or(i64::from(BUFFER_DEFAULT_MIN));
            let max = config.buffer.max.unwrap_or(i64::from(BUFFER_DEFAULT_MAX));
            if i64::from(frames) < min {
                config.buffer.min = Some(frames.into());
            }
            if i64::from(frames) > max {
                config.buffer.max = Some(frames.into());
            }
        }
        config.sample_rate = self
            .sample_rates
            .get(selection.sample_rate)
            .copied()
            .flatten()
            .map(f64::from);
        config.output.channels = self
            .channels
            .get(selection.channels)
            .copied()
            .flatten()
            .map(|n| ChannelsConfig::Count(n.into()));
    }
}

const BUFFER_DEFAULT_MIN: u32 = 32;
const BUFFER_DEFAULT_MAX: u32 = 4096;
const _: () = assert!(BUFFER_DEFAULT_MIN >= BUFFER_FRAMES_RANGE.0);

/// Every reason `config` cannot work with `output` (the endpoint the output picker means),
/// in words. Empty when it can be saved.
pub fn problems(config: &Config, output: Option<&Endpoint>) -> Vec<String> {
    let mut problems: Vec<String> = match config.validate() {
        Ok(_) => Vec::new(),
        Err(issues) => issues
            .iter()
            .map(|issue| format!("{}: {}", issue.key(), issue.message))
            .collect(),
    };
    let Some(endpoint) = output else {
        return problems;
    };
    let mix = endpoint.mix;
    let rate = config
        .sample_rate
        .map(|r| r as u32)
        .or(mix.map(|m| m.sample_rate));
    let exclusive = matches!(
        config.output.mode,
        Some(Mode::ExclusiveEvent | Mode::ExclusivePoll)
    );
    if exclusive {
        if endpoint.exclusive.is_empty() {
            problems.push(format!(
                "{} accepts none of the tested formats in exclusive mode; choose shared or auto",
                endpoint.name
            ));
        } else if let Some(rate) = rate {
            if !endpoint.exclusive.iter().any(|f| f.sample_rate == rate) {
                let mut rates: Vec<u32> =
                    endpoint.exclusive.iter().map(|f| f.sample_rate).collect();
                rates.sort_unstable();
                rates.dedup();
                let list: Vec<String> = rates.iter().map(|r| r.to_string()).collect();
                problems.push(format!(
                    "{} does not accept {rate} Hz in exclusive mode; it accepts {} Hz",
                    endpoint.name,
                    list.join(", ")
                ));
            }
        }
    }
    if let (Some(ChannelsConfig::Count(wanted)), Some(mix)) = (&config.output.channels, mix) {
        if *wanted > i64::from(mix.channels) {
            problems.push(format!(
                "{} has {} channels; {wanted} were asked for",
                endpoint.name, mix.channels
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasio_engine::format::DeviceFormat;

    fn endpoint(name: &str, id: &str, default: bool, exclusive_rates: &[u32]) -> Endpoint {
        let mix = StreamFormat {
            sample_rate: 48_000,
            channels: 2,
            channel_mask: 3,
            encoding: DeviceFormat::Float32,
        };
        Endpoint {
            id: id.into(),
            name: name.into(),
            is_default: default,
            mix: Some(mix),
            exclusive: exclusive_rates
                .iter()
                .map(|&r| StreamFormat {
                    sample_rate: r,
                    encoding: DeviceFormat::Int16,
                    ..mix
                })
                .collect(),
        }
    }

    fn render() -> Vec<Endpoint> {
        vec![
            endpoint("Speakers", "{0.0.0}.{a}", true, &[44_100, 48_000]),
            endpoint("Headphones", "{0.0.0}.{b}", false, &[]),
        ]
    }

    #[test]
    fn defaults_open_and_save_unchanged() {
        let config = Config::default();
        let (choices, selection) = Choices::new(&render(), &[], &config);
        // Inputs are enabled by default: the input picker shows the default device.
        assert_eq!(
            selection,
            Selection {
                input: 1,
                ..Selection::default()
            }
        );
        assert_eq!(choices.output_labels()[2], "Speakers (Windows default)");
        assert_eq!(
            choices.input_labels(),
            [
                "None (no inputs)",
                "Windows default device",
                "Follow the Windows default"
            ]
        );
        let mut saved = config.clone();
        choices.apply(&selection, &mut saved);
        assert_eq!(saved, config);
        assert_eq!(
            choices.output_endpoint(&selection).unwrap().name,
            "Speakers"
        );
    }

    #[test]
    fn a_file_opens_with_its_values_selected_and_round_trips() {
        let text = "sample_rate = 22050\n[buffer]\npreferred = 300\nmin = 16\n[output]\ndevice = { name = \"Headphones\" }\nmode = \"shared\"\nsample_type = \"int24\"\nchannels = 2\n[input]\nenabled = false\n[logging]\nlevel = \"debug\"\n";
        let config = Config::parse(text, std::path::Path::new("Wasio.toml")).unwrap();
        let (choices, selection) = Choices::new(&render(), &[], &config);
        assert_eq!(choices.outputs[selection.output].label, "Headphones");
        assert_eq!(choices.modes[selection.mode], Mode::Shared);
        assert_eq!(
            choices.sample_types[selection.sample_type],
            SampleTypeChoice::Int24
        );
        assert_eq!(
            choices.buffer_sizes[selection.buffer_size],
            Some(300),
            "added to the list"
        );
        assert_eq!(choices.sample_rates[selection.sample_rate], Some(22_050));
        assert_eq!(choices.channels[selection.channels], Some(2));
        assert_eq!(selection.input, 0);
        let mut saved = config.clone();
        choices.apply(&selection, &mut saved);
        assert_eq!(saved, config, "logging and min kept, nothing changed");
    }

    #[test]
    fn a_device_that_is_not_connected_stays_selected() {
        let config = Config::parse(
            "[output]\ndevice = { name = \"USB DAC\" }\n",
            std::path::Path::new("Wasio.toml"),
        )
        .unwrap();
        let (choices, selection) = Choices::new(&render(), &[], &config);
        assert_eq!(
            choices.outputs[selection.output].label,
            "USB DAC (not connected)"
        );
        assert!(choices.output_endpoint(&selection).is_none());
    }

    #[test]
    fn duplicate_names_are_saved_by_id() {
        let mut endpoints = render();
        endpoints[1].name = "Speakers".into();
        let (choices, _) = Choices::new(&endpoints, &[], &Config::default());
        assert_eq!(
            choices.outputs[3].device,
            Some(DeviceConfig::Id("{0.0.0}.{b}".into()))
        );
    }

    #[test]
    fn small_and_large_buffers_widen_the_range() {
        let (choices, mut selection) = Choices::new(&render(), &[], &Config::default());
        selection.buffer_size = choices
            .buffer_sizes
            .iter()
            .position(|b| *b == Some(4096))
            .unwrap();
        let mut config = Config::default();
        choices.apply(&selection, &mut config);
        assert_eq!(config.buffer.preferred, Some(4096));
        assert!(problems(&config, None).is_empty());
    }

    #[test]
    fn combinations_that_cannot_work_are_explained() {
        let endpoints = render();
        let (choices, mut selection) = Choices::new(&endpoints, &[], &Config::default());
        selection.mode = choices
            .modes
            .iter()
            .position(|m| *m == Mode::ExclusiveEvent)
            .unwrap();
        selection.sample_rate = choices
            .sample_rates
            .iter()
            .position(|r| *r == Some(96_000))
            .unwrap();
        selection.channels = choices.channels.iter().position(|c| *c == Some(6)).unwrap();
        let mut config = Config::default();
        choices.apply(&selection, &mut config);
        let found = problems(&config, choices.output_endpoint(&selection));
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].contains("does not accept 96000 Hz") && found[0].contains("44100, 48000"));
        assert!(found[1].contains("has 2 channels; 6 were asked for"));
        // The headphones refuse exclusive mode altogether.
        let found = problems(&config, Some(&endpoints[1]));
        assert!(
            found[0].contains("accepts none of the tested formats"),
            "{found:?}"
        );
        // Shared mode at the same rate is fine.
        config.output.mode = Some(Mode::Shared);
        config.output.channels = None;
        assert!(problems(&config, Some(&endpoints[0])).is_empty());
        // Validation problems come through with their key.
        config.buffer.min = Some(8);
        let found = problems(&config, None);
        assert!(found[0].starts_with("buffer.min:"), "{found:?}");
    }
}
