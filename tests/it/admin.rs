//! Loyalty discount codes end to end: webhooks recorded by the real handler, the real
//! dispatcher creating codes through the real Admin API client (over HTTP) against a local
//! fake Shopify Admin GraphQL API, and sending through SES (moto).
//!
//! The fake (`fake_admin.rs`) behaves like a store; faults are injected per request.

use crate::fake_admin::{admin_table, FakeAdmin, Fault};
use aftercart::config::Config;
use aftercart::model::{DiscountRecord, DiscountStatus, FollowUpStatus, Playbook};
use aftercart_integration::*;
use mail_parser::MessageParser;
use serde_json::{json, Value};

const CUSTOMER: u64 = 207119551; // the fixture order's customer
const EMAIL: &str = "bob.norman@hostmail.com";
const SUPPORT: &str = "help@aftercart-demo.example";
const GRAPHQL_PATH: &str = "/admin/api/2025-10/graphql.json";

// ---------------------------------------------------------------------------------------
// Helpers

/// The demo shop rewarding every 2nd paid order with 15 % off for 30 days, an hour after
/// payment; the thank-you is off so the reward is the only email due.
fn loyalty_config(fake: &FakeAdmin, top: &str) -> Config {
    config_with(
        &format!("{}{top}", admin_table(fake)),
        &format!(
            "support_email = \"{SUPPORT}\"\n\
             [shop.playbooks.thank_you]\nenabled = false\n\
             [shop.playbooks.loyalty]\nnth_order = 2\ndelay_hours = 1\n\
             discount = {{ percentage = 15, days_valid = 30, prefix = \"THANKS\" }}\n"
        ),
    )
}

/// A paid order (the fixture's) for `customer` (`None`: a guest checkout), with consent
/// to marketing (loyalty mail is marketing).
fn paid(order_id: u64, customer: Option<u64>, email: &str, at: &str) -> Vec<u8> {
    order_with(|o| {
        o["id"] = order_id.into();
        o["created_at"] = at.into();
        o["updated_at"] = at.into();
        o["financial_status"] = "paid".into();
        o["buyer_accepts_marketing"] = true.into();
        o["email"] = email.into();
        match customer {
            Some(id) => {
                o["customer"]["id"] = id.into();
                o["customer"]["email"] = email.into();
            }
            None => o["customer"] = Value::Null,
        }
    })
}

async fn deliver(t: &TestApp, body: &[u8], webhook_id: &str) {
    let (status, resp) = t.post(signed("orders/paid", body, webhook_id)).await;
    assert_eq!(status, 200, "{resp}");
}

/// A second paid order for `customer`: the loyalty reward is due at 09:00.
async fn second_order(t: &TestApp, customer: Option<u64>, email: &str, first_order: u64) {
    deliver(
        t,
        &paid(first_order, customer, email, "2026-11-20T08:00:00Z"),
        &format!("wh-{first_order}"),
    )
    .await;
    deliver(
        t,
        &paid(first_order + 1, customer, email, "2026-11-22T08:00:00Z"),
        &format!("wh-{}", first_order + 1),
    )
    .await;
}

fn loyalty_of(
    t: &[aftercart::model::FollowUpRecord],
    order: u64,
) -> aftercart::model::FollowUpRecord {
    t.iter()
        .find(|f| f.playbook == Playbook::Loyalty && f.order_id == order)
        .unwrap_or_else(|| panic!("no loyalty follow-up for order {order}: {t:?}"))
        .clone()
}

async fn discount_record(t: &TestApp, customer: u64, order: u64) -> DiscountRecord {
    let item = t
        .get(
            &format!("SHOP#{SHOP}#CUSTOMER#{customer}"),
            &format!("DISCOUNT#loyalty#{order}#0"),
        )
        .await
        .expect("discount record stored");
    assert_eq!(s(&item, "entity"), "discount");
    serde_dynamo::from_item(item).expect("discount record decodes")
}

/// The (text, html) of the one email sent to `to`.
fn email_to(d: &TestDispatcher, to: &str) -> (String, String, String) {
    let sent = d.mailer.sent.lock().unwrap().clone();
    let mine: Vec<_> = sent.iter().filter(|e| e.to == to).collect();
    assert_eq!(mine.len(), 1, "one email to {to}: {sent:?}");
    let msg = MessageParser::default()
        .parse(&mine[0].raw)
        .expect("MIME parses");
    (
        msg.subject().unwrap_or_default().to_owned(),
        msg.body_text(0).expect("text part").to_string(),
        msg.body_html(0).expect("html part").to_string(),
    )
}

// ---------------------------------------------------------------------------------------
// Scenarios

#[tokio::test]
async fn a_second_paid_order_brings_an_email_with_a_code_created_once_in_the_store() {
    let fake = FakeAdmin::start([]).await;
    let t = TestApp::spawn_configured(loyalty_config(&fake, "")).await;
    second_order(&t, Some(CUSTOMER), EMAIL, 5101).await;
    assert!(
        fake.seen().is_empty(),
        "nothing is created at planning time"
    );

    let d = t.dispatcher("2026-11-22T09:30:00Z", None).await;
    let report = run_dispatch(&d).await;
    assert_eq!(report["sent"], 1, "{report}");

    // The store received exactly one create, with the right variables and token.
    let seen = fake.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let create = &seen[0];
    assert!(create.is_create());
    assert_eq!(create.path, GRAPHQL_PATH);
    assert_eq!(create.token.as_deref(), Some(ADMIN_TOKEN));
    let code = create.code();
    assert!(
        aftercart::adapters::shopify_admin::code::is_well_formed("THANKS", &code),
        "{code}"
    );
    assert_eq!(
        create.input(),
        &json!({
            "title": "Aftercart Demo reward (loyalty#5102#0)",
            "code": code,
            "startsAt": "2026-11-22T09:30:00.000Z",
            "endsAt": "2026-12-22T09:30:00.000Z",
            "usageLimit": 1,
            "appliesOncePerCustomer": true,
            "context": {"customers": {"add": [format!("gid://shopify/Customer/{CUSTOMER}")]}},
            "customerGets": {"value": {"percentage": 0.15}, "items": {"all": true}},
            "combinesWith": {"orderDiscounts": false, "productDiscounts": false, "shippingDiscounts": true}
        })
    );

    // The customer's email carries that code, in both parts.
    let (subject, text, html) = email_to(&d, EMAIL);
    assert_eq!(
        subject,
        "Thanks for coming back, Bob — a little something for you"
    );
    assert!(text.contains(&code), "{text}");
    assert!(html.contains(&code), "{html}");

    // The code is recorded as created, with the store's id.
    let rec = discount_record(&t, CUSTOMER, 5102).await;
    assert_eq!(rec.status, DiscountStatus::Created);
    assert_eq!(rec.code, code);
    assert_eq!(
        rec.discount_id.as_deref(),
        Some("gid://shopify/DiscountCodeNode/1057371270")
    );
    assert_eq!(rec.ends_at.as_deref(), Some("2026-12-22T09:30:00.000Z"));
    let f = loyalty_of(&t.followups().await, 5102);
    assert_eq!(f.status, FollowUpStatus::Sent);

    // Running again creates nothing and sends nothing.
    let again = t.dispatcher("2026-11-22T10:00:00Z", None).await;
    assert_eq!(run_dispatch(&again).await["sent"], 0);
    assert_eq!(fake.seen().len(), 1);
}

#[tokio::test]
async fn a_dispatch_retried_after_an_ses_failure_reuses_the_code() {
    let fake = FakeAdmin::start([]).await;
    let t = TestApp::spawn_configured(loyalty_config(&fake, "")).await;
    second_order(&t, Some(CUSTOMER), EMAIL, 5201).await;
    let (failing_ses, _) = fake_http(
        "500 Internal Server Error",
        "application/json",
        r#"{"message":"internal failure"}"#,
    )
    .await;

    let first = t
        .dispatcher("2026-11-22T09:30:00Z", Some(&failing_ses))
        .await;
    let report = run_dispatch(&first).await;
    assert_eq!(report["retried"], 1, "{report}");
    let f = loyalty_of(&t.followups().await, 5202);
    assert_eq!(f.status, FollowUpStatus::Pending);
    let code = discount_record(&t, CUSTOMER, 5202).await.code;

    let retry = t.dispatcher(&f.due_at, None).await;
    assert_eq!(run_dispatch(&retry).await["sent"], 1);
    let (_, text, _) = email_to(&retry, EMAIL);
    assert!(text.contains(&code), "the same code: {text}");
    assert_eq!(fake.creates().len(), 1, "no second create");
    assert_eq!(fake.seen().len(), 1, "no other call either");
}

#[tokio::test]
async fn a_create_whose_answer_was_lost_is_adopted_not_duplicated() {
    // The store creates the discount but the answer never arrives (504 every time):
    // the follow-up is retried later, the store says TAKEN, the lookup shows it is ours.
    let fake = FakeAdmin::start([Fault::StatusAfterWork(504), Fault::Status(504)]).await;
    let t = TestApp::spawn_configured(loyalty_config(&fake, "max_attempts = 2\n")).await;
    second_order(&t, Some(CUSTOMER), EMAIL, 5301).await;

    let first = t.dispatcher("2026-11-22T09:30:00Z", None).await;
    let report = run_dispatch(&first).await;
    assert_eq!(report["retried"], 1, "{report}");
    let f = loyalty_of(&t.followups().await, 5302);
    assert_eq!(f.status, FollowUpStatus::Pending);
    assert!(
        f.reason
            .as_deref()
            .is_some_and(|r| r.starts_with("retrying: discount code: the Admin API is unavailable")),
        "{:?}",
        f.reason
    );
    let rec = discount_record(&t, CUSTOMER, 5302).await;
    assert_eq!(rec.status, DiscountStatus::Reserved);

    let retry = t.dispatcher(&f.due_at, None).await;
    assert_eq!(run_dispatch(&retry).await["sent"], 1);
    let creates = fake.creates();
    assert_eq!(creates.len(), 3, "two lost attempts and the TAKEN one");
    assert!(
        creates.iter().all(|c| c.code() == rec.code),
        "always the same code"
    );
    assert_eq!(fake.discounts().len(), 1, "the store holds one discount");
    let (_, text, _) = email_to(&retry, EMAIL);
    assert!(text.contains(&rec.code), "{text}");
    let rec = discount_record(&t, CUSTOMER, 5302).await;
    assert_eq!(rec.status, DiscountStatus::Created);
    assert_eq!(
        rec.discount_id.as_deref(),
        Some("gid://shopify/DiscountCodeNode/1057371270")
    );
}

#[tokio::test]
async fn a_code_taken_by_another_discount_is_replaced_by_a_new_one() {
    let fake = FakeAdmin::start([Fault::TakenByOther]).await;
    let t = TestApp::spawn_configured(loyalty_config(&fake, "")).await;
    second_order(&t, Some(CUSTOMER), EMAIL, 5401).await;

    let d = t.dispatcher("2026-11-22T09:30:00Z", None).await;
    assert_eq!(run_dispatch(&d).await["sent"], 1);

    let seen = fake.seen();
    assert_eq!(seen.len(), 3, "create (TAKEN), lookup, create: {seen:?}");
    let (first, second) = (seen[0].code(), seen[2].code());
    assert_ne!(first, second);
    assert_eq!(
        seen[1].body["variables"]["code"].as_str(),
        Some(first.as_str())
    );
    let (_, text, html) = email_to(&d, EMAIL);
    assert!(text.contains(&second) && !text.contains(&first), "{text}");
    assert!(html.contains(&second));
    let rec = discount_record(&t, CUSTOMER, 5402).await;
    assert_eq!(
        (rec.status, rec.code.as_str(), rec.replaced.clone()),
        (DiscountStatus::Created, second.as_str(), vec![first])
    );
}

#[tokio::test]
async fn a_throttled_call_waits_for_the_bucket_then_succeeds() {
    let fake = FakeAdmin::start([Fault::Throttled]).await;
    let t = TestApp::spawn_configured(loyalty_config(&fake, "")).await;
    second_order(&t, Some(CUSTOMER), EMAIL, 5501).await;

    let d = t.dispatcher("2026-11-22T09:30:00Z", None).await;
    assert_eq!(run_dispatch(&d).await["sent"], 1);
    let creates = fake.creates();
    assert_eq!(creates.len(), 2, "{creates:?}");
    assert_eq!(creates[0].code(), creates[1].code());
    // 2 of 100 points left, 10 needed plus a 10-point reserve, 50 restored per second.
    let waited = creates[1].at - creates[0].at;
    assert!(
        waited >= std::time::Duration::from_millis(300),
        "waited only {waited:?}"
    );
    let (_, text, _) = email_to(&d, EMAIL);
    assert!(text.contains(&creates[0].code()));
}

#[tokio::test]
async fn server_errors_are_retried_and_a_lasting_outage_reschedules_the_follow_up() {
    let fake = FakeAdmin::start([Fault::Status(503), Fault::Status(502)]).await;
    // Two attempts per dispatch: both fail now, so the follow-up waits for a retry.
    let t = TestApp::spawn_configured(loyalty_config(&fake, "max_attempts = 2\n")).await;
    second_order(&t, Some(CUSTOMER), EMAIL, 5601).await;

    let first = t.dispatcher("2026-11-22T09:30:00Z", None).await;
    let report = run_dispatch(&first).await;
    assert_eq!(report["retried"], 1, "{report}");
    assert!(first.mailer.sent.lock().unwrap().is_empty());
    let f = loyalty_of(&t.followups().await, 5602);
    assert_eq!((f.status, f.attempts), (FollowUpStatus::Pending, 1));
    assert!(fake.discounts().is_empty());
    // The frequency-cap slot taken for the send was given back.
    let profile = t
        .get(&format!("SHOP#{SHOP}#CUSTOMER#{CUSTOMER}"), "PROFILE")
        .await
        .unwrap();
    assert!(!profile.contains_key("last_email_at"), "{profile:?}");

    // One more 503, then the store answers: retried within the same dispatch.
    fake.fault(Fault::Status(503));
    let retry = t.dispatcher(&f.due_at, None).await;
    assert_eq!(run_dispatch(&retry).await["sent"], 1);
    let creates = fake.creates();
    assert_eq!(creates.len(), 4);
    assert!(creates.iter().all(|c| c.code() == creates[0].code()));
    assert_eq!(fake.discounts().len(), 1);
}

#[tokio::test]
async fn a_revoked_token_fails_the_follow_ups_and_alerts_the_merchant_once() {
    let fake = FakeAdmin::start([Fault::Revoke]).await;
    let t = TestApp::spawn_configured(loyalty_config(&fake, "")).await;
    second_order(&t, Some(CUSTOMER), EMAIL, 5701).await;
    second_order(&t, Some(CUSTOMER + 1), "ann@example.com", 5711).await;

    let d = t.dispatcher("2026-11-22T09:30:00Z", None).await;
    let report = run_dispatch(&d).await;
    assert_eq!(
        (report["failed"].as_u64(), report["sent"].as_u64()),
        (Some(2), Some(0)),
        "{report}"
    );
    let followups = t.followups().await;
    for order in [5702, 5712] {
        let f = loyalty_of(&followups, order);
        assert_eq!(f.status, FollowUpStatus::Failed);
        assert_eq!(
            f.reason.as_deref(),
            Some("discount code: the Admin API refused the access token (HTTP 401)")
        );
    }
    // One alert for the two follow-ups, to the merchant, and nothing to customers.
    let sent = d.mailer.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(
        (sent[0].to.as_str(), sent[0].from.as_str()),
        (SUPPORT, SENDER)
    );
    let (subject, _, _) = {
        let msg = MessageParser::default().parse(&sent[0].raw).unwrap();
        let text = msg.body_text(0).unwrap().to_string();
        assert!(
            text.contains("HTTP 401") && text.contains("AFTERCART_ADMIN_TOKEN"),
            "{text}"
        );
        assert!(!text.contains(ADMIN_TOKEN), "never the token itself");
        (msg.subject().unwrap().to_owned(), (), ())
    };
    assert_eq!(
        subject,
        "Action needed: Aftercart cannot create discount codes for Aftercart Demo"
    );
    let shop = t
        .get(&format!("SHOP#{SHOP}"), "SHOP")
        .await
        .expect("shop item");
    assert_eq!(
        s(&shop, "admin_auth_alerted_at"),
        "2026-11-22T09:30:00.000Z"
    );

    // Another refused code later: still no second alert.
    second_order(&t, Some(CUSTOMER + 2), "cy@example.com", 5721).await;
    let later = t.dispatcher("2026-11-22T11:00:00Z", None).await;
    assert_eq!(run_dispatch(&later).await["failed"], 1);
    assert!(later.mailer.sent.lock().unwrap().is_empty());

    // Once the token works again a code is made and the alert is re-armed.
    fake.restore_token();
    second_order(&t, Some(CUSTOMER + 3), "dee@example.com", 5731).await;
    let fixed = t.dispatcher("2026-11-22T12:00:00Z", None).await;
    assert_eq!(run_dispatch(&fixed).await["sent"], 1);
    let shop = t.get(&format!("SHOP#{SHOP}"), "SHOP").await.unwrap();
    assert!(!shop.contains_key("admin_auth_alerted_at"), "{shop:?}");
    assert!(fake
        .seen()
        .iter()
        .all(|r| r.token.as_deref() == Some(ADMIN_TOKEN)));
}

#[tokio::test]
async fn a_guest_gets_no_code_and_the_reward_is_skipped() {
    let fake = FakeAdmin::start([]).await;
    let t = TestApp::spawn_configured(loyalty_config(&fake, "")).await;
    second_order(&t, None, "guest@example.com", 5801).await;

    let d = t.dispatcher("2026-11-22T09:30:00Z", None).await;
    let report = run_dispatch(&d).await;
    assert_eq!(report["cancelled"], 1, "{report}");
    let f = loyalty_of(&t.followups().await, 5802);
    assert_eq!(f.status, FollowUpStatus::Cancelled);
    assert_eq!(
        f.reason.as_deref(),
        Some(aftercart::adapters::shopify_admin::GUEST_REASON)
    );
    assert!(fake.seen().is_empty());
    assert!(d.mailer.sent.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_store_refusing_the_discount_fails_the_follow_up_with_its_reason() {
    let fake = FakeAdmin::start([Fault::Reject]).await;
    let t = TestApp::spawn_configured(loyalty_config(&fake, "")).await;
    second_order(&t, Some(CUSTOMER), EMAIL, 5901).await;

    let d = t.dispatcher("2026-11-22T09:30:00Z", None).await;
    let report = run_dispatch(&d).await;
    assert_eq!(report["failed"], 1, "{report}");
    assert!(d.mailer.sent.lock().unwrap().is_empty());
    let f = loyalty_of(&t.followups().await, 5902);
    let reason = "the store rejected the discount: VALUE_OUTSIDE_RANGE at basicCodeDiscount.customerGets.value.percentage: Value must be between 0.0 and 1.0";
    assert_eq!(f.reason, Some(format!("discount code: {reason}")));
    let rec = discount_record(&t, CUSTOMER, 5902).await;
    assert_eq!(
        (rec.status, rec.reason.as_deref()),
        (DiscountStatus::Failed, Some(reason))
    );
    assert_eq!(fake.seen().len(), 1, "a refusal is not retried");
}

#[tokio::test]
async fn an_older_pinned_api_version_ties_the_code_with_customer_selection() {
    let fake = FakeAdmin::start([]).await;
    let t = TestApp::spawn_configured(loyalty_config(&fake, "api_version = \"2025-07\"\n")).await;
    second_order(&t, Some(CUSTOMER), EMAIL, 6001).await;

    let d = t.dispatcher("2026-11-22T09:30:00Z", None).await;
    assert_eq!(run_dispatch(&d).await["sent"], 1);
    let seen = fake.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/admin/api/2025-07/graphql.json");
    assert_eq!(
        seen[0].input()["customerSelection"],
        json!({"customers": {"add": [format!("gid://shopify/Customer/{CUSTOMER}")]}})
    );
    assert!(seen[0].input().get("context").is_none());
    let (_, text, _) = email_to(&d, EMAIL);
    assert!(text.contains(&seen[0].code()));
}
