//! A captured delivery replayed under another topic (the topic header is not signed)
//! changes nothing: the real handler refuses it, the real dispatcher runs after it, and
//! the whole table and every email are read back. Only the day's refusal count and the
//! merchant's one security notice are new.

use aftercart::domain::refusals::{RefusalKind, RefusalsRecord};
use aftercart::model::keys;
use aftercart::wire::shopify::Topic;
use aftercart_integration::*;
use mail_parser::MessageParser;

const ALERTS: &str = "alerts@aftercart-demo.example";
const CUSTOMER_EMAIL: &str = "zoe.replay@example.com";

/// A genuine `orders/paid` body, as Shopify signed it: paid 08:00Z, thank-you an hour on.
fn paid_order() -> Vec<u8> {
    order_with(|o| {
        o["id"] = 7001.into();
        o["created_at"] = "2026-11-22T08:00:00Z".into();
        o["updated_at"] = "2026-11-22T08:00:00Z".into();
        o["financial_status"] = "paid".into();
        o["customer"]["id"] = 4242.into();
        o["customer"]["email"] = CUSTOMER_EMAIL.into();
        o["email"] = CUSTOMER_EMAIL.into();
    })
}

fn is_refusal_count(item: &aftercart::adapters::dynamo::Attrs) -> bool {
    s(item, "sk").starts_with(keys::REFUSALS_PREFIX)
}

#[tokio::test]
async fn a_signed_order_body_replayed_under_every_other_topic_changes_nothing() {
    let t =
        TestApp::spawn_configured(config_with("", &format!("alert_email = \"{ALERTS}\"\n"))).await;
    let body = paid_order();
    let (status, answer) = t.post(signed("orders/paid", &body, "wh-genuine")).await;
    assert_eq!((status, answer["status"].as_str()), (200, Some("recorded")));
    let before = t.scan().await;

    // The attacker resends the captured body and signature under every other topic,
    // each time with a fresh webhook id (ids and topics are not signed either).
    let others: Vec<Topic> = Topic::ALL
        .into_iter()
        .filter(|t| !matches!(t, Topic::OrdersPaid | Topic::OrdersCreate))
        .collect();
    for (i, topic) in others.iter().enumerate() {
        let (status, answer) = t
            .post(signed(topic.as_str(), &body, &format!("wh-replay-{i}")))
            .await;
        assert_eq!(status, 400, "{}: {answer}", topic.as_str());
    }
    // Before the thank-you is due: the dispatcher carries out whatever was recorded
    // (privacy requests first) and alerts the merchant.
    let d = t.dispatcher("2026-11-22T08:30:00Z", None).await;
    let report = run_dispatch(&d).await;
    assert_eq!(report["sent"].as_u64(), Some(0), "{report}");

    let after = t.scan().await;
    let (counts, rest): (Vec<_>, Vec<_>) = after.into_iter().partition(is_refusal_count);
    assert_eq!(
        rest, before,
        "every item as it was: nothing erased, stopped or planned"
    );
    assert_eq!(counts.len(), 1, "one count for the day");
    let day: RefusalsRecord = serde_dynamo::from_item(counts[0].clone()).expect("decodes");
    assert_eq!(
        (day.day.as_str(), day.total, day.n_wrong_shape),
        ("2026-11-22", others.len() as u64, others.len() as u64)
    );
    assert!(day.alerted_at.is_some());

    // The only email: one security notice to the merchant, none to the customer.
    let sent = d.mailer.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, ALERTS);
    let message = MessageParser::default()
        .parse(&sent[0].raw)
        .expect("the notice parses");
    assert!(
        message
            .subject()
            .unwrap_or_default()
            .starts_with("Security notice"),
        "{:?}",
        message.subject()
    );
    let text = message.body_text(0).expect("a text part").into_owned();
    let line = format!(
        "{:>5}  {}",
        others.len(),
        RefusalKind::WrongShape.describe()
    );
    assert!(text.contains(&line), "{text}");
    assert!(
        !text.contains(CUSTOMER_EMAIL),
        "no customer data in the notice"
    );

    // More refusals the same day: counted, not alerted again.
    let (status, _) = t
        .post(signed("customers/redact", &body, "wh-replay-late"))
        .await;
    assert_eq!(status, 400);
    let d = t.dispatcher("2026-11-22T08:45:00Z", None).await;
    run_dispatch(&d).await;
    assert!(d.mailer.sent.lock().unwrap().is_empty(), "one notice a day");

    // When it is due, the customer's thank-you goes out: they were never erased.
    let d = t.dispatcher("2026-11-22T09:30:00Z", None).await;
    let report = run_dispatch(&d).await;
    assert_eq!(report["sent"].as_u64(), Some(1), "{report}");
    assert_eq!(d.mailer.sent.lock().unwrap()[0].to, CUSTOMER_EMAIL);
}

#[tokio::test]
async fn a_delivery_older_than_the_limit_is_refused_and_counted() {
    let t = TestApp::spawn().await;
    let mut req = signed("orders/paid", &paid_order(), "wh-old");
    req.headers_mut().insert(
        "X-Shopify-Triggered-At",
        "2026-11-20T08:00:00Z".parse().expect("header value"),
    );
    let (status, answer) = t.post(req).await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer["error"]
        .as_str()
        .unwrap_or_default()
        .contains("48 hours ago"));
    let items = t.scan().await;
    assert_eq!(items.len(), 1, "only the count: {items:?}");
    assert_eq!(n(&items[0], "n_stale"), "1");
}
