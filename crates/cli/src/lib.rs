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
pub mod config_check;
pub mod drivers;
pub mod error;
pub mod expect;
pub mod info;
pub mod json;
pub mod latency;
pub mod messages;
pub mod play;
pub mod status_report;
pub mod watch;
pub mod wav;

#[cfg(windows)]
pub mod commands;
#[cfg(windows)]
pub mod devices;
#[cfg(windows)]
pub mod host;
#[cfg(windows)]
pub mod misuse;
#[cfg(windows)]
pub mod process_prng;
#[cfg(windows)]
pub mod rates;
#[cfg(windows)]
pub mod session;
#[cfg(windows)]
pub mod unload;

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
    let args: Vec<String> = args.into_iter().map(Into::into).collect();
    if args.first().map(String::as_str) == Some("watch") {
        return watch::main(&args[1..]);
    }
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
fn execute(command: Command) -> i32 {
    match command {
        Command::ConfigCheck { file, json } => config_check_command(file, json),
        _ => {
            eprintln!("wasio: this command talks to Windows audio or ASIO drivers and needs Windows (or Wine)");
            1
        }
    }
}

/// Reports a failure: on stderr, and with `--json` also as `{"ok": false, "error": …}` on
/// stdout so that scripts always get JSON. Returns exit code 1.
pub fn fail(json: bool, message: &str) -> i32 {
    eprintln!("wasio: {message}");
    if json {
        let object = json::Json::object([
            ("ok", json::Json::Bool(false)),
            ("error", json::Json::string(message)),
        ]);
        outln!("{}", object.to_pretty());
    }
    1
}

/// `wasio config check`: `--file`, or `%USERPROFILE%\Wasio.toml`.
pub fn config_check_command(file: Option<String>, json: bool) -> i32 {
    let path = match file {
        Some(file) => std::path::PathBuf::from(file),
        None => match std::env::var_os("USERPROFILE").or_else(|| std::env::var_os("HOME")) {
            Some(profile) => {
                wasio_engine::config::default_config_path(std::path::Path::new(&profile))
            }
            None => {
                return fail(
                    json,
                    "neither USERPROFILE nor HOME is set; pass --file PATH",
                )
            }
        },
    };
    let check = config_check::ConfigCheck::run(&path);
    if json {
        outln!("{}", check.to_json().to_pretty());
    } else {
        // The problems are this command's output: stdout, with exit code 1.
        print_out(&check.to_text());
    }
    check.exit_code()
}
