//! Who bills for a provider: the vendor, which is also its key in the price catalog.
//!
//! One function, [`resolve`], used by serving, `check-config`, `prices check` and reports:
//! an explicit `vendor = "…"` on the provider wins; else, for an OpenAI-compatible provider,
//! the vendor is inferred from the `base_url` host; else from the provider's name; a provider
//! of a first-party kind (`openai`, `anthropic`, `gemini`, `azure-openai`, `bedrock`, `sim`)
//! is its own vendor.
//!
//! The host table only identifies who bills; no call is ever made to it from here (upstream
//! URLs come from the config and are used by `switchyard-providers` alone). How a vendor's
//! usage fields are read is `switchyard_providers::vendor::openai_dialect`.

use serde::Serialize;

/// The provider kind whose vendor is not the kind itself.
const OPENAI_COMPATIBLE: &str = "openai-compatible";

/// A provider's vendor and how it was determined.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Vendor {
    /// The catalog provider key (`openai`, `groq`, `together_ai`, …).
    pub key: String,
    /// How it was determined.
    pub how: VendorSource,
}

/// Where a [`Vendor`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VendorSource {
    /// `vendor = "…"` in the config.
    Explicit,
    /// The provider kind is the vendor.
    Kind,
    /// Inferred from the `base_url` host.
    BaseUrl,
    /// Inferred from the provider's name.
    Name,
}

/// Hosts of OpenAI-compatible vendors, matched on the host or any parent domain.
const HOSTS: &[(&str, &str)] = &[
    ("api.groq.com", "groq"),
    ("api.deepseek.com", "deepseek"),
    ("api.mistral.ai", "mistral"),
    ("api.x.ai", "xai"),
    ("api.together.xyz", "together_ai"),
    ("api.together.ai", "together_ai"),
    ("api.fireworks.ai", "fireworks_ai"),
    ("openrouter.ai", "openrouter"),
    ("api.perplexity.ai", "perplexity"),
    ("api.cerebras.ai", "cerebras"),
    ("api.deepinfra.com", "deepinfra"),
];

/// Resolve a provider's vendor (see the module docs for the order).
pub fn resolve(kind: &str, name: &str, base_url: Option<&str>, explicit: Option<&str>) -> Vendor {
    if let Some(v) = explicit.filter(|v| !v.is_empty()) {
        return Vendor {
            key: normalise(v),
            how: VendorSource::Explicit,
        };
    }
    if kind != OPENAI_COMPATIBLE {
        return Vendor {
            key: kind.to_owned(),
            how: VendorSource::Kind,
        };
    }
    if let Some(key) = base_url.and_then(host).and_then(vendor_of_host) {
        return Vendor {
            key: key.to_owned(),
            how: VendorSource::BaseUrl,
        };
    }
    Vendor {
        key: normalise(name),
        how: VendorSource::Name,
    }
}

/// Common spellings → catalog keys (`together` → `together_ai`, `x-ai`/`grok` → `xai`).
fn normalise(name: &str) -> String {
    let n = name.to_ascii_lowercase();
    match n.as_str() {
        "together" | "together-ai" | "togetherai" => "together_ai".into(),
        "fireworks" | "fireworks-ai" | "fireworksai" => "fireworks_ai".into(),
        "x-ai" | "grok" => "xai".into(),
        "azure" => "azure-openai".into(),
        "google" => "gemini".into(),
        _ => n,
    }
}

fn host(url: &str) -> Option<&str> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    Some(host.split(':').next().unwrap_or(host))
}

fn vendor_of_host(host: &str) -> Option<&'static str> {
    let host = host.to_ascii_lowercase();
    HOSTS
        .iter()
        .find(|(h, _)| host == *h || host.ends_with(&format!(".{h}")))
        .map(|(_, v)| *v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_then_host_then_name() {
        let oc = OPENAI_COMPATIBLE;
        let r = resolve(oc, "fast", Some("https://api.groq.com/openai/v1"), None);
        assert_eq!((r.key.as_str(), r.how), ("groq", VendorSource::BaseUrl));
        let r = resolve(oc, "fast", Some("http://127.0.0.1:9/v1"), Some("DeepSeek"));
        assert_eq!(
            (r.key.as_str(), r.how),
            ("deepseek", VendorSource::Explicit)
        );
        let r = resolve(oc, "Together", Some("http://10.0.0.1:8000/v1"), None);
        assert_eq!((r.key.as_str(), r.how), ("together_ai", VendorSource::Name));
        let r = resolve("anthropic", "claude", None, None);
        assert_eq!((r.key.as_str(), r.how), ("anthropic", VendorSource::Kind));
        let r = resolve(oc, "x", Some("https://user:pw@eu.api.x.ai:443/v1"), None);
        assert_eq!(r.key, "xai");
    }
}
