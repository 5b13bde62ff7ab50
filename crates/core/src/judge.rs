//! The LLM judge: a sampled fraction of a route's answers is graded by a configured model,
//! called through the gateway itself — the same driver, its own request context — so the
//! judge's cost is priced, recorded in its own ledger row (tagged `judge`, with the judged
//! request's task) and reported like any other spend.
//!
//! The judge runs in the background after the answer was produced: it never delays a client
//! and never gates a cascade (a sampled check cannot). Its grade, 0–10, becomes a `judge`
//! signal on the judged request, attributed to the model that answered, travelling in the
//! judge's own ledger row; it updates the quality model when it arrives.

use http::{HeaderMap, HeaderValue};
use rand::Rng;
use serde_json::json;
use switchyard_store::SignalRow;
use switchyard_types::{ChatRequest, Content, Role};
use tokio::time::Instant;

use crate::{
    cx::{Ending, RequestCx},
    driver::{self, Outcome},
    evaluate::AnswerView,
    DeploymentId,
};

/// Most bytes of the question, and of the answer, shown to the judge.
const MAX_SHOWN: usize = 8 * 1024;

/// Most judge calls in flight in the process; past it, answers go unjudged (a judge must
/// never multiply the load on a busy gateway).
const MAX_IN_FLIGHT: usize = 64;

static IN_FLIGHT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// One judge call in flight, released when dropped.
struct Slot;

impl Slot {
    fn take() -> Option<Slot> {
        use std::sync::atomic::Ordering;
        let prev = IN_FLIGHT.fetch_add(1, Ordering::AcqRel);
        if prev >= MAX_IN_FLIGHT {
            IN_FLIGHT.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Slot)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// A configured judge.
#[derive(Debug, Clone, PartialEq)]
pub struct JudgeSpec {
    /// The judging model or route.
    pub model: String,
    /// Share of answers judged.
    pub sample: f64,
    /// Least passing grade, as a share of 10.
    pub min: f64,
    /// What a good answer is.
    pub criteria: Option<String>,
}

/// With probability `spec.sample`, start judging `answer` (by `answered`) to `req`, the request
/// of `cx`, in the background.
pub(crate) fn maybe_spawn(
    cx: &RequestCx,
    spec: &JudgeSpec,
    req: &ChatRequest,
    answered: DeploymentId,
    answer: &AnswerView,
) {
    // A judge's own answer is never judged (no chains of judges).
    if cx.ingress() == "judge"
        || spec.sample <= 0.0
        || !rand::thread_rng().gen_bool(spec.sample.min(1.0))
    {
        return;
    }
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let Some(slot) = Slot::take() else {
        tracing::debug!("{MAX_IN_FLIGHT} judge calls in flight: this answer goes unjudged");
        return;
    };
    let snap = cx.snap.clone();
    let judged = Judged {
        request_id: cx.id().to_owned(),
        model: snap.deployment(answered).name.clone(),
        task: cx.features.as_ref().and_then(|f| f.task.clone()),
        route: cx.plan.as_ref().map(|p| p.route.clone()),
        min: spec.min,
    };
    let Some(jreq) = judge_request(spec, req, answer) else {
        return;
    };
    let jcx = RequestCx::new(snap, cx.sink.clone(), "judge", Instant::now());
    let mut hints = HeaderMap::new();
    hints.insert("x-switchyard-tags", HeaderValue::from_static("judge"));
    if let Some(t) = judged
        .task
        .as_deref()
        .and_then(|t| HeaderValue::from_str(t).ok())
    {
        hints.insert("x-switchyard-task", t);
    }
    rt.spawn(async move {
        let _slot = slot;
        match driver::chat(jcx, jreq, hints).await {
            Outcome::Answer(resp, mut jcx) => {
                let text = resp
                    .choices
                    .first()
                    .map(|c| c.message.text_content())
                    .unwrap_or_default();
                match grade(&text) {
                    Some(g) => judged.record(&mut jcx, g),
                    None => judged.no_grade(&mut jcx, "the judge's reply holds no grade".into()),
                }
                jcx.finish(Ending::Delivered);
            }
            Outcome::Failed(e, mut jcx) => {
                tracing::debug!(error = %e, "the judge failed");
                judged.no_grade(&mut jcx, format!("the judge failed: {}", e.kind()));
                jcx.fail(502, e.kind());
                jcx.finish(Ending::Delivered);
            }
            Outcome::Stream(_) => {}
        }
    });
}

/// Whom the judge judges.
struct Judged {
    request_id: String,
    model: String,
    task: Option<String>,
    route: Option<String>,
    min: f64,
}

impl Judged {
    fn record(&self, jcx: &mut RequestCx, grade: f64) {
        let score = grade / 10.0;
        let passed = score >= self.min;
        jcx.snap
            .quality
            .observe(self.task.as_deref(), &self.model, score);
        jcx.attach_signal(self.signal(
            score,
            Some(passed),
            (!passed).then(|| format!("graded {grade}/10")),
        ));
    }

    /// A judge call that produced no grade still travels with a signal (unobserved, neither
    /// pass nor fail), so what it cost is attributed to the judged route.
    fn no_grade(&self, jcx: &mut RequestCx, why: String) {
        jcx.attach_signal(self.signal(0.0, None, Some(why)));
    }

    fn signal(&self, score: f64, passed: Option<bool>, detail: Option<String>) -> SignalRow {
        SignalRow {
            id: String::new(), // numbered in the judge's row
            request_id: self.request_id.clone(),
            ts: switchyard_store::now_ms(),
            source: "judge".into(),
            name: "judge".into(),
            model: Some(self.model.clone()),
            task: self.task.clone(),
            route: self.route.clone(),
            score,
            passed,
            observed: passed.is_some(),
            label: None,
            detail,
        }
    }
}

/// The judge's prompt: instructions, then the question and the answer (each truncated).
fn judge_request(spec: &JudgeSpec, req: &ChatRequest, answer: &AnswerView) -> Option<ChatRequest> {
    let question = req
        .messages
        .iter()
        .rev()
        .find(|m| m.role == Role::User)
        .map(|m| match &m.content {
            Some(Content::Text(t)) => t.clone(),
            _ => m.text_content(),
        })?;
    let shown_answer = if answer.text.is_empty() && !answer.tool_calls.is_empty() {
        answer
            .tool_calls
            .iter()
            .map(|(n, a)| format!("call {n}({a})"))
            .collect::<Vec<_>>()
            .join("\n")
    } else {
        answer.text.clone()
    };
    let criteria = spec
        .criteria
        .as_deref()
        .map(|c| format!(" A good answer: {c}"))
        .unwrap_or_default();
    let system = format!(
        "You grade answers. Rate how well the answer satisfies the request, from 0 (useless or \
         wrong) to 10 (fully correct and complete).{criteria} Reply with the number only."
    );
    let user = format!(
        "Request:\n{}\n\nAnswer:\n{}",
        truncate(&question, MAX_SHOWN),
        truncate(&shown_answer, MAX_SHOWN)
    );
    serde_json::from_value(json!({
        "model": spec.model,
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
        "max_tokens": 8,
        "temperature": 0,
    }))
    .ok()
}

fn truncate(s: &str, max: usize) -> &str {
    &s[..crate::strategy::floor_char_boundary(s, max.min(s.len()))]
}

/// The first number in the reply, if it is a grade from 0 to 10.
fn grade(reply: &str) -> Option<f64> {
    let start = reply.find(|c: char| c.is_ascii_digit())?;
    let rest = &reply[start..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let g: f64 = rest[..end].trim_end_matches('.').parse().ok()?;
    (0.0..=10.0).contains(&g).then_some(g)
}

#[cfg(test)]
mod tests {
    use super::grade;

    #[test]
    fn grades_are_read_from_the_reply() {
        assert_eq!(grade("9"), Some(9.0));
        assert_eq!(grade(" 7.5\n"), Some(7.5));
        assert_eq!(grade("Grade: 3."), Some(3.0));
        assert_eq!(grade("11"), None);
        assert_eq!(grade("excellent"), None);
    }
}
