//! The invariants ARCHITECTURE.md states, checked against the source tree.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::path::{Path, PathBuf};

fn crates() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

/// `switchyard-*` packages in a manifest's `[dependencies]` (not dev-dependencies).
fn deps(krate: &str) -> Vec<String> {
    let text = std::fs::read_to_string(crates().join(krate).join("Cargo.toml")).unwrap();
    let mut in_deps = false;
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
        } else if in_deps && line.starts_with("switchyard-") {
            out.push(
                line.split(['.', ' ', '='])
                    .next()
                    .unwrap()
                    .trim_start_matches("switchyard-")
                    .to_owned(),
            );
        }
    }
    out
}

/// Non-comment source lines of a crate's `src/`, with their file.
fn code(krate: &str) -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                for line in std::fs::read_to_string(&p).unwrap().lines() {
                    let t = line.trim_start();
                    if !t.starts_with("//") {
                        out.push((p.clone(), line.to_owned()));
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(&crates().join(krate).join("src"), &mut out);
    out
}

const CRATES: &[&str] = &[
    "types",
    "pricing",
    "store",
    "sim",
    "router",
    "providers",
    "core",
    "server",
    "cli",
    "bench",
];

#[test]
fn dependencies_point_one_way() {
    let allowed: &[(&str, &[&str])] = &[
        ("types", &[]),
        ("pricing", &["types"]),
        ("store", &["types"]),
        ("sim", &[]),
        ("providers", &["types"]),
        ("router", &[]),
        (
            "core",
            &["types", "providers", "pricing", "store", "router"],
        ),
        (
            "server",
            &[
                "types",
                "providers",
                "core",
                "pricing",
                "store",
                "sim",
                "router",
            ],
        ),
    ];
    for (krate, ok) in allowed {
        for d in deps(krate) {
            assert!(
                ok.contains(&d.as_str()),
                "switchyard-{krate} must not depend on switchyard-{d}"
            );
        }
    }
}

/// Lines of crates other than `owners` that contain `needle`.
fn offenders(needle: &str, owners: &[&str]) -> Vec<String> {
    CRATES
        .iter()
        .filter(|c| !owners.contains(c))
        .flat_map(|c| code(c))
        .filter(|(_, l)| l.contains(needle))
        .map(|(p, l)| format!("{}: {}", p.display(), l.trim()))
        .collect()
}

#[test]
fn only_the_providers_crate_names_provider_hosts() {
    for host in [
        "api.openai.com",
        "api.anthropic.com",
        "generativelanguage.googleapis.com",
        "amazonaws.com",
    ] {
        let bad = offenders(host, &["providers"]);
        assert!(
            bad.is_empty(),
            "{host} named outside switchyard-providers: {bad:#?}"
        );
    }
}

#[test]
fn only_the_server_and_the_simulator_know_axum() {
    let bad = offenders("axum", &["server", "sim", "cli", "bench"]);
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn only_the_binary_reads_the_environment() {
    let bad = offenders("env::var", &["cli", "bench"]);
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn retry_delays_come_from_one_module() {
    let bad: Vec<_> = CRATES
        .iter()
        .flat_map(|c| code(c))
        .filter(|(p, l)| l.contains("backon") && !p.ends_with("core/src/retry.rs"))
        .collect();
    assert!(bad.is_empty(), "backon outside core/src/retry.rs: {bad:#?}");
}

/// What follows a failure — retry, next candidate, stream continuation, stop — is decided by
/// `core::retry::decide` alone: no other module reads an error's retryability, and only the
/// attempt loop and the stream relay act on a decision.
#[test]
fn retry_and_fall_over_decisions_are_made_in_one_place() {
    let mut bad: Vec<String> = CRATES
        .iter()
        .flat_map(|c| code(c))
        .filter(|(p, l)| {
            (l.contains(".retryable()") || l.contains(".try_next_candidate()"))
                && !l.trim_start().starts_with("assert")
                && !p.ends_with("core/src/retry.rs")
                && !p.ends_with("providers/src/error.rs")
        })
        .map(|(p, l)| format!("{}: {}", p.display(), l.trim()))
        .collect();
    bad.extend(
        CRATES
            .iter()
            .flat_map(|c| code(c))
            .filter(|(p, l)| {
                (l.contains("decide(") || l.contains("resume_stream("))
                    && ![
                        "core/src/retry.rs",
                        "core/src/attempt.rs",
                        "core/src/relay.rs",
                    ]
                    .iter()
                    .any(|ok| p.ends_with(ok))
            })
            .map(|(p, l)| format!("{}: {}", p.display(), l.trim())),
    );
    assert!(
        bad.is_empty(),
        "retry decisions outside core::retry: {bad:#?}"
    );
}

#[test]
fn upstream_http_clients_are_built_in_one_place() {
    let bad: Vec<_> = ["types", "pricing", "store", "providers", "core", "server"]
        .iter()
        .flat_map(|c| code(c))
        .filter(|(p, l)| {
            l.contains("reqwest::Client::builder") && !p.ends_with("providers/src/http.rs")
        })
        .collect();
    assert!(
        bad.is_empty(),
        "upstream clients outside providers/src/http.rs: {bad:#?}"
    );
}
