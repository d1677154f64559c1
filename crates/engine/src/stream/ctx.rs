//! Naming a failed port call in a [`BackendError`], keeping its HRESULT.

use crate::backend::BackendError;
use crate::port::PortResult;

/// Names a failed port call, keeping its HRESULT.
pub(crate) trait Ctx<T> {
    fn ctx(self, what: &str) -> Result<T, BackendError>;
}

impl<T> Ctx<T> for PortResult<T> {
    fn ctx(self, what: &str) -> Result<T, BackendError> {
        self.map_err(|hr| BackendError::from_hresult(what, hr.0))
    }
}
