//! The one place where failures become HTTP responses.
//!
//! Mapping: bad input 400 · unknown model or route 404 · body too large 413 · upstream
//! rate limit or quota 429 (with `Retry-After`) · other upstream 4xx passed through with the
//! provider's message · upstream auth failure, 5xx, broken stream or all candidates failed 502 ·
//! no candidate 503 · timeouts 504 · bugs 500. Bodies are OpenAI-shaped, or Anthropic-shaped
//! (`{"type":"error","error":{"type":…,"message":…}}`) on `/v1/messages` ([`Shape`]).

use axum::{
    http::{HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::json;
use switchyard_core::CoreError;
use switchyard_providers::ErrorClass;

/// Which API's error body the client expects.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Shape {
    /// `{"error":{"message","type","param","code"}}`.
    #[default]
    OpenAi,
    /// `{"type":"error","error":{"type","message"}}`.
    Anthropic,
    /// `{"error":{"code","message","status"}}` (Google's).
    Gemini,
}

/// An error on its way to the client.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The body's shape.
    pub shape: Shape,
    /// HTTP status.
    pub status: StatusCode,
    /// OpenAI `type`.
    pub kind: &'static str,
    /// OpenAI `code`.
    pub code: Option<String>,
    /// OpenAI `param`.
    pub param: Option<&'static str>,
    /// What went wrong, for a human.
    pub message: String,
    /// Seconds the client should wait (429).
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// 400 with a message.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request_error", message)
    }

    /// 500: a bug on our side.
    pub fn internal(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", message)
    }

    /// An error with status, type and message.
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            shape: Shape::OpenAi,
            status,
            kind,
            code: None,
            param: None,
            message: message.into(),
            retry_after: None,
        }
    }

    /// Set the `code`.
    pub fn code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    /// Set the `param`.
    pub fn param(mut self, param: &'static str) -> Self {
        self.param = Some(param);
        self
    }

    /// Set the body's shape.
    pub fn shaped(mut self, shape: Shape) -> Self {
        self.shape = shape;
        self
    }

    /// The body, in the client's API shape.
    pub fn body(&self) -> serde_json::Value {
        match self.shape {
            Shape::Anthropic => {
                return json!({"type": "error", "error": {"type": self.anthropic_type(), "message": self.message}});
            }
            Shape::Gemini => {
                return json!({"error": {"code": self.status.as_u16(), "message": self.message, "status": self.google_status()}});
            }
            Shape::OpenAi => {}
        }
        json!({"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}})
    }
}

impl ApiError {
    /// Google's canonical error `status` for the HTTP status.
    fn google_status(&self) -> &'static str {
        match self.status.as_u16() {
            400 | 413 | 422 => "INVALID_ARGUMENT",
            401 => "UNAUTHENTICATED",
            403 => "PERMISSION_DENIED",
            404 => "NOT_FOUND",
            429 => "RESOURCE_EXHAUSTED",
            501 => "UNIMPLEMENTED",
            503 | 529 => "UNAVAILABLE",
            504 => "DEADLINE_EXCEEDED",
            _ => "INTERNAL",
        }
    }

    /// Anthropic's error `type` for the status (its SDKs pick the exception class by status).
    fn anthropic_type(&self) -> &'static str {
        match self.status.as_u16() {
            400 | 422 => "invalid_request_error",
            401 => "authentication_error",
            403 => "permission_error",
            404 => "not_found_error",
            413 => "request_too_large",
            429 => "rate_limit_error",
            503 | 529 => "overloaded_error",
            504 => "timeout_error",
            _ => "api_error",
        }
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::UnknownModel(_) => ApiError::new(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                e.to_string(),
            )
            .code("model_not_found")
            .param("model"),
            CoreError::BadRequest(m) => ApiError::bad_request(m),
            CoreError::Unsatisfiable(_) => ApiError::bad_request(e.to_string())
                .code("no_eligible_candidate")
                .param("model"),
            CoreError::NoCandidate(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "service_unavailable",
                e.to_string(),
            )
            .code("no_candidate"),
            CoreError::Deadline(_) => {
                ApiError::new(StatusCode::GATEWAY_TIMEOUT, "timeout", e.to_string())
                    .code("deadline_exceeded")
            }
            CoreError::Forbidden(m) => ApiError::new(StatusCode::FORBIDDEN, "permission_error", m)
                .code("model_not_allowed"),
            CoreError::Refused(m, Some(secs)) => {
                let mut e = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limit_error", m)
                    .code("key_limit_exceeded");
                e.retry_after = Some(secs);
                e
            }
            CoreError::Refused(m, None) => {
                ApiError::new(StatusCode::FORBIDDEN, "permission_error", m)
                    .code("unpriced_under_budget")
            }
            CoreError::StateUnavailable(m) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "service_unavailable", m)
                    .code("state_unavailable")
            }
            CoreError::Upstream(p) => {
                let passthrough =
                    |status: u16| StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
                let (status, kind) = match p.class {
                    ErrorClass::RateLimited | ErrorClass::TierUnavailable => {
                        (StatusCode::TOO_MANY_REQUESTS, "rate_limit_error")
                    }
                    ErrorClass::Quota => (StatusCode::TOO_MANY_REQUESTS, "insufficient_quota"),
                    ErrorClass::ContextLength
                    | ErrorClass::ContentPolicy
                    | ErrorClass::Unsupported
                    | ErrorClass::BadRequest => (
                        passthrough(p.status.unwrap_or(400)),
                        "invalid_request_error",
                    ),
                    ErrorClass::NotFound => (StatusCode::NOT_FOUND, "invalid_request_error"),
                    ErrorClass::FirstTokenTimeout
                    | ErrorClass::IdleTimeout
                    | ErrorClass::UpstreamTimeout => (StatusCode::GATEWAY_TIMEOUT, "timeout"),
                    ErrorClass::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "server_error"),
                    _ => (StatusCode::BAD_GATEWAY, "upstream_error"),
                };
                // Upstream text never reaches a client unredacted (it may echo our key).
                let message = match p.class {
                    ErrorClass::Auth => {
                        "the upstream provider rejected the gateway's credentials".to_owned()
                    }
                    _ => switchyard_providers::redact_secrets(&p.message),
                };
                let code = match (p.class, &p.code) {
                    (ErrorClass::Auth, _) | (_, None) => p.class.as_str().to_owned(),
                    (_, Some(c)) => switchyard_providers::redact_secrets(c),
                };
                let mut err = ApiError::new(status, kind, message).code(code);
                err.retry_after = p.retry_after.map(|d| d.as_secs().max(1));
                err
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, axum::Json(self.body())).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert("retry-after", HeaderValue::from(secs));
        }
        resp
    }
}
