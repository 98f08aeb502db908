//! The reputation brake end to end: orders recorded by the real webhook handler, sent
//! by the real dispatcher, a complaint applied by the real `mail-events` handler; then
//! the dispatcher pauses the shop's marketing (replenishment deferred, thank-you sent),
//! tells the merchant once, shows the pause in its summary, and the operator's resume
//! (the CLI's code path) lets the reminder go.

use aftercart::adapters::dynamo::DynamoStore;
use aftercart::apps::mail_events::MailEventsApp;
use aftercart::domain::mail_events::RECEIPT_TTL;
use aftercart::model::reputation::{events_key, sent_key, ReputationDay};
use aftercart::model::time::FixedClock;
use aftercart::model::{FollowUpStatus, Playbook};
use aftercart::ports::mail::OutgoingEmail;
use aftercart_integration::*;
use serde_json::{json, Value};
use std::sync::Arc;

const SUPPORT: &str = "help@aftercart-demo.example";

fn paid(order_id: u64, customer_id: u64, email: &str, at: &str) -> Vec<u8> {
    order_with(|o| {
        o["id"] = order_id.into();
        o["created_at"] = at.into();
        o["updated_at"] = at.into();
        o["financial_status"] = "paid".into();
        o["buyer_accepts_marketing"] = true.into();
        o["email"] = email.into();
        o["contact_email"] = email.into();
        o["customer"]["id"] = customer_id.into();
        o["customer"]["email"] = email.into();
    })
}

async fn deliver(t: &TestApp, body: &[u8], webhook_id: &str) {
    let (status, resp) = t.post(signed("orders/paid", body, webhook_id)).await;
    assert_eq!(status, 200, "{resp}");
}

/// A complaint about the follow-up `followup` (`thank_you_5102_0`) of `customer`, as SES
/// publishes it through EventBridge.
fn complaint(message_id: &str, customer: &str, followup: &str, email: &str) -> Value {
    let ses = json!({
        "eventType": "Complaint",
        "complaint": {
            "feedbackId": format!("feedback-{message_id}"),
            "complainedRecipients": [{"emailAddress": email}],
            "timestamp": "2026-11-23T07:41:09.000Z",
            "complaintFeedbackType": "abuse",
        },
        "mail": {
            "timestamp": "2026-11-22T09:00:30.512Z",
            "source": SENDER,
            "messageId": message_id,
            "destination": [email],
            "tags": {
                "ses:configuration-set": ["aftercart"],
                "shop": [SHOP],
                "playbook": ["thank_you"],
                "followup": [followup],
                "customer": [customer],
            },
        },
    });
    json!({"version": "0", "id": format!("eb-{message_id}"),
           "detail-type": "Email Complaint Received", "source": "aws.ses",
           "account": "123456789012", "time": "2026-11-23T07:41:10Z",
           "region": "us-east-1", "resources": [], "detail": ses})
}

fn playbooks(sent: &[OutgoingEmail]) -> Vec<String> {
    sent.iter()
        .flat_map(|e| {
            e.tags
                .iter()
                .filter(|(k, _)| *k == "playbook")
                .map(|(_, v)| v.clone())
        })
        .collect()
}

fn notices(sent: &[OutgoingEmail]) -> Vec<OutgoingEmail> {
    sent.iter()
        .filter(|e| {
            e.tags
                .iter()
                .any(|(k, v)| *k == "kind" && v == "reputation_alert")
        })
        .cloned()
        .collect()
}

/// The plain text of a message, decoded.
fn body(e: &OutgoingEmail) -> String {
    let msg = mail_parser::MessageParser::default()
        .parse(&e.raw)
        .expect("MIME parses");
    msg.body_text(0).expect("text part").to_string()
}

fn sent_by(d: &TestDispatcher) -> Vec<OutgoingEmail> {
    d.mailer.sent.lock().unwrap().clone()
}

async fn day(t: &TestApp, key: aftercart::model::Key) -> ReputationDay {
    let item = t.get(&key.pk, &key.sk).await.expect("day item exists");
    serde_dynamo::from_item(item).expect("day item decodes")
}

/// Two thank-yous sent on 22 Nov (Ann, Ben), Ben's complaint applied (twice, counted
/// once), and a third customer's order paid on 25 Nov at 06:00. With `min_sends = 2`.
async fn two_sends_and_a_complaint() -> (TestApp, aftercart::config::Config) {
    let config = config_with(
        "[reputation]\nmin_sends = 2\n",
        &format!(
            "support_email = \"{SUPPORT}\"\n\
             [[shop.product]]\nproduct_id = 632910392\nconsumption_days = 1\nlead_days = 0\n"
        ),
    );
    let t = TestApp::spawn_configured(config.clone()).await;
    // Two customers' orders at 08:00 on 22 Nov: thank-yous at 09:00, reminders 3 days on.
    deliver(&t, &paid(5101, 91, "ann@example.com", NOW), "wh-1").await;
    deliver(&t, &paid(5102, 92, "ben@example.com", NOW), "wh-2").await;
    let d1 = t.dispatcher("2026-11-22T09:00:30Z", None).await;
    let r1 = run_dispatch(&d1).await;
    assert_eq!(r1["sent"], 2, "{r1}");
    assert_eq!(r1["marketing_paused"], json!({}), "{r1}");
    assert_eq!(day(&t, sent_key(SHOP, "2026-11-22")).await.sent, 2);

    // Ben complains about his thank-you; the event arrives twice, it counts once.
    let events = MailEventsApp {
        store: DynamoStore::new(
            mail_events_client_for(&endpoint()),
            t.table.clone(),
            RECEIPT_TTL,
        ),
        clock: Arc::new(FixedClock::new("2026-11-23T07:42:00Z".parse().unwrap())),
    };
    let ben = complaint("msg-ben-1", "92", "thank_you_5102_0", "ben@example.com");
    for expect_applied in [1, 0] {
        let s = events.handle(ben.clone()).await.expect("handled");
        assert_eq!(s.applied, expect_applied, "{s:?}");
    }
    let counted = day(&t, events_key(SHOP, "2026-11-23")).await;
    assert_eq!((counted.complained, counted.bounced), (1, 0));

    // A third customer pays on 25 Nov; at 08:00:30 her thank-you and Ann's reminder are
    // due (Ben's reminder too, but his address is suppressed now).
    let later = "2026-11-25T06:00:00Z";
    deliver(&t, &paid(5103, 93, "cat@example.com", later), "wh-3").await;
    (t, config)
}

#[tokio::test]
async fn planted_complaints_pause_marketing_but_not_thank_yous_tell_the_merchant_once_and_a_resume_lets_it_go(
) {
    let (t, config) = two_sends_and_a_complaint().await;
    let d2 = t.dispatcher("2026-11-25T08:00:30Z", None).await;
    let r2 = run_dispatch(&d2).await;
    let reason = "marketing paused: complaint rate 50.00 % over 7 days";
    assert_eq!(r2["marketing_paused"], json!({ SHOP: reason }), "{r2}");
    let sent2 = sent_by(&d2);
    assert_eq!(playbooks(&sent2), ["thank_you"], "only the thank-you goes");
    let f = t.followups().await;
    let ann = f
        .iter()
        .find(|f| f.id == "replenishment#5101#632910392")
        .expect("Ann's reminder");
    assert_eq!(ann.status, FollowUpStatus::Pending, "{ann:?}");
    assert_eq!(ann.reason.as_deref(), Some(reason));
    assert_eq!(
        ann.due_at, "2026-11-25T09:00:30.000Z",
        "looked at again in an hour"
    );
    let ben_reminder = f
        .iter()
        .find(|f| f.id == "replenishment#5102#632910392")
        .expect("Ben's reminder");
    assert_eq!(ben_reminder.status, FollowUpStatus::Cancelled);
    // The merchant is told, with the figures, at the support address.
    let told = notices(&sent2);
    assert_eq!(told.len(), 1, "one notice");
    assert_eq!(told[0].to, SUPPORT);
    let text = body(&told[0]);
    // The figures of the pause: 2 sent, 1 complaint.
    assert!(text.contains("2 emails were sent"), "{text}");
    assert!(text.contains("50.00 %"), "{text}");
    assert!(
        text.contains("replenishment reminders and loyalty rewards"),
        "{text}"
    );

    // A second run: still paused, no second notice.
    let d3 = t.dispatcher("2026-11-25T08:05:00Z", None).await;
    let r3 = run_dispatch(&d3).await;
    assert_eq!(r3["marketing_paused"], json!({ SHOP: reason }), "{r3}");
    assert!(notices(&sent_by(&d3)).is_empty(), "told once");

    // The operator resumes by hand (the code `aftercart reputation --resume` runs).
    let store = DynamoStore::new(t.client.clone(), t.table.clone(), RECEIPT_TTL);
    let now = "2026-11-25T08:30:00Z".parse().unwrap();
    let shown = aftercart_cli::cli::reputation(&store, &config, SHOP, false, now)
        .await
        .expect("status");
    assert!(shown.contains("marketing PAUSED"), "{shown}");
    assert!(shown.contains("3 sent"), "{shown}");
    let shown = aftercart_cli::cli::reputation(&store, &config, SHOP, true, now)
        .await
        .expect("resume");
    assert!(shown.starts_with("resumed"), "{shown}");
    assert!(shown.contains("resumed by an operator"), "{shown}");

    // The reminder's next look: it goes, and the merchant hears of the resume.
    let d4 = t.dispatcher("2026-11-25T09:01:00Z", None).await;
    let r4 = run_dispatch(&d4).await;
    assert_eq!(r4["marketing_paused"], json!({}), "{r4}");
    let sent4 = sent_by(&d4);
    assert_eq!(playbooks(&sent4), ["replenishment"], "{r4}");
    let told = notices(&sent4);
    assert_eq!(told.len(), 1);
    let text = body(&told[0]);
    assert!(text.contains("An operator resumed them"), "{text}");
    let f = t.followups().await;
    let ann = f
        .iter()
        .find(|f| f.playbook == Playbook::Replenishment && f.order_id == 5101)
        .unwrap();
    assert_eq!(ann.status, FollowUpStatus::Sent);
}

#[tokio::test]
async fn the_pause_lifts_by_itself_once_the_complaint_leaves_the_window() {
    let (t, _) = two_sends_and_a_complaint().await;
    let d = t.dispatcher("2026-11-25T08:00:30Z", None).await;
    let r = run_dispatch(&d).await;
    assert_eq!(
        r["marketing_paused"].as_object().map(|m| m.len()),
        Some(1),
        "{r}"
    );
    // 1 Dec: the window (25 Nov – 1 Dec) holds the 25 Nov thank-you and no complaint.
    let d = t.dispatcher("2026-12-01T10:00:00Z", None).await;
    let r = run_dispatch(&d).await;
    assert_eq!(r["marketing_paused"], json!({}), "{r}");
    let sent = sent_by(&d);
    let reminders = playbooks(&sent)
        .into_iter()
        .filter(|p| p == "replenishment")
        .count();
    assert_eq!(reminders, 2, "Ann's waiting reminder and Cat's: {r}");
    let told = notices(&sent);
    assert_eq!(told.len(), 1);
    let text = body(&told[0]);
    assert!(
        text.contains("The rates are back below their lines"),
        "{text}"
    );
    assert!(text.contains("1 email was sent"), "{text}");
}
