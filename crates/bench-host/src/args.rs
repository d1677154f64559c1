//! Command-line parsing (std only): `wasio-pa-host <command> [--key value | --flag]...`.
//!
//! Each command takes the options it knows with `value`/`flag` and then calls `finish`, which
//! rejects anything left over, so adding a command (e.g. `duplex`) is a new match arm only.

use std::collections::BTreeMap;
use std::str::FromStr;

#[derive(Debug)]
pub struct Args {
    pub command: String,
    options: BTreeMap<String, Option<String>>,
}

impl Args {
    /// Parses `args` (without the program name). `--key value` and `--key=value` are options;
    /// a `--key` followed by another `--key` or by nothing is a flag.
    pub fn parse(args: &[String]) -> Result<Args, String> {
        let mut iter = args.iter().peekable();
        let command = iter.next().ok_or("missing command")?.clone();
        if command.starts_with("--") {
            return Err(format!("expected a command before {command}"));
        }
        let mut options = BTreeMap::new();
        while let Some(arg) = iter.next() {
            let Some(key) = arg.strip_prefix("--") else {
                return Err(format!("unexpected argument {arg:?}"));
            };
            let (key, value) = match key.split_once('=') {
                Some((key, value)) => (key.to_string(), Some(value.to_string())),
                None => {
                    let value = match iter.peek() {
                        // A negative number is a value, not an option.
                        Some(next) if !next.starts_with("--") => iter.next().cloned(),
                        _ => None,
                    };
                    (key.to_string(), value)
                }
            };
            if options.insert(key.clone(), value).is_some() {
                return Err(format!("--{key} given twice"));
            }
        }
        Ok(Args { command, options })
    }

    /// An option's text, if given.
    pub fn text(&mut self, key: &str) -> Result<Option<String>, String> {
        match self.options.remove(key) {
            None => Ok(None),
            Some(Some(value)) => Ok(Some(value)),
            Some(None) => Err(format!("--{key} needs a value")),
        }
    }

    /// A required option's text.
    pub fn required_text(&mut self, key: &str) -> Result<String, String> {
        self.text(key)?
            .ok_or_else(|| format!("--{key} is required"))
    }

    /// A parsed option, or `default`.
    pub fn value<T: FromStr>(&mut self, key: &str, default: T) -> Result<T, String> {
        match self.text(key)? {
            None => Ok(default),
            Some(text) => text
                .parse()
                .map_err(|_| format!("--{key}: cannot parse {text:?}")),
        }
    }

    /// A flag (present or not).
    pub fn flag(&mut self, key: &str) -> Result<bool, String> {
        match self.options.remove(key) {
            None => Ok(false),
            Some(None) => Ok(true),
            Some(Some(value)) => Err(format!(
                "--{key} is a flag and takes no value (got {value:?})"
            )),
        }
    }

    /// Fails on options no one took.
    pub fn finish(self) -> Result<(), String> {
        match self.options.keys().next() {
            None => Ok(()),
            Some(key) => Err(format!("unknown option --{key} for `{}`", self.command)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Args, String> {
        let args: Vec<String> = line.split_whitespace().map(String::from).collect();
        Args::parse(&args)
    }

    #[test]
    fn parses_play_options() {
        let mut args =
            parse("play --device Wasio --rate=48000 --frames-per-buffer 256 --non-interleaved")
                .unwrap();
        assert_eq!(args.command, "play");
        assert_eq!(args.required_text("device").unwrap(), "Wasio");
        assert_eq!(args.value("rate", 0.0).unwrap(), 48000.0);
        assert_eq!(args.value("frames-per-buffer", 0u32).unwrap(), 256);
        assert_eq!(args.value("seconds", 5.0).unwrap(), 5.0);
        assert!(args.flag("non-interleaved").unwrap());
        args.finish().unwrap();
    }

    #[test]
    fn rejects_bad_input() {
        assert!(parse("").is_err());
        assert!(parse("--device x").is_err());
        assert!(parse("play stray").is_err());
        assert!(parse("play --rate 1 --rate 2").is_err());
        let mut args = parse("play --rate fast").unwrap();
        assert!(args.value("rate", 0.0).is_err());
        let mut args = parse("play --device").unwrap();
        assert!(args.required_text("device").is_err());
        let args = parse("play --bogus 1").unwrap();
        assert!(args.finish().is_err());
    }

    #[test]
    fn negative_numbers_are_values() {
        let mut args = parse("play --amplitude -0.5").unwrap();
        assert_eq!(args.value("amplitude", 0.0).unwrap(), -0.5);
    }
}
