//! The spill file: rows that could not be queued or written, one JSON object per line.
//!
//! Appends go through one `std::sync::Mutex<BufWriter<File>>` with a 1 MiB buffer, so an append
//! is normally a memcpy; a `write` syscall happens once per MiB. That lock is the only thing
//! `Ledger::record` can ever wait on, and only once the bounded queue is already full (or
//! closed). Rows hold no prompt text and no raw keys, so spilling them to disk is safe.
//!
//! Replay renames the file to `<spill>.replaying` under the lock (so concurrent appends go to a
//! fresh file), writes its rows to the database, and deletes it. Rows that still cannot be
//! written are appended back; lines that do not parse go to `<spill>.corrupt`.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use crate::row::LedgerRow;
use crate::StoreError;

const BUFFER_BYTES: usize = 1 << 20;

/// Append-only JSONL file of rows waiting to be written.
pub(crate) struct Spill {
    path: PathBuf,
    writer: Mutex<Option<BufWriter<File>>>,
    /// Set by every append, cleared when the file is taken for replay.
    dirty: AtomicBool,
}

/// Rows read back from a spill file.
pub(crate) struct SpillContents {
    /// The file they came from (delete it once they are safe).
    pub(crate) file: PathBuf,
    /// Parsed rows.
    pub(crate) rows: Vec<LedgerRow>,
    /// Lines that did not parse (moved to `<spill>.corrupt`).
    pub(crate) corrupt: u64,
}

impl Spill {
    /// A spill file at `path`; nothing is created until the first append.
    pub(crate) fn new(path: PathBuf) -> Spill {
        let dirty = path.exists() || replaying_path(&path).exists();
        Spill {
            path,
            writer: Mutex::new(None),
            dirty: AtomicBool::new(dirty),
        }
    }

    /// The spill file path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Whether rows may be waiting in a spill file.
    pub(crate) fn is_dirty(&self) -> bool {
        self.dirty.load(Ordering::Relaxed)
    }

    /// Append rows (buffered; call [`Spill::sync`] to make them durable).
    pub(crate) fn append(&self, rows: &[LedgerRow]) -> io::Result<()> {
        let mut guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            *guard = Some(open_append(&self.path)?);
        }
        self.dirty.store(true, Ordering::Relaxed);
        if let Some(w) = guard.as_mut() {
            for row in rows {
                serde_json::to_writer(&mut *w, row)?;
                w.write_all(b"\n")?;
            }
        }
        Ok(())
    }

    /// Flush the buffer and fsync the file.
    pub(crate) fn sync(&self) -> io::Result<()> {
        let mut guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(w) = guard.as_mut() {
            w.flush()?;
            w.get_ref().sync_all()?;
        }
        Ok(())
    }

    /// Take the file for replay: a leftover `.replaying` file first (from an interrupted
    /// replay), else the current file, renamed so new appends start a fresh one.
    /// Returns `None` when there is nothing to replay.
    pub(crate) fn take(&self) -> Result<Option<SpillContents>, StoreError> {
        let replaying = replaying_path(&self.path);
        if !replaying.exists() {
            let mut guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(mut w) = guard.take() {
                w.flush().map_err(|e| self.err(e))?;
            }
            self.dirty.store(false, Ordering::Relaxed);
            if !self.path.exists() {
                return Ok(None);
            }
            std::fs::rename(&self.path, &replaying).map_err(|e| self.err(e))?;
        }
        let (rows, corrupt) = self.read(&replaying)?;
        Ok(Some(SpillContents {
            file: replaying,
            rows,
            corrupt,
        }))
    }

    /// Delete a fully replayed file.
    pub(crate) fn remove(&self, file: &Path) -> Result<(), StoreError> {
        std::fs::remove_file(file).map_err(|e| self.err(e))
    }

    fn read(&self, file: &Path) -> Result<(Vec<LedgerRow>, u64), StoreError> {
        let f = File::open(file).map_err(|e| self.err(e))?;
        let mut rows = Vec::new();
        let mut corrupt = Vec::new();
        for line in BufReader::with_capacity(BUFFER_BYTES, f).lines() {
            let line = line.map_err(|e| self.err(e))?;
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<LedgerRow>(&line) {
                Ok(row) => rows.push(row),
                Err(_) => corrupt.push(line),
            }
        }
        if !corrupt.is_empty() {
            let mut path = self.path.clone().into_os_string();
            path.push(".corrupt");
            let mut w = open_append(Path::new(&path)).map_err(|e| self.err(e))?;
            for line in &corrupt {
                writeln!(w, "{line}").map_err(|e| self.err(e))?;
            }
            w.flush().map_err(|e| self.err(e))?;
        }
        Ok((rows, corrupt.len() as u64))
    }

    fn err(&self, source: io::Error) -> StoreError {
        StoreError::Spill {
            path: self.path.clone(),
            source,
        }
    }
}

fn replaying_path(path: &Path) -> PathBuf {
    let mut p = path.to_path_buf().into_os_string();
    p.push(".replaying");
    PathBuf::from(p)
}

fn open_append(path: &Path) -> io::Result<BufWriter<File>> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let f = OpenOptions::new().create(true).append(true).open(path)?;
    Ok(BufWriter::with_capacity(BUFFER_BYTES, f))
}

/// What the writer did with rows, for `LedgerStats`.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) written: AtomicU64,
    pub(crate) spilled: AtomicU64,
    pub(crate) failed_batches: AtomicU64,
    pub(crate) replayed: AtomicU64,
    pub(crate) lost: AtomicU64,
}

/// Append rows to the spill file, counting and logging (rate-limited: the first spill, then
/// each time the total crosses a power of two, plus every failed batch).
pub(crate) fn spill_rows(
    spill: &Spill,
    counters: &Counters,
    rows: &[LedgerRow],
    reason: &'static str,
) {
    let n = rows.len() as u64;
    if n == 0 {
        return;
    }
    match spill.append(rows) {
        Ok(()) => {
            metrics::counter!("switchyard_ledger_rows_spilled_total").increment(n);
            let before = counters.spilled.fetch_add(n, Ordering::Relaxed);
            let after = before + n;
            if n > 1 || before == 0 || after.is_power_of_two() {
                tracing::warn!(
                    rows = n,
                    spilled_total = after,
                    reason,
                    spill = %spill.path().display(),
                    "ledger rows spilled to file"
                );
            }
        }
        Err(e) => {
            let lost = counters.lost.fetch_add(n, Ordering::Relaxed) + n;
            metrics::counter!("switchyard_ledger_rows_lost_total").increment(n);
            tracing::error!(
                rows = n,
                lost_total = lost,
                reason,
                error = %e,
                spill = %spill.path().display(),
                "ledger rows LOST: spill file not writable"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_take_and_corrupt_lines() {
        let dir = tempfile::tempdir().unwrap();
        let spill = Spill::new(dir.path().join("sub/spill.jsonl"));
        assert!(!spill.is_dirty());
        assert!(spill.take().unwrap().is_none());
        let rows: Vec<LedgerRow> = (0..3).map(|_| LedgerRow::new()).collect();
        spill.append(&rows).unwrap();
        spill.sync().unwrap();
        // A torn last line, as after a crash mid-write.
        let mut f = OpenOptions::new().append(true).open(spill.path()).unwrap();
        f.write_all(b"{\"id\":\"tor").unwrap();
        drop(f);
        assert!(spill.is_dirty());
        let got = spill.take().unwrap().unwrap();
        assert_eq!(got.rows, rows);
        assert_eq!(got.corrupt, 1);
        assert!(!spill.is_dirty());
        // Appends after take go to a fresh file; the taken one is replayed first.
        spill.append(&rows[..1]).unwrap();
        let again = spill.take().unwrap().unwrap();
        assert_eq!(again.rows.len(), 3);
        spill.remove(&again.file).unwrap();
        let fresh = spill.take().unwrap().unwrap();
        assert_eq!(fresh.rows, rows[..1].to_vec());
    }
}
