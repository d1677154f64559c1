//! `wasio config check`: validates the configuration file and explains every problem.

use std::path::{Path, PathBuf};

use wasio_engine::config::{ConfigError, Settings};

use crate::json::Json;

/// The outcome of checking one file.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigCheck {
    pub path: PathBuf,
    /// Whether the file exists (a missing file means "all defaults", which is valid).
    pub exists: bool,
    /// Every problem, in file order; empty when the file is valid.
    pub errors: Vec<ConfigError>,
}

impl ConfigCheck {
    /// Reads and validates `path`, collecting every problem.
    pub fn run(path: &Path) -> ConfigCheck {
        let errors = match Settings::load_all_errors(path) {
            Ok(_) => Vec::new(),
            Err(errors) => errors,
        };
        ConfigCheck {
            path: path.to_path_buf(),
            exists: path.exists(),
            errors,
        }
    }

    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }

    /// 0 when valid, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        i32::from(!self.is_valid())
    }

    /// One line per problem (`file:line:col: key: message`), then a summary line.
    pub fn to_text(&self) -> String {
        let mut text = String::new();
        for error in &self.errors {
            text.push_str(&format!("{error}\n"));
        }
        let path = self.path.display();
        text.push_str(&match (self.errors.len(), self.exists) {
            (0, true) => format!("{path}: valid\n"),
            (0, false) => {
                format!("{path}: no such file; the driver uses the defaults (this is valid)\n")
            }
            (1, _) => format!("{path}: 1 problem\n"),
            (n, _) => format!("{path}: {n} problems\n"),
        });
        text
    }

    /// `{"file", "exists", "valid", "problems": [{"line", "column", "key", "message", "text"}]}`.
    pub fn to_json(&self) -> Json {
        Json::object([
            ("file", Json::string(self.path.display().to_string())),
            ("exists", Json::Bool(self.exists)),
            ("valid", Json::Bool(self.is_valid())),
            (
                "problems",
                Json::Array(
                    self.errors
                        .iter()
                        .map(|e| {
                            Json::object([
                                ("line", Json::opt(e.line.map(|l| l as i64))),
                                ("column", Json::opt(e.column.map(|c| c as i64))),
                                ("key", Json::opt(e.key.clone().map(Json::String))),
                                ("message", Json::string(e.message.clone())),
                                ("text", Json::string(e.to_string())),
                            ])
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

    #[test]
    fn a_valid_file_and_a_missing_file_pass() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("Wasio.toml");
        let missing = ConfigCheck::run(&path);
        assert!(missing.is_valid() && !missing.exists);
        assert!(missing.to_text().contains("defaults"));
        std::fs::write(&path, "[output]\nmode = \"shared\"\n").unwrap();
        let valid = ConfigCheck::run(&path);
        assert_eq!(valid.exit_code(), 0);
        assert!(valid.to_text().ends_with(": valid\n"));
    }

    #[test]
    fn every_problem_is_listed_with_its_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("Wasio.toml");
        std::fs::write(
            &path,
            "sample_rate = 1\n[buffer]\nmin = 4\n[output]\nchannels = [0, 999]\n",
        )
        .unwrap();
        let check = ConfigCheck::run(&path);
        assert_eq!(check.exit_code(), 1);
        assert!(check.errors.len() >= 3, "{:?}", check.errors);
        let text = check.to_text();
        assert!(text.contains("Wasio.toml:1:"), "{text}");
        assert!(text.contains("sample_rate"), "{text}");
        assert!(text.contains("Wasio.toml:3:"), "{text}");
        assert!(text.contains("buffer.min"), "{text}");
        assert!(text.contains("Wasio.toml:5:"), "{text}");
        let json = check.to_json().to_pretty();
        assert!(json.contains("\"valid\": false"), "{json}");
        assert!(json.contains("\"line\": 3"), "{json}");
        assert!(json.contains("\"key\": \"buffer.min\""), "{json}");
    }

    #[test]
    fn syntax_errors_have_a_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("Wasio.toml");
        std::fs::write(&path, "[output]\nmode = \n").unwrap();
        let check = ConfigCheck::run(&path);
        assert_eq!(check.errors.len(), 1);
        assert_eq!(check.errors[0].line, Some(2));
    }
}
