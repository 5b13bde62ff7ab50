//! `switchyard train-router` and `switchyard bench-router`: fit the learned router on RouteLLM's
//! benchmark data, and compare routing policies on it (issue 11, "cost per quality").
//!
//! The logic lives in `switchyard-router` (`train_pair`, `bench::run`); this file parses
//! arguments, writes the model file and prints the report.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use switchyard_router::bench::{self, BenchOptions, Task};

const DATA_DEFAULT: &str = "../shared/data/routing/routellm";

/// Which benchmark data set.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TaskArg {
    /// MMLU (subjects are the task labels).
    Mmlu,
    /// GSM8K (with the weak model's responses, for the cascade).
    Gsm8k,
}

impl From<TaskArg> for Task {
    fn from(t: TaskArg) -> Task {
        match t {
            TaskArg::Mmlu => Task::Mmlu,
            TaskArg::Gsm8k => Task::Gsm8k,
        }
    }
}

/// Output format of `bench-router`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// One JSON object.
    Json,
    /// A readable table.
    Text,
}

/// `switchyard train-router`.
#[derive(Debug, Args)]
pub struct TrainRouterArgs {
    /// RouteLLM data directory.
    #[arg(long, default_value = DATA_DEFAULT)]
    data: PathBuf,
    /// Which data set to train on.
    #[arg(long, value_enum)]
    task: TaskArg,
    /// Split seed (the same split as `bench-router --seed`); the model trains on the train half.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Share of the training prompts the calibrated threshold sends to the premium model.
    #[arg(long, default_value_t = 0.4)]
    premium_share: f64,
    /// Where to write the model file.
    #[arg(long)]
    out: PathBuf,
}

/// `switchyard bench-router`.
#[derive(Debug, Args)]
pub struct BenchRouterArgs {
    /// RouteLLM data directory.
    #[arg(long, default_value = DATA_DEFAULT)]
    data: PathBuf,
    /// Which data set.
    #[arg(long, value_enum)]
    task: TaskArg,
    /// Split seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Output format.
    #[arg(long, value_enum, default_value = "json")]
    format: Format,
}

/// Trains on the benchmark's train split and writes the model file.
pub fn train(args: TrainRouterArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        (0.0..=1.0).contains(&args.premium_share),
        "--premium-share must be within [0, 1]"
    );
    let task = Task::from(args.task);
    let data = bench::load(&args.data, task)
        .with_context(|| format!("loading {}", args.data.display()))?;
    let opts = BenchOptions::new(task, args.seed);
    let (train_rows, test_rows) = bench::split(&data.rows, args.seed, opts.train_fraction);
    let mut topts = opts.train.clone();
    topts.seed = args.seed;
    topts.premium_share = args.premium_share;
    topts.created = switchyard_pricing::Utc::now().to_rfc3339();
    topts.trained_on = format!(
        "RouteLLM {} train split (seed {}, {:.0}% of {} rows after dropping {} contaminated); \
         heads: P(Mixtral-8x7B wrong), P(gpt-4-1106 right)",
        task.name(),
        args.seed,
        opts.train_fraction * 100.0,
        data.rows.len(),
        data.dropped_contaminated
    );
    let model = switchyard_router::train_pair(&bench::examples(&train_rows), &topts);
    model
        .save(&args.out)
        .with_context(|| format!("writing {}", args.out.display()))?;
    let premium = test_rows
        .iter()
        .filter(|r| model.premium(&r.prompt, r.task.as_deref()))
        .count();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "wrote {} ({}; {} train prompts, threshold {:.4}); on the {} held-out prompts it sends {:.1}% to premium",
        args.out.display(),
        model.version(),
        train_rows.len(),
        model.threshold(),
        test_rows.len(),
        100.0 * premium as f64 / test_rows.len().max(1) as f64
    )?;
    Ok(())
}

/// Runs the benchmark and prints the report.
pub fn bench(args: BenchRouterArgs) -> anyhow::Result<()> {
    let opts = BenchOptions::new(args.task.into(), args.seed);
    let report = bench::run(&args.data, &opts)
        .with_context(|| format!("benchmark on {}", args.data.display()))?;
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?,
        Format::Text => write!(out, "{}", bench::render_text(&report))?,
    }
    Ok(())
}
