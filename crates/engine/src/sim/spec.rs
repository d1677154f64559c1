//! What a simulated machine has: its endpoints and how their drivers behave (profiles for
//! the known quirks).

use crate::capture_clock::StampMeaning;
use crate::format::{DeviceFormat, StreamFormat};
use crate::port::{Hr, AUDCLNT_E_DEVICE_IN_USE, AUDCLNT_E_EXCLUSIVE_MODE_NOT_ALLOWED};
use std::time::Duration;

/// What `IAudioClient3` does on the simulated render endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Client3Support {
    /// `QueryInterface(IAudioClient3)` fails with `E_NOINTERFACE` (before Windows 10).
    Absent,
    /// The interface exists but its methods answer `E_NOTIMPL` (Wine 8).
    NotImplemented,
    /// Windows 10 and later: the engine runs at the period asked for, a multiple of the
    /// fundamental period between the minimum and the maximum (frames at the mix rate).
    Periods {
        default_frames: u32,
        fundamental_frames: u32,
        min_frames: u32,
        max_frames: u32,
    },
    /// Wine 10: reports the default period, a fundamental of one frame and a minimum of
    /// `GetDevicePeriod`'s minimum (208 hns, 0 frames at 48 kHz), and runs every stream at
    /// its default period whatever is asked.
    Nominal,
}

/// When the driver signals the audio event (render endpoints).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventTiming {
    /// Every `late_every`-th event comes `late_by` after its period, and the events due
    /// meanwhile with it (the driver's thread ran late; 0: never).
    pub late_every: u64,
    pub late_by: Duration,
    /// Every `burst_every`-th event is not signalled: the next one comes for both (0: never).
    pub burst_every: u64,
}

/// How the simulated device behaves.
#[derive(Clone, Debug)]
pub struct SimDeviceSpec {
    pub mix_format: StreamFormat,
    /// The engine's default period (`GetDevicePeriod`'s default), frames at the mix rate.
    pub period_frames: usize,
    /// `GetDevicePeriod`'s minimum: the smallest exclusive period, frames at the mix rate.
    pub min_period_frames: usize,
    /// The smallest shared-mode buffer, frames at the mix rate (the audio engine's margin:
    /// winepulse gives three periods).
    pub buffer_frames: usize,
    /// `GetStreamLatency`, frames.
    pub stream_latency_frames: usize,
    /// The rates the endpoint runs at, in exclusive mode, and the rates the shared engine
    /// converts from with `AUTOCONVERTPCM`.
    pub supported_rates: Vec<u32>,
    /// Real time per simulated period (the simulation runs faster than real time; zero: as
    /// fast as the machine can).
    pub tick: Duration,
    /// The active render endpoints (friendly name, ID); the first is the Windows default.
    /// All share the format above.
    pub endpoints: Vec<(String, String)>,
    /// Every exclusive `Initialize` fails with this (the user forbade exclusive use; winepulse).
    pub exclusive_refusal: Option<Hr>,
    /// Exclusive event-driven `Initialize` fails with this (winealsa: device in use).
    pub exclusive_event_refusal: Option<Hr>,
    /// Formats accepted in exclusive mode (at every supported rate).
    pub exclusive_formats: Vec<DeviceFormat>,
    /// Exclusive event-driven periods must be whole multiples of this many bytes (HD Audio:
    /// 128); `None`: any period.
    pub alignment_bytes: Option<usize>,
    /// Exclusive polling: the driver's buffer is this many periods whatever is asked
    /// (winealsa: 8); `None`: the buffer asked for.
    pub exclusive_poll_periods: Option<usize>,
    pub client3: Client3Support,
    /// IAudioClient3 streams get a buffer of this many periods.
    pub client3_buffer_periods: usize,
    pub events: EventTiming,
    /// A capture endpoint, if the device has one.
    pub input: Option<SimInputSpec>,
}

impl SimDeviceSpec {
    /// A Windows machine's HD Audio device: every mode, every exclusive format, 128-byte
    /// aligned exclusive periods (3 ms minimum), IAudioClient3 down to 3 ms in 1 ms steps.
    pub fn exclusive_capable() -> Self {
        Self {
            exclusive_refusal: None,
            exclusive_event_refusal: None,
            exclusive_poll_periods: None,
            client3: Client3Support::Periods {
                default_frames: 480,
                fundamental_frames: 48,
                min_frames: 144,
                max_frames: 480,
            },
            ..Self::default()
        }
    }

    /// Wine's ALSA driver: exclusive event-driven refused with `AUDCLNT_E_DEVICE_IN_USE`,
    /// exclusive polling with float32, int16, packed int24 and int32 (not 24-in-32), an
    /// 8-period buffer, IAudioClient3 not implemented.
    pub fn wine_alsa() -> Self {
        Self {
            exclusive_refusal: None,
            exclusive_event_refusal: Some(AUDCLNT_E_DEVICE_IN_USE),
            exclusive_formats: vec![
                DeviceFormat::Float32,
                DeviceFormat::Int16,
                DeviceFormat::Int24Packed,
                DeviceFormat::Int32,
            ],
            ..Self::default()
        }
    }

    /// Wine 10's PulseAudio driver: shared only, and an IAudioClient3 that reports a 208 hns
    /// minimum period but runs 10 ms.
    pub fn wine10_pulse() -> Self {
        Self {
            client3: Client3Support::Nominal,
            min_period_frames: 1,
            ..Self::default()
        }
    }

    /// `GetDevicePeriod`'s minimum, in 100 ns units (Wine 10: 208 hns, one frame at 48 kHz).
    pub fn min_period_hns(&self) -> i64 {
        if self.client3 == Client3Support::Nominal {
            return 208;
        }
        crate::format::frames_to_hns(self.min_period_frames, self.mix_format.sample_rate)
    }
}

/// What the simulated capture device records.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SimSignal {
    /// Capture frame `c`, channel `ch` is `ramp_value(c, ch)`.
    Ramp,
    /// What the output played `delay_frames` earlier (shared clock only), as a loopback
    /// cable or a sink's monitor does.
    Loopback { delay_frames: usize },
}

/// The exact sample a [`SimSignal::Ramp`] capture holds (f32, exact in every format path).
pub fn ramp_value(frame: u64, channel: usize) -> f32 {
    (frame % (1 << 20)) as f32 + channel as f32 * 0.5
}

/// The simulated capture endpoint.
#[derive(Clone, Debug)]
pub struct SimInputSpec {
    pub mix_format: StreamFormat,
    /// The capture engine's period: one packet each, frames at the mix rate.
    pub period_frames: usize,
    /// The capture buffer: packets beyond it are lost (frames at the mix rate).
    pub buffer_frames: usize,
    /// Runs on the render clock (true) or on its own, `ppm` faster.
    pub shared_clock: bool,
    /// The endpoints give no evidence of their clock relation (different containers), so
    /// the engine detects it while running; otherwise a shared clock shows as one physical
    /// device (the render endpoint's container).
    pub detect_clock: bool,
    pub ppm: f64,
    /// Every `burst_every`-th packet's event is not signalled: it is read with the next (a
    /// late wake-up); 0: never.
    pub burst_every: u64,
    pub signal: SimSignal,
    /// What the packets' QPC stamps mark: the first frame's capture (Windows) or the moment
    /// the packet is read (Wine: the simulated system then says it is Wine).
    pub stamps: StampMeaning,
    /// The rates the capture endpoint accepts; `None`: the same as the output's.
    pub supported_rates: Option<Vec<u32>>,
}

impl Default for SimInputSpec {
    fn default() -> Self {
        Self {
            mix_format: StreamFormat {
                sample_rate: 48_000,
                channels: 2,
                channel_mask: 0x3,
                encoding: DeviceFormat::Float32,
            },
            period_frames: 480,
            buffer_frames: 1440,
            shared_clock: true,
            detect_clock: false,
            ppm: 0.0,
            burst_every: 7,
            signal: SimSignal::Ramp,
            stamps: StampMeaning::FirstFrame,
            supported_rates: None,
        }
    }
}

impl Default for SimDeviceSpec {
    /// A device like Wine 8's PulseAudio driver: shared event mode only, exclusive mode
    /// refused with `AUDCLNT_E_EXCLUSIVE_MODE_NOT_ALLOWED`, IAudioClient3 not implemented.
    fn default() -> Self {
        Self {
            mix_format: StreamFormat {
                sample_rate: 48_000,
                channels: 2,
                channel_mask: 0x3,
                encoding: DeviceFormat::Float32,
            },
            period_frames: 480,
            min_period_frames: 144,
            buffer_frames: 1440,
            stream_latency_frames: 0,
            supported_rates: vec![44_100, 48_000, 96_000],
            tick: Duration::from_millis(1),
            endpoints: vec![("Simulated output".into(), "{sim}.output".into())],
            exclusive_refusal: Some(AUDCLNT_E_EXCLUSIVE_MODE_NOT_ALLOWED),
            exclusive_event_refusal: None,
            exclusive_formats: DeviceFormat::ALL.to_vec(),
            alignment_bytes: Some(128),
            exclusive_poll_periods: Some(8),
            client3: Client3Support::NotImplemented,
            client3_buffer_periods: 3,
            events: EventTiming::default(),
            input: None,
        }
    }
}
