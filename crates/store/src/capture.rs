//! Captured prompt and answer text: the `captures` table beside the ledger.
//!
//! Only routes whose operator opted in capture (`capture = { retention = "7d" }`). A capture
//! travels inside its request's [`LedgerRow`](crate::LedgerRow), is written in the same
//! transaction (and spilled and replayed with it), is never read once expired, and is deleted
//! by the writer after it expires. Its `Debug` shows sizes, never text, so a row can be logged.

use serde::{Deserialize, Serialize};
use sqlx::{QueryBuilder, Row};

use crate::db::{db_err, Db};
use crate::query::LedgerReader;
use crate::StoreError;

/// The prompt and answer of one request, as captured.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct CaptureRow {
    /// The request.
    pub request_id: String,
    /// When it was captured, unix ms.
    pub ts: i64,
    /// When it expires, unix ms: never read after, deleted by the writer.
    pub expires_ms: i64,
    /// The prompt: each message's role and text.
    pub prompt: String,
    /// The answer served (or, for a request that failed, none).
    pub answer: Option<String>,
    /// Whether the prompt or the answer was cut at the route's `max_bytes`.
    pub truncated: bool,
}

impl std::fmt::Debug for CaptureRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureRow")
            .field("request_id", &self.request_id)
            .field("expires_ms", &self.expires_ms)
            .field("prompt_bytes", &self.prompt.len())
            .field("answer_bytes", &self.answer.as_ref().map(String::len))
            .field("truncated", &self.truncated)
            .finish()
    }
}

macro_rules! insert_captures {
    ($exec:expr, $rows:expr) => {{
        // 6 columns × 1024 rows stays under both backends' bind-parameter limits.
        for chunk in crate::db::shaped($rows, 1024) {
            let mut qb = QueryBuilder::new(
                "INSERT INTO captures (request_id, ts_ms, expires_ms, prompt, answer, truncated) ",
            );
            qb.push_values(chunk.iter(), |mut b, c: &&CaptureRow| {
                b.push_bind(c.request_id.as_str())
                    .push_bind(c.ts)
                    .push_bind(c.expires_ms)
                    .push_bind(c.prompt.as_str())
                    .push_bind(c.answer.as_deref())
                    .push_bind(c.truncated);
            });
            qb.push(" ON CONFLICT (request_id) DO NOTHING");
            qb.build().execute(&mut *$exec).await?;
        }
        Ok::<(), sqlx::Error>(())
    }};
}

/// Insert captures within an open SQLite transaction.
pub(crate) async fn insert_sqlite(
    tx: &mut sqlx::SqliteConnection,
    rows: &[&CaptureRow],
) -> Result<(), sqlx::Error> {
    insert_captures!(tx, rows)
}

/// Insert captures within an open PostgreSQL transaction.
pub(crate) async fn insert_pg(
    tx: &mut sqlx::PgConnection,
    rows: &[&CaptureRow],
) -> Result<(), sqlx::Error> {
    insert_captures!(tx, rows)
}

impl Db {
    /// Delete the captures and stored responses expired at `now` (unix ms); how many went.
    pub(crate) async fn purge_expired(&self, now: i64) -> Result<u64, sqlx::Error> {
        macro_rules! purge {
            ($pool:expr, $table:literal) => {{
                let mut qb =
                    QueryBuilder::new(concat!("DELETE FROM ", $table, " WHERE expires_ms <= "));
                qb.push_bind(now);
                qb.build().execute($pool).await?.rows_affected()
            }};
        }
        Ok(match self {
            Db::Sqlite(p) => purge!(p, "captures") + purge!(p, "responses"),
            Db::Postgres(p) => purge!(p, "captures") + purge!(p, "responses"),
        })
    }
}

impl LedgerReader {
    /// The capture of request `id`, unless there is none or it expired before `now` (unix ms).
    pub async fn capture(&self, id: &str, now: i64) -> Result<Option<CaptureRow>, StoreError> {
        macro_rules! fetch {
            ($pool:expr) => {
                async {
                    let mut qb = QueryBuilder::new(
                        "SELECT request_id, ts_ms, expires_ms, prompt, answer, truncated \
                         FROM captures WHERE request_id = ",
                    );
                    qb.push_bind(id).push(" AND expires_ms > ").push_bind(now);
                    let Some(r) = qb.build().fetch_optional($pool).await? else {
                        return Ok(None);
                    };
                    Ok::<_, sqlx::Error>(Some(CaptureRow {
                        request_id: r.try_get("request_id")?,
                        ts: r.try_get("ts_ms")?,
                        expires_ms: r.try_get("expires_ms")?,
                        prompt: r.try_get("prompt")?,
                        answer: r.try_get("answer")?,
                        truncated: r.try_get("truncated")?,
                    }))
                }
                .await
            };
        }
        let res = match &self.db {
            Db::Sqlite(p) => fetch!(p),
            Db::Postgres(p) => fetch!(p),
        };
        res.map_err(|e| db_err(self.db.backend(), e))
    }

    /// Delete the captures and stored responses expired at `now` (unix ms); how many went.
    pub async fn purge_expired(&self, now: i64) -> Result<u64, StoreError> {
        self.db
            .purge_expired(now)
            .await
            .map_err(|e| db_err(self.db.backend(), e))
    }
}
