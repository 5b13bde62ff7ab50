//! Per-model profiles (latency, length, limits, faults, outages) and their runtime state.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;

use crate::config::{DefaultsConfig, ModelConfig, OutageConfig, SimConfig};
use crate::engine::{Hasher, Rng};
use crate::faults::{Fault, FaultSpec};
use crate::ratelimit::{Limits, Rejection};

/// Unknown model names remembered at most (beyond that they still work, uncounted).
const MAX_DYNAMIC_MODELS: usize = 10_000;

/// The resolved behaviour of one model name.
#[derive(Debug, Clone)]
pub(crate) struct Profile {
    pub ttft: Duration,
    /// 0 = unlimited.
    pub tps: f64,
    pub answer_tokens: u32,
    pub jitter: bool,
    pub max_context: u64,
    pub faults: FaultSpec,
    pub outage: Option<Outage>,
    pub skill: crate::engine::Skill,
    /// The model name answers carry instead of the requested one.
    pub serves: Option<String>,
    /// Service tiers sold besides `default`.
    pub tiers: Vec<String>,
    /// Repeated prompt prefixes are read from the cache.
    pub prompt_cache: bool,
}

/// Scheduled downtime.
#[derive(Debug, Clone)]
pub(crate) enum Outage {
    First(Duration),
    Flap { period: Duration, down: Duration },
    Windows(Vec<(Duration, Duration)>),
}

impl Outage {
    fn from_config(o: &OutageConfig) -> Option<Outage> {
        if let Some(first) = o.first {
            return Some(Outage::First(first));
        }
        if let (Some(period), Some(down)) = (o.period, o.down) {
            return Some(Outage::Flap { period, down });
        }
        o.windows
            .as_ref()
            .map(|w| Outage::Windows(w.iter().map(|[a, b]| (a.0, b.0)).collect()))
    }

    /// Whether the model is down at `t` after start.
    pub(crate) fn is_down(&self, t: Duration) -> bool {
        match self {
            Outage::First(d) => t < *d,
            Outage::Flap { period, down } => {
                let p = period.as_nanos().max(1);
                t.as_nanos() % p < down.as_nanos()
            }
            Outage::Windows(ws) => ws.iter().any(|(a, b)| t >= *a && t < *b),
        }
    }
}

impl Profile {
    fn from_defaults(d: &DefaultsConfig) -> Profile {
        Profile {
            ttft: d.ttft,
            tps: d.tokens_per_sec,
            answer_tokens: d.answer_tokens,
            jitter: true,
            max_context: d.max_context,
            faults: FaultSpec::default(),
            outage: None,
            skill: crate::engine::Skill::default(),
            serves: None,
            tiers: vec!["flex".to_owned(), "priority".to_owned()],
            prompt_cache: true,
        }
    }

    /// Apply the spec's latency/length overrides.
    fn with_faults(mut self, faults: FaultSpec) -> Profile {
        if let Some(slow) = faults.slow {
            self.ttft = slow;
        }
        if let Some(tps) = faults.tps {
            self.tps = tps;
        }
        if let Some(len) = faults.len {
            self.answer_tokens = len;
            self.jitter = false;
        }
        self.faults = faults;
        self
    }

    fn from_config(m: &ModelConfig, d: &DefaultsConfig) -> Profile {
        let mut faults = m
            .fault
            .as_deref()
            .map(FaultSpec::parse)
            .and_then(Result::ok)
            .unwrap_or_default();
        if let Some(rate) = m.fault_rate {
            faults.probability = Some(rate);
        }
        if let Some(first) = m.fault_first.filter(|n| *n > 0) {
            faults.first = Some(first);
        }
        let mut p = Profile::from_defaults(d);
        p.ttft = m.ttft.unwrap_or(p.ttft);
        p.tps = m.tokens_per_sec.unwrap_or(p.tps);
        p.answer_tokens = m.answer_tokens.unwrap_or(p.answer_tokens);
        p.max_context = m.max_context.unwrap_or(p.max_context);
        p.outage = m.outage.as_ref().and_then(Outage::from_config);
        p.skill = crate::engine::Skill::from_map(&m.skill);
        p.skill.refuse = m.refuse_rate.unwrap_or(0.0).clamp(0.0, 1.0);
        p.serves = m.serves.clone();
        p.prompt_cache = m.prompt_cache.unwrap_or(true);
        if let Some(t) = &m.service_tiers {
            p.tiers.clone_from(t);
        }
        p.with_faults(faults)
    }

    /// Delay of token `k` after the first one.
    pub(crate) fn token_offset(&self, k: u64) -> Duration {
        if self.tps > 0.0 && self.tps.is_finite() {
            Duration::from_secs_f64(k as f64 / self.tps)
        } else {
            Duration::ZERO
        }
    }
}

/// One model: its profile and counters.
#[derive(Debug)]
pub(crate) struct ModelState {
    pub profile: Profile,
    pub calls: AtomicU64,
    pub limits: Limits,
    fault_seed: u64,
}

impl ModelState {
    fn new(name: &str, profile: Profile, limits: Limits, seed: u64) -> ModelState {
        ModelState {
            profile,
            calls: AtomicU64::new(0),
            limits,
            fault_seed: Hasher::default().bytes(name.as_bytes()).u64(seed).finish(),
        }
    }

    /// The fault hitting the request with this per-model index, if any.
    pub(crate) fn fault_for(&self, index: u64) -> Option<Fault> {
        let roll = Rng::new(self.fault_seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15)).unit();
        if self.profile.faults.hits(index, roll) {
            self.profile.faults.fault
        } else {
            None
        }
    }
}

/// A request that fails before generation, in format-neutral terms.
#[derive(Debug, Clone)]
pub(crate) enum Failure {
    BadRequest {
        message: String,
        param: Option<String>,
        code: Option<&'static str>,
    },
    NotFound(String),
    RateLimited(Rejection),
    /// The `429` fault; `retry_after` adds `Retry-After: 1`.
    RateFault {
        retry_after: bool,
    },
    Quota,
    /// No capacity in the service tier asked for (OpenAI flex's 429 "Resource Unavailable").
    TierBusy,
    Policy,
    ContextLength {
        limit: u64,
        prompt: u64,
        completion: u64,
    },
    Server,
    Unavailable,
    Overloaded,
}

/// All models: configured ones up front, others created from their name on first use.
/// Lookups are lock-free (`ArcSwap`); inserting a new name copies the map.
#[derive(Debug)]
pub(crate) struct Registry {
    map: ArcSwap<HashMap<String, Arc<ModelState>>>,
    insert: Mutex<()>,
    defaults: DefaultsConfig,
    seed: u64,
    /// Configured names, in config order (for `/v1/models`).
    pub configured: Vec<String>,
}

impl Registry {
    pub(crate) fn new(cfg: &SimConfig) -> Registry {
        let map = cfg
            .models
            .iter()
            .map(|m| {
                let profile = Profile::from_config(m, &cfg.defaults);
                let limits = Limits::new(m.rpm, m.tpm);
                let state = ModelState::new(&m.name, profile, limits, cfg.seed);
                (m.name.clone(), Arc::new(state))
            })
            .collect();
        Registry {
            map: ArcSwap::from_pointee(map),
            insert: Mutex::new(()),
            defaults: cfg.defaults.clone(),
            seed: cfg.seed,
            configured: cfg.models.iter().map(|m| m.name.clone()).collect(),
        }
    }

    /// The state of `name`, creating it from the name grammar when unknown.
    pub(crate) fn get(&self, name: &str) -> Arc<ModelState> {
        if let Some(m) = self.map.load().get(name) {
            return Arc::clone(m);
        }
        let profile =
            Profile::from_defaults(&self.defaults).with_faults(FaultSpec::from_model_name(name));
        let fresh = Arc::new(ModelState::new(name, profile, Limits::default(), self.seed));
        let _guard = self.insert.lock().unwrap_or_else(|p| p.into_inner());
        let current = self.map.load();
        if let Some(m) = current.get(name) {
            return Arc::clone(m);
        }
        if current.len() >= MAX_DYNAMIC_MODELS {
            return fresh;
        }
        let mut next = HashMap::clone(&current);
        next.insert(name.to_string(), Arc::clone(&fresh));
        self.map.store(Arc::new(next));
        fresh
    }

    /// Requests received by `name` so far (0 if never seen).
    pub(crate) fn calls(&self, name: &str) -> u64 {
        self.map
            .load()
            .get(name)
            .map_or(0, |m| m.calls.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outages() {
        let ms = Duration::from_millis;
        assert!(Outage::First(ms(100)).is_down(ms(50)));
        assert!(!Outage::First(ms(100)).is_down(ms(100)));
        let flap = Outage::Flap {
            period: ms(100),
            down: ms(30),
        };
        assert!(flap.is_down(ms(110)));
        assert!(!flap.is_down(ms(150)));
        let w = Outage::Windows(vec![(ms(10), ms(20))]);
        assert!(!w.is_down(ms(5)) && w.is_down(ms(15)) && !w.is_down(ms(20)));
    }

    #[test]
    fn names_create_profiles() {
        let reg = Registry::new(&SimConfig::instant());
        let m = reg.get("sim-slow-250-len-5");
        assert_eq!(m.profile.ttft, Duration::from_millis(250));
        assert_eq!((m.profile.answer_tokens, m.profile.jitter), (5, false));
        assert!(Arc::ptr_eq(&m, &reg.get("sim-slow-250-len-5")));
        assert_eq!(
            reg.get("sim-500-once").fault_for(0),
            Some(Fault::ServerError)
        );
        assert_eq!(reg.get("sim-500-once").fault_for(1), None);
    }

    #[test]
    fn fault_rate_is_roughly_right() {
        let reg = Registry::new(&SimConfig::instant());
        let m = reg.get("sim-500-p30");
        let hits = (0..10_000).filter(|i| m.fault_for(*i).is_some()).count();
        assert!((2_500..3_500).contains(&hits), "{hits}");
    }
}
