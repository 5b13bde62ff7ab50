//! Property tests: cost is non-negative, additive across attempts, and unpriced is never 0.

use proptest::prelude::*;
use rust_decimal::Decimal;
use switchyard_pricing::{cost, Cost, CostContext, Price};
use switchyard_types::Usage;

/// A rate per million with up to 6 decimal places, below $1000.
fn rate() -> impl Strategy<Value = Decimal> {
    (0u64..1_000_000_000).prop_map(|m| Decimal::new(m as i64, 6))
}

fn price() -> impl Strategy<Value = Price> {
    (
        rate(),
        rate(),
        proptest::option::of(rate()),
        proptest::option::of(rate()),
        proptest::option::of(rate()),
        proptest::option::of(rate()),
        proptest::option::of(rate()),
    )
        .prop_map(|(i, o, cr, cw5, cw1h, r, bi)| {
            let mut p = Price::new(i, o, "prop");
            p.cache_read = cr;
            p.cache_write_5m = cw5;
            p.cache_write_1h = cw1h;
            p.reasoning = r;
            p.batch_input = bi;
            p
        })
}

fn usage() -> impl Strategy<Value = Usage> {
    let n = || 0u64..10_000_000;
    (n(), n(), n(), n(), n(), n()).prop_map(|(input, cr, w5, w1, out, reas)| Usage {
        input,
        cache_read: cr,
        cache_write_5m: w5,
        cache_write_1h: w1,
        output: out,
        reasoning: reas.min(out),
        ..Usage::default()
    })
}

fn ctx() -> impl Strategy<Value = CostContext> {
    any::<bool>().prop_map(|batch| CostContext {
        batch,
        monthly_tokens_before: 0,
        at_unix: None,
    })
}

proptest! {
    #[test]
    fn cost_is_non_negative(p in price(), u in usage(), c in ctx()) {
        let b = cost(&p, &u, &c);
        prop_assert!(b.total >= Decimal::ZERO);
        prop_assert_eq!(b.total, b.input + b.cache_read + b.cache_write + b.output + b.reasoning);
    }

    #[test]
    fn cost_is_additive_over_attempts(p in price(), a in usage(), b in usage(), c in ctx()) {
        let mut sum = a;
        sum.add(&b);
        let split = cost(&p, &a, &c).total + cost(&p, &b, &c).total;
        prop_assert_eq!(split, cost(&p, &sum, &c).total);
        let costs = Cost::Priced(cost(&p, &a, &c).total) + Cost::Priced(cost(&p, &b, &c).total);
        prop_assert_eq!(costs, Cost::Priced(cost(&p, &sum, &c).total));
    }

    #[test]
    fn unpriced_is_never_zero(p in proptest::option::of(price()), u in usage(), c in ctx()) {
        let x = Cost::of(p.as_ref(), &u, &c);
        prop_assert_eq!(x.is_priced(), p.is_some());
        prop_assert_ne!(Cost::Unpriced, Cost::ZERO);
        prop_assert_eq!(x + Cost::Unpriced, Cost::Unpriced);
        prop_assert_eq!(Cost::Unpriced + x, Cost::Unpriced);
        if let Cost::Priced(d) = x {
            prop_assert!(!x.to_string().contains(['e', 'E']), "{}", d);
        }
    }
}
