//! Reading the files a user names: config files, request sets, bodies, template lines, CA
//! certificates, saved reports and calibrations. One reader for all of them, so that every
//! input is bounded the same way and every input is remembered.
//!
//! An input is read only from a regular file (a symbolic link to one is followed). A FIFO, a
//! device, a socket or a directory is refused before it is opened: `/dev/zero` would read
//! the machine out of memory, a FIFO without a writer would block forever, and opening some
//! devices has effects of its own. The file is then opened without blocking and checked again
//! (it could have been swapped since), and read up to a limit ([`MAX_INPUT_BYTES`] unless the
//! caller says otherwise): a larger file is refused with the limit named, without reading the
//! rest.
//!
//! Each file read is recorded by its identity (device and inode), so that outputs can be
//! checked against every input before anything is written ([`opened`]): a report written over
//! the config it came from, or `merge a.json b.json --out a.json`, would destroy the input.

use std::fmt;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The most bytes read from one input file unless the caller allows more: 64 MiB.
pub const MAX_INPUT_BYTES: u64 = 64 * 1024 * 1024;

/// A file that was read, by identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opened {
    /// The device it lives on.
    pub dev: u64,
    /// Its inode.
    pub ino: u64,
    /// The path it was read by, for messages.
    pub path: PathBuf,
}

/// Every input read by this process so far.
static OPENED: Mutex<Vec<Opened>> = Mutex::new(Vec::new());

/// The inputs read so far, in the order they were read.
pub fn opened() -> Vec<Opened> {
    OPENED.lock().map(|o| o.clone()).unwrap_or_default()
}

/// Why an input could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// The file could not be opened or read.
    Io(std::io::Error),
    /// The path names something other than a regular file (`a FIFO`, `a device`, ...).
    NotRegular(&'static str),
    /// The file holds more than the limit.
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "{e}"),
            ReadError::NotRegular(what) => write!(
                f,
                "it is {what}, not a regular file; openpace reads inputs only from regular \
                 files (save it to a file first)"
            ),
            ReadError::TooLarge { limit } => write!(
                f,
                "it holds more than {}, the most openpace reads from one input",
                size(*limit)
            ),
        }
    }
}

impl std::error::Error for ReadError {}

/// A byte count in words: `64 MiB`, `1536 bytes`.
pub fn size(bytes: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    if bytes >= MIB && bytes % MIB == 0 {
        format!("{} MiB", bytes / MIB)
    } else if bytes >= 1024 && bytes % 1024 == 0 {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} bytes")
    }
}

/// What a file type is, in words, unless it is a regular file.
fn not_regular(kind: std::fs::FileType) -> Option<&'static str> {
    if kind.is_file() {
        None
    } else if kind.is_dir() {
        Some("a directory")
    } else if kind.is_fifo() {
        Some("a FIFO (named pipe)")
    } else if kind.is_char_device() || kind.is_block_device() {
        Some("a device")
    } else if kind.is_socket() {
        Some("a socket")
    } else {
        Some("not a file")
    }
}

/// Reads the regular file `path`, at most `limit` bytes; see the module doc.
pub fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    // Refused before opening: opening a FIFO blocks, opening a device may act.
    let meta = std::fs::metadata(path).map_err(ReadError::Io)?;
    if let Some(what) = not_regular(meta.file_type()) {
        return Err(ReadError::NotRegular(what));
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(ReadError::Io)?;
    let meta = file.metadata().map_err(ReadError::Io)?;
    if let Some(what) = not_regular(meta.file_type()) {
        return Err(ReadError::NotRegular(what));
    }
    if meta.len() > limit {
        return Err(ReadError::TooLarge { limit });
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge { limit });
    }
    if let Ok(mut opened) = OPENED.lock() {
        let entry = Opened {
            dev: meta.dev(),
            ino: meta.ino(),
            path: path.to_path_buf(),
        };
        if !opened
            .iter()
            .any(|o| o.dev == entry.dev && o.ino == entry.ino)
        {
            opened.push(entry);
        }
    }
    Ok(bytes)
}

/// Reads the regular file `path` (at most [`MAX_INPUT_BYTES`]).
pub fn read(path: &Path) -> Result<Vec<u8>, ReadError> {
    read_limited(path, MAX_INPUT_BYTES)
}

/// Reads the regular file `path` as UTF-8 text, at most `limit` bytes.
pub fn read_text(path: &Path, limit: u64) -> Result<String, ReadError> {
    let bytes = read_limited(path, limit)?;
    String::from_utf8(bytes).map_err(|e| {
        ReadError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "not UTF-8 text (byte {} is not)",
                e.utf8_error().valid_up_to()
            ),
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_are_read_and_only_up_to_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.json");
        std::fs::write(&file, b"0123456789").unwrap();
        assert_eq!(read_limited(&file, 10).unwrap(), b"0123456789");
        let e = read_limited(&file, 9).unwrap_err();
        assert!(matches!(e, ReadError::TooLarge { limit: 9 }), "{e}");
        assert!(e.to_string().contains("more than 9 bytes"), "{e}");
        for (path, what) in [
            (Path::new("/dev/zero"), "a device"),
            (dir.path(), "a directory"),
        ] {
            let e = read(path).unwrap_err();
            assert!(e.to_string().contains(what), "{path:?}: {e}");
        }
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid C string; mkfifo only creates a node.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        // No writer ever opens it: refused at once, never waited for.
        let e = read(&fifo).unwrap_err();
        assert!(e.to_string().contains("FIFO"), "{e}");
        // A link to a regular file is followed, and the file is remembered by its inode.
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert_eq!(read(&link).unwrap(), b"0123456789");
        let ino = std::fs::metadata(&file).unwrap().ino();
        assert!(opened().iter().any(|o| o.ino == ino));
        assert!(matches!(
            read(&dir.path().join("missing")),
            Err(ReadError::Io(_))
        ));
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(size(64 << 20), "64 MiB");
        assert_eq!(size(16 << 10), "16 KiB");
        assert_eq!(size(1000), "1000 bytes");
    }
}
