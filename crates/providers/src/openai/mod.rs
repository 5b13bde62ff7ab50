//! OpenAI Chat Completions: api.openai.com, every OpenAI-compatible vendor, Azure OpenAI, and
//! the simulator.
//!
//! The canonical model is OpenAI-shaped, so encoding is a clone with the upstream model id
//! substituted; unknown fields ride along in the `extra` maps untouched.
//!
//! Azure OpenAI differs only in URL and auth: `{base}/openai/deployments/{deployment}/…?
//! api-version={v}` with an `api-key` header, the deployment being the model's `upstream`.
//! Azure ignores the body's `model`, so it is not sent.
//!
//! An upstream that serves the Responses API (`responses_api`) is sent a Responses client's
//! requests there natively ([`native`]).

mod batch;
pub(crate) mod error;
mod native;
pub mod responses;
pub(crate) mod stream;
pub(crate) mod wire;

use bytes::Bytes;
use http::{header, HeaderName, HeaderValue};
use secrecy::ExposeSecret;
use serde::Serialize;
use switchyard_types::{
    ChatRequest, ChatResponse, EmbeddingsRequest, EmbeddingsResponse, OpenAiDialect, Usage,
};

use crate::{
    config::AZURE_API_VERSION, http::client, http::FixedUrl, CallCx, EmbedReply, Provider,
    ProviderConfig, ProviderError, ProviderKind, RateLimitInfo, Reply, StreamReply, UpstreamMeta,
};

/// Where requests go and how the key is sent.
#[derive(Debug)]
enum Flavor {
    /// `{base}/chat/completions`, `{base}/embeddings` and, where the upstream serves the
    /// Responses API, `{base}/responses` (parsed once), `Authorization: Bearer`.
    OpenAi(Box<Urls>),
    /// `{base}/openai/deployments/{upstream}/…?api-version=…`, `api-key`.
    Azure { api_version: String },
}

/// The parsed URLs of a [`Flavor::OpenAi`] upstream.
#[derive(Debug)]
struct Urls {
    chat: FixedUrl,
    embeddings: FixedUrl,
    responses: Option<FixedUrl>,
}

/// The endpoints the adapter calls per request.
#[derive(Debug, Clone, Copy)]
enum Endpoint {
    Chat,
    Embeddings,
    /// Only where the flavor has its URL ([`OpenAiProvider::native`]).
    Responses,
}

impl Endpoint {
    fn path(self) -> &'static str {
        match self {
            Endpoint::Chat => "chat/completions",
            Endpoint::Embeddings => "embeddings",
            Endpoint::Responses => "responses",
        }
    }
}

/// An OpenAI-wire upstream.
#[derive(Debug)]
pub struct OpenAiProvider {
    name: String,
    base: String,
    flavor: Flavor,
    auth: Option<(HeaderName, HeaderValue)>,
    client: reqwest::Client,
    /// How this vendor's usage counts its tokens.
    dialect: OpenAiDialect,
}

impl OpenAiProvider {
    /// Build the adapter; fails only if the key is not a valid header value.
    pub fn new(cfg: ProviderConfig) -> Result<Self, ProviderError> {
        let base = cfg.base_url.trim_end_matches('/').to_owned();
        let flavor = match cfg.kind {
            ProviderKind::AzureOpenAi => Flavor::Azure {
                api_version: cfg
                    .api_version
                    .clone()
                    .unwrap_or_else(|| AZURE_API_VERSION.to_owned()),
            },
            _ => Flavor::OpenAi(Box::new(Urls {
                chat: FixedUrl::new(format!("{base}/chat/completions")),
                embeddings: FixedUrl::new(format!("{base}/embeddings")),
                responses: cfg
                    .responses_api
                    .then(|| FixedUrl::new(format!("{base}/responses"))),
            })),
        };
        let auth = match &cfg.api_key {
            Some(key) => {
                let (name, value) = match flavor {
                    Flavor::OpenAi(_) => (
                        header::AUTHORIZATION,
                        format!("Bearer {}", key.expose_secret()),
                    ),
                    Flavor::Azure { .. } => (
                        HeaderName::from_static("api-key"),
                        key.expose_secret().to_owned(),
                    ),
                };
                let mut v = HeaderValue::from_str(&value).map_err(|_| {
                    ProviderError::internal("provider API key is not a valid header")
                })?;
                v.set_sensitive(true);
                Some((name, v))
            }
            None => None,
        };
        let client = client(cfg.timeouts.connect)
            .map_err(|e| ProviderError::internal(format!("build HTTP client: {e}")))?;
        Ok(OpenAiProvider {
            name: cfg.name,
            base,
            flavor,
            auth,
            client,
            dialect: crate::vendor::openai_dialect(&cfg.vendor),
        })
    }

    /// Config name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Embeddings: `POST {base}/embeddings` (Azure: the deployment's `embeddings`).
    pub async fn embed(
        &self,
        req: &EmbeddingsRequest,
        upstream: &str,
    ) -> Result<EmbedReply, ProviderError> {
        let body = wire::EmbedBody::new(req, self.body_model(upstream));
        let resp = self.send(Endpoint::Embeddings, upstream, &body).await?;
        let meta = meta(&resp);
        let bytes = crate::http::read_answer(resp).await?;
        let response: EmbeddingsResponse =
            crate::http::decode_answer(&bytes, "upstream returned unreadable embeddings")?;
        let usage = Usage {
            input: response.usage.prompt_tokens,
            ..Usage::default()
        };
        Ok(EmbedReply {
            response,
            usage,
            meta,
        })
    }

    /// The body's `model`: the upstream id, except on Azure, which routes by deployment in the
    /// URL.
    fn body_model<'a>(&self, upstream: &'a str) -> Option<&'a str> {
        match self.flavor {
            Flavor::OpenAi(_) => Some(upstream),
            Flavor::Azure { .. } => None,
        }
    }

    fn post(&self, endpoint: Endpoint, upstream: &str) -> reqwest::RequestBuilder {
        match (&self.flavor, endpoint) {
            (Flavor::OpenAi(urls), Endpoint::Chat) => urls.chat.post(&self.client),
            (Flavor::OpenAi(urls), Endpoint::Embeddings) => urls.embeddings.post(&self.client),
            (Flavor::OpenAi(urls), Endpoint::Responses) => match &urls.responses {
                Some(url) => url.post(&self.client),
                None => self
                    .client
                    .post(format!("{}/{}", self.base, endpoint.path())),
            },
            (Flavor::Azure { api_version }, _) => self.client.post(format!(
                "{}/openai/deployments/{upstream}/{}?api-version={api_version}",
                self.base,
                endpoint.path()
            )),
        }
    }

    async fn send(
        &self,
        endpoint: Endpoint,
        upstream: &str,
        body: &impl Serialize,
    ) -> Result<reqwest::Response, ProviderError> {
        let bytes = Bytes::from(
            serde_json::to_vec(body)
                .map_err(|e| ProviderError::internal(format!("encode request: {e}")))?,
        );
        let mut rb = self
            .post(endpoint, upstream)
            .header(header::CONTENT_TYPE, "application/json")
            .body(bytes);
        if let Some((name, value)) = &self.auth {
            rb = rb.header(name.clone(), value.clone());
        }
        crate::http::send(rb, error::from_response).await
    }
}

impl OpenAiProvider {
    /// Whether `req` goes to this upstream's Responses API: a Responses client's request, on
    /// an upstream that serves it.
    fn native(&self, req: &ChatRequest) -> bool {
        matches!(&self.flavor, Flavor::OpenAi(urls) if urls.responses.is_some())
            && native::native(req).is_some()
    }

    /// `POST {base}/responses`, whole.
    async fn respond(&self, req: &ChatRequest, upstream: &str) -> Result<Reply, ProviderError> {
        let body = native::body(req, upstream, &self.name, false);
        let resp = self.send(Endpoint::Responses, upstream, &body).await?;
        let meta = meta(&resp);
        let bytes = crate::http::read_answer(resp).await?;
        let (response, usage) = native::decode(&bytes, self.dialect, &self.name)?;
        Ok(Reply {
            response,
            usage,
            meta,
        })
    }

    /// `POST {base}/responses`, streamed.
    async fn respond_stream(
        &self,
        req: &ChatRequest,
        upstream: &str,
    ) -> Result<StreamReply, ProviderError> {
        let body = native::body(req, upstream, &self.name, true);
        let resp = self.send(Endpoint::Responses, upstream, &body).await?;
        let meta = meta(&resp);
        Ok(StreamReply {
            stream: native::decode_stream(resp, self.dialect, &self.name),
            meta,
        })
    }
}

impl Provider for OpenAiProvider {
    /// Non-streaming completion.
    async fn chat(&self, req: &ChatRequest, call: CallCx<'_>) -> Result<Reply, ProviderError> {
        let upstream = call.upstream_model;
        if self.native(req) {
            return self.respond(req, upstream).await;
        }
        let body = wire::ChatBody::new(req, self.body_model(upstream), false);
        let resp = self.send(Endpoint::Chat, upstream, &body).await?;
        let meta = meta(&resp);
        let bytes = crate::http::read_answer(resp).await?;
        let mut response: ChatResponse =
            crate::http::decode_answer(&bytes, "upstream returned an unreadable completion")?;
        let mut usage = match response.usage.as_mut() {
            Some(w) => {
                let u = Usage::from_openai(w, self.dialect);
                w.set_counts(&u);
                u
            }
            None => Usage::default(),
        };
        usage.tier = served_tier(&response.extra);
        Ok(Reply {
            response,
            usage,
            meta,
        })
    }

    /// Streaming completion; always asks the upstream for usage so the gateway can account.
    async fn chat_stream(
        &self,
        req: &ChatRequest,
        call: CallCx<'_>,
    ) -> Result<StreamReply, ProviderError> {
        let upstream = call.upstream_model;
        if self.native(req) {
            return self.respond_stream(req, upstream).await;
        }
        let body = wire::ChatBody::new(req, self.body_model(upstream), true);
        let resp = self.send(Endpoint::Chat, upstream, &body).await?;
        let meta = meta(&resp);
        Ok(StreamReply {
            stream: stream::decode(resp, self.dialect),
            meta,
        })
    }
}

/// The tier an OpenAI answer says it was served at (`service_tier`; absent: standard).
pub(crate) fn served_tier(extra: &switchyard_types::JsonMap) -> switchyard_types::ServiceTier {
    extra
        .get("service_tier")
        .and_then(serde_json::Value::as_str)
        .map_or(
            switchyard_types::ServiceTier::Standard,
            switchyard_types::ServiceTier::parse,
        )
}

fn meta(resp: &reqwest::Response) -> UpstreamMeta {
    UpstreamMeta {
        status: resp.status().as_u16(),
        rate_limit: RateLimitInfo::from_openai_headers(resp.headers()),
    }
}
