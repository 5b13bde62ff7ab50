//! Reading the ledger back: rows for tests and export, grouped summaries for `switchyard report`.

use std::collections::BTreeMap;

use futures::TryStreamExt;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use sqlx::{QueryBuilder, Row};
use switchyard_types::{ServiceTier, Usage};

use crate::columns::COLUMNS;
use crate::db::{db_err, Db};
use crate::rollup::{ceil_hour, floor_hour, HOUR_MS, SUMS};
use crate::row::{dollars, femtos, AttemptRow, LedgerRow};
use crate::StoreError;

/// The dimension a summary is grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// Route (policy) name.
    Route,
    /// Rule name.
    Rule,
    /// Answering provider.
    Provider,
    /// Answering model.
    Model,
    /// Task label.
    Task,
    /// Tenant.
    Tenant,
}

impl GroupBy {
    fn column(self) -> &'static str {
        match self {
            GroupBy::Route => "route",
            GroupBy::Rule => "rule",
            GroupBy::Provider => "provider",
            GroupBy::Model => "model",
            GroupBy::Task => "task",
            GroupBy::Tenant => "tenant",
        }
    }
}

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;

/// What the response cache and the service tiers did over a window
/// ([`LedgerReader::economics`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Economics {
    /// Requests answered from the response cache.
    pub cache_hits: u64,
    /// What those answers cost where they came from: what the cache saved (USD, exact).
    pub cache_saved: Decimal,
    /// Answers served at a non-standard service tier, by tier (`flex`, `priority`).
    pub tiers: BTreeMap<String, TierUse>,
    /// Lines answered through providers' batch APIs (the batch lane).
    pub batch: TierUse,
    /// Requests whose usage read or wrote the provider's prompt cache.
    pub prompt_cache_requests: u64,
    /// What prompt caching saved on them: their usage billed as plain input minus what they
    /// were billed (USD, exact; cache writes' premium subtracted).
    pub prompt_cache_saved: Decimal,
}

/// Requests served at one service tier, or through the batch lane.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TierUse {
    /// Requests.
    pub requests: u64,
    /// What they cost (USD, exact).
    pub cost: Decimal,
    /// What the baseline would have cost for them at the standard tier (USD, exact).
    pub baseline: Decimal,
}

/// Spend in one time bucket of [`LedgerReader::cost_series`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeriesPoint {
    /// Bucket number: `ts / bucket_ms`.
    pub bucket: i64,
    /// Priced spend (USD, exact).
    pub cost: Decimal,
    /// Known baseline cost (USD, exact).
    pub baseline: Decimal,
    /// Requests in the bucket.
    pub requests: u64,
    /// Of which without a known cost.
    pub unpriced: u64,
}

/// Key used in summaries for rows where the grouping column is empty (e.g. no rule matched).
pub const NONE_KEY: &str = "(none)";

/// Aggregates for one group. Money is exact integer femto-dollars (`*_femtos`, 1e-15 USD);
/// the methods give decimal dollars.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SummaryRow {
    /// Group value ([`NONE_KEY`] when empty).
    pub key: String,
    /// Requests in the group.
    pub requests: u64,
    /// Requests with status `ok`.
    pub ok: u64,
    /// Requests with any status other than `ok` and `client_cancelled`.
    pub errors: u64,
    /// Requests cancelled by the client.
    pub cancelled: u64,
    /// Sum of priced costs.
    pub cost_femtos: i128,
    /// Sum of known baseline costs.
    pub baseline_cost_femtos: i128,
    /// Sum of (baseline − cost) over rows where both are known.
    pub savings_femtos: i128,
    /// Requests without a known cost (`unpriced` or NULL cost), excluded from the sums.
    pub unpriced_requests: u64,
    /// Median end-to-end latency (nearest rank).
    pub p50_latency_ms: u64,
    /// 95th percentile end-to-end latency (nearest rank).
    pub p95_latency_ms: u64,
    /// 99th percentile end-to-end latency (nearest rank).
    #[serde(default)]
    pub p99_latency_ms: u64,
    /// All input tokens (uncached + cache reads + cache writes).
    pub input_tokens: u64,
    /// The cache-read part of `input_tokens`.
    pub cache_read_tokens: u64,
    /// Output tokens (reasoning included).
    pub output_tokens: u64,
    /// Requests that needed more than one attempt (retries, fallbacks, hedges), escalations
    /// not counted.
    #[serde(default)]
    pub retried: u64,
    /// Requests with an answer rejected by the route's evaluators and re-asked (cascade
    /// escalations; their cost includes every attempt).
    #[serde(default)]
    pub escalated: u64,
    /// Sum of the answering attempts' costs alone: the answers at list price. `cost_femtos`
    /// is the effective cost (failed attempts and escalations included).
    #[serde(default)]
    pub answer_cost_femtos: i128,
    /// Median time to first token of the streamed answers (nearest rank; 0 when none).
    #[serde(default)]
    pub p50_ttft_ms: u64,
    /// 95th percentile time to first token of the streamed answers.
    #[serde(default)]
    pub p95_ttft_ms: u64,
}

impl SummaryRow {
    /// Total cost in dollars.
    pub fn cost(&self) -> Decimal {
        dollars(self.cost_femtos)
    }
    /// Baseline cost in dollars.
    pub fn baseline_cost(&self) -> Decimal {
        dollars(self.baseline_cost_femtos)
    }
    /// The answers at list price (answering attempts only), in dollars.
    pub fn answer_cost(&self) -> Decimal {
        dollars(self.answer_cost_femtos)
    }
    /// Savings in dollars.
    pub fn savings(&self) -> Decimal {
        dollars(self.savings_femtos)
    }
    /// Mean cost of a priced request in dollars (exact to 15 decimal places; 0 when none).
    pub fn cost_per_request(&self) -> Decimal {
        let priced = self.requests.saturating_sub(self.unpriced_requests);
        if priced == 0 {
            return Decimal::ZERO;
        }
        (self.cost() / Decimal::from(priced))
            .round_dp(15)
            .normalize()
    }

    /// Add another group's figures (requests, money, tokens; not the percentiles).
    pub fn absorb(&mut self, o: &SummaryRow) {
        self.requests += o.requests;
        self.ok += o.ok;
        self.errors += o.errors;
        self.cancelled += o.cancelled;
        self.unpriced_requests += o.unpriced_requests;
        self.cost_femtos += o.cost_femtos;
        self.baseline_cost_femtos += o.baseline_cost_femtos;
        self.savings_femtos += o.savings_femtos;
        self.input_tokens += o.input_tokens;
        self.cache_read_tokens += o.cache_read_tokens;
        self.output_tokens += o.output_tokens;
        self.retried += o.retried;
        self.escalated += o.escalated;
        self.answer_cost_femtos += o.answer_cost_femtos;
    }
}

/// A read-side connection to a ledger database (runs migrations; never creates a SQLite file).
#[derive(Clone)]
pub struct LedgerReader {
    pub(crate) db: Db,
}

impl std::fmt::Debug for LedgerReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LedgerReader")
            .field("backend", &self.db.backend())
            .finish()
    }
}

macro_rules! window {
    ($qb:expr, $since:expr, $until:expr) => {
        $qb.push(" FROM ledger WHERE 1=1");
        if let Some(s) = $since {
            $qb.push(" AND ts_ms >= ").push_bind(s);
        }
        if let Some(u) = $until {
            $qb.push(" AND ts_ms < ").push_bind(u);
        }
    };
}

macro_rules! fetch_rows {
    ($pool:expr, $since:expr, $until:expr) => {
        async {
            let mut qb = QueryBuilder::new("SELECT ");
            qb.push(COLUMNS);
            window!(qb, $since, $until);
            qb.push(" ORDER BY ts_ms, id");
            let rows = qb.build().fetch_all($pool).await?;
            rows.iter()
                .map(|r| decode_row!(r))
                .collect::<Result<Vec<_>, sqlx::Error>>()
        }
        .await
    };
}

macro_rules! decode_row {
    ($r:expr) => {{
        let r = $r;
        let u = |c: &str| -> Result<u64, sqlx::Error> {
            Ok(u64::try_from(r.try_get::<i64, _>(c)?).unwrap_or(0))
        };
        Ok::<_, sqlx::Error>(LedgerRow {
            id: r.try_get("id")?,
            ts: r.try_get("ts_ms")?,
            tenant: r.try_get("tenant")?,
            key_id: r.try_get("key_id")?,
            tags: r.try_get::<Json<Vec<String>>, _>("tags")?.0,
            task: r.try_get("task")?,
            ingress: r.try_get("ingress")?,
            route: r.try_get("route")?,
            rule: r.try_get("rule")?,
            stream: r.try_get("stream")?,
            decision: r.try_get::<Json<serde_json::Value>, _>("decision")?.0,
            provider: r.try_get("provider")?,
            model: r.try_get("model")?,
            attempts: r.try_get::<Json<Vec<AttemptRow>>, _>("attempts")?.0,
            usage: Usage {
                input: u("input_tokens")?,
                cache_read: u("cache_read_tokens")?,
                cache_write_5m: u("cache_write_5m_tokens")?,
                cache_write_1h: u("cache_write_1h_tokens")?,
                output: u("output_tokens")?,
                reasoning: u("reasoning_tokens")?,
                input_audio: u("input_audio_tokens")?,
                input_image: u("input_image_tokens")?,
                cache_read_audio: u("cache_read_audio_tokens")?,
                output_audio: u("output_audio_tokens")?,
                output_image: u("output_image_tokens")?,
                tier: r
                    .try_get::<Option<String>, _>("service_tier")?
                    .as_deref()
                    .map_or(ServiceTier::Standard, ServiceTier::parse),
            },
            cost_nanos: r.try_get("cost_nanos")?,
            cost_rem_femtos: r.try_get("cost_rem_femtos")?,
            baseline_cost_nanos: r.try_get("baseline_cost_nanos")?,
            baseline_cost_rem_femtos: r.try_get("baseline_cost_rem_femtos")?,
            usage_estimated: r.try_get("usage_estimated")?,
            unpriced: r.try_get("unpriced")?,
            catalog_version: r.try_get("catalog_version")?,
            overhead_us: u("overhead_us")?,
            latency_ms: u("latency_ms")?,
            status: r.try_get("status")?,
            http_status: u16::try_from(r.try_get::<i32, _>("http_status")?).unwrap_or(0),
            error_class: r.try_get("error_class")?,
            ttft_ms: r
                .try_get::<Option<i64>, _>("ttft_ms")?
                .map(|v| u64::try_from(v).unwrap_or(0)),
            answer_cost_nanos: r.try_get("answer_cost_nanos")?,
            answer_cost_rem_femtos: r.try_get("answer_cost_rem_femtos")?,
            cached_from: r.try_get("cached_from")?,
            cache_saved_nanos: r.try_get("cache_saved_nanos")?,
            cache_saved_rem_femtos: r.try_get("cache_saved_rem_femtos")?,
            signals: Vec::new(),
            capture: None,
            trace_parent: None,
        })
    }};
}

macro_rules! summarize {
    ($pool:expr, $since:expr, $until:expr, $group:expr, $attempts_text:expr) => {
        async {
            let mut qb = QueryBuilder::new("SELECT ");
            qb.push($group.column());
            qb.push(
                " AS k, status, cost_nanos, cost_rem_femtos, baseline_cost_nanos, \
             baseline_cost_rem_femtos, unpriced, latency_ms, \
             input_tokens + cache_read_tokens + cache_write_5m_tokens + cache_write_1h_tokens \
             AS all_input, cache_read_tokens, output_tokens, \
             CAST(attempt_count AS BIGINT) AS attempts_n, ttft_ms, answer_cost_nanos, \
             answer_cost_rem_femtos, CAST(CASE WHEN ",
            );
            qb.push($attempts_text);
            qb.push(" LIKE '%\"rejected\"%' THEN 1 ELSE 0 END AS BIGINT) AS escalated");
            window!(qb, $since, $until);
            let mut acc: BTreeMap<String, Acc> = BTreeMap::new();
            let mut stream = qb.build().fetch($pool);
            while let Some(r) = stream.try_next().await? {
                let a = acc.entry(group_key(r.try_get("k")?)).or_default();
                a.add(
                    r.try_get::<String, _>("status")?.as_str(),
                    femtos(r.try_get("cost_nanos")?, r.try_get("cost_rem_femtos")?),
                    femtos(
                        r.try_get("baseline_cost_nanos")?,
                        r.try_get("baseline_cost_rem_femtos")?,
                    ),
                    r.try_get("unpriced")?,
                    r.try_get("latency_ms")?,
                    r.try_get("all_input")?,
                    r.try_get("cache_read_tokens")?,
                    r.try_get("output_tokens")?,
                    r.try_get("attempts_n")?,
                    r.try_get::<i64, _>("escalated")? != 0,
                );
                a.answer(
                    r.try_get("ttft_ms")?,
                    femtos(
                        r.try_get("answer_cost_nanos")?,
                        r.try_get("answer_cost_rem_femtos")?,
                    ),
                );
            }
            Ok::<_, sqlx::Error>(acc)
        }
        .await
    };
}

impl LedgerReader {
    /// Connect to an existing ledger (a missing SQLite file is an error) and migrate it.
    pub async fn connect(url: &str) -> Result<LedgerReader, StoreError> {
        Ok(LedgerReader {
            db: Db::connect(url, false).await?,
        })
    }

    /// Rows with `since <= ts < until` (unix ms; `None` = unbounded), oldest first.
    pub async fn rows(
        &self,
        since: Option<i64>,
        until: Option<i64>,
    ) -> Result<Vec<LedgerRow>, StoreError> {
        let res = match &self.db {
            Db::Sqlite(p) => fetch_rows!(p, since, until),
            Db::Postgres(p) => fetch_rows!(p, since, until),
        };
        res.map_err(|e| db_err(self.db.backend(), e))
    }

    /// Tokens per answering model (all input buckets + output) since `since` (unix ms): one
    /// `SUM … GROUP BY` in the database, for seeding monthly volume counters at start.
    pub async fn tokens_by_model(&self, since: i64) -> Result<Vec<(String, u64)>, StoreError> {
        const SQL_SQLITE: &str = "SELECT model, SUM(input_tokens + cache_read_tokens + cache_write_5m_tokens + cache_write_1h_tokens + output_tokens) FROM ledger WHERE ts_ms >= ?1 AND model IS NOT NULL GROUP BY model";
        const SQL_PG: &str = "SELECT model, SUM(input_tokens + cache_read_tokens + cache_write_5m_tokens + cache_write_1h_tokens + output_tokens)::BIGINT FROM ledger WHERE ts_ms >= $1 AND model IS NOT NULL GROUP BY model";
        let rows: Result<Vec<(String, Option<i64>)>, sqlx::Error> = match &self.db {
            Db::Sqlite(p) => sqlx::query_as(SQL_SQLITE).bind(since).fetch_all(p).await,
            Db::Postgres(p) => sqlx::query_as(SQL_PG).bind(since).fetch_all(p).await,
        };
        let rows = rows.map_err(|e| db_err(self.db.backend(), e))?;
        Ok(rows
            .into_iter()
            .map(|(m, n)| (m, n.unwrap_or(0).max(0) as u64))
            .collect())
    }

    /// Priced spend per UTC day (days since 1970-01-01) over `since <= ts < until` (unix ms),
    /// exact: one `SUM … GROUP BY` of nano-dollars and femto remainders in the database.
    pub async fn daily_cost(
        &self,
        since: i64,
        until: i64,
    ) -> Result<Vec<(i64, Decimal)>, StoreError> {
        Ok(self
            .cost_series(since, until, DAY_MS)
            .await?
            .into_iter()
            .map(|p| (p.bucket, p.cost))
            .collect())
    }

    /// Priced spend and baseline per time bucket of `bucket_ms` (bucket = `ts / bucket_ms`)
    /// over `since <= ts < until` (unix ms), exact. Whole-hour buckets read whole hours from
    /// the rollups and the partial hours at the edges from the ledger.
    pub async fn cost_series(
        &self,
        since: i64,
        until: i64,
        bucket_ms: i64,
    ) -> Result<Vec<SeriesPoint>, StoreError> {
        let bucket_ms = bucket_ms.max(1);
        let (lo, hi) = (ceil_hour(since), floor_hour(until));
        let mut parts = Vec::new();
        if bucket_ms % HOUR_MS == 0 && lo < hi {
            parts.push(self.series_part("ledger", since, lo, bucket_ms).await?);
            parts.push(self.series_part("ledger_rollup", lo, hi, bucket_ms).await?);
            parts.push(self.series_part("ledger", hi, until, bucket_ms).await?);
        } else {
            parts.push(self.series_part("ledger", since, until, bucket_ms).await?);
        }
        let mut by: BTreeMap<i64, [i128; 4]> = BTreeMap::new();
        for (bucket, sums) in parts.into_iter().flatten() {
            let e = by.entry(bucket).or_default();
            (0..4).for_each(|i| e[i] += sums[i]);
        }
        Ok(by
            .into_iter()
            .map(|(bucket, [cost, baseline, n, unpriced])| SeriesPoint {
                bucket,
                cost: dollars(cost),
                baseline: dollars(baseline),
                requests: u64::try_from(n).unwrap_or(0),
                unpriced: u64::try_from(unpriced).unwrap_or(0),
            })
            .collect())
    }

    /// (bucket, [cost femtos, baseline femtos, requests, unpriced]) from the ledger's rows or
    /// from the rollups (`table`), over `since <= ts < until`.
    async fn series_part(
        &self,
        table: &str,
        since: i64,
        until: i64,
        bucket_ms: i64,
    ) -> Result<Vec<(i64, [i128; 4])>, StoreError> {
        if since >= until {
            return Ok(Vec::new());
        }
        let sql = |p: &str, cast: &str| {
            let priced = "NOT unpriced AND cost_nanos IS NOT NULL";
            let known = "baseline_cost_nanos IS NOT NULL";
            let cols = if table == "ledger" {
                format!(
                    "ts_ms / {bucket_ms}, SUM(CASE WHEN {priced} THEN cost_nanos END){cast}, \
                     SUM(CASE WHEN {priced} THEN cost_rem_femtos END){cast}, \
                     SUM(baseline_cost_nanos){cast}, \
                     SUM(CASE WHEN {known} THEN baseline_cost_rem_femtos END){cast}, \
                     COUNT(*), SUM(CASE WHEN {priced} THEN 0 ELSE 1 END){cast} \
                     FROM ledger WHERE ts_ms >= {p}1 AND ts_ms < {p}2"
                )
            } else {
                format!(
                    "hour_ms / {bucket_ms}, SUM(cost_nanos){cast}, SUM(cost_rem_femtos){cast}, \
                     SUM(baseline_nanos){cast}, SUM(baseline_rem_femtos){cast}, \
                     SUM(requests){cast}, SUM(unpriced){cast} \
                     FROM ledger_rollup WHERE dim = 'route' AND hour_ms >= {p}1 AND hour_ms < {p}2"
                )
            };
            format!("SELECT {cols} GROUP BY 1 ORDER BY 1")
        };
        type Row = (
            i64,
            Option<i64>,
            Option<i64>,
            Option<i64>,
            Option<i64>,
            Option<i64>,
            Option<i64>,
        );
        let rows: Result<Vec<Row>, sqlx::Error> = match &self.db {
            Db::Sqlite(p) => {
                sqlx::query_as(&sql("?", ""))
                    .bind(since)
                    .bind(until)
                    .fetch_all(p)
                    .await
            }
            Db::Postgres(p) => {
                sqlx::query_as(&sql("$", "::BIGINT"))
                    .bind(since)
                    .bind(until)
                    .fetch_all(p)
                    .await
            }
        };
        let f = |n: Option<i64>, r: Option<i64>| {
            femtos(Some(n.unwrap_or(0)), r.unwrap_or(0)).unwrap_or(0)
        };
        Ok(rows
            .map_err(|e| db_err(self.db.backend(), e))?
            .into_iter()
            .map(|(b, cn, cr, bn, br, n, u)| {
                (
                    b,
                    [
                        f(cn, cr),
                        f(bn, br),
                        i128::from(n.unwrap_or(0)),
                        i128::from(u.unwrap_or(0)),
                    ],
                )
            })
            .collect())
    }

    /// Response-cache hits and service-tier use over `since <= ts < until` (unix ms), exact:
    /// one `SUM … GROUP BY` over the rows that have either (a partial index keeps it off the
    /// rest of the ledger).
    pub async fn economics(&self, since: i64, until: i64) -> Result<Economics, StoreError> {
        let sql = |p: &str, cast: &str| {
            format!(
                "SELECT cached_from IS NOT NULL, service_tier, ingress = 'batch', COUNT(*), \
                 SUM(cost_nanos){cast}, SUM(cost_rem_femtos){cast}, \
                 SUM(answer_cost_nanos){cast}, SUM(answer_cost_rem_femtos){cast}, \
                 SUM(baseline_cost_nanos){cast}, SUM(baseline_cost_rem_femtos){cast} \
                 FROM ledger WHERE (cached_from IS NOT NULL OR service_tier IS NOT NULL \
                 OR ingress = 'batch') AND ts_ms >= {p}1 AND ts_ms < {p}2 GROUP BY 1, 2, 3"
            )
        };
        type Row = (
            bool,
            Option<String>,
            bool,
            i64,
            Option<i64>,
            Option<i64>,
            Option<i64>,
            Option<i64>,
            Option<i64>,
            Option<i64>,
        );
        let rows: Result<Vec<Row>, sqlx::Error> = match &self.db {
            Db::Sqlite(p) => {
                sqlx::query_as(&sql("?", ""))
                    .bind(since)
                    .bind(until)
                    .fetch_all(p)
                    .await
            }
            Db::Postgres(p) => {
                sqlx::query_as(&sql("$", "::BIGINT"))
                    .bind(since)
                    .bind(until)
                    .fetch_all(p)
                    .await
            }
        };
        let f = |n: Option<i64>, r: Option<i64>| {
            dollars(femtos(Some(n.unwrap_or(0)), r.unwrap_or(0)).unwrap_or(0))
        };
        let mut out = Economics::default();
        let cached = |p: &str, cast: &str| {
            format!(
                "SELECT COUNT(*), SUM(cache_saved_nanos){cast}, SUM(cache_saved_rem_femtos){cast} \
                 FROM ledger WHERE cache_saved_nanos IS NOT NULL AND ts_ms >= {p}1 AND ts_ms < {p}2"
            )
        };
        let saved: Result<(i64, Option<i64>, Option<i64>), sqlx::Error> = match &self.db {
            Db::Sqlite(p) => {
                sqlx::query_as(&cached("?", ""))
                    .bind(since)
                    .bind(until)
                    .fetch_one(p)
                    .await
            }
            Db::Postgres(p) => {
                sqlx::query_as(&cached("$", "::BIGINT"))
                    .bind(since)
                    .bind(until)
                    .fetch_one(p)
                    .await
            }
        };
        let (n, sn, sr) = saved.map_err(|e| db_err(self.db.backend(), e))?;
        out.prompt_cache_requests = u64::try_from(n).unwrap_or(0);
        out.prompt_cache_saved = f(sn, sr);
        for (hit, tier, batch, n, cn, cr, an, ar, bn, br) in
            rows.map_err(|e| db_err(self.db.backend(), e))?
        {
            let n = u64::try_from(n).unwrap_or(0);
            if hit {
                out.cache_hits += n;
                out.cache_saved += f(an, ar);
                continue;
            }
            let lanes = [
                tier.map(|t| out.tiers.entry(t).or_default()),
                batch.then_some(&mut out.batch),
            ];
            for e in lanes.into_iter().flatten() {
                e.requests += n;
                e.cost += f(cn, cr);
                e.baseline += f(bn, br);
            }
        }
        Ok(out)
    }

    /// The first and last `ts` of the rows with `since <= ts < until` (unix ms), if any.
    pub async fn span(&self, since: i64, until: i64) -> Result<Option<(i64, i64)>, StoreError> {
        const SQLITE: &str =
            "SELECT MIN(ts_ms), MAX(ts_ms) FROM ledger WHERE ts_ms >= ?1 AND ts_ms < ?2";
        const PG: &str =
            "SELECT MIN(ts_ms), MAX(ts_ms) FROM ledger WHERE ts_ms >= $1 AND ts_ms < $2";
        let res: Result<(Option<i64>, Option<i64>), sqlx::Error> = match &self.db {
            Db::Sqlite(p) => {
                sqlx::query_as(SQLITE)
                    .bind(since)
                    .bind(until)
                    .fetch_one(p)
                    .await
            }
            Db::Postgres(p) => {
                sqlx::query_as(PG)
                    .bind(since)
                    .bind(until)
                    .fetch_one(p)
                    .await
            }
        };
        Ok(match res.map_err(|e| db_err(self.db.backend(), e))? {
            (Some(a), Some(b)) => Some((a, b)),
            _ => None,
        })
    }

    /// The `limit` most recent rows with `ts < before` (unix ms; `None` = now), newest first.
    pub async fn recent(
        &self,
        limit: u32,
        before: Option<i64>,
    ) -> Result<Vec<LedgerRow>, StoreError> {
        macro_rules! fetch {
            ($pool:expr) => {
                async {
                    let mut qb = QueryBuilder::new("SELECT ");
                    qb.push(COLUMNS);
                    window!(qb, None::<i64>, before);
                    qb.push(" ORDER BY ts_ms DESC, id DESC LIMIT ")
                        .push_bind(i64::from(limit));
                    let rows = qb.build().fetch_all($pool).await?;
                    rows.iter()
                        .map(|r| decode_row!(r))
                        .collect::<Result<Vec<_>, sqlx::Error>>()
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

    /// The row of request `id`, if it is in the ledger.
    pub async fn row(&self, id: &str) -> Result<Option<LedgerRow>, StoreError> {
        macro_rules! fetch {
            ($pool:expr) => {
                async {
                    let mut qb = QueryBuilder::new("SELECT ");
                    qb.push(COLUMNS);
                    qb.push(" FROM ledger WHERE id = ").push_bind(id);
                    match qb.build().fetch_optional($pool).await? {
                        Some(r) => decode_row!(&r).map(Some),
                        None => Ok(None),
                    }
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

    /// Per-group aggregates over `since <= ts < until`, sorted by key.
    ///
    /// Rows are streamed and aggregated here (not in SQL) so both backends compute identical,
    /// exact percentiles; memory is one `u64` latency per row in the window.
    pub async fn summary(
        &self,
        since: Option<i64>,
        until: Option<i64>,
        group_by: GroupBy,
    ) -> Result<Vec<SummaryRow>, StoreError> {
        // Whole hours come from the rollups; the partial hours at the edges from the ledger.
        let lo = since.map_or(i64::MIN, ceil_hour);
        let hi = floor_hour(until.unwrap_or_else(|| crate::now_ms() + 1));
        let mut acc = BTreeMap::new();
        if lo < hi {
            if let Some(s) = since.filter(|s| *s < lo) {
                merge(
                    &mut acc,
                    self.raw_summary(Some(s), Some(lo), group_by).await?,
                );
            }
            merge(&mut acc, self.rollup_summary(lo, hi, group_by).await?);
            merge(&mut acc, self.raw_summary(Some(hi), until, group_by).await?);
        } else {
            acc = self.raw_summary(since, until, group_by).await?;
        }
        Ok(acc.into_iter().map(|(k, a)| a.finish(k)).collect())
    }

    /// Aggregate ledger rows one by one (exact percentiles).
    async fn raw_summary(
        &self,
        since: Option<i64>,
        until: Option<i64>,
        group_by: GroupBy,
    ) -> Result<BTreeMap<String, Acc>, StoreError> {
        let res = match &self.db {
            Db::Sqlite(p) => summarize!(p, since, until, group_by, "attempts"),
            Db::Postgres(p) => summarize!(p, since, until, group_by, "attempts::text"),
        };
        res.map_err(|e| db_err(self.db.backend(), e))
    }

    /// Aggregate the rollups of the hours `lo <= hour < hi`: one `SUM … GROUP BY` of the sums
    /// and one of the histograms.
    async fn rollup_summary(
        &self,
        lo: i64,
        hi: i64,
        group_by: GroupBy,
    ) -> Result<BTreeMap<String, Acc>, StoreError> {
        let sums = |p: &str, cast: &str| {
            let cols: Vec<String> = SUMS.iter().map(|c| format!("SUM({c}){cast}")).collect();
            format!(
                "SELECT key, {} FROM ledger_rollup WHERE dim = {p}1 AND hour_ms >= {p}2 \
                 AND hour_ms < {p}3 GROUP BY key",
                cols.join(", ")
            )
        };
        let hist = |p: &str| {
            format!(
                "SELECT key, metric, hist FROM ledger_rollup_hist \
                 WHERE dim = {p}1 AND hour_ms >= {p}2 AND hour_ms < {p}3"
            )
        };
        let dim = group_by.column();
        macro_rules! read {
            ($pool:expr, $p:expr, $cast:expr) => {
                async {
                    let sums = sqlx::query(&sums($p, $cast))
                        .bind(dim)
                        .bind(lo)
                        .bind(hi)
                        .fetch_all($pool)
                        .await?;
                    let hist: Vec<(String, i16, String)> = sqlx::query_as(&hist($p))
                        .bind(dim)
                        .bind(lo)
                        .bind(hi)
                        .fetch_all($pool)
                        .await?;
                    let mut acc: BTreeMap<String, Acc> = BTreeMap::new();
                    for r in &sums {
                        let key: String = r.try_get(0)?;
                        let n = |i: usize| -> Result<i64, sqlx::Error> {
                            Ok(r.try_get::<Option<i64>, _>(i)?.unwrap_or(0))
                        };
                        let u = |i: usize| -> Result<u64, sqlx::Error> {
                            Ok(u64::try_from(n(i)?).unwrap_or(0))
                        };
                        let f = |i: usize| -> Result<i128, sqlx::Error> {
                            Ok(femtos(Some(n(i)?), n(i + 1)?).unwrap_or(0))
                        };
                        let row = SummaryRow {
                            requests: u(1)?,
                            ok: u(2)?,
                            cancelled: u(3)?,
                            errors: u(4)?,
                            unpriced_requests: u(5)?,
                            retried: u(6)?,
                            escalated: u(7)?,
                            cost_femtos: f(8)?,
                            baseline_cost_femtos: f(10)?,
                            savings_femtos: f(12)?,
                            answer_cost_femtos: f(14)?,
                            input_tokens: u(16)?,
                            cache_read_tokens: u(17)?,
                            output_tokens: u(18)?,
                            ..SummaryRow::default()
                        };
                        acc.entry(group_key(Some(key)))
                            .or_default()
                            .row
                            .absorb(&row);
                    }
                    for (key, metric, text) in hist {
                        let a = acc.entry(group_key(Some(key))).or_default();
                        let h = if metric == 0 {
                            &mut a.latencies
                        } else {
                            &mut a.ttfts
                        };
                        crate::rollup::decode_into(&text, h);
                    }
                    Ok::<_, sqlx::Error>(acc)
                }
                .await
            };
        }
        let res = match &self.db {
            Db::Sqlite(p) => read!(p, "?", ""),
            Db::Postgres(p) => read!(p, "$", "::BIGINT"),
        };
        res.map_err(|e| db_err(self.db.backend(), e))
    }

    /// Close the connections.
    pub async fn close(&self) {
        self.db.close().await;
    }
}

/// Rows with `since <= ts < until` (unix ms) from the ledger at `url`, oldest first.
pub async fn query_rows(
    url: &str,
    since: Option<i64>,
    until: Option<i64>,
) -> Result<Vec<LedgerRow>, StoreError> {
    let reader = LedgerReader::connect(url).await?;
    let rows = reader.rows(since, until).await;
    reader.close().await;
    rows
}

/// Per-group aggregates over `since <= ts < until` (unix ms) from the ledger at `url`.
pub async fn summary(
    url: &str,
    since: Option<i64>,
    until: Option<i64>,
    group_by: GroupBy,
) -> Result<Vec<SummaryRow>, StoreError> {
    let reader = LedgerReader::connect(url).await?;
    let rows = reader.summary(since, until, group_by).await;
    reader.close().await;
    rows
}

/// One group's figures while they are added up; latencies as value → count.
#[derive(Default)]
struct Acc {
    row: SummaryRow,
    latencies: BTreeMap<u64, u64>,
    ttfts: BTreeMap<u64, u64>,
}

/// A group key: [`NONE_KEY`] for a missing or empty value.
fn group_key(k: Option<String>) -> String {
    k.filter(|k| !k.is_empty())
        .unwrap_or_else(|| NONE_KEY.into())
}

/// Add the groups of `more` into `acc`.
fn merge(acc: &mut BTreeMap<String, Acc>, more: BTreeMap<String, Acc>) {
    for (k, m) in more {
        let a = acc.entry(k).or_default();
        a.row.absorb(&m.row);
        for (v, n) in m.latencies {
            *a.latencies.entry(v).or_default() += n;
        }
        for (v, n) in m.ttfts {
            *a.ttfts.entry(v).or_default() += n;
        }
    }
}

impl Acc {
    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        status: &str,
        cost: Option<i128>,
        baseline: Option<i128>,
        unpriced: bool,
        latency_ms: i64,
        input: i64,
        cache_read: i64,
        output: i64,
        attempts: i64,
        escalated: bool,
    ) {
        let s = &mut self.row;
        s.requests += 1;
        if escalated {
            s.escalated += 1;
        } else if attempts > 1 {
            s.retried += 1;
        }
        match status {
            "ok" => s.ok += 1,
            "client_cancelled" => s.cancelled += 1,
            _ => s.errors += 1,
        }
        match cost.filter(|_| !unpriced) {
            Some(c) => {
                s.cost_femtos = s.cost_femtos.saturating_add(c);
                if let Some(b) = baseline {
                    s.savings_femtos = s.savings_femtos.saturating_add(b - c);
                }
            }
            None => s.unpriced_requests += 1,
        }
        if let Some(b) = baseline {
            s.baseline_cost_femtos = s.baseline_cost_femtos.saturating_add(b);
        }
        s.input_tokens += u64::try_from(input).unwrap_or(0);
        s.cache_read_tokens += u64::try_from(cache_read).unwrap_or(0);
        s.output_tokens += u64::try_from(output).unwrap_or(0);
        *self
            .latencies
            .entry(u64::try_from(latency_ms).unwrap_or(0))
            .or_default() += 1;
    }

    /// The answering attempt's TTFT and cost alone.
    fn answer(&mut self, ttft_ms: Option<i64>, cost: Option<i128>) {
        if let Some(t) = ttft_ms {
            *self.ttfts.entry(u64::try_from(t).unwrap_or(0)).or_default() += 1;
        }
        if let Some(c) = cost {
            self.row.answer_cost_femtos = self.row.answer_cost_femtos.saturating_add(c);
        }
    }

    fn finish(mut self, key: String) -> SummaryRow {
        self.row.p50_ttft_ms = nearest_rank(&self.ttfts, 50);
        self.row.p95_ttft_ms = nearest_rank(&self.ttfts, 95);
        self.row.key = key;
        self.row.p50_latency_ms = nearest_rank(&self.latencies, 50);
        self.row.p95_latency_ms = nearest_rank(&self.latencies, 95);
        self.row.p99_latency_ms = nearest_rank(&self.latencies, 99);
        self.row
    }
}

/// Nearest-rank percentile of values given as value → count (0 when empty).
fn nearest_rank(counts: &BTreeMap<u64, u64>, pct: u64) -> u64 {
    let total: u64 = counts.values().sum();
    if total == 0 {
        return 0;
    }
    let rank = (pct * total).div_ceil(100).max(1);
    let mut seen = 0;
    for (v, n) in counts {
        seen += n;
        if seen >= rank {
            return *v;
        }
    }
    counts.keys().next_back().copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::nearest_rank;

    fn counts(v: &[u64]) -> std::collections::BTreeMap<u64, u64> {
        let mut m = std::collections::BTreeMap::new();
        for x in v {
            *m.entry(*x).or_default() += 1;
        }
        m
    }

    #[test]
    fn percentiles_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(nearest_rank(&counts(&v), 50), 50);
        assert_eq!(nearest_rank(&counts(&v), 95), 95);
        assert_eq!(nearest_rank(&counts(&[7]), 95), 7);
        assert_eq!(nearest_rank(&counts(&[1, 2]), 50), 1);
        assert_eq!(nearest_rank(&counts(&[]), 50), 0);
        assert_eq!(nearest_rank(&counts(&[5, 5, 5, 9]), 75), 5);
        assert_eq!(nearest_rank(&counts(&[5, 5, 5, 9]), 76), 9);
    }
}
