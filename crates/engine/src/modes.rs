//! Stream modes and exclusive formats: the decisions, as pure functions over the results a
//! backend reports, so that they are tested natively with fake results.
//!
//! - [`mode_chain`]: the modes tried for a requested [`Mode`], best first.
//! - [`select_mode`]: walks the chain and keeps the first mode that opens, recording why
//!   each earlier one failed ([`ModeReport`]).
//! - [`exclusive_format_candidates`] and [`negotiate_format`]: the exclusive formats tried
//!   in order (float32, int32, 24-in-32, packed int24, int16), each as WAVEFORMATEXTENSIBLE
//!   and then as plain WAVEFORMATEX.
//! - [`aligned_period_hns`]: the retry period after `AUDCLNT_E_BUFFER_SIZE_NOT_ALIGNED`.
//! - [`exclusive_event_sizes`]: the buffer sizes offered when the ASIO buffer is one
//!   exclusive period.
//! - [`host_type_for`]: the ASIO sample type that makes exclusive mode bit-perfect.

use crate::backend::BackendError;
use crate::config::{Mode, SampleTypeChoice};
use crate::convert::{DeviceFormat, HostSampleType};
use crate::format::StreamFormat;
use crate::sizes::{BufferSizePolicy, BufferStep, MAX_BUFFER_FRAMES, MIN_BUFFER_FRAMES};
use std::fmt;

/// `AUDCLNT_E_BUFFER_SIZE_NOT_ALIGNED`: the exclusive period must be re-asked at the size
/// `GetBufferSize` now reports.
pub const AUDCLNT_E_BUFFER_SIZE_NOT_ALIGNED: i32 = 0x8889_0019_u32 as i32;
/// `AUDCLNT_E_UNSUPPORTED_FORMAT`.
pub const AUDCLNT_E_UNSUPPORTED_FORMAT: i32 = 0x8889_0008_u32 as i32;
/// `AUDCLNT_E_DEVICE_IN_USE`: another application holds the device exclusively (Wine
/// answers it to every exclusive event-driven stream).
pub const AUDCLNT_E_DEVICE_IN_USE: i32 = 0x8889_000A_u32 as i32;
/// `AUDCLNT_E_EXCLUSIVE_MODE_NOT_ALLOWED`: the user forbade exclusive use of the device.
pub const AUDCLNT_E_EXCLUSIVE_MODE_NOT_ALLOWED: i32 = 0x8889_000E_u32 as i32;
/// `E_NOTIMPL` (IAudioClient3 in Wine).
pub const E_NOTIMPL: i32 = 0x8000_4001_u32 as i32;
/// `E_NOINTERFACE` (IAudioClient3 before Windows 10).
pub const E_NOINTERFACE: i32 = 0x8000_4002_u32 as i32;

/// A way of opening a WASAPI stream, as actually in effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StreamMode {
    /// Exclusive, `AUDCLNT_STREAMFLAGS_EVENTCALLBACK`: one ASIO buffer per device period.
    ExclusiveEvent,
    /// Exclusive, the driver polls the padding on a timer and fills the free space.
    ExclusivePoll,
    /// Shared through `IAudioClient3::InitializeSharedAudioStream` at the engine's smallest
    /// period.
    SharedLowLatency,
    /// Shared, event-driven, at the engine's default period.
    Shared,
}

impl StreamMode {
    /// The `auto` chain, best first.
    pub const AUTO_CHAIN: [StreamMode; 4] = [
        StreamMode::ExclusiveEvent,
        StreamMode::ExclusivePoll,
        StreamMode::SharedLowLatency,
        StreamMode::Shared,
    ];

    /// Words for the log, error messages and the CLI.
    pub fn label(self) -> &'static str {
        match self {
            StreamMode::ExclusiveEvent => "exclusive, event-driven",
            StreamMode::ExclusivePoll => "exclusive, polling",
            StreamMode::SharedLowLatency => "shared, low-latency (IAudioClient3)",
            StreamMode::Shared => "shared, event-driven",
        }
    }

    /// The configuration keyword that forces this mode.
    pub fn setting(self) -> Mode {
        match self {
            StreamMode::ExclusiveEvent => Mode::ExclusiveEvent,
            StreamMode::ExclusivePoll => Mode::ExclusivePoll,
            StreamMode::SharedLowLatency => Mode::SharedLowLatency,
            StreamMode::Shared => Mode::Shared,
        }
    }

    pub fn is_exclusive(self) -> bool {
        matches!(self, StreamMode::ExclusiveEvent | StreamMode::ExclusivePoll)
    }

    /// Whether the device signals an event per period (otherwise the driver polls).
    pub fn is_event_driven(self) -> bool {
        self != StreamMode::ExclusivePoll
    }

    /// Whether the ASIO buffer is exactly one device period (no ring in between).
    pub fn block_is_period(self) -> bool {
        self == StreamMode::ExclusiveEvent
    }
}

impl fmt::Display for StreamMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// The modes tried for a setting, best first: the whole chain for `auto`, else only the
/// one forced.
pub fn mode_chain(requested: Mode) -> &'static [StreamMode] {
    match requested {
        Mode::Auto => &StreamMode::AUTO_CHAIN,
        Mode::ExclusiveEvent => &StreamMode::AUTO_CHAIN[0..1],
        Mode::ExclusivePoll => &StreamMode::AUTO_CHAIN[1..2],
        Mode::SharedLowLatency => &StreamMode::AUTO_CHAIN[2..3],
        Mode::Shared => &StreamMode::AUTO_CHAIN[3..4],
    }
}

/// How the mode in effect was reached: every mode tried before it and why it failed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModeReport {
    pub requested: Option<Mode>,
    pub failed: Vec<(StreamMode, BackendError)>,
    pub chosen: Option<StreamMode>,
}

impl ModeReport {
    /// Only the failures, for `getErrorMessage` when no mode opened.
    pub fn failures_text(&self) -> String {
        self.failed
            .iter()
            .map(|(mode, error)| format!("{mode}: {error}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// The error when no mode in the chain opened: short enough for `getErrorMessage` (the
/// full report goes to the log). A lost device is reported as such.
pub fn chain_error(report: &ModeReport) -> BackendError {
    if let Some((_, lost)) = report.failed.iter().find(|(_, e)| e.is_device_lost()) {
        return lost.clone();
    }
    let reasons = report
        .failed
        .iter()
        .map(
            |(mode, e)| match e.hresult.and_then(crate::hresult::hresult_name) {
                Some(name) => format!("{mode}: {name}"),
                None => format!("{mode}: {e}"),
            },
        )
        .collect::<Vec<_>>()
        .join("; ");
    BackendError::new("output", format!("no mode opened ({reasons})"))
}

impl fmt::Display for ModeReport {
    /// E.g. `shared, event-driven (auto; exclusive, event-driven: IAudioClient::Initialize
    /// failed: AUDCLNT_E_DEVICE_IN_USE (0x8889000A); …)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.chosen {
            Some(mode) => write!(f, "{mode}")?,
            None => write!(f, "no mode opened")?,
        }
        let requested = self.requested.map_or("auto", |m| m.as_str());
        write!(f, " (mode = {requested}")?;
        for (mode, error) in &self.failed {
            write!(f, "; {mode} refused: {error}")?;
        }
        write!(f, ")")
    }
}

/// Walks the chain for `requested`, calling `open` for each mode until one succeeds.
/// Returns the mode, what `open` gave, and the report; or the report of every failure.
pub fn select_mode<T>(
    requested: Mode,
    mut open: impl FnMut(StreamMode) -> Result<T, BackendError>,
) -> Result<(StreamMode, T, ModeReport), ModeReport> {
    let mut report = ModeReport {
        requested: Some(requested),
        ..ModeReport::default()
    };
    for &mode in mode_chain(requested) {
        match open(mode) {
            Ok(opened) => {
                report.chosen = Some(mode);
                return Ok((mode, opened, report));
            }
            Err(error) => report.failed.push((mode, error)),
        }
    }
    Err(report)
}

/// The exclusive formats in the order they are tried: the richest first.
pub const EXCLUSIVE_FORMAT_ORDER: [DeviceFormat; 5] = [
    DeviceFormat::Float32,
    DeviceFormat::Int32,
    DeviceFormat::Int24In32,
    DeviceFormat::Int24Packed,
    DeviceFormat::Int16,
];

/// How a format is written for `IAudioClient::Initialize`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaveLayout {
    /// WAVEFORMATEXTENSIBLE with the channel mask.
    Extensible,
    /// Plain WAVEFORMATEX, for drivers that refuse the extensible form. Only for formats
    /// it can express (not 24-in-32).
    Plain,
}

/// The exclusive formats to try at `rate` with the device's channels and mask, in order.
/// `first` (the format a previous probe found, or the one the settings ask for) is tried
/// before the others.
pub fn exclusive_format_candidates(
    channels: u16,
    channel_mask: u32,
    rate: u32,
    first: Option<DeviceFormat>,
) -> Vec<(StreamFormat, WaveLayout)> {
    let mut order: Vec<DeviceFormat> = first.into_iter().collect();
    order.extend(EXCLUSIVE_FORMAT_ORDER.iter().filter(|&&f| Some(f) != first));
    let mut out = Vec::with_capacity(order.len() * 2);
    for encoding in order {
        let format = StreamFormat {
            sample_rate: rate,
            channels,
            channel_mask,
            encoding,
        };
        out.push((format, WaveLayout::Extensible));
        if format.to_plain().is_some() {
            out.push((format, WaveLayout::Plain));
        }
    }
    out
}

/// Tries `candidates` in order with `open`; the first that opens wins. A failure other than
/// an unsupported format ends the search at once (the device refuses exclusive use, or is
/// gone, whatever the format). On failure, returns the error that best explains it.
pub fn negotiate_format<T>(
    candidates: &[(StreamFormat, WaveLayout)],
    mut open: impl FnMut(&StreamFormat, WaveLayout) -> Result<T, BackendError>,
) -> Result<(StreamFormat, WaveLayout, T), BackendError> {
    let mut tried = Vec::new();
    for (format, layout) in candidates {
        match open(format, *layout) {
            Ok(opened) => return Ok((*format, *layout, opened)),
            Err(e) if e.hresult == Some(AUDCLNT_E_UNSUPPORTED_FORMAT) => {
                tried.push(format_label(format, *layout));
            }
            Err(e) => return Err(e),
        }
    }
    let mut error = BackendError::from_hresult(
        "IAudioClient::Initialize (exclusive)",
        AUDCLNT_E_UNSUPPORTED_FORMAT,
    );
    error.detail = format!("no exclusive format accepted (tried {})", tried.join(", "));
    Err(error)
}

/// E.g. "int16 48000 Hz (extensible)".
pub fn format_label(format: &StreamFormat, layout: WaveLayout) -> String {
    let layout = match layout {
        WaveLayout::Extensible => "extensible",
        WaveLayout::Plain => "plain",
    };
    format!(
        "{} {} Hz ({layout})",
        device_format_name(format.encoding),
        format.sample_rate
    )
}

/// Short names of device formats for messages.
pub fn device_format_name(format: DeviceFormat) -> &'static str {
    match format {
        DeviceFormat::Int16 => "int16",
        DeviceFormat::Int24Packed => "int24",
        DeviceFormat::Int24In32 => "int24-in-32",
        DeviceFormat::Int32 => "int32",
        DeviceFormat::Float32 => "float32",
    }
}

/// The buffer duration (100 ns units) for an exclusive period of `frames` at `rate`, as
/// Microsoft's recipe after `AUDCLNT_E_BUFFER_SIZE_NOT_ALIGNED` computes it:
/// `10 000 000 × frames / rate`, rounded to the nearest unit.
pub fn aligned_period_hns(frames: u32, rate: u32) -> i64 {
    if rate == 0 {
        return 0;
    }
    ((10_000_000u128 * frames as u128 + rate as u128 / 2) / rate as u128) as i64
}

/// Frames per alignment step of an exclusive period: HD Audio controllers want buffers in
/// multiples of 128 bytes, so a period is a whole number of 128-byte runs of frames.
pub fn alignment_frames(frame_bytes: usize) -> u32 {
    if frame_bytes == 0 {
        return 1;
    }
    (128 / gcd(frame_bytes, 128)) as u32
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Rounds `frames` up to the next multiple of `step` (at least one step).
pub fn align_up(frames: u32, step: u32) -> u32 {
    let step = step.max(1);
    frames.div_ceil(step).max(1) * step
}

/// The sizes offered when the ASIO buffer is one exclusive period: multiples of the
/// alignment step from the device's minimum period (aligned, and at least 32 frames) to
/// 8192 frames; preferred is the default period, aligned.
pub fn exclusive_event_sizes(
    min_period_frames: u32,
    default_period_frames: u32,
    frame_bytes: usize,
) -> BufferSizePolicy {
    let step = alignment_frames(frame_bytes);
    let min = align_up(min_period_frames.max(MIN_BUFFER_FRAMES), step);
    let max = (MAX_BUFFER_FRAMES / step * step).max(min);
    let preferred = align_up(default_period_frames.max(min), step).min(max);
    BufferSizePolicy {
        min,
        max,
        preferred,
        step: BufferStep::Frames(step),
    }
}

/// The exclusive format to try first for a `sample_type` setting (`native`: none, the
/// richest the device takes).
pub fn preferred_exclusive_format(choice: SampleTypeChoice) -> Option<DeviceFormat> {
    match choice {
        SampleTypeChoice::Int16 => Some(DeviceFormat::Int16),
        SampleTypeChoice::Int24 => Some(DeviceFormat::Int24Packed),
        SampleTypeChoice::Int32 => Some(DeviceFormat::Int32),
        SampleTypeChoice::Int32Lsb24 => Some(DeviceFormat::Int24In32),
        SampleTypeChoice::Float32 => Some(DeviceFormat::Float32),
        _ => None,
    }
}

/// The ASIO sample type for a `sample_type` setting: `native` is [`host_type_for`] the
/// stream; any other choice is what it names (converted to the device when it differs).
pub fn host_type_for_choice(
    choice: SampleTypeChoice,
    mode: StreamMode,
    device: DeviceFormat,
) -> HostSampleType {
    match choice {
        SampleTypeChoice::Native => host_type_for(mode, device),
        other => crate::driver::host_sample_type(other),
    }
}

/// The ASIO sample type for a stream: the device's own format in exclusive mode (the host
/// writes device samples, copied bit for bit), 32-bit float in shared mode (the mixer's
/// format).
pub fn host_type_for(mode: StreamMode, device: DeviceFormat) -> HostSampleType {
    if mode.is_exclusive() {
        device.native_host_type()
    } else {
        HostSampleType::Float32Lsb
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(hr: i32) -> BackendError {
        BackendError::from_hresult("IAudioClient::Initialize", hr)
    }

    #[test]
    fn auto_walks_down_the_chain_and_reports_each_refusal() {
        let (mode, (), report) = select_mode(Mode::Auto, |mode| match mode {
            StreamMode::ExclusiveEvent => Err(refused(AUDCLNT_E_DEVICE_IN_USE)),
            StreamMode::ExclusivePoll => Err(refused(AUDCLNT_E_EXCLUSIVE_MODE_NOT_ALLOWED)),
            StreamMode::SharedLowLatency => Err(refused(E_NOTIMPL)),
            StreamMode::Shared => Ok(()),
        })
        .unwrap();
        assert_eq!(mode, StreamMode::Shared);
        let text = report.to_string();
        for part in [
            "shared, event-driven (mode = auto",
            "exclusive, event-driven refused: IAudioClient::Initialize failed: AUDCLNT_E_DEVICE_IN_USE",
            "AUDCLNT_E_EXCLUSIVE_MODE_NOT_ALLOWED",
            "E_NOTIMPL",
        ] {
            assert!(text.contains(part), "{part:?} missing from {text}");
        }
    }

    #[test]
    fn a_forced_mode_is_the_only_one_tried() {
        let mut tried = Vec::new();
        let result = select_mode(Mode::ExclusivePoll, |mode| {
            tried.push(mode);
            Err::<(), _>(refused(AUDCLNT_E_DEVICE_IN_USE))
        });
        assert_eq!(tried, [StreamMode::ExclusivePoll]);
        let report = result.unwrap_err();
        assert_eq!(report.chosen, None);
        assert!(report.failures_text().contains("AUDCLNT_E_DEVICE_IN_USE"));
        assert_eq!(
            chain_error(&report).to_string(),
            "output failed: no mode opened (exclusive, polling: AUDCLNT_E_DEVICE_IN_USE)"
        );
        for mode in StreamMode::AUTO_CHAIN {
            assert_eq!(mode_chain(mode.setting()), [mode]);
        }
    }

    #[test]
    fn auto_keeps_the_first_mode_that_opens() {
        let mut tried = Vec::new();
        let (mode, (), report) = select_mode(Mode::Auto, |mode| {
            tried.push(mode);
            if mode == StreamMode::ExclusiveEvent {
                Err(refused(AUDCLNT_E_DEVICE_IN_USE))
            } else {
                Ok(())
            }
        })
        .unwrap();
        assert_eq!(mode, StreamMode::ExclusivePoll);
        assert_eq!(
            tried,
            [StreamMode::ExclusiveEvent, StreamMode::ExclusivePoll]
        );
        assert_eq!(report.failed.len(), 1);
    }

    #[test]
    fn formats_are_tried_richest_first_extensible_then_plain() {
        let list = exclusive_format_candidates(2, 3, 48_000, None);
        let order: Vec<_> = list
            .iter()
            .map(|(f, l)| (device_format_name(f.encoding), *l))
            .collect();
        use WaveLayout::*;
        assert_eq!(
            order,
            [
                ("float32", Extensible),
                ("float32", Plain),
                ("int32", Extensible),
                ("int32", Plain),
                ("int24-in-32", Extensible),
                ("int24", Extensible),
                ("int24", Plain),
                ("int16", Extensible),
                ("int16", Plain),
            ]
        );
        assert!(list
            .iter()
            .all(|(f, _)| f.channel_mask == 3 && f.sample_rate == 48_000));
        let first = exclusive_format_candidates(2, 3, 48_000, Some(DeviceFormat::Int16));
        assert_eq!(first[0].0.encoding, DeviceFormat::Int16);
        assert_eq!(first.len(), list.len(), "no format is tried twice");
    }

    #[test]
    fn negotiation_keeps_the_first_accepted_format() {
        // winealsa: refuses 24-in-32, accepts int32.
        let list = exclusive_format_candidates(2, 3, 48_000, None);
        let mut tried = 0;
        let (format, layout, ()) = negotiate_format(&list, |f, _| {
            tried += 1;
            match f.encoding {
                DeviceFormat::Int32 | DeviceFormat::Int16 => Ok(()),
                _ => Err(refused(AUDCLNT_E_UNSUPPORTED_FORMAT)),
            }
        })
        .unwrap();
        assert_eq!(
            (format.encoding, layout),
            (DeviceFormat::Int32, WaveLayout::Extensible)
        );
        assert_eq!(tried, 3);
        // A driver that only takes plain WAVEFORMATEX int16.
        let (format, layout, ()) = negotiate_format(&list, |f, l| {
            if f.encoding == DeviceFormat::Int16 && l == WaveLayout::Plain {
                Ok(())
            } else {
                Err(refused(AUDCLNT_E_UNSUPPORTED_FORMAT))
            }
        })
        .unwrap();
        assert_eq!(
            (format.encoding, layout),
            (DeviceFormat::Int16, WaveLayout::Plain)
        );
    }

    #[test]
    fn negotiation_stops_at_a_refusal_that_is_not_about_the_format() {
        let list = exclusive_format_candidates(2, 3, 48_000, None);
        let mut tried = 0;
        let error = negotiate_format(&list, |_, _| {
            tried += 1;
            Err::<(), _>(refused(AUDCLNT_E_DEVICE_IN_USE))
        })
        .unwrap_err();
        assert_eq!(tried, 1);
        assert_eq!(error.hresult, Some(AUDCLNT_E_DEVICE_IN_USE));
        let error = negotiate_format(&list, |_, _| {
            Err::<(), _>(refused(AUDCLNT_E_UNSUPPORTED_FORMAT))
        })
        .unwrap_err();
        assert!(error.to_string().contains("AUDCLNT_E_UNSUPPORTED_FORMAT"));
        assert!(error.to_string().contains("int16 48000 Hz (plain)"));
    }

    #[test]
    fn aligned_periods() {
        // Microsoft's example: 10 000 000 × 441 / 44100 = 100 000 exactly.
        assert_eq!(aligned_period_hns(441, 44_100), 100_000);
        assert_eq!(aligned_period_hns(480, 48_000), 100_000);
        // 448 frames at 44.1 kHz = 101587.3 → 101587.
        assert_eq!(aligned_period_hns(448, 44_100), 101_587);
        assert_eq!(aligned_period_hns(1, 0), 0);
        assert_eq!(alignment_frames(8), 16, "stereo float32");
        assert_eq!(alignment_frames(4), 32, "stereo int16");
        assert_eq!(alignment_frames(6), 64, "stereo packed int24");
        assert_eq!(alignment_frames(0), 1);
        assert_eq!(align_up(441, 16), 448);
        assert_eq!(align_up(0, 16), 16);
    }

    #[test]
    fn exclusive_event_offers_aligned_periods_only() {
        let sizes = exclusive_event_sizes(144, 480, 8);
        assert_eq!(sizes.offered(), (144, 8192, 480, 16));
        assert!(sizes.accepts(160) && !sizes.accepts(441) && !sizes.accepts(128));
        let sizes = exclusive_event_sizes(0, 441, 6);
        assert_eq!(
            (sizes.offered().0, sizes.offered().2, sizes.offered().3),
            (64, 448, 64)
        );
        assert!(sizes.max.is_multiple_of(64) && sizes.accepts(sizes.max));
    }

    #[test]
    fn exclusive_mode_hands_the_host_the_device_format() {
        use DeviceFormat::*;
        use HostSampleType::*;
        for (device, host) in [
            (Int16, Int16Lsb),
            (Int24Packed, Int24Lsb),
            (Int24In32, Int32Lsb),
            (Int32, Int32Lsb),
            (Float32, Float32Lsb),
        ] {
            assert_eq!(host_type_for(StreamMode::ExclusivePoll, device), host);
            assert_eq!(host_type_for(StreamMode::ExclusiveEvent, device), host);
            assert_eq!(host_type_for(StreamMode::Shared, device), Float32Lsb);
        }
        assert_eq!(
            host_type_for_choice(SampleTypeChoice::Int16, StreamMode::Shared, Float32),
            Int16Lsb
        );
        assert_eq!(
            host_type_for_choice(
                SampleTypeChoice::Native,
                StreamMode::ExclusivePoll,
                Int24Packed
            ),
            Int24Lsb
        );
        assert_eq!(
            preferred_exclusive_format(SampleTypeChoice::Int24),
            Some(Int24Packed)
        );
        assert_eq!(preferred_exclusive_format(SampleTypeChoice::Native), None);
    }
}
