//! Handler behaviour with a recorder that only counts: status codes, what reaches the
//! store, what the caller is told and what is logged. The DynamoDB side is covered by
//! the integration tests in `tests/`.

use super::*;
use crate::config::Config;
use crate::domain::ingest::Context;
use crate::model::time::FixedClock;
use crate::ports::store::{DuplicateOf, Outcome, StoreError};
use crate::wire::shopify::fixtures;
use crate::wire::shopify::Event;
use base64::Engine as _;
use lambda_http::http;
use secrecy::SecretString;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

const SHOP: &str = "acme.myshopify.com";
const SECRET: &str = "test-secret-value";

#[derive(Clone, Copy)]
enum Behaviour {
    Record,
    Fail,
    Hang,
    /// DynamoDB refuses the write for good (an item over 400 KB).
    Refuse,
}

struct CountingRecorder {
    calls: AtomicUsize,
    behaviour: Behaviour,
    topics: Mutex<Vec<&'static str>>,
    refusals: Mutex<Vec<(String, RefusalKind)>>,
    quarantined: Mutex<Vec<(crate::model::Key, crate::model::QuarantineRecord)>>,
}

impl Recorder for CountingRecorder {
    async fn count_refusal(
        &self,
        shop: &str,
        kind: RefusalKind,
        _now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError> {
        self.refusals.lock().unwrap().push((shop.to_owned(), kind));
        match self.behaviour {
            Behaviour::Record | Behaviour::Refuse => Ok(()),
            Behaviour::Fail => Err(StoreError::Unavailable {
                operation: "UpdateItem",
                message: "connection refused".into(),
            }),
            Behaviour::Hang => {
                tokio::time::sleep(Duration::from_secs(30)).await;
                Ok(())
            }
        }
    }

    async fn record(&self, _ctx: &Context<'_>, event: &Event) -> Result<Outcome, StoreError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.topics.lock().unwrap().push(event.topic().as_str());
        match self.behaviour {
            Behaviour::Record => Ok(Outcome::Recorded { items: 3 }),
            Behaviour::Fail => Err(StoreError::Unavailable {
                operation: "TransactWriteItems",
                message: "connection refused".into(),
            }),
            Behaviour::Hang => {
                tokio::time::sleep(Duration::from_secs(30)).await;
                Ok(Outcome::Duplicate {
                    of: DuplicateOf::Delivery,
                })
            }
            Behaviour::Refuse => Err(StoreError::Refused {
                operation: "TransactWriteItems",
                message: "Item size has exceeded the maximum allowed size".into(),
            }),
        }
    }

    async fn quarantine(
        &self,
        key: &crate::model::Key,
        record: &crate::model::QuarantineRecord,
    ) -> Result<(), StoreError> {
        self.quarantined
            .lock()
            .unwrap()
            .push((key.clone(), record.clone()));
        Ok(())
    }
}

fn app_with(behaviour: Behaviour, config_toml: &str) -> WebhookApp<CountingRecorder> {
    let config = Config::parse(config_toml, "test").unwrap();
    WebhookApp {
        config: Arc::new(config),
        secrets: WebhookSecrets::from_pairs([(SHOP, &["rotated-new-secret", SECRET][..])]),
        recorder: CountingRecorder {
            calls: AtomicUsize::new(0),
            behaviour,
            topics: Mutex::new(Vec::new()),
            refusals: Mutex::new(Vec::new()),
            quarantined: Mutex::new(Vec::new()),
        },
        clock: Arc::new(FixedClock::new(chrono::Utc::now())),
        queue: None,
    }
}

fn app(behaviour: Behaviour) -> WebhookApp<CountingRecorder> {
    app_with(
        behaviour,
        "[webhook]\nstore_budget_ms = 200\n[[shop]]\npostal_address = \"1 Test Street, Springfield\"\ndomain = \"acme.myshopify.com\"\nsender_email = \"shop@acme.example\"\n",
    )
}

fn sign(body: &[u8]) -> String {
    crate::wire::verify::sign_webhook(body, &SecretString::from(SECRET.to_owned()))
}

fn request(topic: Option<&str>, shop: Option<&str>, hmac: Option<&str>, body: &[u8]) -> Request {
    let mut b = http::Request::builder().method("POST").uri("/webhook");
    if let Some(t) = topic {
        b = b.header("X-Shopify-Topic", t);
    }
    if let Some(s) = shop {
        b = b.header("X-Shopify-Shop-Domain", s);
    }
    if let Some(h) = hmac {
        b = b.header("X-Shopify-Hmac-Sha256", h);
    }
    b.header(
        "X-Shopify-Webhook-Id",
        "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
    )
    .header("X-Shopify-API-Version", "2025-10")
    .body(Body::Binary(body.to_vec()))
    .unwrap()
}

fn signed(topic: &str, body: &[u8]) -> Request {
    request(Some(topic), Some(SHOP), Some(&sign(body)), body)
}

async fn answer(app: &WebhookApp<CountingRecorder>, req: Request) -> (u16, serde_json::Value) {
    let resp = app.handle(req).await;
    let status = resp.status().as_u16();
    let body: serde_json::Value = serde_json::from_slice(resp.body().as_ref()).unwrap();
    (status, body)
}

fn calls(app: &WebhookApp<CountingRecorder>) -> usize {
    app.recorder.calls.load(Ordering::SeqCst)
}

#[tokio::test]
async fn signed_order_is_recorded() {
    let app = app(Behaviour::Record);
    let (status, body) = answer(&app, signed("orders/paid", fixtures::ORDER)).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("recorded")));
    assert_eq!(calls(&app), 1);
}

#[tokio::test]
async fn a_delivery_the_store_refuses_for_good_is_quarantined_and_answered_200() {
    let refusing = app(Behaviour::Refuse);
    let (status, body) = answer(&refusing, signed("orders/paid", fixtures::ORDER)).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("quarantined"))
    );
    let kept = refusing.recorder.quarantined.lock().unwrap().clone();
    assert_eq!(kept.len(), 1);
    let (key, record) = &kept[0];
    // In the order's partition, so erasing the order erases it.
    assert_eq!(key.pk, format!("SHOP#{SHOP}#ORDER#450789469"));
    assert_eq!(key.sk, "QUARANTINE#b54557e4-bdd9-4b37-8a5f-bf7d70bcd043");
    assert_eq!(record.topic, "orders/paid");
    assert_eq!(
        record.unpack().unwrap(),
        fixtures::ORDER,
        "the body exactly as Shopify sent it"
    );
    assert!(
        record.body_gzip.len() < fixtures::ORDER.len(),
        "kept gzipped"
    );
    assert!(record.error.contains("maximum allowed size"));
    // A store outage is still a 503: Shopify retries.
    let outage = app(Behaviour::Fail);
    let (status, _) = answer(&outage, signed("orders/paid", fixtures::ORDER)).await;
    assert_eq!(status, 503);
    assert!(outage.recorder.quarantined.lock().unwrap().is_empty());
}

#[tokio::test]
async fn only_post_is_accepted_even_correctly_signed() {
    let app = app(Behaviour::Record);
    for method in ["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"] {
        let mut req = signed("orders/paid", fixtures::ORDER);
        *req.method_mut() = http::Method::from_bytes(method.as_bytes()).unwrap();
        let resp = app.handle(req).await;
        assert_eq!(resp.status().as_u16(), 405, "{method}");
        assert_eq!(resp.headers()["allow"], "POST", "{method}");
        let body: serde_json::Value = serde_json::from_slice(resp.body().as_ref()).unwrap();
        assert!(
            body["error"].as_str().unwrap().contains("POST"),
            "{method}: {body}"
        );
    }
    assert_eq!(calls(&app), 0, "nothing recorded");
    assert!(
        app.recorder.refusals.lock().unwrap().is_empty(),
        "nor counted"
    );
}

/// The sample body of `topic`, with the demo shop's domain replaced by [`SHOP`]'s.
fn sample_of_this_shop(topic: Topic) -> Vec<u8> {
    String::from_utf8_lossy(fixtures::sample(topic))
        .replace("aftercart-demo.myshopify.com", SHOP)
        .into_bytes()
}

#[tokio::test]
async fn every_handled_topic_reaches_the_recorder() {
    let app = app(Behaviour::Record);
    for topic in Topic::ALL {
        let body = sample_of_this_shop(topic);
        let (status, _) = answer(&app, signed(topic.as_str(), &body)).await;
        assert_eq!(status, 200, "{}", topic.as_str());
    }
    assert_eq!(
        *app.recorder.topics.lock().unwrap(),
        Topic::ALL.map(Topic::as_str).to_vec()
    );
}

#[tokio::test]
async fn forged_signature_is_401_and_nothing_is_recorded() {
    let app = app(Behaviour::Record);
    let forged =
        crate::wire::verify::sign_webhook(fixtures::ORDER, &SecretString::from("guess".to_owned()));
    let (status, body) = answer(
        &app,
        request(
            Some("orders/paid"),
            Some(SHOP),
            Some(&forged),
            fixtures::ORDER,
        ),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid webhook signature");
    assert!(!body.to_string().contains(SECRET));
    assert_eq!(calls(&app), 0);
}

#[tokio::test]
async fn signature_over_a_different_body_is_401() {
    let app = app(Behaviour::Record);
    let sig = sign(fixtures::ORDER);
    let mut tampered = fixtures::ORDER.to_vec();
    tampered.extend_from_slice(b" ");
    let (status, _) = answer(
        &app,
        request(Some("orders/paid"), Some(SHOP), Some(&sig), &tampered),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(calls(&app), 0);
}

#[tokio::test]
async fn missing_signature_is_401() {
    let app = app(Behaviour::Record);
    let (status, _) = answer(
        &app,
        request(Some("orders/paid"), Some(SHOP), None, fixtures::ORDER),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(calls(&app), 0);
}

#[tokio::test]
async fn old_secret_still_verifies_during_rotation() {
    // The app holds ["rotated-new-secret", SECRET]; SECRET is the old one.
    let app = app(Behaviour::Record);
    let (status, _) = answer(&app, signed("orders/create", fixtures::ORDER)).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn unconfigured_shop_is_401_even_with_a_valid_signature() {
    let app = app(Behaviour::Record);
    let body = fixtures::ORDER;
    let (status, _) = answer(
        &app,
        request(
            Some("orders/paid"),
            Some("other.myshopify.com"),
            Some(&sign(body)),
            body,
        ),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(calls(&app), 0);
}

#[tokio::test]
async fn missing_topic_or_shop_header_is_400_naming_it() {
    let app = app(Behaviour::Record);
    let body = fixtures::ORDER;
    let (status, resp) = answer(&app, request(None, Some(SHOP), Some(&sign(body)), body)).await;
    assert_eq!(status, 400);
    assert!(
        resp["error"].as_str().unwrap().contains("X-Shopify-Topic"),
        "{resp}"
    );
    let (status, resp) = answer(
        &app,
        request(Some("orders/paid"), None, Some(&sign(body)), body),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        resp["error"]
            .as_str()
            .unwrap()
            .contains("X-Shopify-Shop-Domain"),
        "{resp}"
    );
    assert_eq!(calls(&app), 0);
}

#[tokio::test]
async fn missing_webhook_id_is_400() {
    let app = app(Behaviour::Record);
    let body = fixtures::ORDER;
    let req = http::Request::builder()
        .method("POST")
        .header("x-shopify-topic", "orders/paid")
        .header("x-shopify-shop-domain", SHOP)
        .header("x-shopify-hmac-sha256", sign(body))
        .body(Body::Binary(body.to_vec()))
        .unwrap();
    let (status, resp) = answer(&app, req).await;
    assert_eq!(status, 400);
    assert!(
        resp["error"]
            .as_str()
            .unwrap()
            .contains("X-Shopify-Webhook-Id"),
        "{resp}"
    );
}

#[tokio::test]
async fn oversized_body_is_413_before_anything_else() {
    let app = app(Behaviour::Record);
    let big = vec![b' '; DEFAULT_LIMIT + 1];
    let (status, resp) = answer(&app, signed("orders/paid", &big)).await;
    assert_eq!(status, 413);
    assert!(
        resp["error"].as_str().unwrap().contains("1048576"),
        "{resp}"
    );
    assert_eq!(calls(&app), 0);
}

const DEFAULT_LIMIT: usize = crate::config::DEFAULT_MAX_BODY_BYTES;

#[tokio::test]
async fn body_limit_is_configurable() {
    let app = app_with(
        Behaviour::Record,
        "[webhook]\nmax_body_bytes = 4096\n[[shop]]\npostal_address = \"1 Test Street, Springfield\"\ndomain = \"acme.myshopify.com\"\nsender_email = \"shop@acme.example\"\n",
    );
    let (status, _) = answer(&app, signed("orders/paid", fixtures::ORDER)).await; // 7 KB
    assert_eq!(status, 413);
    let (status, _) = answer(&app, signed("refunds/create", fixtures::REFUND)).await; // 3 KB
    assert_eq!(status, 200);
}

#[tokio::test]
async fn malformed_json_after_a_valid_signature_is_400_naming_the_problem() {
    let app = app(Behaviour::Record);
    let body = br#"{"id": 1, "created_at": "2026-01-01T00:00:00Z", "line_items": [{"id": 5, "quantity": "two"}]}"#;
    let (status, resp) = answer(&app, signed("orders/paid", body)).await;
    assert_eq!(status, 400);
    let msg = resp["error"].as_str().unwrap();
    assert!(
        msg.contains("orders/paid") && msg.contains("line_items[0].quantity"),
        "{msg}"
    );
    assert_eq!(calls(&app), 0);

    let (status, resp) = answer(&app, signed("orders/paid", b"not json")).await;
    assert_eq!(status, 400);
    assert!(
        resp["error"].as_str().unwrap().contains("expected"),
        "{resp}"
    );
}

#[tokio::test]
async fn unknown_topic_is_acknowledged_and_ignored() {
    let app = app(Behaviour::Record);
    let (status, body) = answer(&app, signed("products/update", br#"{"id": 1}"#)).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ignored")));
    assert_eq!(calls(&app), 0);
}

#[tokio::test]
async fn unknown_topic_with_a_bad_signature_is_still_401() {
    let app = app(Behaviour::Record);
    let (status, _) = answer(
        &app,
        request(Some("products/update"), Some(SHOP), Some("AAAA"), b"{}"),
    )
    .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn store_failure_is_503_so_shopify_retries() {
    let app = app(Behaviour::Fail);
    let (status, body) = answer(&app, signed("orders/paid", fixtures::ORDER)).await;
    assert_eq!(status, 503);
    assert!(
        !body.to_string().contains("connection refused"),
        "internal cause stays in the logs"
    );
}

#[tokio::test]
async fn slow_store_is_503_within_the_budget() {
    let app = app(Behaviour::Hang); // budget 200 ms
    let started = Instant::now();
    let (status, _) = answer(&app, signed("orders/paid", fixtures::ORDER)).await;
    assert_eq!(status, 503);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

/// An API Gateway HTTP API (payload 2.0) event as Lambda receives it, with the body
/// base64-encoded and header names in mixed case: lambda_http decodes the body, and
/// the signature (over the raw bytes) still verifies.
#[tokio::test]
async fn base64_encoded_api_gateway_event_is_decoded_then_verified() {
    let app = app(Behaviour::Record);
    let body = fixtures::ORDER;
    let event = serde_json::json!({
        "version": "2.0",
        "routeKey": "POST /webhook",
        "rawPath": "/webhook",
        "rawQueryString": "",
        "headers": {
            "Content-Type": "application/json",
            "X-Shopify-Topic": "orders/paid",
            "x-shopify-shop-domain": SHOP,
            "X-SHOPIFY-HMAC-SHA256": sign(body),
            "X-Shopify-Webhook-Id": "0d3c1f9e-2f7a-4c55-9f7e-5c1d2b3a4f60",
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api-id",
            "domainName": "id.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "id",
            "http": {
                "method": "POST",
                "path": "/webhook",
                "protocol": "HTTP/1.1",
                "sourceIp": "192.0.2.1",
                "userAgent": "Shopify-Captain-Hook"
            },
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "routeKey": "POST /webhook",
            "stage": "$default",
            "time": "22/Nov/2026:08:00:00 +0000",
            "timeEpoch": 1795334400000u64
        },
        "body": base64::engine::general_purpose::STANDARD.encode(body),
        "isBase64Encoded": true
    });
    let req = lambda_http::request::from_str(&event.to_string()).unwrap();
    assert_eq!(
        req.body().as_ref(),
        body,
        "lambda_http hands over the decoded bytes"
    );
    let (status, resp) = answer(&app, req).await;
    assert_eq!((status, resp["status"].as_str()), (200, Some("recorded")));
}

// ---------------------------------------------------------------------------------------
// replays: a genuine signed body under another topic, another shop, or long after
// ---------------------------------------------------------------------------------------

fn with_header(mut req: Request, name: &'static str, value: &str) -> Request {
    req.headers_mut()
        .insert(name, http::HeaderValue::from_str(value).unwrap());
    req
}

fn refusals(app: &WebhookApp<CountingRecorder>) -> Vec<(String, RefusalKind)> {
    app.recorder.refusals.lock().unwrap().clone()
}

#[tokio::test]
async fn a_signed_order_body_under_any_other_topic_is_refused_and_counted() {
    let app = app(Behaviour::Record);
    let destructive = [
        "customers/redact",
        "customers/data_request",
        "shop/redact",
        "app/uninstalled",
        "orders/cancelled",
        "orders/fulfilled",
        "refunds/create",
        "fulfillments/create",
        "fulfillment_events/create",
        "customers_email_marketing_consent/update",
    ];
    for topic in destructive {
        let (status, body) = answer(&app, signed(topic, fixtures::ORDER)).await;
        assert_eq!(status, 400, "{topic}: {body}");
        let error = body["error"].as_str().unwrap_or_default();
        assert!(
            error.starts_with(&format!("body is not a valid {topic} payload")),
            "{topic}: {error}"
        );
    }
    assert_eq!(calls(&app), 0, "nothing reached the store");
    assert_eq!(
        refusals(&app),
        destructive.map(|_| (SHOP.to_owned(), RefusalKind::WrongShape))
    );
}

#[tokio::test]
async fn a_compliance_body_of_another_shop_is_refused_as_other_shop() {
    let app = app(Behaviour::Record);
    // The demo shop's genuine request, signed with this shop's secret (a shared app
    // secret), delivered as if from this shop.
    let (status, body) = answer(&app, signed("shop/redact", fixtures::SHOP_REDACT)).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("another shop"));
    assert_eq!(calls(&app), 0);
    assert_eq!(refusals(&app), [(SHOP.to_owned(), RefusalKind::OtherShop)]);
}

#[tokio::test]
async fn a_delivery_triggered_longer_ago_than_the_limit_is_refused() {
    let app = app(Behaviour::Record);
    let now = app.clock.now();
    let at = |hours: i64| (now - chrono::Duration::hours(hours)).to_rfc3339();
    // Within the 28 hours: recorded.
    let fresh = with_header(
        signed("orders/paid", fixtures::ORDER),
        "X-Shopify-Triggered-At",
        &at(27),
    );
    assert_eq!(answer(&app, fresh).await.0, 200);
    // Older: refused, counted, never recorded.
    let old = with_header(
        signed("orders/paid", fixtures::ORDER),
        "X-Shopify-Triggered-At",
        &at(29),
    );
    let (status, body) = answer(&app, old).await;
    assert_eq!(status, 400, "{body}");
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains("29 hours ago") && error.contains("28-hour limit"),
        "{error}"
    );
    assert_eq!(calls(&app), 1);
    assert_eq!(refusals(&app), [(SHOP.to_owned(), RefusalKind::Stale)]);
    // The limit is the config's.
    let lenient = app_with(
        Behaviour::Record,
        "[webhook]\nmax_delivery_age_hours = 48\n[[shop]]\npostal_address = \"1 Test Street, Springfield\"\ndomain = \"acme.myshopify.com\"\nsender_email = \"shop@acme.example\"\n",
    );
    let old = with_header(
        signed("orders/paid", fixtures::ORDER),
        "X-Shopify-Triggered-At",
        &at(29),
    );
    assert_eq!(answer(&lenient, old).await.0, 200);
}

#[tokio::test]
async fn an_old_delivery_of_a_topic_aftercart_ignores_is_still_acknowledged() {
    // Refusing it would only make Shopify retry, and count failures against a
    // subscription whose deliveries change nothing anyway.
    let app = app(Behaviour::Record);
    let old = (app.clock.now() - chrono::Duration::hours(72)).to_rfc3339();
    let req = with_header(
        signed("products/update", fixtures::ORDER),
        "X-Shopify-Triggered-At",
        &old,
    );
    let (status, body) = answer(&app, req).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ignored")));
    assert!(refusals(&app).is_empty());
}

#[tokio::test]
async fn an_unreadable_triggered_at_refuses_nothing_and_a_forged_signature_counts_nothing() {
    let app = app(Behaviour::Record);
    let odd = with_header(
        signed("orders/paid", fixtures::ORDER),
        "X-Shopify-Triggered-At",
        "yesterday",
    );
    assert_eq!(answer(&app, odd).await.0, 200);
    // Unsigned noise must not write to the table, not even a counter.
    let forged = request(
        Some("customers/redact"),
        Some(SHOP),
        Some("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
        fixtures::ORDER,
    );
    assert_eq!(answer(&app, forged).await.0, 401);
    assert!(refusals(&app).is_empty());
}

#[tokio::test]
async fn a_store_that_cannot_count_still_gets_a_400_in_time() {
    for behaviour in [Behaviour::Fail, Behaviour::Hang] {
        let app = app(behaviour);
        let started = std::time::Instant::now();
        let (status, _) = answer(&app, signed("shop/redact", fixtures::ORDER)).await;
        assert_eq!(status, 400);
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(refusals(&app).len(), 1);
    }
}
