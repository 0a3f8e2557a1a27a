//! Interval histograms kept in an unlinked temporary file while a run goes on.
//!
//! Every interval of the time series carries its histograms, HdrHistogram-encoded (four, and
//! three more with kernel timestamps): about 20 KB per interval at 100,000 RPS, and about
//! twice that in a heap that also churns through each interval's reading buffers. Held in
//! memory, they made a long run's resident size grow all run long (an hour at 100,000 RPS in 10-second intervals: from 16 to well over 30 MB,
//! at 43 KB per interval). The collector instead appends each interval's encodings to a file
//! that has no name (created in the temporary directory and unlinked at once, so nothing is
//! left behind whatever happens) and reads them back when the result is assembled, after the
//! run. A file that cannot be created or written, a full disk say, leaves the rows it could
//! not take in memory, as before: nothing measured is lost to a spill.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;

/// Where one interval's encodings are.
pub(crate) enum Stored {
    /// In memory (no spill file, or writing to it failed).
    Memory(Vec<String>),
    /// In the spill file: where they start, and the length of each.
    Disk { offset: u64, lengths: Box<[usize]> },
}

/// The spill file of one scenario's collector.
pub(crate) struct Spill {
    file: Option<File>,
    /// False once a write failed: the rows before it are still read back from the file.
    writable: bool,
    end: u64,
    /// What went wrong reading back, for the run's warnings.
    problems: Vec<String>,
}

impl Spill {
    /// A spill file in the temporary directory; without one, every row stays in memory.
    pub fn new() -> Spill {
        Spill {
            file: unnamed_file(),
            writable: true,
            end: 0,
            problems: Vec::new(),
        }
    }

    /// Keeps one interval's encodings on disk if it can, in memory if not.
    pub fn put(&mut self, parts: Vec<String>) -> Stored {
        let Some(file) = self.file.as_mut().filter(|_| self.writable) else {
            return Stored::Memory(parts);
        };
        let written = parts
            .iter()
            .try_for_each(|part| file.write_all(part.as_bytes()));
        if written.is_err() {
            // The file may now end in a partial row: this row and later ones stay in memory;
            // earlier ones are still read back.
            self.writable = false;
            return Stored::Memory(parts);
        }
        let lengths: Box<[usize]> = parts.iter().map(String::len).collect();
        let stored = Stored::Disk {
            offset: self.end,
            lengths,
        };
        self.end += parts.iter().map(|p| p.len() as u64).sum::<u64>();
        stored
    }

    /// The encodings `stored` stands for, in the order they were put; empty ones (and a
    /// problem noted) if they cannot be read back.
    pub fn take(&mut self, stored: Stored) -> Vec<String> {
        let (offset, lengths) = match stored {
            Stored::Memory(parts) => return parts,
            Stored::Disk { offset, lengths } => (offset, lengths),
        };
        let mut at = offset;
        let mut parts = Vec::with_capacity(lengths.len());
        for &length in lengths.iter() {
            let mut bytes = vec![0; length];
            let read = self
                .file
                .as_ref()
                .ok_or_else(|| "the file was given up".to_string())
                .and_then(|f| f.read_exact_at(&mut bytes, at).map_err(|e| e.to_string()))
                .and_then(|()| String::from_utf8(bytes).map_err(|e| e.to_string()));
            match read {
                Ok(text) => parts.push(text),
                Err(why) => {
                    self.problems.push(format!(
                        "an interval's histograms could not be read back: {why}"
                    ));
                    return vec![String::new(); lengths.len()];
                }
            }
            at += length as u64;
        }
        parts
    }

    /// What went wrong, if anything.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }
}

/// A new file in the temporary directory, already unlinked.
fn unnamed_file() -> Option<File> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!(
        ".openpace-intervals-{}-{n}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
    ));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .append(true)
        .create_new(true)
        .open(&path)
        .ok()?;
    // Unlinked, the file lives until it is closed, and nothing is left if the process dies.
    std::fs::remove_file(&path).ok()?;
    Some(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encodings(tag: &str) -> Vec<String> {
        let mut parts = vec![
            format!("{tag}-response"),
            format!("{tag}-service-time"),
            String::new(),
            format!("{tag}-lateness"),
        ];
        // Rows with kernel timestamps have three more.
        if tag.len() % 2 == 0 {
            parts.extend(["send", "wire", "receive"].map(|p| format!("{tag}-{p}")));
        }
        parts
    }

    #[test]
    fn rows_come_back_as_they_went_in() {
        let mut spill = Spill::new();
        assert!(spill.file.is_some(), "the temporary directory takes a file");
        let stored: Vec<Stored> = (0..50)
            .map(|i| spill.put(encodings(&i.to_string())))
            .collect();
        assert!(matches!(stored[0], Stored::Disk { .. }));
        for (i, s) in stored.into_iter().enumerate().rev() {
            assert_eq!(spill.take(s), encodings(&i.to_string()));
        }
        assert!(spill.problems().is_empty());
    }

    #[test]
    fn without_a_file_rows_stay_in_memory() {
        let mut spill = Spill {
            file: None,
            writable: true,
            end: 0,
            problems: Vec::new(),
        };
        let stored = spill.put(encodings("x"));
        assert!(matches!(stored, Stored::Memory(_)));
        assert_eq!(spill.take(stored), encodings("x"));
    }
}
