//! Integration-test support: the real webhook handler with real AWS SDK clients against
//! the moto server that `make test-integration` starts (AFTERCART_TEST_ENDPOINT).
//! Each test gets its own freshly created table, so tests run in parallel without
//! seeing each other's items.

use aftercart::adapters::dynamo::{self as store, table, Attrs, DynamoStore};
use aftercart::apps::webhook::WebhookApp;
use aftercart::config::{Config, WebhookSecrets};
use aftercart::model::time::FixedClock;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use lambda_http::{http, Body, Request};
use secrecy::SecretString;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

pub mod lambda_share;
pub mod meter;
pub mod queue;

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

/// A DynamoDB client for `endpoint`, built by the webhook's own constructor
/// (`store::dynamo_client_from`), so tests run with the production timeouts and retries.
pub async fn client_for(endpoint: &str) -> Client {
    store::dynamo_client_from(&sdk_config_for(endpoint))
}

/// A DynamoDB client straight to moto that waits up to two minutes a call: for a
/// bench's bulk reads of a large table, which are not Aftercart's and are not metered.
pub async fn patient_client() -> Client {
    Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk_config_for(&endpoint()))
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .operation_timeout(Duration::from_secs(120))
                    .build(),
            )
            .build(),
    )
}

/// A DynamoDB client for `endpoint` with the dispatcher's budget
/// (`Budget::Dispatch`), as `dispatch` builds its own.
pub async fn dispatch_client_for(endpoint: &str) -> Client {
    store::dynamo_client_with(&sdk_config_for(endpoint), store::Budget::Dispatch)
}

/// A DynamoDB client for `endpoint` with mail-events' budget (`Budget::Background`), as
/// `mail-events` builds its own: SQS hands a failed batch item back, so it waits out a
/// slow store rather than answering within the webhook's 2 s.
pub fn mail_events_client_for(endpoint: &str) -> Client {
    store::dynamo_client_with(&sdk_config_for(endpoint), store::Budget::Background)
}

pub fn sdk_config_for(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(
            aws_sdk_dynamodb::config::Credentials::new(
                "test",
                "test",
                None,
                None,
                "integration-tests",
            ),
        ))
        .build()
}

pub struct TestApp {
    pub app: WebhookApp<DynamoStore>,
    pub client: Client,
    pub table: String,
    _moto: Option<MotoGuard>,
}

/// Config for the one test shop, with the default limits; `shop_extra` is added to
/// its `[[shop]]` table and `top` before it (for `[email]`, `[dispatch]`, …).
///
/// The weekly digest is off unless `shop_extra` has a `[shop.report]` table: on, it
/// would be one more email in every dispatcher test that looks at what was sent.
pub fn config_with(top: &str, shop_extra: &str) -> Config {
    let digest = if shop_extra.contains("[shop.report]") {
        ""
    } else {
        "report = { digest = false }\n"
    };
    Config::parse(
        &format!(
            "[links]\nbase_url = \"https://links.example.test\"\n{top}\n[[shop]]\npostal_address = \"1 Test Street, Springfield\"\ndomain = \"{SHOP}\"\nname = \"Aftercart Demo\"\nsender_email = \"{SENDER}\"\n{digest}{shop_extra}"
        ),
        "integration",
    )
    .expect("test config is valid")
}

pub fn config() -> Config {
    config_with("", "")
}

pub const SENDER: &str = "shop@aftercart-demo.example";
/// The test shop's Admin API access token (what a fake Admin API expects).
pub const ADMIN_TOKEN: &str = "shpat_integration_0123456789abcdef";

impl TestApp {
    /// A webhook app on a new, empty table on the moto server.
    pub async fn spawn() -> TestApp {
        Self::spawn_configured(config()).await
    }

    /// As [`TestApp::spawn`], with this configuration.
    pub async fn spawn_configured(config: Config) -> TestApp {
        Self::spawn_with(MotoGuard::Shared(MOTO.read().await), config).await
    }

    /// As [`TestApp::spawn`], for a test that loads moto heavily: it runs alone.
    pub async fn spawn_alone() -> TestApp {
        Self::spawn_alone_configured(config()).await
    }

    /// As [`TestApp::spawn_configured`], running alone.
    pub async fn spawn_alone_configured(config: Config) -> TestApp {
        Self::spawn_with(MotoGuard::Exclusive(MOTO.write().await), config).await
    }

    async fn spawn_with(guard: MotoGuard, config: Config) -> TestApp {
        let client = client_for(&endpoint()).await;
        let table = format!("it-{:016x}", fastrand::u64(..));
        table::create_table(&client, &table).await.unwrap_or_else(|e| {
            panic!(
                "cannot create a table on the moto server at {} ({e}). Run the integration tests with \
                 `make test-integration`, which starts it.",
                endpoint()
            )
        });
        let mut app = Self::with_client(client, table, config);
        app._moto = Some(guard);
        app
    }

    /// A webhook app on a new table on the moto server, whose DynamoDB client talks to
    /// moto through `proxy` (see [`slow_once_proxy`]).
    pub async fn spawn_via(proxy: &str) -> TestApp {
        let guard = MotoGuard::Shared(MOTO.read().await);
        let table = format!("it-{:016x}", fastrand::u64(..));
        table::create_table(&client_for(&endpoint()).await, &table)
            .await
            .expect("table on moto");
        let mut app = Self::with_client(client_for(proxy).await, table, config());
        app._moto = Some(guard);
        app
    }

    /// As [`TestApp::spawn_via`], with this configuration, running alone (a bench).
    pub async fn spawn_alone_via(proxy: &str, config: Config) -> TestApp {
        let guard = MotoGuard::Exclusive(MOTO.write().await);
        let table = format!("it-{:016x}", fastrand::u64(..));
        table::create_table(&client_for(&endpoint()).await, &table)
            .await
            .expect("table on moto");
        let mut app = Self::with_client(client_for(proxy).await, table, config);
        app._moto = Some(guard);
        app
    }

    /// An app on the existing table `table` on the moto server, holding no lock: for a
    /// process the test started (`src/bin/dispatch_child.rs`) while the test holds one.
    pub async fn on_table(table: &str, config: Config) -> TestApp {
        Self::with_client(client_for(&endpoint()).await, table.to_owned(), config)
    }

    /// A webhook app with `t`'s config on a new table of its own, recording inline
    /// (holding no lock: `t` holds one).
    pub async fn spawn_on_new_table(t: &TestApp) -> TestApp {
        let table = format!("it-{:016x}", fastrand::u64(..));
        table::create_table(&t.client, &table)
            .await
            .expect("table on moto");
        let mut app = Self::with_client(t.client.clone(), table, (*t.app.config).clone());
        app.app.clock = t.app.clock.clone();
        app
    }

    /// A webhook app whose DynamoDB client talks to `endpoint` (e.g. a dead port).
    pub async fn against(endpoint: &str) -> TestApp {
        Self::with_client(client_for(endpoint).await, "unreachable".into(), config())
    }

    fn with_client(client: Client, table: String, config: Config) -> TestApp {
        let app = WebhookApp {
            config: Arc::new(config),
            secrets: WebhookSecrets::from_pairs([(SHOP, &[SECRET][..])]),
            recorder: DynamoStore::new(
                client.clone(),
                table.clone(),
                Duration::from_secs(7 * 86_400),
            ),
            clock: Arc::new(FixedClock::new(NOW.parse().expect("valid time"))),
            queue: None,
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
        scan_table(&self.client, &self.table).await
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

    /// A shop's report counters for one day and scope (`DAY#{day}#playbook#{p}`, or
    /// `DAY#{day}#shop`), which must exist.
    pub async fn stats(&self, shop: &str, day_scope: &str) -> Attrs {
        self.get(&format!("SHOP#{shop}#STATS"), &format!("DAY#{day_scope}"))
            .await
            .unwrap_or_else(|| panic!("no stats item DAY#{day_scope} for {shop}"))
    }
}

/// A delivery exactly as Shopify sends it, signed with `SECRET`.
/// Every item in `table`, sorted by key.
pub async fn scan_table(client: &Client, table: &str) -> Vec<Attrs> {
    let mut items: Vec<Attrs> = client
        .scan()
        .table_name(table)
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

pub fn signed(topic: &str, body: &[u8], webhook_id: &str) -> Request {
    signed_with(topic, body, webhook_id, SECRET)
}

pub fn signed_with(topic: &str, body: &[u8], webhook_id: &str, secret: &str) -> Request {
    let sig = aftercart::wire::verify::sign_webhook(body, &SecretString::from(secret.to_owned()));
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

/// As [`signed`], as Shopify retries it: triggered `minutes` before [`NOW`].
pub fn signed_retry(topic: &str, body: &[u8], webhook_id: &str, minutes: i64) -> Request {
    let mut req = signed(topic, body, webhook_id);
    let at = NOW
        .parse::<chrono::DateTime<chrono::Utc>>()
        .expect("valid time")
        - chrono::Duration::minutes(minutes);
    req.headers_mut().insert(
        "x-shopify-triggered-at",
        at.to_rfc3339().parse().expect("header value"),
    );
    req
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
        serde_json::from_slice(aftercart::wire::shopify::fixtures::ORDER).expect("fixture parses");
    edit(&mut v);
    serde_json::to_vec(&v).expect("serializes")
}

/// Reads one HTTP/1.1 request (headers and the body `content-length` announces) from
/// `sock`, keeping any bytes after it in `pending`. `None` when the peer is gone.
async fn read_request(
    sock: &mut tokio::net::TcpStream,
    pending: &mut Vec<u8>,
) -> Option<(String, Vec<u8>)> {
    use tokio::io::AsyncReadExt;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&pending[..end]).into_owned();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            if pending.len() >= end + 4 + len {
                let body = pending[end + 4..end + 4 + len].to_vec();
                pending.drain(..end + 4 + len);
                return Some((head, body));
            }
        }
        match sock.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => pending.extend_from_slice(&buf[..n]),
        }
    }
}

/// A local HTTP endpoint that answers every request with `status` and `body`, counting
/// requests: stands in for an AWS service that is failing or throttling.
pub async fn fake_http(
    status: &'static str,
    content_type: &'static str,
    body: &'static str,
) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    fake_routes(move |_| Canned {
        status,
        content_type,
        headers: Vec::new(),
        body: body.to_owned(),
    })
    .await
}

/// Sends one request read by [`read_request`] on to the moto server, headers as they
/// came (but `host` and `content-length`, which follow the new target and `body`).
/// Returns the answer's status, content type and body; `None` if moto is gone.
async fn forward_to_moto(
    http: &reqwest::Client,
    head: &str,
    body: Vec<u8>,
) -> Option<(u16, String, Vec<u8>)> {
    let mut lines = head.lines();
    let mut start = lines.next().unwrap_or_default().split_whitespace();
    let method = reqwest::Method::from_bytes(start.next().unwrap_or("POST").as_bytes())
        .unwrap_or(reqwest::Method::POST);
    let path = start.next().unwrap_or("/").to_owned();
    let mut req = http
        .request(method, format!("{}{path}", endpoint()))
        .body(body);
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            if !k.eq_ignore_ascii_case("host") && !k.eq_ignore_ascii_case("content-length") {
                req = req.header(k.trim(), v.trim());
            }
        }
    }
    let resp = req.send().await.ok()?;
    let status = resp.status().as_u16();
    let ctype = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/x-amz-json-1.0")
        .to_owned();
    let answer = resp.bytes().await.ok()?;
    Some((status, ctype, answer.to_vec()))
}

/// Writes an HTTP/1.1 answer to `sock`; `false` if the peer is gone.
async fn respond(sock: &mut tokio::net::TcpStream, status: u16, ctype: &str, body: &[u8]) -> bool {
    use tokio::io::AsyncWriteExt;
    let head = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: {ctype}\r\nx-amzn-requestid: proxy\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    sock.write_all(head.as_bytes()).await.is_ok() && sock.write_all(body).await.is_ok()
}

/// What a proxy in front of moto ([`moto_proxy`]) does with one request.
pub enum Relay {
    /// Forward it and pass the answer back.
    Forward,
    /// Forward it, but pass the answer back only after this long: the operation
    /// happens, its answer comes too late.
    ForwardLate(Duration),
    /// Answer 500 `InternalServerError` without forwarding: DynamoDB failing the call.
    Fail,
}

/// DynamoDB's answer to a call it failed.
const INTERNAL_SERVER_ERROR: &[u8] = br#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"injected by the test proxy"}"#;

/// An HTTP proxy to the moto server: `decide(head, body)` sees each request (it may
/// rewrite the body) and says what happens to it. Returns the proxy's address.
pub async fn moto_proxy(
    decide: impl Fn(&str, &mut Vec<u8>) -> Relay + Send + Sync + 'static,
) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let decide = Arc::new(decide);
    let http = reqwest::Client::new();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let (decide, http) = (decide.clone(), http.clone());
            tokio::spawn(async move {
                let mut pending = Vec::new();
                while let Some((head, mut body)) = read_request(&mut sock, &mut pending).await {
                    let (status, ctype, answer) = match decide(&head, &mut body) {
                        Relay::Fail => (
                            500,
                            "application/x-amz-json-1.0".to_owned(),
                            INTERNAL_SERVER_ERROR.to_vec(),
                        ),
                        relay => {
                            let Some(answer) = forward_to_moto(&http, &head, body).await else {
                                return;
                            };
                            if let Relay::ForwardLate(delay) = relay {
                                tokio::time::sleep(delay).await;
                            }
                            answer
                        }
                    };
                    if !respond(&mut sock, status, &ctype, &answer).await {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

/// How long DynamoDB and SES take to answer, for a proxy that holds moto's answers back
/// that long ([`Latency::proxy`]): moto answers in a few milliseconds, the services
/// from a Lambda function in their region take longer.
pub struct Latency {
    pub dynamodb: Duration,
    pub ses: Duration,
}

/// What the cost bench assumes the services take from a function in their region: a
/// DynamoDB call about 10 ms (single-digit milliseconds in the service, plus the
/// connection), an SES `SendEmail` about 100 ms (SES publishes no figure; it takes the
/// message and answers once it is stored).
pub const LATENCY: Latency = Latency {
    dynamodb: Duration::from_millis(10),
    ses: Duration::from_millis(100),
};

impl Latency {
    /// A proxy to moto whose answers come this late: DynamoDB's (the requests naming
    /// `DynamoDB_20120810`) after [`Latency::dynamodb`], all others (SES) after
    /// [`Latency::ses`]. Returns its address.
    pub async fn proxy(&self) -> String {
        let (dynamodb, ses) = (self.dynamodb, self.ses);
        moto_proxy(move |head, _| {
            Relay::ForwardLate(if head.contains("DynamoDB_20120810") {
                dynamodb
            } else {
                ses
            })
        })
        .await
    }
}

/// A proxy to moto that holds back the answer to the first request whose headers
/// contain `marker` for `delay`: the operation happens, its answer comes too late, and
/// the SDK retries — as when DynamoDB commits a write and the response is lost.
pub async fn slow_once_proxy(marker: &'static str, delay: Duration) -> String {
    let delayed = std::sync::atomic::AtomicBool::new(false);
    moto_proxy(move |head, _| {
        if head.contains(marker) && !delayed.swap(true, std::sync::atomic::Ordering::SeqCst) {
            Relay::ForwardLate(delay)
        } else {
            Relay::Forward
        }
    })
    .await
}

/// The DynamoDB operation of a request head (`X-Amz-Target` without its
/// `DynamoDB_20120810.` prefix), or "".
pub fn dynamodb_operation(head: &str) -> String {
    head.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case("x-amz-target").then(|| {
                let v = v.trim();
                v.rsplit_once('.').map_or(v, |(_, op)| op).to_owned()
            })
        })
        .unwrap_or_default()
}

/// What a [`MotoProxy`] does to the requests it forwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sabotage {
    /// Forward everything unchanged.
    None,
    /// Answer this DynamoDB operation (e.g. `TransactWriteItems`) with a 500
    /// InternalServerError without forwarding it: DynamoDB failing the call.
    Answer500(&'static str),
    /// Forward writes, but give every write of an item with this sort key (e.g.
    /// `PROFILE`) a condition that cannot hold, so moto refuses it — and cancels the
    /// whole transaction it is part of.
    RefuseWritesTo(&'static str),
}

/// An HTTP proxy to the moto server that notes the DynamoDB operation of every request
/// it forwards (`X-Amz-Target`, e.g. `TransactWriteItems`), and can fail some of them
/// (see [`Sabotage`]).
pub struct MotoProxy {
    pub url: String,
    operations: Arc<std::sync::Mutex<Vec<String>>>,
    sabotage: Arc<std::sync::Mutex<Sabotage>>,
}

impl MotoProxy {
    pub async fn start() -> MotoProxy {
        let operations = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sabotage = Arc::new(std::sync::Mutex::new(Sabotage::None));
        let (ops, plan) = (operations.clone(), sabotage.clone());
        let url = moto_proxy(move |head, body| {
            let op = dynamodb_operation(head);
            ops.lock().expect("not poisoned").push(op.clone());
            match *plan.lock().expect("not poisoned") {
                Sabotage::Answer500(target) if op == target => Relay::Fail,
                Sabotage::RefuseWritesTo(sk) => {
                    *body = refuse_writes_to(&op, body, sk);
                    Relay::Forward
                }
                _ => Relay::Forward,
            }
        })
        .await;
        MotoProxy {
            url,
            operations,
            sabotage,
        }
    }

    /// The operations forwarded (or failed) so far, in order, without the
    /// `DynamoDB_20120810.` prefix.
    pub fn operations(&self) -> Vec<String> {
        self.operations.lock().expect("not poisoned").clone()
    }

    /// What to do to the requests from now on.
    pub fn sabotage(&self, what: Sabotage) {
        *self.sabotage.lock().expect("not poisoned") = what;
    }
}

/// The DynamoDB request `body` of operation `op` in which every write (PutItem,
/// UpdateItem, DeleteItem, or a Put, Update, Delete or ConditionCheck inside
/// TransactWriteItems) of an item with sort key `sk` carries the condition
/// `attribute_exists(pk) AND attribute_not_exists(pk)` on top of its own. Other
/// operations (BatchWriteItem has no conditions) pass unchanged.
fn refuse_writes_to(op: &str, body: &[u8], sk: &str) -> Vec<u8> {
    fn sabotage(write: &mut serde_json::Value, sk: &str) {
        let key = write.get("Item").or_else(|| write.get("Key"));
        if key.and_then(|k| k["sk"]["S"].as_str()) != Some(sk) {
            return;
        }
        let never = "attribute_exists(pk) AND attribute_not_exists(pk)";
        let condition = match write["ConditionExpression"].as_str() {
            Some(own) => format!("({own}) AND {never}"),
            None => never.to_owned(),
        };
        write["ConditionExpression"] = condition.into();
    }
    let Ok(mut request) = serde_json::from_slice::<serde_json::Value>(body) else {
        return body.to_vec();
    };
    match op {
        "TransactWriteItems" => {
            let items = request["TransactItems"].as_array_mut();
            for item in items.into_iter().flatten() {
                for kind in ["Put", "Update", "Delete", "ConditionCheck"] {
                    if let Some(write) = item.get_mut(kind) {
                        sabotage(write, sk);
                    }
                }
            }
        }
        "PutItem" | "UpdateItem" | "DeleteItem" => sabotage(&mut request, sk),
        _ => return body.to_vec(),
    }
    serde_json::to_vec(&request).expect("serializes")
}

/// Wraps a real mailer and keeps a copy of every message it sent successfully, so a
/// test sees exactly its own emails (moto's SES store is shared by all tests).
pub struct Recording<M> {
    pub inner: M,
    pub sent: std::sync::Mutex<Vec<aftercart::ports::mail::OutgoingEmail>>,
    /// When each successful send started (the send rate's footprint), in the order the
    /// sends finished.
    pub sent_times: std::sync::Mutex<Vec<std::time::Instant>>,
}

impl<M> Recording<M> {
    pub fn new(inner: M) -> Self {
        Recording {
            inner,
            sent: std::sync::Mutex::new(Vec::new()),
            sent_times: std::sync::Mutex::new(Vec::new()),
        }
    }
}

impl<M: aftercart::ports::mail::Mailer> aftercart::ports::mail::Mailer for Recording<M> {
    async fn send(
        &self,
        email: &aftercart::ports::mail::OutgoingEmail,
    ) -> Result<String, aftercart::ports::mail::SendError> {
        let started = std::time::Instant::now();
        let id = self.inner.send(email).await?;
        self.sent.lock().expect("not poisoned").push(email.clone());
        self.sent_times.lock().expect("not poisoned").push(started);
        Ok(id)
    }
    async fn max_send_rate(&self) -> Option<f64> {
        self.inner.max_send_rate().await
    }
}

pub type TestDispatcher =
    aftercart::apps::dispatch::Dispatcher<Recording<aftercart::adapters::ses::SesMailer>>;

/// One canned answer of a fake AWS endpoint (see [`fake_routes`]).
#[derive(Debug, Clone)]
pub struct Canned {
    pub status: &'static str,
    pub content_type: &'static str,
    /// Headers besides `content-type` and `content-length`.
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl Canned {
    /// A JSON answer.
    pub fn json(status: &'static str, body: impl Into<String>) -> Canned {
        Canned {
            status,
            content_type: "application/json",
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// An error as a REST-JSON service such as SES v2 answers it: its name in the
    /// `x-amzn-ErrorType` header, its message in the JSON body.
    pub fn aws_error(status: &'static str, error_type: &str, message: &str) -> Canned {
        Canned {
            status,
            content_type: "application/json",
            headers: vec![("x-amzn-ErrorType", error_type.to_owned())],
            body: serde_json::json!({ "message": message }).to_string(),
        }
    }
}

/// A local HTTP endpoint that answers each request with `answer(request_line)` (e.g.
/// `GET /v2/email/account HTTP/1.1`), counting requests: a fake AWS service whose
/// answers depend on the operation.
pub async fn fake_routes(
    answer: impl Fn(&str) -> Canned + Send + Sync + 'static,
) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = hits.clone();
    let answer = Arc::new(answer);
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let (counter, answer) = (counter.clone(), answer.clone());
            tokio::spawn(async move {
                let mut pending = Vec::new();
                while let Some((head, _)) = read_request(&mut sock, &mut pending).await {
                    counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let canned = answer(head.lines().next().unwrap_or_default());
                    let mut resp = format!(
                        "HTTP/1.1 {}\r\ncontent-type: {}\r\nx-amzn-requestid: test\r\ncontent-length: {}\r\n",
                        canned.status,
                        canned.content_type,
                        canned.body.len()
                    );
                    for (k, v) in &canned.headers {
                        resp.push_str(&format!("{k}: {v}\r\n"));
                    }
                    resp.push_str("\r\n");
                    resp.push_str(&canned.body);
                    if sock.write_all(resp.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (format!("http://{addr}"), hits)
}

/// A proxy to moto for DynamoDB that answers 500 (`InternalServerError`) instead of
/// forwarding each request `fail(n, head, body)` picks (`n` counts the requests from 0;
/// `head` holds the `x-amz-target` operation, `body` the JSON request), and forwards the
/// rest. Returns its address and how many requests it failed.
pub async fn failing_proxy(
    fail: impl Fn(usize, &str, &[u8]) -> bool + Send + Sync + 'static,
) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    let (seen, failed) = (AtomicUsize::new(0), Arc::new(AtomicUsize::new(0)));
    let failures = failed.clone();
    let url = moto_proxy(move |head, body| {
        if fail(seen.fetch_add(1, SeqCst), head, body) {
            failed.fetch_add(1, SeqCst);
            Relay::Fail
        } else {
            Relay::Forward
        }
    })
    .await;
    (url, failures)
}

/// An SES v2 client for `endpoint`, with few, fast retries.
pub async fn ses_client_for(endpoint: &str) -> aws_sdk_sesv2::Client {
    let conf = aws_sdk_sesv2::Config::builder()
        .behavior_version(aws_sdk_sesv2::config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_sdk_sesv2::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sesv2::config::Credentials::new(
            "test",
            "test",
            None,
            None,
            "integration-tests",
        ))
        .retry_config(
            aws_sdk_sesv2::config::retry::RetryConfig::standard()
                .with_max_attempts(2)
                .with_initial_backoff(Duration::from_millis(10)),
        )
        .build();
    aws_sdk_sesv2::Client::from_conf(conf)
}

/// Creates the tests' sender identity (`SENDER`) in the SES that `ses` talks to. Idempotent
/// enough: moto answers AlreadyExists the second time, which is as good.
pub async fn create_sender(ses: &aws_sdk_sesv2::Client) {
    let _ = ses
        .create_email_identity()
        .email_identity(SENDER)
        .send()
        .await;
}

impl TestApp {
    /// A dispatcher on this app's table and config, as of `at`, sending through SES at
    /// `ses_endpoint` (default: the moto server, with the sender identity created).
    pub async fn dispatcher(&self, at: &str, ses_endpoint: Option<&str>) -> TestDispatcher {
        let ses = ses_client_for(ses_endpoint.unwrap_or(&endpoint())).await;
        if ses_endpoint.is_none() {
            create_sender(&ses).await;
        }
        let config = self.app.config.clone();
        aftercart::apps::dispatch::Dispatcher {
            templates: aftercart::apps::startup::shop_templates(&config).expect("templates"),
            links: aftercart::model::tokens::LinkBuilder {
                base_url: config.links.base_url.clone(),
                keys: aftercart::model::tokens::LinkKeys::parse(LINK_KEYS).expect("keys"),
                ttl_days: 60,
            },
            store: DynamoStore::new(
                dispatch_client_for(&endpoint()).await,
                self.table.clone(),
                Duration::from_secs(86_400),
            ),
            mailer: Recording::new(aftercart::adapters::ses::SesMailer::new(ses)),
            clock: Arc::new(FixedClock::new(at.parse().expect("valid time"))),
            owner: format!("test-{:08x}", fastrand::u32(..)),
            admin: aftercart::adapters::shopify_admin::AdminClient::new(
                &config.admin,
                aftercart::adapters::shopify_admin::AdminTokens::from_pairs([(SHOP, ADMIN_TOKEN)]),
            )
            .expect("admin client"),
            config,
        }
    }

    /// As [`TestApp::dispatcher`], with the dispatcher's DynamoDB client talking to
    /// `dynamo` (e.g. a [`failing_proxy`] in front of moto).
    pub async fn dispatcher_via(
        &self,
        at: &str,
        ses_endpoint: Option<&str>,
        dynamo: &str,
    ) -> TestDispatcher {
        let mut d = self.dispatcher(at, ses_endpoint).await;
        d.store = DynamoStore::new(
            dispatch_client_for(dynamo).await,
            self.table.clone(),
            Duration::from_secs(86_400),
        );
        d
    }

    /// Every follow-up in the table, by id.
    pub async fn followups(&self) -> Vec<aftercart::model::FollowUpRecord> {
        self.scan()
            .await
            .into_iter()
            .filter(|i| s(i, "entity") == "followup")
            .map(|i| serde_dynamo::from_item(i).expect("follow-up decodes"))
            .collect()
    }
}

/// Runs `d` once with a minute to spare.
pub async fn run_dispatch(d: &TestDispatcher) -> serde_json::Value {
    d.run(std::time::Instant::now() + Duration::from_secs(60))
        .await
        .expect("dispatch run")
        .summary()
}

/// The link-signing keys of every test dispatcher and links app.
pub const LINK_KEYS: &str = "1:integration-link-key-0123456789abcdef0123";

pub type TestLinks =
    aftercart::apps::links::LinksApp<DynamoStore, Recording<aftercart::adapters::ses::SesMailer>>;

/// What a customer's browser (or mail provider) got back from the links function.
#[derive(Debug)]
pub struct Clicked {
    pub status: u16,
    pub headers: lambda_http::http::HeaderMap,
    pub body: String,
}

impl TestApp {
    /// The links function on this app's table and config, as of `at`, sending merchant
    /// alerts through moto's SES.
    pub async fn links(&self, at: &str) -> TestLinks {
        let ses = ses_client_for(&endpoint()).await;
        create_sender(&ses).await;
        aftercart::apps::links::LinksApp {
            config: self.app.config.clone(),
            keys: aftercart::model::tokens::LinkKeys::parse(LINK_KEYS).expect("keys"),
            store: DynamoStore::new(
                self.client.clone(),
                self.table.clone(),
                Duration::from_secs(86_400),
            ),
            mailer: Recording::new(aftercart::adapters::ses::SesMailer::new(ses)),
            clock: Arc::new(FixedClock::new(at.parse().expect("valid time"))),
        }
    }
}

/// Opens `url` (any host: only the path and query reach the function) with `method`,
/// and optionally a form body, through the real handler.
pub async fn click(
    app: &TestLinks,
    method: &str,
    url: &str,
    form: Option<(&str, &str)>,
) -> Clicked {
    use lambda_http::RequestExt;
    let parsed = reqwest::Url::parse(url).expect("absolute URL");
    let query: HashMap<String, Vec<String>> =
        parsed.query_pairs().fold(HashMap::new(), |mut m, (k, v)| {
            m.entry(k.into_owned()).or_default().push(v.into_owned());
            m
        });
    let mut builder = lambda_http::http::Request::builder()
        .method(method)
        .uri(format!(
            "https://links.example.test{}?{}",
            parsed.path(),
            parsed.query().unwrap_or("")
        ));
    let body = match form {
        Some((content_type, body)) => {
            builder = builder.header("content-type", content_type);
            lambda_http::Body::Text(body.to_owned())
        }
        None => lambda_http::Body::Empty,
    };
    let req = builder
        .body(body)
        .expect("request")
        .with_query_string_parameters(query);
    let resp = app.handle(req).await;
    Clicked {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        body: String::from_utf8_lossy(resp.body().as_ref()).into_owned(),
    }
}

/// The customer links (`https://links.example.test/...`) in a sent email's HTML part,
/// in order.
pub fn links_in(email: &aftercart::ports::mail::OutgoingEmail) -> Vec<String> {
    let message = mail_parser::MessageParser::default()
        .parse(&email.raw)
        .expect("MIME parses");
    let html = message.body_html(0).expect("an HTML part").into_owned();
    let mut out = Vec::new();
    let mut rest = html.as_str();
    while let Some(i) = rest.find("https://links.example.test/") {
        let tail = &rest[i..];
        let end = tail.find(['"', '<', ' ', '\n']).unwrap_or(tail.len());
        out.push(tail[..end].replace("&amp;", "&"));
        rest = &tail[end..];
    }
    out
}

/// The `List-Unsubscribe` URL of a sent email.
pub fn list_unsubscribe(email: &aftercart::ports::mail::OutgoingEmail) -> String {
    let message = mail_parser::MessageParser::default()
        .parse(&email.raw)
        .expect("MIME parses");
    let value = message
        .header_raw("List-Unsubscribe")
        .expect("List-Unsubscribe header");
    value
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_owned()
}

/// The sample order as `customer_id` (at `email`) paid it, created 2026-11-22T08:00Z;
/// `fulfilled`: as shipped at 08:30. `edit` changes it further.
pub fn paid_order(
    order_id: u64,
    customer_id: u64,
    email: &str,
    fulfilled: bool,
    edit: impl FnOnce(&mut serde_json::Value),
) -> Vec<u8> {
    order_with(|o| {
        o["id"] = order_id.into();
        o["created_at"] = "2026-11-22T08:00:00Z".into();
        o["updated_at"] = if fulfilled {
            "2026-11-22T08:30:00Z"
        } else {
            "2026-11-22T08:00:00Z"
        }
        .into();
        o["financial_status"] = "paid".into();
        if fulfilled {
            o["fulfillment_status"] = "fulfilled".into();
        }
        o["customer"]["id"] = customer_id.into();
        o["customer"]["email"] = email.into();
        o["email"] = email.into();
        edit(o);
    })
}

/// The sample carrier tracking event (`fulfillment_events/create`, delivered, of the
/// sample order's shipment) as event `id` with `status` (`in_transit`, …).
pub fn tracking_event(id: u64, status: &str) -> Vec<u8> {
    let mut e: serde_json::Value =
        serde_json::from_slice(aftercart::wire::shopify::fixtures::FULFILLMENT_DELIVERED)
            .expect("fixture");
    e["id"] = id.into();
    e["status"] = status.into();
    serde_json::to_vec(&e).expect("JSON")
}

/// SES's event `fixture` (an SNS notification: delivery, open, click, …) for follow-up
/// `f` sent to `to`: the fixture with this follow-up's message id, tags and recipient,
/// and its times a few seconds after the send.
pub fn ses_event_for(
    fixture: &[u8],
    f: &aftercart::model::FollowUpRecord,
    to: &str,
) -> serde_json::Value {
    use serde_json::json;
    let mut sns: serde_json::Value = serde_json::from_slice(fixture).expect("fixture");
    let message = sns["Records"][0]["Sns"]["Message"]
        .as_str()
        .expect("message");
    let mut ses: serde_json::Value = serde_json::from_str(message).expect("SES event");
    let message_id = f.ses_message_id.clone().expect("sent");
    ses["mail"]["messageId"] = message_id.clone().into();
    ses["mail"]["commonHeaders"]["messageId"] = message_id.into();
    ses["mail"]["destination"] = json!([to]);
    let sent_at = chrono::DateTime::parse_from_rfc3339(f.sent_at.as_deref().expect("sent_at"))
        .expect("time")
        .to_utc();
    ses["mail"]["timestamp"] = sent_at.to_rfc3339().into();
    let kind = ses["eventType"].as_str().unwrap_or("Event").to_owned();
    for (field, after) in [("delivery", 2), ("open", 600), ("click", 620)] {
        if ses.get(field).is_some() {
            ses[field]["timestamp"] = (sent_at + chrono::Duration::seconds(after))
                .to_rfc3339()
                .into();
        }
    }
    if ses.get("delivery").is_some() {
        ses["delivery"]["recipients"] = json!([to]);
    }
    let tags = &mut ses["mail"]["tags"];
    tags["playbook"] = json!([f.playbook.as_str()]);
    tags["followup"] = json!([f.id.replace('#', "_")]);
    tags["customer"] = json!([f.customer_key]);
    sns["Records"][0]["Sns"]["Message"] = ses.to_string().into();
    sns["Records"][0]["Sns"]["MessageId"] = format!("sns-{kind}-{}", f.id).into();
    sns
}
