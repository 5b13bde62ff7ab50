//! The response cache in Redis, shared by every replica (`[state] url`): one key per answer
//! (`sy:cache:<sha256>`, JSON, expiring with the route's TTL). A slow or unreachable Redis is a
//! miss, never a failed request; a lost write only costs a later miss.

use std::{sync::Arc, time::Duration};

use switchyard_core::admission::Pending;
use switchyard_core::cache::{AnswerCache, Entry, Key};

use crate::limits::{Shared, REDIS_TIMEOUT};

/// [`AnswerCache`] on Redis.
#[derive(Clone)]
pub struct RedisCache {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for RedisCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCache").finish_non_exhaustive()
    }
}

impl RedisCache {
    /// The cache at `url` (connected on first use).
    pub fn new(url: &str) -> Result<RedisCache, String> {
        Ok(RedisCache {
            shared: Arc::new(Shared::new(url)?),
        })
    }
}

fn name(key: &Key) -> String {
    format!("sy:cache:{}", hex::encode(key))
}

impl AnswerCache for RedisCache {
    fn get(&self, key: Key) -> Pending<Option<Entry>> {
        let shared = self.shared.clone();
        Box::pin(async move {
            let got = tokio::time::timeout(REDIS_TIMEOUT, async {
                let mut c = shared.conn().await?;
                redis::cmd("GET")
                    .arg(name(&key))
                    .query_async::<Option<Vec<u8>>>(&mut c)
                    .await
                    .map_err(|e| e.to_string())
            })
            .await
            .unwrap_or_else(|_| Err("timed out".to_owned()));
            match got {
                Ok(v) => {
                    shared.mark(true, "");
                    v.and_then(|b| serde_json::from_slice(&b).ok())
                }
                Err(e) => {
                    shared.mark(false, &e);
                    None
                }
            }
        })
    }

    fn put(&self, key: Key, entry: Entry, ttl: Duration) {
        let Some(body) = entry.encode() else {
            return;
        };
        let shared = self.shared.clone();
        tokio::spawn(async move {
            let r = tokio::time::timeout(REDIS_TIMEOUT * 4, async {
                let mut c = shared.conn().await?;
                redis::cmd("SET")
                    .arg(name(&key))
                    .arg(body)
                    .arg("PX")
                    .arg(ttl.as_millis().max(1) as u64)
                    .query_async::<()>(&mut c)
                    .await
                    .map_err(|e| e.to_string())
            })
            .await
            .unwrap_or_else(|_| Err("timed out".to_owned()));
            if let Err(e) = r {
                shared.mark(false, &e);
            }
        });
    }
}
