//! Embeddings (`POST /v1/embeddings`), in the OpenAI shape.

use serde::{Deserialize, Serialize};

use crate::JsonMap;

/// An embeddings request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingsRequest {
    /// A model name or a route name.
    pub model: String,
    /// What to embed.
    pub input: EmbeddingInput,
    /// `float` (default) or `base64`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding_format: Option<String>,
    /// Truncate vectors to this many dimensions (where the model supports it).
    #[serde(
        default,
        deserialize_with = "crate::whole::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub dimensions: Option<u32>,
    /// End-user id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Unmodelled fields, passed through to OpenAI-family upstreams.
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// `input`: one text, several texts, or pre-tokenised input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EmbeddingInput {
    /// One text.
    One(String),
    /// Several texts.
    Many(Vec<String>),
    /// One token array.
    Tokens(Vec<u32>),
    /// Several token arrays.
    TokenBatches(Vec<Vec<u32>>),
}

impl EmbeddingInput {
    /// How many vectors the request asks for.
    pub fn len(&self) -> usize {
        match self {
            EmbeddingInput::One(_) | EmbeddingInput::Tokens(_) => 1,
            EmbeddingInput::Many(v) => v.len(),
            EmbeddingInput::TokenBatches(v) => v.len(),
        }
    }

    /// Whether there is nothing to embed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The texts, or `None` for token input.
    pub fn texts(&self) -> Option<Vec<&str>> {
        match self {
            EmbeddingInput::One(s) => Some(vec![s.as_str()]),
            EmbeddingInput::Many(v) => Some(v.iter().map(String::as_str).collect()),
            EmbeddingInput::Tokens(_) | EmbeddingInput::TokenBatches(_) => None,
        }
    }
}

/// An embeddings answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingsResponse {
    /// `list`.
    #[serde(default = "list_object")]
    pub object: String,
    /// One vector per input, in input order.
    pub data: Vec<Embedding>,
    /// The model that answered.
    pub model: String,
    /// Token usage.
    #[serde(default)]
    pub usage: EmbeddingsUsage,
    /// Unmodelled fields.
    #[serde(flatten)]
    pub extra: JsonMap,
}

fn list_object() -> String {
    "list".to_owned()
}

fn embedding_object() -> String {
    "embedding".to_owned()
}

/// One vector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Embedding {
    /// `embedding`.
    #[serde(default = "embedding_object")]
    pub object: String,
    /// Position of the input.
    #[serde(default)]
    pub index: u32,
    /// The vector.
    pub embedding: EmbeddingVector,
}

/// A vector as floats or as base64 little-endian `f32`s.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EmbeddingVector {
    /// `encoding_format = "float"`.
    Float(Vec<f32>),
    /// `encoding_format = "base64"`.
    Base64(String),
}

/// Embeddings usage (input only).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmbeddingsUsage {
    /// Input tokens.
    #[serde(default)]
    pub prompt_tokens: u64,
    /// Same as `prompt_tokens`.
    #[serde(default)]
    pub total_tokens: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_shapes() {
        let one: EmbeddingInput = serde_json::from_str(r#""hi""#).unwrap();
        assert_eq!(one.len(), 1);
        let many: EmbeddingInput = serde_json::from_str(r#"["a","b"]"#).unwrap();
        assert_eq!(many.texts(), Some(vec!["a", "b"]));
        let toks: EmbeddingInput = serde_json::from_str("[1,2,3]").unwrap();
        assert_eq!(toks, EmbeddingInput::Tokens(vec![1, 2, 3]));
        let batches: EmbeddingInput = serde_json::from_str("[[1],[2,3]]").unwrap();
        assert_eq!(batches.len(), 2);
        assert!(batches.texts().is_none());
    }
}
