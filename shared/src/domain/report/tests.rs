use super::*;
use crate::domain::ingest::{Item, Loaded, Write};
use crate::model::{keys, FeedbackState, OrderLine, RefundLine, RefundRecord};

const SHOP: &str = "acme.myshopify.com";
const NOW: &str = "2026-11-20T10:00:00.000Z";

fn followup(playbook: Playbook, order: u64) -> FollowUpRecord {
    FollowUpRecord::pending(SHOP, "42", playbook, order, None, NOW, NOW, 4)
}

fn order(id: u64, total: &str) -> OrderRecord {
    OrderRecord {
        order_id: id,
        name: Some(format!("#{id}")),
        currency: Some("EUR".into()),
        total_price: Some(total.parse().unwrap()),
        lines: vec![OrderLine {
            line_item_id: 7,
            product_id: Some(99),
            variant_id: None,
            sku: None,
            title: "Tea".into(),
            variant_title: None,
            quantity: 3,
            price: Some("12.50".parse().unwrap()),
        }],
        ..OrderRecord::default()
    }
}

fn counts(tallies: &[Tally]) -> Vec<(String, String, String)> {
    merge(tallies.to_vec())
        .into_iter()
        .flat_map(|t| {
            let scope = t.scope.key();
            t.adds
                .into_iter()
                .map(move |(c, n)| (scope.clone(), c.name(), n))
        })
        .collect()
}

fn w(f: &FollowUpRecord, expect: Expect) -> Write {
    Write {
        key: f.key(),
        item: Item::FollowUp(f.clone()),
        expect,
    }
}

#[test]
fn cancel_reasons_map_to_the_report_lines() {
    assert_eq!(classify("no marketing consent"), NotSentReason::NoConsent);
    assert_eq!(
        classify("address suppressed (bounced)"),
        NotSentReason::Suppressed
    );
    assert_eq!(classify("reordered"), NotSentReason::Reorder);
    assert_eq!(classify("order cancelled"), NotSentReason::OrderCancelled);
    assert_eq!(classify("order refunded"), NotSentReason::Refunded);
    assert_eq!(
        classify("marketing paused: complaint rate 0.2 % over 7 days"),
        NotSentReason::Paused
    );
    assert_eq!(classify("rated again higher"), NotSentReason::Answered);
    assert_eq!(classify("no email address"), NotSentReason::Other);
}

#[test]
fn failure_reasons_lose_addresses_and_length() {
    let r =
        failure_reason("MessageRejected: Email address is not verified: bob@example.com failed");
    assert!(!r.contains('@'), "{r}");
    assert!(r.contains("[address]"));
    assert!(failure_reason(&"x".repeat(300)).chars().count() <= 81);
}

#[test]
fn a_send_after_the_cap_counts_as_sent_and_sent_after_cap() {
    let mut held = followup(Playbook::ThankYou, 1);
    held.reason = Some(CAP_REASON.into());
    let mut sent = held.clone();
    sent.status = FollowUpStatus::Sent;
    sent.reason = None;
    let t = of_outcome(&held, &sent, NOW).unwrap();
    assert_eq!(
        counts(&[t]),
        vec![
            ("playbook#thank_you".into(), "sent".into(), "1".into()),
            (
                "playbook#thank_you".into(),
                "sent_after_cap".into(),
                "1".into()
            ),
        ]
    );
    // Held once is counted once, however often the cap holds it again.
    let pending = followup(Playbook::ThankYou, 1);
    let mut again = pending.clone();
    again.reason = Some(CAP_REASON.into());
    assert!(of_outcome(&pending, &again, NOW).is_some());
    assert!(of_outcome(&again, &again, NOW).is_none());
}

#[test]
fn planner_writes_count_planned_cancelled_credited_and_redeemed() {
    let stored = followup(Playbook::Replenishment, 1);
    let mut cancelled = stored.clone();
    cancelled.v += 1;
    cancelled.status = FollowUpStatus::Cancelled;
    cancelled.reason = Some("reordered".into());
    cancelled.tracking.attributed_order_id = Some(2);
    let new = followup(Playbook::ThankYou, 2);
    let loaded = Loaded {
        followups: vec![stored],
        ..Loaded::default()
    };
    let o = order(2, "64.87");
    let writes = vec![
        Write {
            key: keys::order(SHOP, 2),
            item: Item::Order(o),
            expect: Expect::Absent,
        },
        w(&cancelled, Expect::Version(1)),
        w(&new, Expect::Absent),
    ];
    let got = counts(&of_writes(NOW, &loaded, &writes));
    assert!(got.contains(&("playbook#thank_you".into(), "planned".into(), "1".into())));
    assert!(got.contains(&(
        "playbook#replenishment".into(),
        "not_sent_reorder".into(),
        "1".into()
    )));
    assert!(got.contains(&(
        "playbook#replenishment".into(),
        "ordered".into(),
        "1".into()
    )));
    assert!(got.contains(&(
        "playbook#replenishment".into(),
        "revenue_EUR".into(),
        "64.87".into()
    )));
    // The same credit written again (a replanned follow-up) adds nothing.
    let loaded = Loaded {
        followups: vec![cancelled.clone()],
        ..Loaded::default()
    };
    let writes = vec![w(&cancelled, Expect::Version(2))];
    assert!(of_writes(NOW, &loaded, &writes).is_empty());
}

#[test]
fn a_refund_of_a_credited_order_counts_its_value_on_the_playbook() {
    let mut credited = followup(Playbook::Loyalty, 1);
    credited.status = FollowUpStatus::Sent;
    credited.tracking.attributed_order_id = Some(5);
    let loaded = Loaded {
        order: Some(order(5, "37.50")),
        followups: vec![credited],
        ..Loaded::default()
    };
    let refund = RefundRecord {
        refund_id: 1,
        order_id: 5,
        created_at: None,
        restock: false,
        lines: vec![RefundLine {
            line_item_id: 7,
            quantity: 2,
            product_id: Some(99),
            variant_id: None,
        }],
        expires_at: None,
    };
    let writes = vec![Write {
        key: keys::refund(SHOP, 5, 1),
        item: Item::Refund(refund),
        expect: Expect::Absent,
    }];
    assert_eq!(
        counts(&of_writes(NOW, &loaded, &writes)),
        vec![(
            "playbook#loyalty".into(),
            "refunded_EUR".into(),
            "25.00".into()
        )]
    );
}

fn rated(score: u8, comment: Option<&str>) -> FeedbackRecord {
    FeedbackRecord {
        shop: SHOP.into(),
        customer_key: "42".into(),
        followup: "satisfaction#5#0".into(),
        order_id: 5,
        score,
        comment: comment.map(str::to_owned),
        updated_at: NOW.into(),
        state: FeedbackState::Rated,
        ..FeedbackRecord::default()
    }
}

#[test]
fn a_changed_score_moves_the_count_and_a_same_score_adds_nothing() {
    let products = [(99, "Tea".to_owned())];
    let first = rated(2, None);
    let (t, score, comment) = of_settle(&first, Playbook::Satisfaction, &products, NOW);
    assert_eq!((score, comment), (Some(2), false));
    let got = counts(&t);
    assert!(got.contains(&("playbook#satisfaction".into(), "score_2".into(), "1".into())));
    assert!(got.contains(&("product#99".into(), "score_2".into(), "1".into())));

    let mut changed = rated(5, Some("All good now"));
    changed.counted_score = Some(2);
    let (t, score, comment) = of_settle(&changed, Playbook::Satisfaction, &products, NOW);
    assert_eq!((score, comment), (Some(5), true));
    let got = counts(&t);
    assert!(got.contains(&(
        "playbook#satisfaction".into(),
        "score_2".into(),
        "-1".into()
    )));
    assert!(got.contains(&("playbook#satisfaction".into(), "score_5".into(), "1".into())));
    assert!(got.contains(&(
        "playbook#satisfaction".into(),
        "comments".into(),
        "1".into()
    )));
    // Comments are counted per playbook only.
    assert!(!got
        .iter()
        .any(|(s, c, _)| s == "product#99" && c == "comments"));

    let mut same = changed.clone();
    same.counted_score = Some(5);
    same.counted_comment = true;
    assert!(of_settle(&same, Playbook::Satisfaction, &products, NOW)
        .0
        .is_empty());
    // A scanner's burst counts nothing.
    let mut scanner = rated(1, None);
    scanner.state = FeedbackState::Scanner;
    assert!(of_settle(&scanner, Playbook::Satisfaction, &products, NOW)
        .0
        .is_empty());
}

fn row(day: &str, scope: &str, counts: &[(&str, &str)]) -> StatsRow {
    StatsRow {
        day: day.into(),
        scope: scope.into(),
        counts: counts
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..StatsRow::default()
    }
}

#[test]
fn the_report_sums_the_period_and_compares_with_the_one_before() {
    let (period, previous) = periods(NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(), 30);
    assert_eq!(
        (period.from.as_str(), period.to.as_str()),
        ("2026-11-01", "2026-11-30")
    );
    assert_eq!(
        (previous.from.as_str(), previous.to.as_str()),
        ("2026-10-02", "2026-10-31")
    );
    let rows = vec![
        row(
            "2026-11-02",
            "playbook#thank_you",
            &[
                ("planned", "10"),
                ("sent", "8"),
                ("delivered", "8"),
                ("opened", "4"),
                ("clicked", "2"),
                ("not_sent_no_consent", "2"),
            ],
        ),
        row(
            "2026-11-03",
            "playbook#satisfaction",
            &[
                ("sent", "4"),
                ("score_5", "2"),
                ("score_4", "1"),
                ("score_1", "1"),
                ("comments", "1"),
                ("bounced", "1"),
            ],
        ),
        row(
            "2026-11-04",
            "playbook#loyalty",
            &[
                ("sent", "2"),
                ("ordered", "1"),
                ("revenue_EUR", "100.00"),
                ("refunded_EUR", "25.00"),
                ("codes_issued", "2"),
                ("codes_redeemed", "1"),
            ],
        ),
        row(
            "2026-11-05",
            "shop",
            &[("unsubscribed", "1"), ("suppressed", "2")],
        ),
        row("2026-10-10", "playbook#thank_you", &[("sent", "5")]),
        // Outside both periods: ignored.
        row("2026-09-01", "playbook#thank_you", &[("sent", "500")]),
    ];
    let comment = rated(1, Some("Broken lid"));
    let report = build(&Inputs {
        shop: SHOP,
        period,
        previous,
        generated_at: NOW.into(),
        attribution_window_days: 5,
        rows: &rows,
        comments: std::slice::from_ref(&comment),
        comments_capped: false,
        max_comments: 500,
        holdout_percent: &|_| 0,
    });
    assert_eq!(report.total.sent, 14);
    assert_eq!(report.total_previous.sent, 5);
    assert_eq!(report.total.planned, 10);
    assert_eq!(report.total.not_sent["no_consent"], 2);
    assert_eq!(report.total.unsubscribed, 1);
    assert_eq!(report.total.rates.opened, Some(4.0 / 14.0));
    let loyalty = report
        .playbooks
        .iter()
        .find(|p| p.playbook == "loyalty")
        .unwrap();
    assert_eq!(
        loyalty.current.money,
        vec![Money {
            currency: "EUR".into(),
            revenue: "100.00".into(),
            refunded: "25.00".into(),
            net: "75.00".into(),
            per_recipient: Some("37.50".into()),
        }]
    );
    assert_eq!(loyalty.current.rates.redemption, Some(0.5));
    assert_eq!(report.voice.scores, [1, 0, 0, 1, 2]);
    assert_eq!(report.voice.responses, 4);
    assert_eq!(report.voice.csat, Some(0.75));
    assert_eq!(report.voice.response_rate, Some(1.0));
    assert_eq!(report.deliverability.bounced, 1);
    assert_eq!(report.deliverability.suppressions_added, 2);
    // 1 bounce in 14 sends is over the 5 % line.
    assert_eq!(report.deliverability.warnings.len(), 1);
    assert_eq!(report.deliverability.days.len(), 30);
    assert_eq!(report.comments.len(), 1);
    assert_eq!(
        report.comments[0].admin_url,
        "https://acme.myshopify.com/admin/orders/5"
    );
    assert!(report.voice.weeks.iter().any(|w| w.responses == 4));
}

#[test]
fn comments_list_low_scores_first_then_newest() {
    let mut a = rated(4, Some("fine"));
    a.updated_at = "2026-11-10T00:00:00.000Z".into();
    let mut b = rated(1, Some("bad"));
    b.updated_at = "2026-11-01T00:00:00.000Z".into();
    let mut c = rated(1, Some("worse"));
    c.updated_at = "2026-11-05T00:00:00.000Z".into();
    let rows = comment_rows(SHOP, &[a, b, c]);
    let order: Vec<&str> = rows.iter().map(|r| r.comment.as_str()).collect();
    assert_eq!(order, vec!["worse", "bad", "fine"]);
}

#[test]
fn an_empty_period_has_no_rates_and_no_warnings() {
    let (period, previous) = periods(NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(), 7);
    let report = build(&Inputs {
        shop: SHOP,
        period,
        previous,
        generated_at: NOW.into(),
        attribution_window_days: 5,
        rows: &[],
        comments: &[],
        comments_capped: false,
        max_comments: 500,
        holdout_percent: &|_| 0,
    });
    assert_eq!(report.total.rates, Rates::default());
    assert!(report.deliverability.warnings.is_empty());
    assert!(report.playbooks.is_empty());
    assert_eq!(report.voice.csat, None);
}

#[test]
fn a_return_reason_counts_on_returns_and_each_returned_product_and_a_change_moves_it() {
    let products = [(99, "Tea".to_owned()), (98, "Mug".to_owned())];
    let mut reason = rated(ReturnReason::Defective.number(), None);
    reason.followup = "returns#5#0".into();
    let (t, score, _) = of_settle(&reason, Playbook::Returns, &products, NOW);
    assert_eq!(score, Some(ReturnReason::Defective.number()));
    let got = counts(&t);
    for scope in ["playbook#returns", "product#99", "product#98"] {
        assert!(
            got.contains(&(scope.into(), "reason_defective".into(), "1".into())),
            "{scope}: {got:?}"
        );
    }
    // Product counters land on the Monday of the week (2026-11-20 is a Friday).
    let product = merge(t)
        .into_iter()
        .find(|t| t.scope == Scope::Product(99))
        .unwrap();
    assert_eq!(product.day, "2026-11-16");

    let mut changed = reason.clone();
    changed.score = ReturnReason::SizeTooSmall.number();
    changed.counted_score = Some(ReturnReason::Defective.number());
    let got = counts(&of_settle(&changed, Playbook::Returns, &products, NOW).0);
    assert!(got.contains(&(
        "playbook#returns".into(),
        "reason_defective".into(),
        "-1".into()
    )));
    assert!(got.contains(&(
        "playbook#returns".into(),
        "reason_size_too_small".into(),
        "1".into()
    )));
    // Built into the report: by reason and by product.
    let rows: Vec<StatsRow> = merge(of_settle(&reason, Playbook::Returns, &products, NOW).0)
        .into_iter()
        .map(|t| StatsRow {
            day: t.day.clone(),
            scope: t.scope.key(),
            counts: t.adds.iter().map(|(c, n)| (c.name(), n.clone())).collect(),
            title: t.title.clone(),
            ..StatsRow::default()
        })
        .collect();
    let (period, previous) = periods(NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(), 14);
    let report = build(&Inputs {
        shop: SHOP,
        period,
        previous,
        generated_at: NOW.into(),
        attribution_window_days: 5,
        rows: &rows,
        comments: &[],
        comments_capped: false,
        max_comments: 500,
        holdout_percent: &|_| 0,
    });
    assert_eq!(report.products_since, "2026-11-16");
    assert_eq!(report.return_reasons.len(), 1);
    assert_eq!(report.return_reasons[0].count, 1);
    let mug = report.products.iter().find(|p| p.product_id == 98).unwrap();
    assert_eq!((mug.returns, mug.title.as_deref()), (1, Some("Mug")));
}

#[test]
fn a_held_out_outcome_counts_held_out_and_its_credit_only_the_comparison() {
    let before = followup(Playbook::Replenishment, 1);
    let mut held = before.clone();
    held.v += 1;
    held.status = FollowUpStatus::HeldOut;
    held.held_out_at = Some(NOW.into());
    held.unindex();
    let t = of_outcome(&before, &held, NOW).unwrap();
    assert_eq!(
        counts(&[t]),
        vec![(
            "playbook#replenishment".into(),
            "held_out".into(),
            "1".into()
        )]
    );
    // An order credited to it (by time): held_out_ordered, no `ordered`, no revenue.
    let mut credited = held.clone();
    credited.v += 1;
    credited.tracking.attributed_order_id = Some(2);
    credited.tracking.attributed_at = Some(NOW.into());
    credited.tracking.attributed_by = Some("time".into());
    let loaded = Loaded {
        followups: vec![held.clone()],
        ..Loaded::default()
    };
    let o = order(2, "50.00");
    let writes = vec![
        w(&credited, Expect::Version(held.v)),
        Write {
            key: keys::order(SHOP, 2),
            item: Item::Order(o),
            expect: Expect::Any,
        },
    ];
    assert_eq!(
        counts(&of_writes(NOW, &loaded, &writes)),
        vec![(
            "playbook#replenishment".into(),
            "held_out_ordered".into(),
            "1".into()
        )]
    );
}

fn holdout_report(rows: &[StatsRow], percent: u32) -> Report {
    let (period, previous) = periods(NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(), 30);
    build(&Inputs {
        shop: SHOP,
        period,
        previous,
        generated_at: NOW.into(),
        attribution_window_days: 5,
        rows,
        comments: &[],
        comments_capped: false,
        max_comments: 500,
        holdout_percent: &move |p| {
            if p == Playbook::Replenishment {
                percent
            } else {
                0
            }
        },
    })
}

fn holdout_of(r: &Report, playbook: &str) -> Option<Holdout> {
    r.playbooks
        .iter()
        .find(|p| p.playbook == playbook)
        .and_then(|p| p.holdout.clone())
}

#[test]
fn the_holdout_figure_compares_sent_with_held_out_with_newcombes_interval() {
    let rows = vec![
        row(
            "2026-11-10",
            "playbook#replenishment",
            &[("sent", "70"), ("ordered", "56"), ("held_out", "80")],
        ),
        row(
            "2026-11-12",
            "playbook#replenishment",
            &[("held_out_ordered", "48")],
        ),
        row("2026-11-12", "playbook#thank_you", &[("sent", "9")]),
    ];
    let r = holdout_report(&rows, 10);
    let h = holdout_of(&r, "replenishment").unwrap();
    assert_eq!(
        (
            h.percent,
            h.sent,
            h.sent_ordered,
            h.held_out,
            h.held_out_ordered
        ),
        (10, 70, 56, 80, 48)
    );
    assert_eq!((h.sent_rate, h.held_out_rate), (Some(0.8), Some(0.6)));
    let close = |a: Option<f64>, b: f64| a.is_some_and(|a| (a - b).abs() < 0.00005);
    assert!(close(h.difference, 0.2), "{h:?}");
    assert!(
        close(h.difference_low, 0.0524) && close(h.difference_high, 0.3339),
        "{h:?}"
    );
    assert!(h.conclusive);
    assert_ne!(h.verdict, crate::domain::holdout::NOT_ENOUGH_DATA);
    // Held-out orders are not the playbook's credited orders or the total's.
    let pb = r
        .playbooks
        .iter()
        .find(|p| p.playbook == "replenishment")
        .unwrap();
    assert_eq!((pb.current.ordered, r.total.ordered), (56, 56));
    // No holdout on thank-you and none held out: no figure.
    assert_eq!(holdout_of(&r, "thank_you"), None);
    // JSON names are stable.
    let json = serde_json::to_value(&pb.holdout).unwrap();
    for k in [
        "percent",
        "sent",
        "sent_ordered",
        "held_out",
        "held_out_ordered",
        "sent_rate",
        "held_out_rate",
        "difference",
        "difference_low",
        "difference_high",
        "conclusive",
        "verdict",
    ] {
        assert!(json.get(k).is_some(), "{k}: {json}");
    }
}

#[test]
fn the_holdout_figure_says_not_enough_data_while_the_interval_spans_zero() {
    // Holdout on but nobody held out yet: shown, with nothing to compare.
    let rows = vec![row(
        "2026-11-10",
        "playbook#replenishment",
        &[("sent", "12"), ("ordered", "2")],
    )];
    let h = holdout_of(&holdout_report(&rows, 10), "replenishment").unwrap();
    assert_eq!((h.held_out, h.held_out_rate, h.difference), (0, None, None));
    assert_eq!(h.verdict, "not enough data yet");
    assert!(!h.conclusive);
    // Both groups, too few to tell.
    let rows = vec![row(
        "2026-11-10",
        "playbook#replenishment",
        &[
            ("sent", "20"),
            ("ordered", "3"),
            ("held_out", "5"),
            ("held_out_ordered", "0"),
        ],
    )];
    let h = holdout_of(&holdout_report(&rows, 10), "replenishment").unwrap();
    assert!(h.difference_low.unwrap() < 0.0 && h.difference_high.unwrap() > 0.0);
    assert_eq!(h.verdict, "not enough data yet");
    // Holdout turned off since, but the period held some out: still shown.
    let h = holdout_of(&holdout_report(&rows, 0), "replenishment").unwrap();
    assert_eq!((h.percent, h.held_out), (0, 5));
}
