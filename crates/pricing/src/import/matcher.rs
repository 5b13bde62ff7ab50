//! genai-prices' model `match` rules (`equals`, `starts_with`, `contains`, `regex`, `or`, …).
//!
//! Used at import time only, to pair LiteLLM ids with genai-prices models. Regexes use
//! `fancy-regex` because genai-prices writes look-arounds (`^(?!.*-tts)`).

use serde_json::Value;

/// A compiled match rule.
#[derive(Debug, Clone)]
pub(crate) enum Matcher {
    Equals(String),
    StartsWith(String),
    EndsWith(String),
    Contains(String),
    Regex(Box<fancy_regex::Regex>),
    Or(Vec<Matcher>),
    And(Vec<Matcher>),
    /// An unrecognised rule: matches nothing (reported by the importer).
    Never,
}

impl Matcher {
    /// Compile a rule; `Err` names the part that could not be understood.
    pub(crate) fn parse(v: &Value) -> Result<Matcher, String> {
        let Some((op, arg)) = v.as_object().and_then(|o| o.iter().next()) else {
            return Err(format!("match rule {v} is not a one-key object"));
        };
        let s = || {
            arg.as_str()
                .map(str::to_owned)
                .ok_or(format!("{op}: not a string"))
        };
        let list = || -> Result<Vec<Matcher>, String> {
            let items = arg.as_array().ok_or(format!("{op}: not a list"))?;
            items.iter().map(Matcher::parse).collect()
        };
        Ok(match op.as_str() {
            "equals" => Matcher::Equals(s()?),
            "starts_with" => Matcher::StartsWith(s()?),
            "ends_with" => Matcher::EndsWith(s()?),
            "contains" => Matcher::Contains(s()?),
            "regex" => {
                let re = fancy_regex::Regex::new(&s()?).map_err(|e| format!("regex: {e}"))?;
                Matcher::Regex(Box::new(re))
            }
            "or" => Matcher::Or(list()?),
            "and" => Matcher::And(list()?),
            other => return Err(format!("unknown match operator {other:?}")),
        })
    }

    /// Does the rule match this model id?
    pub(crate) fn matches(&self, id: &str) -> bool {
        match self {
            Matcher::Equals(s) => id == s,
            Matcher::StartsWith(s) => id.starts_with(s.as_str()),
            Matcher::EndsWith(s) => id.ends_with(s.as_str()),
            Matcher::Contains(s) => id.contains(s.as_str()),
            Matcher::Regex(re) => re.is_match(id).unwrap_or(false),
            Matcher::Or(v) => v.iter().any(|m| m.matches(id)),
            Matcher::And(v) => v.iter().all(|m| m.matches(id)),
            Matcher::Never => false,
        }
    }

    /// Prefixes the rule accepts unconditionally (`starts_with`, top level or inside `or`).
    pub(crate) fn prefixes(&self) -> Vec<String> {
        match self {
            Matcher::StartsWith(s) => vec![s.clone()],
            Matcher::Or(v) => v.iter().flat_map(Matcher::prefixes).collect(),
            _ => Vec::new(),
        }
    }

    /// Ids the rule names exactly (`equals`, at the top level or inside `or`).
    pub(crate) fn exact_ids(&self) -> Vec<String> {
        match self {
            Matcher::Equals(s) => vec![s.clone()],
            Matcher::Or(v) => v.iter().flat_map(Matcher::exact_ids).collect(),
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_match_like_genai_prices() {
        let m = Matcher::parse(&serde_json::json!({"and": [
            {"starts_with": "gemini-2.5-pro"}, {"regex": "^(?!.*-[tT][tT][sS](?:$|-))"}]}))
        .unwrap();
        assert!(m.matches("gemini-2.5-pro"));
        assert!(m.matches("gemini-2.5-pro-preview-05-06"));
        assert!(!m.matches("gemini-2.5-pro-preview-tts"));
        let m =
            Matcher::parse(&serde_json::json!({"or": [{"equals": "a"}, {"equals": "b"}]})).unwrap();
        assert_eq!(m.exact_ids(), vec!["a", "b"]);
        assert!(Matcher::parse(&serde_json::json!({"fuzzy": "x"})).is_err());
    }
}
