//! Errors of ASIO calls, independent of the OS so that reports can carry them.

use std::fmt;

use asio_abi::{error_name, AsioError};

use crate::json::Json;

/// A failed IASIO call: the call, its code, and the driver's `getErrorMessage` text
/// fetched right after the failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AsioErrorWithMessage {
    /// The IASIO method, e.g. `"createBuffers"`.
    pub call: &'static str,
    /// The code returned. `init` returns a bool; its failure is reported as
    /// `ASE_NotPresent`, as the SDK's host-side loader does.
    pub code: AsioError,
    /// The driver's error message, possibly empty.
    pub message: String,
}

impl fmt::Display for AsioErrorWithMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} failed: {} ({})",
            self.call,
            error_name(self.code),
            self.code
        )?;
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for AsioErrorWithMessage {}

impl AsioErrorWithMessage {
    /// `{"call": …, "error": "ASE_…", "code": …, "message": …}`.
    pub fn to_json(&self) -> Json {
        Json::object([
            ("call", Json::string(self.call)),
            ("error", Json::string(error_name(self.code))),
            ("code", Json::from(self.code)),
            ("message", Json::string(self.message.clone())),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_includes_the_message_only_when_present() {
        let mut error = AsioErrorWithMessage {
            call: "start",
            code: -997,
            message: String::new(),
        };
        assert_eq!(error.to_string(), "start failed: ASE_InvalidMode (-997)");
        error.message = "buffers not created".into();
        assert_eq!(
            error.to_string(),
            "start failed: ASE_InvalidMode (-997): buffers not created"
        );
        assert_eq!(
            error.to_json().to_pretty(),
            "{\n  \"call\": \"start\",\n  \"error\": \"ASE_InvalidMode\",\n  \"code\": -997,\n  \"message\": \"buffers not created\"\n}"
        );
    }
}
