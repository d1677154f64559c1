//! `wasio devices`: every WASAPI endpoint, as text or JSON (Windows only).

use std::fmt::Write;

use wasio_engine::format::StreamFormat;
use wasio_wasapi::{EndpointDetails, Flow};

use crate::json::Json;

fn format_json(format: &StreamFormat) -> Json {
    Json::object([
        ("sample_rate", Json::Int(format.sample_rate.into())),
        ("channels", Json::Int(format.channels.into())),
        ("channel_mask", Json::Int(format.channel_mask.into())),
        ("encoding", Json::string(format.encoding.to_string())),
        ("bits", Json::Int(format.encoding.bits().into())),
        ("valid_bits", Json::Int(format.encoding.valid_bits().into())),
        ("float", Json::Bool(format.encoding.is_float())),
        ("text", Json::string(format.to_string())),
    ])
}

/// One endpoint as JSON (field list in docs/CLI.md).
pub fn endpoint_json(e: &EndpointDetails) -> Json {
    Json::object([
        ("id", Json::string(e.id.clone())),
        ("name", Json::string(e.name.clone())),
        ("flow", Json::string(e.flow.as_str())),
        ("state", Json::string(e.state.as_str())),
        ("default", Json::Bool(e.is_default)),
        (
            "mix_format",
            e.mix_format.as_ref().map_or(Json::Null, format_json),
        ),
        ("channel_mask", Json::opt(e.channel_mask.map(i64::from))),
        ("default_period_hns", Json::opt(e.default_period_hns)),
        ("min_period_hns", Json::opt(e.min_period_hns)),
        (
            "default_period_frames",
            Json::opt(e.default_period_frames.map(|f| f as i64)),
        ),
        (
            "min_period_frames",
            Json::opt(e.min_period_frames.map(|f| f as i64)),
        ),
        (
            "exclusive_formats",
            Json::Array(e.exclusive_formats.iter().map(format_json).collect()),
        ),
        (
            "exclusive_refusal",
            Json::opt(e.exclusive_refusal.clone().map(Json::String)),
        ),
        ("problem", Json::opt(e.problem.clone().map(Json::String))),
    ])
}

/// The readable listing.
pub fn to_text(endpoints: &[EndpointDetails]) -> String {
    let mut text = String::new();
    if endpoints.is_empty() {
        text.push_str("no audio endpoints\n");
    }
    for e in endpoints {
        let _ = writeln!(
            text,
            "{} {}{}: {}",
            e.flow.as_str(),
            e.state.as_str(),
            if e.is_default { ", default" } else { "" },
            e.name
        );
        let _ = writeln!(text, "  id:       {}", e.id);
        if let Some(mix) = &e.mix_format {
            let _ = writeln!(text, "  mix:      {mix}");
        }
        if let Some(mask) = e.channel_mask {
            let names = wasio_engine::channels::channel_names(
                mask,
                e.mix_format.map_or(0, |m| m.channels as usize),
            );
            let _ = writeln!(text, "  channels: mask 0x{mask:x} ({})", names.join(", "));
        }
        if let (Some(default), Some(min)) = (e.default_period_hns, e.min_period_hns) {
            let _ = writeln!(
                text,
                "  periods:  default {:.2} ms ({} frames), minimum {:.2} ms ({} frames)",
                default as f64 / 10_000.0,
                e.default_period_frames.unwrap_or(0),
                min as f64 / 10_000.0,
                e.min_period_frames.unwrap_or(0)
            );
        }
        if e.state == wasio_wasapi::EndpointState::Active {
            if e.exclusive_formats.is_empty() {
                let _ = writeln!(
                    text,
                    "  exclusive: none ({})",
                    e.exclusive_refusal.as_deref().unwrap_or("no answer")
                );
            } else {
                let mut by_encoding: Vec<(String, Vec<String>)> = Vec::new();
                for f in &e.exclusive_formats {
                    let key = f.encoding.to_string();
                    let rate = format!("{}", f.sample_rate);
                    match by_encoding.iter_mut().find(|(k, _)| *k == key) {
                        Some((_, rates)) => rates.push(rate),
                        None => by_encoding.push((key, vec![rate])),
                    }
                }
                for (encoding, rates) in by_encoding {
                    let _ = writeln!(text, "  exclusive: {encoding} at {} Hz", rates.join(", "));
                }
            }
        }
        if let Some(problem) = &e.problem {
            let _ = writeln!(text, "  problem:  {problem}");
        }
    }
    text
}

/// Runs `wasio devices`.
pub fn run(json: bool) -> i32 {
    match wasio_wasapi::list_endpoints(Flow::All) {
        Ok(endpoints) => {
            if json {
                let array = Json::Array(endpoints.iter().map(endpoint_json).collect());
                outln!("{}", array.to_pretty());
            } else {
                crate::print_out(&to_text(&endpoints));
            }
            0
        }
        Err(error) => crate::fail(json, &format!("cannot list the audio endpoints: {error}")),
    }
}
