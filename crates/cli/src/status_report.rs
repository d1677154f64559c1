//! `wasio status`: the status files of running driver instances, as text or JSON.

use wasio_engine::status::{StatusEntry, STALE_AFTER_MS};

use crate::json::Json;

fn latency_ms(frames: i32, rate: f64) -> String {
    if rate > 0.0 {
        format!("{:.1} ms", frames as f64 * 1000.0 / rate)
    } else {
        "? ms".to_string()
    }
}

/// A readable report: one block per instance, live ones first; a clear sentence when none
/// runs.
pub fn to_text(entries: &[StatusEntry]) -> String {
    let live = entries.iter().filter(|e| e.staleness.is_live()).count();
    let mut text = String::new();
    if live == 0 {
        text.push_str("no Wasio driver instance is running\n");
    }
    let mut ordered: Vec<&StatusEntry> = entries.iter().collect();
    ordered.sort_by_key(|e| !e.staleness.is_live());
    for entry in ordered {
        match &entry.status {
            Ok(s) => {
                text.push_str(&format!(
                    "{} (PID {}), instance {}: {} [{}]\n",
                    s.process,
                    s.pid,
                    s.instance,
                    s.state,
                    entry.staleness.describe()
                ));
                let mode = if s.mode.is_empty() { "-" } else { &s.mode };
                text.push_str(&format!("  device:    {}\n", s.device));
                text.push_str(&format!("  mode:      {mode}\n"));
                text.push_str(&format!("  format:    {}\n", s.format));
                text.push_str(&format!(
                    "  rate:      {} Hz, buffer {} frames, period {} frames, device buffer {} frames\n",
                    s.sample_rate, s.buffer_frames, s.period_frames, s.device_buffer_frames
                ));
                text.push_str(&format!(
                    "  latency:   input {} frames ({}), output {} frames ({})\n",
                    s.input_latency,
                    latency_ms(s.input_latency, s.sample_rate),
                    s.output_latency,
                    latency_ms(s.output_latency, s.sample_rate)
                ));
                if !s.input_device.is_empty() {
                    text.push_str(&format!(
                        "  input:     {} ({}), drift {:+.1} ppm\n",
                        s.input_device, s.input_mode, s.drift_ppm
                    ));
                }
                text.push_str(&format!(
                    "  switches:  {}, xruns {}; driver {}\n",
                    s.switches, s.xruns, s.driver_version
                ));
            }
            Err(problem) => text.push_str(&format!(
                "{}: unreadable status file: {problem}\n",
                entry.path.display()
            )),
        }
    }
    text
}

/// `{"running": n, "stale_after_ms", "instances": [{…status fields…, "live", "staleness", "file"}]}`.
pub fn to_json(entries: &[StatusEntry]) -> Json {
    let instances = entries
        .iter()
        .map(|entry| {
            let mut pairs: Vec<(String, Json)> = vec![
                (
                    "file".into(),
                    Json::string(entry.path.display().to_string()),
                ),
                ("live".into(), Json::Bool(entry.staleness.is_live())),
                ("staleness".into(), Json::string(entry.staleness.describe())),
            ];
            match &entry.status {
                Ok(s) => pairs.extend([
                    ("pid".into(), Json::Int(s.pid.into())),
                    ("process".into(), Json::string(s.process.clone())),
                    ("instance".into(), Json::Int(s.instance as i64)),
                    ("state".into(), Json::string(s.state.clone())),
                    ("mode".into(), Json::string(s.mode.clone())),
                    ("device".into(), Json::string(s.device.clone())),
                    ("sample_rate".into(), Json::Number(s.sample_rate)),
                    ("buffer_frames".into(), Json::Int(s.buffer_frames.into())),
                    ("period_frames".into(), Json::Int(s.period_frames.into())),
                    (
                        "device_buffer_frames".into(),
                        Json::Int(s.device_buffer_frames.into()),
                    ),
                    ("format".into(), Json::string(s.format.clone())),
                    ("input_latency".into(), Json::Int(s.input_latency.into())),
                    ("output_latency".into(), Json::Int(s.output_latency.into())),
                    ("switches".into(), Json::Int(s.switches as i64)),
                    ("xruns".into(), Json::Int(s.xruns as i64)),
                    ("input_device".into(), Json::string(s.input_device.clone())),
                    ("input_mode".into(), Json::string(s.input_mode.clone())),
                    ("drift_ppm".into(), Json::Number(s.drift_ppm)),
                    (
                        "updated_unix_ms".into(),
                        Json::Int(s.updated_unix_ms as i64),
                    ),
                    (
                        "driver_version".into(),
                        Json::string(s.driver_version.clone()),
                    ),
                ]),
                Err(problem) => pairs.push(("error".into(), Json::string(problem.clone()))),
            }
            Json::Object(pairs)
        })
        .collect();
    Json::object([
        (
            "running",
            Json::Int(entries.iter().filter(|e| e.staleness.is_live()).count() as i64),
        ),
        ("stale_after_ms", Json::Int(STALE_AFTER_MS as i64)),
        ("instances", Json::Array(instances)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use wasio_engine::status::{DriverStatus, Staleness};

    fn entry(pid: u32, staleness: Staleness) -> StatusEntry {
        StatusEntry {
            path: PathBuf::from(format!("status-{pid}-0.json")),
            status: Ok(DriverStatus {
                pid,
                process: "host.exe".into(),
                state: "running".into(),
                mode: "shared".into(),
                device: "Speakers".into(),
                sample_rate: 48_000.0,
                buffer_frames: 256,
                output_latency: 480,
                switches: 99,
                xruns: 1,
                ..DriverStatus::default()
            }),
            staleness,
        }
    }

    #[test]
    fn none_running_is_said_clearly() {
        assert_eq!(to_text(&[]), "no Wasio driver instance is running\n");
        let json = to_json(&[]).to_pretty();
        assert!(json.contains("\"running\": 0") && json.contains("\"instances\": []"));
        let stale = to_text(&[entry(5, Staleness::ProcessGone)]);
        assert!(stale.starts_with("no Wasio driver instance is running\n"));
        assert!(stale.contains("stale: the process no longer exists"));
    }

    #[test]
    fn live_instances_come_first_with_every_figure() {
        let text = to_text(&[
            entry(1, Staleness::NotUpdated { age_ms: 20_000 }),
            entry(2, Staleness::Live),
        ]);
        assert!(
            text.starts_with("host.exe (PID 2), instance 0: running [live]"),
            "{text}"
        );
        assert!(text.contains("output 480 frames (10.0 ms)"), "{text}");
        assert!(text.contains("switches:  99, xruns 1"), "{text}");
        let json = to_json(&[entry(2, Staleness::Live)]).to_pretty();
        assert!(json.contains("\"running\": 1"), "{json}");
        assert!(json.contains("\"xruns\": 1"), "{json}");
        assert!(json.contains("\"live\": true"), "{json}");
    }
}
