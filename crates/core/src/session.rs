//! Conversation affinity: a request with a session id (`x-switchyard-session` or
//! `metadata.session`) goes back to the deployment that answered its session last, on the same
//! route, for `[routing] session_ttl` — so prompt caches and provider-bound state are reused —
//! unless that deployment is no longer eligible (a failure opens its circuit, a rule or
//! constraint excludes it) or moving is cheaper even after losing the cache.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Most pins kept (session ids are client-supplied); past it, expired ones are dropped first
/// and a new session is not pinned until there is room.
pub const MAX_PINS: usize = 100_000;

/// Session → deployment pins, shared across snapshots.
#[derive(Debug, Default)]
pub struct Pins(Mutex<HashMap<(String, String), (String, Instant)>>);

impl Pins {
    /// The deployment `session` is pinned to on `route`, if the pin is live.
    pub fn get(&self, route: &str, session: &str) -> Option<String> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&(route.to_owned(), session.to_owned()))
            .filter(|(_, until)| *until > Instant::now())
            .map(|(d, _)| d.clone())
    }

    /// Pin `session` on `route` to `deployment` for `ttl`.
    pub fn set(&self, route: &str, session: &str, deployment: &str, ttl: Duration) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let key = (route.to_owned(), session.to_owned());
        if !map.contains_key(&key) && map.len() >= MAX_PINS {
            let now = Instant::now();
            map.retain(|_, (_, until)| *until > now);
            if map.len() >= MAX_PINS {
                return;
            }
        }
        map.insert(key, (deployment.to_owned(), Instant::now() + ttl));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn pins_expire() {
        let p = Pins::default();
        p.set("r", "s", "d", Duration::from_secs(60));
        assert_eq!(p.get("r", "s").as_deref(), Some("d"));
        assert_eq!(p.get("other", "s"), None);
        tokio::time::advance(Duration::from_secs(61)).await;
        assert_eq!(p.get("r", "s"), None);
    }
}
