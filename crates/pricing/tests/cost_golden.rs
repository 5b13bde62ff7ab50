//! Golden cost cases, one per provider usage shape.

use rust_decimal_macros::dec;
use switchyard_pricing::{
    cost, estimate, resolve, Catalog, Commitment, Cost, CostContext, LongContextTier, Price,
    PriceOverride, TierRates,
};
use switchyard_types::{OpenAiDialect, PromptTokensDetails, ServiceTier, Usage, WireUsage};

const STANDARD: ServiceTier = ServiceTier::Standard;

fn mini() -> Price {
    let mut p = Price::new(dec!(0.15), dec!(0.60), "test");
    p.cache_read = Some(dec!(0.075));
    p.batch_input = Some(dec!(0.075));
    p.batch_output = Some(dec!(0.30));
    p
}

const STD: CostContext = CostContext {
    batch: false,
    monthly_tokens_before: 0,
    at_unix: None,
};

#[test]
fn openai_cached_prompt() {
    // prompt_tokens 1000 includes 800 cached.
    let wire = WireUsage {
        prompt_tokens: 1000,
        completion_tokens: 50,
        total_tokens: 1050,
        prompt_tokens_details: Some(PromptTokensDetails {
            cached_tokens: Some(800),
            ..Default::default()
        }),
        ..Default::default()
    };
    let b = cost(
        &mini(),
        &Usage::from_openai(&wire, OpenAiDialect::Standard),
        &STD,
    );
    assert_eq!(b.input, dec!(0.00003));
    assert_eq!(b.cache_read, dec!(0.00006));
    assert_eq!(b.output, dec!(0.00003));
    assert_eq!(b.total, dec!(0.00012));
    assert_eq!(Cost::Priced(b.total).to_string(), "0.00012");
    assert!(b.fallbacks.is_empty());
}

#[test]
fn anthropic_cache_write_and_read() {
    let mut p = Price::new(dec!(0.8), dec!(4), "test");
    p.cache_read = Some(dec!(0.08));
    p.cache_write_5m = Some(dec!(1));
    p.cache_write_1h = Some(dec!(1.6));
    // Anthropic's input_tokens exclude cache reads and writes.
    let u = Usage {
        input: 100,
        cache_read: 2000,
        cache_write_5m: 1000,
        cache_write_1h: 500,
        output: 200,
        reasoning: 0,
        ..Usage::default()
    };
    let b = cost(&p, &u, &STD);
    assert_eq!(b.input, dec!(0.00008));
    assert_eq!(b.cache_read, dec!(0.00016));
    assert_eq!(b.cache_write, dec!(0.0018));
    assert_eq!(b.output, dec!(0.0008));
    assert_eq!(b.total, dec!(0.00284));
}

#[test]
fn cache_write_1h_falls_back_to_5m_then_input() {
    let mut p = Price::new(dec!(1), dec!(5), "test");
    p.cache_write_5m = Some(dec!(1.25));
    let u = Usage {
        cache_write_1h: 1_000_000,
        ..Usage::default()
    };
    let b = cost(&p, &u, &STD);
    assert_eq!(b.total, dec!(1.25));
    assert_eq!(
        b.fallbacks,
        vec!["cache_write_1h priced at the 5-minute write rate"]
    );
    let b = cost(&Price::new(dec!(1), dec!(5), "t"), &u, &STD);
    assert_eq!(b.total, dec!(1));
    assert_eq!(b.fallbacks, vec!["cache_write_1h priced at the input rate"]);
}

#[test]
fn gemini_cached_content() {
    // promptTokenCount 1000 includes cachedContentTokenCount 600.
    let mut p = Price::new(dec!(0.1), dec!(0.4), "test");
    p.cache_read = Some(dec!(0.025));
    let u = Usage {
        input: 400,
        cache_read: 600,
        output: 100,
        ..Usage::default()
    };
    assert_eq!(cost(&p, &u, &STD).total, dec!(0.000095));
}

#[test]
fn cache_read_without_rate_is_priced_at_input_and_recorded() {
    let u = Usage {
        cache_read: 1000,
        ..Usage::default()
    };
    let b = cost(&Price::new(dec!(2), dec!(8), "t"), &u, &STD);
    assert_eq!(b.total, dec!(0.002));
    assert_eq!(b.fallbacks, vec!["cache_read priced at the input rate"]);
}

#[test]
fn batch_rates() {
    let u = Usage {
        input: 1000,
        output: 1000,
        ..Usage::default()
    };
    let batch = CostContext { batch: true, ..STD };
    let b = cost(&mini(), &u, &batch);
    assert!(b.batch_applied);
    assert_eq!(b.total, dec!(0.000375));
    // No batch rates in the catalog: standard rates, and we say so.
    let b = cost(&Price::new(dec!(0.15), dec!(0.6), "t"), &u, &batch);
    assert!(!b.batch_applied);
    assert_eq!(b.total, dec!(0.00075));
    assert_eq!(b.fallbacks, vec!["no batch rates: standard rates used"]);
}

#[test]
fn long_context_tier_applies_to_whole_request() {
    let mut p = Price::new(dec!(1.25), dec!(10), "test");
    p.long_context = vec![LongContextTier {
        above_input_tokens: 200_000,
        input: dec!(2.5),
        output: dec!(15),
        cache_read: Some(dec!(0.25)),
        cache_write_5m: None,
        cache_write_1h: None,
    }];
    let at = Usage {
        input: 200_000,
        output: 1000,
        ..Usage::default()
    };
    let b = cost(&p, &at, &STD);
    assert_eq!((b.total, b.tier_applied), (dec!(0.26), None));
    let above = Usage {
        input: 150_000,
        cache_read: 100_000,
        output: 1000,
        ..Usage::default()
    };
    let b = cost(&p, &above, &STD);
    assert_eq!(b.tier_applied, Some("long_context"));
    // 150k × 2.5 + 100k × 0.25 + 1k × 15, per million.
    assert_eq!(b.total, dec!(0.375) + dec!(0.025) + dec!(0.015));
}

#[test]
fn reasoning_rate() {
    let mut p = Price::new(dec!(1), dec!(10), "test");
    let u = Usage {
        output: 1000,
        reasoning: 600,
        ..Usage::default()
    };
    assert_eq!(cost(&p, &u, &STD).total, dec!(0.01));
    p.reasoning = Some(dec!(20));
    let b = cost(&p, &u, &STD);
    assert_eq!((b.output, b.reasoning), (dec!(0.004), dec!(0.012)));
    assert_eq!(b.total, dec!(0.016));
}

#[test]
fn volume_tier_after_monthly_threshold() {
    let o: PriceOverride = toml::from_str(
        r#"input = 0.15
           output = 0.60
           volume_tiers = [{ above_tokens_per_month = 1_000_000_000, input = 0.10, output = 0.40 }]"#,
    )
    .unwrap();
    let p = o.to_price();
    let u = Usage {
        input: 1_000_000,
        output: 1_000_000,
        ..Usage::default()
    };
    let before = CostContext {
        monthly_tokens_before: 999_999_999,
        ..STD
    };
    let after = CostContext {
        monthly_tokens_before: 1_000_000_000,
        ..STD
    };
    assert_eq!(cost(&p, &u, &before).total, dec!(0.75));
    let b = cost(&p, &u, &after);
    assert_eq!((b.total, b.tier_applied), (dec!(0.5), Some("volume")));
}

#[test]
fn uplift_scales_every_rate() {
    let catalog = Catalog::embedded().unwrap();
    let r = resolve(&catalog, "openai", "gpt-4o-mini", None, Some(dec!(10))).unwrap();
    assert!(r.from_catalog);
    assert_eq!((r.price.input, r.price.output), (dec!(0.165), dec!(0.66)));
    assert_eq!(r.price.cache_read, Some(dec!(0.0825)));
    assert!(
        r.price.source.ends_with("(+10% uplift)"),
        "{}",
        r.price.source
    );
}

#[test]
fn estimate_for_routing() {
    assert_eq!(estimate(&mini(), 1000, 300, 0, STANDARD), dec!(0.00033));
    assert_eq!(
        estimate(&mini(), 1000, 300, 800, STANDARD),
        dec!(0.00003) + dec!(0.00006) + dec!(0.00018)
    );
    assert_eq!(estimate(&mini(), 100, 0, 800, STANDARD), dec!(0.0000075));
}

/// gpt-5-mini's catalog rates: flex halves them, priority charges 1.8×.
fn tiered() -> Price {
    let mut p = Price::new(dec!(0.25), dec!(2), "test");
    p.cache_read = Some(dec!(0.025));
    p.flex = Some(TierRates {
        input: dec!(0.125),
        output: dec!(1),
        cache_read: Some(dec!(0.0125)),
        input_audio: None,
    });
    p.priority = Some(TierRates {
        input: dec!(0.45),
        output: dec!(3.6),
        cache_read: None,
        input_audio: None,
    });
    p
}

#[test]
fn the_served_tier_decides_the_rates() {
    let usage = |tier| Usage {
        tier,
        input: 1_000_000,
        cache_read: 1_000_000,
        output: 1_000_000,
        ..Usage::default()
    };
    let standard = cost(&tiered(), &usage(ServiceTier::Standard), &STD);
    assert_eq!(standard.total, dec!(2.275));
    assert_eq!(standard.tier_applied, None);
    let flex = cost(&tiered(), &usage(ServiceTier::Flex), &STD);
    assert_eq!(flex.total, dec!(1.1375));
    assert_eq!(flex.tier_applied, Some("flex"));
    assert!(flex.fallbacks.is_empty(), "{:?}", flex.fallbacks);
    // Priority states no cache-read rate: the standard one is used, and that is recorded.
    let priority = cost(&tiered(), &usage(ServiceTier::Priority), &STD);
    assert_eq!(priority.total, dec!(0.45) + dec!(0.025) + dec!(3.6));
    assert_eq!(priority.tier_applied, Some("priority"));
    assert_eq!(priority.fallbacks.len(), 1);
    // A price without the tier's rates bills the standard rates, never a guessed discount.
    let plain = cost(&mini(), &usage(ServiceTier::Flex), &STD);
    assert_eq!(plain.total, cost(&mini(), &usage(STANDARD), &STD).total);
    assert_eq!(
        plain.fallbacks,
        vec!["no rates for the served service tier: standard rates used"]
    );
    // Routing estimates at the tier asked for.
    assert_eq!(
        estimate(&tiered(), 1000, 1000, 0, ServiceTier::Flex),
        dec!(0.001125)
    );
}

#[test]
fn tokens_inside_a_commitment_cost_nothing_more() {
    let mut p = mini();
    p.commitment = Some(Commitment {
        monthly_fee: dec!(500),
        included_tokens: 1_000,
    });
    let usage = Usage {
        input: 800,
        cache_read: 100,
        output: 300,
        ..Usage::default()
    };
    let at = |before| CostContext {
        monthly_tokens_before: before,
        ..STD
    };
    let inside = cost(&p, &usage, &at(0));
    assert_eq!(inside.total, dec!(0));
    assert_eq!(inside.tier_applied, Some("commitment"));
    // The request that crosses is priced at the rate in force when it starts.
    assert_eq!(cost(&p, &usage, &at(999)).total, dec!(0));
    // Used up: the overage (base) rates.
    let after = cost(&p, &usage, &at(1_000));
    assert_eq!(after.total, cost(&mini(), &usage, &STD).total);
    assert_eq!(after.tier_applied, None);
}

#[test]
fn unpriced_is_contagious_and_not_zero() {
    assert_eq!(Cost::Unpriced + Cost::ZERO, Cost::Unpriced);
    assert_ne!(Cost::Unpriced, Cost::ZERO);
    assert_eq!(Cost::Unpriced.to_string(), "unpriced");
    let sum: Cost = [Cost::Priced(dec!(0.1)), Cost::Priced(dec!(0.2))]
        .into_iter()
        .sum();
    assert_eq!(sum.to_string(), "0.3");
    assert_eq!(serde_json::to_string(&Cost::Unpriced).unwrap(), "null");
    assert_eq!(
        serde_json::to_string(&Cost::Priced(dec!(0.000123000))).unwrap(),
        "\"0.000123\""
    );
}

#[test]
fn the_highest_long_context_tier_passed_applies_and_untiered_rates_stay_base() {
    let mut p = Price::new(dec!(0.3), dec!(1.5), "test");
    p.cache_read = Some(dec!(0.06));
    let tier = |above, input, output| LongContextTier {
        above_input_tokens: above,
        input,
        output,
        cache_read: None,
        cache_write_5m: None,
        cache_write_1h: None,
    };
    p.long_context = vec![
        tier(32_000, dec!(0.5), dec!(2.5)),
        tier(128_000, dec!(0.8), dec!(4)),
    ];
    let usage = |input, cache_read| Usage {
        input,
        cache_read,
        output: 1_000,
        ..Usage::default()
    };
    // 150k input: the 128k tier; cached tokens at the (untiered) base cache rate.
    let b = cost(&p, &usage(100_000, 50_000), &STD);
    assert_eq!(b.total, dec!(0.08) + dec!(0.003) + dec!(0.004));
    // 40k: the 32k tier.
    let b = cost(&p, &usage(40_000, 0), &STD);
    assert_eq!(b.total, dec!(0.02) + dec!(0.0025));
    // Exactly at the threshold: not above it, base rates.
    let b = cost(&p, &usage(32_000, 0), &STD);
    assert_eq!(
        (b.total, b.tier_applied),
        (dec!(0.0096) + dec!(0.0015), None)
    );
}

#[test]
fn time_of_day_windows_price_at_the_request_time() {
    use chrono::NaiveTime;
    let mut peak = Price::new(dec!(0.27), dec!(1.1), "peak");
    peak.cache_read = Some(dec!(0.07));
    let mut p = Price::new(dec!(0.135), dec!(0.55), "off-peak");
    p.windows = vec![switchyard_pricing::PriceWindow {
        start_utc: NaiveTime::from_hms_opt(0, 30, 0).unwrap(),
        end_utc: NaiveTime::from_hms_opt(16, 30, 0).unwrap(),
        price: Box::new(peak),
    }];
    let u = Usage {
        input: 1_000_000,
        output: 1_000_000,
        ..Usage::default()
    };
    let day = 1_764_460_800; // 2025-11-30T00:00:00Z
    let at = |secs: u64| CostContext {
        at_unix: Some(day + secs),
        ..STD
    };
    assert_eq!(cost(&p, &u, &at(0)).total, dec!(0.685));
    assert_eq!(cost(&p, &u, &at(30 * 60)).total, dec!(1.37));
    assert_eq!(cost(&p, &u, &at(16 * 3600 + 29 * 60)).total, dec!(1.37));
    assert_eq!(cost(&p, &u, &at(16 * 3600 + 30 * 60)).total, dec!(0.685));
    // No time given: the base rates.
    assert_eq!(cost(&p, &u, &STD).total, dec!(0.685));
}

#[test]
fn modalities_are_priced_at_their_own_rates_or_their_buckets() {
    let mut p = Price::new(dec!(0.1), dec!(0.4), "test");
    p.cache_read = Some(dec!(0.025));
    p.input_audio = Some(dec!(0.7));
    p.cache_read_audio = Some(dec!(0.175));
    p.output_audio = Some(dec!(8));
    let u = Usage {
        input: 3_000_000,
        input_audio: 1_000_000,
        input_image: 1_000_000,
        cache_read: 2_000_000,
        cache_read_audio: 1_000_000,
        output: 2_000_000,
        output_audio: 1_000_000,
        reasoning: 500_000,
        ..Usage::default()
    };
    let b = cost(&p, &u, &STD);
    // input: 1M text × 0.1 + 1M audio × 0.7 + 1M image × 0.1 (no image rate: input rate)
    assert_eq!(b.input, dec!(0.9));
    // cache: 1M text × 0.025 + 1M audio × 0.175
    assert_eq!(b.cache_read, dec!(0.2));
    // output: 0.5M text × 0.4 + 1M audio × 8; reasoning 0.5M × 0.4
    assert_eq!((b.output, b.reasoning), (dec!(8.2), dec!(0.2)));
    // Cached audio without any cache rate is priced as uncached audio.
    p.cache_read = None;
    p.cache_read_audio = None;
    assert_eq!(cost(&p, &u, &STD).cache_read, dec!(0.1) + dec!(0.7));
}
