//! Per-key rate limits and budgets: the server's [`Admission`].
//!
//! With `[state] url = "redis://…"` every replica shares the counters through Redis: one Lua
//! script checks and takes a request's place in its key's minute (requests and tokens) and
//! reserves its worst-case cost against the key's day and month budgets (spend plus the
//! unexpired reservations of every replica), atomically; settling releases the reservation
//! and adds what was spent. Without Redis the same logic runs in process. If Redis cannot be
//! reached, `[state] on_unavailable` decides: `open` (the default) falls back to this
//! replica's own counters and says so in the log and `switchyard_state_up`; `closed` refuses
//! with a 503. Money is integer nano-dollars; windows are UTC minutes, days and months.

use std::{collections::HashMap, sync::Arc, time::Duration};

use switchyard_core::admission::{Admission, Admitted, Pending, Refusal, Ticket};
use tokio::sync::OnceCell;

use crate::config::{OnUnavailable, StateSection};

/// How long a reservation holds if its request never settles (a crashed replica).
const RESERVATION_TTL_MS: i64 = 10 * 60 * 1000;
/// Longest wait for Redis on the request path.
pub(crate) const REDIS_TIMEOUT: Duration = Duration::from_millis(250);

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 86_400_000;

/// The windows a request falls in at `now` (unix ms): its minute, day and month, and the
/// seconds until each ends.
struct Windows {
    minute: i64,
    day: String,
    month: String,
    minute_left: u64,
    day_left: u64,
    month_left: u64,
}

impl Windows {
    fn at(now: i64) -> Windows {
        let day = now.div_euclid(DAY_MS);
        let (y, m, d) = switchyard_store::civil(day);
        let (_, next_month) = switchyard_store::month_bounds(day);
        let secs = |ms: i64| u64::try_from(ms.div_euclid(1000) + 1).unwrap_or(1);
        Windows {
            minute: now.div_euclid(MINUTE_MS),
            day: format!("{y:04}{m:02}{d:02}"),
            month: format!("{y:04}{m:02}"),
            minute_left: secs(MINUTE_MS - now.rem_euclid(MINUTE_MS)),
            day_left: secs(DAY_MS - now.rem_euclid(DAY_MS)),
            month_left: secs(next_month * DAY_MS - now),
        }
    }
}

/// Which limit refused, by the code the checks return.
fn refusal(code: i64, t: &Ticket, w: &Windows) -> Refusal {
    let (what, retry_after) = match code {
        1 => (
            format!("{} requests per minute", t.key.rpm.unwrap_or(0)),
            w.minute_left,
        ),
        2 => (
            format!("{} tokens per minute", t.key.tpm.unwrap_or(0)),
            w.minute_left,
        ),
        3 => ("daily budget".to_owned(), w.day_left),
        4 => ("monthly budget".to_owned(), w.month_left),
        5 => (
            format!("team's daily budget ({})", team_name(t)),
            w.day_left,
        ),
        _ => (
            format!("team's monthly budget ({})", team_name(t)),
            w.month_left,
        ),
    };
    Refusal::Limit {
        what: format!(
            "gateway key `{}` is over its {what}; it resets in {retry_after} s",
            t.key.id
        ),
        retry_after,
    }
}

/// In-process counters (no Redis, or Redis unreachable with `on_unavailable = "open"`).
#[derive(Debug, Default)]
struct Local {
    state: std::sync::Mutex<LocalState>,
}

#[derive(Debug, Default)]
struct LocalState {
    /// (key, minute) → (requests, tokens).
    minute: HashMap<(String, i64), (u64, u64)>,
    /// (key, "d:…" or "m:…") → nano-dollars spent.
    spent: HashMap<(String, String), i64>,
    /// key → request → nano-dollars reserved.
    reserved: HashMap<String, HashMap<String, i64>>,
}

impl Local {
    fn reserve(&self, t: &Ticket, now: i64) -> Result<Admitted, Refusal> {
        let w = Windows::at(now);
        let key = &t.key;
        let budgeted = key.daily_nanos.is_some() || key.monthly_nanos.is_some();
        let team = team_limits(t);
        if (budgeted || team.is_some()) && t.worst_nanos.is_none() {
            return Err(unpriced(t));
        }
        let worst = t.worst_nanos.unwrap_or(0);
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if st.minute.len() > 10_000 {
            st.minute.retain(|(_, m), _| *m >= w.minute);
        }
        let (reqs, tokens) = st
            .minute
            .get(&(key.id.clone(), w.minute))
            .copied()
            .unwrap_or_default();
        if key.rpm.is_some_and(|l| reqs + 1 > l) {
            return Err(refusal(1, t, &w));
        }
        if key.tpm.is_some_and(|l| tokens + t.tokens > l) {
            return Err(refusal(2, t, &w));
        }
        if budgeted {
            let reserved: i64 = st.reserved.get(&key.id).map_or(0, |r| r.values().sum());
            let spent = |p: String| st.spent.get(&(key.id.clone(), p)).copied().unwrap_or(0);
            if key
                .daily_nanos
                .is_some_and(|l| spent(format!("d:{}", w.day)) + reserved + worst > l)
            {
                return Err(refusal(3, t, &w));
            }
            if key
                .monthly_nanos
                .is_some_and(|l| spent(format!("m:{}", w.month)) + reserved + worst > l)
            {
                return Err(refusal(4, t, &w));
            }
        }
        if let Some((tid, day, month)) = &team {
            let reserved: i64 = st.reserved.get(tid).map_or(0, |r| r.values().sum());
            let spent = |p: String| st.spent.get(&(tid.clone(), p)).copied().unwrap_or(0);
            if day.is_some_and(|l| spent(format!("d:{}", w.day)) + reserved + worst > l) {
                return Err(refusal(5, t, &w));
            }
            if month.is_some_and(|l| spent(format!("m:{}", w.month)) + reserved + worst > l) {
                return Err(refusal(6, t, &w));
            }
        }
        for holder in [
            budgeted.then(|| key.id.clone()),
            team.as_ref().map(|t| t.0.clone()),
        ]
        .into_iter()
        .flatten()
        {
            st.reserved
                .entry(holder)
                .or_default()
                .insert(t.request_id.clone(), worst);
        }
        let e = st.minute.entry((key.id.clone(), w.minute)).or_default();
        e.0 += 1;
        e.1 += t.tokens;
        Ok(Admitted {
            id: t.request_id.clone(),
            key_id: key.id.clone(),
            reserved_nanos: if budgeted || team.is_some() { worst } else { 0 },
            team: team.map(|t| t.0),
        })
    }

    fn settle(&self, a: &Admitted, spent: i64, now: i64) {
        let w = Windows::at(now);
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        for holder in std::iter::once(&a.key_id).chain(a.team.as_ref()) {
            if let Some(r) = st.reserved.get_mut(holder) {
                r.remove(&a.id);
            }
            for p in [format!("d:{}", w.day), format!("m:{}", w.month)] {
                *st.spent.entry((holder.clone(), p)).or_default() += spent;
            }
        }
    }
}

fn team_name(t: &Ticket) -> &str {
    t.key.team.as_ref().map_or("", |team| team.name.as_str())
}

/// The team's budgets, when it has any: (its counters' id, day limit, month limit).
fn team_limits(t: &Ticket) -> Option<(String, Option<i64>, Option<i64>)> {
    let team = t.key.team.as_ref()?;
    let holder = switchyard_core::admission::team_holder(&t.key)?;
    Some((holder, team.daily_nanos, team.monthly_nanos))
}

fn unpriced(t: &Ticket) -> Refusal {
    Refusal::Unpriced(format!(
        "gateway key `{}` has a budget, and a candidate for this request has no known price",
        t.key.id
    ))
}

/// The Lua script that admits a request: every check, then every count, atomically.
const RESERVE: &str = r"
local rpm, tpm, tokens = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local dayl, monl, worst = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local now, ttl = tonumber(ARGV[7]), tonumber(ARGV[9])
local tdl, tml = tonumber(ARGV[10]), tonumber(ARGV[11])
local function reserved(h)
  local sum = 0
  local r = redis.call('HGETALL', h)
  for i = 1, #r, 2 do
    local amt, exp = string.match(r[i + 1], '(%d+):(%d+)')
    if tonumber(exp) < now then redis.call('HDEL', h, r[i]) else sum = sum + tonumber(amt) end
  end
  return sum
end
local function spent(k) return tonumber(redis.call('GET', k) or '0') end
if rpm > 0 and spent(KEYS[1]) + 1 > rpm then return 1 end
if tpm > 0 and spent(KEYS[2]) + tokens > tpm then return 2 end
if dayl > 0 or monl > 0 then
  local rs = reserved(KEYS[5])
  if dayl > 0 and spent(KEYS[3]) + rs + worst > dayl then return 3 end
  if monl > 0 and spent(KEYS[4]) + rs + worst > monl then return 4 end
end
if tdl > 0 or tml > 0 then
  local rs = reserved(KEYS[8])
  if tdl > 0 and spent(KEYS[6]) + rs + worst > tdl then return 5 end
  if tml > 0 and spent(KEYS[7]) + rs + worst > tml then return 6 end
end
local held = string.format('%d:%d', worst, now + ttl)
if dayl > 0 or monl > 0 then redis.call('HSET', KEYS[5], ARGV[8], held); redis.call('PEXPIRE', KEYS[5], ttl * 2) end
if tdl > 0 or tml > 0 then redis.call('HSET', KEYS[8], ARGV[8], held); redis.call('PEXPIRE', KEYS[8], ttl * 2) end
if rpm > 0 then redis.call('INCR', KEYS[1]); redis.call('PEXPIRE', KEYS[1], 120000) end
if tpm > 0 then redis.call('INCRBY', KEYS[2], tokens); redis.call('PEXPIRE', KEYS[2], 120000) end
return 0
";

/// The Lua script that settles: release the reservation, count the spend.
const SETTLE: &str = r"
local spent = tonumber(ARGV[2])
for h = 0, tonumber(ARGV[3]) - 1 do
  redis.call('HDEL', KEYS[h * 3 + 3], ARGV[1])
  if spent > 0 then
    redis.call('INCRBY', KEYS[h * 3 + 1], spent); redis.call('EXPIRE', KEYS[h * 3 + 1], 259200)
    redis.call('INCRBY', KEYS[h * 3 + 2], spent); redis.call('EXPIRE', KEYS[h * 3 + 2], 3456000)
  end
end
return 0
";

/// The scripts, hashed once (Redis runs them by hash, loading them on first use).
static RESERVE_SCRIPT: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(RESERVE));
static SETTLE_SCRIPT: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(SETTLE));

/// The gateway's limiter.
#[derive(Debug, Clone)]
pub struct Limiter {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    local: Local,
    redis: Option<Shared>,
    policy: OnUnavailable,
}

/// A Redis connection shared by this replica's users of `[state]` (connected on first use).
pub(crate) struct Shared {
    client: redis::Client,
    conn: OnceCell<redis::aio::ConnectionManager>,
    /// Last reported reachability, so a change is logged once.
    up: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

impl Shared {
    /// The connection to `url` (not yet made).
    pub(crate) fn new(url: &str) -> Result<Shared, String> {
        Ok(Shared {
            client: redis::Client::open(url).map_err(|e| format!("state.url: {e}"))?,
            conn: OnceCell::new(),
            up: std::sync::atomic::AtomicBool::new(true),
        })
    }

    pub(crate) async fn conn(&self) -> Result<redis::aio::ConnectionManager, String> {
        let c = self
            .conn
            .get_or_try_init(|| async {
                tokio::time::timeout(
                    REDIS_TIMEOUT * 4,
                    redis::aio::ConnectionManager::new(self.client.clone()),
                )
                .await
                .map_err(|_| "timed out connecting".to_owned())?
                .map_err(|e| e.to_string())
            })
            .await?;
        Ok(c.clone())
    }

    /// Whether the last call reached Redis.
    pub(crate) fn is_up(&self) -> bool {
        self.up.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) fn mark(&self, up: bool, why: &str) {
        metrics::gauge!("switchyard_state_up").set(if up { 1.0 } else { 0.0 });
        if self.up.swap(up, std::sync::atomic::Ordering::Relaxed) != up {
            if up {
                tracing::info!("shared state (Redis) is reachable again");
            } else {
                tracing::warn!(error = %why, "shared state (Redis) is unreachable");
            }
        }
    }
}

fn keys(t_key: &str, w: &Windows) -> [String; 5] {
    [
        format!("sy:rpm:{t_key}:{}", w.minute),
        format!("sy:tpm:{t_key}:{}", w.minute),
        format!("sy:spend:{t_key}:d:{}", w.day),
        format!("sy:spend:{t_key}:m:{}", w.month),
        format!("sy:resv:{t_key}"),
    ]
}

impl Limiter {
    /// The limiter `[state]` asks for (Redis is connected on first use).
    pub fn new(state: &StateSection) -> Result<Limiter, String> {
        let redis = state.url.as_deref().map(Shared::new).transpose()?;
        Ok(Limiter {
            inner: Arc::new(Inner {
                local: Local::default(),
                redis,
                policy: state.on_unavailable,
            }),
        })
    }

    /// Start this replica's own counters from the ledger's spend of the current day and month
    /// (so a restart without Redis does not reset a budget).
    pub async fn seed(&self, reader: &switchyard_store::LedgerReader) -> Result<(), String> {
        let now = switchyard_store::now_ms();
        let w = Windows::at(now);
        let day_start = now.div_euclid(DAY_MS) * DAY_MS;
        let (month_start, _) = switchyard_store::month_bounds(now.div_euclid(DAY_MS));
        let day = reader
            .key_spend(day_start)
            .await
            .map_err(|e| e.to_string())?;
        let month = reader
            .key_spend(month_start * DAY_MS)
            .await
            .map_err(|e| e.to_string())?;
        let mut st = self
            .inner
            .local
            .state
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for (k, n) in day {
            st.spent.insert((k, format!("d:{}", w.day)), n);
        }
        for (k, n) in month {
            st.spent.insert((k, format!("m:{}", w.month)), n);
        }
        Ok(())
    }

    async fn reserve_shared(shared: &Shared, t: &Ticket, now: i64) -> Result<i64, String> {
        let w = Windows::at(now);
        let mut conn = shared.conn().await?;
        let [k1, k2, k3, k4, k5] = keys(&t.key.id, &w);
        let team = team_limits(t);
        let tid = team
            .as_ref()
            .map_or_else(|| "team:-".to_owned(), |t| t.0.clone());
        let [_, _, k6, k7, k8] = keys(&tid, &w);
        // The worst case is reserved when the key or its team has a budget.
        let budgeted =
            t.key.daily_nanos.is_some() || t.key.monthly_nanos.is_some() || team.is_some();
        let script = &*RESERVE_SCRIPT;
        let mut call = script.key(k1);
        call.key(k2)
            .key(k3)
            .key(k4)
            .key(k5)
            .key(k6)
            .key(k7)
            .key(k8)
            .arg(t.key.rpm.unwrap_or(0))
            .arg(t.key.tpm.unwrap_or(0))
            .arg(t.tokens)
            .arg(t.key.daily_nanos.unwrap_or(0))
            .arg(t.key.monthly_nanos.unwrap_or(0))
            .arg(if budgeted {
                t.worst_nanos.unwrap_or(0)
            } else {
                0
            })
            .arg(now)
            .arg(&t.request_id)
            .arg(RESERVATION_TTL_MS)
            .arg(team.as_ref().and_then(|t| t.1).unwrap_or(0))
            .arg(team.as_ref().and_then(|t| t.2).unwrap_or(0));
        tokio::time::timeout(REDIS_TIMEOUT, call.invoke_async::<i64>(&mut conn))
            .await
            .map_err(|_| "timed out".to_owned())?
            .map_err(|e| e.to_string())
    }
}

impl Admission for Limiter {
    fn reserve(&self, t: Ticket) -> Pending<Result<Admitted, Refusal>> {
        let me = self.inner.clone();
        Box::pin(async move {
            let now = switchyard_store::now_ms();
            let Some(shared) = &me.redis else {
                return me.local.reserve(&t, now);
            };
            let team = team_limits(&t).map(|t| t.0);
            let budgeted =
                t.key.daily_nanos.is_some() || t.key.monthly_nanos.is_some() || team.is_some();
            if budgeted && t.worst_nanos.is_none() {
                return Err(unpriced(&t));
            }
            match Limiter::reserve_shared(shared, &t, now).await {
                Ok(code) => {
                    shared.mark(true, "");
                    if code != 0 {
                        return Err(refusal(code, &t, &Windows::at(now)));
                    }
                    Ok(Admitted {
                        id: t.request_id.clone(),
                        key_id: t.key.id.clone(),
                        reserved_nanos: if budgeted {
                            t.worst_nanos.unwrap_or(0)
                        } else {
                            0
                        },
                        team,
                    })
                }
                Err(e) => {
                    shared.mark(false, &e);
                    match me.policy {
                        OnUnavailable::Open => me.local.reserve(&t, now),
                        OnUnavailable::Closed => Err(Refusal::Unavailable(
                            "the gateway's shared state is unreachable; try again shortly".into(),
                        )),
                    }
                }
            }
        })
    }

    fn settle(&self, a: Admitted, spent: i64) {
        let me = self.inner.clone();
        let now = switchyard_store::now_ms();
        let Some(_) = &me.redis else {
            me.local.settle(&a, spent, now);
            return;
        };
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        rt.spawn(async move {
            let Some(shared) = &me.redis else { return };
            let w = Windows::at(now);
            let settled = async {
                let mut conn = shared.conn().await?;
                let script = &*SETTLE_SCRIPT;
                let mut call = script.prepare_invoke();
                let holders: Vec<&String> =
                    std::iter::once(&a.key_id).chain(a.team.as_ref()).collect();
                for h in &holders {
                    let [_, _, day, month, resv] = keys(h, &w);
                    call.key(day).key(month).key(resv);
                }
                call.arg(&a.id).arg(spent).arg(holders.len());
                tokio::time::timeout(REDIS_TIMEOUT * 4, call.invoke_async::<i64>(&mut conn))
                    .await
                    .map_err(|_| "timed out".to_owned())?
                    .map_err(|e| e.to_string())
            }
            .await;
            if let Err(e) = settled {
                shared.mark(false, &e);
                // Counted here at least; the shared reservation expires on its own.
                me.local.settle(&a, spent, now);
                metrics::counter!("switchyard_state_settle_failures_total").increment(1);
            }
        });
    }
}
