//! switchyard-router: a learned prompt router and the routing benchmark.
//!
//! The router predicts from a prompt (and an optional task label) whether the premium model is
//! needed, i.e. whether the cheap model's answer would be worse. It is a logistic regression over
//! hashed word unigrams/bigrams, character n-grams and a few shape features, plus a smoothed
//! per-task prior; see [`Model`] and [`train`]. Scoring is a single allocation-free pass over the
//! prompt.
//!
//! [`bench`] evaluates routing policies on RouteLLM's MMLU and GSM8K data (APGR, CPT, premium
//! share at 95 % of the strong model's quality).
//!
//! No IO happens here except [`Model::load`], [`Model::save`] and the benchmark's data loader;
//! no async runtime, no HTTP.

pub mod bench;
mod features;
mod hash;
mod model;
mod train;

#[cfg(test)]
mod tests;

pub use features::FeatureConfig;
pub use model::{threshold_for_share, Head, Model, ModelFile, FORMAT, MAX_HEADS, VERSION};
pub use train::{train, train_pair, Example, PairExample, TrainOptions};

/// Errors of loading, saving and benchmarking.
#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The model file is not valid JSON of the expected shape.
    #[error("model file: {0}")]
    Json(#[from] serde_json::Error),
    /// The model file is JSON but not a usable switchyard-router model.
    #[error("model file: {0}")]
    Format(String),
    /// The benchmark data is missing or malformed.
    #[error("benchmark data: {0}")]
    Data(String),
}
