//! Whole HTTP requests through the links function's app (`LinksApp::handle`: routing,
//! token checks, forms, the rating, reason, unsubscribe, resubscribe, reorder and
//! report paths, pages) over the library's in-memory store and mailer
//! (`ports::memory`), on a small table: the demo shop's customer with an order, its
//! satisfaction check, returns note and replenishment reminder (all sent).
//!
//! Input: two selector bytes, then text (UTF-8, lossily):
//!
//! ```text
//! METHOD TARGET            e.g. `POST /lambda-url/links/rate?t={t}&x=1`
//! Name: value              headers, one a line, up to an empty line
//!                          (empty line)
//! body                     the rest, as it is
//! ```
//!
//! Every `{t}` in the text becomes a token signed with the app's key, so the paths
//! behind the signature check are reached. The first selector byte picks its purpose
//! (bits 0–2 `% 6`: rate, reason, unsubscribe, reorder, report, or none: `{t}` stays)
//! and the table's details: bit 3 gives the order a locale of its own (`fr-CA`), bits
//! 4–5 suppress the address (1: the customer's own unsubscribe, 2: a bounce), bit 6
//! gives the profile French, bit 7 signs for a shop that is not configured. The second
//! picks the token's follow-up (bits 0–1: satisfaction, returns, replenishment, one
//! that does not exist), an unknown customer (bit 2), an expired link (bit 3) and its
//! score (bits 4–7, 0 for none). The query string reaches the app decoded, as API
//! Gateway hands it over.
//!
//! Every answer must be a status the app documents, never a server error (the store
//! never fails here), with its headers: `Location` on a redirect, `Allow` on 405, a
//! `Content-Type` on everything else.

#![no_main]

use aftercart::apps::links::LinksApp;
use aftercart::config::Config;
use aftercart::model::time::FixedClock;
use aftercart::model::tokens::{sign, LinkClaims, LinkKeys, Purpose};
use aftercart::model::{
    followup_id, FollowUpRecord, FollowUpStatus, OrderLine, OrderRecord, Playbook, ProfileRecord,
};
use aftercart::ports::links::SELF_SERVICE_REASON;
use aftercart::ports::memory::{MemoryMailer, MemoryStore};
use chrono::{DateTime, TimeZone, Utc};
use lambda_http::http::{self, header, HeaderName, HeaderValue, Method};
use lambda_http::{Body, RequestExt};
use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

const SHOP: &str = "aftercart-demo.myshopify.com";
const CUSTOMER: &str = "207119551";
const ORDER: u64 = 450789469;
const PRODUCT: u64 = 632910392;
const KEY: &str = "1:fuzz-link-key-0123456789abcdef0123456789";
/// Longest request text looked at (API Gateway's limits are far above; the app bounds
/// what it reads itself).
const MAX_TEXT: usize = 16 * 1024;

static CONFIG: LazyLock<Arc<Config>> = LazyLock::new(|| {
    Arc::new(
        Config::parse(
            include_str!("../../infra/aftercart.toml"),
            "infra/aftercart.toml",
        )
        .expect("the sample config is valid"),
    )
});

static KEYS: LazyLock<LinkKeys> = LazyLock::new(|| LinkKeys::parse(KEY).expect("valid link keys"));

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime")
});

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap()
}

const FOLLOWUPS: [(Playbook, Option<u64>); 3] = [
    (Playbook::Satisfaction, None),
    (Playbook::Returns, None),
    (Playbook::Replenishment, Some(PRODUCT)),
];

fn line(id: u64, product: Option<u64>, variant: Option<u64>, quantity: u32) -> OrderLine {
    OrderLine {
        line_item_id: id,
        product_id: product,
        variant_id: variant,
        sku: None,
        title: "Beans".into(),
        variant_title: None,
        quantity,
        price: None,
    }
}

/// The table: the customer, the order and its three sent follow-ups.
fn store(looks: u8) -> MemoryStore {
    let store = MemoryStore::default();
    let mut order: OrderRecord =
        serde_json::from_value(serde_json::json!({ "v": 1, "order_id": ORDER }))
            .expect("an order decodes");
    order.lines = vec![
        line(1, Some(PRODUCT), Some(808950810), 2),
        line(2, Some(PRODUCT), Some(808950811), 1),
        line(3, None, None, 1),
    ];
    if looks & 0x08 != 0 {
        order.customer_locale = Some("fr-CA".into());
    }
    store.put_order(SHOP, order);
    store.put_profile(
        SHOP,
        ProfileRecord {
            v: 1,
            customer_key: CUSTOMER.into(),
            email: Some("rita@example.com".into()),
            locale: (looks & 0x40 != 0).then(|| "fr".into()),
            ..ProfileRecord::default()
        },
    );
    match (looks >> 4) & 3 {
        1 => store.suppress(SHOP, "rita@example.com", SELF_SERVICE_REASON),
        2 => store.suppress(SHOP, "rita@example.com", "bounce"),
        _ => {}
    }
    for (playbook, product) in FOLLOWUPS {
        let mut f = FollowUpRecord::pending(
            SHOP,
            CUSTOMER,
            playbook,
            ORDER,
            product,
            "2026-11-20T10:00:00.000Z",
            "2026-11-10T10:00:00.000Z",
            CONFIG.dispatch.shards,
        );
        f.status = FollowUpStatus::Sent;
        f.sent_at = Some("2026-11-20T10:00:00.000Z".into());
        f.unindex();
        store.put_followup(f);
    }
    store
}

/// The token `{t}` stands for, or `None` to leave it.
fn token(what: u8, claims: u8) -> Option<String> {
    let purpose = match (what & 7) % 6 {
        0 => Purpose::Rate,
        1 => Purpose::Reason,
        2 => Purpose::Unsubscribe,
        3 => Purpose::Reorder,
        4 => Purpose::Report,
        _ => return None,
    };
    let shop = if what & 0x80 != 0 {
        "elsewhere.myshopify.com"
    } else {
        SHOP
    };
    let followup = match (purpose, claims & 3) {
        (Purpose::Report, _) => "report".to_owned(),
        (_, 3) => followup_id(Playbook::ThankYou, ORDER, None),
        (_, i) => {
            let (playbook, product) = FOLLOWUPS[usize::from(i)];
            followup_id(playbook, ORDER, product)
        }
    };
    let customer_key = match (purpose, claims & 4 != 0) {
        (Purpose::Report, _) => String::new(),
        (_, true) => "999".to_owned(),
        (_, false) => CUSTOMER.to_owned(),
    };
    let expires_at = if claims & 8 != 0 {
        now().timestamp() - 1
    } else {
        now().timestamp() + 30 * 86_400
    };
    let score = Some(claims >> 4).filter(|s| *s != 0);
    Some(sign(
        &KEYS,
        &LinkClaims {
            shop: shop.to_owned(),
            customer_key,
            followup,
            purpose,
            expires_at,
            score,
        },
    ))
}

/// The request the text describes, or `None` where no HTTP front end would pass it on
/// (a method or target that is not HTTP).
fn request(text: &str) -> Option<lambda_http::Request> {
    let (head, body) = match text.split_once("\n\n") {
        Some((head, body)) => (head, body),
        None => (text, ""),
    };
    let mut lines = head.lines();
    let (method, target) = lines.next()?.split_once(' ')?;
    let method = Method::from_bytes(method.as_bytes()).ok()?;
    let target = if target.starts_with('/') {
        target.to_owned()
    } else {
        format!("/{target}")
    };
    let mut builder = http::Request::builder()
        .method(method)
        .uri(format!("https://links.example.test{target}"));
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.trim().as_bytes()),
            HeaderValue::from_str(value.trim()),
        ) {
            builder = builder.header(name, value);
        }
    }
    let query = target.split_once('?').map_or("", |(_, q)| q);
    let mut params: HashMap<String, Vec<String>> = HashMap::new();
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        params
            .entry(k.into_owned())
            .or_default()
            .push(v.into_owned());
    }
    let body = if body.is_empty() {
        Body::Empty
    } else {
        Body::Text(body.to_owned())
    };
    Some(
        builder
            .body(body)
            .ok()?
            .with_query_string_parameters(params),
    )
}

fuzz_target!(|data: &[u8]| {
    let [what, claims, rest @ ..] = data else {
        return;
    };
    let text = String::from_utf8_lossy(&rest[..rest.len().min(MAX_TEXT)]);
    let text = match token(*what, *claims) {
        Some(t) => text.replace("{t}", &t),
        None => text.into_owned(),
    };
    let Some(req) = request(&text) else {
        return;
    };
    let app = LinksApp {
        config: CONFIG.clone(),
        keys: KEYS.clone(),
        store: store(*what),
        mailer: MemoryMailer::default(),
        clock: Arc::new(FixedClock::new(now())),
    };
    let response = RUNTIME.block_on(app.handle(req));

    let status = response.status().as_u16();
    assert!(
        [200, 303, 400, 403, 404, 405, 410, 415].contains(&status),
        "status {status} for {text:?}"
    );
    let headers = response.headers();
    match status {
        303 => assert!(
            headers
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|l| l.starts_with(&format!("https://{SHOP}/cart/"))),
            "a redirect to the shop's cart: {headers:?}"
        ),
        _ => assert!(
            headers.contains_key(header::CONTENT_TYPE),
            "status {status} without a content type: {headers:?}"
        ),
    }
    if status == 405 {
        assert!(headers.contains_key(header::ALLOW), "405 without Allow");
    }
});
