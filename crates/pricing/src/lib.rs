//! Price catalogs and exact cost computation for switchyard.
//!
//! * [`Catalog`]: rates per million tokens keyed by (provider, model), imported from LiteLLM
//!   and genai-prices ([`import`]) and embedded in the binary ([`Catalog::embedded`]).
//! * [`cost()`]: normalised [`Usage`](switchyard_types::Usage) × [`Price`] → an exact
//!   [`CostBreakdown`]; [`Cost`] makes "unpriced" impossible to confuse with $0.
//! * [`PriceOverride`] / [`resolve`]: negotiated rates, volume tiers and uplifts from config.
//! * [`vendor::resolve`]: who bills for a configured provider (its catalog provider key).
//! * [`audit`] and [`diff`](mod@diff): the logic behind `switchyard prices check|diff`.
//!
//! Money never touches `f64`: JSON and TOML numbers are parsed from their text ([`exact`]).

pub mod audit;
pub mod catalog;
pub mod config;
pub mod cost;
pub mod diff;
pub mod exact;
pub mod import;
pub mod price;
pub mod vendor;

pub use catalog::{Catalog, CatalogError, SourceInfo};
pub use chrono::{NaiveDate, Utc};
pub use config::{
    resolve, PriceOverride, PriceResolver, PriceUnit, ResolvedPrice, Unpriced, VolumeTier,
};
pub use cost::{baseline_cost, cost, estimate, Cost, CostBreakdown, CostContext};
pub use import::{import_genai_prices, import_litellm, ImportReport};
pub use price::{
    Capabilities, CatalogEntry, Commitment, LongContextTier, Mode, Price, PriceWindow, TierRates,
    VolumeRates,
};
pub use rust_decimal::Decimal;
pub use vendor::{Vendor, VendorSource};
