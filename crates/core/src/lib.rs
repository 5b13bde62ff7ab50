//! The gateway's request path: the [`driver`] runs every request through the same phases —
//! admit, features, [`plan`] (which deployments may answer, in what order), [`attempt`]
//! (call them until one answers; streams continue in [`relay`]) and settle ([`cx`]: one bill,
//! one ledger row, whatever the ending).
//!
//! Everything here works on one immutable [`Snapshot`] of the configuration, taken once per
//! request, so a request never mixes two config versions. Nothing here knows HTTP servers:
//! the server crate decodes ingress bodies and encodes [`driver::Outcome`]s.

pub mod adjust;
pub mod admission;
pub mod attempt;
pub mod cache;
mod capture;
pub mod config;
pub mod cx;
pub mod driver;
mod error;
pub mod evaluate;
pub mod features;
pub mod health;
mod judge;
pub mod plan;
pub mod quality;
pub mod relay;
pub mod replay;
mod retry;
pub mod routable;
pub mod rules;
pub mod session;
mod snapshot;
pub mod stats;
mod strategy;

pub use cx::{Bill, Ending, Facts, KeyGrant, RequestCx, Sink, TeamBudget};
pub use error::{ConfigError, CoreError};
pub use features::Features;
pub use retry::batch_submit_again;
pub use snapshot::{
    snapshot_provider, Caps, Deployment, DeploymentId, EstRates, ProviderEntry, Route, Snapshot,
    SnapshotInputs,
};
