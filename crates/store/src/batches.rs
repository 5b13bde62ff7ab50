//! The batch lane's storage: uploaded files (`batch_files`) and batches (`batches`), beside the
//! ledger. Written directly (not through the ledger queue): a batch is accepted only once it is
//! stored, so a restart loses nothing queued. Scoped to a tenant. A batch's state is opaque JSON
//! here (the server's batch worker gives it meaning).

use sqlx::QueryBuilder;

use crate::db::{db_err, Db};
use crate::query::LedgerReader;
use crate::StoreError;

/// An uploaded (or produced) file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchFile {
    /// `file-…`.
    pub id: String,
    /// The tenant that owns it.
    pub tenant: String,
    /// `batch` (input) or `batch_output`.
    pub purpose: String,
    /// The name it was uploaded with.
    pub filename: String,
    /// Unix ms.
    pub created_ms: i64,
    /// The JSONL text.
    pub content: String,
}

/// A batch and its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBatch {
    /// `batch_…`.
    pub id: String,
    /// The tenant that created it.
    pub tenant: String,
    /// `validating`, `in_progress`, `finalizing`, `completed`, `failed`, `expired`,
    /// `cancelling`, `cancelled`.
    pub status: String,
    /// Unix ms.
    pub created_ms: i64,
    /// The worker's state, JSON.
    pub state: String,
}

/// Statuses a batch leaves no more.
const FINAL: &str = "('completed', 'failed', 'expired', 'cancelled')";

impl LedgerReader {
    /// Store a file.
    pub async fn put_file(&self, f: &BatchFile) -> Result<(), StoreError> {
        macro_rules! put {
            ($pool:expr) => {{
                let mut qb = QueryBuilder::new(
                    "INSERT INTO batch_files (id, tenant, purpose, filename, created_ms, content) ",
                );
                qb.push_values([f], |mut b, f| {
                    b.push_bind(f.id.as_str())
                        .push_bind(f.tenant.as_str())
                        .push_bind(f.purpose.as_str())
                        .push_bind(f.filename.as_str())
                        .push_bind(f.created_ms)
                        .push_bind(f.content.as_str());
                });
                qb.push(" ON CONFLICT (id) DO NOTHING");
                qb.build().execute($pool).await.map(|_| ())
            }};
        }
        let res = match &self.db {
            Db::Sqlite(p) => put!(p),
            Db::Postgres(p) => put!(p),
        };
        res.map_err(|e| db_err(self.db.backend(), e))
    }

    /// The file `id` of `tenant`.
    pub async fn get_file(&self, id: &str, tenant: &str) -> Result<Option<BatchFile>, StoreError> {
        type Row = (String, String, String, String, i64, String);
        macro_rules! get {
            ($pool:expr) => {{
                let mut qb = QueryBuilder::new(
                    "SELECT id, tenant, purpose, filename, created_ms, content FROM batch_files \
                     WHERE id = ",
                );
                qb.push_bind(id).push(" AND tenant = ").push_bind(tenant);
                qb.build_query_as::<Row>().fetch_optional($pool).await
            }};
        }
        let res = match &self.db {
            Db::Sqlite(p) => get!(p),
            Db::Postgres(p) => get!(p),
        };
        Ok(res.map_err(|e| db_err(self.db.backend(), e))?.map(
            |(id, tenant, purpose, filename, created_ms, content)| BatchFile {
                id,
                tenant,
                purpose,
                filename,
                created_ms,
                content,
            },
        ))
    }

    /// Store a batch (replacing its state).
    pub async fn put_batch(&self, b: &StoredBatch) -> Result<(), StoreError> {
        macro_rules! put {
            ($pool:expr) => {{
                let mut qb = QueryBuilder::new(
                    "INSERT INTO batches (id, tenant, status, created_ms, state) ",
                );
                qb.push_values([b], |mut q, b| {
                    q.push_bind(b.id.as_str())
                        .push_bind(b.tenant.as_str())
                        .push_bind(b.status.as_str())
                        .push_bind(b.created_ms)
                        .push_bind(b.state.as_str());
                });
                qb.push(
                    " ON CONFLICT (id) DO UPDATE SET status = excluded.status, \
                     state = excluded.state",
                );
                qb.build().execute($pool).await.map(|_| ())
            }};
        }
        let res = match &self.db {
            Db::Sqlite(p) => put!(p),
            Db::Postgres(p) => put!(p),
        };
        res.map_err(|e| db_err(self.db.backend(), e))
    }

    /// Replace a batch's status and state only if its state is still `expected` (what this
    /// replica read): `true` if it did. Two replicas claiming one batch: one wins.
    pub async fn swap_batch(&self, b: &StoredBatch, expected: &str) -> Result<bool, StoreError> {
        macro_rules! swap {
            ($pool:expr) => {{
                let mut qb = QueryBuilder::new("UPDATE batches SET status = ");
                qb.push_bind(b.status.as_str())
                    .push(", state = ")
                    .push_bind(b.state.as_str())
                    .push(" WHERE id = ")
                    .push_bind(b.id.as_str())
                    .push(" AND state = ")
                    .push_bind(expected);
                qb.build()
                    .execute($pool)
                    .await
                    .map(|r| r.rows_affected() == 1)
            }};
        }
        let res = match &self.db {
            Db::Sqlite(p) => swap!(p),
            Db::Postgres(p) => swap!(p),
        };
        res.map_err(|e| db_err(self.db.backend(), e))
    }

    /// The batch `id` of `tenant` (`None`: any tenant's).
    pub async fn get_batch(
        &self,
        id: &str,
        tenant: Option<&str>,
    ) -> Result<Option<StoredBatch>, StoreError> {
        type Row = (String, String, String, i64, String);
        macro_rules! get {
            ($pool:expr) => {{
                let mut qb = QueryBuilder::new(
                    "SELECT id, tenant, status, created_ms, state FROM batches WHERE id = ",
                );
                qb.push_bind(id);
                if let Some(t) = tenant {
                    qb.push(" AND tenant = ").push_bind(t);
                }
                qb.build_query_as::<Row>().fetch_optional($pool).await
            }};
        }
        let res = match &self.db {
            Db::Sqlite(p) => get!(p),
            Db::Postgres(p) => get!(p),
        };
        Ok(res.map_err(|e| db_err(self.db.backend(), e))?.map(stored))
    }

    /// A tenant's batches, newest first: at most `limit`, those created before the batch
    /// `after` when given (a page of `GET /v1/batches`).
    pub async fn list_batches(
        &self,
        tenant: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<StoredBatch>, StoreError> {
        type Row = (String, String, String, i64, String);
        macro_rules! list {
            ($pool:expr) => {{
                let mut qb = QueryBuilder::new(
                    "SELECT id, tenant, status, created_ms, state FROM batches WHERE tenant = ",
                );
                qb.push_bind(tenant);
                if let Some(a) = after {
                    // Ids are time-ordered (uuid v7): older batches sort before.
                    qb.push(" AND id < ").push_bind(a);
                }
                qb.push(" ORDER BY id DESC LIMIT ")
                    .push_bind(i64::from(limit));
                qb.build_query_as::<Row>().fetch_all($pool).await
            }};
        }
        let res = match &self.db {
            Db::Sqlite(p) => list!(p),
            Db::Postgres(p) => list!(p),
        };
        Ok(res
            .map_err(|e| db_err(self.db.backend(), e))?
            .into_iter()
            .map(stored)
            .collect())
    }

    /// Every batch not yet in a final status, oldest first (the worker's queue).
    pub async fn open_batches(&self) -> Result<Vec<StoredBatch>, StoreError> {
        type Row = (String, String, String, i64, String);
        let sql = format!(
            "SELECT id, tenant, status, created_ms, state FROM batches WHERE status NOT IN {FINAL} \
             ORDER BY created_ms LIMIT 100"
        );
        let res = match &self.db {
            Db::Sqlite(p) => sqlx::query_as::<_, Row>(&sql).fetch_all(p).await,
            Db::Postgres(p) => sqlx::query_as::<_, Row>(&sql).fetch_all(p).await,
        };
        Ok(res
            .map_err(|e| db_err(self.db.backend(), e))?
            .into_iter()
            .map(stored)
            .collect())
    }
}

fn stored(
    (id, tenant, status, created_ms, state): (String, String, String, i64, String),
) -> StoredBatch {
    StoredBatch {
        id,
        tenant,
        status,
        created_ms,
        state,
    }
}
