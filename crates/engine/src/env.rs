//! What the driver core needs from the operating system, filled in by the DLL with Windows
//! calls and by tests with temporary directories.

use crate::error::DriverResult;
use crate::log::{portable_thread_id, ProcessInfo, ThreadIdFn};
use std::path::PathBuf;

/// Opens the settings window without blocking the caller (the DLL starts `wasio-panel.exe`).
pub type PanelLauncher = Box<dyn Fn() -> DriverResult<()> + Send + Sync>;

/// The driver's surroundings.
pub struct DriverEnv {
    /// `%USERPROFILE%`: where `Wasio.toml` and `Wasio.log` live. `None`: no configuration
    /// file (defaults) and no log.
    pub user_profile_dir: Option<PathBuf>,
    /// Where status files go (`%TEMP%\Wasio`). `None`: no status file.
    pub status_dir: Option<PathBuf>,
    /// The host process, for the log and the status file.
    pub process: ProcessInfo,
    /// The calling thread's ID, for the log.
    pub thread_id: ThreadIdFn,
    /// What `controlPanel` does.
    pub control_panel: PanelLauncher,
}

impl DriverEnv {
    /// No profile, no status directory, a panel that is not there: for tools and tests that
    /// need none of them.
    pub fn detached(process_name: &str) -> Self {
        Self {
            user_profile_dir: None,
            status_dir: None,
            process: ProcessInfo {
                name: process_name.to_string(),
                pid: std::process::id(),
            },
            thread_id: portable_thread_id,
            control_panel: Box::new(|| {
                Err(crate::DriverError::not_present(
                    "Wasio's settings window is not installed; edit Wasio.toml instead",
                ))
            }),
        }
    }
}
