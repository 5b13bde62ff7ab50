//! One routing decision: `Features::extract` (token estimate included) + `plan`, for a route
//! of 20 candidates and 50 rules (two with a `prompt_regex`), on a ~1 KB prompt.
//!
//! Criterion reports the median; a plain loop over 100k decisions then prints p50/p99/p999
//! to stderr, because criterion reports means and medians, not tails.
//!
//! `cargo bench -p switchyard-core --bench plan`

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a benchmark's setup may panic"
)]

use std::{
    collections::HashMap,
    fmt::Write as _,
    hint::black_box,
    sync::Arc,
    time::{Duration, Instant},
};

use criterion::{criterion_group, criterion_main, Criterion};
use http::{HeaderMap, HeaderValue};
use serde::Deserialize;
use switchyard_core::{
    config::{ModelConfig, RouteConfig, RoutingConfig},
    plan::plan,
    snapshot_provider,
    stats::StatsRegistry,
    Features, ProviderEntry, Snapshot, SnapshotInputs,
};
use switchyard_pricing::Catalog;
use switchyard_providers::{AnyProvider, ProviderConfig, ProviderKind};
use switchyard_types::ChatRequest;

const CANDIDATES: usize = 20;
const RULES: usize = 50;

#[derive(Deserialize)]
struct Doc {
    models: Vec<ModelConfig>,
    routes: Vec<RouteConfig>,
    routing: RoutingConfig,
}

fn config() -> String {
    let mut s = String::from("[routing]\ndefault = \"auto\"\nbaseline = \"m19\"\n\n");
    for i in 0..CANDIDATES {
        let provider = ["p-us", "p-eu", "p-global", "p-zdr"][i % 4];
        let _ = writeln!(
            s,
            "[[models]]\nname = \"m{i}\"\nprovider = \"{provider}\"\nupstream = \"bench-model-{i}\"\n\
             context_window = {}\nprice = {{ input = {}.{:02}, output = {}.{:02} }}\n",
            [8_000, 32_000, 128_000, 200_000][i % 4],
            (i * 37 % 20) / 4,
            (i * 13) % 100,
            (i * 37 % 20) / 2,
            (i * 29) % 100,
        );
    }
    let candidates: Vec<String> = (0..CANDIDATES).map(|i| format!("\"m{i}\"")).collect();
    let _ = writeln!(
        s,
        "[[routes]]\nname = \"auto\"\nstrategy = \"cheapest\"\ncandidates = [{}]\nrules = [",
        candidates.join(", ")
    );
    for r in 0..RULES {
        let use_ = format!(
            "[\"m{}\", \"m{}\", \"m{}\"]",
            r % CANDIDATES,
            (r + 7) % CANDIDATES,
            (r + 13) % CANDIDATES
        );
        let when = match r {
            // Regex-only rules: evaluated against the prompt on every request.
            10 => r#"{ prompt_regex = "(?i)\\b(refund|chargeback|cancel my (order|subscription))\\b" }"#.to_owned(),
            30 => r#"{ prompt_regex = "(?i)order\\s+#?[0-9]{6,}|tracking number [A-Z0-9]{10,}" }"#.to_owned(),
            // The last rule matches the `summarize` task.
            49 => r#"{ task = "summarize", max_input_tokens = 4000 }"#.to_owned(),
            r if r % 5 == 0 => format!("{{ tenant = [\"tenant-{r}\", \"tenant-{}\"], lane = \"batch\" }}", r + 1),
            r if r % 5 == 1 => format!("{{ task = \"task-{r}\", min_input_tokens = 100 }}"),
            r if r % 5 == 2 => format!("{{ tags = [\"tag-{r}\"], tools = true }}"),
            r if r % 5 == 3 => format!("{{ metadata = {{ team = \"team-{r}\" }} }}"),
            r => format!("{{ task = [\"a-{r}\", \"b-{r}\", \"c-{r}\"], images = false }}"),
        };
        let _ = writeln!(
            s,
            "  {{ name = \"rule-{r}\", when = {when}, use = {use_} }},"
        );
    }
    s.push_str("]\n");
    s
}

fn snapshot() -> Snapshot {
    let doc: Doc = toml::from_str(&config()).expect("bench config");
    let adapter = Arc::new(
        AnyProvider::new(ProviderConfig {
            name: "bench".into(),
            kind: ProviderKind::Sim,
            base_url: "http://127.0.0.1:9/v1".into(),
            api_key: None,
            timeouts: Default::default(),
            api_version: None,
            responses_api: false,
            region: None,
            vendor: String::new(),
        })
        .expect("adapter"),
    );
    let mut providers: HashMap<String, ProviderEntry> = HashMap::new();
    for (name, regions, tags) in [
        ("p-us", vec!["us"], vec![]),
        ("p-eu", vec!["eu"], vec!["zdr"]),
        ("p-global", vec!["us", "eu"], vec![]),
        ("p-zdr", vec!["us"], vec!["zdr", "hipaa"]),
    ] {
        let mut e = snapshot_provider(adapter.clone(), ProviderKind::Sim, Default::default());
        e.regions = regions.into_iter().map(str::to_owned).collect();
        e.tags = tags.into_iter().map(str::to_owned).collect();
        providers.insert(name.to_owned(), e);
    }
    let catalog = Catalog::shared().expect("embedded catalog");
    Snapshot::build(SnapshotInputs {
        models: &doc.models,
        routes: &doc.routes,
        routing: &doc.routing,
        providers: &providers,
        catalog,
        stats: &StatsRegistry::default(),
    })
    .expect("bench snapshot")
}

/// A realistic ~1 KB support request: a system prompt and a user message.
fn request() -> ChatRequest {
    let system = "You are a helpful customer-support assistant for an online electronics store. \
        Answer politely and concisely. If the customer asks about an order, ask for the order \
        number. Never invent policies; when unsure, say you will escalate to a human agent.";
    let user = "Hi, I bought a pair of wireless headphones from you about three weeks ago and \
        since last weekend the left earbud keeps disconnecting every few minutes. I have tried \
        resetting them, re-pairing with my phone and my laptop, and updating the firmware through \
        the companion app, but nothing helps. The battery seems fine and the right earbud works \
        perfectly. I really like the sound quality so I would prefer a replacement over a \
        return if that is possible. Could you tell me what my options are under the warranty, \
        how long a replacement usually takes, and whether I need to send the faulty pair back \
        first? I am travelling next month so timing matters to me. Thanks a lot for your help!";
    serde_json::from_value(serde_json::json!({
        "model": "auto",
        "max_tokens": 400,
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
    }))
    .expect("request")
}

fn headers(task: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        "x-switchyard-task",
        HeaderValue::from_str(task).expect("task"),
    );
    h.insert("x-switchyard-region", HeaderValue::from_static("us"));
    h.insert("x-switchyard-tenant", HeaderValue::from_static("acme"));
    h.insert("content-type", HeaderValue::from_static("application/json"));
    h
}

fn decide(snap: &Snapshot, req: &ChatRequest, h: &HeaderMap) -> usize {
    let f = Features::extract(req, h);
    let p = plan(snap, req, &f).expect("a plan");
    p.targets.len()
}

fn tails(name: &str, snap: &Snapshot, req: &ChatRequest, h: &HeaderMap) {
    const N: usize = 100_000;
    for _ in 0..10_000 {
        black_box(decide(snap, req, h));
    }
    let mut samples = Vec::with_capacity(N);
    for _ in 0..N {
        let t = Instant::now();
        black_box(decide(black_box(snap), black_box(req), black_box(h)));
        samples.push(t.elapsed());
    }
    samples.sort_unstable();
    let at = |q: f64| samples[((N as f64 * q) as usize).min(N - 1)];
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    eprintln!(
        "{name}: {N} decisions: p50 {:.2} µs, p99 {:.2} µs, p99.9 {:.2} µs, max {:.2} µs",
        us(at(0.50)),
        us(at(0.99)),
        us(at(0.999)),
        us(samples[N - 1]),
    );
}

fn bench(c: &mut Criterion) {
    let snap = snapshot();
    let req = request();
    let none = headers("chat");
    let last = headers("summarize");
    let check = |h: &HeaderMap| plan(&snap, &req, &Features::extract(&req, h)).expect("a plan");
    let p = check(&none);
    assert_eq!(
        (p.rule.as_deref(), p.targets.len()),
        (None, CANDIDATES - 5),
        "no rule: the route's candidates minus the eu-only ones"
    );
    let p = check(&last);
    assert_eq!(p.rule.as_deref(), Some("rule-49"), "the last rule matches");
    let mut g = c.benchmark_group("plan");
    g.bench_function("20 candidates, 50 rules, none match", |b| {
        b.iter(|| decide(black_box(&snap), black_box(&req), black_box(&none)))
    });
    g.bench_function("20 candidates, 50 rules, last matches", |b| {
        b.iter(|| decide(black_box(&snap), black_box(&req), black_box(&last)))
    });
    g.finish();
    tails("none match", &snap, &req, &none);
    tails("last matches", &snap, &req, &last);
}

criterion_group!(benches, bench);
criterion_main!(benches);
