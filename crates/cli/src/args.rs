//! Command-line parsing.
//!
//! Hand-written rather than `clap`: five subcommands with two flags do not justify a
//! dependency that roughly doubles the cross-build time on this 2-core machine, and the
//! parser is small enough to test exhaustively.

use std::fmt;

/// Driver opened when `--driver` is not given.
pub const DEFAULT_DRIVER: &str = "Wasio";

/// A parsed command line.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// `wasio drivers [--json]`: list the registered ASIO drivers.
    Drivers { json: bool },
    /// `wasio info [--driver NAME] [--json]`: describe one driver.
    Info { driver: String, json: bool },
    /// `wasio misuse [--driver NAME] [--json]`: call a driver the wrong way and check its
    /// answers.
    Misuse { driver: String, json: bool },
    /// `wasio register <dll> [--json]`: call the DLL's `DllRegisterServer`.
    Register { dll: String, json: bool },
    /// `wasio unregister <dll> [--json]`: call the DLL's `DllUnregisterServer`.
    Unregister { dll: String, json: bool },
    /// `wasio rates [--driver NAME] [--rates R,R,…] [--seconds S]`: show the output mode,
    /// stream silence and switch the sample rate while running, S seconds at each rate.
    Rates {
        driver: String,
        rates: Vec<f64>,
        seconds: f64,
    },
    /// `wasio devices [--json]`: every WASAPI endpoint.
    Devices { json: bool },
    /// `wasio config check [--file PATH] [--json]`: validate the configuration file.
    ConfigCheck { file: Option<String>, json: bool },
    /// `wasio test [...]`: a host session on a driver, step by step.
    Test(TestOptions),
    /// `wasio status [--json]`: what running driver instances are doing.
    Status { json: bool },
    /// `wasio latency [...]`: measure the round trip, compare with getLatencies.
    Latency(crate::latency::LatencyOptions),
    /// `wasio unload-check [...]`: a host session, then the DLL must unload cleanly.
    UnloadCheck(UnloadOptions),
    /// `wasio help`, `--help`, `-h`.
    Help,
}

/// Options of `wasio unload-check`.
#[derive(Clone, Debug, PartialEq)]
pub struct UnloadOptions {
    pub driver: String,
    /// `--seconds`: streaming time before stop (default 1).
    pub seconds: f64,
    /// `--reset`: touch `%USERPROFILE%\Wasio.toml` while streaming, wait for the driver's
    /// `kAsioResetRequest`, then put the file back.
    pub reset: bool,
    pub json: bool,
}

/// Switches `wasio test` runs when neither `--switches` nor `--play` says otherwise.
pub const DEFAULT_TEST_SWITCHES: u32 = 64;
/// Most switches `wasio test` accepts (about 20 minutes at 32 frames and 48 kHz).
pub const MAX_TEST_SWITCHES: u32 = 1_000_000;

/// Options of `wasio test`.
#[derive(Clone, Debug, PartialEq)]
pub struct TestOptions {
    pub driver: String,
    /// `--rate`: the sample rate to set; default: the driver's current rate.
    pub rate: Option<f64>,
    /// `--buffer`: frames per buffer; default: the driver's preferred size.
    pub buffer: Option<i32>,
    /// `--switches`: buffer switches to run; with `--play`, at least the file's length.
    pub switches: Option<u32>,
    /// `--play`: a WAV file played into the outputs.
    pub play: Option<String>,
    /// `--record`: where to write what was put into the output buffers.
    pub record: Option<String>,
    pub json: bool,
}

impl Eq for TestOptions {}

/// A command line that could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// The help text.
pub const USAGE: &str = "\
usage: wasio <command> [options]

commands:
  drivers [--json]                 list the ASIO drivers registered on this machine
  info [--driver NAME] [--json]    open a driver and print what it reports
  misuse [--driver NAME] [--json]  call a driver the wrong way, check every answer
  register <dll> [--json]          call DllRegisterServer of a driver DLL
  unregister <dll> [--json]        call DllUnregisterServer of a driver DLL
  rates [--driver NAME] [--rates 44100,48000,96000] [--seconds 2]
                                   show the output mode, stream, switch rates while running
  devices [--json]                 every audio endpoint: state, ID, formats, periods
  config check [--file PATH] [--json]
                                   validate Wasio.toml (default %USERPROFILE%\\Wasio.toml)
  test [--driver NAME] [--rate HZ] [--buffer FRAMES] [--switches N]
       [--play IN.wav] [--record OUT.wav] [--json]
                                   act as an ASIO host, check each step, PASS/FAIL
  status [--json]                  what running driver instances are doing
  latency [--driver NAME] [--rate HZ] [--buffer FRAMES] [--seconds S] [--json]
                                   round trip output 1 -> input 1, against getLatencies
  unload-check [--driver NAME] [--seconds S] [--reset] [--json]
                                   stream, release, then check the DLL unloads cleanly
  help                             this text

NAME is the driver's registry key or description (default: Wasio), matched without case.
Exit codes: 0 success, 1 failure, 2 usage error. See docs/CLI.md.";

/// The options of a command that takes only `--json`: whether it was given.
fn json_only(rest: &[String]) -> Result<bool, UsageError> {
    let options = Options::parse(rest, &["--json"], &[])?;
    options.no_positionals()?;
    Ok(options.has("--json"))
}

/// The options of a command that takes `--driver NAME` and `--json`.
fn driver_and_json(rest: &[String]) -> Result<(String, bool), UsageError> {
    let options = Options::parse(rest, &["--json"], &["--driver"])?;
    options.no_positionals()?;
    Ok((options.driver(), options.has("--json")))
}

/// Parses the arguments after the program name.
pub fn parse<I, S>(args: I) -> Result<Command, UsageError>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let mut args = args.into_iter().map(Into::into);
    let Some(command) = args.next() else {
        return Err(UsageError("missing command".into()));
    };
    let rest: Vec<String> = args.collect();
    match command.as_str() {
        "help" | "--help" | "-h" => Ok(Command::Help),
        "drivers" => Ok(Command::Drivers {
            json: json_only(&rest)?,
        }),
        "info" => {
            let (driver, json) = driver_and_json(&rest)?;
            Ok(Command::Info { driver, json })
        }
        "misuse" => {
            let (driver, json) = driver_and_json(&rest)?;
            Ok(Command::Misuse { driver, json })
        }
        "rates" => {
            let options = Options::parse(&rest, &[], &["--driver", "--rates", "--seconds"])?;
            options.no_positionals()?;
            let rates = options
                .value("--rates")
                .unwrap_or("44100,48000,96000")
                .split(',')
                .map(|r| r.trim().parse::<f64>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| UsageError("--rates: expected numbers separated by commas".into()))?;
            let seconds = match options.value("--seconds") {
                None => 2.0,
                Some(text) => text
                    .parse::<f64>()
                    .ok()
                    .filter(|s| (0.1..=60.0).contains(s))
                    .ok_or_else(|| UsageError("--seconds: a number from 0.1 to 60".into()))?,
            };
            Ok(Command::Rates {
                driver: options.driver(),
                rates,
                seconds,
            })
        }
        "devices" => Ok(Command::Devices {
            json: json_only(&rest)?,
        }),
        "status" => Ok(Command::Status {
            json: json_only(&rest)?,
        }),
        "config" => {
            let options = Options::parse(&rest, &["--json"], &["--file"])?;
            match options.positionals.as_slice() {
                [sub] if sub == "check" => Ok(Command::ConfigCheck {
                    file: options.value("--file").map(str::to_string),
                    json: options.has("--json"),
                }),
                [] => Err(UsageError("config: missing subcommand (check)".into())),
                [sub, ..] if sub != "check" => Err(UsageError(format!(
                    "config: unknown subcommand '{sub}' (expected check)"
                ))),
                [_, extra, ..] => Err(UsageError(format!("unexpected argument '{extra}'"))),
                _ => unreachable!("every length is matched above"),
            }
        }
        "test" => {
            let options = Options::parse(
                &rest,
                &["--json"],
                &[
                    "--driver",
                    "--rate",
                    "--buffer",
                    "--switches",
                    "--play",
                    "--record",
                ],
            )?;
            options.no_positionals()?;
            let rate = options
                .number::<f64>("--rate")?
                .map(|rate| {
                    if rate.is_finite() && rate > 0.0 {
                        Ok(rate)
                    } else {
                        Err(UsageError(format!("--rate: {rate} is not a sample rate")))
                    }
                })
                .transpose()?;
            let buffer = options
                .number::<i32>("--buffer")?
                .map(|frames| {
                    if frames > 0 {
                        Ok(frames)
                    } else {
                        Err(UsageError("--buffer: must be at least 1 frame".into()))
                    }
                })
                .transpose()?;
            let switches = options
                .number::<u32>("--switches")?
                .map(|n| {
                    if (1..=MAX_TEST_SWITCHES).contains(&n) {
                        Ok(n)
                    } else {
                        Err(UsageError(format!(
                            "--switches: must be between 1 and {MAX_TEST_SWITCHES}"
                        )))
                    }
                })
                .transpose()?;
            Ok(Command::Test(TestOptions {
                driver: options.driver(),
                rate,
                buffer,
                switches,
                play: options.value("--play").map(str::to_string),
                record: options.value("--record").map(str::to_string),
                json: options.has("--json"),
            }))
        }
        "latency" => {
            let options = Options::parse(
                &rest,
                &["--json"],
                &["--driver", "--rate", "--buffer", "--seconds"],
            )?;
            options.no_positionals()?;
            let positive = |name: &str, value: Option<f64>| match value {
                Some(v) if !(v.is_finite() && v > 0.0) => {
                    Err(UsageError(format!("{name}: must be a positive number")))
                }
                _ => Ok(value),
            };
            let buffer = positive(
                "--buffer",
                options.number::<i32>("--buffer")?.map(f64::from),
            )?;
            Ok(Command::Latency(crate::latency::LatencyOptions {
                driver: options.driver(),
                rate: positive("--rate", options.number::<f64>("--rate")?)?,
                buffer: buffer.map(|b| b as i32),
                seconds: positive("--seconds", options.number::<f64>("--seconds")?)?
                    .unwrap_or(crate::latency::DEFAULT_SECONDS)
                    .min(3600.0),
                json: options.has("--json"),
            }))
        }
        "unload-check" => {
            let options =
                Options::parse(&rest, &["--json", "--reset"], &["--driver", "--seconds"])?;
            options.no_positionals()?;
            let seconds = match options.number::<f64>("--seconds")? {
                None => 1.0,
                Some(s) if (0.1..=60.0).contains(&s) => s,
                Some(_) => return Err(UsageError("--seconds: a number from 0.1 to 60".into())),
            };
            Ok(Command::UnloadCheck(UnloadOptions {
                driver: options.driver(),
                seconds,
                reset: options.has("--reset"),
                json: options.has("--json"),
            }))
        }
        "register" | "unregister" => {
            let options = Options::parse(&rest, &["--json"], &[])?;
            let dll = match options.positionals.as_slice() {
                [dll] => dll.clone(),
                [] => return Err(UsageError(format!("{command}: missing <dll>"))),
                _ => return Err(UsageError(format!("{command}: expected one <dll>"))),
            };
            let json = options.has("--json");
            Ok(if command == "register" {
                Command::Register { dll, json }
            } else {
                Command::Unregister { dll, json }
            })
        }
        other => Err(UsageError(format!("unknown command '{other}'"))),
    }
}

struct Options {
    flags: Vec<String>,
    values: Vec<(String, String)>,
    positionals: Vec<String>,
}

impl Options {
    /// Splits `args` into known flags, `--name value` / `--name=value` pairs and
    /// positionals. `--` ends option parsing.
    fn parse(args: &[String], flags: &[&str], valued: &[&str]) -> Result<Options, UsageError> {
        let mut options = Options {
            flags: Vec::new(),
            values: Vec::new(),
            positionals: Vec::new(),
        };
        let mut iter = args.iter();
        while let Some(arg) = iter.next() {
            if arg == "--" {
                options.positionals.extend(iter.cloned());
                break;
            }
            if !arg.starts_with('-') || arg == "-" {
                options.positionals.push(arg.clone());
                continue;
            }
            let (name, inline_value) = match arg.split_once('=') {
                Some((name, value)) => (name, Some(value.to_string())),
                None => (arg.as_str(), None),
            };
            if flags.contains(&name) {
                if inline_value.is_some() {
                    return Err(UsageError(format!("{name} takes no value")));
                }
                options.flags.push(name.to_string());
            } else if valued.contains(&name) {
                let value = match inline_value {
                    Some(value) => value,
                    None => iter
                        .next()
                        .cloned()
                        .ok_or_else(|| UsageError(format!("{name} needs a value")))?,
                };
                if value.is_empty() {
                    return Err(UsageError(format!("{name} needs a value")));
                }
                if options.values.iter().any(|(n, _)| n == name) {
                    return Err(UsageError(format!("{name} given twice")));
                }
                options.values.push((name.to_string(), value));
            } else {
                return Err(UsageError(format!("unknown option '{name}'")));
            }
        }
        Ok(options)
    }

    fn has(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }

    fn value(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, value)| value.as_str())
    }

    fn number<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, UsageError> {
        self.value(name)
            .map(|text| {
                text.parse::<T>()
                    .map_err(|_| UsageError(format!("{name}: '{text}' is not a number")))
            })
            .transpose()
    }

    fn driver(&self) -> String {
        self.value("--driver").unwrap_or(DEFAULT_DRIVER).to_string()
    }

    fn no_positionals(&self) -> Result<(), UsageError> {
        match self.positionals.first() {
            Some(extra) => Err(UsageError(format!("unexpected argument '{extra}'"))),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Command, UsageError> {
        parse(args.iter().copied())
    }

    #[test]
    fn parses_every_command() {
        assert_eq!(p(&["drivers"]), Ok(Command::Drivers { json: false }));
        assert_eq!(
            p(&["drivers", "--json"]),
            Ok(Command::Drivers { json: true })
        );
        assert_eq!(
            p(&["info"]),
            Ok(Command::Info {
                driver: "Wasio".into(),
                json: false
            })
        );
        assert_eq!(
            p(&["info", "--json", "--driver", "ASIO4ALL v2"]),
            Ok(Command::Info {
                driver: "ASIO4ALL v2".into(),
                json: true
            })
        );
        assert_eq!(
            p(&["info", "--driver=FlexASIO"]),
            Ok(Command::Info {
                driver: "FlexASIO".into(),
                json: false
            })
        );
        assert_eq!(
            p(&["misuse", "--driver", "X"]),
            Ok(Command::Misuse {
                driver: "X".into(),
                json: false
            })
        );
        assert_eq!(
            p(&["misuse", "--json"]),
            Ok(Command::Misuse {
                driver: "Wasio".into(),
                json: true
            })
        );
        assert_eq!(
            p(&["register", "C:\\a b\\wasio_driver.dll"]),
            Ok(Command::Register {
                dll: "C:\\a b\\wasio_driver.dll".into(),
                json: false
            })
        );
        assert_eq!(
            p(&["unregister", "--json", "--", "-odd.dll"]),
            Ok(Command::Unregister {
                dll: "-odd.dll".into(),
                json: true
            })
        );
        assert_eq!(
            p(&["devices", "--json"]),
            Ok(Command::Devices { json: true })
        );
        assert_eq!(p(&["status"]), Ok(Command::Status { json: false }));
        assert_eq!(
            p(&["config", "check"]),
            Ok(Command::ConfigCheck {
                file: None,
                json: false
            })
        );
        assert_eq!(
            p(&["config", "--file", "C:\\w.toml", "check", "--json"]),
            Ok(Command::ConfigCheck {
                file: Some("C:\\w.toml".into()),
                json: true
            })
        );
        assert_eq!(
            p(&["test"]),
            Ok(Command::Test(TestOptions {
                driver: "Wasio".into(),
                rate: None,
                buffer: None,
                switches: None,
                play: None,
                record: None,
                json: false
            }))
        );
        assert_eq!(
            p(&[
                "test",
                "--rate",
                "44100",
                "--buffer=256",
                "--switches",
                "10",
                "--play",
                "a.wav",
                "--record",
                "b.wav",
                "--json",
                "--driver",
                "X"
            ]),
            Ok(Command::Test(TestOptions {
                driver: "X".into(),
                rate: Some(44_100.0),
                buffer: Some(256),
                switches: Some(10),
                play: Some("a.wav".into()),
                record: Some("b.wav".into()),
                json: true
            }))
        );
        for help in ["help", "--help", "-h"] {
            assert_eq!(p(&[help]), Ok(Command::Help));
        }
    }

    #[test]
    fn rejects_bad_command_lines() {
        let cases: &[(&[&str], &str)] = &[
            (&[], "missing command"),
            (&["play"], "unknown command 'play'"),
            (&["drivers", "--driver", "x"], "unknown option '--driver'"),
            (&["drivers", "extra"], "unexpected argument 'extra'"),
            (&["info", "--driver"], "--driver needs a value"),
            (&["info", "--driver="], "--driver needs a value"),
            (
                &["info", "--driver", "a", "--driver", "b"],
                "--driver given twice",
            ),
            (&["info", "--json=yes"], "--json takes no value"),
            (&["misuse", "--file", "x"], "unknown option '--file'"),
            (&["devices", "x"], "unexpected argument 'x'"),
            (&["config"], "config: missing subcommand (check)"),
            (
                &["config", "edit"],
                "config: unknown subcommand 'edit' (expected check)",
            ),
            (&["config", "check", "more"], "unexpected argument 'more'"),
            (
                &["test", "--rate", "fast"],
                "--rate: 'fast' is not a number",
            ),
            (&["test", "--rate", "-1"], "--rate: -1 is not a sample rate"),
            (
                &["test", "--buffer", "0"],
                "--buffer: must be at least 1 frame",
            ),
            (
                &["test", "--switches", "0"],
                "--switches: must be between 1 and 1000000",
            ),
            (&["status", "--driver", "x"], "unknown option '--driver'"),
            (&["register"], "register: missing <dll>"),
            (
                &["unregister", "a.dll", "b.dll"],
                "unregister: expected one <dll>",
            ),
            (
                &["register", "--force", "a.dll"],
                "unknown option '--force'",
            ),
        ];
        for (args, message) in cases {
            assert_eq!(p(args), Err(UsageError(message.to_string())), "{args:?}");
        }
    }
}

#[cfg(test)]
mod unload_tests {
    use super::*;

    #[test]
    fn parses_unload_check() {
        assert_eq!(
            parse(["unload-check"]),
            Ok(Command::UnloadCheck(UnloadOptions {
                driver: DEFAULT_DRIVER.into(),
                seconds: 1.0,
                reset: false,
                json: false
            }))
        );
        assert_eq!(
            parse([
                "unload-check",
                "--reset",
                "--seconds=2",
                "--json",
                "--driver",
                "X"
            ]),
            Ok(Command::UnloadCheck(UnloadOptions {
                driver: "X".into(),
                seconds: 2.0,
                reset: true,
                json: true
            }))
        );
        assert!(parse(["unload-check", "--seconds", "0"]).is_err());
        assert!(parse(["unload-check", "extra"]).is_err());
    }
}

#[cfg(test)]
mod rates_tests {
    use super::*;

    #[test]
    fn parses_rates() {
        assert_eq!(
            parse(["rates"]),
            Ok(Command::Rates {
                driver: DEFAULT_DRIVER.into(),
                rates: vec![44_100.0, 48_000.0, 96_000.0],
                seconds: 2.0
            })
        );
        assert_eq!(
            parse([
                "rates",
                "--rates",
                "48000,44100",
                "--seconds=1",
                "--driver",
                "X"
            ]),
            Ok(Command::Rates {
                driver: "X".into(),
                rates: vec![48_000.0, 44_100.0],
                seconds: 1.0
            })
        );
        assert!(parse(["rates", "--rates", "fast"]).is_err());
        assert!(parse(["rates", "--seconds", "0"]).is_err());
    }
}
