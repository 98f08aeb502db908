//! Arbitrary bytes as a Shopify order export through `aftercart-cli`'s
//! `orders_csv::parse_bytes` (what `aftercart import-orders` and `backtest` read), and
//! every order it accepts into the webhook bodies and back through the webhook's own
//! parser, as the import does. An accepted order must always make bodies the parser
//! accepts: the import checks every field the webhook checks before building them.

#![no_main]

use aftercart::config::Config;
use aftercart::wire::shopify::{parse_delivery, Topic};
use aftercart_cli::cli::orders_csv::{parse_bytes, webhook_bodies};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

const SHOP: &str = "roasters.myshopify.com";

fn config() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG.get_or_init(|| {
        Config::parse(
            &format!(
                "[links]\nbase_url = \"https://links.example.test\"\n\
                 [[shop]]\ndomain = \"{SHOP}\"\npostal_address = \"1 Test Street\"\nsender_email = \"hello@roasters.example\"\n\
                 [[shop.product]]\nsku = \"BEANS-1KG\"\nproduct_id = 111\nconsumption_days = 30\n"
            ),
            "fuzz.toml",
        )
        .expect("the fuzz config is valid")
    })
}

fuzz_target!(|data: &[u8]| {
    let export = match parse_bytes(data) {
        Ok(e) => e,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    assert!(export.orders.len() + export.skipped_orders().len() <= export.rows);
    for e in &export.errors {
        assert!(e.line >= 2, "a data row is never on the header's line: {e}");
        let _ = e.to_string();
    }
    let shop = &config().shops[0];
    for order in &export.orders {
        assert!(!order.lines.is_empty());
        let bodies = webhook_bodies(order, shop);
        if let Err(e) = parse_delivery(bodies.topic, SHOP, &bodies.order) {
            panic!("an accepted order made a body the webhook refuses: {e}");
        }
        if let Some(refund) = &bodies.refund {
            if let Err(e) = parse_delivery(Topic::RefundsCreate, SHOP, refund) {
                panic!("an accepted refund made a body the webhook refuses: {e}");
            }
        }
    }
});
