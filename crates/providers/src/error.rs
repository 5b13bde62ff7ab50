//! Classification of upstream failures.

use std::time::Duration;

/// What kind of failure happened; drives retry, fallback and the client's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// Could not connect or the connection broke before a response.
    Connect,
    /// No first token (or response) in time.
    FirstTokenTimeout,
    /// Gap between stream chunks too long.
    IdleTimeout,
    /// 429 rate limit.
    RateLimited,
    /// 429 for lack of capacity in the service tier asked for (OpenAI flex's "Resource
    /// Unavailable"): the standard tier of the same deployment may answer.
    TierUnavailable,
    /// Quota or spend limit exhausted (not retryable on this key).
    Quota,
    /// 529 / overloaded.
    Overloaded,
    /// Other 5xx.
    Server,
    /// 408 from upstream.
    UpstreamTimeout,
    /// The prompt does not fit the model's context window.
    ContextLength,
    /// Rejected by the provider's content policy.
    ContentPolicy,
    /// 401/403 from upstream: our provider key is bad.
    Auth,
    /// 404 from upstream.
    NotFound,
    /// Other 4xx: the request itself is bad.
    BadRequest,
    /// A stream ended before it was complete.
    StreamCut,
    /// The upstream sent something we cannot decode.
    Malformed,
    /// A hedged attempt that lost the race and was cancelled (not a failure of the deployment).
    HedgeLost,
    /// The adapter cannot serve this kind of request (e.g. embeddings); another may.
    Unsupported,
    /// A bug or misconfiguration on our side.
    Internal,
}

impl ErrorClass {
    /// Stable label for metrics, logs and the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Connect => "connect",
            ErrorClass::FirstTokenTimeout => "first_token_timeout",
            ErrorClass::IdleTimeout => "idle_timeout",
            ErrorClass::RateLimited => "rate_limited",
            ErrorClass::TierUnavailable => "tier_unavailable",
            ErrorClass::Quota => "quota",
            ErrorClass::Overloaded => "overloaded",
            ErrorClass::Server => "server_error",
            ErrorClass::UpstreamTimeout => "upstream_timeout",
            ErrorClass::ContextLength => "context_length_exceeded",
            ErrorClass::ContentPolicy => "content_policy",
            ErrorClass::Auth => "upstream_auth",
            ErrorClass::NotFound => "upstream_not_found",
            ErrorClass::BadRequest => "bad_request",
            ErrorClass::StreamCut => "stream_cut",
            ErrorClass::Malformed => "malformed",
            ErrorClass::HedgeLost => "hedge_lost",
            ErrorClass::Unsupported => "unsupported",
            ErrorClass::Internal => "internal",
        }
    }

    /// Whether another attempt (same or next candidate) may succeed.
    pub fn retryable(self) -> bool {
        matches!(
            self,
            ErrorClass::Connect
                | ErrorClass::FirstTokenTimeout
                | ErrorClass::IdleTimeout
                | ErrorClass::RateLimited
                | ErrorClass::TierUnavailable
                | ErrorClass::Overloaded
                | ErrorClass::Server
                | ErrorClass::UpstreamTimeout
                | ErrorClass::StreamCut
                | ErrorClass::Malformed
        )
    }

    /// Whether moving to another candidate may help even though retrying this one won't.
    pub fn try_next_candidate(self) -> bool {
        self.retryable()
            || matches!(
                self,
                ErrorClass::ContextLength
                    | ErrorClass::Unsupported
                    | ErrorClass::Quota
                    | ErrorClass::Auth
                    | ErrorClass::NotFound
            )
    }
}

/// Prefixes of credential shapes providers use (OpenAI and compatible `sk-`, Anthropic
/// `sk-ant-`, Google `AIza`, AWS `AKIA`/`ASIA`, Groq `gsk_`, xAI `xai-`, GitHub `ghp_`).
const KEY_PREFIXES: &[&str] = &[
    "sk-", "sk_", "AIza", "AKIA", "ASIA", "gsk_", "xai-", "ghp_", "r8_", "pk-",
];

/// Text from an upstream with anything that looks like a credential masked: a token with a
/// known key prefix, and whatever follows `Bearer`. Upstreams echo the key they were sent
/// ("Incorrect API key provided: sk-…"); such text must never reach a client.
pub fn redact_secrets(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut after_bearer = false;
    let mut rest = text;
    while !rest.is_empty() {
        let start = rest
            .find(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            .unwrap_or(rest.len());
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let end = rest
            .find(|c: char| {
                !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | '+' | '='))
            })
            .unwrap_or(rest.len());
        let token = &rest[..end];
        let keyish = token.len() >= 12 && KEY_PREFIXES.iter().any(|p| token.starts_with(p));
        if (after_bearer && token.len() >= 8) || keyish {
            out.push_str("[REDACTED]");
        } else {
            out.push_str(token);
        }
        after_bearer = token.eq_ignore_ascii_case("bearer");
        rest = &rest[end..];
    }
    out
}

/// A failed upstream call.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ProviderError {
    /// What went wrong.
    pub class: ErrorClass,
    /// Upstream HTTP status, if one was received.
    pub status: Option<u16>,
    /// Human-readable message (the provider's own where it gave one). Never contains a key.
    pub message: String,
    /// The provider's error code (`context_length_exceeded`, …).
    pub code: Option<String>,
    /// How long the provider asked us to wait.
    pub retry_after: Option<Duration>,
}

impl ProviderError {
    /// A failure of a given class.
    pub fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        ProviderError {
            class,
            status: None,
            message: message.into(),
            code: None,
            retry_after: None,
        }
    }

    /// A bug or misconfiguration on our side.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorClass::Internal, message)
    }

    /// Whether a retry or fallback may succeed.
    pub fn retryable(&self) -> bool {
        self.class.retryable()
    }

    /// Classify a reqwest transport error.
    pub fn from_transport(e: &reqwest::Error) -> Self {
        let class = if e.is_timeout() {
            ErrorClass::FirstTokenTimeout
        } else if e.is_decode() {
            ErrorClass::Malformed
        } else if e.is_body() {
            ErrorClass::StreamCut
        } else {
            ErrorClass::Connect
        };
        // reqwest's Display includes the URL but never headers, so no key can leak here.
        ProviderError::new(
            class,
            format!("upstream transport error: {}", without_url(e)),
        )
    }
}

fn without_url(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut msg = String::new();
    let mut cur: Option<&dyn std::error::Error> = e.source();
    while let Some(s) = cur {
        if !msg.is_empty() {
            msg.push_str(": ");
        }
        msg.push_str(&s.to_string());
        cur = s.source();
    }
    if msg.is_empty() {
        msg = if e.is_timeout() {
            "timed out".into()
        } else {
            "connection failed".into()
        };
    }
    msg
}

#[cfg(test)]
mod tests {
    #[test]
    fn credentials_in_upstream_text_are_masked() {
        let t = "Incorrect API key provided: sk-proj-abc123DEF456ghi. Authorization: Bearer gsk_live_0123456789 ok";
        let r = super::redact_secrets(t);
        assert!(!r.contains("sk-proj") && !r.contains("gsk_live"), "{r}");
        assert_eq!(r.matches("[REDACTED]").count(), 2, "{r}");
        assert_eq!(
            super::redact_secrets("the model is overloaded"),
            "the model is overloaded"
        );
        assert_eq!(super::redact_secrets("AKIAABCDEFGHIJKLMNOP"), "[REDACTED]");
    }
}
