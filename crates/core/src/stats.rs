//! Live per-deployment statistics read by the strategies: requests in flight, time to first
//! token and output length (EWMAs). They outlive config reloads: a deployment keeps its
//! statistics as long as its name stays.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU32, AtomicU64, Ordering::Relaxed},
        Arc, Mutex,
    },
    time::Duration,
};

/// Statistics of one deployment. All updates are lock-free.
#[derive(Debug, Default)]
pub struct DeploymentStats {
    /// Circuit breaker, retry budget, quota and rate-limit headroom.
    pub health: crate::health::Health,
    /// Tokens used this month (volume price tiers).
    pub monthly: crate::health::MonthlyTokens,
    inflight: AtomicU32,
    /// EWMA of time to first token in µs; 0 = no observation yet.
    ttft_us: AtomicU64,
    /// EWMA of output tokens; 0 = no observation yet.
    output_tokens: AtomicU64,
    /// Recent times to first token, for percentiles.
    ttft_hist: TtftHistogram,
    /// Output-length EWMAs per task.
    task_output: TaskOutputs,
    /// Prompt-cache hit rate by prefix class ([`prefix_class`]): EWMA of the share of a
    /// cacheable prefix read from the provider's cache, × 10,000, plus 1; 0 = not observed.
    cache_hits: [AtomicU64; 4],
    /// Recently seen cacheable prefixes (hash, unix seconds), for automatic cache breakpoints.
    prefixes: [(AtomicU64, AtomicU64); 32],
}

/// The class of a cacheable prefix: 1–2k, 2–4k, 4–8k, 8k+ tokens; `None` under 1,024 (no
/// provider caches less).
pub fn prefix_class(prefix_tokens: u64) -> Option<usize> {
    (prefix_tokens >= 1024).then(|| ((prefix_tokens / 1024).ilog2() as usize).min(3))
}

/// A decaying histogram of times to first token: 32 buckets growing by 1.5× from 1 ms;
/// every 512 observations all counts are halved, so it follows recent behaviour.
#[derive(Debug, Default)]
struct TtftHistogram {
    buckets: [AtomicU32; 32],
    seen: AtomicU32,
}

impl TtftHistogram {
    fn bound_us(i: usize) -> u64 {
        (1000.0 * 1.5f64.powi(i as i32)) as u64
    }

    fn record(&self, us: u64) {
        let i = (0..32).find(|&i| us <= Self::bound_us(i)).unwrap_or(31);
        self.buckets[i].fetch_add(1, Relaxed);
        if self.seen.fetch_add(1, Relaxed) % 512 == 511 {
            for b in &self.buckets {
                b.store(b.load(Relaxed) / 2, Relaxed);
            }
        }
    }

    fn quantile(&self, q: f64) -> Option<Duration> {
        let counts: Vec<u32> = self.buckets.iter().map(|b| b.load(Relaxed)).collect();
        let total: u64 = counts.iter().map(|&c| u64::from(c)).sum();
        if total < 20 {
            return None;
        }
        let target = (total as f64 * q).ceil() as u64;
        let mut acc = 0u64;
        for (i, &c) in counts.iter().enumerate() {
            acc += u64::from(c);
            if acc >= target {
                return Some(Duration::from_micros(Self::bound_us(i)));
            }
        }
        None
    }
}

/// Weight of a new observation in the EWMAs, as 1/N.
const EWMA_N: u64 = 8;

impl DeploymentStats {
    /// Requests in flight now.
    pub fn inflight(&self) -> u32 {
        self.inflight.load(Relaxed)
    }

    /// Count a request in flight until the guard drops.
    pub fn begin(self: &Arc<Self>) -> InflightGuard {
        self.inflight.fetch_add(1, Relaxed);
        InflightGuard(self.clone())
    }

    /// Smoothed time to first token, if observed.
    pub fn ttft(&self) -> Option<Duration> {
        match self.ttft_us.load(Relaxed) {
            0 => None,
            us => Some(Duration::from_micros(us)),
        }
    }

    /// Record a time to first token.
    pub fn observe_ttft(&self, d: Duration) {
        let us = (d.as_micros() as u64).max(1);
        ewma(&self.ttft_us, us);
        self.ttft_hist.record(us);
    }

    /// The 95th percentile of recent times to first token (an upper bucket bound), once
    /// there are enough observations.
    pub fn ttft_p95(&self) -> Option<Duration> {
        self.ttft_hist.quantile(0.95)
    }

    /// Smoothed output length for a task (else for all the deployment's answers), if observed.
    pub fn expected_output(&self, task: Option<&str>) -> Option<u64> {
        if let Some(n) = task.and_then(|t| self.task_output.get(t)) {
            return Some(n);
        }
        match self.output_tokens.load(Relaxed) {
            0 => None,
            n => Some(n),
        }
    }

    /// The share of a cacheable prefix of `prefix_tokens` this deployment's provider has been
    /// serving from its cache (cache-read tokens in its usage), if observed for that class.
    pub fn cache_hit_rate(&self, prefix_tokens: u64) -> Option<f64> {
        let c = prefix_class(prefix_tokens)?;
        match self.cache_hits[c].load(Relaxed) {
            0 => None,
            v => Some((v - 1) as f64 / 10_000.0),
        }
    }

    /// Record how much of a request's cacheable prefix its answer read from the cache.
    pub fn observe_cache(&self, prefix_tokens: u64, cache_read: u64) {
        if let Some(c) = prefix_class(prefix_tokens) {
            let share = (cache_read.min(prefix_tokens) * 10_000) / prefix_tokens;
            ewma(&self.cache_hits[c], share + 1);
        }
    }

    /// Whether a prefix (by hash) was sent to this deployment within `window` before `now`
    /// (unix seconds); records it as seen now. A small direct-mapped table: a colliding
    /// prefix evicts another, which then counts as unseen (no breakpoint: the safe side).
    pub fn seen_prefix(&self, hash: u64, now: u64, window: u64) -> bool {
        let (h, t) = &self.prefixes[(hash % 32) as usize];
        let seen = h.load(Relaxed) == hash && now.saturating_sub(t.load(Relaxed)) <= window;
        h.store(hash, Relaxed);
        t.store(now, Relaxed);
        seen
    }

    /// Record an answer's output length, for its task too.
    pub fn observe_output(&self, tokens: u64, task: Option<&str>) {
        ewma(&self.output_tokens, tokens.max(1));
        if let Some(t) = task {
            self.task_output.observe(t, tokens.max(1));
        }
    }
}

/// Output-length EWMAs per task: a small direct-mapped table of atomics (a task hashes to one
/// of 16 slots; a different task taking the slot starts it afresh). No lock, no allocation.
#[derive(Debug, Default)]
struct TaskOutputs {
    slots: [(AtomicU64, AtomicU64); 16],
}

impl TaskOutputs {
    fn key(task: &str) -> u64 {
        // FNV-1a; 0 marks an empty slot.
        let h = task.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        h.max(1)
    }

    fn get(&self, task: &str) -> Option<u64> {
        let k = Self::key(task);
        let (tag, value) = &self.slots[(k % 16) as usize];
        (tag.load(Relaxed) == k)
            .then(|| value.load(Relaxed))
            .filter(|&v| v > 0)
    }

    fn observe(&self, task: &str, tokens: u64) {
        let k = Self::key(task);
        let (tag, value) = &self.slots[(k % 16) as usize];
        if tag.swap(k, Relaxed) != k {
            value.store(0, Relaxed);
        }
        ewma(value, tokens);
    }
}

fn ewma(cell: &AtomicU64, sample: u64) {
    // A racy read-modify-write is fine: a lost update only delays the average slightly.
    let old = cell.load(Relaxed);
    let new = if old == 0 {
        sample
    } else {
        (old * (EWMA_N - 1) + sample) / EWMA_N
    };
    cell.store(new.max(1), Relaxed);
}

/// Decrements the in-flight count on drop.
#[derive(Debug)]
pub struct InflightGuard(Arc<DeploymentStats>);

impl Drop for InflightGuard {
    fn drop(&mut self) {
        self.0.inflight.fetch_sub(1, Relaxed);
    }
}

/// Statistics by deployment name, usage by provider name, and the quality observations,
/// shared by every snapshot.
#[derive(Debug, Default)]
pub struct StatsRegistry(
    Mutex<HashMap<String, Arc<DeploymentStats>>>,
    Mutex<HashMap<String, Arc<crate::health::ProviderUsage>>>,
    Arc<crate::quality::QualityBook>,
    Arc<crate::session::Pins>,
);

impl StatsRegistry {
    /// The quality observations.
    pub fn quality(&self) -> &Arc<crate::quality::QualityBook> {
        &self.2
    }

    /// The session pins.
    pub fn pins(&self) -> &Arc<crate::session::Pins> {
        &self.3
    }

    /// The usage counters of a provider account, created on first use.
    pub fn provider(&self, name: &str) -> Arc<crate::health::ProviderUsage> {
        let mut map = self.1.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(name.to_owned()).or_default().clone()
    }

    /// The statistics of a deployment, created on first use. Only called when a snapshot is built.
    pub fn get(&self, name: &str) -> Arc<DeploymentStats> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(name.to_owned()).or_default().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_output_is_learned_per_task() {
        let s = DeploymentStats::default();
        assert_eq!(s.expected_output(Some("classification")), None);
        for _ in 0..20 {
            s.observe_output(5, Some("classification"));
            s.observe_output(800, Some("reasoning"));
        }
        let short = s.expected_output(Some("classification")).unwrap();
        let long = s.expected_output(Some("reasoning")).unwrap();
        assert!(short < 20 && long > 600, "{short} {long}");
        let all = s.expected_output(None).unwrap();
        assert!(all > short && all < long);
        assert_eq!(
            s.expected_output(Some("never-seen")),
            Some(all),
            "falls back to the deployment's average"
        );
    }
}
