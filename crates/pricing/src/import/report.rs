//! What an import found wrong: problems are listed, never hidden.

use rust_decimal::Decimal;
use serde::Serialize;

/// The outcome of an import besides its entries.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    /// Entries imported (before merging).
    pub imported: usize,
    /// Entries for providers switchyard does not route to.
    pub skipped_provider: usize,
    /// Entries whose mode is not chat or embedding (image, audio, rerank, …).
    pub skipped_mode: usize,
    /// Region- or commitment-specific variants (`bedrock/us-east-1/…`) not imported.
    pub skipped_variant: usize,
    /// Problems, one per entry and kind.
    pub problems: Vec<Problem>,
    /// Rates on which the two sources disagree (all of them; filter by `diff_percent`).
    pub disagreements: Vec<Disagreement>,
}

/// One problem with one source entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// "litellm" or "genai-prices".
    pub source: &'static str,
    /// switchyard provider key.
    pub provider: String,
    /// Model id (or the source key when it could not be mapped).
    pub model: String,
    /// Category.
    pub kind: ProblemKind,
    /// Human-readable detail.
    pub detail: String,
}

/// Problem categories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// A chat/embedding model without a token price: left out of the catalog (unpriced).
    NoPrice,
    /// The model's deprecation date has passed (entry kept, for historical usage).
    PastDeprecation,
    /// A value could not be parsed (entry left out, or the field ignored).
    Unparsable,
    /// A pricing feature the catalog does not model (time-of-day prices, extra tiers, …).
    NotModelled,
    /// A dated price change that starts after the import date (not applied yet).
    Scheduled,
    /// Two source keys map to the same (provider, model) with different prices; first kept.
    Duplicate,
}

/// One rate two sources disagree on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Disagreement {
    /// switchyard provider key.
    pub provider: String,
    /// Model id.
    pub model: String,
    /// Rate name ("input", "output", "cache_read", …).
    pub field: &'static str,
    /// LiteLLM's rate per million.
    pub litellm: Decimal,
    /// genai-prices' rate per million.
    pub genai: Decimal,
    /// |a − b| / max(a, b) × 100, rounded to 2 places.
    pub diff_percent: Decimal,
}

// === impl ImportReport ===

impl ImportReport {
    /// Record a problem.
    pub fn push(
        &mut self,
        source: &'static str,
        provider: &str,
        model: &str,
        kind: ProblemKind,
        detail: impl Into<String>,
    ) {
        self.problems.push(Problem {
            source,
            provider: provider.to_owned(),
            model: model.to_owned(),
            kind,
            detail: detail.into(),
        });
    }

    /// Fold another report into this one.
    pub fn merge(&mut self, o: ImportReport) {
        self.imported += o.imported;
        self.skipped_provider += o.skipped_provider;
        self.skipped_mode += o.skipped_mode;
        self.skipped_variant += o.skipped_variant;
        self.problems.extend(o.problems);
        self.disagreements.extend(o.disagreements);
    }

    /// Problems of one kind.
    pub fn count(&self, kind: ProblemKind) -> usize {
        self.problems.iter().filter(|p| p.kind == kind).count()
    }

    /// Disagreements strictly above a tolerance in percent.
    pub fn disagreements_above(&self, tolerance_percent: Decimal) -> Vec<&Disagreement> {
        self.disagreements
            .iter()
            .filter(|d| d.diff_percent > tolerance_percent)
            .collect()
    }
}
