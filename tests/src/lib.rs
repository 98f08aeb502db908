//! Integration-test support: the real webhook handler with real AWS SDK clients against
//! the moto server that `make test-integration` starts (AFTERCART_TEST_ENDPOINT).
//! Each test gets its own freshly created table, so tests run in parallel without
//! seeing each other's items.

use aftercart::config::{Config, WebhookSecrets};
use aftercart::store::{self, table, Attrs, DynamoStore};
use aftercart::time::FixedClock;
use aftercart::webhook::WebhookApp;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use lambda_http::{http, Body, Request};
use secrecy::SecretString;
use std::sync::Arc;
use std::time::Duration;

pub const SHOP: &str = "aftercart-demo.myshopify.com";
pub const SECRET: &str = "integration-secret";
pub const NOW: &str = "2026-11-22T08:00:00Z";

/// moto serves one request at a time. Load tests hold this lock exclusively and every
/// other test holds it shared, so a load test never runs beside anything else and each
/// test's time budget measures the handler, not a queue in the emulator.
static MOTO: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

enum MotoGuard {
    Shared(#[allow(dead_code)] tokio::sync::RwLockReadGuard<'static, ()>),
    Exclusive(#[allow(dead_code)] tokio::sync::RwLockWriteGuard<'static, ()>),
}

/// The moto endpoint under test.
pub fn endpoint() -> String {
    std::env::var("AFTERCART_TEST_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:5006".into())
}

/// A DynamoDB client for `endpoint` with the production timeouts and retries.
pub async fn client_for(endpoint: &str) -> Client {
    let (timeouts, retries) = store::sdk_timeouts();
    let conf = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test",
            "test",
            None,
            None,
            "integration-tests",
        ))
        .timeout_config(timeouts)
        .retry_config(retries)
        .build();
    Client::from_conf(conf)
}

pub struct TestApp {
    pub app: WebhookApp<DynamoStore>,
    pub client: Client,
    pub table: String,
    _moto: Option<MotoGuard>,
}

/// Config for the one test shop, with the default limits.
pub fn config() -> Config {
    Config::parse(&format!("[[shop]]\ndomain = \"{SHOP}\"\n"), "integration")
        .expect("test config is valid")
}

impl TestApp {
    /// A webhook app on a new, empty table on the moto server.
    pub async fn spawn() -> TestApp {
        Self::spawn_with(MotoGuard::Shared(MOTO.read().await)).await
    }

    /// As [`TestApp::spawn`], for a test that loads moto heavily: it runs alone.
    pub async fn spawn_alone() -> TestApp {
        Self::spawn_with(MotoGuard::Exclusive(MOTO.write().await)).await
    }

    async fn spawn_with(guard: MotoGuard) -> TestApp {
        let client = client_for(&endpoint()).await;
        let table = format!("it-{:016x}", fastrand::u64(..));
        table::create_table(&client, &table).await.unwrap_or_else(|e| {
            panic!(
                "cannot create a table on the moto server at {} ({e}). Run the integration tests with \
                 `make test-integration`, which starts it.",
                endpoint()
            )
        });
        let mut app = Self::with_client(client, table);
        app._moto = Some(guard);
        app
    }

    /// A webhook app whose DynamoDB client talks to `endpoint` (e.g. a dead port).
    pub async fn against(endpoint: &str) -> TestApp {
        Self::with_client(client_for(endpoint).await, "unreachable".into())
    }

    fn with_client(client: Client, table: String) -> TestApp {
        let app = WebhookApp {
            config: Arc::new(config()),
            secrets: WebhookSecrets::from_pairs([(SHOP, &[SECRET][..])]),
            recorder: DynamoStore::new(
                client.clone(),
                table.clone(),
                Duration::from_secs(7 * 86_400),
            ),
            clock: Arc::new(FixedClock::new(NOW.parse().expect("valid time"))),
        };
        TestApp {
            app,
            client,
            table,
            _moto: None,
        }
    }

    /// Sends `req` through the real handler; returns the status and JSON answer.
    pub async fn post(&self, req: Request) -> (u16, serde_json::Value) {
        let resp = self.app.handle(req).await;
        let status = resp.status().as_u16();
        let body = serde_json::from_slice(resp.body().as_ref()).unwrap_or(serde_json::Value::Null);
        (status, body)
    }

    /// Every item in the table, sorted by key.
    pub async fn scan(&self) -> Vec<Attrs> {
        let mut items: Vec<Attrs> = self
            .client
            .scan()
            .table_name(&self.table)
            .consistent_read(true)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .expect("scan");
        items.sort_by_key(|i| (s(i, "pk"), s(i, "sk")));
        items
    }

    /// The item stored under (pk, sk), if any.
    pub async fn get(&self, pk: &str, sk: &str) -> Option<Attrs> {
        self.client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk.into()))
            .key("sk", AttributeValue::S(sk.into()))
            .consistent_read(true)
            .send()
            .await
            .expect("get_item")
            .item
    }
}

/// A delivery exactly as Shopify sends it, signed with `SECRET`.
pub fn signed(topic: &str, body: &[u8], webhook_id: &str) -> Request {
    signed_with(topic, body, webhook_id, SECRET)
}

pub fn signed_with(topic: &str, body: &[u8], webhook_id: &str, secret: &str) -> Request {
    let sig = aftercart::verify::sign_webhook(body, &SecretString::from(secret.to_owned()));
    http::Request::builder()
        .method("POST")
        .uri("/webhook")
        .header("Content-Type", "application/json")
        .header("X-Shopify-Topic", topic)
        .header("X-Shopify-Shop-Domain", SHOP)
        .header("X-Shopify-Hmac-Sha256", sig)
        .header("X-Shopify-Webhook-Id", webhook_id)
        .header("X-Shopify-API-Version", "2025-10")
        .header("X-Shopify-Triggered-At", NOW)
        .body(Body::Binary(body.to_vec()))
        .expect("valid request")
}

/// String attribute `name` of `item` ("" if absent).
pub fn s(item: &Attrs, name: &str) -> String {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default()
}

/// Number attribute `name` of `item`, as its exact decimal text ("" if absent).
pub fn n(item: &Attrs, name: &str) -> String {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .cloned()
        .unwrap_or_default()
}

/// The fixture order with its fields changed by `edit`.
pub fn order_with(edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let mut v: serde_json::Value =
        serde_json::from_slice(aftercart::fixtures::ORDER).expect("fixture parses");
    edit(&mut v);
    serde_json::to_vec(&v).expect("serializes")
}
