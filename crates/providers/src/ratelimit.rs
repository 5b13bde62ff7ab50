//! Parsing of rate-limit headers into headroom facts.

use std::time::Duration;

use http::HeaderMap;

/// Remaining quota as reported by the upstream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateLimitInfo {
    /// Requests left in the window.
    pub remaining_requests: Option<u64>,
    /// Tokens left in the window.
    pub remaining_tokens: Option<u64>,
    /// When the request window resets.
    pub reset_requests: Option<Duration>,
    /// When the token window resets.
    pub reset_tokens: Option<Duration>,
}

impl RateLimitInfo {
    /// Read OpenAI-style `x-ratelimit-*` headers.
    pub fn from_openai_headers(h: &HeaderMap) -> Self {
        RateLimitInfo {
            remaining_requests: num(h, "x-ratelimit-remaining-requests"),
            remaining_tokens: num(h, "x-ratelimit-remaining-tokens"),
            reset_requests: dur(h, "x-ratelimit-reset-requests"),
            reset_tokens: dur(h, "x-ratelimit-reset-tokens"),
        }
    }

    /// Read Anthropic `anthropic-ratelimit-*` headers (resets are RFC 3339 instants).
    pub fn from_anthropic_headers(h: &HeaderMap) -> Self {
        RateLimitInfo {
            remaining_requests: num(h, "anthropic-ratelimit-requests-remaining"),
            remaining_tokens: num(h, "anthropic-ratelimit-tokens-remaining"),
            reset_requests: instant(h, "anthropic-ratelimit-requests-reset"),
            reset_tokens: instant(h, "anthropic-ratelimit-tokens-reset"),
        }
    }
}

/// Time from now until an RFC 3339 instant (zero if it is past).
fn instant(h: &HeaderMap, name: &str) -> Option<Duration> {
    let at = chrono::DateTime::parse_from_rfc3339(h.get(name)?.to_str().ok()?.trim()).ok()?;
    let left = at.signed_duration_since(chrono::Utc::now());
    Some(left.to_std().unwrap_or(Duration::ZERO))
}

fn num(h: &HeaderMap, name: &str) -> Option<u64> {
    h.get(name)?.to_str().ok()?.trim().parse().ok()
}

fn dur(h: &HeaderMap, name: &str) -> Option<Duration> {
    parse_reset(h.get(name)?.to_str().ok()?)
}

/// Parse `Retry-After` (seconds) or `retry-after-ms`.
pub(crate) fn retry_after(h: &HeaderMap) -> Option<Duration> {
    if let Some(ms) = h.get("retry-after-ms").and_then(|v| v.to_str().ok()) {
        if let Ok(ms) = ms.trim().parse::<f64>() {
            if ms.is_finite() && ms >= 0.0 {
                return Some(Duration::from_secs_f64(ms / 1000.0));
            }
        }
    }
    let s = h.get("retry-after")?.to_str().ok()?.trim();
    let secs: f64 = s.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

/// Parse OpenAI reset durations such as `1s`, `6m0s`, `20ms`, `1h2m3.5s`.
pub(crate) fn parse_reset(s: &str) -> Option<Duration> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let mut total = 0f64;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let value: f64 = num.parse().ok()?;
        num.clear();
        let unit = match c {
            'h' => 3600.0,
            'm' if chars.peek() == Some(&'s') => {
                chars.next();
                0.001
            }
            'm' => 60.0,
            's' => 1.0,
            _ => return None,
        };
        total += value * unit;
    }
    if !num.is_empty() {
        return None;
    }
    Some(Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_openai_reset_formats() {
        assert_eq!(parse_reset("1s"), Some(Duration::from_secs(1)));
        assert_eq!(parse_reset("6m0s"), Some(Duration::from_secs(360)));
        assert_eq!(parse_reset("20ms"), Some(Duration::from_millis(20)));
        assert_eq!(parse_reset("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_reset("x"), None);
    }

    #[test]
    fn parses_anthropic_headers() {
        let mut h = HeaderMap::new();
        h.insert(
            "anthropic-ratelimit-requests-remaining",
            "49".parse().unwrap(),
        );
        h.insert(
            "anthropic-ratelimit-tokens-remaining",
            "20000".parse().unwrap(),
        );
        h.insert(
            "anthropic-ratelimit-requests-reset",
            "2000-01-01T00:00:00Z".parse().unwrap(),
        );
        let soon = (chrono::Utc::now() + chrono::Duration::seconds(30)).to_rfc3339();
        h.insert("anthropic-ratelimit-tokens-reset", soon.parse().unwrap());
        let r = RateLimitInfo::from_anthropic_headers(&h);
        assert_eq!(
            (r.remaining_requests, r.remaining_tokens),
            (Some(49), Some(20000))
        );
        assert_eq!(r.reset_requests, Some(Duration::ZERO));
        assert!(r
            .reset_tokens
            .is_some_and(|d| d > Duration::from_secs(25) && d <= Duration::from_secs(30)));
    }

    #[test]
    fn retry_after_ms_wins() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", "3".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        h.insert("retry-after-ms", "250".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_millis(250)));
    }
}
