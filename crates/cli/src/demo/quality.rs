//! The demo's second act: quality beside money. Answers the demo can check (arithmetic, a
//! sentiment label, valid JSON) are checked, and the verdict is sent back with
//! `POST /v1/feedback`. The `graded` route (quality-floor) learns per task which model is
//! good enough; the `extract` route (cascade) escalates broken JSON. A control sample goes
//! straight to the baseline model, so "quality kept" compares like with like.

use std::{collections::BTreeMap, io::Write};

use futures::StreamExt;
use serde_json::{json, Value};
use switchyard_sim::engine::{NEGATIVE_WORDS, POSITIVE_WORDS};

/// Requests per learning wave; feedback of one wave is in before the next starts.
const WAVE: usize = 40;
/// Waves on the quality-floor route.
const WAVES: usize = 8;
/// JSON extractions on the cascade route.
const EXTRACTIONS: usize = 80;
/// Sums on the confidence cascade.
const CONFIDENT: usize = 60;
/// One question in this many (per task) goes straight to the baseline model (the control).
const CONTROL_EVERY: usize = 5;

/// One checked answer.
struct Checked {
    model: String,
    correct: bool,
    cost: f64,
    baseline: f64,
}

/// What the quality act measured.
pub struct Summary {
    /// Per task, per wave: answers, and how many came from sim-cheap.
    waves: BTreeMap<&'static str, Vec<(usize, usize)>>,
    /// Per task: routed answers.
    graded: BTreeMap<&'static str, Vec<Checked>>,
    /// Per task: the control sample on the baseline model.
    control: BTreeMap<&'static str, Vec<Checked>>,
    /// The cascade's answers, and how many were escalated.
    extract: Vec<Checked>,
    escalated: usize,
    /// The confidence cascade's answers, how many were escalated, and how many of the cheap
    /// model's answers were right (asked directly, for comparison).
    confident: Vec<Checked>,
    confident_escalated: usize,
    cheap_alone_right: usize,
    feedback_sent: usize,
}

/// A question whose right answer the demo knows.
fn question(task: &'static str, i: usize) -> (String, String) {
    if task == "arithmetic" {
        let (a, b) = (17 + (i * 7) % 83, 5 + (i * 13) % 47);
        (
            format!("What is {a} + {b}?"),
            format!("The answer is {}.", a + b),
        )
    } else {
        // Tasks alternate with `i`, so the label alternates with `i / 2`.
        let k = i / 2;
        let (w, label) = if k.is_multiple_of(2) {
            (POSITIVE_WORDS[k % POSITIVE_WORDS.len()], "positive")
        } else {
            (NEGATIVE_WORDS[k % NEGATIVE_WORDS.len()], "negative")
        };
        (
            format!("Classify the sentiment of this review (#{i}): 'The service was {w}.'"),
            label.to_owned(),
        )
    }
}

struct Answer {
    id: String,
    model: String,
    attempts: u32,
    text: String,
    cost: f64,
    baseline: f64,
}

async fn ask(
    client: &reqwest::Client,
    base: &str,
    model: &str,
    task: &str,
    prompt: &str,
    extra: Value,
) -> anyhow::Result<Answer> {
    let mut body = json!({"model": model, "messages": [{"role": "user", "content": prompt}]});
    if let (Some(b), Value::Object(extra)) = (body.as_object_mut(), extra) {
        b.extend(extra);
    }
    let resp = client
        .post(format!("{base}/v1/chat/completions"))
        .header("x-switchyard-task", task)
        .json(&body)
        .send()
        .await?;
    anyhow::ensure!(resp.status() == 200, "status {}", resp.status());
    let h = |n: &str| {
        resp.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (id, model, attempts) = (
        h("x-switchyard-request-id"),
        h("x-switchyard-model"),
        h("x-switchyard-attempts").parse().unwrap_or(1),
    );
    let (cost, baseline) = (
        h("x-switchyard-cost-usd").parse().unwrap_or(0.0),
        h("x-switchyard-baseline-cost-usd").parse().unwrap_or(0.0),
    );
    let v: Value = resp.json().await?;
    let text = v["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    Ok(Answer {
        id,
        model,
        attempts,
        text,
        cost,
        baseline,
    })
}

async fn feedback(client: &reqwest::Client, base: &str, id: &str, pass: bool) -> bool {
    client
        .post(format!("{base}/v1/feedback"))
        .json(&json!({"request_id": id, "pass": pass}))
        .send()
        .await
        .is_ok_and(|r| r.status() == 200)
}

/// Run the quality act against the demo gateway at `base`.
pub async fn run(client: &reqwest::Client, base: &str) -> anyhow::Result<Summary> {
    let mut s = Summary {
        waves: BTreeMap::new(),
        graded: BTreeMap::new(),
        control: BTreeMap::new(),
        extract: Vec::new(),
        escalated: 0,
        confident: Vec::new(),
        confident_escalated: 0,
        cheap_alone_right: 0,
        feedback_sent: 0,
    };
    const TASKS: [&str; 2] = ["sentiment", "arithmetic"];
    for wave in 0..WAVES {
        let results: Vec<anyhow::Result<(&'static str, bool, Checked, bool)>> =
            futures::stream::iter(0..WAVE)
                .map(|j| async move {
                    let i = wave * WAVE + j;
                    let task = TASKS[i % 2];
                    // Two in every 2 × CONTROL_EVERY questions (one per task) are the control.
                    let control = i % (2 * CONTROL_EVERY) < 2;
                    let (prompt, right) = question(task, i);
                    let model = if control { "sim-premium" } else { "graded" };
                    let a = ask(client, base, model, task, &prompt, Value::Null).await?;
                    let correct = a.text.trim() == right;
                    let sent = feedback(client, base, &a.id, correct).await;
                    let checked = Checked {
                        model: a.model,
                        correct,
                        cost: a.cost,
                        baseline: a.baseline,
                    };
                    Ok((task, model == "sim-premium", checked, sent))
                })
                .buffer_unordered(WAVE)
                .collect()
                .await;
        for r in results {
            let (task, is_control, checked, sent) = r?;
            s.feedback_sent += usize::from(sent);
            if is_control {
                s.control.entry(task).or_default().push(checked);
                continue;
            }
            let w = s.waves.entry(task).or_default();
            if w.len() <= wave {
                w.resize(wave + 1, (0, 0));
            }
            w[wave].0 += 1;
            w[wave].1 += usize::from(checked.model == "sim-cheap");
            s.graded.entry(task).or_default().push(checked);
        }
    }
    let extractions: Vec<anyhow::Result<(Checked, bool, bool)>> =
        futures::stream::iter(0..EXTRACTIONS)
            .map(|i| async move {
                let prompt =
                    format!("Extract the invoice number and total of invoice INV-{i} as JSON.");
                let json_mode = json!({"response_format": {"type": "json_object"}});
                let a = ask(client, base, "extract", "extraction", &prompt, json_mode).await?;
                let valid = serde_json::from_str::<Value>(&a.text).is_ok_and(|v| v.is_object());
                let sent = feedback(client, base, &a.id, valid).await;
                let checked = Checked {
                    model: a.model,
                    correct: valid,
                    cost: a.cost,
                    baseline: a.baseline,
                };
                Ok((checked, a.attempts > 1, sent))
            })
            .buffer_unordered(32)
            .collect()
            .await;
    for r in extractions {
        let (checked, escalated, sent) = r?;
        s.escalated += usize::from(escalated);
        s.feedback_sent += usize::from(sent);
        s.extract.push(checked);
    }
    let sums: Vec<anyhow::Result<(Checked, bool, bool, bool)>> =
        futures::stream::iter(0..CONFIDENT)
            .map(|i| async move {
                let (prompt, right) = question("arithmetic", 1000 + 2 * i);
                let logprobs = json!({"logprobs": true});
                let a = ask(client, base, "confident", "arithmetic", &prompt, logprobs).await?;
                let alone = ask(
                    client,
                    base,
                    "sim-cheap",
                    "arithmetic",
                    &prompt,
                    Value::Null,
                )
                .await?;
                let correct = a.text.trim() == right;
                let sent = feedback(client, base, &a.id, correct).await;
                let checked = Checked {
                    model: a.model,
                    correct,
                    cost: a.cost,
                    baseline: a.baseline,
                };
                Ok((checked, a.attempts > 1, alone.text.trim() == right, sent))
            })
            .buffer_unordered(32)
            .collect()
            .await;
    for r in sums {
        let (checked, escalated, alone_right, sent) = r?;
        s.confident_escalated += usize::from(escalated);
        s.cheap_alone_right += usize::from(alone_right);
        s.feedback_sent += usize::from(sent);
        s.confident.push(checked);
    }
    Ok(s)
}

fn share(part: usize, whole: usize) -> f64 {
    crate::report::rate(part as u64, whole as u64)
}

fn accuracy(v: &[Checked]) -> f64 {
    share(v.iter().filter(|c| c.correct).count(), v.len())
}

impl Summary {
    /// Print the quality act.
    pub fn print(&self) -> anyhow::Result<()> {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "\nquality — answers the demo can check; each verdict goes back as POST /v1/feedback ({} sent)",
            self.feedback_sent
        )?;
        writeln!(
            out,
            "route \"graded\" (quality-floor: cheapest model whose learned quality on the task is ≥ 0.85 at 95% confidence)"
        )?;
        writeln!(
            out,
            "{:<11} {:>5}  {:<58} {:>9} {:>17}",
            "task", "reqs", "on sim-cheap, wave by wave", "correct", "baseline correct"
        )?;
        let (mut cost, mut baseline, mut right, mut n) = (0.0, 0.0, 0usize, 0usize);
        for (task, graded) in &self.graded {
            let waves: Vec<String> = self.waves[task]
                .iter()
                .map(|(all, cheap)| format!("{:.0}%", share(*cheap, *all)))
                .collect();
            let control = self.control.get(task).map_or(&[][..], Vec::as_slice);
            writeln!(
                out,
                "{:<11} {:>5}  {:<58} {:>8.1}% {:>16.1}%",
                task,
                graded.len(),
                waves.join(" → "),
                accuracy(graded),
                accuracy(control),
            )?;
            cost += graded.iter().map(|c| c.cost).sum::<f64>();
            baseline += graded.iter().map(|c| c.baseline).sum::<f64>();
            right += graded.iter().filter(|c| c.correct).count();
            n += graded.len();
        }
        let control: Vec<&Checked> = self.control.values().flatten().collect();
        let control_acc = share(control.iter().filter(|c| c.correct).count(), control.len());
        let valid = self.extract.iter().filter(|c| c.correct).count();
        writeln!(
            out,
            "route \"extract\" (cascade: sim-cheap, escalated to sim-premium when its JSON is invalid): {} requests, {} escalated, {valid}/{} served valid JSON",
            self.extract.len(),
            self.escalated,
            self.extract.len(),
        )?;
        cost += self.extract.iter().map(|c| c.cost).sum::<f64>();
        baseline += self.extract.iter().map(|c| c.baseline).sum::<f64>();
        right += valid;
        n += self.extract.len();
        writeln!(
            out,
            "route \"confident\" (cascade: sim-cheap's sum kept when its confidence ≥ 0.7, from logprobs): {} sums, {} escalated, {:.1}% right (sim-cheap alone: {:.1}%)",
            self.confident.len(),
            self.confident_escalated,
            accuracy(&self.confident),
            share(self.cheap_alone_right, self.confident.len()),
        )?;
        cost += self.confident.iter().map(|c| c.cost).sum::<f64>();
        baseline += self.confident.iter().map(|c| c.baseline).sum::<f64>();
        right += self.confident.iter().filter(|c| c.correct).count();
        n += self.confident.len();
        let routed_acc = share(right, n);
        let kept = if control_acc > 0.0 {
            100.0 * routed_acc / control_acc
        } else {
            0.0
        };
        writeln!(
            out,
            "quality kept: {routed_acc:.1}% of routed answers acceptable vs {control_acc:.1}% on the baseline model ({} control requests) → {kept:.1}% of baseline quality",
            control.len()
        )?;
        writeln!(
            out,
            "spend on these: ${cost:.6} vs baseline ${baseline:.6} → saved {:.1}% (an escalated request pays for both attempts)",
            if baseline > 0.0 { 100.0 * (baseline - cost) / baseline } else { 0.0 }
        )?;
        writeln!(
            out,
            "the learned quality per (task, model) is at GET /admin/health and in the ledger's signals table"
        )?;
        Ok(())
    }
}
