//! The `wasio` command-line tool, also an ASIO host for testing drivers.
//!
//! OS-independent parts (argument parsing, JSON, reports, expectations) are tested
//! natively; the host itself (`host`) and the commands that use it are Windows-only.

/// `println!` that ignores write errors: `wasio info | head` must not panic when the
/// reader goes away.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::print_out(&format!("{}\n", format_args!($($arg)*)))
    };
}

pub mod args;
pub mod callbacks;
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
#[cfg(windows)]
pub mod rates;

use args::Command;

/// Writes `text` to stdout, ignoring errors (closed pipe), and flushes.
pub fn print_out(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

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
        outln!("{}", args::USAGE);
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
