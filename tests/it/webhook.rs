//! Recording webhooks in DynamoDB (moto) through the real handler.

use aftercart::adapters::dynamo::Attrs;
use aftercart::wire::shopify::fixtures;
use aftercart_integration::*;
use futures::future::join_all;

const ORDER_PK: &str = "SHOP#aftercart-demo.myshopify.com#ORDER#450789469";
const CUSTOMER_PK: &str = "SHOP#aftercart-demo.myshopify.com#CUSTOMER#207119551";

#[tokio::test]
async fn signed_order_is_stored_as_documented() {
    let t = TestApp::spawn().await;
    let (status, body) = t.post(signed("orders/paid", fixtures::ORDER, "wh-1")).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("recorded")),
        "{body}"
    );

    let items = t.scan().await;
    let keys: Vec<(String, String)> = items.iter().map(|i| (s(i, "pk"), s(i, "sk"))).collect();
    assert_eq!(
        keys,
        vec![
            // No receipt item: the order item holds it (below).
            (CUSTOMER_PK.into(), "FOLLOWUP#thank_you#450789469#0".into()),
            (
                CUSTOMER_PK.into(),
                "ORDER#2008-01-10T16:00:00.000Z#450789469".into()
            ),
            (CUSTOMER_PK.into(), "PROFILE".into()),
            (ORDER_PK.into(), "ORDER".into()),
            // After the transaction: the order name's pointer (the report's lookup) and
            // the day's counter of the thank-you planned.
            (
                "SHOP#aftercart-demo.myshopify.com#ORDERNAME##1001".into(),
                "ORDERNAME".into()
            ),
            (
                "SHOP#aftercart-demo.myshopify.com#STATS".into(),
                "DAY#2026-11-22#playbook#thank_you".into()
            ),
        ]
    );

    let order = t.get(ORDER_PK, "ORDER").await.expect("order item");
    assert_eq!(s(&order, "entity"), "order");
    // The delivery's one receipt, folded into the order it wrote: keyed by the order's
    // state (its version and the topic), naming the delivery id that wrote it.
    let receipts = order["receipts"].as_m().expect("receipts map");
    assert_eq!(
        receipts.keys().collect::<Vec<_>>(),
        ["2008-01-10T16:00:00.000Z#orders/paid"]
    );
    let mine = receipts["2008-01-10T16:00:00.000Z#orders/paid"]
        .as_m()
        .expect("the delivery's receipt");
    assert_eq!(mine["webhook_id"].as_s().unwrap(), "wh-1");
    assert_eq!(mine["writer"].as_s().unwrap().len(), 16);
    assert_eq!(n(&order, "order_id"), "450789469");
    assert_eq!(n(&order, "v"), "1");
    assert_eq!(s(&order, "name"), "#1001");
    assert_eq!(s(&order, "customer_key"), "207119551");
    assert_eq!(
        s(&order, "total_price"),
        "409.94",
        "money stays an exact decimal"
    );
    assert_eq!(s(&order, "currency"), "USD");
    assert_eq!(
        s(&order, "created_at"),
        "2008-01-10T16:00:00.000Z",
        "-05:00 converted to UTC"
    );
    assert_eq!(s(&order, "paid_at"), "2008-01-10T16:00:00.000Z");
    let lines = order["lines"].as_l().expect("lines list");
    assert_eq!(lines.len(), 3);
    let first = lines[0].as_m().expect("line map");
    // Lines are stored under the short names docs/data-model.md lists.
    assert_eq!(first["id"].as_n().unwrap(), "466157049");
    assert_eq!(first["pid"].as_n().unwrap(), "632910392");
    assert_eq!(first["vid"].as_n().unwrap(), "39072856");
    assert_eq!(first["sku"].as_s().unwrap(), "IPOD2008GREEN");
    assert_eq!(first["t"].as_s().unwrap(), "IPod Nano - 8gb");
    assert_eq!(first["vt"].as_s().unwrap(), "green");
    assert_eq!(first["q"].as_n().unwrap(), "1");
    assert_eq!(first["p"].as_s().unwrap(), "199.00");
    let mut names: Vec<&str> = first.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["id", "p", "pid", "q", "sku", "t", "vid", "vt"]);
    for personal in ["email", "first_name", "shipping_address", "billing_address"] {
        assert!(
            !order.contains_key(personal),
            "order item must not hold {personal}"
        );
    }

    let profile = t.get(CUSTOMER_PK, "PROFILE").await.expect("profile item");
    assert_eq!(s(&profile, "email"), "bob.norman@hostmail.com");
    assert_eq!(s(&profile, "first_name"), "Bob");
    assert_eq!(n(&profile, "orders_count"), "1");
    assert_eq!(n(&profile, "paid_orders_count"), "1");
    assert_eq!(s(&profile, "total_spent"), "409.94");
    assert_eq!(n(&profile, "last_order_id"), "450789469");
    assert!(profile["products"]
        .as_m()
        .unwrap()
        .contains_key("632910392"));
    assert!(
        !profile.contains_key("last_name"),
        "only what the playbooks need"
    );

    // A refund keeps a receipt item of its own, which expires after a week.
    let (status, body) = t
        .post(signed("refunds/create", fixtures::REFUND, "wh-refund-1"))
        .await;
    assert_eq!(status, 200, "{body}");
    let items = t.scan().await;
    let receipts: Vec<&Attrs> = items
        .iter()
        .filter(|i| s(i, "entity") == "receipt")
        .collect();
    assert_eq!(receipts.len(), 1, "{receipts:?}");
    assert!(s(receipts[0], "pk").contains("#refunds/create#"));
    let ttl: i64 = n(receipts[0], "expires_at").parse().unwrap();
    let now = chrono::DateTime::parse_from_rfc3339(NOW)
        .unwrap()
        .timestamp();
    assert_eq!(ttl - now, 7 * 86_400, "receipts expire after a week");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_deliveries_of_one_webhook_record_it_once() {
    // Correctness under concurrency, not latency (tested in webhook_failures): the
    // largest budget, so the emulator's queue does not turn answers into 503s.
    let t = TestApp::spawn_alone_configured(load_test_config()).await;
    // All 50 at once; any 503 is redelivered, as Shopify does, until all are answered.
    let mut outcomes: Vec<String> = Vec::new();
    let mut pending = 50;
    for round in 1..=5 {
        let results = join_all(
            (0..pending).map(|_| t.post(signed("orders/paid", fixtures::ORDER, "wh-same"))),
        )
        .await;
        pending = 0;
        for (status, body) in results {
            match status {
                200 => outcomes.push(body["status"].as_str().unwrap_or_default().to_owned()),
                503 => pending += 1,
                other => panic!("round {round}: unexpected {other} {body}"),
            }
        }
        if pending == 0 {
            break;
        }
    }
    assert_eq!(pending, 0, "deliveries still failing after 5 rounds");
    let recorded = outcomes.iter().filter(|o| *o == "recorded").count();
    let duplicates = outcomes
        .iter()
        .filter(|o| *o == "duplicate_delivery")
        .count();
    assert_eq!((recorded, duplicates), (1, 49), "{outcomes:?}");

    // The table must be exactly what one delivery leaves: a second write of the same
    // order or profile would change nothing visible but their version `v`.
    let reference = recorded_once(&t, signed("orders/paid", fixtures::ORDER, "wh-same")).await;
    let items = t.scan().await;
    for (pk, sk) in [(ORDER_PK, "ORDER"), (CUSTOMER_PK, "PROFILE")] {
        let v = |items: &[Attrs]| {
            items
                .iter()
                .find(|i| s(i, "pk") == pk && s(i, "sk") == sk)
                .map(|i| n(i, "v"))
        };
        assert_eq!(v(&items), v(&reference), "version of {pk} {sk}");
        assert_eq!(
            v(&reference),
            Some("1".to_owned()),
            "{pk} {sk} written once"
        );
    }
    assert_eq!(
        normalised(items),
        normalised(reference),
        "50 deliveries leave what one leaves"
    );
}

/// What recording `req` once leaves in a fresh table of its own, through an app with
/// `t`'s client, config, secrets and clock: the reference a concurrent run must match.
async fn recorded_once(t: &TestApp, req: lambda_http::Request) -> Vec<Attrs> {
    let table = format!("it-ref-{:016x}", fastrand::u64(..));
    aftercart::adapters::dynamo::table::create_table(&t.client, &table)
        .await
        .expect("reference table");
    let app = aftercart::apps::webhook::WebhookApp {
        config: t.app.config.clone(),
        secrets: t.app.secrets.clone(),
        recorder: aftercart::adapters::dynamo::DynamoStore::new(
            t.client.clone(),
            table.clone(),
            std::time::Duration::from_secs(7 * 86_400),
        ),
        clock: t.app.clock.clone(),
        queue: None,
    };
    assert_eq!(app.handle(req).await.status(), 200);
    scan_table(&t.client, &table).await
}

/// `items` without what legitimately differs from one recording to another: the
/// receipts' `writer`, a random token of the call that wrote them.
/// `items` without the receipts' writer tokens (random per call), in receipt items and
/// folded into the items their delivery wrote.
fn normalised(mut items: Vec<Attrs>) -> Vec<Attrs> {
    use aws_sdk_dynamodb::types::AttributeValue;
    for item in &mut items {
        if s(item, "entity") == "receipt" {
            item.remove("writer");
        }
        if let Some(AttributeValue::M(folded)) = item.get_mut("receipts") {
            for receipt in folded.values_mut() {
                if let AttributeValue::M(r) = receipt {
                    r.remove("writer");
                }
            }
        }
    }
    items
}

#[tokio::test]
async fn same_order_under_a_new_webhook_id_records_nothing_new() {
    let t = TestApp::spawn().await;
    t.post(signed("orders/paid", fixtures::ORDER, "wh-a")).await;
    let before = t.scan().await;
    let (status, body) = t.post(signed("orders/paid", fixtures::ORDER, "wh-b")).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("duplicate_event"))
    );
    assert_eq!(t.scan().await, before, "nothing added or changed");

    let (status, body) = t.post(signed("orders/paid", fixtures::ORDER, "wh-a")).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("duplicate_delivery"))
    );
    assert_eq!(t.scan().await, before);
}

/// A tracking event's receipt lives in the shipment item it changes (no `EVENT#…`
/// item): the same delivery again, the same event under another delivery id and many
/// copies at once are each recorded once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tracking_event_keeps_its_receipt_in_its_shipment_and_is_recorded_once() {
    let t = TestApp::spawn().await;
    t.post(signed("orders/paid", fixtures::ORDER, "wh-paid"))
        .await;
    let topic = "fulfillment_events/create";
    let (status, body) = t
        .post(signed(topic, fixtures::FULFILLMENT_DELIVERED, "wh-ev-1"))
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("recorded")),
        "{body}"
    );

    let items = t.scan().await;
    let receipts: Vec<String> = items
        .iter()
        .filter(|i| s(i, "entity") == "receipt")
        .map(|i| s(i, "pk"))
        .collect();
    assert!(
        receipts.is_empty(),
        "no receipt items: the order and the shipment hold them, {receipts:?}"
    );
    let shipment = t
        .get(ORDER_PK, "FULFILLMENT#255858046")
        .await
        .expect("shipment");
    let folded = shipment["receipts"].as_m().expect("receipts map");
    let mine = folded["12584341209252"]
        .as_m()
        .expect("the event's receipt");
    assert_eq!(mine["webhook_id"].as_s().unwrap(), "wh-ev-1");
    assert_eq!(mine["writer"].as_s().unwrap().len(), 16);

    let before = t.scan().await;
    let again = t
        .post(signed(topic, fixtures::FULFILLMENT_DELIVERED, "wh-ev-1"))
        .await;
    assert_eq!(again.1["status"], "duplicate_delivery", "{}", again.1);
    let other = t
        .post(signed(topic, fixtures::FULFILLMENT_DELIVERED, "wh-ev-2"))
        .await;
    assert_eq!(other.1["status"], "duplicate_event", "{}", other.1);
    // A retry Shopify triggered 5 minutes ago: the shipment alone is read.
    let late = t
        .post(signed_retry(
            topic,
            fixtures::FULFILLMENT_DELIVERED,
            "wh-ev-1",
            5,
        ))
        .await;
    assert_eq!(late.1["status"], "duplicate_delivery", "{}", late.1);
    assert_eq!(t.scan().await, before, "nothing added or changed");

    // Another event of the same shipment, under 8 delivery ids at once: one records it.
    let body = tracking_event(12_584_341_209_999, "out_for_delivery");
    let answers =
        join_all((0..8).map(|i| t.post(signed(topic, &body, &format!("wh-c-{i}"))))).await;
    let recorded = answers
        .iter()
        .filter(|(_, b)| b["status"] == "recorded")
        .count();
    for (status, b) in &answers {
        let ok = matches!(
            (*status, b["status"].as_str()),
            (200, Some("recorded" | "duplicate_event")) | (503, _)
        );
        assert!(ok, "{status} {b}");
    }
    assert_eq!(recorded, 1, "{answers:?}");
    let shipment = t
        .get(ORDER_PK, "FULFILLMENT#255858046")
        .await
        .expect("shipment");
    assert_eq!(shipment["receipts"].as_m().expect("map").len(), 2);
    assert_eq!(n(&shipment, "v"), "2", "written once per event");
}

/// A plan of one item (a tracking event before delivery: the shipment, holding the
/// event's receipt) is one conditional `PutItem` at 1 write unit, not a one-item
/// transaction at 2, and reads no follow-ups; a plan of several items stays one
/// transaction.
#[tokio::test]
async fn a_one_item_plan_is_a_conditional_put_and_a_larger_one_a_transaction() {
    use aftercart_integration::meter::Meter;
    let meter = Meter::start().await;
    let t = TestApp::spawn_via(&meter.url).await;
    t.post(signed("orders/paid", fixtures::ORDER, "wh-paid"))
        .await;
    let topic = "fulfillment_events/create";
    let writes = |u: &aftercart_integration::meter::Usage| {
        let mut ops: Vec<(String, f64)> = u
            .by_operation
            .iter()
            .filter(|(_, units)| units.wru > 0.0)
            .map(|(op, units)| (op.clone(), units.wru))
            .collect();
        ops.sort_by(|a, b| a.0.cmp(&b.0));
        ops
    };
    let _ = meter.take().await;
    // The shipment's first event creates it (`attribute_not_exists`), the next one
    // changes it (`v = :expected`): one item each, under 1 KB.
    for (i, (id, status)) in [(9_001u64, "label_printed"), (9_002, "in_transit")]
        .into_iter()
        .enumerate()
    {
        let (code, body) = t
            .post(signed(
                topic,
                &tracking_event(id, status),
                &format!("wh-ev-{i}"),
            ))
            .await;
        assert_eq!(
            (code, body["status"].as_str()),
            (200, Some("recorded")),
            "{body}"
        );
        let usage = meter.take().await;
        assert_eq!(
            writes(&usage),
            vec![("PutItem".to_owned(), 1.0)],
            "{:#?}",
            usage.log
        );
        // Nor does it read the customer's follow-ups: only the delivery changes them.
        assert!(
            !usage.by_operation.contains_key("Query"),
            "{:#?}",
            usage.log
        );
    }
    let shipment = t
        .get(ORDER_PK, "FULFILLMENT#255858046")
        .await
        .expect("shipment");
    assert_eq!(s(&shipment, "shipment_status"), "in_transit");
    assert_eq!(shipment["receipts"].as_m().expect("map").len(), 2);
    // Delivered: the shipment, the order and the satisfaction check, all or nothing.
    let (code, body) = t
        .post(signed(
            topic,
            &tracking_event(9_003, "delivered"),
            "wh-ev-3",
        ))
        .await;
    assert_eq!(
        (code, body["status"].as_str()),
        (200, Some("recorded")),
        "{body}"
    );
    let usage = meter.take().await;
    let ops: Vec<String> = writes(&usage).into_iter().map(|(op, _)| op).collect();
    assert!(
        ops.contains(&"TransactWriteItems".to_owned()),
        "{:#?}",
        usage.log
    );
    assert!(!ops.contains(&"PutItem".to_owned()), "{:#?}", usage.log);
    // The one-item event delivered again is a duplicate and writes nothing.
    let (_, again) = t
        .post(signed(
            topic,
            &tracking_event(9_002, "in_transit"),
            "wh-ev-1",
        ))
        .await;
    assert_eq!(again["status"], "duplicate_delivery", "{again}");
    assert!(writes(&meter.take().await).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_orders_of_one_customer_keep_the_profile_consistent() {
    let t = TestApp::spawn_alone_configured(load_test_config()).await;
    let bodies: Vec<Vec<u8>> = (0..20u64)
        .map(|i| {
            order_with(|o| {
                o["id"] = (9_007_199_254_740_993u64 + i).into(); // beyond 2^53
                o["name"] = format!("#{}", 2000 + i).into();
                o["created_at"] = format!("2026-11-{:02}T10:00:00+01:00", i + 1).into();
                o["updated_at"] = o["created_at"].clone();
                o["financial_status"] = "paid".into();
            })
        })
        .collect();
    // All 20 at once. A delivery that cannot get its turn within the time budget is
    // answered 503 and redelivered, as Shopify does; none may be lost or counted twice.
    let mut pending: Vec<usize> = (0..bodies.len()).collect();
    let mut rounds = 0;
    while !pending.is_empty() {
        rounds += 1;
        assert!(
            rounds <= 8,
            "deliveries still failing after 8 rounds: {pending:?}"
        );
        let results = join_all(
            pending
                .iter()
                .map(|&i| t.post(signed("orders/paid", &bodies[i], &format!("wh-{i}")))),
        )
        .await;
        for (status, body) in &results {
            // A 503 at the deadline may come after the write committed; the redelivery
            // is then answered as a duplicate of that delivery, never counted again.
            let ok = match (*status, body["status"].as_str()) {
                (200, Some("recorded")) | (503, _) => true,
                (200, Some("duplicate_delivery")) => rounds > 1,
                _ => false,
            };
            assert!(ok, "round {rounds}: {status} {body}");
        }
        pending = pending
            .iter()
            .zip(&results)
            .filter(|(_, (status, _))| *status == 503)
            .map(|(i, _)| *i)
            .collect();
    }

    let profile = t.get(CUSTOMER_PK, "PROFILE").await.unwrap();
    assert_eq!(n(&profile, "orders_count"), "20");
    assert_eq!(n(&profile, "paid_orders_count"), "20");
    assert_eq!(
        s(&profile, "total_spent"),
        "8198.80",
        "20 × 409.94, exactly"
    );
    assert_eq!(
        n(&profile, "last_order_id"),
        "9007199254741012",
        "the latest created, as an exact u64"
    );
    assert_eq!(s(&profile, "first_order_at"), "2026-11-01T09:00:00.000Z");
    let history = t
        .scan()
        .await
        .into_iter()
        .filter(|i| s(i, "pk") == CUSTOMER_PK && s(i, "sk").starts_with("ORDER#"))
        .count();
    assert_eq!(history, 20);
}

#[tokio::test]
async fn order_lifecycle_arriving_out_of_order_ends_in_the_right_state() {
    let t = TestApp::spawn().await;
    // Delivered before shipped before paid: deliveries can come in any order.
    let steps: [(&str, &[u8]); 5] = [
        ("fulfillment_events/create", fixtures::FULFILLMENT_DELIVERED),
        ("fulfillments/create", fixtures::FULFILLMENT),
        ("refunds/create", fixtures::REFUND),
        ("orders/paid", fixtures::ORDER),
        ("orders/create", fixtures::ORDER),
    ];
    for (i, (topic, body)) in steps.iter().enumerate() {
        let (status, resp) = t.post(signed(topic, body, &format!("wh-{i}"))).await;
        assert_eq!(status, 200, "{topic}: {resp}");
    }
    let order = t.get(ORDER_PK, "ORDER").await.unwrap();
    assert_eq!(s(&order, "fulfilled_at"), "2013-11-01T20:06:08.000Z");
    assert_eq!(s(&order, "delivered_at"), "2026-11-21T19:02:00.000Z");
    assert_eq!(s(&order, "refunded_at"), "2016-06-20T17:35:06.000Z");
    assert_eq!(
        s(&order, "name"),
        "#1001",
        "order fields filled in when the order arrives"
    );
    assert_eq!(
        n(&order, "v"),
        "5",
        "one version per delivery that changed it"
    );
    let refund = t
        .get(ORDER_PK, "REFUND#509562969")
        .await
        .expect("refund item");
    assert_eq!(refund["lines"].as_l().unwrap().len(), 2);
    let fulfillment = t
        .get(ORDER_PK, "FULFILLMENT#255858046")
        .await
        .expect("fulfillment item");
    assert_eq!(s(&fulfillment, "delivered_at"), "2026-11-21T19:02:00.000Z");
    let profile = t.get(CUSTOMER_PK, "PROFILE").await.unwrap();
    assert_eq!(
        n(&profile, "orders_count"),
        "1",
        "orders/create after orders/paid counts nothing twice"
    );

    // The follow-ups were planned once the payment named the customer, from the merged
    // state: thank-you an hour after payment, satisfaction 5 days after the delivery
    // (not 12 after the shipment), returns a day after the refund (two of the three
    // units: the order stays, so do the others). The late orders/create changed none.
    use aftercart::model::{FollowUpStatus, Playbook};
    let mut followups = t.followups().await;
    followups.sort_by(|a, b| a.due_at.cmp(&b.due_at));
    let planned: Vec<_> = followups
        .iter()
        .map(|f| (f.playbook, f.status, f.due_at.as_str(), f.v))
        .collect();
    assert_eq!(
        planned,
        vec![
            (
                Playbook::ThankYou,
                FollowUpStatus::Pending,
                "2008-01-10T17:00:00.000Z",
                1
            ),
            (
                Playbook::Returns,
                FollowUpStatus::Pending,
                "2016-06-21T17:35:06.000Z",
                1
            ),
            (
                Playbook::Satisfaction,
                FollowUpStatus::Pending,
                "2026-11-26T19:02:00.000Z",
                1
            ),
        ]
    );
    for f in &followups {
        assert_eq!(f.order_id, 450789469);
        assert_eq!(f.customer_key, "207119551");
        assert!(
            f.due_pk.as_deref().is_some_and(|pk| pk.starts_with("DUE#"))
                && f.due_sk
                    .as_deref()
                    .is_some_and(|sk| sk.starts_with(&f.due_at)),
            "in the due index at its due time: {f:?}"
        );
    }
}

#[tokio::test]
async fn guest_checkout_is_recorded_under_a_hashed_key() {
    let t = TestApp::spawn().await;
    let body = order_with(|o| {
        o.as_object_mut().unwrap().remove("customer");
        o["email"] = "Guest.Shopper@Example.com".into();
    });
    let (status, _) = t.post(signed("orders/paid", &body, "wh-guest")).await;
    assert_eq!(status, 200);
    let key = aftercart::model::customer_key(None, Some("guest.shopper@example.com")).unwrap();
    let profile = t
        .get(
            &format!("SHOP#aftercart-demo.myshopify.com#CUSTOMER#{key}"),
            "PROFILE",
        )
        .await
        .expect("guest profile");
    assert_eq!(s(&profile, "email"), "Guest.Shopper@Example.com");
    let order = t.get(ORDER_PK, "ORDER").await.unwrap();
    assert_eq!(s(&order, "customer_key"), key);
}

#[tokio::test]
async fn consent_and_compliance_topics_are_recorded_without_plain_personal_data() {
    let t = TestApp::spawn().await;
    for (i, topic) in [
        "customers_email_marketing_consent/update",
        "customers/data_request",
        "customers/redact",
        "shop/redact",
    ]
    .iter()
    .enumerate()
    {
        let topic_enum = aftercart::wire::shopify::Topic::parse(topic).unwrap();
        let (status, body) = t
            .post(signed(
                topic,
                fixtures::sample(topic_enum),
                &format!("wh-{i}"),
            ))
            .await;
        assert_eq!(
            (status, body["status"].as_str()),
            (200, Some("recorded")),
            "{topic}"
        );
    }
    let profile = t.get(CUSTOMER_PK, "PROFILE").await.unwrap();
    assert_eq!(s(&profile, "consent_state"), "subscribed");
    assert_eq!(
        s(&profile, "consent_updated_at"),
        "2026-11-20T14:15:00.000Z"
    );

    let items = t.scan().await;
    let privacy: Vec<_> = items
        .iter()
        .filter(|i| s(i, "entity") == "privacy_request")
        .collect();
    assert_eq!(privacy.len(), 3);
    let shop = t
        .get("SHOP#aftercart-demo.myshopify.com", "SHOP")
        .await
        .expect("shop item");
    assert!(
        !s(&shop, "uninstalled_at").is_empty(),
        "shop/redact stops sends"
    );
    for item in items.iter().filter(|i| s(i, "entity") != "profile") {
        let text = format!("{item:?}");
        assert!(
            !text.contains("bob.norman") && !text.contains("555-625"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn forged_signature_leaves_the_table_untouched() {
    let t = TestApp::spawn().await;
    let (status, _) = t
        .post(signed_with(
            "orders/paid",
            fixtures::ORDER,
            "wh-x",
            "wrong-secret",
        ))
        .await;
    assert_eq!(status, 401);
    assert!(t.scan().await.is_empty());
}

#[tokio::test]
async fn oversized_body_is_413_and_stores_nothing() {
    let t = TestApp::spawn().await;
    let big = order_with(|o| o["note"] = "x".repeat(1024 * 1024).into());
    let (status, _) = t.post(signed("orders/paid", &big, "wh-big")).await;
    assert_eq!(status, 413);
    assert!(t.scan().await.is_empty());
}

#[tokio::test]
async fn malformed_body_is_400_and_stores_nothing() {
    let t = TestApp::spawn().await;
    let body = order_with(|o| o["line_items"][1]["quantity"] = "two".into());
    let (status, resp) = t.post(signed("orders/paid", &body, "wh-bad")).await;
    assert_eq!(status, 400);
    assert!(
        resp["error"]
            .as_str()
            .unwrap()
            .contains("line_items[1].quantity"),
        "{resp}"
    );
    assert!(t.scan().await.is_empty());
}

/// The longest store budget the config allows (4.5 s): for tests of correctness under
/// load, where the serialised emulator, not the handler, sets the pace.
fn load_test_config() -> aftercart::config::Config {
    config_with("[webhook]\nstore_budget_ms = 4500\n", "")
}

#[tokio::test]
async fn a_correctly_signed_order_by_any_method_but_post_is_405_and_stores_nothing() {
    let t = TestApp::spawn().await;
    for method in ["GET", "PUT", "DELETE", "PATCH", "OPTIONS"] {
        let mut req = signed("orders/paid", fixtures::ORDER, &format!("wh-{method}"));
        *req.method_mut() = lambda_http::http::Method::from_bytes(method.as_bytes()).unwrap();
        let resp = t.app.handle(req).await;
        assert_eq!(resp.status().as_u16(), 405, "{method}");
        assert_eq!(resp.headers()["allow"], "POST", "{method}");
    }
    assert!(t.scan().await.is_empty(), "nothing stored");
}
