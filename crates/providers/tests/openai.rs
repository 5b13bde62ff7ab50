//! The OpenAI adapter against the simulator's OpenAI wire format.

#[macro_use]
mod conformance;

use switchyard_providers::ProviderKind;

provider_conformance!(openai, ProviderKind::OpenAi, |sim: &Sim| sim.base_url());
