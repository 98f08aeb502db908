//! The orders the benches feed the webhook's hot path: the 7 KB REST fixture and a
//! generated order with 250 realistic line items (~300 KB), the largest order Shopify
//! sends in one webhook.

use serde_json::{json, Value};

pub const ORDER_FIXTURE: &[u8] = include_bytes!("../../fixtures/shopify/order.json");
pub const LINE_ITEMS: u64 = 250;

/// Shopify's `*_set` money object: the amount in shop and presentment currency.
fn money_set(amount: &str) -> Value {
    json!({
        "shop_money": { "amount": amount, "currency_code": "USD" },
        "presentment_money": { "amount": amount, "currency_code": "USD" }
    })
}

/// A line item with the fields a current REST webhook line item carries.
fn line_item(i: u64) -> Value {
    let id = 13_000_000_000_000 + i;
    let product_id = 7_000_000_000_000 + i / 3;
    let variant_id = 42_000_000_000_000 + i;
    let price = format!("{}.{:02}", 5 + i % 120, (i * 37) % 100);
    let tax = format!("{}.{:02}", (i % 9) + 1, (i * 13) % 100);
    json!({
        "id": id,
        "admin_graphql_api_id": format!("gid://shopify/LineItem/{id}"),
        "attributed_staffs": [],
        "current_quantity": 1 + i % 3,
        "fulfillable_quantity": 1 + i % 3,
        "fulfillment_service": "manual",
        "fulfillment_status": null,
        "gift_card": false,
        "grams": 150 + (i % 40) * 10,
        "name": format!("Organic Cotton Tee {i} - Forest Green / M"),
        "price": price,
        "price_set": money_set(&price),
        "product_exists": true,
        "product_id": product_id,
        "properties": [],
        "quantity": 1 + i % 3,
        "requires_shipping": true,
        "sku": format!("OCT-{i:04}-GRN-M"),
        "taxable": true,
        "title": format!("Organic Cotton Tee {i}"),
        "total_discount": "0.00",
        "total_discount_set": money_set("0.00"),
        "variant_id": variant_id,
        "variant_inventory_management": "shopify",
        "variant_title": "Forest Green / M",
        "vendor": "Aftercart Apparel Co.",
        "tax_lines": [{
            "channel_liable": false,
            "price": tax,
            "price_set": money_set(&tax),
            "rate": 0.0825,
            "title": "State Tax"
        }],
        "duties": [],
        "discount_allocations": []
    })
}

/// The fixture order with a current-API id and 250 generated line items.
pub fn large_order() -> Vec<u8> {
    let mut order: Value = serde_json::from_slice(ORDER_FIXTURE).expect("fixture is JSON");
    order["id"] = json!(5_912_345_678_901_u64);
    order["admin_graphql_api_id"] = json!("gid://shopify/Order/5912345678901");
    order["financial_status"] = json!("paid");
    order["line_items"] = Value::Array((0..LINE_ITEMS).map(line_item).collect());
    serde_json::to_vec(&order).expect("serialisable")
}
