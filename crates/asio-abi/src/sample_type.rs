//! ASIO sample types (`ASIOSampleType`).

use core::fmt;

/// The format of one channel's buffer samples.
///
/// MSB = big-endian, LSB = little-endian. `Int32Lsb16` etc. are 32-bit containers holding
/// 16/18/20/24 significant bits, right-aligned. The DSD types carry one byte per sample
/// slot in the buffer (`DsdInt8Lsb1`/`Msb1`: 8 one-bit samples per byte; `DsdInt8Ner8`:
/// one 8-bit sample per byte).
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SampleType {
    Int16Msb = 0,
    /// Packed 24-bit.
    Int24Msb = 1,
    Int32Msb = 2,
    /// IEEE 754 32-bit float.
    Float32Msb = 3,
    /// IEEE 754 64-bit float.
    Float64Msb = 4,
    Int32Msb16 = 8,
    Int32Msb18 = 9,
    Int32Msb20 = 10,
    Int32Msb24 = 11,
    Int16Lsb = 16,
    /// Packed 24-bit.
    Int24Lsb = 17,
    Int32Lsb = 18,
    /// IEEE 754 32-bit float.
    Float32Lsb = 19,
    /// IEEE 754 64-bit float.
    Float64Lsb = 20,
    Int32Lsb16 = 24,
    Int32Lsb18 = 25,
    Int32Lsb20 = 26,
    Int32Lsb24 = 27,
    /// DSD, 8 one-bit samples per byte, first sample in the least significant bit.
    DsdInt8Lsb1 = 32,
    /// DSD, 8 one-bit samples per byte, first sample in the most significant bit.
    DsdInt8Msb1 = 33,
    /// DSD, one 8-bit sample per byte.
    DsdInt8Ner8 = 40,
}

/// Every sample type, in ascending order of value.
pub const ALL_SAMPLE_TYPES: [SampleType; 21] = [
    SampleType::Int16Msb,
    SampleType::Int24Msb,
    SampleType::Int32Msb,
    SampleType::Float32Msb,
    SampleType::Float64Msb,
    SampleType::Int32Msb16,
    SampleType::Int32Msb18,
    SampleType::Int32Msb20,
    SampleType::Int32Msb24,
    SampleType::Int16Lsb,
    SampleType::Int24Lsb,
    SampleType::Int32Lsb,
    SampleType::Float32Lsb,
    SampleType::Float64Lsb,
    SampleType::Int32Lsb16,
    SampleType::Int32Lsb18,
    SampleType::Int32Lsb20,
    SampleType::Int32Lsb24,
    SampleType::DsdInt8Lsb1,
    SampleType::DsdInt8Msb1,
    SampleType::DsdInt8Ner8,
];

impl SampleType {
    /// Every sample type, in ascending order of value.
    pub const ALL: [SampleType; 21] = ALL_SAMPLE_TYPES;

    /// The raw `ASIOSampleType` value.
    pub const fn as_i32(self) -> i32 {
        self as i32
    }

    /// Bytes one sample occupies in a buffer.
    pub const fn bytes_per_sample(self) -> usize {
        use SampleType::*;
        match self {
            Int16Msb | Int16Lsb => 2,
            Int24Msb | Int24Lsb => 3,
            Int32Msb | Int32Lsb | Float32Msb | Float32Lsb => 4,
            Int32Msb16 | Int32Msb18 | Int32Msb20 | Int32Msb24 => 4,
            Int32Lsb16 | Int32Lsb18 | Int32Lsb20 | Int32Lsb24 => 4,
            Float64Msb | Float64Lsb => 8,
            DsdInt8Lsb1 | DsdInt8Msb1 | DsdInt8Ner8 => 1,
        }
    }

    /// Whether samples are stored little-endian (`…LSB`). DSD types count as neither.
    pub const fn is_little_endian(self) -> bool {
        let value = self as i32;
        value >= 16 && value < 32
    }

    /// The SDK-style name, e.g. `"ASIOSTFloat32LSB"`.
    pub const fn name(self) -> &'static str {
        use SampleType::*;
        match self {
            Int16Msb => "ASIOSTInt16MSB",
            Int24Msb => "ASIOSTInt24MSB",
            Int32Msb => "ASIOSTInt32MSB",
            Float32Msb => "ASIOSTFloat32MSB",
            Float64Msb => "ASIOSTFloat64MSB",
            Int32Msb16 => "ASIOSTInt32MSB16",
            Int32Msb18 => "ASIOSTInt32MSB18",
            Int32Msb20 => "ASIOSTInt32MSB20",
            Int32Msb24 => "ASIOSTInt32MSB24",
            Int16Lsb => "ASIOSTInt16LSB",
            Int24Lsb => "ASIOSTInt24LSB",
            Int32Lsb => "ASIOSTInt32LSB",
            Float32Lsb => "ASIOSTFloat32LSB",
            Float64Lsb => "ASIOSTFloat64LSB",
            Int32Lsb16 => "ASIOSTInt32LSB16",
            Int32Lsb18 => "ASIOSTInt32LSB18",
            Int32Lsb20 => "ASIOSTInt32LSB20",
            Int32Lsb24 => "ASIOSTInt32LSB24",
            DsdInt8Lsb1 => "ASIOSTDSDInt8LSB1",
            DsdInt8Msb1 => "ASIOSTDSDInt8MSB1",
            DsdInt8Ner8 => "ASIOSTDSDInt8NER8",
        }
    }
}

impl fmt::Display for SampleType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A raw value that is not an ASIO sample type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownSampleType(pub i32);

impl fmt::Display for UnknownSampleType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown ASIO sample type {}", self.0)
    }
}

impl TryFrom<i32> for SampleType {
    type Error = UnknownSampleType;

    fn try_from(value: i32) -> Result<Self, Self::Error> {
        ALL_SAMPLE_TYPES
            .iter()
            .copied()
            .find(|t| *t as i32 == value)
            .ok_or(UnknownSampleType(value))
    }
}

impl From<SampleType> for i32 {
    fn from(value: SampleType) -> i32 {
        value as i32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_match_the_interface() {
        let expected = [
            0, 1, 2, 3, 4, 8, 9, 10, 11, 16, 17, 18, 19, 20, 24, 25, 26, 27, 32, 33, 40,
        ];
        let values: std::vec::Vec<i32> = SampleType::ALL.iter().map(|t| t.as_i32()).collect();
        assert_eq!(values, expected);
    }

    #[test]
    fn try_from_round_trips_and_rejects_gaps() {
        for t in SampleType::ALL {
            assert_eq!(SampleType::try_from(t as i32), Ok(t));
        }
        for gap in [-1, 5, 6, 7, 12, 15, 21, 23, 28, 31, 34, 39, 41, 1000] {
            assert_eq!(SampleType::try_from(gap), Err(UnknownSampleType(gap)));
        }
    }

    #[test]
    fn sizes_and_names() {
        assert_eq!(SampleType::Int16Lsb.bytes_per_sample(), 2);
        assert_eq!(SampleType::Int24Lsb.bytes_per_sample(), 3);
        assert_eq!(SampleType::Int32Lsb24.bytes_per_sample(), 4);
        assert_eq!(SampleType::Float32Lsb.bytes_per_sample(), 4);
        assert_eq!(SampleType::Float64Msb.bytes_per_sample(), 8);
        assert_eq!(SampleType::DsdInt8Ner8.bytes_per_sample(), 1);
        assert_eq!(SampleType::Float32Lsb.name(), "ASIOSTFloat32LSB");
        assert_eq!(SampleType::Int32Msb18.name(), "ASIOSTInt32MSB18");
        assert_eq!(
            std::format!("{}", SampleType::DsdInt8Msb1),
            "ASIOSTDSDInt8MSB1"
        );
        assert!(SampleType::Int32Lsb.is_little_endian());
        assert!(!SampleType::Int32Msb.is_little_endian());
        assert!(!SampleType::DsdInt8Lsb1.is_little_endian());
        // Names are unique.
        for (i, a) in SampleType::ALL.iter().enumerate() {
            for b in &SampleType::ALL[i + 1..] {
                assert_ne!(a.name(), b.name());
            }
        }
    }
}
