//! Reactions to endpoint notifications while a stream exists: a new Windows default output
//! with `follow-default`, and the stream's own endpoint removed or disabled while it is not
//! running (a running stream learns of that from its device calls and fails by itself).
//! Each stream asks the host for at most one reset.

use crate::backend::ResetRequester;
use crate::port::{DeviceState, Flow, Notification, NotificationSink, Role};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The state a stream's watcher shares with the device thread.
#[derive(Debug, Default)]
pub(crate) struct WatchState {
    /// The real-time loop runs (its failures are the driver's to report).
    pub running: AtomicBool,
    /// A reset was asked for this stream already (by the watcher, or the stream failed).
    pub reset_asked: AtomicBool,
}

pub(crate) struct StreamWatcher {
    pub render_id: String,
    pub capture_id: Option<String>,
    pub follow_default: bool,
    pub request_reset: ResetRequester,
    pub state: Arc<WatchState>,
}

impl StreamWatcher {
    fn reset_once(&self, reason: &str) {
        if !self.state.reset_asked.swap(true, Ordering::AcqRel) {
            // The requester sends from its own thread: this returns at once.
            (self.request_reset)(reason);
        }
    }

    fn is_ours(&self, id: &str) -> Option<&'static str> {
        if id.eq_ignore_ascii_case(&self.render_id) {
            Some("the output device was removed or disabled")
        } else if self
            .capture_id
            .as_deref()
            .is_some_and(|c| id.eq_ignore_ascii_case(c))
        {
            Some("the input device was removed or disabled")
        } else {
            None
        }
    }

    fn lost(&self, id: &str) {
        if let Some(reason) = self.is_ours(id) {
            if !self.state.running.load(Ordering::Acquire) {
                self.reset_once(reason);
            }
        }
    }
}

impl NotificationSink for StreamWatcher {
    fn notify(&self, notification: &Notification) {
        match notification {
            Notification::DefaultDeviceChanged {
                flow: Flow::Render,
                role: Role::Console,
                id,
            } if self.follow_default && !id.eq_ignore_ascii_case(&self.render_id) => {
                self.reset_once("the Windows default output device changed");
            }
            Notification::DeviceStateChanged { id, state } if *state != DeviceState::ACTIVE => {
                self.lost(id)
            }
            Notification::DeviceRemoved { id } => self.lost(id),
            _ => {}
        }
    }
}
