use super::*;

use crate::wire::shopify::fixtures;
use crate::wire::shopify::parse_event;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::str::FromStr;

// ---------------------------------------------------------------------------------------
// An in-memory table with the semantics the DynamoDB adapter gives the planner: a
// consistent read of the items named by `needs`, and an all-or-nothing transaction in
// which every write's `Expect` is checked before any write is applied.
// ---------------------------------------------------------------------------------------

const SHOP: &str = "aftercart-demo.myshopify.com";
const WEBHOOK_ID: &str = "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043";
const ORDER_ID: u64 = 450789469;
const ORDER_2_ID: u64 = 450789470;
const CUSTOMER_ID: u64 = 207119551;
const FULFILLMENT_ID: u64 = 255858046;
const REFUND_ID: u64 = 509562969;
const PRODUCT_ID: u64 = 632910392;
const SHOP_ID: u64 = 954889;
const BOB_EMAIL: &str = "bob.norman@hostmail.com";
/// `created_at` (and `updated_at`) of the fixture order, as a UTC key.
const ORDER_CREATED: &str = "2008-01-10T16:00:00.000Z";

use super::memory::MemoryTable as Table;

impl Table {
    fn order(&self, id: u64) -> OrderRecord {
        match self.items.get(&keys::order(SHOP, id)) {
            Some(Item::Order(r)) => r.clone(),
            other => panic!("no order {id}: {other:?}"),
        }
    }

    fn fulfillment(&self, order_id: u64, id: u64) -> FulfillmentRecord {
        match self.items.get(&keys::fulfillment(SHOP, order_id, id)) {
            Some(Item::Fulfillment(r)) => r.clone(),
            other => panic!("no fulfillment {order_id}/{id}: {other:?}"),
        }
    }

    fn profile(&self, customer_key: &str) -> ProfileRecord {
        match self.items.get(&keys::profile(SHOP, customer_key)) {
            Some(Item::Profile(r)) => r.clone(),
            other => panic!("no profile {customer_key}: {other:?}"),
        }
    }

    fn shop(&self) -> ShopRecord {
        match self.items.get(&keys::shop(SHOP)) {
            Some(Item::Shop(r)) => r.clone(),
            other => panic!("no shop item: {other:?}"),
        }
    }

    /// The history entries under a customer's partition.
    fn history(&self, customer_key: &str) -> Vec<(Key, HistoryRecord)> {
        let pk = keys::customer_pk(SHOP, customer_key);
        let mut out: Vec<_> = self
            .items
            .iter()
            .filter_map(|(k, item)| match item {
                Item::History(h) if k.pk == pk => Some((k.clone(), h.clone())),
                _ => None,
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

fn ctx(now: DateTime<Utc>) -> Context<'static> {
    Context {
        shop: SHOP,
        webhook_id: WEBHOOK_ID,
        now,
        rules: None,
        shards: 4,
        redelivery: false,
        import: false,
        counts: None,
    }
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

/// When the deliveries in these tests arrive.
fn now() -> DateTime<Utc> {
    at("2026-12-01T12:00:00Z")
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn event(topic: Topic, body: &[u8]) -> Event {
    parse_event(topic, body).unwrap_or_else(|e| panic!("{}: {e}", topic.as_str()))
}

/// Reads, plans and applies one delivery, as one round of the adapter.
fn try_deliver(
    table: &mut Table,
    topic: Topic,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<Vec<Write>, String> {
    table.deliver(&ctx(now), &event(topic, body))
}

fn deliver(table: &mut Table, topic: Topic, body: &[u8], now: DateTime<Utc>) -> Vec<Write> {
    try_deliver(table, topic, body, now).unwrap_or_else(|e| panic!("{}: {e}", topic.as_str()))
}

fn find<'a>(writes: &'a [Write], key: &Key) -> &'a Write {
    writes
        .iter()
        .find(|w| &w.key == key)
        .unwrap_or_else(|| panic!("no write to {key:?} in {writes:#?}"))
}

fn record_json(item: &Item) -> String {
    match item {
        Item::Order(r) => serde_json::to_string(r),
        Item::Fulfillment(r) => serde_json::to_string(r),
        Item::Refund(r) => serde_json::to_string(r),
        Item::Profile(r) => serde_json::to_string(r),
        Item::History(r) => serde_json::to_string(r),
        Item::Privacy(r) => serde_json::to_string(r),
        Item::Shop(r) => serde_json::to_string(r),
        Item::FollowUp(r) => serde_json::to_string(r),
        Item::Discount(r) => serde_json::to_string(r),
        Item::Cadence(r) => serde_json::to_string(r),
    }
    .unwrap()
}

fn edit(fixture: &[u8], f: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(fixture).unwrap();
    f(&mut v);
    serde_json::to_vec(&v).unwrap()
}

/// The fixture order (`authorized`, created = updated = 2008-01-10T16:00Z) edited.
fn order_body(f: impl FnOnce(&mut Value)) -> Vec<u8> {
    edit(fixtures::ORDER, f)
}

/// The fixture order, paid, in the same state as created.
fn paid_order() -> Vec<u8> {
    order_body(|o| o["financial_status"] = json!("paid"))
}

/// A second order of the same customer: later, cheaper, another product.
fn second_order(created_at: &str, total: &str) -> Vec<u8> {
    order_body(|o| {
        o["id"] = json!(ORDER_2_ID);
        o["name"] = json!("#1002");
        o["created_at"] = json!(created_at);
        o["updated_at"] = json!(created_at);
        o["financial_status"] = json!("paid");
        o["total_price"] = json!(total);
        o["line_items"] = json!([{
            "id": 866550311,
            "product_id": 921728736,
            "variant_id": 447654529,
            "sku": "IPOD-TOUCH",
            "title": "IPod Touch 8GB",
            "variant_title": "black",
            "quantity": 1,
            "price": total
        }]);
    })
}

fn profile_writes(writes: &[Write]) -> Vec<&ProfileRecord> {
    writes
        .iter()
        .filter_map(|w| match &w.item {
            Item::Profile(p) => Some(p),
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Orders and the customer's profile
// ---------------------------------------------------------------------------------------

#[test]
fn first_paid_order_of_a_new_customer_writes_order_profile_and_one_history_entry() {
    let mut t = Table::default();
    let writes = deliver(&mut t, Topic::OrdersPaid, &paid_order(), now());
    let ckey = CUSTOMER_ID.to_string();
    assert_eq!(writes.len(), 3, "{writes:#?}");

    let w = find(&writes, &keys::order(SHOP, ORDER_ID));
    assert_eq!(w.expect, Expect::Absent);
    let Item::Order(o) = &w.item else {
        panic!("{w:?}")
    };
    assert_eq!(o.v, 1);
    assert_eq!(o.order_id, ORDER_ID);
    assert_eq!(o.name.as_deref(), Some("#1001"));
    assert_eq!(o.customer_key.as_deref(), Some(ckey.as_str()));
    assert_eq!(o.created_at.as_deref(), Some(ORDER_CREATED));
    assert_eq!(o.order_updated_at.as_deref(), Some(ORDER_CREATED));
    assert_eq!(o.paid_at.as_deref(), Some(ORDER_CREATED));
    assert_eq!(o.financial_status.as_deref(), Some("paid"));
    assert_eq!(o.total_price, Some(dec("409.94")));
    assert_eq!(o.discount_codes, vec!["TENOFF".to_string()]);
    assert_eq!(o.lines.len(), 3);
    assert!(o.counted && o.spend_counted);

    let w = find(&writes, &keys::profile(SHOP, &ckey));
    assert_eq!(w.expect, Expect::Absent);
    let Item::Profile(p) = &w.item else {
        panic!("{w:?}")
    };
    assert_eq!(p.v, 1);
    assert_eq!(p.customer_key, ckey);
    assert_eq!(p.customer_id, Some(CUSTOMER_ID));
    assert_eq!(p.email.as_deref(), Some(BOB_EMAIL));
    assert_eq!(p.first_name.as_deref(), Some("Bob"));
    assert_eq!(p.orders_count, 1);
    assert_eq!(p.paid_orders_count, 1);
    assert_eq!(p.total_spent, dec("409.94"));
    assert_eq!(p.total_spent.to_string(), "409.94");
    assert_eq!(p.currency.as_deref(), Some("USD"));
    assert_eq!(p.first_order_at.as_deref(), Some(ORDER_CREATED));
    assert_eq!(p.last_order_at.as_deref(), Some(ORDER_CREATED));
    assert_eq!(p.last_order_id, Some(ORDER_ID));
    assert_eq!(
        p.products.get(&PRODUCT_ID.to_string()).map(String::as_str),
        Some(ORDER_CREATED)
    );
    assert_eq!(p.products.len(), 1);

    let hkey = keys::history(SHOP, &ckey, ORDER_CREATED, ORDER_ID);
    assert_eq!(hkey.pk, keys::customer_pk(SHOP, &ckey));
    let w = find(&writes, &hkey);
    assert_eq!(w.expect, Expect::Any);
    assert_eq!(
        w.item,
        Item::History(HistoryRecord {
            order_id: ORDER_ID,
            created_at: ORDER_CREATED.into(),
            name: Some("#1001".into()),
            total_price: Some(dec("409.94")),
            currency: Some("USD".into()),
            product_ids: vec![PRODUCT_ID],
            // 2008-01-10T16:00:00Z + 730 days (the default retention).
            expires_at: Some(1_199_980_800 + 730 * 86_400),
        })
    );
    assert_eq!(t.history(&ckey).len(), 1);
    assert_eq!(&t.profile(&ckey), p);
}

#[test]
fn orders_create_then_orders_paid_counts_the_order_once_and_its_spend_once() {
    let mut t = Table::default();
    let ckey = CUSTOMER_ID.to_string();
    // The fixture is `authorized`: recorded, not yet paid.
    deliver(&mut t, Topic::OrdersCreate, fixtures::ORDER, now());
    let p = t.profile(&ckey);
    assert_eq!((p.orders_count, p.paid_orders_count), (1, 0));
    assert_eq!(p.total_spent, Decimal::ZERO);
    assert_eq!(t.order(ORDER_ID).paid_at, None);

    let paid = order_body(|o| {
        o["financial_status"] = json!("paid");
        o["updated_at"] = json!("2008-01-10T11:05:00-05:00");
    });
    let writes = deliver(&mut t, Topic::OrdersPaid, &paid, now());
    assert!(
        !writes.iter().any(|w| matches!(w.item, Item::History(_))),
        "no second history entry: {writes:#?}"
    );
    let p = t.profile(&ckey);
    assert_eq!(p.orders_count, 1);
    assert_eq!(p.paid_orders_count, 1);
    assert_eq!(p.total_spent, dec("409.94"));
    assert_eq!(p.v, 2);
    assert_eq!(t.history(&ckey).len(), 1);
    let o = t.order(ORDER_ID);
    assert_eq!(o.paid_at.as_deref(), Some("2008-01-10T16:05:00.000Z"));
    assert_eq!(o.financial_status.as_deref(), Some("paid"));
}

#[test]
fn replanning_the_same_delivery_on_the_updated_table_changes_no_count() {
    let mut t = Table::default();
    let ckey = CUSTOMER_ID.to_string();
    deliver(&mut t, Topic::OrdersPaid, &paid_order(), now());
    let before = t.profile(&ckey);

    let writes = deliver(&mut t, Topic::OrdersPaid, &paid_order(), now());
    assert!(profile_writes(&writes).is_empty(), "{writes:#?}");
    assert!(!writes.iter().any(|w| matches!(w.item, Item::History(_))));
    assert_eq!(t.profile(&ckey), before);
    assert_eq!(t.history(&ckey).len(), 1);
    let o = t.order(ORDER_ID);
    assert!(o.counted && o.spend_counted);
    assert_eq!(o.paid_at.as_deref(), Some(ORDER_CREATED));
}

#[test]
fn applying_an_already_applied_plan_again_is_refused_as_a_whole() {
    let mut t = Table::default();
    let ev = event(Topic::OrdersPaid, &paid_order());
    let writes = plan(&ctx(now()), &ev, &t.load(SHOP, &needs(&ev)));
    t.apply(writes.clone()).unwrap();
    let after_first = t.clone();
    let err = t.apply(writes).unwrap_err();
    assert!(err.contains("ConditionalCheckFailed"), "{err}");
    assert_eq!(t, after_first);
}

#[test]
fn newer_paid_state_arriving_before_older_create_keeps_the_newer_state() {
    let mut t = Table::default();
    let newer = order_body(|o| {
        o["financial_status"] = json!("paid");
        o["updated_at"] = json!("2008-01-10T11:30:00-05:00");
    });
    let older = order_body(|o| o["financial_status"] = json!("pending"));
    deliver(&mut t, Topic::OrdersPaid, &newer, now());
    deliver(&mut t, Topic::OrdersCreate, &older, now());

    let o = t.order(ORDER_ID);
    assert_eq!(o.financial_status.as_deref(), Some("paid"));
    assert_eq!(
        o.order_updated_at.as_deref(),
        Some("2008-01-10T16:30:00.000Z")
    );
    assert_eq!(o.paid_at.as_deref(), Some("2008-01-10T16:30:00.000Z"));
    let p = t.profile(&CUSTOMER_ID.to_string());
    assert_eq!((p.orders_count, p.paid_orders_count), (1, 1));
    assert_eq!(p.total_spent, dec("409.94"));
}

#[test]
fn two_orders_of_one_customer_sum_exactly_and_the_later_created_is_last_whatever_the_arrival() {
    let mut t = Table::default();
    let ckey = CUSTOMER_ID.to_string();
    // The later order arrives first.
    deliver(
        &mut t,
        Topic::OrdersPaid,
        &second_order("2008-02-01T10:00:00-05:00", "19.99"),
        now(),
    );
    deliver(&mut t, Topic::OrdersPaid, &paid_order(), now());

    let p = t.profile(&ckey);
    assert_eq!(p.orders_count, 2);
    assert_eq!(p.paid_orders_count, 2);
    assert_eq!(p.total_spent, dec("429.93"));
    assert_eq!(p.total_spent.to_string(), "429.93");
    assert_eq!(p.last_order_id, Some(ORDER_2_ID));
    assert_eq!(p.last_order_at.as_deref(), Some("2008-02-01T15:00:00.000Z"));
    assert_eq!(p.first_order_at.as_deref(), Some(ORDER_CREATED));
    assert_eq!(
        p.products.get("632910392").map(String::as_str),
        Some(ORDER_CREATED)
    );
    assert_eq!(
        p.products.get("921728736").map(String::as_str),
        Some("2008-02-01T15:00:00.000Z")
    );
    let history: Vec<u64> = t
        .history(&ckey)
        .into_iter()
        .map(|(_, h)| h.order_id)
        .collect();
    assert_eq!(history, vec![ORDER_ID, ORDER_2_ID], "sorted by order time");
}

#[test]
fn two_plans_from_one_snapshot_the_second_fails_its_version_and_succeeds_after_replanning() {
    let mut t = Table::default();
    let ckey = CUSTOMER_ID.to_string();
    // The customer's profile exists (v = 1) from a consent update.
    deliver(&mut t, Topic::EmailConsentUpdate, fixtures::CONSENT, now());
    assert_eq!(t.profile(&ckey).v, 1);

    let a = event(Topic::OrdersPaid, &paid_order());
    let b_body = second_order("2008-02-01T10:00:00-05:00", "19.99");
    let b = event(Topic::OrdersPaid, &b_body);
    // Both deliveries read before either writes.
    let loaded_a = t.load(SHOP, &needs(&a));
    let loaded_b = t.load(SHOP, &needs(&b));
    let plan_a = plan(&ctx(now()), &a, &loaded_a);
    let plan_b = plan(&ctx(now()), &b, &loaded_b);
    assert_eq!(
        find(&plan_b, &keys::profile(SHOP, &ckey)).expect,
        Expect::Version(1)
    );

    t.apply(plan_a).unwrap();
    let after_a = t.clone();
    let err = t.apply(plan_b).unwrap_err();
    assert!(err.contains("expected v=1"), "{err}");
    assert_eq!(t, after_a, "a failed transaction writes nothing");

    // The adapter's retry: read again, plan again, write.
    try_deliver(&mut t, Topic::OrdersPaid, &b_body, now()).unwrap();
    let p = t.profile(&ckey);
    assert_eq!(p.orders_count, 2);
    assert_eq!(p.paid_orders_count, 2);
    assert_eq!(p.total_spent, dec("429.93"));
    assert_eq!(p.consent_state.as_deref(), Some("subscribed"));
    assert_eq!(p.v, 3);
}

#[test]
fn two_first_orders_of_a_new_customer_planned_together_the_second_fails_absent_and_retries() {
    let mut t = Table::default();
    let ckey = CUSTOMER_ID.to_string();
    let a = event(Topic::OrdersPaid, &paid_order());
    let b_body = second_order("2008-02-01T10:00:00-05:00", "19.99");
    let b = event(Topic::OrdersPaid, &b_body);
    let plan_a = plan(&ctx(now()), &a, &t.load(SHOP, &needs(&a)));
    let plan_b = plan(&ctx(now()), &b, &t.load(SHOP, &needs(&b)));
    assert_eq!(
        find(&plan_b, &keys::profile(SHOP, &ckey)).expect,
        Expect::Absent
    );

    t.apply(plan_a).unwrap();
    assert!(t.apply(plan_b).is_err());
    assert!(!t.items.contains_key(&keys::order(SHOP, ORDER_2_ID)));
    try_deliver(&mut t, Topic::OrdersPaid, &b_body, now()).unwrap();
    let p = t.profile(&ckey);
    assert_eq!((p.orders_count, p.paid_orders_count), (2, 2));
    assert_eq!(p.total_spent, dec("429.93"));
}

#[test]
fn concurrent_create_and_paid_of_one_order_count_it_once_after_the_retry() {
    let mut t = Table::default();
    let ckey = CUSTOMER_ID.to_string();
    let created = event(Topic::OrdersCreate, fixtures::ORDER);
    let paid_body = order_body(|o| {
        o["financial_status"] = json!("paid");
        o["updated_at"] = json!("2008-01-10T11:05:00-05:00");
    });
    let paid = event(Topic::OrdersPaid, &paid_body);
    let plan_created = plan(&ctx(now()), &created, &t.load(SHOP, &needs(&created)));
    let plan_paid = plan(&ctx(now()), &paid, &t.load(SHOP, &needs(&paid)));
    t.apply(plan_paid).unwrap();
    assert!(t.apply(plan_created).is_err());
    try_deliver(&mut t, Topic::OrdersCreate, fixtures::ORDER, now()).unwrap();

    let p = t.profile(&ckey);
    assert_eq!((p.orders_count, p.paid_orders_count), (1, 1));
    assert_eq!(p.total_spent, dec("409.94"));
    assert_eq!(t.history(&ckey).len(), 1);
    assert_eq!(t.order(ORDER_ID).financial_status.as_deref(), Some("paid"));
}

#[test]
fn cancellation_after_payment_reverses_spend_and_a_stale_paid_does_not_count_it_again() {
    let mut t = Table::default();
    let ckey = CUSTOMER_ID.to_string();
    deliver(&mut t, Topic::OrdersPaid, &paid_order(), now());
    let cancelled = order_body(|o| {
        o["financial_status"] = json!("refunded");
        o["updated_at"] = json!("2008-01-11T09:00:00-05:00");
        o["cancelled_at"] = json!("2008-01-11T09:00:00-05:00");
        o["cancel_reason"] = json!("customer");
    });
    deliver(&mut t, Topic::OrdersCancelled, &cancelled, now());
    let p = t.profile(&ckey);
    assert_eq!(p.orders_count, 1, "the order is still part of the history");
    assert_eq!(p.paid_orders_count, 0);
    assert_eq!(p.total_spent, Decimal::ZERO);
    let o = t.order(ORDER_ID);
    assert_eq!(o.cancelled_at.as_deref(), Some("2008-01-11T14:00:00.000Z"));
    assert!(!o.spend_counted);

    // orders/paid of the earlier state, delivered late.
    let stale_paid = order_body(|o| {
        o["financial_status"] = json!("paid");
        o["updated_at"] = json!("2008-01-10T11:05:00-05:00");
    });
    deliver(&mut t, Topic::OrdersPaid, &stale_paid, now());
    let p = t.profile(&ckey);
    assert_eq!(p.orders_count, 1);
    assert_eq!(p.paid_orders_count, 0);
    assert_eq!(p.total_spent, Decimal::ZERO);
    let o = t.order(ORDER_ID);
    assert_eq!(o.financial_status.as_deref(), Some("refunded"));
    assert!(o.cancelled_at.is_some() && !o.spend_counted);
}

#[test]
fn cancellation_subtracts_exactly_the_amount_that_was_counted() {
    let mut t = Table::default();
    let ckey = CUSTOMER_ID.to_string();
    deliver(&mut t, Topic::OrdersPaid, &paid_order(), now());
    assert_eq!(t.profile(&ckey).total_spent, dec("409.94"));
    // The paid order was edited (a line added: total_price 409.94 -> 450.00) and then
    // cancelled; edits have no subscribed topic, so the cancellation is the first state
    // with the new total.
    let cancelled = order_body(|o| {
        o["financial_status"] = json!("refunded");
        o["updated_at"] = json!("2008-01-11T09:00:00-05:00");
        o["cancelled_at"] = json!("2008-01-11T09:00:00-05:00");
        o["total_price"] = json!("450.00");
    });
    deliver(&mut t, Topic::OrdersCancelled, &cancelled, now());
    let p = t.profile(&ckey);
    assert_eq!(p.paid_orders_count, 0);
    assert_eq!(
        p.total_spent,
        Decimal::ZERO,
        "409.94 was added, so 409.94 must be removed"
    );
}

#[test]
fn spend_lands_on_the_profile_that_counted_the_order() {
    let mut t = Table::default();
    // Recorded first as a guest order (no customer object, contact email only)...
    let as_guest = order_body(|o| {
        o.as_object_mut().unwrap().remove("customer");
        o["financial_status"] = json!("pending");
    });
    deliver(&mut t, Topic::OrdersCreate, &as_guest, now());
    let gkey = customer_key(None, Some(BOB_EMAIL)).unwrap();
    assert_eq!(
        t.order(ORDER_ID).customer_key.as_deref(),
        Some(gkey.as_str())
    );
    assert_eq!(t.profile(&gkey).orders_count, 1);
    // ...then paid after a customer was attached to it.
    let paid = order_body(|o| {
        o["financial_status"] = json!("paid");
        o["updated_at"] = json!("2008-01-10T12:00:00-05:00");
    });
    deliver(&mut t, Topic::OrdersPaid, &paid, now());
    // The order still names the guest profile, which counted it: its spend belongs there.
    assert_eq!(
        t.order(ORDER_ID).customer_key.as_deref(),
        Some(gkey.as_str())
    );
    let guest = t.profile(&gkey);
    assert_eq!((guest.orders_count, guest.paid_orders_count), (1, 1));
    assert_eq!(guest.total_spent, dec("409.94"));
    for item in t.items.values() {
        if let Item::Profile(p) = item {
            assert!(
                p.paid_orders_count <= p.orders_count,
                "profile {} has {} paid of {} orders",
                p.customer_key,
                p.paid_orders_count,
                p.orders_count
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// Personal data
// ---------------------------------------------------------------------------------------

#[test]
fn guest_checkout_is_keyed_by_email_hash_and_the_email_is_only_on_the_profile() {
    let mut t = Table::default();
    let body = order_body(|o| {
        o.as_object_mut().unwrap().remove("customer");
        o["email"] = json!("guest@example.com");
        o["financial_status"] = json!("paid");
    });
    let writes = deliver(&mut t, Topic::OrdersPaid, &body, now());
    let gkey = customer_key(None, Some("guest@example.com")).unwrap();
    assert!(gkey.starts_with("guest-"), "{gkey}");
    assert_eq!(gkey, format!("guest-{}", email_hash("guest@example.com")));

    let p = t.profile(&gkey);
    assert_eq!(p.customer_key, gkey);
    assert_eq!(p.customer_id, None);
    assert_eq!(p.email.as_deref(), Some("guest@example.com"));
    assert_eq!(p.first_name, None);
    assert_eq!((p.orders_count, p.paid_orders_count), (1, 1));
    assert_eq!(t.history(&gkey).len(), 1);

    let o = t.order(ORDER_ID);
    assert_eq!(o.customer_key.as_deref(), Some(gkey.as_str()));
    let json = serde_json::to_string(&o).unwrap();
    assert!(!json.contains('@'), "{json}");
    assert!(
        !json.contains("guest@example.com") && !json.contains("Bob"),
        "{json}"
    );
    for w in writes
        .iter()
        .filter(|w| !matches!(w.item, Item::Profile(_)))
    {
        let json = record_json(&w.item);
        assert!(!json.contains('@'), "{json}");
    }
}

#[test]
fn only_the_profile_holds_personal_data() {
    let mut t = Table::default();
    deliver(&mut t, Topic::OrdersPaid, &paid_order(), now());
    deliver(
        &mut t,
        Topic::FulfillmentsCreate,
        fixtures::FULFILLMENT,
        now(),
    );
    deliver(
        &mut t,
        Topic::FulfillmentEventsCreate,
        fixtures::FULFILLMENT_DELIVERED,
        now(),
    );
    deliver(&mut t, Topic::RefundsCreate, fixtures::REFUND, now());
    deliver(
        &mut t,
        Topic::CustomersDataRequest,
        fixtures::DATA_REQUEST,
        now(),
    );

    let mut kinds = HashSet::new();
    for (key, item) in &t.items {
        let json = record_json(item);
        if let Item::Profile(p) = item {
            assert_eq!(p.email.as_deref(), Some(BOB_EMAIL));
            assert_eq!(p.first_name.as_deref(), Some("Bob"));
            continue;
        }
        kinds.insert(std::mem::discriminant(item));
        for personal in ["bob.norman", "Bob", "Norman", "Chestnut", "555-625", "@"] {
            assert!(
                !json.contains(personal),
                "{key:?} holds {personal:?}: {json}"
            );
        }
    }
    // order, history, fulfillment, refund, privacy request
    assert_eq!(kinds.len(), 5);
}

// ---------------------------------------------------------------------------------------
// Shipments and refunds
// ---------------------------------------------------------------------------------------

#[test]
fn fulfillment_before_order_creates_a_partial_order_that_the_order_later_completes() {
    let mut t = Table::default();
    let writes = deliver(
        &mut t,
        Topic::FulfillmentsCreate,
        fixtures::FULFILLMENT,
        now(),
    );
    let shipped = "2013-11-01T20:06:08.000Z";
    assert_eq!(writes.len(), 2);
    let w = find(&writes, &keys::fulfillment(SHOP, ORDER_ID, FULFILLMENT_ID));
    assert_eq!(w.expect, Expect::Absent);
    let w = find(&writes, &keys::order(SHOP, ORDER_ID));
    assert_eq!(w.expect, Expect::Absent);
    let Item::Order(partial) = &w.item else {
        panic!("{w:?}")
    };
    assert_eq!(partial.order_id, ORDER_ID);
    assert_eq!(partial.fulfilled_at.as_deref(), Some(shipped));
    assert_eq!(partial.order_updated_at, None);
    assert_eq!(partial.name, None);
    assert!(!partial.counted);

    let writes = deliver(&mut t, Topic::OrdersPaid, &paid_order(), now());
    assert_eq!(
        find(&writes, &keys::order(SHOP, ORDER_ID)).expect,
        Expect::Version(1)
    );
    let o = t.order(ORDER_ID);
    assert_eq!(o.v, 2);
    assert_eq!(o.fulfilled_at.as_deref(), Some(shipped));
    assert_eq!(o.name.as_deref(), Some("#1001"));
    assert_eq!(o.financial_status.as_deref(), Some("paid"));
    assert_eq!(o.total_price, Some(dec("409.94")));
    assert_eq!(o.customer_key.as_deref(), Some("207119551"));
    assert!(o.counted && o.spend_counted);
    let p = t.profile("207119551");
    assert_eq!((p.orders_count, p.paid_orders_count), (1, 1));
}

#[test]
fn delivered_tracking_event_sets_delivered_at_on_fulfillment_and_order() {
    let mut t = Table::default();
    let delivered = "2026-11-21T19:02:00.000Z";
    let writes = deliver(
        &mut t,
        Topic::FulfillmentEventsCreate,
        fixtures::FULFILLMENT_DELIVERED,
        now(),
    );
    assert_eq!(writes.len(), 2);
    let f = t.fulfillment(ORDER_ID, FULFILLMENT_ID);
    assert_eq!(f.delivered_at.as_deref(), Some(delivered));
    assert_eq!(f.shipment_status.as_deref(), Some("delivered"));
    assert_eq!(t.order(ORDER_ID).delivered_at.as_deref(), Some(delivered));
}

#[test]
fn a_second_delivered_event_keeps_the_earliest_delivery_time() {
    let mut t = Table::default();
    let first = "2026-11-21T19:02:00.000Z";
    deliver(
        &mut t,
        Topic::FulfillmentEventsCreate,
        fixtures::FULFILLMENT_DELIVERED,
        now(),
    );
    let later = edit(fixtures::FULFILLMENT_DELIVERED, |e| {
        e["id"] = json!(12584341209253u64);
        e["happened_at"] = json!("2026-11-22T10:00:00-05:00");
        e["created_at"] = json!("2026-11-22T10:01:00-05:00");
    });
    deliver(&mut t, Topic::FulfillmentEventsCreate, &later, now());
    assert_eq!(
        t.fulfillment(ORDER_ID, FULFILLMENT_ID)
            .delivered_at
            .as_deref(),
        Some(first)
    );
    assert_eq!(t.order(ORDER_ID).delivered_at.as_deref(), Some(first));

    // An earlier delivered event arriving last moves it back.
    let earlier = edit(fixtures::FULFILLMENT_DELIVERED, |e| {
        e["id"] = json!(12584341209254u64);
        e["happened_at"] = json!("2026-11-21T09:00:00-05:00");
    });
    deliver(&mut t, Topic::FulfillmentEventsCreate, &earlier, now());
    let earliest = "2026-11-21T14:00:00.000Z";
    assert_eq!(
        t.fulfillment(ORDER_ID, FULFILLMENT_ID)
            .delivered_at
            .as_deref(),
        Some(earliest)
    );
    assert_eq!(t.order(ORDER_ID).delivered_at.as_deref(), Some(earliest));
}

#[test]
fn a_non_delivered_tracking_event_writes_the_fulfillment_only() {
    let mut t = Table::default();
    let writes = deliver(
        &mut t,
        Topic::FulfillmentEventsCreate,
        fixtures::FULFILLMENT_EVENT,
        now(),
    );
    let (order_id, fulfillment_id) = (2776493818019, 2608403447971);
    assert_eq!(writes.len(), 1, "{writes:#?}");
    assert!(!writes.iter().any(|w| matches!(w.item, Item::Order(_))));
    assert!(!t.items.contains_key(&keys::order(SHOP, order_id)));
    let f = t.fulfillment(order_id, fulfillment_id);
    assert_eq!(f.shipment_status.as_deref(), Some("label_printed"));
    assert_eq!(f.delivered_at, None);
}

#[test]
fn only_the_delivery_among_tracking_events_reads_the_customers_follow_ups() {
    let mut t = Table::default();
    deliver(&mut t, Topic::OrdersPaid, fixtures::ORDER, now());
    let customer = t.order(ORDER_ID).customer_key.clone();
    assert!(customer.is_some());
    let tracking = |status: &str| {
        let body = edit(fixtures::FULFILLMENT_DELIVERED, |e| {
            e["status"] = status.into()
        });
        event(Topic::FulfillmentEventsCreate, &body)
    };
    for (status, reads) in [("in_transit", None), ("delivered", customer)] {
        let ev = tracking(status);
        let first = needs(&ev);
        assert_eq!(
            first.followups_of, None,
            "the customer is the stored order's"
        );
        let refined = needs_after(&ev, &first, &t.load(SHOP, &first));
        assert_eq!(refined.followups_of, reads, "{status}");
    }
}

#[test]
fn fulfillment_update_delivered_sets_delivered_at_and_an_older_update_does_not_overwrite_it() {
    let mut t = Table::default();
    let newer = edit(fixtures::FULFILLMENT, |f| {
        f["status"] = json!("success");
        f["shipment_status"] = json!("delivered");
        f["updated_at"] = json!("2013-11-03T10:00:00-04:00");
    });
    deliver(&mut t, Topic::FulfillmentsUpdate, &newer, now());
    let delivered = "2013-11-03T14:00:00.000Z";
    let f = t.fulfillment(ORDER_ID, FULFILLMENT_ID);
    assert_eq!(f.delivered_at.as_deref(), Some(delivered));
    assert_eq!(t.order(ORDER_ID).delivered_at.as_deref(), Some(delivered));

    let older = edit(fixtures::FULFILLMENT, |f| {
        f["status"] = json!("open");
        f["shipment_status"] = json!("in_transit");
        f["updated_at"] = json!("2013-11-02T10:00:00-04:00");
    });
    deliver(&mut t, Topic::FulfillmentsUpdate, &older, now());
    let f = t.fulfillment(ORDER_ID, FULFILLMENT_ID);
    assert_eq!(f.status.as_deref(), Some("success"));
    assert_eq!(f.shipment_status.as_deref(), Some("delivered"));
    assert_eq!(f.fulfillment_updated_at.as_deref(), Some(delivered));
    assert_eq!(f.delivered_at.as_deref(), Some(delivered));
    assert_eq!(f.created_at.as_deref(), Some("2013-11-01T20:06:08.000Z"));
    assert_eq!(t.order(ORDER_ID).delivered_at.as_deref(), Some(delivered));
}

#[test]
fn refund_writes_an_immutable_refund_record_and_sets_refunded_at() {
    let mut t = Table::default();
    deliver(&mut t, Topic::OrdersPaid, &paid_order(), now());
    let writes = deliver(&mut t, Topic::RefundsCreate, fixtures::REFUND, now());
    let refunded = "2016-06-20T17:35:06.000Z";
    assert_eq!(writes.len(), 2);

    let w = find(&writes, &keys::refund(SHOP, ORDER_ID, REFUND_ID));
    assert_eq!(w.expect, Expect::Any);
    let Item::Refund(r) = &w.item else {
        panic!("{w:?}")
    };
    assert_eq!(r.refund_id, REFUND_ID);
    assert_eq!(r.order_id, ORDER_ID);
    assert_eq!(r.created_at.as_deref(), Some(refunded));
    assert!(r.restock);
    assert_eq!(
        r.lines,
        vec![
            RefundLine {
                line_item_id: 703073504,
                quantity: 1,
                product_id: Some(PRODUCT_ID),
                variant_id: Some(457924702),
            },
            RefundLine {
                line_item_id: 466157049,
                quantity: 1,
                product_id: Some(PRODUCT_ID),
                variant_id: Some(39072856),
            },
        ]
    );

    assert_eq!(
        find(&writes, &keys::order(SHOP, ORDER_ID)).expect,
        Expect::Version(1)
    );
    let o = t.order(ORDER_ID);
    assert_eq!(o.refunded_at.as_deref(), Some(refunded));
    assert_eq!(
        o.financial_status.as_deref(),
        Some("paid"),
        "the rest of the order is kept"
    );
    assert!(o.counted && o.spend_counted);
}

// ---------------------------------------------------------------------------------------
// Consent
// ---------------------------------------------------------------------------------------

fn consent(state: &str, updated_at: &str) -> Vec<u8> {
    edit(fixtures::CONSENT, |c| {
        c["email_marketing_consent"]["state"] = json!(state);
        c["email_marketing_consent"]["consent_updated_at"] = json!(updated_at);
    })
}

#[test]
fn consent_for_an_unknown_customer_creates_a_profile_keyed_by_customer_id() {
    let mut t = Table::default();
    let writes = deliver(&mut t, Topic::EmailConsentUpdate, fixtures::CONSENT, now());
    assert_eq!(writes.len(), 1);
    let w = find(&writes, &keys::profile(SHOP, "207119551"));
    assert_eq!(w.expect, Expect::Absent);
    let p = t.profile("207119551");
    assert_eq!(p.v, 1);
    assert_eq!(p.customer_key, "207119551");
    assert_eq!(p.customer_id, Some(CUSTOMER_ID));
    assert_eq!(p.email.as_deref(), Some(BOB_EMAIL));
    assert_eq!(p.consent_state.as_deref(), Some("subscribed"));
    assert_eq!(
        p.consent_updated_at.as_deref(),
        Some("2026-11-20T14:15:00.000Z")
    );
    assert_eq!(p.orders_count, 0);
}

#[test]
fn newer_consent_replaces_the_stored_state() {
    let mut t = Table::default();
    deliver(&mut t, Topic::EmailConsentUpdate, fixtures::CONSENT, now());
    let writes = deliver(
        &mut t,
        Topic::EmailConsentUpdate,
        &consent("unsubscribed", "2026-11-25T08:00:00-05:00"),
        now(),
    );
    assert_eq!(writes[0].expect, Expect::Version(1));
    let p = t.profile("207119551");
    assert_eq!(p.consent_state.as_deref(), Some("unsubscribed"));
    assert_eq!(
        p.consent_updated_at.as_deref(),
        Some("2026-11-25T13:00:00.000Z")
    );
}

#[test]
fn older_consent_arriving_later_does_not_replace_the_stored_state() {
    let mut t = Table::default();
    deliver(&mut t, Topic::EmailConsentUpdate, fixtures::CONSENT, now());
    let before = t.profile("207119551");
    let writes = deliver(
        &mut t,
        Topic::EmailConsentUpdate,
        &consent("not_subscribed", "2026-11-01T08:00:00-05:00"),
        now(),
    );
    assert!(writes.is_empty(), "{writes:#?}");
    assert_eq!(t.profile("207119551"), before);
    assert_eq!(before.consent_state.as_deref(), Some("subscribed"));
}

#[test]
fn consent_and_orders_of_one_customer_share_one_profile() {
    let mut t = Table::default();
    deliver(&mut t, Topic::EmailConsentUpdate, fixtures::CONSENT, now());
    deliver(&mut t, Topic::OrdersPaid, &paid_order(), now());
    let p = t.profile("207119551");
    assert_eq!(p.consent_state.as_deref(), Some("subscribed"));
    assert_eq!((p.orders_count, p.paid_orders_count), (1, 1));
    let profiles = t
        .items
        .values()
        .filter(|i| matches!(i, Item::Profile(_)))
        .count();
    assert_eq!(profiles, 1);
}

// ---------------------------------------------------------------------------------------
// Compliance and installation
// ---------------------------------------------------------------------------------------

fn only_privacy(writes: &[Write]) -> &PrivacyRequestRecord {
    assert_eq!(writes.len(), 1, "{writes:#?}");
    let w = find(
        writes,
        &keys::privacy_request(SHOP, &utc_key(&now()), WEBHOOK_ID),
    );
    assert_eq!(w.expect, Expect::Any);
    let Item::Privacy(r) = &w.item else {
        panic!("{w:?}")
    };
    let json = serde_json::to_string(r).unwrap();
    for personal in ["bob.norman", "@", "555-625"] {
        assert!(!json.contains(personal), "{json}");
    }
    r
}

#[test]
fn customers_redact_records_a_pending_request_with_only_a_hash_of_the_email() {
    let mut t = Table::default();
    let writes = deliver(
        &mut t,
        Topic::CustomersRedact,
        fixtures::CUSTOMERS_REDACT,
        now(),
    );
    let r = only_privacy(&writes);
    assert_eq!(
        r,
        &PrivacyRequestRecord {
            topic: "customers/redact".into(),
            received_at: "2026-12-01T12:00:00.000Z".into(),
            status: "pending".into(),
            customer_id: Some(CUSTOMER_ID),
            email_hash: Some(email_hash(BOB_EMAIL)),
            order_ids: vec![ORDER_ID],
            data_request_id: None,
        }
    );
}

#[test]
fn data_request_records_a_pending_request_with_only_a_hash_of_the_email() {
    let mut t = Table::default();
    let writes = deliver(
        &mut t,
        Topic::CustomersDataRequest,
        fixtures::DATA_REQUEST,
        now(),
    );
    let r = only_privacy(&writes);
    assert_eq!(
        r,
        &PrivacyRequestRecord {
            topic: "customers/data_request".into(),
            received_at: "2026-12-01T12:00:00.000Z".into(),
            status: "pending".into(),
            customer_id: Some(CUSTOMER_ID),
            email_hash: Some(email_hash(BOB_EMAIL)),
            order_ids: vec![ORDER_ID],
            data_request_id: Some(9999),
        }
    );
}

#[test]
fn shop_redact_records_the_request_and_marks_the_shop_uninstalled() {
    let mut t = Table::default();
    let writes = deliver(&mut t, Topic::ShopRedact, fixtures::SHOP_REDACT, now());
    assert_eq!(writes.len(), 2);
    let w = find(
        &writes,
        &keys::privacy_request(SHOP, &utc_key(&now()), WEBHOOK_ID),
    );
    let Item::Privacy(r) = &w.item else {
        panic!("{w:?}")
    };
    assert_eq!(r.topic, "shop/redact");
    assert_eq!((r.customer_id, r.email_hash.as_deref()), (None, None));
    assert_eq!(find(&writes, &keys::shop(SHOP)).expect, Expect::Absent);
    let s = t.shop();
    assert_eq!(s.shop_id, Some(SHOP_ID));
    assert_eq!(
        s.uninstalled_at.as_deref(),
        Some("2026-12-01T12:00:00.000Z")
    );
    assert_eq!(
        s.redact_requested_at.as_deref(),
        Some("2026-12-01T12:00:00.000Z")
    );
    // Follow-ups wait until the dispatcher has confirmed it with the Admin API.
    assert_eq!(
        s.uninstall_unconfirmed_at.as_deref(),
        Some("2026-12-01T12:00:00.000Z")
    );
}

#[test]
fn app_uninstalled_marks_the_shop_uninstalled_records_a_confirmation_request_and_a_later_shop_redact_keeps_that_time(
) {
    let mut t = Table::default();
    let writes = deliver(
        &mut t,
        Topic::AppUninstalled,
        fixtures::APP_UNINSTALLED,
        now(),
    );
    assert_eq!(writes.len(), 2);
    assert_eq!(find(&writes, &keys::shop(SHOP)).expect, Expect::Absent);
    // A request to confirm the uninstall with the Admin API (see `privacy`).
    let w = find(
        &writes,
        &keys::privacy_request(SHOP, &utc_key(&now()), WEBHOOK_ID),
    );
    let Item::Privacy(r) = &w.item else {
        panic!("{w:?}")
    };
    assert_eq!(
        (r.topic.as_str(), r.status.as_str()),
        ("app/uninstalled", "pending")
    );
    assert_eq!((r.customer_id, r.email_hash.as_deref()), (None, None));
    assert_eq!(w.expect, Expect::Any);
    let s = t.shop();
    assert_eq!(s.shop_id, Some(SHOP_ID));
    assert_eq!(
        s.uninstalled_at.as_deref(),
        Some("2026-12-01T12:00:00.000Z")
    );
    assert_eq!(s.redact_requested_at, None);
    assert_eq!(
        s.uninstall_unconfirmed_at.as_deref(),
        Some("2026-12-01T12:00:00.000Z")
    );

    let later = at("2027-01-01T00:00:00Z");
    let writes = deliver(&mut t, Topic::ShopRedact, fixtures::SHOP_REDACT, later);
    assert_eq!(find(&writes, &keys::shop(SHOP)).expect, Expect::Version(1));
    let s = t.shop();
    assert_eq!(
        s.uninstalled_at.as_deref(),
        Some("2026-12-01T12:00:00.000Z")
    );
    assert_eq!(
        s.redact_requested_at.as_deref(),
        Some("2027-01-01T00:00:00.000Z")
    );
    assert_eq!(
        s.uninstall_unconfirmed_at.as_deref(),
        Some("2027-01-01T00:00:00.000Z")
    );
}

// ---------------------------------------------------------------------------------------
// needs(): what plan reads
// ---------------------------------------------------------------------------------------

/// The keys of the items `needs` names.
fn needed_keys(n: &Needs) -> HashSet<Key> {
    let mut out = HashSet::new();
    if let Some(id) = n.order {
        out.insert(keys::order(SHOP, id));
    }
    if let Some((o, f)) = n.fulfillment {
        out.insert(keys::fulfillment(SHOP, o, f));
    }
    if let Some(c) = &n.profile {
        out.insert(keys::profile(SHOP, c));
    }
    if n.shop {
        out.insert(keys::shop(SHOP));
    }
    out
}

/// Stored items in every slot, for checking that plan ignores the slots needs leaves out.
fn junk_loaded() -> Loaded {
    Loaded {
        order: Some(OrderRecord {
            v: 41,
            order_id: 1,
            name: Some("#junk".into()),
            customer_key: Some("junk".into()),
            order_updated_at: Some("2099-01-01T00:00:00.000Z".into()),
            counted: true,
            spend_counted: true,
            paid_at: Some("2099-01-01T00:00:00.000Z".into()),
            delivered_at: Some("1999-01-01T00:00:00.000Z".into()),
            ..OrderRecord::default()
        }),
        fulfillment: Some(FulfillmentRecord {
            v: 42,
            fulfillment_id: 2,
            order_id: 1,
            status: Some("junk".into()),
            delivered_at: Some("1999-01-01T00:00:00.000Z".into()),
            fulfillment_updated_at: Some("2099-01-01T00:00:00.000Z".into()),
            ..FulfillmentRecord::default()
        }),
        profile: Some(ProfileRecord {
            v: 43,
            customer_key: "junk".into(),
            orders_count: 9,
            consent_updated_at: Some("2099-01-01T00:00:00.000Z".into()),
            email: Some("junk".into()),
            ..ProfileRecord::default()
        }),
        shop: Some(ShopRecord {
            v: 44,
            uninstalled_at: Some("1999-01-01T00:00:00.000Z".into()),
            ..ShopRecord::default()
        }),
        followups: Vec::new(),
        discounts: Vec::new(),
        cadences: Vec::new(),
    }
}

/// `loaded` with only the slots `n` names kept.
fn only_needed(mut loaded: Loaded, n: &Needs) -> Loaded {
    if n.order.is_none() {
        loaded.order = None;
    }
    if n.fulfillment.is_none() {
        loaded.fulfillment = None;
    }
    if n.profile.is_none() {
        loaded.profile = None;
    }
    if !n.shop {
        loaded.shop = None;
    }
    loaded
}

#[test]
fn needs_names_exactly_the_items_each_event_kind_reads() {
    let guest = order_body(|o| {
        o.as_object_mut().unwrap().remove("customer");
        o["email"] = json!("guest@example.com");
    });
    let anonymous = order_body(|o| {
        o.as_object_mut().unwrap().remove("customer");
        o["email"] = Value::Null;
    });
    let cases: Vec<(Topic, Vec<u8>, Needs)> = vec![
        (
            Topic::OrdersCreate,
            fixtures::ORDER.to_vec(),
            Needs {
                order: Some(ORDER_ID),
                profile: Some("207119551".into()),
                followups_of: Some("207119551".into()),
                ..Needs::default()
            },
        ),
        (
            Topic::OrdersPaid,
            guest,
            Needs {
                order: Some(ORDER_ID),
                profile: customer_key(None, Some("guest@example.com")),
                followups_of: customer_key(None, Some("guest@example.com")),
                ..Needs::default()
            },
        ),
        (
            Topic::OrdersCreate,
            anonymous,
            Needs {
                order: Some(ORDER_ID),
                ..Needs::default()
            },
        ),
        (
            Topic::OrdersCancelled,
            fixtures::ORDER_CANCELLED.to_vec(),
            Needs {
                order: Some(ORDER_ID),
                profile: Some("207119551".into()),
                followups_of: Some("207119551".into()),
                ..Needs::default()
            },
        ),
        (
            Topic::FulfillmentsCreate,
            fixtures::FULFILLMENT.to_vec(),
            Needs {
                order: Some(ORDER_ID),
                fulfillment: Some((ORDER_ID, FULFILLMENT_ID)),
                ..Needs::default()
            },
        ),
        (
            Topic::FulfillmentEventsCreate,
            fixtures::FULFILLMENT_DELIVERED.to_vec(),
            Needs {
                order: Some(ORDER_ID),
                fulfillment: Some((ORDER_ID, FULFILLMENT_ID)),
                ..Needs::default()
            },
        ),
        (
            Topic::RefundsCreate,
            fixtures::REFUND.to_vec(),
            Needs {
                order: Some(ORDER_ID),
                ..Needs::default()
            },
        ),
        (
            Topic::EmailConsentUpdate,
            fixtures::CONSENT.to_vec(),
            Needs {
                profile: Some("207119551".into()),
                ..Needs::default()
            },
        ),
        (
            Topic::CustomersDataRequest,
            fixtures::DATA_REQUEST.to_vec(),
            Needs::default(),
        ),
        (
            Topic::CustomersRedact,
            fixtures::CUSTOMERS_REDACT.to_vec(),
            Needs::default(),
        ),
        (
            Topic::ShopRedact,
            fixtures::SHOP_REDACT.to_vec(),
            Needs {
                shop: true,
                ..Needs::default()
            },
        ),
        (
            Topic::AppUninstalled,
            fixtures::APP_UNINSTALLED.to_vec(),
            Needs {
                shop: true,
                ..Needs::default()
            },
        ),
    ];
    for (topic, body, expected) in cases {
        let ev = event(topic, &body);
        let n = needs(&ev);
        assert_eq!(n, expected, "{}", topic.as_str());

        // plan never writes, on a condition, an item it was not given to read.
        let fresh = plan(&ctx(now()), &ev, &Loaded::default());
        let allowed = needed_keys(&n);
        for w in fresh.iter().filter(|w| w.expect != Expect::Any) {
            assert!(
                allowed.contains(&w.key),
                "{}: {:?} not in needs",
                topic.as_str(),
                w.key
            );
        }
        // Every item needs names is either written on a condition or left unwritten;
        // never written unconditionally over a version.
        for w in fresh.iter().filter(|w| allowed.contains(&w.key)) {
            assert_ne!(w.expect, Expect::Any, "{}: {:?}", topic.as_str(), w.key);
        }

        // plan reads nothing beyond what needs names: filling the other slots with
        // stored items changes nothing.
        let everything = junk_loaded();
        let only = only_needed(junk_loaded(), &n);
        assert_eq!(
            plan(&ctx(now()), &ev, &only),
            plan(&ctx(now()), &ev, &everything),
            "{}",
            topic.as_str()
        );
        // And the needed slots are read: a stored item there changes the plan's
        // expectations to its version.
        let versioned: Vec<Expect> = plan(&ctx(now()), &ev, &only)
            .into_iter()
            .filter(|w| allowed.contains(&w.key))
            .map(|w| w.expect)
            .collect();
        assert!(
            versioned
                .iter()
                .all(|e| matches!(e, Expect::Version(41..=44))),
            "{}: {versioned:?}",
            topic.as_str()
        );
    }
}

#[test]
fn an_order_using_an_issued_code_credits_its_follow_up_and_marks_the_code_redeemed() {
    use crate::model::{DiscountStatus, FollowUpStatus, Playbook};
    let config = crate::config::Config::parse(
        &format!("[[shop]]\npostal_address = \"1 Test Street, Springfield\"\ndomain = \"{SHOP}\"\nsender_email = \"shop@aftercart-demo.example\"\n"),
        "t",
    )
    .expect("config");
    let rules = &config.shops[0];
    let ckey = CUSTOMER_ID.to_string();
    let mut t = Table::default();
    let mut loyalty = FollowUpRecord::pending(
        SHOP,
        &ckey,
        Playbook::Loyalty,
        ORDER_ID,
        None,
        "2026-11-20T10:00:00.000Z",
        "2026-11-19T10:00:00.000Z",
        4,
    );
    loyalty.status = FollowUpStatus::Sent;
    loyalty.unindex();
    t.items
        .insert(loyalty.key(), Item::FollowUp(loyalty.clone()));
    let code_key = keys::discount(SHOP, &ckey, &loyalty.id);
    t.items.insert(
        code_key.clone(),
        Item::Discount(DiscountRecord {
            v: 2,
            followup: loyalty.id.clone(),
            code: "THANKS-7KQ9-M2XP-4RTD".into(),
            status: DiscountStatus::Created,
            reserved_at: "2026-11-20T10:00:00.000Z".into(),
            customer_gid: None,
            starts_at: None,
            replaced: Vec::new(),
            created_at: None,
            discount_id: None,
            ends_at: None,
            reason: None,
            redeemed_order_id: None,
            redeemed_at: None,
        }),
    );
    // Months later, typed in lower case at checkout: still ours.
    let body = edit(&second_order("2027-02-01T10:00:00Z", "19.99"), |o| {
        o["discount_codes"] = json!([{"code": "thanks-7kq9-m2xp-4rtd", "amount": "3.00"}]);
    });
    let ev = event(Topic::OrdersPaid, &body);
    let first = needs(&ev);
    let loaded = t.load(SHOP, &needs_after(&ev, &first, &t.load(SHOP, &first)));
    let context = Context {
        rules: Some(rules),
        ..ctx(now())
    };
    let writes = plan(&context, &ev, &loaded);
    t.apply(writes.clone()).expect("one transaction");

    let Item::FollowUp(credited) = &find(&writes, &loyalty.key()).item else {
        panic!("follow-up write");
    };
    assert_eq!(
        (
            credited.tracking.attributed_order_id,
            credited.tracking.attributed_by.as_deref(),
            credited.tracking.attributed_at.as_deref(),
        ),
        (
            Some(ORDER_2_ID),
            Some("code"),
            Some("2027-02-01T10:00:00.000Z")
        )
    );
    assert_eq!(
        find(&writes, &loyalty.key()).expect,
        Expect::Version(loyalty.v)
    );
    let Item::Discount(redeemed) = &find(&writes, &code_key).item else {
        panic!("discount write");
    };
    assert_eq!(redeemed.redeemed_order_id, Some(ORDER_2_ID));
    assert_eq!(find(&writes, &code_key).expect, Expect::Version(2));

    // The same order redelivered under a new state credits nothing more.
    let again = edit(&body, |o| o["updated_at"] = json!("2027-02-01T11:00:00Z"));
    let writes = deliver(&mut t, Topic::OrdersPaid, &again, now());
    assert!(!writes.iter().any(|w| w.key == code_key));
}

// ---------------------------------------------------------------------------------------
// Follow-ups planned with the shop's rules, whatever order the deliveries arrive in.
// One timeline: paid 2026-11-17T10:00Z, shipped 2026-11-18T09:00Z, two of the three
// units refunded 2026-11-19T12:00Z, delivered 2026-11-21T19:02Z (reported a day late).
// ---------------------------------------------------------------------------------------

use crate::config::{Config, ShopConfig};
use crate::model::{FollowUpStatus, Playbook};

const PAID_AT: &str = "2026-11-17T10:00:00Z";
/// thank-you: 2 hours after payment.
const THANK_YOU_DUE: &str = "2026-11-17T12:00:00.000Z";
/// satisfaction, fallback: 12 days after shipping.
const SATISFACTION_AFTER_SHIPPING: &str = "2026-11-30T09:00:00.000Z";
/// satisfaction: 5 days after the carrier's delivery time (not the report's arrival).
const SATISFACTION_AFTER_DELIVERY: &str = "2026-11-26T19:02:00.000Z";
/// replenishment: 30 days × 3 units − 5 lead days = 85 days after payment.
const REPLENISH_ALL_DUE: &str = "2027-02-10T10:00:00.000Z";
/// replenishment: 30 days × (3 − 2 refunded) − 5 = 25 days after payment.
const REPLENISH_NET_DUE: &str = "2026-12-12T10:00:00.000Z";
/// returns: 24 hours after the refund.
const RETURNS_DUE: &str = "2026-11-20T12:00:00.000Z";

fn rules_config(loyalty: &str) -> Config {
    Config::parse(
        &format!(
            r#"
[[shop]]
postal_address = "1 Test Street, Springfield"
domain = "{SHOP}"
sender_email = "shop@aftercart-demo.example"

[shop.playbooks.thank_you]
delay_hours = 2

[shop.playbooks.satisfaction]
days_after_delivery = 5
days_after_fulfillment = 12

[shop.playbooks.returns]
delay_hours = 24

[shop.playbooks.loyalty]
{loyalty}

[[shop.product]]
product_id = {PRODUCT_ID}
consumption_days = 30
lead_days = 5
"#
        ),
        "test",
    )
    .expect("test rules are valid")
}

/// Thank-you, satisfaction, replenishment for the fixture's product, returns; loyalty
/// on every 10th order (so not on these).
fn rules() -> Config {
    rules_config("nth_order = 10\ndelay_hours = 24")
}

/// As [`deliver`], with the shop's rules, so follow-ups are planned.
fn deliver_with(
    table: &mut Table,
    rules: &ShopConfig,
    topic: Topic,
    body: &[u8],
    now: DateTime<Utc>,
) -> Vec<Write> {
    let context = Context {
        rules: Some(rules),
        ..ctx(now)
    };
    table
        .deliver(&context, &event(topic, body))
        .unwrap_or_else(|e| panic!("{}: {e}", topic.as_str()))
}

/// Every follow-up in the table: (id, due_at, status), sorted.
fn followups(table: &Table) -> Vec<(String, String, FollowUpStatus)> {
    let mut out: Vec<_> = table
        .items
        .values()
        .filter_map(|i| match i {
            Item::FollowUp(f) => Some((f.id.clone(), f.due_at.clone(), f.status)),
            _ => None,
        })
        .collect();
    out.sort();
    out
}

fn followup(table: &Table, id: &str) -> FollowUpRecord {
    table
        .items
        .values()
        .find_map(|i| match i {
            Item::FollowUp(f) if f.id == id => Some(f.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no follow-up {id} in {:#?}", followups(table)))
}

fn followup_writes(writes: &[Write]) -> Vec<(&FollowUpRecord, Expect)> {
    writes
        .iter()
        .filter_map(|w| match &w.item {
            Item::FollowUp(f) => Some((f, w.expect)),
            _ => None,
        })
        .collect()
}

fn pending(id: &str, due: &str) -> (String, String, FollowUpStatus) {
    (id.to_owned(), due.to_owned(), FollowUpStatus::Pending)
}

fn thank_you_id() -> String {
    format!("thank_you#{ORDER_ID}#0")
}
fn satisfaction_id() -> String {
    format!("satisfaction#{ORDER_ID}#0")
}
fn replenishment_id() -> String {
    format!("replenishment#{ORDER_ID}#{PRODUCT_ID}")
}
fn returns_id() -> String {
    format!("returns#{ORDER_ID}#0")
}

/// The fixture order, paid at [`PAID_AT`].
fn paid_on_time() -> Vec<u8> {
    order_body(|o| {
        o["created_at"] = json!(PAID_AT);
        o["updated_at"] = json!(PAID_AT);
        o["financial_status"] = json!("paid");
    })
}

/// The fixture shipment, created 2026-11-18T09:00Z.
fn shipped() -> Vec<u8> {
    edit(fixtures::FULFILLMENT, |f| {
        f["created_at"] = json!("2026-11-18T09:00:00Z");
        f["updated_at"] = json!("2026-11-18T09:00:00Z");
    })
}

/// The fixture refund (one unit of two of the order's three lines), 2026-11-19T12:00Z.
fn refunded() -> Vec<u8> {
    edit(fixtures::REFUND, |r| {
        r["created_at"] = json!("2026-11-19T12:00:00Z");
    })
}

/// The carrier's "delivered" event: happened 2026-11-21T19:02Z.
fn delivered() -> &'static [u8] {
    fixtures::FULFILLMENT_DELIVERED
}

#[test]
fn fulfillment_before_payment_plans_satisfaction_from_the_shipment_and_thank_you_from_the_payment()
{
    let config = rules();
    let rules = &config.shops[0];
    let mut t = Table::default();
    // The shipment arrives first: the order has no customer yet, so nothing is planned.
    let writes = deliver_with(
        &mut t,
        rules,
        Topic::FulfillmentsCreate,
        &shipped(),
        at("2026-11-18T09:01:00Z"),
    );
    assert!(followup_writes(&writes).is_empty(), "{writes:#?}");

    // The payment, a day late.
    let writes = deliver_with(
        &mut t,
        rules,
        Topic::OrdersPaid,
        &paid_on_time(),
        at("2026-11-18T10:00:00Z"),
    );
    assert!(followup_writes(&writes)
        .iter()
        .all(|(_, e)| *e == Expect::Absent));
    let expected = vec![
        pending(&replenishment_id(), REPLENISH_ALL_DUE),
        pending(&satisfaction_id(), SATISFACTION_AFTER_SHIPPING),
        pending(&thank_you_id(), THANK_YOU_DUE),
    ];
    assert_eq!(followups(&t), expected);
    let sat = followup(&t, &satisfaction_id());
    assert!(sat
        .due_sk
        .as_deref()
        .is_some_and(|sk| sk.starts_with(SATISFACTION_AFTER_SHIPPING)));

    // The same deliveries in their natural order plan exactly the same.
    let mut in_order = Table::default();
    for (topic, body) in [
        (Topic::OrdersPaid, paid_on_time()),
        (Topic::FulfillmentsCreate, shipped()),
    ] {
        deliver_with(&mut in_order, rules, topic, &body, now());
    }
    assert_eq!(followups(&in_order), expected);
}

#[test]
fn refund_before_fulfillment_plans_returns_feedback_and_the_net_replenishment() {
    let config = rules();
    let rules = &config.shops[0];
    let mut t = Table::default();
    deliver_with(&mut t, rules, Topic::OrdersPaid, &paid_on_time(), now());
    assert_eq!(
        followups(&t),
        vec![
            pending(&replenishment_id(), REPLENISH_ALL_DUE),
            pending(&thank_you_id(), THANK_YOU_DUE),
        ]
    );

    // Two of the three units refunded before anything shipped.
    let writes = deliver_with(&mut t, rules, Topic::RefundsCreate, &refunded(), now());
    let mut changed: Vec<_> = followup_writes(&writes)
        .into_iter()
        .map(|(f, e)| (f.id.clone(), f.due_at.clone(), e))
        .collect();
    changed.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        changed,
        vec![
            // Re-timed for the one unit kept, in place (same item, next version).
            (
                replenishment_id(),
                REPLENISH_NET_DUE.to_owned(),
                Expect::Version(1)
            ),
            (returns_id(), RETURNS_DUE.to_owned(), Expect::Absent),
        ]
    );

    let writes = deliver_with(&mut t, rules, Topic::FulfillmentsCreate, &shipped(), now());
    let planned: Vec<_> = followup_writes(&writes)
        .into_iter()
        .map(|(f, _)| f.id.clone())
        .collect();
    assert_eq!(planned, vec![satisfaction_id()], "only the new follow-up");
    let expected = vec![
        pending(&replenishment_id(), REPLENISH_NET_DUE),
        pending(&returns_id(), RETURNS_DUE),
        pending(&satisfaction_id(), SATISFACTION_AFTER_SHIPPING),
        pending(&thank_you_id(), THANK_YOU_DUE),
    ];
    assert_eq!(followups(&t), expected);

    // The refund arriving before even the order ends in the same plan.
    let mut refund_first = Table::default();
    for (topic, body) in [
        (Topic::RefundsCreate, refunded()),
        (Topic::FulfillmentsCreate, shipped()),
        (Topic::OrdersPaid, paid_on_time()),
    ] {
        deliver_with(&mut refund_first, rules, topic, &body, now());
    }
    assert_eq!(followups(&refund_first), expected);
}

#[test]
fn a_delivery_reported_a_day_late_moves_satisfaction_to_the_delivery_time() {
    let config = rules();
    let rules = &config.shops[0];
    let mut t = Table::default();
    deliver_with(&mut t, rules, Topic::OrdersPaid, &paid_on_time(), now());
    deliver_with(&mut t, rules, Topic::FulfillmentsCreate, &shipped(), now());
    assert_eq!(
        followup(&t, &satisfaction_id()).due_at,
        SATISFACTION_AFTER_SHIPPING
    );

    // Delivered 2026-11-21T19:02Z; the carrier's event reaches us a day later.
    let writes = deliver_with(
        &mut t,
        rules,
        Topic::FulfillmentEventsCreate,
        delivered(),
        at("2026-11-22T19:30:00Z"),
    );
    let moved = followup_writes(&writes);
    assert_eq!(moved.len(), 1, "only satisfaction moves: {moved:#?}");
    let (sat, expect) = moved[0];
    assert_eq!(
        (sat.id.as_str(), sat.due_at.as_str(), sat.v, expect),
        (
            satisfaction_id().as_str(),
            SATISFACTION_AFTER_DELIVERY,
            2,
            Expect::Version(1)
        ),
        "5 days after the delivery itself, not after the late report"
    );
    assert_eq!(sat.status, FollowUpStatus::Pending);
    assert!(sat
        .due_sk
        .as_deref()
        .is_some_and(|sk| sk.starts_with(SATISFACTION_AFTER_DELIVERY)));
    assert_eq!(
        followups(&t),
        vec![
            pending(&replenishment_id(), REPLENISH_ALL_DUE),
            pending(&satisfaction_id(), SATISFACTION_AFTER_DELIVERY),
            pending(&thank_you_id(), THANK_YOU_DUE),
        ]
    );

    // The same event again (a retry under a new webhook id) moves nothing.
    let writes = deliver_with(
        &mut t,
        rules,
        Topic::FulfillmentEventsCreate,
        delivered(),
        at("2026-11-22T19:45:00Z"),
    );
    assert!(followup_writes(&writes).is_empty(), "{writes:#?}");
}

#[test]
fn paid_redelivered_after_fulfillment_plans_nothing_again() {
    let config = rules();
    let rules = &config.shops[0];
    let mut t = Table::default();
    deliver_with(&mut t, rules, Topic::OrdersPaid, &paid_on_time(), now());
    deliver_with(&mut t, rules, Topic::FulfillmentsCreate, &shipped(), now());
    let before: Vec<FollowUpRecord> = [thank_you_id(), satisfaction_id(), replenishment_id()]
        .iter()
        .map(|id| followup(&t, id))
        .collect();

    // Shopify redelivers orders/paid, then sends a later state of the paid order.
    let later = order_body(|o| {
        o["created_at"] = json!(PAID_AT);
        o["updated_at"] = json!("2026-11-18T11:00:00Z");
        o["financial_status"] = json!("paid");
    });
    for body in [paid_on_time(), later] {
        let writes = deliver_with(
            &mut t,
            rules,
            Topic::OrdersPaid,
            &body,
            at("2026-11-18T12:00:00Z"),
        );
        assert!(followup_writes(&writes).is_empty(), "{writes:#?}");
    }
    let after: Vec<FollowUpRecord> = [thank_you_id(), satisfaction_id(), replenishment_id()]
        .iter()
        .map(|id| followup(&t, id))
        .collect();
    assert_eq!(after, before, "same items, same versions");
    assert_eq!(followups(&t).len(), 3, "nothing duplicated");
    assert_eq!(
        t.order(ORDER_ID).paid_at.as_deref(),
        Some("2026-11-17T10:00:00.000Z")
    );
    assert_eq!(t.profile(&CUSTOMER_ID.to_string()).paid_orders_count, 1);
}

// ---------------------------------------------------------------------------------------
// Loyalty
// ---------------------------------------------------------------------------------------

/// Another paid order of the fixture customer: `id`, paid at `paid_at`, worth `total`.
fn customer_order(id: u64, paid_at: &str, total: &str) -> Vec<u8> {
    order_body(|o| {
        o["id"] = json!(id);
        o["name"] = json!(format!("#{id}"));
        o["created_at"] = json!(paid_at);
        o["updated_at"] = json!(paid_at);
        o["financial_status"] = json!("paid");
        o["total_price"] = json!(total);
    })
}

fn loyalty_followups(t: &Table) -> Vec<(String, String, FollowUpStatus)> {
    followups(t)
        .into_iter()
        .filter(|(id, _, _)| id.starts_with("loyalty#"))
        .collect()
}

#[test]
fn loyalty_is_planned_once_when_lifetime_spend_reaches_the_threshold() {
    // Only the spend threshold can trigger it here (the 100th order is far off).
    let config = rules_config("nth_order = 100\nspend_threshold = \"500.00\"\ndelay_hours = 24");
    let rules = &config.shops[0];
    let mut t = Table::default();
    let ckey = CUSTOMER_ID.to_string();
    let orders = [
        (9001, "2026-11-01T10:00:00Z", "409.94"), // 409.94: below
        (9002, "2026-11-05T10:00:00Z", "50.00"),  // 459.94: below
        (9003, "2026-11-09T10:00:00Z", "40.06"),  // 500.00: reaches it
        (9004, "2026-11-13T10:00:00Z", "100.00"), // 600.00: already past
    ];
    let mut planned_per_order = Vec::new();
    for (id, paid_at, total) in orders {
        let writes = deliver_with(
            &mut t,
            rules,
            Topic::OrdersPaid,
            &customer_order(id, paid_at, total),
            now(),
        );
        planned_per_order.push(
            followup_writes(&writes)
                .iter()
                .filter(|(f, _)| f.playbook == Playbook::Loyalty)
                .map(|(f, e)| (f.id.clone(), f.due_at.clone(), *e))
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(
        planned_per_order,
        vec![
            vec![],
            vec![],
            vec![(
                "loyalty#9003#0".to_owned(),
                "2026-11-10T10:00:00.000Z".to_owned(),
                Expect::Absent
            )],
            vec![],
        ]
    );
    assert_eq!(t.profile(&ckey).total_spent, dec("600.00"));

    // The crossing order delivered again plans nothing more.
    let writes = deliver_with(
        &mut t,
        rules,
        Topic::OrdersPaid,
        &customer_order(9003, "2026-11-09T10:00:00Z", "40.06"),
        now(),
    );
    assert!(followup_writes(&writes).is_empty(), "{writes:#?}");
    assert_eq!(
        loyalty_followups(&t),
        vec![pending("loyalty#9003#0", "2026-11-10T10:00:00.000Z")]
    );
}

#[test]
fn loyalty_rewards_every_nth_paid_order_and_unpaid_orders_do_not_count() {
    let config = rules_config("nth_order = 2\ndelay_hours = 24");
    let rules = &config.shops[0];
    let mut t = Table::default();
    deliver_with(
        &mut t,
        rules,
        Topic::OrdersPaid,
        &customer_order(9001, "2026-11-01T10:00:00Z", "10.00"),
        now(),
    );
    assert!(loyalty_followups(&t).is_empty(), "1st paid order");

    // Created and never paid (an abandoned bank transfer): not a paid order.
    let unpaid = order_body(|o| {
        o["id"] = json!(9100);
        o["created_at"] = json!("2026-11-02T10:00:00Z");
        o["updated_at"] = json!("2026-11-02T10:00:00Z");
        o["financial_status"] = json!("pending");
    });
    deliver_with(&mut t, rules, Topic::OrdersCreate, &unpaid, now());
    assert!(loyalty_followups(&t).is_empty(), "an unpaid order");
    assert_eq!(t.profile(&CUSTOMER_ID.to_string()).paid_orders_count, 1);

    for (id, paid_at) in [
        (9002, "2026-11-03T10:00:00Z"), // 2nd paid: rewarded
        (9003, "2026-11-04T10:00:00Z"), // 3rd
        (9004, "2026-11-05T10:00:00Z"), // 4th: rewarded
    ] {
        deliver_with(
            &mut t,
            rules,
            Topic::OrdersPaid,
            &customer_order(id, paid_at, "10.00"),
            now(),
        );
    }
    assert_eq!(
        loyalty_followups(&t),
        vec![
            pending("loyalty#9002#0", "2026-11-04T10:00:00.000Z"),
            pending("loyalty#9004#0", "2026-11-06T10:00:00.000Z"),
        ]
    );
    assert_eq!(t.profile(&CUSTOMER_ID.to_string()).paid_orders_count, 4);
}

// ---------------------------------------------------------------------------------------
// Counters and sums saturate rather than overflow (issue 17): bodies are bounded at
// parse, but items stored before the bounds (or by many deliveries) may hold anything.
// ---------------------------------------------------------------------------------------

#[test]
fn lifetime_spend_and_order_counts_saturate_instead_of_panicking() {
    // The fuzzer's case: a first order of Decimal::MAX (stored by earlier code), then a
    // second order, used to panic with `Addition overflowed`.
    let rules = rules_config("spend_threshold = \"500.00\"");
    let mut table = Table::default();
    deliver_with(
        &mut table,
        &rules.shops[0],
        Topic::OrdersPaid,
        &paid_order(),
        now(),
    );
    let key = keys::profile(SHOP, &CUSTOMER_ID.to_string());
    let Some(Item::Profile(p)) = table.items.get_mut(&key) else {
        panic!("no profile")
    };
    p.total_spent = Decimal::MAX;
    p.orders_count = u32::MAX;
    p.paid_orders_count = u32::MAX;
    let second = second_order("2008-02-01T10:00:00-05:00", "10.00");
    let writes = deliver_with(
        &mut table,
        &rules.shops[0],
        Topic::OrdersPaid,
        &second,
        now(),
    );
    let p = profile_writes(&writes)[0];
    assert_eq!(p.total_spent, Decimal::MAX, "saturated");
    assert_eq!((p.orders_count, p.paid_orders_count), (u32::MAX, u32::MAX));

    // Taking a cancelled order's spend back saturates the other way.
    let Some(Item::Profile(p)) = table.items.get_mut(&key) else {
        panic!("no profile")
    };
    p.total_spent = Decimal::MIN;
    let cancelled = order_body(|o| {
        o["id"] = json!(ORDER_2_ID);
        o["updated_at"] = json!("2008-02-02T10:00:00-05:00");
        o["created_at"] = json!("2008-02-01T10:00:00-05:00");
        o["financial_status"] = json!("paid");
        o["cancelled_at"] = json!("2008-02-02T10:00:00-05:00");
    });
    let writes = deliver_with(
        &mut table,
        &rules.shops[0],
        Topic::OrdersCancelled,
        &cancelled,
        now(),
    );
    assert_eq!(profile_writes(&writes)[0].total_spent, Decimal::MIN);
}

#[test]
fn refunded_quantities_saturate_instead_of_overflowing() {
    // The fuzzer's case: 2 × 4,294,967,295 refunded of one line panicked in the sum.
    let rules = rules();
    let mut table = Table::default();
    deliver_with(
        &mut table,
        &rules.shops[0],
        Topic::OrdersPaid,
        &paid_order(),
        now(),
    );
    let key = keys::order(SHOP, ORDER_ID);
    let Some(Item::Order(o)) = table.items.get_mut(&key) else {
        panic!("no order")
    };
    o.refunded.insert("703073504".into(), u32::MAX - 1);
    let writes = deliver_with(
        &mut table,
        &rules.shops[0],
        Topic::RefundsCreate,
        fixtures::REFUND,
        now(),
    );
    let Item::Order(o) = &find(&writes, &key).item else {
        panic!("not an order")
    };
    assert_eq!(o.refunded_qty(703073504), u32::MAX);
    assert_eq!(o.refunded_qty(466157049), 1);
    for (f, _) in followup_writes(&writes) {
        assert_eq!(f.due_at.len(), 24, "{}", f.due_at);
    }
}

/// Every order of `items`, each once (Heap's algorithm).
fn permutations<T: Clone>(items: &[T]) -> Vec<Vec<T>> {
    fn heap<T: Clone>(k: usize, a: &mut Vec<T>, out: &mut Vec<Vec<T>>) {
        if k <= 1 {
            out.push(a.clone());
            return;
        }
        for i in 0..k {
            heap(k - 1, a, out);
            let j = if k % 2 == 0 { i } else { 0 };
            a.swap(j, k - 1);
        }
    }
    let mut a = items.to_vec();
    let mut out = Vec::new();
    heap(a.len(), &mut a, &mut out);
    out
}

#[test]
fn one_orders_deliveries_in_any_order_plan_what_they_plan_in_order() {
    // Paid, shipped, delivered, partly refunded, and a consent update: 120 arrival
    // orders, each delivered (and then redelivered) on one table; every one must end
    // with the follow-ups of the in-order sequence.
    let config = rules();
    let rules = &config.shops[0];
    let events: Vec<(Topic, Vec<u8>)> = vec![
        (Topic::OrdersPaid, paid_on_time()),
        (Topic::FulfillmentsCreate, shipped()),
        (Topic::FulfillmentEventsCreate, delivered().to_vec()),
        (Topic::RefundsCreate, refunded()),
        (Topic::EmailConsentUpdate, fixtures::CONSENT.to_vec()),
    ];
    let run = |order: &[(Topic, Vec<u8>)]| {
        let mut t = Table::default();
        for (topic, body) in order {
            deliver_with(&mut t, rules, *topic, body, now());
        }
        // Shopify redelivers: nothing changes.
        let once = followups(&t);
        for (topic, body) in order {
            deliver_with(&mut t, rules, *topic, body, now());
        }
        assert_eq!(followups(&t), once, "a redelivery changed the plan");
        once
    };
    let expected = run(&events);
    assert!(!expected.is_empty());
    let all = permutations(&events);
    assert_eq!(all.len(), 120);
    for order in all {
        let topics: Vec<&str> = order.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(run(&order), expected, "arrival order {topics:?}");
    }
}

#[test]
fn refunds_never_increase_what_a_customer_keeps_whatever_they_claim() {
    // 200 random histories of up to 6 refunds of random lines and quantities (some far
    // beyond what was bought, some repeated): after each, no line keeps more units than
    // before.
    let config = rules();
    let rules = &config.shops[0];
    let lines = [466157049u64, 518995019, 703073504];
    let mut rng = fastrand::Rng::with_seed(17);
    for history in 0..200u64 {
        let mut t = Table::default();
        let paid = order_body(|o| {
            o["created_at"] = json!(PAID_AT);
            o["updated_at"] = json!(PAID_AT);
            o["financial_status"] = json!("paid");
            for l in o["line_items"].as_array_mut().unwrap() {
                l["quantity"] = json!(3);
            }
        });
        deliver_with(&mut t, rules, Topic::OrdersPaid, &paid, now());
        let kept = |t: &Table| -> Vec<u32> {
            let o = t.order(ORDER_ID);
            o.lines
                .iter()
                .map(|l| l.quantity.saturating_sub(o.refunded_qty(l.line_item_id)))
                .collect()
        };
        let mut before = kept(&t);
        for n in 0..rng.u64(1..=6) {
            // A repeated refund id now and then: Shopify redelivering one.
            let refund_id = 9_000_000 + history * 10 + rng.u64(0..=n);
            let body = edit(fixtures::REFUND, |r| {
                r["id"] = json!(refund_id);
                r["created_at"] = json!("2026-11-19T12:00:00Z");
                let items: Vec<Value> = (0..rng.usize(1..=3))
                    .map(|i| {
                        json!({
                            "id": refund_id * 10 + i as u64,
                            "line_item_id": lines[rng.usize(0..lines.len())],
                            "quantity": rng.u32(0..=5),
                        })
                    })
                    .collect();
                r["refund_line_items"] = json!(items);
            });
            deliver_with(&mut t, rules, Topic::RefundsCreate, &body, now());
            let after = kept(&t);
            for (b, a) in before.iter().zip(&after) {
                assert!(a <= b, "history {history}: kept {before:?} then {after:?}");
            }
            before = after;
        }
    }
}
mod include_fields;
mod properties;
mod timing;
