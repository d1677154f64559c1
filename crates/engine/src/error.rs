//! The error every driver operation returns: an ASIO error code plus words for `getErrorMessage`.

use asio_abi::{
    AsioError, ASE_HW_MALFUNCTION, ASE_INVALID_MODE, ASE_INVALID_PARAMETER, ASE_NOT_PRESENT,
    ASE_NO_CLOCK, ASE_NO_MEMORY,
};
use std::fmt;

/// A failed driver call: the ASIO code the host sees and the sentence `getErrorMessage` returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DriverError {
    pub code: AsioError,
    pub message: String,
}

impl DriverError {
    pub fn new(code: AsioError, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
    pub fn not_present(message: impl Into<String>) -> Self {
        Self::new(ASE_NOT_PRESENT, message)
    }
    pub fn hw_malfunction(message: impl Into<String>) -> Self {
        Self::new(ASE_HW_MALFUNCTION, message)
    }
    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::new(ASE_INVALID_PARAMETER, message)
    }
    pub fn invalid_mode(message: impl Into<String>) -> Self {
        Self::new(ASE_INVALID_MODE, message)
    }
    pub fn no_clock(message: impl Into<String>) -> Self {
        Self::new(ASE_NO_CLOCK, message)
    }
    pub fn no_memory(message: impl Into<String>) -> Self {
        Self::new(ASE_NO_MEMORY, message)
    }
}

impl fmt::Display for DriverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, asio_abi::error_name(self.code))
    }
}

impl std::error::Error for DriverError {}

pub type DriverResult<T> = Result<T, DriverError>;
