//! Ledger storage for switchyard: one row per request, written off the request path.
//!
//! * [`LedgerRow`] is the row model: routing decision, attempts, normalised usage, exact costs
//!   in integer nano-dollars (`None` + `unpriced` when the price is unknown, never 0).
//! * [`Ledger`] is the writer: [`Ledger::record`] never blocks; a background task batches rows
//!   into SQLite (WAL, `synchronous=NORMAL`) or PostgreSQL, retries failed batches, and spills
//!   what it cannot write to a local JSONL file that is replayed later (see `writer.rs`).
//! * [`LedgerReader`], [`query_rows`] and [`summary`] read it back for `switchyard report`.
//!
//! One logical schema, with embedded migrations per backend (`migrations/sqlite`,
//! `migrations/postgres`); queries are built at runtime, so building needs no database.

mod batches;
mod capture;
mod columns;
mod db;
mod error;
mod forecast;
mod keys;
mod pg_insert;
mod query;
mod replay;
mod responses;
mod rollup;
mod row;
mod signals;
mod spill;
mod writer;

pub use batches::{BatchFile, StoredBatch};
pub use capture::CaptureRow;
pub use db::redact_url;
pub use error::StoreError;
pub use forecast::{civil, day_number, forecast, month_bounds, weekday, Forecast};
pub use keys::KeyRow;
pub use query::{
    query_rows, summary, Economics, GroupBy, LedgerReader, SeriesPoint, SummaryRow, TierUse,
    DAY_MS, NONE_KEY,
};
pub use responses::StoredResponse;
pub use row::{
    decimal_from_nanos, join_dollars, nanos_from_decimal, new_id, now_ms, split_dollars,
    AttemptRow, LedgerRow, FEMTOS_PER_NANO, NANOS_PER_DOLLAR,
};
pub use signals::{Observation, QualityRow, RequestFacts, SignalRow};
pub use writer::{FlushReport, Ledger, LedgerConfig, LedgerStats};
