//! The links function end to end: links taken from emails the real dispatcher sent,
//! opened through the real handler, effects read back from the table (moto) and seen in
//! what dispatch does next.

use aftercart::model::tokens::{sign, LinkClaims, LinkKeys, Purpose};
use aftercart::model::{FollowUpStatus, Playbook};
use aftercart_integration::*;

const CUSTOMER: u64 = 91;

fn paid(order_id: u64, email: &str, at: &str) -> Vec<u8> {
    paid_with(order_id, email, at, |_| {})
}

/// A paid order of the test customer at `at`, then `edit`ed.
fn paid_with(
    order_id: u64,
    email: &str,
    at: &str,
    edit: impl FnOnce(&mut serde_json::Value),
) -> Vec<u8> {
    order_with(|o| {
        o["id"] = order_id.into();
        o["created_at"] = at.into();
        o["updated_at"] = at.into();
        o["financial_status"] = "paid".into();
        o["customer"]["id"] = CUSTOMER.into();
        o["customer"]["email"] = email.into();
        o["email"] = email.into();
        edit(o);
    })
}

async fn deliver(t: &TestApp, topic: &str, body: &[u8], webhook_id: &str) {
    let (status, resp) = t.post(signed(topic, body, webhook_id)).await;
    assert_eq!(status, 200, "{topic}: {resp}");
}

fn customer_pk() -> String {
    format!("SHOP#{SHOP}#CUSTOMER#{CUSTOMER}")
}

/// Sends what is due at `at`; returns the emails sent.
async fn dispatch_at(t: &TestApp, at: &str) -> Vec<aftercart::ports::mail::OutgoingEmail> {
    let d = t.dispatcher(at, None).await;
    run_dispatch(&d).await;
    let sent = d.mailer.sent.lock().unwrap().clone();
    sent
}

#[tokio::test]
async fn one_click_unsubscribe_as_gmail_sends_it_stops_the_very_next_send() {
    let t = TestApp::spawn().await;
    let to = "una@example.com";
    deliver(
        &t,
        "orders/paid",
        &paid(6001, to, "2026-11-22T08:00:00Z"),
        "wh-1",
    )
    .await;
    let sent = dispatch_at(&t, "2026-11-22T09:00:30Z").await;
    assert_eq!(sent.len(), 1);
    let url = list_unsubscribe(&sent[0]);
    assert!(
        url.starts_with("https://links.example.test/unsubscribe?t="),
        "{url}"
    );

    let links = t.links("2026-11-22T10:00:00Z").await;
    // GET shows a confirmation page and changes nothing (link scanners open links).
    let page = click(&links, "GET", &url, None).await;
    assert_eq!(page.status, 200);
    assert!(page
        .body
        .contains("<form method=\"post\" action=\"unsubscribe?t="));
    assert!(page.body.contains("Aftercart Demo"));
    let hash = aftercart::model::email_hash(to);
    let suppression_pk = format!("SUPPRESS#{SHOP}#{hash}");
    assert!(t.get(&suppression_pk, "SUPPRESSION").await.is_none());

    // RFC 8058 one-click, exactly as Gmail sends it: a POST to the header's URL with a
    // form body and nothing else.
    let done = click(
        &links,
        "POST",
        &url,
        Some((
            "application/x-www-form-urlencoded",
            "List-Unsubscribe=One-Click",
        )),
    )
    .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(
        done.body.contains("You&#39;re unsubscribed") || done.body.contains("You're unsubscribed")
    );
    let item = t
        .get(&suppression_pk, "SUPPRESSION")
        .await
        .expect("suppressed before the answer");
    assert_eq!(s(&item, "reason"), "unsubscribed");
    assert!(
        !format!("{item:?}").contains(to),
        "the suppression keeps only the address's hash"
    );

    // The next order's thank-you is due: dispatch does not send it.
    deliver(
        &t,
        "orders/paid",
        &paid(6002, to, "2026-11-24T08:00:00Z"),
        "wh-2",
    )
    .await;
    let sent = dispatch_at(&t, "2026-11-24T09:00:30Z").await;
    assert!(
        sent.is_empty(),
        "nothing is sent to an unsubscribed address"
    );
    let next = t
        .followups()
        .await
        .into_iter()
        .find(|f| f.id == "thank_you#6002#0")
        .unwrap();
    assert_eq!(next.status, FollowUpStatus::Cancelled);
    assert!(
        next.reason
            .as_deref()
            .unwrap_or("")
            .contains("unsubscribed"),
        "{:?}",
        next.reason
    );

    // Clicking twice is harmless; resubscribing lifts the customer's own opt-out.
    assert_eq!(click(&links, "POST", &url, None).await.status, 200);
    let resub_url = url.replace("/unsubscribe?", "/resubscribe?");
    let back = click(&links, "POST", &resub_url, None).await;
    assert_eq!(back.status, 200);
    assert!(back.body.contains("Welcome back"));
    assert!(t.get(&suppression_pk, "SUPPRESSION").await.is_none());
}

#[tokio::test]
async fn a_2008_emails_one_click_unsubscribe_still_suppresses_the_address() {
    let t = TestApp::spawn().await;
    let to = "old@example.com";
    deliver(
        &t,
        "orders/paid",
        &paid(6051, to, "2026-11-22T08:00:00Z"),
        "wh-1",
    )
    .await;
    // The List-Unsubscribe URL of an email sent in January 2008: its token's
    // `expires_at` passed 18 years ago.
    let keys = LinkKeys::parse(LINK_KEYS).unwrap();
    let old = sign(
        &keys,
        &LinkClaims {
            shop: SHOP.into(),
            customer_key: CUSTOMER.to_string(),
            followup: "thank_you#1#0".into(),
            purpose: Purpose::Unsubscribe,
            expires_at: 1_204_329_600, // 2008-03-01
            score: None,
        },
    );
    let url = format!("https://links.example.test/unsubscribe?t={old}");
    let links = t.links("2026-11-22T10:00:00Z").await;
    let page = click(&links, "GET", &url, None).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let done = click(
        &links,
        "POST",
        &url,
        Some((
            "application/x-www-form-urlencoded",
            "List-Unsubscribe=One-Click",
        )),
    )
    .await;
    assert_eq!(done.status, 200, "{}", done.body);
    let hash = aftercart::model::email_hash(to);
    let item = t
        .get(&format!("SUPPRESS#{SHOP}#{hash}"), "SUPPRESSION")
        .await
        .expect("the old link suppressed the address");
    assert_eq!(s(&item, "reason"), "unsubscribed");
    // Resubscribing is consent given again: not through an 18-year-old link.
    assert!(!done.body.contains("resubscribe?t="), "{}", done.body);
    let back = click(
        &links,
        "POST",
        &url.replace("/unsubscribe?", "/resubscribe?"),
        None,
    )
    .await;
    assert_eq!(back.status, 410, "{}", back.body);
    assert!(t
        .get(&format!("SUPPRESS#{SHOP}#{hash}"), "SUPPRESSION")
        .await
        .is_some());
}

#[tokio::test]
async fn resubscribing_cannot_lift_a_bounce() {
    let t = TestApp::spawn().await;
    let to = "bounced@example.com";
    deliver(
        &t,
        "orders/paid",
        &paid(6101, to, "2026-11-22T08:00:00Z"),
        "wh-1",
    )
    .await;
    let sent = dispatch_at(&t, "2026-11-22T09:00:30Z").await;
    let url = list_unsubscribe(&sent[0]);
    let hash = aftercart::model::email_hash(to);
    let store = aftercart::adapters::dynamo::DynamoStore::new(
        t.client.clone(),
        t.table.clone(),
        std::time::Duration::from_secs(60),
    );
    store
        .suppress(
            SHOP,
            &aftercart::model::SuppressionRecord {
                email_hash: hash.clone(),
                reason: "bounced".into(),
                at: "2026-11-22T09:10:00.000Z".into(),
            },
        )
        .await
        .unwrap();
    let links = t.links("2026-11-22T10:00:00Z").await;
    // Unsubscribing keeps the stronger reason; resubscribing does not lift it.
    assert_eq!(click(&links, "POST", &url, None).await.status, 200);
    let back = click(
        &links,
        "POST",
        &url.replace("/unsubscribe?", "/resubscribe?"),
        None,
    )
    .await;
    assert_eq!(back.status, 200);
    assert!(back.body.contains("can&#39;t resume") || back.body.contains("can't resume"));
    let item = t
        .get(&format!("SUPPRESS#{SHOP}#{hash}"), "SUPPRESSION")
        .await
        .unwrap();
    assert_eq!(s(&item, "reason"), "bounced");
}

fn with_alerts() -> aftercart::config::Config {
    config_with(
        "",
        "support_email = \"help@aftercart-demo.example\"\nalert_email = \"owner@aftercart-demo.example\"\nreview_url = \"https://reviews.example.test/aftercart-demo\"\n",
    )
}

/// A paid, fulfilled order whose satisfaction email has been sent; its five rating links.
async fn rated_order(t: &TestApp, to: &str) -> Vec<String> {
    deliver(
        t,
        "orders/paid",
        &paid(6201, to, "2026-11-22T08:00:00Z"),
        "wh-1",
    )
    .await;
    let fulfilled = paid_with(6201, to, "2026-11-22T08:00:00Z", |o| {
        o["updated_at"] = "2026-11-23T08:00:00Z".into();
        o["fulfillment_status"] = "fulfilled".into();
    });
    deliver(t, "orders/fulfilled", &fulfilled, "wh-2").await;
    let due = t
        .followups()
        .await
        .into_iter()
        .find(|f| f.playbook == Playbook::Satisfaction)
        .expect("satisfaction planned")
        .due_at;
    // Past the thank-you, then at the satisfaction check's time.
    dispatch_at(t, "2026-11-22T09:00:30Z").await;
    let at = chrono::DateTime::parse_from_rfc3339(&due).unwrap() + chrono::Duration::minutes(1);
    let sent = dispatch_at(t, &at.to_rfc3339()).await;
    let email = sent
        .iter()
        .find(|e| {
            e.tags
                .iter()
                .any(|(k, v)| *k == "playbook" && v == "satisfaction")
        })
        .expect("satisfaction email sent");
    let rate: Vec<String> = links_in(email)
        .into_iter()
        .filter(|l| l.contains("/rate?t="))
        .collect();
    assert_eq!(rate.len(), 5, "one link per score");
    rate
}

/// The merchant notices among what a dispatch run sent.
fn notices(sent: &[aftercart::ports::mail::OutgoingEmail]) -> Vec<String> {
    sent.iter()
        .filter(|e| {
            e.tags
                .iter()
                .any(|(k, v)| *k == "kind" && v == "merchant_alert")
        })
        .map(|e| String::from_utf8_lossy(&e.raw).into_owned())
        .collect()
}

const FEEDBACK_SK: &str = "FEEDBACK#satisfaction#6201#0";

#[tokio::test]
async fn a_scanner_fetching_all_five_rating_links_within_a_second_rates_nothing_and_alerts_no_one()
{
    let t = TestApp::spawn_configured(with_alerts()).await;
    let rate = rated_order(&t, "sam@example.com").await;
    // As Safe Links does on delivery: every link, in order, within a second.
    for (i, url) in rate.iter().enumerate() {
        let links = t
            .links(&format!("2026-12-06T10:00:00.{}Z", 100 + 200 * i))
            .await;
        let page = click(&links, "GET", url, None).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(
            links.mailer.sent.lock().unwrap().is_empty(),
            "no alert from a click"
        );
    }
    let fb = t
        .get(&customer_pk(), FEEDBACK_SK)
        .await
        .expect("clicks kept");
    assert_eq!(s(&fb, "state"), "scanner");
    // Past the wait, the dispatcher settles it: no rating, no alert, no apology.
    let d = t.dispatcher("2026-12-06T10:30:00Z", None).await;
    let summary = run_dispatch(&d).await;
    assert_eq!(summary["ratings"]["scanner_bursts"], 1, "{summary}");
    assert_eq!(summary["ratings"]["settled"], 0, "{summary}");
    assert!(notices(&d.mailer.sent.lock().unwrap()).is_empty());
    let followups = t.followups().await;
    assert!(followups.iter().all(|f| f.playbook != Playbook::Recovery));
    let satisfaction = followups
        .iter()
        .find(|f| f.playbook == Playbook::Satisfaction)
        .unwrap();
    assert_eq!(satisfaction.tracking.clicks, 0, "no click counted");
    assert_eq!(
        satisfaction.tracking.clicked_at, None,
        "nothing to credit an order to"
    );
    let fb = t.get(&customer_pk(), FEEDBACK_SK).await.unwrap();
    assert_eq!(s(&fb, "state"), "scanner");
    assert!(!fb.contains_key("due_pk"), "settled once, out of the index");
}

#[tokio::test]
async fn a_persons_low_rating_and_comment_reach_the_merchant_once_with_reply_to() {
    let t = TestApp::spawn_configured(with_alerts()).await;
    let rate = rated_order(&t, "rita@example.com").await;

    // Score 2 (links are in score order 1..5): the page, and nothing sent yet.
    let links = t.links("2026-12-06T10:00:00Z").await;
    let low = click(&links, "GET", &rate[1], None).await;
    assert_eq!(low.status, 200, "{}", low.body);
    assert!(low.body.contains("We&#39;re sorry") || low.body.contains("We're sorry"));
    assert!(low.body.contains("name=\"comment\""), "a comment form");
    let fb = t
        .get(&customer_pk(), FEEDBACK_SK)
        .await
        .expect("rating stored");
    assert_eq!(
        (n(&fb, "score"), n(&fb, "submissions"), s(&fb, "state")),
        ("2".into(), "1".into(), "pending".into())
    );
    // The alert waits for a comment.
    let early = t.dispatcher("2026-12-06T10:05:00Z", None).await;
    run_dispatch(&early).await;
    assert!(notices(&early.mailer.sent.lock().unwrap()).is_empty());

    // The comment, then the next run: one mail with both, Reply-To the customer.
    let links = t.links("2026-12-06T10:06:00Z").await;
    let commented = click(
        &links,
        "POST",
        &rate[1],
        Some((
            "application/x-www-form-urlencoded",
            "comment=Arrived+broken+%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        )),
    )
    .await;
    assert_eq!(commented.status, 200, "{}", commented.body);
    assert!(commented.body.contains("Thanks for your comment"));
    assert!(
        commented.body.contains("on its way to the"),
        "{}",
        commented.body
    );
    assert!(!commented.body.contains("<script>"));
    let d = t.dispatcher("2026-12-06T10:07:00Z", None).await;
    let summary = run_dispatch(&d).await;
    assert_eq!(summary["ratings"]["merchant_notices"], 1, "{summary}");
    let sent = d.mailer.sent.lock().unwrap().clone();
    let alert = sent
        .iter()
        .find(|e| {
            e.tags
                .iter()
                .any(|(k, v)| *k == "kind" && v == "merchant_alert")
        })
        .expect("merchant told");
    assert_eq!(alert.to, "owner@aftercart-demo.example");
    let text = String::from_utf8_lossy(&alert.raw).into_owned();
    assert!(
        text.contains("Reply-To: <rita@example.com>")
            || text.contains("Reply-To: rita@example.com"),
        "{text}"
    );
    assert!(text.contains("Low rating with a comment: 2/5"), "{text}");
    assert!(
        text.contains("Arrived broken <script>alert(1)</script>"),
        "{text}"
    );
    assert!(text.contains("/admin/orders/6201"), "{text}");

    // The apology is planned once, two hours after the click.
    let recovery = t
        .followups()
        .await
        .into_iter()
        .find(|f| f.playbook == Playbook::Recovery)
        .expect("recovery planned");
    assert_eq!(recovery.status, FollowUpStatus::Pending);
    assert_eq!(recovery.due_at, "2026-12-06T12:00:00.000Z");

    // The click's own settling time passes, and the comment is edited: nothing more.
    let links = t.links("2026-12-06T10:20:00Z").await;
    click(
        &links,
        "POST",
        &rate[1],
        Some(("application/x-www-form-urlencoded", "comment=Broken+lid")),
    )
    .await;
    let later = t.dispatcher("2026-12-06T10:21:00Z", None).await;
    run_dispatch(&later).await;
    assert!(
        notices(&later.mailer.sent.lock().unwrap()).is_empty(),
        "told once"
    );

    // Then 5: the same review ask, and the apology is called off when it settles.
    let links = t.links("2026-12-06T11:00:00Z").await;
    let high = click(&links, "GET", &rate[4], None).await;
    assert!(high
        .body
        .contains("https://reviews.example.test/aftercart-demo"));
    // No review gating: the 2- and 5-star pages asked in exactly the same words.
    assert_eq!(
        review_ask(&low.body),
        review_ask(&high.body),
        "every score is asked for a review the same way"
    );
    assert!(high.body.contains("Share it with a friend"));
    let settle = t.dispatcher("2026-12-06T11:10:30Z", None).await;
    run_dispatch(&settle).await;
    assert!(notices(&settle.mailer.sent.lock().unwrap()).is_empty());
    let feedback_items = t
        .scan()
        .await
        .into_iter()
        .filter(|i| s(i, "sk").starts_with("FEEDBACK#"))
        .count();
    assert_eq!(feedback_items, 1, "one record per follow-up");
    let fb = t.get(&customer_pk(), FEEDBACK_SK).await.unwrap();
    assert_eq!(
        (n(&fb, "score"), s(&fb, "state"), s(&fb, "comment")),
        ("5".into(), "rated".into(), "Broken lid".into())
    );
    let followups = t.followups().await;
    let recovery = followups
        .iter()
        .find(|f| f.playbook == Playbook::Recovery)
        .unwrap();
    assert_eq!(recovery.status, FollowUpStatus::Cancelled);
    let satisfaction = followups
        .iter()
        .find(|f| f.playbook == Playbook::Satisfaction)
        .unwrap();
    assert_eq!(satisfaction.tracking.clicks, 2, "two score clicks counted");
}

#[tokio::test]
async fn a_low_score_apology_is_sent_by_dispatch() {
    let t = TestApp::spawn_configured(with_alerts()).await;
    let rate = rated_order(&t, "ray@example.com").await;
    let links = t.links("2026-12-06T10:00:00Z").await;
    assert_eq!(click(&links, "GET", &rate[0], None).await.status, 200);
    let sent = dispatch_at(&t, "2026-12-07T12:00:30Z").await;
    let apology = sent
        .iter()
        .find(|e| {
            e.tags
                .iter()
                .any(|(k, v)| *k == "playbook" && v == "recovery")
        })
        .expect("recovery email sent");
    assert_eq!(apology.to, "ray@example.com");
}

fn with_reminders() -> aftercart::config::Config {
    config_with(
        "",
        "[[shop.product]]\nproduct_id = 632910392\nconsumption_days = 10\nlead_days = 2\n",
    )
}

#[tokio::test]
async fn reorder_redirects_to_the_cart_and_the_order_it_brings_is_attributed() {
    let t = TestApp::spawn_configured(with_reminders()).await;
    let to = "remy@example.com";
    // Reminders are marketing: this customer opted in at checkout.
    let first = paid_with(6301, to, "2026-11-22T08:00:00Z", |o| {
        o["buyer_accepts_marketing"] = true.into();
    });
    deliver(&t, "orders/paid", &first, "wh-1").await;
    dispatch_at(&t, "2026-11-22T09:00:30Z").await;
    // 3 units × 10 days − 2 lead days after payment.
    let sent = dispatch_at(&t, "2026-12-20T08:00:30Z").await;
    let reminder = sent
        .iter()
        .find(|e| {
            e.tags
                .iter()
                .any(|(k, v)| *k == "playbook" && v == "replenishment")
        })
        .expect("reminder sent");
    let reorder = links_in(reminder)
        .into_iter()
        .find(|l| l.contains("/reorder?t="))
        .expect("a reorder link");

    let links = t.links("2026-12-20T18:00:00Z").await;
    let r = click(&links, "GET", &reorder, None).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let location = r.headers["location"].to_str().unwrap().to_owned();
    // The fixture's three lines of product 632910392, one unit each.
    assert_eq!(
        location,
        format!(
            "https://{SHOP}/cart/39072856:1,49148385:1,457924702:1?attributes%5Baftercart_followup%5D=replenishment%236301%23632910392&ref=aftercart"
        )
    );
    let id = "replenishment#6301#632910392";
    let clicked = t
        .followups()
        .await
        .into_iter()
        .find(|f| f.id == id)
        .unwrap();
    assert_eq!(clicked.tracking.clicks, 1);
    assert_eq!(
        clicked.tracking.clicked_at.as_deref(),
        Some("2026-12-20T18:00:00.000Z")
    );

    // The cart becomes an order that carries the attribute: credited to the reminder.
    let from_cart = |o: &mut serde_json::Value| {
        o["note_attributes"] = serde_json::json!([{"name": "aftercart_followup", "value": id}]);
    };
    let order = paid_with(6302, to, "2026-12-20T18:05:00Z", from_cart);
    deliver(&t, "orders/paid", &order, "wh-2").await;
    let credited = t
        .followups()
        .await
        .into_iter()
        .find(|f| f.id == id)
        .unwrap();
    assert_eq!(
        (
            credited.tracking.attributed_order_id,
            credited.tracking.attributed_by.as_deref()
        ),
        (Some(6302), Some("reorder_click"))
    );
    assert_eq!(
        credited.tracking.clicks, 1,
        "the click count survives the credit"
    );

    // A later order is not credited again.
    let again = paid_with(6303, to, "2026-12-21T10:00:00Z", from_cart);
    deliver(&t, "orders/paid", &again, "wh-3").await;
    let credited = t
        .followups()
        .await
        .into_iter()
        .find(|f| f.id == id)
        .unwrap();
    assert_eq!(credited.tracking.attributed_order_id, Some(6302));
}

#[tokio::test]
async fn an_order_within_the_window_after_a_rating_click_is_credited_to_it() {
    let t = TestApp::spawn_configured(with_alerts()).await;
    let rate = rated_order(&t, "cora@example.com").await;
    let links = t.links("2026-12-06T10:00:00Z").await;
    assert_eq!(click(&links, "GET", &rate[4], None).await.status, 200);
    // The rating takes effect when the dispatcher settles it.
    dispatch_at(&t, "2026-12-06T10:11:00Z").await;
    // Four days later, an order with no tag at all.
    deliver(
        &t,
        "orders/paid",
        &paid(6202, "cora@example.com", "2026-12-10T10:00:00Z"),
        "wh-9",
    )
    .await;
    let credited = t
        .followups()
        .await
        .into_iter()
        .find(|f| f.playbook == Playbook::Satisfaction)
        .unwrap();
    assert_eq!(
        (
            credited.tracking.attributed_order_id,
            credited.tracking.attributed_by.as_deref()
        ),
        (Some(6202), Some("rating_click"))
    );
}

#[tokio::test]
async fn forged_altered_expired_and_misused_tokens_get_friendly_pages() {
    let t = TestApp::spawn().await;
    let links = t.links("2026-11-22T10:00:00Z").await;
    let keys = LinkKeys::parse(LINK_KEYS).unwrap();
    let claims = |purpose, expires_at| LinkClaims {
        shop: SHOP.into(),
        customer_key: CUSTOMER.to_string(),
        followup: "satisfaction#1#0".into(),
        purpose,
        expires_at,
        score: Some(5),
    };
    let now = chrono::DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
        .unwrap()
        .timestamp();
    let good = sign(&keys, &claims(Purpose::Rate, now + 60));
    let other_key = LinkKeys::parse("1:someone-elses-key-0123456789abcdef012345").unwrap();
    let forged = sign(&other_key, &claims(Purpose::Rate, now + 60));
    // Change one character of the payload: the signature no longer matches.
    let mut altered = good.clone().into_bytes();
    altered[5] = if altered[5] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap();
    let expired = sign(&keys, &claims(Purpose::Rate, now - 1));
    let base = "https://links.example.test";
    let cases = [
        ("GET", format!("{base}/rate"), 400, "incomplete"),
        (
            "GET",
            format!("{base}/rate?t=not-a-token"),
            400,
            "incomplete",
        ),
        ("GET", format!("{base}/rate?t={forged}"), 403, "isn"),
        ("GET", format!("{base}/rate?t={altered}"), 403, "isn"),
        ("GET", format!("{base}/rate?t={expired}"), 410, "expired"),
        ("GET", format!("{base}/reorder?t={good}"), 403, "can"),
        ("POST", format!("{base}/unsubscribe?t={good}"), 403, "can"),
        (
            "GET",
            format!("{base}/rate?t={good}"),
            410,
            "no longer active",
        ),
        ("GET", format!("{base}/admin"), 404, "not found"),
        ("PUT", format!("{base}/rate?t={good}"), 405, "can"),
    ];
    for (method, url, status, words) in cases {
        let r = click(&links, method, &url, None).await;
        assert_eq!(r.status, status, "{method} {url}: {}", r.body);
        assert_eq!(r.headers["content-type"], "text/html; charset=utf-8");
        assert!(r.body.starts_with("<!doctype html>"), "{url}");
        assert!(
            r.body.to_lowercase().contains(words),
            "{url}: expected {words:?} in {}",
            r.body
        );
        for leak in ["panicked", "Error", "StoreError", "signature"] {
            assert!(!r.body.contains(leak), "{url} leaks {leak:?}");
        }
    }
    assert!(t.scan().await.is_empty(), "refused links change nothing");
    // An expired rating or reorder link is still ours: its page is in the shop's brand
    // and points to the support address, or to the storefront for a reorder.
    let page = click(&links, "GET", &format!("{base}/rate?t={expired}"), None).await;
    assert!(page.body.contains("<p class=\"brand\">"), "{}", page.body);
    let store = format!("href=\"https://{SHOP}\"");
    assert!(
        page.body.contains("mailto:") || page.body.contains(&store),
        "{}",
        page.body
    );
    let old_reorder = sign(
        &keys,
        &LinkClaims {
            score: None,
            ..claims(Purpose::Reorder, now - 1)
        },
    );
    let page = click(
        &links,
        "GET",
        &format!("{base}/reorder?t={old_reorder}"),
        None,
    )
    .await;
    assert_eq!(page.status, 410);
    assert!(page.body.contains(&store), "{}", page.body);
}

#[tokio::test]
async fn reorder_without_variants_shows_the_storefront() {
    // Custom line items have no variant: the reorder link shows the storefront instead
    // of a broken cart.
    let t = TestApp::spawn_configured(with_reminders()).await;
    let body = paid_with(6401, "vic@example.com", "2026-11-22T08:00:00Z", |o| {
        for l in o["line_items"].as_array_mut().unwrap() {
            l["variant_id"] = serde_json::Value::Null;
        }
    });
    deliver(&t, "orders/paid", &body, "wh-1").await;
    let keys = LinkKeys::parse(LINK_KEYS).unwrap();
    let builder = aftercart::model::tokens::LinkBuilder {
        base_url: "https://links.example.test".into(),
        keys,
        ttl_days: 60,
    };
    let now = chrono::DateTime::parse_from_rfc3339("2026-12-20T10:00:00Z")
        .unwrap()
        .timestamp();
    let url = builder.reorder_url(
        SHOP,
        &CUSTOMER.to_string(),
        "replenishment#6401#632910392",
        now,
    );
    let links = t.links("2026-12-20T10:00:00Z").await;
    let r = click(&links, "GET", &url, None).await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains(&format!("href=\"https://{SHOP}\"")));
}

/// The review ask of a rating page: from the end of the paragraph before the review
/// link to the end of the link's paragraph.
fn review_ask(page: &str) -> String {
    let link = page
        .find("https://reviews.example.test/aftercart-demo")
        .expect("a review link");
    let start = page[..link].rfind("</p>").map_or(0, |i| i + "</p>".len());
    let end = link + page[link..].find("</p>").expect("closing paragraph") + "</p>".len();
    page[start..end].trim().to_owned()
}

#[tokio::test]
async fn a_return_reason_click_from_the_sent_returns_email_is_stored_once() {
    let t = TestApp::spawn_configured(with_alerts()).await;
    deliver(
        &t,
        "orders/paid",
        &paid(6501, "rob@example.com", "2026-11-22T08:00:00Z"),
        "wh-1",
    )
    .await;
    let refund = serde_json::to_vec(&{
        let mut r: serde_json::Value =
            serde_json::from_slice(aftercart::wire::shopify::fixtures::REFUND).unwrap();
        r["order_id"] = 6501.into();
        r["created_at"] = "2026-11-25T08:00:00Z".into();
        r
    })
    .unwrap();
    deliver(&t, "refunds/create", &refund, "wh-2").await;
    // The returns email, a day after the refund (the thank-you went earlier).
    dispatch_at(&t, "2026-11-22T09:00:30Z").await;
    let sent = dispatch_at(&t, "2026-11-26T10:00:00Z").await;
    let email = sent
        .iter()
        .find(|e| {
            e.tags
                .iter()
                .any(|(k, v)| *k == "playbook" && v == "returns")
        })
        .expect("returns email sent");
    let reasons: Vec<String> = links_in(email)
        .into_iter()
        .filter(|l| l.contains("/reason?t="))
        .collect();
    assert_eq!(reasons.len(), 8, "one link per reason");
    let text = String::from_utf8_lossy(&email.raw).into_owned();
    assert!(text.contains("Defective or damaged"), "labelled buttons");

    // "Defective or damaged", clicked twice by the customer minutes apart.
    for at in ["2026-11-26T12:00:00Z", "2026-11-26T12:03:00Z"] {
        let links = t.links(at).await;
        let page = click(&links, "GET", &reasons[3], None).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("Defective or damaged"), "{}", page.body);
    }
    let d = t.dispatcher("2026-11-26T12:14:00Z", None).await;
    let summary = run_dispatch(&d).await;
    assert_eq!(summary["ratings"]["settled"], 1, "{summary}");
    let items: Vec<_> = t
        .scan()
        .await
        .into_iter()
        .filter(|i| s(i, "sk").starts_with("FEEDBACK#returns#6501"))
        .collect();
    assert_eq!(items.len(), 1, "one reason per refund");
    let item = &items[0];
    assert_eq!(
        (
            n(item, "score"),
            n(item, "submissions"),
            s(item, "state"),
            s(item, "tallied")
        ),
        ("4".into(), "2".into(), "rated".into(), "defective".into())
    );
    let tallies: Vec<_> = t
        .scan()
        .await
        .into_iter()
        .filter(|i| s(i, "entity") == "reason_tally")
        .collect();
    assert!(!tallies.is_empty(), "counted for the refunded product");
    assert!(tallies.iter().all(|i| s(i, "sk") == "REASON#defective"));
    // A reason alone tells the merchant nothing (three alike would).
    assert!(notices(&d.mailer.sent.lock().unwrap()).is_empty());
}
