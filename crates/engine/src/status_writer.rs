//! The driver status file read by `wasio status` and the control panel:
//! `%TEMP%\Wasio\status-<pid>-<instance>.json`, one JSON object, rewritten at every state
//! change and about twice a second while running, deleted when the instance is released.
//!
//! Writes go to a temporary file that is then renamed over the old one, so a reader never
//! sees half a file.

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

/// What one driver instance reports. Strings are empty and numbers 0 until known.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DriverStatus {
    pub pid: u32,
    pub process: String,
    pub instance: u32,
    /// `loaded`, `initialized`, `prepared`, `running`.
    pub state: String,
    pub mode: String,
    pub device: String,
    pub sample_rate: u32,
    pub buffer_frames: u32,
    pub period_frames: u32,
    pub device_buffer_frames: u32,
    /// e.g. `float32 2ch 48000 Hz`.
    pub format: String,
    pub input_latency: u32,
    pub output_latency: u32,
    /// Buffer switches of the current run.
    pub switches: u64,
    /// Output underruns of the current run.
    pub xruns: u64,
    pub updated_unix_ms: u64,
    pub driver_version: String,
}

fn push_json_string(out: &mut String, text: &str) {
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

impl DriverStatus {
    /// The file's content: one JSON object on one line.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(512);
        out.push('{');
        let mut first = true;
        let mut key = |out: &mut String, name: &str| {
            if !first {
                out.push(',');
            }
            first = false;
            push_json_string(out, name);
            out.push(':');
        };
        macro_rules! number {
            ($name:literal, $value:expr) => {{
                key(&mut out, $name);
                let _ = write!(out, "{}", $value);
            }};
        }
        macro_rules! string {
            ($name:literal, $value:expr) => {{
                key(&mut out, $name);
                push_json_string(&mut out, $value);
            }};
        }
        number!("pid", self.pid);
        string!("process", &self.process);
        number!("instance", self.instance);
        string!("state", &self.state);
        string!("mode", &self.mode);
        string!("device", &self.device);
        number!("sample_rate", self.sample_rate);
        number!("buffer_frames", self.buffer_frames);
        number!("period_frames", self.period_frames);
        number!("device_buffer_frames", self.device_buffer_frames);
        string!("format", &self.format);
        number!("input_latency", self.input_latency);
        number!("output_latency", self.output_latency);
        number!("switches", self.switches);
        number!("xruns", self.xruns);
        number!("updated_unix_ms", self.updated_unix_ms);
        string!("driver_version", &self.driver_version);
        out.push('}');
        out
    }
}

/// The status file of one instance; deleted on drop.
#[derive(Debug)]
pub struct StatusFile {
    path: PathBuf,
}

impl StatusFile {
    /// `<dir>/status-<pid>-<instance>.json` (the directory is created on first write).
    pub fn new(dir: &Path, pid: u32, instance: u32) -> Self {
        Self {
            path: dir.join(format!("status-{pid}-{instance}.json")),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Replaces the file's content in one step.
    pub fn write(&self, status: &DriverStatus) -> io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let temporary = self.path.with_extension("json.tmp");
        std::fs::write(&temporary, status.to_json())?;
        std::fs::rename(&temporary, &self.path)
    }
}

impl Drop for StatusFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        let _ = std::fs::remove_file(self.path.with_extension("json.tmp"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_has_every_field_and_escapes_strings() {
        let status = DriverStatus {
            pid: 7,
            process: "a \"b\"\\c\n.exe".into(),
            instance: 2,
            state: "running".into(),
            sample_rate: 48_000,
            xruns: 3,
            ..Default::default()
        };
        let json = status.to_json();
        assert!(json.starts_with("{\"pid\":7,\"process\":\"a \\\"b\\\"\\\\c\\n.exe\",\"instance\":2,\"state\":\"running\""), "{json}");
        for key in [
            "mode",
            "device",
            "sample_rate",
            "buffer_frames",
            "period_frames",
            "device_buffer_frames",
            "format",
            "input_latency",
            "output_latency",
            "switches",
            "xruns",
            "updated_unix_ms",
            "driver_version",
        ] {
            assert!(
                json.contains(&format!("\"{key}\":")),
                "{key} missing in {json}"
            );
        }
        assert!(json.contains("\"xruns\":3,"));
        assert!(json.ends_with('}'));
    }

    #[test]
    fn the_file_is_replaced_and_deleted_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let file = StatusFile::new(&dir.path().join("Wasio"), 12, 1);
        let path = file.path().to_path_buf();
        assert!(path.ends_with("Wasio/status-12-1.json"));
        let mut status = DriverStatus::default();
        file.write(&status).unwrap();
        status.state = "running".into();
        file.write(&status).unwrap();
        assert!(std::fs::read_to_string(&path)
            .unwrap()
            .contains("\"state\":\"running\""));
        drop(file);
        assert!(!path.exists());
    }
}
