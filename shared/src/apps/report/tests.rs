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
