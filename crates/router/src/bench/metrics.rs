//! RouteLLM-style metrics of a routing policy on a test set.
//!
//! A policy gives every test prompt a score (higher = more likely to call premium). Sorting by
//! score descending (ties: lower index first) and sending the top `k` of `n` prompts to premium
//! gives the premium share `c = k/n` and the quality `quality(c)` = mean correctness of the model
//! each prompt was sent to, for every `k = 0..=n`.
//!
//! - `PGR(c) = (quality(c) − q_weak) / (q_strong − q_weak)` (0 when the two are equal);
//! - `APGR` = trapezoid area under PGR over the `n + 1` points `c = 0, 1/n, …, 1`;
//! - `CPT(x)` = smallest `c` with `PGR(c) ≥ x`;
//! - `premium_share_at_95` = smallest `c` with `quality(c) ≥ 0.95 · q_strong`;
//! - `cost_at_95` = cost per request at that share, in units of one strong call, where a weak
//!   call costs `w`: `(1 − c)·w + c` for a router, `w + c` for a cascade (every request pays the
//!   weak call, escalated ones also the strong call).

use serde::Serialize;

/// The metrics of one policy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicyMetrics {
    /// Area under the PGR curve.
    pub apgr: f64,
    /// Premium share needed for PGR ≥ 0.5.
    pub cpt50: f64,
    /// Premium share needed for PGR ≥ 0.8.
    pub cpt80: f64,
    /// Premium share needed for 95 % of the strong model's quality.
    pub premium_share_at_95: f64,
    /// Cost per request at `premium_share_at_95` (strong call = 1).
    pub cost_at_95: f64,
    /// Whether the policy is a cascade (weak model always called).
    pub cascade: bool,
}

/// Evaluates `scores` against per-prompt correctness. `weak_cost` is the price of a weak call
/// relative to a strong one.
pub fn evaluate(
    scores: &[f64],
    weak: &[bool],
    strong: &[bool],
    cascade: bool,
    weak_cost: f64,
) -> PolicyMetrics {
    // Extra entries in any of the three slices are ignored.
    let n = scores.len().min(weak.len()).min(strong.len());
    let (weak, strong) = (&weak[..n], &strong[..n]);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    // correct[k]: number correct when the top k go premium.
    let mut correct = Vec::with_capacity(n + 1);
    let mut c = weak.iter().filter(|&&w| w).count() as i64;
    correct.push(c);
    for &i in &order {
        c += i64::from(strong[i]) - i64::from(weak[i]);
        correct.push(c);
    }
    let nf = n.max(1) as f64;
    let q_weak = correct[0] as f64 / nf;
    let q_strong = strong.iter().filter(|&&s| s).count() as f64 / nf;
    let span = q_strong - q_weak;
    let pgr: Vec<f64> = correct
        .iter()
        .map(|&k| {
            if span.abs() < 1e-12 {
                0.0
            } else {
                (k as f64 / nf - q_weak) / span
            }
        })
        .collect();
    let apgr = pgr.windows(2).map(|w| (w[0] + w[1]) / 2.0).sum::<f64>() / nf;
    let first = |pred: &dyn Fn(usize) -> bool| -> f64 {
        (0..=n).find(|&k| pred(k)).map_or(1.0, |k| k as f64 / nf)
    };
    let cpt = |x: f64| first(&|k| pgr[k] >= x - 1e-12);
    let target = 0.95 * q_strong * nf;
    let share95 = first(&|k| correct[k] as f64 >= target - 1e-9);
    let cost_at_95 = if cascade {
        weak_cost + share95
    } else {
        (1.0 - share95) * weak_cost + share95
    };
    PolicyMetrics {
        apgr,
        cpt50: cpt(0.5),
        cpt80: cpt(0.8),
        premium_share_at_95: share95,
        cost_at_95,
        cascade,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Four prompts (weak, strong correctness):
    ///   p0 (0,1) gain +1, p1 (1,1) gain 0, p2 (0,0) gain 0, p3 (0,1) gain +1.
    /// q_weak = 1/4, q_strong = 3/4, span = 1/2.
    /// Scores 0.9, 0.1, 0.5, 0.7 → order p0, p3, p2, p1.
    /// Correct counts for k = 0..4: 1, 2, 3, 3, 3 → quality 0.25, 0.5, 0.75, 0.75, 0.75
    /// → PGR 0, 0.5, 1, 1, 1.
    /// APGR = (0+0.5)/2·¼ + (0.5+1)/2·¼ + (1+1)/2·¼ + (1+1)/2·¼ = (0.25+0.75+1+1)/4 = 0.75.
    /// CPT50 = 1/4 (PGR(1/4) = 0.5), CPT80 = 2/4.
    /// 95 % of q_strong = 0.7125 → first quality ≥ it at k = 2 → share 0.5.
    /// Cost with w = 0.1: router 0.5·0.1 + 0.5 = 0.55; cascade 0.1 + 0.5 = 0.6.
    #[test]
    fn hand_computed_four_prompts() {
        let weak = [false, true, false, false];
        let strong = [true, true, false, true];
        let scores = [0.9, 0.1, 0.5, 0.7];
        let m = evaluate(&scores, &weak, &strong, false, 0.1);
        assert!((m.apgr - 0.75).abs() < 1e-12, "{m:?}");
        assert_eq!(m.cpt50, 0.25);
        assert_eq!(m.cpt80, 0.5);
        assert_eq!(m.premium_share_at_95, 0.5);
        assert!((m.cost_at_95 - 0.55).abs() < 1e-12);
        let c = evaluate(&scores, &weak, &strong, true, 0.1);
        assert!((c.cost_at_95 - 0.6).abs() < 1e-12);
    }

    /// Same data, worst order: scores rank p1, p2 first (no gain) then p0, p3.
    /// Correct counts: 1, 1, 1, 2, 3 → PGR 0, 0, 0, 0.5, 1.
    /// APGR = (0 + 0 + 0.25 + 0.75)/4 = 0.25; CPT50 = 3/4; CPT80 = 1; share95 = 1.
    /// Ties (p1 = p2 = 0.8) go to the lower index first.
    #[test]
    fn hand_computed_bad_order_and_ties() {
        let weak = [false, true, false, false];
        let strong = [true, true, false, true];
        let scores = [0.3, 0.8, 0.8, 0.2];
        let m = evaluate(&scores, &weak, &strong, false, 0.1);
        assert!((m.apgr - 0.25).abs() < 1e-12, "{m:?}");
        assert_eq!(m.cpt50, 0.75);
        assert_eq!(m.cpt80, 1.0);
        assert_eq!(m.premium_share_at_95, 1.0);
    }
}
