//! The dispatcher's state machine over the in-memory ports (`memory.rs`): claims and
//! leases, the guards, the frequency cap, halts, the hand-over mark, retries and
//! discount codes, without moto. The same behaviour against DynamoDB and SES is covered
//! by `tests/it/dispatch.rs`.

use super::*;
use crate::model::time::FixedClock;
use crate::model::OrderLine;
use crate::model::Playbook;
use crate::ports::memory::{MemoryAdmin, MemoryMailer, MemoryStore, Op};

const SHOP: &str = "acme.myshopify.com";
/// 11:00 in Paris on a weekday: outside the default 21:00–08:00 quiet hours.
const T0: &str = "2026-11-23T10:00:00Z";
const EMAIL: &str = "bob@example.com";

type Machine = Dispatcher<MemoryMailer, MemoryStore, MemoryAdmin>;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

fn config() -> Arc<Config> {
    Arc::new(
        Config::parse(
            "[dispatch]\nmax_attempts = 3\ndeadline_margin_ms = 100\n\
             [[shop]]\npostal_address = \"1 Test Street, Springfield\"\ndomain = \"acme.myshopify.com\"\nsender_email = \"shop@acme.example\"\n\
             time_zone = \"Europe/Paris\"\n\
             [shop.playbooks.loyalty]\ndiscount = { percentage = 15 }\n",
            "test",
        )
        .unwrap(),
    )
}

/// One store, mailer, admin and clock, and dispatchers over them.
struct World {
    store: MemoryStore,
    mailer: MemoryMailer,
    admin: MemoryAdmin,
    clock: Arc<FixedClock>,
    config: Arc<Config>,
}

impl World {
    fn new() -> World {
        World {
            store: MemoryStore::default(),
            mailer: MemoryMailer::default(),
            admin: MemoryAdmin::default(),
            clock: Arc::new(FixedClock::new(at(T0))),
            config: config(),
        }
    }

    fn dispatcher(&self, owner: &str) -> Machine {
        Dispatcher {
            config: self.config.clone(),
            store: self.store.clone(),
            mailer: self.mailer.clone(),
            links: LinkBuilder {
                base_url: "https://links.example.test".into(),
                keys: crate::model::tokens::LinkKeys::parse(
                    "1:a-test-key-that-is-long-enough-0123456789",
                )
                .unwrap(),
                ttl_days: 60,
            },
            templates: HashMap::new(),
            clock: self.clock.clone(),
            owner: owner.into(),
            admin: self.admin.clone(),
        }
    }

    /// A customer `key` with an order `order_id`, and a follow-up of `playbook` on it
    /// due at T0. Returns the follow-up's id.
    fn due(&self, playbook: Playbook, key: &str, order_id: u64) -> String {
        self.store.put_order(
            SHOP,
            OrderRecord {
                v: 1,
                order_id,
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
        if self.store.profile(SHOP, key).is_none() {
            self.store.put_profile(
                SHOP,
                ProfileRecord {
                    v: 1,
                    customer_key: key.into(),
                    email: Some(format!("{key}-{EMAIL}")),
                    consent_state: Some("subscribed".into()),
                    ..ProfileRecord::default()
                },
            );
        }
        let id = format!("{}#{order_id}#0", playbook.as_str());
        let mut f = FollowUpRecord {
            v: 1,
            id: id.clone(),
            shop: SHOP.into(),
            customer_key: key.into(),
            playbook,
            order_id,
            product_id: (playbook == Playbook::Replenishment).then_some(7),
            status: FollowUpStatus::Pending,
            due_at: utc_key(&at(T0)),
            due_pk: None,
            due_sk: None,
            lease_owner: None,
            lease_until: None,
            attempts: 0,
            store_retries: 0,
            reason: None,
            ses_message_id: None,
            sent_at: None,
            held_out_at: None,
            planned_at: "2026-11-01T10:00:00.000Z".into(),
            email_hash: None,
            tracking: Default::default(),
        };
        f.index_at(&f.due_at.clone(), self.config.dispatch.shards);
        self.store.put_followup(f);
        id
    }

    fn advance(&self, by: Duration) {
        self.clock.set(self.clock.now() + by);
    }
}

/// A run with a minute to spare.
async fn run(d: &Machine) -> serde_json::Value {
    run_until(d, std::time::Duration::from_secs(60)).await
}

async fn run_until(d: &Machine, left: std::time::Duration) -> serde_json::Value {
    d.send_due(Instant::now() + left)
        .await
        .expect("the run reads the due index")
        .summary()
}

/// A counter of a run's report.
fn n(report: &serde_json::Value, key: &str) -> u64 {
    report[key]
        .as_u64()
        .unwrap_or_else(|| panic!("no {key} in {report}"))
}

fn is_due(f: &FollowUpRecord) -> bool {
    f.due_pk.is_some() && f.due_sk.is_some()
}

#[tokio::test]
async fn a_due_follow_up_is_sent_once_and_leaves_the_due_index() {
    let w = World::new();
    let id = w.due(Playbook::ThankYou, "42", 1001);
    let report = run(&w.dispatcher("a")).await;
    assert_eq!((n(&report, "claimed"), n(&report, "sent")), (1, 1));
    let f = w.store.followup(&id);
    assert_eq!(f.status, FollowUpStatus::Sent);
    assert!(!is_due(&f));
    assert_eq!(w.mailer.sent().len(), 1);
    assert_eq!(w.mailer.sent()[0].to, format!("42-{EMAIL}"));
    // Nothing left to do.
    let again = run(&w.dispatcher("b")).await;
    assert_eq!(again["due"], 0);
    assert_eq!(w.mailer.sent().len(), 1);
}

#[tokio::test]
async fn of_two_dispatchers_racing_for_a_follow_up_exactly_one_sends() {
    let w = World::new();
    let id = w.due(Playbook::ThankYou, "42", 1001);
    let (a, b) = (w.dispatcher("a"), w.dispatcher("b"));
    let (ra, rb) = tokio::join!(run(&a), run(&b));
    assert_eq!((n(&ra, "due"), n(&rb, "due")), (1, 1), "both saw it due");
    let claimed = n(&ra, "claimed") + n(&rb, "claimed");
    let lost = n(&ra, "lost") + n(&rb, "lost");
    assert_eq!((claimed, lost), (1, 1), "{ra} {rb}");
    assert_eq!(w.mailer.sent().len(), 1, "one email");
    assert_eq!(w.store.followup(&id).status, FollowUpStatus::Sent);
}

#[tokio::test]
async fn a_claim_whose_dispatcher_died_is_retaken_once_its_lease_ends() {
    let w = World::new();
    // A playbook with a discount code is claimed before its code is created.
    let id = w.due(Playbook::Loyalty, "42", 1001);
    // The claim lands; every write after it fails (the dispatcher loses the store).
    w.store.fail_after(Op::SaveFollowup, 1, u32::MAX);
    // (A short run: the failing outcome writes are retried until the deadline.)
    let first = run_until(&w.dispatcher("a"), std::time::Duration::from_millis(3_500)).await;
    assert_eq!(first["claimed"], 1);
    assert!(w.mailer.sent().is_empty());
    let f = w.store.followup(&id);
    assert_eq!(f.status, FollowUpStatus::Sending);
    assert_eq!(f.lease_owner.as_deref(), Some("a"));
    w.store.heal();

    // Within the lease nobody else takes it.
    w.advance(Duration::seconds(60));
    let early = run(&w.dispatcher("b")).await;
    assert_eq!((n(&early, "due"), n(&early, "claimed")), (0, 0));
    assert!(w.mailer.sent().is_empty());

    // Past the lease the next run retakes and sends it, counting the lost attempt.
    w.advance(Duration::seconds(61));
    let late = run(&w.dispatcher("b")).await;
    assert_eq!((n(&late, "claimed"), n(&late, "sent")), (1, 1));
    let f = w.store.followup(&id);
    assert_eq!(f.status, FollowUpStatus::Sent);
    assert_eq!(f.attempts, 2);
    assert_eq!(w.mailer.sent().len(), 1);
}

#[tokio::test]
async fn a_dispatcher_that_loses_the_store_before_the_hand_over_leaves_the_follow_up_as_it_was() {
    let w = World::new();
    let id = w.due(Playbook::ThankYou, "42", 1001);
    let before = w.store.followup(&id);
    // No code to create: the hand-over is its claim. It and every write after fail.
    w.store.fail_after(Op::HandOver, 0, u32::MAX);
    w.store.fail_after(Op::SaveFollowup, 0, u32::MAX);
    let first = run_until(&w.dispatcher("a"), std::time::Duration::from_millis(3_500)).await;
    assert_eq!((n(&first, "claimed"), n(&first, "sent")), (0, 0), "{first}");
    assert!(w.mailer.attempts().is_empty());
    // Nothing was written: still pending, due, at its version, no attempt counted.
    let f = w.store.followup(&id);
    assert_eq!(
        (f.status, f.v, f.attempts, f.lease_owner.clone()),
        (FollowUpStatus::Pending, before.v, 0, None)
    );
    assert!(is_due(&f));
    let p = w.store.profile(SHOP, "42").unwrap();
    assert_eq!(p.last_email_by, None, "no send slot taken");
    w.store.heal();
    // The next run sends it at once: no lease to wait out.
    let next = run(&w.dispatcher("b")).await;
    assert_eq!((n(&next, "claimed"), n(&next, "sent")), (1, 1), "{next}");
    let f = w.store.followup(&id);
    assert_eq!((f.status, f.attempts), (FollowUpStatus::Sent, 1));
    assert_eq!(w.mailer.sent().len(), 1);
}

#[tokio::test]
async fn marketing_without_consent_is_cancelled_not_sent() {
    let w = World::new();
    let id = w.due(Playbook::Replenishment, "42", 1001);
    let mut p = w.store.profile(SHOP, "42").unwrap();
    p.consent_state = Some("unsubscribed".into());
    w.store.put_profile(SHOP, p);
    let report = run(&w.dispatcher("a")).await;
    assert_eq!(report["cancelled"], 1);
    let f = w.store.followup(&id);
    assert_eq!(f.status, FollowUpStatus::Cancelled);
    assert_eq!(f.reason.as_deref(), Some("no marketing consent"));
    assert!(!is_due(&f));
    assert!(w.mailer.attempts().is_empty());
}

#[tokio::test]
async fn a_suppressed_address_is_cancelled_not_sent() {
    let w = World::new();
    let id = w.due(Playbook::ThankYou, "42", 1001);
    w.store.suppress(SHOP, &format!("42-{EMAIL}"), "bounced");
    let report = run(&w.dispatcher("a")).await;
    assert_eq!(report["cancelled"], 1);
    let f = w.store.followup(&id);
    assert_eq!(f.status, FollowUpStatus::Cancelled);
    assert_eq!(f.reason.as_deref(), Some("address suppressed (bounced)"));
    assert!(w.mailer.attempts().is_empty());
}

#[tokio::test]
async fn the_suppression_read_is_the_current_addresss_whatever_the_follow_up_was_planned_for() {
    let w = World::new();
    // Planned for an old address (suppressed); the customer has a new one since.
    let id = w.due(Playbook::ThankYou, "42", 1001);
    let mut f = w.store.followup(&id);
    f.email_hash = Some(crate::model::email_hash("old@example.com"));
    w.store.put_followup(f);
    w.store.suppress(SHOP, "old@example.com", "bounced");
    assert_eq!(run(&w.dispatcher("a")).await["sent"], 1);
    assert_eq!(w.mailer.sent()[0].to, format!("42-{EMAIL}"));

    // Planned for the current address, which is suppressed: read with the rest.
    let other = w.due(Playbook::ThankYou, "43", 1002);
    let mut f = w.store.followup(&other);
    f.email_hash = Some(crate::model::email_hash(&format!("43-{EMAIL}")));
    w.store.put_followup(f);
    w.store.suppress(SHOP, &format!("43-{EMAIL}"), "complained");
    // Planned for an old address, and the new one is suppressed: read on its own.
    let third = w.due(Playbook::ThankYou, "44", 1003);
    let mut f = w.store.followup(&third);
    f.email_hash = Some(crate::model::email_hash("old@example.com"));
    w.store.put_followup(f);
    w.store
        .suppress(SHOP, &format!("44-{EMAIL}"), "unsubscribed");
    let report = run(&w.dispatcher("a")).await;
    assert_eq!(
        (n(&report, "cancelled"), n(&report, "sent")),
        (2, 0),
        "{report}"
    );
    for (id, reason) in [(other, "complained"), (third, "unsubscribed")] {
        let f = w.store.followup(&id);
        assert_eq!(f.status, FollowUpStatus::Cancelled);
        assert_eq!(f.reason, Some(format!("address suppressed ({reason})")));
    }
    assert_eq!(w.mailer.sent().len(), 1);
}

#[tokio::test]
async fn the_frequency_cap_defers_the_second_follow_up_until_the_slot_ends() {
    let w = World::new();
    let first = w.due(Playbook::ThankYou, "42", 1001);
    let report = run(&w.dispatcher("a")).await;
    assert_eq!(report["sent"], 1);
    let p = w.store.profile(SHOP, "42").unwrap();
    assert_eq!(p.last_email_by.as_deref(), Some(first.as_str()));
    assert_eq!(p.last_email_at, Some(utc_key(&at(T0))));

    w.advance(Duration::hours(1));
    let second = w.due(Playbook::Satisfaction, "42", 1002);
    let mut f = w.store.followup(&second);
    f.due_at = utc_key(&w.clock.now());
    f.index_at(&f.due_at.clone(), w.config.dispatch.shards);
    w.store.put_followup(f);
    let report = run(&w.dispatcher("a")).await;
    assert_eq!((n(&report, "deferred"), n(&report, "sent")), (1, 0));
    let f = w.store.followup(&second);
    assert_eq!(f.status, FollowUpStatus::Pending);
    assert_eq!(f.reason.as_deref(), Some("frequency cap"));
    // 16 hours after the first email, with no attempt counted.
    assert_eq!(f.due_at, utc_key(&(at(T0) + Duration::hours(16))));
    assert_eq!(f.attempts, 0);
    assert_eq!(w.mailer.sent().len(), 1);
}

#[tokio::test]
async fn the_send_slot_is_given_back_when_the_send_does_not_happen() {
    let w = World::new();
    let id = w.due(Playbook::ThankYou, "42", 1001);
    let before = w.store.profile(SHOP, "42").unwrap();
    w.mailer
        .fail_next(SendError::Permanent("rejected recipient".into()));
    let report = run(&w.dispatcher("a")).await;
    assert_eq!(report["failed"], 1);
    assert_eq!(w.store.followup(&id).status, FollowUpStatus::Failed);
    // The slot was taken with the hand-over (SES was asked), then given back to its
    // previous holder.
    assert_eq!(w.store.calls(Op::HandOver), 1);
    assert_eq!(w.store.calls(Op::ReserveSlot), 0);
    let after = w.store.profile(SHOP, "42").unwrap();
    assert_eq!(
        (after.last_email_at, after.last_email_by),
        (before.last_email_at, before.last_email_by)
    );
    // So another follow-up of the customer goes out now, not 16 hours later.
    let other = w.due(Playbook::Satisfaction, "42", 1002);
    let report = run(&w.dispatcher("a")).await;
    assert_eq!(report["sent"], 1, "{report}");
    assert_eq!(w.store.followup(&other).status, FollowUpStatus::Sent);
}

#[tokio::test]
async fn quiet_hours_defer_without_counting_an_attempt() {
    let w = World::new();
    let id = w.due(Playbook::ThankYou, "42", 1001);
    // 22:30 in Paris: quiet until 08:00 Paris (07:00 UTC) the next day.
    w.clock.set(at("2026-11-23T21:30:00Z"));
    let report = run(&w.dispatcher("a")).await;
    assert_eq!((n(&report, "deferred"), n(&report, "sent")), (1, 0));
    let f = w.store.followup(&id);
    assert_eq!(f.status, FollowUpStatus::Pending);
    assert_eq!(f.due_at, utc_key(&at("2026-11-24T07:00:00Z")));
    assert_eq!(f.reason.as_deref(), Some("quiet hours"));
    assert_eq!(f.attempts, 0);
    assert!(is_due(&f));
    assert!(w.mailer.attempts().is_empty());
    // It goes out once they end.
    w.clock.set(at("2026-11-24T07:00:00Z"));
    assert_eq!(run(&w.dispatcher("a")).await["sent"], 1);
}

#[tokio::test]
async fn an_account_level_refusal_halts_the_run_and_leaves_everything_due() {
    let w = World::new();
    let ids: Vec<_> = (0..3)
        .map(|i| w.due(Playbook::ThankYou, &format!("{}", 40 + i), 1001 + i))
        .collect();
    w.mailer.fail_next(SendError::Halt {
        reason: "account suspended".into(),
    });
    let report = run(&w.dispatcher("a")).await;
    assert_eq!(report["halted"], "account suspended");
    assert_eq!(report["sent"], 0);
    assert_eq!(w.mailer.attempts().len(), 1, "SES is not asked again");
    for id in &ids {
        let f = w.store.followup(id);
        assert_eq!(f.status, FollowUpStatus::Pending, "{id}");
        assert!(is_due(&f), "{id}");
        assert_eq!(f.due_at, utc_key(&at(T0)), "{id}");
        assert_eq!(f.attempts, 0, "{id}: no attempt counted");
        assert!(f.sent_at.is_none(), "{id}");
    }
    // Once SES sends again, all three go out.
    let report = run(&w.dispatcher("a")).await;
    assert_eq!(report["sent"], 3);
}

#[tokio::test]
async fn a_lost_outcome_after_the_hand_over_is_marked_possibly_sent_never_resent() {
    let w = World::new();
    let id = w.due(Playbook::ThankYou, "42", 1001);
    w.store.lose_outcomes_after_hand_over();
    // Too little time left to retry the outcome write.
    let first = run_until(&w.dispatcher("a"), std::time::Duration::from_millis(2_000)).await;
    assert_eq!(first["sent"], 1);
    assert_eq!(w.mailer.sent().len(), 1);
    let f = w.store.followup(&id);
    assert_eq!(f.status, FollowUpStatus::Sending);
    assert!(f.sent_at.is_some(), "the hand-over mark stays");
    w.store.heal();

    // The claim left the due key as it was (one index write, not two), so the follow-up
    // is in every run's due query; while the lease runs, a run passes it over: it must
    // not take a send still in flight for one whose outcome was lost.
    assert!(f
        .due_sk
        .as_deref()
        .is_some_and(|k| k < f.lease_until.as_deref().unwrap()));
    w.advance(Duration::seconds(60));
    let early = run(&w.dispatcher("b")).await;
    assert_eq!((n(&early, "due"), n(&early, "unconfirmed")), (0, 0));
    assert_eq!(w.store.followup(&id).status, FollowUpStatus::Sending);

    w.advance(Duration::minutes(2));
    let second = run(&w.dispatcher("b")).await;
    assert_eq!((n(&second, "claimed"), n(&second, "unconfirmed")), (1, 1));
    assert_eq!(second["sent"], 0);
    assert_eq!(w.mailer.attempts().len(), 1, "no second email");
    let f = w.store.followup(&id);
    assert_eq!(f.status, FollowUpStatus::Sent);
    assert_eq!(f.reason.as_deref(), Some(POSSIBLY_SENT));
    assert!(!is_due(&f));
}

#[tokio::test]
async fn transient_ses_errors_retry_with_backoff_then_fail_after_max_attempts() {
    let w = World::new();
    let id = w.due(Playbook::ThankYou, "42", 1001);
    w.mailer
        .fail_always(SendError::Transient("throttled".into()));
    let first = run(&w.dispatcher("a")).await;
    assert_eq!(first["retried"], 1);
    let f = w.store.followup(&id);
    assert_eq!(f.status, FollowUpStatus::Pending);
    assert_eq!(f.attempts, 1);
    assert_eq!(f.reason.as_deref(), Some("retrying: throttled"));
    // retry_backoff(1): 2 minutes ± 25 %.
    let due = parse_time(&f.due_at).unwrap().to_utc() - at(T0);
    assert!(
        due >= Duration::seconds(90) && due <= Duration::seconds(150),
        "{due}"
    );
    // Not before its backoff ends.
    w.advance(Duration::seconds(60));
    assert_eq!(run(&w.dispatcher("a")).await["due"], 0);

    w.advance(Duration::hours(1));
    assert_eq!(run(&w.dispatcher("a")).await["retried"], 1);
    assert_eq!(w.store.followup(&id).attempts, 2);
    w.advance(Duration::hours(1));
    let last = run(&w.dispatcher("a")).await;
    assert_eq!((n(&last, "failed"), n(&last, "retried")), (1, 0));
    let f = w.store.followup(&id);
    assert_eq!(f.status, FollowUpStatus::Failed);
    assert_eq!(f.attempts, 3);
    assert!(!is_due(&f));
    assert_eq!(w.mailer.attempts().len(), 3, "max_attempts = 3");
    assert!(w.mailer.sent().is_empty());
}

#[tokio::test]
async fn a_discount_code_is_created_once_across_retries() {
    let w = World::new();
    let id = w.due(Playbook::Loyalty, "42", 1001);
    w.mailer.fail_next(SendError::Transient("throttled".into()));
    let first = run(&w.dispatcher("a")).await;
    assert_eq!(first["retried"], 1);
    assert_eq!(w.admin.create_calls(), 1);
    let codes = w.admin.codes();
    assert_eq!(codes.len(), 1);

    w.advance(Duration::hours(1));
    let second = run(&w.dispatcher("b")).await;
    assert_eq!(second["sent"], 1);
    assert_eq!(w.admin.create_calls(), 1, "the recorded code is reused");
    assert_eq!(w.admin.codes(), codes);
    // Both emails carry that one code.
    let attempts = w.mailer.attempts();
    assert_eq!(attempts.len(), 2);
    for email in &attempts {
        let raw = String::from_utf8_lossy(&email.raw);
        assert!(raw.contains(&codes[0]), "the email carries {}", codes[0]);
    }
    assert_eq!(w.store.followup(&id).status, FollowUpStatus::Sent);
}

#[tokio::test]
async fn a_code_created_before_a_store_failure_is_adopted_on_retry() {
    let w = World::new();
    let id = w.due(Playbook::Loyalty, "42", 1001);
    // The store is down right after the code is created in Shopify: the follow-up is
    // retried with the code still marked reserved.
    w.store.fail_after(Op::SaveDiscount, 0, 1);
    let first = run(&w.dispatcher("a")).await;
    assert_eq!(first["retried"], 1, "{first}");
    assert_eq!(w.admin.codes().len(), 1);

    w.advance(Duration::hours(1));
    let second = run(&w.dispatcher("a")).await;
    assert_eq!(second["sent"], 1, "{second}");
    // Shopify answered TAKEN for our own code; it was adopted, not replaced.
    assert_eq!(w.admin.codes().len(), 1);
    let d = &w.store.discounts()[0];
    assert_eq!(d.status, crate::model::DiscountStatus::Created);
    assert!(d.replaced.is_empty());
    assert_eq!(w.store.followup(&id).status, FollowUpStatus::Sent);
}

#[tokio::test]
async fn a_transient_admin_error_retries_the_follow_up_with_its_reserved_code() {
    let w = World::new();
    let id = w.due(Playbook::Loyalty, "42", 1001);
    w.admin
        .fail_next(crate::ports::admin::AdminError::Transient(
            "HTTP 503".into(),
        ));
    let first = run(&w.dispatcher("a")).await;
    assert_eq!(n(&first, "retried"), 1, "{first}");
    assert!(w.mailer.attempts().is_empty());
    let reserved = w.store.discounts()[0].clone();
    assert_eq!(reserved.status, crate::model::DiscountStatus::Reserved);
    assert!(w.admin.codes().is_empty());
    let f = w.store.followup(&id);
    assert_eq!(f.status, FollowUpStatus::Pending);
    assert!(f
        .reason
        .as_deref()
        .unwrap()
        .starts_with("retrying: discount code"));

    w.advance(Duration::hours(1));
    assert_eq!(n(&run(&w.dispatcher("a")).await, "sent"), 1);
    assert_eq!(
        w.admin.codes(),
        vec![reserved.code],
        "the reserved code is created"
    );
    assert_eq!(w.admin.create_calls(), 2);
}

#[tokio::test]
async fn a_store_failure_before_the_hand_over_retries_with_backoff_and_sends_nothing() {
    let w = World::new();
    let id = w.due(Playbook::ThankYou, "42", 1001);
    w.store.fail_next(Op::GetOrder, 1);
    let first = run(&w.dispatcher("a")).await;
    assert_eq!(n(&first, "retried"), 1, "{first}");
    assert!(w.mailer.attempts().is_empty());
    let f = w.store.followup(&id);
    // Store trouble is not a send attempt.
    assert_eq!(
        (f.status, f.attempts, f.store_retries),
        (FollowUpStatus::Pending, 0, 1)
    );
    assert!(f
        .reason
        .as_deref()
        .unwrap()
        .starts_with("store trouble, retrying: DynamoDB"));
    assert!(f.due_at > utc_key(&at(T0)));
    w.advance(Duration::hours(1));
    assert_eq!(n(&run(&w.dispatcher("a")).await, "sent"), 1);
    assert_eq!(w.store.followup(&id).attempts, 1, "the one send");
}

#[tokio::test]
async fn a_store_brownout_never_fails_a_follow_up_however_many_runs_it_lasts() {
    // Every order read fails for 12 runs in a row (max_attempts is 3): the follow-up
    // waits the store out with growing backoff and is sent once it recovers.
    let w = World::new();
    let id = w.due(Playbook::ThankYou, "42", 1001);
    for i in 1..=12u32 {
        w.store.fail_next(Op::GetOrder, 1);
        let r = run(&w.dispatcher("a")).await;
        assert_eq!((n(&r, "retried"), n(&r, "failed")), (1, 0), "run {i}: {r}");
        let f = w.store.followup(&id);
        assert_eq!(
            (f.status, f.attempts, f.store_retries),
            (FollowUpStatus::Pending, 0, i)
        );
        w.advance(Duration::minutes(80)); // past the longest backoff (60 min ± 25 %)
    }
    // 16 hours on it is 03:00 in Paris: past the quiet hours, the store back.
    w.advance(Duration::hours(8));
    assert_eq!(n(&run(&w.dispatcher("a")).await, "sent"), 1);
    assert_eq!(w.mailer.sent().len(), 1);
}

#[tokio::test]
async fn a_corrupt_item_is_a_failed_attempt_and_fails_after_max_attempts() {
    // Data the store cannot give back will not heal by waiting.
    let w = World::new();
    let id = w.due(Playbook::ThankYou, "42", 1001);
    w.store.corrupt_next(Op::GetOrder, 3);
    for _ in 0..3 {
        run(&w.dispatcher("a")).await;
        w.advance(Duration::minutes(80));
    }
    let f = w.store.followup(&id);
    assert_eq!(f.status, FollowUpStatus::Failed, "{f:?}");
    assert!(w.mailer.attempts().is_empty());
}

#[tokio::test]
async fn a_refused_admin_token_fails_the_follow_up_and_alerts_the_merchant_once() {
    let mut w = World::new();
    w.config = Arc::new(
        Config::parse(
            "[[shop]]\npostal_address = \"1 Test Street, Springfield\"\ndomain = \"acme.myshopify.com\"\nsender_email = \"shop@acme.example\"\n\
             support_email = \"help@acme.example\"\ntime_zone = \"Europe/Paris\"\n\
             [shop.playbooks.loyalty]\ndiscount = { percentage = 15 }\n",
            "test",
        )
        .unwrap(),
    );
    let first = w.due(Playbook::Loyalty, "42", 1001);
    let second = w.due(Playbook::Loyalty, "43", 1002);
    for _ in 0..2 {
        w.admin
            .fail_next(crate::ports::admin::AdminError::Auth("HTTP 401".into()));
    }
    let report = run(&w.dispatcher("a")).await;
    assert_eq!(n(&report, "failed"), 2, "{report}");
    for id in [&first, &second] {
        let f = w.store.followup(id);
        assert_eq!(f.status, FollowUpStatus::Failed);
        assert!(f.reason.as_deref().unwrap().starts_with("discount code: "));
    }
    // One alert, to the merchant, for both refusals.
    let sent = w.mailer.sent();
    assert_eq!(
        sent.len(),
        1,
        "{:?}",
        sent.iter().map(|e| &e.to).collect::<Vec<_>>()
    );
    assert_eq!(sent[0].to, "help@acme.example");
    assert_eq!(w.store.calls(Op::ClaimAlert), 2);
}

/// Moves follow-up `id` to be due `ago` before now.
fn due_earlier(w: &World, id: &str, ago: Duration) {
    let mut f = w.store.followup(id);
    f.due_at = utc_key(&(w.clock.now() - ago));
    f.index_at(&f.due_at.clone(), w.config.dispatch.shards);
    w.store.put_followup(f);
}

#[tokio::test]
async fn a_customers_thank_you_goes_before_the_same_orders_satisfaction_check() {
    // Both due at once, the satisfaction check the older: the frequency cap lets one
    // through, and it must be the thank-you, every time.
    for _ in 0..10 {
        let w = World::new();
        let satisfaction = w.due(Playbook::Satisfaction, "42", 1001);
        let thanks = w.due(Playbook::ThankYou, "42", 1001);
        due_earlier(&w, &satisfaction, Duration::hours(2));
        due_earlier(&w, &thanks, Duration::hours(1));
        let report = run(&w.dispatcher("a")).await;
        assert_eq!((n(&report, "sent"), n(&report, "deferred")), (1, 1));
        assert_eq!(w.store.followup(&thanks).status, FollowUpStatus::Sent);
        let later = w.store.followup(&satisfaction);
        assert_eq!(later.status, FollowUpStatus::Pending);
        assert_eq!(later.reason.as_deref(), Some("frequency cap"));
    }
}

#[tokio::test]
async fn transactional_mail_goes_before_marketing_when_both_are_due() {
    let w = World::new();
    let reminder = w.due(Playbook::Replenishment, "42", 1000);
    let returns = w.due(Playbook::Returns, "42", 1001);
    due_earlier(&w, &reminder, Duration::days(3));
    let report = run(&w.dispatcher("a")).await;
    assert_eq!((n(&report, "sent"), n(&report, "deferred")), (1, 1));
    assert_eq!(w.store.followup(&returns).status, FollowUpStatus::Sent);
    assert_eq!(w.store.followup(&reminder).status, FollowUpStatus::Pending);
}

/// The follow-up id an email was sent for (its `followup` tag; the SES adapter writes
/// its `#` as `_` on the wire).
fn tagged_followup(e: &crate::ports::mail::OutgoingEmail) -> String {
    e.tags
        .iter()
        .find(|(k, _)| *k == "followup")
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

#[tokio::test(start_paused = true)]
async fn a_dispatcher_stopped_at_any_moment_leaves_at_most_the_email_in_flight_uncertain() {
    // 20 customers due at once, all handled at once (`in_flight(50.0)` is 20), SES at
    // 50 emails/s: the run is dropped (as a killed process stops) after `cut` of paced
    // sending, at every await point in turn as `cut` grows.
    for cut_ms in [0u64, 1, 7, 19, 20, 21, 45, 60, 99, 140, 201, 330, 399, 500] {
        let w = World::new();
        for i in 0..20u64 {
            w.due(Playbook::ThankYou, &format!("c{i}"), 3000 + i);
        }
        let crashing = w.dispatcher("crashing");
        let deadline = Instant::now() + std::time::Duration::from_secs(60);
        let _ = tokio::time::timeout(
            std::time::Duration::from_millis(cut_ms),
            crashing.send_due(deadline),
        )
        .await;
        drop(crashing);
        let asked: std::collections::HashSet<String> =
            w.mailer.attempts().iter().map(tagged_followup).collect();
        let uncertain: Vec<String> = w
            .store
            .followups()
            .into_iter()
            .filter(|f| f.status == FollowUpStatus::Sending && f.sent_at.is_some())
            .map(|f| f.id)
            .filter(|id| !asked.contains(id))
            .collect();
        assert!(
            uncertain.len() <= 1,
            "stopped after {cut_ms} ms: {} follow-ups marked handed over that SES never got: {uncertain:?}",
            uncertain.len()
        );

        // Once the leases end, the next run sends every other one exactly once.
        w.advance(Duration::seconds(
            i64::from(w.config.dispatch.lease_seconds) + 1,
        ));
        run(&w.dispatcher("next")).await;
        let followups = w.store.followups();
        assert!(
            followups.iter().all(|f| f.status == FollowUpStatus::Sent),
            "after {cut_ms} ms: {:?}",
            followups
                .iter()
                .map(|f| (&f.id, f.status))
                .collect::<Vec<_>>()
        );
        let sent: Vec<String> = w.mailer.sent().iter().map(tagged_followup).collect();
        let unique: std::collections::HashSet<&String> = sent.iter().collect();
        assert_eq!(
            unique.len(),
            sent.len(),
            "after {cut_ms} ms: one sent twice"
        );
        assert_eq!(
            sent.len() + uncertain.len(),
            20,
            "after {cut_ms} ms: all but the uncertain one sent"
        );
    }
}

#[test]
fn the_sends_in_flight_follow_the_send_rate_within_bounds() {
    assert_eq!(in_flight(1.0), 8);
    assert_eq!(in_flight(14.0), 8);
    assert_eq!(in_flight(50.0), 20);
    assert_eq!(in_flight(60.0), 24);
    assert_eq!(in_flight(1_000.0), 32);
    assert_eq!(in_flight(f64::NAN), 8);
    assert_eq!(in_flight(f64::INFINITY), 32);
}

#[tokio::test(start_paused = true)]
async fn a_slow_ses_does_not_slow_the_run_below_the_send_rate() {
    // 60 customers due, SES taking 300 ms to answer each send, 50 emails/s allowed: with
    // 8 sends in flight the run could go no faster than 8 / 0.3 s = 27 emails/s (2.3 s);
    // at the rate it takes 59 intervals of 20 ms and the last answer, about 1.5 s.
    let w = World::new();
    for i in 0..60u64 {
        w.due(Playbook::ThankYou, &format!("c{i}"), 3000 + i);
    }
    w.mailer.answer_after(std::time::Duration::from_millis(300));
    let started = tokio::time::Instant::now();
    let report = run(&w.dispatcher("d")).await;
    let took = started.elapsed();
    assert_eq!(n(&report, "sent"), 60, "{report}");
    assert!(
        took < std::time::Duration::from_millis(1_600),
        "60 emails at 50/s with SES answering in 300 ms took {took:?}"
    );
}

/// One dispatcher run's trouble in the property below: cut after `cut_ms` of paced
/// sending, with `store` (an operation, calls let through, calls failed) failing
/// meanwhile and SES answering the next `ses_transient` sends with a temporary error.
#[derive(Debug, Clone)]
struct Trouble {
    cut_ms: u64,
    store: Option<(Op, u32, u32)>,
    ses_transient: u8,
}

fn trouble() -> impl proptest::strategy::Strategy<Value = Trouble> {
    use proptest::prelude::*;
    let op = prop_oneof![
        Just(Op::Due),
        Just(Op::GetFollowup),
        Just(Op::GetOrder),
        Just(Op::GetProfile),
        Just(Op::GetSuppression),
        Just(Op::HandOver),
        Just(Op::SaveFollowup),
        Just(Op::ReleaseSlot),
    ];
    (
        0u64..700,
        proptest::option::of((op, 0u32..12, 1u32..4)),
        0u8..=1,
    )
        .prop_map(|(cut_ms, store, ses_transient)| Trouble {
            cut_ms,
            store,
            ses_transient,
        })
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig {
        cases: proptest::prelude::ProptestConfig::default().cases.max(200),
        ..proptest::prelude::ProptestConfig::default()
    })]

    /// Up to 20 customers due, and up to 3 runs each stopped at a random moment, with
    /// the store failing a random operation and SES a send meanwhile; then runs to the
    /// end. No email goes twice; each stopped run leaves at most one follow-up marked
    /// handed over that SES never got; every other follow-up is sent; store trouble
    /// never fails one for good.
    #[test]
    fn any_stopped_and_troubled_runs_send_each_email_at_most_once_and_lose_at_most_one_a_stop(
        due in 1u64..=20,
        runs in proptest::collection::vec(trouble(), 1..=3),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("runtime");
        rt.block_on(async {
            let w = World::new();
            for i in 0..due {
                w.due(Playbook::ThankYou, &format!("c{i}"), 3000 + i);
            }
            let lease = Duration::seconds(i64::from(w.config.dispatch.lease_seconds) + 1);
            let never_asked = |w: &World| -> std::collections::BTreeSet<String> {
                let asked: std::collections::HashSet<String> =
                    w.mailer.attempts().iter().map(tagged_followup).collect();
                w.store
                    .followups()
                    .into_iter()
                    .filter(|f| f.sent_at.is_some() && f.ses_message_id.is_none())
                    .map(|f| f.id)
                    .filter(|id| !asked.contains(id))
                    .collect()
            };
            let mut lost = std::collections::BTreeSet::new();
            for (k, t) in runs.iter().enumerate() {
                if let Some((op, skip, count)) = t.store {
                    w.store.fail_after(op, skip, count);
                }
                // At most two temporary SES errors in all (max_attempts = 3), so none
                // fails for good.
                for _ in 0..t.ses_transient.min(u8::from(k < 2)) {
                    w.mailer.fail_next(SendError::Transient("throttled".into()));
                }
                let d = w.dispatcher(&format!("stopped-{k}"));
                let deadline = Instant::now() + std::time::Duration::from_secs(60);
                let _ = tokio::time::timeout(
                    std::time::Duration::from_millis(t.cut_ms),
                    d.send_due(deadline),
                )
                .await;
                drop(d);
                w.store.heal();
                let now_lost = never_asked(&w);
                let new: Vec<&String> = now_lost.difference(&lost).collect();
                assert!(new.len() <= 1, "run {k} ({t:?}) left {new:?} marked but never asked");
                lost = now_lost;
                w.advance(lease);
            }
            // Then runs to the end, a day apart (past any retry backoff).
            for _ in 0..4 {
                run(&w.dispatcher("next")).await;
                w.advance(Duration::days(1));
            }
            let followups = w.store.followups();
            let states: Vec<_> = followups.iter().map(|f| (&f.id, f.status, &f.reason)).collect();
            assert!(
                followups.iter().all(|f| f.status == FollowUpStatus::Sent),
                "{runs:?}: {states:?}"
            );
            let sent: Vec<String> = w.mailer.sent().iter().map(tagged_followup).collect();
            let unique: std::collections::BTreeSet<&String> = sent.iter().collect();
            assert_eq!(unique.len(), sent.len(), "{runs:?}: an email went twice: {sent:?}");
            let marked_only: Vec<&FollowUpRecord> = followups
                .iter()
                .filter(|f| !unique.contains(&f.id))
                .collect();
            assert!(marked_only.len() <= runs.len(), "{runs:?}: {states:?}");
            assert!(
                marked_only.iter().all(|f| f.reason.as_deref() == Some(POSSIBLY_SENT)),
                "{runs:?}: {states:?}"
            );
        });
    }
}

// ---------------------------------------------------------------------------------------
// Holdout groups (`holdout_percent`, `domain::holdout`)

/// A world whose shop holds out `percent` of loyalty, replenishment and thank-you
/// customers (loyalty with a discount code).
fn holdout_world(percent: u32) -> World {
    let mut w = World::new();
    w.config = Arc::new(
        Config::parse(
            &format!(
                "[dispatch]\nmax_attempts = 3\ndeadline_margin_ms = 100\n\
                 [[shop]]\npostal_address = \"1 Test Street, Springfield\"\ndomain = \"acme.myshopify.com\"\nsender_email = \"shop@acme.example\"\n\
                 time_zone = \"Europe/Paris\"\n\
                 [shop.playbooks.loyalty]\ndiscount = {{ percentage = 15 }}\nholdout_percent = {percent}\n\
                 [shop.playbooks.thank_you]\nholdout_percent = {percent}\n\
                 [shop.playbooks.replenishment]\nholdout_percent = {percent}\n"
            ),
            "test",
        )
        .unwrap(),
    );
    w
}

/// The first customer key (Shopify customer ids from 1000) that is, or is not, held out
/// of `p` at `percent`.
fn customer(p: Playbook, percent: u32, out: bool) -> String {
    (1000..)
        .map(|i: u64| i.to_string())
        .find(|k| crate::domain::holdout::held_out(SHOP, k, p, percent) == out)
        .unwrap()
}

#[tokio::test]
async fn a_held_out_follow_up_is_recorded_not_sent_without_a_code_or_a_send_slot() {
    let w = holdout_world(50);
    let out = customer(Playbook::Loyalty, 50, true);
    let kept = customer(Playbook::Loyalty, 50, false);
    let held = w.due(Playbook::Loyalty, &out, 1001);
    let sent = w.due(Playbook::Loyalty, &kept, 1002);
    let report = run(&w.dispatcher("a")).await;
    let why = w.store.followup(&sent).reason;
    assert_eq!(
        (n(&report, "held_out"), n(&report, "sent")),
        (1, 1),
        "{report} {why:?}"
    );

    let f = w.store.followup(&held);
    assert_eq!(f.status, FollowUpStatus::HeldOut);
    assert_eq!(f.held_out_at, Some(utc_key(&at(T0))));
    assert!(!is_due(&f));
    assert_eq!((f.sent_at, f.ses_message_id), (None, None));
    assert_eq!(
        serde_json::to_value(f.status).unwrap(),
        serde_json::json!("held_out")
    );
    // One email, to the customer not held out; one code, theirs.
    let mails = w.mailer.sent();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, format!("{kept}-{EMAIL}"));
    assert_eq!(w.admin.codes().len(), 1);
    assert!(w.store.discounts().iter().all(|d| d.followup == sent));
    // The held-out customer's send slot is free.
    let p = w.store.profile(SHOP, &out).unwrap();
    assert_eq!((p.last_email_at, p.last_email_by), (None, None));
    // Counted for the report on its playbook, not as sent.
    let counted = w.store.counted();
    assert_eq!(
        counted
            .get("2026-11-23#playbook#loyalty#held_out")
            .map(String::as_str),
        Some("1"),
        "{counted:?}"
    );
    assert_eq!(
        counted
            .get("2026-11-23#playbook#loyalty#sent")
            .map(String::as_str),
        Some("1")
    );
    // Final: the next run finds nothing due.
    assert_eq!(run(&w.dispatcher("b")).await["due"], 0);
}

#[tokio::test]
async fn a_held_out_follow_up_leaves_the_slot_to_the_next_email() {
    let w = holdout_world(50);
    let key = customer(Playbook::ThankYou, 50, true);
    let held = w.due(Playbook::ThankYou, &key, 1001);
    assert_eq!(run(&w.dispatcher("a")).await["held_out"], 1);
    assert_eq!(w.store.followup(&held).status, FollowUpStatus::HeldOut);
    // Another playbook's email (satisfaction has no holdout here) goes out at once.
    w.advance(Duration::hours(1));
    let next = w.due(Playbook::Satisfaction, &key, 1002);
    let mut f = w.store.followup(&next);
    f.due_at = utc_key(&w.clock.now());
    f.index_at(&f.due_at.clone(), w.config.dispatch.shards);
    w.store.put_followup(f);
    let report = run(&w.dispatcher("a")).await;
    assert_eq!(
        (n(&report, "sent"), n(&report, "deferred")),
        (1, 0),
        "{report}"
    );
}

#[tokio::test]
async fn guards_still_decide_first_for_a_held_out_customer() {
    // Cancelled by a guard: cancelled, not held out.
    let w = holdout_world(50);
    let key = customer(Playbook::Loyalty, 50, true);
    let id = w.due(Playbook::Loyalty, &key, 1001);
    let mut p = w.store.profile(SHOP, &key).unwrap();
    p.consent_state = Some("unsubscribed".into());
    w.store.put_profile(SHOP, p);
    let report = run(&w.dispatcher("a")).await;
    assert_eq!(
        (n(&report, "cancelled"), n(&report, "held_out")),
        (1, 0),
        "{report}"
    );
    assert_eq!(w.store.followup(&id).status, FollowUpStatus::Cancelled);

    // Deferred by quiet hours (23:00 in Paris): deferred, decided again later.
    let w = holdout_world(50);
    w.clock.set(at("2026-11-23T22:00:00Z"));
    let id = w.due(Playbook::Loyalty, &key, 1001);
    let mut f = w.store.followup(&id);
    f.due_at = utc_key(&w.clock.now());
    f.index_at(&f.due_at.clone(), w.config.dispatch.shards);
    w.store.put_followup(f);
    let report = run(&w.dispatcher("a")).await;
    assert_eq!(
        (n(&report, "deferred"), n(&report, "held_out")),
        (1, 0),
        "{report}"
    );
    assert_eq!(w.store.followup(&id).status, FollowUpStatus::Pending);

    // Deferred by the frequency cap another email holds: deferred too.
    let w = holdout_world(50);
    let mut p = w.store.profile(SHOP, &key).unwrap_or_default();
    p.v = 1;
    p.customer_key = key.clone();
    p.email = Some(format!("{key}-{EMAIL}"));
    p.consent_state = Some("subscribed".into());
    p.last_email_at = Some(utc_key(&(at(T0) - Duration::hours(1))));
    p.last_email_by = Some("thank_you#999#0".into());
    w.store.put_profile(SHOP, p);
    let id = w.due(Playbook::Loyalty, &key, 1001);
    let report = run(&w.dispatcher("a")).await;
    assert_eq!(
        (n(&report, "deferred"), n(&report, "held_out")),
        (1, 0),
        "{report}"
    );
    let f = w.store.followup(&id);
    assert_eq!(f.status, FollowUpStatus::Pending);
    assert_eq!(f.reason.as_deref(), Some("frequency cap"));
    assert!(
        w.admin.codes().is_empty(),
        "no code for a held-out customer"
    );
    // Once the slot has ended (the next day, outside quiet hours) it is held out,
    // still with no code and no email.
    w.clock.set(at(T0) + Duration::hours(24));
    let report = run(&w.dispatcher("a")).await;
    assert_eq!(n(&report, "held_out"), 1, "{report}");
    assert!(w.admin.codes().is_empty() && w.mailer.sent().is_empty());
}

#[tokio::test]
async fn a_held_out_satisfaction_check_plans_no_reminder() {
    let mut w = World::new();
    w.config = Arc::new(
        Config::parse(
            "[[shop]]\npostal_address = \"1 Test Street, Springfield\"\ndomain = \"acme.myshopify.com\"\nsender_email = \"shop@acme.example\"\n\
             time_zone = \"Europe/Paris\"\n[shop.playbooks.satisfaction]\nholdout_percent = 50\n",
            "test",
        )
        .unwrap(),
    );
    let key = customer(Playbook::Satisfaction, 50, true);
    let id = w.due(Playbook::Satisfaction, &key, 1001);
    assert_eq!(run(&w.dispatcher("a")).await["held_out"], 1);
    assert_eq!(w.store.followup(&id).status, FollowUpStatus::HeldOut);
    assert_eq!(w.store.followups().len(), 1, "no reminder planned");
}
