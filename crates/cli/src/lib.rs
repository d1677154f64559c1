//! The `wasio` command-line tool, also an ASIO host for testing drivers.
//!
//! OS-independent parts (argument parsing, JSON, reports, expectations) are tested
//! natively; the host itself ([`host`]) and the commands that use it are Windows-only.

pub mod args;
pub mod drivers;
pub mod error;
pub mod expect;
pub mod info;
pub mod json;
pub mod messages;

#[cfg(windows)]
pub mod commands;
#[cfg(windows)]
pub mod host;
#[cfg(windows)]
pub mod misuse;

use args::Command;

/// Runs a command line (without the program name); returns the process exit code.
pub fn run<I, S>(args: I) -> i32
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let command = match args::parse(args) {
        Ok(command) => command,
        Err(error) => {
            eprintln!("wasio: {error}\n\n{}", args::USAGE);
            return 2;
        }
    };
    if command == Command::Help {
        println!("{}", args::USAGE);
        return 0;
    }
    execute(command)
}

#[cfg(windows)]
fn execute(command: Command) -> i32 {
    commands::execute(command)
}

#[cfg(not(windows))]
fn execute(_command: Command) -> i32 {
    eprintln!("wasio: this command talks to ASIO drivers and needs Windows (or Wine)");
    1
}
