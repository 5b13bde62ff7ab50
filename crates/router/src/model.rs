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
    /// Intercept.
    pub bias: f32,
    /// Weight of the task-prior feature (`logit(prior(task))`).
    pub prior_weight: f32,
    /// Smoothed per-task mean of the training target.
    pub task_priors: BTreeMap<String, f32>,
    /// Prior for a missing or unseen task (the global training mean).
    pub default_prior: f32,
    /// Nonzero hashed weights as `[bucket, weight]` pairs, ascending by bucket.
    pub weights: Vec<(u32, f32)>,
}

/// A loaded router model, ready to score prompts.
#[derive(Debug, Clone)]
pub struct Model {
    file: ModelFile,
    dense: Vec<f32>,
    priors: HashMap<String, f32>,
    default_prior_logit: f32,
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

impl Model {
    /// Builds a model from its file form, validating format, version and weight indices.
    pub fn from_file(file: ModelFile) -> Result<Model, RouterError> {
        if file.format != FORMAT {
            return Err(RouterError::Format(format!(
                "format is {:?}, expected {FORMAT:?}",
                file.format
            )));
        }
        if file.version != VERSION {
            return Err(RouterError::Format(format!(
                "version {} is not supported (this build reads version {VERSION})",
                file.version
            )));
        }
        if !(1..=24).contains(&file.features.hash_bits) {
            return Err(RouterError::Format(format!(
                "hash_bits {} out of range 1..=24",
                file.features.hash_bits
            )));
        }
        let f = &file.features;
        if f.char_ngram_min > f.char_ngram_max || f.char_ngram_max > 16 {
            return Err(RouterError::Format(
                "char n-gram range is invalid".to_string(),
            ));
        }
        let mut dense = vec![0.0f32; f.buckets()];
        for &(i, w) in &file.weights {
            let slot = dense.get_mut(i as usize).ok_or_else(|| {
                RouterError::Format(format!("weight index {i} beyond {} buckets", f.buckets()))
            })?;
            if !w.is_finite() {
                return Err(RouterError::Format(format!("weight {i} is not finite")));
            }
            *slot = w;
        }
        let priors = file
            .task_priors
            .iter()
            .map(|(k, &p)| (k.clone(), logit(f64::from(p)) as f32))
            .collect();
        let default_prior_logit = logit(f64::from(file.default_prior)) as f32;
        let canonical = serde_json::to_vec(&file)?;
        let version = format!("fnv1a64:{:016x}", fnv_bytes(&canonical));
        Ok(Model {
            file,
            dense,
            priors,
            default_prior_logit,
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

    /// Probability that the premium model is needed for this prompt. Allocation-free.
    pub fn score(&self, prompt: &str, task: Option<&str>) -> f64 {
        let mut sums = [0.0f32; GROUPS];
        let mut counts = [0u32; GROUPS];
        extract(&self.file.features, prompt, task, |g, b| {
            let gi = g as usize;
            // `b` is masked to the bucket count, which is `dense.len()`.
            sums[gi] += self.dense.get(b as usize).copied().unwrap_or(0.0);
            counts[gi] += 1;
        });
        let mut z = f64::from(self.file.bias)
            + f64::from(self.file.prior_weight) * f64::from(self.prior_logit(task));
        for g in 0..GROUPS {
            if counts[g] == 0 {
                continue;
            }
            let s = f64::from(sums[g]);
            z += if g == Group::Dense as usize {
                s
            } else {
                s / f64::from(counts[g]).sqrt()
            };
        }
        sigmoid(z)
    }

    /// The decision threshold.
    pub fn threshold(&self) -> f64 {
        f64::from(self.file.threshold)
    }

    /// Whether to send this prompt to the premium model.
    pub fn premium(&self, prompt: &str, task: Option<&str>) -> bool {
        self.score(prompt, task) >= self.threshold()
    }

    /// Content hash of the model file (stable across save/load), for the ledger.
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

    /// Sets the threshold directly (and refreshes the version hash).
    pub fn set_threshold(&mut self, threshold: f64) {
        self.file.threshold = threshold as f32;
        let canonical = serde_json::to_vec(&self.file).unwrap_or_default();
        self.version = format!("fnv1a64:{:016x}", fnv_bytes(&canonical));
    }

    /// `logit(prior)` of a task, the default prior for a missing or unseen one.
    pub(crate) fn prior_logit(&self, task: Option<&str>) -> f32 {
        task.and_then(|t| self.priors.get(t))
            .copied()
            .unwrap_or(self.default_prior_logit)
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
