//! The log file, rotated at a size bound: `Wasio.log` → `Wasio.log.1` → … → `Wasio.log.<keep>`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

pub(super) struct RotatingFile {
    path: PathBuf,
    max_bytes: u64,
    keep: u32,
    file: Option<BufWriter<File>>,
    /// Bytes in the current file, counted from its size when opened.
    size: u64,
}

/// `Wasio.log.3` for `Wasio.log` and 3.
pub fn rotated_path(path: &Path, index: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{index}"));
    PathBuf::from(name)
}

impl RotatingFile {
    /// Opens (appending to) `path`, creating it and its directory if needed.
    pub fn open(path: PathBuf, max_bytes: u64, keep: u32) -> io::Result<Self> {
        let mut file = RotatingFile {
            path,
            max_bytes,
            keep,
            file: None,
            size: 0,
        };
        file.reopen(false)?;
        Ok(file)
    }

    fn reopen(&mut self, truncate: bool) -> io::Result<()> {
        if let Some(parent) = self.path.parent() {
            if !parent.as_os_str().is_empty() {
                fs::create_dir_all(parent)?;
            }
        }
        let mut options = OpenOptions::new();
        if truncate {
            options.write(true).create(true).truncate(true);
        } else {
            options.append(true).create(true);
        }
        let file = options.open(&self.path)?;
        self.size = file.metadata()?.len();
        self.file = Some(BufWriter::with_capacity(64 * 1024, file));
        Ok(())
    }

    /// Writes one line, rotating first if it would take the file past the bound. A line longer
    /// than the bound goes alone into a fresh file.
    pub fn write_line(&mut self, line: &str) -> io::Result<()> {
        let len = line.len() as u64;
        if self.size > 0 && self.size + len > self.max_bytes {
            self.rotate()?;
        }
        if self.file.is_none() {
            self.reopen(false)?;
        }
        if let Some(file) = self.file.as_mut() {
            file.write_all(line.as_bytes())?;
            self.size += len;
        }
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        if let Some(mut file) = self.file.take() {
            file.flush()?;
        }
        if self.keep == 0 {
            return self.reopen(true);
        }
        let remove_if_present = |path: &Path| match fs::remove_file(path) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
            _ => Ok(()),
        };
        remove_if_present(&rotated_path(&self.path, self.keep))?;
        for index in (1..self.keep).rev() {
            let from = rotated_path(&self.path, index);
            if from.exists() {
                fs::rename(&from, rotated_path(&self.path, index + 1))?;
            }
        }
        // Renaming can fail on Windows if another process holds the file without
        // FILE_SHARE_DELETE; truncating then still keeps the bound.
        let _ = fs::rename(&self.path, rotated_path(&self.path, 1));
        self.reopen(true)
    }

    pub fn flush(&mut self) -> io::Result<()> {
        match self.file.as_mut() {
            Some(file) => file.flush(),
            None => Ok(()),
        }
    }
}
