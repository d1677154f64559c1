//! `ConfigError`: what is wrong with the file, and where.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::settings::{format_key_path, KeySegment};

/// ASIO's `getErrorMessage` buffer holds 124 bytes including the terminating NUL.
pub const ASIO_ERROR_MESSAGE_BYTES: usize = 124;

/// A problem with the configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: PathBuf,
    /// 1-based line, when the problem is at a place in the file.
    pub line: Option<usize>,
    /// 1-based column, in characters.
    pub column: Option<usize>,
    /// Dotted key, e.g. `output.mode` or `output.channels[1]`.
    pub key: Option<String>,
    pub message: String,
}

impl ConfigError {
    /// An error about the file as a whole (unreadable, too large).
    pub fn whole_file(path: &Path, message: impl Into<String>) -> Self {
        ConfigError {
            path: path.to_path_buf(),
            line: None,
            column: None,
            key: None,
            message: message.into(),
        }
    }

    fn write_location(&self, f: &mut dyn fmt::Write, path: &str) -> fmt::Result {
        write!(f, "{path}")?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        write!(f, ": ")?;
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        Ok(())
    }

    /// The message for ASIO's `getErrorMessage`: file name (not the full path), line, column,
    /// key and message, cut to fit 123 bytes with `...` when longer.
    pub fn short(&self) -> String {
        // Split on both separators so a Windows path is shortened on any OS.
        let full = self.path.to_string_lossy();
        let name = full.rsplit(['/', '\\']).next().unwrap_or(&full);
        let mut text = String::new();
        let _ = self.write_location(&mut text, name);
        text.push_str(&self.message);
        truncate_with_ellipsis(&text, ASIO_ERROR_MESSAGE_BYTES - 1)
    }
}

/// `text` cut at a character boundary to at most `max_bytes` bytes, ending in `...` when cut.
pub fn truncate_with_ellipsis(text: &str, max_bytes: usize) -> String {
    if text.len() <= max_bytes {
        return text.to_string();
    }
    let mut end = max_bytes.saturating_sub(3);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_location(f, &self.path.display().to_string())?;
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// The key path of the innermost key or value containing `offset`.
pub fn key_path_at(root: &DeTable<'_>, offset: usize) -> Option<Vec<KeySegment>> {
    let mut path = Vec::new();
    find_in_table(root, offset, &mut path).then_some(path)
}

fn contains(span: Range<usize>, offset: usize) -> bool {
    span.contains(&offset) || (span.is_empty() && span.start == offset)
}

fn find_in_table(table: &DeTable<'_>, offset: usize, path: &mut Vec<KeySegment>) -> bool {
    for (key, value) in table.iter() {
        path.push(KeySegment::Key(key.get_ref().to_string()));
        // A table opened by a `[header]` is spread over the file: always look inside.
        if find_in_value(value, offset, path) || contains(key.span(), offset) {
            return true;
        }
        path.pop();
    }
    false
}

fn find_in_value(value: &Spanned<DeValue<'_>>, offset: usize, path: &mut Vec<KeySegment>) -> bool {
    match value.get_ref() {
        DeValue::Table(table) => {
            find_in_table(table, offset, path) || contains(value.span(), offset)
        }
        DeValue::Array(array) => {
            for (index, item) in array.iter().enumerate() {
                path.push(KeySegment::Index(index));
                if find_in_value(item, offset, path) {
                    return true;
                }
                path.pop();
            }
            contains(value.span(), offset)
        }
        _ => contains(value.span(), offset),
    }
}

/// The span of the value at `path`, or of the deepest part of it present in the file.
pub fn span_of(root: &DeTable<'_>, path: &[KeySegment]) -> Option<Range<usize>> {
    let mut found: Option<Range<usize>> = None;
    let mut current: Option<&Spanned<DeValue<'_>>> = None;
    for segment in path {
        let next = match (segment, current.map(|v| v.get_ref())) {
            (KeySegment::Key(key), None) => root.get_key_value(key.as_str()),
            (KeySegment::Key(key), Some(DeValue::Table(table))) => {
                table.get_key_value(key.as_str())
            }
            (KeySegment::Index(index), Some(DeValue::Array(array))) => match array.get(*index) {
                Some(item) => {
                    found = Some(item.span());
                    current = Some(item);
                    continue;
                }
                None => break,
            },
            _ => break,
        };
        match next {
            Some((key, value)) => {
                // A table's own span may be its header or the whole inline table; the key is a
                // better place to point at for tables.
                found = Some(if value.get_ref().is_table() {
                    key.span()
                } else {
                    value.span()
                });
                current = Some(value);
            }
            None => break,
        }
    }
    found
}

/// Turns a path into the dotted key text used in messages.
pub fn key_text(path: &[KeySegment]) -> Option<String> {
    (!path.is_empty()).then(|| format_key_path(path))
}
