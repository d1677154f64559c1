//! The status file: what a running driver instance is doing, for `wasio status` and the
//! control panel.
//!
//! The driver writes `%TEMP%\Wasio\status-<pid>-<instance>.json` ([`status_file_path`]), one
//! [`DriverStatus`] as a JSON object, at every state change and about twice a second while
//! running, and deletes it when the instance is released. Readers list the directory with
//! [`read_status_dir`]; a file whose process is gone or that was not updated for
//! [`STALE_AFTER_MS`] is reported as stale (a crashed host leaves its file behind).
//! The format is documented in docs/CLI.md.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Directory name under the temporary directory.
pub const STATUS_DIR_NAME: &str = "Wasio";
/// A status file not updated for this long is stale.
pub const STALE_AFTER_MS: u64 = 10_000;

/// One driver instance's status, as written to its status file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DriverStatus {
    /// The host process's ID.
    pub pid: u32,
    /// The host process's executable name, e.g. `Reaper.exe`.
    pub process: String,
    /// Distinguishes several driver instances in one process.
    pub instance: u64,
    /// The ASIO life-cycle state: `loaded`, `initialized`, `prepared` or `running`.
    pub state: String,
    /// The stream mode in use, e.g. `shared, event-driven` or `exclusive, polling`; empty before a stream exists.
    pub mode: String,
    /// The output endpoint's friendly name.
    pub device: String,
    pub sample_rate: f64,
    /// The ASIO buffer size the host chose (0 before `createBuffers`).
    pub buffer_frames: u32,
    /// The WASAPI device period, in frames.
    pub period_frames: u32,
    /// The WASAPI device buffer (`IAudioClient::GetBufferSize`), in frames.
    pub device_buffer_frames: u32,
    /// The device stream format, e.g. `Float32 2ch 48000 Hz`.
    pub format: String,
    /// `getLatencies`, in frames.
    pub input_latency: i32,
    pub output_latency: i32,
    /// Buffer switches since `start`.
    pub switches: u64,
    /// Device periods the driver could not fill in time.
    pub xruns: u64,
    /// When the file was written, milliseconds since the Unix epoch.
    pub updated_unix_ms: u64,
    pub driver_version: String,
    /// The capture endpoint's friendly name; empty when the stream has no inputs.
    #[serde(default)]
    pub input_device: String,
    /// How the input reaches the host: bit-exact on one clock, or resampled.
    #[serde(default)]
    pub input_mode: String,
    /// Estimated drift of the capture clock against the render clock, ppm (0 on one clock).
    #[serde(default)]
    pub drift_ppm: f64,
}

impl DriverStatus {
    /// The file's contents: one JSON object.
    pub fn to_json(&self) -> String {
        // Serializing a struct of strings and numbers cannot fail (non-finite floats become
        // null); fall back to an empty object rather than panicking if it ever did.
        serde_json::to_string_pretty(self).unwrap_or_else(|_| "{}".to_string())
    }

    /// Parses a status file's contents. Unknown fields are ignored (a newer driver may add
    /// some); missing fields are an error.
    pub fn from_json(text: &str) -> Result<DriverStatus, String> {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }

    /// Writes the status file into `dir` (created if needed): to a temporary name first,
    /// then renamed, so that a reader never sees half a file. Returns the file's path.
    pub fn write_to(&self, dir: &Path) -> io::Result<PathBuf> {
        std::fs::create_dir_all(dir)?;
        let path = status_file_path(dir, self.pid, self.instance);
        let temporary = path.with_extension("json.tmp");
        std::fs::write(&temporary, self.to_json())?;
        std::fs::rename(&temporary, &path).inspect_err(|_| {
            let _ = std::fs::remove_file(&temporary);
        })?;
        Ok(path)
    }
}

/// `<temp>\Wasio`, given the temporary directory (`%TEMP%`).
pub fn status_dir(temp_dir: &Path) -> PathBuf {
    temp_dir.join(STATUS_DIR_NAME)
}

/// `<dir>\status-<pid>-<instance>.json`.
pub fn status_file_path(dir: &Path, pid: u32, instance: u64) -> PathBuf {
    dir.join(format!("status-{pid}-{instance}.json"))
}

/// Milliseconds since the Unix epoch, now.
pub fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Why a status file no longer describes a running instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Staleness {
    /// The instance is live: its process runs and the file is recent.
    Live,
    /// The process that wrote the file no longer exists (the host crashed or was killed).
    ProcessGone,
    /// The file was not updated for this many milliseconds.
    NotUpdated { age_ms: u64 },
}

impl Staleness {
    pub fn is_live(&self) -> bool {
        *self == Staleness::Live
    }

    /// Words for reports: `live`, or why the file is stale.
    pub fn describe(&self) -> String {
        match self {
            Staleness::Live => "live".to_string(),
            Staleness::ProcessGone => "stale: the process no longer exists".to_string(),
            Staleness::NotUpdated { age_ms } => {
                format!("stale: not updated for {:.1} s", *age_ms as f64 / 1000.0)
            }
        }
    }
}

/// Judges a status read at `now_unix_ms`; `process_alive` says whether its PID still runs.
pub fn staleness(status: &DriverStatus, now_unix_ms: u64, process_alive: bool) -> Staleness {
    if !process_alive {
        return Staleness::ProcessGone;
    }
    let age_ms = now_unix_ms.saturating_sub(status.updated_unix_ms);
    if age_ms > STALE_AFTER_MS {
        Staleness::NotUpdated { age_ms }
    } else {
        Staleness::Live
    }
}

/// One status file found in the directory.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusEntry {
    pub path: PathBuf,
    /// The parsed status, or why the file could not be read.
    pub status: Result<DriverStatus, String>,
    /// [`Staleness::Live`] only when the file parsed, its process runs and it is recent.
    pub staleness: Staleness,
}

/// Reads every `status-*.json` in `dir`, sorted by file name. A missing directory means no
/// instance ever ran: an empty list, not an error.
pub fn read_status_dir(
    dir: &Path,
    now_unix_ms: u64,
    process_alive: impl Fn(u32) -> bool,
) -> io::Result<Vec<StatusEntry>> {
    let listing = match std::fs::read_dir(dir) {
        Ok(listing) => listing,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error),
    };
    let mut paths: Vec<PathBuf> = listing
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("status-") && n.ends_with(".json"))
        })
        .collect();
    paths.sort();
    Ok(paths
        .into_iter()
        .map(|path| {
            let status = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read: {e}"))
                .and_then(|text| DriverStatus::from_json(&text));
            let staleness = match &status {
                Ok(status) => staleness(status, now_unix_ms, process_alive(status.pid)),
                // An unreadable file describes nothing that runs; judge it by its age alone.
                Err(_) => Staleness::NotUpdated { age_ms: 0 },
            };
            StatusEntry {
                path,
                status,
                staleness,
            }
        })
        .collect())
}

/// The status file of one driver instance (the writer side); deleted on drop.
#[derive(Debug)]
pub struct StatusFile {
    path: PathBuf,
}

impl StatusFile {
    /// `<dir>/status-<pid>-<instance>.json` (the directory is created on first write).
    pub fn new(dir: &Path, pid: u32, instance: u64) -> Self {
        Self {
            path: status_file_path(dir, pid, instance),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Replaces the file's content in one step.
    pub fn write(&self, status: &DriverStatus) -> io::Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        status.write_to(dir).map(|_| ())
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

    fn sample(pid: u32, instance: u64, updated_unix_ms: u64) -> DriverStatus {
        DriverStatus {
            pid,
            process: "Reaper.exe".into(),
            instance,
            state: "running".into(),
            mode: "shared".into(),
            device: "Speakers (Realtek)".into(),
            sample_rate: 48_000.0,
            buffer_frames: 256,
            period_frames: 480,
            device_buffer_frames: 1056,
            format: "48000 Hz, 2 ch (mask 0x3), float32".into(),
            input_latency: 0,
            output_latency: 1312,
            switches: 1234,
            xruns: 2,
            updated_unix_ms,
            driver_version: "0.1.0".into(),
            input_device: "Microphone (USB)".into(),
            input_mode: "independent clocks, adaptive resampling".into(),
            drift_ppm: -37.5,
        }
    }

    #[test]
    fn json_round_trips_and_names_every_documented_field() {
        let status = sample(42, 1, 1_700_000_000_000);
        let text = status.to_json();
        for field in [
            "pid",
            "process",
            "instance",
            "state",
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
            "input_device",
            "input_mode",
            "drift_ppm",
        ] {
            assert!(text.contains(&format!("\"{field}\":")), "{field} in {text}");
        }
        assert_eq!(DriverStatus::from_json(&text).unwrap(), status);
    }

    #[test]
    fn unknown_fields_are_ignored_missing_ones_are_errors() {
        let mut value: serde_json::Value =
            serde_json::from_str(&sample(1, 0, 5).to_json()).unwrap();
        value["future_field"] = serde_json::json!(true);
        assert!(DriverStatus::from_json(&value.to_string()).is_ok());
        value.as_object_mut().unwrap().remove("xruns");
        let error = DriverStatus::from_json(&value.to_string()).unwrap_err();
        assert!(error.contains("xruns"), "{error}");
        assert!(DriverStatus::from_json("not json").is_err());
    }

    #[test]
    fn staleness_by_process_and_age() {
        let status = sample(7, 0, 100_000);
        assert_eq!(staleness(&status, 100_500, true), Staleness::Live);
        assert_eq!(staleness(&status, 110_000, true), Staleness::Live);
        assert_eq!(
            staleness(&status, 110_001, true),
            Staleness::NotUpdated { age_ms: 10_001 }
        );
        assert_eq!(staleness(&status, 100_500, false), Staleness::ProcessGone);
        // A clock that went backwards does not make a file stale.
        assert_eq!(staleness(&status, 50_000, true), Staleness::Live);
        assert!(Staleness::NotUpdated { age_ms: 12_300 }
            .describe()
            .contains("12.3 s"));
    }

    #[test]
    fn directory_listing_reads_judges_and_ignores_other_files() {
        let temp = tempfile::tempdir().unwrap();
        let dir = status_dir(temp.path());
        assert!(read_status_dir(&dir, 0, |_| true).unwrap().is_empty());
        let now = 1_000_000;
        let live = sample(10, 1, now - 300).write_to(&dir).unwrap();
        assert_eq!(live, dir.join("status-10-1.json"));
        sample(11, 2, now - 60_000).write_to(&dir).unwrap();
        sample(12, 0, now).write_to(&dir).unwrap();
        std::fs::write(dir.join("status-13-0.json"), "{ broken").unwrap();
        std::fs::write(dir.join("notes.txt"), "not a status file").unwrap();
        let entries = read_status_dir(&dir, now, |pid| pid != 12).unwrap();
        let names: Vec<_> = entries
            .iter()
            .map(|e| e.path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "status-10-1.json",
                "status-11-2.json",
                "status-12-0.json",
                "status-13-0.json"
            ]
        );
        assert_eq!(entries[0].staleness, Staleness::Live);
        assert_eq!(entries[0].status.as_ref().unwrap().switches, 1234);
        assert_eq!(
            entries[1].staleness,
            Staleness::NotUpdated { age_ms: 60_000 }
        );
        assert_eq!(entries[2].staleness, Staleness::ProcessGone);
        assert!(entries[3].status.is_err());
        assert!(!entries[3].staleness.is_live());
        // No temporary file is left behind.
        assert!(!dir.join("status-10-1.json.tmp").exists());
    }
}
