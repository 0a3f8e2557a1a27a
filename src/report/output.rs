//! Where reports go, and writing them without ever destroying what a path names.
//!
//! A destination is one of three kinds, decided from what the path names when it is written
//! (and checked once before a run starts, so that a bad path costs nothing):
//!
//! - **standard output**: the path `-`;
//! - **a file to replace**: a regular file, or a path that does not exist yet. The report
//!   goes to a temporary file beside it, is flushed to disk and renamed over the path, so a
//!   reader never sees half a report and a crash leaves the old file whole;
//! - **a stream**: a device (`/dev/null`, a terminal), a FIFO, or a symbolic link (whatever it
//!   points to). These are opened and written in place: renaming over them would replace a
//!   device node or a link with a regular file. A FIFO without a reader is waited for up to
//!   [`FIFO_WAIT`].
//!
//! Refused before anything runs (exit 2, naming the field or flag): an empty path, a
//! directory, a socket, two outputs that name the same file (`--out r.json --html r.json`,
//! or two spellings of one file; devices such as `/dev/null` may take several), and an output
//! that names a file the command read as an input (its config, request set, body, CA
//! certificate, or the reports `report`, `compare` and `merge` read), by device and inode, so
//! a link or another spelling of the input is caught too ([`crate::base::input`] remembers
//! every input read). A directory
//! that does not exist or cannot take a new file is a run error (exit 3) before the run.
//! A write that fails afterwards (a full disk, an I/O error, a closed pipe) is reported with
//! the output's name and exit 3, after every other output was written.

use std::fs;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::error::{ConfigError, Error, Origin};

/// How long a write to a FIFO waits for a reader to open it.
pub const FIFO_WAIT: Duration = Duration::from_secs(10);

/// One output a command writes: where it was named (for messages) and its path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Destination {
    /// Where the path came from: a flag, or a field of a config file.
    pub origin: Origin,
    /// The config field or flag name as messages show it (`output`, `html`, `--out`).
    pub field: String,
    /// The path as given; `-` is standard output.
    pub path: PathBuf,
}

impl Destination {
    /// A destination named by a command-line flag, e.g. `--out`.
    pub fn flag(flag: &str, path: impl Into<PathBuf>) -> Destination {
        Destination {
            origin: Origin::Flag(flag.to_string()),
            field: flag.to_string(),
            path: path.into(),
        }
    }

    /// Whether this is standard output.
    pub fn is_stdout(&self) -> bool {
        self.path.as_os_str() == "-"
    }

    /// The name messages use: `--out report.json`, `report.html (html)`.
    pub fn describe(&self) -> String {
        match &self.origin {
            Origin::Flag(flag) if *flag == self.field => {
                format!("{flag} {}", self.path.display())
            }
            origin => format!("{} ({origin}, {})", self.path.display(), self.field),
        }
    }

    fn usage(&self, allowed: &str) -> Error {
        ConfigError::invalid(
            &self.origin,
            &self.field,
            format!("\"{}\"", self.path.display()),
            allowed,
        )
        .into()
    }

    fn run(&self, action: &str, why: impl std::fmt::Display) -> Error {
        Error::run(format!("{action} {}", self.describe()), why)
    }
}

/// What a path names, as far as writing a report there goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sink {
    /// `-`.
    Stdout,
    /// A regular file or a path that does not exist: written beside it and renamed over it.
    Replace,
    /// A device, a FIFO or a symbolic link: opened and written in place.
    Stream(StreamKind),
}

/// The kinds of [`Sink::Stream`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamKind {
    /// A character or block device.
    Device,
    /// A named pipe.
    Fifo,
    /// A symbolic link to anything but a directory.
    Link,
}

const KINDS: &str = "an output is a new or regular file, a device, a FIFO, a symbolic link, \
                     or - for standard output";

/// What `path` names now. Errors are the usage errors of the module doc.
pub fn classify(dest: &Destination) -> Result<Sink, Error> {
    let path = &dest.path;
    if path.as_os_str().is_empty() {
        return Err(dest.usage(&format!("a non-empty path; {KINDS}")));
    }
    if dest.is_stdout() {
        return Ok(Sink::Stdout);
    }
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Sink::Replace),
        Err(e) => return Err(dest.run("checking", e)),
    };
    let kind = meta.file_type();
    if kind.is_symlink() {
        // Whatever the link points to is written through it; only a directory is refused.
        return match fs::metadata(path) {
            Ok(target) if target.is_dir() => {
                Err(dest.usage(&format!("a link to a file, not to a directory; {KINDS}")))
            }
            _ => Ok(Sink::Stream(StreamKind::Link)),
        };
    }
    if kind.is_dir() {
        return Err(dest.usage(&format!("a file, not a directory; {KINDS}")));
    }
    if kind.is_socket() {
        return Err(dest.usage(&format!("a file, not a socket; {KINDS}")));
    }
    if kind.is_fifo() {
        return Ok(Sink::Stream(StreamKind::Fifo));
    }
    if kind.is_char_device() || kind.is_block_device() {
        return Ok(Sink::Stream(StreamKind::Device));
    }
    Ok(Sink::Replace)
}

/// Whether `path` is written as a stream (standard output, a device, a FIFO, a link): such a
/// path takes every part of a report itself, never a sibling file named after it.
pub fn is_stream(path: &Path) -> bool {
    let dest = Destination::flag("--out", path);
    matches!(classify(&dest), Ok(Sink::Stdout | Sink::Stream(_)))
}

/// Checks, before a run, that every destination can be written and that no two name the
/// same file. See the module doc for what is refused and how.
pub fn check(dests: &[Destination]) -> Result<(), Error> {
    let mut seen: Vec<(Identity, &Destination)> = Vec::new();
    for dest in dests {
        let sink = classify(dest)?;
        let identity = identity(dest, sink);
        if let Some((_, other)) = seen.iter().find(|(id, _)| *id == identity) {
            let shared_device = matches!(identity, Identity::Device(..));
            if !shared_device {
                return Err(dest.usage(&format!(
                    "a path no other output uses ({} writes there too)",
                    other.describe()
                )));
            }
        }
        if let Identity::Inode(dev, ino) = identity {
            let inputs = crate::base::input::opened();
            if let Some(input) = inputs.iter().find(|i| (i.dev, i.ino) == (dev, ino)) {
                return Err(dest.usage(&format!(
                    "a path that is not one of this command's inputs ({} is the file it reads \
                     as {}; an output never replaces an input)",
                    dest.path.display(),
                    input.path.display()
                )));
            }
        }
        seen.push((identity, dest));
        match sink {
            Sink::Stdout => {}
            Sink::Replace => probe_directory(dest)?,
            Sink::Stream(_) => probe_stream(dest)?,
        }
    }
    Ok(())
}

/// What makes two destinations the same file.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Identity {
    Stdout,
    /// A device node: several outputs may share one (`/dev/null`).
    Device(u64, u64),
    /// An existing file, by device and inode.
    Inode(u64, u64),
    /// A file still to be created, by its directory's real path and its name.
    New(PathBuf),
}

fn identity(dest: &Destination, sink: Sink) -> Identity {
    if sink == Sink::Stdout {
        return Identity::Stdout;
    }
    if let Ok(meta) = fs::metadata(&dest.path) {
        let kind = meta.file_type();
        if kind.is_char_device() || kind.is_block_device() {
            return Identity::Device(meta.dev(), meta.ino());
        }
        return Identity::Inode(meta.dev(), meta.ino());
    }
    let dir = parent(&dest.path);
    let dir = fs::canonicalize(&dir).unwrap_or(dir);
    Identity::New(dir.join(dest.path.file_name().unwrap_or_default()))
}

/// The directory a path's file lives in.
fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A file will be created in the destination's directory: check that it can be.
fn probe_directory(dest: &Destination) -> Result<(), Error> {
    let dir = parent(&dest.path);
    match fs::metadata(&dir) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => return Err(dest.run("checking", format!("{} is not a directory", dir.display()))),
        Err(e) => {
            return Err(dest.run("checking", format!("its directory {}: {e}", dir.display())));
        }
    }
    let probe = temp_path(&dest.path, "probe");
    fs::File::create(&probe)
        .map(|_| {
            let _ = fs::remove_file(&probe);
        })
        .map_err(|e| dest.run("checking that a file can be written for", e))
}

/// A device, FIFO or link will be opened for writing: check that it may be, without opening
/// it (opening a FIFO would meet its reader and send it an empty report; opening some
/// devices has effects of its own).
fn probe_stream(dest: &Destination) -> Result<(), Error> {
    use std::os::unix::ffi::OsStrExt;
    let name = std::ffi::CString::new(dest.path.as_os_str().as_bytes())
        .map_err(|_| dest.usage("a path without a NUL byte"))?;
    match crate::base::sys::may_write(&name) {
        Ok(()) => Ok(()),
        // A link to a file that does not exist yet: writing through it creates the file.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(dest.run("checking that it can write to", e)),
    }
}

/// A name beside `path` for a temporary file, unique within this process.
fn temp_path(path: &Path, what: &str) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    parent(path).join(format!(
        ".{name}.openpace-{what}.{}.{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}

/// Writes `contents` to a destination, the way its kind asks (see the module doc).
pub fn write(dest: &Destination, contents: &[u8]) -> Result<(), Error> {
    match classify(dest)? {
        Sink::Stdout => {
            let mut out = std::io::stdout().lock();
            out.write_all(contents)
                .and_then(|()| out.flush())
                .map_err(|e| dest.run("writing the report to", e))
        }
        Sink::Replace => replace(dest, contents),
        Sink::Stream(kind) => {
            let mut file = open_stream(dest, kind)?;
            file.write_all(contents)
                .and_then(|()| file.flush())
                .map_err(|e| dest.run("writing the report to", e))
        }
    }
}

/// Temporary file, flushed to disk, renamed over the path.
fn replace(dest: &Destination, contents: &[u8]) -> Result<(), Error> {
    let tmp = temp_path(&dest.path, "tmp");
    let write = || -> std::io::Result<()> {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        fs::rename(&tmp, &dest.path)
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        dest.run("writing the report to", e)
    })
}

/// Opens a device, FIFO or link for writing in place.
fn open_stream(dest: &Destination, kind: StreamKind) -> Result<fs::File, Error> {
    let open = |flags| {
        fs::OpenOptions::new()
            .write(true)
            .truncate(kind == StreamKind::Link)
            .create(kind == StreamKind::Link)
            .custom_flags(flags)
            .open(&dest.path)
    };
    if kind != StreamKind::Fifo {
        return open(0).map_err(|e| dest.run("opening", e));
    }
    // Opening a FIFO for writing blocks until a reader opens it; without O_NONBLOCK a missing
    // reader would hang the command for ever.
    let started = Instant::now();
    let file = loop {
        match open(libc::O_NONBLOCK) {
            Ok(file) => break file,
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) && started.elapsed() < FIFO_WAIT => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {
                return Err(dest.run(
                    "writing the report to",
                    format!("no reader opened the FIFO within {} s", FIFO_WAIT.as_secs()),
                ));
            }
            Err(e) => return Err(dest.run("opening", e)),
        }
    };
    // Writes wait for a slow reader instead of failing.
    crate::base::sys::set_nonblocking(file.as_raw_fd(), false)
        .map_err(|e| dest.run("opening", e))?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dest(path: &Path) -> Destination {
        Destination::flag("--out", path)
    }

    #[test]
    fn kinds_follow_what_the_path_names() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("r.json");
        assert_eq!(classify(&dest(&file)).unwrap(), Sink::Replace);
        fs::write(&file, "old").unwrap();
        assert_eq!(classify(&dest(&file)).unwrap(), Sink::Replace);
        assert_eq!(classify(&dest(Path::new("-"))).unwrap(), Sink::Stdout);
        assert_eq!(
            classify(&dest(Path::new("/dev/null"))).unwrap(),
            Sink::Stream(StreamKind::Device)
        );
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert_eq!(
            classify(&dest(&link)).unwrap(),
            Sink::Stream(StreamKind::Link)
        );
        for bad in [dir.path(), Path::new("")] {
            let err = classify(&dest(bad)).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{err}");
        }
    }

    #[test]
    fn a_link_keeps_being_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("real.json");
        let link = dir.path().join("link.json");
        fs::write(&file, "old").unwrap();
        std::os::unix::fs::symlink(&file, &link).unwrap();
        write(&dest(&link), b"new").unwrap();
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read_to_string(&file).unwrap(), "new");
    }

    #[test]
    fn two_outputs_on_one_file_are_refused_but_devices_may_be_shared() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.json");
        let same = dir.path().join(".").join("a.json");
        let err = check(&[dest(&a), Destination::flag("--html", &same)]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("--out"), "{err}");
        check(&[
            dest(Path::new("/dev/null")),
            Destination::flag("--html", "/dev/null"),
        ])
        .unwrap();
    }

    #[test]
    fn a_full_device_is_reported_not_replaced() {
        let err = write(&dest(Path::new("/dev/full")), b"{}").unwrap_err();
        assert_eq!(err.exit_code(), 3);
        assert!(err.to_string().contains("/dev/full"), "{err}");
        let meta = fs::metadata("/dev/full").unwrap();
        assert!(meta.file_type().is_char_device());
    }
}
