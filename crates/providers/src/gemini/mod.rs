//! Google Gemini (`generativelanguage.googleapis.com/v1beta`).
//!
//! `POST {base}/models/{model}:generateContent` and `:streamGenerateContent?alt=sse`, the key
//! in the `x-goog-api-key` header (never in the URL, where it would end up in proxy and access
//! logs). Layout: [`wire`] (serde types of the API) → [`convert`] (pure conversions) →
//! `stream` (SSE decoding) → `error` (Google error classification); `schema` cleans JSON
//! schemas down to the subset Gemini accepts.

pub mod convert;
pub(crate) mod error;
pub mod ingress;
mod schema;
pub(crate) mod stream;
pub mod wire;

use http::{header, HeaderValue};
use secrecy::ExposeSecret;
use serde::Serialize;
use switchyard_types::{
    ChatRequest, Embedding, EmbeddingVector, EmbeddingsRequest, EmbeddingsResponse,
    EmbeddingsUsage, JsonMap, Usage,
};

use crate::{
    http::client, CallCx, EmbedReply, ErrorClass, Provider, ProviderConfig, ProviderError,
    RateLimitInfo, Reply, StreamReply, UpstreamMeta,
};

/// A Gemini upstream.
#[derive(Debug)]
pub struct GeminiProvider {
    name: String,
    base: String,
    key: Option<HeaderValue>,
    client: reqwest::Client,
}

impl GeminiProvider {
    /// Build the adapter; fails only if the key is not a valid header value.
    pub fn new(cfg: ProviderConfig) -> Result<Self, ProviderError> {
        let key = match &cfg.api_key {
            Some(k) => {
                let mut v = HeaderValue::from_str(k.expose_secret()).map_err(|_| {
                    ProviderError::internal("provider API key is not a valid header")
                })?;
                v.set_sensitive(true);
                Some(v)
            }
            None => None,
        };
        let client = client(cfg.timeouts.connect)
            .map_err(|e| ProviderError::internal(format!("build HTTP client: {e}")))?;
        Ok(GeminiProvider {
            name: cfg.name,
            base: cfg.base_url.trim_end_matches('/').to_owned(),
            key,
            client,
        })
    }

    /// Config name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn url(&self, model: &str, method: &str) -> String {
        let model = model.strip_prefix("models/").unwrap_or(model);
        format!("{}/models/{model}:{method}", self.base)
    }

    /// Embeddings through `:batchEmbedContents`. Gemini reports no token usage for embeddings,
    /// so usage is estimated as one token per four characters (rounded up) of input.
    pub async fn embed(
        &self,
        req: &EmbeddingsRequest,
        upstream: &str,
    ) -> Result<EmbedReply, ProviderError> {
        let texts = req.input.texts().ok_or_else(|| {
            ProviderError::new(
                ErrorClass::Unsupported,
                "Gemini embeddings take text input, not token arrays",
            )
        })?;
        let model = format!(
            "models/{}",
            upstream.strip_prefix("models/").unwrap_or(upstream)
        );
        let body = wire::BatchEmbedRequest {
            requests: texts
                .iter()
                .map(|t| wire::EmbedContentRequest {
                    model: model.clone(),
                    content: wire::Content {
                        role: None,
                        parts: vec![wire::Part::text(*t)],
                    },
                    output_dimensionality: req.dimensions,
                })
                .collect(),
        };
        let resp = self
            .send(&self.url(upstream, "batchEmbedContents"), &body)
            .await?;
        let meta = meta(&resp);
        let bytes = crate::http::read_answer(resp).await?;
        let wire: wire::BatchEmbedResponse =
            crate::http::decode_answer(&bytes, "Gemini returned unreadable embeddings")?;
        if wire.embeddings.len() != texts.len() {
            return Err(ProviderError::new(
                ErrorClass::Malformed,
                format!(
                    "Gemini returned {} embeddings for {} inputs",
                    wire.embeddings.len(),
                    texts.len()
                ),
            ));
        }
        let tokens: u64 = texts
            .iter()
            .map(|t| (t.chars().count() as u64).div_ceil(4))
            .sum();
        let base64 = req.encoding_format.as_deref() == Some("base64");
        let data = wire
            .embeddings
            .into_iter()
            .enumerate()
            .map(|(i, e)| Embedding {
                object: "embedding".to_owned(),
                index: i as u32,
                embedding: if base64 {
                    EmbeddingVector::Base64(crate::embed::base64_f32(&e.values))
                } else {
                    EmbeddingVector::Float(e.values)
                },
            })
            .collect();
        let response = EmbeddingsResponse {
            object: "list".to_owned(),
            data,
            model: upstream.to_owned(),
            usage: EmbeddingsUsage {
                prompt_tokens: tokens,
                total_tokens: tokens,
            },
            extra: JsonMap::new(),
        };
        let usage = Usage {
            input: tokens,
            ..Usage::default()
        };
        Ok(EmbedReply {
            response,
            usage,
            meta,
        })
    }

    async fn send(
        &self,
        url: &str,
        body: &impl Serialize,
    ) -> Result<reqwest::Response, ProviderError> {
        let bytes = crate::http::json_body(body)?;
        let mut rb = self
            .client
            .post(url)
            .header(header::CONTENT_TYPE, "application/json")
            .body(bytes);
        if let Some(key) = &self.key {
            rb = rb.header("x-goog-api-key", key.clone());
        }
        crate::http::send(rb, error::from_response).await
    }
}

impl Provider for GeminiProvider {
    /// Non-streaming completion.
    async fn chat(&self, req: &ChatRequest, call: CallCx<'_>) -> Result<Reply, ProviderError> {
        let upstream = call.upstream_model;
        let body = convert::to_wire(req)?;
        let resp = self
            .send(&self.url(upstream, "generateContent"), &body)
            .await
            .map_err(|e| error::for_tier(e, body.service_tier.is_some()))?;
        let meta = meta(&resp);
        let bytes = crate::http::read_answer(resp).await?;
        let wire: wire::GenerateContentResponse =
            crate::http::decode_answer(&bytes, "Gemini returned an unreadable answer")?;
        let (response, usage) = convert::from_wire(wire, upstream, crate::http::unix_now())?;
        Ok(Reply {
            response,
            usage,
            meta,
        })
    }

    /// Streaming completion.
    async fn chat_stream(
        &self,
        req: &ChatRequest,
        call: CallCx<'_>,
    ) -> Result<StreamReply, ProviderError> {
        let upstream = call.upstream_model;
        let body = convert::to_wire(req)?;
        let url = format!("{}?alt=sse", self.url(upstream, "streamGenerateContent"));
        let resp = self
            .send(&url, &body)
            .await
            .map_err(|e| error::for_tier(e, body.service_tier.is_some()))?;
        let meta = meta(&resp);
        Ok(StreamReply {
            stream: stream::decode(resp, upstream.to_owned(), crate::http::unix_now()),
            meta,
        })
    }
}

fn meta(resp: &reqwest::Response) -> UpstreamMeta {
    UpstreamMeta {
        status: resp.status().as_u16(),
        rate_limit: RateLimitInfo::from_openai_headers(resp.headers()),
    }
}

#[cfg(test)]
mod tests;
