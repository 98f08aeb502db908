//! The report page's function time for a shop with 100,000 follow-ups in the period,
//! against moto (`make bench` starts it): what the links function does for
//! `GET /report` — the stats query of both periods, the comments query, the figures
//! and the HTML — timed over 7 runs after one warm-up.
//!
//! The table holds what such a month leaves: 3,334 follow-ups a day over 30 days and
//! as many in the 30 days before, as stats items per day and playbook and per day for
//! the shop, per week and product (100 products, each rated every week); and 1,800
//! settled comments (the page lists 200). Written with BatchWriteItem (what the counters would hold),
//! since 100,000 deliveries through moto would take an hour.
//!
//! Run with `make bench` or, with moto on port 5006,
//! `AFTERCART_TEST_ENDPOINT=http://127.0.0.1:5006 cargo bench -p aftercart-integration --bench report`.

use aftercart::adapters::dynamo::report::stats_key;
use aftercart::adapters::dynamo::{table, DynamoStore};
use aftercart::model::report::Scope;
use aftercart::model::FeedbackRecord;
use aftercart_integration::{client_for, config, endpoint, SHOP};
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use chrono::{Datelike, Duration, NaiveDate, Utc};
use std::collections::HashMap;
use std::time::Instant;

const DAYS: i64 = 60;
const PER_DAY: u64 = 3_334;
const PRODUCTS: u64 = 100;
const COMMENTS: usize = 1_800;
const RUNS: usize = 7;

type Item = HashMap<String, AttributeValue>;

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn stats_item(day: &str, scope: &str, counts: &[(&str, u64)]) -> Item {
    let mut item: Item = [
        ("pk", AttributeValue::S(format!("SHOP#{SHOP}#STATS"))),
        (
            "sk",
            AttributeValue::S(stats_key(SHOP, day, &Scope::parse(scope).expect("scope")).sk),
        ),
        ("entity", AttributeValue::S("stats".into())),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    // As the counters leave them: only numbers that were added.
    for (k, v) in counts.iter().filter(|(_, v)| *v > 0) {
        item.insert((*k).to_owned(), n(*v));
    }
    item
}

/// One day's items: the follow-ups split over the playbooks as a busy shop's are.
fn day_items(day: &str) -> Vec<Item> {
    let split = [
        ("thank_you", 40),
        ("satisfaction", 25),
        ("replenishment", 15),
        ("loyalty", 8),
        ("returns", 4),
        ("recovery", 2),
        ("satisfaction_reminder", 6),
    ];
    let mut items = Vec::new();
    for (playbook, share) in split {
        let sent = PER_DAY * share / 100;
        items.push(stats_item(
            day,
            &format!("playbook#{playbook}"),
            &[
                ("planned", sent + sent / 10),
                ("sent", sent),
                ("delivered", sent * 98 / 100),
                ("opened", sent * 6 / 10),
                ("clicked", sent / 5),
                ("ordered", sent / 20),
                ("revenue_USD", sent * 3),
                ("not_sent_no_consent", sent / 20),
                ("bounced", sent / 100),
                (
                    "score_5",
                    if playbook == "satisfaction" {
                        sent / 8
                    } else {
                        0
                    },
                ),
                (
                    "score_4",
                    if playbook == "satisfaction" {
                        sent / 12
                    } else {
                        0
                    },
                ),
                (
                    "score_2",
                    if playbook == "satisfaction" {
                        sent / 40
                    } else {
                        0
                    },
                ),
                ("comments", if playbook == "satisfaction" { 30 } else { 0 }),
            ],
        ));
    }
    items.push(stats_item(
        day,
        "shop",
        &[("unsubscribed", 4), ("suppressed", 6)],
    ));
    items
}

fn comment_item(i: usize, at: &str) -> Item {
    let customer = format!("{}", 100_000 + i);
    let followup = format!("satisfaction#{}#0", 500_000 + i);
    let mut f = FeedbackRecord {
        v: 2,
        shop: SHOP.into(),
        customer_key: customer,
        followup,
        order_id: 500_000 + i as u64,
        score: (i % 5) as u8 + 1,
        comment: Some(format!(
            "Comment number {i}: the tea was fine, the box was dented."
        )),
        first_at: at.into(),
        updated_at: at.into(),
        submissions: 1,
        order_name: Some(format!("#{}", 50_000 + i)),
        ..FeedbackRecord::default()
    };
    f.index_voice();
    let key = f.key();
    let mut item: Item = serde_dynamo::to_item(&f).expect("feedback serializes");
    item.insert("pk".into(), AttributeValue::S(key.pk));
    item.insert("sk".into(), AttributeValue::S(key.sk));
    item.insert("entity".into(), AttributeValue::S("feedback".into()));
    item
}

async fn put_all(client: &aws_sdk_dynamodb::Client, table: &str, items: Vec<Item>) {
    for chunk in items.chunks(25) {
        let mut pending: Vec<WriteRequest> = chunk
            .iter()
            .map(|i| {
                WriteRequest::builder()
                    .put_request(
                        PutRequest::builder()
                            .set_item(Some(i.clone()))
                            .build()
                            .expect("put"),
                    )
                    .build()
            })
            .collect();
        while !pending.is_empty() {
            let out = client
                .batch_write_item()
                .request_items(table, pending)
                .send()
                .await
                .expect("batch write on moto");
            pending = out
                .unprocessed_items()
                .and_then(|u| u.get(table).cloned())
                .unwrap_or_default();
        }
    }
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let client = client_for(&endpoint()).await;
    let table_name = format!("bench-report-{:08x}", fastrand::u32(..));
    table::create_table(&client, &table_name)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "no moto at {} ({e}): run `make bench`, which starts it",
                endpoint()
            )
        });
    let to = NaiveDate::from_ymd_opt(2026, 11, 30).expect("date");
    let seeded = Instant::now();
    let mut items = Vec::new();
    for d in 0..DAYS {
        let day = to - Duration::days(d);
        items.extend(day_items(&day.to_string()));
        // Products are counted per ISO week, on its Monday's item.
        if day.weekday() == chrono::Weekday::Mon {
            for product in 0..PRODUCTS {
                items.push(stats_item(
                    &day.to_string(),
                    &format!("product#{}", 9_000_000 + product),
                    &[
                        ("score_5", 14),
                        ("score_4", 7),
                        ("reason_defective", product % 3),
                    ],
                ));
            }
        }
    }
    let stats_items = items.len();
    for i in 0..COMMENTS {
        let day = to - Duration::days((i % 30) as i64);
        items.push(comment_item(i, &format!("{day}T{:02}:00:00.000Z", i % 24)));
    }
    put_all(&client, &table_name, items).await;
    println!(
        "report bench: seeded {stats_items} stats items ({} follow-ups over {DAYS} days, {PRODUCTS} products) and {COMMENTS} comments in {:.1} s",
        PER_DAY * DAYS as u64,
        seeded.elapsed().as_secs_f64()
    );

    // Moto answers a query of a few thousand items in seconds (DynamoDB in tens of
    // milliseconds), past the links function's own 3 s budget: the bench waits.
    let shared = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(
            aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "bench"),
        ))
        .build();
    let links_client = aftercart::adapters::dynamo::dynamo_client_with(
        &shared,
        aftercart::adapters::dynamo::Budget::Background,
    );
    drop(client);
    let store = DynamoStore::new(
        links_client,
        table_name,
        std::time::Duration::from_secs(86_400),
    );
    let config = config();
    let shop = config.shop(SHOP).expect("shop");
    // Each read alone, once, for the breakdown.
    {
        use aftercart::ports::report::ReportStore;
        let t = Instant::now();
        let days = store
            .stats(SHOP, "2026-10-02", "2026-11-30", false)
            .await
            .expect("stats");
        let (d_ms, t) = (ms(t.elapsed()), Instant::now());
        let products = store
            .stats(SHOP, "2026-10-26", "2026-11-30", true)
            .await
            .expect("stats");
        let (p_ms, t) = (ms(t.elapsed()), Instant::now());
        let (comments, _) = store
            .comments(SHOP, "2026-11-01", "2026-11-30T23:59:59.999Z", 200)
            .await
            .expect("comments");
        println!(
            "report bench: reads alone: {} day items {d_ms:.0} ms, {} product items {p_ms:.0} ms, {} comments {:.0} ms",
            days.len(),
            products.len(),
            comments.len(),
            ms(t.elapsed())
        );
    }
    let mut totals = Vec::new();
    let mut computes = Vec::new();
    let mut renders = Vec::new();
    let mut html_len = 0;
    let mut planned = 0;
    for run in 0..=RUNS {
        let start = Instant::now();
        let report = aftercart::apps::report::compute_listing(
            &store,
            shop,
            to,
            30,
            Utc::now(),
            aftercart::model::report::Report::PAGE_COMMENTS,
        )
        .await
        .expect("report");
        let computed = start.elapsed();
        let html = aftercart::email::report::render_page(&report, &Default::default())
            .expect("page renders");
        let total = start.elapsed();
        html_len = html.len();
        if run == 0 {
            assert!(
                report.total.planned >= 100_000,
                "planned {}",
                report.total.planned
            );
            planned = report.total.planned;
            assert_eq!(
                report.comments.len(),
                aftercart::model::report::Report::PAGE_COMMENTS
            );
            assert_eq!(report.products.len(), PRODUCTS as usize);
            continue; // warm-up
        }
        computes.push(computed);
        renders.push(total - computed);
        totals.push(total);
    }
    for v in [&mut totals, &mut computes, &mut renders] {
        v.sort();
    }
    let median = |v: &[std::time::Duration]| ms(v[v.len() / 2]);
    println!(
        "report bench: {planned} follow-ups planned in the period: page in {:.0} ms median (min {:.0}, max {:.0}) over {RUNS} runs: reads and figures (4 queries at once, paged) {:.0} ms, HTML {:.1} ms; page {} KB",
        median(&totals),
        ms(totals[0]),
        ms(totals[totals.len() - 1]),
        median(&computes),
        median(&renders),
        html_len / 1024
    );
}
