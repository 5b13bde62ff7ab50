//! Monthly token counts shared across replicas (`[state] url`): a deployment priced with a
//! commitment or volume tiers is billed and routed on the month's tokens of every replica, not
//! just this one's. Every second, each replica adds what it counted since the last push to one
//! Redis counter per deployment and month (created from this replica's count, which started
//! from the ledger), and takes the total back. Between pushes a replica sees the others'
//! tokens up to a second late; if Redis is unreachable it keeps counting alone and pushes
//! later.

use std::time::Duration;

use crate::limits::{Shared, REDIS_TIMEOUT};
use crate::live::GatewayHandle;

/// Create the month's counter from a replica's count if it is new, then add what it pushes.
const PUSH: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
end
return redis.call('INCRBY', KEYS[1], ARGV[2])
";

/// How often counts are pushed and read back.
const EVERY: Duration = Duration::from_secs(1);
/// A month's counter outlives its month.
const TTL_SECS: u64 = 40 * 86_400;

/// Push and read back the shared counts every second while the gateway lives.
pub(crate) fn spawn_sync(gw: &GatewayHandle, url: &str) -> Result<(), String> {
    let shared = Shared::new(url)?;
    let weak = std::sync::Arc::downgrade(gw);
    let script = redis::Script::new(PUSH);
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
                let (month, base, pending) = d.stats.monthly.take_pending(now);
                let key = format!("sy:month:{}:{month}", d.name);
                let pushed = tokio::time::timeout(REDIS_TIMEOUT * 4, async {
                    let mut c = shared.conn().await?;
                    script
                        .key(key)
                        .arg(base)
                        .arg(pending)
                        .arg(TTL_SECS)
                        .invoke_async::<u64>(&mut c)
                        .await
                        .map_err(|e| e.to_string())
                })
                .await
                .unwrap_or_else(|_| Err("timed out".to_owned()));
                match pushed {
                    Ok(total) => {
                        shared.mark(true, "");
                        d.stats.monthly.set_total(month, total);
                    }
                    Err(e) => {
                        shared.mark(false, &e);
                        d.stats.monthly.restore_pending(month, pending);
                    }
                }
            }
        }
    });
    Ok(())
}
