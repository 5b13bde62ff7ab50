//! Anthropic Messages (`POST {base}/messages`): encoding in [`convert`], wire types in `wire`,
//! streaming in `stream`, error classification in `error`, and the Anthropic-compatible
//! ingress conversions (client speaks Anthropic, gateway speaks canonical) in [`ingress`].

mod batch;
pub mod convert;
pub(crate) mod error;
pub mod ingress;

pub(crate) mod stream;
pub(crate) mod wire;

#[cfg(test)]
mod tests;

use http::{header, HeaderValue};
use secrecy::ExposeSecret;
use switchyard_types::ChatRequest;

use crate::{
    http::client, CallCx, Provider, ProviderConfig, ProviderError, RateLimitInfo, Reply,
    StreamReply, UpstreamMeta,
};

/// The API version this adapter speaks.
const VERSION: &str = "2023-06-01";

/// An Anthropic-wire upstream.
#[derive(Debug)]
pub struct AnthropicProvider {
    name: String,
    /// `{base}/messages`, parsed once.
    url: crate::http::FixedUrl,
    key: Option<HeaderValue>,
    client: reqwest::Client,
}

impl AnthropicProvider {
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
        Ok(AnthropicProvider {
            name: cfg.name,
            url: crate::http::FixedUrl::new(format!(
                "{}/messages",
                cfg.base_url.trim_end_matches('/')
            )),
            key,
            client,
        })
    }

    /// Config name.
    pub fn name(&self) -> &str {
        &self.name
    }

    async fn send(
        &self,
        body: &wire::MessagesRequest<'_>,
        req: &ChatRequest,
    ) -> Result<reqwest::Response, ProviderError> {
        self.post(
            self.url.post(&self.client),
            crate::http::json_body(body)?,
            req,
        )
        .await
    }

    /// `POST {base}/messages/count_tokens`: the upstream's own count of the request's input
    /// (its tools, system prompt and thinking settings included), not billed.
    pub async fn count_tokens(
        &self,
        req: &ChatRequest,
        upstream: &str,
    ) -> Result<u64, ProviderError> {
        let enc = convert::encode_request(req, upstream, None)?;
        let mut body = serde_json::to_value(&enc.body).map_err(|e| {
            ProviderError::new(
                crate::ErrorClass::BadRequest,
                format!("encode request: {e}"),
            )
        })?;
        if let Some(o) = body.as_object_mut() {
            // The counting endpoint takes the prompt, not the sampling settings.
            for k in [
                "max_tokens",
                "stream",
                "stop_sequences",
                "temperature",
                "top_p",
                "top_k",
                "metadata",
            ] {
                o.remove(k);
            }
        }
        let bytes = serde_json::to_vec(&body)
            .map(bytes::Bytes::from)
            .map_err(|e| ProviderError::new(crate::ErrorClass::BadRequest, e.to_string()))?;
        let resp = self
            .post(
                self.client.post(format!("{}/count_tokens", self.url)),
                bytes,
                req,
            )
            .await?;
        let answer = crate::http::read_answer(resp).await?;
        let v: serde_json::Value =
            crate::http::decode_answer(&answer, "upstream returned an unreadable token count")?;
        v.get("input_tokens")
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| {
                ProviderError::new(
                    crate::ErrorClass::Malformed,
                    "upstream token count has no `input_tokens`",
                )
            })
    }

    async fn post(
        &self,
        rb: reqwest::RequestBuilder,
        bytes: bytes::Bytes,
        req: &ChatRequest,
    ) -> Result<reqwest::Response, ProviderError> {
        let mut rb = self
            .authed(rb)
            .header(header::CONTENT_TYPE, "application/json")
            .body(bytes);
        // The client's betas (an Anthropic client's own request), passed on unchanged.
        if let Some(betas) = req.native.as_ref().filter(|n| !n.betas.is_empty()) {
            rb = rb.header("anthropic-beta", betas.betas.join(","));
        }
        crate::http::send(rb, error::from_response).await
    }

    /// The API version and the key.
    fn authed(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let rb = rb.header("anthropic-version", VERSION);
        match &self.key {
            Some(key) => rb.header("x-api-key", key.clone()),
            None => rb,
        }
    }
}

impl Provider for AnthropicProvider {
    /// Non-streaming completion.
    async fn chat(&self, req: &ChatRequest, call: CallCx<'_>) -> Result<Reply, ProviderError> {
        let upstream = call.upstream_model;
        let enc = convert::encode_request(req, upstream, call.default_max_tokens)?;
        let resp = self.send(&enc.body, req).await?;
        let meta = meta(&resp);
        let bytes = crate::http::read_answer(resp).await?;
        let wire: wire::MessagesResponse =
            crate::http::decode_answer(&bytes, "upstream returned an unreadable message")?;
        let (response, usage) =
            convert::decode_response(wire, enc.json_tool.as_deref(), crate::http::unix_now());
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
        let mut enc = convert::encode_request(req, upstream, call.default_max_tokens)?;
        enc.body.stream = true;
        let resp = self.send(&enc.body, req).await?;
        let meta = meta(&resp);
        let opts = stream::Options {
            json_tool: enc.json_tool,
            created: crate::http::unix_now(),
        };
        Ok(StreamReply {
            stream: stream::decode(resp, opts),
            meta,
        })
    }
}

fn meta(resp: &reqwest::Response) -> UpstreamMeta {
    UpstreamMeta {
        status: resp.status().as_u16(),
        rate_limit: RateLimitInfo::from_anthropic_headers(resp.headers()),
    }
}
