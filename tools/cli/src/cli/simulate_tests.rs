use super::*;

fn small(customers: usize) -> Params {
    Params {
        customers,
        ..Params::default()
    }
}

#[test]
fn the_same_seed_gives_the_same_figures_and_the_strategies_see_the_same_store() {
    let p = small(300);
    let a = run(&p, Timing::Learned).expect("runs");
    let b = run(&p, Timing::Learned).expect("runs");
    assert_eq!(a, b);
    let fixed = run(&p, Timing::Fixed).expect("runs");
    assert_eq!(a.customers, fixed.customers);
    assert!(a.orders > 3 * 300, "{}", a.orders);
}

#[test]
fn learned_timing_beats_the_misconfigured_fixed_timing_and_learns_the_true_days() {
    let p = small(1_500);
    let learned = run(&p, Timing::Learned).expect("runs");
    let fixed = run(&p, Timing::Fixed).expect("runs");
    let oracle = run(&p, Timing::Oracle).expect("runs");
    let on_time = |f: &Figures| f.all.share(f.all.on_time).unwrap_or(0.0);
    assert!(
        on_time(&learned) > on_time(&fixed) + 0.1,
        "{} vs {}",
        on_time(&learned),
        on_time(&fixed)
    );
    assert!(on_time(&oracle) > 0.99, "{}", on_time(&oracle));
    for prod in &learned.products {
        let d = prod.learned.expect("every product has repeats");
        // The estimate of the median days per unit, within 10 % of the truth.
        assert!((d / prod.true_days - 1.0).abs() < 0.1, "{prod:?}");
    }
}

#[test]
fn a_planted_effect_is_found_within_its_interval_and_no_effect_is_covered_by_zero() {
    for (effect, seed) in [(0.6, 3), (0.0, 4)] {
        let p = Params {
            customers: 2_000,
            seed,
            effect,
            holdout_percent: 50,
            ..Params::default()
        };
        let fig = run(&p, Timing::Learned).expect("runs");
        let h = fig.holdout;
        let d = holdout::newcombe(h.sent_ordered, h.sent, h.held_out_ordered, h.held_out)
            .expect("both groups have reminders");
        assert!(
            d.low <= h.true_effect && h.true_effect <= d.high,
            "effect {effect}: true {} outside {:?}",
            h.true_effect,
            d
        );
        if effect == 0.0 {
            assert_eq!(h.true_effect, 0.0);
            assert!(d.low <= 0.0 && 0.0 <= d.high, "{d:?}");
        } else {
            assert!(d.low > 0.0, "a 60 % effect on churners is found: {d:?}");
        }
    }
}
