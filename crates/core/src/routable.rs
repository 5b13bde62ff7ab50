//! What routing reads from a request, whatever its API: chat completions and embeddings are
//! planned by the same code ([`crate::plan::plan`]).

use regex::Regex;
use switchyard_types::{
    ChatRequest, Content, ContentPart, EmbeddingInput, EmbeddingsRequest, Role,
};

use crate::features::{count_tokens, exact_input_tokens};

/// A request the planner can route.
pub trait Routable {
    /// The model or route name the client asked for.
    fn model(&self) -> &str;
    /// A string value from the request's `metadata`, if it has one.
    fn metadata_str(&self, key: &str) -> Option<&str>;
    /// Whether a rule's `prompt_regex` matches (chat: the last user message; embeddings: any
    /// input text). Never copies the text.
    fn text_matches(&self, re: &Regex) -> bool;
    /// The exact input token count, for when the estimate is too close to a context window.
    fn exact_input_tokens(&self) -> Option<u64>;
    /// The conversation, for strategies that read it (cache affinity); `None` for embeddings,
    /// whose candidates keep the operator's order.
    fn as_chat(&self) -> Option<&ChatRequest>;
}

impl Routable for ChatRequest {
    fn model(&self) -> &str {
        &self.model
    }

    fn metadata_str(&self, key: &str) -> Option<&str> {
        ChatRequest::metadata_str(self, key)
    }

    fn text_matches(&self, re: &Regex) -> bool {
        let Some(m) = self.messages.iter().rev().find(|m| m.role == Role::User) else {
            return false;
        };
        match &m.content {
            Some(Content::Text(t)) => re.is_match(t),
            Some(Content::Parts(parts)) => parts.iter().any(|p| match p {
                ContentPart::Text { text, .. } => re.is_match(text),
                _ => false,
            }),
            None => false,
        }
    }

    fn exact_input_tokens(&self) -> Option<u64> {
        exact_input_tokens(self)
    }

    fn as_chat(&self) -> Option<&ChatRequest> {
        Some(self)
    }
}

impl Routable for EmbeddingsRequest {
    fn model(&self) -> &str {
        &self.model
    }

    fn metadata_str(&self, key: &str) -> Option<&str> {
        self.extra.get("metadata")?.get(key)?.as_str()
    }

    fn text_matches(&self, re: &Regex) -> bool {
        match &self.input {
            EmbeddingInput::One(s) => re.is_match(s),
            EmbeddingInput::Many(v) => v.iter().any(|s| re.is_match(s)),
            EmbeddingInput::Tokens(_) | EmbeddingInput::TokenBatches(_) => false,
        }
    }

    fn exact_input_tokens(&self) -> Option<u64> {
        Some(match &self.input {
            EmbeddingInput::One(s) => count_tokens(s),
            EmbeddingInput::Many(v) => v.iter().map(|s| count_tokens(s)).sum(),
            EmbeddingInput::Tokens(t) => t.len() as u64,
            EmbeddingInput::TokenBatches(b) => b.iter().map(|t| t.len() as u64).sum(),
        })
    }

    fn as_chat(&self) -> Option<&ChatRequest> {
        None
    }
}
