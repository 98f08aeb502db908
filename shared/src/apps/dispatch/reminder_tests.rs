//! The satisfaction reminder over the in-memory ports: planned once when the
//! satisfaction email is handed to SES, sent once to the customer who did not rate, and
//! called off for each reason `domain::reminder` names; the other guards (suppression,
//! frequency cap, quiet hours) apply to it as to any follow-up. Against moto:
//! `tests/it/reminder.rs`.

use super::*;
use crate::domain::reminder::{BOUNCED, NOT_DELIVERED, NOT_SENT, RATED, REFUNDED, TURNED_OFF};
use crate::model::time::FixedClock;
use crate::model::tokens::{verify, LinkKeys, Purpose};
use crate::model::{FeedbackRecord, OrderLine, Playbook};
use crate::ports::memory::{MemoryAdmin, MemoryMailer, MemoryStore, Op};

const SHOP: &str = "acme.myshopify.com";
/// 11:00 in Paris on a weekday: outside the default 21:00–08:00 quiet hours.
const T0: &str = "2026-11-23T10:00:00Z";
const KEYS: &str = "1:a-test-key-that-is-long-enough-0123456789";

type Machine = Dispatcher<MemoryMailer, MemoryStore, MemoryAdmin>;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

fn config(satisfaction: &str) -> Arc<Config> {
    Arc::new(
        Config::parse(
            &format!(
                "[dispatch]\nmax_attempts = 3\ndeadline_margin_ms = 100\n\
                 [[shop]]\npostal_address = \"1 Test Street, Springfield\"\ndomain = \"acme.myshopify.com\"\nsender_email = \"shop@acme.example\"\n\
                 time_zone = \"Europe/Paris\"\n\
                 [shop.playbooks.satisfaction]\n{satisfaction}\n"
            ),
            "test",
        )
        .unwrap(),
    )
}

struct World {
    store: MemoryStore,
    mailer: MemoryMailer,
    clock: Arc<FixedClock>,
    config: Arc<Config>,
}

impl World {
    fn new() -> World {
        World::with("")
    }

    fn with(satisfaction: &str) -> World {
        World {
            store: MemoryStore::default(),
            mailer: MemoryMailer::default(),
            clock: Arc::new(FixedClock::new(at(T0))),
            config: config(satisfaction),
        }
    }

    fn dispatcher(&self) -> Machine {
        Dispatcher {
            config: self.config.clone(),
            store: self.store.clone(),
            mailer: self.mailer.clone(),
            links: LinkBuilder {
                base_url: "https://links.example.test".into(),
                keys: LinkKeys::parse(KEYS).unwrap(),
                ttl_days: 60,
            },
            templates: HashMap::new(),
            clock: self.clock.clone(),
            owner: "me".into(),
            admin: MemoryAdmin::default(),
        }
    }

    /// Customer `key` with order `order_id` and its satisfaction check due at T0.
    fn satisfaction_due(&self, key: &str, order_id: u64) -> String {
        self.store.put_order(
            SHOP,
            OrderRecord {
                v: 1,
                order_id,
                name: Some(format!("#{order_id}")),
                customer_key: Some(key.into()),
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
            },
        );
        self.store.put_profile(
            SHOP,
            ProfileRecord {
                v: 1,
                customer_key: key.into(),
                email: Some(format!("{key}@example.com")),
                ..ProfileRecord::default()
            },
        );
        let f = FollowUpRecord::pending(
            SHOP,
            key,
            Playbook::Satisfaction,
            order_id,
            None,
            &utc_key(&at(T0)),
            "2026-11-01T10:00:00.000Z",
            self.config.dispatch.shards,
        );
        let id = f.id.clone();
        self.store.put_followup(f);
        id
    }

    /// What mail-events records on an SES Delivery event.
    fn delivered(&self, id: &str) {
        let mut f = self.store.followup(id);
        f.tracking.delivered_at = f.sent_at.clone();
        self.store.put_followup(f);
    }

    fn rated(&self, key: &str, satisfaction: &str, order_id: u64, score: u8) {
        self.store.put_feedback(FeedbackRecord {
            v: 1,
            shop: SHOP.into(),
            customer_key: key.into(),
            followup: satisfaction.into(),
            order_id,
            score,
            first_at: utc_key(&self.clock.now()),
            updated_at: utc_key(&self.clock.now()),
            submissions: 1,
            ..Default::default()
        });
    }

    fn advance(&self, by: Duration) {
        self.clock.set(self.clock.now() + by);
    }

    async fn run(&self) -> serde_json::Value {
        self.run_for(std::time::Duration::from_secs(30)).await
    }

    async fn run_for(&self, left: std::time::Duration) -> serde_json::Value {
        let deadline = Instant::now() + left;
        self.dispatcher()
            .send_due(deadline)
            .await
            .unwrap()
            .summary()
    }

    /// Reminders the report counts as planned.
    fn counted_planned(&self) -> u64 {
        self.store
            .counted()
            .iter()
            .filter(|(k, _)| k.contains("satisfaction_reminder") && k.ends_with("planned"))
            .map(|(_, v)| v.parse::<u64>().unwrap_or(0))
            .sum()
    }

    fn reminders(&self) -> Vec<FollowUpRecord> {
        self.store
            .followups()
            .into_iter()
            .filter(|f| f.playbook == Playbook::SatisfactionReminder)
            .collect()
    }

    /// Two customers' satisfaction checks sent at T0 and delivered, then five days on.
    async fn two_sent_and_delivered(&self) -> (String, String) {
        let a = self.satisfaction_due("a", 1);
        let b = self.satisfaction_due("b", 2);
        assert_eq!(self.run().await["sent"], 2);
        self.delivered(&a);
        self.delivered(&b);
        (a, b)
    }
}

fn tag<'a>(email: &'a OutgoingEmail, name: &str) -> &'a str {
    email
        .tags
        .iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_default()
}

/// The rating links of an email's HTML part, verified: (follow-up, score) each names.
fn ratings_in(email: &OutgoingEmail, now: DateTime<Utc>) -> Vec<(String, Option<u8>)> {
    let msg = mail_parser::MessageParser::default()
        .parse(&email.raw)
        .expect("MIME parses");
    let html = msg.body_html(0).expect("an HTML part").into_owned();
    let keys = LinkKeys::parse(KEYS).unwrap();
    html.split("https://links.example.test/rate?t=")
        .skip(1)
        .map(|rest| {
            let token = &rest[..rest.find('"').unwrap()];
            let claims = verify(&keys, token, Purpose::Rate, now.timestamp()).expect("signed");
            (claims.followup, claims.score)
        })
        .collect()
}

#[tokio::test]
async fn the_silent_customer_gets_one_reminder_and_the_one_who_rated_none() {
    let w = World::new();
    let (a, b) = w.two_sent_and_delivered().await;
    // Planned as each satisfaction email was handed to SES, five days after it.
    let planned = w.reminders();
    assert_eq!(planned.len(), 2, "{planned:?}");
    for r in &planned {
        assert_eq!(r.status, FollowUpStatus::Pending);
        assert_eq!(r.due_at, "2026-11-28T10:00:00.000Z");
    }
    w.rated("b", &b, 2, 4);

    // Not before its due time.
    w.advance(Duration::days(5) - Duration::minutes(1));
    assert_eq!(w.run().await["due"], 0);
    w.advance(Duration::minutes(1));
    let report = w.run().await;
    assert_eq!(
        (report["sent"].as_u64(), report["cancelled"].as_u64()),
        (Some(1), Some(1)),
        "{report}"
    );
    let sent = w.mailer.sent();
    let reminder = sent.last().unwrap();
    assert_eq!(reminder.to, "a@example.com");
    assert_eq!(tag(reminder, "playbook"), "satisfaction_reminder");
    assert_eq!(tag(reminder, "followup"), "satisfaction_reminder#1#0");
    // Its five rating links are signed for the satisfaction check, so a rating lands
    // on that one feedback item.
    let ratings = ratings_in(reminder, w.clock.now());
    assert_eq!(
        ratings,
        (1..=5).map(|s| (a.clone(), Some(s))).collect::<Vec<_>>()
    );
    let b_reminder = w.store.followup("satisfaction_reminder#2#0");
    assert_eq!(b_reminder.status, FollowUpStatus::Cancelled);
    assert_eq!(b_reminder.reason.as_deref(), Some(RATED));
    let a_reminder = w.store.followup("satisfaction_reminder#1#0");
    assert_eq!(a_reminder.status, FollowUpStatus::Sent);

    // A second run, and a week later, send nothing more; the reminder plans no reminder.
    assert_eq!(w.run().await["sent"], 0);
    w.advance(Duration::days(7));
    assert_eq!(w.run().await["due"], 0);
    assert_eq!(w.reminders().len(), 2);
    assert_eq!(w.mailer.sent().len(), 3);
}

#[tokio::test]
async fn each_reason_to_call_a_reminder_off_cancels_it_with_that_reason() {
    let w = World::new();
    let sent = w.satisfaction_due("sent", 1);
    let bounced = w.satisfaction_due("bounced", 2);
    let _undelivered = w.satisfaction_due("undelivered", 3);
    let refunded = w.satisfaction_due("refunded", 4);
    let suppressed = w.satisfaction_due("suppressed", 5);
    assert_eq!(w.run().await["sent"], 5);
    for id in [&sent, &bounced, &refunded, &suppressed] {
        w.delivered(id);
    }
    let mut f = w.store.followup(&bounced);
    f.tracking.bounced_at = f.sent_at.clone();
    f.tracking.bounce_type = Some("transient".into());
    w.store.put_followup(f);
    let mut order = OrderRecord {
        v: 2,
        order_id: 4,
        customer_key: Some("refunded".into()),
        refunded_at: Some("2026-11-25T10:00:00.000Z".into()),
        ..OrderRecord::default()
    };
    order.refunded.insert("1".into(), 1);
    order.lines = vec![
        OrderLine {
            line_item_id: 1,
            product_id: Some(7),
            variant_id: Some(70),
            sku: None,
            title: "Tea".into(),
            variant_title: None,
            quantity: 2,
            price: None,
        };
        1
    ];
    w.store.put_order(SHOP, order); // one of two units refunded: not a full refund
    w.store
        .suppress(SHOP, "suppressed@example.com", "complained");

    w.advance(Duration::days(5));
    let report = w.run().await;
    assert_eq!(
        (report["sent"].as_u64(), report["cancelled"].as_u64()),
        (Some(1), Some(4)),
        "{report}"
    );
    let reason = |key: &str, order: u64| {
        let f = w
            .store
            .followup(&format!("satisfaction_reminder#{order}#0"));
        assert_eq!(f.customer_key, key);
        (f.status, f.reason)
    };
    assert_eq!(reason("sent", 1).0, FollowUpStatus::Sent);
    let cancelled = |r: &str| (FollowUpStatus::Cancelled, Some(r.to_owned()));
    assert_eq!(reason("bounced", 2), cancelled(BOUNCED));
    assert_eq!(reason("undelivered", 3), cancelled(NOT_DELIVERED));
    assert_eq!(reason("refunded", 4), cancelled(REFUNDED));
    assert_eq!(
        reason("suppressed", 5),
        cancelled("address suppressed (complained)")
    );
}

#[tokio::test]
async fn turned_off_at_send_time_cancels_and_turned_off_at_planning_plans_none() {
    let w = World::new();
    let (_, _) = w.two_sent_and_delivered().await;
    assert_eq!(w.reminders().len(), 2);
    // The merchant sets reminder_days = 0 before the reminders are due.
    let off = World::with("reminder_days = 0");
    let w = World {
        config: off.config.clone(),
        ..w
    };
    w.advance(Duration::days(5));
    let report = w.run().await;
    assert_eq!(
        (report["sent"].as_u64(), report["cancelled"].as_u64()),
        (Some(0), Some(2)),
        "{report}"
    );
    assert!(w
        .reminders()
        .iter()
        .all(|r| r.reason.as_deref() == Some(TURNED_OFF)));

    // With the reminder off from the start none is planned.
    off.satisfaction_due("c", 3);
    assert_eq!(off.run().await["sent"], 1);
    assert!(off.reminders().is_empty());
}

#[tokio::test]
async fn the_frequency_cap_and_quiet_hours_defer_a_reminder() {
    let w = World::with("reminder_days = 5");
    let (_, _) = w.two_sent_and_delivered().await;
    w.advance(Duration::days(5));
    // Customer a had another email an hour ago: theirs waits for the cap's end.
    let mut p = w.store.profile(SHOP, "a").unwrap();
    p.last_email_at = Some(utc_key(&(w.clock.now() - Duration::hours(1))));
    p.last_email_by = Some("thank_you#9#0".into());
    w.store.put_profile(SHOP, p);
    let report = w.run().await;
    assert_eq!(
        (report["sent"].as_u64(), report["deferred"].as_u64()),
        (Some(1), Some(1)),
        "{report}"
    );
    let a = w.store.followup("satisfaction_reminder#1#0");
    assert_eq!(a.status, FollowUpStatus::Pending);
    assert_eq!(a.reason.as_deref(), Some("frequency cap"));
    assert_eq!(a.due_at, utc_key(&(w.clock.now() + Duration::hours(15))));

    // Due at 02:00 in Paris: quiet hours until 08:00.
    w.clock.set(at("2026-11-29T01:00:00Z"));
    let report = w.run().await;
    assert_eq!(report["deferred"], 1, "{report}");
    let a = w.store.followup("satisfaction_reminder#1#0");
    assert_eq!(
        (a.due_at.as_str(), a.reason.as_deref()),
        ("2026-11-29T07:00:00.000Z", Some("quiet hours"))
    );
    w.clock.set(at("2026-11-29T07:00:00Z"));
    assert_eq!(w.run().await["sent"], 1);
}

#[tokio::test]
async fn a_send_whose_outcome_was_lost_keeps_the_one_reminder_its_hand_over_made() {
    let w = World::new();
    let id = w.satisfaction_due("a", 1);
    // The outcome of the send cannot be written; the reminder came with the mark.
    w.store.lose_outcomes_after_hand_over();
    // Too little time left to retry the outcome write.
    w.run_for(std::time::Duration::from_millis(2_000)).await;
    assert_eq!(w.mailer.sent().len(), 1);
    let reminders = w.reminders();
    assert_eq!(reminders.len(), 1);
    assert_eq!(reminders[0].due_at, "2026-11-28T10:00:00.000Z");
    w.store.heal();
    // The next claim after the lease marks it possibly sent and makes no second one.
    w.advance(Duration::seconds(
        i64::from(w.config.dispatch.lease_seconds) + 1,
    ));
    let report = w.run().await;
    assert_eq!(report["unconfirmed"], 1, "{report}");
    assert_eq!(w.mailer.sent().len(), 1, "never sent twice");
    assert_eq!(w.reminders(), reminders);

    // Planning again (another retake, a re-run) finds it and makes no second one.
    let sent = w.store.followup(&id);
    let again = w
        .dispatcher()
        .reminder_of(&sent)
        .expect("a reminder is wanted");
    assert_eq!(w.store.create_followup(&again).await.unwrap(), Cas::Lost);
    assert_eq!(w.reminders(), reminders);
}

#[tokio::test]
async fn a_mark_an_older_dispatcher_wrote_without_a_reminder_gets_one_when_marked_possibly_sent() {
    let w = World::new();
    let id = w.satisfaction_due("a", 1);
    // What a dispatcher from before reminders came with the mark leaves after a crash:
    // the check `sending`, handed over at T0, its lease over, and no reminder.
    let mut f = w.store.followup(&id);
    f.v += 1;
    f.status = FollowUpStatus::Sending;
    f.sent_at = Some("2026-11-23T10:00:00.000Z".into());
    f.lease_owner = Some("an older dispatcher".into());
    f.lease_until = Some("2026-11-23T10:05:00.000Z".into());
    w.store.put_followup(f);
    w.advance(Duration::minutes(10));
    // Riding out one failed create.
    w.store.fail_next(Op::CreateFollowup, 1);
    let report = w.run().await;
    assert_eq!(report["unconfirmed"], 1, "{report}");
    assert!(w.mailer.sent().is_empty(), "never sent again");
    let reminders = w.reminders();
    assert_eq!(reminders.len(), 1);
    assert_eq!(reminders[0].due_at, "2026-11-28T10:00:00.000Z");
    assert_eq!(w.store.calls(Op::CreateFollowup), 2);
}

#[tokio::test]
async fn a_check_retried_after_a_failed_send_keeps_the_one_reminder_its_first_hand_over_made() {
    let w = World::new();
    let id = w.satisfaction_due("a", 1);
    w.mailer.fail_next(SendError::Transient("throttled".into()));
    let report = w.run().await;
    assert_eq!(report["retried"], 1, "{report}");
    // The first hand-over made the reminder, five days after that attempt.
    let first = w.reminders();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].due_at, "2026-11-28T10:00:00.000Z");
    assert_eq!(w.counted_planned(), 1);
    // The retry goes later: its hand-over finds the reminder and writes the mark alone,
    // so there is still one, counted once in the report.
    w.advance(Duration::hours(1));
    assert_eq!(w.run().await["sent"], 1);
    assert_eq!(w.store.followup(&id).status, FollowUpStatus::Sent);
    assert_eq!(w.reminders(), first);
    assert_eq!(w.counted_planned(), 1);
}

#[tokio::test]
async fn a_check_that_fails_for_good_leaves_a_reminder_its_guard_calls_off() {
    let w = World::new();
    let id = w.satisfaction_due("a", 1);
    w.mailer
        .fail_next(SendError::Permanent("address rejected".into()));
    assert_eq!(w.run().await["failed"], 1);
    assert_eq!(w.store.followup(&id).status, FollowUpStatus::Failed);
    assert_eq!(w.reminders().len(), 1);
    w.advance(Duration::days(5));
    let report = w.run().await;
    assert_eq!(report["cancelled"], 1, "{report}");
    let r = w.store.followup("satisfaction_reminder#1#0");
    assert_eq!(
        (r.status, r.reason.as_deref()),
        (FollowUpStatus::Cancelled, Some(NOT_SENT))
    );
    assert_eq!(w.mailer.sent().len(), 0);
}
