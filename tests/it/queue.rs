//! The ingest queue: deliveries over HTTPS and through EventBridge go to an SQS FIFO
//! queue on moto and the real `ingest` consumer records them (`queue::drain` stands in
//! for Lambda's event source mapping, with several pollers at once).

use aftercart::adapters::dynamo::Attrs;
use aftercart::wire::shopify::fixtures;
use aftercart_integration::queue::{bridge_event, drain, drain_into, queues, Handled, Queues};
use aftercart_integration::{order_with, s, scan_table, signed, TestApp};
use futures::future::join_all;
use std::time::{Duration, Instant};

/// `items` without what legitimately differs between two recordings of the same
/// deliveries: the receipts (which path wrote them, and the writer's random token),
/// the receipt items and those kept in a shipment's `receipts`.
fn content(items: Vec<Attrs>) -> Vec<Attrs> {
    items
        .into_iter()
        .filter(|i| s(i, "entity") != "receipt")
        .map(|mut i| {
            i.remove("receipts");
            i
        })
        .collect()
}

/// Fails naming the items (by key) and attributes in which `got` and `want` differ.
fn assert_same(got: &[Attrs], want: &[Attrs]) {
    let key = |i: &Attrs| format!("{} {}", s(i, "pk"), s(i, "sk"));
    let mut diffs = Vec::new();
    for w in want {
        match got.iter().find(|g| key(g) == key(w)) {
            None => diffs.push(format!("missing {}", key(w))),
            Some(g) => {
                for (name, v) in w {
                    if g.get(name) != Some(v) {
                        diffs.push(format!(
                            "{}: {name} = {:?}, want {v:?}",
                            key(w),
                            g.get(name)
                        ));
                    }
                }
                for name in g.keys().filter(|n| !w.contains_key(*n)) {
                    diffs.push(format!("{}: extra {name}", key(w)));
                }
            }
        }
    }
    for g in got
        .iter()
        .filter(|g| !want.iter().any(|w| key(w) == key(g)))
    {
        diffs.push(format!("unexpected {}", key(g)));
    }
    assert!(
        diffs.is_empty(),
        "{} differences:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

/// The deliveries as (topic, body, webhook id).
type Deliveries = Vec<(&'static str, Vec<u8>, String)>;

/// What recording `deliveries` one after another, inline, leaves in a fresh table.
async fn sequential(t: &TestApp, deliveries: &Deliveries) -> Vec<Attrs> {
    let reference = TestApp::spawn_on_new_table(t).await;
    for (topic, body, id) in deliveries {
        let (status, answer) = reference.post(signed(topic, body, id)).await;
        assert_eq!(status, 200, "sequential {topic} {id}: {answer}");
    }
    content(scan_table(&reference.client, &reference.table).await)
}

/// Posts every delivery at once to the webhook (which queues them); every answer must
/// be a 200 `queued` on the first attempt. Returns the slowest answer.
async fn post_all_at_once(t: &TestApp, deliveries: &Deliveries) -> Duration {
    let answers = join_all(deliveries.iter().map(|(topic, body, id)| async move {
        let started = Instant::now();
        let (status, answer) = t.post(signed(topic, body, id)).await;
        (status, answer, started.elapsed())
    }))
    .await;
    let mut slowest = Duration::ZERO;
    for (status, answer, took) in answers {
        assert_eq!(
            (status, answer["status"].as_str()),
            (200, Some("queued")),
            "{answer}"
        );
        slowest = slowest.max(took);
    }
    slowest
}

async fn queued_app(max_receives: u32) -> (TestApp, Queues) {
    let q = queues(max_receives, 30).await;
    let t = TestApp::spawn().await.with_queue(&q.webhook);
    (t, q)
}

/// As [`queued_app`], running alone: a burst loads moto, and the tests beside it that
/// time the webhook's budget (`webhook_failures`) must not pay for it.
async fn queued_app_alone() -> (TestApp, Queues) {
    let t = TestApp::spawn_alone().await;
    let q = queues(10, 30).await;
    (t.with_queue(&q.webhook), q)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_states_of_one_order_at_once_are_all_accepted_and_leave_what_sequential_delivery_leaves(
) {
    let (t, q) = queued_app_alone().await;
    let deliveries: Deliveries = (0..50)
        .map(|i| {
            if i % 5 == 4 {
                let mut f: serde_json::Value =
                    serde_json::from_slice(fixtures::FULFILLMENT).expect("fixture");
                f["id"] = (255_858_046u64 + i).into();
                (
                    "fulfillments/create",
                    serde_json::to_vec(&f).expect("json"),
                    format!("wh-f{i}"),
                )
            } else {
                let body = order_with(|o| {
                    o["updated_at"] = format!("2008-01-10T11:{:02}:00-05:00", i).into();
                });
                ("orders/paid", body, format!("wh-o{i}"))
            }
        })
        .collect();
    // The order is known (its creation recorded), as on a busy order: its shipments
    // then join its customer's message group with its payments.
    let created = (
        "orders/create",
        fixtures::ORDER.to_vec(),
        "wh-created".to_owned(),
    );
    let ingest = t.ingest(&q.main);
    let (status, _) = t.post(signed(created.0, &created.1, &created.2)).await;
    assert_eq!(status, 200);
    drain(&ingest, &q, 1, Duration::from_secs(30)).await;
    post_all_at_once(&t, &deliveries).await;
    let handled = Handled::default();
    let drained = drain_into(&ingest, &q, 4, Duration::from_secs(120), &handled).await;
    assert_eq!(q.depth(&q.main).await, 0, "queue drained: {drained:?}");
    assert_eq!(q.depth(&q.dlq).await, 0, "nothing dead-lettered");
    // One message group: recorded one at a time in the order the queue accepted them.
    let order = handled.into_inner().expect("not poisoned");
    assert_eq!(order.len(), 50, "each handled once");
    let in_queue_order: Deliveries = std::iter::once(created)
        .chain(order.iter().map(|id| {
            deliveries
                .iter()
                .find(|d| &d.2 == id)
                .cloned()
                .expect("known id")
        }))
        .collect();
    assert_same(
        &content(t.scan().await),
        &sequential(&t, &in_queue_order).await,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_orders_of_one_customer_at_once_count_every_order_exactly_once() {
    let (t, q) = queued_app_alone().await;
    let deliveries: Deliveries = (0..30u64)
        .map(|i| {
            let body = order_with(|o| {
                o["id"] = (450_789_469 + i).into();
                o["name"] = format!("#{}", 1001 + i).into();
                o["order_number"] = (1001 + i).into();
            });
            ("orders/paid", body, format!("wh-c{i}"))
        })
        .collect();
    post_all_at_once(&t, &deliveries).await;
    let handled = Handled::default();
    let drained = drain_into(
        &t.ingest(&q.main),
        &q,
        4,
        Duration::from_secs(120),
        &handled,
    )
    .await;
    assert_eq!(q.depth(&q.main).await, 0, "queue drained: {drained:?}");
    let items = content(t.scan().await);
    let orders = items.iter().filter(|i| s(i, "sk") == "ORDER").count();
    assert_eq!(orders, 30);
    // One customer, one message group: recorded one at a time in the order the queue
    // accepted them (which loyalty's "every Nth order" depends on). The same orders
    // recorded one after another in that order leave the same table.
    let order = handled.into_inner().expect("not poisoned");
    assert_eq!(order.len(), 30, "each handled once");
    let in_queue_order: Deliveries = order
        .iter()
        .map(|id| {
            deliveries
                .iter()
                .find(|d| &d.2 == id)
                .cloned()
                .expect("known id")
        })
        .collect();
    assert_same(&items, &sequential(&t, &in_queue_order).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_identical_deliveries_at_once_record_one() {
    let (t, q) = queued_app_alone().await;
    let deliveries: Deliveries = (0..50)
        .map(|_| {
            (
                "orders/paid",
                fixtures::ORDER.to_vec(),
                "wh-same".to_owned(),
            )
        })
        .collect();
    post_all_at_once(&t, &deliveries).await;
    let drained = drain(&t.ingest(&q.main), &q, 4, Duration::from_secs(60)).await;
    // The queue's deduplication id (the webhook id's digest) keeps one of the 50.
    assert_eq!(drained.messages, 1, "{drained:?}");
    assert_same(
        &content(t.scan().await),
        &sequential(&t, &deliveries[..1].to_vec()).await,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_fixtures_through_https_and_through_eventbridge_leave_the_same_table() {
    let deliveries: Deliveries = vec![
        ("orders/paid", fixtures::ORDER.to_vec(), "wh-1".into()),
        (
            "fulfillments/create",
            fixtures::FULFILLMENT.to_vec(),
            "wh-2".into(),
        ),
        (
            "fulfillment_events/create",
            fixtures::FULFILLMENT_DELIVERED.to_vec(),
            "wh-3".into(),
        ),
        ("refunds/create", fixtures::REFUND.to_vec(), "wh-4".into()),
        (
            "customers_email_marketing_consent/update",
            fixtures::CONSENT.to_vec(),
            "wh-5".into(),
        ),
    ];
    // Each recorded before the next arrives, as an order's life reaches a store: the
    // shipment then finds its order (and its customer's message group). Sent all at
    // once, a shipment of an order not recorded yet is in the order's group, and what
    // the planner writes for it depends on which is recorded first.
    let (https, qh) = queued_app(10).await;
    let consumer = https.ingest(&qh.main);
    for (topic, body, id) in &deliveries {
        let (status, answer) = https.post(signed(topic, body, id)).await;
        assert_eq!(
            (status, answer["status"].as_str()),
            (200, Some("queued")),
            "{answer}"
        );
        drain(&consumer, &qh, 1, Duration::from_secs(60)).await;
    }

    // On a table of its own, under the same lock: a second lock taken while holding one
    // waits forever behind a test that asked for moto alone.
    let qb = queues(10, 30).await;
    let bridge = TestApp::spawn_on_new_table(&https)
        .await
        .with_queue(&qb.webhook);
    let router = bridge.ingest(&qb.main);
    for (topic, body, id) in &deliveries {
        let answer = router.handle(bridge_event(topic, body, id)).await;
        assert_eq!(answer, Ok(serde_json::json!({})), "{topic}");
        drain(&router, &qb, 1, Duration::from_secs(60)).await;
    }

    let (a, b) = (content(https.scan().await), content(bridge.scan().await));
    assert!(
        a.iter().any(|i| s(i, "sk") == "ORDER"),
        "the order was recorded"
    );
    assert_same(&a, &b);
    assert_same(&a, &sequential(&https, &deliveries).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_event_arriving_both_ways_during_a_switch_over_is_recorded_once() {
    let (t, q) = queued_app(10).await;
    // Two subscriptions, two webhook ids, one event (its business key).
    let (status, _) = t
        .post(signed("orders/paid", fixtures::ORDER, "wh-https"))
        .await;
    assert_eq!(status, 200);
    let ingest = t.ingest(&q.main);
    let answer = ingest
        .handle(bridge_event("orders/paid", fixtures::ORDER, "wh-bridge"))
        .await;
    assert_eq!(answer, Ok(serde_json::json!({})));
    drain(&ingest, &q, 1, Duration::from_secs(60)).await;
    let once = vec![(
        "orders/paid",
        fixtures::ORDER.to_vec(),
        "wh-https".to_owned(),
    )];
    assert_same(&content(t.scan().await), &sequential(&t, &once).await);
}

#[tokio::test]
async fn an_event_from_another_source_or_shop_is_refused_and_nothing_is_queued() {
    let (t, q) = queued_app(10).await;
    let ingest = t.ingest(&q.main);
    let mut other_source = bridge_event("orders/paid", fixtures::ORDER, "wh-x");
    other_source["source"] = "aws.partner/shopify.com/999/someone-else".into();
    let mut other_shop = bridge_event("orders/paid", fixtures::ORDER, "wh-y");
    other_shop["detail"]["metadata"]["X-Shopify-Shop-Domain"] = "other.myshopify.com".into();
    for event in [other_source, other_shop] {
        assert_eq!(ingest.handle(event).await, Ok(serde_json::json!({})));
    }
    assert_eq!(q.depth(&q.main).await, 0);
    assert!(content(t.scan().await).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_delivery_is_retried_alone_and_a_poison_one_reaches_the_dead_letter_queue_then_redrive_records_it_once(
) {
    // Two receives before the dead-letter queue, visible again at once.
    let q = queues(2, 0).await;
    let t = TestApp::spawn().await.with_queue(&q.webhook);
    let good = order_with(|o| o["id"] = 1u64.into());
    let (status, _) = t.post(signed("orders/paid", &good, "wh-good")).await;
    assert_eq!(status, 200);
    // A message no build can read as a delivery.
    let poison = "{\"v\":1,\"not\":\"a delivery\"}";
    q.main
        .send("g-poison", "d-poison", poison)
        .await
        .expect("send");
    // One batch of both, by hand: only the poison message is reported failed.
    let got = q.main.receive(10, Duration::ZERO).await.expect("receive");
    assert_eq!(got.len(), 2);
    let ingest = t.ingest(&q.main);
    let answer = ingest
        .handle(aftercart_integration::queue::sqs_event(&got))
        .await
        .expect("handled");
    let poison_id = got
        .iter()
        .find(|m| m.body == poison)
        .map(|m| m.message_id.clone())
        .expect("poison received");
    assert_eq!(
        answer["batchItemFailures"],
        serde_json::json!([{ "itemIdentifier": poison_id }])
    );
    assert!(
        t.scan().await.iter().any(|i| s(i, "sk") == "ORDER"),
        "the good one is recorded"
    );

    // The good message is deleted; the poison one is received again and then moved.
    for m in got.iter().filter(|m| m.message_id != poison_id) {
        q.main.delete(&m.receipt_handle).await.expect("delete");
    }
    drain(&ingest, &q, 1, Duration::from_secs(20)).await;
    assert_eq!(q.depth(&q.main).await, 0);
    assert_eq!(
        q.depth(&q.dlq).await,
        1,
        "the poison message is dead-lettered"
    );

    // A real delivery dead-lettered too (sent there the way the webhook queues it),
    // then redriven after the fix: it is recorded, the unreadable one stays.
    let to_dlq = TestApp::spawn_on_new_table(&t).await.with_queue(&q.dlq);
    // (A second webhook app, so the delivery reaches the dead-letter queue unrecorded.)
    let (status, _) = to_dlq
        .post(signed("orders/paid", fixtures::ORDER, "wh-late"))
        .await;
    assert_eq!(status, 200);
    let before = t.scan().await.len();
    let redriven = ingest.redrive(&q.dlq).await.expect("redrive");
    assert_eq!(
        (redriven.recorded, redriven.failing),
        (1, 1),
        "{redriven:?}"
    );
    assert!(t.scan().await.len() > before, "the delivery is recorded");
    // A second redrive records nothing twice: the unreadable message stays.
    let again = ingest.redrive(&q.dlq).await.expect("redrive");
    assert_eq!((again.recorded, again.duplicates), (0, 0), "{again:?}");
}

/// A port nothing listens on: a store (or queue) that is down.
const DEAD: &str = "http://127.0.0.1:9";

#[tokio::test]
async fn store_trouble_hides_the_message_for_its_back_off_instead_of_spending_receives() {
    // Visible again after 1 s if nothing backs it off.
    let q = queues(10, 1).await;
    let t = TestApp::spawn().await.with_queue(&q.webhook);
    let (status, _) = t
        .post(signed("orders/paid", fixtures::ORDER, "wh-outage"))
        .await;
    assert_eq!(status, 200);
    let got = q.main.receive(10, Duration::ZERO).await.expect("receive");
    assert_eq!(got.len(), 1);
    // The consumer's store is down.
    let down = TestApp::against(DEAD).await;
    let answer = down
        .ingest_via(&q.main, DEAD)
        .handle(aftercart_integration::queue::sqs_event(&got))
        .await
        .expect("handled");
    assert_eq!(
        answer["batchItemFailures"],
        serde_json::json!([{ "itemIdentifier": got[0].message_id }])
    );
    // Well past the queue's own 1 s visibility: still hidden (the first back-off is
    // 30 s), and still in the queue.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let again = q.main.receive(10, Duration::ZERO).await.expect("receive");
    assert!(again.is_empty(), "received again during its back-off");
    assert_eq!(q.depth(&q.main).await, 1);
    assert_eq!(q.depth(&q.dlq).await, 0);
    assert!(content(t.scan().await).is_empty());
}

#[tokio::test]
async fn a_delivery_too_large_for_a_queue_message_is_recorded_at_once() {
    let (t, q) = queued_app(10).await;
    // About 400 KB of random letters: over 256 KiB even gzipped and base64-encoded,
    // under the webhook's 1 MiB limit.
    let note: String = std::iter::repeat_with(fastrand::alphanumeric)
        .take(400_000)
        .collect();
    let body = order_with(|o| o["note"] = note.into());
    let (status, answer) = t.post(signed("orders/paid", &body, "wh-large")).await;
    assert_eq!((status, answer["status"].as_str()), (200, Some("recorded")));
    assert_eq!(q.depth(&q.main).await, 0, "nothing queued");
    assert!(t.scan().await.iter().any(|i| s(i, "sk") == "ORDER"));
}

#[tokio::test]
async fn when_the_queue_is_down_https_answers_503_and_an_eventbridge_event_fails_to_be_retried() {
    let t = TestApp::spawn().await;
    let down = aftercart::adapters::sqs::SqsQueue::new(
        aftercart::adapters::sqs::sqs_client_from(&aftercart_integration::sdk_config_for(DEAD)),
        format!("{DEAD}/000000000000/aftercart-ingest.fifo"),
    );
    let ingest = t.ingest(&down);
    let t = t.with_queue(&down);
    let (status, answer) = t
        .post(signed("orders/paid", fixtures::ORDER, "wh-down"))
        .await;
    assert_eq!(status, 503, "{answer}");
    let event = bridge_event("orders/paid", fixtures::ORDER, "wh-down-eb");
    let failed = ingest.handle(event).await;
    assert!(
        failed.as_ref().is_err_and(|e| e.contains("not queued")),
        "{failed:?}"
    );
    assert!(t.scan().await.is_empty(), "nothing recorded either way");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_adds_its_report_counts_once_per_counter_item() {
    use aftercart_integration::meter::Meter;
    use aftercart_integration::{paid_order, queue::sqs_event};
    let (t, q) = queued_app_alone().await;
    // Ten customers' paid orders of one day: ten message groups, one batch.
    let deliveries: Deliveries = (0..10u64)
        .map(|i| {
            let email = format!("batch{i}@example.com");
            let body = paid_order(460_000_000 + i, 8_100_000 + i, &email, false, |_| {});
            ("orders/paid", body, format!("wh-batch-{i}"))
        })
        .collect();
    post_all_at_once(&t, &deliveries).await;
    let mut got = Vec::new();
    while got.len() < deliveries.len() {
        let more = q.main.receive(10, Duration::ZERO).await.expect("receive");
        assert!(!more.is_empty(), "every delivery was queued");
        got.extend(more);
    }
    let meter = Meter::start().await;
    let ingest = t.ingest_via(&q.main, &meter.url);
    let answer = ingest.handle(sqs_event(&got)).await.expect("handled");
    assert_eq!(answer["batchItemFailures"], serde_json::json!([]));
    let usage = meter.take().await;
    // Each counter item the batch touches is written once (one at a time, each
    // delivery wrote its own).
    let stats: Vec<&String> = usage
        .log
        .iter()
        .filter(|l| l.starts_with("UpdateItem") && l.contains("#STATS / "))
        .collect();
    let mut keys: Vec<&str> = stats
        .iter()
        .filter_map(|l| l.split("#STATS / ").nth(1)?.split_whitespace().next())
        .collect();
    let writes = keys.len();
    keys.sort_unstable();
    keys.dedup();
    assert!(!keys.is_empty(), "{:#?}", usage.log);
    assert_eq!(writes, keys.len(), "{stats:#?}");
    // And they count all ten.
    let items = t.scan().await;
    let planned: u64 = items
        .iter()
        .filter(|i| s(i, "pk").ends_with("#STATS") && s(i, "sk").ends_with("#playbook#thank_you"))
        .filter_map(|i| i.get("planned")?.as_n().ok()?.parse::<u64>().ok())
        .sum();
    assert_eq!(planned, 10);
}
