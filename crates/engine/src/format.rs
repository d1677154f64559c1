//! WAVEFORMATEX / WAVEFORMATEXTENSIBLE as bytes: parsed and built here, so the backend only
//! passes pointers and the logic is tested natively.

pub use crate::convert::DeviceFormat;
use std::fmt;

pub const WAVE_FORMAT_PCM: u16 = 1;
pub const WAVE_FORMAT_IEEE_FLOAT: u16 = 3;
pub const WAVE_FORMAT_EXTENSIBLE: u16 = 0xFFFE;
/// Size of WAVEFORMATEX (without extra bytes).
pub const WAVEFORMATEX_BYTES: usize = 18;
/// Size of WAVEFORMATEXTENSIBLE.
pub const WAVEFORMATEXTENSIBLE_BYTES: usize = 40;

/// KSDATAFORMAT_SUBTYPE_PCM and _IEEE_FLOAT differ only in the first byte.
const SUBTYPE_TAIL: [u8; 14] = [
    0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71,
];

impl fmt::Display for DeviceFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DeviceFormat::Int16 => "int16",
            DeviceFormat::Int24Packed => "int24 (packed)",
            DeviceFormat::Int24In32 => "int24-in-32",
            DeviceFormat::Int32 => "int32",
            DeviceFormat::Float32 => "float32",
        })
    }
}

/// A stream format, as far as Wasio cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamFormat {
    pub sample_rate: u32,
    pub channels: u16,
    /// SPEAKER_* bits; 0 when the format does not say.
    pub channel_mask: u32,
    pub encoding: DeviceFormat,
}

impl fmt::Display for StreamFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} Hz, {} ch (mask 0x{:x}), {}",
            self.sample_rate, self.channels, self.channel_mask, self.encoding
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormatError(pub String);

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl StreamFormat {
    pub fn frame_bytes(&self) -> usize {
        self.channels as usize * self.encoding.bytes_per_sample()
    }

    /// Parses a WAVEFORMATEX (and its extensible tail when present).
    pub fn parse(bytes: &[u8]) -> Result<Self, FormatError> {
        if bytes.len() < WAVEFORMATEX_BYTES {
            return Err(FormatError(format!(
                "format is {} bytes, shorter than WAVEFORMATEX",
                bytes.len()
            )));
        }
        let tag = u16_at(bytes, 0);
        let channels = u16_at(bytes, 2);
        let sample_rate = u32_at(bytes, 4);
        let bits = u16_at(bytes, 14);
        let extra = u16_at(bytes, 16) as usize;
        let (is_float, valid_bits, channel_mask) = match tag {
            WAVE_FORMAT_PCM => (false, bits, 0),
            WAVE_FORMAT_IEEE_FLOAT => (true, bits, 0),
            WAVE_FORMAT_EXTENSIBLE => {
                if extra < 22 || bytes.len() < WAVEFORMATEXTENSIBLE_BYTES {
                    return Err(FormatError("WAVEFORMATEXTENSIBLE is truncated".into()));
                }
                let valid = u16_at(bytes, 18);
                let mask = u32_at(bytes, 20);
                let sub = &bytes[24..40];
                if sub[2..] != SUBTYPE_TAIL || sub[1] != 0 {
                    return Err(FormatError(
                        "subformat is neither PCM nor IEEE float".into(),
                    ));
                }
                match sub[0] {
                    1 => (false, if valid == 0 { bits } else { valid }, mask),
                    3 => (true, if valid == 0 { bits } else { valid }, mask),
                    other => return Err(FormatError(format!("unsupported subformat {other}"))),
                }
            }
            other => return Err(FormatError(format!("unsupported format tag 0x{other:04x}"))),
        };
        let encoding =
            DeviceFormat::from_wave_format(bits, valid_bits, is_float).ok_or_else(|| {
                FormatError(format!(
                    "unsupported sample format: {} {bits}-bit container, {valid_bits} valid bits",
                    if is_float { "float" } else { "integer" }
                ))
            })?;
        if channels == 0 || sample_rate == 0 {
            return Err(FormatError("format has no channels or no rate".into()));
        }
        Ok(Self {
            sample_rate,
            channels,
            channel_mask,
            encoding,
        })
    }

    /// Builds the WAVEFORMATEXTENSIBLE bytes for this format.
    pub fn to_extensible(&self) -> [u8; WAVEFORMATEXTENSIBLE_BYTES] {
        let mut b = [0u8; WAVEFORMATEXTENSIBLE_BYTES];
        self.write_wave_format_ex(&mut b, WAVE_FORMAT_EXTENSIBLE);
        b[16..18].copy_from_slice(&22u16.to_le_bytes());
        b[18..20].copy_from_slice(&(self.encoding.valid_bits() as u16).to_le_bytes());
        b[20..24].copy_from_slice(&self.channel_mask.to_le_bytes());
        b[24] = if self.encoding.is_float() { 3 } else { 1 };
        b[26..40].copy_from_slice(&SUBTYPE_TAIL);
        b
    }

    /// Builds a plain WAVEFORMATEX (for drivers that refuse the extensible form); `None` for
    /// encodings it cannot express (24-in-32).
    pub fn to_plain(&self) -> Option<[u8; WAVEFORMATEX_BYTES]> {
        if self.encoding == DeviceFormat::Int24In32 {
            return None;
        }
        let mut b = [0u8; WAVEFORMATEX_BYTES];
        let tag = if self.encoding.is_float() {
            WAVE_FORMAT_IEEE_FLOAT
        } else {
            WAVE_FORMAT_PCM
        };
        self.write_wave_format_ex(&mut b, tag);
        Some(b)
    }

    /// Writes the WAVEFORMATEX fields up to `wBitsPerSample` (the first 16 bytes of `b`) with
    /// `format_tag`; `cbSize` and what follows are the caller's.
    fn write_wave_format_ex(&self, b: &mut [u8], format_tag: u16) {
        let container = self.encoding.bytes_per_sample() as u16;
        let block_align = container * self.channels;
        b[0..2].copy_from_slice(&format_tag.to_le_bytes());
        b[2..4].copy_from_slice(&self.channels.to_le_bytes());
        b[4..8].copy_from_slice(&self.sample_rate.to_le_bytes());
        b[8..12].copy_from_slice(&(self.sample_rate * block_align as u32).to_le_bytes());
        b[12..14].copy_from_slice(&block_align.to_le_bytes());
        b[14..16].copy_from_slice(&(container * 8).to_le_bytes());
    }
}

/// Converts a REFERENCE_TIME (100 ns units) to frames at `rate`, rounding to nearest.
pub fn hns_to_frames(hns: i64, rate: u32) -> usize {
    if hns <= 0 {
        return 0;
    }
    ((hns as u128 * rate as u128 + 5_000_000) / 10_000_000) as usize
}

/// Converts frames at `rate` to a REFERENCE_TIME (100 ns units), rounding up so that a
/// duration asked for is never shorter than the frames it must hold.
pub fn frames_to_hns(frames: usize, rate: u32) -> i64 {
    if rate == 0 {
        return 0;
    }
    ((frames as u128 * 10_000_000).div_ceil(rate as u128)) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensible_round_trips_every_encoding() {
        for encoding in DeviceFormat::ALL {
            let f = StreamFormat {
                sample_rate: 96_000,
                channels: 6,
                channel_mask: 0x60f,
                encoding,
            };
            let bytes = f.to_extensible();
            assert_eq!(StreamFormat::parse(&bytes).unwrap(), f);
            assert_eq!(
                u16::from_le_bytes([bytes[12], bytes[13]]) as usize,
                f.frame_bytes()
            );
        }
    }

    #[test]
    fn plain_formats_parse_and_build() {
        let f = StreamFormat {
            sample_rate: 44_100,
            channels: 2,
            channel_mask: 0,
            encoding: DeviceFormat::Int16,
        };
        let plain = f.to_plain().unwrap();
        assert_eq!(StreamFormat::parse(&plain).unwrap(), f);
        let float = StreamFormat {
            encoding: DeviceFormat::Float32,
            ..f
        };
        assert_eq!(
            StreamFormat::parse(&float.to_plain().unwrap()).unwrap(),
            float
        );
        assert!(StreamFormat {
            encoding: DeviceFormat::Int24In32,
            ..f
        }
        .to_plain()
        .is_none());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(StreamFormat::parse(&[0u8; 4]).is_err());
        let mut b = StreamFormat {
            sample_rate: 48_000,
            channels: 2,
            channel_mask: 3,
            encoding: DeviceFormat::Float32,
        }
        .to_extensible();
        b[24] = 9;
        assert!(StreamFormat::parse(&b).unwrap_err().0.contains("subformat"));
        b[24] = 3;
        b[14] = 64; // float64 container
        assert!(StreamFormat::parse(&b).is_err());
        assert!(StreamFormat::parse(&b[..30]).is_err());
        let mut mulaw = [0u8; 18];
        mulaw[0] = 7;
        assert!(StreamFormat::parse(&mulaw)
            .unwrap_err()
            .0
            .contains("0x0007"));
    }

    #[test]
    fn reference_time_conversions() {
        assert_eq!(hns_to_frames(100_000, 48_000), 480);
        assert_eq!(hns_to_frames(0, 48_000), 0);
        assert_eq!(hns_to_frames(-5, 48_000), 0);
        assert_eq!(frames_to_hns(480, 48_000), 100_000);
        assert_eq!(frames_to_hns(441, 44_100), 100_000);
        assert!(hns_to_frames(frames_to_hns(441, 48_000), 48_000) >= 441);
    }
}
