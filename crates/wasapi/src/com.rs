//! COM apartment ownership for threads the backend creates.

use wasio_engine::backend::BackendError;
use windows::Win32::System::Com::{CoInitializeEx, CoUninitialize, COINIT_MULTITHREADED};

/// This thread's membership in the multithreaded apartment; left on drop.
pub struct MtaGuard(());

impl MtaGuard {
    pub fn enter() -> Result<Self, BackendError> {
        // SAFETY: called on a thread the backend owns, balanced by CoUninitialize in Drop.
        let hr = unsafe { CoInitializeEx(None, COINIT_MULTITHREADED) };
        if hr.is_err() {
            return Err(BackendError::from_hresult("CoInitializeEx", hr.0));
        }
        Ok(MtaGuard(()))
    }
}

impl Drop for MtaGuard {
    fn drop(&mut self) {
        // SAFETY: balances the successful CoInitializeEx of enter() on the same thread.
        unsafe { CoUninitialize() };
    }
}
