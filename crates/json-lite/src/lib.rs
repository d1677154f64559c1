//! A small JSON value with a pretty and a one-line writer, an object builder and a reader.
//!
//! Std only: one implementation for the CLI's reports, the panel's self-check, the bench host's
//! one-object-per-line output and xtask's reading of all of them.

mod read;
mod write;

pub use read::{parse, parse_lines};

/// A JSON value. Object keys keep their insertion order.
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    /// Written as an integer. The reader never makes one: it reads every number as `Number`.
    Int(i64),
    /// Written with Rust's shortest round-trip form (`48000.0` for whole values below 1e15);
    /// NaN and infinities become `null`.
    Number(f64),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    /// An object from `(key, value)` pairs.
    pub fn object<K: Into<String>>(pairs: impl IntoIterator<Item = (K, Json)>) -> Json {
        Json::Object(pairs.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// A string value.
    pub fn string(text: impl Into<String>) -> Json {
        Json::String(text.into())
    }

    /// `value` or `null`.
    pub fn opt<T: Into<Json>>(value: Option<T>) -> Json {
        value.map_or(Json::Null, Into::into)
    }

    /// The member `key` of an object (the last one if the key repeats); `None` for other values.
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(pairs) => pairs.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The member `key` if it is a string.
    pub fn str(&self, key: &str) -> Option<&str> {
        match self.get(key)? {
            Json::String(text) => Some(text),
            _ => None,
        }
    }

    /// The member `key` if it is a number.
    pub fn num(&self, key: &str) -> Option<f64> {
        match self.get(key)? {
            Json::Number(value) => Some(*value),
            Json::Int(value) => Some(*value as f64),
            _ => None,
        }
    }
}

/// Builds one object member by member; `finish` writes it on one line.
#[derive(Default)]
pub struct JsonObject {
    pairs: Vec<(String, Json)>,
}

impl JsonObject {
    pub fn new() -> JsonObject {
        JsonObject::default()
    }

    /// Appends `key: value`.
    pub fn value(mut self, key: &str, value: impl Into<Json>) -> Self {
        self.pairs.push((key.to_string(), value.into()));
        self
    }

    pub fn str(self, key: &str, value: &str) -> Self {
        self.value(key, value)
    }

    pub fn opt_str(self, key: &str, value: Option<&str>) -> Self {
        self.value(key, Json::opt(value))
    }

    pub fn num(self, key: &str, value: f64) -> Self {
        self.value(key, value)
    }

    pub fn int(self, key: &str, value: i64) -> Self {
        self.value(key, value)
    }

    pub fn bool(self, key: &str, value: bool) -> Self {
        self.value(key, value)
    }

    pub fn int_array(self, key: &str, values: impl IntoIterator<Item = i64>) -> Self {
        self.value(
            key,
            Json::Array(values.into_iter().map(Json::Int).collect()),
        )
    }

    pub fn object(self, key: &str, value: JsonObject) -> Self {
        self.value(key, value.into_json())
    }

    pub fn into_json(self) -> Json {
        Json::Object(self.pairs)
    }

    /// The object on one line, without spaces.
    pub fn finish(self) -> String {
        self.into_json().to_compact()
    }
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
        i64::try_from(value).map_or(Json::Number(value as f64), Json::Int)
    }
}
impl From<usize> for Json {
    fn from(value: usize) -> Json {
        Json::from(value as u64)
    }
}
impl From<f64> for Json {
    fn from(value: f64) -> Json {
        Json::Number(value)
    }
}
impl From<&str> for Json {
    fn from(value: &str) -> Json {
        Json::String(value.to_string())
    }
}
impl From<String> for Json {
    fn from(value: String) -> Json {
        Json::String(value)
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
    fn builder_writes_escaped_objects_on_one_line() {
        let line = JsonObject::new()
            .str("name", "a \"b\"\n")
            .int("n", -3)
            .num("x", 0.5)
            .num("whole", 48000.0)
            .num("nan", f64::NAN)
            .bool("ok", true)
            .opt_str("error", None)
            .object("inner", JsonObject::new().int("k", 1))
            .int_array("list", [3, -1])
            .int_array("empty", [])
            .finish();
        assert_eq!(
            line,
            r#"{"name":"a \"b\"\n","n":-3,"x":0.5,"whole":48000.0,"nan":null,"ok":true,"error":null,"inner":{"k":1},"list":[3,-1],"empty":[]}"#
        );
    }

    #[test]
    fn accessors_read_members() {
        let value = Json::object([
            ("s", Json::string("text")),
            ("n", Json::Number(2.5)),
            ("i", Json::Int(7)),
            ("s", Json::string("last")),
        ]);
        assert_eq!(value.str("s"), Some("last"));
        assert_eq!(value.num("n"), Some(2.5));
        assert_eq!(value.num("i"), Some(7.0));
        assert_eq!(value.num("s"), None);
        assert_eq!(value.get("missing"), None);
        assert_eq!(Json::Null.get("s"), None);
    }

    #[test]
    fn written_text_reads_back() {
        let value = Json::object([
            ("name", Json::string("Wasio \u{1}é\t")),
            ("rates", Json::from(vec![44100.5, -2.0e-3])),
            ("nested", Json::object([("ok", Json::Bool(false))])),
            ("none", Json::Null),
        ]);
        assert_eq!(parse(&value.to_pretty()).unwrap(), value);
        assert_eq!(parse(&value.to_compact()).unwrap(), value);
    }
}
