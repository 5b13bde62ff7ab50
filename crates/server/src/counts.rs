//! Counts shared across replicas (`[state] url`), so every replica decides on everyone's
//! traffic:
//!
//! * **monthly tokens** of a deployment priced with a commitment or volume tiers: it is billed
//!   and routed on the month's tokens of every replica;
//! * **provider requests and tokens per minute**, against a provider's configured `limits`:
//!   traffic spills to the next candidate when the account as a whole nears them.
//!
//! * **circuits and quota pauses**: a circuit one replica opens (or a provider key it finds out
//!   of quota) is out on every replica within a second, until the same deadline;
//! * **quality observations** (evaluator verdicts, client feedback): every replica routes on
//!   everyone's.
//!
//! Every second, each replica adds what it counted since the last push to one Redis counter
//! per deployment and month, or per provider and minute (a new month's counter starts from this
//! replica's count, which started from the ledger), and takes the totals back. Between pushes a
//! replica sees the others' traffic up to a second late; if Redis is unreachable it keeps
//! counting alone and pushes what it kept later. The quality book works the same way: one
//! Redis hash of sums and one of counts by (model, task), created from the first replica's
//! book (which started from the ledger).

use std::{collections::HashSet, time::Duration};

use crate::limits::{Shared, REDIS_TIMEOUT};
use crate::live::GatewayHandle;

/// Create a month's counter from a replica's count if it is new, then add what it pushes.
const PUSH_MONTH: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
end
return redis.call('INCRBY', KEYS[1], ARGV[2])
";

/// Add a replica's requests and tokens of the minute; the minute's totals.
const PUSH_MINUTE: &str = r"
local r = redis.call('INCRBY', KEYS[1], ARGV[1])
local t = redis.call('INCRBY', KEYS[2], ARGV[2])
redis.call('EXPIRE', KEYS[1], 120)
redis.call('EXPIRE', KEYS[2], 120)
return {r, t}
";

/// Share the circuits and quota pauses this replica opened (milliseconds left, 0: none; a
/// deadline only moves later) and read every replica's (milliseconds left, negative: none).
const OUTAGES: &str = r"
local out = {}
for i, k in ipairs(KEYS) do
  local ms = tonumber(ARGV[i])
  if ms > 0 and redis.call('PTTL', k) < ms then
    redis.call('SET', k, '1', 'PX', ms)
  end
  out[i] = redis.call('PTTL', k)
end
return out
";

/// Add a replica's quality observations to the shared book (KEYS: sums, counts); `ARGV[1]`
/// is how many (field, sum, n) triples of seed follow, then the triples observed since the
/// last push. A missing book is created from the seed (the replica's whole book, which holds
/// what it observed since), or asked for one (nil). Task labels come from clients: past
/// `MAX_SHARED_ENTRIES` fields a new (model, task) field is not added (a model's all-task
/// field always is). Returns the totals.
const PUSH_QUALITY: &str = r"
local seed = tonumber(ARGV[1])
local from, to = 2, #ARGV
if redis.call('EXISTS', KEYS[2]) == 0 then
  if seed == 0 then return false end
  to = 1 + seed * 3
else
  from = 2 + seed * 3
end
for i = from, to, 3 do
  local f = ARGV[i]
  if string.sub(f, -2) == '*' or redis.call('HEXISTS', KEYS[2], f) == 1
     or redis.call('HLEN', KEYS[2]) < MAX then
    redis.call('HINCRBYFLOAT', KEYS[1], f, ARGV[i + 1])
    redis.call('HINCRBYFLOAT', KEYS[2], f, ARGV[i + 2])
  end
end
return {redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2])}
";

/// The most fields of the shared quality book (each read back every second).
const MAX_SHARED_ENTRIES: usize = 16_384;

/// Separates model and task in a shared quality book's field (models are config names).
const FIELD_SEP: char = '\u{1f}';

/// How often counts are pushed and read back.
const EVERY: Duration = Duration::from_secs(1);
/// A month's counter outlives its month.
const MONTH_TTL_SECS: u64 = 40 * 86_400;

/// Push and read back the shared counts every second while the gateway lives.
pub(crate) fn spawn_sync(gw: &GatewayHandle, shared: std::sync::Arc<Shared>) {
    let weak = std::sync::Arc::downgrade(gw);
    let (month, minute) = (
        redis::Script::new(PUSH_MONTH),
        redis::Script::new(PUSH_MINUTE),
    );
    let (outages, quality) = (
        redis::Script::new(OUTAGES),
        redis::Script::new(&PUSH_QUALITY.replace("MAX", &MAX_SHARED_ENTRIES.to_string())),
    );
    tokio::spawn(async move {
        let mut seed_quality = true;
        loop {
            tokio::time::sleep(EVERY).await;
            let Some(gw) = weak.upgrade() else { break };
            let snap = gw.snapshot();
            drop(gw);
            sync_outages(&shared, &outages, &snap).await;
            if snap.quality.is_ready() {
                seed_quality = sync_quality(&shared, &quality, &snap.quality, seed_quality).await;
            }
            let now = switchyard_store::now_ms().max(0) as u64 / 1000;
            for d in snap.deployments.iter().filter(|d| {
                d.price
                    .as_ref()
                    .is_some_and(|p| p.commitment.is_some() || !p.volume_tiers.is_empty())
            }) {
                let (m, base, pending) = d.stats.monthly.take_pending(now);
                let key = format!("sy:month:{}:{m}", d.name);
                let mut call = month.key(key);
                call.arg(base).arg(pending).arg(MONTH_TTL_SECS);
                match run::<u64>(&shared, &call).await {
                    Ok(total) => d.stats.monthly.set_total(m, total),
                    Err(()) => d.stats.monthly.restore_pending(m, pending),
                }
            }
            let mut seen = HashSet::new();
            for d in snap.deployments.iter().filter(|d| {
                (d.limits.rpm.is_some() || d.limits.tpm.is_some())
                    && seen.insert(d.provider_name.as_str())
            }) {
                let (m, requests, tokens) = d.usage.take_pending();
                let mut call = minute.key(format!("sy:prov:{}:{m}:r", d.provider_name));
                call.key(format!("sy:prov:{}:{m}:t", d.provider_name))
                    .arg(requests)
                    .arg(tokens);
                match run::<(u64, u64)>(&shared, &call).await {
                    Ok((r, t)) => d.usage.set_totals(m, r, t),
                    Err(()) => d.usage.restore_pending(m, requests, tokens),
                }
            }
        }
    });
}

/// Push the circuits and quota pauses this replica opened; take in everyone's.
async fn sync_outages(shared: &Shared, script: &redis::Script, snap: &switchyard_core::Snapshot) {
    if snap.deployments.is_empty() {
        return;
    }
    let mut call = script.prepare_invoke();
    let own: Vec<(u64, u64)> = snap
        .deployments
        .iter()
        .map(|d| d.stats.health.own_outage_ms())
        .collect();
    for d in &snap.deployments {
        call.key(format!("sy:circuit:{}", d.name));
    }
    for d in &snap.deployments {
        call.key(format!("sy:quota:{}", d.name));
    }
    for &(circuit, _) in &own {
        call.arg(circuit);
    }
    for &(_, quota) in &own {
        call.arg(quota);
    }
    let Ok(left) = run::<Vec<i64>>(shared, &call).await else {
        return;
    };
    let n = snap.deployments.len();
    if left.len() != 2 * n {
        return;
    }
    for (i, d) in snap.deployments.iter().enumerate() {
        let ms = |v: i64| u64::try_from(v).unwrap_or(0);
        d.stats.health.from_peers(ms(left[i]), ms(left[n + i]));
    }
}

/// Push this replica's quality observations and take the shared totals (the book is created
/// from this replica's when missing). Returns whether the next push must carry a seed.
async fn sync_quality(
    shared: &Shared,
    script: &redis::Script,
    book: &switchyard_core::quality::QualityBook,
    seed: bool,
) -> bool {
    use std::collections::HashMap;
    let pending = book.take_pending();
    let field = |t: &str, m: &str| format!("{m}{FIELD_SEP}{t}");
    let mut call = script.key("sy:quality:sum");
    call.key("sy:quality:n");
    let seed_entries = if seed { book.entries() } else { Vec::new() };
    call.arg(seed_entries.len());
    for (t, m, o) in seed_entries.iter().chain(&pending) {
        call.arg(field(t, m)).arg(o.sum).arg(o.n);
    }
    type Totals = Option<(HashMap<String, f64>, HashMap<String, f64>)>;
    match run::<Totals>(shared, &call).await {
        Ok(Some((sums, counts))) => {
            let totals = counts
                .into_iter()
                .filter_map(|(f, n)| {
                    let (m, t) = f.split_once(FIELD_SEP)?;
                    let sum = sums.get(&f).copied().unwrap_or(0.0);
                    Some((
                        t.to_owned(),
                        m.to_owned(),
                        switchyard_core::quality::Observed { sum, n },
                    ))
                })
                .collect();
            book.set_totals(totals);
            false
        }
        Ok(None) => {
            book.restore_pending(pending);
            true
        }
        Err(()) => {
            book.restore_pending(pending);
            seed
        }
    }
}

/// Run a script invocation, bounded in time; reachability is reported once per change.
async fn run<T: redis::FromRedisValue>(
    shared: &Shared,
    call: &redis::ScriptInvocation<'_>,
) -> Result<T, ()> {
    let r = tokio::time::timeout(REDIS_TIMEOUT * 4, async {
        let mut c = shared.conn().await?;
        call.invoke_async::<T>(&mut c)
            .await
            .map_err(|e| e.to_string())
    })
    .await
    .unwrap_or_else(|_| Err("timed out".to_owned()));
    match r {
        Ok(v) => {
            shared.mark(true, "");
            Ok(v)
        }
        Err(e) => {
            shared.mark(false, &e);
            Err(())
        }
    }
}
