//! Small process and path helpers shared by the xtask commands (std only).

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Errors are human-readable sentences: xtask prints them and exits nonzero.
pub type Res<T> = Result<T, String>;

/// Prints a top-level progress line.
pub fn step(message: &str) {
    println!("==> {message}");
}

/// Prints a detail line under the current step.
pub fn detail(message: &str) {
    println!("    {message}");
}

/// The workspace root (the parent of the xtask crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives inside the workspace")
        .to_path_buf()
}

/// The cargo target directory (honours `CARGO_TARGET_DIR`).
pub fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                root.join(dir)
            }
        }
        None => root.join("target"),
    }
}

/// The cargo executable that runs this xtask.
pub fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Renders a command line for progress output.
pub fn describe(command: &Command) -> String {
    let mut text = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}

/// Runs a command to completion with inherited output; fails on a nonzero exit.
pub fn run(command: &mut Command) -> Res<()> {
    detail(&format!("$ {}", describe(command)));
    let status = command
        .status()
        .map_err(|error| format!("cannot start `{}`: {error}", describe(command)))?;
    check_status(command, status)
}

/// Runs a command and returns its stdout; fails on a nonzero exit (stderr included in the error).
pub fn output(command: &mut Command) -> Res<String> {
    let result = command
        .stdin(Stdio::null())
        .output()
        .map_err(|error| format!("cannot start `{}`: {error}", describe(command)))?;
    if !result.status.success() {
        return Err(format!(
            "`{}` failed ({}): {}",
            describe(command),
            result.status,
            String::from_utf8_lossy(&result.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&result.stdout).into_owned())
}

fn check_status(command: &Command, status: ExitStatus) -> Res<()> {
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{}` failed ({status})", describe(command)))
    }
}

/// Finds an executable on PATH.
pub fn find_on_path(program: impl AsRef<OsStr>) -> Option<PathBuf> {
    let program = program.as_ref();
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path)
        .map(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Sends a signal to one process we started, by PID, with the `kill` utility
/// (std only offers SIGKILL). Errors are ignored: the process may be gone already.
pub fn signal(pid: u32, signal_name: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{signal_name}"))
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Waits for a child to exit, up to `timeout`. Returns its status when it exited.
pub fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
            _ => return None,
        }
    }
}

/// Stops a child politely (SIGTERM/SIGINT), then forcibly after a grace period, and reaps it.
pub fn stop_child(child: &mut Child, polite_signal: &str, grace: Duration) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    signal(child.id(), polite_signal);
    if wait_timeout(child, grace).is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// True when the file at `path` has exactly `contents`.
pub fn same_contents(path: &Path, contents: &[u8]) -> bool {
    fs::read(path).map(|old| old == contents).unwrap_or(false)
}

/// Modification time helper: true when `output` is missing or older than any input.
pub fn is_stale(output: &Path, inputs: &[&Path]) -> bool {
    let Ok(out_time) = fs::metadata(output).and_then(|meta| meta.modified()) else {
        return true;
    };
    inputs.iter().any(|input| {
        fs::metadata(input)
            .and_then(|meta| meta.modified())
            .map(|time| time > out_time)
            .unwrap_or(true)
    })
}
