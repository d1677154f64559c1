//! Whether a process still runs: how the CLI and the panel tell a live driver's status file
//! from one a crashed host left behind (both link this crate; it is not audio, but it is the
//! workspace's Windows-only library).

use windows::Win32::Foundation::{CloseHandle, STILL_ACTIVE};
use windows::Win32::System::Threading::{
    GetExitCodeProcess, OpenProcess, PROCESS_QUERY_LIMITED_INFORMATION,
};

/// Whether process `pid` still runs. A process we may not open counts as gone.
pub fn process_alive(pid: u32) -> bool {
    // SAFETY: OpenProcess returns an owned handle or an error; it is closed below.
    let Ok(handle) = (unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, false, pid) }) else {
        return false;
    };
    let mut code = 0u32;
    // SAFETY: `handle` is a valid process handle; `code` a valid out pointer.
    let got = unsafe { GetExitCodeProcess(handle, &mut code) };
    let alive = got.is_ok() && code == STILL_ACTIVE.0 as u32;
    // SAFETY: closes the handle opened above, once.
    let _ = unsafe { CloseHandle(handle) };
    alive
}
