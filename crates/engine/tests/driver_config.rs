//! Wasio.toml applied by the driver core, end to end against the simulated device: errors
//! at init, channels, sample types, buffer sizes, rates, device selection, modes,
//! follow-default, the config watcher's reset request, the status file, the control panel.

mod common;

use asio_abi::*;
use common::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use wasio_engine::sim::SimDeviceSpec;
use wasio_engine::DriverError;

fn profile() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn init(h: &Host) -> AsioBool {
    h.driver.init(std::ptr::null_mut())
}

#[test]
fn a_malformed_file_fails_init_with_file_line_and_key() {
    let dir = profile();
    let h = host_in(
        dir.path(),
        SimDeviceSpec::default(),
        Some("[output]\nmode = \"exclusiv\"\n"),
    );
    assert_eq!(init(&h), ASIO_FALSE);
    let text = error_text(&h.driver);
    assert!(text.starts_with("Wasio.toml:2:"), "{text}");
    assert!(text.contains("output.mode"), "{text}");
    assert!(text.contains("exclusiv"), "{text}");
    // The driver is alive: fixing the file makes the next init work.
    h.write_config("[output]\nmode = \"shared\"\n");
    assert_eq!(init(&h), ASIO_TRUE, "{}", error_text(&h.driver));

    // A syntax error, and a value out of range.
    drop(h);
    let h2 = host_in(
        dir.path(),
        SimDeviceSpec::default(),
        Some("sample_rate = 48000\n[buffer\n"),
    );
    assert_eq!(init(&h2), ASIO_FALSE);
    assert!(
        error_text(&h2.driver).starts_with("Wasio.toml:2:"),
        "{}",
        error_text(&h2.driver)
    );
    drop(h2);
    let h3 = host_in(
        dir.path(),
        SimDeviceSpec::default(),
        Some("\n[buffer]\nmin = 0\n"),
    );
    assert_eq!(init(&h3), ASIO_FALSE);
    let text = error_text(&h3.driver);
    assert!(
        text.starts_with("Wasio.toml:3:") && text.contains("buffer.min"),
        "{text}"
    );
}

#[test]
fn a_missing_file_gives_the_defaults() {
    let dir = profile();
    let h = host_in(dir.path(), SimDeviceSpec::default(), None);
    assert_eq!(init(&h), ASIO_TRUE);
    assert_eq!(outputs(&h.driver), 2);
    assert_eq!(buffer_sizes(&h.driver), (32, 8192, 480, 1));
    assert_eq!(channel_info(&h.driver, 0).2, SampleType::Float32Lsb as i32);
}

#[test]
fn the_channel_subset_is_exposed_in_order_with_real_names() {
    let dir = profile();
    let spec = SimDeviceSpec {
        mix_format: wasio_engine::format::StreamFormat {
            channels: 6,
            channel_mask: 0x3F,
            ..SimDeviceSpec::default().mix_format
        },
        ..SimDeviceSpec::default()
    };
    let h = host_in(dir.path(), spec, Some("[output]\nchannels = [5, 1]\n"));
    assert_eq!(init(&h), ASIO_TRUE, "{}", error_text(&h.driver));
    assert_eq!(outputs(&h.driver), 2);
    let first = channel_info(&h.driver, 0);
    let second = channel_info(&h.driver, 1);
    assert_eq!(first.0, ASE_OK);
    assert_eq!(first.1, "Back Right");
    assert_eq!(second.1, "Front Right");
    assert_eq!(channel_info(&h.driver, 2).0, ASE_INVALID_PARAMETER);

    // Host channel 0 (device channel 5) carries the host's samples; the others stay silent.
    *FILL.lock().unwrap() = 0.25f32.to_le_bytes().repeat(256);
    h.backend.control.record.store(true, Ordering::SeqCst);
    assert_eq!(create(&h.driver, &[0], 256), ASE_OK);
    assert_eq!(h.driver.start(), ASE_OK);
    wait_for_switches(20);
    assert_eq!(h.driver.stop(), ASE_OK);
    let played = h.backend.control.played.lock().unwrap().clone();
    let frames: Vec<[f32; 6]> = played
        .chunks_exact(24)
        .map(|f| {
            std::array::from_fn(|c| f32::from_le_bytes(f[c * 4..c * 4 + 4].try_into().unwrap()))
        })
        .collect();
    assert!(frames.iter().filter(|f| f[5] == 0.25).count() > 1000);
    assert!(frames.iter().all(|f| f[..5].iter().all(|&s| s == 0.0)));
    assert!(frames.iter().all(|f| f[5] == 0.25 || f[5] == 0.0));

    // The first n channels, and channels that do not exist.
    drop(h);
    let h = host_in(
        dir.path(),
        SimDeviceSpec::default(),
        Some("[output]\nchannels = 1\n"),
    );
    assert_eq!(init(&h), ASIO_TRUE);
    assert_eq!(outputs(&h.driver), 1);
    assert_eq!(channel_info(&h.driver, 0).1, "Front Left");
    drop(h);
    let h = host_in(
        dir.path(),
        SimDeviceSpec::default(),
        Some("[output]\nchannels = [0, 7]\n"),
    );
    assert_eq!(init(&h), ASIO_FALSE);
    let text = error_text(&h.driver);
    assert!(
        text.contains("output.channels") && text.contains('7'),
        "{text}"
    );
}

#[test]
fn int32_samples_from_the_host_reach_the_device_as_floats() {
    let dir = profile();
    let h = host_in(
        dir.path(),
        SimDeviceSpec::default(),
        Some("[output]\nsample_type = \"int32\"\n"),
    );
    assert_eq!(init(&h), ASIO_TRUE);
    assert_eq!(channel_info(&h.driver, 0).2, SampleType::Int32Lsb as i32);
    // A ramp of exactly representable values: k << 16.
    let block = 300usize;
    let samples: Vec<i32> = (0..block as i32).map(|k| (k - 150) << 16).collect();
    *FILL.lock().unwrap() = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    h.backend.control.record.store(true, Ordering::SeqCst);
    assert_eq!(create(&h.driver, &[0, 1], block as i32), ASE_OK);
    assert_eq!(h.driver.start(), ASE_OK);
    wait_for_switches(30);
    assert_eq!(h.driver.stop(), ASE_OK);
    let played = h.backend.control.played.lock().unwrap().clone();
    let left: Vec<f32> = played
        .chunks_exact(8)
        .map(|f| f32::from_le_bytes(f[..4].try_into().unwrap()))
        .collect();
    let expected: Vec<f32> = samples
        .iter()
        .map(|&s| s as f32 / 2_147_483_648.0)
        .collect();
    // Find the first full block and compare block after block.
    let start = left
        .windows(block)
        .position(|w| w == expected.as_slice())
        .expect("the host's block never reached the device unchanged");
    let whole = (left.len() - start) / block;
    assert!(whole >= 10, "only {whole} blocks played");
    for b in 0..whole {
        assert_eq!(
            &left[start + b * block..start + (b + 1) * block],
            expected.as_slice(),
            "block {b}"
        );
    }
}

#[test]
fn every_sample_type_is_offered_when_configured() {
    let dir = profile();
    for (word, asio) in [
        ("int16", SampleType::Int16Lsb),
        ("int24", SampleType::Int24Lsb),
        ("int32", SampleType::Int32Lsb),
        ("float32", SampleType::Float32Lsb),
        ("float64", SampleType::Float64Lsb),
        ("int32-16", SampleType::Int32Lsb16),
        ("int32-18", SampleType::Int32Lsb18),
        ("int32-20", SampleType::Int32Lsb20),
        ("int32-24", SampleType::Int32Lsb24),
        ("native", SampleType::Float32Lsb),
    ] {
        let h = host_in(
            dir.path(),
            SimDeviceSpec::default(),
            Some(&format!("[output]\nsample_type = \"{word}\"\n")),
        );
        assert_eq!(init(&h), ASIO_TRUE);
        assert_eq!(channel_info(&h.driver, 1).2, asio as i32, "{word}");
        assert_eq!(create(&h.driver, &[0, 1], 128), ASE_OK, "{word}");
        assert_eq!(h.driver.start(), ASE_OK);
        wait_for_switches(5);
        assert_eq!(h.driver.dispose_buffers(), ASE_OK);
    }
}

#[test]
fn the_buffer_policy_comes_from_the_file_when_written() {
    let dir = profile();
    let h = host_in(
        dir.path(),
        SimDeviceSpec::default(),
        Some("[buffer]\nmin = 64\nmax = 1024\npreferred = 256\n"),
    );
    assert_eq!(init(&h), ASIO_TRUE);
    assert_eq!(buffer_sizes(&h.driver), (64, 1024, 256, -1));
    assert_eq!(create(&h.driver, &[0], 441), ASE_INVALID_PARAMETER);
    assert!(
        error_text(&h.driver).contains("power of two"),
        "{}",
        error_text(&h.driver)
    );
    assert_eq!(create(&h.driver, &[0], 512), ASE_OK);
    assert_eq!(h.driver.dispose_buffers(), ASE_OK);
    drop(h);
    let h = host_in(
        dir.path(),
        SimDeviceSpec::default(),
        Some("[buffer]\nmin = 48\nmax = 480\npreferred = 96\ngranularity = 48\n"),
    );
    assert_eq!(init(&h), ASIO_TRUE);
    assert_eq!(buffer_sizes(&h.driver), (48, 480, 96, 48));
    // The file's policy stays when the rate changes; the default one follows the period.
    assert_eq!(h.driver.set_sample_rate(96_000.0), ASE_OK);
    assert_eq!(buffer_sizes(&h.driver), (48, 480, 96, 48));
    drop(h);
    let h = host_in(dir.path(), SimDeviceSpec::default(), None);
    assert_eq!(init(&h), ASIO_TRUE);
    assert_eq!(h.driver.set_sample_rate(96_000.0), ASE_OK);
    assert_eq!(buffer_sizes(&h.driver), (32, 8192, 960, 1));
}

#[test]
fn the_configured_sample_rate_is_the_starting_rate() {
    let dir = profile();
    let h = host_in(
        dir.path(),
        SimDeviceSpec::default(),
        Some("sample_rate = 44100\n"),
    );
    assert_eq!(init(&h), ASIO_TRUE);
    let mut rate = 0.0;
    // SAFETY: a valid, writable local.
    assert_eq!(unsafe { h.driver.get_sample_rate(&mut rate) }, ASE_OK);
    assert_eq!(rate, 44_100.0);
    drop(h);
    let h = host_in(
        dir.path(),
        SimDeviceSpec::default(),
        Some("sample_rate = 22050\n"),
    );
    assert_eq!(init(&h), ASIO_FALSE);
    let text = error_text(&h.driver);
    assert!(
        text.contains("sample_rate") && text.contains("22050"),
        "{text}"
    );
}

#[test]
fn devices_are_selected_by_name_id_and_regex() {
    let dir = profile();
    for selector in [
        "device = { name = \"wasio_b\" }",
        "device = { id = \"{0.0.0.00000000}.{BBBB}\" }",
        "device = { regex = \"_b$\" }",
    ] {
        let h = host_in(
            dir.path(),
            two_endpoints(),
            Some(&format!("[output]\n{selector}\n")),
        );
        assert_eq!(init(&h), ASIO_TRUE, "{selector}: {}", error_text(&h.driver));
        assert_eq!(create(&h.driver, &[0, 1], 256), ASE_OK);
        assert_eq!(
            h.backend.control.opened_endpoint.lock().unwrap().as_deref(),
            Some("{0.0.0.00000000}.{bbbb}"),
            "{selector}"
        );
    }
    let h = host_in(dir.path(), two_endpoints(), None);
    assert_eq!(init(&h), ASIO_TRUE);
    assert_eq!(create(&h.driver, &[0, 1], 256), ASE_OK);
    assert_eq!(
        h.backend.control.opened_endpoint.lock().unwrap().as_deref(),
        Some("{0.0.0.00000000}.{aaaa}")
    );
    drop(h);
    let h = host_in(
        dir.path(),
        two_endpoints(),
        Some("[output]\ndevice = { name = \"wasio_c\" }\n"),
    );
    assert_eq!(init(&h), ASIO_FALSE);
    let text = error_text(&h.driver);
    assert!(text.contains("\"wasio_c\""), "{text}");
    assert!(
        text.contains("\"wasio_a\"") && text.contains("\"wasio_b\""),
        "{text}"
    );
}

#[test]
fn a_forced_mode_the_device_refuses_fails_init_clearly() {
    // The default simulated device refuses exclusive use, as winepulse does.
    let dir = profile();
    let h = host_in(
        dir.path(),
        SimDeviceSpec::default(),
        Some("[output]\nmode = \"exclusive-event\"\n"),
    );
    assert_eq!(init(&h), ASIO_FALSE);
    let text = error_text(&h.driver);
    assert!(
        text.contains("exclusive, event-driven") && text.contains("AUDCLNT_E_"),
        "{text}"
    );
    drop(h);
    for mode in ["shared", "auto"] {
        let h = host_in(
            dir.path(),
            SimDeviceSpec::default(),
            Some(&format!("[output]\nmode = \"{mode}\"\n")),
        );
        assert_eq!(init(&h), ASIO_TRUE);
        assert_eq!(create(&h.driver, &[0, 1], 256), ASE_OK, "{mode}");
    }
}

#[test]
fn follow_default_asks_for_a_reset_when_the_default_changes() {
    let dir = profile();
    let h = host_in(
        dir.path(),
        two_endpoints(),
        Some("[output]\ndevice = \"follow-default\"\n"),
    );
    assert_eq!(init(&h), ASIO_TRUE);
    assert_eq!(create(&h.driver, &[0, 1], 256), ASE_OK);
    assert_eq!(h.driver.start(), ASE_OK);
    assert!(h.backend.change_default_endpoint());
    wait_until("the reset request", || {
        RESET_REQUESTS.load(Ordering::SeqCst) == 1
    });
    assert_eq!(*MESSAGES.lock().unwrap(), vec![message::RESET_REQUEST]);
    assert_eq!(h.driver.dispose_buffers(), ASE_OK);
    drop(h);
    // The plain default does not follow.
    let h = host_in(dir.path(), two_endpoints(), None);
    assert_eq!(init(&h), ASIO_TRUE);
    assert_eq!(create(&h.driver, &[0, 1], 256), ASE_OK);
    assert!(!h.backend.change_default_endpoint());
}

#[test]
fn editing_the_file_while_streaming_sends_one_reset_request() {
    let dir = profile();
    let h = host_in(
        dir.path(),
        SimDeviceSpec::default(),
        Some("[output]\nmode = \"shared\"\n"),
    );
    assert_eq!(init(&h), ASIO_TRUE);
    assert_eq!(create(&h.driver, &[0, 1], 256), ASE_OK);
    assert_eq!(h.driver.start(), ASE_OK);
    wait_for_switches(5);
    assert_eq!(RESET_REQUESTS.load(Ordering::SeqCst), 0);
    h.write_config("[output]\nmode = \"shared\"\nchannels = 1\n");
    wait_until("the reset request", || {
        RESET_REQUESTS.load(Ordering::SeqCst) >= 1
    });
    assert_eq!(h.driver.resets_sent(), 1);
    // The host resets: the new file applies.
    assert_eq!(h.driver.dispose_buffers(), ASE_OK);
    assert_eq!(init(&h), ASIO_TRUE);
    assert_eq!(outputs(&h.driver), 1);
    // Without buffers there is no one to tell: a change sends nothing.
    h.write_config("[output]\nchannels = 2\n");
    std::thread::sleep(wasio_engine::monitor::POLL_INTERVAL * 4);
    assert_eq!(RESET_REQUESTS.load(Ordering::SeqCst), 1);
}

/// The status file as compact JSON (empty while it does not exist or is being replaced).
fn read_status(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    wasio_engine::status::DriverStatus::from_json(&text)
        .map(|status| serde_json::to_string(&status).unwrap_or_default())
        .unwrap_or_default()
}

#[test]
fn the_status_file_follows_the_instance() {
    let dir = profile();
    let h = host_in(dir.path(), SimDeviceSpec::default(), None);
    let path = h.driver.status_path().unwrap();
    let pid = std::process::id();
    assert!(path.ends_with(format!("status-{pid}-{}.json", h.driver.instance())));
    assert_eq!(init(&h), ASIO_TRUE);
    wait_until("the initialized status", || {
        read_status(&path).contains("\"state\":\"initialized\"")
    });
    let text = read_status(&path);
    assert!(
        text.contains(&format!("\"pid\":{pid},\"process\":\"host.exe\"")),
        "{text}"
    );
    assert!(text.contains("\"device\":\"Simulated output\""), "{text}");
    assert!(text.contains("\"sample_rate\":48000.0"), "{text}");
    assert_eq!(create(&h.driver, &[0, 1], 256), ASE_OK);
    assert_eq!(h.driver.start(), ASE_OK);
    wait_until("a running status with switches", || {
        let text = read_status(&path);
        text.contains("\"state\":\"running\"") && !text.contains("\"switches\":0,")
    });
    let text = read_status(&path);
    for part in [
        "\"mode\":\"shared, event-driven\"",
        "\"buffer_frames\":256",
        "\"period_frames\":480",
        "\"device_buffer_frames\":1440",
        "\"format\":\"Float32 2ch 48000 Hz\"",
        "\"input_latency\":0",
        "\"output_latency\":1696",
        "\"xruns\":0",
        "\"driver_version\":\"",
    ] {
        assert!(text.contains(part), "{part} missing in {text}");
    }
    // Underruns show as xruns.
    h.backend
        .control
        .drain_next_tick
        .store(true, Ordering::SeqCst);
    wait_until("an xrun in the status", || {
        !read_status(&path).contains("\"xruns\":0,")
    });
    assert_eq!(h.driver.stop(), ASE_OK);
    wait_until("the prepared status", || {
        read_status(&path).contains("\"state\":\"prepared\"")
    });
    drop(h);
    assert!(!path.exists(), "the status file outlived the instance");
}

#[test]
fn the_control_panel_is_launched_through_the_environment() {
    let dir = profile();
    let launches = Arc::new(AtomicU64::new(0));
    let counted = launches.clone();
    let h = host_with_env(dir.path(), SimDeviceSpec::default(), None, move |env| {
        env.control_panel = Box::new(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            Ok(())
        });
    });
    assert_eq!(h.driver.control_panel(), ASE_OK);
    assert_eq!(launches.load(Ordering::SeqCst), 1);
    drop(h);
    let h = host_with_env(dir.path(), SimDeviceSpec::default(), None, |env| {
        env.control_panel = Box::new(|| {
            Err(DriverError::not_present(
                "C:\\Wasio\\wasio-panel.exe is missing",
            ))
        });
    });
    assert_eq!(h.driver.control_panel(), ASE_NOT_PRESENT);
    assert!(error_text(&h.driver).contains("wasio-panel.exe is missing"));
}
