//! Training: deterministic AdaGrad fits of L2-regularised logistic regression over the hashed
//! features, each with a smoothed per-task prior as one more input.
//!
//! [`train`] fits one head on `premium_needed`. [`train_pair`] uses both models' outcomes and
//! fits two heads, P(weak wrong) and P(strong right), whose mean is `(1 + E[strong − weak]) / 2`:
//! on MMLU that ranks prompts better than one head on the rarer "gain" target, because each head
//! has a balanced, less noisy target.

use std::collections::BTreeMap;

use crate::{
    features::{FeatureConfig, SparseRow},
    hash::SplitMix64,
    model::{logit, Head, Model, ModelFile, FORMAT, VERSION},
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

/// A training example where both models' outcomes are known.
#[derive(Debug, Clone, PartialEq)]
pub struct PairExample {
    /// The prompt text.
    pub prompt: String,
    /// Optional task label.
    pub task: Option<String>,
    /// Quality of the cheap model's answer in [0, 1] (1 = correct).
    pub weak_correct: f64,
    /// Quality of the premium model's answer in [0, 1].
    pub strong_correct: f64,
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
    /// Hashed features present in fewer training prompts than this are not learned (their
    /// weight stays 0).
    pub min_df: usize,
    /// Number of fits with different example orders whose weights are averaged (1 = one fit).
    pub averaged_fits: usize,
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
            epochs: 8,
            learning_rate: 0.01,
            l2: 1e-5,
            seed: 42,
            prior_strength: 20.0,
            use_prior: true,
            min_df: 1,
            averaged_fits: 1,
            premium_share: 0.4,
            created: String::new(),
            trained_on: String::new(),
        }
    }
}

/// Smoothed per-task means of a target, and the global mean.
struct Priors {
    sums: BTreeMap<String, (f64, f64)>,
    global: f64,
    strength: f64,
}

impl Priors {
    fn fit(tasks: &[Option<&str>], y: &[f64], strength: f64) -> Priors {
        let mut sums: BTreeMap<String, (f64, f64)> = BTreeMap::new();
        for (t, &v) in tasks.iter().zip(y) {
            if let Some(t) = t {
                let e = sums.entry((*t).to_string()).or_default();
                e.0 += v;
                e.1 += 1.0;
            }
        }
        let global = if y.is_empty() {
            0.5
        } else {
            y.iter().sum::<f64>() / y.len() as f64
        };
        Priors {
            sums,
            global,
            strength,
        }
    }

    /// The prior of a training row's task with the row itself left out (so the row does not see
    /// its own target through the prior).
    fn leave_one_out(&self, task: Option<&str>, y: f64) -> f64 {
        match task.and_then(|t| self.sums.get(t)) {
            Some(&(s, n)) => (s - y + self.strength * self.global) / (n - 1.0 + self.strength),
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
/// given seed (single-threaded, fixed example order). Indices in `no_l2` (bias, prior) are not
/// penalised. Returns weights of size `dim`.
pub(crate) fn fit_logistic(
    rows: &[SparseRow],
    targets: &[f64],
    dim: usize,
    no_l2: &[u32],
    params: &FitParams,
) -> Vec<f64> {
    let mut w = vec![0.0f64; dim];
    let mut g2 = vec![0.0f64; dim];
    let mut order: Vec<usize> = (0..rows.len().min(targets.len())).collect();
    let mut rng = SplitMix64::new(params.seed);
    for _ in 0..params.epochs {
        rng.shuffle(&mut order);
        for &i in &order {
            let row = &rows[i];
            let z: f64 = row
                .idx
                .iter()
                .zip(&row.val)
                .map(|(&j, &v)| w[j as usize] * f64::from(v))
                .sum();
            let g = 1.0 / (1.0 + (-z).exp()) - targets[i];
            for (&j, &v) in row.idx.iter().zip(&row.val) {
                let reg = if no_l2.contains(&j) {
                    0.0
                } else {
                    params.l2 * w[j as usize]
                };
                let j = j as usize;
                let grad = g * f64::from(v) + reg;
                g2[j] += grad * grad;
                w[j] -= params.learning_rate * grad / (g2[j].sqrt() + 1e-8);
            }
        }
    }
    w
}

/// Drops features seen in fewer than `min_df` rows (indices below `buckets` only).
fn apply_min_df(rows: &mut [SparseRow], buckets: usize, min_df: usize) {
    if min_df <= 1 {
        return;
    }
    let mut df = vec![0u32; buckets];
    for r in rows.iter() {
        for &j in &r.idx {
            if let Some(d) = df.get_mut(j as usize) {
                *d += 1;
            }
        }
    }
    for r in rows.iter_mut() {
        let keep = |j: u32| df.get(j as usize).is_none_or(|&d| d as usize >= min_df);
        let (idx, val): (Vec<u32>, Vec<f32>) = r
            .idx
            .iter()
            .zip(&r.val)
            .filter(|(&j, _)| keep(j))
            .map(|(&j, &v)| (j, v))
            .unzip();
        r.idx = idx;
        r.val = val;
    }
}

/// Fits one head on `y` over precomputed feature rows (without bias and prior coordinates).
fn fit_head(
    base: &[SparseRow],
    tasks: &[Option<&str>],
    y: &[f64],
    name: &str,
    opts: &TrainOptions,
) -> Head {
    let buckets = opts.features.buckets();
    let priors = Priors::fit(tasks, y, opts.prior_strength);
    let rows: Vec<SparseRow> = base
        .iter()
        .zip(tasks.iter().zip(y))
        .map(|(r, (t, &v))| {
            let mut r = r.clone();
            r.push(buckets as u32, 1.0);
            if opts.use_prior {
                r.push(
                    buckets as u32 + 1,
                    logit(priors.leave_one_out(*t, v)) as f32,
                );
            }
            r
        })
        .collect();
    let fits = opts.averaged_fits.max(1);
    let mut w = vec![0.0f64; buckets + 2];
    for k in 0..fits {
        let params = FitParams {
            epochs: opts.epochs,
            learning_rate: opts.learning_rate,
            l2: opts.l2,
            seed: opts.seed.wrapping_add(k as u64),
        };
        let no_l2 = [buckets as u32, buckets as u32 + 1];
        let wk = fit_logistic(&rows, y, buckets + 2, &no_l2, &params);
        for (a, b) in w.iter_mut().zip(wk) {
            *a += b / fits as f64;
        }
    }
    Head {
        target: name.to_string(),
        bias: w[buckets] as f32,
        prior_weight: if opts.use_prior {
            w[buckets + 1] as f32
        } else {
            0.0
        },
        task_priors: priors.table(),
        default_prior: priors.global as f32,
        weights: w[..buckets]
            .iter()
            .enumerate()
            .filter(|(_, &v)| (v as f32) != 0.0)
            .map(|(i, &v)| (i as u32, v as f32))
            .collect(),
    }
}

/// Fits one head per `(name, targets)` and calibrates the threshold on the training prompts.
fn train_heads(
    prompts: &[(&str, Option<&str>)],
    heads: &[(&str, Vec<f64>)],
    opts: &TrainOptions,
) -> Model {
    let mut base: Vec<SparseRow> = prompts
        .iter()
        .map(|(p, t)| SparseRow::from_prompt(&opts.features, p, *t))
        .collect();
    apply_min_df(&mut base, opts.features.buckets(), opts.min_df);
    let tasks: Vec<Option<&str>> = prompts.iter().map(|(_, t)| *t).collect();
    let heads = heads
        .iter()
        .map(|(name, y)| {
            let y: Vec<f64> = y.iter().map(|v| v.clamp(0.0, 1.0)).collect();
            fit_head(&base, &tasks, &y, name, opts)
        })
        .collect();
    let file = ModelFile {
        format: FORMAT.to_string(),
        version: VERSION,
        created: opts.created.clone(),
        trained_on: opts.trained_on.clone(),
        features: opts.features.clone(),
        threshold: 0.5,
        heads,
    };
    let mut model = match Model::from_file(file) {
        Ok(m) => m,
        // Only an invalid caller-supplied `FeatureConfig` gets here.
        Err(e) => return fallback(opts, &e.to_string()),
    };
    let scores: Vec<f64> = prompts.iter().map(|(p, t)| model.score(p, *t)).collect();
    model.calibrate_for_premium_share(&scores, opts.premium_share);
    model
}

/// Trains a one-head router on `premium_needed` and calibrates its threshold so that
/// `opts.premium_share` of the training prompts go premium.
pub fn train(examples: &[Example], opts: &TrainOptions) -> Model {
    let prompts: Vec<(&str, Option<&str>)> = examples
        .iter()
        .map(|e| (e.prompt.as_str(), e.task.as_deref()))
        .collect();
    let y = examples.iter().map(|e| e.premium_needed).collect();
    train_heads(&prompts, &[("premium_needed", y)], opts)
}

/// Trains a two-head router (P(weak wrong), P(strong right)); its score is
/// `(1 + E[strong − weak]) / 2`. Threshold calibrated as in [`train`].
pub fn train_pair(examples: &[PairExample], opts: &TrainOptions) -> Model {
    let prompts: Vec<(&str, Option<&str>)> = examples
        .iter()
        .map(|e| (e.prompt.as_str(), e.task.as_deref()))
        .collect();
    let weak_wrong = examples.iter().map(|e| 1.0 - e.weak_correct).collect();
    let strong_right = examples.iter().map(|e| e.strong_correct).collect();
    train_heads(
        &prompts,
        &[("weak_wrong", weak_wrong), ("strong_right", strong_right)],
        opts,
    )
}

/// A valid do-nothing model (never premium) when the options are invalid.
fn fallback(opts: &TrainOptions, why: &str) -> Model {
    let file = ModelFile {
        format: FORMAT.to_string(),
        version: VERSION,
        created: opts.created.clone(),
        trained_on: format!("untrained: {why}"),
        features: FeatureConfig::default(),
        threshold: 2.0,
        heads: vec![Head {
            target: "premium_needed".to_string(),
            bias: 0.0,
            prior_weight: 0.0,
            task_priors: BTreeMap::new(),
            default_prior: 0.5,
            weights: Vec::new(),
        }],
    };
    match Model::from_file(file) {
        Ok(m) => m,
        Err(_) => unreachable!("the default feature config is valid"),
    }
}
