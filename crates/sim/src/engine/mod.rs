//! Deterministic generation, independent of any wire format.
//!
//! A wire decoder turns its request into a [`GenRequest`]; [`generate`] returns an [`Answer`]
//! (text or tool calls per choice, finish reason, usage) that the wire encoder serialises.
//! Text is made of words from a built-in list chosen by a PRNG seeded from the request, so the
//! same request always yields the same answer. One piece (a word with its leading space, or a
//! JSON fragment) is one completion token, which keeps `usage` consistent with the text.

mod rng;
mod text;

use serde_json::{Map, Value};

pub use rng::{base62, Hasher, Rng};
use text::prose;
pub use text::{estimate_chars, estimate_tokens, instance, piece_bounds};

/// What the caller asked for, extracted from any wire format.
#[derive(Debug, Clone)]
pub struct GenRequest<'a> {
    /// Seed of the text PRNG: a hash of model, messages and the request's `seed`.
    pub seed: u64,
    /// Number of choices.
    pub n: u32,
    /// Output cap in tokens.
    pub max_tokens: Option<u32>,
    /// Stop sequences.
    pub stop: Vec<&'a str>,
    /// Declared tools.
    pub tools: Vec<ToolSpec<'a>>,
    /// How the caller wants tools used.
    pub tool_choice: ToolChoice<'a>,
    /// Parallel calls allowed and asked for (the last user message says "parallel").
    pub parallel: bool,
    /// Content of the final `tool` message, when the conversation ends with one.
    pub tool_result: Option<String>,
    /// Requested output format.
    pub format: Format<'a>,
    /// Tokens of the prompt (see [`estimate_tokens`]).
    pub prompt_tokens: u64,
    /// Cached prompt tokens to report.
    pub cached_tokens: u64,
    /// Typical answer length in tokens.
    pub answer_tokens: u32,
    /// Whether the length varies ±50% around `answer_tokens`.
    pub jitter: bool,
    /// How often this model's answers are acceptable, by task.
    pub skill: Skill,
    /// The last user message's text (for the tasks whose answer the simulator can check).
    pub question: Option<String>,
}

/// Per-task skill: the probability that an answer is acceptable. The simulator knows the
/// right answer of three kinds of task — valid JSON when JSON was asked for, the sum,
/// difference or product in "What is 17 + 25?", and the sentiment label of "Classify the
/// sentiment of: …" (from a small word list) — and answers them right with this probability
/// (deterministically per request), wrong otherwise.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Skill {
    /// JSON output is valid.
    pub json: f64,
    /// Simple arithmetic is right.
    pub arithmetic: f64,
    /// A sentiment label is right.
    pub sentiment: f64,
    /// Probability of refusing a text request.
    pub refuse: f64,
    /// A grade given as a judge is right (9 for a right answer, 2 for a wrong one).
    pub judge: f64,
}

impl Default for Skill {
    fn default() -> Self {
        Skill {
            json: 1.0,
            arithmetic: 1.0,
            sentiment: 1.0,
            refuse: 0.0,
            judge: 1.0,
        }
    }
}

impl Skill {
    /// From `skill = { default = 0.9, arithmetic = 0.6 }`.
    pub fn from_map(m: &std::collections::BTreeMap<String, f64>) -> Skill {
        let default = m.get("default").copied().unwrap_or(1.0);
        let get = |k: &str| m.get(k).copied().unwrap_or(default).clamp(0.0, 1.0);
        Skill {
            json: get("json"),
            arithmetic: get("arithmetic"),
            sentiment: get("sentiment"),
            refuse: 0.0,
            judge: get("judge"),
        }
    }
}

/// What a refusing model says.
pub const REFUSAL: &str = "I'm sorry, but I can't help with that.";

/// Words the simulator reads sentiment from.
pub const POSITIVE_WORDS: [&str; 8] = [
    "love",
    "great",
    "excellent",
    "happy",
    "wonderful",
    "fast",
    "perfect",
    "recommend",
];
/// See [`POSITIVE_WORDS`].
pub const NEGATIVE_WORDS: [&str; 8] = [
    "hate",
    "terrible",
    "awful",
    "broken",
    "slow",
    "refund",
    "worst",
    "disappointed",
];

/// The right answer of a task the simulator can check, and a wrong one. A judge's prompt
/// ("Request: … Answer: …", as the gateway's LLM judge writes it) about a checkable request
/// is graded: 9 if the answer is right, 2 if not.
fn checkable(question: &str) -> Option<(String, String)> {
    let q = question.trim();
    if let Some((inner, answer)) = q
        .strip_prefix("Request:\n")
        .and_then(|r| r.split_once("\n\nAnswer:\n"))
    {
        let (good, _) = checkable(inner)?;
        let right = answer.trim() == good;
        let (g, b) = if right { ("9", "2") } else { ("2", "9") };
        return Some((g.to_owned(), b.to_owned()));
    }
    let lower = q.to_lowercase();
    if lower.starts_with("classify the sentiment") {
        let score: i32 = lower
            .split(|c: char| !c.is_alphanumeric())
            .map(|w| {
                i32::from(POSITIVE_WORDS.contains(&w)) - i32::from(NEGATIVE_WORDS.contains(&w))
            })
            .sum();
        let (right, wrong) = if score >= 0 {
            ("positive", "negative")
        } else {
            ("negative", "positive")
        };
        return Some((right.to_owned(), wrong.to_owned()));
    }
    let (a, op, b) = arithmetic(&lower)?;
    let n = match op {
        '+' => a.checked_add(b)?,
        '-' => a.checked_sub(b)?,
        _ => a.checked_mul(b)?,
    };
    Some((
        format!("The answer is {n}."),
        format!("The answer is {}.", n + 1),
    ))
}

/// `A op B` with integers and `+`, `-`, `*` or `x`, after "what is".
fn arithmetic(q: &str) -> Option<(i64, char, i64)> {
    let rest = q.strip_prefix("what is")?.trim_start();
    let num = |s: &str| -> Option<(i64, usize)> {
        let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        Some((s[..end].parse().ok()?, end))
    };
    let (a, used) = num(rest)?;
    let rest = rest[used..].trim_start();
    let op = rest
        .chars()
        .next()
        .filter(|c| matches!(c, '+' | '-' | '*' | 'x'))?;
    let (b, _) = num(rest[op.len_utf8()..].trim_start())?;
    Some((a, op, b))
}

/// One declared function tool.
#[derive(Debug, Clone, Copy)]
pub struct ToolSpec<'a> {
    /// Function name.
    pub name: &'a str,
    /// JSON schema of the arguments.
    pub parameters: Option<&'a Value>,
}

/// Tool selection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolChoice<'a> {
    /// Never call tools.
    None,
    /// Call tools when offered (the simulator always does).
    Auto,
    /// Call this function.
    Named(&'a str),
}

/// Output format.
#[derive(Debug, Clone, Copy)]
pub enum Format<'a> {
    /// Prose.
    Text,
    /// Any JSON object.
    JsonObject,
    /// An instance of this schema.
    JsonSchema(&'a Value),
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// Natural end or a stop sequence.
    Stop,
    /// `max_tokens` reached.
    Length,
    /// The answer is tool calls.
    ToolCalls,
}

/// A generated function call.
#[derive(Debug, Clone)]
pub struct ToolCall {
    /// `call_…`
    pub id: String,
    /// Function name.
    pub name: String,
    /// JSON arguments as a string.
    pub arguments: String,
    /// End offsets of the argument fragments (for streaming).
    pub fragments: Vec<u32>,
}

/// One generated choice.
#[derive(Debug, Clone)]
pub struct Choice {
    /// The text (empty when the answer is tool calls).
    pub text: String,
    /// End offsets of the text pieces; one piece = one token.
    pub pieces: Vec<u32>,
    /// Tool calls (empty for a text answer).
    pub tool_calls: Vec<ToolCall>,
    /// Why it ended.
    pub finish: Finish,
    /// The model's confidence in a text answer (the geometric mean of its token
    /// probabilities), reported as log-probabilities when the request asks for them.
    pub confidence: f64,
}

impl Choice {
    /// The text pieces, in order.
    pub fn pieces(&self) -> impl Iterator<Item = &str> {
        let mut start = 0usize;
        self.pieces.iter().map(move |&end| {
            let s = self.text.get(start..end as usize).unwrap_or("");
            start = end as usize;
            s
        })
    }

    /// Completion tokens of this choice.
    pub fn tokens(&self) -> u64 {
        let calls: usize = self.tool_calls.iter().map(|c| 1 + c.fragments.len()).sum();
        (self.pieces.len() + calls) as u64
    }
}

/// Token counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Input tokens.
    pub prompt_tokens: u64,
    /// Output tokens over all choices.
    pub completion_tokens: u64,
    /// Input tokens served from the prompt cache.
    pub cached_tokens: u64,
}

/// The format-neutral answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// One per requested choice.
    pub choices: Vec<Choice>,
    /// Usage consistent with the choices.
    pub usage: Usage,
}

/// Produce the answer.
pub fn generate(req: &GenRequest<'_>) -> Answer {
    let n = req.n.max(1);
    let mut choices = Vec::with_capacity(n as usize);
    for i in 0..n {
        let mut rng = Rng::new(req.seed ^ u64::from(i).wrapping_mul(0xA24B_AED4_963E_E407));
        choices.push(choice(req, &mut rng));
    }
    let completion_tokens = choices.iter().map(Choice::tokens).sum();
    Answer {
        choices,
        usage: Usage {
            prompt_tokens: req.prompt_tokens,
            completion_tokens,
            cached_tokens: req.cached_tokens,
        },
    }
}

fn choice(req: &GenRequest<'_>, rng: &mut Rng) -> Choice {
    if req.tool_result.is_none() && req.tool_choice != ToolChoice::None && !req.tools.is_empty() {
        let picked: Vec<&ToolSpec<'_>> = match req.tool_choice {
            ToolChoice::Named(name) => req
                .tools
                .iter()
                .filter(|t| t.name == name)
                .take(1)
                .collect(),
            _ if req.parallel => req.tools.iter().collect(),
            _ => req.tools.iter().take(1).collect(),
        };
        if !picked.is_empty() {
            let tool_calls = picked.into_iter().map(|t| tool_call(t, rng)).collect();
            return Choice {
                text: String::new(),
                pieces: Vec::new(),
                tool_calls,
                finish: Finish::ToolCalls,
                confidence: 1.0,
            };
        }
    }
    // A separate stream decides right or wrong, so the other text stays as it was.
    let right = |skill: f64| Rng::new(req.seed ^ 0x5EED_0F5C_1100).unit() < skill;
    if matches!(req.format, Format::Text)
        && req.tool_result.is_none()
        && Rng::new(req.seed ^ 0x0BAD_5EED).unit() < req.skill.refuse
    {
        return finish_text(REFUSAL.to_owned(), &req.stop, req.max_tokens);
    }
    if let (Format::Text, None, Some(q)) = (req.format, &req.tool_result, &req.question) {
        if let Some((good, bad)) = checkable(q) {
            let lower = q.trim_start().to_lowercase();
            let skill = if lower.starts_with("request:") {
                req.skill.judge
            } else if lower.starts_with("classify") {
                req.skill.sentiment
            } else {
                req.skill.arithmetic
            };
            // Sure of most right answers, unsure of most wrong ones: the ranges overlap, as a
            // real model's confidence does.
            let mut conf = Rng::new(req.seed ^ 0xC0_4F1D);
            let (text, confidence) = if right(skill) {
                (good, 0.7 + 0.29 * conf.unit())
            } else {
                (bad, 0.3 + 0.5 * conf.unit())
            };
            let mut c = finish_text(text, &req.stop, req.max_tokens);
            c.confidence = confidence;
            return c;
        }
    }
    let len = answer_len(req, rng);
    let mut text = match req.format {
        Format::JsonSchema(schema) => instance(schema, rng, 0).to_string(),
        Format::JsonObject => Value::Object(Map::from_iter([(
            "answer".to_string(),
            Value::String(prose(rng, len)),
        )]))
        .to_string(),
        Format::Text => match &req.tool_result {
            Some(result) => format!("Based on the tool result: {result}. {}", prose(rng, len)),
            None => prose(rng, len),
        },
    };
    if !matches!(req.format, Format::Text) && !right(req.skill.json) {
        // Broken JSON: the answer stops half-way.
        let mut cut = text.len() / 2;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    finish_text(text, &req.stop, req.max_tokens)
}

fn answer_len(req: &GenRequest<'_>, rng: &mut Rng) -> usize {
    let base = u64::from(req.answer_tokens.max(1));
    if !req.jitter {
        return base as usize;
    }
    let lo = (base / 2).max(1);
    (lo + rng.below(base + 1)) as usize
}

/// Apply stop sequences and `max_tokens` to a text, and split it into pieces.
fn finish_text(mut text: String, stop: &[&str], max_tokens: Option<u32>) -> Choice {
    let mut finish = Finish::Stop;
    if let Some(at) = stop
        .iter()
        .filter(|s| !s.is_empty())
        .filter_map(|s| text.find(s))
        .min()
    {
        text.truncate(at);
    }
    let mut pieces = piece_bounds(&text);
    if let Some(max) = max_tokens {
        if pieces.len() > max as usize {
            pieces.truncate(max as usize);
            text.truncate(pieces.last().map_or(0, |&e| e as usize));
            finish = Finish::Length;
        }
    }
    Choice {
        text,
        pieces,
        tool_calls: Vec::new(),
        finish,
        confidence: 0.9,
    }
}

fn tool_call(tool: &ToolSpec<'_>, rng: &mut Rng) -> ToolCall {
    let arguments = match tool.parameters {
        Some(schema) => instance(schema, rng, 0),
        None => Value::Object(Map::new()),
    }
    .to_string();
    // Fragments of about 8 bytes, on char boundaries.
    let mut fragments = Vec::new();
    let mut last = 0usize;
    for (i, _) in arguments.char_indices() {
        if i - last >= 8 {
            fragments.push(i as u32);
            last = i;
        }
    }
    fragments.push(arguments.len() as u32);
    ToolCall {
        id: format!("call_{}", base62(rng, 24)),
        name: tool.name.to_string(),
        arguments,
        fragments,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn req() -> GenRequest<'static> {
        GenRequest {
            seed: 7,
            n: 1,
            max_tokens: None,
            stop: vec![],
            tools: vec![],
            tool_choice: ToolChoice::Auto,
            parallel: false,
            tool_result: None,
            format: Format::Text,
            prompt_tokens: 10,
            cached_tokens: 0,
            answer_tokens: 20,
            jitter: true,
            skill: crate::engine::Skill::default(),
            question: None,
        }
    }

    #[test]
    fn deterministic_and_consistent() {
        let a = generate(&req());
        let b = generate(&req());
        assert_eq!(a.choices[0].text, b.choices[0].text);
        let words = a.choices[0].text.split_whitespace().count() as u64;
        assert_eq!(a.usage.completion_tokens, words);
        assert!((10..=30).contains(&words), "{words}");
        assert_eq!(a.choices[0].pieces().collect::<String>(), a.choices[0].text);
    }

    #[test]
    fn max_tokens_and_stop() {
        let mut r = req();
        r.max_tokens = Some(3);
        let a = generate(&r);
        assert_eq!(a.choices[0].finish, Finish::Length);
        assert_eq!(a.choices[0].text.split_whitespace().count(), 3);
        let full = generate(&req()).choices[0].text.clone();
        let third = full.split_whitespace().nth(2).unwrap().to_string();
        let mut r = req();
        let stop = format!(" {third}");
        r.stop = vec![stop.as_str()];
        let a = generate(&r);
        assert_eq!(a.choices[0].finish, Finish::Stop);
        assert!(!a.choices[0].text.contains(&stop));
        assert_eq!(a.usage.completion_tokens, 2);
    }

    #[test]
    fn schema_instances() {
        let schema = json!({"type":"object","properties":{
            "city":{"type":"string"},"days":{"type":"integer"},"metric":{"type":"boolean"},
            "unit":{"type":"string","enum":["c","f"]},"tags":{"type":"array","items":{"type":"number"}},
            "opt":{"type":["null","string"]}},"required":["city","extra"]});
        let v = instance(&schema, &mut Rng::new(1), 0);
        assert!(v["city"].is_string());
        assert_eq!(v["days"], 42);
        assert_eq!(v["metric"], true);
        assert_eq!(v["unit"], "c");
        assert_eq!(v["tags"], json!([1]));
        assert!(v["opt"].is_string());
        assert!(v["extra"].is_string());
    }

    #[test]
    fn token_estimate() {
        let msgs = [json!({"role":"user","content":"12345678"})];
        assert_eq!(estimate_tokens(msgs.iter()), 2 + 3);
    }
}
