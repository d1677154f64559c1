//! The ASIO driver ABI, written from the public description of the interface.
//!
//! Contents:
//! - scalar types and error codes ([`AsioBool`], [`AsioError`], [`error_name`]),
//! - 64-bit split integers ([`AsioSamples`], [`AsioTimeStamp`], high word first),
//! - [`SampleType`] with sizes and SDK-style names,
//! - the structs exchanged with a driver, laid out as the C header packs them
//!   (`#pragma pack(4)`, hence `#[repr(C, packed(4))]`),
//! - selector and flag constants ([`message`], [`future`], [`time_flags`],
//!   [`time_code_flags`], [`transport`], [`io_format`]),
//! - [`Guid`], the IASIO vtable [`IasioVtbl`] and object layout [`IasioObject`],
//!   plus the macros [`iasio_fn_type!`] and [`asio_method!`] that pick the calling
//!   convention per architecture.
//!
//! Calling conventions: the 21 IASIO methods are MSVC `__thiscall` on 32-bit x86 and
//! the single Win64 convention elsewhere; the IUnknown methods are `stdcall`
//! (`extern "system"`); host callbacks are `cdecl` (`extern "C"`).
//!
//! Sizes differ between x86 and x86_64 only where a pointer is involved
//! ([`AsioBufferInfo`], [`AsioCallbacks`], [`AsioDriverInfo`], the vtable). The layout is
//! checked at compile time for whichever target is being built (see `layout.rs`).
#![no_std]

#[cfg(test)]
extern crate std;

mod constants;
mod guid;
mod layout;
mod sample_type;
mod structs;
mod vtable;

pub use constants::*;
pub use guid::{Guid, IID_IUNKNOWN};
pub use sample_type::{SampleType, UnknownSampleType, ALL_SAMPLE_TYPES};
pub use structs::*;
pub use vtable::*;

/// ASIO boolean (C `long`, 32-bit on Windows).
pub type AsioBool = i32;
/// ASIO error code (C `long`); see the `ASE_*` constants.
pub type AsioError = i32;
/// Sample rate in Hz (C `double`).
pub type AsioSampleRate = f64;

/// `ASIOTrue`.
pub const ASIO_TRUE: AsioBool = 1;
/// `ASIOFalse`.
pub const ASIO_FALSE: AsioBool = 0;

/// Success, the usual return of a method that worked.
pub const ASE_OK: AsioError = 0;
/// Success code returned by `future()` for a supported selector.
pub const ASE_SUCCESS: AsioError = 0x3f48_47a0;
/// Hardware input or output is not present or available.
pub const ASE_NOT_PRESENT: AsioError = -1000;
/// Hardware is malfunctioning.
pub const ASE_HW_MALFUNCTION: AsioError = -999;
/// Input parameter invalid.
pub const ASE_INVALID_PARAMETER: AsioError = -998;
/// Hardware is in a bad mode or used in a bad mode (wrong call order).
pub const ASE_INVALID_MODE: AsioError = -997;
/// Hardware is not running when sample position is inquired.
pub const ASE_SP_NOT_ADVANCING: AsioError = -996;
/// Sample clock or rate cannot be determined or is not present.
pub const ASE_NO_CLOCK: AsioError = -995;
/// Not enough memory to complete the request.
pub const ASE_NO_MEMORY: AsioError = -994;

/// Every defined `ASIOError` code, `ASE_OK` first.
pub const ALL_ASIO_ERRORS: [AsioError; 9] = [
    ASE_OK,
    ASE_SUCCESS,
    ASE_NOT_PRESENT,
    ASE_HW_MALFUNCTION,
    ASE_INVALID_PARAMETER,
    ASE_INVALID_MODE,
    ASE_SP_NOT_ADVANCING,
    ASE_NO_CLOCK,
    ASE_NO_MEMORY,
];

/// The SDK name of an error code (`"ASE_InvalidMode"`), or `"unknown ASIO error"`.
pub fn error_name(error: AsioError) -> &'static str {
    match error {
        ASE_OK => "ASE_OK",
        ASE_SUCCESS => "ASE_SUCCESS",
        ASE_NOT_PRESENT => "ASE_NotPresent",
        ASE_HW_MALFUNCTION => "ASE_HWMalfunction",
        ASE_INVALID_PARAMETER => "ASE_InvalidParameter",
        ASE_INVALID_MODE => "ASE_InvalidMode",
        ASE_SP_NOT_ADVANCING => "ASE_SPNotAdvancing",
        ASE_NO_CLOCK => "ASE_NoClock",
        ASE_NO_MEMORY => "ASE_NoMemory",
        _ => "unknown ASIO error",
    }
}

/// Converts a Rust `bool` to an [`AsioBool`].
pub const fn asio_bool(value: bool) -> AsioBool {
    if value {
        ASIO_TRUE
    } else {
        ASIO_FALSE
    }
}

/// The bytes of a NUL-terminated C string stored in a fixed array, without the NUL.
/// Reads the whole array when no NUL is found.
pub fn c_chars_bytes(chars: &[core::ffi::c_char]) -> &[u8] {
    let len = chars.iter().position(|&c| c == 0).unwrap_or(chars.len());
    // SAFETY: c_char and u8 have the same size and alignment; `len` is within the slice.
    unsafe { core::slice::from_raw_parts(chars.as_ptr().cast::<u8>(), len) }
}

/// Copies `text` into a fixed C char array, truncated on a UTF-8 character boundary so
/// that a NUL always fits, and fills the rest with NULs. Returns the bytes copied.
pub fn write_c_chars(dst: &mut [core::ffi::c_char], text: &str) -> usize {
    if dst.is_empty() {
        return 0;
    }
    let mut len = text.len().min(dst.len() - 1);
    while !text.is_char_boundary(len) {
        len -= 1;
    }
    for (slot, &byte) in dst.iter_mut().zip(text.as_bytes()[..len].iter()) {
        *slot = byte as core::ffi::c_char;
    }
    for slot in dst[len..].iter_mut() {
        *slot = 0;
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::ffi::c_char;

    #[test]
    fn error_names_are_distinct_and_known() {
        let codes = ALL_ASIO_ERRORS;
        for (i, a) in codes.iter().enumerate() {
            assert_ne!(error_name(*a), "unknown ASIO error");
            for b in &codes[i + 1..] {
                assert_ne!(error_name(*a), error_name(*b));
            }
        }
        assert_eq!(error_name(-997), "ASE_InvalidMode");
        assert_eq!(error_name(12345), "unknown ASIO error");
    }

    #[test]
    fn c_chars_round_trip_and_truncate() {
        let mut buf = [0x55 as c_char; 8];
        assert_eq!(write_c_chars(&mut buf, "Wasio"), 5);
        assert_eq!(c_chars_bytes(&buf), b"Wasio");
        assert_eq!(buf[5..], [0, 0, 0]);
        // Truncation keeps room for the NUL.
        assert_eq!(write_c_chars(&mut buf, "0123456789"), 7);
        assert_eq!(c_chars_bytes(&buf), b"0123456");
        assert_eq!(buf[7], 0);
        // Never splits a UTF-8 sequence: "é" is two bytes at index 6..8.
        assert_eq!(write_c_chars(&mut buf, "abcdeeé"), 6);
        assert_eq!(c_chars_bytes(&buf), b"abcdee");
        // No NUL at all: the whole array is read.
        let full = [b'x' as c_char; 4];
        assert_eq!(c_chars_bytes(&full), b"xxxx");
        assert_eq!(write_c_chars(&mut [], "a"), 0);
    }

    #[test]
    fn asio_bool_values() {
        assert_eq!(asio_bool(true), 1);
        assert_eq!(asio_bool(false), 0);
    }
}
