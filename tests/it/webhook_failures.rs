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

#[tokio::test]
async fn a_write_that_committed_but_answered_too_late_is_recorded_not_a_duplicate() {
    // The first TransactWriteItems lands in moto, but its answer comes after the SDK's
    // 800 ms attempt timeout; the SDK retries and finds the receipt. That receipt is the
    // delivery's own: the answer is "recorded", and the order is counted once.
    let proxy = slow_once_proxy(
        "DynamoDB_20120810.TransactWriteItems",
        Duration::from_millis(1200),
    )
    .await;
    let t = TestApp::spawn_via(&proxy).await;
    let (status, body) = t
        .post(signed("orders/paid", fixtures::ORDER, "wh-late"))
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("recorded")),
        "{body}"
    );
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

/// The DynamoDB operations that write.
const WRITES: [&str; 5] = [
    "TransactWriteItems",
    "PutItem",
    "UpdateItem",
    "BatchWriteItem",
    "DeleteItem",
];

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
    assert_eq!(writes, ["TransactWriteItems"], "all: {operations:?}");
    // That one transaction carried everything the delivery stored.
    assert_eq!(
        t.scan().await.len(),
        6,
        "receipts, order, profile, history, thank-you"
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
