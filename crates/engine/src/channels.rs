//! Channel names from WAVEFORMATEXTENSIBLE speaker masks (`dwChannelMask`).
//!
//! Channels in an interleaved WASAPI frame appear in ascending order of the mask's set bits;
//! channels beyond the mask's bits have no position and are called "Channel N" (1-based frame
//! position).

use core::ffi::c_char;

pub const SPEAKER_FRONT_LEFT: u32 = 0x1;
pub const SPEAKER_FRONT_RIGHT: u32 = 0x2;
pub const SPEAKER_FRONT_CENTER: u32 = 0x4;
pub const SPEAKER_LOW_FREQUENCY: u32 = 0x8;
pub const SPEAKER_BACK_LEFT: u32 = 0x10;
pub const SPEAKER_BACK_RIGHT: u32 = 0x20;
pub const SPEAKER_FRONT_LEFT_OF_CENTER: u32 = 0x40;
pub const SPEAKER_FRONT_RIGHT_OF_CENTER: u32 = 0x80;
pub const SPEAKER_BACK_CENTER: u32 = 0x100;
pub const SPEAKER_SIDE_LEFT: u32 = 0x200;
pub const SPEAKER_SIDE_RIGHT: u32 = 0x400;
pub const SPEAKER_TOP_CENTER: u32 = 0x800;
pub const SPEAKER_TOP_FRONT_LEFT: u32 = 0x1000;
pub const SPEAKER_TOP_FRONT_CENTER: u32 = 0x2000;
pub const SPEAKER_TOP_FRONT_RIGHT: u32 = 0x4000;
pub const SPEAKER_TOP_BACK_LEFT: u32 = 0x8000;
pub const SPEAKER_TOP_BACK_CENTER: u32 = 0x10000;
pub const SPEAKER_TOP_BACK_RIGHT: u32 = 0x20000;

/// Every defined speaker position bit, lowest first.
pub const ALL_SPEAKER_BITS: u32 = 0x3FFFF;

/// KSAUDIO_SPEAKER_* layouts.
pub const KSAUDIO_SPEAKER_MONO: u32 = SPEAKER_FRONT_CENTER;
pub const KSAUDIO_SPEAKER_STEREO: u32 = SPEAKER_FRONT_LEFT | SPEAKER_FRONT_RIGHT;
pub const KSAUDIO_SPEAKER_QUAD: u32 =
    KSAUDIO_SPEAKER_STEREO | SPEAKER_BACK_LEFT | SPEAKER_BACK_RIGHT;
pub const KSAUDIO_SPEAKER_5POINT0: u32 =
    KSAUDIO_SPEAKER_STEREO | SPEAKER_FRONT_CENTER | SPEAKER_SIDE_LEFT | SPEAKER_SIDE_RIGHT;
/// 5.1 with side speakers (0x60F), the layout Windows uses for 5.1 today.
pub const KSAUDIO_SPEAKER_5POINT1_SURROUND: u32 = KSAUDIO_SPEAKER_5POINT0 | SPEAKER_LOW_FREQUENCY;
/// 7.1 with side and back speakers (0x63F).
pub const KSAUDIO_SPEAKER_7POINT1_SURROUND: u32 =
    KSAUDIO_SPEAKER_5POINT1_SURROUND | SPEAKER_BACK_LEFT | SPEAKER_BACK_RIGHT;
/// 7.0: 7.1 without LFE (0x637).
pub const KSAUDIO_SPEAKER_7POINT0: u32 = KSAUDIO_SPEAKER_7POINT1_SURROUND & !SPEAKER_LOW_FREQUENCY;

/// Size of ASIO's `ASIOChannelInfo::name` field, terminating NUL included.
pub const ASIO_NAME_LEN: usize = 32;

/// Display name of one SPEAKER_* bit; "Unknown" for anything that is not exactly one defined
/// bit (e.g. SPEAKER_RESERVED or SPEAKER_ALL).
pub fn speaker_name(bit: u32) -> &'static str {
    match bit {
        SPEAKER_FRONT_LEFT => "Front Left",
        SPEAKER_FRONT_RIGHT => "Front Right",
        SPEAKER_FRONT_CENTER => "Front Center",
        SPEAKER_LOW_FREQUENCY => "LFE",
        SPEAKER_BACK_LEFT => "Back Left",
        SPEAKER_BACK_RIGHT => "Back Right",
        SPEAKER_FRONT_LEFT_OF_CENTER => "Front Left of Center",
        SPEAKER_FRONT_RIGHT_OF_CENTER => "Front Right of Center",
        SPEAKER_BACK_CENTER => "Back Center",
        SPEAKER_SIDE_LEFT => "Side Left",
        SPEAKER_SIDE_RIGHT => "Side Right",
        SPEAKER_TOP_CENTER => "Top Center",
        SPEAKER_TOP_FRONT_LEFT => "Top Front Left",
        SPEAKER_TOP_FRONT_CENTER => "Top Front Center",
        SPEAKER_TOP_FRONT_RIGHT => "Top Front Right",
        SPEAKER_TOP_BACK_LEFT => "Top Back Left",
        SPEAKER_TOP_BACK_CENTER => "Top Back Center",
        SPEAKER_TOP_BACK_RIGHT => "Top Back Right",
        _ => "Unknown",
    }
}

/// The usual mask for a channel count: mono, stereo, quad, 5.0 (0x607), 5.1 (0x60F), 7.0 (0x637),
/// 7.1 (0x63F). Other counts (3 is ambiguous between 3.0 and 2.1) get 0: no positions.
pub fn default_channel_mask(channel_count: usize) -> u32 {
    match channel_count {
        1 => KSAUDIO_SPEAKER_MONO,
        2 => KSAUDIO_SPEAKER_STEREO,
        4 => KSAUDIO_SPEAKER_QUAD,
        5 => KSAUDIO_SPEAKER_5POINT0,
        6 => KSAUDIO_SPEAKER_5POINT1_SURROUND,
        7 => KSAUDIO_SPEAKER_7POINT0,
        8 => KSAUDIO_SPEAKER_7POINT1_SURROUND,
        _ => 0,
    }
}

/// Names of `channel_count` interleaved channels under `mask`: one speaker name per set bit
/// (defined position bits only, lowest first), then "Channel N" for the rest. A mask of 0 (plain
/// WAVEFORMATEX) names mono "Front Center" and stereo "Front Left"/"Front Right"; other counts
/// get "Channel N" throughout, since WAVEFORMATEX promises no layout for them.
pub fn channel_names(mask: u32, channel_count: usize) -> Vec<String> {
    let mask = match (mask, channel_count) {
        (0, 1 | 2) => default_channel_mask(channel_count),
        (mask, _) => mask & ALL_SPEAKER_BITS,
    };
    let positions = (0..32)
        .map(|shift| 1u32 << shift)
        .filter(|bit| mask & bit != 0);
    let mut names: Vec<String> = positions
        .take(channel_count)
        .map(|bit| speaker_name(bit).to_string())
        .collect();
    for n in names.len()..channel_count {
        names.push(format!("Channel {}", n + 1));
    }
    names
}

/// `name` as a NUL-terminated ASIO name field: truncated at a UTF-8 character boundary to at most
/// 31 bytes, the rest zero. An interior NUL ends the name early, as C would read it anyway.
pub fn to_asio_name(name: &str) -> [c_char; ASIO_NAME_LEN] {
    let name = name.split('\0').next().unwrap_or_default();
    let mut end = name.len().min(ASIO_NAME_LEN - 1);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    let mut field = [0 as c_char; ASIO_NAME_LEN];
    for (slot, &byte) in field.iter_mut().zip(&name.as_bytes()[..end]) {
        *slot = byte as c_char;
    }
    field
}
