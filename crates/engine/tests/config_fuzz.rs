//! Fuzzing the parser with proptest (cargo-fuzz needs nightly): random text and mutations of
//! valid files must give settings or a `ConfigError` pointing inside the file, never a panic.

use std::path::Path;

use proptest::prelude::*;
use wasio_engine::config::{Config, ConfigError, Settings, ASIO_ERROR_MESSAGE_BYTES};

const VALID: &str = r#"sample_rate = 48000
[buffer]
min = 48
max = 960
preferred = 144
granularity = 48
[logging]
enabled = true
level = "trace"
max_size_kib = 1024
keep = 3
[output]
device = { regex = "USB.*DAC" }
mode = "exclusive-event"
channels = [0, 1]
sample_type = "int24"
period_ms = 3.0
buffer_ms = 3.0
[input]
enabled = true
device = "follow-default"
mode = "shared"
channels = 2
sample_type = "float32"
"#;

/// Pieces a mutation may insert: TOML punctuation, keys, and troublesome values.
const FRAGMENTS: &[&str] = &[
    "[",
    "]",
    "[[",
    "]]",
    "{",
    "}",
    "=",
    "\"",
    "'",
    "\"\"\"",
    ",",
    ".",
    "#",
    "\n",
    "\r\n",
    "\\",
    "\\u00e9",
    "-",
    "+",
    "0x",
    "1e999",
    "nan",
    "-inf",
    "inf",
    "9223372036854775808",
    "-9223372036854775809",
    "true",
    "[output]",
    "[input]",
    "[buffer]",
    "[logging]",
    "mode",
    "device",
    "channels",
    "regex",
    "name",
    "id",
    "(",
    "*",
    "[0, 0]",
    "{ regex = \"(\" }",
    "é",
    "\u{feff}",
    "\0",
    "1979-05-27T07:32:00Z",
    "period_ms = ",
    "a.b.c = 1",
];

fn check(text: &str) -> Result<(), TestCaseError> {
    match Settings::parse(text, Path::new("Wasio.toml")) {
        Ok(settings) => {
            // Whatever is accepted saves and reloads to the same settings.
            let saved = Config::from(&settings).to_toml_string();
            let reloaded = Settings::parse(&saved, Path::new("Wasio.toml"));
            prop_assert_eq!(reloaded.as_ref().ok(), Some(&settings), "{}", saved);
            Ok(())
        }
        Err(error) => check_error(text, &error),
    }
}

fn check_error(text: &str, error: &ConfigError) -> Result<(), TestCaseError> {
    let lines = text.split('\n').count();
    let line = error.line.expect("parse errors always have a line");
    let column = error.column.expect("parse errors always have a column");
    prop_assert!(
        line >= 1 && line <= lines,
        "line {} of {}: {}",
        line,
        lines,
        error
    );
    let line_text = text.split('\n').nth(line - 1).unwrap_or("");
    prop_assert!(
        column >= 1 && column <= line_text.chars().count() + 1,
        "{}",
        error
    );
    prop_assert!(!error.message.is_empty());
    prop_assert!(error.short().len() < ASIO_ERROR_MESSAGE_BYTES);
    Ok(())
}

#[derive(Debug, Clone)]
enum Mutation {
    Delete { at: usize, len: usize },
    Insert { at: usize, fragment: usize },
    Replace { at: usize, byte: u8 },
    Duplicate { at: usize, len: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1..8usize).prop_map(|(at, len)| Mutation::Delete { at, len }),
        (any::<usize>(), 0..FRAGMENTS.len())
            .prop_map(|(at, fragment)| Mutation::Insert { at, fragment }),
        (any::<usize>(), 0x20u8..0x7f).prop_map(|(at, byte)| Mutation::Replace { at, byte }),
        (any::<usize>(), 1..40usize).prop_map(|(at, len)| Mutation::Duplicate { at, len }),
    ]
}

fn boundary(text: &str, at: usize) -> usize {
    let mut at = at % (text.len() + 1);
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn apply(text: &mut String, mutation: &Mutation) {
    match *mutation {
        Mutation::Delete { at, len } => {
            let start = boundary(text, at);
            let end = boundary(text, start + len.min(text.len() - start));
            text.replace_range(start..end, "");
        }
        Mutation::Insert { at, fragment } => {
            let at = boundary(text, at);
            text.insert_str(at, FRAGMENTS[fragment]);
        }
        Mutation::Replace { at, byte } => {
            let start = boundary(text, at);
            if let Some(c) = text[start..].chars().next() {
                text.replace_range(start..start + c.len_utf8(), &(byte as char).to_string());
            }
        }
        Mutation::Duplicate { at, len } => {
            let start = boundary(text, at);
            let end = boundary(text, start + len.min(text.len() - start));
            let piece = text[start..end].to_string();
            text.insert_str(end, &piece);
        }
    }
}

/// 1000 cases per property (a few seconds); set PROPTEST_CASES for a longer run.
fn fuzz_config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(1000);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

#[test]
fn the_valid_seed_is_valid() {
    Settings::parse(VALID, Path::new("Wasio.toml")).unwrap();
}

proptest! {
    #![proptest_config(fuzz_config())]

    #[test]
    fn random_text_never_panics(text in "\\PC{0,200}") {
        check(&text)?;
    }

    #[test]
    fn random_toml_like_text_never_panics(
        text in "([a-z_\\[\\]{}=\"'.,#0-9 \\-]|\n){0,300}"
    ) {
        check(&text)?;
    }

    #[test]
    fn mutated_valid_files_never_panic(mutations in proptest::collection::vec(mutation(), 1..6)) {
        let mut text = VALID.to_string();
        for mutation in &mutations {
            apply(&mut text, mutation);
        }
        check(&text)?;
    }
}

fn any_step() -> impl Strategy<Value = wasio_engine::config::BufferStep> {
    use wasio_engine::config::BufferStep;
    prop_oneof![
        Just(BufferStep::PowerOfTwo),
        any::<u32>().prop_map(BufferStep::Frames)
    ]
}

proptest! {
    #![proptest_config(fuzz_config())]

    /// The policy's methods never panic, even on a hand-built policy that validation would
    /// refuse (min > max, zero step, sizes near u32::MAX).
    #[test]
    fn buffer_policy_methods_never_panic(
        min in any::<u32>(), max in any::<u32>(), preferred in any::<u32>(),
        step in any_step(), frames in any::<u32>(),
    ) {
        let policy = wasio_engine::config::BufferSizePolicy { min, max, preferred, step };
        let _ = policy.offered();
        let _ = policy.accepts(frames);
        let _ = policy.nearest(frames);
    }

    /// For every policy the parser accepts, `nearest` gives an offered size and `preferred` is
    /// offered.
    #[test]
    fn nearest_is_always_offered_for_valid_policies(
        min in 16i64..2000, span in 0i64..4000, step in 1i64..300, frames in any::<u32>(),
    ) {
        let max = min + span / step * step;
        let text = format!("[buffer]\nmin = {min}\nmax = {max}\npreferred = {min}\ngranularity = {step}\n");
        let settings = Settings::parse(&text, Path::new("Wasio.toml")).unwrap();
        let policy = settings.buffer.unwrap();
        prop_assert!(policy.accepts(policy.preferred));
        prop_assert!(policy.accepts(policy.nearest(frames)));
        let nearest = policy.nearest(frames);
        let clamped = frames.clamp(policy.min, policy.max);
        // No offered size is closer.
        let mut size = policy.min;
        while size <= policy.max {
            prop_assert!(size.abs_diff(clamped) >= nearest.abs_diff(clamped));
            size += step as u32;
        }
    }
}
