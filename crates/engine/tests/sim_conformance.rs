//! The simulated WASAPI against Microsoft's documented rules, through the port's calls
//! alone: if the simulator is changed to something Windows would not do (an exclusive
//! event stream whose buffer is not its period, an alignment refusal without the aligned
//! size, a shared buffer under three periods, a capture stamp that is not the first
//! frame's…), these fail.

use std::sync::Arc;
use wasio_engine::capture_clock::StampMeaning;
use wasio_engine::format::{frames_to_hns, DeviceFormat, StreamFormat};
use wasio_engine::port::*;
use wasio_engine::sim::{SimControl, SimDeviceSpec, SimInputSpec, SimPort, BOOT_NS};

fn machine(spec: SimDeviceSpec) -> SimPort {
    SimPort::new(
        SimDeviceSpec {
            tick: std::time::Duration::ZERO,
            ..spec
        },
        Arc::new(SimControl::default()),
    )
}

fn output(port: &SimPort) -> <SimPort as AudioPort>::Device {
    port.create_enumerator()
        .unwrap()
        .default_audio_endpoint(Flow::Render, Role::Console)
        .unwrap()
}

fn stereo(rate: u32, encoding: DeviceFormat) -> [u8; 40] {
    StreamFormat {
        sample_rate: rate,
        channels: 2,
        channel_mask: 3,
        encoding,
    }
    .to_extensible()
}

const FLOAT48: fn() -> [u8; 40] = || stereo(48_000, DeviceFormat::Float32);
const EVENT: u32 = stream_flags::EVENTCALLBACK;

fn exclusive_event(client: &SimClient, frames: usize, rate: u32) -> PortResult<()> {
    let hns = frames_to_hns(frames, rate);
    client.initialize(
        ShareMode::Exclusive,
        EVENT,
        hns,
        hns,
        &stereo(rate, DeviceFormat::Float32),
    )
}

use wasio_engine::sim::SimClient;

/// Waits on `event` `n` times; returns the simulated ns between the first and the last.
fn events(port: &SimPort, event: &SimHandle, n: usize) -> u64 {
    assert_eq!(
        port.wait_for_multiple(&[event], 100).unwrap(),
        Wait::Signaled(0)
    );
    let first = port.qpc_ns();
    for _ in 1..n {
        assert_eq!(
            port.wait_for_multiple(&[event], 100).unwrap(),
            Wait::Signaled(0)
        );
    }
    port.qpc_ns() - first
}

use wasio_engine::sim::SimHandle;

#[test]
fn an_exclusive_event_stream_has_a_buffer_of_one_period_and_one_event_per_period() {
    let port = machine(SimDeviceSpec::exclusive_capable());
    let client = output(&port).activate_audio_client().unwrap();
    exclusive_event(&client, 256, 48_000).unwrap();
    assert_eq!(
        client.buffer_size().unwrap(),
        256,
        "the buffer is the period"
    );
    let event = port.create_event().unwrap();
    client.set_event_handle(&event).unwrap();
    let mut render = client.render_client().unwrap();
    render.get_buffer(256).unwrap().fill(0);
    render.release_buffer(256, buffer_flags::SILENT).unwrap();
    client.start().unwrap();
    // Ten periods of 256 frames, refilled at each event: 9 intervals of 5.33 ms.
    let mut first = None;
    for _ in 0..10 {
        assert_eq!(
            port.wait_for_multiple(&[&event], 100).unwrap(),
            Wait::Signaled(0)
        );
        first.get_or_insert(port.qpc_ns());
        assert_eq!(
            client.current_padding().unwrap(),
            0,
            "the device took the period"
        );
        render.get_buffer(256).unwrap().fill(0);
        render.release_buffer(256, 0).unwrap();
    }
    let span = port.qpc_ns() - first.unwrap();
    assert!(
        (span as f64 - 9.0 * 256.0 * 1e9 / 48_000.0).abs() < 1_000.0,
        "{span}"
    );
}

#[test]
fn exclusive_event_needs_the_buffer_duration_equal_to_the_period() {
    let port = machine(SimDeviceSpec::exclusive_capable());
    let client = output(&port).activate_audio_client().unwrap();
    let result = client.initialize(ShareMode::Exclusive, EVENT, 200_000, 100_000, &FLOAT48());
    assert_eq!(result, Err(AUDCLNT_E_BUFDURATION_PERIOD_NOT_EQUAL));
}

#[test]
fn an_unaligned_period_is_refused_with_the_next_aligned_size_and_a_new_client_takes_it() {
    let port = machine(SimDeviceSpec::exclusive_capable());
    let device = output(&port);
    let failed = device.activate_audio_client().unwrap();
    // 441 frames of stereo float32 = 3528 bytes, not a multiple of 128.
    assert_eq!(
        exclusive_event(&failed, 441, 44_100),
        Err(AUDCLNT_E_BUFFER_SIZE_NOT_ALIGNED)
    );
    assert_eq!(failed.buffer_size().unwrap(), 448, "the next aligned size");
    assert_eq!(
        exclusive_event(&failed, 448, 44_100),
        Err(AUDCLNT_E_ALREADY_INITIALIZED),
        "the failed client is not initialized again"
    );
    drop(failed);
    let client = device.activate_audio_client().unwrap();
    let aligned = wasio_engine::modes::aligned_period_hns(448, 44_100);
    client
        .initialize(
            ShareMode::Exclusive,
            EVENT,
            aligned,
            aligned,
            &stereo(44_100, DeviceFormat::Float32),
        )
        .unwrap();
    assert_eq!(client.buffer_size().unwrap(), 448);
    // Polling streams are not refused for alignment.
    drop(client);
    let polling = device.activate_audio_client().unwrap();
    let period = frames_to_hns(441, 44_100);
    polling
        .initialize(
            ShareMode::Exclusive,
            0,
            2 * period,
            period,
            &stereo(44_100, DeviceFormat::Float32),
        )
        .unwrap();
}

#[test]
fn one_exclusive_stream_per_endpoint_and_none_beside_shared_streams() {
    let port = machine(SimDeviceSpec::exclusive_capable());
    let device = output(&port);
    let first = device.activate_audio_client().unwrap();
    exclusive_event(&first, 480, 48_000).unwrap();
    let second = device.activate_audio_client().unwrap();
    assert_eq!(
        exclusive_event(&second, 480, 48_000),
        Err(AUDCLNT_E_DEVICE_IN_USE)
    );
    let shared = device.activate_audio_client().unwrap();
    assert_eq!(
        shared.initialize(ShareMode::Shared, EVENT, 0, 0, &FLOAT48()),
        Err(AUDCLNT_E_DEVICE_IN_USE)
    );
    drop(first);
    let shared = device.activate_audio_client().unwrap();
    shared
        .initialize(ShareMode::Shared, EVENT, 0, 0, &FLOAT48())
        .unwrap();
    let exclusive = device.activate_audio_client().unwrap();
    assert_eq!(
        exclusive_event(&exclusive, 480, 48_000),
        Err(AUDCLNT_E_DEVICE_IN_USE)
    );
}

#[test]
fn shared_streams_take_the_mix_format_or_convert_and_hold_three_engine_periods() {
    let port = machine(SimDeviceSpec::default());
    let device = output(&port);
    let (default, minimum) = device
        .activate_audio_client()
        .unwrap()
        .device_period()
        .unwrap();
    assert_eq!(default, 100_000, "a 10 ms engine period");
    assert!(minimum <= default);
    // The mix format; a periodicity in shared mode is refused.
    let client = device.activate_audio_client().unwrap();
    assert_eq!(
        client.initialize(ShareMode::Shared, EVENT, 0, 100_000, &FLOAT48()),
        Err(E_INVALIDARG)
    );
    let client = device.activate_audio_client().unwrap();
    client
        .initialize(ShareMode::Shared, EVENT, 0, 0, &FLOAT48())
        .unwrap();
    let buffer = client.buffer_size().unwrap();
    assert!(buffer >= 3 * 480, "{buffer}");
    // More asked for, more given: at least the duration, in whole frames.
    let client = device.activate_audio_client().unwrap();
    client
        .initialize(ShareMode::Shared, EVENT, 1_000_001, 0, &FLOAT48())
        .unwrap();
    assert!(client.buffer_size().unwrap() >= 4800);
    // Another rate only with AUTOCONVERTPCM.
    let other = stereo(44_100, DeviceFormat::Float32);
    let client = device.activate_audio_client().unwrap();
    assert_eq!(
        client.initialize(ShareMode::Shared, EVENT, 0, 0, &other),
        Err(AUDCLNT_E_UNSUPPORTED_FORMAT)
    );
    let client = device.activate_audio_client().unwrap();
    let convert = EVENT | stream_flags::AUTOCONVERTPCM | stream_flags::SRC_DEFAULT_QUALITY;
    client
        .initialize(ShareMode::Shared, convert, 0, 0, &other)
        .unwrap();
    assert!(client.buffer_size().unwrap() >= 3 * 441);
    // One event per engine period.
    let event = port.create_event().unwrap();
    client.set_event_handle(&event).unwrap();
    client.start().unwrap();
    let span = events(&port, &event, 11);
    assert!(
        (span as f64 - 10.0 * 10_000_000.0).abs() < 10_000.0,
        "{span}"
    );
    // The mix format, as WASAPI gives it.
    let mix = StreamFormat::parse(
        &device
            .activate_audio_client()
            .unwrap()
            .mix_format()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(mix.encoding, DeviceFormat::Float32);
}

#[test]
fn iaudioclient3_takes_whole_fundamental_periods_of_the_mix_format() {
    let port = machine(SimDeviceSpec::exclusive_capable());
    let device = output(&port);
    let client = device.activate_audio_client().unwrap();
    let client3 = client.client3().unwrap();
    let p = client3.shared_mode_engine_period(&FLOAT48()).unwrap();
    assert_eq!(
        (
            p.default_frames,
            p.fundamental_frames,
            p.min_frames,
            p.max_frames
        ),
        (480, 48, 144, 480)
    );
    assert_eq!(
        client3.initialize_shared_audio_stream(EVENT, 150, &FLOAT48()),
        Err(E_INVALIDARG),
        "not a multiple of the fundamental period"
    );
    let client = device.activate_audio_client().unwrap();
    let client3 = client.client3().unwrap();
    assert_eq!(
        client3.initialize_shared_audio_stream(EVENT, 96, &FLOAT48()),
        Err(E_INVALIDARG),
        "below the minimum"
    );
    let client = device.activate_audio_client().unwrap();
    let client3 = client.client3().unwrap();
    assert_eq!(
        client3.initialize_shared_audio_stream(EVENT, 192, &stereo(44_100, DeviceFormat::Float32)),
        Err(AUDCLNT_E_UNSUPPORTED_FORMAT),
        "the mix format only"
    );
    let client = device.activate_audio_client().unwrap();
    let client3 = client.client3().unwrap();
    client3
        .initialize_shared_audio_stream(EVENT, 192, &FLOAT48())
        .unwrap();
    let event = port.create_event().unwrap();
    client.set_event_handle(&event).unwrap();
    client.start().unwrap();
    assert_eq!(client3.current_shared_mode_engine_period().unwrap().1, 192);
    let span = events(&port, &event, 11);
    assert!(
        (span as f64 - 10.0 * 4_000_000.0).abs() < 10_000.0,
        "4 ms periods: {span}"
    );
}

#[test]
fn wines_iaudioclient3_is_a_stub_or_nominal() {
    let port = machine(SimDeviceSpec::default());
    let client = output(&port).activate_audio_client().unwrap();
    assert_eq!(
        client
            .client3()
            .unwrap()
            .shared_mode_engine_period(&FLOAT48()),
        Err(E_NOTIMPL),
        "Wine 8"
    );
    let port = machine(SimDeviceSpec::wine10_pulse());
    let device = output(&port);
    assert_eq!(
        device
            .activate_audio_client()
            .unwrap()
            .device_period()
            .unwrap()
            .1,
        208
    );
    let client = device.activate_audio_client().unwrap();
    let client3 = client.client3().unwrap();
    let p = client3.shared_mode_engine_period(&FLOAT48()).unwrap();
    assert_eq!(
        (p.default_frames, p.fundamental_frames, p.min_frames),
        (480, 1, 0)
    );
    assert!(wasio_engine::stream::check_engine_periods(&p, 48_000).is_err());
    // It takes any period and runs 10 ms.
    client3
        .initialize_shared_audio_stream(EVENT, 1, &FLOAT48())
        .unwrap();
    let event = port.create_event().unwrap();
    client.set_event_handle(&event).unwrap();
    client.start().unwrap();
    let span = events(&port, &event, 3);
    assert_eq!(span, 20_000_000);
}

#[test]
fn exclusive_polling_has_no_event_and_winealsa_a_buffer_of_eight_periods() {
    let port = machine(SimDeviceSpec::wine_alsa());
    let device = output(&port);
    let client = device.activate_audio_client().unwrap();
    assert_eq!(
        exclusive_event(&client, 480, 48_000),
        Err(AUDCLNT_E_DEVICE_IN_USE)
    );
    let client = device.activate_audio_client().unwrap();
    let format = stereo(48_000, DeviceFormat::Int16);
    client
        .initialize(ShareMode::Exclusive, 0, 200_000, 100_000, &format)
        .unwrap();
    assert_eq!(client.buffer_size().unwrap(), 8 * 480);
    let event = port.create_event().unwrap();
    assert_eq!(
        client.set_event_handle(&event),
        Err(AUDCLNT_E_EVENTHANDLE_NOT_EXPECTED)
    );
    drop(client);
    let client = device.activate_audio_client().unwrap();
    assert_eq!(
        client.initialize(
            ShareMode::Exclusive,
            0,
            200_000,
            100_000,
            &stereo(48_000, DeviceFormat::Int24In32)
        ),
        Err(AUDCLNT_E_UNSUPPORTED_FORMAT),
        "winealsa refuses 24-in-32"
    );
    let port = machine(SimDeviceSpec::default());
    let client = output(&port).activate_audio_client().unwrap();
    assert_eq!(
        client.initialize(ShareMode::Exclusive, 0, 200_000, 100_000, &FLOAT48()),
        Err(AUDCLNT_E_EXCLUSIVE_MODE_NOT_ALLOWED),
        "winepulse"
    );
}

#[test]
fn the_render_buffer_and_the_clock_follow_the_device() {
    let port = machine(SimDeviceSpec::default());
    let client = output(&port).activate_audio_client().unwrap();
    client
        .initialize(ShareMode::Shared, EVENT, 0, 0, &FLOAT48())
        .unwrap();
    let event = port.create_event().unwrap();
    client.set_event_handle(&event).unwrap();
    let mut render = client.render_client().unwrap();
    let clock = client.clock().unwrap();
    assert_eq!(
        render.get_buffer(1441).err(),
        Some(AUDCLNT_E_BUFFER_TOO_LARGE)
    );
    render.get_buffer(1440).unwrap();
    assert_eq!(render.get_buffer(10).err(), Some(AUDCLNT_E_OUT_OF_ORDER));
    render.release_buffer(1440, buffer_flags::SILENT).unwrap();
    assert_eq!(client.current_padding().unwrap(), 1440);
    assert_eq!(clock.frequency().unwrap(), 48_000 * 8, "bytes per second");
    client.start().unwrap();
    assert_eq!(client.start(), Err(AUDCLNT_E_NOT_STOPPED));
    for n in 1..=3u64 {
        port.wait_for_multiple(&[&event], 100).unwrap();
        // The device takes one period each period, and its position reads where it is.
        assert_eq!(client.current_padding().unwrap(), 1440 - n as u32 * 480);
        let (position, qpc) = clock.position().unwrap();
        assert_eq!(
            position / 8,
            (n - 1) * 480,
            "the period taken now starts playing"
        );
        assert_eq!(qpc * 100, port.qpc_ns() / 100 * 100);
    }
    assert_eq!(client.reset(), Err(AUDCLNT_E_NOT_STOPPED));
    client.stop().unwrap();
    client.reset().unwrap();
    assert_eq!(client.current_padding().unwrap(), 0);
}

fn capture_machine(stamps: StampMeaning) -> (SimPort, SimClient, SimHandle) {
    let port = machine(SimDeviceSpec {
        input: Some(SimInputSpec {
            stamps,
            burst_every: 0,
            ..SimInputSpec::default()
        }),
        ..SimDeviceSpec::default()
    });
    let device = port
        .create_enumerator()
        .unwrap()
        .default_audio_endpoint(Flow::Capture, Role::Console)
        .unwrap();
    assert_eq!(device.data_flow().unwrap(), Flow::Capture);
    let client = device.activate_audio_client().unwrap();
    client
        .initialize(ShareMode::Shared, EVENT, 0, 0, &FLOAT48())
        .unwrap();
    let event = port.create_event().unwrap();
    client.set_event_handle(&event).unwrap();
    (port, client, event)
}

#[test]
fn capture_packets_carry_their_first_frames_position_and_capture_time() {
    let (port, client, event) = capture_machine(StampMeaning::FirstFrame);
    assert!(!port.is_wine());
    let mut capture = client.capture_client().unwrap();
    assert_eq!(
        client.render_client().err(),
        Some(AUDCLNT_E_WRONG_ENDPOINT_TYPE)
    );
    client.start().unwrap();
    let start = port.qpc_ns();
    for k in 0..5u64 {
        port.wait_for_multiple(&[&event], 100).unwrap();
        assert_eq!(capture.next_packet_size().unwrap(), 480);
        let packet = capture.get_buffer().unwrap();
        assert_eq!(packet.device_position, k * 480);
        // Stamped at the capture of its first frame (100 ns units), delivered a period later.
        assert_eq!(packet.qpc_100ns, (start + k * 10_000_000) / 100);
        assert_eq!(port.qpc_ns(), start + (k + 1) * 10_000_000);
        assert_eq!(packet.data.len(), 480 * 8);
        capture.release_buffer(480).unwrap();
    }
    assert_eq!(capture.next_packet_size().unwrap(), 0);
}

#[test]
fn wine_stamps_capture_packets_when_they_are_read_and_the_full_buffer_loses_packets() {
    let (port, client, event) = capture_machine(StampMeaning::ReadTime);
    assert!(port.is_wine());
    let mut capture = client.capture_client().unwrap();
    client.start().unwrap();
    // Nobody reads for five periods: the 1440-frame buffer keeps three packets.
    for _ in 0..5 {
        port.wait_for_multiple(&[&event], 100).unwrap();
    }
    let now = port.qpc_ns();
    let mut positions = Vec::new();
    while capture.next_packet_size().unwrap() > 0 {
        let packet = capture.get_buffer().unwrap();
        assert_eq!(packet.qpc_100ns, now / 100, "stamped when read");
        positions.push((packet.device_position, packet.flags));
        capture.release_buffer(480).unwrap();
    }
    assert_eq!(positions, [(0, 0), (480, 0), (960, 0)]);
    port.wait_for_multiple(&[&event], 100).unwrap();
    let packet = capture.get_buffer().unwrap();
    assert_eq!(packet.device_position, 5 * 480, "two packets were lost");
    assert_eq!(packet.flags, buffer_flags::DATA_DISCONTINUITY);
}

#[test]
fn an_invalidated_device_answers_device_invalidated_and_falls_silent() {
    let control = Arc::new(SimControl::default());
    let port = SimPort::new(
        SimDeviceSpec {
            tick: std::time::Duration::ZERO,
            ..SimDeviceSpec::default()
        },
        control.clone(),
    );
    let client = output(&port).activate_audio_client().unwrap();
    client
        .initialize(ShareMode::Shared, EVENT, 0, 0, &FLOAT48())
        .unwrap();
    let event = port.create_event().unwrap();
    client.set_event_handle(&event).unwrap();
    let mut render = client.render_client().unwrap();
    client.start().unwrap();
    port.wait_for_multiple(&[&event], 100).unwrap();
    control
        .fail_next_tick
        .store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        port.wait_for_multiple(&[&event], 2000).unwrap(),
        Wait::Timeout
    );
    assert_eq!(client.current_padding(), Err(AUDCLNT_E_DEVICE_INVALIDATED));
    assert_eq!(
        render.get_buffer(480).err(),
        Some(AUDCLNT_E_DEVICE_INVALIDATED)
    );
    // A new client works: the endpoint is still there.
    let fresh = output(&port).activate_audio_client().unwrap();
    fresh
        .initialize(ShareMode::Shared, EVENT, 0, 0, &FLOAT48())
        .unwrap();
}

struct Heard(std::sync::Mutex<Vec<Notification>>);

impl NotificationSink for Heard {
    fn notify(&self, notification: &Notification) {
        self.0.lock().unwrap().push(notification.clone());
    }
}

#[test]
fn endpoints_and_their_notifications() {
    let port = machine(SimDeviceSpec {
        endpoints: vec![("A".into(), "{a}".into()), ("B".into(), "{b}".into())],
        ..SimDeviceSpec::default()
    });
    let enumerator = port.create_enumerator().unwrap();
    let all = enumerator
        .enum_audio_endpoints(Flow::Render, DeviceState::ALL)
        .unwrap();
    assert_eq!(all.count().unwrap(), 2);
    assert_eq!(all.item(1).unwrap().friendly_name().unwrap(), "B");
    assert_eq!(enumerator.device("{nope}").err(), Some(E_NOTFOUND));
    let heard = Arc::new(Heard(Default::default()));
    let registration = enumerator
        .register_endpoint_notification_callback(heard.clone())
        .unwrap();
    port.change_default_endpoint();
    let notes = heard.0.lock().unwrap().clone();
    assert_eq!(notes.len(), 3, "once per role: {notes:?}");
    assert!(notes.iter().all(|n| matches!(n,
        Notification::DefaultDeviceChanged { flow: Flow::Render, id, .. } if id == "{b}")));
    port.unplug("{b}");
    let active = enumerator
        .enum_audio_endpoints(Flow::Render, DeviceState::ACTIVE)
        .unwrap();
    assert_eq!(active.count().unwrap(), 1);
    assert!(heard.0.lock().unwrap().iter().any(|n| matches!(n,
        Notification::DeviceStateChanged { id, state } if id == "{b}" && *state == DeviceState::UNPLUGGED)));
    drop(registration);
    let before = heard.0.lock().unwrap().len();
    port.change_default_endpoint();
    assert_eq!(heard.0.lock().unwrap().len(), before, "unregistered");
    let _ = BOOT_NS;
}

#[test]
fn the_endpoint_list_reads_formats_periods_and_exclusive_support_through_the_port() {
    use wasio_engine::stream::enumerate::{list_endpoints, EndpointState};
    let port = machine(SimDeviceSpec {
        input: Some(SimInputSpec::default()),
        ..SimDeviceSpec::exclusive_capable()
    });
    let all = list_endpoints(&port, Flow::All).unwrap();
    assert_eq!(all.len(), 2);
    let (out, input) = (&all[0], &all[1]);
    assert_eq!((out.flow, input.flow), (Flow::Render, Flow::Capture));
    assert!(out.is_default && input.is_default);
    assert_eq!(out.state, EndpointState::Active);
    assert_eq!(out.default_period_frames, Some(480));
    assert_eq!(out.min_period_frames, Some(144));
    // Every probed encoding at the three rates the device runs.
    assert_eq!(out.exclusive_formats.len(), 5 * 3);
    assert!(input.exclusive_formats.is_empty() && input.exclusive_refusal.is_some());
    let winepulse = machine(SimDeviceSpec::default());
    let refusal = list_endpoints(&winepulse, Flow::Render).unwrap()[0]
        .exclusive_refusal
        .clone()
        .unwrap();
    assert!(
        refusal.contains("AUDCLNT_E_EXCLUSIVE_MODE_NOT_ALLOWED"),
        "{refusal}"
    );
}
