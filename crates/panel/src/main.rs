//! `wasio-panel`: Wasio's control panel. The driver starts it with CreateProcess when a host
//! calls `controlPanel()`, and returns at once; the panel is its own process, so it never
//! blocks or touches the host's UI thread.
//!
//! ```text
//! wasio-panel [--config PATH] [--self-check [--hold SECONDS]]
//! wasio-panel --test-tone [--device ID]
//! ```
//! `--self-check` opens the window, checks that every control exists and every picker is
//! filled, prints a JSON report on stdout and exits (after `--hold` seconds, for screenshots).
//! `--test-tone` plays what the Test tone button plays, without a window, and exits.
#![cfg_attr(windows, windows_subsystem = "windows")]

#[cfg_attr(not(windows), allow(dead_code))]
mod form;
#[cfg(windows)]
mod tone;
#[cfg(windows)]
mod window;

#[cfg(windows)]
fn main() {
    std::process::exit(window::main(std::env::args().skip(1).collect()));
}

#[cfg(not(windows))]
fn main() {
    eprintln!("wasio-panel is a Windows program");
    std::process::exit(1);
}
