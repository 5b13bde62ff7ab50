//! Replaying the spill file into the database.

use std::sync::atomic::Ordering;

use crate::db::Db;
use crate::spill::{spill_rows, Counters, Spill};
use crate::StoreError;

/// Write every spilled row to the database in batches of `batch_size`.
///
/// Rows from a batch that fails are appended back to the spill file (with the rest) and the
/// replay stops there; an error is returned only for spill-file IO. Returns the rows written.
pub(crate) async fn replay(
    db: &Db,
    spill: &Spill,
    counters: &Counters,
    batch_size: usize,
    writer: &str,
) -> Result<u64, StoreError> {
    let mut total = 0;
    // At most two files: a leftover `.replaying` one, then the current one.
    for _ in 0..2 {
        let Some(contents) = spill.take()? else {
            break;
        };
        if contents.corrupt > 0 {
            tracing::warn!(
                lines = contents.corrupt,
                spill = %spill.path().display(),
                "ledger spill file had unreadable lines; moved to .corrupt"
            );
        }
        let mut written = 0usize;
        for chunk in contents.rows.chunks(batch_size.max(1)) {
            if let Err(e) = db.insert(chunk, writer).await {
                tracing::warn!(
                    backend = db.backend(),
                    error = %e,
                    remaining = contents.rows.len() - written,
                    "ledger spill replay stopped: write failed; rows stay spilled"
                );
                break;
            }
            written += chunk.len();
        }
        let n = written as u64;
        counters.written.fetch_add(n, Ordering::Relaxed);
        counters.replayed.fetch_add(n, Ordering::Relaxed);
        metrics::counter!("switchyard_ledger_rows_written_total").increment(n);
        metrics::counter!("switchyard_ledger_rows_replayed_total").increment(n);
        total += n;
        let rest = &contents.rows[written..];
        if !rest.is_empty() {
            // Put them back; `spilled` counts them again, as they were spilled again.
            let lost_before = counters.lost.load(Ordering::Relaxed);
            spill_rows(spill, counters, rest, "replay failed");
            if counters.lost.load(Ordering::Relaxed) != lost_before {
                // Not re-spilled: keep the `.replaying` file so nothing is lost.
                return Ok(total);
            }
            spill.sync().map_err(|source| StoreError::Spill {
                path: spill.path().to_path_buf(),
                source,
            })?;
        }
        spill.remove(&contents.file)?;
        if !rest.is_empty() {
            break;
        }
    }
    if total > 0 {
        tracing::info!(rows = total, "ledger replayed spilled rows");
    }
    Ok(total)
}
