//! Sample payloads for every handled topic, as a store sends them: used by the sample
//! sender (`aftercart sample`), the integration tests and the benchmarks.

use crate::wire::shopify::Topic;

pub const ORDER: &[u8] = include_bytes!("../../../fixtures/shopify/order.json");
/// [`ORDER`] cancelled: the only state `orders/cancelled` accepts.
pub const ORDER_CANCELLED: &[u8] = include_bytes!("../../../fixtures/topics/order_cancelled.json");
/// [`ORDER`] paid and fulfilled: the only state `orders/fulfilled` accepts.
pub const ORDER_FULFILLED: &[u8] = include_bytes!("../../../fixtures/topics/order_fulfilled.json");
pub const FULFILLMENT: &[u8] = include_bytes!("../../../fixtures/shopify/fulfillment.json");
pub const FULFILLMENT_EVENT: &[u8] =
    include_bytes!("../../../fixtures/shopify/fulfillment_event.json");
pub const FULFILLMENT_DELIVERED: &[u8] =
    include_bytes!("../../../fixtures/topics/fulfillment_delivered.json");
pub const REFUND: &[u8] = include_bytes!("../../../fixtures/shopify/refund.json");
pub const CUSTOMER: &[u8] = include_bytes!("../../../fixtures/shopify/customer.json");
pub const CONSENT: &[u8] = include_bytes!("../../../fixtures/topics/consent.json");
pub const DATA_REQUEST: &[u8] = include_bytes!("../../../fixtures/topics/data_request.json");
pub const CUSTOMERS_REDACT: &[u8] =
    include_bytes!("../../../fixtures/topics/customers_redact.json");
pub const SHOP_REDACT: &[u8] = include_bytes!("../../../fixtures/topics/shop_redact.json");
pub const APP_UNINSTALLED: &[u8] = include_bytes!("../../../fixtures/topics/app_uninstalled.json");

/// The sample body for `topic`.
pub fn sample(topic: Topic) -> &'static [u8] {
    match topic {
        Topic::OrdersCreate | Topic::OrdersPaid => ORDER,
        Topic::OrdersFulfilled => ORDER_FULFILLED,
        Topic::OrdersCancelled => ORDER_CANCELLED,
        Topic::FulfillmentsCreate | Topic::FulfillmentsUpdate => FULFILLMENT,
        Topic::FulfillmentEventsCreate => FULFILLMENT_DELIVERED,
        Topic::RefundsCreate => REFUND,
        Topic::EmailConsentUpdate => CONSENT,
        Topic::CustomersDataRequest => DATA_REQUEST,
        Topic::CustomersRedact => CUSTOMERS_REDACT,
        Topic::ShopRedact => SHOP_REDACT,
        Topic::AppUninstalled => APP_UNINSTALLED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_topic_has_a_sample_that_parses() {
        for topic in Topic::ALL {
            crate::wire::shopify::parse_event(topic, sample(topic))
                .unwrap_or_else(|e| panic!("{}: {e}", topic.as_str()));
        }
    }
}
