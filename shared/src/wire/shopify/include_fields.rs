//! The fields Aftercart reads of each topic's payload, as a subscription's
//! `include_fields` (Shopify, API 2024-07 on): with them a delivery carries only these,
//! so less personal data crosses the wire — an order arrives without addresses, phone
//! numbers, browser details or payment data. Dot paths name fields inside an object
//! or inside each element of a list. `docs/shopify.app.toml` lists them per
//! subscription (a test keeps it equal to this file), and a test in
//! `domain::ingest::tests` proves a payload cut to them records and plans exactly as
//! the full one.
//!
//! Compliance topics (`customers/data_request`, `customers/redact`, `shop/redact`) are
//! subscribed as `compliance_topics`, which take no `include_fields`, and
//! `app/uninstalled` is read whole (two fields): none is listed for them.

use super::Topic;
use serde_json::{Map, Value};

const ORDER: &[&str] = &[
    "id",
    "admin_graphql_api_id",
    "name",
    "email",
    "contact_email",
    "created_at",
    "updated_at",
    "processed_at",
    "cancelled_at",
    "cancel_reason",
    "currency",
    "total_price",
    "subtotal_price",
    "total_discounts",
    "financial_status",
    "fulfillment_status",
    "test",
    "buyer_accepts_marketing",
    "customer_locale",
    "discount_codes",
    "note_attributes",
    "line_items.id",
    "line_items.product_id",
    "line_items.variant_id",
    "line_items.sku",
    "line_items.title",
    "line_items.variant_title",
    "line_items.quantity",
    "line_items.price",
    "line_items.gift_card",
    "customer.id",
    "customer.email",
    "customer.first_name",
    "customer.locale",
];

const FULFILLMENT: &[&str] = &[
    "id",
    "order_id",
    "status",
    "shipment_status",
    "created_at",
    "updated_at",
    "line_items.id",
    "line_items.product_id",
    "line_items.variant_id",
    "line_items.quantity",
];

const FULFILLMENT_EVENT: &[&str] = &[
    "id",
    "fulfillment_id",
    "order_id",
    "status",
    "happened_at",
    "created_at",
];

const REFUND: &[&str] = &[
    "id",
    "order_id",
    "created_at",
    "restock",
    "refund_line_items.line_item_id",
    "refund_line_items.quantity",
    "refund_line_items.line_item.id",
    "refund_line_items.line_item.product_id",
    "refund_line_items.line_item.variant_id",
    "refund_line_items.line_item.quantity",
];

const CONSENT: &[&str] = &["customer_id", "email_address", "email_marketing_consent"];

/// The `include_fields` of `topic`'s subscription; empty for the topics that take none.
pub fn include_fields(topic: Topic) -> &'static [&'static str] {
    match topic {
        Topic::OrdersCreate
        | Topic::OrdersPaid
        | Topic::OrdersFulfilled
        | Topic::OrdersCancelled => ORDER,
        Topic::FulfillmentsCreate | Topic::FulfillmentsUpdate => FULFILLMENT,
        Topic::FulfillmentEventsCreate => FULFILLMENT_EVENT,
        Topic::RefundsCreate => REFUND,
        Topic::EmailConsentUpdate => CONSENT,
        Topic::CustomersDataRequest
        | Topic::CustomersRedact
        | Topic::ShopRedact
        | Topic::AppUninstalled => &[],
    }
}

/// `body` as Shopify sends it with `topic`'s `include_fields`: only the listed paths
/// (for a topic with none, the whole body).
pub fn project(topic: Topic, body: &Value) -> Value {
    let fields = include_fields(topic);
    if fields.is_empty() {
        return body.clone();
    }
    let paths: Vec<Vec<&str>> = fields.iter().map(|f| f.split('.').collect()).collect();
    keep(body, &paths.iter().map(Vec::as_slice).collect::<Vec<_>>())
}

/// The parts of `value` under `paths` (each a list of keys; a list applies its rest to
/// each element).
fn keep(value: &Value, paths: &[&[&str]]) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.iter().map(|i| keep(i, paths)).collect()),
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, v) in map {
                let under: Vec<&[&str]> = paths
                    .iter()
                    .filter(|p| p.first() == Some(&key.as_str()))
                    .map(|p| &p[1..])
                    .collect();
                if under.is_empty() {
                    continue;
                }
                let whole = under.iter().any(|p| p.is_empty());
                out.insert(key.clone(), if whole { v.clone() } else { keep(v, &under) });
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_projection_keeps_the_listed_paths_inside_objects_and_lists() {
        let body = serde_json::json!({
            "id": 1, "phone": "+1 555", "shipping_address": {"city": "X"},
            "customer": {"id": 7, "email": "a@b.c", "phone": "+1 555", "default_address": {}},
            "line_items": [{"id": 3, "title": "T", "quantity": 1, "properties": [1]}],
            "created_at": "2026-01-01T00:00:00Z"
        });
        let cut = project(Topic::OrdersPaid, &body);
        assert_eq!(
            cut,
            serde_json::json!({
                "id": 1,
                "customer": {"id": 7, "email": "a@b.c"},
                "line_items": [{"id": 3, "title": "T", "quantity": 1}],
                "created_at": "2026-01-01T00:00:00Z"
            })
        );
        assert_eq!(project(Topic::ShopRedact, &body), body);
    }

    /// The subscriptions of docs/shopify.app.toml, by topic, with their include_fields.
    fn documented() -> Vec<(String, Vec<String>)> {
        let doc: toml::Value = toml::from_str(include_str!("../../../../docs/shopify.app.toml"))
            .expect("docs/shopify.app.toml parses");
        let subs = doc["webhooks"]["subscriptions"]
            .as_array()
            .expect("[[webhooks.subscriptions]]");
        let strings = |v: Option<&toml::Value>| -> Vec<String> {
            v.and_then(|v| v.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        subs.iter()
            .flat_map(|s| {
                let fields = strings(s.get("include_fields"));
                strings(s.get("topics"))
                    .into_iter()
                    .map(move |t| (t, fields.clone()))
            })
            .collect()
    }

    #[test]
    fn the_documented_subscriptions_ask_for_exactly_these_fields() {
        let doc = documented();
        for topic in Topic::ALL {
            if matches!(
                topic,
                Topic::CustomersDataRequest | Topic::CustomersRedact | Topic::ShopRedact
            ) {
                continue;
            }
            let (_, fields) = doc
                .iter()
                .find(|(t, _)| t == topic.as_str())
                .unwrap_or_else(|| {
                    panic!(
                        "{} has no subscription in docs/shopify.app.toml",
                        topic.as_str()
                    )
                });
            assert_eq!(fields, include_fields(topic), "{}", topic.as_str());
        }
    }
}
