//! Token usage: the OpenAI wire shape and the normalised form costs are computed from.

use serde::{Deserialize, Serialize};

use crate::JsonMap;

/// Usage in the OpenAI wire shape, as clients of `/v1/chat/completions` see it.
///
/// `prompt_tokens` *includes* `prompt_tokens_details.cached_tokens`, and `completion_tokens`
/// includes `completion_tokens_details.reasoning_tokens`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WireUsage {
    /// Input tokens, cached ones included.
    #[serde(default)]
    pub prompt_tokens: u64,
    /// Output tokens, reasoning included.
    #[serde(default)]
    pub completion_tokens: u64,
    /// Sum of the two.
    #[serde(default)]
    pub total_tokens: u64,
    /// Input breakdown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens_details: Option<PromptTokensDetails>,
    /// Output breakdown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_tokens_details: Option<CompletionTokensDetails>,
    /// Unmodelled fields; switchyard adds its cost figures here on streams.
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// `prompt_tokens_details`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PromptTokensDetails {
    /// Tokens read from the provider's prompt cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_tokens: Option<u64>,
    /// Unmodelled fields (`audio_tokens`, …).
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// `completion_tokens_details`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CompletionTokensDetails {
    /// Hidden reasoning tokens (part of `completion_tokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_tokens: Option<u64>,
    /// Unmodelled fields.
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// Usage normalised so that every token is counted exactly once, in the bucket it is priced in.
///
/// `input` excludes cache reads and writes; `output` includes reasoning tokens, which are
/// also reported in `reasoning` (a subset, for pricing reasoning at its own rate).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Input tokens billed at the plain input rate.
    pub input: u64,
    /// Input tokens read from the prompt cache.
    pub cache_read: u64,
    /// Input tokens written to a 5-minute cache.
    pub cache_write_5m: u64,
    /// Input tokens written to a 1-hour cache.
    pub cache_write_1h: u64,
    /// Output tokens, reasoning included.
    pub output: u64,
    /// The reasoning subset of `output`.
    pub reasoning: u64,
}

impl Usage {
    /// All input tokens, whatever their bucket.
    pub fn total_input(&self) -> u64 {
        self.input + self.cache_read + self.cache_write_5m + self.cache_write_1h
    }

    /// Normalise OpenAI usage (`prompt_tokens` includes cached tokens).
    pub fn from_openai(w: &WireUsage) -> Self {
        let cached = w
            .prompt_tokens_details
            .as_ref()
            .and_then(|d| d.cached_tokens)
            .unwrap_or(0)
            .min(w.prompt_tokens);
        let reasoning = w
            .completion_tokens_details
            .as_ref()
            .and_then(|d| d.reasoning_tokens)
            .unwrap_or(0);
        Usage {
            input: w.prompt_tokens - cached,
            cache_read: cached,
            cache_write_5m: 0,
            cache_write_1h: 0,
            output: w.completion_tokens,
            reasoning: reasoning.min(w.completion_tokens),
        }
    }

    /// The OpenAI wire form (cache writes are reported as plain prompt tokens there).
    pub fn to_openai(&self) -> WireUsage {
        let prompt = self.total_input();
        WireUsage {
            prompt_tokens: prompt,
            completion_tokens: self.output,
            total_tokens: prompt + self.output,
            prompt_tokens_details: Some(PromptTokensDetails {
                cached_tokens: Some(self.cache_read),
                extra: JsonMap::new(),
            }),
            completion_tokens_details: Some(CompletionTokensDetails {
                reasoning_tokens: Some(self.reasoning),
                extra: JsonMap::new(),
            }),
            extra: JsonMap::new(),
        }
    }

    /// Component-wise sum.
    pub fn add(&mut self, o: &Usage) {
        self.input += o.input;
        self.cache_read += o.cache_read;
        self.cache_write_5m += o.cache_write_5m;
        self.cache_write_1h += o.cache_write_1h;
        self.output += o.output;
        self.reasoning += o.reasoning;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_cached_tokens_are_not_double_counted() {
        let w: WireUsage = serde_json::from_str(
            r#"{"prompt_tokens":1000,"completion_tokens":50,"total_tokens":1050,
                "prompt_tokens_details":{"cached_tokens":800},
                "completion_tokens_details":{"reasoning_tokens":20}}"#,
        )
        .unwrap();
        let u = Usage::from_openai(&w);
        assert_eq!(u.input, 200);
        assert_eq!(u.cache_read, 800);
        assert_eq!(u.total_input(), 1000);
        assert_eq!(u.output, 50);
        assert_eq!(u.reasoning, 20);
        assert_eq!(u.to_openai().prompt_tokens, 1000);
    }
}
