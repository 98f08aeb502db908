//! SES events end to end: a follow-up recorded by the real webhook handler and sent by
//! the real dispatcher, then the real `mail-events` handler applying SES events (SNS
//! and EventBridge shapes) to the table on moto through the real DynamoDB client.

use aftercart::adapters::dynamo::DynamoStore;
use aftercart::apps::mail_events::{MailEventsApp, Summary};
use aftercart::domain::mail_events::{
    receipt_key, transient_key, TransientBounceRecord, RECEIPT_TTL,
};
use aftercart::model::time::FixedClock;
use aftercart::model::{email_hash, keys, FollowUpRecord, FollowUpStatus, Key, SuppressionRecord};
use aftercart::wire::ses::fixtures;
use aftercart_integration::*;
use serde_json::{json, Value};
use std::sync::Arc;

/// The address, customer and order every SES fixture names.
const BOB: &str = "bob.norman@hostmail.com";
const CUSTOMER: &str = "207119551";
const ORDER: u64 = 450789469;
const THANKS: &str = "thank_you#450789469#0";

/// The fixture order, paid at 08:00 (its thank-you is due at 09:00).
fn paid(order_id: u64) -> Vec<u8> {
    order_with(|o| {
        o["id"] = order_id.into();
        o["created_at"] = "2026-11-22T08:00:00Z".into();
        o["updated_at"] = "2026-11-22T08:00:00Z".into();
        o["financial_status"] = "paid".into();
    })
}

async fn deliver(t: &TestApp, topic: &str, body: &[u8], webhook_id: &str) {
    let (status, resp) = t.post(signed(topic, body, webhook_id)).await;
    assert_eq!(status, 200, "{topic}: {resp}");
}

/// A webhook app with the thank-you for the fixture order already sent at 09:00:30, as
/// the SES events describe.
async fn with_sent_thank_you() -> TestApp {
    let t = TestApp::spawn().await;
    deliver(&t, "orders/paid", &paid(ORDER), "wh-paid-1").await;
    let d = t.dispatcher("2026-11-22T09:00:30Z", None).await;
    let report = run_dispatch(&d).await;
    assert_eq!(report["sent"], 1, "{report}");
    assert_eq!(d.mailer.sent.lock().unwrap()[0].to, BOB);
    t
}

/// The real handler on the test's table.
fn mail_events(t: &TestApp) -> MailEventsApp<DynamoStore> {
    MailEventsApp {
        store: DynamoStore::new(
            mail_events_client_for(&endpoint()),
            t.table.clone(),
            RECEIPT_TTL,
        ),
        clock: Arc::new(FixedClock::new(
            "2026-11-23T12:00:00Z".parse().expect("valid time"),
        )),
    }
}

fn fixture(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("fixture is JSON")
}

async fn handle(app: &MailEventsApp<DynamoStore>, bytes: &[u8]) -> Summary {
    app.handle(fixture(bytes)).await.expect("handled")
}

fn applied() -> Summary {
    Summary {
        events: 1,
        applied: 1,
        ..Summary::default()
    }
}

fn duplicate() -> Summary {
    Summary {
        events: 1,
        duplicates: 1,
        ..Summary::default()
    }
}

/// The item at `key`, decoded into the record type the caller names.
macro_rules! item {
    ($t:expr, $key:expr) => {{
        let key: &Key = $key;
        $t.get(&key.pk, &key.sk)
            .await
            .map(|i| serde_dynamo::from_item(i).expect("item decodes"))
    }};
}

async fn thank_you(t: &TestApp) -> FollowUpRecord {
    item!(t, &keys::followup(SHOP, CUSTOMER, THANKS)).expect("the thank-you exists")
}

async fn suppression(t: &TestApp) -> Option<SuppressionRecord> {
    item!(t, &keys::suppression(SHOP, &email_hash(BOB)))
}

/// The SES event inside an SNS fixture, delivered through EventBridge instead.
fn by_eventbridge(sns_fixture: &[u8], detail_type: &str) -> Value {
    let sns = fixture(sns_fixture);
    let ses: Value =
        serde_json::from_str(sns["Records"][0]["Sns"]["Message"].as_str().unwrap()).unwrap();
    json!({"version": "0", "id": "0f6c1c55-6a2b-4d0e-9a1f-3c2b1a0f9e8d",
           "detail-type": detail_type, "source": "aws.ses", "account": "123456789012",
           "time": "2026-11-22T09:00:40Z", "region": "us-east-1", "resources": [],
           "detail": ses})
}

#[tokio::test]
async fn a_permanent_bounce_suppresses_the_address_once_and_dispatch_then_sends_nothing_to_it() {
    let t = with_sent_thank_you().await;
    let app = mail_events(&t);
    let before = thank_you(&t).await;

    assert_eq!(
        handle(&app, fixtures::SNS_BOUNCE_PERMANENT).await,
        applied()
    );

    let sup = suppression(&t).await.expect("address suppressed");
    assert_eq!(
        (
            sup.email_hash.as_str(),
            sup.reason.as_str(),
            sup.at.as_str()
        ),
        (
            email_hash(BOB).as_str(),
            "bounced",
            "2026-11-22T09:00:31.904Z"
        )
    );
    let f = thank_you(&t).await;
    assert_eq!(
        f.tracking.bounced_at.as_deref(),
        Some("2026-11-22T09:00:31.904Z")
    );
    assert_eq!(f.tracking.bounce_type.as_deref(), Some("permanent"));
    assert_eq!(f.v, before.v, "tracking never bumps the version");
    assert_eq!(f.status, FollowUpStatus::Sent);
    let receipt = t
        .get(
            &receipt_key(SHOP, &event_id(fixtures::SNS_BOUNCE_PERMANENT)).pk,
            "MAILEVENT",
        )
        .await
        .expect("receipt written");
    assert_eq!(s(&receipt, "entity"), "mail_event");
    assert_eq!(s(&receipt, "source"), "sns");
    assert_eq!(
        s(&receipt, "delivery_id"),
        "4b1f2c5e-6a3d-5e7f-8a9b-0c1d2e3f4a5b"
    );
    assert_eq!(
        n(&receipt, "expires_at"),
        ("2026-11-23T12:00:00Z"
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap()
            .timestamp()
            + 14 * 86_400)
            .to_string()
    );
    assert!(
        !format!("{receipt:?}").contains("hostmail"),
        "the receipt holds no address"
    );

    // SNS redelivers it: nothing changes.
    let scan = t.scan().await;
    assert_eq!(
        handle(&app, fixtures::SNS_BOUNCE_PERMANENT).await,
        duplicate()
    );
    assert_eq!(t.scan().await, scan);

    // A new order of the same customer: its thank-you is not sent to the address.
    deliver(&t, "orders/paid", &paid(ORDER + 1), "wh-paid-2").await;
    let d = t.dispatcher("2026-11-22T09:30:00Z", None).await;
    let report = run_dispatch(&d).await;
    assert_eq!(
        (report["sent"].as_u64(), report["cancelled"].as_u64()),
        (Some(0), Some(1)),
        "{report}"
    );
    assert!(d.mailer.sent.lock().unwrap().is_empty());
    let next: FollowUpRecord = item!(
        &t,
        &keys::followup(SHOP, CUSTOMER, &format!("thank_you#{}#0", ORDER + 1))
    )
    .expect("planned");
    assert_eq!(next.status, FollowUpStatus::Cancelled);
    assert_eq!(next.reason.as_deref(), Some("address suppressed (bounced)"));
}

#[tokio::test]
async fn a_complaint_by_eventbridge_suppresses_and_outranks_an_earlier_bounce() {
    let t = with_sent_thank_you().await;
    let app = mail_events(&t);

    assert_eq!(handle(&app, fixtures::EB_COMPLAINT).await, applied());
    let sup = suppression(&t).await.expect("address suppressed");
    assert_eq!(
        (sup.reason.as_str(), sup.at.as_str()),
        ("complained", "2026-11-23T10:02:55.000Z")
    );
    assert_eq!(
        thank_you(&t).await.tracking.complained_at.as_deref(),
        Some("2026-11-23T10:02:55.000Z")
    );
    let receipt = t
        .get(
            &receipt_key(SHOP, &event_id(fixtures::EB_COMPLAINT)).pk,
            "MAILEVENT",
        )
        .await
        .expect("receipt written");
    assert_eq!(s(&receipt, "source"), "eventbridge");
    assert_eq!(
        s(&receipt, "delivery_id"),
        "e5f6a7b8-c9d0-4b23-aef0-123456789abc"
    );

    // EventBridge retries it: nothing changes.
    let scan = t.scan().await;
    assert_eq!(handle(&app, fixtures::EB_COMPLAINT).await, duplicate());
    assert_eq!(t.scan().await, scan);

    // A later bounce does not turn the complaint back into a bounce.
    assert_eq!(handle(&app, fixtures::EB_BOUNCE_PERMANENT).await, applied());
    assert_eq!(suppression(&t).await.unwrap().reason, "complained");
}

#[tokio::test]
async fn a_complaint_after_a_bounce_upgrades_the_reason_and_keeps_the_first_time() {
    let t = with_sent_thank_you().await;
    let app = mail_events(&t);
    assert_eq!(
        handle(&app, fixtures::SNS_BOUNCE_PERMANENT).await,
        applied()
    );
    assert_eq!(handle(&app, fixtures::SNS_COMPLAINT).await, applied());
    let sup = suppression(&t).await.unwrap();
    assert_eq!(
        (sup.reason.as_str(), sup.at.as_str()),
        ("complained", "2026-11-22T09:00:31.904Z")
    );
    let f = thank_you(&t).await;
    assert_eq!(f.tracking.bounce_type.as_deref(), Some("permanent"));
    assert_eq!(
        f.tracking.complained_at.as_deref(),
        Some("2026-11-23T07:41:09.000Z")
    );
}

#[tokio::test]
async fn transient_bounces_are_counted_on_the_follow_up_and_the_address_never_suppressed() {
    let t = with_sent_thank_you().await;
    let app = mail_events(&t);

    assert_eq!(
        handle(&app, fixtures::SNS_BOUNCE_TRANSIENT).await,
        applied()
    );
    assert_eq!(handle(&app, fixtures::EB_BOUNCE_TRANSIENT).await, applied());
    let scan = t.scan().await;
    assert_eq!(
        handle(&app, fixtures::SNS_BOUNCE_TRANSIENT).await,
        duplicate()
    );
    assert_eq!(
        t.scan().await,
        scan,
        "a redelivered bounce is not counted again"
    );

    assert!(suppression(&t).await.is_none(), "not suppressed");
    let f = thank_you(&t).await;
    assert_eq!(f.tracking.transient_bounces, 2);
    assert_eq!(f.tracking.bounce_type.as_deref(), Some("transient"));
    assert_eq!(
        f.tracking.bounced_at.as_deref(),
        Some("2026-11-22T21:04:12.337Z")
    );
    let per_address: TransientBounceRecord =
        item!(&t, &transient_key(SHOP, &email_hash(BOB))).expect("counted per address");
    assert_eq!(per_address.count, 2);
    assert_eq!(per_address.first_at, "2026-11-22T21:04:12.337Z");
    assert_eq!(per_address.last_at, "2026-11-23T09:15:47.120Z");
    assert_eq!(
        per_address.expires_at,
        "2026-11-23T12:00:00Z"
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap()
            .timestamp()
            + 90 * 86_400
    );

    // A permanent bounce afterwards marks the follow-up permanent (and suppresses).
    assert_eq!(
        handle(&app, fixtures::SNS_BOUNCE_PERMANENT).await,
        applied()
    );
    let f = thank_you(&t).await;
    assert_eq!(f.tracking.bounce_type.as_deref(), Some("permanent"));
    assert_eq!(f.tracking.transient_bounces, 2);
    assert_eq!(suppression(&t).await.unwrap().reason, "bounced");
}

#[tokio::test]
async fn deliveries_opens_and_clicks_fill_the_report_fields_once_each() {
    let t = with_sent_thank_you().await;
    let app = mail_events(&t);
    let before = thank_you(&t).await;

    for bytes in [
        fixtures::SNS_DELIVERY,
        fixtures::SNS_OPEN,
        fixtures::EB_OPEN,
        fixtures::SNS_CLICK,
        fixtures::EB_CLICK,
    ] {
        assert_eq!(handle(&app, bytes).await, applied());
    }
    // Redeliveries, and the same open arriving by the other route, count nothing.
    let scan = t.scan().await;
    assert_eq!(handle(&app, fixtures::SNS_OPEN).await, duplicate());
    assert_eq!(handle(&app, fixtures::EB_CLICK).await, duplicate());
    let s = app
        .handle(by_eventbridge(fixtures::SNS_OPEN, "Email Opened"))
        .await
        .unwrap();
    assert_eq!(s, duplicate());
    assert_eq!(t.scan().await, scan);

    let f = thank_you(&t).await;
    assert_eq!(
        f.tracking.delivered_at.as_deref(),
        Some("2026-11-22T09:00:32.000Z")
    );
    assert_eq!(
        f.tracking.opened_at.as_deref(),
        Some("2026-11-22T09:14:03.778Z")
    );
    assert_eq!(f.tracking.opens, 2);
    assert_eq!(
        f.tracking.clicked_at.as_deref(),
        Some("2026-11-22T09:14:20.413Z")
    );
    assert_eq!(f.tracking.clicks, 2);
    assert_eq!(f.tracking.bounced_at, None);
    // Everything dispatch owns is as it was.
    assert_eq!(
        FollowUpRecord {
            tracking: before.tracking.clone(),
            ..f.clone()
        },
        before
    );
    assert!(suppression(&t).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_event_delivered_twice_at_once_is_applied_once() {
    let t = with_sent_thank_you().await;
    let app = mail_events(&t);
    let (a, b) = tokio::join!(
        handle(&app, fixtures::SNS_OPEN),
        app.handle(by_eventbridge(fixtures::SNS_OPEN, "Email Opened")),
    );
    let b = b.expect("handled");
    assert_eq!(a.applied + b.applied, 1, "{a:?} {b:?}");
    assert_eq!(a.duplicates + b.duplicates, 1, "{a:?} {b:?}");
    assert_eq!(thank_you(&t).await.tracking.opens, 1);
}

#[tokio::test]
async fn an_event_for_an_erased_follow_up_is_receipted_and_creates_nothing() {
    let t = with_sent_thank_you().await;
    let app = mail_events(&t);
    let key = keys::followup(SHOP, CUSTOMER, THANKS);
    t.client
        .delete_item()
        .table_name(&t.table)
        .set_key(Some(aftercart::adapters::dynamo::key_attrs(&key)))
        .send()
        .await
        .expect("erased");
    let before = t.scan().await;

    assert_eq!(handle(&app, fixtures::EB_OPEN).await, applied());
    let after = t.scan().await;
    assert_eq!(after.len(), before.len() + 1, "only the receipt was added");
    assert!(
        t.get(&key.pk, &key.sk).await.is_none(),
        "no follow-up recreated"
    );
    assert!(t
        .get(
            &receipt_key(SHOP, &event_id(fixtures::EB_OPEN)).pk,
            "MAILEVENT"
        )
        .await
        .is_some());
    assert_eq!(handle(&app, fixtures::EB_OPEN).await, duplicate());

    // A bounce still suppresses the address (keyed by its hash, it outlives erasure).
    assert_eq!(
        handle(&app, fixtures::SNS_BOUNCE_PERMANENT).await,
        applied()
    );
    assert!(t.get(&key.pk, &key.sk).await.is_none());
    assert_eq!(suppression(&t).await.unwrap().reason, "bounced");
}

#[tokio::test]
async fn malformed_events_are_skipped_and_write_nothing() {
    let t = TestApp::spawn().await;
    let app = mail_events(&t);
    let mut untagged = fixture(fixtures::SNS_COMPLAINT);
    let ses = untagged["Records"][0]["Sns"]["Message"]
        .as_str()
        .unwrap()
        .replace("\"shop\":", "\"not-shop\":");
    untagged["Records"][0]["Sns"]["Message"] = ses.into();
    for payload in [
        json!({"hello": "world"}),
        json!({"Records": [{"Sns": {"MessageId": "m-1", "Message": "{not json"}}]}),
        json!({"id": "e-1", "source": "aws.ses", "detail-type": "Email Bounced",
               "detail": {"eventType": "Bounce", "mail": {"messageId": "x"}}}),
        untagged,
    ] {
        let s = app
            .handle(payload.clone())
            .await
            .expect("skipped, not failed");
        assert_eq!((s.events, s.skipped), (1, 1), "{payload}: {s:?}");
    }
    assert_eq!(handle(&app, fixtures::SNS_SEND).await.ignored, 1);
    assert!(t.scan().await.is_empty());
}

#[tokio::test]
async fn a_store_failure_fails_the_invocation_so_lambda_retries() {
    let t = TestApp::against("http://127.0.0.1:9").await;
    let app = mail_events(&t);
    let e = app
        .handle(fixture(fixtures::SNS_BOUNCE_PERMANENT))
        .await
        .expect_err("the store is unreachable");
    assert!(
        !e.to_string().contains("hostmail"),
        "no address in the error: {e}"
    );
}

fn event_id(bytes: &[u8]) -> String {
    let incoming = aftercart::wire::ses::parse_payload(&fixture(bytes)).unwrap();
    match incoming[0].event.clone().unwrap() {
        aftercart::wire::ses::SesEvent::Tracked(e) => e.event_id,
        other => panic!("{other:?}"),
    }
}

/// SES's open of the thank-you (the fixture) at 09:1{minute}.
fn open_at(minute: u32) -> Value {
    let mut sns = fixture(fixtures::SNS_OPEN);
    let mut ses: Value =
        serde_json::from_str(sns["Records"][0]["Sns"]["Message"].as_str().unwrap()).unwrap();
    ses["open"]["timestamp"] = format!("2026-11-22T09:{:02}:00.000Z", 10 + minute).into();
    sns["Records"][0]["Sns"]["Message"] = ses.to_string().into();
    sns["Records"][0]["Sns"]["MessageId"] = format!("sns-open-{minute}").into();
    sns
}

fn event_id_of(v: &Value) -> String {
    let incoming = aftercart::wire::ses::parse_payload(v).unwrap();
    match incoming[0].event.clone().unwrap() {
        aftercart::wire::ses::SesEvent::Tracked(e) => e.event_id,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn opens_are_receipted_on_the_follow_up_up_to_six_then_by_receipt_items_and_none_counts_twice(
) {
    let t = with_sent_thank_you().await;
    let app = mail_events(&t);
    for minute in 0..7 {
        let s = app.handle(open_at(minute)).await.expect("handled");
        assert_eq!(s, applied(), "open {minute}");
    }
    let f = thank_you(&t).await;
    assert_eq!(f.tracking.opens, 7);
    assert_eq!(
        f.tracking.mail_events.len(),
        6,
        "{:?}",
        f.tracking.mail_events
    );
    // The first six are receipted on the follow-up itself, the seventh by its own item.
    for minute in 0..7 {
        let id = event_id_of(&open_at(minute));
        let rk = receipt_key(SHOP, &id);
        let receipt = t.get(&rk.pk, &rk.sk).await;
        assert_eq!(
            (f.tracking.mail_events.contains_key(&id), receipt.is_some()),
            (minute < 6, minute == 6),
            "open {minute}"
        );
    }
    // Redelivered, by either route, each is a duplicate and counts nothing.
    let scan = t.scan().await;
    for minute in [0, 5, 6] {
        let s = app.handle(open_at(minute)).await.expect("handled");
        assert_eq!(s, duplicate(), "open {minute} again");
    }
    assert_eq!(t.scan().await, scan);
    assert_eq!(thank_you(&t).await.tracking.opens, 7);
}

#[tokio::test]
async fn an_event_for_a_follow_up_written_before_the_event_map_is_receipted_by_its_own_item() {
    let t = with_sent_thank_you().await;
    // As a follow-up sent before the map existed is stored.
    let key = keys::followup(SHOP, CUSTOMER, THANKS);
    t.client
        .update_item()
        .table_name(&t.table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(key.pk.clone()),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S(key.sk.clone()),
        )
        .update_expression("REMOVE mail_events")
        .send()
        .await
        .expect("map removed");
    let app = mail_events(&t);
    assert_eq!(handle(&app, fixtures::SNS_DELIVERY).await, applied());
    let id = event_id(fixtures::SNS_DELIVERY);
    let rk = receipt_key(SHOP, &id);
    assert!(t.get(&rk.pk, &rk.sk).await.is_some());
    assert_eq!(handle(&app, fixtures::SNS_DELIVERY).await, duplicate());
    let f = thank_you(&t).await;
    assert_eq!(
        f.tracking.delivered_at.as_deref(),
        Some("2026-11-22T09:00:32.000Z")
    );
    assert!(f.tracking.mail_events.is_empty());
}

#[tokio::test]
async fn an_sdk_retry_of_a_folded_write_that_committed_is_applied_and_counted_once() {
    let t = with_sent_thank_you().await;
    // The first UpdateItem (the folded delivery) commits, its answer comes too late and
    // the SDK sends it again: the second finds the event with its own token.
    let proxy = slow_once_proxy(
        "DynamoDB_20120810.UpdateItem",
        std::time::Duration::from_millis(1200),
    )
    .await;
    let app = MailEventsApp {
        store: DynamoStore::new(client_for(&proxy).await, t.table.clone(), RECEIPT_TTL),
        clock: Arc::new(FixedClock::new(
            "2026-11-23T12:00:00Z".parse().expect("valid time"),
        )),
    };
    assert_eq!(handle(&app, fixtures::SNS_DELIVERY).await, applied());
    let f = thank_you(&t).await;
    assert_eq!(f.tracking.mail_events.len(), 1);
    let stats = t.stats(SHOP, "2026-11-22#playbook#thank_you").await;
    assert_eq!(n(&stats, "delivered"), "1", "counted once");
    assert_eq!(
        handle(&mail_events(&t), fixtures::SNS_DELIVERY).await,
        duplicate()
    );
}

#[tokio::test]
async fn a_queue_batch_applies_each_event_and_writes_the_day_counter_once() {
    use aftercart_integration::meter::Meter;
    let t = with_sent_thank_you().await;
    // The handler's calls go through the metering proxy, to count them.
    let meter = Meter::start().await;
    let app = MailEventsApp {
        store: DynamoStore::new(client_for(&meter.url).await, t.table.clone(), RECEIPT_TTL),
        ..mail_events(&t)
    };
    let s = handle(&app, fixtures::SQS_BATCH).await;
    assert_eq!(
        s,
        Summary {
            events: 3,
            applied: 3,
            ..Summary::default()
        }
    );
    let usage = meter.take().await;
    // One write of the follow-up per event, and one of the thank-you's day counter for
    // all three (one at a time, the counter is written three times).
    assert_eq!(usage.calls_line(), "UpdateItem×4", "{:#?}", usage.log);
    let f = thank_you(&t).await;
    assert!(f.tracking.delivered_at.is_some());
    assert_eq!((f.tracking.opens, f.tracking.clicks), (1, 1));
    let stats = t
        .get(
            &format!("SHOP#{SHOP}#STATS"),
            "DAY#2026-11-22#playbook#thank_you",
        )
        .await
        .expect("the day's counter");
    for counter in ["delivered", "opened", "clicked"] {
        assert_eq!(
            stats
                .get(counter)
                .and_then(|v| v.as_n().ok())
                .map(String::as_str),
            Some("1"),
            "{counter}: {stats:?}"
        );
    }
    // Received again (a visibility timeout ran out before the answer): nothing changes.
    let scan = t.scan().await;
    let again = handle(&app, fixtures::SQS_BATCH).await;
    assert_eq!((again.duplicates, again.applied), (3, 0));
    assert_eq!(t.scan().await, scan);
}
