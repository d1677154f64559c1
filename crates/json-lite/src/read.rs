//! Reading: a strict parser for the small documents our own tools write.

use crate::Json;

/// Parses every line of `text` that starts with `{` as a JSON object; other lines are skipped
/// (Wine sometimes prints its own messages on stdout).
pub fn parse_lines(text: &str) -> Result<Vec<Json>, String> {
    text.lines()
        .map(str::trim)
        .filter(|line| line.starts_with('{'))
        .map(parse)
        .collect()
}

pub fn parse(text: &str) -> Result<Json, String> {
    let mut parser = Parser {
        bytes: text.as_bytes(),
        at: 0,
    };
    let value = parser.value()?;
    parser.skip_space();
    if parser.at != parser.bytes.len() {
        return Err(format!("trailing characters at {} in {text:?}", parser.at));
    }
    Ok(value)
}

struct Parser<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn skip_space(&mut self) {
        while self
            .bytes
            .get(self.at)
            .is_some_and(|b| b.is_ascii_whitespace())
        {
            self.at += 1;
        }
    }

    fn error(&self, what: &str) -> String {
        format!("JSON: {what} at byte {}", self.at)
    }

    fn expect(&mut self, literal: &str, value: Json) -> Result<Json, String> {
        if self.bytes[self.at..].starts_with(literal.as_bytes()) {
            self.at += literal.len();
            Ok(value)
        } else {
            Err(self.error("unexpected token"))
        }
    }

    fn value(&mut self) -> Result<Json, String> {
        self.skip_space();
        match self.bytes.get(self.at) {
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b'"') => Ok(Json::String(self.string()?)),
            Some(b't') => self.expect("true", Json::Bool(true)),
            Some(b'f') => self.expect("false", Json::Bool(false)),
            Some(b'n') => self.expect("null", Json::Null),
            Some(_) => self.number(),
            None => Err(self.error("unexpected end")),
        }
    }

    fn object(&mut self) -> Result<Json, String> {
        let mut pairs = Vec::new();
        self.members(b'}', |parser| {
            parser.skip_space();
            if parser.bytes.get(parser.at) != Some(&b'"') {
                return Err(parser.error("expected a key"));
            }
            let key = parser.string()?;
            parser.skip_space();
            if parser.bytes.get(parser.at) != Some(&b':') {
                return Err(parser.error("expected ':'"));
            }
            parser.at += 1;
            pairs.push((key, parser.value()?));
            Ok(())
        })?;
        Ok(Json::Object(pairs))
    }

    fn array(&mut self) -> Result<Json, String> {
        let mut items = Vec::new();
        self.members(b']', |parser| {
            items.push(parser.value()?);
            Ok(())
        })?;
        Ok(Json::Array(items))
    }

    /// Reads the comma-separated members of an object or array, from its opening bracket (at
    /// `self.at`) to `close`, calling `member` for each.
    fn members(
        &mut self,
        close: u8,
        mut member: impl FnMut(&mut Self) -> Result<(), String>,
    ) -> Result<(), String> {
        self.at += 1;
        self.skip_space();
        if self.bytes.get(self.at) == Some(&close) {
            self.at += 1;
            return Ok(());
        }
        loop {
            member(self)?;
            self.skip_space();
            match self.bytes.get(self.at) {
                Some(b',') => self.at += 1,
                Some(&byte) if byte == close => {
                    self.at += 1;
                    return Ok(());
                }
                _ => return Err(self.error(&format!("expected ',' or '{}'", close as char))),
            }
        }
    }

    fn string(&mut self) -> Result<String, String> {
        self.at += 1;
        let mut bytes = Vec::new();
        loop {
            let Some(&byte) = self.bytes.get(self.at) else {
                return Err(self.error("unterminated string"));
            };
            self.at += 1;
            match byte {
                b'"' => return String::from_utf8(bytes).map_err(|_| self.error("invalid UTF-8")),
                b'\\' => {
                    let Some(&escape) = self.bytes.get(self.at) else {
                        return Err(self.error("unterminated escape"));
                    };
                    self.at += 1;
                    match escape {
                        b'"' | b'\\' | b'/' => bytes.push(escape),
                        b'n' => bytes.push(b'\n'),
                        b't' => bytes.push(b'\t'),
                        b'r' => bytes.push(b'\r'),
                        b'b' => bytes.push(8),
                        b'f' => bytes.push(12),
                        b'u' => {
                            let hex = self
                                .bytes
                                .get(self.at..self.at + 4)
                                .and_then(|hex| std::str::from_utf8(hex).ok())
                                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                                .ok_or_else(|| self.error("bad \\u escape"))?;
                            self.at += 4;
                            let ch = char::from_u32(hex).unwrap_or('\u{fffd}');
                            let mut buffer = [0u8; 4];
                            bytes.extend_from_slice(ch.encode_utf8(&mut buffer).as_bytes());
                        }
                        _ => return Err(self.error("bad escape")),
                    }
                }
                _ => bytes.push(byte),
            }
        }
    }

    fn number(&mut self) -> Result<Json, String> {
        let begin = self.at;
        while self
            .bytes
            .get(self.at)
            .is_some_and(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'))
        {
            self.at += 1;
        }
        std::str::from_utf8(&self.bytes[begin..self.at])
            .ok()
            .and_then(|text| text.parse::<f64>().ok())
            .map(Json::Number)
            .ok_or_else(|| self.error("bad number"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_device_line() {
        let value = parse(r#"{"kind":"device","name":"Wasio \"x\"","max_output_channels":2,"rate":48000.0,"sizes":[1,-2.5e1],"ok":true,"e":null}"#).unwrap();
        assert_eq!(value.str("name"), Some("Wasio \"x\""));
        assert_eq!(value.num("max_output_channels"), Some(2.0));
        assert_eq!(
            value.get("sizes"),
            Some(&Json::Array(vec![Json::Number(1.0), Json::Number(-25.0)]))
        );
        assert_eq!(value.get("ok"), Some(&Json::Bool(true)));
    }

    #[test]
    fn skips_non_json_lines_and_rejects_broken_ones() {
        let values = parse_lines("wine: something\n{\"a\":1}\n").unwrap();
        assert_eq!(values.len(), 1);
        assert!(parse_lines("{\"a\":}").is_err());
        assert!(parse("{\"a\":1} x").is_err());
    }

    #[test]
    fn empty_and_nested_containers_and_their_errors() {
        assert_eq!(
            parse(r#" { "a" : [ ] , "b" : { } , "c" : [[1], {"d": null}] } "#).unwrap(),
            Json::object([
                ("a", Json::Array(vec![])),
                ("b", Json::Object(vec![])),
                (
                    "c",
                    Json::Array(vec![
                        Json::Array(vec![Json::Number(1.0)]),
                        Json::object([("d", Json::Null)]),
                    ])
                ),
            ])
        );
        assert_eq!(
            parse("[1, 2").unwrap_err(),
            "JSON: expected ',' or ']' at byte 5"
        );
        assert_eq!(
            parse("{\"a\": 1]").unwrap_err(),
            "JSON: expected ',' or '}' at byte 7"
        );
        assert!(parse("{\"a\": 1,}").is_err());
        assert!(parse("{1: 2}").is_err());
        assert!(parse("{\"a\" 1}").is_err());
    }
}
