//! The configuration file, `%USERPROFILE%\Wasio.toml` (see docs/CONFIGURATION.md).
//!
//! [`Config`] is the file as written; [`Config::validate`] turns it into [`Settings`]. The
//! functions here take the path, so the OS layer decides where the file lives
//! ([`default_config_path`]). A missing file gives the defaults; anything wrong with the file
//! gives a [`ConfigError`] naming the file, line, column and key.

mod error;
mod model;
mod settings;
mod watch;

use std::io;
use std::path::Path;

pub use error::{line_column, truncate_with_ellipsis, ConfigError, ASIO_ERROR_MESSAGE_BYTES};
pub use model::*;
pub use settings::*;
pub use watch::{ConfigWatcher, FileFingerprint, WatchThread};

/// Files larger than this are refused: a configuration file is a few hundred bytes.
pub const MAX_CONFIG_FILE_BYTES: u64 = 1 << 20;

/// The first line [`Config::save`] writes.
pub const SAVED_FILE_HEADER: &str =
    "# Wasio configuration. Every key is described in docs/CONFIGURATION.md.\n";

impl Settings {
    /// Reads and validates the file at `path`. A missing file gives the defaults.
    pub fn load(path: &Path) -> Result<Settings, ConfigError> {
        Self::load_all_errors(path).map_err(first_error)
    }

    /// Like [`Settings::load`], but reports every problem found, in file order.
    pub fn load_all_errors(path: &Path) -> Result<Settings, Vec<ConfigError>> {
        match read_config_text(path).map_err(|e| vec![e])? {
            None => Ok(Settings::default()),
            Some(text) => Self::parse_all_errors(&text, path),
        }
    }

    /// Parses and validates `text`; `path` only names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Settings, ConfigError> {
        Self::parse_all_errors(text, path).map_err(first_error)
    }

    /// Like [`Settings::parse`], but reports every problem found, in file order.
    pub fn parse_all_errors(text: &str, path: &Path) -> Result<Settings, Vec<ConfigError>> {
        let config = Config::parse(text, path).map_err(|e| vec![e])?;
        config.validate().map_err(|issues| {
            // The text parsed once already, so the spanned document parses too.
            let document = toml::de::DeTable::parse(text).ok();
            let mut errors: Vec<(usize, ConfigError)> = issues
                .into_iter()
                .map(|issue| {
                    let offset = document
                        .as_ref()
                        .and_then(|doc| error::span_of(doc.get_ref(), &issue.path))
                        .map_or(0, |span| span.start);
                    let (line, column) = line_column(text, offset);
                    let error = ConfigError {
                        path: path.to_path_buf(),
                        line: Some(line),
                        column: Some(column),
                        key: error::key_text(&issue.path),
                        message: issue.message,
                    };
                    (offset, error)
                })
                .collect();
            errors.sort_by_key(|(offset, _)| *offset);
            errors.into_iter().map(|(_, error)| error).collect()
        })
    }

    /// Writes these settings to `path` (only the values that differ from the defaults).
    pub fn save(&self, path: &Path) -> io::Result<()> {
        Config::from(self).save(path)
    }
}

/// The tables a file may contain.
const SECTIONS: [&str; 4] = ["buffer", "logging", "output", "input"];

/// serde names Rust types in messages; say what to write instead.
fn plain_type_names(message: &str) -> String {
    message
        .replace("expected f64", "expected a number")
        .replace("expected i64", "expected an integer")
        .replace("expected a boolean", "expected true or false")
}

fn first_error(mut errors: Vec<ConfigError>) -> ConfigError {
    errors.swap_remove(0)
}

impl Config {
    /// Parses `text` without validating values; `path` only names the file in errors. Syntax
    /// errors, unknown keys and wrong types are reported here.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let error_at = |span: Option<std::ops::Range<usize>>, key, message: &str| {
            let (line, column) = line_column(text, span.map_or(0, |s| s.start));
            ConfigError {
                path: path.to_path_buf(),
                line: Some(line),
                column: Some(column),
                key,
                message: message.trim_end().to_string(),
            }
        };
        let document = toml::de::DeTable::parse(text)
            .map_err(|e| error_at(e.span(), None, &format!("syntax error: {}", e.message())))?;
        // Sections written as something other than a table would otherwise get serde's
        // "expected struct …" messages.
        for (key, value) in document.get_ref().iter() {
            let section = key.get_ref().as_ref();
            if SECTIONS.contains(&section) && !value.get_ref().is_table() {
                let message = match value.get_ref() {
                    toml::de::DeValue::Array(_) => {
                        format!("must be a table: write [{section}], not [[{section}]]")
                    }
                    other => format!(
                        "must be a table, written [{section}]; got {}",
                        other.type_str()
                    ),
                };
                return Err(error_at(
                    Some(value.span()),
                    Some(section.to_string()),
                    &message,
                ));
            }
        }
        toml::from_str::<Config>(text).map_err(|e| {
            let key = e
                .span()
                .and_then(|span| error::key_path_at(document.get_ref(), span.start))
                .and_then(|path| error::key_text(&path));
            error_at(e.span(), key, &plain_type_names(e.message()))
        })
    }

    /// Reads the file at `path` without validating it; `Ok(None)` when it does not exist.
    pub fn load(path: &Path) -> Result<Option<Config>, ConfigError> {
        match read_config_text(path)? {
            None => Ok(None),
            Some(text) => Config::parse(&text, path).map(Some),
        }
    }

    /// The file's text: a header comment, then the keys that are set.
    pub fn to_toml_string(&self) -> String {
        // Serializing plain structs of strings, numbers and tables cannot fail; fall back to the
        // header alone rather than panicking if it ever did.
        let body = toml::to_string(self).unwrap_or_default();
        format!("{SAVED_FILE_HEADER}{body}")
    }

    /// Writes the file: to `<path>.tmp` first, then renamed over `path`, so a reader never sees
    /// a half-written file.
    pub fn save(&self, path: &Path) -> io::Result<()> {
        let mut temporary = path.as_os_str().to_owned();
        temporary.push(".tmp");
        let temporary = std::path::PathBuf::from(temporary);
        std::fs::write(&temporary, self.to_toml_string())?;
        std::fs::rename(&temporary, path).inspect_err(|_| {
            let _ = std::fs::remove_file(&temporary);
        })
    }
}

/// The file's text without a UTF-8 byte order mark, `None` when the file does not exist.
fn read_config_text(path: &Path) -> Result<Option<String>, ConfigError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(ConfigError::whole_file(
                path,
                format!("cannot read the file: {error}"),
            ))
        }
    };
    if bytes.len() as u64 > MAX_CONFIG_FILE_BYTES {
        return Err(ConfigError::whole_file(
            path,
            format!(
                "the file is {} bytes long; a configuration file is at most {MAX_CONFIG_FILE_BYTES}",
                bytes.len()
            ),
        ));
    }
    if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
        return Err(ConfigError::whole_file(
            path,
            "the file is UTF-16 (Notepad's \"Unicode\"); save it as UTF-8",
        ));
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(Some(text.to_string())),
        Err(error) => {
            let valid = &bytes[..error.valid_up_to()];
            // Everything before the bad byte is valid UTF-8.
            let prefix = String::from_utf8_lossy(valid);
            let (line, column) = line_column(&prefix, prefix.len());
            Err(ConfigError {
                path: path.to_path_buf(),
                line: Some(line),
                column: Some(column),
                key: None,
                message: "the file is not valid UTF-8; save it as UTF-8".to_string(),
            })
        }
    }
}
