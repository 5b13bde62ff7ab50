//! Stored Responses API turns: the `responses` table beside the ledger.
//!
//! Written directly (not through the ledger queue) before the client is answered, so the next
//! turn's `previous_response_id` finds it on any replica; scoped to a tenant; never read once
//! expired, and deleted with the expired captures by the writer. The body is opaque JSON here
//! (the server's wire types give it meaning).

use sqlx::QueryBuilder;

use crate::db::{db_err, Db};
use crate::query::LedgerReader;
use crate::StoreError;

/// One stored turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    /// `resp_…`.
    pub id: String,
    /// The tenant that created it (`default` without one).
    pub tenant: String,
    /// The ledger row of the request that answered it.
    pub request_id: String,
    /// Unix ms.
    pub created_ms: i64,
    /// Unix ms: never read after.
    pub expires_ms: i64,
    /// The turn, as JSON.
    pub body: String,
}

impl LedgerReader {
    /// Store a turn (replacing one with the same id).
    pub async fn put_response(&self, r: &StoredResponse) -> Result<(), StoreError> {
        macro_rules! put {
            ($pool:expr) => {{
                let mut qb = QueryBuilder::new(
                    "INSERT INTO responses (id, tenant, request_id, created_ms, expires_ms, body) ",
                );
                qb.push_values([r], |mut b, r| {
                    b.push_bind(r.id.as_str())
                        .push_bind(r.tenant.as_str())
                        .push_bind(r.request_id.as_str())
                        .push_bind(r.created_ms)
                        .push_bind(r.expires_ms)
                        .push_bind(r.body.as_str());
                });
                qb.push(
                    " ON CONFLICT (id) DO UPDATE SET body = excluded.body, \
                     expires_ms = excluded.expires_ms",
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

    /// The turn `id` of `tenant`, unless it expired before `now` (unix ms).
    pub async fn get_response(
        &self,
        id: &str,
        tenant: &str,
        now: i64,
    ) -> Result<Option<StoredResponse>, StoreError> {
        type Row = (String, String, String, i64, i64, String);
        macro_rules! get {
            ($pool:expr) => {{
                let mut qb = QueryBuilder::new(
                    "SELECT id, tenant, request_id, created_ms, expires_ms, body FROM responses \
                     WHERE id = ",
                );
                qb.push_bind(id)
                    .push(" AND tenant = ")
                    .push_bind(tenant)
                    .push(" AND expires_ms > ")
                    .push_bind(now);
                qb.build_query_as::<Row>().fetch_optional($pool).await
            }};
        }
        let res = match &self.db {
            Db::Sqlite(p) => get!(p),
            Db::Postgres(p) => get!(p),
        };
        Ok(res.map_err(|e| db_err(self.db.backend(), e))?.map(
            |(id, tenant, request_id, created_ms, expires_ms, body)| StoredResponse {
                id,
                tenant,
                request_id,
                created_ms,
                expires_ms,
                body,
            },
        ))
    }

    /// Delete the turn `id` of `tenant`; whether there was one.
    pub async fn delete_response(&self, id: &str, tenant: &str) -> Result<bool, StoreError> {
        macro_rules! delete {
            ($pool:expr) => {{
                let mut qb = QueryBuilder::new("DELETE FROM responses WHERE id = ");
                qb.push_bind(id).push(" AND tenant = ").push_bind(tenant);
                qb.build()
                    .execute($pool)
                    .await
                    .map(|r| r.rows_affected() > 0)
            }};
        }
        let res = match &self.db {
            Db::Sqlite(p) => delete!(p),
            Db::Postgres(p) => delete!(p),
        };
        res.map_err(|e| db_err(self.db.backend(), e))
    }
}
