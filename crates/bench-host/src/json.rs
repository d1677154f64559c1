//! A tiny JSON object writer: each report is one object on one line.

use std::fmt::Write;

#[derive(Default)]
pub struct JsonObject {
    body: String,
}

impl JsonObject {
    pub fn new() -> JsonObject {
        JsonObject::default()
    }

    fn key(&mut self, key: &str) {
        if !self.body.is_empty() {
            self.body.push(',');
        }
        push_string(&mut self.body, key);
        self.body.push(':');
    }

    pub fn str(mut self, key: &str, value: &str) -> Self {
        self.key(key);
        push_string(&mut self.body, value);
        self
    }

    pub fn opt_str(mut self, key: &str, value: Option<&str>) -> Self {
        match value {
            Some(value) => self.str(key, value),
            None => {
                self.key(key);
                self.body.push_str("null");
                self
            }
        }
    }

    pub fn num(mut self, key: &str, value: f64) -> Self {
        self.key(key);
        if value.is_finite() {
            let _ = write!(self.body, "{value}");
        } else {
            self.body.push_str("null");
        }
        self
    }

    pub fn int(mut self, key: &str, value: i64) -> Self {
        self.key(key);
        let _ = write!(self.body, "{value}");
        self
    }

    pub fn bool(mut self, key: &str, value: bool) -> Self {
        self.key(key);
        self.body.push_str(if value { "true" } else { "false" });
        self
    }

    pub fn int_array(mut self, key: &str, values: impl IntoIterator<Item = i64>) -> Self {
        self.key(key);
        self.body.push('[');
        for (index, value) in values.into_iter().enumerate() {
            if index > 0 {
                self.body.push(',');
            }
            let _ = write!(self.body, "{value}");
        }
        self.body.push(']');
        self
    }

    pub fn object(mut self, key: &str, value: JsonObject) -> Self {
        self.key(key);
        self.body.push_str(&value.finish());
        self
    }

    pub fn finish(self) -> String {
        format!("{{{}}}", self.body)
    }
}

fn push_string(out: &mut String, text: &str) {
    out.push('"');
    for ch in text.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            ch if (ch as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", ch as u32);
            }
            ch => out.push(ch),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_escaped_objects() {
        let line = JsonObject::new()
            .str("name", "a \"b\"\n")
            .int("n", -3)
            .num("x", 0.5)
            .num("nan", f64::NAN)
            .bool("ok", true)
            .opt_str("error", None)
            .object("inner", JsonObject::new().int("k", 1))
            .int_array("list", [3, -1])
            .int_array("empty", [])
            .finish();
        assert_eq!(
            line,
            r#"{"name":"a \"b\"\n","n":-3,"x":0.5,"nan":null,"ok":true,"error":null,"inner":{"k":1},"list":[3,-1],"empty":[]}"#
        );
    }
}
