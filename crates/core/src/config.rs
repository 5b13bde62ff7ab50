//! The `[[models]]`, `[[routes]]` and `[routing]` config sections, as written in TOML.

use serde::{Deserialize, Serialize};
use switchyard_providers::Timeouts;

/// A deployment: one model at one provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// The name routes and clients use.
    pub name: String,
    /// The `[[providers]]` entry that serves it.
    pub provider: String,
    /// The provider's own model id (default: `name`).
    #[serde(default)]
    pub upstream: Option<String>,
    /// Free label used by rules (`basic`, `premium`, …).
    #[serde(default)]
    pub tier: Option<String>,
    /// Models to fall back to when this one fails and the client named it directly.
    #[serde(default)]
    pub fallbacks: Vec<String>,
    /// Context window in tokens (overrides the catalog).
    #[serde(default)]
    pub context_window: Option<u64>,
}

/// How a route orders its candidates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// In the order written; the next one only on a retryable failure.
    #[default]
    Priority,
}

impl Strategy {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Priority => "priority",
        }
    }
}

/// A named routing policy; clients use its name as the `model`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Route name (`auto`, `support-bot`, …).
    pub name: String,
    /// Ordering strategy.
    #[serde(default)]
    pub strategy: Strategy,
    /// Model names, in preference order.
    pub candidates: Vec<String>,
    /// Timeouts for requests on this route (default: each provider's).
    #[serde(default)]
    pub timeouts: Option<Timeouts>,
    /// Most upstream attempts per request, retries and fallbacks included.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
}

fn default_max_attempts() -> u32 {
    4
}

/// The `[routing]` section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingConfig {
    /// The route used for `model = "auto"`.
    #[serde(default)]
    pub default: Option<String>,
    /// The counterfactual model for savings.
    #[serde(default)]
    pub baseline: Option<String>,
}
