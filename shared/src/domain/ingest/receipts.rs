//! Receipts folded into the item a delivery changes. A tracking event
//! (`fulfillment_events/create`) always writes its shipment's item, conditioned on the
//! version it read, so that item can hold the event's receipt: no `EVENT#…` item of its
//! own, which would cost 2 write units in the transaction and 2 read units in the read
//! before it. A concurrent delivery of the same event loses the version race, reads
//! again and finds the receipt. Other deliveries keep a receipt item
//! (`ports::store::receipt_key`).

use super::{Item, Loaded, Write};
use crate::model::{keys, FoldedReceipt, Key, FOLDED_RECEIPTS_MAX};
use crate::wire::shopify::Event;

/// The item that holds `event`'s receipt and the receipt's id in it, when the receipt
/// is folded; `None` when the delivery writes a receipt item.
pub fn home(shop: &str, event: &Event) -> Option<(Key, String)> {
    match event {
        Event::FulfillmentEvent(e) => Some((
            keys::fulfillment(shop, e.order_id, e.fulfillment_id),
            e.id.to_string(),
        )),
        _ => None,
    }
}

/// `event`'s folded receipt in the items as read, if it was recorded.
pub fn found<'a>(event: &Event, loaded: &'a Loaded) -> Option<&'a FoldedReceipt> {
    match event {
        Event::FulfillmentEvent(e) => loaded.fulfillment.as_ref()?.receipts.get(&e.id.to_string()),
        _ => None,
    }
}

/// Puts `event`'s receipt into the plan's write of the item that holds it, keeping the
/// newest [`FOLDED_RECEIPTS_MAX`] event ids. `false` when the plan does not write that
/// item (the planner always does for a tracking event) or the receipt is not folded.
pub fn fold(event: &Event, writes: &mut [Write], receipt: FoldedReceipt) -> bool {
    let Event::FulfillmentEvent(e) = event else {
        return false;
    };
    let Some(shipment) = writes.iter_mut().find_map(|w| match &mut w.item {
        Item::Fulfillment(f) if f.fulfillment_id == e.fulfillment_id => Some(f),
        _ => None,
    }) else {
        return false;
    };
    shipment.receipts.insert(e.id.to_string(), receipt);
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
        assert!(
            fold(&event, &mut writes, receipt(1)),
            "the plan writes the shipment"
        );
        let (key, id) = home(SHOP, &event).expect("folded");
        let shipment = writes
            .iter()
            .find(|w| w.key == key)
            .and_then(|w| match &w.item {
                Item::Fulfillment(f) => Some(f.clone()),
                _ => None,
            })
            .expect("the shipment's write");
        assert_eq!(id, "7");
        assert_eq!(shipment.receipts.get("7"), Some(&receipt(1)));
        // Read back, the next delivery of the same event finds it.
        loaded.fulfillment = Some(shipment);
        assert_eq!(found(&event, &loaded), Some(&receipt(1)));
        assert_eq!(found(&tracking(8), &loaded), None);
    }

    #[test]
    fn a_shipment_keeps_the_newest_receipts_only() {
        let mut loaded = Loaded::default();
        // Ids of different lengths: the oldest is the smallest number, not string.
        for id in [9, 10, 11, 12, 13, 14, 15, 16, 100, 99] {
            let event = tracking(id);
            let mut writes = plan(&ctx(), &event, &loaded);
            assert!(fold(&event, &mut writes, receipt(id)));
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

    #[test]
    fn other_deliveries_keep_a_receipt_item() {
        let order = parse_event(Topic::OrdersPaid, fixtures::ORDER).expect("fixture");
        assert_eq!(home(SHOP, &order), None);
        let mut writes = plan(&ctx(), &order, &Loaded::default());
        assert!(!fold(&order, &mut writes, receipt(1)));
    }
}
