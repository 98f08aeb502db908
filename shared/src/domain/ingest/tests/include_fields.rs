//! A payload cut to its subscription's `include_fields`
//! (`wire::shopify::include_fields`) records and plans exactly as the full one, for
//! every topic that takes them, with every playbook of the sample config on.

use super::*;
use crate::wire::shopify::include_fields::{include_fields, project};

/// One order's life as its deliveries: paid, shipped, delivered, refunded, the
/// customer's consent, then cancelled.
fn life() -> Vec<(Topic, Vec<u8>)> {
    vec![
        (Topic::OrdersPaid, fixtures::ORDER.to_vec()),
        (Topic::FulfillmentsCreate, fixtures::FULFILLMENT.to_vec()),
        (
            Topic::FulfillmentEventsCreate,
            fixtures::FULFILLMENT_DELIVERED.to_vec(),
        ),
        (Topic::RefundsCreate, fixtures::REFUND.to_vec()),
        (Topic::EmailConsentUpdate, fixtures::CONSENT.to_vec()),
        (Topic::OrdersCancelled, fixtures::ORDER_CANCELLED.to_vec()),
    ]
}

fn cut(topic: Topic, body: &[u8]) -> Vec<u8> {
    let full: Value = serde_json::from_slice(body).expect("fixture is JSON");
    serde_json::to_vec(&project(topic, &full)).expect("serialises")
}

#[test]
fn an_order_life_cut_to_the_included_fields_records_and_plans_as_the_full_one() {
    let config = crate::config::Config::parse(
        include_str!("../../../../../infra/aftercart.toml"),
        "infra/aftercart.toml",
    )
    .expect("the sample config loads");
    let shop = config.shop(SHOP).expect("the demo shop");
    let context = Context {
        rules: Some(shop),
        ..ctx(now())
    };
    let (mut full, mut cut_table) = (Table::default(), Table::default());
    let mut planned = 0;
    for (topic, body) in life() {
        assert!(!include_fields(topic).is_empty(), "{}", topic.as_str());
        let small = cut(topic, &body);
        assert!(
            small.len() < body.len(),
            "{}: nothing was cut",
            topic.as_str()
        );
        let a = full
            .deliver(&context, &event(topic, &body))
            .unwrap_or_else(|e| panic!("{}: {e}", topic.as_str()));
        let b = cut_table
            .deliver(&context, &event(topic, &small))
            .unwrap_or_else(|e| panic!("{} (cut): {e}", topic.as_str()));
        assert_eq!(a, b, "{}: the writes differ", topic.as_str());
        planned += a
            .iter()
            .filter(|w| matches!(w.item, Item::FollowUp(_)))
            .count();
    }
    assert_eq!(full, cut_table);
    // The life planned follow-ups (so the comparison covers the planner's reads).
    assert!(planned >= 2, "{planned} follow-up writes");
}

#[test]
fn a_field_left_out_of_the_list_changes_what_is_recorded() {
    // The check above can fail: without `customer.email` the profile has no address.
    let full: Value = serde_json::from_slice(fixtures::ORDER).expect("fixture is JSON");
    let mut cut_body = project(Topic::OrdersPaid, &full);
    cut_body["customer"]
        .as_object_mut()
        .expect("customer")
        .remove("email");
    cut_body.as_object_mut().expect("order").remove("email");
    cut_body
        .as_object_mut()
        .expect("order")
        .remove("contact_email");
    let (mut a, mut b) = (Table::default(), Table::default());
    deliver(&mut a, Topic::OrdersPaid, fixtures::ORDER, now());
    let body = serde_json::to_vec(&cut_body).expect("serialises");
    deliver(&mut b, Topic::OrdersPaid, &body, now());
    assert_ne!(a, b);
}
