//! Signed deliveries of every handled topic through verify → parse → plan, as the
//! webhook function and its recorder do them, on a small in-memory table.
//!
//! Input: one to four deliveries separated by the bytes `0xFF 0xFE` (never in UTF-8, so
//! never inside a JSON body). The first byte of each delivery picks the topic
//! (`Topic::ALL[byte % 13]`), the rest is its body. Each body is signed with a fixed
//! secret and must verify; a parsed event is planned against the items it needs, as the
//! DynamoDB adapter reads them (`MemoryTable::deliver`: `needs`, `needs_after`, the
//! customer's follow-ups and codes, the learned timing), and the plan is applied to the
//! table before the next delivery, so later
//! deliveries are planned on the state earlier ones left (a second order of one
//! customer, a refund after the order, a replay).
//!
//! The config is `infra/aftercart.toml` (the demo shop, every playbook on, a configured
//! product with `consumption_days`), so the replenishment and loyalty arithmetic runs.

#![no_main]

use aftercart::config::Config;
use aftercart::domain::ingest::memory::{MemoryTable, TWO_OPERATIONS};
use aftercart::domain::ingest::receipts::{home, Home};
use aftercart::domain::ingest::Context;
use aftercart::wire::shopify::{parse_delivery, Topic};
use aftercart::wire::verify::{sign_webhook, verify_webhook};
use chrono::{DateTime, TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;
use std::collections::HashSet;
use std::sync::LazyLock;

const SHOP: &str = "aftercart-demo.myshopify.com";
const SEPARATOR: &[u8] = &[0xFF, 0xFE];
const MAX_DELIVERIES: usize = 4;

static CONFIG: LazyLock<Config> = LazyLock::new(|| {
    Config::parse(
        include_str!("../../infra/aftercart.toml"),
        "infra/aftercart.toml",
    )
    .expect("the sample config is valid")
});

static SECRETS: LazyLock<[SecretString; 1]> =
    LazyLock::new(|| [SecretString::from("shpss_fuzz_secret".to_owned())]);

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap()
}

/// The planner's table in memory (`domain::ingest::memory`), and the receipts the
/// recorder keeps.
#[derive(Default)]
struct Table {
    items: MemoryTable,
    receipts: HashSet<Home>,
}

fn deliver(table: &mut Table, index: usize, raw: &[u8]) {
    let Some((&selector, body)) = raw.split_first() else {
        return;
    };
    let topic = Topic::ALL[usize::from(selector) % Topic::ALL.len()];

    // The signature Shopify would send verifies; a header made of the body does not
    // panic whatever it is.
    let signature = sign_webhook(body, &SECRETS[0]);
    verify_webhook(body, Some(&signature), &*SECRETS).expect("a correct signature verifies");
    let junk = String::from_utf8_lossy(&body[..body.len().min(64)]);
    let _ = verify_webhook(body, Some(junk.as_ref()), &*SECRETS);

    let Ok(event) = parse_delivery(topic, SHOP, body) else {
        return;
    };
    let _ = event.topic();

    let webhook_id = format!("fuzz-{index}");
    let ctx = Context {
        shop: SHOP,
        webhook_id: &webhook_id,
        now: now(),
        rules: CONFIG.shop(SHOP),
        shards: CONFIG.dispatch.shards,
        redelivery: false,
        import: false,
        counts: None,
    };
    // The recorder's one receipt, where it lives.
    let receipt = home(&ctx, &event);
    if table.receipts.contains(&receipt) {
        return;
    }
    // Read as the adapter reads (learned timing included), plan, apply. DynamoDB
    // refuses a transaction with two operations on one item (and so would retry the
    // delivery for ever): a plan never names an item twice. A condition that does not
    // hold is a lost race, which the adapter re-plans; here the delivery is dropped.
    match table.items.deliver(&ctx, &event) {
        Err(e) if e.starts_with(TWO_OPERATIONS) => panic!("{}: {e}", topic.as_str()),
        Err(_) => {}
        Ok(_) => {
            table.receipts.insert(receipt);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut table = Table::default();
    let mut rest = data;
    for index in 0..MAX_DELIVERIES {
        let (one, more) = match rest.windows(SEPARATOR.len()).position(|w| w == SEPARATOR) {
            Some(at) => (&rest[..at], Some(&rest[at + SEPARATOR.len()..])),
            None => (rest, None),
        };
        deliver(&mut table, index, one);
        match more {
            Some(more) => rest = more,
            None => break,
        }
    }
});
