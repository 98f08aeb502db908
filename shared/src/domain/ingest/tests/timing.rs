//! Learned replenishment timing through the real planner (`ingest::timing`).
use super::*;

/// A paid order of the fixture customer: `qty` units of the configured product.
fn repeat_order(id: u64, created: &str, qty: u32) -> Vec<u8> {
    order_body(|o| {
        o["id"] = json!(id);
        o["name"] = json!(format!("#{id}"));
        o["created_at"] = json!(created);
        o["updated_at"] = json!(created);
        o["financial_status"] = json!("paid");
        o["line_items"] = json!([{
            "id": id + 1_000,
            "product_id": PRODUCT_ID,
            "variant_id": 1,
            "sku": "REFILL",
            "title": "Refill",
            "quantity": qty,
            "price": "10.00"
        }]);
    })
}

fn cadence_of(t: &Table) -> Option<CadenceRecord> {
    match t.items.get(&keys::cadence(SHOP, &PRODUCT_ID.to_string())) {
        Some(Item::Cadence(c)) => Some(c.clone()),
        _ => None,
    }
}

fn replenishment_due(t: &Table, order: u64) -> String {
    let id = crate::model::followup_id(Playbook::Replenishment, order, Some(PRODUCT_ID));
    followup(t, &id).due_at
}

#[test]
fn a_repeat_purchase_is_learned_and_moves_the_next_reminder() {
    let config = rules();
    let shop = &config.shops[0];
    let mut t = Table::default();
    let n = now();
    deliver_with(
        &mut t,
        shop,
        Topic::OrdersPaid,
        &repeat_order(1, "2026-01-01T10:00:00Z", 1),
        n,
    );
    // No repeat yet: the configured 30 days − 5 lead days.
    assert_eq!(replenishment_due(&t, 1), "2026-01-26T10:00:00.000Z");
    assert_eq!(cadence_of(&t), None);
    // The customer came back after 60 days for one unit.
    deliver_with(
        &mut t,
        shop,
        Topic::OrdersPaid,
        &repeat_order(2, "2026-03-02T10:00:00Z", 1),
        n,
    );
    let c = cadence_of(&t).expect("the product learned its first repeat");
    assert_eq!((c.samples.clone(), c.repeats), (vec![6000], 1));
    // Product: exp((ln 60 + 5 ln 30) / 6) = 33.67 days; the customer's own 60 days
    // shrunk toward it with weight 2: exp((ln 60 + 2 ln 33.67) / 3) = 40.82 days.
    let order = match t.items.get(&keys::order(SHOP, 2)) {
        Some(Item::Order(o)) => o.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(order.timing.get(&PRODUCT_ID.to_string()), Some(&4082));
    // 41 days − 5 lead days after 2 March; the first order's reminder is cancelled.
    assert_eq!(replenishment_due(&t, 2), "2026-04-07T10:00:00.000Z");
    let first = crate::model::followup_id(Playbook::Replenishment, 1, Some(PRODUCT_ID));
    assert_eq!(followup(&t, &first).status, FollowUpStatus::Cancelled);
    // The same delivery again learns nothing more.
    deliver_with(
        &mut t,
        shop,
        Topic::OrdersPaid,
        &repeat_order(2, "2026-03-02T10:00:00Z", 1),
        n,
    );
    assert_eq!(cadence_of(&t).map(|c| c.repeats), Some(1));
}

#[test]
fn an_import_learns_timing_but_plans_nothing() {
    let config = rules();
    let shop = &config.shops[0];
    let mut t = Table::default();
    for (id, created) in [(1, "2025-01-01T10:00:00Z"), (2, "2025-02-01T10:00:00Z")] {
        let ev = event(Topic::OrdersPaid, &repeat_order(id, created, 1));
        let mut first = needs(&ev);
        first.cadences = cadence_keys(Some(shop), &ev);
        let loaded = t.load(SHOP, &first);
        let context = Context {
            rules: Some(shop),
            import: true,
            ..ctx(now())
        };
        t.apply(plan(&context, &ev, &loaded)).expect("applies");
    }
    assert!(followups(&t).is_empty(), "{:?}", followups(&t));
    assert_eq!(cadence_of(&t).map(|c| c.samples), Some(vec![3100]));
}

#[test]
fn a_later_delivery_of_an_imported_order_plans_nothing() {
    let config = rules();
    let shop = &config.shops[0];
    let mut t = Table::default();
    let ev = event(
        Topic::OrdersPaid,
        &repeat_order(1, "2025-01-01T10:00:00Z", 1),
    );
    let context = Context {
        rules: Some(shop),
        import: true,
        ..ctx(now())
    };
    t.apply(plan(&context, &ev, &t.load(SHOP, &needs(&ev))))
        .expect("applies");
    // The old order is marked fulfilled today: still no thank-you, check or reminder.
    let edited = edit(&repeat_order(1, "2025-01-01T10:00:00Z", 1), |o| {
        o["updated_at"] = json!("2026-11-30T10:00:00Z");
        o["tags"] = json!("vip");
        o["fulfillment_status"] = json!("fulfilled");
    });
    deliver_with(&mut t, shop, Topic::OrdersFulfilled, &edited, now());
    assert!(followups(&t).is_empty(), "{:?}", followups(&t));
}
