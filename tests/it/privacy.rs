//! Privacy compliance end to end: signed compliance webhooks through the real handler,
//! carried out by the real dispatcher against moto, then the whole table read back.
//! `app/uninstalled` and `shop/redact` are confirmed with a fake Shopify Admin API
//! (`fake_admin.rs`): a revoked token confirms them, a working one shows them forged.

use crate::fake_admin::{admin_table, FakeAdmin, Fault};
use aftercart::adapters::dynamo::Attrs;
use aftercart::apps::privacy::{carry_out_with, is_shop_item, Limits, FORGED_REASON};
use aftercart::model::{
    email_hash, keys, DiscountRecord, DiscountStatus, FeedbackRecord, FollowUpStatus, Key,
    Playbook, Record, SuppressionRecord,
};
use aftercart::wire::shopify::fixtures;
use aftercart_integration::*;
use aws_sdk_dynamodb::types::AttributeValue;
use mail_parser::{MessageParser, MimeHeaders};
use serde_json::json;
use std::time::{Duration, Instant};

const CUSTOMER_ID: u64 = 8_814_402_219;
const EMAIL: &str = "Zelda.Quarrington@Example.com";
const FIRST: &str = "Zelda";
const LAST: &str = "Quarrington";
const PHONE: &str = "+15556250199";
const PRIVACY_CONTACT: &str = "privacy@aftercart-demo.example";

/// A paid order placed at `created` by `customer` (`None`: a guest checkout).
fn paid(order_id: u64, customer: Option<u64>, email: &str, created: &str) -> Vec<u8> {
    order_with(|o| {
        o["id"] = order_id.into();
        o["created_at"] = created.into();
        o["updated_at"] = created.into();
        o["financial_status"] = "paid".into();
        o["email"] = email.into();
        o["contact_email"] = email.into();
        o["phone"] = PHONE.into();
        for address in ["billing_address", "shipping_address"] {
            o[address]["first_name"] = FIRST.into();
            o[address]["last_name"] = LAST.into();
            o[address]["name"] = format!("{FIRST} {LAST}").into();
        }
        match customer {
            Some(id) => {
                o["customer"]["id"] = id.into();
                o["customer"]["email"] = email.into();
                o["customer"]["first_name"] = FIRST.into();
                o["customer"]["last_name"] = LAST.into();
            }
            None => o["customer"] = serde_json::Value::Null,
        }
    })
}

fn fulfillment(order_id: u64, id: u64) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_slice(fixtures::FULFILLMENT).unwrap();
    v["id"] = id.into();
    v["order_id"] = order_id.into();
    v["created_at"] = "2026-11-21T12:00:00Z".into();
    v["updated_at"] = "2026-11-21T12:00:00Z".into();
    serde_json::to_vec(&v).unwrap()
}

fn refund(order_id: u64) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_slice(fixtures::REFUND).unwrap();
    v["order_id"] = order_id.into();
    serde_json::to_vec(&v).unwrap()
}

fn consent() -> Vec<u8> {
    serde_json::to_vec(&json!({
        "customer_id": CUSTOMER_ID,
        "email_address": EMAIL,
        "email_marketing_consent": {
            "state": "subscribed",
            "opt_in_level": "single_opt_in",
            "consent_updated_at": "2026-11-20T10:00:00Z"
        }
    }))
    .unwrap()
}

/// `customers/redact` as Shopify sends it.
fn redact(orders: &[u64]) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "shop_id": 954889,
        "shop_domain": SHOP,
        "customer": { "id": CUSTOMER_ID, "email": EMAIL, "phone": PHONE },
        "orders_to_redact": orders,
    }))
    .unwrap()
}

fn data_request(id: u64, orders: &[u64]) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "shop_id": 954889,
        "shop_domain": SHOP,
        "orders_requested": orders,
        "customer": { "id": CUSTOMER_ID, "email": EMAIL, "phone": PHONE },
        "data_request": { "id": id },
    }))
    .unwrap()
}

async fn deliver(t: &TestApp, topic: &str, body: &[u8], webhook_id: &str) -> String {
    let (status, resp) = t.post(signed(topic, body, webhook_id)).await;
    assert_eq!(status, 200, "{topic}: {resp}");
    resp["status"].as_str().unwrap_or_default().to_owned()
}

/// Writes `record` under `key` directly, as another function of Aftercart would.
async fn put<T: Record>(t: &TestApp, key: &Key, record: &T) {
    let mut item: Attrs = serde_dynamo::to_item(record).unwrap();
    item.insert("pk".into(), AttributeValue::S(key.pk.clone()));
    item.insert("sk".into(), AttributeValue::S(key.sk.clone()));
    item.insert("entity".into(), AttributeValue::S(T::KIND.into()));
    t.client
        .put_item()
        .table_name(&t.table)
        .set_item(Some(item))
        .send()
        .await
        .expect("put_item");
}

/// Every string, number and key of `v`, recursively.
fn texts(v: &AttributeValue, out: &mut Vec<String>) {
    match v {
        AttributeValue::S(s) | AttributeValue::N(s) => out.push(s.clone()),
        AttributeValue::Ss(l) | AttributeValue::Ns(l) => out.extend(l.iter().cloned()),
        AttributeValue::L(l) => l.iter().for_each(|x| texts(x, out)),
        AttributeValue::M(m) => m.iter().for_each(|(k, x)| {
            out.push(k.clone());
            texts(x, out);
        }),
        AttributeValue::B(b) => out.push(String::from_utf8_lossy(b.as_ref()).into_owned()),
        _ => {}
    }
}

/// Where any of `needles` (case-insensitive) appears in the table: `(pk, sk, attribute)`.
async fn find_in_table(t: &TestApp, needles: &[&str]) -> Vec<(String, String, String)> {
    let needles: Vec<String> = needles.iter().map(|n| n.to_lowercase()).collect();
    let mut hits = Vec::new();
    for item in t.scan().await {
        for (name, value) in &item {
            let mut all = vec![name.clone()];
            texts(value, &mut all);
            if all
                .iter()
                .any(|text| needles.iter().any(|n| text.to_lowercase().contains(n)))
            {
                hits.push((s(&item, "pk"), s(&item, "sk"), name.clone()));
            }
        }
    }
    hits
}

fn personal() -> Vec<String> {
    vec![
        EMAIL.to_owned(),
        FIRST.to_owned(),
        LAST.to_owned(),
        CUSTOMER_ID.to_string(),
        PHONE.to_owned(),
    ]
}

async fn privacy_records(t: &TestApp) -> Vec<Attrs> {
    t.scan()
        .await
        .into_iter()
        .filter(|i| s(i, "entity") == "privacy_request")
        .collect()
}

/// The default test shop with its Admin API served by a fake (`faults` first), and
/// `top` added to the `[admin]` table.
async fn spawn_with_admin(
    top: &str,
    faults: impl IntoIterator<Item = Fault>,
) -> (TestApp, FakeAdmin) {
    let fake = FakeAdmin::start(faults).await;
    let t =
        TestApp::spawn_configured(config_with(&format!("{}{top}", admin_table(&fake)), "")).await;
    (t, fake)
}

/// As [`spawn_with_admin`], the app already uninstalled: Shopify revoked its token.
async fn spawn_uninstalled() -> (TestApp, FakeAdmin) {
    let (t, fake) = spawn_with_admin("", []).await;
    fake.revoke();
    (t, fake)
}

/// As [`spawn_with_admin`], the Admin API down for the first check: two attempts per
/// check, both answered 503; then it answers again (accepting the token).
async fn spawn_with_admin_down() -> (TestApp, FakeAdmin) {
    spawn_with_admin(
        "max_attempts = 2\n",
        [Fault::Status(503), Fault::Status(503)],
    )
    .await
}

/// A dispatcher as of `at` with no Admin API token for the shop.
async fn dispatcher_without_token(t: &TestApp, at: &str) -> TestDispatcher {
    let mut d = t.dispatcher(at, None).await;
    d.admin = aftercart::adapters::shopify_admin::AdminClient::new(
        &d.config.admin,
        aftercart::adapters::shopify_admin::AdminTokens::default(),
    )
    .expect("admin client");
    d
}

/// The shop's installation record.
async fn shop_record(t: &TestApp) -> Attrs {
    t.get(&format!("SHOP#{SHOP}"), "SHOP")
        .await
        .expect("installation record")
}

/// The privacy request recorded for `topic`.
async fn request_of(t: &TestApp, topic: &str) -> Attrs {
    let records = privacy_records(t).await;
    let mine: Vec<_> = records.iter().filter(|r| s(r, "topic") == topic).collect();
    assert_eq!(mine.len(), 1, "{records:#?}");
    mine[0].clone()
}

/// Every item but the privacy requests, the refusal counts, the report's counters
/// (a dispatch run that defers or cancels adds to them) and the installation record:
/// the data an erasure would delete.
fn data_items(items: Vec<Attrs>) -> Vec<Attrs> {
    items
        .into_iter()
        .filter(|i| {
            s(i, "entity") != "privacy_request"
                && s(i, "entity") != "refusals"
                && s(i, "entity") != "stats"
                && s(i, "pk") != format!("SHOP#{SHOP}")
        })
        .collect()
}

/// The shop's data still has exactly the keys `before` (the privacy requests, refusal
/// counts and installation record aside), and its sends are still stopped.
async fn assert_nothing_erased_and_sends_stopped(t: &TestApp, before: &[(String, String)]) {
    assert_eq!(
        keys_of(&data_items(t.scan().await)),
        before,
        "nothing erased yet"
    );
    assert!(!s(&shop_record(t).await, "uninstalled_at").is_empty());
}

/// A customer with three orders (one a guest checkout with the same address),
/// shipments, a refund, a consent update, follow-ups (some sent), feedback, a discount
/// code and an unsubscribe; and another customer who must be left alone.
async fn customer_with_history(t: &TestApp) {
    let created = ["2026-11-20T08:00:00Z", "2026-11-21T08:00:00Z"];
    deliver(
        t,
        "orders/paid",
        &paid(6001, Some(CUSTOMER_ID), EMAIL, created[0]),
        "wh-o1",
    )
    .await;
    deliver(
        t,
        "orders/paid",
        &paid(6002, Some(CUSTOMER_ID), EMAIL, created[1]),
        "wh-o2",
    )
    .await;
    deliver(
        t,
        "orders/paid",
        &paid(6003, None, EMAIL, "2026-11-19T08:00:00Z"),
        "wh-o3",
    )
    .await;
    deliver(t, "fulfillments/create", &fulfillment(6001, 8001), "wh-f1").await;
    deliver(t, "refunds/create", &refund(6002), "wh-r1").await;
    deliver(
        t,
        "customers_email_marketing_consent/update",
        &consent(),
        "wh-c1",
    )
    .await;
    deliver(
        t,
        "orders/paid",
        &order_with(|o| {
            o["id"] = 7001.into();
            o["created_at"] = created[0].into();
            o["updated_at"] = created[0].into();
            o["financial_status"] = "paid".into();
            o["email"] = "oscar@example.com".into();
            o["customer"]["id"] = 555.into();
            o["customer"]["email"] = "oscar@example.com".into();
            o["customer"]["first_name"] = "Oscar".into();
        }),
        "wh-other",
    )
    .await;
    // Some of the follow-ups go out.
    let d = t.dispatcher("2026-11-21T09:30:00Z", None).await;
    let report = run_dispatch(&d).await;
    assert!(report["sent"].as_u64().unwrap_or(0) >= 2, "{report}");

    let ckey = CUSTOMER_ID.to_string();
    let at = "2026-11-21T10:00:00.000Z".to_owned();
    put(
        t,
        &keys::feedback(SHOP, &ckey, "satisfaction#6001#0"),
        &FeedbackRecord {
            v: 1,
            followup: "satisfaction#6001#0".into(),
            order_id: 6001,
            score: 2,
            comment: Some(format!("{FIRST} {LAST} here: it arrived broken")),
            first_at: at.clone(),
            updated_at: at.clone(),
            submissions: 1,
            ..Default::default()
        },
    )
    .await;
    put(
        t,
        &keys::discount(SHOP, &ckey, "loyalty#6002#0"),
        &DiscountRecord {
            v: 1,
            followup: "loyalty#6002#0".into(),
            code: "ZELDA-THANKS".into(),
            status: DiscountStatus::Created,
            reserved_at: at.clone(),
            customer_gid: Some(format!("gid://shopify/Customer/{ckey}")),
            starts_at: Some(at.clone()),
            replaced: Vec::new(),
            created_at: Some(at.clone()),
            discount_id: Some("gid://shopify/DiscountCodeNode/1".into()),
            ends_at: None,
            reason: None,
            redeemed_order_id: None,
            redeemed_at: None,
        },
    )
    .await;
    put(
        t,
        &keys::suppression(SHOP, &email_hash(EMAIL)),
        &SuppressionRecord {
            email_hash: email_hash(EMAIL),
            reason: "unsubscribed".into(),
            at,
        },
    )
    .await;
}

#[tokio::test]
async fn customers_redact_leaves_nothing_of_the_customer_in_the_table() {
    let t = TestApp::spawn().await;
    customer_with_history(&t).await;
    let needles = personal();
    let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
    // Before: the customer is all over the table (so the check below can fail).
    let before = find_in_table(&t, &needles).await;
    for marker in ["PROFILE", "ORDER#", "FOLLOWUP#", "FEEDBACK#", "DISCOUNT#"] {
        assert!(
            before.iter().any(|(_, sk, _)| sk.starts_with(marker)),
            "no {marker} item names the customer before: {before:#?}"
        );
    }
    assert!(
        before
            .iter()
            .any(|(pk, sk, _)| pk.contains("#ORDER#") && sk == "ORDER"),
        "{before:#?}"
    );

    assert_eq!(
        deliver(
            &t,
            "customers/redact",
            &redact(&[6001, 6002]),
            "wh-redact-1"
        )
        .await,
        "recorded"
    );
    let d = t.dispatcher("2026-11-22T10:00:00Z", None).await;
    run_dispatch(&d).await;

    let after = find_in_table(&t, &needles).await;
    assert!(after.is_empty(), "still naming the customer: {after:#?}");
    // The opt-out survives as a hash.
    let supp = t
        .get(
            &keys::suppression(SHOP, &email_hash(EMAIL)).pk,
            "SUPPRESSION",
        )
        .await
        .expect("suppression kept");
    assert_eq!(s(&supp, "reason"), "unsubscribed");
    // The other customer is untouched.
    assert!(t
        .get(&keys::customer_pk(SHOP, "555"), "PROFILE")
        .await
        .is_some());
    assert!(t.get(&keys::order_pk(SHOP, 7001), "ORDER").await.is_some());
    // Nothing of the customer's orders remains.
    for id in [6001u64, 6002, 6003] {
        let left: Vec<_> = t
            .scan()
            .await
            .into_iter()
            .filter(|i| s(i, "pk") == keys::order_pk(SHOP, id))
            .collect();
        assert!(left.is_empty(), "order {id}: {left:?}");
    }
    let records = privacy_records(&t).await;
    assert_eq!(records.len(), 1);
    assert_eq!(s(&records[0], "status"), "done");
    assert!(n(&records[0], "erased_items").parse::<u32>().unwrap() >= 15);
    for gone in ["customer_id", "email_hash", "order_ids", "lease_owner"] {
        assert!(!records[0].contains_key(gone), "{gone}: {:?}", records[0]);
    }
}

#[tokio::test]
async fn customers_redact_is_idempotent_and_a_later_order_is_not_mailed_while_suppressed() {
    let t = TestApp::spawn().await;
    customer_with_history(&t).await;
    assert_eq!(
        deliver(&t, "customers/redact", &redact(&[6001]), "wh-redact-1").await,
        "recorded"
    );
    run_dispatch(&t.dispatcher("2026-11-22T10:00:00Z", None).await).await;
    let once = t.scan().await;

    // The same delivery again, a new delivery of the same request, and more runs.
    assert_eq!(
        deliver(&t, "customers/redact", &redact(&[6001]), "wh-redact-1").await,
        "duplicate_delivery"
    );
    assert_eq!(
        deliver(&t, "customers/redact", &redact(&[6001]), "wh-redact-2").await,
        "recorded"
    );
    run_dispatch(&t.dispatcher("2026-11-22T10:01:00Z", None).await).await;
    run_dispatch(&t.dispatcher("2026-11-22T10:02:00Z", None).await).await;
    let needles = personal();
    let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
    assert!(find_in_table(&t, &needles).await.is_empty());
    let records = privacy_records(&t).await;
    assert_eq!(records.len(), 2);
    assert!(records.iter().all(|r| s(r, "status") == "done"
        && !r.contains_key("customer_id")
        && !r.contains_key("email_hash")));
    assert_eq!(
        records
            .iter()
            .map(|r| n(r, "erased_items"))
            .collect::<Vec<_>>()
            .last()
            .cloned(),
        Some("0".to_owned()),
        "the second request found nothing left to erase"
    );
    let non_privacy = |items: Vec<Attrs>| -> Vec<(String, String)> {
        items
            .into_iter()
            .filter(|i| s(i, "entity") != "privacy_request" && s(i, "entity") != "receipt")
            .map(|i| (s(&i, "pk"), s(&i, "sk")))
            .collect()
    };
    assert_eq!(non_privacy(t.scan().await), non_privacy(once));

    // The customer orders again later with the same address: recorded, but the
    // unsubscribe (kept as a hash) still holds.
    deliver(
        &t,
        "orders/paid",
        &paid(6004, Some(CUSTOMER_ID), EMAIL, "2026-11-23T08:00:00Z"),
        "wh-o4",
    )
    .await;
    let d = t.dispatcher("2026-11-23T09:30:00Z", None).await;
    run_dispatch(&d).await;
    assert!(
        d.mailer.sent.lock().unwrap().iter().all(|e| e.to != EMAIL),
        "a suppressed address is not mailed"
    );
    let f = t
        .followups()
        .await
        .into_iter()
        .find(|f| f.order_id == 6004)
        .expect("thank-you planned");
    assert_eq!(f.status, FollowUpStatus::Cancelled);
    assert_eq!(
        f.reason.as_deref(),
        Some("address suppressed (unsubscribed)")
    );
}

#[tokio::test]
async fn a_guest_is_erased_by_the_hash_of_the_address() {
    let t = TestApp::spawn().await;
    deliver(
        &t,
        "orders/paid",
        &paid(6101, None, EMAIL, "2026-11-20T08:00:00Z"),
        "wh-o1",
    )
    .await;
    let guest = serde_json::to_vec(&json!({
        "shop_id": 954889,
        "shop_domain": SHOP,
        "customer": { "id": null, "email": EMAIL.to_lowercase(), "phone": null },
        "orders_to_redact": [],
    }))
    .unwrap();
    deliver(&t, "customers/redact", &guest, "wh-redact").await;
    run_dispatch(&t.dispatcher("2026-11-20T08:10:00Z", None).await).await;
    assert!(find_in_table(&t, &[EMAIL, FIRST, LAST]).await.is_empty());
    assert!(t.get(&keys::order_pk(SHOP, 6101), "ORDER").await.is_none());
    let guest_pk = keys::customer_pk(SHOP, &format!("guest-{}", email_hash(EMAIL)));
    assert!(t.scan().await.iter().all(|i| s(i, "pk") != guest_pk));
}

fn with_privacy_contact() -> aftercart::config::Config {
    config_with(
        "",
        &format!("support_email = \"help@aftercart-demo.example\"\nprivacy_email = \"{PRIVACY_CONTACT}\"\n"),
    )
}

#[tokio::test]
async fn data_request_sends_one_json_export_to_the_privacy_contact() {
    let t = TestApp::spawn_configured(with_privacy_contact()).await;
    deliver(
        &t,
        "orders/paid",
        &paid(6201, Some(CUSTOMER_ID), EMAIL, "2026-11-20T08:00:00Z"),
        "wh-o1",
    )
    .await;
    deliver(
        &t,
        "orders/paid",
        &paid(6202, Some(CUSTOMER_ID), EMAIL, "2026-11-21T08:00:00Z"),
        "wh-o2",
    )
    .await;
    deliver(&t, "fulfillments/create", &fulfillment(6201, 8201), "wh-f1").await;
    deliver(
        &t,
        "customers/data_request",
        &data_request(4242, &[6201, 6202]),
        "wh-dr",
    )
    .await;

    let d = t.dispatcher("2026-11-20T08:10:00Z", None).await;
    run_dispatch(&d).await;
    let exports: Vec<_> = d
        .mailer
        .sent
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.to == PRIVACY_CONTACT)
        .cloned()
        .collect();
    assert_eq!(exports.len(), 1);
    assert_eq!(exports[0].from, SENDER);
    let msg = MessageParser::default()
        .parse(&exports[0].raw)
        .expect("MIME parses");
    assert_eq!(msg.attachment_count(), 1);
    let a = msg.attachment(0).unwrap();
    assert_eq!(a.attachment_name(), Some("customer-data-4242.json"));
    assert_eq!(
        a.content_type().map(|c| (c.ctype(), c.subtype())),
        Some(("application", Some("json")))
    );
    let doc: serde_json::Value = serde_json::from_slice(a.contents()).expect("JSON attachment");
    assert_eq!(doc["data_request_id"], 4242);
    assert_eq!(doc["customer_id"], CUSTOMER_ID);
    assert_eq!(doc["profiles"][0]["email"], EMAIL);
    assert_eq!(doc["profiles"][0]["first_name"], FIRST);
    let orders: Vec<u64> = doc["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["order_id"].as_u64().unwrap())
        .collect();
    assert_eq!(orders, vec![6201, 6202]);
    assert_eq!(doc["orders"][0]["order"]["name"], "#1001");
    assert_eq!(doc["orders"][0]["fulfillments"][0]["fulfillment_id"], 8201);
    assert_eq!(doc["order_history"].as_array().unwrap().len(), 2);
    assert!(!doc["followups"].as_array().unwrap().is_empty());

    let r = &privacy_records(&t).await[0];
    assert_eq!(s(r, "status"), "done");
    assert!(!s(r, "ses_message_id").is_empty());
    assert!(!r.contains_key("customer_id") && !r.contains_key("email_hash"));

    // The export is sent once: later runs and a duplicate delivery send nothing more.
    assert_eq!(
        deliver(
            &t,
            "customers/data_request",
            &data_request(4242, &[6201]),
            "wh-dr-again"
        )
        .await,
        "duplicate_event"
    );
    let later = t.dispatcher("2026-11-20T08:11:00Z", None).await;
    run_dispatch(&later).await;
    assert!(later
        .mailer
        .sent
        .lock()
        .unwrap()
        .iter()
        .all(|e| e.to != PRIVACY_CONTACT));
    // The customer's data is still there (an export erases nothing).
    assert!(t
        .get(
            &keys::customer_pk(SHOP, &CUSTOMER_ID.to_string()),
            "PROFILE"
        )
        .await
        .is_some());
}

#[tokio::test]
async fn data_request_without_a_privacy_contact_fails_with_the_fix_named() {
    // The default test shop has neither privacy_email nor support_email.
    let t = TestApp::spawn().await;
    deliver(
        &t,
        "customers/data_request",
        &data_request(77, &[]),
        "wh-dr",
    )
    .await;
    let d = t.dispatcher("2026-11-22T08:10:00Z", None).await;
    run_dispatch(&d).await;
    assert!(d.mailer.sent.lock().unwrap().is_empty());
    let r = &privacy_records(&t).await[0];
    assert_eq!(s(r, "status"), "failed");
    let reason = s(r, "reason");
    assert!(
        reason.contains("privacy_email") && reason.contains("support_email"),
        "{reason}"
    );
    // Failed requests are not retried every minute.
    let again = t.dispatcher("2026-11-22T08:11:00Z", None).await;
    run_dispatch(&again).await;
    assert_eq!(n(&privacy_records(&t).await[0], "attempts"), "1");
}

#[tokio::test]
async fn a_data_export_waits_while_ses_refuses_the_whole_account() {
    let t = TestApp::spawn_configured(with_privacy_contact()).await;
    deliver(
        &t,
        "customers/data_request",
        &data_request(4343, &[]),
        "wh-dr",
    )
    .await;
    let (ses, _) = fake_routes(|_| {
        Canned::aws_error(
            "400 Bad Request",
            "AccountSuspendedException",
            "This account is suspended.",
        )
    })
    .await;
    let d = t.dispatcher("2026-11-22T08:10:00Z", Some(&ses)).await;
    run_dispatch(&d).await;
    let r = &privacy_records(&t).await[0];
    assert_eq!(s(r, "status"), "pending", "{r:?}");
    assert_eq!(
        n(r, "attempts"),
        "0",
        "waiting on the account is not an attempt"
    );
    assert!(s(r, "reason").starts_with("halted: "), "{r:?}");
    assert_eq!(s(r, "not_before"), "2026-11-22T08:25:00.000Z");

    // Once the account sends again, the export goes out.
    run_dispatch(&t.dispatcher("2026-11-22T08:26:00Z", None).await).await;
    let r = &privacy_records(&t).await[0];
    assert_eq!(s(r, "status"), "done", "{r:?}");
    assert_eq!(n(r, "attempts"), "1");
}

const OTHER: &str = "other-shop.myshopify.com";

/// Items of other shops, written directly; erasing our shop must not touch them.
async fn other_shops_items(t: &TestApp) -> Vec<(String, String)> {
    let keys = [
        (format!("SHOP#{OTHER}#ORDER#1"), "ORDER"),
        (format!("SHOP#{OTHER}#CUSTOMER#42"), "PROFILE"),
        (format!("DELIVERY#{OTHER}#wh-1"), "DELIVERY"),
        (format!("SUPPRESS#{OTHER}#abc"), "SUPPRESSION"),
        (format!("SHOP#{OTHER}"), "SHOP"),
        (format!("SHOP#{SHOP}.example#ORDER#1"), "ORDER"),
    ];
    for (pk, sk) in &keys {
        t.client
            .put_item()
            .table_name(&t.table)
            .item("pk", AttributeValue::S(pk.clone()))
            .item("sk", AttributeValue::S((*sk).into()))
            .item("entity", AttributeValue::S("test".into()))
            .send()
            .await
            .expect("put_item");
    }
    keys.iter()
        .map(|(p, s)| (p.clone(), (*s).to_owned()))
        .collect()
}

async fn a_busy_shop(t: &TestApp) -> Vec<(String, String)> {
    customer_with_history(t).await;
    let others = other_shops_items(t).await;
    assert_eq!(
        deliver(t, "shop/redact", fixtures::SHOP_REDACT, "wh-shop-redact").await,
        "recorded"
    );
    others
}

fn keys_of(items: &[Attrs]) -> Vec<(String, String)> {
    items.iter().map(|i| (s(i, "pk"), s(i, "sk"))).collect()
}

async fn assert_only_the_tombstone_is_left(t: &TestApp, others: &[(String, String)]) {
    let items = t.scan().await;
    let ours: Vec<_> = keys_of(&items)
        .into_iter()
        .filter(|(pk, _)| is_shop_item(pk, SHOP) || pk == &format!("SHOP#{SHOP}"))
        .collect();
    assert_eq!(ours, vec![(format!("SHOP#{SHOP}"), "SHOP".to_owned())]);
    let tombstone = t.get(&format!("SHOP#{SHOP}"), "SHOP").await.unwrap();
    assert!(!s(&tombstone, "uninstalled_at").is_empty());
    assert!(!s(&tombstone, "redact_requested_at").is_empty());
    let mut left: Vec<_> = keys_of(&items)
        .into_iter()
        .filter(|(pk, _)| pk != &format!("SHOP#{SHOP}"))
        .collect();
    left.sort();
    let mut others = others.to_vec();
    others.sort();
    assert_eq!(left, others, "other shops' items are untouched");
    let needles = personal();
    let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
    assert!(find_in_table(t, &needles).await.is_empty());
}

#[tokio::test]
async fn shop_redact_erases_every_item_of_the_shop_but_the_tombstone() {
    let (t, fake) = spawn_uninstalled().await;
    let others = a_busy_shop(&t).await;
    run_dispatch(&t.dispatcher("2026-11-24T10:00:00Z", None).await).await;
    assert_only_the_tombstone_is_left(&t, &others).await;
    assert_eq!(fake.access_checks(), 1, "the uninstall was confirmed first");

    // A late duplicate of the request is harmless: it erases what little it recorded.
    deliver(&t, "shop/redact", fixtures::SHOP_REDACT, "wh-shop-redact").await;
    run_dispatch(&t.dispatcher("2026-11-24T10:01:00Z", None).await).await;
    assert_only_the_tombstone_is_left(&t, &others).await;
}

#[tokio::test]
async fn shop_redact_resumes_where_the_previous_run_stopped() {
    let (t, fake) = spawn_uninstalled().await;
    let others = a_busy_shop(&t).await;
    let items_before = t.scan().await.len();
    let d = t.dispatcher("2026-11-24T10:00:00Z", None).await;
    let limits = Limits {
        scan_page: 3,
        max_scan_pages: Some(2),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let first = carry_out_with(&d.compliance(), deadline, limits)
        .await
        .unwrap();
    assert_eq!((first.done, first.unfinished), (0, 1), "{first:?}");
    assert!(first.erased_items > 0, "{first:?}");
    let r = &privacy_records(&t).await[0];
    assert_eq!(s(r, "status"), "pending", "released for the next run");
    assert!(!s(r, "cursor_pk").is_empty(), "{r:?}");
    assert!(t.scan().await.len() < items_before);

    let mut passes = 1;
    loop {
        let report = carry_out_with(&d.compliance(), deadline, limits)
            .await
            .unwrap();
        passes += 1;
        if report.done == 1 {
            break;
        }
        assert!(passes < 50, "no progress: {report:?}");
    }
    assert!(passes > 2, "the work was spread over several passes");
    assert_only_the_tombstone_is_left(&t, &others).await;
    assert_eq!(
        fake.access_checks(),
        1,
        "confirmed once, not again on every pass"
    );
}

#[tokio::test]
async fn app_uninstalled_stops_due_follow_ups_at_once() {
    let (t, fake) = spawn_uninstalled().await;
    deliver(
        &t,
        "orders/paid",
        &paid(6301, Some(CUSTOMER_ID), EMAIL, "2026-11-22T08:00:00Z"),
        "wh-o1",
    )
    .await;
    assert_eq!(
        deliver(&t, "app/uninstalled", fixtures::APP_UNINSTALLED, "wh-gone").await,
        "recorded"
    );
    assert_eq!(
        deliver(&t, "app/uninstalled", fixtures::APP_UNINSTALLED, "wh-gone").await,
        "duplicate_delivery"
    );
    let d = t.dispatcher("2026-11-22T09:30:00Z", None).await;
    let report = run_dispatch(&d).await;
    assert_eq!(
        (report["due"].as_u64(), report["sent"].as_u64()),
        (Some(1), Some(0)),
        "{report}"
    );
    assert!(d.mailer.sent.lock().unwrap().is_empty());
    let f = t.followups().await;
    assert_eq!(f[0].status, FollowUpStatus::Cancelled);
    assert_eq!(f[0].reason.as_deref(), Some("shop uninstalled"));
    // Uninstalling erases nothing: that waits for shop/redact.
    assert!(t.get(&keys::order_pk(SHOP, 6301), "ORDER").await.is_some());
    // The Admin API refused the token: the uninstall is confirmed and stays.
    let r = request_of(&t, "app/uninstalled").await;
    assert_eq!(s(&r, "status"), "done", "{r:?}");
    assert_eq!(s(&r, "confirmed_by"), "admin_api");
    let shop = shop_record(&t).await;
    assert!(!s(&shop, "uninstalled_at").is_empty());
    assert!(!shop.contains_key("uninstall_unconfirmed_at"), "{shop:?}");
    assert_eq!(fake.access_checks(), 1);
}

/// A paid order of `customer` placed at 08:00 on 2026-11-22: its thank-you is due by
/// 09:30.
async fn an_order_due_at_0930(t: &TestApp, order_id: u64, customer: u64, email: &str) {
    deliver(
        t,
        "orders/paid",
        &paid(order_id, Some(customer), email, "2026-11-22T08:00:00Z"),
        &format!("wh-o{order_id}"),
    )
    .await;
}

/// The refusal count of `kind`'s counter on 2026-11-22 ("" if none).
async fn refusals_counted(t: &TestApp, counter: &str) -> String {
    t.get(
        &keys::refusals(SHOP, "2026-11-22").pk,
        &keys::refusals(SHOP, "2026-11-22").sk,
    )
    .await
    .map(|item| n(&item, counter))
    .unwrap_or_default()
}

#[tokio::test]
async fn the_genuine_sequence_erases_the_customer_then_the_shop_and_nothing_else() {
    let (t, fake) = spawn_with_admin("", []).await;
    customer_with_history(&t).await;
    let others = other_shops_items(&t).await;

    // The customer asks to be forgotten while the app is installed.
    deliver(&t, "customers/redact", &redact(&[6001, 6002]), "wh-redact").await;
    run_dispatch(&t.dispatcher("2026-11-22T10:00:00Z", None).await).await;
    let needles = personal();
    let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
    assert!(find_in_table(&t, &needles).await.is_empty());
    assert_eq!(fake.access_checks(), 0, "customer requests are not checked");

    // The merchant uninstalls: Shopify revokes the token, then notifies.
    fake.revoke();
    deliver(&t, "app/uninstalled", fixtures::APP_UNINSTALLED, "wh-gone").await;
    run_dispatch(&t.dispatcher("2026-11-22T10:01:00Z", None).await).await;
    let r = request_of(&t, "app/uninstalled").await;
    assert_eq!(
        (s(&r, "status"), s(&r, "confirmed_by")),
        ("done".into(), "admin_api".into())
    );

    // 48 hours later, shop/redact.
    deliver(&t, "shop/redact", fixtures::SHOP_REDACT, "wh-shop-redact").await;
    run_dispatch(&t.dispatcher("2026-11-24T10:01:00Z", None).await).await;
    assert_only_the_tombstone_is_left(&t, &others).await;
    assert_eq!(fake.access_checks(), 2);
    let refused = t
        .scan()
        .await
        .into_iter()
        .filter(|i| s(i, "entity") == "refusals")
        .count();
    assert_eq!(refused, 0, "nothing was refused");
}

#[tokio::test]
async fn a_forged_uninstall_is_refused_and_the_due_follow_up_goes_out() {
    // The token still works: the app was never uninstalled.
    let (t, fake) = spawn_with_admin("", []).await;
    an_order_due_at_0930(&t, 6501, CUSTOMER_ID, EMAIL).await;
    assert_eq!(
        deliver(
            &t,
            "app/uninstalled",
            fixtures::APP_UNINSTALLED,
            "wh-forged"
        )
        .await,
        "recorded"
    );
    // Sends stop at once, until the notice is confirmed.
    assert!(!s(&shop_record(&t).await, "uninstalled_at").is_empty());

    let d = t.dispatcher("2026-11-22T09:30:00Z", None).await;
    let report = run_dispatch(&d).await;
    assert_eq!(report["sent"], 1, "{report}");
    assert!(d.mailer.sent.lock().unwrap().iter().any(|e| e.to == EMAIL));
    let f = t.followups().await;
    assert_eq!(f[0].status, FollowUpStatus::Sent, "{f:?}");

    let shop = shop_record(&t).await;
    assert!(!shop.contains_key("uninstalled_at"), "{shop:?}");
    assert!(!shop.contains_key("redact_requested_at"), "{shop:?}");
    let r = request_of(&t, "app/uninstalled").await;
    assert_eq!(s(&r, "status"), "refused", "{r:?}");
    assert_eq!(s(&r, "reason"), FORGED_REASON);
    assert_eq!(refusals_counted(&t, "n_forged_uninstall").await, "1");
    assert_eq!(refusals_counted(&t, "total").await, "1");

    // Refused once: later runs neither check nor count again.
    run_dispatch(&t.dispatcher("2026-11-22T09:31:00Z", None).await).await;
    assert_eq!(fake.access_checks(), 1);
    assert_eq!(refusals_counted(&t, "n_forged_uninstall").await, "1");
}

#[tokio::test]
async fn a_forged_shop_redact_erases_nothing_and_sends_resume() {
    let (t, fake) = spawn_with_admin("", []).await;
    customer_with_history(&t).await;
    // Another customer (the first one unsubscribed).
    an_order_due_at_0930(&t, 6601, 556, "nina@example.com").await;
    assert_eq!(
        deliver(&t, "shop/redact", fixtures::SHOP_REDACT, "wh-forged").await,
        "recorded"
    );
    assert!(!s(&shop_record(&t).await, "redact_requested_at").is_empty());
    let before = t.scan().await;

    // The privacy pass alone (no sends), so the table can be compared item by item.
    let d = t.dispatcher("2026-11-22T09:30:00Z", None).await;
    let report = carry_out_with(
        &d.compliance(),
        Instant::now() + Duration::from_secs(60),
        Limits::default(),
    )
    .await
    .unwrap();
    assert_eq!((report.refused, report.erased_items), (1, 0), "{report:?}");
    let after = t.scan().await;
    assert_eq!(data_items(after.clone()), data_items(before.clone()));
    assert_eq!(
        after.len(),
        before.len() + 1,
        "only the refusal count is new"
    );
    let r = request_of(&t, "shop/redact").await;
    assert_eq!(s(&r, "status"), "refused", "{r:?}");
    assert_eq!(s(&r, "reason"), FORGED_REASON);
    assert_eq!(refusals_counted(&t, "n_forged_shop_redact").await, "1");
    let shop = shop_record(&t).await;
    assert!(
        !shop.contains_key("uninstalled_at") && !shop.contains_key("redact_requested_at"),
        "{shop:?}"
    );

    // Sends resume: the new order's thank-you goes out.
    run_dispatch(&d).await;
    let f = t
        .followups()
        .await
        .into_iter()
        .find(|f| f.order_id == 6601 && f.playbook == Playbook::ThankYou)
        .expect("thank-you planned");
    assert_eq!(f.status, FollowUpStatus::Sent, "{f:?}");
    assert!(d
        .mailer
        .sent
        .lock()
        .unwrap()
        .iter()
        .any(|e| e.to == "nina@example.com"));
    assert_eq!(fake.access_checks(), 1);
}

#[tokio::test]
async fn without_a_token_a_shop_redact_waits_for_confirm_redact() {
    let (t, fake) = spawn_with_admin("", []).await;
    let others = a_busy_shop(&t).await;
    let before = keys_of(&data_items(t.scan().await));

    let d = dispatcher_without_token(&t, "2026-11-24T10:00:00Z").await;
    run_dispatch(&d).await;
    let r = request_of(&t, "shop/redact").await;
    assert_eq!(s(&r, "status"), "awaiting_confirmation", "{r:?}");
    let reason = s(&r, "reason");
    assert!(
        reason.contains(&format!("aftercart confirm-redact --shop {SHOP}"))
            && reason.contains("30 days"),
        "{reason}"
    );
    assert_nothing_erased_and_sends_stopped(&t, &before).await;

    // Not taken up again (nor logged again) every minute.
    run_dispatch(&dispatcher_without_token(&t, "2026-11-24T10:01:00Z").await).await;
    let again = request_of(&t, "shop/redact").await;
    assert_eq!(
        (s(&again, "status"), n(&again, "attempts")),
        ("awaiting_confirmation".into(), "1".into())
    );
    assert_eq!(fake.access_checks(), 0, "no token: nothing to ask");

    // The operator checks the Partner dashboard, then confirms.
    let now: chrono::DateTime<chrono::Utc> = "2026-11-24T11:00:00Z".parse().unwrap();
    let said = aftercart_cli::cli::confirm_redact(&d.store, SHOP, "ops-anna", now)
        .await
        .expect("one request confirmed");
    assert!(said.contains("confirmed 1"), "{said}");
    let r = request_of(&t, "shop/redact").await;
    assert_eq!(
        (
            s(&r, "status"),
            s(&r, "confirmed_by"),
            s(&r, "confirmed_at")
        ),
        (
            "pending".into(),
            "operator ops-anna".into(),
            "2026-11-24T11:00:00.000Z".into()
        )
    );
    let twice = aftercart_cli::cli::confirm_redact(&d.store, SHOP, "ops-anna", now).await;
    assert!(twice.is_err(), "nothing waits any more");

    run_dispatch(&dispatcher_without_token(&t, "2026-11-24T11:01:00Z").await).await;
    assert_only_the_tombstone_is_left(&t, &others).await;
    assert_eq!(fake.access_checks(), 0);
}

#[tokio::test]
async fn without_a_token_an_uninstall_stays_in_force_unconfirmed() {
    let (t, _fake) = spawn_with_admin("", []).await;
    an_order_due_at_0930(&t, 6701, CUSTOMER_ID, EMAIL).await;
    deliver(&t, "app/uninstalled", fixtures::APP_UNINSTALLED, "wh-gone").await;
    let d = dispatcher_without_token(&t, "2026-11-22T09:30:00Z").await;
    assert_eq!(run_dispatch(&d).await["sent"], 0);
    let f = t.followups().await;
    assert_eq!(f[0].reason.as_deref(), Some("shop uninstalled"));
    let r = request_of(&t, "app/uninstalled").await;
    assert_eq!(s(&r, "status"), "done", "{r:?}");
    assert!(!r.contains_key("confirmed_by"), "{r:?}");
    assert!(
        s(&r, "unconfirmed").contains("no Admin API access token"),
        "{r:?}"
    );
    assert!(!s(&shop_record(&t).await, "uninstalled_at").is_empty());
}

#[tokio::test]
async fn an_admin_outage_retries_the_confirmation_later_and_erases_nothing_meanwhile() {
    let (t, fake) = spawn_with_admin_down().await;
    let others = a_busy_shop(&t).await;
    let before = keys_of(&data_items(t.scan().await));

    run_dispatch(&t.dispatcher("2026-11-24T10:00:00Z", None).await).await;
    let r = request_of(&t, "shop/redact").await;
    assert_eq!(s(&r, "status"), "pending", "{r:?}");
    assert!(s(&r, "reason").contains("HTTP 503"), "{r:?}");
    let not_before = s(&r, "not_before");
    assert!(
        not_before.as_str() > "2026-11-24T10:01:00.000Z",
        "{not_before}"
    );
    assert_nothing_erased_and_sends_stopped(&t, &before).await;
    assert_eq!(fake.access_checks(), 2);

    // Not asked again before its time.
    run_dispatch(&t.dispatcher("2026-11-24T10:01:00Z", None).await).await;
    assert_eq!(fake.access_checks(), 2);

    // Shopify answers again, refusing the revoked token: confirmed, erased.
    fake.revoke();
    run_dispatch(&t.dispatcher("2026-11-24T10:10:00Z", None).await).await;
    assert_only_the_tombstone_is_left(&t, &others).await;
    assert_eq!(fake.access_checks(), 3);
}

#[tokio::test]
async fn while_the_admin_api_is_down_an_uninstall_defers_sends_and_a_forged_one_loses_none() {
    let (t, fake) = spawn_with_admin_down().await;
    an_order_due_at_0930(&t, 6801, CUSTOMER_ID, EMAIL).await;
    deliver(
        &t,
        "app/uninstalled",
        fixtures::APP_UNINSTALLED,
        "wh-forged",
    )
    .await;

    // The check fails: sends stay stopped, but the due follow-up waits, not cancelled.
    let d = t.dispatcher("2026-11-22T09:30:00Z", None).await;
    let report = run_dispatch(&d).await;
    assert_eq!(report["sent"], 0, "{report}");
    assert_eq!(report["deferred"], 1, "{report}");
    let f = t.followups().await;
    assert_eq!(f[0].status, FollowUpStatus::Pending, "{f:?}");
    assert_eq!(
        f[0].reason.as_deref(),
        Some(aftercart::domain::guards::UNCONFIRMED_REASON)
    );
    let r = request_of(&t, "app/uninstalled").await;
    assert_eq!(s(&r, "status"), "pending", "{r:?}");
    assert!(s(&r, "reason").contains("HTTP 503"), "{r:?}");
    assert!(
        s(&r, "not_before").as_str() < "2026-11-22T09:45:00.000Z",
        "{r:?}"
    );

    // Shopify answers again and accepts the token: forged, and the email goes out.
    let later = t.dispatcher("2026-11-22T09:45:00Z", None).await;
    assert_eq!(run_dispatch(&later).await["sent"], 1);
    assert_eq!(t.followups().await[0].status, FollowUpStatus::Sent);
    assert_eq!(
        s(&request_of(&t, "app/uninstalled").await, "status"),
        "refused"
    );
    let shop = shop_record(&t).await;
    assert!(
        !shop.contains_key("uninstalled_at") && !shop.contains_key("uninstall_unconfirmed_at"),
        "{shop:?}"
    );
    assert_eq!(fake.access_checks(), 3);
}
