//! Errors of the core: request-level failures and config problems.

use switchyard_providers::ProviderError;

/// Why a request could not be served.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CoreError {
    /// The client asked for a model or route that does not exist.
    #[error("the model `{0}` does not exist or you do not have access to it")]
    UnknownModel(String),
    /// The request is malformed or asks for something impossible.
    #[error("{0}")]
    BadRequest(String),
    /// No candidate satisfies the request's constraints (region, compliance, context, capabilities).
    #[error("{0}")]
    Unsatisfiable(String),
    /// No candidate could be tried.
    #[error("{0}")]
    NoCandidate(String),
    /// Every attempt failed; the last (or most relevant) upstream error.
    #[error("{0}")]
    Upstream(ProviderError),
    /// The request deadline passed.
    #[error("request deadline of {0:?} exceeded")]
    Deadline(std::time::Duration),
    /// The gateway key may not use what the request names.
    #[error("{0}")]
    Forbidden(String),
    /// Admission refused the request (a key's limit or budget).
    #[error("{0}")]
    Refused(String, Option<u64>),
    /// The shared state admission needs is unreachable (and the policy is to fail closed).
    #[error("{0}")]
    StateUnavailable(String),
}

impl CoreError {
    /// Stable label for metrics and the ledger.
    pub fn kind(&self) -> &'static str {
        match self {
            CoreError::UnknownModel(_) => "unknown_model",
            CoreError::BadRequest(_) => "bad_request",
            CoreError::NoCandidate(_) => "no_candidate",
            CoreError::Unsatisfiable(_) => "unsatisfiable",
            CoreError::Upstream(e) => e.class.as_str(),
            CoreError::Deadline(_) => "deadline",
            CoreError::Forbidden(_) => "forbidden",
            CoreError::Refused(..) => "limited",
            CoreError::StateUnavailable(_) => "state_unavailable",
        }
    }
}

/// One problem in a config file, with the path of the offending value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Where, e.g. `routes[1].candidates[0]`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl ConfigError {
    /// A problem at a path.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}
