//! Counts shared across replicas (`[state] url`), so every replica decides on everyone's
//! traffic:
//!
//! * **monthly tokens** of a deployment priced with a commitment or volume tiers: it is billed
//!   and routed on the month's tokens of every replica;
//! * **provider requests and tokens per minute**, against a provider's configured `limits`:
//!   traffic spills to the next candidate when the account as a whole nears them.
//!
//! Every second, each replica adds what it counted since the last push to one Redis counter
//! per deployment and month, or per provider and minute (a new month's counter starts from this
//! replica's count, which started from the ledger), and takes the totals back. Between pushes a
//! replica sees the others' traffic up to a second late; if Redis is unreachable it keeps
//! counting alone and pushes what it kept later.

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

/// How often counts are pushed and read back.
const EVERY: Duration = Duration::from_secs(1);
/// A month's counter outlives its month.
const MONTH_TTL_SECS: u64 = 40 * 86_400;

/// Push and read back the shared counts every second while the gateway lives.
pub(crate) fn spawn_sync(gw: &GatewayHandle, url: &str) -> Result<(), String> {
    let shared = Shared::new(url)?;
    let weak = std::sync::Arc::downgrade(gw);
    let (month, minute) = (
        redis::Script::new(PUSH_MONTH),
        redis::Script::new(PUSH_MINUTE),
    );
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(EVERY).await;
            let Some(gw) = weak.upgrade() else { break };
            let snap = gw.snapshot();
            drop(gw);
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
    Ok(())
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
