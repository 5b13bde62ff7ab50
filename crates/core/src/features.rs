//! Request features, computed once per request and read by routing.

use http::HeaderMap;
use std::sync::OnceLock;

use switchyard_types::{
    ChatRequest, Content, ContentPart, EmbeddingInput, EmbeddingsRequest, Role,
};

use crate::routable::Routable;

/// Longest client-supplied label (task, region, lane, session, tenant, each tag), in bytes.
pub const MAX_LABEL_BYTES: usize = 128;
/// Most tags on one request.
pub const MAX_TAGS: usize = 32;

/// What routing needs to know about a request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Features {
    /// Estimated input tokens.
    pub input_tokens: u64,
    /// The client's output cap, if any.
    pub max_output: Option<u64>,
    /// Task label (`x-switchyard-task` or `metadata.task`).
    pub task: Option<String>,
    /// Region constraint (`x-switchyard-region` or `metadata.region`).
    pub region: Option<String>,
    /// Latency lane (`x-switchyard-lane` or `metadata.lane`).
    pub lane: Option<String>,
    /// Session id (`x-switchyard-session` or `metadata.session`).
    pub session: Option<String>,
    /// Tenant (`x-switchyard-tenant` or `metadata.tenant`; a gateway key's tenant once keys exist).
    pub tenant: Option<String>,
    /// Tags (`x-switchyard-tags`, comma-separated, or `metadata.tags`).
    pub tags: Vec<String>,
    /// Estimated tokens of the leading system/developer messages: the prefix a provider can cache.
    pub prefix_tokens: u64,
    /// Tools are offered.
    pub tools: bool,
    /// An image is attached.
    pub images: bool,
    /// JSON output is requested.
    pub json: bool,
}

impl Features {
    /// Extract features from a chat request and its headers.
    pub fn extract(req: &ChatRequest, headers: &HeaderMap) -> Self {
        let mut f = Features {
            input_tokens: estimate_input_tokens(req),
            max_output: req.max_output().map(u64::from),
            prefix_tokens: prefix_tokens(req),
            tools: req.tools.as_ref().is_some_and(|t| !t.is_empty()),
            images: req.has_images(),
            json: req.wants_json(),
            ..Features::hints(req, headers)
        };
        // An OpenAI client's own `service_tier: "flex"` is the flex lane.
        if f.lane.is_none() && req.service_tier == Some(switchyard_types::ServiceTier::Flex) {
            f.lane = Some("flex".to_owned());
        }
        f
    }

    /// Extract features from an embeddings request and its headers: the input estimate
    /// (bytes/4, or the token count of pre-tokenised input) and the routing hints.
    pub fn extract_embeddings(req: &EmbeddingsRequest, headers: &HeaderMap) -> Self {
        let input_tokens = match &req.input {
            EmbeddingInput::One(s) => s.len().div_ceil(4) as u64,
            EmbeddingInput::Many(v) => v.iter().map(|s| s.len().div_ceil(4) as u64).sum(),
            EmbeddingInput::Tokens(t) => t.len() as u64,
            EmbeddingInput::TokenBatches(b) => b.iter().map(|t| t.len() as u64).sum(),
        };
        Features {
            input_tokens,
            ..Features::hints(req, headers)
        }
    }

    /// Client-supplied labels reach the ledger, logs and metric labels: each is bounded
    /// ([`MAX_LABEL_BYTES`], [`MAX_TAGS`]), and a request past a bound is refused, naming it.
    pub fn check_labels(&self) -> Result<(), String> {
        let labels = [
            ("task", &self.task),
            ("region", &self.region),
            ("lane", &self.lane),
            ("session", &self.session),
            ("tenant", &self.tenant),
        ];
        for (name, v) in labels {
            if v.as_ref().is_some_and(|v| v.len() > MAX_LABEL_BYTES) {
                return Err(format!(
                    "the {name} label (x-switchyard-{name} or metadata.{name}) is longer than {MAX_LABEL_BYTES} bytes"
                ));
            }
        }
        if self.tags.len() > MAX_TAGS || self.tags.iter().any(|t| t.len() > MAX_LABEL_BYTES) {
            return Err(format!(
                "at most {MAX_TAGS} tags of at most {MAX_LABEL_BYTES} bytes each are accepted"
            ));
        }
        Ok(())
    }

    /// The client's hints: headers first, then the same keys in `metadata`.
    fn hints(req: &impl Routable, headers: &HeaderMap) -> Self {
        let hint = |name: &str, key: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
                .or_else(|| req.metadata_str(key).map(str::to_owned))
        };
        Features {
            task: hint("x-switchyard-task", "task"),
            region: hint("x-switchyard-region", "region"),
            lane: hint("x-switchyard-lane", "lane"),
            session: hint("x-switchyard-session", "session"),
            tenant: hint("x-switchyard-tenant", "tenant"),
            tags: hint("x-switchyard-tags", "tags")
                .map(|t| {
                    t.split(',')
                        .map(|s| s.trim().to_owned())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            ..Features::default()
        }
    }
}

/// Estimated tokens of the leading system/developer messages.
pub(crate) fn prefix_tokens(req: &ChatRequest) -> u64 {
    let bytes: usize = req
        .messages
        .iter()
        .take_while(|m| matches!(m.role, Role::System | Role::Developer))
        .map(|m| match &m.content {
            Some(Content::Text(t)) => t.len(),
            Some(Content::Parts(p)) => p
                .iter()
                .map(|p| {
                    if let ContentPart::Text { text, .. } = p {
                        text.len()
                    } else {
                        0
                    }
                })
                .sum(),
            None => 0,
        })
        .sum();
    bytes.div_ceil(4) as u64
}

/// The `o200k_base` tokenizer, loaded once (its data ships inside the crate).
fn bpe() -> Option<&'static tiktoken_rs::CoreBPE> {
    static BPE: OnceLock<Option<tiktoken_rs::CoreBPE>> = OnceLock::new();
    BPE.get_or_init(|| tiktoken_rs::o200k_base().ok()).as_ref()
}

/// Tokens of a text under `o200k_base` (a bytes/4 estimate if the tokenizer is unavailable).
pub fn count_tokens(text: &str) -> u64 {
    match bpe() {
        Some(b) => b.encode_ordinary(text).len() as u64,
        None => text.len().div_ceil(4) as u64,
    }
}

/// The exact input token count under OpenAI's `o200k_base` encoding (text only, plus the chat
/// format's per-message overhead). Costs microseconds per kilobyte, so routing uses it only
/// when the fast estimate is close to a context window.
pub fn exact_input_tokens(req: &ChatRequest) -> Option<u64> {
    let bpe = bpe()?;
    let mut n = 3u64;
    for m in &req.messages {
        n += 4;
        match &m.content {
            Some(Content::Text(t)) => n += bpe.encode_ordinary(t).len() as u64,
            Some(Content::Parts(parts)) => {
                for p in parts {
                    n += match p {
                        ContentPart::Text { text, .. } => bpe.encode_ordinary(text).len() as u64,
                        ContentPart::ImageUrl { .. } => 765,
                        _ => 0,
                    };
                }
            }
            None => {}
        }
        for c in m.tool_calls.iter().flatten() {
            n += bpe.encode_ordinary(c.input()).len() as u64 + 3;
        }
    }
    Some(n)
}

/// A fast, conservative estimate of input tokens: about four bytes of text per token, plus a
/// small per-message overhead, as OpenAI's chat format adds.
pub fn estimate_input_tokens(req: &ChatRequest) -> u64 {
    let mut bytes = 0usize;
    for m in &req.messages {
        bytes += match &m.content {
            None => 0,
            Some(Content::Text(t)) => t.len(),
            Some(Content::Parts(parts)) => parts
                .iter()
                .map(|p| match p {
                    ContentPart::Text { text, .. } => text.len(),
                    // A typical image costs hundreds of tokens; count it as ~765 (high detail 512px tile set).
                    ContentPart::ImageUrl { .. } => 765 * 4,
                    _ => 0,
                })
                .sum(),
        };
        if let Some(calls) = &m.tool_calls {
            bytes += calls
                .iter()
                .map(|c| c.name().len() + c.input().len())
                .sum::<usize>();
        }
    }
    let tools: usize = req
        .tools
        .iter()
        .flatten()
        .map(|t| match &t.function {
            Some(f) => f.name.len() + f.parameters.as_ref().map_or(0, |p| p.to_string().len()),
            None => serde_json::Value::Object(t.extra.clone()).to_string().len(),
        })
        .sum();
    ((bytes + tools).div_ceil(4) + 4 * req.messages.len() + 3) as u64
}
