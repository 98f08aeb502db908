//! When DynamoDB is down, hanging or throttling, the webhook answers 503 well inside
//! Shopify's 5 s (aim: 3 s), so Shopify retries the delivery and nothing is lost.

use aftercart::fixtures;
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
