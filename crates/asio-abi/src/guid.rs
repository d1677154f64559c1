//! COM GUID layout, without a dependency on the `windows` crate.

use core::fmt;

/// A COM GUID / CLSID / IID in its in-memory layout.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Guid {
    pub data1: u32,
    pub data2: u16,
    pub data3: u16,
    pub data4: [u8; 8],
}

impl Guid {
    /// The all-zero GUID (`GUID_NULL`).
    pub const NULL: Guid = Guid::from_u128(0);

    /// From the 128-bit value written as in its text form:
    /// `Guid::from_u128(0x00000000_0000_0000_C000_000000000046)` is IUnknown.
    pub const fn from_u128(value: u128) -> Guid {
        Guid {
            data1: (value >> 96) as u32,
            data2: (value >> 80) as u16,
            data3: (value >> 64) as u16,
            data4: (value as u64).to_be_bytes(),
        }
    }

    /// The 128-bit value in text order (inverse of [`Guid::from_u128`]).
    pub const fn to_u128(self) -> u128 {
        ((self.data1 as u128) << 96)
            | ((self.data2 as u128) << 80)
            | ((self.data3 as u128) << 64)
            | u64::from_be_bytes(self.data4) as u128
    }

    /// Parses `{XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}` (braces optional, any letter case,
    /// surrounding whitespace ignored). Returns `None` on any other input.
    pub fn parse(text: &str) -> Option<Guid> {
        let text = text.trim();
        let inner = match (text.starts_with('{'), text.ends_with('}')) {
            (true, true) if text.len() >= 2 => &text[1..text.len() - 1],
            (false, false) => text,
            _ => return None,
        };
        let bytes = inner.as_bytes();
        if bytes.len() != 36 {
            return None;
        }
        let mut value: u128 = 0;
        for (i, &b) in bytes.iter().enumerate() {
            if matches!(i, 8 | 13 | 18 | 23) {
                if b != b'-' {
                    return None;
                }
                continue;
            }
            let digit = (b as char).to_digit(16)?;
            value = (value << 4) | digit as u128;
        }
        Some(Guid::from_u128(value))
    }
}

/// `{XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}`, upper case, as the registry writes CLSIDs.
impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = &self.data4;
        write!(
            f,
            "{{{:08X}-{:04X}-{:04X}-{:02X}{:02X}-{:02X}{:02X}{:02X}{:02X}{:02X}{:02X}}}",
            self.data1, self.data2, self.data3, d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]
        )
    }
}

/// `IID_IUnknown`, {00000000-0000-0000-C000-000000000046}.
pub const IID_IUNKNOWN: Guid = Guid::from_u128(0x00000000_0000_0000_c000_000000000046);

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;

    #[test]
    fn from_u128_matches_the_text_form() {
        let g = Guid::from_u128(0x12345678_9abc_def0_1122_334455667788);
        assert_eq!(g.data1, 0x12345678);
        assert_eq!(g.data2, 0x9abc);
        assert_eq!(g.data3, 0xdef0);
        assert_eq!(g.data4, [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88]);
        assert_eq!(format!("{g}"), "{12345678-9ABC-DEF0-1122-334455667788}");
        assert_eq!(g.to_u128(), 0x12345678_9abc_def0_1122_334455667788);
        assert_eq!(
            format!("{IID_IUNKNOWN}"),
            "{00000000-0000-0000-C000-000000000046}"
        );
    }

    #[test]
    fn parse_round_trips_and_rejects_garbage() {
        let g = Guid::from_u128(0xa1b2c3d4_e5f6_0718_293a_4b5c6d7e8f90);
        let text = format!("{g}");
        assert_eq!(Guid::parse(&text), Some(g));
        assert_eq!(Guid::parse(&text.to_lowercase()), Some(g));
        assert_eq!(Guid::parse(&text[1..text.len() - 1]), Some(g));
        assert_eq!(Guid::parse(&format!("  {text}\n")), Some(g));
        for bad in [
            "",
            "{}",
            "{A1B2C3D4-E5F6-0718-293A-4B5C6D7E8F90",
            "A1B2C3D4-E5F6-0718-293A-4B5C6D7E8F9",
            "A1B2C3D4-E5F6-0718-293A-4B5C6D7E8F900",
            "A1B2C3D4xE5F6-0718-293A-4B5C6D7E8F90",
            "G1B2C3D4-E5F6-0718-293A-4B5C6D7E8F90",
            "{A1B2C3D4-E5F6-0718-293A-4B5C6D7E8F9é}",
        ] {
            assert_eq!(Guid::parse(bad), None, "{bad:?}");
        }
    }
}
