//! The ALSA variant of the bench, where Wine's exclusive mode works: Wine's audio goes
//! through winealsa (`HKCU\Software\Wine\Drivers Audio=alsa`) into an ALSA `file` PCM,
//! declared as the default device in a private `~/.asoundrc`. The file receives the exact
//! bytes Wine writes to the device, in the stream's own format, so a test can compare them
//! with what the host wrote. Behind the file, the samples play in real time into the bench's
//! PulseAudio sink `wasio_b` through ALSA's `pulse` plugin with an explicit server. (Over
//! ALSA's `null` instead, Wine's device takes data about 4× faster than real time and the
//! stream underruns as soon as the machine is busy.)
//!
//! Two traps (field notes): when a PulseAudio server answers, `/etc/alsa/conf.d/99-pulse.conf`
//! makes ALSA's default PulseAudio and overrides `~/.asoundrc`, so `PULSE_SERVER` points at a
//! socket that does not exist; and Wine reads `Audio` from the registry at each process start,
//! so the switch is made before the run and undone on drop (the rest of the bench uses Pulse).

use crate::bench::{Bench, ExeOutput};
use crate::util::{self, detail, Res};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Wine's audio on winealsa into a captured ALSA file, for as long as this lives.
pub struct AlsaFileBench<'a> {
    bench: &'a Bench,
    home: PathBuf,
    /// What the ALSA default device received (raw, the stream's format).
    pub capture: PathBuf,
}

impl<'a> AlsaFileBench<'a> {
    /// Writes the private `~/.asoundrc` for `name` and switches Wine to ALSA. `file_format`:
    /// `raw` (the samples only) or `wav` (with a header that tells the rate the device ran at;
    /// rewritten each time the device is opened).
    pub fn enter(bench: &'a Bench, name: &str, file_format: &str) -> Res<AlsaFileBench<'a>> {
        let dir = bench.dir.join("alsa").join(name);
        let home = dir.join("home");
        fs::create_dir_all(&home).map_err(|e| format!("cannot create {}: {e}", home.display()))?;
        let capture = dir.join("capture.raw");
        let _ = fs::remove_file(&capture);
        let pulse_server = bench
            .env()
            .into_iter()
            .find(|(k, _)| *k == "PULSE_SERVER")
            .map(|(_, v)| v)
            .unwrap_or_default();
        let slave = format!("{{ type pulse server \"{pulse_server}\" device \"wasio_b\" }}");
        fs::write(
            home.join(".asoundrc"),
            asoundrc(&capture, file_format, &slave),
        )
        .map_err(|e| format!("cannot write .asoundrc: {e}"))?;
        set_wine_audio_driver(bench, "alsa")?;
        detail(&format!(
            "ALSA bench: Audio=alsa, default PCM = file {} over {slave}",
            capture.display()
        ));
        Ok(AlsaFileBench {
            bench,
            home,
            capture,
        })
    }

    /// The variables that point ALSA at the private configuration and away from Pulse.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("HOME", self.home.display().to_string()),
            (
                "PULSE_SERVER",
                format!("unix:{}", self.home.join("no-pulse-here").display()),
            ),
        ]
    }

    /// Runs a Windows program under Wine with the ALSA environment.
    pub fn run_windows(
        &self,
        label: &str,
        program: impl AsRef<std::ffi::OsStr>,
        args: &[String],
        timeout: Duration,
    ) -> Res<ExeOutput> {
        let env = self.env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        run_windows_with_env(self.bench, label, program, args, &env, timeout)
    }

    /// The captured bytes.
    pub fn captured(&self) -> Res<Vec<u8>> {
        fs::read(&self.capture).map_err(|e| format!("cannot read {}: {e}", self.capture.display()))
    }
}

impl Drop for AlsaFileBench<'_> {
    fn drop(&mut self) {
        if let Err(e) = set_wine_audio_driver(self.bench, "pulse") {
            detail(&format!("could not switch Wine back to PulseAudio: {e}"));
        }
    }
}

/// [`Bench::run_windows`] with extra environment variables: output captured under
/// `logs/<label>.{out,err}`, killed after `timeout`.
pub fn run_windows_with_env(
    bench: &Bench,
    label: &str,
    program: impl AsRef<std::ffi::OsStr>,
    args: &[String],
    env: &[(&str, &str)],
    timeout: Duration,
) -> Res<ExeOutput> {
    let out_path = bench.logs.join(format!("{label}.out"));
    let err_path = bench.logs.join(format!("{label}.err"));
    let stdout = File::create(&out_path)
        .map_err(|e| format!("cannot create {}: {e}", out_path.display()))?;
    let stderr = File::create(&err_path)
        .map_err(|e| format!("cannot create {}: {e}", err_path.display()))?;
    let mut command = bench.wine(program);
    command
        .envs(env.iter().copied())
        .args(args)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr);
    detail(&format!("$ {}", util::describe(&command)));
    let started = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot start wine64: {e}"))?;
    let status = util::wait_timeout(&mut child, timeout);
    let timed_out = status.is_none();
    if timed_out {
        // The wine64 process *is* the Windows process: killing it ends the program.
        let _ = child.kill();
        let _ = child.wait();
    }
    Ok(ExeOutput {
        code: status.and_then(|status| status.code()),
        stdout: fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: fs::read_to_string(&err_path).unwrap_or_default(),
        timed_out,
        elapsed: started.elapsed(),
    })
}

/// The `~/.asoundrc`: the default PCM writes everything it is given to `capture` (`raw`, in
/// the stream's format, or `wav`) and plays it into `slave` (a PCM name or definition).
pub fn asoundrc(capture: &Path, file_format: &str, slave: &str) -> String {
    format!(
        "# Written by cargo xtask (bench_alsa.rs): the default device is a file in front of another PCM.\n\
         pcm.!default {{\n    type file\n    slave.pcm {}\n    file \"{}\"\n    format \"{}\"\n}}\n",
        if slave.starts_with('{') { slave.to_string() } else { format!("\"{slave}\"") },
        capture.display(),
        file_format
    )
}

/// `HKCU\Software\Wine\Drivers Audio` = `driver`.
fn set_wine_audio_driver(bench: &Bench, driver: &str) -> Res<()> {
    let mut reg = bench.wine("reg");
    reg.args([
        "add",
        "HKCU\\Software\\Wine\\Drivers",
        "/v",
        "Audio",
        "/t",
        "REG_SZ",
        "/d",
        driver,
        "/f",
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    util::run(&mut reg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asoundrc_declares_a_file_over_null_as_default() {
        let text = asoundrc(Path::new("/tmp/x/capture.raw"), "raw", "null");
        assert!(text.contains("pcm.!default"));
        assert!(text.contains("type file"));
        assert!(text.contains("slave.pcm \"null\""));
        assert!(text.contains("file \"/tmp/x/capture.raw\""));
        assert!(text.contains("format \"raw\""));
        let paced = asoundrc(
            Path::new("/c.wav"),
            "wav",
            "{ type pulse server \"unix:/s\" device \"wasio_b\" }",
        );
        assert!(paced.contains("slave.pcm { type pulse server \"unix:/s\" device \"wasio_b\" }"));
    }
}
