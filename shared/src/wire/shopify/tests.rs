use super::*;

use chrono::{TimeZone, Utc};
use lambda_http::http::{HeaderMap, HeaderName, HeaderValue};
use rust_decimal::Decimal;
use serde_json::{json, Value};

const ORDER_JSON: &[u8] = include_bytes!("../../../fixtures/shopify/order.json");
const FULFILLMENT_JSON: &[u8] = include_bytes!("../../../fixtures/shopify/fulfillment.json");
const FULFILLMENT_EVENT_JSON: &[u8] =
    include_bytes!("../../../fixtures/shopify/fulfillment_event.json");
const REFUND_JSON: &[u8] = include_bytes!("../../../fixtures/shopify/refund.json");
const CUSTOMER_JSON: &[u8] = include_bytes!("../../../fixtures/shopify/customer.json");

const ORDER_TOPICS: [Topic; 4] = [
    Topic::OrdersCreate,
    Topic::OrdersPaid,
    Topic::OrdersFulfilled,
    Topic::OrdersCancelled,
];

// ---------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------

/// An exact decimal from its literal; panics on anything `from_str_exact` refuses.
fn dec(s: &str) -> Decimal {
    Decimal::from_str_exact(s).unwrap_or_else(|e| panic!("bad decimal literal {s:?}: {e}"))
}

fn ts(s: &str) -> Timestamp {
    chrono::DateTime::parse_from_rfc3339(s).unwrap()
}

fn body(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

fn expect_order(topic: Topic, body: &[u8]) -> Order {
    match parse_event(topic, body) {
        Ok(Event::Order(t, o)) => {
            assert_eq!(t, topic, "the event keeps the topic it was parsed for");
            *o
        }
        Ok(other) => panic!("expected an order event, got {other:?}"),
        Err(e) => panic!("expected {} to parse: {e}", topic.as_str()),
    }
}

fn parse_order(v: &Value) -> Result<Order, ParseError> {
    match parse_event(Topic::OrdersCreate, &body(v))? {
        Event::Order(_, o) => Ok(*o),
        other => panic!("expected an order event, got {other:?}"),
    }
}

fn parse_order_err(v: &Value) -> ParseError {
    match parse_order(v) {
        Ok(o) => panic!("expected a parse error, got {o:?}"),
        Err(e) => e,
    }
}

/// The smallest order Shopify could send: only the required fields.
fn minimal_order() -> Value {
    json!({ "id": 1001, "created_at": "2024-03-01T10:00:00+01:00", "line_items": [] })
}

/// A minimal order carrying the given line items.
fn order_with_line_items(items: Vec<Value>) -> Value {
    let mut o = minimal_order();
    o["line_items"] = Value::Array(items);
    o
}

/// A line item with the fields a real one has; `i` varies ids, sku and price.
fn line_item(i: u64) -> Value {
    json!({
        "id": 10_000 + i,
        "product_id": 20_000 + i,
        "variant_id": 30_000 + i,
        "sku": format!("SKU-{i}"),
        "title": format!("Product {i}"),
        "variant_title": "Default",
        "quantity": 1 + (i % 5),
        "price": format!("{}.{:02}", i, i % 100),
        "gift_card": false,
    })
}

fn header_map(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, value) in pairs {
        h.insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    h
}

fn valid_headers() -> HeaderMap {
    header_map(&[
        ("X-Shopify-Topic", "orders/paid"),
        ("X-Shopify-Shop-Domain", "aftercart-test.myshopify.com"),
        (
            "X-Shopify-Webhook-Id",
            "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
        ),
        ("X-Shopify-Event-Id", "98880550-7158-44d4-b7cd-2c97c8a091b5"),
        ("X-Shopify-Api-Version", "2025-01"),
        ("X-Shopify-Triggered-At", "2025-01-10T16:00:00.123Z"),
        (
            "X-Shopify-Hmac-Sha256",
            "XWmrwMey6OsLMeiZKwP4FppHH3cmAiiJJAweH5Jo4bM=",
        ),
    ])
}

fn with_header(mut h: HeaderMap, name: &'static str, value: HeaderValue) -> HeaderMap {
    h.insert(name, value);
    h
}

// ---------------------------------------------------------------------------------------
// fixtures
// ---------------------------------------------------------------------------------------

#[test]
fn order_fixture_parses_for_every_order_topic() {
    for topic in ORDER_TOPICS {
        let event = parse_event(topic, crate::wire::shopify::fixtures::sample(topic))
            .unwrap_or_else(|e| panic!("{} should parse: {e}", topic.as_str()));
        assert_eq!(event.topic(), topic);
        let Event::Order(_, o) = event else {
            panic!("{} should give an order event", topic.as_str())
        };
        assert_eq!(o.id, 450789469);
        assert_eq!(o.line_items.len(), 3);
    }
}

#[test]
fn order_fixture_values_are_read_exactly() {
    let o = expect_order(Topic::OrdersPaid, ORDER_JSON);
    assert_eq!(o.id, 450789469);
    assert_eq!(o.name.as_deref(), Some("#1001"));
    assert_eq!(o.email.as_deref(), Some("bob.norman@hostmail.com"));
    assert_eq!(o.currency.as_deref(), Some("USD"));
    assert_eq!(o.financial_status.as_deref(), Some("authorized"));
    assert!(!o.is_paid(), "authorized is not yet captured");
    assert_eq!(o.fulfillment_status, None);
    assert!(!o.test);
    assert!(!o.buyer_accepts_marketing);
    assert_eq!(o.cancelled_at, None);
    assert_eq!(
        o.admin_graphql_api_id, None,
        "older API version: field absent"
    );
}

#[test]
fn order_fixture_money_is_exact_decimal_with_its_scale() {
    let o = expect_order(Topic::OrdersCreate, ORDER_JSON);
    let total = o.total_price.expect("total_price");
    assert_eq!(total, dec("409.94"));
    assert_eq!(total.to_string(), "409.94");
    assert_eq!(total.scale(), 2);
    assert_eq!(
        o.subtotal_price.map(|d| d.to_string()).as_deref(),
        Some("398.00")
    );
    assert_eq!(
        o.total_discounts.map(|d| d.to_string()).as_deref(),
        Some("0.00")
    );
}

#[test]
fn order_fixture_created_at_keeps_its_minus_five_offset() {
    let o = expect_order(Topic::OrdersCreate, ORDER_JSON);
    assert_eq!(o.created_at.offset().local_minus_utc(), -5 * 3600);
    assert_eq!(
        o.created_at.with_timezone(&Utc),
        Utc.with_ymd_and_hms(2008, 1, 10, 16, 0, 0).unwrap()
    );
    assert_eq!(o.created_at.to_rfc3339(), "2008-01-10T11:00:00-05:00");
}

#[test]
fn order_fixture_line_items_keep_order_ids_and_prices() {
    let o = expect_order(Topic::OrdersCreate, ORDER_JSON);
    let ids: Vec<u64> = o.line_items.iter().map(|l| l.id).collect();
    assert_eq!(ids, [466157049, 518995019, 703073504]);
    let variants: Vec<Option<u64>> = o.line_items.iter().map(|l| l.variant_id).collect();
    assert_eq!(variants, [Some(39072856), Some(49148385), Some(457924702)]);
    for l in &o.line_items {
        assert_eq!(l.product_id, Some(632910392));
        assert_eq!(l.title, "IPod Nano - 8gb");
        assert_eq!(l.quantity, 1);
        assert_eq!(l.price, Some(dec("199.00")));
        assert!(!l.gift_card);
    }
    assert_eq!(o.line_items[0].sku.as_deref(), Some("IPOD2008GREEN"));
    assert_eq!(o.line_items[1].variant_title.as_deref(), Some("red"));
}

#[test]
fn order_fixture_discount_code_is_tenoff() {
    let o = expect_order(Topic::OrdersCreate, ORDER_JSON);
    assert_eq!(o.discount_codes.len(), 1);
    assert_eq!(o.discount_codes[0].code, "TENOFF");
    assert_eq!(o.discount_codes[0].amount, Some(dec("10.00")));
    assert_eq!(o.discount_codes[0].kind, None);
}

#[test]
fn order_fixture_customer_is_embedded() {
    let o = expect_order(Topic::OrdersCreate, ORDER_JSON);
    let c = o.customer.as_ref().expect("customer");
    assert_eq!(c.id, 207119551);
    assert_eq!(c.email.as_deref(), Some("bob.norman@hostmail.com"));
    assert_eq!(c.first_name.as_deref(), Some("Bob"));
    assert_eq!(o.recipient_email(), Some("bob.norman@hostmail.com"));
}

#[test]
fn fulfillment_fixture_parses_for_create_and_update() {
    for topic in [Topic::FulfillmentsCreate, Topic::FulfillmentsUpdate] {
        let event = parse_event(topic, FULFILLMENT_JSON)
            .unwrap_or_else(|e| panic!("{} should parse: {e}", topic.as_str()));
        assert_eq!(event.topic(), topic);
        let Event::Fulfillment(t, f) = event else {
            panic!("{} should give a fulfillment event", topic.as_str())
        };
        assert_eq!(t, topic);
        assert_eq!(f.id, 255858046);
        assert_eq!(f.order_id, 450789469);
        assert_eq!(f.status.as_deref(), Some("pending"));
        assert_eq!(f.shipment_status, None);
        assert_eq!(f.updated_at, Some(ts("2013-11-01T16:06:08-04:00")));
        assert_eq!(f.line_items.len(), 1);
        assert_eq!(f.line_items[0].id, 466157049);
        assert_eq!(f.line_items[0].product_id, Some(632910392));
        assert_eq!(f.line_items[0].variant_id, Some(39072856));
        assert_eq!(f.line_items[0].quantity, 1);
    }
}

#[test]
fn fulfillment_event_fixture_parses_with_ids_above_2_pow_32() {
    let event = parse_event(Topic::FulfillmentEventsCreate, FULFILLMENT_EVENT_JSON).unwrap();
    assert_eq!(event.topic(), Topic::FulfillmentEventsCreate);
    let Event::FulfillmentEvent(e) = event else {
        panic!("expected a fulfillment event")
    };
    assert_eq!(e.id, 12584341209251);
    assert_eq!(e.fulfillment_id, 2608403447971);
    assert_eq!(e.order_id, 2776493818019);
    assert_eq!(e.status, "label_printed");
    assert_eq!(e.happened_at, Some(ts("2021-01-25T16:32:23-05:00")));
    assert_eq!(e.created_at, Some(ts("2021-01-25T16:32:23-05:00")));
}

#[test]
fn refund_fixture_parses_with_two_refund_line_items() {
    let event = parse_event(Topic::RefundsCreate, REFUND_JSON).unwrap();
    assert_eq!(event.topic(), Topic::RefundsCreate);
    let Event::Refund(r) = event else {
        panic!("expected a refund event")
    };
    assert_eq!(r.id, 509562969);
    assert_eq!(r.order_id, 450789469);
    assert!(r.restock);
    assert_eq!(r.created_at, Some(ts("2016-06-20T13:35:06-04:00")));
    assert_eq!(r.refund_line_items.len(), 2);
    let line_item_ids: Vec<u64> = r.refund_line_items.iter().map(|l| l.line_item_id).collect();
    assert_eq!(line_item_ids, [703073504, 466157049]);
    for rl in &r.refund_line_items {
        assert_eq!(rl.quantity, 1);
        let li = rl.line_item.as_ref().expect("embedded line item");
        assert_eq!(li.id, rl.line_item_id);
        assert_eq!(li.product_id, Some(632910392));
        assert_eq!(li.quantity, 1);
    }
    assert_eq!(
        r.refund_line_items[0]
            .line_item
            .as_ref()
            .unwrap()
            .variant_id,
        Some(457924702)
    );
}

#[test]
fn customer_fixture_deserializes_as_customer() {
    let c: Customer = serde_json::from_slice(CUSTOMER_JSON).unwrap();
    assert_eq!(c.id, 207119551);
    assert_eq!(c.email.as_deref(), Some("bob.norman@hostmail.com"));
    assert_eq!(c.first_name.as_deref(), Some("Bob"));
    assert_eq!(c.locale, None);
}

/// The fixtures README's table: each sample file and the webhook topics it arrives under
/// (`| order.json | orders/create, orders/paid, … |`).
fn readme_topics(readme: &str) -> Vec<(String, Vec<String>)> {
    readme
        .lines()
        .filter_map(|line| {
            let mut cells = line.trim().strip_prefix('|')?.split('|').map(str::trim);
            let file = cells.next()?.to_owned();
            let topics = cells.next()?;
            file.ends_with(".json").then(|| {
                // A topic may carry a remark: "fulfillment_events/create (status …)".
                let topics = topics
                    .split(',')
                    .filter_map(|t| t.split_whitespace().next())
                    .map(str::to_owned)
                    .collect();
                (file, topics)
            })
        })
        .collect()
}

#[test]
fn every_shopify_fixture_in_the_directory_parses_for_each_of_its_topics() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/shopify");
    let readme = std::fs::read_to_string(dir.join("README.md")).expect("fixtures README");
    let mapping = readme_topics(&readme);
    assert!(!mapping.is_empty(), "no file table in the fixtures README");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").file_name())
        .map(|name| name.to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".json"))
        .collect();
    files.sort();
    for (listed, _) in &mapping {
        assert!(
            files.contains(listed),
            "the README lists {listed}, which is missing"
        );
    }
    for file in &files {
        let Some((_, topics)) = mapping.iter().find(|(f, _)| f == file) else {
            panic!("{file}: add it, with the topics it arrives under, to the fixtures README");
        };
        let body = std::fs::read(dir.join(file)).expect("readable fixture");
        let handled = topics.iter().filter(|t| Topic::parse(t).is_some()).count();
        for topic in topics {
            match Topic::parse(topic) {
                Some(t) => {
                    parse_event(t, &body).unwrap_or_else(|e| panic!("{file} as {topic}: {e}"));
                }
                // Not a topic Aftercart acts on (the webhook answers 200 and ignores it),
                // but customers/* carry the customer an order embeds: that must read.
                None if topic.starts_with("customers/") => {
                    serde_json::from_slice::<Customer>(&body)
                        .unwrap_or_else(|e| panic!("{file} as the embedded customer: {e}"));
                }
                // e.g. orders/updated: ignored, and the same shape is parsed above.
                None => assert!(
                    handled > 0,
                    "{file}: {topic} is ignored, and so are the others"
                ),
            }
        }
    }
}

#[test]
fn every_topic_sample_in_the_directory_is_the_sample_of_a_topic() {
    // `fixtures/topics/` holds our own samples of the topics the Shopify set lacks; each
    // must be wired to its topic in `fixtures::sample` (whose test parses them all).
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/topics");
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("directory entry").path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let body = std::fs::read(&path).expect("readable fixture");
        assert!(
            Topic::ALL
                .iter()
                .any(|t| crate::wire::shopify::fixtures::sample(*t) == body.as_slice()),
            "{}: not the sample of any topic in fixtures::sample",
            path.display()
        );
    }
}

#[test]
fn signed_order_fixture_verifies_then_parses() {
    let secrets = [secrecy::SecretString::from("shpss_test_secret".to_owned())];
    let sig = crate::wire::verify::sign_webhook(ORDER_JSON, &secrets[0]);
    assert_eq!(
        crate::wire::verify::verify_webhook(ORDER_JSON, Some(&sig), &secrets),
        Ok(())
    );
    let o = expect_order(Topic::OrdersPaid, ORDER_JSON);
    assert_eq!(o.id, 450789469);
}

// ---------------------------------------------------------------------------------------
// orders: guest checkouts and recipients
// ---------------------------------------------------------------------------------------

#[test]
fn guest_order_without_customer_key_has_no_customer() {
    let mut v = minimal_order();
    v["email"] = json!("guest@example.com");
    let o = parse_order(&v).unwrap();
    assert!(o.customer.is_none());
}

#[test]
fn guest_order_with_null_customer_has_no_customer() {
    let mut v = minimal_order();
    v["customer"] = Value::Null;
    v["email"] = json!("guest@example.com");
    let o = parse_order(&v).unwrap();
    assert!(o.customer.is_none());
}

#[test]
fn guest_order_recipient_falls_back_to_order_email() {
    let mut v = minimal_order();
    v["customer"] = Value::Null;
    v["email"] = json!("guest@example.com");
    v["contact_email"] = json!("contact@example.com");
    assert_eq!(
        parse_order(&v).unwrap().recipient_email(),
        Some("guest@example.com")
    );
}

#[test]
fn guest_order_recipient_falls_back_to_contact_email() {
    let mut v = minimal_order();
    v["email"] = Value::Null;
    v["contact_email"] = json!("contact@example.com");
    assert_eq!(
        parse_order(&v).unwrap().recipient_email(),
        Some("contact@example.com")
    );
}

#[test]
fn customer_without_email_falls_back_to_order_email() {
    let mut v = minimal_order();
    v["customer"] = json!({ "id": 5, "email": null });
    v["email"] = json!("order@example.com");
    assert_eq!(
        parse_order(&v).unwrap().recipient_email(),
        Some("order@example.com")
    );
}

#[test]
fn customer_email_wins_over_order_email() {
    let mut v = minimal_order();
    v["customer"] = json!({ "id": 5, "email": "customer@example.com" });
    v["email"] = json!("order@example.com");
    assert_eq!(
        parse_order(&v).unwrap().recipient_email(),
        Some("customer@example.com")
    );
}

#[test]
fn order_without_any_email_has_no_recipient() {
    let o = parse_order(&minimal_order()).unwrap();
    assert_eq!(o.recipient_email(), None);
}

#[test]
fn blank_order_email_is_no_recipient() {
    let mut v = minimal_order();
    v["email"] = json!("   ");
    assert_eq!(parse_order(&v).unwrap().recipient_email(), None);
}

#[test]
fn blank_customer_email_falls_back_to_order_email() {
    let mut v = minimal_order();
    v["customer"] = json!({ "id": 5, "email": "" });
    v["email"] = json!("order@example.com");
    assert_eq!(
        parse_order(&v).unwrap().recipient_email(),
        Some("order@example.com")
    );
}

#[test]
fn blank_order_email_falls_back_to_contact_email() {
    let mut v = minimal_order();
    v["email"] = json!("");
    v["contact_email"] = json!("contact@example.com");
    assert_eq!(
        parse_order(&v).unwrap().recipient_email(),
        Some("contact@example.com")
    );
}

// ---------------------------------------------------------------------------------------
// orders: line items
// ---------------------------------------------------------------------------------------

#[test]
fn custom_line_item_without_product_id_parses_as_none() {
    let v = order_with_line_items(vec![json!({
        "id": 1, "title": "Gift wrapping", "quantity": 1, "price": "5.00"
    })]);
    let o = parse_order(&v).unwrap();
    assert_eq!(o.line_items[0].product_id, None);
    assert_eq!(o.line_items[0].variant_id, None);
    assert_eq!(o.line_items[0].title, "Gift wrapping");
}

#[test]
fn custom_line_item_with_null_product_id_parses_as_none() {
    let v = order_with_line_items(vec![json!({
        "id": 1, "product_id": null, "variant_id": null, "sku": null,
        "title": "Engraving", "quantity": 1, "price": "12.50"
    })]);
    let o = parse_order(&v).unwrap();
    assert_eq!(o.line_items[0].product_id, None);
    assert_eq!(o.line_items[0].variant_id, None);
    assert_eq!(o.line_items[0].sku, None);
}

#[test]
fn null_quantity_title_and_gift_card_read_as_defaults() {
    let v = order_with_line_items(vec![json!({
        "id": 1, "title": null, "quantity": null, "gift_card": null, "price": null
    })]);
    let li = &parse_order(&v).unwrap().line_items[0];
    assert_eq!(li.title, "");
    assert_eq!(li.quantity, 0);
    assert!(!li.gift_card);
    assert_eq!(li.price, None);
}

#[test]
fn two_hundred_fifty_line_items_parse_in_order() {
    let items: Vec<Value> = (0..250).map(line_item).collect();
    let o = parse_order(&order_with_line_items(items)).unwrap();
    assert_eq!(o.line_items.len(), 250);
    for (i, li) in o.line_items.iter().enumerate() {
        let i = i as u64;
        assert_eq!(li.id, 10_000 + i);
        assert_eq!(li.product_id, Some(20_000 + i));
        assert_eq!(li.sku.as_deref(), Some(format!("SKU-{i}").as_str()));
        assert_eq!(li.quantity as u64, 1 + i % 5);
        assert_eq!(li.price, Some(dec(&format!("{}.{:02}", i, i % 100))));
    }
}

#[test]
fn non_ascii_names_and_titles_survive_exactly() {
    let title = "Crème brûlée – 日本語 🎁";
    let mut v = order_with_line_items(vec![json!({
        "id": 1, "title": title, "variant_title": "Größe M", "quantity": 1
    })]);
    v["name"] = json!("#Ünïcødé-1001");
    v["customer"] = json!({ "id": 7, "first_name": "Zoë", "email": "zoë@exämple.com" });
    let o = parse_order(&v).unwrap();
    assert_eq!(o.line_items[0].title, title);
    assert_eq!(o.line_items[0].variant_title.as_deref(), Some("Größe M"));
    assert_eq!(o.name.as_deref(), Some("#Ünïcødé-1001"));
    let c = o.customer.as_ref().unwrap();
    assert_eq!(c.first_name.as_deref(), Some("Zoë"));
    assert_eq!(o.recipient_email(), Some("zoë@exämple.com"));
}

#[test]
fn json_unicode_escapes_decode_to_the_same_text() {
    // Shopify may escape non-ASCII; "\u00eb" is ë and "\ud83c\udf81" is the gift emoji.
    let raw = br#"{"id":1,"created_at":"2024-03-01T10:00:00Z",
        "customer":{"id":7,"first_name":"Zo\u00eb"},
        "line_items":[{"id":1,"title":"Cr\u00e8me br\u00fbl\u00e9e \u2013 \u65e5\u672c\u8a9e \ud83c\udf81"}]}"#;
    let o = expect_order(Topic::OrdersCreate, raw);
    assert_eq!(o.customer.unwrap().first_name.as_deref(), Some("Zoë"));
    assert_eq!(o.line_items[0].title, "Crème brûlée – 日本語 🎁");
}

// ---------------------------------------------------------------------------------------
// ids
// ---------------------------------------------------------------------------------------

#[test]
fn u64_max_id_parses_exactly_as_integer() {
    let raw = br#"{"id":18446744073709551615,"created_at":"2024-03-01T10:00:00Z","line_items":[]}"#;
    assert_eq!(expect_order(Topic::OrdersCreate, raw).id, u64::MAX);
}

#[test]
fn u64_max_id_parses_exactly_as_string() {
    let raw =
        br#"{"id":"18446744073709551615","created_at":"2024-03-01T10:00:00Z","line_items":[]}"#;
    assert_eq!(expect_order(Topic::OrdersCreate, raw).id, u64::MAX);
}

#[test]
fn id_above_2_pow_53_parses_exactly_as_integer() {
    // 2^53 + 1 has no f64 representation: reading it through a float would give 2^53.
    let raw = br#"{"id":9007199254740993,"created_at":"2024-03-01T10:00:00Z",
        "line_items":[{"id":9007199254740993,"product_id":9007199254740993,"variant_id":9007199254740995}],
        "customer":{"id":9007199254740993}}"#;
    let o = expect_order(Topic::OrdersCreate, raw);
    assert_eq!(o.id, 9_007_199_254_740_993);
    assert_eq!(o.line_items[0].id, 9_007_199_254_740_993);
    assert_eq!(o.line_items[0].product_id, Some(9_007_199_254_740_993));
    assert_eq!(o.line_items[0].variant_id, Some(9_007_199_254_740_995));
    assert_eq!(o.customer.unwrap().id, 9_007_199_254_740_993);
}

#[test]
fn id_above_2_pow_53_parses_exactly_as_string() {
    let raw = br#"{"id":"9007199254740993","created_at":"2024-03-01T10:00:00Z",
        "line_items":[{"id":"9007199254740993","product_id":"9007199254740993"}],
        "customer":{"id":"9007199254740993"}}"#;
    let o = expect_order(Topic::OrdersCreate, raw);
    assert_eq!(o.id, 9_007_199_254_740_993);
    assert_eq!(o.line_items[0].id, 9_007_199_254_740_993);
    assert_eq!(o.line_items[0].product_id, Some(9_007_199_254_740_993));
    assert_eq!(o.customer.unwrap().id, 9_007_199_254_740_993);
}

#[test]
fn id_beyond_u64_max_is_rejected() {
    let raw = br#"{"id":18446744073709551616,"created_at":"2024-03-01T10:00:00Z","line_items":[]}"#;
    let e = parse_event(Topic::OrdersCreate, raw).unwrap_err();
    assert!(e.message.starts_with("id: "), "{}", e.message);
}

#[test]
fn id_string_beyond_u64_max_is_rejected() {
    let raw =
        br#"{"id":"18446744073709551616","created_at":"2024-03-01T10:00:00Z","line_items":[]}"#;
    let e = parse_event(Topic::OrdersCreate, raw).unwrap_err();
    assert!(e.message.starts_with("id: "), "{}", e.message);
}

#[test]
fn float_order_id_is_rejected_naming_id() {
    let mut v = minimal_order();
    v["id"] = json!(1.5);
    let e = parse_order_err(&v);
    assert!(e.message.starts_with("id: "), "{}", e.message);
    assert!(e.message.contains("floating point"), "{}", e.message);
}

#[test]
fn integral_float_id_is_rejected() {
    // `450789469.0` has lost the guarantee of exactness just as 1.5 has.
    let raw = br#"{"id":450789469.0,"created_at":"2024-03-01T10:00:00Z","line_items":[]}"#;
    let e = parse_event(Topic::OrdersCreate, raw).unwrap_err();
    assert!(e.message.starts_with("id: "), "{}", e.message);
}

#[test]
fn float_product_id_is_rejected_naming_its_path() {
    let v = order_with_line_items(vec![json!({ "id": 1, "product_id": 1.5 })]);
    let e = parse_order_err(&v);
    assert!(
        e.message.contains("line_items[0].product_id"),
        "{}",
        e.message
    );
}

#[test]
fn negative_order_id_is_rejected_naming_id() {
    let mut v = minimal_order();
    v["id"] = json!(-1);
    let e = parse_order_err(&v);
    assert!(e.message.starts_with("id: "), "{}", e.message);
    assert!(e.message.contains("-1"), "{}", e.message);
}

#[test]
fn negative_product_id_is_rejected_naming_its_path() {
    let v = order_with_line_items(vec![json!({ "id": 1, "product_id": -632910392 })]);
    let e = parse_order_err(&v);
    assert!(
        e.message.contains("line_items[0].product_id"),
        "{}",
        e.message
    );
}

#[test]
fn non_digit_id_string_is_rejected() {
    for bad in ["", "abc", "12a", "-5", " 5", "1.0", "gid://shopify/Order/1"] {
        let mut v = minimal_order();
        v["id"] = json!(bad);
        let e = parse_order_err(&v);
        assert!(e.message.starts_with("id: "), "{bad:?}: {}", e.message);
    }
}

#[test]
fn boolean_id_is_rejected() {
    let mut v = minimal_order();
    v["id"] = json!(true);
    assert!(parse_order_err(&v).message.starts_with("id: "));
}

// ---------------------------------------------------------------------------------------
// money
// ---------------------------------------------------------------------------------------

#[test]
fn float_money_is_rejected_naming_the_field() {
    let raw =
        br#"{"id":1,"created_at":"2024-03-01T10:00:00Z","line_items":[],"total_price":409.94}"#;
    let e = parse_event(Topic::OrdersPaid, raw).unwrap_err();
    assert!(e.message.starts_with("total_price: "), "{}", e.message);
    assert!(e.message.contains("floating point"), "{}", e.message);
}

#[test]
fn float_line_item_price_is_rejected_naming_its_path() {
    let v = order_with_line_items(vec![json!({ "id": 1 }), json!({ "id": 2, "price": 19.99 })]);
    let e = parse_order_err(&v);
    assert!(e.message.contains("line_items[1].price"), "{}", e.message);
}

#[test]
fn integer_money_is_accepted() {
    let mut v = minimal_order();
    v["total_price"] = json!(410);
    assert_eq!(parse_order(&v).unwrap().total_price, Some(dec("410")));
}

#[test]
fn money_decimal_strings_add_up_exactly() {
    let v = order_with_line_items(vec![
        json!({ "id": 1, "price": "0.1" }),
        json!({ "id": 2, "price": "0.2" }),
    ]);
    let o = parse_order(&v).unwrap();
    let sum: Decimal = o.line_items.iter().filter_map(|l| l.price).sum();
    assert_eq!(sum, dec("0.3"));
    assert_eq!(sum.to_string(), "0.3");
}

#[test]
fn money_with_many_decimals_is_kept_exactly() {
    let mut v = minimal_order();
    v["total_price"] = json!("12345.6789012345678901234");
    let p = parse_order(&v).unwrap().total_price.unwrap();
    assert_eq!(p.to_string(), "12345.6789012345678901234");
}

#[test]
fn money_that_cannot_be_held_exactly_is_rejected() {
    // 29 decimal places: beyond rust_decimal's 28, so it can only be rounded.
    let mut v = minimal_order();
    v["total_price"] = json!("0.12345678901234567890123456789");
    let e = parse_order_err(&v);
    assert!(e.message.starts_with("total_price: "), "{}", e.message);
}

#[test]
fn money_with_surrounding_whitespace_is_accepted() {
    let mut v = minimal_order();
    v["total_price"] = json!(" 409.94 ");
    assert_eq!(
        parse_order(&v)
            .unwrap()
            .total_price
            .map(|d| d.to_string())
            .as_deref(),
        Some("409.94")
    );
}

#[test]
fn null_money_reads_as_none() {
    let mut v = minimal_order();
    v["total_price"] = Value::Null;
    assert_eq!(parse_order(&v).unwrap().total_price, None);
}

#[test]
fn non_numeric_money_string_is_rejected_naming_the_field() {
    let mut v = minimal_order();
    v["total_discounts"] = json!("ten dollars");
    let e = parse_order_err(&v);
    assert!(e.message.starts_with("total_discounts: "), "{}", e.message);
}

// ---------------------------------------------------------------------------------------
// tolerated shapes
// ---------------------------------------------------------------------------------------

#[test]
fn null_lists_read_as_empty() {
    let mut v = minimal_order();
    v["discount_codes"] = Value::Null;
    v["line_items"] = Value::Null;
    let o = parse_order(&v).unwrap();
    assert!(o.discount_codes.is_empty());
    assert!(o.line_items.is_empty());
}

#[test]
fn null_flags_read_as_false() {
    let mut v = minimal_order();
    v["test"] = Value::Null;
    v["buyer_accepts_marketing"] = Value::Null;
    let o = parse_order(&v).unwrap();
    assert!(!o.test);
    assert!(!o.buyer_accepts_marketing);
}

#[test]
fn unknown_fields_are_ignored_at_every_level() {
    let mut v = order_with_line_items(vec![json!({
        "id": 1, "brand_new_field": { "nested": [1, 2.5, null] }, "price_set": {}
    })]);
    v["current_total_price_set"] = json!({ "shop_money": { "amount": "1.00" } });
    v["some_float"] = json!(1.5);
    v["customer"] = json!({ "id": 2, "tags": "vip", "default_address": {} });
    v["discount_codes"] = json!([{ "code": "X", "extra": true }]);
    let o = parse_order(&v).unwrap();
    assert_eq!(o.line_items[0].id, 1);
    assert_eq!(o.customer.unwrap().id, 2);
    assert_eq!(o.discount_codes[0].code, "X");
}

#[test]
fn missing_optional_fields_are_fine() {
    let o = parse_order(&minimal_order()).unwrap();
    assert_eq!(o.id, 1001);
    assert_eq!(o.name, None);
    assert_eq!(o.email, None);
    assert_eq!(o.updated_at, None);
    assert_eq!(o.total_price, None);
    assert_eq!(o.financial_status, None);
    assert!(o.line_items.is_empty());
    assert!(o.discount_codes.is_empty());
    assert!(o.customer.is_none());
    assert!(!o.is_paid());
}

#[test]
fn version_time_falls_back_to_created_at() {
    let o = parse_order(&minimal_order()).unwrap();
    assert_eq!(o.version_time(), o.created_at);
}

#[test]
fn paid_financial_statuses_count_as_paid() {
    for (status, paid) in [
        ("paid", true),
        ("partially_paid", true),
        ("partially_refunded", true),
        ("refunded", true),
        ("authorized", false),
        ("pending", false),
        ("voided", false),
        ("expired", false),
    ] {
        let mut v = minimal_order();
        v["financial_status"] = json!(status);
        assert_eq!(parse_order(&v).unwrap().is_paid(), paid, "{status}");
    }
}

// ---------------------------------------------------------------------------------------
// parse errors
// ---------------------------------------------------------------------------------------

#[test]
fn non_json_body_is_a_parse_error_naming_the_topic() {
    let e = parse_event(Topic::OrdersPaid, b"this is not json").unwrap_err();
    assert_eq!(e.topic, "orders/paid");
    assert!(e.to_string().contains("orders/paid"), "{e}");
}

#[test]
fn empty_body_is_a_parse_error() {
    for topic in Topic::ALL {
        let e = parse_event(topic, b"").unwrap_err();
        assert_eq!(e.topic, topic.as_str());
    }
}

#[test]
fn json_array_body_is_a_parse_error() {
    let e = parse_event(Topic::RefundsCreate, b"[]").unwrap_err();
    assert_eq!(e.topic, "refunds/create");
}

#[test]
fn truncated_body_is_a_parse_error() {
    let cut = &ORDER_JSON[..ORDER_JSON.len() / 2];
    assert!(parse_event(Topic::OrdersCreate, cut).is_err());
}

#[test]
fn missing_created_at_is_named() {
    let e = parse_order_err(&json!({ "id": 1 }));
    assert!(e.message.contains("created_at"), "{}", e.message);
}

#[test]
fn invalid_created_at_is_named() {
    let mut v = minimal_order();
    v["created_at"] = json!("10/01/2008");
    let e = parse_order_err(&v);
    assert!(e.message.starts_with("created_at: "), "{}", e.message);
}

#[test]
fn missing_order_id_is_named() {
    let e = parse_order_err(&json!({ "created_at": "2024-03-01T10:00:00Z" }));
    assert!(e.message.contains("`id`"), "{}", e.message);
}

#[test]
fn missing_line_item_id_names_the_line_item() {
    let v = order_with_line_items(vec![json!({ "id": 1 }), json!({ "title": "no id" })]);
    let e = parse_order_err(&v);
    assert!(e.message.contains("line_items[1]"), "{}", e.message);
    assert!(e.message.contains("`id`"), "{}", e.message);
}

#[test]
fn wrong_type_deep_inside_names_its_path() {
    let mut items: Vec<Value> = (0..5).map(line_item).collect();
    items[3]["quantity"] = json!("two");
    let e = parse_order_err(&order_with_line_items(items));
    assert!(
        e.message.starts_with("line_items[3].quantity: "),
        "{}",
        e.message
    );
}

#[test]
fn negative_quantity_is_rejected_naming_its_path() {
    let v = order_with_line_items(vec![json!({ "id": 1, "quantity": -1 })]);
    let e = parse_order_err(&v);
    assert!(
        e.message.contains("line_items[0].quantity"),
        "{}",
        e.message
    );
}

#[test]
fn wrong_type_in_customer_names_its_path() {
    let mut v = minimal_order();
    v["customer"] = json!({ "id": 1.25 });
    let e = parse_order_err(&v);
    assert!(e.message.starts_with("customer.id: "), "{}", e.message);
}

#[test]
fn parse_error_does_not_echo_other_body_values() {
    let mut v = order_with_line_items(vec![json!({ "id": 1, "quantity": "two" })]);
    v["email"] = json!("private.person@example.com");
    v["customer"] =
        json!({ "id": 2, "first_name": "Private", "email": "private.person@example.com" });
    let e = parse_order_err(&v);
    let shown = format!("{e} {e:?}");
    assert!(!shown.contains("private.person"), "{shown}");
    assert!(!shown.contains("Private"), "{shown}");
}

#[test]
fn parse_error_elides_the_offending_string_value() {
    let v = order_with_line_items(vec![json!({ "id": 1, "quantity": "call 555-0100" })]);
    let e = parse_order_err(&v);
    assert!(
        e.message.starts_with("line_items[0].quantity: "),
        "{}",
        e.message
    );
    assert!(!e.message.contains("555-0100"), "{}", e.message);
}

#[test]
fn fulfillment_without_order_id_is_rejected() {
    let e = parse_event(Topic::FulfillmentsUpdate, br#"{"id":1}"#).unwrap_err();
    assert_eq!(e.topic, "fulfillments/update");
    assert!(e.message.contains("order_id"), "{}", e.message);
}

// ---------------------------------------------------------------------------------------
// consent
// ---------------------------------------------------------------------------------------

fn consent_body(state: &str) -> Vec<u8> {
    body(&json!({
        "customer_id": 706405506930370084_u64,
        "email_address": "bob@biller.com",
        "email_marketing_consent": {
            "state": state,
            "opt_in_level": "confirmed_opt_in",
            "consent_updated_at": "2024-05-01T12:30:00-04:00"
        }
    }))
}

fn expect_consent(b: &[u8]) -> ConsentUpdate {
    match parse_event(Topic::EmailConsentUpdate, b) {
        Ok(Event::Consent(c)) => c,
        other => panic!("expected a consent event, got {other:?}"),
    }
}

#[test]
fn consent_update_parses() {
    let c = expect_consent(&consent_body("subscribed"));
    assert_eq!(c.customer_id, 706405506930370084);
    assert_eq!(c.email_address.as_deref(), Some("bob@biller.com"));
    let m = c.email_marketing_consent.as_ref().unwrap();
    assert_eq!(m.state, "subscribed");
    assert_eq!(m.opt_in_level.as_deref(), Some("confirmed_opt_in"));
    assert_eq!(m.consent_updated_at, Some(ts("2024-05-01T12:30:00-04:00")));
}

#[test]
fn consent_allows_marketing_only_when_subscribed() {
    let cases = [
        ("subscribed", true),
        ("not_subscribed", false),
        ("unsubscribed", false),
        ("pending", false),
        ("redacted", false),
        ("invalid", false),
        ("SUBSCRIBED", false),
        ("", false),
    ];
    for (state, allowed) in cases {
        let c = expect_consent(&consent_body(state));
        assert_eq!(
            c.email_marketing_consent.unwrap().allows_marketing(),
            allowed,
            "state {state:?}"
        );
    }
}

#[test]
fn consent_with_null_consent_object_parses() {
    let c =
        expect_consent(br#"{"customer_id":1,"email_address":null,"email_marketing_consent":null}"#);
    assert!(c.email_marketing_consent.is_none());
    assert!(c.email_address.is_none());
}

#[test]
fn consent_with_null_optional_consent_fields_parses() {
    let c = expect_consent(
        br#"{"customer_id":"1","email_marketing_consent":{"state":"pending","opt_in_level":null,"consent_updated_at":null}}"#,
    );
    let m = c.email_marketing_consent.unwrap();
    assert_eq!(m.state, "pending");
    assert!(!m.allows_marketing());
    assert_eq!(m.consent_updated_at, None);
}

// ---------------------------------------------------------------------------------------
// compliance and app lifecycle
// ---------------------------------------------------------------------------------------

#[test]
fn customers_data_request_parses() {
    let raw = br#"{"shop_id":954889,"shop_domain":"x.myshopify.com","orders_requested":[299938,280263],
        "customer":{"id":191167,"email":"john@example.com","phone":"555-625-1199"},"data_request":{"id":9999}}"#;
    let Event::DataRequest(d) = parse_event(Topic::CustomersDataRequest, raw).unwrap() else {
        panic!("expected a data request")
    };
    assert_eq!(d.shop_id, Some(954889));
    assert_eq!(d.shop_domain.as_deref(), Some("x.myshopify.com"));
    assert_eq!(d.orders_requested, [299938, 280263]);
    assert_eq!(d.customer.id, Some(191167));
    assert_eq!(d.customer.email.as_deref(), Some("john@example.com"));
    assert_eq!(d.customer.phone.as_deref(), Some("555-625-1199"));
    assert_eq!(d.data_request.id, 9999);
}

#[test]
fn customers_data_request_with_null_orders_reads_as_empty() {
    let raw = br#"{"shop_id":954889,"shop_domain":"x.myshopify.com","orders_requested":null,
        "customer":{"id":null,"email":"john@example.com","phone":null},"data_request":{"id":"9999"}}"#;
    let Event::DataRequest(d) = parse_event(Topic::CustomersDataRequest, raw).unwrap() else {
        panic!("expected a data request")
    };
    assert!(d.orders_requested.is_empty());
    assert_eq!(d.customer.id, None);
    assert_eq!(d.data_request.id, 9999);
}

#[test]
fn customers_data_request_float_order_id_names_its_path() {
    let raw =
        br#"{"shop_id":954889,"shop_domain":"x.myshopify.com","orders_requested":[299938,2.5],
        "customer":{"id":191167},"data_request":{"id":9999}}"#;
    let e = parse_event(Topic::CustomersDataRequest, raw).unwrap_err();
    assert!(e.message.contains("orders_requested[1]"), "{}", e.message);
}

#[test]
fn customers_redact_parses() {
    let raw = br#"{"shop_id":954889,"shop_domain":"x.myshopify.com",
        "customer":{"id":191167,"email":"john@example.com","phone":"555-625-1199"},
        "orders_to_redact":[299938,280263,220458]}"#;
    let Event::CustomerRedact(r) = parse_event(Topic::CustomersRedact, raw).unwrap() else {
        panic!("expected a customer redact")
    };
    assert_eq!(r.shop_id, Some(954889));
    assert_eq!(r.shop_domain.as_deref(), Some("x.myshopify.com"));
    assert_eq!(r.customer.id, Some(191167));
    assert_eq!(r.customer.email.as_deref(), Some("john@example.com"));
    assert_eq!(r.orders_to_redact, [299938, 280263, 220458]);
}

#[test]
fn customers_redact_with_string_order_ids_parses() {
    let raw = br#"{"shop_id":"954889","shop_domain":"x.myshopify.com","customer":{"id":"9007199254740993"},
        "orders_to_redact":["9007199254740993",18446744073709551615]}"#;
    let Event::CustomerRedact(r) = parse_event(Topic::CustomersRedact, raw).unwrap() else {
        panic!("expected a customer redact")
    };
    assert_eq!(r.shop_id, Some(954889));
    assert_eq!(r.customer.id, Some(9_007_199_254_740_993));
    assert_eq!(r.orders_to_redact, [9_007_199_254_740_993, u64::MAX]);
}

#[test]
fn shop_redact_parses() {
    let raw = br#"{"shop_id":954889,"shop_domain":"x.myshopify.com"}"#;
    let Event::ShopRedact(s) = parse_event(Topic::ShopRedact, raw).unwrap() else {
        panic!("expected a shop redact")
    };
    assert_eq!(s.shop_id, Some(954889));
    assert_eq!(s.shop_domain.as_deref(), Some("x.myshopify.com"));
}

#[test]
fn app_uninstalled_shop_object_parses() {
    let raw: &[u8] = br#"{
        "id": 548380009,
        "name": "Super Toys",
        "email": "super@supertoys.com",
        "domain": null,
        "province": "Tennessee",
        "country": "US",
        "address1": "190 MacLaren Street",
        "zip": "37178",
        "city": "Houston",
        "source": null,
        "phone": "3213213210",
        "latitude": null,
        "longitude": null,
        "primary_locale": "en",
        "address2": null,
        "created_at": null,
        "updated_at": null,
        "country_code": "US",
        "country_name": "United States",
        "currency": "USD",
        "customer_email": "super@supertoys.com",
        "timezone": "(GMT-05:00) Eastern Time (US & Canada)",
        "iana_timezone": null,
        "shop_owner": "John Smith",
        "money_format": "${{amount}}",
        "money_with_currency_format": "${{amount}} USD",
        "weight_unit": "kg",
        "province_code": "TN",
        "taxes_included": null,
        "auto_configure_tax_inclusivity": null,
        "tax_shipping": null,
        "county_taxes": null,
        "plan_display_name": "Shopify Plus",
        "plan_name": "enterprise",
        "has_discounts": false,
        "has_gift_cards": true,
        "myshopify_domain": "super-toys.myshopify.com",
        "google_apps_domain": null,
        "google_apps_login_enabled": null,
        "money_in_emails_format": "${{amount}}",
        "money_with_currency_in_emails_format": "${{amount}} USD",
        "eligible_for_payments": true,
        "requires_extra_payments_agreement": false,
        "password_enabled": null,
        "has_storefront": true,
        "finances": true,
        "primary_location_id": 655441491,
        "checkout_api_supported": true,
        "multi_location_enabled": true,
        "setup_required": false,
        "pre_launch_enabled": false,
        "enabled_presentment_currencies": ["USD"],
        "transactional_sms_disabled": false,
        "marketing_sms_consent_enabled_at_checkout": false
    }"#;
    let Event::AppUninstalled(a) = parse_event(Topic::AppUninstalled, raw).unwrap() else {
        panic!("expected app/uninstalled")
    };
    assert_eq!(a.id, Some(548380009));
    assert_eq!(
        a.myshopify_domain.as_deref(),
        Some("super-toys.myshopify.com")
    );
}

#[test]
fn compliance_payloads_without_their_identifying_fields_are_refused() {
    // An empty object or a shop without its domain could be any body: refused.
    for (topic, raw, names) in [
        (Topic::ShopRedact, &b"{}"[..], "shop_id"),
        (Topic::AppUninstalled, br#"{"name":"x"}"#, "id"),
        (
            Topic::AppUninstalled,
            br#"{"id":1,"name":"x"}"#,
            "myshopify_domain",
        ),
    ] {
        let e = parse_event(topic, raw).unwrap_err();
        assert!(
            e.message.contains(names),
            "{}: {}",
            topic.as_str(),
            e.message
        );
    }
    // Unknown fields beside the required ones are still fine.
    let raw = br#"{"shop_id":1,"shop_domain":"x.myshopify.com","new_field":true}"#;
    assert!(parse_event(Topic::ShopRedact, raw).is_ok());
}

#[test]
fn data_request_without_data_request_id_is_rejected() {
    let raw = br#"{"shop_id":1,"shop_domain":"x.myshopify.com","customer":{"id":1},"orders_requested":[]}"#;
    let e = parse_event(Topic::CustomersDataRequest, raw).unwrap_err();
    assert!(e.message.contains("data_request"), "{}", e.message);
}

// ---------------------------------------------------------------------------------------
// business keys
// ---------------------------------------------------------------------------------------

fn order_event(updated_at: &str) -> Event {
    let mut v = minimal_order();
    v["id"] = json!(450789469);
    v["updated_at"] = json!(updated_at);
    parse_event(Topic::OrdersPaid, &body(&v)).unwrap()
}

#[test]
fn order_fixture_business_key_is_id_and_utc_updated_at() {
    let e = parse_event(Topic::OrdersPaid, ORDER_JSON).unwrap();
    assert_eq!(
        e.business_key(),
        Some((450789469, "2008-01-10T16:00:00.000Z".to_owned()))
    );
}

#[test]
fn order_business_key_ignores_the_offset_the_time_is_written_in() {
    let a = order_event("2008-01-10T11:00:00-05:00").business_key();
    let b = order_event("2008-01-10T16:00:00Z").business_key();
    let c = order_event("2008-01-10T17:00:00+01:00").business_key();
    assert!(a.is_some());
    assert_eq!(a, b);
    assert_eq!(b, c);
}

#[test]
fn order_business_key_changes_when_updated_at_moves_on() {
    let a = order_event("2008-01-10T11:00:00-05:00")
        .business_key()
        .unwrap();
    let b = order_event("2008-01-10T11:00:01-05:00")
        .business_key()
        .unwrap();
    assert_eq!(a.0, b.0);
    assert_ne!(a, b);
}

#[test]
fn order_business_key_is_the_same_across_order_topics() {
    // The same state of an order, under each order topic that accepts it.
    let keys: Vec<_> = [Topic::OrdersCreate, Topic::OrdersPaid]
        .iter()
        .map(|t| parse_event(*t, ORDER_JSON).unwrap().business_key())
        .collect();
    assert!(keys.windows(2).all(|w| w[0] == w[1]), "{keys:?}");
}

#[test]
fn order_without_updated_at_keys_on_created_at() {
    let e = parse_event(Topic::OrdersCreate, &body(&minimal_order())).unwrap();
    assert_eq!(
        e.business_key(),
        Some((1001, "2024-03-01T09:00:00.000Z".to_owned()))
    );
}

#[test]
fn refund_business_key_is_the_refund_id() {
    let e = parse_event(Topic::RefundsCreate, REFUND_JSON).unwrap();
    assert_eq!(e.business_key(), Some((509562969, String::new())));
}

#[test]
fn refunds_of_the_same_order_have_different_keys() {
    let a = parse_event(
        Topic::RefundsCreate,
        br#"{"id":1,"order_id":9,"refund_line_items":[]}"#,
    )
    .unwrap();
    let b = parse_event(
        Topic::RefundsCreate,
        br#"{"id":2,"order_id":9,"refund_line_items":[]}"#,
    )
    .unwrap();
    assert_ne!(a.business_key(), b.business_key());
}

#[test]
fn fulfillment_business_key_is_id_and_utc_updated_at() {
    let e = parse_event(Topic::FulfillmentsUpdate, FULFILLMENT_JSON).unwrap();
    assert_eq!(
        e.business_key(),
        Some((255858046, "2013-11-01T20:06:08.000Z".to_owned()))
    );
}

#[test]
fn fulfillment_without_timestamps_has_no_business_key() {
    let e = parse_event(
        Topic::FulfillmentsCreate,
        br#"{"id":1,"order_id":2,"status":"success"}"#,
    )
    .unwrap();
    assert_eq!(e.business_key(), None);
}

#[test]
fn fulfillment_event_business_key_is_its_id() {
    let e = parse_event(Topic::FulfillmentEventsCreate, FULFILLMENT_EVENT_JSON).unwrap();
    assert_eq!(e.business_key(), Some((12584341209251, String::new())));
}

#[test]
fn consent_business_key_is_customer_digest_and_consent_time() {
    let e = parse_event(Topic::EmailConsentUpdate, &consent_body("subscribed")).unwrap();
    let digest = crate::model::personal::customer_digest(706405506930370084);
    assert_ne!(
        digest, 706405506930370084,
        "the receipt must not name the customer"
    );
    assert_eq!(
        e.business_key(),
        Some((digest, "2024-05-01T16:30:00.000Z".to_owned()))
    );
}

#[test]
fn data_request_business_key_is_the_request_id() {
    let raw =
        br#"{"shop_domain":"x.myshopify.com","customer":{"id":1},"data_request":{"id":9999}}"#;
    let e = parse_event(Topic::CustomersDataRequest, raw).unwrap();
    assert_eq!(e.business_key(), Some((9999, String::new())));
}

#[test]
fn redactions_and_uninstall_have_no_business_key() {
    let redact = parse_event(
        Topic::CustomersRedact,
        br#"{"shop_domain":"x.myshopify.com","customer":{"id":1},"orders_to_redact":[]}"#,
    )
    .unwrap();
    let shop = parse_event(
        Topic::ShopRedact,
        br#"{"shop_id":1,"shop_domain":"x.myshopify.com"}"#,
    )
    .unwrap();
    let gone = parse_event(
        Topic::AppUninstalled,
        br#"{"id":1,"myshopify_domain":"x.myshopify.com"}"#,
    )
    .unwrap();
    assert_eq!(redact.business_key(), None);
    assert_eq!(shop.business_key(), None);
    assert_eq!(gone.business_key(), None);
}

// ---------------------------------------------------------------------------------------
// topics
// ---------------------------------------------------------------------------------------

#[test]
fn every_topic_round_trips_through_as_str() {
    for t in Topic::ALL {
        assert_eq!(Topic::parse(t.as_str()), Some(t), "{}", t.as_str());
    }
}

#[test]
fn topic_strings_are_distinct() {
    let mut names: Vec<&str> = Topic::ALL.iter().map(|t| t.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), Topic::ALL.len());
}

#[test]
fn unknown_topics_parse_as_none() {
    for s in [
        "products/update",
        "orders/updated",
        "",
        "orders",
        "orders/create/",
        "ORDERS/CREATE",
    ] {
        assert_eq!(Topic::parse(s), None, "{s:?}");
    }
}

// ---------------------------------------------------------------------------------------
// headers
// ---------------------------------------------------------------------------------------

#[test]
fn delivery_reads_all_headers() {
    let h = valid_headers();
    let d = Delivery::from_headers(&h).unwrap();
    assert_eq!(d.topic, "orders/paid");
    assert_eq!(d.shop, "aftercart-test.myshopify.com");
    assert_eq!(d.webhook_id, "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043");
    assert_eq!(d.event_id, Some("98880550-7158-44d4-b7cd-2c97c8a091b5"));
    assert_eq!(d.api_version, Some("2025-01"));
    assert_eq!(d.triggered_at, Some("2025-01-10T16:00:00.123Z"));
    assert_eq!(Topic::parse(d.topic), Some(Topic::OrdersPaid));
}

#[test]
fn header_names_inserted_in_mixed_case_are_found() {
    let mut h = HeaderMap::new();
    // `&'static str` names are normalised to lower case by `http`.
    h.insert("X-Shopify-Topic", HeaderValue::from_static("orders/create"));
    h.insert(
        "X-Shopify-Shop-Domain",
        HeaderValue::from_static("a.myshopify.com"),
    );
    h.insert("X-Shopify-Webhook-Id", HeaderValue::from_static("abc-123"));
    let d = Delivery::from_headers(&h).unwrap();
    assert_eq!(d.topic, "orders/create");
    assert_eq!(d.shop, "a.myshopify.com");
    assert_eq!(d.webhook_id, "abc-123");
}

#[test]
fn header_names_built_from_upper_case_bytes_are_found() {
    let mut h = HeaderMap::new();
    for (name, value) in [
        (&b"X-SHOPIFY-TOPIC"[..], "refunds/create"),
        (b"x-ShOpIfY-sHoP-dOmAiN", "a.myshopify.com"),
        (b"X-SHOPIFY-WEBHOOK-ID", "abc"),
        (b"X-SHOPIFY-HMAC-SHA256", "c2ln"),
    ] {
        h.insert(
            HeaderName::from_bytes(name).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    let d = Delivery::from_headers(&h).unwrap();
    assert_eq!(d.topic, "refunds/create");
    assert_eq!(d.shop, "a.myshopify.com");
    assert_eq!(d.webhook_id, "abc");
    assert_eq!(signature_header(&h), Some("c2ln"));
}

#[test]
fn missing_topic_header_is_reported_by_its_display_name() {
    let mut h = valid_headers();
    h.remove(HEADER_TOPIC);
    assert_eq!(
        Delivery::from_headers(&h).unwrap_err(),
        HeaderError::Missing("X-Shopify-Topic")
    );
}

#[test]
fn missing_shop_domain_header_is_reported() {
    let mut h = valid_headers();
    h.remove(HEADER_SHOP);
    assert_eq!(
        Delivery::from_headers(&h).unwrap_err(),
        HeaderError::Missing("X-Shopify-Shop-Domain")
    );
}

#[test]
fn missing_webhook_id_header_is_reported() {
    let mut h = valid_headers();
    h.remove(HEADER_WEBHOOK_ID);
    assert_eq!(
        Delivery::from_headers(&h).unwrap_err(),
        HeaderError::Missing("X-Shopify-Webhook-Id")
    );
}

#[test]
fn empty_headers_report_the_topic_first() {
    assert_eq!(
        Delivery::from_headers(&HeaderMap::new()).unwrap_err(),
        HeaderError::Missing("X-Shopify-Topic")
    );
}

#[test]
fn optional_headers_may_be_absent() {
    let mut h = valid_headers();
    h.remove(HEADER_EVENT_ID);
    h.remove(HEADER_API_VERSION);
    h.remove(HEADER_TRIGGERED_AT);
    let d = Delivery::from_headers(&h).unwrap();
    assert_eq!(d.event_id, None);
    assert_eq!(d.api_version, None);
    assert_eq!(d.triggered_at, None);
}

#[test]
fn shop_domain_with_upper_case_is_invalid() {
    let h = with_header(
        valid_headers(),
        HEADER_SHOP,
        HeaderValue::from_static("Aftercart-Test.myshopify.com"),
    );
    assert_eq!(
        Delivery::from_headers(&h).unwrap_err(),
        HeaderError::Invalid("X-Shopify-Shop-Domain")
    );
}

#[test]
fn shop_domain_with_a_slash_is_invalid() {
    for bad in [
        "a.myshopify.com/admin",
        "../etc/passwd",
        "https://a.myshopify.com",
    ] {
        let h = with_header(
            valid_headers(),
            HEADER_SHOP,
            HeaderValue::from_str(bad).unwrap(),
        );
        assert_eq!(
            Delivery::from_headers(&h).unwrap_err(),
            HeaderError::Invalid("X-Shopify-Shop-Domain"),
            "{bad:?}"
        );
    }
}

#[test]
fn shop_domain_without_a_dot_is_invalid() {
    let h = with_header(
        valid_headers(),
        HEADER_SHOP,
        HeaderValue::from_static("localhost"),
    );
    assert_eq!(
        Delivery::from_headers(&h).unwrap_err(),
        HeaderError::Invalid("X-Shopify-Shop-Domain")
    );
}

#[test]
fn topic_header_with_upper_case_or_spaces_is_invalid() {
    for bad in ["Orders/Create", "orders create", "orders/create;drop"] {
        let h = with_header(
            valid_headers(),
            HEADER_TOPIC,
            HeaderValue::from_str(bad).unwrap(),
        );
        assert_eq!(
            Delivery::from_headers(&h).unwrap_err(),
            HeaderError::Invalid("X-Shopify-Topic"),
            "{bad:?}"
        );
    }
}

#[test]
fn unknown_but_well_formed_topic_header_is_accepted() {
    // Unknown topics are acknowledged and ignored, so the header itself is valid.
    let h = with_header(
        valid_headers(),
        HEADER_TOPIC,
        HeaderValue::from_static("products/update"),
    );
    let d = Delivery::from_headers(&h).unwrap();
    assert_eq!(d.topic, "products/update");
    assert_eq!(Topic::parse(d.topic), None);
}

#[test]
fn webhook_id_with_inner_spaces_is_invalid() {
    for bad in ["abc def", "abc\tdef"] {
        let h = with_header(
            valid_headers(),
            HEADER_WEBHOOK_ID,
            HeaderValue::from_str(bad).unwrap(),
        );
        assert_eq!(
            Delivery::from_headers(&h).unwrap_err(),
            HeaderError::Invalid("X-Shopify-Webhook-Id"),
            "{bad:?}"
        );
    }
}

#[test]
fn webhook_id_with_crlf_cannot_reach_the_parser() {
    // `http` refuses CR and LF in header values, so header injection is stopped before
    // `from_headers`; the only way in would be an unchecked constructor.
    assert!(HeaderValue::from_str("abc\r\nX-Injected: 1").is_err());
    assert!(HeaderValue::from_bytes(b"abc\ndef").is_err());
    assert!(HeaderValue::from_bytes(b"abc\rdef").is_err());
}

#[test]
fn webhook_id_with_non_utf8_bytes_is_invalid() {
    let h = with_header(
        valid_headers(),
        HEADER_WEBHOOK_ID,
        HeaderValue::from_bytes(b"abc\xff\xfe").unwrap(),
    );
    assert_eq!(
        Delivery::from_headers(&h).unwrap_err(),
        HeaderError::Invalid("X-Shopify-Webhook-Id")
    );
}

#[test]
fn webhook_id_of_255_chars_is_accepted() {
    let id = "a".repeat(255);
    let h = with_header(
        valid_headers(),
        HEADER_WEBHOOK_ID,
        HeaderValue::from_str(&id).unwrap(),
    );
    assert_eq!(Delivery::from_headers(&h).unwrap().webhook_id, id);
}

#[test]
fn webhook_id_longer_than_255_chars_is_invalid() {
    let id = "a".repeat(256);
    let h = with_header(
        valid_headers(),
        HEADER_WEBHOOK_ID,
        HeaderValue::from_str(&id).unwrap(),
    );
    assert_eq!(
        Delivery::from_headers(&h).unwrap_err(),
        HeaderError::Invalid("X-Shopify-Webhook-Id")
    );
}

#[test]
fn blank_webhook_id_is_invalid_not_missing() {
    let h = with_header(
        valid_headers(),
        HEADER_WEBHOOK_ID,
        HeaderValue::from_static("   "),
    );
    assert_eq!(
        Delivery::from_headers(&h).unwrap_err(),
        HeaderError::Invalid("X-Shopify-Webhook-Id")
    );
}

#[test]
fn surrounding_whitespace_in_header_values_is_trimmed() {
    let h = with_header(
        valid_headers(),
        HEADER_WEBHOOK_ID,
        HeaderValue::from_static("  abc-1  "),
    );
    assert_eq!(Delivery::from_headers(&h).unwrap().webhook_id, "abc-1");
}

#[test]
fn malformed_event_id_is_dropped_not_fatal() {
    let h = with_header(
        valid_headers(),
        HEADER_EVENT_ID,
        HeaderValue::from_static("bad id"),
    );
    let d = Delivery::from_headers(&h).unwrap();
    assert_eq!(d.event_id, None);
    assert_eq!(d.webhook_id, "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043");
}

#[test]
fn signature_header_is_read_trimmed_and_absent_when_blank() {
    let h = with_header(
        valid_headers(),
        HEADER_HMAC,
        HeaderValue::from_static(" c2ln "),
    );
    assert_eq!(signature_header(&h), Some("c2ln"));
    let h = with_header(valid_headers(), HEADER_HMAC, HeaderValue::from_static(""));
    assert_eq!(signature_header(&h), None);
    assert_eq!(signature_header(&HeaderMap::new()), None);
}

#[test]
fn money_in_other_notations_is_rejected() {
    for bad in ["1e3", "1_000.00", "+5", "5.", ".5", "", "1.2.3"] {
        let mut v = minimal_order();
        v["total_price"] = json!(bad);
        let e = parse_order_err(&v);
        assert!(
            e.message.starts_with("total_price: "),
            "{bad:?}: {}",
            e.message
        );
    }
    let mut v = minimal_order();
    v["total_price"] = json!("-12.50");
    assert_eq!(
        parse_order(&v).unwrap().total_price.unwrap().to_string(),
        "-12.50"
    );
}

#[test]
fn id_strings_must_be_canonical_digits() {
    for bad in ["+5", "05", "", " 5", "5 "] {
        let mut v = minimal_order();
        v["id"] = json!(bad);
        assert!(parse_order_err(&v).message.starts_with("id: "), "{bad:?}");
    }
    let mut v = minimal_order();
    v["id"] = json!("0");
    assert_eq!(parse_order(&v).unwrap().id, 0);
}

#[test]
fn shop_domains_need_non_empty_labels() {
    assert!(is_shop_domain("acme.myshopify.com"));
    for bad in [
        "a..b",
        ".acme.com",
        "acme.",
        "acme",
        "-acme.com",
        "Acme.com",
    ] {
        assert!(!is_shop_domain(bad), "{bad}");
    }
}

// ---------------------------------------------------------------------------------------
// a body under another topic (the topic header is not signed)
// ---------------------------------------------------------------------------------------

/// Whether a genuine `body_topic` body may also arrive under `topic`: the order topics
/// share the order's shape (`orders/create` and `orders/paid` accept any state of it;
/// `orders/cancelled` and `orders/fulfilled` only that state), and the two fulfillment
/// topics share the fulfillment's.
fn same_resource(body_topic: Topic, topic: Topic) -> bool {
    use Topic::*;
    body_topic == topic
        || matches!(
            (body_topic, topic),
            (
                OrdersCreate | OrdersPaid | OrdersCancelled | OrdersFulfilled,
                OrdersCreate | OrdersPaid
            ) | (
                FulfillmentsCreate | FulfillmentsUpdate,
                FulfillmentsCreate | FulfillmentsUpdate
            )
        )
}

#[test]
fn a_body_of_every_other_topic_is_refused_under_each_topic() {
    let shop = "aftercart-demo.myshopify.com";
    let mut refused = 0;
    for body_topic in Topic::ALL {
        let body = crate::wire::shopify::fixtures::sample(body_topic);
        for topic in Topic::ALL {
            let parsed = parse_delivery(topic, shop, body);
            if same_resource(body_topic, topic) {
                let event = parsed.unwrap_or_else(|e| {
                    panic!(
                        "a {} body under {} should be accepted: {e}",
                        body_topic.as_str(),
                        topic.as_str()
                    )
                });
                assert_eq!(event.topic(), topic);
            } else {
                let e = parsed.err().unwrap_or_else(|| {
                    panic!(
                        "a {} body under {} must be refused",
                        body_topic.as_str(),
                        topic.as_str()
                    )
                });
                assert_eq!(e.topic, topic.as_str());
                assert_eq!(e.kind, ParseErrorKind::Shape, "{e}");
                refused += 1;
            }
        }
    }
    // 13 topics: 169 pairs, of which 13 are the topic itself, 6 more are an order body
    // under orders/create or orders/paid, and 2 the fulfillment pair.
    assert_eq!(refused, 169 - 13 - 6 - 2);
}

#[test]
fn the_refusal_names_the_field_that_gives_the_body_away() {
    let shop = "aftercart-demo.myshopify.com";
    let cases = [
        // An order resent as a customer erasure: no customer erasure fields.
        (
            Topic::CustomersRedact,
            crate::wire::shopify::fixtures::ORDER,
            "shop_domain",
        ),
        // An order resent as app/uninstalled: not a shop.
        (
            Topic::AppUninstalled,
            crate::wire::shopify::fixtures::ORDER,
            "myshopify_domain",
        ),
        (
            Topic::ShopRedact,
            crate::wire::shopify::fixtures::ORDER,
            "shop_id",
        ),
        // A refund resent as an order: it carries the refund's fields.
        (
            Topic::OrdersPaid,
            crate::wire::shopify::fixtures::REFUND,
            "line_items",
        ),
        // A paid order resent as cancelled or fulfilled: the state disagrees.
        (
            Topic::OrdersCancelled,
            crate::wire::shopify::fixtures::ORDER,
            "cancelled_at",
        ),
        (
            Topic::OrdersFulfilled,
            crate::wire::shopify::fixtures::ORDER,
            "fulfillment_status",
        ),
        // A delivery event resent as a fulfillment: it names a fulfillment_id.
        (
            Topic::FulfillmentsUpdate,
            crate::wire::shopify::fixtures::FULFILLMENT_DELIVERED,
            "fulfillment_id",
        ),
        // The shop object resent as a shop erasure.
        (
            Topic::ShopRedact,
            crate::wire::shopify::fixtures::APP_UNINSTALLED,
            "shop_id",
        ),
    ];
    for (topic, body, field) in cases {
        let e = parse_delivery(topic, shop, body).unwrap_err();
        assert!(
            e.message.contains(field),
            "{}: {} should name {field}",
            topic.as_str(),
            e.message
        );
    }
}

#[test]
fn a_refund_body_with_order_fields_added_is_still_refused_as_an_order() {
    // The forbidden keys catch a body that has an order's required fields as well.
    let mut v: Value = serde_json::from_slice(crate::wire::shopify::fixtures::REFUND).unwrap();
    v["line_items"] = json!([]);
    let e = parse_event(Topic::OrdersPaid, &body(&v)).unwrap_err();
    assert!(e.message.contains("order_id"), "{}", e.message);
}

#[test]
fn a_domain_in_the_body_must_be_the_delivering_shop() {
    for topic in [
        Topic::CustomersDataRequest,
        Topic::CustomersRedact,
        Topic::ShopRedact,
        Topic::AppUninstalled,
    ] {
        let body = crate::wire::shopify::fixtures::sample(topic);
        // As sent by the shop it names: accepted, whatever the case of the header.
        parse_delivery(topic, "aftercart-demo.myshopify.com", body)
            .unwrap_or_else(|e| panic!("{}: {e}", topic.as_str()));
        let shouted = String::from_utf8_lossy(body).replace(
            "aftercart-demo.myshopify.com",
            "Aftercart-Demo.myshopify.com",
        );
        parse_delivery(topic, "aftercart-demo.myshopify.com", shouted.as_bytes())
            .unwrap_or_else(|e| panic!("{} (domain in capitals): {e}", topic.as_str()));
        // The same signed body delivered for another shop: refused.
        let e = parse_delivery(topic, "other-shop.myshopify.com", body).unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::OtherShop, "{}", topic.as_str());
        assert!(
            e.message.contains("another shop") && !e.message.contains("aftercart-demo"),
            "{}: {}",
            topic.as_str(),
            e.message
        );
    }
    // A null domain names no shop.
    let raw = br#"{"shop_id":1,"shop_domain":null}"#;
    let e = parse_delivery(Topic::ShopRedact, "x.myshopify.com", raw).unwrap_err();
    assert_eq!(e.kind, ParseErrorKind::OtherShop);
    // Topics whose bodies carry no shop domain are not affected.
    parse_delivery(
        Topic::OrdersPaid,
        "other-shop.myshopify.com",
        crate::wire::shopify::fixtures::ORDER,
    )
    .unwrap();
}

#[test]
fn top_level_keys_ignore_nested_keys_and_refuse_non_objects() {
    // `order_id` inside a line item is not the refund's top-level `order_id`.
    let raw =
        br#"{"id":1,"created_at":"2024-03-01T10:00:00Z","line_items":[{"id":2,"order_id":1}]}"#;
    assert!(parse_event(Topic::OrdersCreate, raw).is_ok());
    // An escaped key is still the key it spells.
    let escaped =
        br#"{"id":1,"created_at":"2024-03-01T10:00:00Z","line_items":[],"order\u005fid":2}"#;
    assert!(parse_event(Topic::OrdersCreate, escaped).is_err());
    assert!(shape::top_level_keys(b"[1,2]").is_err());
    assert!(shape::top_level_keys(b"{} trailing").is_err());
}

#[test]
fn a_broken_body_is_malformed_and_another_topics_body_is_a_shape_refusal() {
    // A field of the wrong type in an order: a broken body, not a replay.
    let mut v: Value = serde_json::from_slice(crate::wire::shopify::fixtures::ORDER).unwrap();
    v["line_items"][1]["quantity"] = json!("two");
    let e = parse_event(Topic::OrdersPaid, &body(&v)).unwrap_err();
    assert_eq!(e.kind, ParseErrorKind::Malformed, "{e}");
    assert!(e.message.starts_with("line_items[1].quantity"), "{e}");
    // Not JSON at all: malformed too.
    let e = parse_event(Topic::OrdersPaid, b"{\"id\":").unwrap_err();
    assert_eq!(e.kind, ParseErrorKind::Malformed, "{e}");
    // A refund under orders/paid: the refund's keys give it away before serde would
    // complain of a missing field.
    let e = parse_event(Topic::OrdersPaid, crate::wire::shopify::fixtures::REFUND).unwrap_err();
    assert_eq!(e.kind, ParseErrorKind::Shape, "{e}");
}

#[test]
fn every_topic_refuses_each_key_of_its_forbidden_set_and_needs_each_required_one() {
    // The typed payloads note the forbidden keys in the same pass (`payload!`); this
    // checks that what they note is exactly what the shape table forbids, and that each
    // required key is required.
    let shop = "aftercart-demo.myshopify.com";
    for topic in Topic::ALL {
        let sample: Value =
            serde_json::from_slice(crate::wire::shopify::fixtures::sample(topic)).unwrap();
        let s = shape::of(topic);
        for key in s.forbidden.names() {
            let mut v = sample.clone();
            v[key] = Value::Null;
            let e = parse_delivery(topic, shop, &body(&v))
                .err()
                .unwrap_or_else(|| panic!("{} accepted a body with `{key}`", topic.as_str()));
            assert_eq!(e.kind, ParseErrorKind::Shape, "{}: {e}", topic.as_str());
            assert!(e.message.contains(key), "{}: {e}", topic.as_str());
        }
        for key in s.required.names() {
            let mut v = sample.clone();
            v.as_object_mut().unwrap().remove(key);
            let e = parse_delivery(topic, shop, &body(&v))
                .err()
                .unwrap_or_else(|| panic!("{} accepted a body without `{key}`", topic.as_str()));
            assert_eq!(e.kind, ParseErrorKind::Shape, "{}: {e}", topic.as_str());
            assert!(e.message.contains(key), "{}: {e}", topic.as_str());
        }
    }
}

// ---------------------------------------------------------------------------------------
// bounds: values no real order has are refused, naming the field (issue 17)
// ---------------------------------------------------------------------------------------

fn parse_refund_err(v: &Value) -> ParseError {
    match parse_event(Topic::RefundsCreate, &body(v)) {
        Ok(other) => panic!("expected a parse error, got {other:?}"),
        Err(e) => e,
    }
}

#[test]
fn line_quantity_above_the_bound_is_refused_naming_its_path() {
    // The fuzzer's 4,294,967,295 (u32::MAX) used to parse, then panic in planning.
    for bad in [json!(4_294_967_295u64), json!(1_000_001), json!(1u64 << 31)] {
        let mut items: Vec<Value> = (0..3).map(line_item).collect();
        items[2]["quantity"] = bad.clone();
        let e = parse_order_err(&order_with_line_items(items));
        assert_eq!(e.kind, ParseErrorKind::Malformed, "{e}");
        assert!(
            e.message.starts_with("line_items[2].quantity: ")
                && e.message.contains("a quantity from 0 to 1000000"),
            "{bad}: {}",
            e.message
        );
    }
    let mut item = line_item(1);
    item["quantity"] = json!(de::MAX_QUANTITY);
    let o = parse_order(&order_with_line_items(vec![item])).unwrap();
    assert_eq!(o.line_items[0].quantity, 1_000_000);
}

#[test]
fn refund_quantity_above_the_bound_is_refused_naming_its_path() {
    let mut v: Value = serde_json::from_slice(REFUND_JSON).unwrap();
    v["refund_line_items"][1]["quantity"] = json!(4_294_967_295u64);
    let e = parse_refund_err(&v);
    assert!(
        e.message.starts_with("refund_line_items[1].quantity: "),
        "{}",
        e.message
    );
    let mut v: Value = serde_json::from_slice(REFUND_JSON).unwrap();
    v["refund_line_items"][0]["line_item"]["quantity"] = json!(2_000_000);
    let e = parse_refund_err(&v);
    assert!(
        e.message
            .starts_with("refund_line_items[0].line_item.quantity: "),
        "{}",
        e.message
    );
}

#[test]
fn money_beyond_the_bound_is_refused_naming_the_field_without_quoting_it() {
    for bad in [
        json!("79228162514264337593543950335"), // Decimal::MAX
        json!("1000000000000.01"),
        json!("-1000000000000.01"),
        json!(10_000_000_000_000u64),
        json!(-10_000_000_000_000i64),
    ] {
        let mut v = minimal_order();
        v["total_price"] = bad.clone();
        let e = parse_order_err(&v);
        assert_eq!(e.kind, ParseErrorKind::Malformed, "{e}");
        assert!(
            e.message.starts_with("total_price: out of range"),
            "{bad}: {}",
            e.message
        );
        assert!(!e.message.contains("79228162514264337593543950335"), "{e}");
    }
    let mut item = line_item(1);
    item["price"] = json!("79228162514264337593543950335");
    let e = parse_order_err(&order_with_line_items(vec![item]));
    assert!(
        e.message.starts_with("line_items[0].price: out of range"),
        "{}",
        e.message
    );
    let mut v = minimal_order();
    v["total_price"] = json!("1000000000000.00");
    v["total_discounts"] = json!("-1000000000000");
    let o = parse_order(&v).unwrap();
    assert_eq!(o.total_price, Some(de::MAX_MONEY));
    assert_eq!(de::MAX_MONEY.to_string(), "1000000000000");
}

#[test]
fn times_outside_1970_to_9999_utc_are_refused_naming_the_field() {
    // The fuzzer's case: within 9999 as written, but 10000-01-01 in UTC.
    for (field, bad) in [
        ("created_at", "9999-12-31T23:59:59-23:59"),
        ("created_at", "1969-12-31T23:59:59Z"),
        ("updated_at", "9999-12-31T23:59:59-01:00"),
        ("cancelled_at", "0000-01-01T00:00:00+01:00"),
        ("processed_at", "1970-01-01T00:30:00+01:00"),
    ] {
        let mut v = minimal_order();
        v[field] = json!(bad);
        let e = parse_order_err(&v);
        assert_eq!(e.kind, ParseErrorKind::Malformed, "{e}");
        assert!(
            e.message.starts_with(&format!("{field}: out of range")),
            "{bad}: {}",
            e.message
        );
    }
    let mut v = minimal_order();
    v["created_at"] = json!("9999-12-31T23:59:59Z");
    v["updated_at"] = json!("1970-01-01T00:00:00Z");
    v["cancelled_at"] = json!(null);
    let o = parse_order(&v).unwrap();
    assert_eq!(o.created_at, ts("9999-12-31T23:59:59Z"));

    let mut f: Value = serde_json::from_slice(FULFILLMENT_JSON).unwrap();
    f["updated_at"] = json!("9999-12-31T23:59:59-05:00");
    let e = parse_event(Topic::FulfillmentsUpdate, &body(&f)).unwrap_err();
    assert!(e.message.starts_with("updated_at: out of range"), "{e}");
    let mut r: Value = serde_json::from_slice(REFUND_JSON).unwrap();
    r["created_at"] = json!("9999-12-31T23:59:59-05:00");
    assert!(parse_refund_err(&r)
        .message
        .starts_with("created_at: out of range"));
    let mut fe: Value = serde_json::from_slice(FULFILLMENT_EVENT_JSON).unwrap();
    fe["happened_at"] = json!("9999-12-31T23:59:59-05:00");
    let e = parse_event(Topic::FulfillmentEventsCreate, &body(&fe)).unwrap_err();
    assert!(e.message.starts_with("happened_at: out of range"), "{e}");
    let consent = json!({
        "customer_id": 1,
        "email_address": "a@example.com",
        "email_marketing_consent": {
            "state": "subscribed",
            "consent_updated_at": "9999-12-31T23:59:59-05:00"
        }
    });
    let e = parse_event(Topic::EmailConsentUpdate, &body(&consent)).unwrap_err();
    assert!(
        e.message
            .starts_with("email_marketing_consent.consent_updated_at: out of range"),
        "{e}"
    );
}
