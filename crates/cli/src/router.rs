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
    /// Which benchmark data set to train on (or give `--examples`).
    #[arg(
        long,
        value_enum,
        required_unless_present = "examples",
        conflicts_with = "examples"
    )]
    task: Option<TaskArg>,
    /// Your own labelled data instead: JSON lines `{"prompt": "…", "task": "…" (optional),
    /// "cheap_ok": 0..1, "premium_ok": 0..1}` (both models' outcomes), or `{"prompt", "task",
    /// "premium_needed": 0..1}`. All lines are training data.
    #[arg(long)]
    examples: Option<PathBuf>,
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
    let Some(task) = args.task.map(Task::from) else {
        return train_on_examples(&args);
    };
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

/// `--examples FILE`: train on the user's labelled JSON lines.
fn train_on_examples(args: &TrainRouterArgs) -> anyhow::Result<()> {
    #[derive(serde::Deserialize)]
    struct Line {
        prompt: String,
        #[serde(default)]
        task: Option<String>,
        #[serde(default)]
        cheap_ok: Option<f64>,
        #[serde(default)]
        premium_ok: Option<f64>,
        #[serde(default)]
        premium_needed: Option<f64>,
    }
    let path = args
        .examples
        .as_ref()
        .context("--examples is required without --task")?;
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    let (mut pairs, mut singles) = (Vec::new(), Vec::new());
    for (i, l) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let l: Line = serde_json::from_str(l)
            .with_context(|| format!("{}:{}: not an example line", path.display(), i + 1))?;
        let unit = |v: f64| (0.0..=1.0).contains(&v);
        match (l.cheap_ok, l.premium_ok, l.premium_needed) {
            (Some(c), Some(p), None) if unit(c) && unit(p) => {
                pairs.push(switchyard_router::PairExample {
                    prompt: l.prompt,
                    task: l.task,
                    weak_correct: c,
                    strong_correct: p,
                });
            }
            (None, None, Some(n)) if unit(n) => singles.push(switchyard_router::Example {
                prompt: l.prompt,
                task: l.task,
                premium_needed: n,
            }),
            _ => anyhow::bail!(
                "{}:{}: give `cheap_ok` and `premium_ok`, or `premium_needed`, each in [0, 1]",
                path.display(),
                i + 1
            ),
        }
    }
    anyhow::ensure!(
        pairs.is_empty() || singles.is_empty(),
        "{}: mixes both example forms; use one",
        path.display()
    );
    let mut topts = switchyard_router::TrainOptions {
        seed: args.seed,
        premium_share: args.premium_share,
        created: switchyard_pricing::Utc::now().to_rfc3339(),
        ..switchyard_router::TrainOptions::default()
    };
    let n = pairs.len() + singles.len();
    anyhow::ensure!(n > 0, "{}: no examples", path.display());
    topts.trained_on = format!("{} ({n} labelled examples)", path.display());
    let model = if pairs.is_empty() {
        switchyard_router::train(&singles, &topts)
    } else {
        switchyard_router::train_pair(&pairs, &topts)
    };
    model
        .save(&args.out)
        .with_context(|| format!("writing {}", args.out.display()))?;
    writeln!(
        std::io::stdout().lock(),
        "wrote {} ({}; {n} examples, threshold {:.4} sends {:.0}% of them to premium)",
        args.out.display(),
        model.version(),
        model.threshold(),
        100.0 * args.premium_share
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
