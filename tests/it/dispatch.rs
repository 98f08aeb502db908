//! The follow-up engine end to end: webhooks recorded by the real handler, the real
//! dispatcher claiming and sending through the real SES v2 client, against moto.

use aftercart::model::{FollowUpRecord, FollowUpStatus, Playbook};
use aftercart::wire::shopify::fixtures;
use aftercart_integration::*;
use mail_parser::MessageParser;

/// An order paid at 2026-11-22T08:00Z (thank-you due an hour later) for `customer`.
pub(crate) fn paid(order_id: u64, customer_id: u64, email: &str) -> Vec<u8> {
    paid_order(order_id, customer_id, email, false, |_| {})
}

fn by_playbook(all: &[FollowUpRecord], p: Playbook) -> Vec<&FollowUpRecord> {
    all.iter().filter(|f| f.playbook == p).collect()
}

pub(crate) async fn deliver(t: &TestApp, topic: &str, body: &[u8], webhook_id: &str) {
    let (status, resp) = t.post(signed(topic, body, webhook_id)).await;
    assert_eq!(status, 200, "{topic}: {resp}");
}

#[tokio::test]
async fn paid_order_sends_its_thank_you_at_the_due_time_and_not_before() {
    let t = TestApp::spawn().await;
    deliver(
        &t,
        "orders/paid",
        &paid(5001, 77, "zoe@example.com"),
        "wh-1",
    )
    .await;

    let early = t.dispatcher("2026-11-22T08:59:00Z", None).await;
    let report = run_dispatch(&early).await;
    assert_eq!(report["due"], 0, "{report}");
    assert!(early.mailer.sent.lock().unwrap().is_empty());

    let on_time = t.dispatcher("2026-11-22T09:00:30Z", None).await;
    let report = run_dispatch(&on_time).await;
    assert_eq!(
        (report["sent"].as_u64(), report["claimed"].as_u64()),
        (Some(1), Some(1)),
        "{report}"
    );
    let sent = on_time.mailer.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    let email = &sent[0];
    assert_eq!(email.from, SENDER);
    assert_eq!(email.to, "zoe@example.com");
    assert!(email
        .tags
        .iter()
        .any(|(k, v)| *k == "playbook" && v == "thank_you"));
    assert!(email
        .tags
        .iter()
        .any(|(k, v)| *k == "followup" && v == "thank_you#5001#0"));

    let msg = MessageParser::default()
        .parse(&email.raw)
        .expect("MIME parses");
    assert_eq!(
        msg.from().and_then(|a| a.first()).and_then(|a| a.address()),
        Some(SENDER)
    );
    assert_eq!(
        msg.from().and_then(|a| a.first()).and_then(|a| a.name()),
        Some("Aftercart Demo")
    );
    assert_eq!(
        msg.to().and_then(|a| a.first()).and_then(|a| a.address()),
        Some("zoe@example.com")
    );
    assert_eq!(
        msg.subject(),
        Some("Bob, thanks for your order #1001 at Aftercart Demo")
    );
    assert_eq!(msg.text_body_count(), 1);
    assert_eq!(msg.html_body_count(), 1);
    let text = msg.body_text(0).unwrap();
    let html = msg.body_html(0).unwrap();
    assert!(
        text.contains("Bob") && html.contains("Bob"),
        "greets the customer by first name"
    );
    assert!(
        text.contains("IPod Nano") && html.contains("IPod Nano"),
        "lists the products"
    );
    let unsubscribe = msg
        .header_raw("List-Unsubscribe")
        .expect("List-Unsubscribe")
        .trim()
        .to_owned();
    assert!(
        unsubscribe.starts_with("<https://links.example.test/unsubscribe?t=v1."),
        "{unsubscribe}"
    );
    assert_eq!(
        msg.header_raw("List-Unsubscribe-Post").map(str::trim),
        Some("List-Unsubscribe=One-Click")
    );
    let link = unsubscribe.trim_start_matches('<').trim_end_matches('>');
    assert!(html.contains(link), "the footer links the same URL");
    assert!(text.contains(link), "and so does the text part");

    let followups = t.followups().await;
    let thanks = by_playbook(&followups, Playbook::ThankYou)[0];
    assert_eq!(thanks.status, FollowUpStatus::Sent);
    assert!(thanks
        .ses_message_id
        .as_deref()
        .is_some_and(|id| !id.is_empty()));
    assert_eq!(thanks.sent_at.as_deref(), Some("2026-11-22T09:00:30.000Z"));
    assert!(
        thanks.due_pk.is_none(),
        "sent follow-ups leave the due index"
    );

    // Running again sends nothing more.
    let again = t.dispatcher("2026-11-22T09:10:00Z", None).await;
    assert_eq!(run_dispatch(&again).await["sent"], 0);
}

#[tokio::test]
async fn sent_mail_reaches_moto_and_the_outbox_reads_it() {
    // Alone: dumping moto's data.json holds the (serialised) server for a while.
    let t = TestApp::spawn_alone_configured(config_with(
        "[email]\nconfiguration_set = \"aftercart-events\"\n",
        "",
    ))
    .await;
    // The configuration set whose event destination feeds mail-events.
    let ses = ses_client_for(&endpoint()).await;
    let _ = ses
        .create_configuration_set()
        .configuration_set_name("aftercart-events")
        .send()
        .await;
    let to = format!("outbox-{:08x}@example.com", fastrand::u32(..));
    deliver(&t, "orders/paid", &paid(5002, 78, &to), "wh-1").await;
    let d = t.dispatcher("2026-11-22T09:30:00Z", None).await;
    assert_eq!(run_dispatch(&d).await["sent"], 1);
    let sent = d.mailer.sent.lock().unwrap().clone();
    assert_eq!(
        sent[0].configuration_set.as_deref(),
        Some("aftercart-events")
    );
    let tags: Vec<_> = sent[0].tags.iter().map(|(k, _)| *k).collect();
    assert_eq!(
        tags,
        ["shop", "playbook", "followup", "customer"],
        "SES events map back to the follow-up"
    );

    let data: serde_json::Value = reqwest_json(&format!("{}/moto-api/data.json", endpoint())).await;
    let messages = aftercart_cli::outbox::messages_from_moto(&data).expect("moto's shape");
    let mine: Vec<_> = messages
        .iter()
        .filter(|m| m.to.iter().any(|a| a == &to))
        .collect();
    assert_eq!(mine.len(), 1, "moto received exactly one message for {to}");
    assert!(mine[0]
        .html
        .as_deref()
        .is_some_and(|h| h.contains("IPod Nano")));
}

pub(crate) async fn reqwest_json(url: &str) -> serde_json::Value {
    // A plain HTTP GET through the SDK's hyper stack is overkill; std is enough here.
    let url = url.strip_prefix("http://").expect("http url");
    let (host, path) = url.split_once('/').expect("path");
    let mut stream = std::net::TcpStream::connect(host).expect("connect");
    use std::io::{Read, Write};
    write!(stream, "GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n").expect("write");
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).expect("read");
    let text = String::from_utf8_lossy(&buf);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    serde_json::from_str(body).expect("JSON body")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_dispatchers_at_once_send_each_follow_up_exactly_once() {
    // Paced at 10 emails/s each, 16 sends keep both runs busy for most of a second:
    // both read the same due set and compete for every claim.
    let t =
        TestApp::spawn_alone_configured(config_with("[email]\nmax_send_rate = 10.0\n", "")).await;
    let n = 16u64;
    for i in 0..n {
        // Different customers, so the frequency cap does not hold any back.
        deliver(
            &t,
            "orders/paid",
            &paid(6000 + i, 900 + i, &format!("c{i}@example.com")),
            &format!("wh-{i}"),
        )
        .await;
    }
    let a = t.dispatcher("2026-11-22T10:00:00Z", None).await;
    let b = t.dispatcher("2026-11-22T10:00:00Z", None).await;
    let (ra, rb) = tokio::join!(run_dispatch(&a), run_dispatch(&b));
    let sent_a = a.mailer.sent.lock().unwrap().len();
    let sent_b = b.mailer.sent.lock().unwrap().len();
    assert_eq!(sent_a + sent_b, n as usize, "a: {ra}, b: {rb}");
    let mut recipients: Vec<String> = a
        .mailer
        .sent
        .lock()
        .unwrap()
        .iter()
        .chain(b.mailer.sent.lock().unwrap().iter())
        .map(|e| e.to.clone())
        .collect();
    recipients.sort();
    recipients.dedup();
    assert_eq!(recipients.len(), n as usize, "nobody got two");
    let followups = t.followups().await;
    assert!(
        followups.iter().all(|f| f.status == FollowUpStatus::Sent),
        "{followups:?}"
    );

    // The runs really overlapped: one lost follow-ups the other claimed. Each follow-up
    // a run found due it either claimed or lost. Without a discount code a follow-up is
    // claimed by its hand-over, so one run may win every race.
    let count = |r: &serde_json::Value, k: &str| r[k].as_u64().unwrap();
    for r in [&ra, &rb] {
        assert_eq!(
            count(r, "claimed") + count(r, "lost"),
            count(r, "due"),
            "{r}"
        );
    }
    assert_eq!(count(&ra, "claimed") + count(&rb, "claimed"), n);
    assert!(
        count(&ra, "lost") + count(&rb, "lost") > 0,
        "a: {ra}, b: {rb}"
    );
}

#[tokio::test]
async fn a_dispatcher_that_died_mid_send_leaves_the_follow_up_to_the_next_after_its_lease() {
    let t = TestApp::spawn().await;
    deliver(
        &t,
        "orders/paid",
        &paid(5003, 79, "lease@example.com"),
        "wh-1",
    )
    .await;
    // A dispatcher claims the follow-up at 09:10 and dies: simulate with its claim only.
    let mut f = t.followups().await.remove(0);
    let seen_v = f.v;
    f.v += 1;
    f.status = FollowUpStatus::Sending;
    f.lease_owner = Some("dead".into());
    f.lease_until = Some("2026-11-22T09:12:00.000Z".into());
    f.index_at("2026-11-22T09:12:00.000Z", 4);
    let store = aftercart::adapters::dynamo::DynamoStore::new(
        t.client.clone(),
        t.table.clone(),
        std::time::Duration::from_secs(1),
    );
    assert_eq!(
        store
            .save_followup(&f, seen_v, Some("2026-11-22T09:10:00.000Z"))
            .await
            .unwrap(),
        aftercart::ports::store::Cas::Done
    );
    // It had taken the customer's send slot too, and never gave it back.
    assert_eq!(
        store
            .reserve_send_slot(
                SHOP,
                &f.customer_key,
                &f.id,
                "2026-11-22T09:10:00.000Z",
                "2026-11-21T17:10:00.000Z"
            )
            .await
            .unwrap(),
        aftercart::ports::store::Cas::Done
    );

    let during = t.dispatcher("2026-11-22T09:11:00Z", None).await;
    assert_eq!(
        run_dispatch(&during).await["sent"],
        0,
        "the lease still holds"
    );
    let after = t.dispatcher("2026-11-22T09:12:30Z", None).await;
    let report = run_dispatch(&after).await;
    assert_eq!(
        report["sent"], 1,
        "the slot its own earlier claim holds does not defer it: {report}"
    );
}

#[tokio::test]
async fn cancelled_order_sends_nothing() {
    let t = TestApp::spawn().await;
    deliver(
        &t,
        "orders/paid",
        &paid(5004, 80, "cancel@example.com"),
        "wh-1",
    )
    .await;
    let cancelled = order_with(|o| {
        o["id"] = 5004.into();
        o["created_at"] = "2026-11-22T08:00:00Z".into();
        o["updated_at"] = "2026-11-22T08:20:00Z".into();
        o["cancelled_at"] = "2026-11-22T08:20:00Z".into();
        o["financial_status"] = "refunded".into();
        o["customer"]["id"] = 80.into();
    });
    deliver(&t, "orders/cancelled", &cancelled, "wh-2").await;
    let d = t.dispatcher("2026-11-22T12:00:00Z", None).await;
    assert_eq!(
        run_dispatch(&d).await["due"],
        0,
        "cancelled follow-ups leave the due index"
    );
    assert!(d.mailer.sent.lock().unwrap().is_empty());
    let f = t.followups().await;
    assert_eq!(f[0].status, FollowUpStatus::Cancelled);
    assert_eq!(f[0].reason.as_deref(), Some("order cancelled"));
}

fn with_replenishment() -> aftercart::config::Config {
    config_with(
        "",
        "[[shop.product]]\nproduct_id = 632910392\nconsumption_days = 10\nlead_days = 2\n",
    )
}

#[tokio::test]
async fn refund_and_reorder_cancel_the_reminders_they_make_pointless() {
    let t = TestApp::spawn_configured(with_replenishment()).await;
    deliver(
        &t,
        "orders/paid",
        &paid(5005, 81, "refill@example.com"),
        "wh-1",
    )
    .await;
    let f = t.followups().await;
    let reminder = by_playbook(&f, Playbook::Replenishment);
    assert_eq!(reminder.len(), 1);
    // 3 units × 10 days − 2 lead days.
    assert_eq!(reminder[0].due_at, "2026-12-20T08:00:00.000Z");

    // The customer reorders the product before the reminder: it is cancelled.
    let reorder = order_with(|o| {
        o["id"] = 5006.into();
        o["created_at"] = "2026-12-01T08:00:00Z".into();
        o["updated_at"] = "2026-12-01T08:00:00Z".into();
        o["financial_status"] = "paid".into();
        o["customer"]["id"] = 81.into();
    });
    deliver(&t, "orders/paid", &reorder, "wh-2").await;
    let f = t.followups().await;
    let old = f
        .iter()
        .find(|f| f.id == "replenishment#5005#632910392")
        .unwrap();
    assert_eq!(
        (old.status, old.reason.as_deref()),
        (FollowUpStatus::Cancelled, Some("reordered"))
    );
    assert!(f
        .iter()
        .any(|f| f.id == "replenishment#5006#632910392" && f.status == FollowUpStatus::Pending));

    // A full refund of the new order cancels its reminder and plans the returns note.
    let refund = serde_json::to_vec(&{
        let mut r: serde_json::Value = serde_json::from_slice(fixtures::REFUND).unwrap();
        r["order_id"] = 5006.into();
        r["id"] = 7001.into();
        r["created_at"] = "2026-12-02T08:00:00Z".into();
        r["refund_line_items"] = serde_json::json!([
            {"line_item_id": 466157049, "quantity": 1},
            {"line_item_id": 518995019, "quantity": 1},
            {"line_item_id": 703073504, "quantity": 1}
        ]);
        r
    })
    .unwrap();
    deliver(&t, "refunds/create", &refund, "wh-3").await;
    let f = t.followups().await;
    let new = f
        .iter()
        .find(|f| f.id == "replenishment#5006#632910392")
        .unwrap();
    assert_eq!(
        (new.status, new.reason.as_deref()),
        (FollowUpStatus::Cancelled, Some("order refunded"))
    );
    let returns = f
        .iter()
        .find(|f| f.id == "returns#5006#0")
        .expect("returns feedback planned");
    assert_eq!(returns.due_at, "2026-12-03T08:00:00.000Z");
}

#[tokio::test]
async fn marketing_mail_needs_consent() {
    let t = TestApp::spawn_configured(with_replenishment()).await;
    deliver(
        &t,
        "orders/paid",
        &paid(5007, 82, "noconsent@example.com"),
        "wh-1",
    )
    .await;
    let consent = serde_json::to_vec(&serde_json::json!({
        "customer_id": 82,
        "email_address": "noconsent@example.com",
        "email_marketing_consent": {"state": "unsubscribed", "opt_in_level": null, "consent_updated_at": "2026-11-23T10:00:00Z"}
    }))
    .unwrap();
    deliver(
        &t,
        "customers_email_marketing_consent/update",
        &consent,
        "wh-2",
    )
    .await;
    // At the reminder's due time (thank-you long sent or not, only the reminder matters).
    let d = t.dispatcher("2026-12-20T10:00:00Z", None).await;
    run_dispatch(&d).await;
    let sent: Vec<String> = d
        .mailer
        .sent
        .lock()
        .unwrap()
        .iter()
        .flat_map(|e| {
            e.tags
                .iter()
                .filter(|(k, _)| *k == "playbook")
                .map(|(_, v)| v.clone())
        })
        .collect();
    assert!(!sent.contains(&"replenishment".to_owned()), "{sent:?}");
    let f = t.followups().await;
    let reminder = f
        .iter()
        .find(|f| f.playbook == Playbook::Replenishment)
        .unwrap();
    assert_eq!(
        (reminder.status, reminder.reason.as_deref()),
        (FollowUpStatus::Cancelled, Some("no marketing consent"))
    );
    assert!(
        sent.contains(&"thank_you".to_owned()),
        "transactional mail still goes: {sent:?}"
    );
}

#[tokio::test]
async fn frequency_cap_defers_the_second_email_to_the_end_of_the_cap() {
    let t = TestApp::spawn().await;
    deliver(
        &t,
        "orders/paid",
        &paid(5008, 83, "cap@example.com"),
        "wh-1",
    )
    .await;
    deliver(
        &t,
        "orders/paid",
        &paid(5009, 83, "cap@example.com"),
        "wh-2",
    )
    .await;
    let d = t.dispatcher("2026-11-22T10:00:00Z", None).await;
    let report = run_dispatch(&d).await;
    assert_eq!(
        (report["sent"].as_u64(), report["deferred"].as_u64()),
        (Some(1), Some(1)),
        "{report}"
    );
    let f = t.followups().await;
    let waiting: Vec<_> = f
        .iter()
        .filter(|f| f.status == FollowUpStatus::Pending)
        .collect();
    assert_eq!(waiting.len(), 1);
    assert_eq!(
        waiting[0].due_at, "2026-11-23T02:00:00.000Z",
        "16 h after the first send"
    );
    assert_eq!(waiting[0].reason.as_deref(), Some("frequency cap"));
    assert_eq!(waiting[0].attempts, 0, "a deferral is not a failed attempt");

    let next_day = t.dispatcher("2026-11-23T09:00:00Z", None).await;
    assert_eq!(run_dispatch(&next_day).await["sent"], 1);
}

#[tokio::test]
async fn quiet_hours_defer_to_the_morning_in_the_shop_time_zone() {
    let t = TestApp::spawn_configured(config_with("", "time_zone = \"America/New_York\"\n")).await;
    deliver(
        &t,
        "orders/paid",
        &paid(5010, 84, "night@example.com"),
        "wh-1",
    )
    .await;
    // 03:00 UTC = 22:00 in New York (UTC−5 in November): quiet until 08:00 = 13:00 UTC.
    let d = t.dispatcher("2026-11-23T03:00:00Z", None).await;
    let report = run_dispatch(&d).await;
    assert_eq!(report["deferred"], 1, "{report}");
    let f = t.followups().await;
    assert_eq!(
        (f[0].status, f[0].due_at.as_str()),
        (FollowUpStatus::Pending, "2026-11-23T13:00:00.000Z")
    );
    assert_eq!(f[0].reason.as_deref(), Some("quiet hours"));
}

#[tokio::test]
async fn ses_failures_are_retried_with_backoff_then_marked_failed() {
    transient_ses_error_is_retried_then_failed(
        "500 Internal Server Error",
        "InternalFailure",
        "internal failure",
    )
    .await;
}

/// SES answers every send of one follow-up with a transient `error_type`: each run
/// retries it with a growing backoff, the third (`max_attempts`) marks it failed, nothing
/// is sent or duplicated, and the send slot reserved for each try is given back.
async fn transient_ses_error_is_retried_then_failed(
    status: &'static str,
    error_type: &'static str,
    message: &'static str,
) {
    let t = TestApp::spawn_configured(config_with("[dispatch]\nmax_attempts = 3\n", "")).await;
    deliver(
        &t,
        "orders/paid",
        &paid(5011, 85, "fail@example.com"),
        "wh-1",
    )
    .await;
    let (ses, sends) = refusing_ses(status, error_type, message).await;

    let mut at = chrono::DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
        .unwrap()
        .to_utc();
    for attempt in 1..=3u32 {
        let d = t.dispatcher(&at.to_rfc3339(), Some(&ses)).await;
        let report = run_dispatch(&d).await;
        assert!(d.mailer.sent.lock().unwrap().is_empty());
        assert!(report["halted"].is_null(), "not a halt: {report}");
        let all = t.followups().await;
        assert_eq!(all.len(), 1, "nothing duplicated");
        let f = &all[0];
        assert_eq!(f.attempts, attempt, "{report}");
        if attempt < 3 {
            assert_eq!(report["retried"], 1, "{report}");
            assert_eq!(f.status, FollowUpStatus::Pending);
            assert!(
                f.reason
                    .as_deref()
                    .is_some_and(|r| r.starts_with("retrying: ") && r.contains(error_type)),
                "{:?}",
                f.reason
            );
            let next = chrono::DateTime::parse_from_rfc3339(&f.due_at)
                .unwrap()
                .to_utc();
            let wait = next - at;
            assert!(wait >= chrono::Duration::seconds(90), "backs off ({wait})");
            at = next + chrono::Duration::seconds(1);
        } else {
            assert_eq!(report["failed"], 1, "{report}");
            assert_eq!(f.status, FollowUpStatus::Failed);
            assert!(f.due_pk.is_none() && f.sent_at.is_none(), "{f:?}");
        }
    }
    assert!(
        sends.load(std::sync::atomic::Ordering::SeqCst) >= 3,
        "each run really tried SES"
    );
    // The slot reserved for each failed send was given back: the profile shows no send.
    let profile = t
        .get(&format!("SHOP#{SHOP}#CUSTOMER#85"), "PROFILE")
        .await
        .unwrap();
    assert!(
        !profile.contains_key("last_email_at") && !profile.contains_key("last_email_by"),
        "{profile:?}"
    );
}

#[tokio::test]
async fn rejected_address_fails_at_once() {
    let t = TestApp::spawn().await;
    deliver(
        &t,
        "orders/paid",
        &paid(5012, 86, "rejected@example.com"),
        "wh-1",
    )
    .await;
    // What SES v2 answers for a recipient it refuses: the error's name in a header.
    let (ses, _) = fake_routes(|_| {
        Canned::aws_error(
            "400 Bad Request",
            "MessageRejected",
            "Email address is not verified. The following identities failed the check in region US-EAST-1: rejected@example.com",
        )
    })
    .await;
    let d = t.dispatcher("2026-11-22T10:00:00Z", Some(&ses)).await;
    let report = run_dispatch(&d).await;
    assert_eq!(report["failed"], 1, "{report}");
    assert!(
        report["halted"].is_null(),
        "one recipient does not stop the run: {report}"
    );
    let f = t.followups().await.remove(0);
    assert_eq!((f.status, f.attempts), (FollowUpStatus::Failed, 1));
    let reason = f.reason.unwrap();
    assert!(
        reason.starts_with("rejected: ") && reason.contains("MessageRejected"),
        "{reason}"
    );
    assert!(
        !reason.contains("rejected@example.com"),
        "no address in the reason: {reason}"
    );
}

/// Sends `n` due thank-yous (one per customer) with `max_send_rate` configured, through
/// SES at `ses` (default moto); returns how long the run took and when each send
/// started, and prints the throughput.
async fn timed_run(
    max_send_rate: f64,
    n: u64,
    ses: Option<&str>,
) -> (std::time::Duration, Vec<std::time::Instant>) {
    let t = TestApp::spawn_alone_configured(config_with(
        &format!("[email]\nmax_send_rate = {max_send_rate:.1}\n"),
        "",
    ))
    .await;
    for i in 0..n {
        let email = format!("r{i}@example.com");
        deliver(
            &t,
            "orders/paid",
            &paid(7000 + i, 1000 + i, &email),
            &format!("wh-{i}"),
        )
        .await;
    }
    let d = t.dispatcher("2026-11-22T10:00:00Z", ses).await;
    let started = std::time::Instant::now();
    let report = run_dispatch(&d).await;
    let took = started.elapsed();
    let unsent: Vec<_> = t
        .followups()
        .await
        .into_iter()
        .filter(|f| f.status != FollowUpStatus::Sent)
        .map(|f| (f.id, f.reason))
        .collect();
    assert_eq!(report["sent"], n, "{report} {unsent:?}");
    eprintln!(
        "dispatch: {n} emails in {:.2} s = {:.1} emails/s against {} (limit {max_send_rate}/s)",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64(),
        if ses.is_some() { "a fake SES" } else { "moto" },
    );
    let mut times = d.mailer.sent_times.lock().unwrap().clone();
    times.sort();
    (took, times)
}

/// Every gap between consecutive sends is at least 90 % of `1/rate`, and so is the
/// whole span on average.
fn assert_paced(times: &[std::time::Instant], rate: f64) {
    let interval = 1.0 / rate;
    for (i, pair) in times.windows(2).enumerate() {
        let gap = (pair[1] - pair[0]).as_secs_f64();
        assert!(
            gap >= interval * 0.9,
            "sends {i} and {} only {gap:.3} s apart (limit {rate}/s)",
            i + 1
        );
    }
    let span = (times[times.len() - 1] - times[0]).as_secs_f64();
    assert!(
        span >= (times.len() - 1) as f64 * interval * 0.9,
        "{span:.3} s for {} sends",
        times.len()
    );
}

#[tokio::test]
async fn the_send_rate_is_never_exceeded() {
    let (took, times) = timed_run(10.0, 20, None).await;
    assert_eq!(times.len(), 20);
    assert_paced(&times, 10.0);
    // 20 sends at 10/s need at least 1.9 s between the first and the last.
    assert!(took.as_secs_f64() >= 1.9, "{took:?}");
}

#[tokio::test]
async fn the_latency_proxy_passes_each_call_on_with_its_method_only_later() {
    // The cost bench's proxy (`LATENCY`): SES's GetEmailIdentity is a GET, and a
    // DynamoDB call a POST; each must reach moto as it came and answer as moto does,
    // after the service's latency.
    let proxy = LATENCY.proxy().await;
    let direct = ses_client_for(&endpoint()).await;
    create_sender(&direct).await;
    let started = std::time::Instant::now();
    let identity = ses_client_for(&proxy)
        .await
        .get_email_identity()
        .email_identity(SENDER)
        .send()
        .await
        .expect("GetEmailIdentity through the proxy");
    assert!(started.elapsed() >= LATENCY.ses, "{:?}", started.elapsed());
    assert_eq!(
        identity.identity_type(),
        direct
            .get_email_identity()
            .email_identity(SENDER)
            .send()
            .await
            .expect("GetEmailIdentity")
            .identity_type()
    );

    // A DynamoDB call: moto's answer parses as the SDK's (the call succeeds), late.
    let started = std::time::Instant::now();
    client_for(&proxy)
        .await
        .list_tables()
        .send()
        .await
        .expect("ListTables through the proxy");
    assert!(
        started.elapsed() >= LATENCY.dynamodb,
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn the_account_max_send_rate_from_ses_wins_over_a_higher_configured_one() {
    // SES says 5/s (GetAccount); the config says 1000/s.
    let account_reads = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let reads = account_reads.clone();
    let (ses, _) = fake_routes(move |request| {
        if request.starts_with("GET /v2/email/account") {
            reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Canned::json(
                "200 OK",
                r#"{"DedicatedIpAutoWarmupEnabled":false,"EnforcementStatus":"HEALTHY","ProductionAccessEnabled":true,"SendQuota":{"Max24HourSend":50000.0,"MaxSendRate":5.0,"SentLast24Hours":0.0},"SendingEnabled":true}"#,
            )
        } else if request.starts_with("POST /v2/email/outbound-emails") {
            Canned::json(
                "200 OK",
                format!(r#"{{"MessageId":"fake-{:016x}"}}"#, fastrand::u64(..)),
            )
        } else {
            Canned::aws_error("404 Not Found", "NotFoundException", "no such operation")
        }
    })
    .await;
    let (_, times) = timed_run(1000.0, 8, Some(&ses)).await;
    assert_eq!(
        account_reads.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the run asked SES once"
    );
    assert_eq!(times.len(), 8);
    assert_paced(&times, 5.0);
}

/// Throughput with a limit far above what moto can take: prints the figure (the
/// assertion is only that everything was sent once).
#[tokio::test]
async fn dispatcher_throughput_against_moto() {
    timed_run(1000.0, 40, None).await;
}

#[tokio::test]
async fn a_suppressed_address_is_never_mailed() {
    let t = TestApp::spawn().await;
    deliver(
        &t,
        "orders/paid",
        &paid(5013, 87, "Bounced@Example.com"),
        "wh-1",
    )
    .await;
    // What an unsubscribe, bounce or complaint leaves behind: the address's hash only.
    let hash = aftercart::model::email_hash("bounced@example.com");
    let key = aftercart::model::keys::suppression(SHOP, &hash);
    t.client
        .put_item()
        .table_name(&t.table)
        .item("pk", aws_sdk_dynamodb::types::AttributeValue::S(key.pk))
        .item("sk", aws_sdk_dynamodb::types::AttributeValue::S(key.sk))
        .item(
            "email_hash",
            aws_sdk_dynamodb::types::AttributeValue::S(hash),
        )
        .item(
            "reason",
            aws_sdk_dynamodb::types::AttributeValue::S("bounced".into()),
        )
        .item(
            "at",
            aws_sdk_dynamodb::types::AttributeValue::S("2026-11-22T08:30:00.000Z".into()),
        )
        .send()
        .await
        .unwrap();
    let d = t.dispatcher("2026-11-22T10:00:00Z", None).await;
    let report = run_dispatch(&d).await;
    assert_eq!(
        (report["sent"].as_u64(), report["cancelled"].as_u64()),
        (Some(0), Some(1)),
        "{report}"
    );
    let f = t.followups().await.remove(0);
    assert_eq!(f.reason.as_deref(), Some("address suppressed (bounced)"));
}

#[tokio::test]
async fn a_run_near_its_deadline_claims_nothing_and_leaves_the_work_due() {
    let t = TestApp::spawn().await;
    deliver(
        &t,
        "orders/paid",
        &paid(5014, 88, "late@example.com"),
        "wh-1",
    )
    .await;
    let d = t.dispatcher("2026-11-22T10:00:00Z", None).await;
    // Less than `dispatch.deadline_margin_ms` (5 s) left in the invocation.
    let report = d
        .run(std::time::Instant::now() + std::time::Duration::from_secs(2))
        .await
        .unwrap()
        .summary();
    assert_eq!(
        (report["due"].as_u64(), report["claimed"].as_u64()),
        (Some(1), Some(0)),
        "{report}"
    );
    let f = t.followups().await.remove(0);
    assert_eq!(
        f.status,
        FollowUpStatus::Pending,
        "still due for the next run"
    );
}

#[tokio::test]
async fn a_follow_up_whose_claims_never_finish_fails_after_max_attempts() {
    let t = TestApp::spawn_configured(config_with("[dispatch]\nmax_attempts = 2\n", "")).await;
    deliver(
        &t,
        "orders/paid",
        &paid(5015, 89, "stuck@example.com"),
        "wh-1",
    )
    .await;
    // Two dispatchers claimed it and died before recording anything.
    let mut f = t.followups().await.remove(0);
    let seen = f.v;
    f.v += 1;
    f.status = FollowUpStatus::Sending;
    f.attempts = 2;
    f.lease_owner = Some("dead".into());
    f.lease_until = Some("2026-11-22T09:30:00.000Z".into());
    f.index_at("2026-11-22T09:30:00.000Z", 4);
    let store = aftercart::adapters::dynamo::DynamoStore::new(
        t.client.clone(),
        t.table.clone(),
        std::time::Duration::from_secs(1),
    );
    store
        .save_followup(&f, seen, Some("2026-11-22T09:10:00.000Z"))
        .await
        .unwrap();

    let d = t.dispatcher("2026-11-22T10:00:00Z", None).await;
    let report = run_dispatch(&d).await;
    assert_eq!(
        (report["sent"].as_u64(), report["failed"].as_u64()),
        (Some(0), Some(1)),
        "{report}"
    );
    let f = t.followups().await.remove(0);
    assert_eq!(f.status, FollowUpStatus::Failed);
    assert!(
        f.reason
            .as_deref()
            .unwrap()
            .starts_with("gave up after 2 attempts"),
        "{:?}",
        f.reason
    );
}

/// Whether a DynamoDB request (its head and JSON body, as [`failing_proxy`] sees them)
/// is operation `op` (`PutItem`, `GetItem`, …) and its body contains `needle`.
fn is(op: &str, needle: &str, head: &str, body: &[u8]) -> bool {
    head.contains(&format!("DynamoDB_20120810.{op}"))
        && String::from_utf8_lossy(body).contains(needle)
}

/// The "mark sent" write: the follow-up's PutItem with `status = sent`.
fn marks_sent(head: &str, body: &[u8]) -> bool {
    is("PutItem", r#""status":{"S":"sent"}"#, head, body)
}

/// `n` customers with a paid order each: `n` thank-yous due at 09:00.
async fn paid_orders(t: &TestApp, first_order: u64, n: u64) {
    for i in 0..n {
        deliver(
            t,
            "orders/paid",
            &paid(
                first_order + i,
                first_order + 1000 + i,
                &format!("o{}@example.com", first_order + i),
            ),
            &format!("wh-{i}"),
        )
        .await;
    }
}

/// Runs `d` with `secs` seconds to its deadline; the summary, or the store error.
async fn run_for(d: &TestDispatcher, secs: u64) -> Result<serde_json::Value, String> {
    d.run(std::time::Instant::now() + std::time::Duration::from_secs(secs))
        .await
        .map(|r| r.summary())
        .map_err(|e| e.to_string())
}

fn recipients(d: &TestDispatcher) -> Vec<String> {
    d.mailer
        .sent
        .lock()
        .unwrap()
        .iter()
        .map(|e| e.to.clone())
        .collect()
}

/// A fake SES that refuses every request with `error_type` (as SES v2 answers), and
/// how many sends it refused.
async fn refusing_ses(
    status: &'static str,
    error_type: &'static str,
    message: &'static str,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let sends = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = sends.clone();
    let (ses, _) = fake_routes(move |request| {
        if request.starts_with("POST /v2/email/outbound-emails") {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        Canned::aws_error(status, error_type, message)
    })
    .await;
    (ses, sends)
}

#[tokio::test]
async fn an_account_level_ses_error_halts_the_run_and_keeps_every_follow_up_due() {
    let t = TestApp::spawn_configured(config_with("[email]\nmax_send_rate = 5.0\n", "")).await;
    // More than the dispatcher works on at once (8), so some are never claimed.
    paid_orders(&t, 5100, 12).await;
    let before = t.followups().await;
    let (ses, sends) = refusing_ses(
        "400 Bad Request",
        "SendingPausedException",
        "Sending is paused for this account.",
    )
    .await;

    let d = t.dispatcher("2026-11-22T10:00:00Z", Some(&ses)).await;
    let report = run_dispatch(&d).await;
    assert!(
        report["halted"]
            .as_str()
            .is_some_and(|r| r.contains("SendingPausedException")),
        "{report}"
    );
    assert_eq!(
        sends.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "one refusal stops the sending: {report}"
    );
    assert_eq!(report["failed"], 0, "{report}");
    assert_eq!(report["claimed"], 8, "no claim after the halt: {report}");
    assert_eq!(report["put_back"], 8, "{report}");
    for f in t.followups().await {
        let was = before.iter().find(|b| b.id == f.id).unwrap();
        assert_eq!(f.status, FollowUpStatus::Pending, "{f:?}");
        assert_eq!(f.attempts, 0, "a halt is not an attempt: {f:?}");
        assert_eq!(f.due_at, was.due_at, "still due at its time");
        assert!(f.sent_at.is_none() && f.due_pk.is_some(), "{f:?}");
        if f.v != was.v {
            // Claimed and put back: it says why it waits.
            assert!(
                f.reason
                    .as_deref()
                    .is_some_and(|r| r.starts_with("halted: ")),
                "{f:?}"
            );
        }
        let profile = t
            .get(
                &format!("SHOP#{SHOP}#CUSTOMER#{}", f.customer_key),
                "PROFILE",
            )
            .await
            .unwrap();
        assert!(
            !profile.contains_key("last_email_at"),
            "the send slot was given back: {profile:?}"
        );
    }

    // Once SES sends again, everything goes out.
    let fixed = t.dispatcher("2026-11-22T10:05:00Z", None).await;
    let report = run_dispatch(&fixed).await;
    assert_eq!(report["sent"], 12, "{report}");
}

#[tokio::test]
async fn ses_throttling_is_retried_then_failed() {
    transient_ses_error_is_retried_then_failed(
        "429 Too Many Requests",
        "TooManyRequestsException",
        "Maximum sending rate exceeded.",
    )
    .await;
}

#[tokio::test]
async fn a_store_that_cannot_record_the_send_never_causes_a_second_email() {
    // The email goes out, then every "mark sent" write fails until the run's deadline.
    let t =
        TestApp::spawn_configured(config_with("[dispatch]\ndeadline_margin_ms = 1000\n", "")).await;
    deliver(
        &t,
        "orders/paid",
        &paid(5017, 91, "once@example.com"),
        "wh-1",
    )
    .await;
    let (proxy, failed) = failing_proxy(|_, head, body| marks_sent(head, body)).await;

    let first = t.dispatcher_via("2026-11-22T10:00:00Z", None, &proxy).await;
    let report = run_for(&first, 6).await.expect("the run ends normally");
    assert_eq!(recipients(&first), ["once@example.com"], "{report}");
    assert!(
        failed.load(std::sync::atomic::Ordering::SeqCst) > 3,
        "retried beyond the SDK's own attempts"
    );
    let f = t.followups().await.remove(0);
    assert_eq!(f.status, FollowUpStatus::Sending, "{f:?}");
    assert!(f.sent_at.is_some(), "the hand-over was recorded: {f:?}");

    // After the lease another dispatcher retakes it: it may have gone out, so it is
    // marked sent, not sent again.
    let second = t.dispatcher("2026-11-22T10:03:00Z", None).await;
    let report = run_dispatch(&second).await;
    assert_eq!(report["unconfirmed"], 1, "{report}");
    assert!(recipients(&second).is_empty(), "no second email: {report}");
    let f = t.followups().await.remove(0);
    assert_eq!(f.status, FollowUpStatus::Sent);
    assert_eq!(
        f.reason.as_deref(),
        Some(aftercart::apps::dispatch::POSSIBLY_SENT)
    );
    assert!(f.due_pk.is_none(), "out of the due index");

    let later = t.dispatcher("2026-11-22T12:00:00Z", None).await;
    assert_eq!(run_dispatch(&later).await["due"], 0);
}

#[tokio::test]
async fn a_mark_sent_write_that_fails_a_few_times_is_retried_until_it_lands() {
    let t =
        TestApp::spawn_configured(config_with("[dispatch]\ndeadline_margin_ms = 1000\n", "")).await;
    deliver(
        &t,
        "orders/paid",
        &paid(5018, 92, "late@example.com"),
        "wh-1",
    )
    .await;
    // Five failures: more than one SDK call's three attempts.
    let fails = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = fails.clone();
    let (proxy, failed) = failing_proxy(move |_, head, body| {
        marks_sent(head, body) && count.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 5
    })
    .await;
    let d = t.dispatcher_via("2026-11-22T10:00:00Z", None, &proxy).await;
    let report = run_for(&d, 20).await.expect("the run ends normally");
    assert_eq!(failed.load(std::sync::atomic::Ordering::SeqCst), 5);
    assert_eq!(report["sent"], 1, "{report}");
    assert_eq!(recipients(&d).len(), 1);
    let f = t.followups().await.remove(0);
    assert_eq!(f.status, FollowUpStatus::Sent, "{f:?}");
    assert!(f.ses_message_id.is_some(), "{f:?}");
}

#[tokio::test]
async fn a_store_down_from_the_start_sends_nothing_and_changes_nothing() {
    let t = TestApp::spawn().await;
    paid_orders(&t, 5200, 3).await;
    let before = t.followups().await;
    let (proxy, _) = failing_proxy(|_, _, _| true).await;
    let d = t.dispatcher_via("2026-11-22T10:00:00Z", None, &proxy).await;
    let error = run_for(&d, 10)
        .await
        .expect_err("the store error is the run's");
    assert!(error.contains("DynamoDB"), "{error}");
    assert!(recipients(&d).is_empty());
    assert_eq!(t.followups().await, before);
}

#[tokio::test]
async fn dynamodb_failing_mid_dispatch_sends_nothing_twice_and_loses_nothing() {
    let t = TestApp::spawn_configured(config_with(
        "[email]\nmax_send_rate = 20.0\n[dispatch]\ndeadline_margin_ms = 1000\n",
        "",
    ))
    .await;
    let n = 6;
    paid_orders(&t, 5300, n).await;
    // The store works until the first "mark sent" write, then fails everything: by
    // then every follow-up is claimed, some are handed to SES, some not yet.
    let down = std::sync::atomic::AtomicBool::new(false);
    let (proxy, failed) = failing_proxy(move |_, head, body| {
        if marks_sent(head, body) {
            down.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        down.load(std::sync::atomic::Ordering::SeqCst)
    })
    .await;
    let first = t.dispatcher_via("2026-11-22T10:00:00Z", None, &proxy).await;
    let outcome = run_for(&first, 6).await;
    assert!(
        failed.load(std::sync::atomic::Ordering::SeqCst) > 0,
        "{outcome:?}"
    );
    let mut got = recipients(&first);
    let sent_first = got.len();
    for f in t.followups().await {
        assert!(
            matches!(
                f.status,
                FollowUpStatus::Pending | FollowUpStatus::Sending | FollowUpStatus::Sent
            ),
            "nothing failed or cancelled for a store outage: {f:?}"
        );
    }

    // Once the store is back and the leases have ended, a run finishes the work.
    let second = t.dispatcher("2026-11-22T10:10:00Z", None).await;
    let report = run_dispatch(&second).await;
    got.extend(recipients(&second));
    got.sort();
    let total = got.len();
    got.dedup();
    assert_eq!(
        total,
        got.len(),
        "nobody got two emails: {outcome:?} {report}"
    );
    assert!(
        report["unconfirmed"].as_u64().unwrap() > 0,
        "some were sent, not recorded, and not sent again: {outcome:?} {report}"
    );
    assert_eq!(
        got.len() as u64,
        n,
        "every customer got one (or possibly got it): first run {sent_first}, {outcome:?}, {report}"
    );
    let followups = t.followups().await;
    assert!(
        followups.iter().all(|f| f.status == FollowUpStatus::Sent),
        "{followups:?}"
    );
    eprintln!(
        "store outage mid-run: first run {outcome:?} ({sent_first} sent), second run {report}"
    );
}

#[tokio::test]
async fn a_store_that_keeps_failing_is_waited_out_never_counted_as_a_send_attempt() {
    let t = TestApp::spawn_configured(config_with("[dispatch]\nmax_attempts = 2\n", "")).await;
    deliver(
        &t,
        "orders/paid",
        &paid(5019, 93, "stuck@example.com"),
        "wh-1",
    )
    .await;
    // Reading the order (with the profile and shop) always fails; claims and outcomes
    // go through.
    let (proxy, _) =
        failing_proxy(|_, head, body| is("BatchGetItem", r#""S":"ORDER""#, head, body)).await;

    // Four runs, twice max_attempts: the follow-up waits, it never fails.
    let mut due_at = "2026-11-22T10:00:00Z".to_owned();
    for run in 1..=4u32 {
        let d = t.dispatcher_via(&due_at, None, &proxy).await;
        let report = run_for(&d, 20).await.expect("the run ends normally");
        assert_eq!(
            (report["retried"].as_u64(), report["failed"].as_u64()),
            (Some(1), Some(0)),
            "{report}"
        );
        assert!(recipients(&d).is_empty());
        let f = t.followups().await.remove(0);
        assert_eq!(
            (f.status, f.attempts, f.store_retries),
            (FollowUpStatus::Pending, 0, run)
        );
        let reason = f.reason.clone().unwrap();
        assert!(
            reason.starts_with("store trouble, retrying: DynamoDB BatchGetItem failed")
                && reason.contains("injected by the test proxy"),
            "{reason}"
        );
        due_at = f.due_at;
    }
    // The store back: sent, with one send attempt.
    let d = t.dispatcher(&due_at, None).await;
    let report = run_for(&d, 20).await.expect("the run ends normally");
    assert_eq!(report["sent"], 1, "{report}");
    let f = t.followups().await.remove(0);
    assert_eq!((f.status, f.attempts), (FollowUpStatus::Sent, 1));
}

#[tokio::test]
async fn a_paced_run_stops_before_its_deadline_and_leaves_nothing_sending() {
    let t = TestApp::spawn_configured(config_with(
        "[email]\nmax_send_rate = 1.0\n[dispatch]\ndeadline_margin_ms = 1000\n",
        "",
    ))
    .await;
    paid_orders(&t, 5400, 10).await;
    let before = t.followups().await;
    let d = t.dispatcher("2026-11-22T10:00:00Z", None).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(4);
    let report = d.run(deadline).await.expect("dispatch run").summary();
    assert!(
        std::time::Instant::now() < deadline,
        "the run ended before its deadline: {report}"
    );
    let sent = report["sent"].as_u64().unwrap();
    assert!((1..=4).contains(&sent), "1/s for 3 s: {report}");
    assert!(report["put_back"].as_u64().unwrap() > 0, "{report}");
    let followups = t.followups().await;
    assert!(
        followups
            .iter()
            .all(|f| f.status != FollowUpStatus::Sending),
        "{followups:?}"
    );
    for f in followups
        .iter()
        .filter(|f| f.status != FollowUpStatus::Sent)
    {
        let was = before.iter().find(|b| b.id == f.id).unwrap();
        assert_eq!(
            (f.status, f.attempts, f.due_at.as_str()),
            (FollowUpStatus::Pending, 0, was.due_at.as_str()),
            "back, unsent and uncounted, at its due time"
        );
    }
    assert_eq!(
        followups
            .iter()
            .filter(|f| f.status == FollowUpStatus::Sent)
            .count() as u64,
        sent
    );
}

#[tokio::test]
async fn follow_ups_of_many_orders_spread_over_the_due_shards_and_dispatch_finds_them_all() {
    // A fast configured rate: moto's SES cannot tell its own (no GetAccount).
    let t = TestApp::spawn_configured(config_with("[email]\nmax_send_rate = 100\n", "")).await;
    let orders = 12u64;
    for i in 0..orders {
        deliver(
            &t,
            "orders/paid",
            &paid(6100 + i, 400 + i, &format!("shard-{i}@example.com")),
            &format!("wh-shard-{i}"),
        )
        .await;
    }
    let planned = t.followups().await;
    assert_eq!(planned.len() as u64, orders, "one thank-you per order");
    let shards: std::collections::BTreeSet<String> =
        planned.iter().filter_map(|f| f.due_pk.clone()).collect();
    assert!(
        shards.len() > 1
            && shards
                .iter()
                .all(|s| ["DUE#0", "DUE#1", "DUE#2", "DUE#3"].contains(&s.as_str())),
        "spread over the 4 configured shards: {shards:?}"
    );

    let d = t.dispatcher("2026-11-22T09:00:30Z", None).await;
    let report = run_dispatch(&d).await;
    assert_eq!(
        (report["due"].as_u64(), report["sent"].as_u64()),
        (Some(orders), Some(orders)),
        "{report}"
    );
    let followups = t.followups().await;
    assert!(
        followups
            .iter()
            .all(|f| f.status == FollowUpStatus::Sent && f.due_pk.is_none()),
        "{followups:#?}"
    );
    let mut recipients: Vec<String> = d
        .mailer
        .sent
        .lock()
        .unwrap()
        .iter()
        .map(|e| e.to.clone())
        .collect();
    recipients.sort();
    recipients.dedup();
    assert_eq!(recipients.len() as u64, orders, "each customer mailed once");
}

#[tokio::test]
async fn a_customers_thank_you_is_sent_before_their_satisfaction_check_when_both_are_due() {
    // Dispatch was down from before the thank-you's time until after the delivery's
    // satisfaction check was due: both are due at once, the cap lets one through, and
    // it is the thank-you.
    let t = TestApp::spawn().await;
    deliver(
        &t,
        "orders/paid",
        &paid(5301, 77, "tia@example.com"),
        "wh-1",
    )
    .await;
    let fulfilled = order_with(|o| {
        o["id"] = 5301.into();
        o["created_at"] = "2026-11-22T08:00:00Z".into();
        o["updated_at"] = "2026-11-22T08:30:00Z".into();
        o["financial_status"] = "paid".into();
        o["fulfillment_status"] = "fulfilled".into();
        o["customer"]["id"] = 77.into();
        o["customer"]["email"] = "tia@example.com".into();
        o["email"] = "tia@example.com".into();
    });
    deliver(&t, "orders/fulfilled", &fulfilled, "wh-2").await;
    let satisfaction = t
        .followups()
        .await
        .into_iter()
        .find(|f| f.playbook == Playbook::Satisfaction)
        .expect("satisfaction planned");
    let at = chrono::DateTime::parse_from_rfc3339(&satisfaction.due_at).unwrap()
        + chrono::Duration::hours(1);
    let d = t.dispatcher(&at.to_rfc3339(), None).await;
    let report = run_dispatch(&d).await;
    assert_eq!(
        (report["sent"].as_u64(), report["deferred"].as_u64()),
        (Some(1), Some(1)),
        "{report}"
    );
    let sent = d.mailer.sent.lock().unwrap().clone();
    assert!(sent[0]
        .tags
        .iter()
        .any(|(k, v)| *k == "playbook" && v == "thank_you"));
    let later = t
        .followups()
        .await
        .into_iter()
        .find(|f| f.playbook == Playbook::Satisfaction)
        .unwrap();
    assert_eq!(later.status, FollowUpStatus::Pending);
    assert_eq!(later.reason.as_deref(), Some("frequency cap"));
}

#[tokio::test]
async fn a_sent_email_costs_three_dynamodb_calls_and_a_run_writes_its_counters_once() {
    let t = TestApp::spawn().await;
    for i in 0..3u64 {
        let body = paid(5400 + i, 90 + i, &format!("cost{i}@example.com"));
        deliver(&t, "orders/paid", &body, &format!("wh-cost-{i}")).await;
    }
    let proxy = MotoProxy::start().await;
    let idle = t
        .dispatcher_via("2026-11-22T08:10:00Z", None, &proxy.url)
        .await;
    assert_eq!(run_dispatch(&idle).await["sent"], 0);
    let fixed = proxy.operations().len();
    let d = t
        .dispatcher_via("2026-11-22T09:01:00Z", None, &proxy.url)
        .await;
    let report = run_dispatch(&d).await;
    assert_eq!(report["sent"], 3, "{report}");
    let mut ops = proxy.operations()[fixed..].to_vec();
    // What a run reads with nothing due (compliance requests, alerts, reputation, the
    // due index) it reads again; the rest is the emails'.
    for op in proxy.operations()[..fixed].iter() {
        if let Some(i) = ops.iter().position(|o| o == op) {
            ops.remove(i);
        }
    }
    ops.sort();
    let count = |name: &str| ops.iter().filter(|o| *o == name).count();
    // Per email: one read of order, profile, shop and the address's suppression; the
    // hand-over mark, which claims the follow-up and takes the frequency-cap slot in
    // one transaction; the outcome. And once for the run: the due follow-ups
    // themselves, whose keys the index gives (it keeps keys only).
    assert_eq!(count("BatchGetItem"), 3 + 1, "{ops:?}");
    assert_eq!(count("TransactWriteItems"), 3, "{ops:?}");
    assert_eq!(count("PutItem"), 3, "{ops:?}");
    assert_eq!(count("GetItem"), 0, "{ops:?}");
    // Then the run's counters: one stats item (the day's thank-yous) and one send
    // count, however many were sent.
    assert_eq!(count("UpdateItem"), 2, "{ops:?}");
    assert_eq!(ops.len(), 3 * 3 + 1 + 2, "{ops:?}");
    let stats = t.stats(SHOP, "2026-11-22#playbook#thank_you").await;
    assert_eq!(n(&stats, "sent"), "3");
}

#[tokio::test]
async fn the_hand_over_mark_writes_no_index_entry_and_the_outcome_one() {
    use aftercart_integration::meter::Meter;
    let t = TestApp::spawn().await;
    let body = paid(5500, 95, "index@example.com");
    deliver(&t, "orders/paid", &body, "wh-index-1").await;
    let meter = Meter::start().await;
    let d = t
        .dispatcher_via("2026-11-22T09:01:00Z", None, &meter.url)
        .await;
    assert_eq!(run_dispatch(&d).await["sent"], 1);
    let usage = meter.take().await;
    let wru = |op: &str| usage.by_operation.get(op).map(|u| u.wru);
    // The mark: follow-up and profile, each under 1 KB and billed twice in the
    // transaction; the due key stays and the index keeps keys only, so no index write.
    assert_eq!(wru("TransactWriteItems"), Some(4.0), "{:#?}", usage.log);
    // The outcome: the follow-up, and its entry's removal from the index.
    assert_eq!(wru("PutItem"), Some(2.0), "{:#?}", usage.log);
}

#[tokio::test]
async fn an_item_the_due_index_shows_twice_is_read_and_returned_once() {
    let t = TestApp::spawn().await;
    let body = paid(5600, 96, "twice@example.com");
    deliver(&t, "orders/paid", &body, "wh-twice-1").await;
    let due_pk = t
        .followups()
        .await
        .into_iter()
        .find_map(|f| f.due_pk)
        .expect("a pending follow-up in the index");
    let d = t.dispatcher("2026-11-22T09:01:00Z", None).await;
    // The same partition twice gives every key twice, as an index caught between a
    // due key's delete and put can: BatchGetItem refuses duplicate keys, so they are
    // asked for once, and each follow-up comes back once.
    let once = d
        .store
        .due(
            std::slice::from_ref(&due_pk),
            "2027-01-01T00:00:00.000Z",
            200,
        )
        .await
        .expect("one partition");
    let twice = d
        .store
        .due(&[due_pk.clone(), due_pk], "2027-01-01T00:00:00.000Z", 200)
        .await
        .expect("the partition twice");
    assert!(!once.is_empty());
    let ids = |fs: &[aftercart::model::FollowUpRecord]| {
        fs.iter().map(|f| f.id.clone()).collect::<Vec<_>>()
    };
    assert_eq!(ids(&twice), ids(&once));
}

#[tokio::test]
async fn a_hand_over_whose_cap_slot_is_taken_writes_nothing_and_its_reminder_is_made_once() {
    use aftercart::ports::dispatch::{HandOver, Slot};
    use aftercart::ports::store::Cas;
    let t = TestApp::spawn().await;
    deliver(
        &t,
        "orders/paid",
        &paid(5500, 95, "slot@example.com"),
        "wh-slot",
    )
    .await;
    let store = aftercart::adapters::dynamo::DynamoStore::new(
        t.client.clone(),
        t.table.clone(),
        std::time::Duration::from_secs(1),
    );
    let seen = t.followups().await.remove(0);
    let (now, cap_start) = ("2026-11-22T09:10:00.000Z", "2026-11-21T17:10:00.000Z");
    // Another follow-up of the customer took the slot inside the cap.
    let other = "satisfaction#1#0";
    let taken = store
        .reserve_send_slot(
            SHOP,
            &seen.customer_key,
            other,
            "2026-11-22T09:00:00.000Z",
            cap_start,
        )
        .await
        .unwrap();
    assert_eq!(taken, Cas::Done);
    let mut next = seen.clone();
    next.v += 1;
    next.status = FollowUpStatus::Sending;
    next.lease_owner = Some("me".into());
    next.sent_at = Some(now.into());
    let slot = Slot {
        by: &seen.id,
        now,
        cap_start,
    };
    // A satisfaction check's reminder comes with the mark (here, planned for this one).
    let mut reminder = next.clone();
    reminder.id = "satisfaction_reminder#5500#0".into();
    reminder.playbook = Playbook::SatisfactionReminder;
    reminder.status = FollowUpStatus::Pending;
    reminder.lease_owner = None;
    reminder.sent_at = None;
    reminder.v = 1;
    let reminders = || async {
        t.followups()
            .await
            .into_iter()
            .filter(|f| f.id == reminder.id)
            .collect::<Vec<_>>()
    };
    let cap = store
        .hand_over(&next, seen.v, Some(now), Some(slot), Some(&reminder))
        .await;
    assert_eq!(cap.unwrap(), HandOver::CapHeld);
    assert_eq!(t.followups().await, vec![seen.clone()], "nothing written");
    // Once the cap has passed, the hand-over, the slot and the reminder go together.
    let later = Slot {
        cap_start: "2026-11-22T09:05:00.000Z",
        ..slot
    };
    let done = store
        .hand_over(&next, seen.v, Some(now), Some(later), Some(&reminder))
        .await;
    assert_eq!(done.unwrap(), HandOver::Done { planned: true });
    assert_eq!(reminders().await.len(), 1);
    let p = store
        .get_profile(SHOP, &seen.customer_key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.last_email_by.as_deref(), Some(seen.id.as_str()));
    // A second dispatcher's hand-over of the same version loses.
    let mut rival = next.clone();
    rival.lease_owner = Some("rival".into());
    let lost = store
        .hand_over(&rival, seen.v, Some(now), Some(later), Some(&reminder))
        .await;
    assert_eq!(lost.unwrap(), HandOver::Lost);

    // A later attempt's hand-over (the send failed and is retried) finds the reminder
    // and writes the mark alone.
    let mut retry = next.clone();
    retry.v += 1;
    let mut later_reminder = reminder.clone();
    later_reminder.due_at = "2026-11-27T10:00:00.000Z".into();
    let again = store
        .hand_over(&retry, next.v, None, Some(later), Some(&later_reminder))
        .await;
    assert_eq!(again.unwrap(), HandOver::Done { planned: false });
    let kept = reminders().await;
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].due_at, reminder.due_at, "left as it was");
    let stored = store
        .get_followup(SHOP, &seen.customer_key, &seen.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.v, retry.v, "the mark written without it");
    let third = retry;

    // The outcome of a mark an older dispatcher wrote without a reminder plans it, once;
    // with the reminder there, the outcome is written alone.
    let mut sent = third.clone();
    sent.v += 1;
    sent.status = FollowUpStatus::Sent;
    let planned = store
        .save_followup_planning(&sent, third.v, None, &reminder)
        .await;
    assert_eq!(planned.unwrap(), (Cas::Done, false));
    assert_eq!(reminders().await, kept);
    let stored = store
        .get_followup(SHOP, &seen.customer_key, &seen.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((stored.v, stored.status), (sent.v, FollowUpStatus::Sent));
}

#[tokio::test]
async fn held_out_customers_get_no_email_and_are_recorded_held_out() {
    // Half the shop's customers are held out of the thank-you.
    let t = TestApp::spawn_configured(config_with(
        "",
        "[shop.playbooks.thank_you]\nholdout_percent = 50\n",
    ))
    .await;
    let run = fastrand::u32(..);
    let address = |i: u64| format!("holdout-{run:08x}-{i}@example.com");
    let customers: Vec<u64> = (0..8).map(|i| 8100 + i).collect();
    for (i, c) in customers.iter().enumerate() {
        let i = i as u64;
        deliver(
            &t,
            "orders/paid",
            &paid(8200 + i, *c, &address(i)),
            &format!("wh-holdout-{i}"),
        )
        .await;
    }
    let out =
        |c: u64| aftercart::domain::holdout::held_out(SHOP, &c.to_string(), Playbook::ThankYou, 50);
    let held: Vec<u64> = customers.iter().copied().filter(|c| out(*c)).collect();
    assert!(
        !held.is_empty() && held.len() < customers.len(),
        "the sample has both groups: {held:?}"
    );

    let d = t.dispatcher("2026-11-22T10:00:00Z", None).await;
    let report = run_dispatch(&d).await;
    let n = customers.len() as u64;
    let h = held.len() as u64;
    assert_eq!(
        (report["held_out"].as_u64(), report["sent"].as_u64()),
        (Some(h), Some(n - h)),
        "{report}"
    );

    // The table: held out at the run's time, with no send; the others sent.
    let all = t.followups().await;
    let thanks = by_playbook(&all, Playbook::ThankYou);
    assert_eq!(thanks.len(), customers.len());
    for f in thanks {
        let c: u64 = f.customer_key.parse().expect("a customer id");
        if out(c) {
            assert_eq!(f.status, FollowUpStatus::HeldOut, "{}", f.id);
            assert_eq!(f.held_out_at.as_deref(), Some("2026-11-22T10:00:00.000Z"));
            assert_eq!(
                (f.sent_at.as_deref(), f.ses_message_id.as_deref()),
                (None, None)
            );
            assert!(f.due_pk.is_none(), "out of the due index");
        } else {
            assert_eq!(f.status, FollowUpStatus::Sent, "{}", f.id);
        }
    }
    // The item says `held_out`, as stored.
    let raw = t.scan().await;
    assert_eq!(
        raw.iter()
            .filter(|i| s(i, "entity") == "followup" && s(i, "status") == "held_out")
            .count(),
        held.len()
    );

    // moto's SES outbox: the held-out customers got nothing, the others one email each.
    let data = reqwest_json(&format!("{}/moto-api/data.json", endpoint())).await;
    let messages = aftercart_cli::outbox::messages_from_moto(&data).expect("moto's shape");
    for (i, c) in customers.iter().enumerate() {
        let to = address(i as u64);
        let got = messages.iter().filter(|m| m.to.contains(&to)).count();
        assert_eq!(got, usize::from(!out(*c)), "{to} (held out: {})", out(*c));
    }
    // The report's counters: held out on the thank-you's day.
    let stats = t.stats(SHOP, "2026-11-22#playbook#thank_you").await;
    assert_eq!(aftercart_integration::n(&stats, "held_out"), h.to_string());
    assert_eq!(
        aftercart_integration::n(&stats, "sent"),
        (n - h).to_string()
    );
    // Nothing left due.
    let later = t.dispatcher("2026-11-23T10:00:00Z", None).await;
    assert_eq!(run_dispatch(&later).await["held_out"], 0);
}
