//! Learned replenishment timing through the webhook, against moto: a customer's repeat
//! purchase is learned in the paying delivery's transaction and times their next
//! reminder.

use aftercart::model::{FollowUpStatus, Playbook};
use aftercart_integration::*;

const PRODUCT: u64 = 632910392;

fn paid(id: u64, created: &str) -> Vec<u8> {
    order_with(|o| {
        o["id"] = serde_json::json!(id);
        o["name"] = serde_json::json!(format!("#{id}"));
        o["created_at"] = serde_json::json!(created);
        o["updated_at"] = serde_json::json!(created);
        o["financial_status"] = serde_json::json!("paid");
        o["line_items"] = serde_json::json!([{
            "id": id + 1_000,
            "product_id": PRODUCT,
            "variant_id": 1,
            "sku": "REFILL",
            "title": "Refill",
            "quantity": 1,
            "price": "10.00"
        }]);
    })
}

#[tokio::test]
async fn a_repeat_purchase_through_the_webhook_is_learned_and_times_the_next_reminder() {
    let config = config_with(
        "",
        &format!(
            "[[shop.product]]\nproduct_id = {PRODUCT}\nconsumption_days = 30\nlead_days = 5\n"
        ),
    );
    let t = TestApp::spawn_configured(config).await;
    for (id, created) in [(1, "2026-01-01T10:00:00Z"), (2, "2026-03-02T10:00:00Z")] {
        let (status, body) = t
            .post(signed(
                "orders/paid",
                &paid(id, created),
                &format!("wh-{id}"),
            ))
            .await;
        assert_eq!(
            (status, body["status"].as_str()),
            (200, Some("recorded")),
            "{body}"
        );
    }
    let learned = t
        .get(
            "SHOP#aftercart-demo.myshopify.com",
            &format!("CADENCE#{PRODUCT}"),
        )
        .await
        .expect("the product's learned timing is stored");
    assert_eq!(n(&learned, "repeats"), "1");
    let reminders: Vec<_> = t
        .followups()
        .await
        .into_iter()
        .filter(|f| f.playbook == Playbook::Replenishment)
        .map(|f| (f.order_id, f.status, f.due_at))
        .collect();
    // Order 1: the configured 30 − 5 days, then cancelled by the reorder. Order 2: the
    // customer's 40.82 days per unit (their 60 shrunk toward the product's 33.67) − 5.
    let mut reminders = reminders;
    reminders.sort();
    assert_eq!(
        reminders,
        vec![
            (
                1,
                FollowUpStatus::Cancelled,
                "2026-01-26T10:00:00.000Z".into()
            ),
            (
                2,
                FollowUpStatus::Pending,
                "2026-04-07T10:00:00.000Z".into()
            ),
        ]
    );
    // The report's timing section reads the learned item with its one Query.
    let store = aftercart::adapters::dynamo::DynamoStore::new(
        t.client.clone(),
        t.table.clone(),
        std::time::Duration::from_secs(86_400),
    );
    let shop = t
        .app
        .config
        .shop("aftercart-demo.myshopify.com")
        .expect("shop");
    let today = chrono::NaiveDate::from_ymd_opt(2026, 3, 31).expect("date");
    let now = chrono::DateTime::parse_from_rfc3339("2026-03-31T12:00:00Z")
        .expect("time")
        .to_utc();
    let report = aftercart::apps::report::compute(&store, shop, today, 30, now)
        .await
        .expect("report");
    let row = report
        .replenishment_timing
        .products
        .iter()
        .find(|r| r.product == PRODUCT.to_string())
        .expect("the product's row");
    assert_eq!(
        (
            row.configured_days,
            row.days_per_unit,
            row.repeats,
            row.source.as_str()
        ),
        (Some(30), Some(33.7), 1, "blended"),
        "{row:?}"
    );
}
