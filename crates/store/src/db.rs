//! The two backends behind one enum: connect, migrate, batched insert, close.
//!
//! Both use runtime `sqlx::query`/`QueryBuilder` (no compile-time checked macros), so no
//! `DATABASE_URL` or `.sqlx` offline data is needed to build. Column binding and decoding is
//! written once in macros and expanded per backend, since the sqlx generic bounds for
//! "works for both databases" are longer than the code they would save.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::types::Json;
use sqlx::QueryBuilder;

use crate::columns::{to_i64, COLUMNS};
use crate::row::LedgerRow;
use crate::StoreError;

/// Rows per INSERT statement: 43 columns × 512 rows stays under SQLite's 32,766 and
/// PostgreSQL's 65,535 bind parameters. Larger batches are split, in one transaction.
const ROWS_PER_STATEMENT: usize = 512;

/// `rows` in pieces of power-of-two sizes, at most `max` (a power of two), largest first.
///
/// A prepared statement is cached per distinct SQL text, and a multi-row INSERT's text depends
/// on its row count: batches of arbitrary sizes filled the connection's statement cache (100)
/// with statements of up to ~20,000 bind parameters each — with SQLite, in this process's
/// memory, which grew by ~45 MB per 130,000 requests under load (`docs/benchmarks.md`). With
/// power-of-two pieces at most `log2(max) + 1` shapes exist per statement.
pub(crate) fn shaped<T>(mut rows: &[T], max: usize) -> impl Iterator<Item = &[T]> {
    debug_assert!(max.is_power_of_two());
    std::iter::from_fn(move || {
        if rows.is_empty() {
            return None;
        }
        let n = rows.len().min(max);
        let (head, tail) = rows.split_at(1 << n.ilog2());
        rows = tail;
        Some(head)
    })
}

#[cfg(test)]
mod shaped_tests {
    #[test]
    fn pieces_are_powers_of_two_and_cover_every_row_in_order() {
        let rows: Vec<u32> = (0..1300).collect();
        let sizes: Vec<usize> = super::shaped(&rows, 512).map(<[u32]>::len).collect();
        assert_eq!(sizes, vec![512, 512, 256, 16, 4]);
        let back: Vec<u32> = super::shaped(&rows, 512).flatten().copied().collect();
        assert_eq!(back, rows);
        assert_eq!(super::shaped::<u32>(&[], 8).count(), 0);
    }
}

/// The `service_tier` column: the tier's name, NULL for the standard tier.
pub(crate) fn tier_name(u: &switchyard_types::Usage) -> Option<&'static str> {
    (!u.tier.is_standard()).then(|| u.tier.as_str())
}

/// A connected ledger database.
#[derive(Clone)]
pub(crate) enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

macro_rules! push_rows {
    ($qb:expr, $rows:expr) => {
        $qb.push_values($rows, |mut b, r: &LedgerRow| {
            b.push_bind(r.id.as_str())
                .push_bind(r.ts)
                .push_bind(r.tenant.as_str())
                .push_bind(r.key_id.as_deref())
                .push_bind(Json(&r.tags))
                .push_bind(r.task.as_deref())
                .push_bind(r.ingress.as_str())
                .push_bind(r.route.as_deref())
                .push_bind(r.rule.as_deref())
                .push_bind(r.stream)
                .push_bind(Json(&r.decision))
                .push_bind(r.provider.as_deref())
                .push_bind(r.model.as_deref())
                .push_bind(i32::try_from(r.attempts.len()).unwrap_or(i32::MAX))
                .push_bind(Json(&r.attempts))
                .push_bind(to_i64(r.usage.input))
                .push_bind(to_i64(r.usage.cache_read))
                .push_bind(to_i64(r.usage.cache_write_5m))
                .push_bind(to_i64(r.usage.cache_write_1h))
                .push_bind(to_i64(r.usage.output))
                .push_bind(to_i64(r.usage.reasoning))
                .push_bind(r.cost_nanos)
                .push_bind(r.baseline_cost_nanos)
                .push_bind(r.unpriced)
                .push_bind(r.catalog_version.as_deref())
                .push_bind(to_i64(r.overhead_us))
                .push_bind(to_i64(r.latency_ms))
                .push_bind(r.status.as_str())
                .push_bind(i32::from(r.http_status))
                .push_bind(r.error_class.as_deref())
                .push_bind(r.cost_rem_femtos)
                .push_bind(r.baseline_cost_rem_femtos)
                .push_bind(to_i64(r.usage.input_audio))
                .push_bind(to_i64(r.usage.input_image))
                .push_bind(to_i64(r.usage.cache_read_audio))
                .push_bind(to_i64(r.usage.output_audio))
                .push_bind(to_i64(r.usage.output_image))
                .push_bind(r.usage_estimated)
                .push_bind(r.ttft_ms.map(to_i64))
                .push_bind(r.answer_cost_nanos)
                .push_bind(r.answer_cost_rem_femtos)
                .push_bind(tier_name(&r.usage))
                .push_bind(r.cached_from.as_deref())
                .push_bind(r.cache_saved_nanos)
                .push_bind(r.cache_saved_rem_femtos);
        })
    };
}

macro_rules! insert_batch {
    ($pool:expr, $rows:expr, $writer:expr, $insert_signals:path, $insert_captures:path) => {{
        // A transaction of prepared single-row INSERTs measured ~2× slower (benches/ingest.rs).
        let mut tx = $pool.begin().await?;
        let mut inserted = std::collections::HashSet::new();
        for chunk in crate::db::shaped($rows, ROWS_PER_STATEMENT) {
            let mut qb = QueryBuilder::new("INSERT INTO ledger (");
            qb.push(COLUMNS).push(") ");
            push_rows!(qb, chunk.iter());
            // Replays are idempotent: a row already written (e.g. replay interrupted after
            // commit, before the spill file was removed) is skipped, not duplicated, and
            // only the rows inserted now are added to the rollups.
            qb.push(" ON CONFLICT (id) DO NOTHING RETURNING id");
            let ids: Vec<String> = qb.build_query_scalar().fetch_all(&mut *tx).await?;
            inserted.extend(ids);
        }
        let delta =
            crate::rollup::Delta::of($rows.iter().filter(|r| inserted.contains(r.id.as_str())));
        crate::rollup::write_sqlite(&mut tx, &delta, $writer).await?;
        let signals: Vec<&crate::SignalRow> = $rows.iter().flat_map(|r| &r.signals).collect();
        if !signals.is_empty() {
            $insert_signals(&mut *tx, &signals).await?;
        }
        let captures: Vec<&crate::CaptureRow> =
            $rows.iter().filter_map(|r| r.capture.as_ref()).collect();
        if !captures.is_empty() {
            $insert_captures(&mut *tx, &captures).await?;
        }
        tx.commit().await
    }};
}

impl Db {
    /// Connect to `url` (creating a SQLite file if missing when `create`) and migrate.
    pub(crate) async fn connect(url: &str, create: bool) -> Result<Db, StoreError> {
        let db = if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)
                .map_err(|e| db_err("SQLite", e))?
                .create_if_missing(create)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(5));
            if create {
                // Like create_if_missing, for the directory too.
                let dir = opts
                    .get_filename()
                    .parent()
                    .filter(|d| !d.as_os_str().is_empty());
                if let Some(dir) = dir {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| db_err("SQLite", sqlx::Error::Io(e)))?;
                }
            }
            let pool = SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(opts)
                .await
                .map_err(|e| db_err("SQLite", e))?;
            Db::Sqlite(pool)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let opts = PgConnectOptions::from_str(url).map_err(|e| db_err("PostgreSQL", e))?;
            let pool = PgPoolOptions::new()
                .max_connections(4)
                .acquire_timeout(Duration::from_secs(5))
                .connect_with(opts)
                .await
                .map_err(|e| db_err("PostgreSQL", e))?;
            Db::Postgres(pool)
        } else {
            return Err(StoreError::UnsupportedUrl(redact_url(url)));
        };
        db.migrate().await?;
        Ok(db)
    }

    /// `"SQLite"` or `"PostgreSQL"`, for errors and logs.
    pub(crate) fn backend(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "SQLite",
            Db::Postgres(_) => "PostgreSQL",
        }
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let res = match self {
            Db::Sqlite(p) => sqlx::migrate!("./migrations/sqlite").run(p).await,
            Db::Postgres(p) => sqlx::migrate!("./migrations/postgres").run(p).await,
        };
        res.map_err(|source| StoreError::Migrate {
            backend: self.backend(),
            source,
        })
    }

    /// Insert `rows` in one transaction: multi-row INSERTs of up to 1000 rows each on SQLite,
    /// one UNNEST insert on PostgreSQL.
    /// The rollups are added to in the same transaction, histograms as `writer` (one id per
    /// open ledger: each writer rewrites only its own histogram rows).
    pub(crate) async fn insert(&self, rows: &[LedgerRow], writer: &str) -> Result<(), sqlx::Error> {
        if rows.is_empty() {
            return Ok(());
        }
        match self {
            Db::Sqlite(p) => insert_batch!(
                p,
                rows,
                writer,
                crate::signals::insert_sqlite,
                crate::capture::insert_sqlite
            ),
            Db::Postgres(p) => crate::pg_insert::insert(p, rows, writer).await,
        }
    }

    /// Close every pooled connection.
    pub(crate) async fn close(&self) {
        match self {
            Db::Sqlite(p) => p.close().await,
            Db::Postgres(p) => p.close().await,
        }
    }
}

/// Wrap a driver error with its backend name.
pub(crate) fn db_err(backend: &'static str, source: sqlx::Error) -> StoreError {
    StoreError::Database { backend, source }
}

/// A database URL without its credentials, for logs and error messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***{}", &url[..s], &url[at..]),
        _ => url.to_string(),
    }
}
