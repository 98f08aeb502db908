use super::*;
use crate::model::report::{
    CommentRow, DayRow, Deliverability, Figures, Lookup, LookupRow, Money, Period, PlaybookRow,
    ProductRow, Rates, ReasonCount, Report, Timing, TimingRow, Voice, WeekRow,
};
use std::collections::BTreeMap;

fn money(currency: &str, revenue: &str, refunded: &str, net: &str, sent: u64) -> Money {
    let per = Decimal::from_str(net)
        .ok()
        .filter(|_| sent > 0)
        .map(|n| format!("{:.2}", (n / Decimal::from(sent)).round_dp(2)));
    Money {
        currency: currency.into(),
        revenue: revenue.into(),
        refunded: refunded.into(),
        net: net.into(),
        per_recipient: per,
    }
}

/// Figures with rates computed as the report computes them (shares of sent).
fn figures(counts: [u64; 6], not_sent: &[(&str, u64)], money: Vec<Money>) -> Figures {
    let [planned, sent, delivered, opened, clicked, ordered] = counts;
    let of_sent = |n: u64| share(n, sent);
    let mut all: BTreeMap<String, u64> = NotSentReason::ALL
        .iter()
        .map(|r| (r.as_str().to_owned(), 0))
        .collect();
    for (reason, n) in not_sent {
        all.insert((*reason).into(), *n);
    }
    let bounced = sent.saturating_sub(delivered);
    let complained = sent / 900;
    let unsubscribed = sent / 150;
    let codes_issued = ordered / 2;
    let codes_redeemed = ordered / 4;
    Figures {
        planned,
        sent,
        not_sent: all,
        held_by_cap: planned / 40,
        sent_after_cap: planned / 80,
        failed: planned / 200,
        failed_reasons: if planned >= 200 {
            vec!["SES throttled <Throttling>".into()]
        } else {
            Vec::new()
        },
        delivered,
        opened,
        clicked,
        ordered,
        money,
        codes_issued,
        codes_redeemed,
        bounced,
        complained,
        unsubscribed,
        rates: Rates {
            delivered: of_sent(delivered),
            opened: of_sent(opened),
            clicked: of_sent(clicked),
            ordered: of_sent(ordered),
            bounced: of_sent(bounced),
            complained: of_sent(complained),
            unsubscribed: of_sent(unsubscribed),
            redemption: share(codes_redeemed, codes_issued),
        },
    }
}

fn playbook(
    key: &str,
    label: &str,
    marketing: bool,
    current: Figures,
    previous: Figures,
) -> PlaybookRow {
    PlaybookRow {
        playbook: key.into(),
        label: label.into(),
        marketing,
        current,
        previous,
        holdout: None,
    }
}

fn comment(
    at: &str,
    playbook: &str,
    score: Option<u8>,
    reason: Option<&str>,
    text: &str,
    id: u64,
) -> CommentRow {
    CommentRow {
        at: at.into(),
        playbook: playbook.into(),
        score,
        reason: reason.map(Into::into),
        comment: text.into(),
        order_id: id,
        order_name: Some(format!("#{}", id - 5_000_000_000 + 1000)),
        admin_url: format!("https://admin.shopify.com/store/acme/orders/{id}"),
    }
}

fn sample_comments() -> Vec<CommentRow> {
    vec![
        comment(
            "2026-11-28T09:12:00Z",
            "satisfaction",
            Some(1),
            None,
            "Arrived broken, and nobody answered my email <script>alert(1)</script>",
            5_000_000_101,
        ),
        comment(
            "2026-11-20T17:40:00Z",
            "satisfaction",
            Some(2),
            None,
            "=HYPERLINK(\"https://evil.example/\",\"click\")",
            5_000_000_102,
        ),
        comment(
            "2026-11-14T08:05:00Z",
            "satisfaction",
            Some(3),
            None,
            "Fine, but the size runs small, \"order one up\".\nSecond line.",
            5_000_000_103,
        ),
        comment(
            "2026-11-25T12:00:00Z",
            "returns",
            None,
            Some("Not as described"),
            "Colour was much darker than the photos",
            5_000_000_104,
        ),
        comment(
            "2026-11-29T20:31:00Z",
            "satisfaction",
            Some(5),
            None,
            "Lovely quality, will buy again — merci !",
            5_000_000_105,
        ),
        comment(
            "2026-11-03T10:00:00Z",
            "satisfaction",
            Some(4),
            None,
            "-Good, @fast shipping",
            5_000_000_106,
        ),
    ]
}

fn sample_voice() -> Voice {
    Voice {
        asked: 310,
        responses: 96,
        response_rate: Some(96.0 / 310.0),
        scores: [5, 4, 9, 28, 50],
        csat: Some(78.0 / 96.0),
        average: Some((5 + 8 + 27 + 112 + 250) as f64 / 96.0),
        weeks: vec![
            WeekRow {
                week: "2026-10-26".into(),
                responses: 12,
                csat: Some(0.75),
            },
            WeekRow {
                week: "2026-11-02".into(),
                responses: 20,
                csat: Some(0.85),
            },
            WeekRow {
                week: "2026-11-09".into(),
                responses: 25,
                csat: Some(0.80),
            },
            WeekRow {
                week: "2026-11-16".into(),
                responses: 0,
                csat: None,
            },
            WeekRow {
                week: "2026-11-23".into(),
                responses: 39,
                csat: Some(0.79),
            },
        ],
        comments: 6,
        recoveries_sent: 9,
        recoveries_ordered: 2,
        responses_previous: 80,
        csat_previous: Some(0.76),
    }
}

fn sample_deliverability() -> Deliverability {
    let days = (1..=30)
        .map(|d| DayRow {
            day: format!("2026-11-{d:02}"),
            sent: if d % 7 == 0 { 0 } else { 40 + (d * 3) % 17 },
            bounced: u64::from(d % 5 == 0) + u64::from(d == 12) * 2,
            complained: u64::from(d == 18),
        })
        .collect();
    Deliverability {
        sent: 1240,
        bounced: 14,
        complained: 1,
        bounce_rate: Some(14.0 / 1240.0),
        complaint_rate: Some(1.0 / 1240.0),
        unsubscribed: 8,
        suppressions_added: 23,
        ses_bounce_line: 0.05,
        ses_complaint_line: 0.001,
        gmail_spam_line: 0.003,
        days,
        warnings: vec![
            "Complaint rate 0.4 % on 18 Nov is over Gmail's 0.3 %".into(),
            "Bounces on 12 Nov: check the list <import> from \"Old shop\"".into(),
        ],
    }
}

fn sample_products() -> Vec<ProductRow> {
    let reason = |reason: &str, label: &str, count| ReasonCount {
        reason: reason.into(),
        label: label.into(),
        count,
    };
    vec![
        ProductRow {
            product_id: 632_910_392,
            title: Some("Merino \"Cloud\" sweater <XL>".into()),
            ratings: 41,
            average: Some(4.4),
            returns: 6,
            reasons: vec![
                reason("size_too_small", "Too small", 4),
                reason("defective", "Defective", 2),
            ],
        },
        ProductRow {
            product_id: 808_950_810,
            title: None,
            ratings: 12,
            average: Some(3.1),
            returns: 2,
            reasons: vec![reason("not_as_described", "Not as described", 2)],
        },
        ProductRow {
            product_id: 1,
            title: Some("Gift card".into()),
            ratings: 0,
            average: None,
            returns: 0,
            reasons: vec![],
        },
    ]
}

/// Learned timing: a blended product with an outlier refused, one learned without a
/// configured figure, one waiting for repeats, one with no repeats yet.
fn sample_timing() -> Timing {
    let row = |product: &str, id, sku: Option<&str>, title: Option<&str>| TimingRow {
        product: product.into(),
        product_id: id,
        sku: sku.map(Into::into),
        title: title.map(Into::into),
        configured_days: None,
        days_per_unit: None,
        repeats: 0,
        samples: 0,
        refused: 0,
        source: "configured".into(),
        waiting_for: None,
    };
    let title = "Merino \"Cloud\" sweater <XL>";
    Timing {
        enabled: true,
        learn: true,
        min_repeats: 5,
        prior_weight: 5,
        products: vec![
            TimingRow {
                configured_days: Some(30),
                days_per_unit: Some(33.7),
                repeats: 212,
                samples: 64,
                refused: 9,
                source: "blended".into(),
                ..row("632910392", Some(632_910_392), None, Some(title))
            },
            TimingRow {
                days_per_unit: Some(21.4),
                repeats: 17,
                samples: 17,
                refused: 1,
                source: "learned".into(),
                ..row("sku:TEA-250", None, Some("TEA-250"), None)
            },
            TimingRow {
                repeats: 2,
                samples: 2,
                source: "waiting".into(),
                waiting_for: Some(3),
                ..row("808950810", Some(808_950_810), Some("SOAP-1"), None)
            },
            TimingRow {
                configured_days: Some(90),
                days_per_unit: Some(90.0),
                ..row("sku:FILTER", None, Some("FILTER"), None)
            },
        ],
    }
}

/// A realistic month of a shop: five playbooks, two currencies on the thank-you, hostile
/// comments, return reasons, products and deliverability warnings.
pub(crate) fn sample_report() -> Report {
    let thank_you = figures(
        [620, 598, 590, 402, 96, 31],
        &[("no_consent", 0), ("other", 7)],
        vec![
            money("USD", "2140.50", "120.00", "2020.50", 598),
            money("EUR", "310", "0", "310", 598),
        ],
    );
    let satisfaction = figures(
        [330, 310, 305, 240, 120, 4],
        &[("answered", 6), ("order_cancelled", 9)],
        vec![money("USD", "160.00", "0.00", "160.00", 310)],
    );
    let replenishment = figures(
        [180, 141, 139, 90, 35, 12],
        &[("reorder", 22), ("no_consent", 17)],
        vec![money("USD", "612.40", "32.00", "580.40", 141)],
    );
    let loyalty = figures(
        [120, 98, 96, 70, 22, 9],
        &[("no_consent", 14), ("paused", 8)],
        vec![money("USD", "499.99", "0", "499.99", 98)],
    );
    let recovery = figures([9, 9, 9, 8, 4, 2], &[], vec![]);
    let total = figures(
        [1259, 1156, 1139, 810, 277, 58],
        &[
            ("no_consent", 31),
            ("other", 7),
            ("answered", 6),
            ("order_cancelled", 9),
            ("reorder", 22),
            ("paused", 8),
        ],
        vec![
            money("USD", "3412.89", "152.00", "3260.89", 1156),
            money("EUR", "310", "0", "310", 1156),
        ],
    );
    let prev = |k: u64| {
        figures(
            [k + 40, k, k - k / 50, k * 6 / 10, k / 5, k / 25],
            &[],
            vec![money("USD", "1000.00", "10.00", "990.00", k)],
        )
    };
    Report {
        products_since: "2026-10-26".into(),
        shop: "acme-outdoor.myshopify.com".into(),
        period: Period { from: "2026-11-01".into(), to: "2026-11-30".into(), days: 30 },
        previous_period: Period { from: "2026-10-02".into(), to: "2026-10-31".into(), days: 30 },
        generated_at: "2026-12-01T06:00:12Z".into(),
        attribution_rule: "An order is credited to the last follow-up clicked in the 7 days before it, by the same customer. Opens never earn credit.".into(),
        attribution_window_days: 7,
        total,
        total_previous: prev(1030),
        playbooks: vec![
            playbook("thank_you", "Thank-you", false, thank_you, prev(550)),
            playbook("satisfaction", "Satisfaction check", false, satisfaction, prev(290)),
            playbook("replenishment", "Replenishment", true, replenishment, prev(120)),
            playbook("loyalty", "Loyalty reward", true, loyalty, prev(60)),
            playbook("recovery", "Recovery", false, recovery, prev(10)),
        ],
        voice: sample_voice(),
        deliverability: sample_deliverability(),
        comments: sample_comments(),
        comments_total: 734,
        return_reasons: vec![
            ReasonCount { reason: "size_too_small".into(), label: "Too small".into(), count: 14 },
            ReasonCount { reason: "not_as_described".into(), label: "Not as described".into(), count: 9 },
            ReasonCount { reason: "defective".into(), label: "Defective".into(), count: 4 },
            ReasonCount { reason: "arrived_late".into(), label: "Arrived late".into(), count: 1 },
        ],
        products: sample_products(),
        replenishment_timing: sample_timing(),
    }
}

/// A shop that has just installed: nothing at all.
fn zero_report() -> Report {
    let period = |from: &str, to: &str| Period {
        from: from.into(),
        to: to.into(),
        days: 7,
    };
    Report {
        products_since: "2026-10-26".into(),
        shop: "new-shop.myshopify.com".into(),
        period: period("2026-11-24", "2026-11-30"),
        previous_period: period("2026-11-17", "2026-11-23"),
        generated_at: "2026-12-01T06:00:00Z".into(),
        attribution_rule:
            "An order is credited to the last follow-up clicked in the 7 days before it.".into(),
        attribution_window_days: 7,
        total: Figures::default(),
        total_previous: Figures::default(),
        playbooks: Vec::new(),
        voice: Voice::default(),
        deliverability: Deliverability {
            ses_bounce_line: 0.05,
            ses_complaint_line: 0.001,
            gmail_spam_line: 0.003,
            days: (24..=30)
                .map(|d| DayRow {
                    day: format!("2026-11-{d}"),
                    sent: 0,
                    bounced: 0,
                    complained: 0,
                })
                .collect(),
            ..Deliverability::default()
        },
        comments: Vec::new(),
        comments_total: 0,
        return_reasons: Vec::new(),
        products: Vec::new(),
        replenishment_timing: Timing {
            enabled: true,
            learn: true,
            min_repeats: 5,
            prior_weight: 5,
            products: Vec::new(),
        },
    }
}

fn sample_lookup() -> Lookup {
    Lookup {
        order_id: 5_000_000_101,
        order_name: Some("#1101".into()),
        admin_url: "https://admin.shopify.com/store/acme/orders/5000000101".into(),
        followups: vec![
            LookupRow {
                playbook: "thank_you".into(),
                status: "sent".into(),
                due_at: "2026-11-02T10:00:00Z".into(),
                sent_at: Some("2026-11-02T10:00:41Z".into()),
                events: vec![
                    ("delivered".into(), "2026-11-02T10:00:44Z".into()),
                    ("opened".into(), "2026-11-03T10:00:00Z".into()),
                ],
                ..LookupRow::default()
            },
            LookupRow {
                playbook: "satisfaction".into(),
                product_id: Some(632_910_392),
                status: "sent".into(),
                due_at: "2026-11-20T10:00:00Z".into(),
                sent_at: Some("2026-11-20T10:01:00Z".into()),
                score: Some(1),
                comment: Some("Broken <b>again</b>".into()),
                ..LookupRow::default()
            },
            LookupRow {
                playbook: "replenishment".into(),
                product_id: Some(632_910_392),
                status: "cancelled".into(),
                due_at: "2026-12-20T10:00:00Z".into(),
                reason: Some("reorder".into()),
                ..LookupRow::default()
            },
        ],
    }
}

const SELF_URL: &str = "https://abc123.lambda-url.eu-west-1.on.aws/report?t=TOKEN123";

fn online() -> String {
    let lookup = sample_lookup();
    let opts = PageOptions {
        self_url: Some(SELF_URL),
        token: Some("TOKEN123"),
        lookup: Some(&lookup),
        lookup_missing: None,
    };
    render_page(&sample_report(), &opts).expect("page renders")
}

/// The text of the element carrying `data-figure="{name}"` (its first one).
fn figure(html: &str, name: &str) -> Option<String> {
    let marker = format!("data-figure=\"{name}\"");
    let at = html.find(&marker)?;
    let start = at + html[at..].find('>')? + 1;
    let end = start + html[start..].find('<')?;
    Some(html[start..end].to_owned())
}

#[test]
fn page_carries_every_figure() {
    let report = sample_report();
    let html = online();
    let t = &report.total;
    let totals = [
        ("planned", t.planned),
        ("sent", t.sent),
        ("delivered", t.delivered),
        ("opened", t.opened),
        ("clicked", t.clicked),
        ("ordered", t.ordered),
    ];
    for (stage, n) in totals {
        assert_eq!(
            figure(&html, &format!("total.{stage}")),
            Some(n.to_string()),
            "total.{stage}"
        );
    }
    for p in &report.playbooks {
        let f = &p.current;
        for (stage, n) in [
            ("planned", f.planned),
            ("sent", f.sent),
            ("delivered", f.delivered),
            ("opened", f.opened),
            ("clicked", f.clicked),
            ("ordered", f.ordered),
        ] {
            let name = format!("playbook.{}.{stage}", p.playbook);
            assert_eq!(figure(&html, &name), Some(n.to_string()), "{name}");
        }
    }
    let v = &report.voice;
    assert_eq!(
        figure(&html, "voice.responses"),
        Some(v.responses.to_string())
    );
    for n in 1..=5 {
        assert_eq!(
            figure(&html, &format!("voice.score_{n}")),
            Some(v.scores[n - 1].to_string())
        );
    }
    assert_eq!(figure(&html, "voice.comments_total"), Some("734".into()));
    let d = &report.deliverability;
    assert_eq!(
        figure(&html, "deliverability.bounced"),
        Some(d.bounced.to_string())
    );
    assert_eq!(
        figure(&html, "deliverability.complained"),
        Some(d.complained.to_string())
    );
    assert_eq!(
        figure(&html, "deliverability.unsubscribed"),
        Some(d.unsubscribed.to_string())
    );
    assert_eq!(figure(&html, "money.USD.net"), Some("3260.89".into()));
    assert_eq!(figure(&html, "money.EUR.net"), Some("310".into()));
    assert!(html.contains("Showing 6 of"));
}

#[test]
fn page_sections_in_order_with_headings() {
    let html = online();
    let mut last = 0;
    for id in [
        "header",
        "headline",
        "funnel",
        "money",
        "voice",
        "timing",
        "deliverability",
        "lookup",
    ] {
        let at = html
            .find(&format!("id=\"{id}\""))
            .unwrap_or_else(|| panic!("section {id}"));
        assert!(at > last, "{id} out of order");
        assert!(html[at..].find("<h2").is_some());
        last = at;
    }
    assert!(html.contains("1 Nov – 30 Nov 2026 vs previous 30 days"));
    assert!(html.contains(NotSentReason::NoConsent.label()));
    assert!(html.contains("Opens never earn credit."));
    assert!(html.contains("<meta name=\"robots\" content=\"noindex\">"));
    assert!(html.contains("lang=\"en\""));
    assert!(html.contains("width=device-width, initial-scale=1"));
    assert_eq!(html.matches("<style>").count(), 1);
}

#[test]
fn page_has_no_script_and_no_external_resource() {
    let html = online();
    let lower = html.to_ascii_lowercase();
    assert!(!lower.contains("<script"), "no script element");
    assert!(!lower.contains("src="));
    assert!(!lower.contains("<link"));
    assert!(!lower.contains("@import"));
    assert!(!lower.contains("url("));
    let mut allowed: Vec<String> = sample_report()
        .comments
        .iter()
        .map(|c| c.admin_url.clone())
        .collect();
    allowed.push(sample_lookup().admin_url);
    // Every URL, except the one quoted inside a customer's comment (escaped text).
    for at in lower.match_indices("http").map(|(i, _)| i) {
        if html[..at].ends_with("HYPERLINK(&quot;") {
            continue;
        }
        let url: String = html[at..]
            .chars()
            .take_while(|c| !matches!(c, '"' | '<' | ' ' | '&'))
            .collect();
        let ok = url.starts_with("https://abc123.lambda-url.eu-west-1.on.aws/report")
            || allowed.contains(&url);
        assert!(ok, "unexpected URL {url}");
    }
}

#[test]
fn page_escapes_customer_text() {
    let html = online();
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;")
            || html.contains("&lt;script&gt;alert(1)&lt;/script&gt;")
    );
    assert!(html.contains("Merino &quot;Cloud&quot; sweater &lt;XL&gt;"));
    assert!(html.contains("SES throttled &lt;Throttling&gt;"));
    assert!(html.contains("Broken &lt;b&gt;again&lt;/b&gt;"));
    assert!(html.contains("list &lt;import&gt; from &quot;Old shop&quot;"));
    assert!(html.contains("Product 808950810"));
    // The lookup form: GET to the page itself, with the token hidden.
    assert!(html.contains("action=\"https://abc123.lambda-url.eu-west-1.on.aws/report\""));
    assert!(html.contains("name=\"t\" value=\"TOKEN123\""));
    assert!(html.contains("placeholder=\"#1001 or order id\""));
    assert!(html.contains("delivered 2026-11-02 10:00"));
}

#[test]
fn missing_order_and_offline_page() {
    let opts = PageOptions {
        lookup_missing: Some("#99<b>"),
        ..PageOptions::default()
    };
    let html = render_page(&sample_report(), &opts).expect("renders");
    assert!(html.contains("No order #99&lt;b&gt; found"));
    assert!(!html.contains("<form"), "no form in a file");
}

#[test]
fn zero_report_looks_deliberate() {
    let report = zero_report();
    let html = render_page(
        &report,
        &PageOptions {
            self_url: Some(SELF_URL),
            token: Some("T"),
            ..PageOptions::default()
        },
    )
    .expect("renders");
    for bad in ["NaN", "nan", "inf", "Infinity"] {
        assert!(!html.contains(bad), "{bad} in zero page");
    }
    assert!(html.contains("No follow-ups sent in this period yet"));
    assert_eq!(figure(&html, "total.sent"), Some("0".into()));
    assert_eq!(figure(&html, "voice.score_3"), Some("0".into()));
    assert!(!html.contains("<polyline"), "no line without data");
    let csv = render_csv(&report);
    assert!(!csv.contains("NaN"));
    let digest = render_digest(&report, SELF_URL).expect("digest");
    assert!(!digest.html.contains("NaN") && !digest.text.contains("NaN"));
    assert!(digest
        .text
        .contains("No follow-ups sent in this period yet."));
}

#[test]
fn csv_figures_and_comments() {
    let csv = render_csv(&sample_report());
    let mut lines = csv.split("\r\n");
    assert_eq!(lines.next(), Some(CSV_FIGURES));
    let thank_you: Vec<&str> = csv
        .lines()
        .filter(|l| l.starts_with("current,2026-11-01,2026-11-30,thank_you,"))
        .collect();
    assert_eq!(thank_you.len(), 2, "one row per currency");
    assert!(thank_you[0].ends_with(",USD,2140.50,120.00,2020.50"));
    assert!(thank_you[1].ends_with(",EUR,310,0,310"));
    let recovery = csv
        .lines()
        .find(|l| l.starts_with("current,2026-11-01,2026-11-30,recovery,"))
        .expect("row");
    assert!(
        recovery.ends_with(",,,,"),
        "no money: empty currency columns"
    );
    assert_eq!(recovery.split(',').count(), CSV_FIGURES.split(',').count());
    assert!(csv
        .lines()
        .any(|l| l.starts_with("previous,2026-10-02,2026-10-31,total,")));
    assert!(
        csv.contains("\r\n\r\ncomment_at,playbook,score,reason,order_name,order_id,comment\r\n")
    );
    // Formula guard and quoting.
    assert!(csv.contains(",\"'=HYPERLINK(\"\"https://evil.example/\"\",\"\"click\"\")\"\r\n"));
    assert!(csv.contains(",\"'-Good, @fast shipping\"\r\n"));
    assert!(
        csv.contains(",\"Fine, but the size runs small, \"\"order one up\"\".\nSecond line.\"\r\n")
    );
    assert!(csv.contains("2026-11-25T12:00:00Z,returns,,Not as described,#1104,5000000104,Colour was much darker than the photos\r\n"));
}

#[test]
fn page_shows_the_replenishment_timing_per_product() {
    let html = online();
    let at = html
        .find("<section id=\"timing\">")
        .expect("timing section");
    let section = &html[at..at + html[at..].find("</section>").expect("closed")];
    assert!(section.contains("<h2>Replenishment timing</h2>"));
    assert!(
        section.contains("Current figures, not this period's"),
        "{section}"
    );
    assert!(section.contains("counts as 5 repeats") && section.contains("waits for 5"));
    assert_eq!(
        figure(section, "timing.632910392.days_per_unit"),
        Some("33.7".into())
    );
    assert_eq!(
        figure(section, "timing.632910392.repeats"),
        Some("212".into())
    );
    assert_eq!(
        figure(section, "timing.sku:TEA-250.days_per_unit"),
        Some("21.4".into())
    );
    assert_eq!(
        figure(section, "timing.sku:FILTER.days_per_unit"),
        Some("90.0".into())
    );
    assert_eq!(
        figure(section, "timing.808950810.days_per_unit"),
        None,
        "waiting: no figure"
    );
    for needle in [
        // The title escaped, its id beside it; a SKU-only rule by its SKU.
        "Merino &quot;Cloud&quot; sweater &lt;XL&gt; <span class=\"tag\">Product 632910392</span>",
        "<td>SKU TEA-250</td>",
        "<td>Product 808950810 <span class=\"tag\">SKU SOAP-1</span></td>",
        "<td class=\"n\">30</td>",
        "<td class=\"n\">none</td>",
        "<td class=\"n\">64</td><td class=\"n\">9</td><td>blended</td>",
        "<td>learned</td>",
        "<td class=\"muted\">waiting for 3 more repeats</td>",
        "<td>configured</td>",
    ] {
        assert!(section.contains(needle), "lacks {needle}:\n{section}");
    }
    assert!(!section.contains("no repeats yet"));
}

#[test]
fn the_timing_section_says_when_learning_has_nothing_yet_or_is_off() {
    let opts = PageOptions::default();
    let html = render_page(&zero_report(), &opts).expect("renders");
    assert!(html.contains("Learning has no repeats yet"));
    assert!(html.contains("No replenishable products"));
    let mut r = sample_report();
    r.replenishment_timing.learn = false;
    let html = render_page(&r, &opts).expect("renders");
    assert!(html.contains("Learning is off (learn = false)"));
    assert!(!html.contains("waits for 5"));
}

#[test]
fn csv_ends_with_the_timing_table() {
    let csv = render_csv(&sample_report());
    let (_, timing) = csv
        .split_once(&format!("\r\n\r\n{}\r\n", timing::CSV_TIMING))
        .expect("a blank line, then the timing table");
    let rows: Vec<&str> = timing.lines().collect();
    assert_eq!(
        rows,
        vec![
            "\"Merino \"\"Cloud\"\" sweater <XL>\",632910392,,30,33.7,212,64,9,blended,",
            "sku:TEA-250,,TEA-250,,21.4,17,17,1,learned,",
            "808950810,808950810,SOAP-1,,,2,2,0,waiting,3",
            "sku:FILTER,,FILTER,90,90.0,0,0,0,configured,",
        ]
    );
}

#[test]
fn csv_field_rules() {
    assert_eq!(csv_field("plain"), "plain");
    assert_eq!(csv_field("a,b"), "\"a,b\"");
    assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    assert_eq!(csv_field("a\rb"), "\"a\rb\"");
    for lead in ["=", "+", "-", "@", "\t", "\r"] {
        let guarded = csv_text(&format!("{lead}1"));
        assert!(
            guarded.starts_with('\'') || guarded.starts_with("\"'"),
            "{lead:?}: {guarded}"
        );
    }
    assert_eq!(csv_text("ok"), "ok");
}

#[test]
fn digest_is_email_safe_and_complete() {
    let report = sample_report();
    let url = "https://abc123.lambda-url.eu-west-1.on.aws/report?t=TOKEN123&days=30";
    let d = render_digest(&report, url).expect("digest");
    assert_eq!(
        d.subject,
        "Aftercart monthly: 1,156 sent, 70 % opened, 4.2★ — acme-outdoor.myshopify.com"
    );
    let html = d.html.to_ascii_lowercase();
    assert!(!html.contains("<svg") && !html.contains("<img") && !html.contains("<script"));
    assert!(d
        .html
        .contains("https://abc123.lambda-url.eu-west-1.on.aws/report?t=TOKEN123&amp;days=30"));
    assert!(d.html.contains("Open the full report"));
    assert!(d.html.contains("&lt;script&gt;alert(1)"));
    assert!(!d.html.contains("<script>alert"));
    assert!(d
        .html
        .contains("https://admin.shopify.com/store/acme/orders/5000000101"));
    assert!(d.html.contains("over Gmail&#x27;s 0.3 %"));
    assert!(d.text.contains(url));
    for needle in [
        "Sent: 1,156",
        "Open rate: 70.1 %",
        "Click rate: 24.0 %",
        "Orders credited: 58",
        "CSAT: 81.2 %",
        "Responses: 96",
        "Net revenue: 3,260.89 USD · 310.00 EUR",
    ] {
        assert!(d.text.contains(needle), "text lacks {needle}:\n{}", d.text);
    }
    assert!(d.text.ends_with("\r\n") && !d.text.contains("\n\n"));
    // Five comments at most, the lowest scores, no unrated return reason.
    assert_eq!(d.html.matches("\">★ ").count(), 5);
    assert!(!d.html.contains("Colour was much darker"));
}

#[test]
fn digest_within_limits_and_bad_url() {
    let mut report = sample_report();
    report.deliverability.warnings.clear();
    report.deliverability.bounce_rate = Some(0.004);
    report.deliverability.complaint_rate = Some(0.0002);
    let d = render_digest(&report, "https://x.example/report").expect("digest");
    assert!(d
        .text
        .contains("Bounce 0.4 %, complaints 0.02 %: within SES and Gmail limits."));
    assert!(render_digest(&report, "javascript:alert(1)").is_err());
}

#[test]
fn formatting_helpers() {
    assert_eq!(pct(Some(0.42), 1), "42.0 %");
    assert_eq!(pct(None, 1), "–");
    assert_eq!(pct(Some(f64::NAN), 1), "–");
    assert_eq!(int(1_234_567), "1,234,567");
    assert_eq!(amount("1234.5"), "1,234.50");
    assert_eq!(amount("-12"), "−12.00");
    assert_eq!(count_change(112, 100, true).text, "▲ 12 %");
    assert_eq!(
        points_change(Some(0.40), Some(0.43), true).text,
        "▼ 3.0 pts"
    );
    assert_eq!(count_change(5, 0, true).text, "–");
    assert_eq!(nice_ceil(0.00345), 0.005);
    assert_eq!(nice_ceil(0.0575), 0.1);
}

/// Writes sample files for a look in a browser:
/// `AFTERCART_REPORT_DIR=/tmp/render cargo test -p aftercart --lib write_report_samples -- --ignored`.
#[test]
#[ignore]
fn write_report_samples() {
    let Ok(dir) = std::env::var("AFTERCART_REPORT_DIR") else {
        return;
    };
    let dir = std::path::Path::new(&dir);
    std::fs::create_dir_all(dir).expect("dir");
    std::fs::write(dir.join("report.html"), online()).expect("write");
    let empty = render_page(
        &zero_report(),
        &PageOptions {
            self_url: Some(SELF_URL),
            token: Some("T"),
            ..PageOptions::default()
        },
    )
    .expect("renders");
    std::fs::write(dir.join("report-empty.html"), empty).expect("write");
    let digest = render_digest(&sample_report(), SELF_URL).expect("digest");
    std::fs::write(dir.join("digest.html"), &digest.html).expect("write");
    std::fs::write(dir.join("digest.txt"), &digest.text).expect("write");
    std::fs::write(dir.join("report.csv"), render_csv(&sample_report())).expect("write");
}

/// The sample report with a holdout comparison on replenishment (conclusive: Newcombe's
/// published example 56/70 vs 48/80, 0.2000 from 0.0524 to 0.3339) and loyalty (nobody
/// held out yet). The figures are written out: `email` renders what `domain` computed.
fn holdout_report() -> Report {
    let mut r = sample_report();
    let base = crate::model::report::Holdout {
        percent: 10,
        ..Default::default()
    };
    for p in &mut r.playbooks {
        match p.playbook.as_str() {
            "replenishment" => {
                p.holdout = Some(crate::model::report::Holdout {
                    sent: 70,
                    sent_ordered: 56,
                    held_out: 80,
                    held_out_ordered: 48,
                    sent_rate: Some(0.8),
                    held_out_rate: Some(0.6),
                    difference: Some(0.2),
                    difference_low: Some(0.0524),
                    difference_high: Some(0.3339),
                    conclusive: true,
                    verdict: "customers sent the email ordered more often than those held out"
                        .into(),
                    ..base.clone()
                })
            }
            "loyalty" => {
                p.holdout = Some(crate::model::report::Holdout {
                    sent: 98,
                    sent_ordered: 9,
                    sent_rate: Some(9.0 / 98.0),
                    verdict: "not enough data yet".into(),
                    ..base.clone()
                })
            }
            _ => {}
        }
    }
    r
}

#[test]
fn page_and_digest_show_the_holdout_comparison() {
    let opts = PageOptions {
        self_url: Some(SELF_URL),
        token: Some("TOKEN123"),
        lookup: None,
        lookup_missing: None,
    };
    let html = render_page(&holdout_report(), &opts).expect("page renders");
    assert!(
        html.contains("<section id=\"holdout\">"),
        "no holdout section"
    );
    assert!(html.contains("Newcombe"));
    assert!(
        html.contains("+20.0 points (95 % interval +5.2 to +33.4)"),
        "{html}"
    );
    assert!(html.contains("customers sent the email ordered more often"));
    assert!(html.contains("not enough data yet"));
    // Without any comparison, no section.
    assert!(!online().contains("id=\"holdout\""));

    let d = render_digest(&holdout_report(), "https://example.test/report?t=T").expect("digest");
    for needle in [
        "Holdout groups",
        "Replenishment (10 % held out): sent 56/70 ordered (80.0 %), held out 48/80 (60.0 %)",
        "+20.0 points (95 % interval +5.2 to +33.4)",
        "Loyalty reward (10 % held out): sent 9/98 ordered (9.2 %), held out 0/0 (–); –: not enough data yet",
    ] {
        assert!(d.text.contains(needle), "text lacks {needle}:\n{}", d.text);
    }
    assert!(d.html.contains("Holdout groups") && d.html.contains("not enough data yet"));
}
