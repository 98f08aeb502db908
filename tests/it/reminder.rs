//! The satisfaction reminder end to end: orders recorded by the real webhook handler,
//! satisfaction emails sent by the real dispatcher through SES (moto), their delivery
//! reported by the real `mail-events` handler, a rating clicked through the real `links`
//! handler, and the dispatcher sending the one reminder `reminder_days` later.

use aftercart::apps::mail_events::MailEventsApp;
use aftercart::domain::reminder::{NOT_DELIVERED, RATED};
use aftercart::model::{keys, FeedbackRecord, FollowUpRecord, FollowUpStatus, Playbook};
use aftercart::ports::mail::OutgoingEmail;
use aftercart::wire::shopify::fixtures;
use aftercart_integration::*;
use chrono::{DateTime, Duration, Utc};
use mail_parser::MessageParser;
use serde_json::Value;

/// A paid order of `customer`, created 2026-11-22T08:00Z.
fn paid(order_id: u64, customer_id: u64, email: &str, fulfilled: bool) -> Vec<u8> {
    paid_order(order_id, customer_id, email, fulfilled, |_| {})
}

async fn deliver(t: &TestApp, topic: &str, body: &[u8], webhook_id: &str) {
    let (status, resp) = t.post(signed(topic, body, webhook_id)).await;
    assert_eq!(status, 200, "{topic}: {resp}");
}

/// An order paid and shipped: its thank-you and satisfaction check are planned.
async fn shipped(t: &TestApp, order_id: u64, customer_id: u64, email: &str) {
    let body = paid(order_id, customer_id, email, false);
    deliver(t, "orders/paid", &body, &format!("wh-paid-{order_id}")).await;
    let body = paid(order_id, customer_id, email, true);
    deliver(t, "orders/fulfilled", &body, &format!("wh-ful-{order_id}")).await;
}

fn tag<'a>(email: &'a OutgoingEmail, name: &str) -> &'a str {
    email
        .tags
        .iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_default()
}

fn time(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).expect("time").to_utc()
}

fn followup<'a>(all: &'a [FollowUpRecord], id: &str) -> &'a FollowUpRecord {
    all.iter()
        .find(|f| f.id == id)
        .unwrap_or_else(|| panic!("no follow-up {id}"))
}

/// SES's Delivery event for follow-up `f`, as SNS hands it to `mail-events`.
fn delivery_of(f: &FollowUpRecord, to: &str) -> Value {
    ses_event_for(aftercart::wire::ses::fixtures::SNS_DELIVERY, f, to)
}

/// The rating link for `score` in a sent email (`/rate?t=`, five of them, 1 to 5).
fn rating_link(email: &OutgoingEmail, score: usize) -> String {
    let rates: Vec<String> = links_in(email)
        .into_iter()
        .filter(|l| l.starts_with("https://links.example.test/rate?"))
        .collect();
    assert_eq!(rates.len(), 5, "{rates:?}");
    rates[score - 1].clone()
}

/// The customer rates through the real links handler, as a person does.
async fn rate(t: &TestApp, at: &str, email: &OutgoingEmail, score: usize) {
    let links = t.links(at).await;
    let page = click(&links, "GET", &rating_link(email, score), None).await;
    assert_eq!(page.status, 200, "{}", page.body);
}

async fn feedback(t: &TestApp, customer: &str, followup: &str) -> Option<FeedbackRecord> {
    let key = keys::feedback(SHOP, customer, followup);
    t.get(&key.pk, &key.sk)
        .await
        .map(|i| serde_dynamo::from_item(i).expect("feedback decodes"))
}

#[tokio::test]
async fn the_silent_customer_gets_one_reminder_the_rater_and_the_refunded_none() {
    let t = TestApp::spawn().await;
    // Rita won't answer, Sam rates, Ruth's order is partly refunded, Dan's email is
    // never reported delivered.
    let people = [
        (5401u64, 81u64, "rita@example.com"),
        (5402, 82, "sam@example.com"),
        (5403, 83, "ruth@example.com"),
        (5404, 84, "dan@example.com"),
    ];
    for (order, customer, email) in people {
        shipped(&t, order, customer, email).await;
    }
    let thanks = t.dispatcher("2026-11-22T09:00:30Z", None).await;
    assert_eq!(run_dispatch(&thanks).await["sent"], 4);

    // The satisfaction checks, 12 days after shipping.
    let all = t.followups().await;
    let due = time(&followup(&all, "satisfaction#5401#0").due_at) + Duration::hours(1);
    let d = t.dispatcher(&due.to_rfc3339(), None).await;
    let report = run_dispatch(&d).await;
    assert_eq!(report["sent"], 4, "{report}");
    let checks = d.mailer.sent.lock().unwrap().clone();
    assert!(checks.iter().all(|e| tag(e, "playbook") == "satisfaction"));

    // Each one planned its reminder as it was handed to SES, five days on.
    let all = t.followups().await;
    let reminders: Vec<_> = all
        .iter()
        .filter(|f| f.playbook == Playbook::SatisfactionReminder)
        .collect();
    assert_eq!(reminders.len(), 4);
    let reminder_due = due + Duration::days(5);
    for r in &reminders {
        assert_eq!(r.status, FollowUpStatus::Pending);
        assert_eq!(time(&r.due_at), reminder_due, "{}", r.id);
    }

    // SES reports three of them delivered (not Dan's).
    let events = MailEventsApp {
        store: aftercart::adapters::dynamo::DynamoStore::new(
            t.client.clone(),
            t.table.clone(),
            aftercart::domain::mail_events::RECEIPT_TTL,
        ),
        clock: std::sync::Arc::new(aftercart::model::time::FixedClock::new(
            due + Duration::minutes(1),
        )),
    };
    for (order, _, email) in &people[..3] {
        let f = followup(&all, &format!("satisfaction#{order}#0"));
        let summary = events.handle(delivery_of(f, email)).await.expect("handled");
        assert_eq!(summary.applied, 1, "{summary:?}");
    }

    // Sam rates 4 from the satisfaction email.
    let sams = checks.iter().find(|e| e.to == "sam@example.com").unwrap();
    rate(&t, &(due + Duration::days(1)).to_rfc3339(), sams, 4).await;
    assert!(feedback(&t, "82", "satisfaction#5402#0")
        .await
        .is_some_and(|f| f.score == 4 && f.counts()));

    // Ruth's order is partly refunded: the webhook calls her reminder off.
    let refund = serde_json::to_vec(&{
        let mut r: Value = serde_json::from_slice(fixtures::REFUND).unwrap();
        r["order_id"] = 5403.into();
        r["id"] = 7403.into();
        r["created_at"] = (due + Duration::days(2)).to_rfc3339().into();
        r["refund_line_items"] = serde_json::json!([{"line_item_id": 466157049, "quantity": 1}]);
        r
    })
    .unwrap();
    deliver(&t, "refunds/create", &refund, "wh-refund-5403").await;

    // Five days after the checks: one reminder, to Rita.
    let d = t.dispatcher(&reminder_due.to_rfc3339(), None).await;
    let report = run_dispatch(&d).await;
    let sent = d.mailer.sent.lock().unwrap().clone();
    let sent_reminders: Vec<_> = sent
        .iter()
        .filter(|e| tag(e, "playbook") == "satisfaction_reminder")
        .collect();
    assert_eq!(sent_reminders.len(), 1, "{report}");
    let reminder = sent_reminders[0];
    assert_eq!(reminder.to, "rita@example.com");
    assert_eq!(tag(reminder, "followup"), "satisfaction_reminder#5401#0");
    let msg = MessageParser::default()
        .parse(&reminder.raw)
        .expect("MIME parses");
    assert_eq!(
        msg.subject(),
        Some("A quick reminder: how was order #1001?")
    );
    let html = msg.body_html(0).unwrap();
    assert!(html.contains("Hi Bob,"), "{html}");
    assert!(msg.header_raw("List-Unsubscribe").is_some());

    let all = t.followups().await;
    let state = |id: &str| {
        let f = followup(&all, id);
        (f.status, f.reason.clone())
    };
    assert_eq!(
        state("satisfaction_reminder#5401#0").0,
        FollowUpStatus::Sent
    );
    assert_eq!(
        state("satisfaction_reminder#5402#0"),
        (FollowUpStatus::Cancelled, Some(RATED.to_owned()))
    );
    assert_eq!(
        state("satisfaction_reminder#5403#0"),
        (FollowUpStatus::Cancelled, Some("items refunded".to_owned()))
    );
    assert_eq!(
        state("satisfaction_reminder#5404#0"),
        (FollowUpStatus::Cancelled, Some(NOT_DELIVERED.to_owned()))
    );

    // Rita rates 5 from the reminder: it lands on the satisfaction check's one
    // feedback item, as a rating from the first email would.
    rate(
        &t,
        &(reminder_due + Duration::hours(1)).to_rfc3339(),
        reminder,
        5,
    )
    .await;
    let rated = feedback(&t, "81", "satisfaction#5401#0")
        .await
        .expect("the satisfaction check's feedback item");
    assert_eq!((rated.score, rated.order_id), (5, 5401));
    assert!(feedback(&t, "81", "satisfaction_reminder#5401#0")
        .await
        .is_none());

    // Another run, and a week later, send no other reminder.
    for later in [
        reminder_due + Duration::minutes(10),
        reminder_due + Duration::days(7),
    ] {
        let d = t.dispatcher(&later.to_rfc3339(), None).await;
        let report = run_dispatch(&d).await;
        let sent = d.mailer.sent.lock().unwrap().clone();
        assert!(
            sent.iter()
                .all(|e| tag(e, "playbook") != "satisfaction_reminder"),
            "{report}"
        );
    }
    let reminders = t
        .followups()
        .await
        .into_iter()
        .filter(|f| f.playbook == Playbook::SatisfactionReminder)
        .count();
    assert_eq!(reminders, 4, "one per satisfaction check, never a second");
}

/// A satisfaction check's reminder is created in its hand-over's transaction (with the
/// mark and the customer's send slot), so the outcome of the send is one plain
/// conditional `PutItem`: 9 write units for the email, not the 10 of an outcome and a
/// reminder written together in a second transaction.
#[tokio::test]
async fn a_satisfaction_check_plans_its_reminder_with_the_hand_over_and_records_its_outcome_alone()
{
    use aftercart_integration::meter::Meter;
    let t = TestApp::spawn().await;
    shipped(&t, 5501, 91, "meter@example.com").await;
    let thanks = t.dispatcher("2026-11-22T09:00:30Z", None).await;
    assert_eq!(run_dispatch(&thanks).await["sent"], 1);
    let all = t.followups().await;
    let due = time(&followup(&all, "satisfaction#5501#0").due_at) + Duration::hours(1);
    let meter = Meter::start().await;
    let d = t.dispatcher_via(&due.to_rfc3339(), None, &meter.url).await;
    assert_eq!(run_dispatch(&d).await["sent"], 1);
    let usage = meter.take().await;
    let writes: Vec<&String> = usage
        .log
        .iter()
        .filter(|l| l.starts_with("TransactWriteItems") || l.starts_with("PutItem"))
        .collect();
    assert_eq!(writes.len(), 2, "{:#?}", usage.log);
    // The mark, the slot and the new reminder (its index entry too): 2 + 2 + 2 + 1.
    assert!(writes[0].starts_with("TransactWriteItems"), "{writes:#?}");
    assert!(
        writes[0].contains("FOLLOWUP#satisfaction_reminder#5501#0"),
        "{writes:#?}"
    );
    assert!(writes[0].contains(" 7.0 WRU"), "{writes:#?}");
    // The outcome: the check, and its entry's removal from the index.
    assert!(writes[1].starts_with("PutItem"), "{writes:#?}");
    assert!(writes[1].contains(" 2.0 WRU"), "{writes:#?}");
    let all = t.followups().await;
    let reminder = followup(&all, "satisfaction_reminder#5501#0");
    let sent_at = followup(&all, "satisfaction#5501#0").sent_at.clone();
    let sent_at = time(sent_at.as_deref().expect("sent"));
    assert_eq!(
        reminder.due_at,
        aftercart::model::time::utc_key(&(sent_at + Duration::days(5)))
    );
}
