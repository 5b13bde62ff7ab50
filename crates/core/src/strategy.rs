//! Strategies: each orders a plan's eligible targets, given their cost estimates.

use std::hash::{BuildHasher, Hasher};

use rand::Rng;
use switchyard_types::{ChatRequest, Content};

use crate::{
    config::Strategy,
    quality::{prior_for, Beta},
    snapshot::Route,
    DeploymentId, Features, Snapshot,
};

/// The order the route's strategy puts `targets` in, as indices into it (`None`: as they are).
/// `estimates` are the targets' estimated costs, aligned with them.
pub(crate) fn order(
    snap: &Snapshot,
    route: &Route,
    f: &Features,
    req: &ChatRequest,
    targets: &[DeploymentId],
    estimates: &[Option<u128>],
    learned: &mut Option<f64>,
) -> Option<Vec<usize>> {
    let n = targets.len();
    if n < 2 {
        return None;
    }
    let mut idx: Vec<usize> = (0..n).collect();
    match route.strategy {
        Strategy::Priority => return None,
        Strategy::Cheapest | Strategy::Cascade => {
            idx.sort_by_key(|&i| estimates[i].unwrap_or(u128::MAX));
        }
        Strategy::Learned => {
            idx.sort_by_key(|&i| estimates[i].unwrap_or(u128::MAX));
            let model = route.router.as_ref()?;
            let prompt = last_user_text(req);
            let score = model.score(&prompt, f.task.as_deref());
            *learned = Some(score);
            if score >= model.threshold() {
                // The most expensive priced candidate (the premium model) first.
                let premium = idx
                    .iter()
                    .rposition(|&i| estimates[i].is_some())
                    .unwrap_or(n - 1);
                let chosen = idx.remove(premium);
                idx.insert(0, chosen);
            }
        }
        Strategy::QualityFloor => {
            idx.sort_by_key(|&i| estimates[i].unwrap_or(u128::MAX));
            let pick = quality_floor(snap, route, f, targets, &idx, &mut rand::thread_rng());
            let chosen = idx.remove(pick);
            idx.insert(0, chosen);
        }
        Strategy::LeastLatency => {
            idx.sort_by_key(|&i| snap.deployment(targets[i]).stats.ttft().unwrap_or_default());
        }
        Strategy::LeastOutstanding => {
            let load = |i: usize| snap.deployment(targets[i]).stats.inflight();
            idx.sort_by_key(|&i| load(i));
            // Power of two choices for the head: avoids herding onto one momentarily idle target.
            let mut rng = rand::thread_rng();
            let a = rng.gen_range(0..n);
            let b = (a + 1 + rng.gen_range(0..n - 1)) % n;
            let pick = if load(a) <= load(b) { a } else { b };
            idx.retain(|&i| i != pick);
            idx.insert(0, pick);
        }
        Strategy::Weighted => {
            // Efraimidis–Spirakis: key = u^(1/w), highest first; a weighted random order.
            let mut rng = rand::thread_rng();
            let keys: Vec<f64> = (0..n)
                .map(|i| {
                    let w = f64::from(*route.weights.get(&targets[i]).unwrap_or(&1)).max(1e-9);
                    rng.r#gen::<f64>().powf(1.0 / w)
                })
                .collect();
            idx.sort_by(|&a, &b| keys[b].total_cmp(&keys[a]));
        }
        Strategy::CacheAffinity => {
            let key = affinity_key(f, req)?;
            // Rendezvous hashing: stable per key, and only 1/n of keys move when a target leaves.
            let score = |i: usize| {
                let mut h = FIXED.build_hasher();
                h.write_u64(key);
                h.write(snap.deployment(targets[i]).name.as_bytes());
                h.finish()
            };
            idx.sort_by_key(|&i| std::cmp::Reverse(score(i)));
        }
    }
    Some(idx)
}

/// `quality-floor`: the position in `by_cost` (cheapest first) of the cheapest target whose
/// quality lower bound on the request's task meets the route's target. An exploring request
/// (a share `explore` of them) instead takes the cheapest target that may meet it — upper
/// bound at or above the target — so an untried, repriced or recovered model gets traffic
/// until its bound settles either way, and a degraded one is noticed through the verdicts
/// and feedback on its answers. When none qualifies, the one with the best expected quality.
fn quality_floor(
    snap: &Snapshot,
    route: &Route,
    f: &Features,
    targets: &[DeploymentId],
    by_cost: &[usize],
    rng: &mut impl Rng,
) -> usize {
    let Some(q) = route.quality else { return 0 };
    let task = f.task.as_deref();
    let posts: Vec<Beta> = by_cost
        .iter()
        .map(|&i| {
            let name = &snap.deployment(targets[i]).name;
            let prior = prior_for(&snap.quality_priors, task, name);
            Beta::posterior(prior, snap.quality.observed(task, name))
        })
        .collect();
    let best = posts.iter().map(Beta::mean).fold(0.0, f64::max);
    let need = q
        .target
        .unwrap_or(0.0)
        .max(q.relative.map_or(0.0, |r| r * best));
    let explore = q.explore > 0.0 && rng.gen_bool(q.explore.min(1.0));
    let found = posts.iter().position(|b| {
        let bound = if explore { b.upper() } else { b.lower() };
        bound >= need
    });
    found.unwrap_or_else(|| {
        (0..posts.len())
            .max_by(|&a, &b| posts[a].mean().total_cmp(&posts[b].mean()).then(b.cmp(&a)))
            .unwrap_or(0)
    })
}

/// The text of the last user message (what the learned router reads).
fn last_user_text(req: &ChatRequest) -> std::borrow::Cow<'_, str> {
    let last = req
        .messages
        .iter()
        .rev()
        .find(|m| m.role == switchyard_types::Role::User);
    match last.and_then(|m| m.content.as_ref()) {
        Some(Content::Text(t)) => std::borrow::Cow::Borrowed(t.as_str()),
        Some(_) => std::borrow::Cow::Owned(last.map(|m| m.text_content()).unwrap_or_default()),
        None => std::borrow::Cow::Borrowed(""),
    }
}

/// A fixed-seed hasher, so affinity survives restarts and is the same on every replica.
const FIXED: std::hash::BuildHasherDefault<std::collections::hash_map::DefaultHasher> =
    std::hash::BuildHasherDefault::new();

/// The session id, else the first 2 KiB of a long prompt's leading messages.
fn affinity_key(f: &Features, req: &ChatRequest) -> Option<u64> {
    let mut h = FIXED.build_hasher();
    if let Some(s) = &f.session {
        h.write(s.as_bytes());
        return Some(h.finish());
    }
    if f.input_tokens < 1024 {
        return None;
    }
    let mut budget = 2048usize;
    for m in &req.messages {
        if let Some(Content::Text(t)) = &m.content {
            let end = floor_char_boundary(t, budget.min(t.len()));
            h.write(&t.as_bytes()[..end]);
            budget -= end;
        }
        if budget == 0 {
            break;
        }
    }
    Some(h.finish())
}

/// The largest char boundary of `s` at or below `i` (`i <= s.len()`).
pub(crate) fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}
