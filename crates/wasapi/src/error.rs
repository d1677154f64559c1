use wasio_engine::backend::BackendError;

pub(crate) trait Context<T> {
    /// Names the failed call, keeping its HRESULT.
    fn context(self, what: &str) -> Result<T, BackendError>;
}

impl<T> Context<T> for windows::core::Result<T> {
    fn context(self, what: &str) -> Result<T, BackendError> {
        self.map_err(|e| BackendError::from_hresult(what, e.code().0))
    }
}
