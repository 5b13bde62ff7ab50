//! The learned router model: hashed-feature logistic regression plus a per-task prior, its file
//! format, and the hot-path scorer.

use std::{collections::BTreeMap, collections::HashMap, path::Path};

use serde::{Deserialize, Serialize};

use crate::{
    features::{extract, FeatureConfig, Group, GROUPS},
    hash::fnv_bytes,
    RouterError,
};

/// The `format` tag of a model file.
pub const FORMAT: &str = "switchyard-router";
/// The model file version this crate reads and writes.
pub const VERSION: u32 = 1;

/// Most heads a model may have (the scorer keeps per-head sums on the stack).
pub const MAX_HEADS: usize = 4;

/// The model file as stored (JSON). All parameters are `f32`, which serde_json writes in the
/// shortest form and reads back exactly, so a saved model scores bitwise like the original.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelFile {
    /// Always `"switchyard-router"`.
    pub format: String,
    /// Always 1.
    pub version: u32,
    /// When the model was trained (free text, usually RFC 3339 UTC).
    pub created: String,
    /// What it was trained on (free text: data set, task, split, seed, target).
    pub trained_on: String,
    /// Feature configuration the weights belong to.
    pub features: FeatureConfig,
    /// Decision threshold: `score >= threshold` → premium.
    pub threshold: f32,
    /// One or more logistic heads over the same features; the score is the mean of their
    /// probabilities (e.g. `(P(weak wrong) + P(strong right)) / 2 = (1 + E[strong − weak]) / 2`).
    pub heads: Vec<Head>,
}

/// One logistic regression over the shared features plus its per-task prior.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Head {
    /// What this head predicts (e.g. `premium_needed`, `weak_wrong`, `strong_right`).
    pub target: String,
    /// Intercept.
    pub bias: f32,
    /// Weight of the task-prior feature (`logit(prior(task))`).
    pub prior_weight: f32,
    /// Smoothed per-task mean of this head's training target.
    pub task_priors: BTreeMap<String, f32>,
    /// Prior for a missing or unseen task (the global training mean).
    pub default_prior: f32,
    /// Nonzero hashed weights as `[bucket, weight]` pairs, ascending by bucket.
    pub weights: Vec<(u32, f32)>,
}

/// Per-head constants of the scorer.
#[derive(Debug, Clone)]
struct HeadState {
    bias: f32,
    prior_weight: f32,
    priors: HashMap<String, f32>,
    default_prior_logit: f32,
}

/// A loaded router model, ready to score prompts.
#[derive(Debug, Clone)]
pub struct Model {
    file: ModelFile,
    /// Weights by bucket, one lane per head (unused lanes 0): one 16-byte load and one SIMD
    /// add per feature occurrence, whatever the number of heads.
    dense: Vec<[f32; MAX_HEADS]>,
    heads: Vec<HeadState>,
    version: String,
}

/// `ln(p / (1 - p))`, clamped away from 0 and 1.
pub(crate) fn logit(p: f64) -> f64 {
    let p = p.clamp(1e-4, 1.0 - 1e-4);
    (p / (1.0 - p)).ln()
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn content_version(file: &ModelFile) -> String {
    let canonical = serde_json::to_vec(file).unwrap_or_default();
    format!("fnv1a64:{:016x}", fnv_bytes(&canonical))
}

fn bad(msg: impl Into<String>) -> RouterError {
    RouterError::Format(msg.into())
}

impl Model {
    /// Builds a model from its file form, validating format, version, features and weights.
    pub fn from_file(file: ModelFile) -> Result<Model, RouterError> {
        if file.format != FORMAT {
            return Err(bad(format!(
                "format is {:?}, expected {FORMAT:?}",
                file.format
            )));
        }
        if file.version != VERSION {
            return Err(bad(format!(
                "version {} is not supported (this build reads version {VERSION})",
                file.version
            )));
        }
        let f = &file.features;
        if !(1..=24).contains(&f.hash_bits) {
            return Err(bad(format!(
                "hash_bits {} out of range 1..=24",
                f.hash_bits
            )));
        }
        if f.char_ngram_min > f.char_ngram_max || f.char_ngram_max > 16 {
            return Err(bad("char n-gram range is invalid"));
        }
        if !f.text_scale.is_finite() || !file.threshold.is_finite() {
            return Err(bad("text_scale and threshold must be finite"));
        }
        let n = file.heads.len();
        if !(1..=MAX_HEADS).contains(&n) {
            return Err(bad(format!("{n} heads; expected 1..={MAX_HEADS}")));
        }
        let mut dense = vec![[0.0f32; MAX_HEADS]; f.buckets()];
        let mut heads = Vec::with_capacity(n);
        for (h, head) in file.heads.iter().enumerate() {
            for &(i, w) in &head.weights {
                if (i as usize) >= f.buckets() || !w.is_finite() {
                    return Err(bad(format!(
                        "head {h}: weight {i} is beyond {} buckets or not finite",
                        f.buckets()
                    )));
                }
                dense[i as usize][h] = w;
            }
            let finite = [head.bias, head.prior_weight, head.default_prior]
                .iter()
                .chain(head.task_priors.values())
                .all(|v| v.is_finite());
            if !finite {
                return Err(bad(format!("head {h}: parameters must be finite")));
            }
            heads.push(HeadState {
                bias: head.bias,
                prior_weight: head.prior_weight,
                priors: head
                    .task_priors
                    .iter()
                    .map(|(k, &p)| (k.clone(), logit(f64::from(p)) as f32))
                    .collect(),
                default_prior_logit: logit(f64::from(head.default_prior)) as f32,
            });
        }
        let version = content_version(&file);
        Ok(Model {
            file,
            dense,
            heads,
            version,
        })
    }

    /// Reads and validates a model file.
    pub fn load(path: &Path) -> Result<Model, RouterError> {
        let text = std::fs::read_to_string(path).map_err(|e| RouterError::Io {
            path: path.display().to_string(),
            source: e,
        })?;
        let file: ModelFile = serde_json::from_str(&text)?;
        Model::from_file(file)
    }

    /// Writes the model file (JSON).
    pub fn save(&self, path: &Path) -> Result<(), RouterError> {
        let text = serde_json::to_string(&self.file)?;
        std::fs::write(path, text).map_err(|e| RouterError::Io {
            path: path.display().to_string(),
            source: e,
        })
    }

    /// Probability that the premium model is needed for this prompt (the mean of the heads'
    /// probabilities). One pass over the prompt, no heap allocation.
    pub fn score(&self, prompt: &str, task: Option<&str>) -> f64 {
        let n = self.heads.len();
        let mut sums = [[0.0f32; MAX_HEADS]; GROUPS];
        let mut counts = [0u32; GROUPS];
        extract(&self.file.features, prompt, task, |g, b| {
            let gi = g as usize;
            counts[gi] += 1;
            // `b` is masked to the bucket count, so it is always in range.
            if let Some(ws) = self.dense.get(b as usize) {
                for (s, w) in sums[gi].iter_mut().zip(ws) {
                    *s += *w;
                }
            }
        });
        let text_scale = f64::from(self.file.features.text_scale);
        let mut total = 0.0;
        for (h, head) in self.heads.iter().enumerate() {
            let prior = task
                .and_then(|t| head.priors.get(t))
                .copied()
                .unwrap_or(head.default_prior_logit);
            let mut z = f64::from(head.bias) + f64::from(head.prior_weight) * f64::from(prior);
            for g in 0..GROUPS {
                if counts[g] == 0 {
                    continue;
                }
                let s = f64::from(sums[g][h]);
                z += if g == Group::Dense as usize {
                    s
                } else {
                    s * text_scale / f64::from(counts[g]).sqrt()
                };
            }
            total += sigmoid(z);
        }
        total / n as f64
    }

    /// The decision threshold.
    pub fn threshold(&self) -> f64 {
        f64::from(self.file.threshold)
    }

    /// Whether to send this prompt to the premium model.
    pub fn premium(&self, prompt: &str, task: Option<&str>) -> bool {
        self.score(prompt, task) >= self.threshold()
    }

    /// Content hash of the model file (`fnv1a64:…`, stable across save/load), for the ledger.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The file form (configuration, provenance, weights).
    pub fn file(&self) -> &ModelFile {
        &self.file
    }

    /// Sets the threshold so that a share `share` of `scores` is at or above it
    /// (see [`threshold_for_share`]).
    pub fn calibrate_for_premium_share(&mut self, scores: &[f64], share: f64) {
        self.set_threshold(threshold_for_share(scores, share));
    }

    /// Sets the threshold directly (and refreshes the version hash). A non-finite value is
    /// ignored (it could not be saved).
    pub fn set_threshold(&mut self, threshold: f64) {
        if !threshold.is_finite() {
            return;
        }
        self.file.threshold = threshold as f32;
        self.version = content_version(&self.file);
    }
}

/// A threshold such that about `share` of `scores` are `>=` it: the score of the
/// `ceil(share·n)`-th highest item. `share <= 0` gives 2.0 (above any probability: never premium),
/// `share >= 1` gives 0.0 (always premium).
pub fn threshold_for_share(scores: &[f64], share: f64) -> f64 {
    let k = (share.clamp(0.0, 1.0) * scores.len() as f64).ceil() as usize;
    if k == 0 || scores.is_empty() {
        return 2.0;
    }
    if k >= scores.len() {
        return 0.0;
    }
    let mut sorted: Vec<f64> = scores.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    // Round down to f32 so the stored threshold never rises above the k-th score.
    let t = sorted[k - 1];
    let t32 = t as f32;
    if f64::from(t32) > t {
        f64::from(f32::from_bits(t32.to_bits() - 1))
    } else {
        f64::from(t32)
    }
}
