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
    /// `wasio misuse [--driver NAME]`: call a driver the wrong way and check its answers.
    Misuse { driver: String },
    /// `wasio rates [--driver NAME] [--rates R,R,…] [--seconds S]`: show the output mode,
    /// stream silence and switch the sample rate while running, S seconds at each rate.
    Rates {
        driver: String,
        rates: Vec<f64>,
        seconds: f64,
    },
    /// `wasio register <dll>`: call the DLL's `DllRegisterServer`.
    Register { dll: String },
    /// `wasio unregister <dll>`: call the DLL's `DllUnregisterServer`.
    Unregister { dll: String },
    /// `wasio help`, `--help`, `-h`.
    Help,
}

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
  misuse [--driver NAME]           call a driver the wrong way, check every answer
  rates [--driver NAME] [--rates 44100,48000,96000] [--seconds 2]
                                   show the output mode, stream, switch rates while running
  register <dll>                   call DllRegisterServer of a driver DLL
  unregister <dll>                 call DllUnregisterServer of a driver DLL
  help                             this text

NAME is the driver's registry key or description (default: Wasio), matched without case.
Exit codes: 0 success, 1 failure, 2 usage error.";

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
        "drivers" => {
            let options = Options::parse(&rest, &["--json"], &[])?;
            options.no_positionals()?;
            Ok(Command::Drivers {
                json: options.has("--json"),
            })
        }
        "info" => {
            let options = Options::parse(&rest, &["--json"], &["--driver"])?;
            options.no_positionals()?;
            Ok(Command::Info {
                driver: options.driver(),
                json: options.has("--json"),
            })
        }
        "misuse" => {
            let options = Options::parse(&rest, &[], &["--driver"])?;
            options.no_positionals()?;
            Ok(Command::Misuse {
                driver: options.driver(),
            })
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
        "register" | "unregister" => {
            let options = Options::parse(&rest, &[], &[])?;
            let dll = match options.positionals.as_slice() {
                [dll] => dll.clone(),
                [] => return Err(UsageError(format!("{command}: missing <dll>"))),
                _ => return Err(UsageError(format!("{command}: expected one <dll>"))),
            };
            Ok(if command == "register" {
                Command::Register { dll }
            } else {
                Command::Unregister { dll }
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

    fn driver(&self) -> String {
        self.values
            .iter()
            .find(|(name, _)| name == "--driver")
            .map(|(_, value)| value.clone())
            .unwrap_or_else(|| DEFAULT_DRIVER.to_string())
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
            Ok(Command::Misuse { driver: "X".into() })
        );
        assert_eq!(
            p(&["misuse"]),
            Ok(Command::Misuse {
                driver: "Wasio".into()
            })
        );
        assert_eq!(
            p(&["register", "C:\\a b\\wasio_driver.dll"]),
            Ok(Command::Register {
                dll: "C:\\a b\\wasio_driver.dll".into()
            })
        );
        assert_eq!(
            p(&["unregister", "--", "-odd.dll"]),
            Ok(Command::Unregister {
                dll: "-odd.dll".into()
            })
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
            (&["misuse", "--json"], "unknown option '--json'"),
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
