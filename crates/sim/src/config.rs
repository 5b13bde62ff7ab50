//! `SimConfig`: the TOML file behind `switchyard sim --config FILE`, and the built-in setups.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::faults::FaultSpec;

/// Errors from loading or validating a simulator config.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The file could not be read.
    #[error("read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The IO error.
        source: std::io::Error,
    },
    /// The TOML did not parse or did not match the schema.
    #[error("parse sim config: {0}")]
    Parse(String),
    /// The config parsed but is inconsistent; one line per problem.
    #[error("invalid sim config: {}", .0.join("; "))]
    Invalid(Vec<String>),
}

/// The simulator's configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimConfig {
    /// Address to listen on; `127.0.0.1:0` (a free port) when absent.
    #[serde(default)]
    pub listen: Option<SocketAddr>,
    /// Whether requests are recorded for [`crate::Sim::requests`] (tests); off by default.
    #[serde(default)]
    pub record: bool,
    /// How many recorded requests are kept (the oldest are dropped).
    #[serde(default = "default_record_capacity")]
    pub record_capacity: usize,
    /// How many bytes of recorded requests are kept (the oldest are dropped).
    #[serde(default = "default_record_max_bytes")]
    pub record_max_bytes: usize,
    /// Seed mixed into the fault PRNG (`fault_rate`, `p<percent>`).
    #[serde(default)]
    pub seed: u64,
    /// How long a batch (`POST /v1/batches`) takes to complete.
    #[serde(default = "default_batch_delay", with = "humantime_serde")]
    pub batch_delay: Duration,
    /// Profile of models that are not listed in `models`.
    #[serde(default)]
    pub defaults: DefaultsConfig,
    /// Configured models; listed by `GET /v1/models`.
    #[serde(default)]
    pub models: Vec<ModelConfig>,
}

/// The profile used for model names not listed in the config (their faults come from the name).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefaultsConfig {
    /// Time to first token.
    #[serde(default, with = "humantime_serde")]
    pub ttft: Duration,
    /// Output speed; 0 means unlimited.
    #[serde(default)]
    pub tokens_per_sec: f64,
    /// Typical answer length in tokens (varies deterministically by ±50%).
    #[serde(default = "default_answer_tokens")]
    pub answer_tokens: u32,
    /// Context window in tokens.
    #[serde(default = "default_max_context")]
    pub max_context: u64,
}

impl Default for DefaultsConfig {
    fn default() -> Self {
        DefaultsConfig {
            ttft: Duration::ZERO,
            tokens_per_sec: 0.0,
            answer_tokens: default_answer_tokens(),
            max_context: default_max_context(),
        }
    }
}

/// One simulated model. Unset fields fall back to `[defaults]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// The model name clients send.
    pub name: String,
    /// Time to first token.
    #[serde(default, with = "humantime_serde")]
    pub ttft: Option<Duration>,
    /// Output speed; 0 means unlimited.
    #[serde(default)]
    pub tokens_per_sec: Option<f64>,
    /// Typical answer length in tokens (varies deterministically by ±50%).
    #[serde(default)]
    pub answer_tokens: Option<u32>,
    /// Context window: prompt tokens + requested max output above it → 400.
    #[serde(default)]
    pub max_context: Option<u64>,
    /// Requests per minute (fixed 60 s window).
    #[serde(default)]
    pub rpm: Option<u64>,
    /// Tokens per minute (fixed 60 s window; prompt + max output reserved per request).
    #[serde(default)]
    pub tpm: Option<u64>,
    /// A fault spec in the model-name grammar, e.g. `"500"`, `"cut-40"`, `"503-once"`.
    #[serde(default)]
    pub fault: Option<String>,
    /// Probability that a request gets the fault.
    #[serde(default)]
    pub fault_rate: Option<f64>,
    /// If > 0, only the first N requests get the fault.
    #[serde(default)]
    pub fault_first: Option<u64>,
    /// Scheduled downtime (503).
    #[serde(default)]
    pub outage: Option<OutageConfig>,
    /// Per-task skill: the probability that an answer is acceptable, by task (`json`,
    /// `arithmetic`, `sentiment`) with `default` for the others (default 1: always right).
    #[serde(default)]
    pub skill: std::collections::BTreeMap<String, f64>,
    /// Whether the model reuses a repeated prompt prefix (OpenAI-style automatic prompt
    /// caching; default true). Off: no prompt is ever served from its cache.
    #[serde(default)]
    pub prompt_cache: Option<bool>,
    /// The service tiers the model sells besides `default` (`flex`, `priority`): a request
    /// asking for one of them is served, and labelled, at it; any other at `default`.
    /// Default: both.
    #[serde(default)]
    pub service_tiers: Option<Vec<String>>,
    /// Probability that the model refuses a text request ("I'm sorry, but I can't help with
    /// that.").
    #[serde(default)]
    pub refuse_rate: Option<f64>,
    /// The model name its OpenAI-format answers carry instead of the requested one: a
    /// provider serving another model than asked (what `switchyard audit` looks for).
    #[serde(default)]
    pub serves: Option<String>,
}

/// Scheduled downtime, relative to the simulator's start. Exactly one form:
/// `{ first = "30s" }`, `{ period = "10s", down = "3s" }` or `{ windows = [["10s", "20s"]] }`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutageConfig {
    /// Down for this long after start.
    #[serde(default, with = "humantime_serde")]
    pub first: Option<Duration>,
    /// Flapping: the cycle length.
    #[serde(default, with = "humantime_serde")]
    pub period: Option<Duration>,
    /// Flapping: down for the first `down` of every `period`.
    #[serde(default, with = "humantime_serde")]
    pub down: Option<Duration>,
    /// Down between these `[from, to]` offsets.
    #[serde(default)]
    pub windows: Option<Vec<[WindowBound; 2]>>,
}

/// A humantime duration inside an outage window list.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(transparent)]
pub struct WindowBound(#[serde(with = "humantime_serde")] pub Duration);

fn default_record_capacity() -> usize {
    1000
}
fn default_record_max_bytes() -> usize {
    16 << 20
}
fn default_answer_tokens() -> u32 {
    20
}
fn default_max_context() -> u64 {
    128_000
}

impl SimConfig {
    /// Read and validate a TOML file.
    pub fn load(path: &Path) -> Result<SimConfig, SimError> {
        let text = std::fs::read_to_string(path).map_err(|source| SimError::Read {
            path: path.display().to_string(),
            source,
        })?;
        SimConfig::from_toml(&text)
    }

    /// Parse and validate TOML text.
    pub fn from_toml(s: &str) -> Result<SimConfig, SimError> {
        let cfg: SimConfig = toml::from_str(s).map_err(|e| SimError::Parse(e.to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// The embedded demo: `sim-cheap` (fast, short answers) and `sim-premium` (slower first
    /// token, longer answers). Other names get small realistic latencies.
    pub fn demo() -> SimConfig {
        let model =
            |name: &str, ttft_ms: u64, tps: f64, answer: u32, skill: &[(&str, f64)]| ModelConfig {
                name: name.to_string(),
                ttft: Some(Duration::from_millis(ttft_ms)),
                tokens_per_sec: Some(tps),
                answer_tokens: Some(answer),
                skill: skill.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
                ..ModelConfig::default()
            };
        SimConfig {
            defaults: DefaultsConfig {
                ttft: Duration::from_millis(30),
                tokens_per_sec: 300.0,
                answer_tokens: 40,
                max_context: default_max_context(),
            },
            models: vec![
                // The cheap model is good at sentiment, often breaks JSON, and is poor at
                // arithmetic; the premium one is always right.
                model(
                    "sim-cheap",
                    20,
                    400.0,
                    24,
                    &[("json", 0.8), ("arithmetic", 0.5), ("sentiment", 0.99)],
                ),
                model("sim-premium", 60, 200.0, 90, &[]),
            ],
            // The embedded demo serves real clients: nothing is kept.
            record: false,
            ..SimConfig::instant()
        }
    }

    /// Every model answers with zero latency and unlimited speed (tests, load tests); records
    /// requests (bounded) for tests to inspect.
    pub fn instant() -> SimConfig {
        let model = |name: &str, answer: u32| ModelConfig {
            name: name.to_string(),
            answer_tokens: Some(answer),
            ..ModelConfig::default()
        };
        SimConfig {
            listen: None,
            record: true,
            record_capacity: default_record_capacity(),
            record_max_bytes: default_record_max_bytes(),
            seed: 0,
            batch_delay: default_batch_delay(),
            defaults: DefaultsConfig::default(),
            models: vec![model("sim-cheap", 24), model("sim-premium", 90)],
        }
    }

    /// Check everything at once; every problem is reported.
    pub fn validate(&self) -> Result<(), SimError> {
        let mut errs = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (i, m) in self.models.iter().enumerate() {
            let at = format!("models[{i}]");
            if m.name.is_empty() {
                errs.push(format!("{at}.name: must not be empty"));
            }
            if !seen.insert(m.name.as_str()) {
                errs.push(format!("{at}.name: duplicate model `{}`", m.name));
            }
            if let Some(f) = &m.fault {
                if let Err(e) = FaultSpec::parse(f) {
                    errs.push(format!("{at}.fault: {e}"));
                }
            }
            if let Some(r) = m.fault_rate {
                if !(0.0..=1.0).contains(&r) {
                    errs.push(format!("{at}.fault_rate: must be within 0..=1"));
                }
            }
            if m.tokens_per_sec.is_some_and(|t| t < 0.0 || !t.is_finite()) {
                errs.push(format!("{at}.tokens_per_sec: must be >= 0"));
            }
            if let Some(o) = &m.outage {
                if let Err(e) = o.check() {
                    errs.push(format!("{at}.outage: {e}"));
                }
            }
        }
        if self.defaults.tokens_per_sec < 0.0 || !self.defaults.tokens_per_sec.is_finite() {
            errs.push("defaults.tokens_per_sec: must be >= 0".to_string());
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(SimError::Invalid(errs))
        }
    }
}

impl OutageConfig {
    fn check(&self) -> Result<(), String> {
        let forms = [
            self.first.is_some(),
            self.period.is_some() || self.down.is_some(),
            self.windows.is_some(),
        ];
        if forms.iter().filter(|f| **f).count() != 1 {
            return Err("use exactly one of `first`, `period`+`down`, `windows`".to_string());
        }
        match (self.period, self.down) {
            (Some(p), Some(d)) if p.is_zero() || d > p => {
                Err("`down` must be <= `period` and `period` > 0".to_string())
            }
            (Some(_), None) | (None, Some(_)) => Err("`period` and `down` go together".to_string()),
            _ => Ok(()),
        }
    }
}

fn default_batch_delay() -> Duration {
    Duration::from_millis(500)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_example() {
        let cfg = SimConfig::from_toml(
            r#"
            listen = "127.0.0.1:9090"
            [[models]]
            name = "sim-cheap"
            ttft = "30ms"
            tokens_per_sec = 400
            answer_tokens = 40
            max_context = 128000
            rpm = 10000
            tpm = 2000000
            fault = "none"
            fault_rate = 1.0
            fault_first = 0
            outage = { first = "30s" }
            [[models]]
            name = "flappy"
            outage = { period = "10s", down = "3s" }
            [[models]]
            name = "windowed"
            outage = { windows = [["10s", "20s"]] }
            "#,
        )
        .unwrap();
        assert_eq!(cfg.models.len(), 3);
        assert_eq!(cfg.models[0].ttft, Some(Duration::from_millis(30)));
        assert!(!cfg.record, "recording is off unless asked for");
    }

    #[test]
    fn reports_every_problem() {
        let err = SimConfig::from_toml(
            r#"
            [[models]]
            name = "a"
            fault = "explode"
            fault_rate = 2.0
            [[models]]
            name = "a"
            outage = { period = "1s" }
            "#,
        )
        .unwrap_err();
        let SimError::Invalid(errs) = err else {
            panic!("{err}")
        };
        assert_eq!(errs.len(), 4, "{errs:?}");
    }

    #[test]
    fn unknown_fields_are_rejected() {
        assert!(SimConfig::from_toml("bogus = 1").is_err());
        assert!(SimConfig::from_toml("[[models]]\nname = \"a\"\nttfb = \"1s\"").is_err());
    }
}
