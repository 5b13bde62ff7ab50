//! The routing benchmark (`switchyard bench-router`): routing policies on RouteLLM's MMLU and
//! GSM8K data, scored on a held-out test split.
//!
//! Split: the rows left after dropping contaminated prompts are shuffled with splitmix64 seeded
//! by `seed` (Fisher–Yates); the first `floor(n · train_fraction)` (default 50 %) are the train
//! split, the rest the test split. Every policy is fitted on train only and scored on test.

mod arith;
mod cascade;
mod csv;
mod data;
mod metrics;

use std::{collections::BTreeMap, path::Path};

use serde::Serialize;

pub use data::{load, Dataset, Row, Task};
pub use metrics::{evaluate, PolicyMetrics};

use crate::{hash::SplitMix64, train_pair, PairExample, RouterError, TrainOptions};

/// Benchmark settings.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Which data set.
    pub task: Task,
    /// Split (and random policy) seed.
    pub seed: u64,
    /// Share of rows in the train split.
    pub train_fraction: f64,
    /// Price of a weak call relative to a strong one.
    pub weak_cost: f64,
    /// Training options of the learned router (seed is overridden by `seed`).
    pub train: TrainOptions,
    /// Weight of the learned prompt router's score in the cascade's escalation score.
    pub cascade_prompt_weight: f64,
}

impl BenchOptions {
    /// The defaults for a task: 50/50 split, weak cost 0.03.
    pub fn new(task: Task, seed: u64) -> BenchOptions {
        BenchOptions {
            task,
            seed,
            train_fraction: 0.5,
            weak_cost: WEAK_COST,
            train: TrainOptions::default(),
            cascade_prompt_weight: 1.0,
        }
    }
}

/// Relative price of a Mixtral-8x7B call vs a gpt-4-1106-preview call: $0.60/M tokens (in and
/// out, Together) vs $10/M in and $30/M out, i.e. $20/M at a 1:1 token mix → 0.03.
pub const WEAK_COST: f64 = 0.03;

/// The benchmark result.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// `mmlu` or `gsm8k`.
    pub task: String,
    /// The split seed.
    pub seed: u64,
    /// Rows in the train split.
    pub n_train: usize,
    /// Rows in the test split.
    pub n_test: usize,
    /// Rows dropped as contaminated.
    pub dropped_contaminated: usize,
    /// Weak model's accuracy on the test split.
    pub q_weak: f64,
    /// Strong model's accuracy on the test split.
    pub q_strong: f64,
    /// Weak call price relative to a strong call.
    pub weak_cost: f64,
    /// Metrics by policy name.
    pub policies: BTreeMap<String, PolicyMetrics>,
    /// Policies that do not apply to this task, with the reason.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub not_applicable: BTreeMap<String, String>,
}

/// Splits `rows` into (train, test) as documented at the top of this module.
pub fn split(rows: &[Row], seed: u64, train_fraction: f64) -> (Vec<&Row>, Vec<&Row>) {
    let mut idx: Vec<usize> = (0..rows.len()).collect();
    SplitMix64::new(seed).shuffle(&mut idx);
    let n_train = (rows.len() as f64 * train_fraction.clamp(0.0, 1.0)).floor() as usize;
    let train = idx[..n_train].iter().map(|&i| &rows[i]).collect();
    let test = idx[n_train..].iter().map(|&i| &rows[i]).collect();
    (train, test)
}

/// Training examples for the learned router from benchmark rows (both outcomes known).
pub fn examples(rows: &[&Row]) -> Vec<PairExample> {
    let f = |b: bool| f64::from(u8::from(b));
    rows.iter()
        .map(|r| PairExample {
            prompt: r.prompt.clone(),
            task: r.task.clone(),
            weak_correct: f(r.weak),
            strong_correct: f(r.strong),
        })
        .collect()
}

/// Quality-floor scores: per task label a Beta(1,1) posterior of each model's accuracy on the
/// train split; score = posterior mean(strong) − lower bound(weak) (mean − 1.645·sd).
fn quality_floor(train: &[&Row], test: &[&Row]) -> Vec<f64> {
    let mut counts: BTreeMap<Option<&str>, [f64; 3]> = BTreeMap::new();
    let mut global = [0.0f64; 3];
    for r in train {
        let add = |c: &mut [f64; 3]| {
            c[0] += f64::from(u8::from(r.weak));
            c[1] += f64::from(u8::from(r.strong));
            c[2] += 1.0;
        };
        add(counts.entry(r.task.as_deref()).or_default());
        add(&mut global);
    }
    let beta = |k: f64, n: f64| {
        let (a, b) = (1.0 + k, 1.0 + n - k);
        let mean = a / (a + b);
        let var = a * b / ((a + b) * (a + b) * (a + b + 1.0));
        (mean, var.sqrt())
    };
    test.iter()
        .map(|r| {
            let c = counts.get(&r.task.as_deref()).unwrap_or(&global);
            let (ms, _) = beta(c[1], c[2]);
            let (mw, sw) = beta(c[0], c[2]);
            ms - (mw - 1.645 * sw)
        })
        .collect()
}

/// Runs every policy on the task's test split.
pub fn run(dir: &Path, opts: &BenchOptions) -> Result<BenchReport, RouterError> {
    let data = load(dir, opts.task)?;
    run_on(&data, opts)
}

/// Runs every policy on an already loaded data set.
pub fn run_on(data: &Dataset, opts: &BenchOptions) -> Result<BenchReport, RouterError> {
    let (train_rows, test) = split(&data.rows, opts.seed, opts.train_fraction);
    if train_rows.is_empty() || test.is_empty() {
        return Err(RouterError::Data(
            "train or test split is empty".to_string(),
        ));
    }
    let weak: Vec<bool> = test.iter().map(|r| r.weak).collect();
    let strong: Vec<bool> = test.iter().map(|r| r.strong).collect();
    let eval =
        |scores: &[f64], cascade: bool| evaluate(scores, &weak, &strong, cascade, opts.weak_cost);
    let mut policies = BTreeMap::new();
    let mut not_applicable = BTreeMap::new();

    let mut topts = opts.train.clone();
    topts.seed = opts.seed;
    let model = train_pair(&examples(&train_rows), &topts);
    let learned: Vec<f64> = test
        .iter()
        .map(|r| model.score(&r.prompt, r.task.as_deref()))
        .collect();
    policies.insert("learned".to_string(), eval(&learned, false));

    policies.insert(
        "quality-floor".to_string(),
        eval(&quality_floor(&train_rows, &test), false),
    );

    match opts.task {
        Task::Gsm8k => {
            let scores = cascade::scores(&train_rows, &test, &topts, opts.cascade_prompt_weight);
            policies.insert("cascade".to_string(), eval(&scores, true));
        }
        Task::Mmlu => {
            not_applicable.insert(
                "cascade".to_string(),
                "the MMLU data has no weak-model responses for an evaluator to read".to_string(),
            );
        }
    }

    let mut rng = SplitMix64::new(opts.seed ^ 0x5eed_5eed_5eed_5eed);
    let random: Vec<f64> = test.iter().map(|_| rng.next_f64()).collect();
    policies.insert("random".to_string(), eval(&random, false));

    let oracle: Vec<f64> = test
        .iter()
        .map(|r| f64::from(u8::from(r.strong)) - f64::from(u8::from(r.weak)))
        .collect();
    policies.insert("oracle".to_string(), eval(&oracle, false));

    let n = test.len() as f64;
    Ok(BenchReport {
        task: opts.task.name().to_string(),
        seed: opts.seed,
        n_train: train_rows.len(),
        n_test: test.len(),
        dropped_contaminated: data.dropped_contaminated,
        q_weak: weak.iter().filter(|&&w| w).count() as f64 / n,
        q_strong: strong.iter().filter(|&&s| s).count() as f64 / n,
        weak_cost: opts.weak_cost,
        policies,
        not_applicable,
    })
}

/// A readable table of a report.
pub fn render_text(r: &BenchReport) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "bench-router task={} seed={} train={} test={} dropped_contaminated={}",
        r.task, r.seed, r.n_train, r.n_test, r.dropped_contaminated
    );
    let _ = writeln!(
        s,
        "q_weak={:.4} q_strong={:.4} weak_cost={} (strong call = 1)",
        r.q_weak, r.q_strong, r.weak_cost
    );
    let _ = writeln!(
        s,
        "{:<14} {:>6} {:>6} {:>6} {:>9} {:>9}",
        "policy", "APGR", "CPT50", "CPT80", "share@95", "cost@95"
    );
    for name in ["learned", "quality-floor", "cascade", "random", "oracle"] {
        if let Some(m) = r.policies.get(name) {
            let _ = writeln!(
                s,
                "{:<14} {:>6.3} {:>6.3} {:>6.3} {:>9.3} {:>9.3}",
                name, m.apgr, m.cpt50, m.cpt80, m.premium_share_at_95, m.cost_at_95
            );
        }
    }
    for (name, why) in &r.not_applicable {
        let _ = writeln!(s, "{name:<14} n/a: {why}");
    }
    s
}
