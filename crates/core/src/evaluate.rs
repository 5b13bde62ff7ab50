//! Automatic evaluators: each reads an answer (and the request that asked for it) and says
//! whether it is acceptable, with a score in `[0, 1]`. A route's evaluators run on every
//! answer it gets; their signals go to the ledger beside the request, their combined verdict
//! updates the quality model, and a `cascade` escalates an answer that fails one.
//!
//! An evaluator that does not apply (JSON validity when no JSON was asked for, confidence
//! when the provider returned no log-probabilities) gives no signal rather than a pass.

use regex::Regex;
use serde_json::Value;
use switchyard_providers::StreamItem;
use switchyard_types::{ChatRequest, ChatResponse, Content, FinishReason, ResponseFormat};

use crate::config::EvaluatorConfig;

/// Most tool calls of one answer the evaluators read.
const MAX_TOOL_CALLS: usize = 128;

/// A compiled evaluator.
#[derive(Debug, Clone)]
pub enum Evaluator {
    /// See [`EvaluatorConfig::Json`].
    Json,
    /// See [`EvaluatorConfig::Refusal`].
    Refusal,
    /// See [`EvaluatorConfig::Regex`].
    Regex(Regex, bool),
    /// See [`EvaluatorConfig::Length`].
    Length(Option<usize>, Option<usize>),
    /// See [`EvaluatorConfig::Logprob`].
    Logprob(f64),
    /// See [`EvaluatorConfig::ToolArgs`].
    ToolArgs,
    /// See [`EvaluatorConfig::Judge`]; judged outside [`Evaluator::judge`], by
    /// [`crate::judge`].
    Judge(crate::judge::JudgeSpec),
}

/// One evaluator's judgement of one answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    /// The evaluator (`json`, `refusal`, `regex`, …).
    pub name: &'static str,
    /// In `[0, 1]`.
    pub score: f64,
    /// Whether the answer passes.
    pub passed: bool,
    /// Why it failed (never answer text).
    pub detail: Option<String>,
}

impl Signal {
    /// Whether the signal says something about the answer's quality (and so teaches the
    /// quality model). A `logprob` signal is the model's confidence — a proxy a cascade may
    /// act on, not a judgement of the answer — so it does not.
    pub fn is_quality(&self) -> bool {
        self.name != "logprob"
    }

    fn new(name: &'static str, passed: bool, detail: Option<String>) -> Signal {
        Signal {
            name,
            score: if passed { 1.0 } else { 0.0 },
            passed,
            detail: if passed { None } else { detail },
        }
    }
}

/// What the evaluators read of an answer (its first choice), from a whole response or from
/// the chunks of a held-back stream.
#[derive(Debug, Clone, Default)]
pub struct AnswerView {
    /// The text.
    pub text: String,
    /// A refusal the provider flagged.
    pub refusal: Option<String>,
    /// Why it ended.
    pub finish: Option<FinishReason>,
    /// Tool calls: name and arguments.
    pub tool_calls: Vec<(String, String)>,
    /// Log-probabilities of the content tokens, when the provider returned them.
    pub logprobs: Vec<f64>,
}

impl AnswerView {
    /// The first choice of a whole answer.
    pub fn of_response(r: &ChatResponse) -> AnswerView {
        let Some(c) = r.choices.first() else {
            return AnswerView::default();
        };
        let m = &c.message;
        AnswerView {
            text: match &m.content {
                Some(Content::Text(t)) => t.clone(),
                Some(_) => m.text_content(),
                None => String::new(),
            },
            refusal: m.refusal.clone().filter(|r| !r.is_empty()),
            finish: c.finish_reason.clone(),
            tool_calls: m
                .tool_calls
                .iter()
                .flatten()
                .map(|t| (t.name().to_owned(), t.input().to_owned()))
                .collect(),
            logprobs: token_logprobs(c.logprobs.as_ref()),
        }
    }

    /// The first choice of a held-back stream.
    pub fn of_chunks(items: &[StreamItem]) -> AnswerView {
        let mut v = AnswerView::default();
        for item in items {
            let StreamItem::Chunk(chunk, _) = item else {
                continue;
            };
            for c in chunk.choices.iter().filter(|c| c.index == 0) {
                let d = &c.delta;
                if let Some(t) = &d.content {
                    v.text.push_str(t);
                }
                if let Some(r) = d.refusal.as_ref().filter(|r| !r.is_empty()) {
                    v.refusal.get_or_insert_with(String::new).push_str(r);
                }
                for call in d.tool_calls.iter().flatten() {
                    // The index is the provider's: a call past the bound is not judged rather
                    // than allocated for.
                    let i = call.index as usize;
                    if i >= MAX_TOOL_CALLS {
                        continue;
                    }
                    if v.tool_calls.len() <= i {
                        v.tool_calls.resize(i + 1, (String::new(), String::new()));
                    }
                    if let Some(f) = &call.function {
                        if let Some(n) = &f.name {
                            v.tool_calls[i].0.push_str(n);
                        }
                        if let Some(a) = &f.arguments {
                            v.tool_calls[i].1.push_str(a);
                        }
                    }
                }
                if c.finish_reason.is_some() {
                    v.finish.clone_from(&c.finish_reason);
                }
                v.logprobs.extend(token_logprobs(c.logprobs.as_ref()));
            }
        }
        v
    }
}

/// `logprobs.content[].logprob`, OpenAI's shape.
fn token_logprobs(v: Option<&Value>) -> Vec<f64> {
    v.and_then(|l| l.get("content"))
        .and_then(Value::as_array)
        .map(|toks| {
            toks.iter()
                .filter_map(|t| t.get("logprob").and_then(Value::as_f64))
                .collect()
        })
        .unwrap_or_default()
}

impl Evaluator {
    /// Compile a configured evaluator.
    pub fn compile(c: &EvaluatorConfig) -> Result<Evaluator, String> {
        Ok(match c {
            EvaluatorConfig::Json => Evaluator::Json,
            EvaluatorConfig::Refusal => Evaluator::Refusal,
            EvaluatorConfig::Regex {
                pattern,
                must_match,
            } => Evaluator::Regex(
                regex::RegexBuilder::new(pattern)
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|e| e.to_string())?,
                *must_match,
            ),
            EvaluatorConfig::Length {
                min_chars,
                max_chars,
            } => Evaluator::Length(*min_chars, *max_chars),
            EvaluatorConfig::Logprob { min } if (0.0..=1.0).contains(min) => {
                Evaluator::Logprob(*min)
            }
            EvaluatorConfig::Logprob { min } => {
                return Err(format!("`min` must be in [0, 1], not {min}"))
            }
            EvaluatorConfig::ToolArgs => Evaluator::ToolArgs,
            EvaluatorConfig::Judge {
                model,
                sample,
                min,
                criteria,
            } => {
                if !(0.0..=1.0).contains(sample) || !(0.0..=1.0).contains(min) {
                    return Err("`sample` and `min` must be in [0, 1]".into());
                }
                Evaluator::Judge(crate::judge::JudgeSpec {
                    model: model.clone(),
                    sample: *sample,
                    min: *min,
                    criteria: criteria.clone(),
                })
            }
        })
    }

    /// Judge `a`, the answer to `req`; `None` when this evaluator does not apply.
    pub fn judge(&self, req: &ChatRequest, a: &AnswerView) -> Option<Signal> {
        match self {
            Evaluator::Json => json(req, a),
            Evaluator::Refusal => {
                let refused = is_refusal(a);
                Some(Signal::new(
                    "refusal",
                    !refused,
                    Some("the model refused".into()),
                ))
            }
            Evaluator::Regex(re, must) => {
                if !a.tool_calls.is_empty() && a.text.is_empty() {
                    return None;
                }
                let ok = re.is_match(&a.text) == *must;
                let why = if *must {
                    "the answer does not match the pattern"
                } else {
                    "the answer matches the forbidden pattern"
                };
                Some(Signal::new("regex", ok, Some(why.into())))
            }
            Evaluator::Length(min, max) => {
                if !a.tool_calls.is_empty() && a.text.is_empty() {
                    return None;
                }
                let n = a.text.chars().count();
                let ok = min.is_none_or(|m| n >= m) && max.is_none_or(|m| n <= m);
                Some(Signal::new(
                    "length",
                    ok,
                    Some(format!("{n} characters is out of bounds")),
                ))
            }
            Evaluator::Logprob(min) => {
                if a.logprobs.is_empty() {
                    return None;
                }
                let mean = a.logprobs.iter().sum::<f64>() / a.logprobs.len() as f64;
                let confidence = mean.exp().clamp(0.0, 1.0);
                Some(Signal {
                    name: "logprob",
                    score: confidence,
                    passed: confidence >= *min,
                    detail: (confidence < *min)
                        .then(|| format!("confidence {confidence:.3} is below {min}")),
                })
            }
            Evaluator::ToolArgs => tool_args(req, a),
            Evaluator::Judge(_) => None,
        }
    }
}

/// Run `evals` on `a`: the signals of those that apply, and whether all passed.
pub fn judge_all(evals: &[Evaluator], req: &ChatRequest, a: &AnswerView) -> (Vec<Signal>, bool) {
    let signals: Vec<Signal> = evals.iter().filter_map(|e| e.judge(req, a)).collect();
    let passed = signals.iter().all(|s| s.passed);
    (signals, passed)
}

/// A content-policy rejection, a `refusal` field, or an answer that opens with a refusal.
pub fn is_refusal(a: &AnswerView) -> bool {
    if a.refusal.is_some() || a.finish == Some(FinishReason::ContentFilter) {
        return true;
    }
    if !a.tool_calls.is_empty() {
        return false;
    }
    let head: String = a
        .text
        .trim_start()
        .chars()
        .take(80)
        .collect::<String>()
        .to_lowercase()
        .replace('\u{2019}', "'");
    const OPENINGS: [&str; 10] = [
        "i'm sorry, but i can",
        "i am sorry, but i can",
        "sorry, but i can",
        "i can't help with",
        "i cannot help with",
        "i can't assist with",
        "i cannot assist with",
        "i'm unable to",
        "i am unable to",
        "i won't be able to",
    ];
    OPENINGS.iter().any(|o| head.starts_with(o))
}

fn json(req: &ChatRequest, a: &AnswerView) -> Option<Signal> {
    let schema = match &req.response_format {
        Some(ResponseFormat::JsonObject) => None,
        Some(ResponseFormat::JsonSchema { json_schema }) => json_schema.schema.as_ref(),
        _ => return None,
    };
    let v: Value = match serde_json::from_str(a.text.trim()) {
        Ok(v) => v,
        Err(e) => {
            return Some(Signal::new(
                "json",
                false,
                Some(format!("not valid JSON: {e}")),
            ))
        }
    };
    let problem = match schema {
        Some(s) => conforms(&v, s, "$"),
        None => (!v.is_object()).then(|| "$: not a JSON object".to_owned()),
    };
    Some(Signal::new("json", problem.is_none(), problem))
}

fn tool_args(req: &ChatRequest, a: &AnswerView) -> Option<Signal> {
    if a.tool_calls.is_empty() {
        return None;
    }
    for (name, args) in &a.tool_calls {
        let schema = req
            .tools
            .iter()
            .flatten()
            .filter_map(|t| t.function.as_ref())
            .find(|f| &f.name == name);
        let Some(f) = schema else {
            return Some(Signal::new(
                "tool_args",
                false,
                Some(format!("call of undeclared tool `{name}`")),
            ));
        };
        let v: Value = match serde_json::from_str(if args.trim().is_empty() { "{}" } else { args })
        {
            Ok(v) => v,
            Err(e) => {
                return Some(Signal::new(
                    "tool_args",
                    false,
                    Some(format!("`{name}` arguments are not JSON: {e}")),
                ))
            }
        };
        if let Some(p) = f.parameters.as_ref().and_then(|s| conforms(&v, s, "$")) {
            return Some(Signal::new(
                "tool_args",
                false,
                Some(format!("`{name}`: {p}")),
            ));
        }
    }
    Some(Signal::new("tool_args", true, None))
}

/// The first way `v` departs from `schema` (the JSON Schema subset structured outputs use:
/// `type`, `properties`, `required`, `additionalProperties: false`, `items`, `enum`,
/// `const`, `anyOf`), or `None`.
pub fn conforms(v: &Value, schema: &Value, at: &str) -> Option<String> {
    let s = schema.as_object()?;
    if let Some(any) = s.get("anyOf").and_then(Value::as_array) {
        if !any.iter().any(|alt| conforms(v, alt, at).is_none()) {
            return Some(format!("{at}: matches none of anyOf"));
        }
    }
    if let Some(options) = s.get("enum").and_then(Value::as_array) {
        if !options.contains(v) {
            return Some(format!("{at}: not one of the enum values"));
        }
    }
    if let Some(c) = s.get("const") {
        if c != v {
            return Some(format!("{at}: not the const value"));
        }
    }
    if let Some(t) = s.get("type") {
        let types: Vec<&str> = match t {
            Value::String(one) => vec![one.as_str()],
            Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !types.is_empty() && !types.iter().any(|t| is_type(v, t)) {
            return Some(format!("{at}: expected {}", types.join(" or ")));
        }
    }
    if let Some(obj) = v.as_object() {
        let props = s.get("properties").and_then(Value::as_object);
        for r in s
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(k) = r.as_str() {
                if !obj.contains_key(k) {
                    return Some(format!("{at}: missing required `{k}`"));
                }
            }
        }
        let closed = s.get("additionalProperties") == Some(&Value::Bool(false));
        for (k, val) in obj {
            match props.and_then(|p| p.get(k)) {
                Some(sub) => {
                    if let Some(p) = conforms(val, sub, &format!("{at}.{k}")) {
                        return Some(p);
                    }
                }
                None if closed => return Some(format!("{at}: unexpected property `{k}`")),
                None => {}
            }
        }
    }
    if let (Some(items), Some(arr)) = (s.get("items"), v.as_array()) {
        for (i, item) in arr.iter().enumerate() {
            if let Some(p) = conforms(item, items, &format!("{at}[{i}]")) {
                return Some(p);
            }
        }
    }
    None
}

fn is_type(v: &Value, t: &str) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "number" => v.is_number(),
        "integer" => v.as_f64().is_some_and(|f| f.fract() == 0.0),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn req(body: Value) -> ChatRequest {
        serde_json::from_value(body).unwrap()
    }

    fn text(t: &str) -> AnswerView {
        AnswerView {
            text: t.into(),
            finish: Some(FinishReason::Stop),
            ..AnswerView::default()
        }
    }

    #[test]
    fn json_validity_and_schema() {
        let schema = json!({"type":"object","properties":{"label":{"type":"string","enum":["pos","neg"]},
            "n":{"type":"integer"}},"required":["label"],"additionalProperties":false});
        let r = req(
            json!({"model":"m","messages":[],"response_format":{"type":"json_schema",
            "json_schema":{"name":"x","schema":schema}}}),
        );
        let j = Evaluator::Json;
        assert!(
            j.judge(&r, &text(r#"{"label":"pos","n":3}"#))
                .unwrap()
                .passed
        );
        for bad in [
            r#"{"label":"maybe"}"#,
            r#"{"n":3}"#,
            r#"{"label":"pos","x":1}"#,
            "{\"label\":",
            r#"{"label":"neg","n":1.5}"#,
        ] {
            let s = j.judge(&r, &text(bad)).unwrap();
            assert!(!s.passed, "{bad}");
            assert!(s.detail.is_some());
        }
        let plain = req(json!({"model":"m","messages":[]}));
        assert_eq!(j.judge(&plain, &text("not json")), None, "not applicable");
        let obj = req(json!({"model":"m","messages":[],"response_format":{"type":"json_object"}}));
        assert!(!j.judge(&obj, &text("[1]")).unwrap().passed);
    }

    #[test]
    fn refusals() {
        assert!(is_refusal(&text("I'm sorry, but I can't help with that.")));
        assert!(is_refusal(&text("I’m sorry, but I can’t assist")));
        assert!(!is_refusal(&text(
            "Sure. I'm sorry to hear that; here is the fix."
        )));
        let flagged = AnswerView {
            refusal: Some("no".into()),
            ..AnswerView::default()
        };
        assert!(is_refusal(&flagged));
        let filtered = AnswerView {
            finish: Some(FinishReason::ContentFilter),
            ..AnswerView::default()
        };
        assert!(is_refusal(&filtered));
    }

    #[test]
    fn regex_length_and_confidence() {
        let r = req(json!({"model":"m","messages":[]}));
        let re = Evaluator::compile(&EvaluatorConfig::Regex {
            pattern: r"^(positive|negative)$".into(),
            must_match: true,
        })
        .unwrap();
        assert!(re.judge(&r, &text("positive")).unwrap().passed);
        assert!(!re.judge(&r, &text("maybe")).unwrap().passed);
        let len = Evaluator::Length(Some(2), Some(5));
        assert!(len.judge(&r, &text("abc")).unwrap().passed);
        assert!(!len.judge(&r, &text("abcdef")).unwrap().passed);
        let lp = Evaluator::Logprob(0.8);
        assert_eq!(lp.judge(&r, &text("x")), None, "no logprobs: no signal");
        let sure = AnswerView {
            logprobs: vec![-0.01, -0.02],
            ..text("positive")
        };
        let unsure = AnswerView {
            logprobs: vec![-0.9],
            ..text("negative")
        };
        assert!(lp.judge(&r, &sure).unwrap().passed);
        let s = lp.judge(&r, &unsure).unwrap();
        assert!(!s.passed && (s.score - (-0.9f64).exp()).abs() < 1e-9);
    }

    #[test]
    fn tool_arguments_against_the_schema() {
        let r = req(
            json!({"model":"m","messages":[],"tools":[{"type":"function","function":{
            "name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},
            "required":["city"]}}}]}),
        );
        let call = |name: &str, args: &str| AnswerView {
            tool_calls: vec![(name.into(), args.into())],
            ..AnswerView::default()
        };
        let e = Evaluator::ToolArgs;
        assert!(
            e.judge(&r, &call("get_weather", r#"{"city":"Oslo"}"#))
                .unwrap()
                .passed
        );
        assert!(
            !e.judge(&r, &call("get_weather", r#"{"town":"Oslo"}"#))
                .unwrap()
                .passed
        );
        assert!(
            !e.judge(&r, &call("get_weather", r#"{"city":"#))
                .unwrap()
                .passed
        );
        assert!(!e.judge(&r, &call("launch", "{}")).unwrap().passed);
        assert_eq!(e.judge(&r, &text("hi")), None);
    }
}
