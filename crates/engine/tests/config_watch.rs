//! Change detection on the configuration file.

use std::sync::mpsc;
use std::time::Duration;

use wasio_engine::config::{ConfigWatcher, FileFingerprint};

#[test]
fn poll_reports_creation_modification_and_deletion_once_each() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("Wasio.toml");
    let mut watcher = ConfigWatcher::new(&path);
    assert_eq!(watcher.path(), path);
    assert!(!watcher.poll(), "nothing happened yet");

    std::fs::write(&path, "sample_rate = 48000\n").unwrap();
    assert!(watcher.poll(), "creation");
    assert!(!watcher.poll(), "reported once");

    // Same size, written within the timestamp's resolution: only the content hash differs.
    std::fs::write(&path, "sample_rate = 44100\n").unwrap();
    assert!(watcher.poll(), "same-size edit");
    assert!(!watcher.poll());

    std::fs::write(&path, "sample_rate = 44100\n[output]\nmode = \"shared\"\n").unwrap();
    assert!(watcher.poll(), "growth");

    std::fs::remove_file(&path).unwrap();
    assert!(watcher.poll(), "deletion");
    assert!(!watcher.poll());
}

#[test]
fn rewriting_identical_content_with_the_same_timestamp_is_not_a_change() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("Wasio.toml");
    std::fs::write(&path, "x = 1\n").unwrap();
    let before = FileFingerprint::of(&path);
    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
    std::fs::write(&path, "x = 1\n").unwrap();
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_modified(modified).unwrap();
    drop(file);
    assert_eq!(FileFingerprint::of(&path), before);
    assert_eq!(
        FileFingerprint::of(&dir.path().join("absent")),
        FileFingerprint::Missing
    );
}

#[test]
fn background_thread_calls_back_once_per_settled_change() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("Wasio.toml");
    let (sender, receiver) = mpsc::channel();
    let thread = ConfigWatcher::new(&path)
        .spawn(
            Duration::from_millis(5),
            Duration::from_millis(20),
            move || {
                let _ = sender.send(());
            },
        )
        .unwrap();

    // Nothing changes: no callback.
    assert!(receiver.recv_timeout(Duration::from_millis(100)).is_err());

    std::fs::write(&path, "sample_rate = 48000\n").unwrap();
    receiver
        .recv_timeout(Duration::from_secs(10))
        .expect("creation is reported");

    std::fs::write(&path, "sample_rate = 96000\n").unwrap();
    receiver
        .recv_timeout(Duration::from_secs(10))
        .expect("modification is reported");

    std::fs::remove_file(&path).unwrap();
    receiver
        .recv_timeout(Duration::from_secs(10))
        .expect("deletion is reported");

    // One report per change: nothing else is pending.
    assert!(receiver.recv_timeout(Duration::from_millis(100)).is_err());

    thread.stop();
    // The callback (and its sender) is gone with the thread.
    assert_eq!(receiver.recv(), Err(mpsc::RecvError));
}

#[test]
fn dropping_the_handle_stops_the_thread_promptly() {
    let dir = tempfile::tempdir().unwrap();
    let (sender, receiver) = mpsc::channel::<()>();
    let thread = ConfigWatcher::new(dir.path().join("Wasio.toml"))
        .spawn(
            Duration::from_secs(3600),
            Duration::from_secs(3600),
            move || {
                let _ = sender.send(());
            },
        )
        .unwrap();
    // With an hour-long interval, returning at all shows the stop wakes the thread.
    drop(thread);
    assert_eq!(receiver.recv(), Err(mpsc::RecvError));
}
