//! Ratings that only people make, end to end over the in-memory ports: the real links
//! handler takes the clicks, the settler makes them count (or not). The same against
//! DynamoDB and SES: `tests/it/links.rs`.

use super::*;
use crate::apps::links::LinksApp;
use crate::model::time::FixedClock;
use crate::model::tokens::{LinkBuilder, LinkKeys};
use crate::model::{FeedbackState, OrderRecord, ProfileRecord};
use crate::ports::memory::{MemoryMailer, MemoryStore};
use lambda_http::{Body, Request, RequestExt};
use std::collections::HashMap;
use std::sync::Arc;

const SHOP: &str = "acme.myshopify.com";
const KEY: &str = "1:a-test-key-that-is-long-enough-0123456789";
const CUSTOMER: &str = "42";
const FOLLOWUP: &str = "satisfaction#1001#0";

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

fn config(extra: &str) -> Arc<Config> {
    Arc::new(
        Config::parse(
            &format!(
                "[[shop]]\npostal_address = \"1 Test Street, Springfield\"\ndomain = \"acme.myshopify.com\"\nname = \"Acme\"\n\
                 sender_email = \"shop@acme.example\"\nalert_email = \"owner@acme.example\"\n\
                 review_url = \"https://reviews.example.test/acme\"\n{extra}"
            ),
            "test",
        )
        .unwrap(),
    )
}

struct World {
    store: MemoryStore,
    mailer: MemoryMailer,
    clock: Arc<FixedClock>,
    config: Arc<Config>,
    links: LinksApp<MemoryStore, MemoryMailer>,
    rate: Vec<String>,
}

impl World {
    fn new(config: Arc<Config>) -> World {
        let store = MemoryStore::default();
        let mailer = MemoryMailer::default();
        let clock = Arc::new(FixedClock::new(at("2026-12-06T10:00:00Z")));
        store.put_order(
            SHOP,
            OrderRecord {
                v: 1,
                order_id: 1001,
                name: Some("#1001".into()),
                ..OrderRecord::default()
            },
        );
        store.put_profile(
            SHOP,
            ProfileRecord {
                v: 1,
                customer_key: CUSTOMER.into(),
                email: Some("rita@example.com".into()),
                ..ProfileRecord::default()
            },
        );
        let mut f = FollowUpRecord::pending(
            SHOP,
            CUSTOMER,
            Playbook::Satisfaction,
            1001,
            None,
            "2026-12-05T10:00:00.000Z",
            "2026-11-22T10:00:00.000Z",
            config.dispatch.shards,
        );
        f.status = FollowUpStatus::Sent;
        f.unindex();
        store.put_followup(f);
        let keys = LinkKeys::parse(KEY).unwrap();
        let builder = LinkBuilder {
            base_url: "https://links.example.test".into(),
            keys: keys.clone(),
            ttl_days: 60,
        };
        let rate = builder.rating_urls(SHOP, CUSTOMER, FOLLOWUP, clock.now().timestamp());
        let links = LinksApp {
            config: config.clone(),
            keys,
            store: store.clone(),
            mailer: mailer.clone(),
            clock: clock.clone(),
        };
        World {
            store,
            mailer,
            clock,
            config,
            links,
            rate,
        }
    }

    fn set(&self, time: &str) {
        self.clock.set(at(time));
    }

    /// Opens rating link `score` (1–5) as a browser or scanner would; the page.
    async fn click(&self, score: usize, form: Option<&str>) -> (u16, String) {
        self.open(&self.rate[score - 1].clone(), form).await
    }

    async fn settle(&self) -> Settled {
        Settler {
            config: &self.config,
            store: &self.store,
            mailer: &self.mailer,
            clock: &*self.clock,
        }
        .settle_due(Instant::now() + std::time::Duration::from_secs(30))
        .await
        .unwrap()
    }

    fn item(&self) -> FeedbackRecord {
        let items = self.store.feedback();
        assert_eq!(items.len(), 1, "one feedback item per follow-up");
        items[0].clone()
    }

    fn satisfaction(&self) -> FollowUpRecord {
        self.store.followup(FOLLOWUP)
    }

    fn recovery(&self) -> Option<FollowUpRecord> {
        self.store
            .followups()
            .into_iter()
            .find(|f| f.playbook == Playbook::Recovery)
    }

    fn notices(&self) -> Vec<String> {
        self.mailer
            .sent()
            .iter()
            .map(|e| String::from_utf8_lossy(&e.raw).into_owned())
            .collect()
    }
}

#[tokio::test]
async fn a_scanner_fetching_all_five_links_within_a_second_rates_nothing_and_alerts_no_one() {
    let w = World::new(config(""));
    for (i, ms) in [100, 300, 500, 700, 900].into_iter().enumerate() {
        w.set(&format!("2026-12-06T10:00:00.{ms}Z"));
        let (status, _) = w.click(i + 1, None).await;
        assert_eq!(status, 200, "the scanner sees an ordinary page");
    }
    assert!(!w.item().counts());
    // Well past the wait, the dispatcher settles it: nothing takes effect.
    w.set("2026-12-06T10:30:00Z");
    let settled = w.settle().await;
    assert_eq!(
        (settled.scanner_bursts, settled.ratings, settled.notices),
        (1, 0, 0)
    );
    assert_eq!(w.item().state, FeedbackState::Scanner);
    assert!(w.mailer.sent().is_empty(), "no alert");
    assert!(w.recovery().is_none(), "no apology planned");
    assert_eq!(w.satisfaction().tracking.clicks, 0, "no click counted");
    assert_eq!(w.settle().await, Settled::default(), "settled once");
}

#[tokio::test]
async fn a_persons_click_and_comment_are_one_rating_and_one_notice_with_reply_to() {
    let w = World::new(config(""));
    let (status, page) = w.click(2, None).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("We&#39;ll let the Acme team know")
            || page.contains("We'll let the Acme team know"),
        "{page}"
    );
    // Before the wait ends nothing has gone out: the alert waits for a comment.
    w.set("2026-12-06T10:05:00Z");
    assert_eq!(w.settle().await, Settled::default());
    let (status, page) = w.click(2, Some("comment=It+arrived+broken")).await;
    assert_eq!(status, 200);
    assert!(page.contains("on its way to the Acme team"), "{page}");
    // The next run sends one mail with both.
    w.set("2026-12-06T10:06:00Z");
    let settled = w.settle().await;
    assert_eq!((settled.ratings, settled.notices), (1, 1));
    let notices = w.notices();
    assert_eq!(notices.len(), 1);
    let n = &notices[0];
    assert!(
        n.contains("Low rating with a comment: 2/5 for order #1001"),
        "{n}"
    );
    assert!(
        n.contains("It arrived broken") && n.contains("/admin/orders/1001"),
        "{n}"
    );
    assert!(
        n.contains("Reply-To: rita@example.com") || n.contains("Reply-To: <rita@example.com>"),
        "{n}"
    );
    assert_eq!(w.mailer.sent()[0].to, "owner@acme.example");
    let item = w.item();
    assert_eq!((item.state, item.score), (FeedbackState::Rated, 2));
    assert_eq!(
        w.satisfaction().tracking.clicks,
        1,
        "the click counted once"
    );
    let recovery = w.recovery().expect("apology planned");
    assert_eq!(
        recovery.due_at, "2026-12-06T12:00:00.000Z",
        "from the click"
    );
    // The item's wait ends later: nothing more.
    w.set("2026-12-06T11:00:00Z");
    assert_eq!(w.settle().await, Settled::default());
    // Editing the comment is kept but not sent again.
    w.click(2, Some("comment=Broken+lid")).await;
    w.set("2026-12-06T11:01:00Z");
    let again = w.settle().await;
    assert_eq!((again.ratings, again.notices), (1, 0));
    assert_eq!(w.item().comment.as_deref(), Some("Broken lid"));
    assert_eq!(w.notices().len(), 1, "told once per feedback item");
}

#[tokio::test]
async fn a_low_score_without_a_comment_alerts_after_the_wait_and_a_later_comment_follows() {
    let w = World::new(config(""));
    w.click(1, None).await;
    w.set("2026-12-06T10:10:30Z");
    let settled = w.settle().await;
    assert_eq!((settled.ratings, settled.notices), (1, 1));
    assert!(w.notices()[0].contains("Low rating: 1/5 for order #1001"));
    assert!(w.notices()[0].contains("have not written a comment"));
    w.set("2026-12-06T14:00:00Z");
    w.click(1, Some("comment=Late+but+angry")).await;
    w.settle().await;
    let notices = w.notices();
    assert_eq!(notices.len(), 2, "the comment follows on its own");
    assert!(notices[1].contains("A customer's comment on order #1001 (1/5)"));
    assert!(notices[1].contains("Late but angry"));
}

#[tokio::test]
async fn a_high_scores_comment_reaches_the_merchant_and_a_high_rerating_calls_off_the_apology() {
    let w = World::new(config(""));
    w.click(2, None).await;
    w.set("2026-12-06T10:11:00Z");
    w.settle().await;
    assert_eq!(w.recovery().unwrap().status, FollowUpStatus::Pending);
    w.set("2026-12-06T10:40:00Z");
    w.click(5, None).await;
    w.click(5, Some("comment=Sorted+now%2C+thanks")).await;
    w.set("2026-12-06T10:41:00Z");
    let settled = w.settle().await;
    assert_eq!((settled.ratings, settled.notices), (1, 1));
    assert_eq!(w.recovery().unwrap().status, FollowUpStatus::Cancelled);
    let n = &w.notices()[1];
    assert!(
        n.contains("A customer's comment on order #1001 (5/5)"),
        "{n}"
    );
    assert_eq!(w.satisfaction().tracking.clicks, 2, "two people's clicks");
}

#[tokio::test]
async fn without_a_merchant_address_the_pages_promise_nothing_and_nothing_is_sent() {
    let config = Arc::new(
        Config::parse(
            "[[shop]]\npostal_address = \"1 Test Street, Springfield\"\ndomain = \"acme.myshopify.com\"\nsender_email = \"shop@acme.example\"\n",
            "test",
        )
        .unwrap(),
    );
    let w = World::new(config);
    let (_, page) = w.click(1, None).await;
    assert!(!page.contains("team know"), "{page}");
    let (_, page) = w.click(1, Some("comment=Hello")).await;
    assert!(page.contains("kept it with your rating"), "{page}");
    w.set("2026-12-06T10:01:00Z");
    let settled = w.settle().await;
    assert_eq!((settled.ratings, settled.notices), (1, 0));
    assert!(w.mailer.sent().is_empty());
}

/// Orders 2001.. of customers 51.., each refunded for line 1 (product 7, "Linen shirt")
/// and keeping line 2 (product 8), with their returns follow-up sent; the reason links
/// of each.
fn returns_world(orders: u64) -> (World, Vec<Vec<(crate::model::ReturnReason, String)>>) {
    use crate::model::OrderLine;
    let w = World::new(config(""));
    let builder = LinkBuilder {
        base_url: "https://links.example.test".into(),
        keys: LinkKeys::parse(KEY).unwrap(),
        ttl_days: 60,
    };
    let line = |id: u64, product: u64, title: &str| OrderLine {
        line_item_id: id,
        product_id: Some(product),
        variant_id: Some(product * 10),
        sku: None,
        title: title.into(),
        variant_title: None,
        quantity: 1,
        price: None,
    };
    let mut links = Vec::new();
    for i in 0..orders {
        let (order_id, customer) = (2001 + i, (51 + i).to_string());
        let mut o = OrderRecord {
            v: 1,
            order_id,
            name: Some(format!("#{order_id}")),
            lines: vec![line(1, 7, "Linen shirt"), line(2, 8, "Socks")],
            ..OrderRecord::default()
        };
        o.refunded.insert("1".into(), 1);
        w.store.put_order(SHOP, o);
        w.store.put_profile(
            SHOP,
            ProfileRecord {
                v: 1,
                customer_key: customer.clone(),
                email: Some(format!("c{i}@example.com")),
                ..ProfileRecord::default()
            },
        );
        let mut f = FollowUpRecord::pending(
            SHOP,
            &customer,
            Playbook::Returns,
            order_id,
            None,
            "2026-12-05T10:00:00.000Z",
            "2026-12-04T10:00:00.000Z",
            w.config.dispatch.shards,
        );
        f.status = FollowUpStatus::Sent;
        f.unindex();
        links.push(builder.reason_urls(SHOP, &customer, &f.id, w.clock.now().timestamp()));
        w.store.put_followup(f);
    }
    (w, links)
}

impl World {
    async fn open(&self, url: &str, form: Option<&str>) -> (u16, String) {
        let parsed = url::Url::parse(url).unwrap();
        let query: HashMap<String, String> = parsed.query_pairs().into_owned().collect();
        let mut builder = lambda_http::http::Request::builder()
            .method(if form.is_some() { "POST" } else { "GET" })
            .uri(parsed.as_str());
        let body = match form {
            Some(f) => {
                builder = builder.header("content-type", "application/x-www-form-urlencoded");
                Body::Text(f.to_owned())
            }
            None => Body::Empty,
        };
        let req: Request = builder
            .body(body)
            .unwrap()
            .with_query_string_parameters(query);
        let resp = self.links.handle(req).await;
        (
            resp.status().as_u16(),
            String::from_utf8_lossy(resp.body().as_ref()).into_owned(),
        )
    }
}

#[tokio::test]
async fn a_return_reason_is_one_click_stored_once_and_a_changed_mind_moves_it() {
    use crate::model::ReturnReason;
    let (w, links) = returns_world(1);
    let (status, page) = w.open(&links[0][0].1, None).await;
    assert_eq!(status, 200);
    assert!(page.contains("<strong>Too small</strong>"), "{page}");
    assert!(page.contains("action=\"reason?t="), "a comment form");
    w.set("2026-12-06T10:11:00Z");
    let settled = w.settle().await;
    assert_eq!(
        (settled.ratings, settled.notices),
        (1, 0),
        "a reason alone tells no one"
    );
    let item = w
        .store
        .feedback()
        .into_iter()
        .find(|f| f.is_return_reason())
        .unwrap();
    assert_eq!(item.return_reason(), Some(ReturnReason::SizeTooSmall));
    let tallies = w.store.tallies();
    assert_eq!(tallies.len(), 1, "only the refunded product: {tallies:?}");
    assert_eq!(
        (
            tallies[0].product_id,
            tallies[0].reason,
            tallies[0].returns.len()
        ),
        (7, Some(ReturnReason::SizeTooSmall), 1)
    );
    // A second click, another reason: one item, counted under the new reason only.
    w.set("2026-12-06T12:00:00Z");
    w.open(&links[0][3].1, None).await;
    w.set("2026-12-06T12:10:01Z");
    w.settle().await;
    let reasons: Vec<_> = w
        .store
        .feedback()
        .into_iter()
        .filter(|f| f.is_return_reason())
        .collect();
    assert_eq!(reasons.len(), 1);
    assert_eq!(reasons[0].return_reason(), Some(ReturnReason::Defective));
    let counts: Vec<_> = w
        .store
        .tallies()
        .into_iter()
        .map(|t| (t.reason, t.returns.len()))
        .collect();
    assert!(
        counts.contains(&(Some(ReturnReason::SizeTooSmall), 0)),
        "{counts:?}"
    );
    assert!(
        counts.contains(&(Some(ReturnReason::Defective), 1)),
        "{counts:?}"
    );
    // Its comment reaches the merchant, Reply-To the customer.
    let (_, page) = w
        .open(&links[0][3].1, Some("comment=Seam+came+apart"))
        .await;
    assert!(page.contains("Thanks for your comment") && page.contains("Defective or damaged"));
    w.set("2026-12-06T12:11:00Z");
    w.settle().await;
    let notices = w.notices();
    assert_eq!(notices.len(), 1);
    assert!(notices[0].contains("A customer's return reason for order #2001: Defective or damaged"));
    assert!(notices[0].contains("Seam came apart") && notices[0].contains("c0@example.com"));
}

#[tokio::test]
async fn three_returns_of_one_product_for_the_same_reason_alert_the_merchant_once() {
    let (w, links) = returns_world(4);
    for (i, order_links) in links.iter().enumerate() {
        w.set(&format!("2026-12-06T1{i}:00:00Z"));
        w.open(&order_links[0].1, None).await; // too small
        w.set(&format!("2026-12-06T1{i}:11:00Z"));
        w.settle().await;
    }
    let notices = w.notices();
    assert_eq!(notices.len(), 1, "alerted once at the third: {notices:?}");
    let n = &notices[0];
    assert!(
        n.contains("3 returns of Linen shirt in 30 days: \"Too small\""),
        "{n}"
    );
    assert!(n.contains("/admin/products/7"), "{n}");
    for order in ["2001", "2002", "2003"] {
        assert!(n.contains(&format!("/admin/orders/{order}")), "{n}");
    }
    assert!(!n.contains("@example.com"), "no customer in it");
}

#[tokio::test]
async fn a_scanner_opening_every_reason_link_gives_no_reason() {
    let (w, links) = returns_world(1);
    for (i, (_, url)) in links[0].iter().enumerate() {
        w.set(&format!("2026-12-06T10:00:00.{}Z", 100 + 100 * i));
        assert_eq!(w.open(url, None).await.0, 200);
    }
    w.set("2026-12-06T10:30:00Z");
    let settled = w.settle().await;
    assert_eq!((settled.scanner_bursts, settled.ratings), (1, 0));
    assert!(w.store.tallies().is_empty(), "nothing tallied");
}

#[tokio::test]
async fn a_comment_not_sent_as_a_form_is_refused_and_changes_nothing() {
    let w = World::new(config(""));
    for content_type in [None, Some("application/json"), Some("text/plain")] {
        let url = url::Url::parse(&w.rate[1]).unwrap();
        let query: HashMap<String, String> = url.query_pairs().into_owned().collect();
        let mut builder = lambda_http::http::Request::builder()
            .method("POST")
            .uri(url.as_str());
        if let Some(t) = content_type {
            builder = builder.header("content-type", t);
        }
        let req: Request = builder
            .body(Body::Text("comment=hello".into()))
            .unwrap()
            .with_query_string_parameters(query);
        let resp = w.links.handle(req).await;
        assert_eq!(resp.status().as_u16(), 415, "{content_type:?}");
    }
    assert!(w.store.feedback().is_empty(), "nothing stored");
    // With a charset parameter it is a form.
    let url = url::Url::parse(&w.rate[1]).unwrap();
    let query: HashMap<String, String> = url.query_pairs().into_owned().collect();
    let req: Request = lambda_http::http::Request::builder()
        .method("POST")
        .uri(url.as_str())
        .header(
            "content-type",
            "application/x-www-form-urlencoded; charset=UTF-8",
        )
        .body(Body::Text("comment=hello".into()))
        .unwrap()
        .with_query_string_parameters(query);
    assert_eq!(w.links.handle(req).await.status().as_u16(), 200);
}
