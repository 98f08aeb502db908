//! When DynamoDB is down, hanging or throttling, the webhook answers 503 well inside
//! Shopify's 5 s (aim: 3 s), so Shopify retries the delivery and nothing is lost.

use aftercart::wire::shopify::fixtures;
use aftercart_integration::*;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

const BUDGET: Duration = Duration::from_secs(3);

async fn assert_503_within_budget(endpoint: &str) -> Duration {
    let t = TestApp::against(endpoint).await;
    let started = Instant::now();
    let (status, body) = t
        .post(signed("orders/paid", fixtures::ORDER, "wh-down"))
        .await;
    let took = started.elapsed();
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "temporarily unavailable, retry later");
    assert!(took < BUDGET, "answered after {took:?}");
    eprintln!("{endpoint}: 503 after {} ms", took.as_millis());
    took
}

#[tokio::test]
async fn dynamodb_refusing_connections_is_503_within_budget() {
    // Bind then drop a listener: nothing listens on that port any more.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    assert_503_within_budget(&format!("http://127.0.0.1:{port}")).await;
}

#[tokio::test]
async fn dynamodb_accepting_but_never_answering_is_503_within_budget() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock); // keep the connection open, never reply
        }
    });
    let took = assert_503_within_budget(&format!("http://{addr}")).await;
    assert!(
        took >= Duration::from_millis(500),
        "it did wait for the store ({took:?})"
    );
    server.abort();
}

#[tokio::test]
async fn dynamodb_throttling_is_retried_then_503_within_budget() {
    let (endpoint, hits) = fake_http(
        "400 Bad Request",
        "application/x-amz-json-1.0",
        r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate of requests exceeds the allowed throughput."}"#,
    )
    .await;
    assert_503_within_budget(&endpoint).await;
    let attempts = hits.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        attempts >= 2,
        "throttling is retried before giving up (saw {attempts} attempt(s))"
    );
}

/// A table whose first `TransactWriteItems` lands in moto but answers after the SDK's
/// 800 ms attempt timeout, and `body` delivered to it as `topic` under `wh-late`:
/// answered "recorded" (asserted).
async fn recorded_with_a_late_commit(topic: &str, body: &[u8]) -> TestApp {
    let proxy = slow_once_proxy(
        "DynamoDB_20120810.TransactWriteItems",
        Duration::from_millis(1200),
    )
    .await;
    let t = TestApp::spawn_via(&proxy).await;
    let (status, answer) = t.post(signed(topic, body, "wh-late")).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("recorded")),
        "{answer}"
    );
    t
}

#[tokio::test]
async fn a_write_that_committed_but_answered_too_late_is_recorded_not_a_duplicate() {
    // The first TransactWriteItems lands in moto, but its answer comes after the SDK's
    // 800 ms attempt timeout; the SDK retries and finds the receipt. That receipt is the
    // delivery's own: the answer is "recorded", and the order is counted once.
    let t = recorded_with_a_late_commit("orders/paid", fixtures::ORDER).await;
    let profile = t
        .get(
            "SHOP#aftercart-demo.myshopify.com#CUSTOMER#207119551",
            "PROFILE",
        )
        .await
        .expect("profile");
    assert_eq!(n(&profile, "orders_count"), "1");
    // Shopify's redelivery of the same webhook is then a duplicate, as it should be.
    let (_, again) = t
        .post(signed("orders/paid", fixtures::ORDER, "wh-late"))
        .await;
    assert_eq!(again["status"], "duplicate_delivery");
}

#[tokio::test]
async fn a_tracking_event_whose_commit_answered_too_late_is_recorded_once_not_a_duplicate() {
    // As above, for a receipt kept in the shipment item: the SDK's retry of the
    // committed transaction fails on the version it changed itself, the recorder reads
    // again and finds its own token there.
    let topic = "fulfillment_events/create";
    let t = recorded_with_a_late_commit(topic, fixtures::FULFILLMENT_DELIVERED).await;
    let shipment = t
        .get(
            "SHOP#aftercart-demo.myshopify.com#ORDER#450789469",
            "FULFILLMENT#255858046",
        )
        .await
        .expect("shipment");
    assert_eq!(n(&shipment, "v"), "1", "written once");
    let receipts = shipment["receipts"].as_m().expect("receipts");
    assert_eq!(receipts.len(), 1);
    assert_eq!(
        receipts["12584341209252"].as_m().expect("receipt")["webhook_id"]
            .as_s()
            .expect("id"),
        "wh-late"
    );
    let (_, again) = t
        .post(signed(topic, fixtures::FULFILLMENT_DELIVERED, "wh-late"))
        .await;
    assert_eq!(again["status"], "duplicate_delivery");
}

#[tokio::test]
async fn a_retry_of_a_recorded_tracking_event_costs_one_read_of_its_shipment() {
    let proxy = MotoProxy::start().await;
    let t = TestApp::spawn_via(&proxy.url).await;
    let topic = "fulfillment_events/create";
    let (_, body) = t
        .post(signed(topic, fixtures::FULFILLMENT_DELIVERED, "wh-ev"))
        .await;
    assert_eq!(body["status"], "recorded", "{body}");
    let seen = proxy.operations().len();
    let (_, body) = t
        .post(signed_retry(
            topic,
            fixtures::FULFILLMENT_DELIVERED,
            "wh-ev",
            5,
        ))
        .await;
    assert_eq!(body["status"], "duplicate_delivery", "{body}");
    assert_eq!(proxy.operations()[seen..], ["GetItem"]);
}

/// The DynamoDB operations that write.
const WRITES: [&str; 5] = [
    "TransactWriteItems",
    "PutItem",
    "UpdateItem",
    "BatchWriteItem",
    "DeleteItem",
];

#[tokio::test]
async fn a_retry_of_a_recorded_delivery_costs_one_receipt_read_and_a_late_first_one_records() {
    let proxy = MotoProxy::start().await;
    let t = TestApp::spawn_via(&proxy.url).await;
    let (_, body) = t
        .post(signed("orders/paid", fixtures::ORDER, "wh-one"))
        .await;
    assert_eq!(body["status"], "recorded", "{body}");
    let before = t.scan().await;
    let seen = proxy.operations().len();
    // Shopify retrying it five minutes later: its receipt alone is read.
    let (status, body) = t
        .post(signed_retry("orders/paid", fixtures::ORDER, "wh-one", 5))
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("duplicate_delivery")),
        "{body}"
    );
    assert_eq!(proxy.operations()[seen..], ["GetItem"]);
    assert_eq!(t.scan().await, before);

    // A late delivery not seen before (Shopify retrying after our 503) is recorded.
    let paid = order_with(|o| {
        o["id"] = 990_001.into();
        o["name"] = "#9901".into();
    });
    let seen = proxy.operations().len();
    let (_, body) = t
        .post(signed_retry("orders/paid", &paid, "wh-two", 5))
        .await;
    assert_eq!(body["status"], "recorded", "{body}");
    let operations = proxy.operations()[seen..].to_vec();
    assert_eq!(operations[0], "GetItem", "{operations:?}");
    assert!(
        operations.contains(&"TransactWriteItems".to_owned()),
        "{operations:?}"
    );
}

#[tokio::test]
async fn a_recorded_order_is_written_by_exactly_one_transaction() {
    let proxy = MotoProxy::start().await;
    let t = TestApp::spawn_via(&proxy.url).await;
    let (status, body) = t
        .post(signed("orders/paid", fixtures::ORDER, "wh-one"))
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("recorded")),
        "{body}"
    );
    let operations = proxy.operations();
    let writes: Vec<&String> = operations
        .iter()
        .filter(|op| WRITES.contains(&op.as_str()))
        .collect();
    // One transaction, then (after it committed, outside it) the report's counter and
    // the order name's pointer.
    assert_eq!(
        writes,
        ["TransactWriteItems", "UpdateItem", "PutItem"],
        "all: {operations:?}"
    );
    // That one transaction carried everything the delivery stored.
    assert_eq!(
        t.scan().await.len(),
        6,
        "the order (holding its receipt), profile, history, thank-you; then the stats item \
         and the name"
    );
}

fn keys(items: &[aftercart::adapters::dynamo::Attrs]) -> Vec<(String, String)> {
    items.iter().map(|i| (s(i, "pk"), s(i, "sk"))).collect()
}

/// A second paid order of the fixture's customer, so the profile exists before.
fn second_order() -> Vec<u8> {
    order_with(|o| {
        o["id"] = 450789470u64.into();
        o["name"] = "#1002".into();
    })
}

/// The customer already has an order; the next delivery's transaction fails as
/// `sabotage` makes it fail. The webhook answers 503 within budget and the table is
/// exactly as before: no receipt, no order, no profile change. Shopify's redelivery of
/// the same webhook then records it, once.
async fn failed_transaction_writes_nothing_and_the_redelivery_records_it_once(sabotage: Sabotage) {
    let proxy = MotoProxy::start().await;
    let t = TestApp::spawn_via(&proxy.url).await;
    let (status, _) = t
        .post(signed("orders/paid", fixtures::ORDER, "wh-first"))
        .await;
    assert_eq!(status, 200);
    let before = t.scan().await;

    proxy.sabotage(sabotage);
    let started = Instant::now();
    let (status, body) = t
        .post(signed("orders/paid", &second_order(), "wh-next"))
        .await;
    let took = started.elapsed();
    assert_eq!(status, 503, "{body}");
    assert!(took < BUDGET, "answered after {took:?}");
    assert!(
        proxy
            .operations()
            .iter()
            .any(|op| op == "TransactWriteItems"),
        "the transaction was attempted"
    );
    // A request sent just before the deadline may still be on its way to the proxy:
    // the sabotage stays on until it has drained and the table has been read.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = t.scan().await;
    proxy.sabotage(Sabotage::None);
    assert_eq!(
        keys(&after),
        keys(&before),
        "no item of the failed delivery landed"
    );
    assert_eq!(after, before, "no item changed");

    let (status, body) = t
        .post(signed("orders/paid", &second_order(), "wh-next"))
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("recorded")),
        "{body}"
    );
    let (_, again) = t
        .post(signed("orders/paid", &second_order(), "wh-next"))
        .await;
    assert_eq!(again["status"], "duplicate_delivery");
    let profile = t
        .get(
            "SHOP#aftercart-demo.myshopify.com#CUSTOMER#207119551",
            "PROFILE",
        )
        .await
        .expect("profile");
    assert_eq!(n(&profile, "orders_count"), "2");
    assert_eq!(s(&profile, "total_spent"), "819.88", "2 × 409.94");
    let order = t
        .get("SHOP#aftercart-demo.myshopify.com#ORDER#450789470", "ORDER")
        .await
        .expect("order");
    assert_eq!(n(&order, "v"), "1", "written once");
}

#[tokio::test]
async fn dynamodb_failing_the_transaction_writes_nothing_and_the_redelivery_records_it() {
    failed_transaction_writes_nothing_and_the_redelivery_records_it_once(Sabotage::Answer500(
        "TransactWriteItems",
    ))
    .await;
}

#[tokio::test]
async fn a_refused_profile_write_cancels_the_receipts_and_order_too() {
    // moto gets the whole transaction and cancels it for the one refused item: if the
    // receipts or the order were written outside that transaction, they would land.
    failed_transaction_writes_nothing_and_the_redelivery_records_it_once(Sabotage::RefuseWritesTo(
        "PROFILE",
    ))
    .await;
}

// ---------------------------------------------------------------------------------------
// Input no real store sends (issue 17): correctly signed deliveries that used to panic
// the process (`panic = "abort"`: Shopify retried, then dropped the subscription) or
// plan a date that sorted as due at once. Each is refused with a 400 naming the field
// and nothing stored, or recorded with a plan inside the 10-year window.
// ---------------------------------------------------------------------------------------

/// The fixture's product (on all three lines), configured for replenishment.
const PRODUCT_RULE: &str =
    "[[shop.product]]\nproduct_id = 632910392\nconsumption_days = 30\nlead_days = 5\n";

async fn with_product_rule() -> TestApp {
    TestApp::spawn_configured(config_with("", PRODUCT_RULE)).await
}

/// A 400 whose error names `field` and quotes no personal data of the fixture.
fn assert_refused_naming(status: u16, body: &serde_json::Value, field: &str) {
    assert_eq!(status, 400, "{body}");
    let error = body["error"].as_str().unwrap_or_default();
    assert!(error.contains(&format!(": {field}: ")), "{error}");
    for personal in ["bob", "Bob", "Norman", "hostmail", "Ottawa", "555"] {
        assert!(!error.contains(personal), "{error}");
    }
}

/// The fixture order, paid, with `edit` applied.
fn paid_order_with(edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    order_with(|o| {
        o["financial_status"] = "paid".into();
        edit(o);
    })
}

#[tokio::test]
async fn a_line_of_4294967295_units_is_refused_naming_the_field_and_stores_nothing() {
    // Used to panic: `TimeDelta::days out of bounds`.
    let t = with_product_rule().await;
    let body = paid_order_with(|o| o["line_items"][0]["quantity"] = 4_294_967_295u64.into());
    let (status, answer) = t.post(signed("orders/paid", &body, "wh-qty-max")).await;
    assert_refused_naming(status, &answer, "line_items[0].quantity");
    assert!(t.scan().await.is_empty(), "nothing stored");
}

#[tokio::test]
async fn two_lines_of_2_pow_31_units_are_refused_naming_the_field_and_store_nothing() {
    // Used to panic: `attempt to add with overflow` in the unit sum.
    let t = with_product_rule().await;
    let body = paid_order_with(|o| {
        o["line_items"][0]["quantity"] = (1u64 << 31).into();
        o["line_items"][1]["quantity"] = (1u64 << 31).into();
    });
    let (status, answer) = t.post(signed("orders/paid", &body, "wh-qty-2-31")).await;
    assert_refused_naming(status, &answer, "line_items[0].quantity");
    assert!(t.scan().await.is_empty(), "nothing stored");
}

#[tokio::test]
async fn a_refund_of_2_times_4294967295_units_is_refused_and_changes_nothing() {
    // Used to panic: the refunded quantities' sum overflowed.
    let t = with_product_rule().await;
    let (status, _) = t
        .post(signed("orders/paid", &paid_order_with(|_| {}), "wh-paid"))
        .await;
    assert_eq!(status, 200);
    let before = t.scan().await;
    let mut refund: serde_json::Value = serde_json::from_slice(fixtures::REFUND).unwrap();
    for line in refund["refund_line_items"].as_array_mut().unwrap() {
        line["line_item_id"] = 466157049u64.into();
        line["quantity"] = 4_294_967_295u64.into();
    }
    let body = serde_json::to_vec(&refund).unwrap();
    let (status, answer) = t
        .post(signed("refunds/create", &body, "wh-refund-max"))
        .await;
    assert_refused_naming(status, &answer, "refund_line_items[0].quantity");
    assert_eq!(t.scan().await, before, "nothing added or changed");
}

#[tokio::test]
async fn a_total_of_decimal_max_is_refused_and_a_stored_max_spend_saturates() {
    // Used to panic on the customer's second order: `Addition overflowed`.
    const DECIMAL_MAX: &str = "79228162514264337593543950335";
    let t = with_product_rule().await;
    let body = paid_order_with(|o| o["total_price"] = DECIMAL_MAX.into());
    let (status, answer) = t.post(signed("orders/paid", &body, "wh-total-max")).await;
    assert_refused_naming(status, &answer, "total_price");
    assert!(
        !answer["error"]
            .as_str()
            .unwrap_or_default()
            .contains(DECIMAL_MAX),
        "the amount is not quoted: {answer}"
    );
    assert!(t.scan().await.is_empty(), "nothing stored");

    // A profile that earlier code let reach Decimal::MAX: the next order saturates.
    let (status, _) = t
        .post(signed("orders/paid", &paid_order_with(|_| {}), "wh-first"))
        .await;
    assert_eq!(status, 200);
    let mut profile = t
        .get(
            "SHOP#aftercart-demo.myshopify.com#CUSTOMER#207119551",
            "PROFILE",
        )
        .await
        .expect("profile");
    profile.insert(
        "total_spent".into(),
        aws_sdk_dynamodb::types::AttributeValue::S(DECIMAL_MAX.into()),
    );
    t.client
        .put_item()
        .table_name(&t.table)
        .set_item(Some(profile))
        .send()
        .await
        .expect("put profile");
    let second = order_with(|o| {
        o["id"] = 450789470u64.into();
        o["name"] = "#1002".into();
        o["financial_status"] = "paid".into();
    });
    let (status, answer) = t.post(signed("orders/paid", &second, "wh-second")).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("recorded")),
        "{answer}"
    );
    let profile = t
        .get(
            "SHOP#aftercart-demo.myshopify.com#CUSTOMER#207119551",
            "PROFILE",
        )
        .await
        .expect("profile");
    assert_eq!(s(&profile, "total_spent"), DECIMAL_MAX, "saturated");
    assert_eq!(n(&profile, "orders_count"), "2");
}

#[tokio::test]
async fn a_created_at_past_9999_in_utc_is_refused_naming_the_field() {
    let t = with_product_rule().await;
    let body = paid_order_with(|o| o["created_at"] = "9999-12-31T23:59:59-23:59".into());
    let (status, answer) = t.post(signed("orders/paid", &body, "wh-y10k")).await;
    assert_refused_naming(status, &answer, "created_at");
    assert!(t.scan().await.is_empty(), "nothing stored");
}

/// Every stored follow-up: (sk, due_at, due_sk).
async fn stored_followups(t: &TestApp) -> Vec<(String, String, String)> {
    t.scan()
        .await
        .iter()
        .filter(|i| s(i, "sk").starts_with("FOLLOWUP#"))
        .map(|i| (s(i, "sk"), s(i, "due_at"), s(i, "due_sk")))
        .collect()
}

#[tokio::test]
async fn units_lasting_beyond_ten_years_plan_no_reminder_and_every_due_key_sorts() {
    // 150,000 units × 30 days used to give a due date of `+14347-…`, which sorts before
    // `2026-…`: the reminder counted as due at once.
    let t = with_product_rule().await;
    let recent = |o: &mut serde_json::Value| {
        o["created_at"] = "2026-11-20T10:00:00Z".into();
        o["updated_at"] = "2026-11-20T10:00:00Z".into();
    };
    let body = paid_order_with(|o| {
        recent(o);
        o["line_items"][0]["quantity"] = 150_000.into();
    });
    let (status, answer) = t.post(signed("orders/paid", &body, "wh-150k")).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("recorded")),
        "{answer}"
    );
    let followups = stored_followups(&t).await;
    assert_eq!(
        followups.iter().map(|f| f.0.as_str()).collect::<Vec<_>>(),
        ["FOLLOWUP#thank_you#450789469#0"],
        "the thank-you only: no replenishment 12,000 years out"
    );

    // A second order of normal quantities plans its reminder 85 days out.
    let normal = order_with(|o| {
        recent(o);
        o["id"] = 450789470u64.into();
        o["name"] = "#1002".into();
        o["financial_status"] = "paid".into();
    });
    let (status, _) = t.post(signed("orders/paid", &normal, "wh-normal")).await;
    assert_eq!(status, 200);
    let followups = stored_followups(&t).await;
    let latest = "2036-11-22T08:00:00.000Z"; // NOW + 10 years
    for (sk, due_at, due_sk) in &followups {
        assert_eq!(due_at.len(), 24, "{sk}: {due_at}");
        assert!(
            due_at.as_str() >= "2026-" && due_at.as_str() <= latest,
            "{sk}: {due_at}"
        );
        assert!(due_sk.starts_with(due_at.as_str()), "{sk}: {due_sk}");
    }
    let replenishment = followups
        .iter()
        .find(|f| f.0 == "FOLLOWUP#replenishment#450789470#632910392")
        .expect("the normal order's reminder");
    assert_eq!(
        replenishment.1, "2027-02-13T10:00:00.000Z",
        "3 × 30 − 5 days"
    );
    assert!(
        replenishment.2.as_str() > NOW,
        "sorts after now in the due index: not due at once"
    );
}

#[tokio::test]
async fn an_order_updated_in_year_9999_is_recorded_with_nothing_planned_past_the_window() {
    let t = with_product_rule().await;
    let body = paid_order_with(|o| o["updated_at"] = "9999-12-31T23:59:59Z".into());
    let (status, answer) = t.post(signed("orders/paid", &body, "wh-9999")).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("recorded")),
        "{answer}"
    );
    let order = t
        .get("SHOP#aftercart-demo.myshopify.com#ORDER#450789469", "ORDER")
        .await
        .expect("order");
    assert_eq!(s(&order, "paid_at"), "9999-12-31T23:59:59.000Z");
    assert!(
        stored_followups(&t).await.is_empty(),
        "nothing due after 2036 is planned"
    );
}

/// The fixture order with `n` lines of long titles: well under the body limit, but an
/// order item over DynamoDB's 400 KB.
fn oversized_order(n: u64) -> Vec<u8> {
    order_with(|o| {
        let lines: Vec<serde_json::Value> = (0..n)
            .map(|i| {
                serde_json::json!({
                    "id": 1_000_000 + i,
                    "product_id": 632910392,
                    "variant_id": 808950810,
                    "title": format!("Limited edition print no. {i} {}", "x".repeat(300)),
                    "quantity": 1,
                    "price": "1.00",
                })
            })
            .collect();
        o["line_items"] = serde_json::Value::Array(lines);
        o["financial_status"] = "paid".into();
    })
}

#[tokio::test]
async fn a_delivery_the_store_refuses_for_good_is_quarantined_and_replayed_exactly_once() {
    let t = TestApp::spawn().await;
    let body = oversized_order(1_400);
    assert!(body.len() < 1_048_576, "{} bytes", body.len());
    // Shopify is told 200, so it stops retrying and keeps the subscription.
    let (status, answer) = t.post(signed("orders/paid", &body, "wh-big")).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("quarantined")),
        "{answer}"
    );
    // Kept in the order's partition, nothing else written.
    let items = t.scan().await;
    assert_eq!(items.len(), 1, "only the quarantined delivery");
    let order_pk = format!("SHOP#{SHOP}#ORDER#450789469");
    assert_eq!(s(&items[0], "pk"), order_pk);
    assert_eq!(s(&items[0], "sk"), "QUARANTINE#wh-big");
    assert!(s(&items[0], "error").contains("maximum allowed size"));
    // Shopify's retry of it keeps the one copy.
    let (status, _) = t.post(signed("orders/paid", &body, "wh-big")).await;
    assert_eq!(status, 200);
    assert_eq!(t.scan().await.len(), 1);

    // Replayed while still too big: kept.
    let first = t.app.replay(SHOP).await.expect("replay runs");
    assert_eq!((first.still_refused, first.recorded), (1, 0));
    assert_eq!(t.scan().await.len(), 1);

    // After a fix (here: the same delivery, now small enough), replay records it once.
    let fixed = aftercart::model::QuarantineRecord {
        shop: SHOP.into(),
        topic: "orders/paid".into(),
        webhook_id: "wh-big".into(),
        received_at: "2026-11-22T08:00:00.000Z".into(),
        triggered_at: None,
        error: "earlier".into(),
        body_gzip: aftercart::model::QuarantineRecord::pack(&order_with(|o| {
            o["financial_status"] = "paid".into()
        }))
        .unwrap(),
        expires_at: 4_102_444_800,
    };
    let mut item: aftercart::adapters::dynamo::Attrs = serde_dynamo::to_item(&fixed).unwrap();
    for (k, v) in [
        ("pk", order_pk.as_str()),
        ("sk", "QUARANTINE#wh-big"),
        ("entity", "quarantine"),
    ] {
        item.insert(
            k.into(),
            aws_sdk_dynamodb::types::AttributeValue::S(v.into()),
        );
    }
    t.client
        .put_item()
        .table_name(&t.table)
        .set_item(Some(item))
        .send()
        .await
        .expect("put_item");
    let second = t.app.replay(SHOP).await.expect("replay runs");
    assert_eq!((second.recorded, second.still_refused), (1, 0));
    assert!(
        t.get(&order_pk, "ORDER").await.is_some(),
        "the order is recorded"
    );
    assert!(
        t.get(&order_pk, "QUARANTINE#wh-big").await.is_none(),
        "and released"
    );
    let after = t.scan().await.len();
    let third = t.app.replay(SHOP).await.expect("replay runs");
    assert_eq!(third, Default::default(), "nothing left to replay");
    assert_eq!(t.scan().await.len(), after, "nothing recorded twice");
}
