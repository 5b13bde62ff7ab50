//! The quality model: per (task label, model), a Beta posterior of the probability that an
//! answer is acceptable, updated online from quality signals (evaluator verdicts, client
//! feedback) and rebuilt from the ledger database at start.
//!
//! The [`QualityBook`] holds only observations (sum of scores, count), shared by every
//! snapshot; the priors are configuration (`[routing.quality]`) and live in the snapshot, so
//! a reload that changes a prior takes effect without forgetting what was observed. A
//! request with a task label updates both its task's entry and the model's all-task entry
//! (`*`), which is what a request without a label is judged by.

use std::collections::HashMap;
use std::sync::RwLock;

use serde::Serialize;

use crate::config::{Prior, QualityPriors};

/// The key of the all-task entry.
pub const ANY_TASK: &str = "*";

/// Most task labels tracked: labels are client-supplied, so their number is bounded. Past it,
/// a new label's observations count in the all-task entry only.
pub const MAX_TASKS: usize = 4096;

/// Observed signals for one (task, model): the sum of scores and their count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Observed {
    /// Sum of scores in `[0, 1]` (a pass counts 1, a fail 0).
    pub sum: f64,
    /// Number of observations.
    pub n: f64,
}

impl std::ops::AddAssign for Observed {
    fn add_assign(&mut self, o: Observed) {
        self.sum += o.sum;
        self.n += o.n;
    }
}

/// Observations by task, then model. Shared across snapshots (kept over config reloads).
///
/// With `[state] url` the book is every replica's: what this one observes is also kept as
/// pending, pushed to Redis every second and the totals read back ([`QualityBook::take_pending`],
/// [`QualityBook::set_totals`]).
#[derive(Debug, Default)]
pub struct QualityBook {
    map: RwLock<HashMap<String, HashMap<String, Observed>>>,
    /// Observed here since the last push, by (task entry, model).
    pending: std::sync::Mutex<HashMap<(String, String), Observed>>,
    /// Set once the ledger's observations are in (or there is no ledger): only then is the
    /// book a sound seed for the shared one.
    ready: std::sync::atomic::AtomicBool,
}

/// One entry of the book: task (or [`ANY_TASK`]), model, observations.
pub type Entry = (String, String, Observed);

impl QualityBook {
    /// Record one observation of `model` on `task` (score clamped to `[0, 1]`).
    pub fn observe(&self, task: Option<&str>, model: &str, score: f64) {
        let o = Observed {
            sum: score.clamp(0.0, 1.0),
            n: 1.0,
        };
        let tasks = self.add(task, model, o);
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        for t in tasks.into_iter().flatten() {
            *pending.entry((t.to_owned(), model.to_owned())).or_default() += o;
        }
    }

    /// Add aggregated observations (the ledger's, at start); the entries it added to.
    pub fn add<'t>(&self, task: Option<&'t str>, model: &str, o: Observed) -> [Option<&'t str>; 2] {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        let task = task
            .filter(|t| *t != ANY_TASK)
            .filter(|t| map.contains_key(*t) || map.len() <= MAX_TASKS);
        let mut bump = |t: &str| {
            *map.entry(t.to_owned())
                .or_default()
                .entry(model.to_owned())
                .or_default() += o;
        };
        bump(ANY_TASK);
        if let Some(t) = task {
            bump(t);
        }
        [Some(ANY_TASK), task]
    }

    /// Mark the book complete as a seed (the ledger's observations are in).
    pub fn set_ready(&self) {
        self.ready.store(true, std::sync::atomic::Ordering::Release);
    }

    /// Whether the book holds the ledger's observations (see [`QualityBook::set_ready`]).
    pub fn is_ready(&self) -> bool {
        self.ready.load(std::sync::atomic::Ordering::Acquire)
    }

    /// What was observed here since the last push (now taken: push it, then
    /// [`QualityBook::set_totals`], or give it back with [`QualityBook::restore_pending`]).
    pub fn take_pending(&self) -> Vec<Entry> {
        let taken = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        taken.into_iter().map(|((t, m), o)| (t, m, o)).collect()
    }

    /// A push that failed: what was taken is pending again.
    pub fn restore_pending(&self, entries: Vec<Entry>) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        for (t, m, o) in entries {
            *pending.entry((t, m)).or_default() += o;
        }
    }

    /// The totals across replicas after a push: each entry becomes its total plus what was
    /// observed here since. Entries the totals do not name are left as they are.
    pub fn set_totals(&self, totals: Vec<Entry>) {
        let pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        for (t, m, o) in totals {
            if !map.contains_key(&t) && map.len() > MAX_TASKS {
                continue;
            }
            let mut total = o;
            total += pending
                .get(&(t.clone(), m.clone()))
                .copied()
                .unwrap_or_default();
            map.entry(t).or_default().insert(m, total);
        }
    }

    /// What has been observed of `model` on `task` (`None`: all tasks).
    pub fn observed(&self, task: Option<&str>, model: &str) -> Observed {
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        map.get(task.unwrap_or(ANY_TASK))
            .and_then(|m| m.get(model))
            .copied()
            .unwrap_or_default()
    }

    /// Every entry, sorted by task then model (for `/admin/health` and reports).
    pub fn entries(&self) -> Vec<(String, String, Observed)> {
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<_> = map
            .iter()
            .flat_map(|(t, ms)| ms.iter().map(move |(m, o)| (t.clone(), m.clone(), *o)))
            .collect();
        out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        out
    }
}

/// A Beta posterior.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Beta {
    /// Pseudo-successes.
    pub alpha: f64,
    /// Pseudo-failures.
    pub beta: f64,
}

/// z for a one-sided 95% bound.
const Z95: f64 = 1.645;

impl Beta {
    /// The prior updated with the observations.
    pub fn posterior(prior: Prior, o: Observed) -> Beta {
        let mean = prior.mean.clamp(0.0, 1.0);
        let weight = prior.weight.max(1e-6);
        Beta {
            alpha: mean * weight + o.sum,
            beta: (1.0 - mean) * weight + (o.n - o.sum).max(0.0),
        }
    }

    /// Expected quality.
    pub fn mean(&self) -> f64 {
        self.alpha / (self.alpha + self.beta)
    }

    /// Standard deviation.
    pub fn sd(&self) -> f64 {
        let s = self.alpha + self.beta;
        (self.alpha * self.beta / (s * s * (s + 1.0))).sqrt()
    }

    /// A 95% lower bound (normal approximation, clamped to `[0, 1]`).
    pub fn lower(&self) -> f64 {
        (self.mean() - Z95 * self.sd()).clamp(0.0, 1.0)
    }

    /// A 95% upper bound (normal approximation, clamped to `[0, 1]`).
    pub fn upper(&self) -> f64 {
        (self.mean() + Z95 * self.sd()).clamp(0.0, 1.0)
    }
}

/// The prior for `model` on `task`: a model-and-task prior, else a model prior, else the
/// default.
pub fn prior_for(priors: &QualityPriors, task: Option<&str>, model: &str) -> Prior {
    let find = |want: Option<&str>| {
        priors
            .priors
            .iter()
            .find(|p| p.model == model && p.task.as_deref() == want)
            .map(|p| Prior {
                mean: p.mean,
                weight: p.weight,
            })
    };
    task.and_then(|t| find(Some(t)))
        .or_else(|| find(None))
        .unwrap_or(priors.prior)
}

#[cfg(test)]
mod tests {
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    use super::*;

    #[test]
    fn shared_totals_replace_entries_and_keep_what_came_since() {
        let book = QualityBook::default();
        book.observe(Some("math"), "cheap", 1.0);
        let mut taken = book.take_pending();
        taken.sort_by(|a, b| a.0.cmp(&b.0));
        let one = Observed { sum: 1.0, n: 1.0 };
        assert_eq!(
            taken,
            vec![
                (ANY_TASK.to_owned(), "cheap".to_owned(), one),
                ("math".to_owned(), "cheap".to_owned(), one)
            ]
        );
        book.observe(None, "cheap", 0.0);
        // Another replica observed 9 more on math (7 passed): the shared totals.
        let total = Observed { sum: 8.0, n: 10.0 };
        book.set_totals(vec![
            (ANY_TASK.to_owned(), "cheap".to_owned(), total),
            ("math".to_owned(), "cheap".to_owned(), total),
        ]);
        assert_eq!(book.observed(Some("math"), "cheap"), total);
        assert_eq!(
            book.observed(None, "cheap"),
            Observed { sum: 8.0, n: 11.0 },
            "the total plus the observation not yet pushed"
        );
        book.restore_pending(taken);
        assert_eq!(book.take_pending().len(), 2, "restored and merged");
    }

    #[test]
    fn posterior_converges_on_simulated_outcomes() {
        let book = QualityBook::default();
        let mut rng = SmallRng::seed_from_u64(7);
        for _ in 0..2000 {
            book.observe(
                Some("math"),
                "cheap",
                f64::from(u8::from(rng.gen_bool(0.62))),
            );
            book.observe(
                Some("math"),
                "premium",
                f64::from(u8::from(rng.gen_bool(0.93))),
            );
        }
        let prior = Prior::default();
        let cheap = Beta::posterior(prior, book.observed(Some("math"), "cheap"));
        let premium = Beta::posterior(prior, book.observed(Some("math"), "premium"));
        assert!((cheap.mean() - 0.62).abs() < 0.03, "{}", cheap.mean());
        assert!((premium.mean() - 0.93).abs() < 0.02, "{}", premium.mean());
        assert!(cheap.lower() < cheap.mean() && cheap.mean() - cheap.lower() < 0.02);
        // The all-task entry saw the same observations; an unseen task has none.
        assert_eq!(book.observed(None, "cheap").n, 2000.0);
        assert_eq!(book.observed(Some("poetry"), "cheap").n, 0.0);
    }

    #[test]
    fn task_labels_are_bounded() {
        let book = QualityBook::default();
        for i in 0..(MAX_TASKS + 100) {
            book.observe(Some(&format!("t{i}")), "m", 1.0);
        }
        assert!(book.entries().len() <= MAX_TASKS + 1);
        assert_eq!(book.observed(None, "m").n, (MAX_TASKS + 100) as f64);
    }

    #[test]
    fn few_observations_give_a_wide_bound() {
        let prior = Prior::default();
        let b = Beta::posterior(prior, Observed { sum: 3.0, n: 3.0 });
        assert!(b.mean() > 0.75);
        assert!(b.lower() < 0.6, "{}", b.lower());
    }

    #[test]
    fn priors_resolve_most_specific_first() {
        let priors = QualityPriors {
            prior: Prior::default(),
            priors: vec![
                crate::config::ModelPrior {
                    model: "m".into(),
                    task: None,
                    mean: 0.7,
                    weight: 10.0,
                },
                crate::config::ModelPrior {
                    model: "m".into(),
                    task: Some("t".into()),
                    mean: 0.9,
                    weight: 10.0,
                },
            ],
        };
        assert_eq!(prior_for(&priors, Some("t"), "m").mean, 0.9);
        assert_eq!(prior_for(&priors, Some("u"), "m").mean, 0.7);
        assert_eq!(prior_for(&priors, None, "x").mean, 0.5);
    }
}
