//! A subscription with `include_fields` (`wire::shopify::include_fields`) plans exactly
//! what a full payload plans: every sample body, whole and as Shopify would send it with
//! the topic's fields, against the same states of the table, with the playbooks on.
use super::*;
use crate::wire::shopify::include_fields::{include_fields, project, project_fields};
use crate::wire::shopify::ATTRIBUTION_ATTRIBUTE;

/// `body` with only `fields` kept.
fn only(fields: &[&str], body: &[u8]) -> Vec<u8> {
    let v: Value = serde_json::from_slice(body).expect("a JSON body");
    serde_json::to_vec(&project_fields(fields, &v)).expect("serialises")
}

/// `body` as a subscription to `topic` with its `include_fields` receives it.
fn projected(topic: Topic, body: &[u8]) -> Vec<u8> {
    let v: Value = serde_json::from_slice(body).expect("a JSON body");
    serde_json::to_vec(&project(topic, &v)).expect("serialises")
}

/// One order's life, in the order Shopify sends it: created, paid, shipped, delivered,
/// fulfilled, partly refunded, the customer's consent, a reorder through a reminder's
/// link, and the first order cancelled.
fn timeline() -> Vec<(Topic, Vec<u8>)> {
    vec![
        (
            Topic::OrdersCreate,
            edit(&paid_on_time(), |o| {
                o["financial_status"] = json!("pending")
            }),
        ),
        (Topic::OrdersPaid, paid_on_time()),
        (Topic::FulfillmentsCreate, shipped()),
        (Topic::FulfillmentEventsCreate, delivered().to_vec()),
        (
            Topic::OrdersFulfilled,
            edit(fixtures::ORDER_FULFILLED, |o| {
                o["created_at"] = json!(PAID_AT);
                o["updated_at"] = json!("2026-11-22T08:00:00Z");
            }),
        ),
        (Topic::RefundsCreate, refunded()),
        (Topic::EmailConsentUpdate, fixtures::CONSENT.to_vec()),
        (
            Topic::OrdersPaid,
            edit(&second_order("2026-11-28T10:00:00Z", "25.00"), |o| {
                o["note_attributes"] = json!([
                    {"name": ATTRIBUTION_ATTRIBUTE, "value": replenishment_id()},
                    {"name": "gift", "value": {"wrap": true}}
                ]);
                o["discount_codes"] =
                    json!([{"code": "BACK10", "amount": "2.50", "type": "percentage"}]);
            }),
        ),
        (
            Topic::OrdersCancelled,
            edit(fixtures::ORDER_CANCELLED, |o| {
                o["created_at"] = json!(PAID_AT);
                o["cancelled_at"] = json!("2026-11-29T08:00:00Z");
                o["updated_at"] = json!("2026-11-29T08:00:00Z");
            }),
        ),
    ]
}

/// Every sample of every topic that takes `include_fields`: the topic's fixture, the
/// timeline's bodies, and a few more states (a carrier event of another order, a
/// delivered shipment update, a guest checkout).
fn samples() -> Vec<(Topic, Vec<u8>)> {
    let mut out: Vec<(Topic, Vec<u8>)> = Topic::ALL
        .into_iter()
        .map(|t| (t, fixtures::sample(t).to_vec()))
        .collect();
    out.extend(timeline());
    out.push((
        Topic::FulfillmentEventsCreate,
        fixtures::FULFILLMENT_EVENT.to_vec(),
    ));
    out.push((
        Topic::FulfillmentsUpdate,
        edit(&shipped(), |f| {
            f["shipment_status"] = json!("delivered");
            f["updated_at"] = json!("2026-11-21T20:00:00Z");
        }),
    ));
    out.push((
        Topic::OrdersPaid,
        edit(&paid_on_time(), |o| {
            let o = o.as_object_mut().expect("an object");
            o.remove("customer");
            o.insert("contact_email".into(), json!("guest@example.com"));
            o.insert("email".into(), json!(""));
        }),
    ));
    // An order whose every field differs from its default and from the field it falls
    // back on, so that a field missing from the list shows in the writes.
    let rich = edit(&paid_on_time(), |o| {
        o["admin_graphql_api_id"] = json!("gid://shopify/Order/450789469");
        o["contact_email"] = json!("bob.contact@example.com");
        o["processed_at"] = json!("2026-11-17T10:01:00Z");
        o["subtotal_price"] = json!("380.00");
        o["total_discounts"] = json!("18.00");
        o["buyer_accepts_marketing"] = json!(true);
        o["customer_locale"] = json!("fr-CA");
        o["discount_codes"] =
            json!([{"code": "TENOFF", "amount": "18.00", "type": "fixed_amount"}]);
        o["line_items"][2]["gift_card"] = json!(true);
        o["customer"]["email"] = json!("bob.work@example.com");
        o["customer"]["locale"] = json!("de");
    });
    out.push((Topic::OrdersCreate, rich.clone()));
    out.push((Topic::OrdersPaid, rich.clone()));
    out.push((Topic::OrdersPaid, edit(&rich, |o| o["test"] = json!(true))));
    out.push((
        Topic::FulfillmentsUpdate,
        edit(&shipped(), |f| {
            f["shipment_status"] = json!("in_transit");
            f["status"] = json!("success");
            f["updated_at"] = json!("2026-11-19T08:00:00Z");
            f["line_items"][0]["quantity"] = json!(2);
        }),
    ));
    out.retain(|(t, _)| !include_fields(*t).is_empty());
    out
}

fn try_deliver_with(
    table: &mut Table,
    rules: &ShopConfig,
    topic: Topic,
    body: &[u8],
) -> Result<Vec<Write>, String> {
    let context = Context {
        rules: Some(rules),
        ..ctx(now())
    };
    let event = parse_event(topic, body).map_err(|e| format!("parse: {e}"))?;
    table.deliver(&context, &event)
}

/// The table after each prefix of the timeline, delivered whole: the states the samples
/// are planned against.
fn states(rules: &ShopConfig) -> Vec<Table> {
    let mut t = Table::default();
    let mut out = vec![t.clone()];
    for (topic, body) in timeline() {
        try_deliver_with(&mut t, rules, topic, &body)
            .unwrap_or_else(|e| panic!("{}: {e}", topic.as_str()));
        out.push(t.clone());
    }
    out
}

/// Where planning `fields`' projection of each sample first differs from planning the
/// whole sample, on any of `states`: `None` when it never does.
fn first_difference(
    rules: &ShopConfig,
    states: &[Table],
    topic_fields: impl Fn(Topic) -> Vec<&'static str>,
) -> Option<String> {
    for (i, state) in states.iter().enumerate() {
        for (topic, body) in samples() {
            let fields = topic_fields(topic);
            let mut whole = state.clone();
            let mut cut = state.clone();
            let expected = try_deliver_with(&mut whole, rules, topic, &body);
            let got = try_deliver_with(&mut cut, rules, topic, &only(&fields, &body));
            if expected != got || whole != cut {
                return Some(format!(
                    "{} after {i} timeline deliveries: whole {expected:#?}\nprojected {got:#?}",
                    topic.as_str()
                ));
            }
        }
    }
    None
}

#[test]
fn every_sample_plans_the_same_writes_whole_and_with_its_include_fields() {
    let config = rules();
    let rules = &config.shops[0];
    let states = states(rules);
    // The states are worth planning against: the playbooks planned follow-ups.
    assert!(
        !followups(states.last().expect("states")).is_empty(),
        "no follow-up was planned"
    );
    if let Some(diff) = first_difference(rules, &states, |t| include_fields(t).to_vec()) {
        panic!("include_fields lose something the planner reads: {diff}");
    }
    // The samples themselves are as Shopify would send them with the fields.
    for (topic, body) in samples() {
        assert_eq!(
            only(include_fields(topic), &body),
            projected(topic, &body),
            "{}",
            topic.as_str()
        );
    }
}

#[test]
fn the_timeline_delivered_with_include_fields_leaves_the_same_table_after_every_delivery() {
    let config = rules();
    let rules = &config.shops[0];
    let mut whole = Table::default();
    let mut cut = Table::default();
    for (topic, body) in timeline() {
        let expected = try_deliver_with(&mut whole, rules, topic, &body);
        let got = try_deliver_with(&mut cut, rules, topic, &projected(topic, &body));
        assert!(expected.is_ok(), "{}: {expected:?}", topic.as_str());
        assert_eq!(expected, got, "{}", topic.as_str());
        assert_eq!(whole, cut, "{}", topic.as_str());
    }
}

/// Each listed field without the others' help: dropping it is refused by the parse, or
/// changes a write, or is tolerated (a field no sample exercises, or one read for
/// another purpose than planning, such as the order's `processed_at`). Never a panic.
/// The test lists which is which, and requires the shape check's keys to be refused.
#[test]
fn dropping_any_one_listed_field_is_refused_changes_a_write_or_is_tolerated() {
    let config = rules();
    let rules = &config.shops[0];
    let states = states(rules);
    let mut tolerated = Vec::new();
    for topic in Topic::ALL {
        let fields = include_fields(topic);
        for drop in fields {
            let rest: Vec<&'static str> = fields.iter().copied().filter(|f| f != drop).collect();
            let diff = first_difference(rules, &states, |t| {
                if t == topic {
                    rest.clone()
                } else {
                    include_fields(t).to_vec()
                }
            });
            let required = crate::wire::shopify::shape::of(topic)
                .required
                .names()
                .any(|k| k == *drop);
            match diff {
                Some(d) if required => assert!(d.contains("parse"), "{drop}: {d}"),
                Some(_) => {}
                None => {
                    assert!(
                        !required,
                        "{}: dropping `{drop}` went unseen",
                        topic.as_str()
                    );
                    tolerated.push(format!("{}: {drop}", topic.as_str()));
                }
            }
        }
    }
    eprintln!(
        "fields whose absence no sample's plan shows:\n  {}",
        tolerated.join("\n  ")
    );
}
