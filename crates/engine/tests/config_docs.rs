//! docs/CONFIGURATION.md stays true: its examples parse, and it documents every key.

use std::path::Path;

use wasio_engine::config::*;

fn docs() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/CONFIGURATION.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The contents of every fenced block whose info string is `lang`.
fn blocks(text: &str, lang: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match &mut current {
            None if line.trim_start() == format!("```{lang}") => current = Some(String::new()),
            Some(block) if line.trim_start() == "```" => {
                found.push(std::mem::take(block));
                current = None;
            }
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
            None => {}
        }
    }
    found
}

#[test]
fn every_example_is_a_valid_file() {
    let examples = blocks(&docs(), "toml");
    assert!(examples.len() >= 4, "{} examples", examples.len());
    for example in &examples {
        if let Err(error) = Settings::parse(example, Path::new("CONFIGURATION.md")) {
            panic!("{error}\n{example}");
        }
    }
}

#[test]
fn the_documented_error_message_is_the_real_one() {
    let text = "# Wasio\n\n[output]\ndevice = \"default\"\n\n\nmode = \"exclusiv\"\n";
    let error = Settings::parse(text, Path::new(r"C:\Users\me\Wasio.toml")).unwrap_err();
    let docs = docs();
    assert!(docs.contains(&error.short()), "{}", error.short());
    assert!(docs.contains(&error.to_string()), "{error}");
}

#[test]
fn every_key_and_value_word_is_documented() {
    let docs = docs();
    let mut all = Config::default();
    all.sample_rate = Some(48000.0);
    all.buffer = BufferConfig {
        min: Some(1),
        max: Some(1),
        preferred: Some(1),
        granularity: Some(GranularityConfig::PowerOfTwo),
    };
    all.logging = LoggingConfig {
        enabled: Some(true),
        path: Some("x".into()),
        level: Some(LogLevel::Info),
        max_size_kib: Some(1),
        keep: Some(1),
    };
    all.output = DirectionConfig {
        enabled: Some(true),
        device: Some(DeviceConfig::Default),
        mode: Some(Mode::Auto),
        channels: Some(ChannelsConfig::Count(1)),
        sample_type: Some(SampleTypeChoice::Native),
        period_ms: Some(1.0),
        buffer_ms: Some(1.0),
    };
    all.input = all.output.clone();
    let table: toml::Table = toml::from_str(&all.to_toml_string()).unwrap();
    let mut keys = 0;
    for (key, value) in &table {
        match value.as_table() {
            Some(section) => {
                assert!(docs.contains(&format!("`[{key}]`")), "section [{key}]");
                for key in section.keys() {
                    assert!(docs.contains(&format!("`{key}`")), "key {key}");
                    keys += 1;
                }
            }
            None => {
                assert!(docs.contains(&format!("`{key}`")), "key {key}");
                keys += 1;
            }
        }
    }
    assert_eq!(keys, 1 + 4 + 5 + 7 + 7);
    for word in Mode::ALL.iter().map(|m| m.as_str()) {
        assert!(docs.contains(&format!("`\"{word}\"`")), "mode {word}");
    }
    for word in SampleTypeChoice::ALL.iter().map(|m| m.as_str()) {
        assert!(
            docs.contains(&format!("`\"{word}\"`")),
            "sample type {word}"
        );
    }
    for word in LogLevel::ALL.iter().map(|m| m.as_str()) {
        assert!(docs.contains(&format!("`\"{word}\"`")), "log level {word}");
    }
    for word in [
        "\"default\"",
        "\"follow-default\"",
        "{ name =",
        "{ id =",
        "{ regex =",
    ] {
        assert!(docs.contains(&format!("`{word}")), "device {word}");
    }
    assert!(docs.contains(CONFIG_FILE_NAME) && docs.contains(LOG_FILE_NAME));
}
