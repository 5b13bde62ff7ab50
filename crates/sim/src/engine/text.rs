//! Text material: the word list, prose, JSON-schema instances, pieces and token estimates.

use serde_json::{Map, Value};

use super::Rng;

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

/// A random word.
pub(crate) fn word(rng: &mut Rng) -> &'static str {
    WORDS[rng.below(WORDS.len() as u64) as usize]
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
pub(crate) fn prose(rng: &mut Rng, len: usize) -> String {
    let mut s = String::with_capacity(len * 7);
    let mut left_in_sentence = 0u64;
    for i in 0..len {
        if i > 0 {
            s.push(' ');
        }
        let w = word(rng);
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
                        out.insert(k.to_string(), Value::String(word(rng).to_string()));
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
        _ => Value::String(word(rng).to_string()),
    }
}
