//! Names of the HRESULTs WASAPI and COM return, for log lines and error messages such as
//! `IAudioClient::Initialize failed: AUDCLNT_E_UNSUPPORTED_FORMAT (0x88890008)`.
//!
//! Values are those of the Windows SDK headers (audioclient.h, winerror.h), checked against the
//! `windows` crate 0.62 constants.

use std::fmt;

/// Every HRESULT this table names, with its value (as the `i32` a `HRESULT` holds).
pub const KNOWN_HRESULTS: &[(&str, u32)] = &[
    ("S_OK", 0x0000_0000),
    ("S_FALSE", 0x0000_0001),
    // audioclient.h: AUDCLNT_SUCCESS(n) = MAKE_SCODE(SEVERITY_SUCCESS, FACILITY_AUDCLNT, n)
    ("AUDCLNT_S_BUFFER_EMPTY", 0x0889_0001),
    ("AUDCLNT_S_THREAD_ALREADY_REGISTERED", 0x0889_0002),
    ("AUDCLNT_S_POSITION_STALLED", 0x0889_0003),
    // audioclient.h: AUDCLNT_ERR(n) = MAKE_HRESULT(SEVERITY_ERROR, FACILITY_AUDCLNT, n)
    ("AUDCLNT_E_NOT_INITIALIZED", 0x8889_0001),
    ("AUDCLNT_E_ALREADY_INITIALIZED", 0x8889_0002),
    ("AUDCLNT_E_WRONG_ENDPOINT_TYPE", 0x8889_0003),
    ("AUDCLNT_E_DEVICE_INVALIDATED", 0x8889_0004),
    ("AUDCLNT_E_NOT_STOPPED", 0x8889_0005),
    ("AUDCLNT_E_BUFFER_TOO_LARGE", 0x8889_0006),
    ("AUDCLNT_E_OUT_OF_ORDER", 0x8889_0007),
    ("AUDCLNT_E_UNSUPPORTED_FORMAT", 0x8889_0008),
    ("AUDCLNT_E_INVALID_SIZE", 0x8889_0009),
    ("AUDCLNT_E_DEVICE_IN_USE", 0x8889_000A),
    ("AUDCLNT_E_BUFFER_OPERATION_PENDING", 0x8889_000B),
    ("AUDCLNT_E_THREAD_NOT_REGISTERED", 0x8889_000C),
    ("AUDCLNT_E_EXCLUSIVE_MODE_NOT_ALLOWED", 0x8889_000E),
    ("AUDCLNT_E_ENDPOINT_CREATE_FAILED", 0x8889_000F),
    ("AUDCLNT_E_SERVICE_NOT_RUNNING", 0x8889_0010),
    ("AUDCLNT_E_EVENTHANDLE_NOT_EXPECTED", 0x8889_0011),
    ("AUDCLNT_E_EXCLUSIVE_MODE_ONLY", 0x8889_0012),
    ("AUDCLNT_E_BUFDURATION_PERIOD_NOT_EQUAL", 0x8889_0013),
    ("AUDCLNT_E_EVENTHANDLE_NOT_SET", 0x8889_0014),
    ("AUDCLNT_E_INCORRECT_BUFFER_SIZE", 0x8889_0015),
    ("AUDCLNT_E_BUFFER_SIZE_ERROR", 0x8889_0016),
    ("AUDCLNT_E_CPUUSAGE_EXCEEDED", 0x8889_0017),
    ("AUDCLNT_E_BUFFER_ERROR", 0x8889_0018),
    ("AUDCLNT_E_BUFFER_SIZE_NOT_ALIGNED", 0x8889_0019),
    ("AUDCLNT_E_INVALID_DEVICE_PERIOD", 0x8889_0020),
    ("AUDCLNT_E_INVALID_STREAM_FLAG", 0x8889_0021),
    ("AUDCLNT_E_ENDPOINT_OFFLOAD_NOT_CAPABLE", 0x8889_0022),
    ("AUDCLNT_E_OUT_OF_OFFLOAD_RESOURCES", 0x8889_0023),
    ("AUDCLNT_E_OFFLOAD_MODE_ONLY", 0x8889_0024),
    ("AUDCLNT_E_NONOFFLOAD_MODE_ONLY", 0x8889_0025),
    ("AUDCLNT_E_RESOURCES_INVALIDATED", 0x8889_0026),
    ("AUDCLNT_E_RAW_MODE_UNSUPPORTED", 0x8889_0027),
    ("AUDCLNT_E_ENGINE_PERIODICITY_LOCKED", 0x8889_0028),
    ("AUDCLNT_E_ENGINE_FORMAT_LOCKED", 0x8889_0029),
    ("AUDCLNT_E_HEADTRACKING_ENABLED", 0x8889_0030),
    ("AUDCLNT_E_HEADTRACKING_UNSUPPORTED", 0x8889_0040),
    ("AUDCLNT_E_EFFECT_NOT_AVAILABLE", 0x8889_0041),
    ("AUDCLNT_E_EFFECT_STATE_READ_ONLY", 0x8889_0042),
    // winerror.h: generic COM errors.
    ("E_NOTIMPL", 0x8000_4001),
    ("E_NOINTERFACE", 0x8000_4002),
    ("E_POINTER", 0x8000_4003),
    ("E_ABORT", 0x8000_4004),
    ("E_FAIL", 0x8000_4005),
    ("E_UNEXPECTED", 0x8000_FFFF),
    ("E_PENDING", 0x8000_000A),
    ("E_BOUNDS", 0x8000_000B),
    ("E_ILLEGAL_METHOD_CALL", 0x8000_000E),
    ("E_ACCESSDENIED", 0x8007_0005),
    ("E_HANDLE", 0x8007_0006),
    ("E_OUTOFMEMORY", 0x8007_000E),
    ("E_INVALIDARG", 0x8007_0057),
    ("CLASS_E_NOAGGREGATION", 0x8004_0110),
    ("CLASS_E_CLASSNOTAVAILABLE", 0x8004_0111),
    ("REGDB_E_CLASSNOTREG", 0x8004_0154),
    ("CO_E_NOTINITIALIZED", 0x8004_01F0),
    ("RPC_E_CHANGED_MODE", 0x8001_0106),
    // HRESULT_FROM_WIN32(x) = 0x80070000 | x, as IMMDeviceEnumerator and friends return them.
    ("HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND)", 0x8007_0002),
    ("HRESULT_FROM_WIN32(ERROR_NOT_READY)", 0x8007_0015),
    (
        "HRESULT_FROM_WIN32(ERROR_DEVICE_NOT_CONNECTED)",
        0x8007_048F,
    ),
    ("HRESULT_FROM_WIN32(ERROR_NOT_FOUND)", 0x8007_0490),
];

/// The symbolic name of `hresult`, if it is one of [`KNOWN_HRESULTS`].
pub fn hresult_name(hresult: i32) -> Option<&'static str> {
    let bits = hresult as u32;
    KNOWN_HRESULTS
        .iter()
        .find(|(_, value)| *value == bits)
        .map(|(name, _)| *name)
}

/// Displays an HRESULT as `NAME (0x88890008)`, or `0x80071234` alone when the name is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HresultDisplay(pub i32);

impl fmt::Display for HresultDisplay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match hresult_name(self.0) {
            Some(name) => write!(f, "{name} (0x{:08X})", self.0 as u32),
            None => write!(f, "0x{:08X}", self.0 as u32),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_common_hresults() {
        assert_eq!(
            hresult_name(0x8889_0008_u32 as i32),
            Some("AUDCLNT_E_UNSUPPORTED_FORMAT")
        );
        assert_eq!(hresult_name(0x8007_0057_u32 as i32), Some("E_INVALIDARG"));
        assert_eq!(hresult_name(0x0889_0001), Some("AUDCLNT_S_BUFFER_EMPTY"));
        assert_eq!(
            hresult_name(0x8001_0106_u32 as i32),
            Some("RPC_E_CHANGED_MODE")
        );
        assert_eq!(hresult_name(0x1234_5678), None);
    }

    #[test]
    fn table_has_unique_names_and_values() {
        for (i, (name, value)) in KNOWN_HRESULTS.iter().enumerate() {
            for (other_name, other_value) in &KNOWN_HRESULTS[i + 1..] {
                assert_ne!(name, other_name);
                assert_ne!(value, other_value, "{name} and {other_name} share a value");
            }
        }
    }

    #[test]
    fn display_names_and_hex() {
        assert_eq!(
            HresultDisplay(0x8889_0008_u32 as i32).to_string(),
            "AUDCLNT_E_UNSUPPORTED_FORMAT (0x88890008)"
        );
        assert_eq!(
            HresultDisplay(0x8007_1234_u32 as i32).to_string(),
            "0x80071234"
        );
    }
}
