//! What the webhook logs. A test binary of its own, with one test and a global
//! subscriber: tracing's per-callsite interest cache makes thread-scoped subscribers
//! miss events when other tests log in parallel.

use aftercart::apps::webhook::WebhookApp;
use aftercart::config::{Config, WebhookSecrets};
use aftercart::domain::ingest::Context;
use aftercart::model::time::FixedClock;
use aftercart::ports::store::{Outcome, Recorder, StoreError};
use aftercart::wire::shopify::Event;
use lambda_http::{http, Body, RequestExt};
use secrecy::SecretString;
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex};
use tracing_subscriber::util::SubscriberInitExt;

const SHOP: &str = "acme.myshopify.com";
const SECRET: &str = "test-secret-value";
const WEBHOOK_ID: &str = "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043";

struct Accept;

impl Recorder for Accept {
    async fn record(&self, _: &Context<'_>, _: &Event) -> Result<Outcome, StoreError> {
        Ok(Outcome::Recorded { items: 5 })
    }

    async fn quarantine(
        &self,
        _: &aftercart::model::Key,
        _: &aftercart::model::QuarantineRecord,
    ) -> Result<(), StoreError> {
        Ok(())
    }

    async fn count_refusal(
        &self,
        _: &str,
        _: aftercart::domain::refusals::RefusalKind,
        _: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError> {
        Ok(())
    }
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A delivery of `topic` as API Gateway hands it to the function: with the Lambda
/// context, whose request id the logs must carry.
fn delivery(topic: &str, body: &[u8], signature: &str, request_id: &str) -> lambda_http::Request {
    let mut context = lambda_http::Context::default();
    context.request_id = request_id.to_owned();
    http::Request::builder()
        .method("POST")
        .header("x-shopify-topic", topic)
        .header("x-shopify-shop-domain", SHOP)
        .header("x-shopify-hmac-sha256", signature)
        .header("x-shopify-webhook-id", WEBHOOK_ID)
        .body(Body::Binary(body.to_vec()))
        .unwrap()
        .with_lambda_context(context)
}

#[tokio::test]
async fn logs_carry_ids_and_outcomes_but_never_bodies_secrets_or_emails() {
    let captured = Captured::default();
    let writer = captured.clone();
    // The production format (`telemetry::subscriber`), writing to a buffer.
    aftercart::apps::telemetry::subscriber(move || writer.clone()).init();
    let app = WebhookApp {
        config: Arc::new(
            Config::parse(
                &format!("[[shop]]\npostal_address = \"1 Test Street, Springfield\"\ndomain = \"{SHOP}\"\nsender_email = \"shop@acme.example\"\n"),
                "t",
            )
            .unwrap(),
        ),
        secrets: WebhookSecrets::from_pairs([(SHOP, &[SECRET][..])]),
        recorder: Accept,
        clock: Arc::new(FixedClock::new(chrono::Utc::now())),
        queue: None,
    };
    let sign =
        |b: &[u8]| aftercart::wire::verify::sign_webhook(b, &SecretString::from(SECRET.to_owned()));
    let email_in_wrong_place =
        br#"{"id":"bob.norman@hostmail.com","created_at":"2024-03-01T10:00:00Z","line_items":[]}"#;

    let order: &[u8] = include_bytes!("../fixtures/shopify/order.json");
    app.handle(delivery("orders/paid", order, &sign(order), "req-1"))
        .await;
    app.handle(delivery("orders/paid", order, "Zm9yZ2Vk", "req-2"))
        .await;
    let resp = app
        .handle(delivery(
            "orders/paid",
            email_in_wrong_place,
            &sign(email_in_wrong_place),
            "req-3",
        ))
        .await;
    assert_eq!(resp.status(), 400);
    assert!(!String::from_utf8_lossy(resp.body().as_ref()).contains("bob.norman"));
    let resp = app
        .handle(delivery("products/update", order, &sign(order), "req-4"))
        .await;
    assert_eq!(resp.status(), 200);

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4, "one line per delivery: {logs}");
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line["request_id"], format!("req-{}", i + 1), "{line}");
        assert_eq!(line["webhook_id"], WEBHOOK_ID, "{line}");
        assert_eq!(line["shop"], SHOP, "{line}");
        assert!(line["latency_ms"].is_u64(), "{line}");
    }
    assert_eq!(lines[0]["outcome"], "recorded");
    assert_eq!(lines[0]["topic"], "orders/paid");
    assert_eq!(lines[0]["status"], 200);
    assert_eq!(lines[1]["outcome"], "bad_signature");
    assert_eq!(lines[1]["status"], 401);
    assert_eq!(lines[2]["outcome"], "bad_body");
    assert_eq!(lines[2]["status"], 400);
    // The raw delivery is not lost: its ids and digest find it in Shopify's admin.
    let digest: String = Sha256::digest(email_in_wrong_place)
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(lines[2]["body_sha256"], digest);
    assert_eq!(lines[2]["body_bytes"], email_in_wrong_place.len());
    assert_eq!(lines[3]["outcome"], "ignored");
    assert_eq!(lines[3]["topic"], "products/update");
    assert_eq!(lines[3]["status"], 200);
    for forbidden in [SECRET, "bob.norman", "hostmail", "IPod", "Chestnut"] {
        assert!(
            !logs.contains(forbidden),
            "logs contain {forbidden:?}: {logs}"
        );
    }
}
