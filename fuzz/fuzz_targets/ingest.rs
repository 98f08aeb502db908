//! What the ingest function reads from outside: Shopify's EventBridge events
//! (`wire::shopify::eventbridge::parse` → the delivery headers → the typed payload → its
//! message group) and the queue's messages (`wire::intake::Envelope::decode` → its
//! body → the typed payload). The first byte picks which.

#![no_main]

use aftercart::domain::ingest::group;
use aftercart::wire::intake::Envelope;
use aftercart::wire::shopify::{eventbridge, parse_delivery, Delivery, Topic};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    if selector % 2 == 0 {
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(rest) else {
            return;
        };
        let _ = eventbridge::is_event(&value);
        let Ok(event) = eventbridge::parse(value) else {
            return;
        };
        let Ok(delivery) = Delivery::from_headers(&event.headers) else {
            return;
        };
        if let Some(topic) = Topic::parse(delivery.topic) {
            if let Ok(parsed) = parse_delivery(topic, delivery.shop, &event.body) {
                let g = group(delivery.shop, &parsed, Some("7"));
                assert_eq!(g.len(), 40);
            }
        }
    } else {
        let Ok(text) = std::str::from_utf8(rest) else {
            return;
        };
        let Ok(envelope) = Envelope::decode(text) else {
            return;
        };
        let _ = envelope.encode();
        if let (Some(topic), Ok(body)) = (Topic::parse(&envelope.topic), envelope.unpack()) {
            let _ = parse_delivery(topic, &envelope.shop, &body);
        }
    }
});
