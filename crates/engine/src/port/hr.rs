//! HRESULTs as the port returns them.

use std::fmt;

/// A failed call's HRESULT. `Copy` and allocation-free, so the real-time loop can carry it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Hr(pub i32);

/// What every port method returns.
pub type PortResult<T> = Result<T, Hr>;

impl Hr {
    /// Whether the device is gone or was invalidated (unplugged, disabled, format changed).
    pub fn is_device_lost(self) -> bool {
        matches!(
            self,
            AUDCLNT_E_DEVICE_INVALIDATED | AUDCLNT_E_SERVICE_NOT_RUNNING | E_NOTFOUND
        )
    }
}

impl fmt::Debug for Hr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hr({})", crate::hresult::HresultDisplay(self.0))
    }
}

impl fmt::Display for Hr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::hresult::HresultDisplay(self.0).fmt(f)
    }
}

macro_rules! hresults {
    ($($(#[$doc:meta])* $name:ident = $value:expr;)*) => {
        $(
            #[doc = concat!("`", stringify!($name), "`.")]
            $(#[$doc])*
            pub const $name: Hr = Hr($value as u32 as i32);
        )*
    };
}

hresults! {
    S_OK = 0x0000_0000;
    AUDCLNT_E_NOT_INITIALIZED = 0x8889_0001;
    AUDCLNT_E_ALREADY_INITIALIZED = 0x8889_0002;
    AUDCLNT_E_WRONG_ENDPOINT_TYPE = 0x8889_0003;
    AUDCLNT_E_DEVICE_INVALIDATED = 0x8889_0004;
    AUDCLNT_E_NOT_STOPPED = 0x8889_0005;
    AUDCLNT_E_BUFFER_TOO_LARGE = 0x8889_0006;
    AUDCLNT_E_OUT_OF_ORDER = 0x8889_0007;
    AUDCLNT_E_UNSUPPORTED_FORMAT = 0x8889_0008;
    AUDCLNT_E_INVALID_SIZE = 0x8889_0009;
    AUDCLNT_E_DEVICE_IN_USE = 0x8889_000A;
    AUDCLNT_E_EXCLUSIVE_MODE_NOT_ALLOWED = 0x8889_000E;
    AUDCLNT_E_SERVICE_NOT_RUNNING = 0x8889_0010;
    AUDCLNT_E_EVENTHANDLE_NOT_EXPECTED = 0x8889_0011;
    AUDCLNT_E_BUFDURATION_PERIOD_NOT_EQUAL = 0x8889_0013;
    AUDCLNT_E_EVENTHANDLE_NOT_SET = 0x8889_0014;
    AUDCLNT_E_BUFFER_SIZE_ERROR = 0x8889_0016;
    AUDCLNT_E_BUFFER_SIZE_NOT_ALIGNED = 0x8889_0019;
    AUDCLNT_E_INVALID_DEVICE_PERIOD = 0x8889_0020;
    AUDCLNT_E_ENGINE_PERIODICITY_LOCKED = 0x8889_0028;
    E_NOTIMPL = 0x8000_4001;
    E_NOINTERFACE = 0x8000_4002;
    E_POINTER = 0x8000_4003;
    E_FAIL = 0x8000_4005;
    E_UNEXPECTED = 0x8000_FFFF;
    E_INVALIDARG = 0x8007_0057;
    E_HANDLE = 0x8007_0006;
    /// `HRESULT_FROM_WIN32(ERROR_NOT_FOUND)`: no such endpoint.
    E_NOTFOUND = 0x8007_0490;
    /// `DISP_E_TYPEMISMATCH`: a property of another type than asked.
    DISP_E_TYPEMISMATCH = 0x8002_0005;
}
