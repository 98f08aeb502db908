//! A local fake of the Shopify Admin GraphQL API, shared by the discount-code tests
//! (`admin.rs`) and the uninstall confirmation tests (`privacy.rs`).
//!
//! The fake behaves like a store: it checks the path and the access token, keeps the
//! discounts it created, answers `TAKEN` for a code it already has, finds discounts by
//! code, answers the access check (`shop { id }`), and reports a cost bucket. Faults
//! (5xx, throttling, a revoked token, a lost answer, a code owned by another discount)
//! are injected per request, in order.

use aftercart_integration::ADMIN_TOKEN;
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// What the fake does with one request instead of answering normally.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answers this status without doing anything.
    Status(u16),
    /// Does the work, then answers this status (the caller never learns it worked).
    StatusAfterWork(u16),
    /// `Throttled` with a nearly empty bucket of 100 points restoring 50/s.
    Throttled,
    /// The token was revoked: 401 from now on.
    Revoke,
    /// Another discount already owns the code asked for: `TAKEN`.
    TakenByOther,
    /// `userErrors` refusing the discount's value.
    Reject,
}

#[derive(Debug, Clone)]
pub struct Seen {
    pub at: Instant,
    pub path: String,
    pub token: Option<String>,
    pub body: Value,
}

impl Seen {
    pub fn is_create(&self) -> bool {
        self.body["query"]
            .as_str()
            .is_some_and(|q| q.contains("discountCodeBasicCreate"))
    }
    pub fn input(&self) -> &Value {
        &self.body["variables"]["basicCodeDiscount"]
    }
    pub fn code(&self) -> String {
        self.input()["code"].as_str().unwrap_or_default().to_owned()
    }
    /// The access check that confirms an uninstall (`shop { id }`).
    pub fn is_access_check(&self) -> bool {
        self.body["query"]
            .as_str()
            .is_some_and(|q| q.contains("shop { id }"))
    }
}

#[derive(Default)]
struct State {
    seen: Vec<Seen>,
    faults: VecDeque<Fault>,
    revoked: bool,
    /// code → (discount id, title)
    discounts: HashMap<String, (String, String)>,
}

#[derive(Clone)]
pub struct FakeAdmin {
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl FakeAdmin {
    pub async fn start(faults: impl IntoIterator<Item = Fault>) -> FakeAdmin {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let state = Arc::new(Mutex::new(State {
            faults: faults.into_iter().collect(),
            ..State::default()
        }));
        let shared = state.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let state = shared.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    let mut pending = Vec::new();
                    loop {
                        let Ok(n) = sock.read(&mut buf).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        pending.extend_from_slice(&buf[..n]);
                        while let Some((seen, used)) = parse_request(&pending) {
                            pending.drain(..used);
                            let (status, body) = answer(&state, seen);
                            let body = body.to_string();
                            let resp = format!(
                                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                                body.len()
                            );
                            if sock.write_all(resp.as_bytes()).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        FakeAdmin { url, state }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    pub fn creates(&self) -> Vec<Seen> {
        self.seen().into_iter().filter(Seen::is_create).collect()
    }

    pub fn fault(&self, f: Fault) {
        self.state.lock().unwrap().faults.push_back(f);
    }

    /// Revokes the token at once, as Shopify does when the app is uninstalled: 401 to
    /// every request from now on.
    pub fn revoke(&self) {
        self.state.lock().unwrap().revoked = true;
    }

    /// The access checks received so far.
    pub fn access_checks(&self) -> usize {
        self.seen().iter().filter(|s| s.is_access_check()).count()
    }

    pub fn restore_token(&self) {
        self.state.lock().unwrap().revoked = false;
    }

    /// Discounts the store holds, by code.
    pub fn discounts(&self) -> HashMap<String, (String, String)> {
        self.state.lock().unwrap().discounts.clone()
    }
}

/// One complete HTTP/1.1 request at the start of `bytes`, and its length.
fn parse_request(bytes: &[u8]) -> Option<(Seen, usize)> {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&bytes[..end]).to_string();
    let mut lines = head.split("\r\n");
    let path = lines.next()?.split(' ').nth(1)?.to_owned();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if bytes.len() < end + 4 + len {
        return None;
    }
    let body = serde_json::from_slice(&bytes[end + 4..end + 4 + len]).unwrap_or(Value::Null);
    Some((
        Seen {
            at: Instant::now(),
            path,
            token: headers.get("x-shopify-access-token").cloned(),
            body,
        },
        end + 4 + len,
    ))
}

fn cost(available: f64) -> Value {
    json!({"cost": {"requestedQueryCost": 10, "actualQueryCost": 10,
        "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": available, "restoreRate": 100.0}}})
}

/// What Shopify would answer (status, body), after any fault.
fn answer(state: &Mutex<State>, seen: Seen) -> (u16, Value) {
    let mut st = state.lock().unwrap();
    st.seen.push(seen.clone());
    let fault = st.faults.pop_front();
    if matches!(fault, Some(Fault::Revoke)) {
        st.revoked = true;
    }
    if !(seen.path.starts_with("/admin/api/") && seen.path.ends_with("/graphql.json")) {
        return (404, json!({"errors": "Not Found"}));
    }
    if st.revoked || seen.token.as_deref() != Some(ADMIN_TOKEN) {
        return (
            401,
            json!({"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}),
        );
    }
    match fault {
        Some(Fault::Status(s)) => return (s, json!({"errors": "Service Unavailable"})),
        Some(Fault::Throttled) => {
            return (
                200,
                json!({"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED",
                    "documentation": "https://shopify.dev/api/usage/rate-limits"}}],
                  "extensions": {"cost": {"requestedQueryCost": 10, "actualQueryCost": null,
                    "throttleStatus": {"maximumAvailable": 100.0, "currentlyAvailable": 2, "restoreRate": 50.0}}}}),
            )
        }
        Some(Fault::Reject) => {
            return (
                200,
                json!({"data": {"discountCodeBasicCreate": {"codeDiscountNode": null, "userErrors": [
                    {"field": ["basicCodeDiscount", "customerGets", "value", "percentage"],
                     "code": "VALUE_OUTSIDE_RANGE", "message": "Value must be between 0.0 and 1.0"}]}},
                    "extensions": cost(1990.0)}),
            )
        }
        Some(Fault::TakenByOther) if seen.is_create() => {
            let n = st.discounts.len() + 1;
            st.discounts.insert(
                seen.code(),
                (
                    format!("gid://shopify/DiscountCodeNode/{}", 9000 + n),
                    "Summer sale".into(),
                ),
            );
        }
        _ => {}
    }
    let query = seen.body["query"].as_str().unwrap_or_default();
    let (status, body) = if query.contains("discountCodeBasicCreate") {
        let input = seen.input();
        let code = seen.code();
        if st.discounts.contains_key(&code) {
            (
                200,
                json!({"data": {"discountCodeBasicCreate": {"codeDiscountNode": null, "userErrors": [
                    {"field": ["basicCodeDiscount", "code"], "code": "TAKEN",
                     "message": "Code must be unique. Please try a different code."}]}},
                    "extensions": cost(1990.0)}),
            )
        } else {
            let id = format!(
                "gid://shopify/DiscountCodeNode/{}",
                1057371270 + st.discounts.len()
            );
            let title = input["title"].as_str().unwrap_or_default().to_owned();
            st.discounts
                .insert(code.clone(), (id.clone(), title.clone()));
            (
                200,
                json!({"data": {"discountCodeBasicCreate": {"codeDiscountNode": {"id": id,
                    "codeDiscount": {"title": title, "startsAt": input["startsAt"], "endsAt": input["endsAt"],
                        "codes": {"nodes": [{"code": code}]}}}, "userErrors": []}},
                    "extensions": cost(1990.0)}),
            )
        }
    } else if seen.is_access_check() {
        (
            200,
            json!({"data": {"shop": {"id": "gid://shopify/Shop/954889"}}, "extensions": cost(1999.0)}),
        )
    } else if query.contains("codeDiscountNodeByCode") {
        let code = seen.body["variables"]["code"].as_str().unwrap_or_default();
        let node = st
            .discounts
            .get(code)
            .map(|(id, title)| json!({"id": id, "codeDiscount": {"title": title}}));
        (
            200,
            json!({"data": {"codeDiscountNodeByCode": node}, "extensions": cost(1998.0)}),
        )
    } else {
        (
            200,
            json!({"errors": [{"message": "Parse error", "extensions": {"code": "PARSE_ERROR"}}]}),
        )
    };
    match fault {
        Some(Fault::StatusAfterWork(s)) => (s, json!({"errors": "Gateway Timeout"})),
        _ => (status, body),
    }
}

/// The `[admin]` table pointing the Admin API client at `fake`, with fast retries.
pub fn admin_table(fake: &FakeAdmin) -> String {
    format!("[admin]\nendpoint = \"{}\"\nretry_base_ms = 5\n", fake.url)
}
