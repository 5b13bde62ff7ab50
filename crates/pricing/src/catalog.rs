//! The price catalog: entries keyed by (provider, model), with lookup normalisation.
//!
//! Lookup order ([`Catalog::lookup`]):
//! 1. the exact (provider, model) key, then an exact alias (genai-prices' `equals` ids);
//! 2. the model without a leading `provider/` prefix (`gemini/gemini-2.0-flash`,
//!    `models/gemini-2.0-flash`, `groq/llama-3.1-8b-instant`), exact then alias;
//! 3. date-suffix aliases: a dated id (`gpt-4o-2024-08-06`, `claude-…-20241022`) falls back to
//!    its undated base, and an undated id falls back to the single dated entry that extends it.
//!    Only when **unambiguous**: if several dated entries share a base and their prices differ,
//!    the lookup fails rather than guessing;
//! 4. genai-prices' `starts_with` rules (`claude-3-5-haiku` prices `claude-3-5-haiku-20241022`):
//!    the longest matching prefix wins, and a tie between differently priced entries fails.

use std::collections::HashMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::price::CatalogEntry;

/// The embedded default catalog (`catalog/prices.json` at the repository root).
const EMBEDDED: &str = include_str!("../../../catalog/prices.json");

/// Where a catalog's data came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceInfo {
    /// Short name: "litellm", "genai-prices", "switchyard".
    pub name: String,
    /// The file it was read from, as given on the command line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Upstream version, e.g. "litellm==1.109.1".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// SHA-256 of the file's bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// A set of priced models.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    /// Content hash of the entries (`sha256:` + 16 hex digits).
    pub version: String,
    /// When the catalog was generated.
    pub generated_at: DateTime<Utc>,
    /// Provenance of the data.
    #[serde(default)]
    pub sources: Vec<SourceInfo>,
    /// How the sources were combined, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precedence: Option<String>,
    /// The entries, sorted by (provider, model).
    pub entries: Vec<CatalogEntry>,
    #[serde(skip)]
    index: Index,
}

/// Errors loading a catalog file.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The file could not be read.
    #[error("read catalog {path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The IO error.
        source: std::io::Error,
    },
    /// The file is not a valid catalog.
    #[error("parse catalog: {0}")]
    Parse(#[from] serde_json::Error),
}

#[derive(Debug, Clone, Default)]
struct Index {
    exact: HashMap<(String, String), usize>,
    alias: HashMap<(String, String), usize>,
    /// (provider, undated base) → entries whose id is base + date suffix.
    dated: HashMap<(String, String), Vec<usize>>,
    /// provider → (prefix, entry), from genai-prices `starts_with` rules.
    prefixes: HashMap<String, Vec<(String, usize)>>,
}

// === impl Catalog ===

impl Catalog {
    /// Build a catalog from entries; sorts them, computes the version and the index.
    pub fn new(
        mut entries: Vec<CatalogEntry>,
        generated_at: DateTime<Utc>,
        sources: Vec<SourceInfo>,
        precedence: Option<String>,
    ) -> Self {
        entries.sort_by(|a, b| (&a.provider, &a.model).cmp(&(&b.provider, &b.model)));
        entries.dedup_by(|a, b| a.provider == b.provider && a.model == b.model);
        for e in &mut entries {
            e.aliases.sort();
            e.aliases.dedup();
            e.prefixes.sort();
            e.prefixes.dedup();
        }
        let mut c = Catalog {
            version: String::new(),
            generated_at,
            sources,
            precedence,
            entries,
            index: Index::default(),
        };
        c.version = c.content_hash();
        c.reindex();
        c
    }

    /// The catalog shipped inside the binary (parsed on every call; see [`Catalog::shared`]).
    pub fn embedded() -> Result<Self, CatalogError> {
        Self::from_json(EMBEDDED)
    }

    /// The embedded catalog, parsed once per process (~700 kB of JSON, a few ms).
    /// `None` only if the embedded file is corrupt, which the test suite rules out.
    pub fn shared() -> Option<&'static Catalog> {
        static SHARED: std::sync::OnceLock<Option<Catalog>> = std::sync::OnceLock::new();
        SHARED.get_or_init(|| Self::embedded().ok()).as_ref()
    }

    /// Load a catalog file written by `switchyard prices import`.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, CatalogError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| CatalogError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_json(&text)
    }

    /// Parse catalog JSON text.
    pub fn from_json(text: &str) -> Result<Self, CatalogError> {
        let mut c: Catalog = serde_json::from_str(text)?;
        c.reindex();
        Ok(c)
    }

    /// Serialise with one entry per line, so that catalog updates diff well in git.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        let mut out = String::from("{\n");
        out.push_str(&format!(
            "  \"version\": {},\n",
            serde_json::to_string(&self.version)?
        ));
        out.push_str(&format!(
            "  \"generated_at\": {},\n",
            serde_json::to_string(&self.generated_at)?
        ));
        out.push_str(&format!(
            "  \"sources\": {},\n",
            serde_json::to_string(&self.sources)?
        ));
        if let Some(p) = &self.precedence {
            out.push_str(&format!(
                "  \"precedence\": {},\n",
                serde_json::to_string(p)?
            ));
        }
        out.push_str("  \"entries\": [\n");
        for (i, e) in self.entries.iter().enumerate() {
            let sep = if i + 1 == self.entries.len() { "" } else { "," };
            out.push_str(&format!("    {}{sep}\n", serde_json::to_string(e)?));
        }
        out.push_str("  ]\n}\n");
        Ok(out)
    }

    /// Find the entry for a model at a provider (see the module docs for normalisation).
    pub fn lookup(&self, provider: &str, model: &str) -> Option<&CatalogEntry> {
        let bare = strip_provider_prefix(provider, model);
        self.find(provider, model)
            .or_else(|| self.find(provider, bare?))
            .or_else(|| self.by_prefix(provider, bare.unwrap_or(model)))
            .map(|i| &self.entries[i])
    }

    /// The entry stored under exactly this key (no normalisation).
    pub fn get(&self, provider: &str, model: &str) -> Option<&CatalogEntry> {
        let i = self.index.exact.get(&key(provider, model))?;
        self.entries.get(*i)
    }

    /// Provider keys present, with entry counts.
    pub fn providers(&self) -> Vec<(String, usize)> {
        let mut m: HashMap<&str, usize> = HashMap::new();
        for e in &self.entries {
            *m.entry(e.provider.as_str()).or_default() += 1;
        }
        let mut v: Vec<_> = m.into_iter().map(|(k, n)| (k.to_owned(), n)).collect();
        v.sort();
        v
    }

    fn find(&self, provider: &str, model: &str) -> Option<usize> {
        let k = key(provider, model);
        if let Some(i) = self
            .index
            .exact
            .get(&k)
            .or_else(|| self.index.alias.get(&k))
        {
            return Some(*i);
        }
        if let Some(base) = strip_date_suffix(model) {
            let bk = key(provider, base);
            if let Some(i) = self
                .index
                .exact
                .get(&bk)
                .or_else(|| self.index.alias.get(&bk))
            {
                return Some(*i);
            }
        }
        self.unambiguous_dated(&k)
    }

    /// The entry with the longest matching prefix; `None` if entries tie with different prices.
    fn by_prefix(&self, provider: &str, model: &str) -> Option<usize> {
        let rules = self.index.prefixes.get(provider)?;
        let hits: Vec<&(String, usize)> = rules
            .iter()
            .filter(|(p, _)| model.starts_with(p.as_str()))
            .collect();
        let longest = hits.iter().map(|(p, _)| p.len()).max()?;
        let mut best = hits
            .iter()
            .filter(|(p, _)| p.len() == longest)
            .map(|(_, i)| *i);
        let first = best.next()?;
        let price = |i: usize| self.entries[i].price.fields();
        best.all(|i| price(i) == price(first)).then_some(first)
    }

    fn unambiguous_dated(&self, k: &(String, String)) -> Option<usize> {
        let cands = self.index.dated.get(k)?;
        let first = *cands.first()?;
        let same =
            |i: &usize| self.entries[*i].price.fields() == self.entries[first].price.fields();
        cands.iter().all(same).then_some(first)
    }

    fn content_hash(&self) -> String {
        let mut h = Sha256::new();
        for e in &self.entries {
            h.update(serde_json::to_vec(e).unwrap_or_default());
            h.update(b"\n");
        }
        let digest = h.finalize();
        let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        format!("sha256:{hex}")
    }

    fn reindex(&mut self) {
        let mut ix = Index::default();
        for (i, e) in self.entries.iter().enumerate() {
            ix.exact.insert(key(&e.provider, &e.model), i);
            if let Some(base) = strip_date_suffix(&e.model) {
                ix.dated.entry(key(&e.provider, base)).or_default().push(i);
            }
        }
        for (i, e) in self.entries.iter().enumerate() {
            for p in &e.prefixes {
                ix.prefixes
                    .entry(e.provider.clone())
                    .or_default()
                    .push((p.clone(), i));
            }
            for a in &e.aliases {
                let k = key(&e.provider, a);
                if !ix.exact.contains_key(&k) {
                    ix.alias.entry(k).or_insert(i);
                }
            }
        }
        self.index = ix;
    }
}

fn key(provider: &str, model: &str) -> (String, String) {
    (provider.to_owned(), model.to_owned())
}

/// `gemini/x` → `x` for provider "gemini"; `models/x` for gemini; `<provider>/x` generally.
fn strip_provider_prefix<'a>(provider: &str, model: &'a str) -> Option<&'a str> {
    let (prefix, rest) = model.split_once('/')?;
    let known = prefix == provider
        || (provider == "gemini" && prefix == "models")
        || (provider == "azure-openai" && prefix == "azure")
        || (provider == "together_ai" && prefix == "together")
        || (provider == "fireworks_ai" && prefix == "fireworks");
    known.then_some(rest)
}

/// `gpt-4o-2024-08-06` → `gpt-4o`; `claude-3-5-haiku-20241022` → `claude-3-5-haiku`;
/// `…-v1:0`-style Bedrock ids and other suffixes are left alone.
pub fn strip_date_suffix(model: &str) -> Option<&str> {
    let is_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    // YYYY-MM-DD
    if model.len() > 11 {
        let (base, tail) = model.split_at(model.len() - 11);
        let parts: Vec<&str> = tail.split('-').collect();
        if parts.len() == 4
            && parts[0].is_empty()
            && parts[1].len() == 4
            && is_digits(parts[1])
            && is_digits(parts[2])
            && is_digits(parts[3])
            && base.len() > 1
        {
            return Some(base);
        }
    }
    // YYYYMMDD
    let (base, tail) = model.rsplit_once('-')?;
    (tail.len() == 8 && is_digits(tail) && tail.starts_with("20") && !base.is_empty())
        .then_some(base)
}
