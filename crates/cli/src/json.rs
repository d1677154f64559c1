//! A small JSON value and pretty printer. Hand-rolled rather than serde_json: the CLI only
//! writes a few flat reports, and this keeps the cross-built binary free of serde.

use std::fmt::Write;

/// A JSON value. Object keys keep their insertion order.
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Int(i64),
    /// Written with Rust's shortest round-trip form; NaN and infinities become `null`.
    Float(f64),
    Str(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    /// An object from `(key, value)` pairs.
    pub fn object<K: Into<String>>(pairs: impl IntoIterator<Item = (K, Json)>) -> Json {
        Json::Object(pairs.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// A string value.
    pub fn str(text: impl Into<String>) -> Json {
        Json::Str(text.into())
    }

    /// `value` or `null`.
    pub fn opt<T: Into<Json>>(value: Option<T>) -> Json {
        value.map_or(Json::Null, Into::into)
    }

    /// Pretty-printed with two-space indentation, no trailing newline.
    pub fn to_pretty(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, 0);
        out
    }

    fn write(&self, out: &mut String, indent: usize) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Json::Float(f) if f.is_finite() => {
                if f.fract() == 0.0 && f.abs() < 1e15 {
                    let _ = write!(out, "{f:.1}");
                } else {
                    let _ = write!(out, "{f}");
                }
            }
            Json::Float(_) => out.push_str("null"),
            Json::Str(s) => write_string(out, s),
            Json::Array(items) if items.is_empty() => out.push_str("[]"),
            Json::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    out.push_str(if i == 0 { "\n" } else { ",\n" });
                    push_indent(out, indent + 1);
                    item.write(out, indent + 1);
                }
                out.push('\n');
                push_indent(out, indent);
                out.push(']');
            }
            Json::Object(pairs) if pairs.is_empty() => out.push_str("{}"),
            Json::Object(pairs) => {
                out.push('{');
                for (i, (key, value)) in pairs.iter().enumerate() {
                    out.push_str(if i == 0 { "\n" } else { ",\n" });
                    push_indent(out, indent + 1);
                    write_string(out, key);
                    out.push_str(": ");
                    value.write(out, indent + 1);
                }
                out.push('\n');
                push_indent(out, indent);
                out.push('}');
            }
        }
    }
}

fn push_indent(out: &mut String, level: usize) {
    for _ in 0..level {
        out.push_str("  ");
    }
}

fn write_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

impl From<bool> for Json {
    fn from(value: bool) -> Json {
        Json::Bool(value)
    }
}
impl From<i32> for Json {
    fn from(value: i32) -> Json {
        Json::Int(value.into())
    }
}
impl From<i64> for Json {
    fn from(value: i64) -> Json {
        Json::Int(value)
    }
}
impl From<u64> for Json {
    fn from(value: u64) -> Json {
        i64::try_from(value).map_or(Json::Float(value as f64), Json::Int)
    }
}
impl From<usize> for Json {
    fn from(value: usize) -> Json {
        Json::from(value as u64)
    }
}
impl From<f64> for Json {
    fn from(value: f64) -> Json {
        Json::Float(value)
    }
}
impl From<&str> for Json {
    fn from(value: &str) -> Json {
        Json::Str(value.to_string())
    }
}
impl From<String> for Json {
    fn from(value: String) -> Json {
        Json::Str(value)
    }
}
impl<T: Into<Json>> From<Vec<T>> for Json {
    fn from(value: Vec<T>) -> Json {
        Json::Array(value.into_iter().map(Into::into).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars() {
        assert_eq!(Json::Null.to_pretty(), "null");
        assert_eq!(Json::from(true).to_pretty(), "true");
        assert_eq!(Json::from(-998).to_pretty(), "-998");
        assert_eq!(Json::from(48000.0).to_pretty(), "48000.0");
        assert_eq!(Json::from(0.25).to_pretty(), "0.25");
        assert_eq!(Json::from(1e20).to_pretty(), "100000000000000000000");
        assert_eq!(Json::from(-0.5).to_pretty(), "-0.5");
    }

    #[test]
    fn non_finite_floats_become_null() {
        assert_eq!(Json::from(f64::NAN).to_pretty(), "null");
        assert_eq!(Json::from(f64::INFINITY).to_pretty(), "null");
        assert_eq!(Json::from(f64::NEG_INFINITY).to_pretty(), "null");
    }

    #[test]
    fn strings_are_escaped() {
        assert_eq!(
            Json::str("a\"b\\c\nd\te\u{1}é").to_pretty(),
            r#""a\"b\\c\nd\te\u0001é""#
        );
    }

    #[test]
    fn nested_pretty_printing() {
        let value = Json::object([
            ("name", Json::str("Wasio")),
            ("rates", Json::from(vec![44100.0, 48000.0])),
            ("empty", Json::Array(vec![])),
            ("none", Json::opt::<i32>(None)),
            ("obj", Json::object([("k", Json::from(1))])),
            ("nothing", Json::Object(vec![])),
        ]);
        let expected = "{\n  \"name\": \"Wasio\",\n  \"rates\": [\n    44100.0,\n    48000.0\n  ],\n  \"empty\": [],\n  \"none\": null,\n  \"obj\": {\n    \"k\": 1\n  },\n  \"nothing\": {}\n}";
        assert_eq!(value.to_pretty(), expected);
    }

    #[test]
    fn big_unsigned_falls_back_to_float() {
        assert_eq!(Json::from(5u64), Json::Int(5));
        assert_eq!(Json::from(u64::MAX), Json::Float(u64::MAX as f64));
    }
}
