//! Deterministic generation, independent of any wire format.
//!
//! A wire decoder turns its request into a [`GenRequest`]; [`generate`] returns an [`Answer`]
//! (text or tool calls per choice, finish reason, usage) that the wire encoder serialises.
//! Text is made of words from a built-in list chosen by a PRNG seeded from the request, so the
//! same request always yields the same answer. One piece (a word with its leading space, or a
//! JSON fragment) is one completion token, which keeps `usage` consistent with the text.

use serde_json::{Map, Value};

/// Words the answers are made of.
const WORDS: &[&str] = &[
    "the",
    "model",
    "answer",
    "simple",
    "request",
    "routing",
    "cost",
    "token",
    "provider",
    "latency",
    "quality",
    "cheap",
    "premium",
    "gateway",
    "stream",
    "budget",
    "policy",
    "fast",
    "reliable",
    "result",
    "value",
    "system",
    "data",
    "response",
    "question",
    "context",
    "case",
    "example",
    "detail",
    "summary",
    "clear",
    "short",
    "useful",
    "likely",
    "because",
    "however",
    "therefore",
    "first",
    "second",
    "next",
    "final",
    "step",
    "check",
    "review",
    "choose",
    "route",
    "send",
    "return",
    "keep",
    "make",
    "find",
    "help",
    "need",
    "use",
    "run",
    "work",
    "plan",
    "test",
    "small",
    "large",
    "good",
    "better",
    "best",
    "new",
    "old",
    "same",
    "other",
    "each",
    "every",
    "some",
    "many",
    "few",
    "more",
    "less",
    "most",
    "only",
    "also",
    "still",
    "just",
    "well",
    "here",
    "there",
    "now",
    "then",
    "today",
    "often",
    "always",
    "never",
    "usually",
    "and",
    "or",
    "but",
    "with",
    "without",
    "for",
    "from",
    "into",
    "over",
    "under",
    "about",
    "after",
    "before",
    "while",
    "this",
    "that",
    "these",
    "those",
    "it",
    "they",
    "we",
    "you",
    "is",
    "are",
    "was",
    "can",
    "will",
    "should",
    "could",
    "would",
    "may",
    "might",
    "must",
    "does",
    "has",
    "have",
    "been",
    "being",
    "a",
    "an",
    "of",
    "to",
    "in",
    "on",
    "at",
    "by",
    "as",
    "not",
    "all",
    "any",
    "both",
    "either",
];

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

/// SplitMix64: tiny, fast and stable across platforms and crate versions.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn word(&mut self) -> &'static str {
        WORDS[self.below(WORDS.len() as u64) as usize]
    }
}

/// FNV-1a, for seeding.
#[derive(Debug, Clone, Copy)]
pub struct Hasher(u64);

impl Default for Hasher {
    fn default() -> Self {
        Hasher(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher {
    /// Mix in bytes.
    pub fn bytes(mut self, b: &[u8]) -> Hasher {
        for &x in b {
            self.0 = (self.0 ^ u64::from(x)).wrapping_mul(0x0100_0000_01b3);
        }
        self
    }

    /// Mix in a number.
    pub fn u64(self, v: u64) -> Hasher {
        self.bytes(&v.to_le_bytes())
    }

    /// Mix in a JSON value structurally (no serialisation).
    pub fn value(self, v: &Value) -> Hasher {
        match v {
            Value::Null => self.bytes(b"n"),
            Value::Bool(b) => self.bytes(if *b { b"t" } else { b"f" }),
            Value::Number(n) => self.bytes(b"#").u64(n.as_f64().unwrap_or(0.0).to_bits()),
            Value::String(s) => self.bytes(b"s").u64(s.len() as u64).bytes(s.as_bytes()),
            Value::Array(a) => a
                .iter()
                .fold(self.bytes(b"["), |h, x| h.value(x))
                .bytes(b"]"),
            Value::Object(o) => o
                .iter()
                .fold(self.bytes(b"{"), |h, (k, x)| h.bytes(k.as_bytes()).value(x))
                .bytes(b"}"),
        }
    }

    /// The hash.
    pub fn finish(self) -> u64 {
        self.0
    }
}

/// Prompt-token estimate of one message (or any JSON): ceil(chars / 4) of every string except
/// `role`, plus 85 per image part.
pub fn estimate_chars(v: &Value) -> (u64, u64) {
    match v {
        Value::String(s) => (s.chars().count() as u64, 0),
        Value::Array(a) => a.iter().fold((0, 0), |(c, i), x| {
            let (c2, i2) = estimate_chars(x);
            (c + c2, i + i2)
        }),
        Value::Object(o) => o.iter().fold((0, 0), |(c, i), (k, x)| match k.as_str() {
            "role" | "type" => (c, i),
            "image_url" | "input_audio" => (c, i + 1),
            _ => {
                let (c2, i2) = estimate_chars(x);
                (c + c2, i + i2)
            }
        }),
        _ => (0, 0),
    }
}

/// Tokens for a list of messages: ceil(chars / 4) + 3 per message + 85 per image.
pub fn estimate_tokens<'v>(messages: impl Iterator<Item = &'v Value>) -> u64 {
    let (mut chars, mut images, mut count) = (0u64, 0u64, 0u64);
    for m in messages {
        let (c, i) = estimate_chars(m);
        chars += c;
        images += i;
        count += 1;
    }
    chars.div_ceil(4) + 3 * count + 85 * images
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
            };
        }
    }
    let len = answer_len(req, rng);
    let text = match req.format {
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
    }
}

/// End offsets of the pieces of `text`: a new piece starts at whitespace following
/// non-whitespace, and after `,` `:` `{` `[`.
pub fn piece_bounds(text: &str) -> Vec<u32> {
    let mut out = Vec::with_capacity(text.len() / 5 + 1);
    let mut prev: Option<char> = None;
    for (i, c) in text.char_indices() {
        if let Some(p) = prev {
            let space_start = c.is_whitespace() && !p.is_whitespace();
            let after_punct = matches!(p, ',' | ':' | '{' | '[') && !c.is_whitespace();
            if space_start || after_punct {
                out.push(i as u32);
            }
        }
        prev = Some(c);
    }
    if !text.is_empty() {
        out.push(text.len() as u32);
    }
    out
}

/// `len` words of sentence-like prose.
fn prose(rng: &mut Rng, len: usize) -> String {
    let mut s = String::with_capacity(len * 7);
    let mut left_in_sentence = 0u64;
    for i in 0..len {
        if i > 0 {
            s.push(' ');
        }
        let w = rng.word();
        if left_in_sentence == 0 {
            left_in_sentence = 6 + rng.below(9);
            let mut cs = w.chars();
            if let Some(c) = cs.next() {
                s.extend(c.to_uppercase());
                s.push_str(cs.as_str());
            }
        } else {
            s.push_str(w);
        }
        left_in_sentence -= 1;
        if left_in_sentence == 0 || i + 1 == len {
            s.push('.');
            left_in_sentence = 0;
        }
    }
    s
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

/// `len` random base62 characters.
pub fn base62(rng: &mut Rng, len: usize) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    (0..len)
        .map(|_| char::from(ALPHABET[rng.below(62) as usize]))
        .collect()
}

/// A JSON instance of a (simple subset of) JSON schema.
pub fn instance(schema: &Value, rng: &mut Rng, depth: u32) -> Value {
    let Some(obj) = schema.as_object() else {
        return Value::Null;
    };
    if depth > 8 {
        return Value::Null;
    }
    if let Some(c) = obj.get("const") {
        return c.clone();
    }
    if let Some(first) = obj
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(first) = obj
            .get(key)
            .and_then(Value::as_array)
            .and_then(|a| a.first())
        {
            return instance(first, rng, depth + 1);
        }
    }
    let ty = match obj.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null"),
        _ if obj.contains_key("properties") => "object",
        _ if obj.contains_key("items") => "array",
        _ => "string",
    };
    match ty {
        "object" => {
            let mut out = Map::new();
            if let Some(props) = obj.get("properties").and_then(Value::as_object) {
                for (k, v) in props {
                    out.insert(k.clone(), instance(v, rng, depth + 1));
                }
            }
            if let Some(req) = obj.get("required").and_then(Value::as_array) {
                for k in req.iter().filter_map(Value::as_str) {
                    if !out.contains_key(k) {
                        out.insert(k.to_string(), Value::String(rng.word().to_string()));
                    }
                }
            }
            Value::Object(out)
        }
        "array" => {
            let item = obj
                .get("items")
                .map_or(Value::Null, |i| instance(i, rng, depth + 1));
            Value::Array(vec![item])
        }
        "integer" => Value::from(42),
        "number" => Value::from(1),
        "boolean" => Value::Bool(true),
        "null" => Value::Null,
        _ => Value::String(rng.word().to_string()),
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
