//! Quality signals: the `signals` table beside the ledger.
//!
//! Evaluator signals travel inside their request's [`LedgerRow`](crate::LedgerRow) and are
//! written in the same transaction (and spilled and replayed with it); client feedback is
//! written directly, so the client learns whether it was stored. Ids are deterministic for
//! evaluator signals (`<request id>:<n>`), so a replay never duplicates one.

use serde::{Deserialize, Serialize};
use sqlx::{QueryBuilder, Row};

use crate::db::{db_err, Db};
use crate::query::LedgerReader;
use crate::StoreError;

/// A value bound to a query's placeholder.
enum Bind<'a> {
    Int(i64),
    Text(&'a str),
}

/// One quality signal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalRow {
    /// Unique id.
    pub id: String,
    /// The request it judges.
    pub request_id: String,
    /// When it was recorded, unix ms.
    pub ts: i64,
    /// `evaluator` (one evaluator's judgement), `verdict` (all evaluators of one answer) or
    /// `feedback` (from the client).
    pub source: String,
    /// The evaluator (`json`, `refusal`, …), `verdict`, or `feedback`.
    pub name: String,
    /// The model whose answer it judges.
    pub model: Option<String>,
    /// The request's task label.
    pub task: Option<String>,
    /// The route that decided.
    pub route: Option<String>,
    /// In `[0, 1]`.
    pub score: f64,
    /// Pass or fail, when the signal is one.
    pub passed: Option<bool>,
    /// Counted by the quality model (verdicts and feedback).
    pub observed: bool,
    /// A client's label.
    pub label: Option<String>,
    /// Why it failed, or a client's comment. Never answer text from the gateway.
    pub detail: Option<String>,
}

/// Aggregated observations of one (task, model), for rebuilding the quality model.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// Task label (`None`: the request had none).
    pub task: Option<String>,
    /// Model.
    pub model: String,
    /// Sum of scores.
    pub sum: f64,
    /// Count.
    pub n: u64,
}

/// Quality in a time window, per (task, model): the evaluators' verdicts and the clients'
/// feedback.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct QualityRow {
    /// Task label.
    pub task: Option<String>,
    /// Model judged.
    pub model: String,
    /// Verdicts of the route's evaluators.
    pub verdicts: u64,
    /// Of which passed.
    pub verdicts_passed: u64,
    /// Feedback received.
    pub feedback: u64,
    /// Sum of feedback scores.
    pub feedback_score_sum: f64,
}

/// What a request was, for attributing feedback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestFacts {
    /// Answering model.
    pub model: Option<String>,
    /// Task label.
    pub task: Option<String>,
    /// Route.
    pub route: Option<String>,
}

const COLUMNS: &str =
    "id, request_id, ts_ms, source, name, model, task, route, score, passed, observed, label, detail";

macro_rules! insert_signals {
    ($exec:expr, $rows:expr) => {{
        // 13 columns × 1024 rows stays under both backends' bind-parameter limits.
        for chunk in crate::db::shaped($rows, 1024) {
            let mut qb = QueryBuilder::new("INSERT INTO signals (");
            qb.push(COLUMNS).push(") ");
            qb.push_values(chunk.iter(), |mut b, s: &&SignalRow| {
                b.push_bind(s.id.as_str())
                    .push_bind(s.request_id.as_str())
                    .push_bind(s.ts)
                    .push_bind(s.source.as_str())
                    .push_bind(s.name.as_str())
                    .push_bind(s.model.as_deref())
                    .push_bind(s.task.as_deref())
                    .push_bind(s.route.as_deref())
                    .push_bind(s.score)
                    .push_bind(s.passed)
                    .push_bind(s.observed)
                    .push_bind(s.label.as_deref())
                    .push_bind(s.detail.as_deref());
            });
            qb.push(" ON CONFLICT (id) DO NOTHING");
            qb.build().execute(&mut *$exec).await?;
        }
        Ok::<(), sqlx::Error>(())
    }};
}

/// Insert signals within an open SQLite transaction.
pub(crate) async fn insert_sqlite(
    tx: &mut sqlx::SqliteConnection,
    rows: &[&SignalRow],
) -> Result<(), sqlx::Error> {
    insert_signals!(tx, rows)
}

/// Insert signals within an open PostgreSQL transaction.
pub(crate) async fn insert_pg(
    tx: &mut sqlx::PgConnection,
    rows: &[&SignalRow],
) -> Result<(), sqlx::Error> {
    insert_signals!(tx, rows)
}

impl LedgerReader {
    /// Store signals now (client feedback), idempotent on `id`.
    pub async fn insert_signals(&self, rows: &[SignalRow]) -> Result<(), StoreError> {
        let refs: Vec<&SignalRow> = rows.iter().collect();
        let res = match &self.db {
            Db::Sqlite(p) => match p.acquire().await {
                Ok(mut c) => insert_sqlite(&mut c, &refs).await,
                Err(e) => Err(e),
            },
            Db::Postgres(p) => match p.acquire().await {
                Ok(mut c) => insert_pg(&mut c, &refs).await,
                Err(e) => Err(e),
            },
        };
        res.map_err(|e| db_err(self.db.backend(), e))
    }

    /// Every observation, summed per (task, model): what the quality model starts from.
    pub async fn observations(&self) -> Result<Vec<Observation>, StoreError> {
        const SQL: &str = "SELECT task, model, SUM(score), COUNT(*) FROM signals \
            WHERE observed AND model IS NOT NULL GROUP BY task, model";
        type Agg = (Option<String>, String, f64, i64);
        let res: Result<Vec<Agg>, sqlx::Error> = match &self.db {
            Db::Sqlite(p) => sqlx::query_as(SQL).fetch_all(p).await,
            Db::Postgres(p) => sqlx::query_as(SQL).fetch_all(p).await,
        };
        let rows = res.map_err(|e| db_err(self.db.backend(), e))?;
        Ok(rows
            .into_iter()
            .map(|(task, model, sum, n)| Observation {
                task,
                model,
                sum,
                n: u64::try_from(n).unwrap_or(0),
            })
            .collect())
    }

    /// Verdicts and feedback per (task, model) with `since <= ts < until` (unix ms).
    pub async fn quality(
        &self,
        since: Option<i64>,
        until: Option<i64>,
    ) -> Result<Vec<QualityRow>, StoreError> {
        let sql = |p: &str| {
            format!(
                "SELECT task, model, source, COUNT(*), SUM(score) FROM signals \
                 WHERE observed AND model IS NOT NULL AND ts_ms >= {p}1 AND ts_ms < {p}2 \
                 GROUP BY task, model, source ORDER BY task, model"
            )
        };
        type Agg = (Option<String>, String, String, i64, f64);
        let (lo, hi) = (since.unwrap_or(i64::MIN), until.unwrap_or(i64::MAX));
        let res: Result<Vec<Agg>, sqlx::Error> = match &self.db {
            Db::Sqlite(p) => {
                sqlx::query_as(&sql("?"))
                    .bind(lo)
                    .bind(hi)
                    .fetch_all(p)
                    .await
            }
            Db::Postgres(p) => {
                sqlx::query_as(&sql("$"))
                    .bind(lo)
                    .bind(hi)
                    .fetch_all(p)
                    .await
            }
        };
        let mut out: Vec<QualityRow> = Vec::new();
        for (task, model, source, n, sum) in res.map_err(|e| db_err(self.db.backend(), e))? {
            let n = u64::try_from(n).unwrap_or(0);
            let same = out
                .last()
                .is_some_and(|r| r.task == task && r.model == model);
            if !same {
                out.push(QualityRow {
                    task,
                    model,
                    ..QualityRow::default()
                });
            }
            let Some(row) = out.last_mut() else { continue };
            if source == "feedback" {
                row.feedback += n;
                row.feedback_score_sum += sum;
            } else {
                row.verdicts += n;
                // Verdict scores are 0 or 1: their sum is the passes.
                row.verdicts_passed += sum.round() as u64;
            }
        }
        Ok(out)
    }

    /// What the LLM judge's calls cost, per judged route, over `since <= ts < until` (unix
    /// ms, the grade's time): (route, calls, USD). A judge call is a ledger row of its own
    /// (ingress `judge`) whose signal names the judged request's route (a grade, or an
    /// unobserved signal when the judge gave none).
    pub async fn judge_spend(
        &self,
        since: Option<i64>,
        until: Option<i64>,
    ) -> Result<Vec<(Option<String>, u64, rust_decimal::Decimal)>, StoreError> {
        let sql = |p: &str, cast: &str| {
            format!(
                "SELECT s.route, COUNT(*), SUM(l.cost_nanos){cast}, SUM(l.cost_rem_femtos){cast} \
                 FROM signals s JOIN ledger l ON l.id = substr(s.id, 1, length(s.id) - 2) \
                 WHERE s.source = 'judge' AND s.id LIKE '%:0' AND l.ingress = 'judge' \
                 AND l.cost_nanos IS NOT NULL AND NOT l.unpriced \
                 AND s.ts_ms >= {p}1 AND s.ts_ms < {p}2 GROUP BY s.route ORDER BY s.route"
            )
        };
        type Row = (Option<String>, i64, Option<i64>, Option<i64>);
        let (lo, hi) = (since.unwrap_or(i64::MIN), until.unwrap_or(i64::MAX));
        let res: Result<Vec<Row>, sqlx::Error> = match &self.db {
            Db::Sqlite(p) => {
                sqlx::query_as(&sql("?", ""))
                    .bind(lo)
                    .bind(hi)
                    .fetch_all(p)
                    .await
            }
            Db::Postgres(p) => {
                sqlx::query_as(&sql("$", "::BIGINT"))
                    .bind(lo)
                    .bind(hi)
                    .fetch_all(p)
                    .await
            }
        };
        Ok(res
            .map_err(|e| db_err(self.db.backend(), e))?
            .into_iter()
            .map(|(route, n, nanos, rem)| {
                (
                    route,
                    u64::try_from(n).unwrap_or(0),
                    crate::join_dollars(nanos.unwrap_or(0), rem.unwrap_or(0)),
                )
            })
            .collect())
    }

    /// The model, task and route of request `id`, if it is in the ledger.
    pub async fn request_facts(&self, id: &str) -> Result<Option<RequestFacts>, StoreError> {
        const SQLITE: &str = "SELECT model, task, route FROM ledger WHERE id = ?1";
        const PG: &str = "SELECT model, task, route FROM ledger WHERE id = $1";
        type Facts = (Option<String>, Option<String>, Option<String>);
        let res: Result<Option<Facts>, sqlx::Error> = match &self.db {
            Db::Sqlite(p) => sqlx::query_as(SQLITE).bind(id).fetch_optional(p).await,
            Db::Postgres(p) => sqlx::query_as(PG).bind(id).fetch_optional(p).await,
        };
        res.map(|o| o.map(|(model, task, route)| RequestFacts { model, task, route }))
            .map_err(|e| db_err(self.db.backend(), e))
    }

    /// Signals with `since <= ts < until` (unix ms), oldest first.
    pub async fn signals(
        &self,
        since: Option<i64>,
        until: Option<i64>,
    ) -> Result<Vec<SignalRow>, StoreError> {
        let (lo, hi) = (since.unwrap_or(i64::MIN), until.unwrap_or(i64::MAX));
        self.select_signals(
            |p| format!("ts_ms >= {p}1 AND ts_ms < {p}2"),
            &[Bind::Int(lo), Bind::Int(hi)],
        )
        .await
    }

    /// The signals about request `id`, oldest first.
    pub async fn signals_of(&self, id: &str) -> Result<Vec<SignalRow>, StoreError> {
        self.select_signals(|p| format!("request_id = {p}1"), &[Bind::Text(id)])
            .await
    }

    /// Signals matching `filter(placeholder sign)`, with `binds` bound in order.
    async fn select_signals(
        &self,
        filter: impl Fn(&str) -> String,
        binds: &[Bind<'_>],
    ) -> Result<Vec<SignalRow>, StoreError> {
        let sql = |p: &str| {
            format!(
                "SELECT {COLUMNS} FROM signals WHERE {} ORDER BY ts_ms, id",
                filter(p)
            )
        };
        macro_rules! fetch {
            ($pool:expr, $sql:expr) => {{
                let sql = $sql;
                let mut q = sqlx::query(&sql);
                for b in binds {
                    q = match *b {
                        Bind::Int(v) => q.bind(v),
                        Bind::Text(v) => q.bind(v),
                    };
                }
                q.fetch_all($pool).await
            }
            .and_then(|rows| {
                rows.iter()
                    .map(|r| {
                        Ok(SignalRow {
                            id: r.try_get("id")?,
                            request_id: r.try_get("request_id")?,
                            ts: r.try_get("ts_ms")?,
                            source: r.try_get("source")?,
                            name: r.try_get("name")?,
                            model: r.try_get("model")?,
                            task: r.try_get("task")?,
                            route: r.try_get("route")?,
                            score: r.try_get("score")?,
                            passed: r.try_get("passed")?,
                            observed: r.try_get("observed")?,
                            label: r.try_get("label")?,
                            detail: r.try_get("detail")?,
                        })
                    })
                    .collect::<Result<Vec<_>, sqlx::Error>>()
            })};
        }
        let res = match &self.db {
            Db::Sqlite(p) => fetch!(p, sql("?")),
            Db::Postgres(p) => fetch!(p, sql("$")),
        };
        res.map_err(|e| db_err(self.db.backend(), e))
    }
}
