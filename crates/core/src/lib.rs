//! The gateway's decisions: which deployments may answer a request and in what order
//! ([`plan`]), and how to call them until one answers ([`attempt`]).
//!
//! Everything here works on one immutable [`Snapshot`] of the configuration, taken once per
//! request, so a request never mixes two config versions. Nothing here knows HTTP servers:
//! the server crate turns outcomes into responses, headers and ledger rows.

pub mod attempt;
pub mod config;
mod error;
pub mod features;
pub mod health;
pub mod plan;
mod retry;
pub mod rules;
mod snapshot;
pub mod stats;
mod strategy;

pub use error::{ConfigError, CoreError};
pub use features::Features;
pub use snapshot::{
    snapshot_provider, Caps, Deployment, DeploymentId, EstRates, ProviderEntry, Route, Snapshot,
    SnapshotInputs,
};
