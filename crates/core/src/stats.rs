//! Live per-deployment statistics read by the strategies: requests in flight, time to first
//! token and output length (EWMAs). They outlive config reloads: a deployment keeps its
//! statistics as long as its name stays.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU32, AtomicU64, Ordering::Relaxed},
    },
    time::Duration,
};

/// Statistics of one deployment. All updates are lock-free.
#[derive(Debug, Default)]
pub struct DeploymentStats {
    /// Circuit breaker, retry budget, quota and rate-limit headroom.
    pub health: crate::health::Health,
    inflight: AtomicU32,
    /// EWMA of time to first token in µs; 0 = no observation yet.
    ttft_us: AtomicU64,
    /// EWMA of output tokens; 0 = no observation yet.
    output_tokens: AtomicU64,
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
        ewma(&self.ttft_us, (d.as_micros() as u64).max(1));
    }

    /// Smoothed output length, if observed.
    pub fn expected_output(&self) -> Option<u64> {
        match self.output_tokens.load(Relaxed) {
            0 => None,
            n => Some(n),
        }
    }

    /// Record an answer's output length.
    pub fn observe_output(&self, tokens: u64) {
        ewma(&self.output_tokens, tokens.max(1));
    }
}

fn ewma(cell: &AtomicU64, sample: u64) {
    // A racy read-modify-write is fine: a lost update only delays the average slightly.
    let old = cell.load(Relaxed);
    let new = if old == 0 { sample } else { (old * (EWMA_N - 1) + sample) / EWMA_N };
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

/// Statistics by deployment name, shared by every snapshot.
#[derive(Debug, Default)]
pub struct StatsRegistry(Mutex<HashMap<String, Arc<DeploymentStats>>>);

impl StatsRegistry {
    /// The statistics of a deployment, created on first use. Only called when a snapshot is built.
    pub fn get(&self, name: &str) -> Arc<DeploymentStats> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(name.to_owned()).or_default().clone()
    }
}
