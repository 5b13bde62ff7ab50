//! Hourly rollups of the ledger (`ledger_rollup`, `ledger_rollup_hist`; migration 0005),
//! written by the writer in the same transaction as the rows they count, so they are never out
//! of step with the ledger. A ledger row adds to one rollup row per dimension a report groups
//! by, and to the latency and TTFT histograms of each. Reports read full hours from here and
//! the partial hours at a window's edges from the ledger itself.

use std::collections::BTreeMap;

use sqlx::QueryBuilder;

use crate::row::{femtos, split_femtos, LedgerRow};

/// A histogram: value (ms) → count.
pub(crate) type Hist = BTreeMap<u64, u64>;

/// `'value:count,…'`, the stored form of a [`Hist`].
fn encode(h: &Hist) -> String {
    let mut out = String::with_capacity(h.len() * 8);
    for (i, (v, n)) in h.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&format!("{v}:{n}"));
    }
    out
}

/// Add a stored histogram into `into` (unreadable pairs are skipped).
pub(crate) fn decode_into(text: &str, into: &mut Hist) {
    for pair in text.split(',') {
        if let Some((v, n)) = pair.split_once(':') {
            if let (Ok(v), Ok(n)) = (v.trim().parse::<u64>(), n.trim().parse::<u64>()) {
                *into.entry(v).or_default() += n;
            }
        }
    }
}

/// One hour, in ms.
pub(crate) const HOUR_MS: i64 = 3_600_000;

/// The start of the hour `t` (unix ms) is in.
pub(crate) fn floor_hour(t: i64) -> i64 {
    t.div_euclid(HOUR_MS) * HOUR_MS
}

/// The first whole hour at or after `t` (unix ms).
pub(crate) fn ceil_hour(t: i64) -> i64 {
    floor_hour(t)
        + if t.rem_euclid(HOUR_MS) == 0 {
            0
        } else {
            HOUR_MS
        }
}

/// The summed columns of `ledger_rollup`, in the order the writer binds them.
pub(crate) const SUMS: [&str; 18] = [
    "requests",
    "ok",
    "cancelled",
    "errors",
    "unpriced",
    "retried",
    "escalated",
    "cost_nanos",
    "cost_rem_femtos",
    "baseline_nanos",
    "baseline_rem_femtos",
    "savings_nanos",
    "savings_rem_femtos",
    "answer_nanos",
    "answer_rem_femtos",
    "input_tokens",
    "cache_read_tokens",
    "output_tokens",
];

/// The dimensions a report groups by, with the row's value for each (`""` when none).
pub(crate) const DIMS: [&str; 6] = ["route", "rule", "provider", "model", "task", "tenant"];

fn dim_value<'a>(r: &'a LedgerRow, dim: &str) -> &'a str {
    match dim {
        "route" => r.route.as_deref(),
        "rule" => r.rule.as_deref(),
        "provider" => r.provider.as_deref(),
        "model" => r.model.as_deref(),
        "task" => r.task.as_deref(),
        _ => Some(r.tenant.as_str()),
    }
    .unwrap_or("")
}

/// The value a histogram keeps for `v` ms: exact below 64, else the middle of its bin of
/// 1/32 of an octave (`v` with all but its 6 top bits cleared, plus half the bin): within 1.6%.
pub(crate) fn bin(v: u64) -> u64 {
    if v < 64 {
        return v;
    }
    let shift = 63 - v.leading_zeros() - 5;
    ((v >> shift) << shift) + ((1 << shift) >> 1)
}

/// Sums of one (hour, dimension, value); money in femto-dollars.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Sums {
    pub requests: i64,
    pub ok: i64,
    pub cancelled: i64,
    pub errors: i64,
    pub unpriced: i64,
    pub retried: i64,
    pub escalated: i64,
    pub cost: i128,
    pub baseline: i128,
    pub savings: i128,
    pub answer: i128,
    pub input: i64,
    pub cache_read: i64,
    pub output: i64,
}

fn tokens(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Sums {
    fn add(&mut self, r: &LedgerRow) {
        self.requests += 1;
        let escalated = r.attempts.iter().any(|a| a.rejected.is_some());
        if escalated {
            self.escalated += 1;
        } else if r.attempts.len() > 1 {
            self.retried += 1;
        }
        match r.status.as_str() {
            "ok" => self.ok += 1,
            "client_cancelled" => self.cancelled += 1,
            _ => self.errors += 1,
        }
        let cost = femtos(r.cost_nanos, r.cost_rem_femtos).filter(|_| !r.unpriced);
        let baseline = femtos(r.baseline_cost_nanos, r.baseline_cost_rem_femtos);
        match cost {
            Some(c) => {
                self.cost += c;
                if let Some(b) = baseline {
                    self.savings += b - c;
                }
            }
            None => self.unpriced += 1,
        }
        self.baseline += baseline.unwrap_or(0);
        self.answer += femtos(r.answer_cost_nanos, r.answer_cost_rem_femtos).unwrap_or(0);
        let u = &r.usage;
        self.input += tokens(u.input + u.cache_read + u.cache_write_5m + u.cache_write_1h);
        self.cache_read += tokens(u.cache_read);
        self.output += tokens(u.output);
    }
}

/// What a batch adds to the rollups.
#[derive(Debug, Default)]
pub(crate) struct Delta {
    /// (hour, dimension, value) → sums.
    pub sums: BTreeMap<(i64, &'static str, String), Sums>,
    /// (hour, dimension, value, metric) → binned ms → count; metric 0 latency, 1 TTFT.
    pub hist: BTreeMap<(i64, &'static str, String, i16), Hist>,
}

impl Delta {
    /// The rollup rows `rows` add to.
    pub(crate) fn of<'a>(rows: impl IntoIterator<Item = &'a LedgerRow>) -> Delta {
        let mut d = Delta::default();
        for r in rows {
            let hour = floor_hour(r.ts);
            for dim in DIMS {
                let key = dim_value(r, dim).to_owned();
                d.sums.entry((hour, dim, key.clone())).or_default().add(r);
                let lat = d.hist.entry((hour, dim, key.clone(), 0)).or_default();
                *lat.entry(bin(r.latency_ms)).or_default() += 1;
                if let Some(t) = r.ttft_ms {
                    let ttft = d.hist.entry((hour, dim, key, 1)).or_default();
                    *ttft.entry(bin(t)).or_default() += 1;
                }
            }
        }
        d
    }
}

/// Rollup rows per statement (≤ 21 binds each, under SQLite's 32,766); statements are of
/// power-of-two sizes ([`crate::db::shaped`]).
const CHUNK: usize = 1024;

macro_rules! write_delta {
    ($conn:expr, $delta:expr, $writer:expr) => {
        async {
            let sums: Vec<_> = $delta.sums.iter().collect();
            for chunk in crate::db::shaped(&sums, CHUNK) {
                let mut qb = QueryBuilder::new(format!(
                    "INSERT INTO ledger_rollup (hour_ms, dim, key, {}) ",
                    SUMS.join(", ")
                ));
                qb.push_values(chunk.iter(), |mut b, ((hour, dim, key), s)| {
                    let (cost, cost_rem) = split_femtos(s.cost);
                    let (base, base_rem) = split_femtos(s.baseline);
                    let (save, save_rem) = split_femtos(s.savings);
                    let (ans, ans_rem) = split_femtos(s.answer);
                    b.push_bind(*hour)
                        .push_bind(*dim)
                        .push_bind(key.as_str())
                        .push_bind(s.requests)
                        .push_bind(s.ok)
                        .push_bind(s.cancelled)
                        .push_bind(s.errors)
                        .push_bind(s.unpriced)
                        .push_bind(s.retried)
                        .push_bind(s.escalated)
                        .push_bind(cost)
                        .push_bind(cost_rem)
                        .push_bind(base)
                        .push_bind(base_rem)
                        .push_bind(save)
                        .push_bind(save_rem)
                        .push_bind(ans)
                        .push_bind(ans_rem)
                        .push_bind(s.input)
                        .push_bind(s.cache_read)
                        .push_bind(s.output);
                });
                qb.push(" ON CONFLICT (dim, hour_ms, key) DO UPDATE SET ");
                let set: Vec<String> = SUMS
                    .iter()
                    .map(|c| format!("{c} = ledger_rollup.{c} + excluded.{c}"))
                    .collect();
                qb.push(set.join(", "));
                qb.build().execute(&mut *$conn).await?;
            }
            // Histograms: this writer's rows of the batch's hours, read, merged, rewritten.
            if let (Some(lo), Some(hi)) = (
                $delta.hist.keys().map(|k| k.0).min(),
                $delta.hist.keys().map(|k| k.0).max(),
            ) {
                let mut qb = QueryBuilder::new(
                    "SELECT hour_ms, dim, key, metric, hist FROM ledger_rollup_hist WHERE writer = ",
                );
                qb.push_bind($writer)
                    .push(" AND hour_ms >= ")
                    .push_bind(lo)
                    .push(" AND hour_ms <= ")
                    .push_bind(hi);
                let stored: Vec<(i64, String, String, i16, String)> =
                    qb.build_query_as().fetch_all(&mut *$conn).await?;
                let mut merged: BTreeMap<(i64, String, String, i16), Hist> = BTreeMap::new();
                for ((hour, dim, key, metric), h) in &$delta.hist {
                    let m = merged
                        .entry((*hour, (*dim).to_owned(), key.clone(), *metric))
                        .or_default();
                    for (v, n) in h {
                        *m.entry(*v).or_default() += n;
                    }
                }
                for (hour, dim, key, metric, text) in stored {
                    if let Some(m) = merged.get_mut(&(hour, dim, key, metric)) {
                        decode_into(&text, m);
                    }
                }
                let rows: Vec<_> = merged.iter().collect();
                for chunk in crate::db::shaped(&rows, CHUNK) {
                    let mut qb = QueryBuilder::new(
                        "INSERT INTO ledger_rollup_hist (hour_ms, dim, key, metric, writer, hist) ",
                    );
                    qb.push_values(chunk.iter(), |mut b, ((hour, dim, key, metric), h)| {
                        b.push_bind(*hour)
                            .push_bind(dim.as_str())
                            .push_bind(key.as_str())
                            .push_bind(*metric)
                            .push_bind($writer)
                            .push_bind(encode(h));
                    });
                    qb.push(
                        " ON CONFLICT (dim, hour_ms, key, metric, writer) \
                         DO UPDATE SET hist = excluded.hist",
                    );
                    qb.build().execute(&mut *$conn).await?;
                }
            }
            Ok::<(), sqlx::Error>(())
        }
        .await
    };
}

/// Add `delta` to the rollups inside a SQLite transaction, as `writer`.
pub(crate) async fn write_sqlite(
    tx: &mut sqlx::SqliteConnection,
    delta: &Delta,
    writer: &str,
) -> Result<(), sqlx::Error> {
    write_delta!(tx, delta, writer)
}

/// Add `delta` to the rollups inside a PostgreSQL transaction, as `writer`.
pub(crate) async fn write_pg(
    tx: &mut sqlx::PgConnection,
    delta: &Delta,
    writer: &str,
) -> Result<(), sqlx::Error> {
    write_delta!(tx, delta, writer)
}

#[cfg(test)]
mod tests {
    use super::{bin, decode_into, encode, Hist};

    #[test]
    fn histograms_round_trip_as_text() {
        let h: Hist = [(3, 2), (64, 1), (1_024, 7)].into_iter().collect();
        assert_eq!(encode(&h), "3:2,64:1,1024:7");
        let mut back = Hist::new();
        decode_into(&encode(&h), &mut back);
        decode_into("3:1,bad,5:x", &mut back);
        assert_eq!(back, [(3, 3), (64, 1), (1_024, 7)].into_iter().collect());
    }

    #[test]
    fn bins_are_exact_below_64_and_within_a_thirty_second_of_an_octave_above() {
        for v in 0..64 {
            assert_eq!(bin(v), v);
        }
        for v in [64u64, 65, 100, 127, 128, 1_000, 2_080, 12_345, 999_999] {
            let b = bin(v);
            assert!(b.abs_diff(v) as f64 / v as f64 <= 1.0 / 64.0, "{v} → {b}");
        }
        assert_eq!(bin(100), 101);
        assert_eq!(bin(129), 130);
    }
}
