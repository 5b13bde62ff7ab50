//! The cascade's evaluator: reads the weak model's GSM8K answer and estimates the probability
//! that it is wrong, from re-checked arithmetic, the shape of the final answer and how it relates
//! to the worked chain and the prompt. A small logistic model over these features is fitted on the
//! train split.

use super::{
    arith::{check, close, leading_number, strip_annotations},
    Row,
};
use crate::{
    features::SparseRow,
    train,
    train::{fit_logistic, FitParams},
    Example, TrainOptions,
};

/// Number of dense evaluator features (index 0 is the bias).
const DIM: usize = 40;

const HEDGES: &[&str] = &[
    "assum",
    "however",
    "approximately",
    "not possible",
    "cannot",
    "can't",
    "unclear",
    "not enough",
    "round",
    "actually",
    "mistake",
    "but ",
    "wait",
    "let's re",
    "note that",
    "impossible",
    "not specified",
    "estimate",
];

/// All numbers in `s`, in order.
fn numbers(s: &str) -> Vec<f64> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() {
            let start = i;
            while i < b.len()
                && (b[i].is_ascii_digit()
                    || ((b[i] == b'.' || b[i] == b',')
                        && b.get(i + 1).is_some_and(|c| c.is_ascii_digit())))
            {
                i += 1;
            }
            if let Some(v) = leading_number(&s[start..i]) {
                out.push(v);
            }
        } else {
            i += 1;
        }
    }
    out
}

fn ln1(x: usize) -> f32 {
    (x as f32).ln_1p()
}

fn flag(b: bool) -> f32 {
    f32::from(u8::from(b))
}

/// The evaluator's features for one (prompt, weak response) pair, as a dense vector.
pub(crate) fn features(prompt: &str, response: &str) -> [f32; DIM] {
    let mut f = [0.0f32; DIM];
    f[0] = 1.0;
    let lower = response.to_lowercase();
    let markers = response.matches("####").count();
    let final_text = response.rsplit_once("####").map(|(_, t)| t.trim());
    let final_num = final_text.and_then(leading_number);
    let checks = check(response);
    let prompt_nums = numbers(prompt);
    let plain = strip_annotations(response);
    let chain_nums = numbers(plain.rsplit_once("####").map_or(plain.as_str(), |(c, _)| c));

    f[1] = flag(markers > 0);
    f[2] = flag(markers > 1);
    f[3] = flag(final_num.is_some());
    if let (Some(t), Some(v)) = (final_text, final_num) {
        let after_num = t.trim_start_matches(|c: char| {
            c.is_ascii_digit() || matches!(c, '$' | ',' | '.' | '-' | '/')
        });
        f[4] = flag(!after_num.trim().is_empty());
        f[5] = flag(v.fract().abs() > 1e-9);
        f[6] = flag(v < 0.0);
        f[7] = flag(v.abs() >= 10_000.0);
        f[8] = flag(checks.results.last().is_some_and(|&r| close(r, v)));
        f[9] = flag(checks.results.iter().any(|&r| close(r, v)));
        f[10] = flag(prompt_nums.iter().any(|&p| close(p, v)));
        f[11] = flag(chain_nums.iter().any(|&c| close(c, v)));
        f[12] = flag(chain_nums.last().is_some_and(|&c| close(c, v)));
        f[13] = flag(v == 0.0);
    }
    f[14] = ln1(checks.checked);
    f[15] = ln1(checks.failed);
    f[16] = flag(checks.failed > 0);
    f[17] = if checks.checked > 0 {
        checks.failed as f32 / checks.checked as f32
    } else {
        0.0
    };
    f[18] = flag(checks.checked == 0);
    f[19] = ln1(response.len()) / 4.0;
    f[20] = ln1(prompt.len()) / 4.0;
    f[21] = ln1(prompt_nums.len());
    f[22] = ln1(HEDGES.iter().map(|h| lower.matches(h).count()).sum());
    let last_line = response.trim_end().rsplit('\n').next().unwrap_or("");
    f[23] = flag(!last_line.contains("####"));
    f[24] = ln1(response.lines().filter(|l| !l.trim().is_empty()).count());
    f[25] = ln1(chain_nums.len());
    // Numbers of the prompt never used in the chain (an ignored fact is a common error).
    let unused = prompt_nums
        .iter()
        .filter(|&&p| !chain_nums.iter().any(|&c| close(c, p)))
        .count();
    f[26] = ln1(unused);
    f[27] = if prompt_nums.is_empty() {
        0.0
    } else {
        unused as f32 / prompt_nums.len() as f32
    };
    f[28] = flag(response.len() > 1200);
    f[29] = flag(lower.contains("per") && lower.contains('%'));
    f[30] = ln1(prompt.matches('%').count() + prompt.matches("percent").count());
    f[31] = ln1(prompt.matches(" each").count() + prompt.matches(" every").count());
    f[32] = ln1(checks.approximate);
    f[33] = flag(checks.approximate > 0);
    let non_int = checks
        .results
        .iter()
        .filter(|r| r.fract().abs() > 1e-9)
        .count();
    f[34] = ln1(non_int);
    f[35] = flag(lower.contains("round"));
    f[36] = flag(lower.contains("fraction") || lower.contains("whole"));
    f[37] = flag(checks.results.iter().any(|r| *r < 0.0));
    f[38] = flag(final_num.is_some_and(|v| !chain_nums.iter().any(|&c| close(c, v))));
    f[39] = ln1(prompt.matches('?').count());
    f
}

fn row(f: &[f32; DIM]) -> SparseRow {
    let mut r = SparseRow::default();
    for (i, &v) in f.iter().enumerate() {
        if v != 0.0 {
            r.push(i as u32, v);
        }
    }
    r
}

/// A fitted evaluator.
#[derive(Debug, Clone)]
pub struct Evaluator {
    w: Vec<f64>,
}

impl Evaluator {
    /// Fits on (prompt, weak response, target) triples; target 1 = escalate.
    pub fn fit(items: &[(&str, &str, f64)], seed: u64) -> Evaluator {
        let rows: Vec<SparseRow> = items.iter().map(|(p, r, _)| row(&features(p, r))).collect();
        let targets: Vec<f64> = items.iter().map(|t| t.2).collect();
        let w = fit_logistic(
            &rows,
            &targets,
            DIM,
            &[0],
            &FitParams {
                epochs: 30,
                learning_rate: 0.1,
                l2: 1e-3,
                seed,
            },
        );
        Evaluator { w }
    }

    /// Probability that the weak answer should be escalated.
    pub fn score(&self, prompt: &str, response: &str) -> f64 {
        let f = features(prompt, response);
        let z: f64 = f.iter().zip(&self.w).map(|(&x, &w)| f64::from(x) * w).sum();
        1.0 / (1.0 + (-z).exp())
    }
}

/// Escalation scores of the test rows: the evaluator's P(weak answer wrong) plus
/// `prompt_weight` × the score of a one-head prompt router on the expected gain
/// `(strong − weak + 1) / 2` (GSM8K has no task label, so no prior to lean on); both fitted on
/// the train rows only.
pub(crate) fn scores(
    train_rows: &[&Row],
    test: &[&Row],
    opts: &TrainOptions,
    prompt_weight: f64,
) -> Vec<f64> {
    let response = |r: &Row| r.weak_response.as_deref().unwrap_or("").to_string();
    let responses: Vec<String> = train_rows.iter().map(|r| response(r)).collect();
    let items: Vec<(&str, &str, f64)> = train_rows
        .iter()
        .zip(&responses)
        .map(|(r, resp)| {
            (
                r.prompt.as_str(),
                resp.as_str(),
                f64::from(u8::from(!r.weak)),
            )
        })
        .collect();
    let evaluator = Evaluator::fit(&items, opts.seed);
    let gain: Vec<Example> = train_rows
        .iter()
        .map(|r| Example {
            prompt: r.prompt.clone(),
            task: None,
            premium_needed: (f64::from(u8::from(r.strong)) - f64::from(u8::from(r.weak)) + 1.0)
                / 2.0,
        })
        .collect();
    let mut popts = opts.clone();
    popts.learning_rate = 0.02;
    popts.epochs = 6;
    popts.features.text_scale = 1.0;
    let prompt_model = train(&gain, &popts);
    test.iter()
        .map(|r| {
            let resp = r.weak_response.as_deref().unwrap_or("");
            evaluator.score(&r.prompt, resp) + prompt_weight * prompt_model.score(&r.prompt, None)
        })
        .collect()
}
