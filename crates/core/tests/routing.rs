//! Table tests of the routing engine: rules, strategies, filters and errors, on snapshots
//! built directly from config sections.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers outside #[test] fns may panic"
)]

mod common;

use std::{collections::HashMap, time::Duration};

use common::*;
use switchyard_core::{plan::Exclusion, CoreError};

/// Providers and models shared by most tests. Prices are explicit so that the order is
/// independent of the embedded catalog.
const BASE: &str = r#"
[[providers]]
name = "us-co"
regions = ["us"]

[[providers]]
name = "eu-co"
regions = ["eu"]
tags = ["zdr"]

[[providers]]
name = "global"
regions = ["us", "eu"]
tags = ["zdr", "hipaa"]

[[models]]
name = "mini"
provider = "us-co"
tier = "basic"
context_window = 128000
price = { input = 0.15, output = 0.60 }

[[models]]
name = "haiku"
provider = "eu-co"
tier = "basic"
context_window = 200000
price = { input = 0.80, output = 4.00 }

[[models]]
name = "big"
provider = "global"
tier = "premium"
context_window = 128000
price = { input = 2.50, output = 10.00 }

[[models]]
name = "mid"
provider = "us-co"
context_window = 128000
price = { input = 0.50, output = 1.50 }
"#;

fn with_base(rest: &str) -> switchyard_core::Snapshot {
    snapshot(&format!("{BASE}\n{rest}"))
}

// ---------------------------------------------------------------------------------------------
// Rules

const RULES: &str = r#"
[routing]
default = "auto"

[[routes]]
name = "auto"
strategy = "priority"
candidates = ["mini", "haiku", "big"]
rules = [
  { name = "short-classification", when = { task = "classification", max_input_tokens = 200 }, use = ["mini"] },
  { name = "hard", when = { task = ["reasoning", "code"] }, use = ["big", "haiku"] },
  { name = "long", when = { min_input_tokens = 2000 }, use = ["big"] },
  { name = "tools", when = { tools = true }, use = ["haiku"] },
  { name = "vision", when = { images = true }, use = ["big"] },
  { name = "json", when = { json = true }, use = ["mid"] },
  { name = "acme", when = { tenant = ["acme", "globex"] }, use = ["haiku", "mini"] },
  { name = "vip", when = { tags = ["vip", "gold"] }, use = ["big"] },
  { name = "meta", when = { metadata = { team = "search", env = "prod" } }, use = ["mid", "mini"] },
  { name = "batch", when = { lane = "batch" }, route = "cheap" },
  { name = "refund", when = { prompt_regex = "(?i)\\brefund\\b" }, use = ["haiku"] },
]

[[routes]]
name = "cheap"
strategy = "cheapest"
candidates = ["big", "mid", "mini"]
"#;

#[test]
fn rules_match_on_each_condition() {
    let snap = with_base(RULES);
    let short = "Is this spam? yes or no";
    let long = "lorem ipsum dolor sit amet ".repeat(400); // ~2700 tokens
    type Case<'a> = (
        &'a str,
        serde_json::Value,
        Vec<(&'a str, &'a str)>,
        Option<&'a str>,
        Vec<&'a str>,
    );
    let msg = |text: &str| serde_json::json!({"model": "auto", "messages": [{"role": "user", "content": text}]});
    let cases: Vec<Case<'_>> = vec![
        (
            "no hint: the route's candidates",
            msg(short),
            vec![],
            None,
            vec!["mini", "haiku", "big"],
        ),
        (
            "task header + short",
            msg(short),
            vec![("x-switchyard-task", "classification")],
            Some("short-classification"),
            vec!["mini"],
        ),
        (
            "task in metadata",
            {
                let mut v = msg(short);
                v["metadata"] = serde_json::json!({"task": "classification"});
                v
            },
            vec![],
            Some("short-classification"),
            vec!["mini"],
        ),
        (
            "classification but too long falls to `long`",
            msg(&long),
            vec![("x-switchyard-task", "classification")],
            Some("long"),
            vec!["big"],
        ),
        (
            "one of several tasks",
            msg(short),
            vec![("x-switchyard-task", "code")],
            Some("hard"),
            vec!["big", "haiku"],
        ),
        (
            "unknown task: no rule",
            msg(short),
            vec![("x-switchyard-task", "chit-chat")],
            None,
            vec!["mini", "haiku", "big"],
        ),
        (
            "min_input_tokens",
            msg(&long),
            vec![],
            Some("long"),
            vec!["big"],
        ),
        (
            "tools",
            serde_json::json!({"model": "auto", "messages": [{"role": "user", "content": short}],
            "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]}),
            vec![],
            Some("tools"),
            vec!["haiku"],
        ),
        (
            "images",
            serde_json::json!({"model": "auto", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "what is this?"},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}]}),
            vec![],
            Some("vision"),
            vec!["big"],
        ),
        (
            "json mode",
            serde_json::json!({"model": "auto", "messages": [{"role": "user", "content": short}],
            "response_format": {"type": "json_object"}}),
            vec![],
            Some("json"),
            vec!["mid"],
        ),
        (
            "tenant header",
            msg(short),
            vec![("x-switchyard-tenant", "globex")],
            Some("acme"),
            vec!["haiku", "mini"],
        ),
        (
            "other tenant: no rule",
            msg(short),
            vec![("x-switchyard-tenant", "initech")],
            None,
            vec!["mini", "haiku", "big"],
        ),
        (
            "one of the tags",
            msg(short),
            vec![("x-switchyard-tags", "free, gold")],
            Some("vip"),
            vec!["big"],
        ),
        (
            "metadata: all keys",
            {
                let mut v = msg(short);
                v["metadata"] = serde_json::json!({"team": "search", "env": "prod"});
                v
            },
            vec![],
            Some("meta"),
            vec!["mid", "mini"],
        ),
        (
            "metadata: one key differs",
            {
                let mut v = msg(short);
                v["metadata"] = serde_json::json!({"team": "search", "env": "dev"});
                v
            },
            vec![],
            None,
            vec!["mini", "haiku", "big"],
        ),
        (
            "prompt regex",
            msg("I want a REFUND now"),
            vec![],
            Some("refund"),
            vec!["haiku"],
        ),
        (
            "prompt regex: word boundary",
            msg("refunded already"),
            vec![],
            None,
            vec!["mini", "haiku", "big"],
        ),
    ];
    for (what, body, hdrs, rule, want) in cases {
        let req = request(body);
        let p = plan_ok(&snap, &req, &hdrs);
        assert_eq!(p.rule.as_deref(), rule, "{what}: rule");
        assert_eq!(targets(&snap, &p), want, "{what}: targets");
        assert_eq!(p.route, "auto", "{what}: route");
    }
}

#[test]
fn prompt_regex_reads_the_last_user_message_only() {
    let snap = with_base(RULES);
    let req = request(serde_json::json!({"model": "auto", "messages": [
        {"role": "system", "content": "Handle refund requests politely."},
        {"role": "user", "content": "where is my parcel?"},
    ]}));
    assert_eq!(plan_ok(&snap, &req, &[]).rule, None);
    let req = request(serde_json::json!({"model": "auto", "messages": [
        {"role": "user", "content": "where is my parcel?"},
        {"role": "assistant", "content": "On its way."},
        {"role": "user", "content": "Then give me a refund."},
    ]}));
    assert_eq!(plan_ok(&snap, &req, &[]).rule.as_deref(), Some("refund"));
}

#[test]
fn first_matching_rule_wins() {
    let snap = with_base(RULES);
    // Matches `hard`, `tools`, `acme` and `refund`: `hard` comes first.
    let req = request(
        serde_json::json!({"model": "auto", "messages": [{"role": "user", "content": "refund?"}],
        "tools": [{"type": "function", "function": {"name": "f"}}]}),
    );
    let p = plan_ok(
        &snap,
        &req,
        &[
            ("x-switchyard-task", "reasoning"),
            ("x-switchyard-tenant", "acme"),
        ],
    );
    assert_eq!(p.rule.as_deref(), Some("hard"));
    assert_eq!(targets(&snap, &p), ["big", "haiku"]);
}

#[test]
fn a_rule_can_hand_over_to_another_route() {
    let snap = with_base(RULES);
    let p = plan_ok(
        &snap,
        &ask("auto", "summarise this"),
        &[("x-switchyard-lane", "batch")],
    );
    assert_eq!(p.route, "cheap");
    assert_eq!(p.rule.as_deref(), Some("batch"));
    assert_eq!(p.strategy.as_str(), "cheapest");
    assert_eq!(
        targets(&snap, &p),
        ["mini", "mid", "big"],
        "the other route's strategy orders its candidates"
    );
    // The lane also works from metadata.
    let mut req = ask("auto", "summarise this");
    req.metadata = serde_json::from_value(serde_json::json!({"lane": "batch"})).ok();
    assert_eq!(plan_ok(&snap, &req, &[]).route, "cheap");
}

#[test]
fn auto_uses_the_default_route_and_routes_are_addressable_by_name() {
    let snap = with_base(RULES);
    assert_eq!(plan_ok(&snap, &ask("auto", "hi"), &[]).route, "auto");
    let p = plan_ok(&snap, &ask("cheap", "hi"), &[]);
    assert_eq!(p.route, "cheap");
    assert_eq!(p.rule, None);
}

// ---------------------------------------------------------------------------------------------
// Strategies

#[test]
fn priority_keeps_the_written_order() {
    let snap = with_base(
        r#"
[[routes]]
name = "r"
strategy = "priority"
candidates = ["big", "mini", "haiku", "mid"]
"#,
    );
    for _ in 0..10 {
        let p = plan_ok(&snap, &ask("r", "hello"), &[]);
        assert_eq!(targets(&snap, &p), ["big", "mini", "haiku", "mid"]);
        assert_eq!(p.estimates.len(), 4);
    }
}

#[test]
fn cheapest_orders_by_estimated_cost_and_puts_unpriced_last() {
    let snap = with_base(
        r#"
[[models]]
name = "mystery"
provider = "us-co"
upstream = "not-in-any-catalog"

[[routes]]
name = "r"
strategy = "cheapest"
candidates = ["mystery", "big", "haiku", "mid", "mini"]
"#,
    );
    let p = plan_ok(&snap, &ask("r", "hello there"), &[]);
    assert_eq!(
        targets(&snap, &p),
        ["mini", "mid", "haiku", "big", "mystery"]
    );
    let known: Vec<u128> = p
        .estimates
        .iter()
        .take(4)
        .map(|e| e.expect("priced"))
        .collect();
    assert!(known.windows(2).all(|w| w[0] <= w[1]), "{known:?}");
    assert_eq!(
        p.estimates[4], None,
        "unpriced is kept (on_unpriced = allow) and ranked last"
    );
}

#[test]
fn cheapest_weighs_output_price_when_the_answer_is_long() {
    // a: cheap input, dear output; b: the reverse. A long prompt with a short answer favours a,
    // a short prompt with a long answer favours b.
    let snap = snapshot(
        r#"
[[providers]]
name = "p"
[[models]]
name = "a"
provider = "p"
price = { input = 0.10, output = 20.0 }
[[models]]
name = "b"
provider = "p"
price = { input = 5.0, output = 0.50 }
[[routes]]
name = "r"
strategy = "cheapest"
candidates = ["a", "b"]
"#,
    );
    let long_prompt = request(serde_json::json!({"model": "r", "max_tokens": 5,
        "messages": [{"role": "user", "content": "x ".repeat(8000)}]}));
    assert_eq!(
        targets(&snap, &plan_ok(&snap, &long_prompt, &[])),
        ["a", "b"]
    );
    let long_answer = request(serde_json::json!({"model": "r", "max_tokens": 4000,
        "messages": [{"role": "user", "content": "write an essay"}]}));
    assert_eq!(
        targets(&snap, &plan_ok(&snap, &long_answer, &[])),
        ["b", "a"]
    );
}

#[test]
fn weighted_first_choice_follows_the_weights() {
    let snap = with_base(
        r#"
[[routes]]
name = "r"
strategy = "weighted"
candidates = ["mini", "haiku", "mid"]
weights = { mini = 6, haiku = 3, mid = 1 }
"#,
    );
    let req = ask("r", "hello");
    let n = 6000;
    let mut first: HashMap<String, u32> = HashMap::new();
    for _ in 0..n {
        let p = plan_ok(&snap, &req, &[]);
        assert_eq!(p.targets.len(), 3, "weighted reorders, never drops");
        *first.entry(targets(&snap, &p)[0].clone()).or_default() += 1;
    }
    let share = |m: &str| f64::from(*first.get(m).unwrap_or(&0)) / f64::from(n);
    // Expected 0.6 / 0.3 / 0.1; the bounds are > 8 standard deviations wide.
    assert!((share("mini") - 0.6).abs() < 0.06, "{first:?}");
    assert!((share("haiku") - 0.3).abs() < 0.05, "{first:?}");
    assert!((share("mid") - 0.1).abs() < 0.04, "{first:?}");
}

#[test]
fn least_latency_prefers_the_fastest_observed_first_token() {
    let snap = with_base(
        r#"
[[routes]]
name = "r"
strategy = "least-latency"
candidates = ["mini", "haiku", "big"]
"#,
    );
    let stats = |name: &str| snap.deployment(snap.models[name]).stats.clone();
    stats("mini").observe_ttft(Duration::from_millis(400));
    stats("haiku").observe_ttft(Duration::from_millis(90));
    stats("big").observe_ttft(Duration::from_millis(200));
    assert_eq!(
        targets(&snap, &plan_ok(&snap, &ask("r", "hi"), &[])),
        ["haiku", "big", "mini"]
    );
    // The EWMA moves with new observations.
    for _ in 0..40 {
        stats("haiku").observe_ttft(Duration::from_millis(900));
    }
    assert_eq!(
        targets(&snap, &plan_ok(&snap, &ask("r", "hi"), &[])),
        ["big", "mini", "haiku"]
    );
}

#[test]
fn least_outstanding_prefers_the_less_loaded_target() {
    let snap = with_base(
        r#"
[[routes]]
name = "two"
strategy = "least-outstanding"
candidates = ["mini", "haiku"]

[[routes]]
name = "three"
strategy = "least-outstanding"
candidates = ["mini", "haiku", "big"]
"#,
    );
    let stats = |name: &str| snap.deployment(snap.models[name]).stats.clone();
    let busy: Vec<_> = (0..5).map(|_| stats("mini").begin()).collect();
    let one = stats("haiku").begin();
    // With two targets, power of two choices always compares both.
    for _ in 0..50 {
        assert_eq!(
            targets(&snap, &plan_ok(&snap, &ask("two", "hi"), &[])),
            ["haiku", "mini"]
        );
    }
    // With three, the busiest never comes first and the idle one usually does.
    let mut idle_first = 0;
    for _ in 0..300 {
        let t = targets(&snap, &plan_ok(&snap, &ask("three", "hi"), &[]));
        assert_ne!(t[0], "mini", "{t:?}");
        assert_eq!(t.len(), 3);
        idle_first += u32::from(t[0] == "big");
    }
    assert!(idle_first > 150, "idle target first in {idle_first}/300");
    // Guards release their slot.
    drop(busy);
    drop(one);
    assert_eq!(stats("mini").inflight(), 0);
    assert_eq!(stats("haiku").inflight(), 0);
}

#[test]
fn cache_affinity_keeps_a_session_on_one_target_and_spreads_sessions() {
    let snap = with_base(
        r#"
[[routes]]
name = "r"
strategy = "cache-affinity"
candidates = ["mini", "haiku", "big", "mid"]
"#,
    );
    let req = ask("r", "hello");
    let first = |session: &str| {
        targets(
            &snap,
            &plan_ok(&snap, &req, &[("x-switchyard-session", session)]),
        )[0]
        .clone()
    };
    let s = first("session-42");
    for _ in 0..20 {
        assert_eq!(first("session-42"), s);
    }
    let mut seen: HashMap<String, u32> = HashMap::new();
    for i in 0..200 {
        *seen.entry(first(&format!("user-{i}"))).or_default() += 1;
    }
    assert_eq!(seen.len(), 4, "every target gets some sessions: {seen:?}");
    assert!(seen.values().all(|&n| n >= 20), "roughly even: {seen:?}");
    // A long shared prefix works like a session id.
    let system = "You are a support agent for ACME. ".repeat(200);
    let long = |q: &str| {
        request(serde_json::json!({"model": "r", "messages": [
            {"role": "system", "content": system}, {"role": "user", "content": q}]}))
    };
    let a = targets(&snap, &plan_ok(&snap, &long("first question"), &[]))[0].clone();
    let b = targets(&snap, &plan_ok(&snap, &long("another question"), &[]))[0].clone();
    assert_eq!(a, b);
}

// ---------------------------------------------------------------------------------------------
// Filters

#[test]
fn region_is_a_hard_constraint_with_a_reason() {
    let snap = with_base(
        r#"
[[routes]]
name = "r"
strategy = "cheapest"
candidates = ["mini", "haiku", "big"]
"#,
    );
    let p = plan_ok(&snap, &ask("r", "hi"), &[("x-switchyard-region", "eu")]);
    assert_eq!(targets(&snap, &p), ["haiku", "big"]);
    assert_eq!(excluded(&snap, &p), [("mini".to_owned(), "region")]);
    let p = plan_ok(&snap, &ask("r", "hi"), &[("x-switchyard-region", "us")]);
    assert_eq!(targets(&snap, &p), ["mini", "big"]);
    assert_eq!(excluded(&snap, &p), [("haiku".to_owned(), "region")]);
    // In metadata too.
    let mut req = ask("r", "hi");
    req.metadata = serde_json::from_value(serde_json::json!({"region": "eu"})).ok();
    assert_eq!(targets(&snap, &plan_ok(&snap, &req, &[])), ["haiku", "big"]);
}

#[test]
fn unsatisfiable_region_names_the_region() {
    let snap = with_base(
        r#"
[[routes]]
name = "us-only"
candidates = ["mini", "mid"]
"#,
    );
    let err = plan_with(
        &snap,
        &ask("us-only", "hi"),
        &[("x-switchyard-region", "eu")],
    )
    .unwrap_err();
    assert!(matches!(err, CoreError::Unsatisfiable(_)), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("region `eu`"), "{msg}");
    assert!(msg.contains("us-only"), "names the route: {msg}");
    assert!(
        msg.contains("mini") && msg.contains("mid"),
        "names each candidate: {msg}"
    );
    assert_eq!(err.kind(), "unsatisfiable");
}

#[test]
fn compliance_tags_are_required_of_every_target() {
    let snap = with_base(
        r#"
[[routes]]
name = "zdr"
strategy = "cheapest"
candidates = ["mini", "haiku", "big"]
require_tags = ["zdr"]

[[routes]]
name = "hipaa"
candidates = ["mini", "haiku", "big"]
require_tags = ["zdr", "hipaa"]

[[routes]]
name = "impossible"
candidates = ["mini", "haiku"]
require_tags = ["hipaa"]
"#,
    );
    let p = plan_ok(&snap, &ask("zdr", "hi"), &[]);
    assert_eq!(targets(&snap, &p), ["haiku", "big"]);
    assert_eq!(excluded(&snap, &p), [("mini".to_owned(), "compliance")]);
    let p = plan_ok(&snap, &ask("hipaa", "hi"), &[]);
    assert_eq!(targets(&snap, &p), ["big"]);
    let err = plan_with(&snap, &ask("impossible", "hi"), &[]).unwrap_err();
    assert!(matches!(err, CoreError::Unsatisfiable(_)), "{err:?}");
    assert!(err.to_string().contains("compliance"), "{err}");
    // A rule cannot escape the route's compliance constraint.
    let snap = with_base(
        r#"
[[routes]]
name = "zdr"
candidates = ["haiku"]
require_tags = ["zdr"]
rules = [{ name = "cheap", when = { task = "x" }, use = ["mini", "big"] }]
"#,
    );
    let p = plan_ok(&snap, &ask("zdr", "hi"), &[("x-switchyard-task", "x")]);
    assert_eq!(targets(&snap, &p), ["big"]);
}

#[test]
fn context_window_excludes_models_the_request_does_not_fit() {
    let snap = with_base(
        r#"
[[models]]
name = "small"
provider = "us-co"
context_window = 1000
price = { input = 0.01, output = 0.02 }

[[routes]]
name = "r"
strategy = "cheapest"
candidates = ["small", "mini"]
"#,
    );
    let p = plan_ok(&snap, &ask("r", "short question"), &[]);
    assert_eq!(targets(&snap, &p), ["small", "mini"]);
    let long = ask("r", &"lorem ipsum dolor sit amet, ".repeat(300)); // ~2100 tokens
    let p = plan_ok(&snap, &long, &[]);
    assert_eq!(targets(&snap, &p), ["mini"]);
    assert_eq!(
        excluded(&snap, &p),
        [("small".to_owned(), "context_window")]
    );
    // The requested output counts too.
    let req = request(serde_json::json!({"model": "r", "max_tokens": 990,
        "messages": [{"role": "user", "content": "write a long story"}]}));
    let p = plan_ok(&snap, &req, &[]);
    assert_eq!(
        excluded(&snap, &p),
        [("small".to_owned(), "context_window")]
    );
    let req = request(
        serde_json::json!({"model": "r", "max_completion_tokens": 500,
        "messages": [{"role": "user", "content": "write a story"}]}),
    );
    assert_eq!(
        targets(&snap, &plan_ok(&snap, &req, &[])),
        ["small", "mini"]
    );
}

#[test]
fn near_the_window_the_exact_token_count_decides() {
    let snap = with_base(
        r#"
[[models]]
name = "w1000"
provider = "us-co"
context_window = 1000
price = { input = 0.01, output = 0.02 }

[[models]]
name = "w600"
provider = "us-co"
context_window = 600
price = { input = 0.01, output = 0.02 }

[[routes]]
name = "r"
strategy = "priority"
candidates = ["w1000", "w600", "mini"]
"#,
    );
    // "hello " is one token per 6 bytes: the fast estimate (~4 bytes/token) says ~1060 tokens,
    // over the 1000 window but within 20% of it; the exact count (~710) fits.
    let req = request(serde_json::json!({"model": "r", "max_tokens": 10,
        "messages": [{"role": "user", "content": "hello ".repeat(700)}]}));
    let f = switchyard_core::Features::extract(&req, &headers(&[]));
    assert!(
        f.input_tokens + 10 > 1000 && f.input_tokens + 10 < 1200,
        "estimate {}",
        f.input_tokens
    );
    let exact = switchyard_core::features::exact_input_tokens(&req).expect("tokenizer");
    assert!(exact + 10 <= 1000, "exact {exact}");
    let p = plan_ok(&snap, &req, &[]);
    assert_eq!(targets(&snap, &p), ["w1000", "mini"]);
    // Far over a window: excluded on the estimate alone.
    assert_eq!(excluded(&snap, &p), [("w600".to_owned(), "context_window")]);
}

#[test]
fn capabilities_declared_false_exclude_with_a_reason() {
    let snap = with_base(
        r#"
[[models]]
name = "text-only"
provider = "us-co"
context_window = 128000
price = { input = 0.01, output = 0.02 }
capabilities = { tools = false, vision = false, json = false }

[[models]]
name = "unknown-caps"
provider = "us-co"
price = { input = 0.02, output = 0.03 }

[[routes]]
name = "r"
strategy = "cheapest"
candidates = ["text-only", "unknown-caps", "mini"]
"#,
    );
    let plain = plan_ok(&snap, &ask("r", "hello"), &[]);
    assert_eq!(
        targets(&snap, &plain),
        ["text-only", "unknown-caps", "mini"]
    );
    let tools = request(
        serde_json::json!({"model": "r", "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"type": "function", "function": {"name": "f"}}]}),
    );
    let vision = request(
        serde_json::json!({"model": "r", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}]}),
    );
    let json = request(
        serde_json::json!({"model": "r", "messages": [{"role": "user", "content": "hi"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}}),
    );
    for (req, reason) in [
        (tools, "no_tools"),
        (vision, "no_vision"),
        (json, "no_json"),
    ] {
        let p = plan_ok(&snap, &req, &[]);
        assert_eq!(excluded(&snap, &p), [("text-only".to_owned(), reason)]);
        assert_eq!(
            targets(&snap, &p),
            ["unknown-caps", "mini"],
            "unknown capability counts as supported"
        );
    }
}

#[test]
fn unpriced_models_are_excluded_when_configured() {
    let cfg = |on_unpriced: &str| {
        format!(
            r#"{BASE}
[[models]]
name = "mystery"
provider = "us-co"
upstream = "not-in-any-catalog"

[routing]
on_unpriced = "{on_unpriced}"

[[routes]]
name = "r"
strategy = "priority"
candidates = ["mystery", "mini"]

[[routes]]
name = "only-unpriced"
candidates = ["mystery"]
"#
        )
    };
    let snap = snapshot(&cfg("exclude"));
    assert!(snap.deployment(snap.models["mystery"]).price.is_none());
    let p = plan_ok(&snap, &ask("r", "hi"), &[]);
    assert_eq!(targets(&snap, &p), ["mini"]);
    assert_eq!(excluded(&snap, &p), [("mystery".to_owned(), "unpriced")]);
    let err = plan_with(&snap, &ask("only-unpriced", "hi"), &[]).unwrap_err();
    assert!(err.to_string().contains("unpriced"), "{err}");
    let snap = snapshot(&cfg("allow"));
    let p = plan_ok(&snap, &ask("r", "hi"), &[]);
    assert_eq!(targets(&snap, &p), ["mystery", "mini"]);
    assert_eq!(p.estimates[0], None);
}

#[test]
fn catalog_prices_and_capabilities_are_used_when_config_gives_none() {
    // The embedded catalog prices the simulator's models (kind `sim`).
    let snap = snapshot(
        r#"
[[providers]]
name = "sim"
[[models]]
name = "sim-premium"
provider = "sim"
[[models]]
name = "sim-cheap"
provider = "sim"
[[routes]]
name = "r"
strategy = "cheapest"
candidates = ["sim-premium", "sim-cheap"]
"#,
    );
    let cheap = snap.deployment(snap.models["sim-cheap"]);
    assert!(cheap.price.is_some());
    assert_eq!(cheap.caps.context_window, Some(128_000));
    assert_eq!(
        targets(&snap, &plan_ok(&snap, &ask("r", "hi"), &[])),
        ["sim-cheap", "sim-premium"]
    );
}

// ---------------------------------------------------------------------------------------------
// Model names

#[test]
fn a_model_name_plans_that_model_then_its_fallbacks() {
    let snap = snapshot(&BASE.replace(
        "name = \"mini\"\nprovider = \"us-co\"",
        "name = \"mini\"\nprovider = \"us-co\"\nfallbacks = [\"mid\", \"big\"]",
    ));
    let p = plan_ok(&snap, &ask("mini", "hi"), &[]);
    assert_eq!(p.route, "mini");
    assert_eq!(p.rule, None);
    assert_eq!(targets(&snap, &p), ["mini", "mid", "big"]);
    assert_eq!(p.estimates.len(), 3);
    assert!(
        p.max_attempts >= 3,
        "room for every fallback: {}",
        p.max_attempts
    );
    // A model without fallbacks is just itself.
    assert_eq!(
        targets(&snap, &plan_ok(&snap, &ask("haiku", "hi"), &[])),
        ["haiku"]
    );
    // Hard constraints still apply to direct requests.
    let p = plan_ok(&snap, &ask("mini", "hi"), &[("x-switchyard-region", "eu")]);
    assert_eq!(targets(&snap, &p), ["big"]);
    assert!(excluded(&snap, &p).contains(&("mini".to_owned(), "region")));
    // A model that cannot serve the constraint is an error naming it, not an empty plan.
    let err = plan_with(&snap, &ask("haiku", "hi"), &[("x-switchyard-region", "us")]).unwrap_err();
    assert!(matches!(err, CoreError::Unsatisfiable(_)), "{err:?}");
    assert!(err.to_string().contains("region `us`"), "{err}");
}

#[test]
fn an_unknown_model_is_reported_as_such() {
    let snap = with_base(RULES);
    let err = plan_with(&snap, &ask("gpt-7", "hi"), &[]).unwrap_err();
    match &err {
        CoreError::UnknownModel(m) => assert_eq!(m, "gpt-7"),
        other => panic!("expected UnknownModel, got {other:?}"),
    }
    assert!(err.to_string().contains("gpt-7"));
    // `auto` with no default route is unknown too.
    let snap = with_base("[[routes]]\nname = \"r\"\ncandidates = [\"mini\"]\n");
    assert!(matches!(
        plan_with(&snap, &ask("auto", "hi"), &[]),
        Err(CoreError::UnknownModel(_))
    ));
}

#[test]
fn exclusion_labels_are_stable() {
    let all = [
        (Exclusion::Region, "region"),
        (Exclusion::Compliance, "compliance"),
        (Exclusion::ContextWindow, "context_window"),
        (Exclusion::NoTools, "no_tools"),
        (Exclusion::NoVision, "no_vision"),
        (Exclusion::NoJson, "no_json"),
        (Exclusion::Unpriced, "unpriced"),
    ];
    for (e, s) in all {
        assert_eq!(e.as_str(), s);
    }
}

// ---------------------------------------------------------------------------------------------
// Config errors

#[test]
fn config_errors_are_reported_all_at_once_with_paths() {
    let errs = try_snapshot(
        r#"
[[providers]]
name = "p"

[[models]]
name = "a"
provider = "p"
fallbacks = ["ghost"]

[[models]]
name = "a"
provider = "p"

[[models]]
name = "b"
provider = "nowhere"

[routing]
default = "missing-route"
baseline = "missing-model"

[[routes]]
name = "r"
candidates = ["a", "zzz"]
weights = { nope = 2 }
max_attempts = 0
rules = [
  { name = "bad-regex", when = { prompt_regex = "([unclosed" }, use = ["a"] },
  { name = "both", when = {}, use = ["a"], route = "r2" },
  { name = "neither", when = {} },
  { name = "to-nowhere", route = "void" },
  { name = "self", route = "r" },
  { name = "empty-use", use = [] },
  { name = "bad-use", use = ["a", "ghost2"] },
]

[[routes]]
name = "r2"
candidates = []

[[routes]]
name = "a"
candidates = ["a"]

[[routes]]
name = "r2"
candidates = ["a"]
"#,
    )
    .unwrap_err();
    let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
    let expect = [
        "models[0].fallbacks[0]",
        "models[1].name",
        "models[2].provider",
        "routing.default",
        "routing.baseline",
        "routes[0].candidates[1]",
        "routes[0].weights.nope",
        "routes[0].max_attempts",
        "routes[0].rules[0].when.prompt_regex",
        "routes[0].rules[1]",
        "routes[0].rules[2]",
        "routes[0].rules[3].route",
        "routes[0].rules[4].route",
        "routes[0].rules[5].use",
        "routes[0].rules[6].use[1]",
        "routes[1].candidates",
        "routes[2].name",
        "routes[3].name",
    ];
    for p in expect {
        assert!(paths.contains(&p), "missing {p} in {paths:#?}");
    }
    let msg = |path: &str| {
        errs.iter()
            .find(|e| e.path == path)
            .map(|e| e.message.clone())
            .unwrap_or_default()
    };
    assert!(msg("models[0].fallbacks[0]").contains("ghost"));
    assert!(msg("models[2].provider").contains("nowhere"));
    assert!(msg("routing.default").contains("missing-route"));
    assert!(msg("routes[0].rules[3].route").contains("void"));
    assert!(msg("routes[2].name").contains("name of a model"));
    assert!(msg("routes[3].name").contains("duplicate"));
    // Display is `path: message`.
    assert!(errs[0]
        .to_string()
        .starts_with(&format!("{}: ", errs[0].path)));
}

#[test]
fn a_valid_config_builds() {
    let snap = with_base(RULES);
    assert_eq!(snap.route_order, ["auto", "cheap"]);
    assert_eq!(snap.default_route.as_deref(), Some("auto"));
    assert_eq!(snap.deployments.len(), 4);
}
