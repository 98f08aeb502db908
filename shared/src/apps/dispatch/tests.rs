//! The guards, quiet hours and retry backoff, as pure functions. Claiming, sending and
//! the frequency cap run over the in-memory ports in `machine_tests.rs`, and against
//! moto in `tests/it/dispatch.rs`.

use super::*;
use crate::domain::guards::*;
use crate::email::context::email_context;
use crate::model::OrderLine;
use crate::model::Playbook;

fn config(extra: &str) -> Config {
    Config::parse(
        &format!(
            "[[shop]]\npostal_address = \"1 Test Street, Springfield\"\ndomain = \"acme.myshopify.com\"\nsender_email = \"shop@acme.example\"\ntime_zone = \"Europe/Paris\"\n{extra}"
        ),
        "test",
    )
    .unwrap()
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

fn followup(playbook: Playbook) -> FollowUpRecord {
    FollowUpRecord {
        v: 2,
        id: format!("{}#1001#0", playbook.as_str()),
        shop: "acme.myshopify.com".into(),
        customer_key: "42".into(),
        playbook,
        order_id: 1001,
        product_id: (playbook == Playbook::Replenishment).then_some(7),
        status: FollowUpStatus::Sending,
        due_at: "2026-11-22T10:00:00.000Z".into(),
        due_pk: None,
        due_sk: None,
        lease_owner: Some("me".into()),
        lease_until: None,
        attempts: 1,
        store_retries: 0,
        reason: None,
        ses_message_id: None,
        sent_at: None,
        held_out_at: None,
        planned_at: "2026-11-01T10:00:00.000Z".into(),
        email_hash: None,
        tracking: Default::default(),
    }
}

fn ctx() -> GuardContext {
    GuardContext {
        order: Some(OrderRecord {
            order_id: 1001,
            created_at: Some("2026-11-01T10:00:00.000Z".into()),
            lines: vec![OrderLine {
                line_item_id: 1,
                product_id: Some(7),
                variant_id: Some(70),
                sku: None,
                title: "Tea".into(),
                variant_title: None,
                quantity: 1,
                price: None,
            }],
            ..OrderRecord::default()
        }),
        profile: Some(ProfileRecord {
            customer_key: "42".into(),
            email: Some("bob@example.com".into()),
            consent_state: Some("subscribed".into()),
            ..ProfileRecord::default()
        }),
        uninstalled: false,
        uninstall_unconfirmed: false,
        suppression: None,
        marketing_paused: None,
        reminder: Some(delivered_satisfaction()),
    }
}

/// What a due satisfaction reminder finds when it may go: its satisfaction check sent,
/// delivered, and not rated.
fn delivered_satisfaction() -> crate::domain::reminder::ReminderFacts {
    let mut first = followup(Playbook::Satisfaction);
    first.status = FollowUpStatus::Sent;
    first.sent_at = Some("2026-11-17T10:00:00.000Z".into());
    first.tracking.delivered_at = Some("2026-11-17T10:00:02.000Z".into());
    crate::domain::reminder::ReminderFacts {
        satisfaction: Some(first),
        feedback: None,
    }
}

/// 11:00 in Paris on a weekday: outside the default 21:00–08:00 quiet hours.
const DAYTIME: &str = "2026-11-23T10:00:00Z";

fn verdict(f: &FollowUpRecord, c: &GuardContext, now: &str) -> Verdict {
    let cfg = config("");
    guard(&cfg, &cfg.shops[0], f, c, at(now))
}

fn cancelled(v: Verdict) -> String {
    match v {
        Verdict::Cancel(r) => r,
        other => panic!("expected a cancellation, got {other:?}"),
    }
}

#[test]
fn everything_in_order_sends() {
    for p in Playbook::ALL {
        assert_eq!(
            verdict(&followup(p), &ctx(), DAYTIME),
            Verdict::Send,
            "{p:?}"
        );
    }
}

#[test]
fn uninstalled_shop_cancels() {
    let mut c = ctx();
    c.uninstalled = true;
    assert_eq!(
        cancelled(verdict(&followup(Playbook::ThankYou), &c, DAYTIME)),
        "shop uninstalled"
    );
}

#[test]
fn an_unconfirmed_uninstall_defers_instead_of_cancelling() {
    let mut c = ctx();
    c.uninstalled = true;
    c.uninstall_unconfirmed = true;
    assert_eq!(
        verdict(&followup(Playbook::ThankYou), &c, DAYTIME),
        Verdict::Defer {
            until: at(DAYTIME) + Duration::minutes(UNCONFIRMED_DEFER_MINUTES),
            reason: UNCONFIRMED_REASON.into(),
        }
    );
    // Once the uninstall is confirmed (or left in force), it cancels.
    c.uninstall_unconfirmed = false;
    assert_eq!(
        cancelled(verdict(&followup(Playbook::ThankYou), &c, DAYTIME)),
        "shop uninstalled"
    );
}

#[test]
fn cancelled_order_cancels() {
    let mut c = ctx();
    c.order.as_mut().unwrap().cancelled_at = Some("2026-11-02T00:00:00.000Z".into());
    assert_eq!(
        cancelled(verdict(&followup(Playbook::Satisfaction), &c, DAYTIME)),
        "order cancelled"
    );
}

#[test]
fn refunded_order_cancels_all_but_returns_feedback() {
    let mut c = ctx();
    c.order.as_mut().unwrap().refunded.insert("1".into(), 1);
    assert_eq!(
        cancelled(verdict(&followup(Playbook::ThankYou), &c, DAYTIME)),
        "order refunded"
    );
    assert_eq!(
        verdict(&followup(Playbook::Returns), &c, DAYTIME),
        Verdict::Send
    );
}

#[test]
fn test_orders_are_sent_only_in_dev_mode() {
    let mut c = ctx();
    c.order.as_mut().unwrap().test = true;
    assert!(
        cancelled(verdict(&followup(Playbook::ThankYou), &c, DAYTIME)).starts_with("test order")
    );
    let dev = Config::parse(
        "[email]\ndev_mode = true\n[[shop]]\npostal_address = \"1 Test Street, Springfield\"\ndomain = \"acme.myshopify.com\"\nsender_email = \"shop@acme.example\"\ntime_zone = \"Europe/Paris\"\n",
        "test",
    )
    .unwrap();
    assert_eq!(
        guard(
            &dev,
            &dev.shops[0],
            &followup(Playbook::ThankYou),
            &c,
            at(DAYTIME)
        ),
        Verdict::Send
    );
}

#[test]
fn suppressed_address_cancels() {
    let mut c = ctx();
    c.suppression = Some("unsubscribed".into());
    assert_eq!(
        cancelled(verdict(&followup(Playbook::Returns), &c, DAYTIME)),
        "address suppressed (unsubscribed)"
    );
}

#[test]
fn missing_address_cancels() {
    let mut c = ctx();
    c.profile.as_mut().unwrap().email = None;
    assert_eq!(
        cancelled(verdict(&followup(Playbook::ThankYou), &c, DAYTIME)),
        "no email address"
    );
}

#[test]
fn marketing_needs_consent_but_transactional_mail_does_not() {
    let mut c = ctx();
    c.profile.as_mut().unwrap().consent_state = Some("unsubscribed".into());
    assert_eq!(
        cancelled(verdict(&followup(Playbook::Replenishment), &c, DAYTIME)),
        "no marketing consent"
    );
    assert_eq!(
        cancelled(verdict(&followup(Playbook::Loyalty), &c, DAYTIME)),
        "no marketing consent"
    );
    assert_eq!(
        verdict(&followup(Playbook::ThankYou), &c, DAYTIME),
        Verdict::Send
    );
}

#[test]
fn checkout_opt_in_counts_when_no_consent_was_recorded() {
    let mut c = ctx();
    let p = c.profile.as_mut().unwrap();
    p.consent_state = None;
    p.accepts_marketing_at_checkout = true;
    assert_eq!(
        verdict(&followup(Playbook::Replenishment), &c, DAYTIME),
        Verdict::Send
    );
    c.profile.as_mut().unwrap().accepts_marketing_at_checkout = false;
    assert_eq!(
        cancelled(verdict(&followup(Playbook::Replenishment), &c, DAYTIME)),
        "no marketing consent"
    );
}

#[test]
fn replenishment_is_cancelled_when_the_customer_already_reordered() {
    let mut c = ctx();
    c.profile
        .as_mut()
        .unwrap()
        .products
        .insert("7".into(), "2026-11-15T09:00:00.000Z".into());
    assert_eq!(
        cancelled(verdict(&followup(Playbook::Replenishment), &c, DAYTIME)),
        "reordered"
    );
}

#[test]
fn quiet_hours_defer_to_their_end_in_the_shop_time_zone() {
    // 22:30 in Paris (UTC+1 in November) → wait until 08:00 Paris = 07:00 UTC next day.
    match verdict(
        &followup(Playbook::ThankYou),
        &ctx(),
        "2026-11-23T21:30:00Z",
    ) {
        Verdict::Defer { until, reason } => {
            assert_eq!(until, at("2026-11-24T07:00:00Z"));
            assert_eq!(reason, "quiet hours");
        }
        other => panic!("{other:?}"),
    }
    // 06:00 in Paris → 08:00 the same day.
    match verdict(
        &followup(Playbook::ThankYou),
        &ctx(),
        "2026-11-24T05:00:00Z",
    ) {
        Verdict::Defer { until, .. } => assert_eq!(until, at("2026-11-24T07:00:00Z")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn quiet_hours_within_one_day_and_across_dst() {
    let cfg = config("quiet_hours = { start = \"12:00\", end = \"14:00\" }\n");
    let shop = &cfg.shops[0];
    assert_eq!(
        quiet_until(at("2026-11-23T11:30:00Z"), shop),
        Some(at("2026-11-23T13:00:00Z"))
    );
    assert_eq!(
        quiet_until(at("2026-11-23T13:00:00Z"), shop),
        None,
        "14:00 local is the end"
    );
    // The night of the switch to summer time (29 March 2026, Paris): 08:00 is UTC+2.
    let night = config("");
    assert_eq!(
        quiet_until(at("2026-03-29T01:30:00Z"), &night.shops[0]),
        Some(at("2026-03-29T06:00:00Z"))
    );
}

#[test]
fn retry_backoff_grows_and_is_capped() {
    for (attempt, minutes) in [(1, 2), (2, 4), (3, 8), (6, 60), (20, 60)] {
        let d = retry_backoff(attempt);
        let base = Duration::minutes(minutes);
        assert!(
            d >= base - base / 4 && d <= base + base / 4,
            "attempt {attempt}: {d}"
        );
    }
}

#[tokio::test]
async fn the_pace_spaces_slots_and_refuses_one_past_the_cutoff() {
    let pace = Pace::per_second(20.0); // a slot every 50 ms
    let start = Instant::now();
    let cutoff = start + std::time::Duration::from_millis(120);
    for _ in 0..3 {
        assert!(pace.wait_until(cutoff).await, "slots at 0, 50 and 100 ms");
    }
    let waited = start.elapsed();
    assert!(
        waited >= std::time::Duration::from_millis(100),
        "{waited:?}"
    );
    // The next slot (150 ms) is past the cutoff: refused at once, without sleeping.
    let before = Instant::now();
    assert!(!pace.wait_until(cutoff).await);
    assert!(before.elapsed() < std::time::Duration::from_millis(20));
    // A refused slot is not taken: a later cutoff gets it.
    assert!(
        pace.wait_until(start + std::time::Duration::from_secs(5))
            .await
    );
    assert!(start.elapsed() >= std::time::Duration::from_millis(150));
}

#[test]
fn the_email_is_in_the_customers_language_else_the_shops() {
    let links = LinkBuilder {
        base_url: "https://links.example.test".into(),
        keys: crate::model::tokens::LinkKeys::parse("1:a-test-key-that-is-long-enough-0123456789")
            .unwrap(),
        ttl_days: 60,
    };
    let french_shop = config("locale = \"fr\"\n");
    let english_shop = config("");
    let f = followup(Playbook::ThankYou);
    let order = ctx().order.unwrap();
    let now = at("2026-11-22T10:00:00Z");
    // The language the email is written in: the customer's (order, then profile), then
    // the shop's, then English.
    let lang = |shop: &Config, order: &OrderRecord, profile: &ProfileRecord| {
        let ctx = email_context(
            &links,
            &f,
            &shop.shops[0],
            order,
            profile,
            "a@b.c",
            "s@acme.example",
            now,
        );
        let html = crate::email::Templates::builtin()
            .render(&ctx)
            .unwrap()
            .html;
        let start = html.find("<html lang=\"").unwrap() + "<html lang=\"".len();
        html[start..].split('"').next().unwrap().to_owned()
    };
    let unknown = ProfileRecord::default();
    let french = ProfileRecord {
        locale: Some("fr-CA".into()),
        ..ProfileRecord::default()
    };
    let japanese = ProfileRecord {
        locale: Some("ja".into()),
        ..ProfileRecord::default()
    };
    let ordered_in_english = OrderRecord {
        customer_locale: Some("en-GB".into()),
        ..order.clone()
    };
    assert_eq!(lang(&french_shop, &order, &unknown), "fr");
    assert_eq!(lang(&english_shop, &order, &unknown), "en");
    assert_eq!(lang(&english_shop, &order, &french), "fr");
    // A language we have no templates for falls back to the shop's, not to English.
    assert_eq!(lang(&french_shop, &order, &japanese), "fr");
    assert_eq!(lang(&english_shop, &order, &japanese), "en");
    // The order's locale wins over the profile's.
    assert_eq!(lang(&french_shop, &ordered_in_english, &french), "en");
}

#[test]
fn a_shop_locale_that_is_not_a_language_tag_is_refused_at_load() {
    let err = Config::parse(
        "[[shop]]\npostal_address = \"1 Test Street, Springfield\"\ndomain = \"acme.myshopify.com\"\nlocale = \"<fr>\"\n",
        "test",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("shop[0].locale") && err.contains("language tag"),
        "{err}"
    );
}
