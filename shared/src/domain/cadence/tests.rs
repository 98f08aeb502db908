use super::*;

fn rule() -> ReplenishmentRule {
    ReplenishmentRule::default()
}

fn buy(day: u32, order: u64, units: u32) -> Purchase {
    let at = chrono::NaiveDate::from_ymd_opt(2026, 1, 1)
        .and_then(|d| d.checked_add_days(chrono::Days::new(day.into())))
        .map(|d| format!("{}T10:00:00Z", d.format("%Y-%m-%d")))
        .unwrap_or_default();
    Purchase { at, order, units }
}

fn record(days: &[f64]) -> CadenceRecord {
    CadenceRecord {
        product: "1".into(),
        samples: days.iter().map(|d| (d * 100.0).round() as u32).collect(),
        repeats: days.len() as u64,
        ..CadenceRecord::default()
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

#[test]
fn a_single_repeat_makes_one_sample_per_unit_kept() {
    let mut p = Vec::new();
    assert!(add_purchase(&mut p, buy(0, 1, 2), &rule()).is_empty());
    let s = add_purchase(&mut p, buy(60, 2, 1), &rule());
    assert_eq!(s.len(), 1);
    assert!(close(s[0], 30.0), "{s:?}");
}

#[test]
fn the_same_order_twice_updates_its_units_and_learns_nothing() {
    let mut p = Vec::new();
    add_purchase(&mut p, buy(0, 1, 1), &rule());
    add_purchase(&mut p, buy(30, 2, 1), &rule());
    assert!(add_purchase(&mut p, buy(30, 2, 3), &rule()).is_empty());
    assert_eq!(p.len(), 2);
    assert_eq!(p[1].units, 3);
}

#[test]
fn a_refunded_purchase_starts_no_interval_and_the_one_before_it_counts() {
    // Bought at day 0, bought again at day 20 but returned it all, bought at day 40.
    let p = vec![buy(0, 1, 1), buy(20, 2, 0), buy(40, 3, 1)];
    let s = samples_of(&p, &rule());
    assert_eq!(s.len(), 1);
    assert!(close(s[0], 40.0), "{s:?}");
}

#[test]
fn a_bulk_purchase_starts_no_interval() {
    let mut p = Vec::new();
    add_purchase(&mut p, buy(0, 1, 50), &rule());
    assert!(add_purchase(&mut p, buy(400, 2, 1), &rule()).is_empty());
    // Two orders on one day are a correction, not a unit used up.
    assert!(add_purchase(&mut p, buy(400, 3, 1), &rule()).is_empty());
}

#[test]
fn an_older_order_arriving_late_makes_the_samples_on_both_sides() {
    let mut p = Vec::new();
    add_purchase(&mut p, buy(0, 1, 1), &rule());
    add_purchase(&mut p, buy(60, 3, 1), &rule());
    let s = add_purchase(&mut p, buy(30, 2, 1), &rule());
    assert_eq!(s.len(), 2);
    assert!(s.iter().all(|d| close(*d, 30.0)), "{s:?}");
    assert_eq!(p.iter().map(|q| q.order).collect::<Vec<_>>(), vec![1, 2, 3]);
}

#[test]
fn only_the_newest_purchases_are_kept() {
    let mut p = Vec::new();
    for i in 0..20 {
        add_purchase(&mut p, buy(i * 30, u64::from(i), 1), &rule());
    }
    assert_eq!(p.len(), MAX_PURCHASES);
    assert_eq!(p[0].order, 12);
}

#[test]
fn the_trimmed_mean_drops_a_fifth_of_the_samples_at_each_end() {
    // 10 samples: the lowest two and highest two are dropped.
    let days = [1.0, 2.0, 30.0, 30.0, 30.0, 30.0, 30.0, 30.0, 500.0, 900.0];
    let m = trimmed_log_mean(&days).map(f64::exp);
    assert!(m.is_some_and(|m| close(m, 30.0)), "{m:?}");
    // Below five samples nothing is trimmed: the geometric mean.
    let m = trimmed_log_mean(&[10.0, 40.0]).map(f64::exp);
    assert!(m.is_some_and(|m| close(m, 20.0)), "{m:?}");
    assert_eq!(trimmed_log_mean(&[]), None);
}

#[test]
fn with_no_repeats_the_configured_days_are_used() {
    let e = product_estimate(Some(30), None, &rule());
    assert_eq!(
        e,
        Some(Estimate {
            days_per_unit: 30.0,
            samples: 0,
            source: Source::Configured
        })
    );
}

#[test]
fn the_prior_weighs_as_many_repeats_as_prior_weight() {
    // Five samples of 60 days against a prior of 15 (weight 5): the geometric mean, 30.
    let r = record(&[60.0; 5]);
    let e = product_estimate(Some(15), Some(&r), &rule());
    assert!(e.is_some_and(|e| close(e.days_per_unit, 30.0) && e.source == Source::Blended));
    // Many more samples move it toward the data.
    let r = record(&[60.0; 60]);
    let e = product_estimate(Some(15), Some(&r), &rule()).map(|e| e.days_per_unit);
    assert!(e.is_some_and(|d| d > 53.0 && d < 60.0), "{e:?}");
}

#[test]
fn with_no_prior_a_product_waits_for_min_repeats() {
    let rule = rule();
    assert_eq!(
        product_estimate(None, Some(&record(&[20.0; 4])), &rule),
        None
    );
    let e = product_estimate(None, Some(&record(&[20.0; 5])), &rule);
    assert!(e.is_some_and(|e| close(e.days_per_unit, 20.0) && e.source == Source::Learned));
    assert_eq!(product_estimate(None, None, &rule), None);
}

#[test]
fn learning_off_uses_the_configured_days_only() {
    let rule = ReplenishmentRule {
        learn: false,
        ..ReplenishmentRule::default()
    };
    let e = product_estimate(Some(30), Some(&record(&[60.0; 50])), &rule);
    assert!(e.is_some_and(|e| e.days_per_unit == 30.0 && e.source == Source::Configured));
    assert_eq!(
        product_estimate(None, Some(&record(&[60.0; 50])), &rule),
        None
    );
}

#[test]
fn outliers_against_the_estimate_are_refused_and_counted() {
    let mut r = CadenceRecord::default();
    // Against the prior of 30: 200 days (bought elsewhere) and 2 days (a gift) are out.
    assert!(learn(&mut r, &[28.0, 200.0, 2.0, 33.0], Some(30), &rule()));
    assert_eq!(r.samples, vec![2800, 3300]);
    assert_eq!((r.repeats, r.refused), (2, 2));
}

#[test]
fn only_the_newest_samples_are_kept() {
    let mut r = CadenceRecord::default();
    let days: Vec<f64> = (0..100).map(|i| 20.0 + f64::from(i) * 0.1).collect();
    learn(&mut r, &days, Some(25), &rule());
    assert_eq!(r.samples.len(), MAX_SAMPLES);
    assert_eq!(r.repeats, 100);
    assert_eq!(r.samples.last(), Some(&2990));
}

#[test]
fn a_customer_with_their_own_repeats_moves_toward_their_cadence() {
    let product = Estimate {
        days_per_unit: 30.0,
        samples: 40,
        source: Source::Blended,
    };
    // No repeats of their own: the product's figure.
    assert!(close(
        customer_days(&product, &[buy(0, 1, 1)], &rule()),
        30.0
    ));
    // Two repeats at 60 days against weight 2: the geometric mean of 30 and 60.
    let own = [buy(0, 1, 1), buy(60, 2, 1), buy(120, 3, 1)];
    let d = customer_days(&product, &own, &rule());
    assert!(close(d, (30.0f64 * 60.0).sqrt()), "{d}");
    // An interval of their own 10 times the product's is left out.
    let odd = [buy(0, 1, 1), buy(300, 2, 1)];
    assert!(close(customer_days(&product, &odd, &rule()), 30.0));
}
