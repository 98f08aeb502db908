//! Where a delivery's one receipt lives ([`home`]), in the same transaction as its
//! effects. A receipt is keyed by the resource state the payload names (topic,
//! resource id and version: [`Event::business_key`]), or by the delivery
//! (`X-Shopify-Webhook-Id`) when it names none. A retry of a delivery carries the same
//! body, so the state's receipt catches it as well as the same state under another
//! delivery id.
//!
//! Two kinds of delivery always write one item, conditioned on the version they read,
//! so that item holds their receipt ("folded"): an order topic (`orders/paid`,
//! `orders/fulfilled`, …) its order item, under `{version}#{topic}`; a tracking event
//! (`fulfillment_events/create`) its shipment's item, under the event id. No item of
//! their own, which would cost 2 write units in the transaction and 2 read units in the
//! read before it. A concurrent delivery of the same state loses the version race,
//! reads again and finds the receipt. The other deliveries (shipments, refunds,
//! consent, privacy requests) write a receipt item: `EVENT#…` for a state, `DELIVERY#…`
//! for a delivery.

use super::{Context, Item, Loaded, Write};
use crate::model::{keys, FoldedReceipt, Key, FOLDED_RECEIPTS_MAX};
use crate::wire::shopify::Event;
use std::collections::BTreeMap;

/// Where a delivery's receipt is kept.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Home {
    /// A receipt item of its own, under this key.
    Item(Key),
    /// In the `receipts` of the shipment item `item`, under the tracking event's id.
    Shipment {
        item: Key,
        fulfillment_id: u64,
        event_id: String,
    },
    /// In the `receipts` of the order item `item`, under `{version}#{topic}` (so the
    /// oldest state sorts first).
    Order {
        item: Key,
        order_id: u64,
        state: String,
    },
}

/// Where `event`'s receipt is kept.
pub fn home(ctx: &Context<'_>, event: &Event) -> Home {
    match event {
        Event::FulfillmentEvent(e) => {
            return Home::Shipment {
                item: keys::fulfillment(ctx.shop, e.order_id, e.fulfillment_id),
                fulfillment_id: e.fulfillment_id,
                event_id: e.id.to_string(),
            }
        }
        Event::Order(topic, o) => {
            return Home::Order {
                item: keys::order(ctx.shop, o.id),
                order_id: o.id,
                state: format!(
                    "{}#{}",
                    crate::model::time::utc_key(&o.version_time()),
                    topic.as_str()
                ),
            }
        }
        _ => {}
    }
    Home::Item(match event.business_key() {
        Some((id, version)) => keys::event(ctx.shop, event.topic().as_str(), id, &version),
        None => keys::delivery(ctx.shop, ctx.webhook_id),
    })
}

impl Home {
    /// The receipt item's key, for the deliveries that write one.
    pub fn item_key(&self) -> Option<&Key> {
        match self {
            Home::Item(key) => Some(key),
            Home::Shipment { .. } | Home::Order { .. } => None,
        }
    }

    /// The key of the item a folded receipt is kept in (`None` for a receipt item).
    pub fn holder(&self) -> Option<&Key> {
        match self {
            Home::Item(_) => None,
            Home::Shipment { item, .. } | Home::Order { item, .. } => Some(item),
        }
    }

    /// The folded receipt's key in its holder's `receipts`.
    fn folded_id(&self) -> Option<&str> {
        match self {
            Home::Item(_) => None,
            Home::Shipment { event_id, .. } => Some(event_id),
            Home::Order { state, .. } => Some(state),
        }
    }

    /// The `receipts` of this home's holder, if `item` is it.
    fn receipts_in<'a>(&self, item: &'a mut Item) -> Option<&'a mut Receipts> {
        match item {
            Item::Fulfillment(f) if matches!(self, Home::Shipment { fulfillment_id, .. } if *fulfillment_id == f.fulfillment_id) => {
                Some(&mut f.receipts)
            }
            Item::Order(o) if matches!(self, Home::Order { order_id, .. } if *order_id == o.order_id) => {
                Some(&mut o.receipts)
            }
            _ => None,
        }
    }

    /// The `receipts` of this home's holder in the items as read.
    fn receipts_read<'a>(&self, loaded: &'a Loaded) -> Option<&'a Receipts> {
        match self {
            Home::Item(_) => None,
            Home::Shipment { fulfillment_id, .. } => loaded
                .fulfillment
                .as_ref()
                .filter(|f| f.fulfillment_id == *fulfillment_id)
                .map(|f| &f.receipts),
            Home::Order { order_id, .. } => loaded
                .order
                .as_ref()
                .filter(|o| o.order_id == *order_id)
                .map(|o| &o.receipts),
        }
    }

    /// How old a folded receipt is, to keep the newest: a tracking event's id grows
    /// with time (compared as a number), an order state's `{version}#{topic}` sorts
    /// oldest first as text.
    fn age(&self, id: &str) -> (u64, String) {
        match self {
            Home::Shipment { .. } => (id.parse().unwrap_or(0), String::new()),
            _ => (0, id.to_owned()),
        }
    }
}

/// A holder's folded receipts, by event id or order state.
type Receipts = BTreeMap<String, FoldedReceipt>;

/// A folded receipt in the items as read (`None` for a receipt item, or not recorded).
pub fn found<'a>(home: &Home, loaded: &'a Loaded) -> Option<&'a FoldedReceipt> {
    home.receipts_read(loaded)?.get(home.folded_id()?)
}

/// Puts a folded receipt into the plan's write of the item that holds it, keeping the
/// newest [`FOLDED_RECEIPTS_MAX`]. `false` when the receipt is an item of its own, or
/// the plan does not write its home (the planner always writes a tracking event's
/// shipment and an order topic's order).
pub fn fold(home: &Home, writes: &mut [Write], receipt: FoldedReceipt) -> bool {
    let Some(id) = home.folded_id() else {
        return false;
    };
    let Some(receipts) = writes
        .iter_mut()
        .find_map(|w| home.receipts_in(&mut w.item))
    else {
        return false;
    };
    receipts.insert(id.to_owned(), receipt);
    while receipts.len() > FOLDED_RECEIPTS_MAX {
        let Some(oldest) = receipts.keys().min_by_key(|id| home.age(id)).cloned() else {
            break;
        };
        receipts.remove(&oldest);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ingest::{plan, Context};
    use crate::wire::shopify::{fixtures, parse_event, Topic};

    const SHOP: &str = "aftercart-demo.myshopify.com";

    fn tracking(id: u64) -> Event {
        let mut v: serde_json::Value =
            serde_json::from_slice(fixtures::FULFILLMENT_DELIVERED).expect("fixture");
        v["id"] = id.into();
        let body = serde_json::to_vec(&v).expect("JSON");
        parse_event(Topic::FulfillmentEventsCreate, &body).expect("parses")
    }

    fn ctx() -> Context<'static> {
        Context {
            shop: SHOP,
            webhook_id: "wh-1",
            now: chrono::Utc::now(),
            rules: None,
            shards: 4,
            redelivery: false,
            import: false,
            counts: None,
        }
    }

    fn receipt(n: u64) -> FoldedReceipt {
        FoldedReceipt {
            webhook_id: format!("wh-{n}"),
            writer: format!("{n:016x}"),
        }
    }

    #[test]
    fn a_tracking_event_keeps_its_receipt_in_the_shipment_it_writes() {
        let event = tracking(7);
        let mut loaded = Loaded::default();
        let mut writes = plan(&ctx(), &event, &loaded);
        let here = home(&ctx(), &event);
        assert!(
            fold(&here, &mut writes, receipt(1)),
            "the plan writes the shipment"
        );
        let Home::Shipment { item, event_id, .. } = &here else {
            panic!("a tracking event's receipt is folded: {here:?}");
        };
        assert_eq!(here.item_key(), None, "no receipt item");
        let shipment = writes
            .iter()
            .find(|w| &w.key == item)
            .and_then(|w| match &w.item {
                Item::Fulfillment(f) => Some(f.clone()),
                _ => None,
            })
            .expect("the shipment's write");
        assert_eq!(event_id, "7");
        assert_eq!(shipment.receipts.get("7"), Some(&receipt(1)));
        // Read back, the next delivery of the same event finds it; another event not.
        loaded.fulfillment = Some(shipment);
        assert_eq!(found(&here, &loaded), Some(&receipt(1)));
        assert_eq!(found(&home(&ctx(), &tracking(8)), &loaded), None);
    }

    #[test]
    fn a_shipment_keeps_the_newest_receipts_only() {
        let mut loaded = Loaded::default();
        // Ids of different lengths: the oldest is the smallest number, not string.
        for id in [9, 10, 11, 12, 13, 14, 15, 16, 100, 99] {
            let event = tracking(id);
            let mut writes = plan(&ctx(), &event, &loaded);
            assert!(fold(&home(&ctx(), &event), &mut writes, receipt(id)));
            loaded.fulfillment = writes.into_iter().find_map(|w| match w.item {
                Item::Fulfillment(f) => Some(f),
                _ => None,
            });
        }
        let kept: Vec<u64> = {
            let mut ids: Vec<u64> = loaded
                .fulfillment
                .expect("shipment")
                .receipts
                .keys()
                .map(|k| k.parse().expect("number"))
                .collect();
            ids.sort_unstable();
            ids
        };
        // 9 and 10 made way for 100 and 99.
        assert_eq!(kept, [11, 12, 13, 14, 15, 16, 99, 100]);
    }

    fn ctx_for(webhook_id: &str) -> Context<'_> {
        Context {
            webhook_id,
            ..ctx()
        }
    }

    fn order(topic: Topic, updated_at: &str) -> Event {
        let mut v: serde_json::Value = serde_json::from_slice(fixtures::ORDER).expect("fixture");
        v["updated_at"] = updated_at.into();
        let body = serde_json::to_vec(&v).expect("JSON");
        parse_event(topic, &body).expect("parses")
    }

    #[test]
    fn an_order_topic_keeps_its_receipt_in_the_order_it_writes_keyed_by_state() {
        let paid = order(Topic::OrdersPaid, "2026-11-22T08:00:00Z");
        let here = home(&ctx_for("wh-1"), &paid);
        assert_eq!(
            here,
            Home::Order {
                item: keys::order(SHOP, 450_789_469),
                order_id: 450_789_469,
                state: "2026-11-22T08:00:00.000Z#orders/paid".into(),
            }
        );
        assert_eq!(here.item_key(), None, "no receipt item");
        assert_eq!(
            home(&ctx_for("wh-2"), &paid),
            here,
            "an order's state, whatever the delivery id"
        );
        let mut loaded = Loaded::default();
        let mut writes = plan(&ctx(), &paid, &loaded);
        assert!(
            fold(&here, &mut writes, receipt(1)),
            "the plan writes the order"
        );
        loaded.order = writes.into_iter().find_map(|w| match w.item {
            Item::Order(o) => Some(o),
            _ => None,
        });
        assert_eq!(found(&here, &loaded), Some(&receipt(1)));
        // The same state under another topic, or another state, is not a duplicate.
        let created = order(Topic::OrdersCreate, "2026-11-22T08:00:00Z");
        assert_eq!(found(&home(&ctx(), &created), &loaded), None);
        let later = order(Topic::OrdersPaid, "2026-11-22T09:00:00Z");
        assert_eq!(found(&home(&ctx(), &later), &loaded), None);
    }

    #[test]
    fn an_order_keeps_the_receipts_of_its_newest_states_only() {
        let mut loaded = Loaded::default();
        for hour in 0..10 {
            let event = order(Topic::OrdersPaid, &format!("2026-11-22T{hour:02}:00:00Z"));
            let mut writes = plan(&ctx(), &event, &loaded);
            assert!(fold(&home(&ctx(), &event), &mut writes, receipt(hour)));
            loaded.order = writes.into_iter().find_map(|w| match w.item {
                Item::Order(o) => Some(o),
                _ => None,
            });
        }
        let kept: Vec<String> = loaded
            .order
            .expect("order")
            .receipts
            .keys()
            .map(|k| k[11..13].to_owned())
            .collect();
        // 00:00 and 01:00 made way.
        assert_eq!(kept, ["02", "03", "04", "05", "06", "07", "08", "09"]);
    }

    #[test]
    fn other_deliveries_keep_a_receipt_item_keyed_by_their_state_when_they_have_one() {
        let refund = parse_event(Topic::RefundsCreate, fixtures::REFUND).expect("fixture");
        let Some((id, version)) = refund.business_key() else {
            panic!("a refund names its state");
        };
        let state = keys::event(SHOP, "refunds/create", id, &version);
        assert_eq!(home(&ctx_for("wh-1"), &refund), Home::Item(state.clone()));
        assert_eq!(
            home(&ctx_for("wh-2"), &refund),
            Home::Item(state),
            "a refund's state, whatever the delivery id"
        );
        let redact =
            parse_event(Topic::CustomersRedact, fixtures::CUSTOMERS_REDACT).expect("fixture");
        assert_eq!(
            home(&ctx_for("wh-1"), &redact),
            Home::Item(keys::delivery(SHOP, "wh-1")),
            "no state to key by: the delivery id"
        );
        let mut writes = plan(&ctx(), &refund, &Loaded::default());
        assert!(!fold(&home(&ctx(), &refund), &mut writes, receipt(1)));
    }
}
