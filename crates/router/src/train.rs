//! Training: a deterministic AdaGrad fit of L2-regularised logistic regression over the hashed
//! features, plus a smoothed per-task prior as one more input.

use std::collections::BTreeMap;

use crate::{
    features::{FeatureConfig, SparseRow},
    hash::SplitMix64,
    model::{logit, threshold_for_share, Model, ModelFile, FORMAT, VERSION},
};

/// One training example.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// The prompt text (the last user message, or the whole conversation flattened).
    pub prompt: String,
    /// Optional task label (e.g. an MMLU subject, or the gateway's `x-switchyard-task`).
    pub task: Option<String>,
    /// Target in [0, 1]: how much the premium model is needed (1 = cheap model fails and the
    /// premium one succeeds). Soft targets are fine.
    pub premium_needed: f64,
}

/// Training hyper-parameters. `Default` gives the configuration the benchmark uses.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// Features to use.
    pub features: FeatureConfig,
    /// Passes over the data.
    pub epochs: usize,
    /// AdaGrad base learning rate.
    pub learning_rate: f64,
    /// L2 penalty per example update (not applied to the bias or the prior weight).
    pub l2: f64,
    /// Seed of the example order.
    pub seed: u64,
    /// Pseudo-count pulling each task's prior towards the global mean.
    pub prior_strength: f64,
    /// Use the per-task prior as a feature.
    pub use_prior: bool,
    /// Share of the training prompts the calibrated threshold sends to premium.
    pub premium_share: f64,
    /// Stamp written to the file's `created` field.
    pub created: String,
    /// Description written to the file's `trained_on` field.
    pub trained_on: String,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            features: FeatureConfig::default(),
            epochs: 6,
            learning_rate: 0.05,
            l2: 1e-5,
            seed: 42,
            prior_strength: 20.0,
            use_prior: true,
            premium_share: 0.4,
            created: String::new(),
            trained_on: String::new(),
        }
    }
}

/// Smoothed per-task means of the target, and the global mean.
struct Priors {
    sums: BTreeMap<String, (f64, f64)>,
    global: f64,
    strength: f64,
}

impl Priors {
    fn fit(examples: &[Example], strength: f64) -> Priors {
        let mut sums: BTreeMap<String, (f64, f64)> = BTreeMap::new();
        let mut total = 0.0;
        for ex in examples {
            total += ex.premium_needed;
            if let Some(t) = &ex.task {
                let e = sums.entry(t.clone()).or_default();
                e.0 += ex.premium_needed;
                e.1 += 1.0;
            }
        }
        let global = if examples.is_empty() {
            0.5
        } else {
            total / examples.len() as f64
        };
        Priors {
            sums,
            global,
            strength,
        }
    }

    /// The prior of `ex`'s task with `ex` itself left out (so the training rows do not see
    /// their own target through the prior).
    fn leave_one_out(&self, ex: &Example) -> f64 {
        match ex.task.as_ref().and_then(|t| self.sums.get(t)) {
            Some(&(s, n)) => {
                (s - ex.premium_needed + self.strength * self.global) / (n - 1.0 + self.strength)
            }
            None => self.global,
        }
    }

    fn table(&self) -> BTreeMap<String, f32> {
        self.sums
            .iter()
            .map(|(t, &(s, n))| {
                let p = (s + self.strength * self.global) / (n + self.strength);
                (t.clone(), p as f32)
            })
            .collect()
    }
}

/// Optimiser settings of [`fit_logistic`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct FitParams {
    pub epochs: usize,
    pub learning_rate: f64,
    pub l2: f64,
    pub seed: u64,
}

/// Fits L2-regularised logistic regression with AdaGrad over sparse rows; deterministic for a
/// given seed. Indices in `no_l2` (bias, prior) are not penalised. Returns weights of size `dim`.
pub(crate) fn fit_logistic(
    rows: &[SparseRow],
    targets: &[f64],
    dim: usize,
    no_l2: &[u32],
    params: &FitParams,
) -> Vec<f64> {
    let FitParams {
        epochs,
        learning_rate,
        l2,
        seed,
    } = *params;
    let mut w = vec![0.0f64; dim];
    let mut g2 = vec![0.0f64; dim];
    let mut order: Vec<usize> = (0..rows.len()).collect();
    let mut rng = SplitMix64::new(seed);
    for _ in 0..epochs {
        rng.shuffle(&mut order);
        for &i in &order {
            let row = &rows[i];
            let z: f64 = row
                .idx
                .iter()
                .zip(&row.val)
                .map(|(&j, &v)| w[j as usize] * f64::from(v))
                .sum();
            let p = 1.0 / (1.0 + (-z).exp());
            let g = p - targets[i];
            for (&j, &v) in row.idx.iter().zip(&row.val) {
                let j = j as usize;
                let reg = if no_l2.contains(&(j as u32)) {
                    0.0
                } else {
                    l2 * w[j]
                };
                let grad = g * f64::from(v) + reg;
                g2[j] += grad * grad;
                w[j] -= learning_rate * grad / (g2[j].sqrt() + 1e-8);
            }
        }
    }
    w
}

/// Builds the training rows: hashed features, then the bias at `buckets` and the prior logit
/// at `buckets + 1`.
fn rows(examples: &[Example], opts: &TrainOptions, priors: &Priors) -> Vec<SparseRow> {
    let buckets = opts.features.buckets() as u32;
    examples
        .iter()
        .map(|ex| {
            let mut row = SparseRow::from_prompt(&opts.features, &ex.prompt, ex.task.as_deref());
            row.push(buckets, 1.0);
            if opts.use_prior {
                row.push(buckets + 1, logit(priors.leave_one_out(ex)) as f32);
            }
            row
        })
        .collect()
}

/// Trains a router model on `examples` and calibrates its threshold so that
/// `opts.premium_share` of the training prompts go premium.
pub fn train(examples: &[Example], opts: &TrainOptions) -> Model {
    let priors = Priors::fit(examples, opts.prior_strength);
    let buckets = opts.features.buckets();
    let rows = rows(examples, opts, &priors);
    let targets: Vec<f64> = examples
        .iter()
        .map(|e| e.premium_needed.clamp(0.0, 1.0))
        .collect();
    let w = fit_logistic(
        &rows,
        &targets,
        buckets + 2,
        &[buckets as u32, buckets as u32 + 1],
        &FitParams {
            epochs: opts.epochs,
            learning_rate: opts.learning_rate,
            l2: opts.l2,
            seed: opts.seed,
        },
    );
    let weights = w[..buckets]
        .iter()
        .enumerate()
        .filter(|(_, &v)| (v as f32) != 0.0)
        .map(|(i, &v)| (i as u32, v as f32))
        .collect();
    let file = ModelFile {
        format: FORMAT.to_string(),
        version: VERSION,
        created: opts.created.clone(),
        trained_on: opts.trained_on.clone(),
        features: opts.features.clone(),
        threshold: 0.5,
        bias: w[buckets] as f32,
        prior_weight: if opts.use_prior {
            w[buckets + 1] as f32
        } else {
            0.0
        },
        task_priors: priors.table(),
        default_prior: priors.global as f32,
        weights,
    };
    // The file is built from a valid configuration, so this cannot fail unless the caller
    // passed an invalid `FeatureConfig`; fall back to an untrained model in that case.
    let mut model = match Model::from_file(file) {
        Ok(m) => m,
        Err(_) => return fallback(opts),
    };
    let scores: Vec<f64> = examples
        .iter()
        .map(|e| model.score(&e.prompt, e.task.as_deref()))
        .collect();
    model.set_threshold(threshold_for_share(&scores, opts.premium_share));
    model
}

/// A valid do-nothing model (all weights zero, never premium) for invalid options.
fn fallback(opts: &TrainOptions) -> Model {
    let file = ModelFile {
        format: FORMAT.to_string(),
        version: VERSION,
        created: opts.created.clone(),
        trained_on: format!("{} (invalid feature config; untrained)", opts.trained_on),
        features: FeatureConfig::default(),
        threshold: 2.0,
        bias: 0.0,
        prior_weight: 0.0,
        task_priors: BTreeMap::new(),
        default_prior: 0.5,
        weights: Vec::new(),
    };
    match Model::from_file(file) {
        Ok(m) => m,
        Err(_) => unreachable!("the default feature config is valid"),
    }
}
