use std::fmt;

/// A failed WASAPI/COM step: which call failed, and its HRESULT by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendError {
    /// What was being done, e.g. "IAudioClient::Initialize".
    pub context: String,
    pub hresult: Option<i32>,
    /// Extra words (the system's message, or ours when there is no HRESULT).
    pub detail: String,
}

impl BackendError {
    pub fn new(context: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            context: context.into(),
            hresult: None,
            detail: detail.into(),
        }
    }
    pub fn from_hresult(context: impl Into<String>, hresult: i32) -> Self {
        Self {
            context: context.into(),
            hresult: Some(hresult),
            detail: String::new(),
        }
    }
    /// The device is gone or was invalidated (unplugged, disabled, format changed).
    pub fn is_device_lost(&self) -> bool {
        const AUDCLNT_E_DEVICE_INVALIDATED: i32 = 0x8889_0004_u32 as i32;
        const AUDCLNT_E_SERVICE_NOT_RUNNING: i32 = 0x8889_0010_u32 as i32;
        const E_NOTFOUND: i32 = 0x8007_0490_u32 as i32;
        matches!(
            self.hresult,
            Some(AUDCLNT_E_DEVICE_INVALIDATED | AUDCLNT_E_SERVICE_NOT_RUNNING | E_NOTFOUND)
        )
    }
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed", self.context)?;
        if let Some(hr) = self.hresult {
            match wasio_engine::hresult::hresult_name(hr) {
                Some(name) => write!(f, ": {name} (0x{:08X})", hr as u32)?,
                None => write!(f, ": HRESULT 0x{:08X}", hr as u32)?,
            }
        }
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}

impl std::error::Error for BackendError {}

#[cfg(windows)]
pub(crate) trait Context<T> {
    /// Names the failed call, keeping its HRESULT.
    fn context(self, what: &str) -> Result<T, BackendError>;
}

#[cfg(windows)]
impl<T> Context<T> for windows::core::Result<T> {
    fn context(self, what: &str) -> Result<T, BackendError> {
        self.map_err(|e| BackendError::from_hresult(what, e.code().0))
    }
}
