//! The merchant's report end to end: a month of one shop through the real functions
//! against moto — orders and a refund by the webhook handler, sends by the dispatcher,
//! deliveries, opens, a bounce and a complaint by `mail-events`, ratings with comments
//! through `links`, settled by the dispatcher, a credited reorder — then every number of
//! the report equals what was planted, the page shows them, only a shop's `report`
//! token opens it, and the weekly digest goes out once under two dispatchers.

use aftercart::adapters::dynamo::DynamoStore;
use aftercart::apps::mail_events::MailEventsApp;
use aftercart::model::report::Report;
use aftercart::model::FollowUpRecord;
use aftercart::ports::mail::OutgoingEmail;
use aftercart::wire::shopify::fixtures;
use aftercart_integration::*;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::{json, Value};
use std::sync::Arc;

const CUSTOMERS: [(u64, u64, &str); 6] = [
    (5601, 91, "ann@example.com"),
    (5602, 92, "ben@example.com"),
    (5603, 93, "cat@example.com"),
    (5604, 94, "dan@example.com"),
    (5605, 95, "eve@example.com"),
    (5606, 96, "fay@example.com"),
];

fn order(order_id: u64, customer: u64, email: &str, created: &str, fulfilled: bool) -> Vec<u8> {
    order_with(|o| {
        o["id"] = order_id.into();
        o["name"] = format!("#{order_id}").into();
        o["created_at"] = created.into();
        o["updated_at"] = if fulfilled {
            "2026-11-22T08:30:00Z"
        } else {
            created
        }
        .into();
        o["financial_status"] = "paid".into();
        if fulfilled {
            o["fulfillment_status"] = "fulfilled".into();
        }
        o["customer"]["id"] = customer.into();
        o["customer"]["email"] = email.into();
        o["email"] = email.into();
    })
}

async fn deliver(t: &TestApp, topic: &str, body: &[u8], webhook_id: &str) {
    let (status, resp) = t.post(signed(topic, body, webhook_id)).await;
    assert_eq!(status, 200, "{topic}: {resp}");
}

fn time(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).expect("time").to_utc()
}

fn find<'a>(all: &'a [FollowUpRecord], id: &str) -> &'a FollowUpRecord {
    all.iter()
        .find(|f| f.id == id)
        .unwrap_or_else(|| panic!("no follow-up {id}"))
}

/// An SES event (`fixture`: an SNS record) about follow-up `f` sent to `to`, happening at
/// `at`: the message id, tags, recipients and every timestamp of the event set.
fn ses_event(fixture: &[u8], f: &FollowUpRecord, to: &str, at: DateTime<Utc>) -> Value {
    let mut sns: Value = serde_json::from_slice(fixture).expect("fixture");
    let message = sns["Records"][0]["Sns"]["Message"]
        .as_str()
        .expect("message");
    let mut ses: Value = serde_json::from_str(message).expect("SES event");
    let message_id = f.ses_message_id.clone().expect("sent");
    ses["mail"]["messageId"] = message_id.clone().into();
    ses["mail"]["timestamp"] = f.sent_at.clone().expect("sent_at").into();
    ses["mail"]["destination"] = json!([to]);
    let tags = &mut ses["mail"]["tags"];
    tags["playbook"] = json!([f.playbook.as_str()]);
    tags["followup"] = json!([f.id.replace('#', "_")]);
    tags["customer"] = json!([f.customer_key]);
    for detail in ["delivery", "bounce", "complaint", "open", "click"] {
        if let Some(d) = ses.get_mut(detail).and_then(Value::as_object_mut) {
            d.insert("timestamp".into(), at.to_rfc3339().into());
            if let Some(r) = d.get_mut("recipients") {
                *r = json!([to]);
            }
            for list in ["bouncedRecipients", "complainedRecipients"] {
                if let Some(r) = d.get_mut(list) {
                    r[0]["emailAddress"] = to.into();
                }
            }
        }
    }
    sns["Records"][0]["Sns"]["Message"] = ses.to_string().into();
    sns["Records"][0]["Sns"]["MessageId"] = format!("sns-{}-{}", f.id, at.timestamp()).into();
    sns
}

fn events(t: &TestApp) -> MailEventsApp<DynamoStore> {
    MailEventsApp {
        store: DynamoStore::new(
            t.client.clone(),
            t.table.clone(),
            aftercart::domain::mail_events::RECEIPT_TTL,
        ),
        clock: Arc::new(aftercart::model::time::FixedClock::new(time(NOW))),
    }
}

async fn apply(t: &TestApp, event: Value) {
    let summary = events(t).handle(event).await.expect("handled");
    assert_eq!(summary.applied, 1, "{summary:?}");
}

fn rating_link(email: &OutgoingEmail, score: usize) -> String {
    let rates: Vec<String> = links_in(email)
        .into_iter()
        .filter(|l| l.starts_with("https://links.example.test/rate?"))
        .collect();
    rates[score - 1].clone()
}

/// A person rates (a click) and, if `comment`, sends the page's comment form.
async fn rate(
    t: &TestApp,
    at: DateTime<Utc>,
    email: &OutgoingEmail,
    score: usize,
    comment: Option<&str>,
) {
    let links = t.links(&at.to_rfc3339()).await;
    let url = rating_link(email, score);
    assert_eq!(click(&links, "GET", &url, None).await.status, 200);
    if let Some(c) = comment {
        let form = format!("comment={}", c.replace(' ', "+"));
        let page = click(
            &links,
            "POST",
            &url,
            Some(("application/x-www-form-urlencoded", &form)),
        )
        .await;
        assert_eq!(page.status, 200, "{}", page.body);
    }
}

fn store(t: &TestApp) -> DynamoStore {
    DynamoStore::new(
        t.client.clone(),
        t.table.clone(),
        std::time::Duration::from_secs(86_400),
    )
}

async fn month_report(t: &TestApp) -> Report {
    let config = t.app.config.clone();
    let shop = config.shop(SHOP).expect("shop");
    let to = NaiveDate::from_ymd_opt(2026, 12, 31).expect("date");
    aftercart::apps::report::compute(&store(t), shop, to, 61, time("2026-12-31T12:00:00Z"))
        .await
        .expect("report")
}

/// The month: 6 customers, 6 thank-yous sent (5 delivered, 3 opened, 1 bounced, 1
/// complained), 4 satisfaction checks sent (2 not: suppressed), 3 ratings (5 with a
/// comment, 2 with a comment, 4), a reorder credited to the 5's check and partly
/// refunded.
async fn plant_month(t: &TestApp) -> DateTime<Utc> {
    for (id, customer, email) in CUSTOMERS {
        deliver(
            t,
            "orders/paid",
            &order(id, customer, email, "2026-11-22T08:00:00Z", false),
            &format!("wh-paid-{id}"),
        )
        .await;
        deliver(
            t,
            "orders/fulfilled",
            &order(id, customer, email, "2026-11-22T08:00:00Z", true),
            &format!("wh-ful-{id}"),
        )
        .await;
    }
    let d = t.dispatcher("2026-11-22T09:00:30Z", None).await;
    assert_eq!(run_dispatch(&d).await["sent"], 6);
    let all = t.followups().await;
    let sent_at = time("2026-11-22T09:00:30Z");
    for (i, (id, _, email)) in CUSTOMERS.iter().enumerate() {
        let f = find(&all, &format!("thank_you#{id}#0"));
        if i < 5 {
            apply(
                t,
                ses_event(
                    aftercart::wire::ses::fixtures::SNS_DELIVERY,
                    f,
                    email,
                    sent_at + Duration::seconds(2),
                ),
            )
            .await;
        }
        if i < 3 {
            apply(
                t,
                ses_event(
                    aftercart::wire::ses::fixtures::SNS_OPEN,
                    f,
                    email,
                    sent_at + Duration::minutes(10),
                ),
            )
            .await;
        }
        if i == 0 {
            // A second open of the same email counts once.
            apply(
                t,
                ses_event(
                    aftercart::wire::ses::fixtures::SNS_OPEN,
                    f,
                    email,
                    sent_at + Duration::hours(3),
                ),
            )
            .await;
        }
        if i == 4 {
            apply(
                t,
                ses_event(
                    aftercart::wire::ses::fixtures::SNS_COMPLAINT,
                    f,
                    email,
                    sent_at + Duration::hours(5),
                ),
            )
            .await;
        }
        if i == 5 {
            apply(
                t,
                ses_event(
                    aftercart::wire::ses::fixtures::SNS_BOUNCE_PERMANENT,
                    f,
                    email,
                    sent_at + Duration::seconds(3),
                ),
            )
            .await;
        }
    }

    let due = time(&find(&all, "satisfaction#5601#0").due_at) + Duration::hours(1);
    let d = t.dispatcher(&due.to_rfc3339(), None).await;
    let summary = run_dispatch(&d).await;
    assert_eq!(
        (summary["sent"].clone(), summary["cancelled"].clone()),
        (json!(4), json!(2)),
        "{summary}"
    );
    let checks: Vec<OutgoingEmail> = d
        .mailer
        .sent
        .lock()
        .unwrap()
        .iter()
        .filter(|e| {
            e.tags
                .iter()
                .any(|(k, v)| *k == "playbook" && v == "satisfaction")
        })
        .cloned()
        .collect();
    let all = t.followups().await;
    for (id, _, email) in &CUSTOMERS[..4] {
        let f = find(&all, &format!("satisfaction#{id}#0"));
        apply(
            t,
            ses_event(
                aftercart::wire::ses::fixtures::SNS_DELIVERY,
                f,
                email,
                due + Duration::seconds(2),
            ),
        )
        .await;
    }
    let to = |who: &str| {
        checks
            .iter()
            .find(|e| e.to == who)
            .expect("check sent")
            .clone()
    };
    let rated_at = due + Duration::days(1);
    rate(
        t,
        rated_at,
        &to("ann@example.com"),
        5,
        Some("Lovely, thank you"),
    )
    .await;
    rate(
        t,
        rated_at,
        &to("ben@example.com"),
        2,
        Some("The lid broke"),
    )
    .await;
    rate(t, rated_at, &to("cat@example.com"), 4, None).await;
    // The dispatcher settles them after the comment wait.
    let settle = t
        .dispatcher(&(rated_at + Duration::minutes(15)).to_rfc3339(), None)
        .await;
    let summary = run_dispatch(&settle).await;
    assert_eq!(summary["ratings"]["settled"], 3, "{summary}");

    // Ann orders again two days after her rating click: credited to her check.
    let again = (rated_at + Duration::days(2)).to_rfc3339();
    deliver(
        t,
        "orders/paid",
        &order(5611, 91, "ann@example.com", &again, false),
        "wh-paid-5611",
    )
    .await;
    let refund = serde_json::to_vec(&{
        let mut r: Value = serde_json::from_slice(fixtures::REFUND).unwrap();
        r["order_id"] = 5611.into();
        r["id"] = 7611.into();
        r["created_at"] = (rated_at + Duration::days(3)).to_rfc3339().into();
        r["refund_line_items"] = json!([{"line_item_id": 466157049, "quantity": 1}]);
        r
    })
    .unwrap();
    deliver(t, "refunds/create", &refund, "wh-refund-5611").await;
    due
}

#[tokio::test]
async fn every_number_of_a_simulated_month_is_what_was_planted() {
    let t = TestApp::spawn().await;
    plant_month(&t).await;
    let credited = find(&t.followups().await, "satisfaction#5601#0").clone();
    assert_eq!(
        credited.tracking.attributed_order_id,
        Some(5611),
        "{credited:?}"
    );

    let r = month_report(&t).await;
    let pb = |name: &str| {
        r.playbooks
            .iter()
            .find(|p| p.playbook == name)
            .unwrap_or_else(|| panic!("no {name} row: {:?}", r.playbooks))
            .current
            .clone()
    };
    let thanks = pb("thank_you");
    assert_eq!(
        (
            thanks.planned,
            thanks.sent,
            thanks.delivered,
            thanks.opened,
            thanks.bounced,
            thanks.complained
        ),
        (7, 6, 5, 3, 1, 1),
        "{thanks:?}"
    );
    let checks = pb("satisfaction");
    assert_eq!(
        (checks.planned, checks.sent, checks.delivered),
        (6, 4, 4),
        "{checks:?}"
    );
    assert_eq!(checks.not_sent["suppressed"], 2);
    assert_eq!(checks.clicked, 3, "three people clicked a rating link");
    assert_eq!(checks.ordered, 1);
    assert_eq!(checks.money.len(), 1);
    let money = &checks.money[0];
    assert_eq!(
        (
            money.currency.as_str(),
            money.revenue.as_str(),
            money.refunded.as_str(),
            money.net.as_str()
        ),
        ("USD", "409.94", "199.00", "210.94")
    );
    assert_eq!(pb("satisfaction_reminder").planned, 4);
    assert_eq!(pb("recovery").planned, 1, "the 2 plans the apology");
    assert_eq!(r.total.sent, 10);
    assert_eq!(r.voice.scores, [0, 1, 0, 1, 1]);
    assert_eq!((r.voice.responses, r.voice.asked), (3, 4));
    assert_eq!(r.voice.csat, Some(2.0 / 3.0));
    assert_eq!(r.comments_total, 2);
    let comments: Vec<(Option<u8>, &str, Option<&str>)> = r
        .comments
        .iter()
        .map(|c| (c.score, c.comment.as_str(), c.order_name.as_deref()))
        .collect();
    assert_eq!(
        comments,
        vec![
            (Some(2), "The lid broke", Some("#5602")),
            (Some(5), "Lovely, thank you", Some("#5601"))
        ]
    );
    assert_eq!(
        r.comments[0].admin_url,
        format!("https://{SHOP}/admin/orders/5602")
    );
    let product = r
        .products
        .iter()
        .find(|p| p.product_id == 632910392)
        .expect("product row");
    assert_eq!((product.ratings, product.average), (3, Some(11.0 / 3.0)));
    assert_eq!(
        (r.deliverability.bounced, r.deliverability.complained),
        (1, 1)
    );
    assert_eq!(r.deliverability.suppressions_added, 2);
    assert!(
        r.deliverability
            .warnings
            .iter()
            .any(|w| w.contains("Complaint rate")),
        "{:?}",
        r.deliverability.warnings
    );

    // The follow-up lookup, by name: every follow-up of order #5602 with its events.
    let lookup = aftercart::apps::report::lookup(&store(&t), SHOP, "#5602")
        .await
        .expect("lookup")
        .expect("order found");
    let rows: Vec<(&str, &str)> = lookup
        .followups
        .iter()
        .map(|f| (f.playbook.as_str(), f.status.as_str()))
        .collect();
    assert!(rows.contains(&("thank_you", "sent")), "{rows:?}");
    assert!(rows.contains(&("satisfaction", "sent")), "{rows:?}");
    let check = lookup
        .followups
        .iter()
        .find(|f| f.playbook == "satisfaction")
        .unwrap();
    assert_eq!(
        (check.score, check.comment.as_deref()),
        (Some(2), Some("The lid broke"))
    );
    assert!(check.events.iter().any(|(what, _)| what == "delivered"));
    assert!(aftercart::apps::report::lookup(&store(&t), SHOP, "#9999")
        .await
        .unwrap()
        .is_none());
    assert!(aftercart::apps::report::lookup(&store(&t), SHOP, "5602")
        .await
        .unwrap()
        .is_some());
}

#[tokio::test]
async fn only_the_shops_report_token_opens_the_page_and_it_shows_the_counts() {
    let t = TestApp::spawn().await;
    plant_month(&t).await;
    let links = t.links("2026-12-31T12:00:00Z").await;
    let keys = aftercart::model::tokens::LinkKeys::parse(LINK_KEYS).unwrap();
    let builder = aftercart::model::tokens::LinkBuilder {
        base_url: "https://links.example.test".into(),
        keys,
        ttl_days: 60,
    };
    let now = time("2026-12-31T12:00:00Z").timestamp();
    let url = builder.report_url(SHOP, now, 14);
    let page = click(&links, "GET", &format!("{url}&days=90"), None).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    assert_eq!(page.headers["referrer-policy"], "no-referrer");
    assert!(!page.body.contains("<script"));
    for (figure, value) in [
        ("total.sent", "10"),
        ("playbook.thank_you.opened", "3"),
        ("voice.responses", "3"),
    ] {
        assert!(
            page.body
                .contains(&format!("data-figure=\"{figure}\">{value}<")),
            "{figure} = {value} not on the page"
        );
    }
    // The lookup form's answer, on the same page.
    let page = click(&links, "GET", &format!("{url}&order=%235602"), None).await;
    assert!(page.body.contains("The lid broke"), "{}", page.body);

    // Refused, with the friendly page and nothing of the report: no token, a
    // customer's token, an expired report token, a token of another key.
    let customer = builder.reorder_url(SHOP, "91", "thank_you#5601#0", now);
    let customer_token = customer.split("t=").nth(1).unwrap();
    let expired = builder.report_url(SHOP, now - 30 * 86_400, 14);
    let forged = aftercart::model::tokens::LinkBuilder {
        keys: aftercart::model::tokens::LinkKeys::parse("1:another-key-another-key-another-key-42")
            .unwrap(),
        ..builder.clone()
    }
    .report_url(SHOP, now, 14);
    for (what, url, status) in [
        (
            "no token",
            "https://links.example.test/report".to_owned(),
            400,
        ),
        (
            "customer token",
            format!("https://links.example.test/report?t={customer_token}"),
            403,
        ),
        ("expired", expired, 410),
        ("forged", forged, 403),
    ] {
        let page = click(&links, "GET", &url, None).await;
        assert_eq!(page.status, status, "{what}: {}", page.body);
        // `AFTERCART_PAGES_DIR=…` keeps the refusal pages, to look at in a browser.
        if let Ok(dir) = std::env::var("AFTERCART_PAGES_DIR") {
            let name = format!("{dir}/report-refused-{}.html", what.replace(' ', "-"));
            std::fs::write(name, &page.body).expect("page written");
        }
        assert!(!page.body.contains("data-figure"), "{what} shows figures");
        assert!(!page.body.contains("lid broke"), "{what} shows a comment");
    }
    // Another shop's token (a shop this deployment does not serve) shows nothing.
    let other = builder.report_url("other-shop.myshopify.com", now, 14);
    let page = click(&links, "GET", &other, None).await;
    assert_eq!(page.status, 410, "{}", page.body);
    assert!(!page.body.contains("data-figure"));
    // POST is not a way in either.
    assert_eq!(click(&links, "POST", &url, None).await.status, 405);
}

#[tokio::test]
async fn two_dispatchers_at_once_send_one_weekly_digest() {
    let config = config_with(
        "",
        "alert_email = \"owner@aftercart-demo.example\"\n\
         [shop.report]\ndigest = true\ndigest_day = \"monday\"\ndigest_hour = 9\n",
    );
    let t = TestApp::spawn_configured(config).await;
    // Nothing in the last two weeks: marked, not mailed.
    let quiet = t.dispatcher("2026-11-16T10:00:00Z", None).await;
    assert_eq!(run_dispatch(&quiet).await["digests"]["quiet"], 1);
    for (id, customer, email) in &CUSTOMERS[..2] {
        deliver(
            &t,
            "orders/paid",
            &order(*id, *customer, email, "2026-11-22T08:00:00Z", false),
            &format!("wh-paid-{id}"),
        )
        .await;
    }
    // Sunday 22nd: the week of the 16th is done already; the thank-yous go.
    let sunday = t.dispatcher("2026-11-22T09:00:30Z", None).await;
    let summary = run_dispatch(&sunday).await;
    assert_eq!(
        (summary["sent"].clone(), summary["digests"]["sent"].clone()),
        (json!(2), json!(0)),
        "{summary}"
    );

    // Monday 23rd 9:05, two dispatchers at once: one digest between them.
    let (a, b) = (
        t.dispatcher("2026-11-23T09:05:00Z", None).await,
        t.dispatcher("2026-11-23T09:05:00Z", None).await,
    );
    let (ra, rb) = tokio::join!(run_dispatch(&a), run_dispatch(&b));
    let sent = ra["digests"]["sent"].as_u64().unwrap() + rb["digests"]["sent"].as_u64().unwrap();
    assert_eq!(sent, 1, "{ra} {rb}");
    let digests: Vec<OutgoingEmail> = [&a, &b]
        .iter()
        .flat_map(|d| d.mailer.sent.lock().unwrap().clone())
        .filter(|e| {
            e.tags
                .iter()
                .any(|(k, v)| *k == "kind" && v == "weekly_digest")
        })
        .collect();
    assert_eq!(digests.len(), 1);
    let message = mail_parser::MessageParser::default()
        .parse(&digests[0].raw)
        .unwrap();
    let html = message.body_html(0).expect("an HTML part").into_owned();
    assert!(!html.contains("<svg"), "no SVG in email");
    assert!(
        html.contains("https://links.example.test/report?t="),
        "the report link"
    );
    assert!(
        message.subject().unwrap_or_default().contains("2 sent"),
        "{:?}",
        message.subject()
    );
    // Later that week: nothing more.
    let later = t.dispatcher("2026-11-26T12:00:00Z", None).await;
    assert_eq!(run_dispatch(&later).await["digests"]["sent"], 0);
}

#[tokio::test]
async fn an_erased_customer_leaves_only_anonymous_counts_in_the_report() {
    let t = TestApp::spawn().await;
    plant_month(&t).await;
    // Ben (customer 92, order #5602) commented "The lid broke"; he asks to be erased.
    let redact = serde_json::to_vec(&json!({
        "shop_id": 954889,
        "shop_domain": SHOP,
        "customer": { "id": 92, "email": "ben@example.com", "phone": null },
        "orders_to_redact": [5602],
    }))
    .unwrap();
    deliver(&t, "customers/redact", &redact, "wh-redact-ben").await;
    run_dispatch(&t.dispatcher("2026-12-31T10:00:00Z", None).await).await;

    let r = month_report(&t).await;
    let comments: Vec<&str> = r.comments.iter().map(|c| c.comment.as_str()).collect();
    assert_eq!(comments, vec!["Lovely, thank you"], "his comment is gone");
    assert_eq!(r.comments_total, 1);
    // The counts stay: they name no one.
    assert_eq!(r.voice.scores, [0, 1, 0, 1, 1]);
    assert_eq!(r.voice.responses, 3);
    assert!(aftercart::apps::report::lookup(&store(&t), SHOP, "#5602")
        .await
        .unwrap()
        .is_none());
    let anywhere = t.scan().await.iter().any(|i| {
        format!("{i:?}").contains("lid broke") || format!("{i:?}").contains("ben@example.com")
    });
    assert!(
        !anywhere,
        "nothing in the table names him or holds his comment"
    );
}
