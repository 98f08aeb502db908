//! What the webhook logs. A test binary of its own, with one test and a global
//! subscriber: tracing's per-callsite interest cache makes thread-scoped subscribers
//! miss events when other tests log in parallel.

use aftercart::config::{Config, WebhookSecrets};
use aftercart::fixtures;
use aftercart::ingest::Context;
use aftercart::shopify::Event;
use aftercart::store::{Outcome, Recorder, StoreError};
use aftercart::time::FixedClock;
use aftercart::webhook::WebhookApp;
use lambda_http::{http, Body};
use secrecy::SecretString;
use std::sync::{Arc, Mutex};

const SHOP: &str = "acme.myshopify.com";
const SECRET: &str = "test-secret-value";

struct Accept;

impl Recorder for Accept {
    async fn record(&self, _: &Context<'_>, _: &Event) -> Result<Outcome, StoreError> {
        Ok(Outcome::Recorded { items: 5 })
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

fn delivery(body: &[u8], signature: &str) -> lambda_http::Request {
    http::Request::builder()
        .method("POST")
        .header("x-shopify-topic", "orders/paid")
        .header("x-shopify-shop-domain", SHOP)
        .header("x-shopify-hmac-sha256", signature)
        .header(
            "x-shopify-webhook-id",
            "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
        )
        .body(Body::Binary(body.to_vec()))
        .unwrap()
}

#[tokio::test]
async fn logs_carry_ids_and_outcomes_but_never_bodies_secrets_or_emails() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_writer(move || writer.clone())
        .init();
    let app = WebhookApp {
        config: Arc::new(Config::parse(&format!("[[shop]]\ndomain = \"{SHOP}\"\n"), "t").unwrap()),
        secrets: WebhookSecrets::from_pairs([(SHOP, &[SECRET][..])]),
        recorder: Accept,
        clock: Arc::new(FixedClock::new(chrono::Utc::now())),
    };
    let sign =
        |b: &[u8]| aftercart::verify::sign_webhook(b, &SecretString::from(SECRET.to_owned()));
    let email_in_wrong_place = br#"{"id":"bob.norman@hostmail.com"}"#;

    app.handle(delivery(fixtures::ORDER, &sign(fixtures::ORDER)))
        .await;
    app.handle(delivery(fixtures::ORDER, "Zm9yZ2Vk")).await;
    let resp = app
        .handle(delivery(email_in_wrong_place, &sign(email_in_wrong_place)))
        .await;
    assert_eq!(resp.status(), 400);
    assert!(!String::from_utf8_lossy(resp.body().as_ref()).contains("bob.norman"));

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{logs}");
    assert_eq!(lines[0]["outcome"], "recorded");
    assert_eq!(lines[0]["topic"], "orders/paid");
    assert_eq!(lines[0]["shop"], SHOP);
    assert_eq!(
        lines[0]["webhook_id"],
        "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"
    );
    assert!(lines[0]["latency_ms"].is_u64());
    assert_eq!(lines[1]["outcome"], "bad_signature");
    assert_eq!(lines[2]["outcome"], "bad_body");
    for forbidden in [SECRET, "bob.norman", "hostmail", "IPod", "Chestnut"] {
        assert!(
            !logs.contains(forbidden),
            "logs contain {forbidden:?}: {logs}"
        );
    }
}
