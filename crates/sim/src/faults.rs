//! The fault grammar shared by model names (`sim-500-once`) and the config's `fault` field.
//!
//! A spec is a list of `-`-separated tokens. In a model name the first token is the name itself
//! and is skipped; unknown tokens are ignored there (so `gpt-4o-mini-503` works) but rejected in
//! a config `fault` string.
//!
//! | token | effect |
//! |---|---|
//! | `429` / `429noretry` | 429 rate limit, with / without `Retry-After: 1` |
//! | `500`, `503`, `529` | that status with an OpenAI-shaped error body |
//! | `reset` | the TCP connection is reset before any response byte |
//! | `silent` | never respond; the connection is held open |
//! | `cut-<n>` | stream: `n` tokens, then the connection drops (no finish, no `[DONE]`); non-stream: headers and part of the body, then the connection drops |
//! | `stall-<n>` | like `cut-<n>`, but the connection hangs forever instead of dropping |
//! | `malformed-<n>` | stream: after `n` tokens one chunk that is not JSON, then normal; non-stream: a truncated JSON body |
//! | `nodone` | stream: everything except the final `data: [DONE]` (Responses: the final `response.completed` / `response.incomplete` event) |
//! | `ctx`, `policy`, `quota` | 400 context_length_exceeded, 400 content_policy_violation, 429 insufficient_quota |
//! | `tierbusy` | a request asking for the `flex` or `priority` service tier gets 429 (OpenAI: `resource_unavailable`; Gemini: `RESOURCE_EXHAUSTED` without a quota detail); a standard-tier request is served |
//! | `batchexpire` | batch APIs only: the line expires the first time its request is seen in a batch (sent again, it is answered) |
//! | `slow-<ms>` | time to first token |
//! | `tps-<n>`, `len-<n>` | tokens per second, exact answer length in tokens |
//! | `once`, `first-<n>` | the fault hits only the first 1 / `n` requests to that model |
//! | `p<percent>` | the fault hits with that probability (deterministic PRNG) |
//!
//! When a spec names several faults the last one wins; latency and length tokens combine with it.

use std::time::Duration;

/// One thing that goes wrong with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 429 `rate_limit_exceeded`; `retry_after` adds `Retry-After: 1`.
    RateLimited {
        /// Whether the response carries `Retry-After: 1`.
        retry_after: bool,
    },
    /// 500 `server_error`.
    ServerError,
    /// 503 service unavailable.
    Unavailable,
    /// 529 overloaded (Anthropic style status).
    Overloaded,
    /// The TCP connection is reset before the response headers.
    Reset,
    /// No response at all; the connection stays open.
    Silent,
    /// Emit this many tokens, then drop the connection.
    Cut(u32),
    /// Emit this many tokens, then hang forever.
    Stall(u32),
    /// After this many tokens, one chunk that is not valid JSON.
    Malformed(u32),
    /// The stream ends without `data: [DONE]` (Responses: without its final event).
    NoDone,
    /// 400 `context_length_exceeded`.
    ContextLength,
    /// 400 `content_policy_violation`.
    Policy,
    /// 429 `insufficient_quota`.
    Quota,
    /// 429 `resource_unavailable` for a request asking for the `flex` or `priority` tier (a
    /// standard-tier request is served).
    TierBusy,
}

/// A parsed fault spec: an optional fault, when it applies, and profile overrides.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultSpec {
    /// The fault, if any.
    pub fault: Option<Fault>,
    /// Time to first token override (`slow-<ms>`).
    pub slow: Option<Duration>,
    /// Tokens per second override (`tps-<n>`).
    pub tps: Option<f64>,
    /// Exact answer length override (`len-<n>`).
    pub len: Option<u32>,
    /// Only the first `n` requests get the fault (`once` = 1, `first-<n>`).
    pub first: Option<u64>,
    /// Probability in `[0, 1]` that a request gets the fault (`p<percent>`).
    pub probability: Option<f64>,
}

impl FaultSpec {
    /// Faults encoded in a model name. Lenient: the first token and unknown tokens are ignored.
    pub fn from_model_name(name: &str) -> FaultSpec {
        let mut spec = FaultSpec::default();
        // Lenient parsing never fails.
        let _ = spec.apply_tokens(name.split('-').skip(1), false);
        spec
    }

    /// A config `fault` string (`"none"`, `"500-once"`, `"cut-40"`, ...). Strict: unknown tokens
    /// are an error.
    pub fn parse(spec: &str) -> Result<FaultSpec, String> {
        let mut out = FaultSpec::default();
        let spec = spec.trim();
        if spec.is_empty() || spec == "none" {
            return Ok(out);
        }
        out.apply_tokens(spec.split('-'), true)?;
        Ok(out)
    }

    /// Whether the request with this 0-based per-model index gets the fault, given a uniform
    /// roll in `[0, 1)`.
    pub fn hits(&self, index: u64, roll: f64) -> bool {
        self.fault.is_some()
            && self.first.is_none_or(|n| index < n)
            && self.probability.is_none_or(|p| roll < p)
    }

    fn apply_tokens<'a>(
        &mut self,
        tokens: impl Iterator<Item = &'a str>,
        strict: bool,
    ) -> Result<(), String> {
        let mut tokens = tokens.peekable();
        while let Some(tok) = tokens.next() {
            let simple = match tok {
                "429" => Some(Fault::RateLimited { retry_after: true }),
                "429noretry" => Some(Fault::RateLimited { retry_after: false }),
                "500" => Some(Fault::ServerError),
                "503" => Some(Fault::Unavailable),
                "529" => Some(Fault::Overloaded),
                "reset" => Some(Fault::Reset),
                "silent" => Some(Fault::Silent),
                "nodone" => Some(Fault::NoDone),
                "ctx" => Some(Fault::ContextLength),
                "policy" => Some(Fault::Policy),
                "quota" => Some(Fault::Quota),
                "tierbusy" => Some(Fault::TierBusy),
                _ => None,
            };
            if let Some(f) = simple {
                self.fault = Some(f);
                continue;
            }
            if tok == "once" {
                self.first = Some(1);
                continue;
            }
            if let Some(p) = percent(tok) {
                self.probability = Some(p);
                continue;
            }
            let takes_number = matches!(
                tok,
                "slow" | "cut" | "stall" | "malformed" | "first" | "len" | "tps"
            );
            let number = tokens.peek().and_then(|n| n.parse::<u64>().ok());
            match (takes_number, number) {
                (true, Some(n)) => {
                    tokens.next();
                    self.apply_numbered(tok, n);
                }
                (true, None) if strict => {
                    return Err(format!("`{tok}` needs a number: `{tok}-<n>`"))
                }
                _ if strict => return Err(format!("unknown fault token `{tok}`")),
                _ => {}
            }
        }
        Ok(())
    }

    fn apply_numbered(&mut self, tok: &str, n: u64) {
        let n32 = u32::try_from(n).unwrap_or(u32::MAX);
        match tok {
            "slow" => self.slow = Some(Duration::from_millis(n)),
            "cut" => self.fault = Some(Fault::Cut(n32)),
            "stall" => self.fault = Some(Fault::Stall(n32)),
            "malformed" => self.fault = Some(Fault::Malformed(n32)),
            "first" => self.first = Some(n),
            "len" => self.len = Some(n32),
            "tps" => self.tps = Some(n as f64),
            _ => {}
        }
    }
}

/// `p50` → 0.5, `p12.5` → 0.125. Anything else → `None`.
fn percent(tok: &str) -> Option<f64> {
    let digits = tok.strip_prefix('p')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let p: f64 = digits.parse().ok()?;
    Some((p / 100.0).clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(n: &str) -> FaultSpec {
        FaultSpec::from_model_name(n)
    }

    #[test]
    fn plain_names_have_no_fault() {
        assert_eq!(name("gpt-4o-mini"), FaultSpec::default());
        assert_eq!(name("sim-cheap"), FaultSpec::default());
        assert_eq!(name("claude-3-5-sonnet"), FaultSpec::default());
        // The first token is the name, never a fault.
        assert_eq!(name("500"), FaultSpec::default());
    }

    #[test]
    fn status_faults() {
        assert_eq!(
            name("sim-429").fault,
            Some(Fault::RateLimited { retry_after: true })
        );
        assert_eq!(
            name("sim-429noretry").fault,
            Some(Fault::RateLimited { retry_after: false })
        );
        assert_eq!(name("sim-500").fault, Some(Fault::ServerError));
        assert_eq!(name("gpt-4o-mini-503").fault, Some(Fault::Unavailable));
        assert_eq!(name("sim-529").fault, Some(Fault::Overloaded));
        assert_eq!(name("sim-ctx").fault, Some(Fault::ContextLength));
        assert_eq!(name("sim-policy").fault, Some(Fault::Policy));
        assert_eq!(name("sim-quota").fault, Some(Fault::Quota));
        assert_eq!(name("sim-reset").fault, Some(Fault::Reset));
        assert_eq!(name("sim-silent").fault, Some(Fault::Silent));
        assert_eq!(name("sim-nodone").fault, Some(Fault::NoDone));
    }

    #[test]
    fn numbered_tokens() {
        assert_eq!(name("sim-cut-40").fault, Some(Fault::Cut(40)));
        assert_eq!(name("sim-stall-3").fault, Some(Fault::Stall(3)));
        assert_eq!(name("sim-malformed-2").fault, Some(Fault::Malformed(2)));
        let s = name("sim-slow-2000-len-7-tps-50");
        assert_eq!(s.slow, Some(Duration::from_millis(2000)));
        assert_eq!(s.len, Some(7));
        assert_eq!(s.tps, Some(50.0));
        assert_eq!(s.fault, None);
        // A keyword without its number is ignored in names.
        assert_eq!(name("sim-cut-x").fault, None);
    }

    #[test]
    fn gates() {
        let once = name("sim-500-once");
        assert_eq!(once.first, Some(1));
        assert!(once.hits(0, 0.9));
        assert!(!once.hits(1, 0.0));
        let first = name("sim-503-first-3");
        assert!(first.hits(2, 0.5));
        assert!(!first.hits(3, 0.5));
        let p = name("sim-500-p25");
        assert_eq!(p.probability, Some(0.25));
        assert!(p.hits(100, 0.1));
        assert!(!p.hits(100, 0.3));
        assert!(!name("sim-once").hits(0, 0.0), "no fault, nothing hits");
    }

    #[test]
    fn strict_config_strings() {
        assert_eq!(FaultSpec::parse("none"), Ok(FaultSpec::default()));
        assert_eq!(FaultSpec::parse(""), Ok(FaultSpec::default()));
        assert_eq!(
            FaultSpec::parse("cut-40").map(|s| s.fault),
            Ok(Some(Fault::Cut(40)))
        );
        let s = FaultSpec::parse("500-once").unwrap();
        assert_eq!((s.fault, s.first), (Some(Fault::ServerError), Some(1)));
        assert!(FaultSpec::parse("explode").is_err());
        assert!(FaultSpec::parse("cut").is_err());
    }
}
