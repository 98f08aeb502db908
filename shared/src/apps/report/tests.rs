use super::*;
use crate::config::Config;
use crate::model::report::{Counter, Scope, Tally};
use crate::model::tokens::{LinkBuilder, LinkKeys};
use crate::ports::dispatch::FollowUpStore;
use crate::ports::mail::SendError;
use crate::ports::memory::{MemoryMailer, MemoryStore};
use std::time::Instant;

const SHOP: &str = "acme.myshopify.com";

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

fn config(report: &str) -> Config {
    Config::parse(
        &format!(
            "[[shop]]\npostal_address = \"1 Test Street, Springfield\"\ndomain = \"{SHOP}\"\nname = \"Acme\"\ntime_zone = \"Europe/Paris\"\n\
             sender_email = \"shop@acme.example\"\nalert_email = \"owner@acme.example\"\n{report}"
        ),
        "test",
    )
    .unwrap()
}

fn links() -> LinkBuilder {
    LinkBuilder {
        base_url: "https://links.example.test".into(),
        keys: LinkKeys::parse("1:report-test-key-0123456789abcdef0123").unwrap(),
        ttl_days: 60,
    }
}

fn deadline() -> Instant {
    Instant::now() + std::time::Duration::from_secs(30)
}

#[test]
fn the_digest_week_starts_at_the_shops_local_moment() {
    let monday = config("[shop.report]\ndigest_day = \"monday\"\ndigest_hour = 9\n");
    let shop = monday.shop(SHOP).unwrap();
    // Monday 30 November 2026, 9:00 in Paris is 8:00 UTC.
    assert_eq!(digest_week(shop, at("2026-11-30T07:59:00Z")), "2026-W48");
    assert_eq!(digest_week(shop, at("2026-11-30T08:00:00Z")), "2026-W49");
    assert_eq!(digest_week(shop, at("2026-12-06T23:00:00Z")), "2026-W49");
    // Sunday 23:30 UTC is Monday 0:30 in Paris: still before the moment.
    assert_eq!(digest_week(shop, at("2026-12-06T23:30:00Z")), "2026-W49");
    let sunday = config("[shop.report]\ndigest_day = \"sunday\"\ndigest_hour = 18\n");
    let shop = sunday.shop(SHOP).unwrap();
    assert_eq!(digest_week(shop, at("2026-12-06T17:00:00Z")), "2026-W49");
    assert_eq!(digest_week(shop, at("2026-12-06T16:59:00Z")), "2026-W48");
}

async fn with_sends(store: &MemoryStore, day: &str, sent: u32) {
    let mut t = Tally::new(day, Scope::Playbook(crate::model::Playbook::ThankYou));
    for _ in 0..sent {
        t = t.one(Counter::Sent);
    }
    store.count(SHOP, vec![t]).await;
}

#[tokio::test]
async fn one_digest_a_week_under_two_dispatchers_and_none_for_a_quiet_shop() {
    let config = config("");
    let (store, mailer) = (MemoryStore::default(), MemoryMailer::default());
    let now = at("2026-11-30T10:00:00Z");
    // Nothing sent: the week is marked quiet, nobody is mailed.
    let quiet = send_digests(&store, &mailer, &config, &links(), now, deadline()).await;
    assert_eq!((quiet.sent, quiet.quiet), (0, 1));
    assert!(mailer.sent().is_empty());

    let next = at("2026-12-07T10:00:00Z");
    with_sends(&store, "2026-12-02", 12).await;
    let builder = links();
    let (a, b) = tokio::join!(
        send_digests(&store, &mailer, &config, &builder, next, deadline()),
        send_digests(&store, &mailer, &config, &builder, next, deadline()),
    );
    assert_eq!(a.sent + b.sent, 1);
    let sent = mailer.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, "owner@acme.example");
    assert!(sent[0].tags.contains(&("kind", "weekly_digest".to_owned())));
    let raw = String::from_utf8_lossy(&sent[0].raw);
    assert!(raw.contains("multipart/alternative"), "text and HTML parts");
    // The same week again: nothing.
    let again = send_digests(&store, &mailer, &config, &links(), next, deadline()).await;
    assert_eq!(again, Digests::default());
}

#[tokio::test]
async fn a_digest_that_could_not_be_sent_is_tried_again_by_the_next_run() {
    let config = config("");
    let (store, mailer) = (MemoryStore::default(), MemoryMailer::default());
    with_sends(&store, "2026-12-02", 3).await;
    let now = at("2026-12-07T10:00:00Z");
    mailer.fail_next(SendError::Transient("throttled".into()));
    let failed = send_digests(&store, &mailer, &config, &links(), now, deadline()).await;
    assert_eq!(failed.failed, 1);
    let retried = send_digests(&store, &mailer, &config, &links(), now, deadline()).await;
    assert_eq!(retried.sent, 1);
    assert_eq!(mailer.sent().len(), 1);
}

#[tokio::test]
async fn digests_can_be_turned_off() {
    let config = config("[shop.report]\ndigest = false\n");
    let (store, mailer) = (MemoryStore::default(), MemoryMailer::default());
    with_sends(&store, "2026-12-02", 3).await;
    let now = at("2026-12-07T10:00:00Z");
    let done = send_digests(&store, &mailer, &config, &links(), now, deadline()).await;
    assert_eq!(done, Digests::default());
    assert!(mailer.sent().is_empty());
}

#[test]
fn report_settings_are_checked_at_load() {
    for (bad, field) in [
        ("digest_day = \"funday\"", "digest_day"),
        ("digest_hour = 24", "digest_hour"),
        ("link_days = 0", "link_days"),
        ("link_days = 91", "link_days"),
    ] {
        let text =
            format!("[[shop]]\npostal_address = \"1 Test Street, Springfield\"\ndomain = \"{SHOP}\"\nname = \"Acme\"\n[shop.report]\n{bad}\n");
        let err = Config::parse(&text, "test").unwrap_err().to_string();
        assert!(err.contains(field), "{bad}: {err}");
    }
}

fn cadence(product: &str, days: &[u32], refused: u64) -> crate::model::cadence::CadenceRecord {
    crate::model::cadence::CadenceRecord {
        v: 1,
        product: product.into(),
        samples: days.iter().map(|d| d * 100).collect(),
        repeats: days.len() as u64,
        refused,
        updated_at: None,
    }
}

const TIMED_PRODUCTS: &str = "[[shop.product]]\nproduct_id = 632910392\nconsumption_days = 30\n\
     [[shop.product]]\nsku = \"TEA-250\"\n\
     [[shop.product]]\nproduct_id = 4\nconsumption_days = 90\n\
     [[shop.product]]\nproduct_id = 5\n";

#[tokio::test]
async fn the_report_shows_each_products_learned_timing_now() {
    let config = config(TIMED_PRODUCTS);
    let shop = config.shop(SHOP).unwrap();
    let store = MemoryStore::default();
    // One repeat of 60 days against a prior of 30 (worth 5): exp((ln 60 + 5 ln 30) / 6).
    store.put_cadence(SHOP, cadence("632910392", &[60], 2));
    // No prior and 2 of the 5 repeats needed.
    store.put_cadence(SHOP, cadence("sku:TEA-250", &[20, 22], 0));
    // Not configured (any more), and another shop's: not shown.
    store.put_cadence(SHOP, cadence("777", &[10; 9], 0));
    store.put_cadence("other.myshopify.com", cadence("4", &[10; 9], 0));
    let to = NaiveDate::from_ymd_opt(2026, 12, 6).unwrap();
    let report = compute(&store, shop, to, 30, at("2026-12-07T10:00:00Z"))
        .await
        .unwrap();
    let t = &report.replenishment_timing;
    assert!(t.enabled && t.learn);
    assert_eq!((t.min_repeats, t.prior_weight), (5, 5));
    let rows: Vec<_> = t
        .products
        .iter()
        .map(|r| {
            (
                r.product.as_str(),
                r.configured_days,
                r.days_per_unit,
                (r.repeats, r.samples, r.refused),
                r.source.as_str(),
                r.waiting_for,
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            (
                "632910392",
                Some(30),
                Some(33.7),
                (1, 1, 2),
                "blended",
                None
            ),
            ("sku:TEA-250", None, None, (2, 2, 0), "waiting", Some(3)),
            ("4", Some(90), Some(90.0), (0, 0, 0), "configured", None),
        ],
        "the rule with neither a figure nor repeats is not replenishable"
    );
    assert_eq!(t.products[1].sku.as_deref(), Some("TEA-250"));
}

#[tokio::test]
async fn with_learning_off_only_configured_figures_are_shown() {
    let config = config(&format!(
        "{TIMED_PRODUCTS}[shop.playbooks.replenishment]\nlearn = false\n"
    ));
    let shop = config.shop(SHOP).unwrap();
    let store = MemoryStore::default();
    store.put_cadence(SHOP, cadence("632910392", &[60], 0));
    store.put_cadence(SHOP, cadence("sku:TEA-250", &[20; 6], 0));
    let to = NaiveDate::from_ymd_opt(2026, 12, 6).unwrap();
    let report = compute(&store, shop, to, 30, at("2026-12-07T10:00:00Z"))
        .await
        .unwrap();
    let t = &report.replenishment_timing;
    assert!(!t.learn);
    let rows: Vec<_> = t
        .products
        .iter()
        .map(|r| {
            (
                r.product.as_str(),
                r.days_per_unit,
                r.samples,
                r.source.as_str(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            ("632910392", Some(30.0), 0, "configured"),
            ("4", Some(90.0), 0, "configured"),
        ]
    );
}

#[tokio::test]
async fn a_shop_with_no_learned_timing_gets_an_empty_section() {
    let config = config("");
    let store = MemoryStore::default();
    let to = NaiveDate::from_ymd_opt(2026, 12, 6).unwrap();
    let report = compute(
        &store,
        config.shop(SHOP).unwrap(),
        to,
        7,
        at("2026-12-07T10:00:00Z"),
    )
    .await
    .unwrap();
    assert!(report.replenishment_timing.learn);
    assert!(report.replenishment_timing.products.is_empty());
}
