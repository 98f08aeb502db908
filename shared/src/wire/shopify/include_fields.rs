//! The `include_fields` of each webhook subscription: exactly the fields the typed
//! payloads ([`super::payload`]) and the shape checks ([`super::shape`]) read, so that
//! Shopify sends no more of a customer's data than Aftercart uses. Nested fields are
//! named with a period (`customer.email`); through a list the path applies to every
//! element (`line_items.quantity`), as Shopify reads it. `docs/shopify.app.toml` lists
//! the same fields (a test below keeps the two equal).
//!
//! Every list keeps a value that changes with each state Shopify sends (`updated_at`,
//! a tracking event's or refund's own `id`, `consent_updated_at`): Shopify drops a
//! webhook whose modified payload equals one it sent moments before.

use super::Topic;
use serde_json::{Map, Value};

/// Orders: every field of [`super::Order`] and of its nested line items, discount
/// codes, cart attributes and customer — not the addresses, payment details, the
/// customer's default address, tax or shipping lines.
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
    "discount_codes.code",
    "discount_codes.amount",
    "discount_codes.type",
    "note_attributes.name",
    "note_attributes.value",
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

/// [`super::Fulfillment`]: no tracking numbers or URLs, no receipt.
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

/// [`super::FulfillmentEvent`]: no message, no place of the event.
const FULFILLMENT_EVENT: &[&str] = &[
    "id",
    "fulfillment_id",
    "order_id",
    "status",
    "happened_at",
    "created_at",
];

/// [`super::Refund`]: no note, no transactions. The refunded line is kept whole
/// (`refund_line_items.line_item`): the payload reads its id, product, variant and
/// quantity, and Shopify documents paths one level deep only.
const REFUND: &[&str] = &[
    "id",
    "order_id",
    "created_at",
    "restock",
    "refund_line_items.line_item_id",
    "refund_line_items.quantity",
    "refund_line_items.line_item",
];

/// [`super::ConsentUpdate`]: the whole consent object (its state, opt-in level and
/// time are all it has).
const CONSENT: &[&str] = &["customer_id", "email_address", "email_marketing_consent"];

/// The fields to subscribe to `topic` with. Empty for the compliance topics
/// (`customers/data_request`, `customers/redact`, `shop/redact`, which are registered
/// under `compliance_topics` in `shopify.app.toml` and cannot take `include_fields`) and
/// for `app/uninstalled`, which cannot either: those come whole.
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

/// `body` as Shopify would send it to a subscription with `topic`'s
/// [`include_fields`]: only the listed paths, each kept where it is (a list stays a list
/// of the same length, each element with only the listed fields). A field the body does
/// not have stays absent; a `null` on the way stays `null`. An empty list keeps the body
/// whole.
pub fn project(topic: Topic, body: &Value) -> Value {
    let fields = include_fields(topic);
    if fields.is_empty() {
        return body.clone();
    }
    project_fields(fields, body)
}

/// `body` with only the paths `fields` (as [`project`], with any list: the tests drop
/// one field at a time). An empty list keeps nothing.
pub fn project_fields(fields: &[&str], body: &Value) -> Value {
    let mut out = Value::Object(Map::new());
    for field in fields {
        let path: Vec<&str> = field.split('.').collect();
        keep(body, &mut out, &path);
    }
    out
}

/// Copies the value at `path` under `src` into the same place under `dst`.
fn keep(src: &Value, dst: &mut Value, path: &[&str]) {
    let Some((first, rest)) = path.split_first() else {
        *dst = src.clone();
        return;
    };
    match src {
        Value::Object(fields) => {
            let Some(value) = fields.get(*first) else {
                return;
            };
            if !dst.is_object() {
                *dst = Value::Object(Map::new());
            }
            if let Value::Object(out) = dst {
                let slot = out.entry(*first).or_insert(Value::Null);
                keep(value, slot, rest);
            }
        }
        Value::Array(items) => {
            if !matches!(dst, Value::Array(d) if d.len() == items.len()) {
                *dst = Value::Array(vec![Value::Null; items.len()]);
            }
            if let Value::Array(out) = dst {
                for (s, d) in items.iter().zip(out.iter_mut()) {
                    keep(s, d, path);
                }
            }
        }
        // A `null` (or any other value) where an object was expected is sent as it is.
        other => *dst = other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeMap;

    const APP_TOML: &str = include_str!("../../../../docs/shopify.app.toml");

    fn strings(v: Option<&toml::Value>) -> Vec<String> {
        v.and_then(toml::Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|s| s.as_str().expect("a string").to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn the_sample_app_config_subscribes_every_topic_once_with_exactly_its_include_fields() {
        let doc: toml::Value = toml::from_str(APP_TOML).expect("docs/shopify.app.toml parses");
        let webhooks = &doc["webhooks"];
        assert_eq!(webhooks["api_version"].as_str(), Some("2025-10"));
        let subscriptions = webhooks["subscriptions"]
            .as_array()
            .expect("[[webhooks.subscriptions]]");
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for sub in subscriptions {
            let uri = sub["uri"].as_str().expect("every subscription has a uri");
            assert_eq!(
                uri,
                "https://<your-api-id>.execute-api.<region>.amazonaws.com/webhook"
            );
            let fields = strings(sub.get("include_fields"));
            for name in strings(sub.get("compliance_topics")) {
                let topic = Topic::parse(&name).expect("a known topic");
                assert!(include_fields(topic).is_empty(), "{name}");
                assert!(
                    fields.is_empty(),
                    "{name}: compliance topics take no fields"
                );
                *seen.entry(name).or_default() += 1;
            }
            let topics = strings(sub.get("topics"));
            for name in &topics {
                let topic = Topic::parse(name).expect("a known topic");
                assert!(
                    !matches!(
                        topic,
                        Topic::CustomersDataRequest | Topic::CustomersRedact | Topic::ShopRedact
                    ),
                    "{name} belongs under compliance_topics"
                );
                assert_eq!(fields, include_fields(topic), "include_fields of {name}");
                *seen.entry(name.clone()).or_default() += 1;
            }
            if !fields.is_empty() {
                assert_eq!(topics.len(), 1, "one topic per block with include_fields");
            }
        }
        let all: BTreeMap<String, usize> = Topic::ALL
            .iter()
            .map(|t| (t.as_str().to_owned(), 1))
            .collect();
        assert_eq!(seen, all, "every topic subscribed exactly once");
    }

    #[test]
    fn every_listed_field_is_unique_and_every_required_key_is_listed() {
        for topic in Topic::ALL {
            let fields = include_fields(topic);
            let mut unique: Vec<_> = fields.to_vec();
            unique.sort_unstable();
            unique.dedup();
            assert_eq!(unique.len(), fields.len(), "{}", topic.as_str());
            if fields.is_empty() {
                continue;
            }
            for key in super::super::shape::of(topic).required.names() {
                assert!(
                    fields.iter().any(|f| f.split('.').next() == Some(key)),
                    "{}: `{key}` is required by the shape check",
                    topic.as_str()
                );
            }
        }
    }

    #[test]
    fn project_keeps_only_the_listed_paths_through_objects_and_lists() {
        let body = json!({
            "id": 1,
            "note": "secret",
            "customer": {"id": 2, "email": "a@b.c", "default_address": {"zip": "1"}},
            "line_items": [
                {"id": 3, "quantity": 1, "properties": [{"name": "engraving"}]},
                {"id": 4, "quantity": null}
            ],
            "discount_codes": null
        });
        let projected = project(Topic::OrdersPaid, &body);
        assert_eq!(
            projected,
            json!({
                "id": 1,
                "customer": {"id": 2, "email": "a@b.c"},
                "line_items": [{"id": 3, "quantity": 1}, {"id": 4, "quantity": null}],
                "discount_codes": null
            })
        );
        let guest = project(Topic::OrdersPaid, &json!({"id": 1, "customer": null}));
        assert_eq!(guest, json!({"id": 1, "customer": null}));
        let whole = json!({"shop_id": 1, "shop_domain": "x.myshopify.com"});
        assert_eq!(project(Topic::ShopRedact, &whole), whole);
    }

    #[test]
    fn every_projected_sample_still_parses_under_its_topic() {
        for topic in Topic::ALL {
            let body: Value = serde_json::from_slice(super::super::fixtures::sample(topic))
                .expect("a JSON sample");
            let projected = serde_json::to_vec(&project(topic, &body)).expect("serialises");
            super::super::parse_event(topic, &projected)
                .unwrap_or_else(|e| panic!("{}: {e}", topic.as_str()));
        }
    }
}
