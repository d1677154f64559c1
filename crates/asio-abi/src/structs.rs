//! Structs exchanged between host and driver. The C header packs all of them to 4 bytes
//! (`#pragma pack(4)`), so doubles and pointers may sit at 4-byte offsets on x86_64:
//! hence `#[repr(C, packed(4))]`. Read packed fields by value (copy), never by reference.

use core::ffi::{c_char, c_void};
use core::ptr;

use crate::{AsioBool, AsioSampleRate, ASIO_FALSE};

macro_rules! split_u64 {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct $name {
            /// High 32 bits (first in memory).
            pub hi: u32,
            /// Low 32 bits.
            pub lo: u32,
        }

        impl $name {
            /// Splits a 64-bit value.
            pub const fn from_u64(value: u64) -> Self {
                Self {
                    hi: (value >> 32) as u32,
                    lo: value as u32,
                }
            }

            /// Joins the two words.
            pub const fn to_u64(self) -> u64 {
                ((self.hi as u64) << 32) | self.lo as u64
            }
        }

        impl From<u64> for $name {
            fn from(value: u64) -> Self {
                Self::from_u64(value)
            }
        }

        impl From<$name> for u64 {
            fn from(value: $name) -> u64 {
                value.to_u64()
            }
        }
    };
}

split_u64! {
    /// A 64-bit sample count (`ASIOSamples`), high word first.
    AsioSamples
}

split_u64! {
    /// A 64-bit system time in nanoseconds (`ASIOTimeStamp`), high word first.
    AsioTimeStamp
}

/// One clock source (`ASIOClockSource`), filled by `getClockSources`.
#[repr(C, packed(4))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AsioClockSource {
    /// Index as passed to `setClockSource`.
    pub index: i32,
    /// First channel of an associated group, or -1.
    pub associated_channel: i32,
    /// Associated channel group, or -1.
    pub associated_group: i32,
    /// Whether this is the current clock source.
    pub is_current_source: AsioBool,
    /// NUL-terminated name.
    pub name: [c_char; 32],
}

/// One channel's description (`ASIOChannelInfo`). The host sets `channel` and `is_input`,
/// `getChannelInfo` fills the rest.
#[repr(C, packed(4))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AsioChannelInfo {
    /// Channel index (input).
    pub channel: i32,
    /// Input or output channel (input).
    pub is_input: AsioBool,
    /// Whether the channel has buffers (output).
    pub is_active: AsioBool,
    /// Channel group (output).
    pub channel_group: i32,
    /// Raw [`SampleType`](crate::SampleType) value (output).
    pub sample_type: i32,
    /// NUL-terminated name (output).
    pub name: [c_char; 32],
}

/// One channel's double buffer (`ASIOBufferInfo`). The host sets `is_input` and
/// `channel_num`, `createBuffers` fills `buffers`.
#[repr(C, packed(4))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AsioBufferInfo {
    /// Input or output channel.
    pub is_input: AsioBool,
    /// Channel index.
    pub channel_num: i32,
    /// The two halves of the double buffer.
    pub buffers: [*mut c_void; 2],
}

/// Host buffer switch callback (cdecl).
pub type BufferSwitchFn = unsafe extern "C" fn(double_buffer_index: i32, direct_process: AsioBool);
/// Host sample rate change callback (cdecl).
pub type SampleRateDidChangeFn = unsafe extern "C" fn(rate: AsioSampleRate);
/// Host message callback (cdecl).
pub type AsioMessageFn =
    unsafe extern "C" fn(selector: i32, value: i32, message: *mut c_void, opt: *mut f64) -> i32;
/// Host buffer switch callback with time info (cdecl).
pub type BufferSwitchTimeInfoFn = unsafe extern "C" fn(
    params: *mut AsioTime,
    double_buffer_index: i32,
    direct_process: AsioBool,
) -> *mut AsioTime;

/// The host's callbacks (`ASIOCallbacks`), passed to `createBuffers`. All are cdecl.
#[repr(C, packed(4))]
#[derive(Clone, Copy, Debug, Default)]
pub struct AsioCallbacks {
    /// `bufferSwitch(doubleBufferIndex, directProcess)`.
    pub buffer_switch: Option<BufferSwitchFn>,
    /// `sampleRateDidChange(sRate)`.
    pub sample_rate_did_change: Option<SampleRateDidChangeFn>,
    /// `asioMessage(selector, value, message, opt)`.
    pub asio_message: Option<AsioMessageFn>,
    /// `bufferSwitchTimeInfo(params, doubleBufferIndex, directProcess)`.
    pub buffer_switch_time_info: Option<BufferSwitchTimeInfoFn>,
}

/// Time information of a buffer (`AsioTimeInfo`).
#[repr(C, packed(4))]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct AsioTimeInfo {
    /// Playback speed, 1.0 is nominal.
    pub speed: f64,
    /// System time of the first sample of the buffer, in nanoseconds.
    pub system_time: AsioTimeStamp,
    /// Sample position of the first sample of the buffer.
    pub sample_position: AsioSamples,
    /// Current sample rate.
    pub sample_rate: AsioSampleRate,
    /// [`time_flags`](crate::time_flags) bits.
    pub flags: u32,
    /// Reserved, zero.
    pub reserved: [c_char; 12],
}

/// Time code information (`ASIOTimeCode`).
#[repr(C, packed(4))]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AsioTimeCode {
    /// Time code speed, 1.0 is nominal.
    pub speed: f64,
    /// Time code position in samples.
    pub time_code_samples: AsioSamples,
    /// [`time_code_flags`](crate::time_code_flags) bits.
    pub flags: u32,
    /// Reserved, zero.
    pub future: [c_char; 64],
}

/// Time information passed to `bufferSwitchTimeInfo` (`ASIOTime`).
#[repr(C, packed(4))]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AsioTime {
    /// Reserved, zero.
    pub reserved: [i32; 4],
    /// Time information.
    pub time_info: AsioTimeInfo,
    /// Time code.
    pub time_code: AsioTimeCode,
}

/// Driver information (`ASIODriverInfo`), used by host-side driver loaders.
#[repr(C, packed(4))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AsioDriverInfo {
    /// ASIO version the host speaks (input).
    pub asio_version: i32,
    /// Driver version (output).
    pub driver_version: i32,
    /// Driver name (output).
    pub name: [c_char; 32],
    /// Error message (output).
    pub error_message: [c_char; 124],
    /// Platform handle, the main window on Windows (input).
    pub sys_ref: *mut c_void,
}

/// Input monitoring request (`ASIOInputMonitor`, `future(kAsioSetInputMonitor)`).
#[repr(C, packed(4))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AsioInputMonitor {
    /// Input channel, -1 for all.
    pub input: i32,
    /// Output channel the input goes to.
    pub output: i32,
    /// 0 (-inf) to 0x7fffffff (+12 dB), 0x20000000 is 0 dB.
    pub gain: i32,
    /// On or off.
    pub state: AsioBool,
    /// 0 (left) to 0x7fffffff (right).
    pub pan: i32,
}

/// Gain and meter of a channel (`ASIOChannelControls`).
#[repr(C, packed(4))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AsioChannelControls {
    /// Channel index.
    pub channel: i32,
    /// Input or output channel.
    pub is_input: AsioBool,
    /// Gain, 0 to 0x7fffffff (0x20000000 is 0 dB).
    pub gain: i32,
    /// Meter, 0 to 0x7fffffff.
    pub meter: i32,
    /// Reserved, zero.
    pub future: [c_char; 32],
}

/// Transport command (`ASIOTransportParameters`, `future(kAsioTransport)`).
#[repr(C, packed(4))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AsioTransportParameters {
    /// A [`transport`](crate::transport) command.
    pub command: i32,
    /// Position for `LOCATE`.
    pub sample_position: AsioSamples,
    /// Track for `ARM_ON`/`MONITOR_ON`…, -1 for all.
    pub track: i32,
    /// 512 bits, one per track, for `ARM`/`MONITOR`.
    pub track_switches: [i32; 16],
    /// Reserved, zero.
    pub future: [c_char; 64],
}

/// I/O format (`ASIOIoFormat`, `future(kAsioSetIoFormat)` and friends).
#[repr(C, packed(4))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AsioIoFormat {
    /// An [`io_format`](crate::io_format) value.
    pub format_type: i32,
    /// Reserved, zero.
    pub future: [c_char; 508],
}

/// Internal buffering of the driver (`ASIOInternalBufferInfo`,
/// `future(kAsioGetInternalBufferSamples)`).
#[repr(C, packed(4))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AsioInternalBufferInfo {
    /// Input samples buffered inside the driver.
    pub input_samples: i32,
    /// Output samples buffered inside the driver.
    pub output_samples: i32,
}

impl AsioClockSource {
    /// All zero.
    pub const fn zeroed() -> Self {
        Self {
            index: 0,
            associated_channel: 0,
            associated_group: 0,
            is_current_source: ASIO_FALSE,
            name: [0; 32],
        }
    }
}

impl AsioChannelInfo {
    /// A request for `getChannelInfo`: `channel` and `is_input` set, the rest zero.
    pub const fn request(channel: i32, is_input: bool) -> Self {
        Self {
            channel,
            is_input: crate::asio_bool(is_input),
            is_active: ASIO_FALSE,
            channel_group: 0,
            sample_type: 0,
            name: [0; 32],
        }
    }

    /// All zero.
    pub const fn zeroed() -> Self {
        Self::request(0, false)
    }
}

impl AsioBufferInfo {
    /// A request for `createBuffers`: buffers null.
    pub const fn request(channel_num: i32, is_input: bool) -> Self {
        Self {
            is_input: crate::asio_bool(is_input),
            channel_num,
            buffers: [ptr::null_mut(); 2],
        }
    }

    /// All zero.
    pub const fn zeroed() -> Self {
        Self::request(0, false)
    }
}

impl AsioTimeCode {
    /// All zero.
    pub const fn zeroed() -> Self {
        Self {
            speed: 0.0,
            time_code_samples: AsioSamples { hi: 0, lo: 0 },
            flags: 0,
            future: [0; 64],
        }
    }
}

impl AsioTime {
    /// All zero.
    pub const fn zeroed() -> Self {
        Self {
            reserved: [0; 4],
            time_info: AsioTimeInfo {
                speed: 0.0,
                system_time: AsioTimeStamp { hi: 0, lo: 0 },
                sample_position: AsioSamples { hi: 0, lo: 0 },
                sample_rate: 0.0,
                flags: 0,
                reserved: [0; 12],
            },
            time_code: AsioTimeCode::zeroed(),
        }
    }
}

impl AsioDriverInfo {
    /// All zero, null `sys_ref`.
    pub const fn zeroed() -> Self {
        Self {
            asio_version: 0,
            driver_version: 0,
            name: [0; 32],
            error_message: [0; 124],
            sys_ref: ptr::null_mut(),
        }
    }
}

impl AsioChannelControls {
    /// All zero.
    pub const fn zeroed() -> Self {
        Self {
            channel: 0,
            is_input: ASIO_FALSE,
            gain: 0,
            meter: 0,
            future: [0; 32],
        }
    }
}

impl AsioTransportParameters {
    /// All zero.
    pub const fn zeroed() -> Self {
        Self {
            command: 0,
            sample_position: AsioSamples { hi: 0, lo: 0 },
            track: 0,
            track_switches: [0; 16],
            future: [0; 64],
        }
    }
}

impl AsioIoFormat {
    /// A format of the given [`io_format`](crate::io_format) type, reserved bytes zero.
    pub const fn new(format_type: i32) -> Self {
        Self {
            format_type,
            future: [0; 508],
        }
    }
}

macro_rules! default_is_zeroed {
    ($($name:ident),*) => {
        $(impl Default for $name {
            fn default() -> Self {
                Self::zeroed()
            }
        })*
    };
}

default_is_zeroed!(
    AsioClockSource,
    AsioChannelInfo,
    AsioBufferInfo,
    AsioTimeCode,
    AsioTime,
    AsioDriverInfo,
    AsioChannelControls,
    AsioTransportParameters
);

impl Default for AsioIoFormat {
    fn default() -> Self {
        Self::new(crate::io_format::INVALID)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_integers_round_trip() {
        for value in [
            0u64,
            1,
            0xffff_ffff,
            0x1_0000_0000,
            0x1234_5678_9abc_def0,
            u64::MAX,
        ] {
            assert_eq!(AsioSamples::from_u64(value).to_u64(), value);
            assert_eq!(AsioTimeStamp::from_u64(value).to_u64(), value);
        }
        let s = AsioSamples::from_u64(0x1234_5678_9abc_def0);
        assert_eq!({ s.hi }, 0x1234_5678);
        assert_eq!({ s.lo }, 0x9abc_def0);
        assert_eq!(u64::from(AsioTimeStamp::from(7u64)), 7);
    }

    #[test]
    fn high_word_is_first_in_memory() {
        let s = AsioSamples::from_u64(0x0000_0001_0000_0002);
        // SAFETY: AsioSamples is two u32 with no padding; reading them as an array is valid.
        let words: [u32; 2] = unsafe { core::mem::transmute(s) };
        assert_eq!(words, [1, 2]);
    }

    #[test]
    fn requests_and_defaults() {
        let info = AsioChannelInfo::request(3, true);
        assert_eq!({ info.channel }, 3);
        assert_eq!({ info.is_input }, 1);
        let buffer = AsioBufferInfo::request(5, false);
        assert_eq!({ buffer.channel_num }, 5);
        assert!({ buffer.buffers }.iter().all(|p| p.is_null()));
        assert_eq!(
            { AsioIoFormat::default().format_type },
            crate::io_format::INVALID
        );
        assert_eq!(AsioTime::default(), AsioTime::zeroed());
        assert!({ AsioCallbacks::default().buffer_switch }.is_none());
    }
}
