//! Money stays exact past a billion requests (issue: ledger precision).
//!
//! The ledger stores each cost as whole nano-dollars plus a femto-dollar remainder
//! (`split_dollars`). Any cost made of a token count times a catalog rate with at most nine
//! decimals per million tokens has at most 15 decimals and is stored exactly. Anything finer
//! is rounded at the femto-dollar, at most 0.5·10⁻¹⁵ USD per request: 100 million requests
//! move a month's total by at most 5·10⁻⁸ USD, far under the $0.01 bound.
#![allow(clippy::unwrap_used)]

use rand::{rngs::SmallRng, Rng, SeedableRng};
use rust_decimal::Decimal;
use switchyard_store::{join_dollars, split_dollars};

/// Costs priced from real-shaped rates are stored without any rounding at all.
#[test]
fn catalog_shaped_costs_are_stored_exactly() {
    let mut rng = SmallRng::seed_from_u64(7);
    for _ in 0..200_000 {
        let tokens = Decimal::from(rng.gen_range(0u64..2_000_000));
        // A rate per million with up to 9 decimals (e.g. 0.000000001 … 75.123456789).
        let rate = Decimal::new(rng.gen_range(1i64..75_000_000_000), 9);
        let cost = tokens * rate / Decimal::from(1_000_000);
        let (n, r) = split_dollars(cost);
        assert_eq!(join_dollars(n, r), cost.normalize(), "{cost}");
    }
}

/// Arbitrary-precision costs: each stored value is within half a femto-dollar, so the
/// worst-case drift of a sum is n × 0.5e-15 — for 100M requests, 5e-8 USD.
#[test]
fn rounding_cannot_move_a_month_of_100m_requests_by_a_cent() {
    let mut rng = SmallRng::seed_from_u64(11);
    let half_femto = Decimal::new(5, 16);
    let n = 100_000u64;
    let (mut exact, mut stored) = (Decimal::ZERO, Decimal::ZERO);
    for _ in 0..n {
        // Up to 24 decimals: far finer than any price produces.
        let cost = Decimal::from_i128_with_scale(rng.gen_range(0i128..10i128.pow(20)), 24);
        let (nanos, rem) = split_dollars(cost);
        let back = join_dollars(nanos, rem);
        assert!((back - cost).abs() <= half_femto, "{cost} → {back}");
        exact += cost;
        stored += back;
    }
    let drift = (stored - exact).abs();
    assert!(drift <= half_femto * Decimal::from(n));
    // The bound, scaled to 100 million requests, is under a cent by five orders of magnitude.
    let bound_100m = half_femto * Decimal::from(100_000_000u64);
    assert!(bound_100m < Decimal::new(1, 2));
    assert_eq!(bound_100m, Decimal::new(5, 8));
}
