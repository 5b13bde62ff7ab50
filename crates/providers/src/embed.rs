//! Embeddings: [`AnyProvider::embed`] and its reply.
//!
//! Kept out of the [`crate::Provider`] trait on purpose: only some adapters embed, and the
//! trait stays the chat contract every adapter must fulfil. Adapters without embeddings
//! answer with an `Unsupported` error naming the provider (another candidate may serve it).

use switchyard_types::{EmbeddingsRequest, EmbeddingsResponse, Usage};

use crate::{AnyProvider, ErrorClass, ProviderError, UpstreamMeta};

/// A finished embeddings call.
#[derive(Debug)]
pub struct EmbedReply {
    /// The answer in the OpenAI shape.
    pub response: EmbeddingsResponse,
    /// Normalised usage (input only).
    pub usage: Usage,
    /// Facts from the upstream's response headers.
    pub meta: UpstreamMeta,
}

impl AnyProvider {
    /// Embed `req.input` with the provider's model `upstream_model`.
    pub async fn embed(
        &self,
        req: &EmbeddingsRequest,
        upstream_model: &str,
    ) -> Result<EmbedReply, ProviderError> {
        match self {
            AnyProvider::OpenAi(p) => p.embed(req, upstream_model).await,
            AnyProvider::Gemini(p) => p.embed(req, upstream_model).await,
            AnyProvider::Anthropic(_) | AnyProvider::Bedrock(_) => Err(ProviderError::new(
                ErrorClass::Unsupported,
                format!("provider `{}` does not serve embeddings", self.name()),
            )),
        }
    }
}

/// Little-endian `f32`s, base64-encoded (OpenAI's `encoding_format = "base64"`).
pub(crate) fn base64_f32(values: &[f32]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_of_floats() {
        // 1.0f32 = 00 00 80 3f
        assert_eq!(base64_f32(&[1.0]), "AACAPw==");
        assert_eq!(base64_f32(&[]), "");
    }
}
