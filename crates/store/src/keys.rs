//! Gateway keys: the `gateway_keys` table beside the ledger, shared by every replica.
//!
//! Only a key's SHA-256 is stored, never the key; the grant (`spec`) is opaque JSON here (the
//! server gives it meaning). Revocation is a timestamp, so `keys list` still shows a revoked
//! key and when it stopped working.

use sqlx::QueryBuilder;

use crate::db::{db_err, Db};
use crate::query::LedgerReader;
use crate::StoreError;

/// One gateway key, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRow {
    /// Public id (`key_…`): what logs, the ledger and `keys revoke` use.
    pub id: String,
    /// SHA-256 of the key, hex.
    pub hash: String,
    /// The key's name: the tenant its requests are recorded under.
    pub name: String,
    /// The grant, JSON.
    pub spec: String,
    /// Unix ms.
    pub created_ms: i64,
    /// Unix ms, once revoked.
    pub revoked_ms: Option<i64>,
}

type Row = (String, String, String, String, i64, Option<i64>);

fn key_row((id, hash, name, spec, created_ms, revoked_ms): Row) -> KeyRow {
    KeyRow {
        id,
        hash,
        name,
        spec,
        created_ms,
        revoked_ms,
    }
}

impl LedgerReader {
    /// Store a new key.
    pub async fn create_key(&self, k: &KeyRow) -> Result<(), StoreError> {
        macro_rules! put {
            ($pool:expr) => {{
                let mut qb = QueryBuilder::new(
                    "INSERT INTO gateway_keys (id, hash, name, spec, created_ms, revoked_ms) ",
                );
                qb.push_values([k], |mut b, k| {
                    b.push_bind(k.id.as_str())
                        .push_bind(k.hash.as_str())
                        .push_bind(k.name.as_str())
                        .push_bind(k.spec.as_str())
                        .push_bind(k.created_ms)
                        .push_bind(k.revoked_ms);
                });
                qb.build().execute($pool).await.map(|_| ())
            }};
        }
        let res = match &self.db {
            Db::Sqlite(p) => put!(p),
            Db::Postgres(p) => put!(p),
        };
        res.map_err(|e| db_err(self.db.backend(), e))
    }

    /// Every key, revoked ones included, oldest first.
    pub async fn keys(&self) -> Result<Vec<KeyRow>, StoreError> {
        let sql = "SELECT id, hash, name, spec, created_ms, revoked_ms FROM gateway_keys \
                   ORDER BY created_ms, id";
        let res: Result<Vec<Row>, sqlx::Error> = match &self.db {
            Db::Sqlite(p) => sqlx::query_as(sql).fetch_all(p).await,
            Db::Postgres(p) => sqlx::query_as(sql).fetch_all(p).await,
        };
        Ok(res
            .map_err(|e| db_err(self.db.backend(), e))?
            .into_iter()
            .map(key_row)
            .collect())
    }

    /// Revoke key `id` at `now`; whether it was active.
    pub async fn revoke_key(&self, id: &str, now: i64) -> Result<bool, StoreError> {
        macro_rules! revoke {
            ($pool:expr) => {{
                let mut qb = QueryBuilder::new("UPDATE gateway_keys SET revoked_ms = ");
                qb.push_bind(now)
                    .push(" WHERE id = ")
                    .push_bind(id)
                    .push(" AND revoked_ms IS NULL");
                qb.build()
                    .execute($pool)
                    .await
                    .map(|r| r.rows_affected() > 0)
            }};
        }
        let res = match &self.db {
            Db::Sqlite(p) => revoke!(p),
            Db::Postgres(p) => revoke!(p),
        };
        res.map_err(|e| db_err(self.db.backend(), e))
    }

    /// Each key's spend since `since` (unix ms), nano-dollars rounded up: what its budgets
    /// count, for a replica that starts without shared state.
    pub async fn key_spend(&self, since: i64) -> Result<Vec<(String, i64)>, StoreError> {
        let sql = |p: &str, cast: &str| {
            format!(
                "SELECT key_id, SUM(cost_nanos){cast}, SUM(cost_rem_femtos){cast} FROM ledger \
                 WHERE key_id IS NOT NULL AND cost_nanos IS NOT NULL AND ts_ms >= {p} \
                 GROUP BY key_id"
            )
        };
        type Row = (String, Option<i64>, Option<i64>);
        let res: Result<Vec<Row>, sqlx::Error> = match &self.db {
            Db::Sqlite(p) => sqlx::query_as(&sql("?", "")).bind(since).fetch_all(p).await,
            Db::Postgres(p) => {
                sqlx::query_as(&sql("$1", "::BIGINT"))
                    .bind(since)
                    .fetch_all(p)
                    .await
            }
        };
        Ok(res
            .map_err(|e| db_err(self.db.backend(), e))?
            .into_iter()
            .map(|(k, nanos, rem)| {
                let (n, r) = (nanos.unwrap_or(0), rem.unwrap_or(0));
                let femtos = i128::from(n) * i128::from(crate::FEMTOS_PER_NANO) + i128::from(r);
                let up = femtos.div_euclid(i128::from(crate::FEMTOS_PER_NANO))
                    + i128::from(femtos.rem_euclid(i128::from(crate::FEMTOS_PER_NANO)) > 0);
                (k, i64::try_from(up).unwrap_or(i64::MAX))
            })
            .collect())
    }
}
