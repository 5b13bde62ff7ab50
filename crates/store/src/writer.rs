//! The asynchronous, batched ledger writer.
//!
//! `Ledger::record` does a `try_send` into a bounded queue and returns. One writer task drains
//! the queue in batches of up to `batch_size` rows, flushing when a batch is full or
//! `flush_interval` after its first row. Nothing is dropped silently:
//!
//! * queue full (or already shut down): the row is appended to the spill file right away;
//! * batch write failed: retried after 50 ms, 200 ms and 800 ms, then spilled. The database is
//!   then considered down: later batches get a single attempt at most once per second (the
//!   others are spilled at disk speed, so memory stays bounded) until one succeeds;
//! * spilled rows are replayed on `open`, when the database comes back (at most every 10 s),
//!   and on `shutdown` if the database is up. Replays are idempotent (`ON CONFLICT (id) DO
//!   NOTHING`);
//! * only if the spill file itself cannot be written is a row lost: it is counted in
//!   `LedgerStats::lost` and logged at `error`.
//!
//! Every row that could not be written is counted in [`LedgerStats`], in the
//! `switchyard_ledger_rows_spilled_total` metric, and in a `warn!` with counts (never contents).

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, Notify};
use tokio::time::Instant;

use crate::db::Db;
use crate::row::LedgerRow;
use crate::spill::{spill_rows, Counters};
use crate::StoreError;

/// Delays between attempts of one batch write while the database is considered up.
const RETRY_DELAYS: [Duration; 3] = [
    Duration::from_millis(50),
    Duration::from_millis(200),
    Duration::from_millis(800),
];
/// While the database is down, try a batch at most this often (others go to the spill file).
const PROBE_INTERVAL: Duration = Duration::from_secs(1);
/// Minimum time between spill replays while running.
/// How often expired captures and stored responses are deleted (while rows are being written).
const PURGE_INTERVAL: Duration = Duration::from_secs(60);
const REPLAY_INTERVAL: Duration = Duration::from_secs(10);

/// Flush and fsync rows spilled by `record` at most this often.
const SYNC_INTERVAL: Duration = Duration::from_secs(1);

/// Where and how the ledger is written.
#[derive(Debug, Clone)]
pub struct LedgerConfig {
    /// `sqlite://path/to/ledger.db` (created if missing) or `postgres://user@host/db`.
    pub url: String,
    /// Rows per write (one transaction), e.g. 500.
    pub batch_size: usize,
    /// Longest a row waits in a partial batch, e.g. 200 ms.
    pub flush_interval: Duration,
    /// Bounded queue between `record` and the writer, e.g. 100,000 rows.
    pub queue_capacity: usize,
    /// Local JSONL file for rows that could not be queued or written.
    pub spill_path: PathBuf,
}

impl LedgerConfig {
    /// Defaults: batches of 500, 200 ms flush interval, a queue of 100,000 rows.
    pub fn new(url: impl Into<String>, spill_path: impl Into<PathBuf>) -> Self {
        LedgerConfig {
            url: url.into(),
            batch_size: 500,
            flush_interval: Duration::from_millis(200),
            queue_capacity: 100_000,
            spill_path: spill_path.into(),
        }
    }
}

/// Counters since `open` (a snapshot; see [`Ledger::stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LedgerStats {
    /// Rows committed to the database (replayed rows included).
    pub written: u64,
    /// Rows waiting in the queue right now (not counting the batch being written).
    pub queued: u64,
    /// Rows appended to the spill file (queue full, shut down, or write failed).
    pub spilled: u64,
    /// Batches that could not be written and were spilled.
    pub failed_batches: u64,
    /// Rows read back from the spill file and written (a subset of `written`).
    pub replayed: u64,
    /// Rows that could be neither written nor spilled (spill file unwritable). Should be 0.
    pub lost: u64,
}

/// What `shutdown` did: the final counters and where leftover rows are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlushReport {
    /// Final counters (`queued` is 0).
    pub stats: LedgerStats,
    /// The spill file; it holds rows still waiting when `stats.spilled > stats.replayed`.
    pub spill_path: PathBuf,
}

struct Shared {
    tx: mpsc::Sender<LedgerRow>,
    spill: Arc<crate::spill::Spill>,
    counters: Arc<Counters>,
    shutdown: Arc<Notify>,
    /// Resolves when the writer thread has written or spilled every row and stopped.
    done: Mutex<Option<tokio::sync::oneshot::Receiver<()>>>,
}

/// Handle to the ledger writer. Cheap to clone; every clone feeds the same writer.
#[derive(Clone)]
pub struct Ledger {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("stats", &self.stats())
            .finish()
    }
}

impl Ledger {
    /// Connect, run migrations, replay any existing spill file, and start the writer.
    ///
    /// The writer runs on a thread of its own (`switchyard-ledger`, a current-thread runtime
    /// that also owns the database pool): encoding a batch of rows is milliseconds of CPU, and
    /// on a request worker it would hold every request queued behind it — at 2,000 req/s the
    /// gateway's p99 was 3.3 ms with the writer on the request runtime and 1.0 ms with the
    /// ledger off (docs/benchmarks.md). On its own thread the OS scheduler interleaves it.
    pub async fn open(cfg: LedgerConfig) -> Result<Ledger, StoreError> {
        let spill = Arc::new(crate::spill::Spill::new(cfg.spill_path.clone()));
        let counters = Arc::new(Counters::default());
        let batch_size = cfg.batch_size.max(1);
        let (tx, rx) = mpsc::channel(cfg.queue_capacity.max(1));
        let shutdown = Arc::new(Notify::new());
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let (spill2, counters2, shutdown2) = (spill.clone(), counters.clone(), shutdown.clone());
        let start = move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(StoreError::Writer(e.to_string())));
                    return;
                }
            };
            rt.block_on(async move {
                let db = match Db::connect(&cfg.url, true).await {
                    Ok(db) => db,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                // Names this writer's histogram rollup rows (see `rollup.rs`).
                let writer_id = crate::row::new_id();
                if let Err(e) =
                    crate::replay::replay(&db, &spill2, &counters2, batch_size, &writer_id).await
                {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
                let mut writer = Writer {
                    db,
                    writer_id,
                    spill: spill2,
                    counters: counters2,
                    batch_size,
                    flush_interval: cfg.flush_interval,
                    down: false,
                    last_probe: Instant::now(),
                    last_replay: Instant::now(),
                    last_sync: Instant::now(),
                    last_purge: Instant::now(),
                };
                writer.purge_expired().await;
                let _ = ready_tx.send(Ok(()));
                writer.run(rx, shutdown2).await;
            });
            let _ = done_tx.send(());
        };
        std::thread::Builder::new()
            .name("switchyard-ledger".into())
            .spawn(start)
            .map_err(|e| StoreError::Writer(format!("start the ledger writer: {e}")))?;
        ready_rx
            .await
            .map_err(|_| StoreError::Writer("the ledger writer stopped while starting".into()))??;
        Ok(Ledger {
            shared: Arc::new(Shared {
                tx,
                spill,
                counters,
                shutdown,
                done: Mutex::new(Some(done_rx)),
            }),
        })
    }

    /// Queue a row for writing. Never awaits and never blocks on the database: if the queue
    /// is full the row goes to the spill file (a buffered append) and is counted.
    pub fn record(&self, row: LedgerRow) {
        match self.shared.tx.try_send(row) {
            Ok(()) => {}
            Err(TrySendError::Full(row)) => spill_rows(
                &self.shared.spill,
                &self.shared.counters,
                &[row],
                "queue full",
            ),
            Err(TrySendError::Closed(row)) => spill_rows(
                &self.shared.spill,
                &self.shared.counters,
                &[row],
                "shut down",
            ),
        }
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> LedgerStats {
        let tx = &self.shared.tx;
        snapshot(
            &self.shared.counters,
            (tx.max_capacity() - tx.capacity()) as u64,
        )
    }

    /// Close the queue, write every queued row (spilling what cannot be written), replay the
    /// spill file if the database is up, fsync the spill file, and return the counters.
    /// Rows recorded on other clones after this are spilled.
    pub async fn shutdown(self) -> Result<FlushReport, StoreError> {
        self.shared.shutdown.notify_one();
        let done = self
            .shared
            .done
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(done) = done {
            done.await
                .map_err(|_| StoreError::Writer("the ledger writer thread died".into()))?;
        }
        self.shared
            .spill
            .sync()
            .map_err(|source| StoreError::Spill {
                path: self.shared.spill.path().to_path_buf(),
                source,
            })?;
        let stats = self.stats();
        if stats.spilled > stats.replayed || stats.lost > 0 {
            tracing::warn!(
                spilled = stats.spilled,
                replayed = stats.replayed,
                lost = stats.lost,
                spill = %self.shared.spill.path().display(),
                "ledger shut down with rows left in the spill file; they are replayed on next open"
            );
        }
        Ok(FlushReport {
            stats,
            spill_path: self.shared.spill.path().to_path_buf(),
        })
    }
}

fn snapshot(c: &Counters, queued: u64) -> LedgerStats {
    LedgerStats {
        written: c.written.load(Ordering::Relaxed),
        queued,
        spilled: c.spilled.load(Ordering::Relaxed),
        failed_batches: c.failed_batches.load(Ordering::Relaxed),
        replayed: c.replayed.load(Ordering::Relaxed),
        lost: c.lost.load(Ordering::Relaxed),
    }
}

struct Writer {
    db: Db,
    /// Names this writer's histogram rollup rows.
    writer_id: String,
    spill: Arc<crate::spill::Spill>,
    counters: Arc<Counters>,
    batch_size: usize,
    flush_interval: Duration,
    /// The last batch failed all its attempts; probe at most once per `PROBE_INTERVAL`.
    down: bool,
    last_probe: Instant,
    last_replay: Instant,
    last_sync: Instant,
    last_purge: Instant,
}

impl Writer {
    async fn run(mut self, mut rx: mpsc::Receiver<LedgerRow>, shutdown: Arc<Notify>) {
        let mut buf: Vec<LedgerRow> = Vec::with_capacity(self.batch_size);
        let mut closing = false;
        loop {
            // Wait for the first row of a batch (or the shutdown).
            let got = tokio::select! {
                biased;
                _ = shutdown.notified(), if !closing => {
                    // Stop accepting rows; what is already queued is still drained below.
                    rx.close();
                    closing = true;
                    continue;
                }
                n = rx.recv_many(&mut buf, self.batch_size) => n,
            };
            if got == 0 {
                break; // closed and drained
            }
            // Let the batch gather for `flush_interval` without waking for each row: the
            // writer's thread wakes twice per batch, not once per request.
            if !closing {
                tokio::select! {
                    biased;
                    _ = shutdown.notified() => {
                        rx.close();
                        closing = true;
                    }
                    _ = tokio::time::sleep(self.flush_interval) => {}
                }
            }
            // Write everything that arrived meanwhile, `batch_size` rows at a time.
            loop {
                while buf.len() < self.batch_size {
                    match rx.try_recv() {
                        Ok(row) => buf.push(row),
                        Err(_) => break,
                    }
                }
                let full = buf.len() >= self.batch_size;
                self.flush(&mut buf).await;
                if !full {
                    break;
                }
            }
        }
        self.flush(&mut buf).await;
        if !self.down && self.spill.is_dirty() {
            if let Err(e) = crate::replay::replay(
                &self.db,
                &self.spill,
                &self.counters,
                self.batch_size,
                &self.writer_id,
            )
            .await
            {
                tracing::warn!(error = %e, "ledger spill replay at shutdown failed");
            }
        }
        self.db.close().await;
    }

    /// Write `buf` (retrying), or spill it; `buf` is empty afterwards.
    async fn flush(&mut self, buf: &mut Vec<LedgerRow>) {
        if buf.is_empty() {
            return;
        }
        if self.down && self.last_probe.elapsed() < PROBE_INTERVAL {
            self.fail(buf, "database down");
            return;
        }
        let attempts = if self.down { 1 } else { RETRY_DELAYS.len() + 1 };
        for attempt in 0..attempts {
            match self.db.insert(buf, &self.writer_id).await {
                Ok(()) => {
                    let n = buf.len() as u64;
                    self.counters.written.fetch_add(n, Ordering::Relaxed);
                    metrics::counter!("switchyard_ledger_rows_written_total").increment(n);
                    buf.clear();
                    self.recovered().await;
                    return;
                }
                Err(e) => {
                    metrics::counter!("switchyard_ledger_write_errors_total").increment(1);
                    tracing::warn!(
                        backend = self.db.backend(),
                        attempt = attempt + 1,
                        of = attempts,
                        rows = buf.len(),
                        error = %e,
                        "ledger batch write failed"
                    );
                    if let Some(delay) =
                        RETRY_DELAYS.get(attempt).filter(|_| attempt + 1 < attempts)
                    {
                        tokio::time::sleep(*delay).await;
                    }
                }
            }
        }
        if !self.down {
            tracing::warn!(
                backend = self.db.backend(),
                "ledger database considered down; spilling rows until a write succeeds"
            );
        }
        self.down = true;
        self.last_probe = Instant::now();
        self.fail(buf, "write failed");
    }

    fn fail(&mut self, buf: &mut Vec<LedgerRow>, reason: &'static str) {
        self.counters.failed_batches.fetch_add(1, Ordering::Relaxed);
        spill_rows(&self.spill, &self.counters, buf, reason);
        buf.clear();
        self.sync_spill();
    }

    /// Make spilled rows durable (they were only buffered by `append`).
    fn sync_spill(&mut self) {
        self.last_sync = Instant::now();
        if let Err(e) = self.spill.sync() {
            tracing::error!(error = %e, spill = %self.spill.path().display(), "ledger spill fsync failed");
        }
    }

    /// Delete expired captures and stored responses (readers never see them anyway).
    async fn purge_expired(&mut self) {
        self.last_purge = Instant::now();
        match self.db.purge_expired(crate::now_ms()).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(rows = n, "expired captures and responses deleted"),
            Err(e) => tracing::warn!(error = %e, "deleting expired captures and responses failed"),
        }
    }

    /// After a successful write: leave down mode, delete expired captures and responses now
    /// and then, and
    /// replay spilled rows now and then.
    async fn recovered(&mut self) {
        if self.last_purge.elapsed() >= PURGE_INTERVAL {
            self.purge_expired().await;
        }
        let was_down = self.down;
        if was_down {
            self.down = false;
            tracing::info!(backend = self.db.backend(), "ledger database is back");
        }
        if !self.spill.is_dirty() {
            return;
        }
        if self.last_sync.elapsed() >= SYNC_INTERVAL {
            self.sync_spill();
        }
        if was_down || self.last_replay.elapsed() >= REPLAY_INTERVAL {
            self.last_replay = Instant::now();
            if let Err(e) = crate::replay::replay(
                &self.db,
                &self.spill,
                &self.counters,
                self.batch_size,
                &self.writer_id,
            )
            .await
            {
                tracing::warn!(error = %e, "ledger spill replay failed");
            }
        }
    }
}
