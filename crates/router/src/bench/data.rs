//! Loading RouteLLM's MMLU and GSM8K files: per-prompt correctness of the weak model
//! (Mixtral-8x7B-Instruct) and the strong one (gpt-4-1106-preview), minus contaminated prompts.

use std::{collections::HashSet, path::Path};

use super::csv;
use crate::RouterError;

/// Which benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// MMLU (57 subjects; subject is the task label; no responses).
    Mmlu,
    /// GSM8K (no task label; both models' responses available).
    Gsm8k,
}

impl Task {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Task::Mmlu => "mmlu",
            Task::Gsm8k => "gsm8k",
        }
    }
}

impl std::str::FromStr for Task {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "mmlu" => Ok(Task::Mmlu),
            "gsm8k" => Ok(Task::Gsm8k),
            other => Err(format!("unknown task {other:?} (expected mmlu or gsm8k)")),
        }
    }
}

/// One benchmark prompt.
#[derive(Debug, Clone)]
pub struct Row {
    /// The prompt text.
    pub prompt: String,
    /// Task label (MMLU subject), if any.
    pub task: Option<String>,
    /// Whether the weak model answered correctly.
    pub weak: bool,
    /// Whether the strong model answered correctly.
    pub strong: bool,
    /// The weak model's response text (GSM8K only).
    pub weak_response: Option<String>,
}

/// The loaded data set.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Rows in file order, contaminated ones removed.
    pub rows: Vec<Row>,
    /// How many rows were dropped as contaminated.
    pub dropped_contaminated: usize,
}

fn read(path: &Path) -> Result<String, RouterError> {
    std::fs::read_to_string(path).map_err(|e| RouterError::Io {
        path: path.display().to_string(),
        source: e,
    })
}

fn parse_bool(s: &str) -> Result<bool, RouterError> {
    match s.trim() {
        "1" | "1.0" | "True" | "true" => Ok(true),
        "0" | "0.0" | "False" | "false" => Ok(false),
        other => Err(RouterError::Data(format!("not a boolean: {other:?}"))),
    }
}

/// Prompts listed in `<task>_contaminated_prompts.jsonl` (field `eval_prompt`: the benchmark
/// prompt that RouteLLM's training data contains; matched exactly).
fn contaminated(dir: &Path, task: Task) -> Result<HashSet<String>, RouterError> {
    let path = dir.join(format!("{}_contaminated_prompts.jsonl", task.name()));
    let text = read(&path)?;
    let mut set = HashSet::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| RouterError::Data(format!("{}:{}: {e}", path.display(), i + 1)))?;
        let p = v
            .get("eval_prompt")
            .and_then(|p| p.as_str())
            .ok_or_else(|| {
                RouterError::Data(format!("{}:{}: no eval_prompt", path.display(), i + 1))
            })?;
        set.insert(p.to_string());
    }
    Ok(set)
}

fn column(header: &[String], name: &str, file: &str) -> Result<usize, RouterError> {
    header
        .iter()
        .position(|h| h == name)
        .ok_or_else(|| RouterError::Data(format!("{file}: no column {name:?}")))
}

const WEAK: &str = "mistralai/Mixtral-8x7B-Instruct-v0.1";
const STRONG: &str = "gpt-4-1106-preview";

/// Loads a task's rows from RouteLLM's directory (`mmlu_merged.csv` or `gsm8k_responses.csv`).
pub fn load(dir: &Path, task: Task) -> Result<Dataset, RouterError> {
    let file = match task {
        Task::Mmlu => "mmlu_merged.csv",
        Task::Gsm8k => "gsm8k_responses.csv",
    };
    let records = csv::parse(&read(&dir.join(file))?)
        .map_err(|e| RouterError::Data(format!("{file}: {e}")))?;
    let (header, body) = records
        .split_first()
        .ok_or_else(|| RouterError::Data(format!("{file}: empty")))?;
    let prompt = column(header, "prompt", file)?;
    let (weak, strong, subject, response) = match task {
        Task::Mmlu => (
            column(header, "mixtral_8x7b_correct", file)?,
            column(header, "gpt4_1106_correct", file)?,
            Some(column(header, "subject", file)?),
            None,
        ),
        Task::Gsm8k => (
            column(header, WEAK, file)?,
            column(header, STRONG, file)?,
            None,
            Some(column(header, &format!("{WEAK}_response"), file)?),
        ),
    };
    let bad = contaminated(dir, task)?;
    let mut rows = Vec::with_capacity(body.len());
    let mut dropped = 0;
    for (i, rec) in body.iter().enumerate() {
        let get = |c: usize| {
            rec.get(c)
                .ok_or_else(|| RouterError::Data(format!("{file}: record {} too short", i + 2)))
        };
        let p = get(prompt)?;
        if bad.contains(p) {
            dropped += 1;
            continue;
        }
        rows.push(Row {
            prompt: p.clone(),
            task: subject.map(get).transpose()?.cloned(),
            weak: parse_bool(get(weak)?)?,
            strong: parse_bool(get(strong)?)?,
            weak_response: response.map(get).transpose()?.cloned(),
        });
    }
    Ok(Dataset {
        rows,
        dropped_contaminated: dropped,
    })
}
