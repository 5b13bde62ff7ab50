//! Properties of the planner over random configs and requests: hard constraints are never
//! violated, every target fits its context window, and `cheapest` is sorted.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers outside #[test] fns may panic"
)]

mod common;

use std::fmt::Write as _;

use common::*;
use proptest::prelude::*;
use switchyard_core::{features::exact_input_tokens, plan::plan, CoreError, Features, Snapshot};
use switchyard_types::ChatRequest;

const REGIONS: [&str; 3] = ["us", "eu", "ap"];

#[derive(Debug, Clone)]
struct ModelSpec {
    /// Bit set over `REGIONS`: which of the eight providers serves it.
    provider: usize,
    window: Option<u64>,
    /// Prices in hundredths of a dollar per million tokens; `None` = unpriced.
    price: Option<(u32, u32)>,
}

fn model_spec() -> impl Strategy<Value = ModelSpec> {
    (
        0usize..8,
        prop_oneof![Just(None), (200u64..40_000).prop_map(Some)],
        prop_oneof![1 => Just(None), 6 => (0u32..2_000, 0u32..8_000).prop_map(Some)],
    )
        .prop_map(|(provider, window, price)| ModelSpec {
            provider,
            window,
            price,
        })
}

/// Eight providers, one per subset of `REGIONS`, and a `cheapest` route over every model.
fn config(models: &[ModelSpec]) -> String {
    let mut s = String::new();
    for p in 0..8 {
        let regions: Vec<String> = REGIONS
            .iter()
            .enumerate()
            .filter(|(i, _)| p & (1 << i) != 0)
            .map(|(_, r)| format!("{r:?}"))
            .collect();
        let _ = writeln!(
            s,
            "[[providers]]\nname = \"p{p}\"\nregions = [{}]\n",
            regions.join(", ")
        );
    }
    for (i, m) in models.iter().enumerate() {
        let _ = writeln!(
            s,
            "[[models]]\nname = \"m{i}\"\nprovider = \"p{}\"\nupstream = \"uncatalogued-{i}\"",
            m.provider
        );
        if let Some(w) = m.window {
            let _ = writeln!(s, "context_window = {w}");
        }
        if let Some((a, b)) = m.price {
            let _ = writeln!(
                s,
                "price = {{ input = {}.{:02}, output = {}.{:02} }}",
                a / 100,
                a % 100,
                b / 100,
                b % 100
            );
        }
        s.push('\n');
    }
    let names: Vec<String> = (0..models.len()).map(|i| format!("\"m{i}\"")).collect();
    let _ = writeln!(
        s,
        "[[routes]]\nname = \"r\"\nstrategy = \"cheapest\"\ncandidates = [{}]",
        names.join(", ")
    );
    s
}

#[derive(Debug, Clone)]
struct ReqSpec {
    words: Vec<usize>,
    repeat: usize,
    system: bool,
    max_tokens: Option<u32>,
    region: Option<usize>,
}

const WORDS: [&str; 8] = [
    "hello ",
    "the quick brown fox ",
    "λόγος ",
    "1234567 ",
    "{\"a\":[1,2]} ",
    "日本語のテキスト ",
    "refund ",
    "x",
];

fn req_spec() -> impl Strategy<Value = ReqSpec> {
    (
        prop::collection::vec(0usize..WORDS.len(), 1..6),
        1usize..600,
        any::<bool>(),
        prop_oneof![Just(None), (1u32..6000).prop_map(Some)],
        prop_oneof![Just(None), (0usize..4).prop_map(Some)],
    )
        .prop_map(|(words, repeat, system, max_tokens, region)| ReqSpec {
            words,
            repeat,
            system,
            max_tokens,
            region,
        })
}

fn build_request(model: &str, r: &ReqSpec) -> ChatRequest {
    let text: String = r
        .words
        .iter()
        .map(|&w| WORDS[w])
        .collect::<String>()
        .repeat(r.repeat);
    let mut messages = Vec::new();
    if r.system {
        messages.push(serde_json::json!({"role": "system", "content": "You are terse."}));
    }
    messages.push(serde_json::json!({"role": "user", "content": text}));
    let mut v = serde_json::json!({"model": model, "messages": messages});
    if let Some(m) = r.max_tokens {
        v["max_tokens"] = m.into();
    }
    if let Some(i) = r.region {
        // Index 3 is a region no provider serves.
        let region = ["us", "eu", "ap", "mars"][i];
        v["metadata"] = serde_json::json!({ "region": region });
    }
    request(v)
}

fn decide(
    snap: &Snapshot,
    req: &ChatRequest,
) -> (Features, Result<switchyard_core::plan::Plan, CoreError>) {
    let f = Features::extract(req, &headers(&[]));
    let p = plan(snap, req, &f);
    (f, p)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn a_region_constraint_is_never_violated(models in prop::collection::vec(model_spec(), 1..8), r in req_spec(), direct in any::<bool>()) {
        let snap = snapshot(&config(&models));
        let name = if direct { "m0" } else { "r" };
        let req = build_request(name, &r);
        let (f, result) = decide(&snap, &req);
        match (result, &f.region) {
            (Ok(p), Some(region)) => {
                prop_assert!(!p.targets.is_empty(), "a plan always has a target");
                for &t in &p.targets {
                    let d = snap.deployment(t);
                    prop_assert!(d.regions.contains(region), "{} serves {:?}, request needs {region}", d.name, d.regions);
                }
            }
            (Ok(p), None) => prop_assert!(!p.targets.is_empty(), "a plan always has a target"),
            (Err(e), _) => {
                prop_assert!(matches!(e, CoreError::Unsatisfiable(_)), "{e:?}");
                if let Some(region) = &f.region {
                    // If no candidate serves the region, the error says which.
                    let any_serves = snap.deployments.iter().any(|d| d.regions.contains(region));
                    if !any_serves {
                        prop_assert!(e.to_string().contains(&format!("region `{region}`")), "{e}");
                    }
                }
            }
        }
    }

    #[test]
    fn every_target_fits_its_context_window(models in prop::collection::vec(model_spec(), 1..8), r in req_spec()) {
        let snap = snapshot(&config(&models));
        let req = build_request("r", &r);
        let (f, result) = decide(&snap, &req);
        let Ok(p) = result else { return Ok(()) };
        let out = f.max_output.unwrap_or(1);
        let exact = std::cell::OnceCell::new();
        let exact = || *exact.get_or_init(|| exact_input_tokens(&req).unwrap_or(u64::MAX));
        for &t in &p.targets {
            let d = snap.deployment(t);
            if let Some(window) = d.caps.context_window {
                if f.input_tokens + out > window {
                    prop_assert!(exact() + out <= window, "{}: ~{} (exact {}) + {out} > {window}", d.name, f.input_tokens, exact());
                }
            }
        }
        // Whatever was left out for its window does not fit by one of the two counts.
        for &(id, why) in &p.excluded {
            if why.as_str() == "context_window" {
                let window = snap.deployment(id).caps.context_window.unwrap_or(u64::MAX);
                prop_assert!(f.input_tokens + out > window || exact() + out > window);
            }
        }
    }

    #[test]
    fn cheapest_never_puts_a_dearer_candidate_first(models in prop::collection::vec(model_spec(), 1..8), r in req_spec()) {
        let snap = snapshot(&config(&models));
        let mut r = r;
        r.region = None;
        let req = build_request("r", &r);
        let (f, result) = decide(&snap, &req);
        let Ok(p) = result else { return Ok(()) };
        prop_assert_eq!(p.targets.len(), p.estimates.len());
        let keys: Vec<u128> = p.estimates.iter().map(|e| e.unwrap_or(u128::MAX)).collect();
        prop_assert!(keys.windows(2).all(|w| w[0] <= w[1]), "not sorted: {:?}", p.estimates);
        // Each estimate belongs to its target: recompute it from the deployment's rates.
        let output = f.max_output.map_or(snap.expected_output, |m| m.min(snap.expected_output));
        let cached = if f.prefix_tokens >= 1024 { f.prefix_tokens } else { 0 };
        for (&t, est) in p.targets.iter().zip(&p.estimates) {
            let want = snap.deployment(t).rates.map(|r| r.estimate(f.input_tokens, cached, output));
            prop_assert_eq!(*est, want);
        }
        // Nothing eligible was dropped: targets + excluded = candidates.
        prop_assert_eq!(p.targets.len() + p.excluded.len(), models.len());
    }
}
