use super::*;
use aftercart::domain::ingest::{self, Item, Loaded};
use aftercart::model::{Key, OrderRecord, ProfileRecord, QuarantineRecord};
use aftercart::ports::store::DuplicateOf;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

const EXPORT: &[u8] = include_bytes!("../../tests/fixtures/shopify_orders_export.csv");
const SHOP: &str = "roasters.myshopify.com";

fn config() -> Config {
    Config::parse(
        &format!(
            "[links]\nbase_url = \"https://links.example.test\"\n\
             [[shop]]\ndomain = \"{SHOP}\"\nname = \"Roasters\"\n\
             postal_address = \"1 Test Street\"\nsender_email = \"hello@roasters.example\"\n\
             [[shop.product]]\nsku = \"BEANS-1KG\"\nproduct_id = 111\nconsumption_days = 30\n"
        ),
        "test",
    )
    .expect("test config")
}

fn now() -> DateTime<Utc> {
    "2026-12-01T10:00:00Z".parse().expect("time")
}

/// A recorder over the library's own planning (`ingest::plan`), keeping the orders and
/// profiles it wrote and the receipts by webhook id, as the store does; it remembers
/// every delivery and every write planned.
#[derive(Default)]
struct PlanningRecorder {
    state: Mutex<State>,
    /// Fail every `record` with this (once set).
    fail: Mutex<Option<fn() -> StoreError>>,
}

#[derive(Default)]
struct State {
    receipts: HashSet<String>,
    orders: HashMap<u64, OrderRecord>,
    profiles: HashMap<String, ProfileRecord>,
    /// (webhook id, topic, import, every playbook of the rules on)
    deliveries: Vec<(String, &'static str, bool, usize)>,
    items: Vec<Item>,
}

impl Recorder for PlanningRecorder {
    async fn record(&self, ctx: &Context<'_>, event: &Event) -> Result<Outcome, StoreError> {
        if let Some(fail) = *self.fail.lock().expect("lock") {
            return Err(fail());
        }
        let mut s = self.state.lock().expect("lock");
        let on = ctx.rules.map_or(0, |r| r.playbooks.enabled().len());
        s.deliveries.push((
            ctx.webhook_id.to_owned(),
            event.topic().as_str(),
            ctx.import,
            on,
        ));
        if !s.receipts.insert(ctx.webhook_id.to_owned()) {
            return Ok(Outcome::Duplicate {
                of: DuplicateOf::Delivery,
            });
        }
        let needs = ingest::needs(event);
        let loaded = Loaded {
            order: needs.order.and_then(|id| s.orders.get(&id).cloned()),
            profile: needs.profile.and_then(|k| s.profiles.get(&k).cloned()),
            ..Loaded::default()
        };
        let writes = ingest::plan(ctx, event, &loaded);
        for w in &writes {
            match &w.item {
                Item::Order(o) => {
                    s.orders.insert(o.order_id, o.clone());
                }
                Item::Profile(p) => {
                    s.profiles.insert(p.customer_key.clone(), p.clone());
                }
                _ => {}
            }
            s.items.push(w.item.clone());
        }
        Ok(Outcome::Recorded {
            items: writes.len(),
        })
    }

    async fn quarantine(&self, _: &Key, _: &QuarantineRecord) -> Result<(), StoreError> {
        Ok(())
    }

    async fn count_refusal(
        &self,
        _: &str,
        _: aftercart::domain::refusals::RefusalKind,
        _: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        Ok(())
    }
}

async fn import(recorder: &PlanningRecorder, export: &Export) -> Result<ImportSummary> {
    import_orders(recorder, &config(), SHOP, export, now(), |_| {}).await
}

#[tokio::test]
async fn every_order_is_recorded_as_an_import_oldest_first_and_nothing_is_planned() {
    let export = orders_csv::parse(EXPORT).expect("reads");
    let recorder = PlanningRecorder::default();
    let summary = import(&recorder, &export).await.expect("imports");
    assert_eq!(
        (summary.orders_read, summary.recorded, summary.duplicates),
        (6, 6, 0)
    );
    assert_eq!((summary.refunds_recorded, summary.skipped_orders), (1, 0));
    // FILTER-100, GIFT-BOX, MUG-350 and the grinder have no rule here.
    assert_eq!(summary.unmatched_lines, 4);
    assert_eq!(summary.unmatched_skus.get("MUG-350"), Some(&1));

    let s = recorder.state.lock().expect("lock");
    let deliveries: Vec<(&str, &str, bool, usize)> = s
        .deliveries
        .iter()
        .map(|(id, topic, import, on)| (id.as_str(), *topic, *import, *on))
        .collect();
    let all_on = config().shops[0].playbooks.enabled().len();
    assert_eq!(
        deliveries,
        [
            ("import:5001000001", "orders/paid", true, all_on),
            ("import:5001000002", "orders/paid", true, all_on),
            ("import:5001000003", "orders/paid", true, all_on),
            ("import:5001000004", "orders/paid", true, all_on),
            ("import:5001000004:refund", "refunds/create", true, 0),
            ("import:5001000005", "orders/create", true, all_on),
            ("import:5001000006", "orders/create", true, all_on),
        ]
    );
    assert!(
        !s.items
            .iter()
            .any(|i| matches!(i, Item::FollowUp(_) | Item::Discount(_))),
        "no follow-up or discount planned: {:?}",
        s.items
    );
    let alice = aftercart::model::customer_key(None, Some("alice@example.com")).expect("key");
    let p = &s.profiles[&alice];
    assert_eq!((p.orders_count, p.paid_orders_count), (2, 2));
    assert_eq!(p.total_spent, rust_decimal::Decimal::new(11490, 2));
    assert!(s.orders[&5_001_000_004].fully_refunded());
    assert!(!s.orders[&5_001_000_003].fully_refunded());
    assert!(
        s.orders[&5_001_000_005].paid_at.is_none(),
        "pending: not paid"
    );
    assert!(s.orders[&5_001_000_006].cancelled_at.is_some());
    assert_eq!(
        s.orders[&5_001_000_001].paid_at.as_deref(),
        Some("2024-03-05T13:07:35.000Z")
    );
}

#[tokio::test]
async fn a_second_run_is_all_duplicates() {
    let export = orders_csv::parse(EXPORT).expect("reads");
    let recorder = PlanningRecorder::default();
    import(&recorder, &export).await.expect("first run");
    let items = recorder.state.lock().expect("lock").items.len();
    let again = import(&recorder, &export).await.expect("second run");
    assert_eq!((again.recorded, again.duplicates), (0, 6));
    assert!(again.wrote_nothing());
    assert_eq!(recorder.state.lock().expect("lock").items.len(), items);
    assert!(
        again.to_string().contains("this run changed nothing"),
        "{again}"
    );
}

#[tokio::test]
async fn bad_rows_are_reported_and_their_orders_never_reach_the_store() {
    let mut text = String::from_utf8(EXPORT.to_vec()).expect("utf-8");
    text = text.replacen(
        ",1,\"Hand grinder, steel\"",
        ",one,\"Hand grinder, steel\"",
        1,
    );
    let export = orders_csv::parse(text.as_bytes()).expect("reads");
    let recorder = PlanningRecorder::default();
    let summary = import(&recorder, &export).await.expect("imports");
    assert_eq!(
        (
            summary.orders_read,
            summary.recorded,
            summary.skipped_orders
        ),
        (6, 5, 1)
    );
    let shown = summary.to_string();
    assert!(
        shown.contains("line 12: order #1001: Lineitem quantity \"one\" is not a whole number"),
        "{shown}"
    );
    let s = recorder.state.lock().expect("lock");
    assert!(!s.orders.contains_key(&5_001_000_001));
}

#[tokio::test]
async fn an_unknown_shop_or_an_unavailable_store_stops_the_run() {
    let export = orders_csv::parse(EXPORT).expect("reads");
    let recorder = PlanningRecorder::default();
    let err = import_orders(
        &recorder,
        &config(),
        "other.myshopify.com",
        &export,
        now(),
        |_| {},
    )
    .await
    .expect_err("refused");
    assert!(
        err.to_string().contains("not a shop of the config"),
        "{err}"
    );

    *recorder.fail.lock().expect("lock") = Some(|| StoreError::Unavailable {
        operation: "TransactWriteItems",
        message: "throttled".into(),
    });
    let err = import(&recorder, &export).await.expect_err("stops");
    assert!(
        format!("{err:#}").contains("run the import again"),
        "{err:#}"
    );
}

#[tokio::test]
async fn an_order_the_store_refuses_for_good_is_skipped_and_the_run_goes_on() {
    let export = orders_csv::parse(EXPORT).expect("reads");
    let recorder = PlanningRecorder::default();
    *recorder.fail.lock().expect("lock") = Some(|| StoreError::Refused {
        operation: "TransactWriteItems",
        message: "Item size has exceeded the maximum allowed size".into(),
    });
    let summary = import(&recorder, &export).await.expect("goes on");
    assert_eq!((summary.recorded, summary.skipped_orders), (0, 6));
    assert!(summary.skipped[0]
        .reason
        .starts_with("the store refused it"));
}
