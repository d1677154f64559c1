//! `follow-default`: an `IMMNotificationClient` that asks the host for a reset when the
//! Windows default render endpoint changes while a stream exists.

use crate::endpoint::enumerator;
use crate::error::Context;
use std::sync::atomic::{AtomicBool, Ordering};
use wasio_engine::backend::{BackendError, ResetRequester};
use windows::core::{implement, PCWSTR};
use windows::Win32::Foundation::PROPERTYKEY;
use windows::Win32::Media::Audio::{
    eConsole, eRender, EDataFlow, ERole, IMMDeviceEnumerator, IMMNotificationClient,
    IMMNotificationClient_Impl, DEVICE_STATE,
};

#[implement(IMMNotificationClient)]
struct DefaultDeviceWatcher {
    /// The endpoint the stream plays to; a "change" to the same endpoint is ignored.
    current_id: String,
    request_reset: ResetRequester,
    /// One reset per stream: Windows reports a change once per role.
    requested: AtomicBool,
}

impl IMMNotificationClient_Impl for DefaultDeviceWatcher_Impl {
    fn OnDeviceStateChanged(
        &self,
        _id: &PCWSTR,
        _state: DEVICE_STATE,
    ) -> windows::core::Result<()> {
        Ok(())
    }
    fn OnDeviceAdded(&self, _id: &PCWSTR) -> windows::core::Result<()> {
        Ok(())
    }
    fn OnDeviceRemoved(&self, _id: &PCWSTR) -> windows::core::Result<()> {
        Ok(())
    }
    fn OnDefaultDeviceChanged(
        &self,
        flow: EDataFlow,
        role: ERole,
        id: &PCWSTR,
    ) -> windows::core::Result<()> {
        if flow != eRender || role != eConsole {
            return Ok(());
        }
        let new_id = if id.is_null() {
            String::new()
        } else {
            // SAFETY: Windows passes a NUL-terminated wide string valid during the call.
            unsafe { id.to_string() }.unwrap_or_default()
        };
        if !new_id.eq_ignore_ascii_case(&self.current_id)
            && !self.requested.swap(true, Ordering::AcqRel)
        {
            // The requester sends from its own thread: this callback returns at once.
            (self.request_reset)("the Windows default output device changed");
        }
        Ok(())
    }
    fn OnPropertyValueChanged(
        &self,
        _id: &PCWSTR,
        _key: &PROPERTYKEY,
    ) -> windows::core::Result<()> {
        Ok(())
    }
}

/// A registered watcher; unregistered on drop (on the device thread that registered it).
pub(crate) struct DefaultDeviceRegistration {
    enumerator: IMMDeviceEnumerator,
    client: IMMNotificationClient,
}

impl DefaultDeviceRegistration {
    pub(crate) fn register(
        current_id: &str,
        request_reset: ResetRequester,
    ) -> Result<Self, BackendError> {
        let enumerator = enumerator()?;
        let client: IMMNotificationClient = DefaultDeviceWatcher {
            current_id: current_id.to_string(),
            request_reset,
            requested: AtomicBool::new(false),
        }
        .into();
        // SAFETY: plain COM call; the client stays alive until unregistered in drop.
        unsafe { enumerator.RegisterEndpointNotificationCallback(&client) }
            .context("IMMDeviceEnumerator::RegisterEndpointNotificationCallback")?;
        Ok(Self { enumerator, client })
    }
}

impl Drop for DefaultDeviceRegistration {
    fn drop(&mut self) {
        // SAFETY: unregisters the client registered in `register`.
        let _ = unsafe {
            self.enumerator
                .UnregisterEndpointNotificationCallback(&self.client)
        };
    }
}
