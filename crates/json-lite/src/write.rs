//! Writing: pretty (two-space indentation) and compact (one line, no spaces).

use std::fmt::Write;

use crate::Json;

impl Json {
    /// Pretty-printed with two-space indentation, no trailing newline.
    pub fn to_pretty(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, Some(0));
        out
    }

    /// On one line, without spaces.
    pub fn to_compact(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, None);
        out
    }

    /// `indent`: the nesting level when pretty-printing, `None` for one line.
    fn write(&self, out: &mut String, indent: Option<usize>) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Json::Number(f) if f.is_finite() => {
                if f.fract() == 0.0 && f.abs() < 1e15 {
                    let _ = write!(out, "{f:.1}");
                } else {
                    let _ = write!(out, "{f}");
                }
            }
            Json::Number(_) => out.push_str("null"),
            Json::String(s) => write_string(out, s),
            Json::Array(items) => write_members(out, indent, ('[', ']'), items, |out, item| {
                item.write(out, indent.map(|level| level + 1))
            }),
            Json::Object(pairs) => {
                write_members(out, indent, ('{', '}'), pairs, |out, (key, value)| {
                    write_string(out, key);
                    out.push_str(if indent.is_some() { ": " } else { ":" });
                    value.write(out, indent.map(|level| level + 1));
                })
            }
        }
    }
}

/// Writes `open`, the members separated by commas (each on its own indented line when
/// pretty-printing), then `close`. Empty containers stay `[]` / `{}`.
fn write_members<T>(
    out: &mut String,
    indent: Option<usize>,
    (open, close): (char, char),
    members: &[T],
    mut write_member: impl FnMut(&mut String, &T),
) {
    out.push(open);
    for (i, member) in members.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        if let Some(level) = indent {
            out.push('\n');
            push_indent(out, level + 1);
        }
        write_member(out, member);
    }
    if let (Some(level), false) = (indent, members.is_empty()) {
        out.push('\n');
        push_indent(out, level);
    }
    out.push(close);
}

fn push_indent(out: &mut String, level: usize) {
    for _ in 0..level {
        out.push_str("  ");
    }
}

/// `text` as a quoted JSON string.
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

#[cfg(test)]
mod tests {
    use crate::Json;

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
        assert_eq!(Json::from(f64::INFINITY).to_compact(), "null");
        assert_eq!(Json::from(f64::NEG_INFINITY).to_pretty(), "null");
    }

    #[test]
    fn strings_are_escaped() {
        assert_eq!(
            Json::string("a\"b\\c\nd\te\u{1}é").to_pretty(),
            r#""a\"b\\c\nd\te\u0001é""#
        );
    }

    #[test]
    fn nested_pretty_printing() {
        let value = Json::object([
            ("name", Json::string("Wasio")),
            ("rates", Json::from(vec![44100.0, 48000.0])),
            ("empty", Json::Array(vec![])),
            ("none", Json::opt::<i32>(None)),
            ("obj", Json::object([("k", Json::from(1))])),
            ("nothing", Json::Object(vec![])),
        ]);
        let expected = "{\n  \"name\": \"Wasio\",\n  \"rates\": [\n    44100.0,\n    48000.0\n  ],\n  \"empty\": [],\n  \"none\": null,\n  \"obj\": {\n    \"k\": 1\n  },\n  \"nothing\": {}\n}";
        assert_eq!(value.to_pretty(), expected);
        assert_eq!(
            value.to_compact(),
            r#"{"name":"Wasio","rates":[44100.0,48000.0],"empty":[],"none":null,"obj":{"k":1},"nothing":{}}"#
        );
    }

    #[test]
    fn big_unsigned_falls_back_to_float() {
        assert_eq!(Json::from(5u64), Json::Int(5));
        assert_eq!(Json::from(u64::MAX), Json::Number(u64::MAX as f64));
    }
}
