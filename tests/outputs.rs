//! Every output flag against every kind of path (issue 11, part 1): a device node, a FIFO,
//! standard output, a directory, a missing directory, a link, a full filesystem, two outputs
//! on one path. Before the fix a report was renamed over whatever the path named: `--out
//! /dev/full` left /dev/full a regular JSON file.

use std::ffi::CString;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// How an output is asked for.
#[derive(Clone, Copy, Debug)]
enum Cmd {
    /// `openpace run ... FLAG PATH`
    Run(&'static str),
    /// `openpace report SAVED --out PATH`
    Report,
    /// `openpace merge A B --out PATH`
    Merge,
    /// `openpace calibrate --out PATH`
    Calibrate,
}

const ALL: [Cmd; 9] = [
    Cmd::Run("--out"),
    Cmd::Run("--html"),
    Cmd::Run("--hgrm"),
    Cmd::Run("--hlog"),
    Cmd::Run("--csv"),
    Cmd::Run("--junit"),
    Cmd::Report,
    Cmd::Merge,
    Cmd::Calibrate,
];

const RUN: [&str; 9] = [
    "--target",
    "noop",
    "--rate",
    "50",
    "--duration",
    "0.1s",
    "--warmup",
    "0",
    "--quiet",
];

fn openpace() -> Command {
    Command::new(env!("CARGO_BIN_EXE_openpace"))
}

/// The short `openpace run` of these tests with `extra` flags (paths among them), in `dir`.
fn short_run(dir: &Path, extra: &[&std::ffi::OsStr]) -> Output {
    openpace()
        .current_dir(dir)
        .arg("run")
        .args(RUN)
        .args(extra)
        .output()
        .unwrap()
}

/// Flags and paths as one list for [`short_run`].
macro_rules! flags {
    ($($x:expr),* $(,)?) => { &[$(std::ffi::OsStr::new($x)),*] };
}

/// Saved results for `report` and `merge`, made once per test process.
fn fixtures() -> &'static (PathBuf, PathBuf, PathBuf) {
    static FIXTURES: OnceLock<(PathBuf, PathBuf, PathBuf)> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let shard = |i: u32| {
            let out = openpace()
                .arg("run")
                .args(RUN)
                .args(["--shard", &format!("{i}/2"), "--out"])
                .arg(dir.join("shard{shard}.json"))
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
            dir.join(format!("shard{i}.json"))
        };
        let (first, second) = (shard(0), shard(1));
        (first.clone(), first, second)
    })
}

/// Runs `cmd` with its output at `path`; the command's own other outputs go nowhere.
fn command(cmd: Cmd, path: &Path) -> Command {
    let (saved, shard0, shard1) = fixtures();
    let mut c = openpace();
    match cmd {
        Cmd::Run(flag) => {
            c.arg("run").args(RUN);
            if flag != "--out" {
                c.args(["--out", "none"]);
            }
            c.arg(flag).arg(path);
        }
        Cmd::Report => {
            c.arg("report")
                .arg(saved)
                .args(["--format", "json", "--out"]);
            c.arg(path);
        }
        Cmd::Merge => {
            c.arg("merge")
                .arg(shard0)
                .arg(shard1)
                .arg("--quiet")
                .arg("--out");
            c.arg(path);
        }
        Cmd::Calibrate => {
            c.args([
                "calibrate",
                "--duration",
                "1s",
                "--modes",
                "sleep",
                "--quiet",
            ]);
            c.arg("--out").arg(path);
        }
    }
    c
}

fn run(cmd: Cmd, path: &Path) -> Output {
    let dir = tempfile::tempdir().unwrap();
    command(cmd, path)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs every command at once: calibrate takes seconds, the others a fraction of one.
fn each(check: impl Fn(Cmd) + Sync) {
    fixtures();
    std::thread::scope(|scope| {
        for cmd in ALL {
            let check = &check;
            scope.spawn(move || check(cmd));
        }
    });
}

fn mknod(path: &Path, major: u32, minor: u32) -> bool {
    let name = CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid C string; mknod only creates a node.
    let made = unsafe {
        libc::mknod(
            name.as_ptr(),
            libc::S_IFCHR | 0o666,
            libc::makedev(major, minor),
        )
    };
    made == 0
}

#[test]
fn a_device_node_is_written_in_place_and_a_full_one_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    if !mknod(&dir.path().join("probe"), 1, 3) {
        eprintln!("skipped: mknod needs root (CAP_MKNOD) to make device nodes");
        return;
    }
    each(|cmd| {
        let dir = tempfile::tempdir().unwrap();
        let (null, full) = (dir.path().join("null"), dir.path().join("full"));
        assert!(mknod(&null, 1, 3) && mknod(&full, 1, 7));
        let out = run(cmd, &null);
        assert_eq!(out.status.code(), Some(0), "{cmd:?}: {}", stderr(&out));
        let out = run(cmd, &full);
        assert_eq!(out.status.code(), Some(3), "{cmd:?}: {}", stderr(&out));
        let message = stderr(&out);
        assert!(
            message.contains(&*full.to_string_lossy()) && message.contains("No space left"),
            "{cmd:?}: {message}"
        );
        for node in [&null, &full] {
            let kind = std::fs::symlink_metadata(node).unwrap().file_type();
            assert!(kind.is_char_device(), "{cmd:?} replaced {node:?}");
        }
    });
}

#[test]
fn a_fifo_gets_the_report_and_stays_a_fifo() {
    each(|cmd| {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let name = CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid C string.
        assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read(&fifo).unwrap())
        };
        let out = run(cmd, &fifo);
        assert_eq!(out.status.code(), Some(0), "{cmd:?}: {}", stderr(&out));
        // Unblock the reader's open if openpace never opened the FIFO (the assert above
        // would have failed, but the thread must not hang the test).
        let _ = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo);
        let bytes = reader.join().unwrap();
        assert!(bytes.len() > 100, "{cmd:?}: {} bytes", bytes.len());
        let kind = std::fs::symlink_metadata(&fifo).unwrap().file_type();
        assert!(kind.is_fifo(), "{cmd:?} replaced the FIFO");
    });
}

#[test]
fn a_dash_is_standard_output_and_the_summary_moves_to_stderr() {
    each(|cmd| {
        let out = run(cmd, Path::new("-"));
        assert_eq!(out.status.code(), Some(0), "{cmd:?}: {}", stderr(&out));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.len() > 100, "{cmd:?}: {text}");
        assert!(
            !text.lines().any(|l| l.starts_with("report: ")),
            "{cmd:?}: {text}"
        );
        assert!(!text.contains("LOAD TEST SUMMARY"), "{cmd:?}");
        assert!(!Path::new("-").exists());
    });
    // Not quiet: the summary is still shown, on stderr.
    let out = openpace()
        .args([
            "run",
            "--target",
            "noop",
            "--rate",
            "50",
            "--duration",
            "0.1s",
        ])
        .args(["--warmup", "0", "--out", "-"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with('{'));
    assert!(stderr(&out).contains("LOAD TEST SUMMARY"));
}

#[test]
fn a_directory_is_refused_before_anything_runs() {
    each(|cmd| {
        let dir = tempfile::tempdir().unwrap();
        let out = run(cmd, dir.path());
        assert_eq!(out.status.code(), Some(2), "{cmd:?}: {}", stderr(&out));
        let message = stderr(&out);
        assert!(message.contains("not a directory"), "{cmd:?}: {message}");
        let flag = match cmd {
            Cmd::Run(flag) => flag,
            _ => "--out",
        };
        assert!(message.contains(flag), "{cmd:?}: {message}");
        assert!(out.stdout.is_empty(), "{cmd:?}: nothing ran");
    });
}

#[test]
fn a_missing_directory_is_refused_before_anything_runs() {
    each(|cmd| {
        let out = run(cmd, Path::new("/no/such/dir/out.txt"));
        assert_eq!(out.status.code(), Some(3), "{cmd:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("/no/such/dir"), "{cmd:?}");
        assert!(out.stdout.is_empty(), "{cmd:?}: nothing ran");
    });
}

#[test]
fn an_empty_path_and_two_outputs_on_one_file_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = short_run(dir.path(), flags!["--out", ""]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("non-empty path"));
    let twice = flags![
        "--out",
        "same.json",
        "--html",
        "./same.json",
        "--csv",
        "same.json"
    ];
    let out = short_run(dir.path(), twice);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("no other output"), "{}", stderr(&out));
    assert!(!dir.path().join("same.json").exists());
    // A config file that names one file twice is named in the message.
    let config = dir.path().join("c.json");
    std::fs::write(
        &config,
        r#"{"target": "noop", "target_rps": 50, "duration_seconds": 0.1, "output": "r.json", "hgrm": "r.json"}"#,
    )
    .unwrap();
    let out = openpace()
        .current_dir(dir.path())
        .args(["run", "c.json", "--quiet"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("c.json"), "{}", stderr(&out));
}

#[test]
fn a_failed_output_does_not_stop_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("r.html");
    let out = short_run(dir.path(), flags!["--out", "/dev/full", "--html", &html]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("/dev/full"));
    assert!(std::fs::read_to_string(&html).unwrap().contains("<html"));
}

#[test]
fn a_link_is_written_through_and_stays_a_link() {
    let dir = tempfile::tempdir().unwrap();
    let (file, link) = (dir.path().join("real.json"), dir.path().join("link.json"));
    std::fs::write(&file, "old").unwrap();
    std::os::unix::fs::symlink(&file, &link).unwrap();
    let out = short_run(dir.path(), flags!["--out", &link]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
    assert!(
        std::fs::read_to_string(&file)
            .unwrap()
            .contains("schema_version")
    );
}

#[test]
fn a_closed_standard_output_is_reported() {
    let mut child = openpace()
        .arg("run")
        .args(RUN)
        .args(["--out", "-"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("Broken pipe"), "{}", stderr(&out));
}

#[test]
fn a_full_filesystem_keeps_the_old_report_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let mount = dir.path().join("small");
    std::fs::create_dir(&mount).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=8k", "tmpfs"])
        .arg(&mount)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("skipped: mounting a small tmpfs needs root");
        return;
    }
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(mount.clone());
    let report = mount.join("report.json");
    std::fs::write(&report, "old report").unwrap();
    // 8 KiB (two pages, one taken by the old report) cannot hold the HTML report (~15 KB).
    let out = short_run(dir.path(), flags!["--out", "none", "--html", &report]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("No space left"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&report).unwrap(), "old report");
    let leftovers = std::fs::read_dir(&mount).unwrap().count();
    assert_eq!(leftovers, 1, "the temporary file was removed");
}
