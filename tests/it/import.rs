//! `aftercart import-orders` against moto: a real-shaped Shopify order export recorded
//! through the real DynamoDB recorder. Orders, profiles and history are there; no
//! follow-up at all is planned and the dispatcher sends nothing; a second run leaves
//! the table exactly as it was and reports every order as already there.

use aftercart::model::{customer_key, keys, HistoryRecord, OrderRecord, ProfileRecord};
use aftercart_cli::cli::import::{import_orders, ImportSummary};
use aftercart_cli::cli::orders_csv;
use aftercart_integration::*;
use rust_decimal::Decimal;

const EXPORT: &[u8] = include_bytes!("../../tools/cli/tests/fixtures/shopify_orders_export.csv");

fn import_config() -> aftercart::config::Config {
    config_with(
        "",
        "[[shop.product]]\nsku = \"BEANS-1KG\"\nproduct_id = 111\nconsumption_days = 30\n\
         [[shop.product]]\nsku = \"GRINDER-01\"\nproduct_id = 222\n",
    )
}

async fn run(t: &TestApp, export: &orders_csv::Export) -> ImportSummary {
    import_orders(
        &t.app.recorder,
        &t.app.config,
        SHOP,
        export,
        NOW.parse().expect("time"),
        |_| {},
    )
    .await
    .expect("the import runs")
}

async fn item<T: serde::de::DeserializeOwned>(t: &TestApp, key: aftercart::model::Key) -> T {
    let attrs = t
        .get(&key.pk, &key.sk)
        .await
        .unwrap_or_else(|| panic!("no item {key:?}"));
    serde_dynamo::from_item(attrs).expect("decodes")
}

#[tokio::test]
async fn an_export_is_recorded_once_without_a_follow_up_and_a_second_run_changes_nothing() {
    let t = TestApp::spawn_configured(import_config()).await;
    let export = orders_csv::parse(EXPORT).expect("the export reads");

    let first = run(&t, &export).await;
    assert_eq!(
        (
            first.orders_read,
            first.recorded,
            first.duplicates,
            first.skipped_orders
        ),
        (6, 6, 0, 0),
        "{first}"
    );
    assert_eq!(first.refunds_recorded, 1);
    assert_eq!(first.unmatched_lines, 3, "{first}");

    // Orders, with their states.
    let o: OrderRecord = item(&t, keys::order(SHOP, 5_001_000_001)).await;
    assert!(o.counted && o.spend_counted);
    assert_eq!(o.paid_at.as_deref(), Some("2024-03-05T13:07:35.000Z"));
    let lines: Vec<(Option<u64>, u32)> =
        o.lines.iter().map(|l| (l.product_id, l.quantity)).collect();
    assert_eq!(lines, [(Some(111), 2), (Some(222), 1)]);
    let refunded: OrderRecord = item(&t, keys::order(SHOP, 5_001_000_004)).await;
    assert!(refunded.fully_refunded());
    let pending: OrderRecord = item(&t, keys::order(SHOP, 5_001_000_005)).await;
    assert!(pending.paid_at.is_none());
    let voided: OrderRecord = item(&t, keys::order(SHOP, 5_001_000_006)).await;
    assert!(voided.cancelled_at.is_some());

    // Alice's two orders (one under another spelling of her address) on one profile.
    let alice = customer_key(None, Some("alice@example.com")).expect("key");
    let p: ProfileRecord = item(&t, keys::profile(SHOP, &alice)).await;
    assert_eq!((p.orders_count, p.paid_orders_count), (2, 2));
    assert_eq!(p.total_spent, Decimal::new(11490, 2));
    assert_eq!(
        p.first_order_at.as_deref(),
        Some("2024-03-05T13:07:31.000Z")
    );
    assert_eq!(p.last_order_id, Some(5_001_000_003));
    let h: HistoryRecord = item(
        &t,
        keys::history(SHOP, &alice, "2024-03-05T13:07:31.000Z", 5_001_000_001),
    )
    .await;
    assert_eq!(
        (h.name.as_deref(), h.product_ids),
        (Some("#1001"), vec![111, 222])
    );

    // Nothing planned, nothing sent.
    let before = t.scan().await;
    let planned: Vec<String> = before
        .iter()
        .map(|i| s(i, "sk"))
        .filter(|sk| sk.starts_with(keys::FOLLOWUP_PREFIX) || sk.starts_with(keys::DISCOUNT_PREFIX))
        .collect();
    assert!(planned.is_empty(), "no follow-up at all: {planned:?}");
    assert!(
        !before.iter().any(|i| i.contains_key("due_pk")),
        "nothing in the due index"
    );
    assert!(t.followups().await.is_empty());
    let d = t.dispatcher(NOW, None).await;
    let report = run_dispatch(&d).await;
    assert_eq!(report["sent"].as_u64(), Some(0), "{report}");
    assert!(d.mailer.sent.lock().unwrap().is_empty());

    // Again: every order already there, the table item for item as it was.
    let before = t.scan().await;
    let second = run(&t, &export).await;
    assert_eq!(
        (
            second.orders_read,
            second.recorded,
            second.duplicates,
            second.refunds_recorded
        ),
        (6, 0, 6, 0),
        "{second}"
    );
    assert!(second.wrote_nothing());
    assert!(
        second.to_string().contains("this run changed nothing"),
        "{second}"
    );
    assert_eq!(t.scan().await, before, "the second run changed nothing");
}

#[tokio::test]
async fn a_bad_row_skips_only_its_order() {
    let t = TestApp::spawn_configured(import_config()).await;
    let text = String::from_utf8(EXPORT.to_vec()).expect("utf-8").replacen(
        ",1,\"Hand grinder, steel\"",
        ",one,\"Hand grinder, steel\"",
        1,
    );
    let export = orders_csv::parse(text.as_bytes()).expect("reads");
    let summary = run(&t, &export).await;
    assert_eq!(
        (summary.recorded, summary.skipped_orders),
        (5, 1),
        "{summary}"
    );
    assert_eq!(
        summary.skipped[0].to_string(),
        "line 12: order #1001: Lineitem quantity \"one\" is not a whole number"
    );
    assert!(t
        .get(&keys::order(SHOP, 5_001_000_001).pk, "ORDER")
        .await
        .is_none());
    let alice = customer_key(None, Some("alice@example.com")).expect("key");
    let p: ProfileRecord = item(&t, keys::profile(SHOP, &alice)).await;
    assert_eq!(p.orders_count, 1, "only #1003, nothing of #1001");
}
