//! Where a delivery's one receipt lives ([`home`]), in the same transaction as its
//! effects. Most deliveries write a receipt item: the resource state's (`EVENT#…`,
//! keyed by topic, resource id and version) when the payload names one
//! ([`Event::business_key`]), else the delivery's (`DELIVERY#…`, keyed by
//! `X-Shopify-Webhook-Id`). A retry of a delivery carries the same body, so the state's
//! receipt catches it as well as the same state under another delivery id.
//!
//! A tracking event (`fulfillment_events/create`) always writes its shipment's item,
//! conditioned on the version it read, so that item holds the event's receipt instead:
//! no item of its own, which would cost 2 write units in the transaction and 2 read
//! units in the read before it. A concurrent delivery of the same event loses the
//! version race, reads again and finds the receipt.

use super::{Context, Item, Loaded, Write};
use crate::model::{keys, FoldedReceipt, Key, FOLDED_RECEIPTS_MAX};
use crate::wire::shopify::Event;

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
}

/// Where `event`'s receipt is kept.
pub fn home(ctx: &Context<'_>, event: &Event) -> Home {
    if let Event::FulfillmentEvent(e) = event {
        return Home::Shipment {
            item: keys::fulfillment(ctx.shop, e.order_id, e.fulfillment_id),
            fulfillment_id: e.fulfillment_id,
            event_id: e.id.to_string(),
        };
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
            Home::Shipment { .. } => None,
        }
    }
}

/// A folded receipt in the items as read (`None` for a receipt item, or not recorded).
pub fn found<'a>(home: &Home, loaded: &'a Loaded) -> Option<&'a FoldedReceipt> {
    match home {
        Home::Item(_) => None,
        Home::Shipment {
            fulfillment_id,
            event_id,
            ..
        } => loaded
            .fulfillment
            .as_ref()
            .filter(|f| f.fulfillment_id == *fulfillment_id)?
            .receipts
            .get(event_id),
    }
}

/// Puts a folded receipt into the plan's write of the item that holds it, keeping the
/// newest [`FOLDED_RECEIPTS_MAX`] event ids. `false` when the receipt is an item of its
/// own, or the plan does not write its home (the planner always writes a tracking
/// event's shipment).
pub fn fold(home: &Home, writes: &mut [Write], receipt: FoldedReceipt) -> bool {
    let Home::Shipment {
        fulfillment_id,
        event_id,
        ..
    } = home
    else {
        return false;
    };
    let Some(shipment) = writes.iter_mut().find_map(|w| match &mut w.item {
        Item::Fulfillment(f) if f.fulfillment_id == *fulfillment_id => Some(f),
        _ => None,
    }) else {
        return false;
    };
    shipment.receipts.insert(event_id.clone(), receipt);
    while shipment.receipts.len() > FOLDED_RECEIPTS_MAX {
        let oldest = shipment
            .receipts
            .keys()
            .min_by_key(|id| id.parse::<u64>().unwrap_or(0))
            .cloned();
        match oldest {
            Some(id) => shipment.receipts.remove(&id),
            None => break,
        };
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

    #[test]
    fn other_deliveries_keep_a_receipt_item_keyed_by_their_state_when_they_have_one() {
        let order = parse_event(Topic::OrdersPaid, fixtures::ORDER).expect("fixture");
        let state = keys::event(SHOP, "orders/paid", 450_789_469, "2008-01-10T16:00:00.000Z");
        assert_eq!(home(&ctx_for("wh-1"), &order), Home::Item(state.clone()));
        assert_eq!(
            home(&ctx_for("wh-2"), &order),
            Home::Item(state),
            "an order's state, whatever the delivery id"
        );
        let redact =
            parse_event(Topic::CustomersRedact, fixtures::CUSTOMERS_REDACT).expect("fixture");
        assert_eq!(
            home(&ctx_for("wh-1"), &redact),
            Home::Item(keys::delivery(SHOP, "wh-1")),
            "no state to key by: the delivery id"
        );
        let mut writes = plan(&ctx(), &order, &Loaded::default());
        assert!(!fold(&home(&ctx(), &order), &mut writes, receipt(1)));
    }
}
