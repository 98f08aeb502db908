//! What one order's whole life costs in DynamoDB, counted call by call through a
//! metering proxy in front of moto ([`aftercart_integration::meter`]), and what 10,000
//! such orders cost at the published prices in `tools/prices.toml`.
//!
//! The life, through the real handlers and SDK clients: `orders/paid`,
//! `orders/fulfilled` and the carrier's `delivered` event reach the webhook, which hands
//! them to the ingest queue, and the ingest consumer records them in its batches; the
//! dispatcher sends the thank-you, the satisfaction check and the replenishment
//! reminder, and calls off the satisfaction check's reminder, each on its own run at its
//! time (the called-off reminder is part of the life, not of the cost per sent email);
//! SES reports each email's delivery, open and click to `mail-events` as its queue hands
//! them over: the first customer's one an invocation, the others' in batches of one
//! playbook's events of one kind. The life is printed at each of the two costs per
//! event, and its write units split by the kind of item written (own units, the
//! transactions' second unit, the `due` index). Beside it, not part of the life: the
//! same `orders/paid` delivered again (Shopify's retry), a tracking event before
//! delivery, and an order of 250 lines.
//!
//! Run with `make bench` or, with moto on port 5006,
//! `AFTERCART_TEST_ENDPOINT=http://127.0.0.1:5006 cargo bench -p aftercart-integration --bench cost`.

use aftercart::adapters::dynamo::DynamoStore;
use aftercart::apps::mail_events::MailEventsApp;
use aftercart::domain::mail_events::RECEIPT_TTL;
use aftercart::model::time::FixedClock;
use aftercart::model::{FollowUpRecord, FollowUpStatus};
use aftercart::wire::ses::fixtures as ses;
use aftercart::wire::shopify::fixtures;
use aftercart_integration::meter::{Meter, Units, Usage, WriteShare};
use aftercart_integration::*;
use serde_json::Value;
use std::sync::Arc;

const PRICES: &str = include_str!("../../tools/prices.toml");
const ORDERS: f64 = 10_000.0;
/// Orders of as many customers going through their lives side by side, so each
/// dispatcher run sends several emails, as a shop's runs do.
const CUSTOMERS: u64 = 10;

#[derive(serde::Deserialize)]
struct Prices {
    region: String,
    dynamodb_write_request_unit: f64,
    dynamodb_read_request_unit: f64,
    ses_email: f64,
    lambda_request: f64,
}

fn email(i: u64) -> String {
    format!("customer{i}@example.com")
}

/// Customer `i`'s order (the sample order), paid at 08:00 by a customer who accepts
/// marketing (so the replenishment reminder is planned); `fulfilled` as shipped at
/// 08:30; with `lines` generated lines instead of the sample's when not 0.
fn order(i: u64, fulfilled: bool, lines: usize) -> Vec<u8> {
    paid_order(
        450_789_469 + i,
        207_119_551 + i,
        &email(i),
        fulfilled,
        |o| {
            o["name"] = format!("#{}", 1001 + i).into();
            o["buyer_accepts_marketing"] = true.into();
            if lines > 0 {
                let line = o["line_items"][0].clone();
                o["line_items"] = (0..lines)
                    .map(|i| {
                        let mut l = line.clone();
                        l["id"] = (13_000_000_000_000_u64 + i as u64).into();
                        l["variant_id"] = (42_000_000_000_000_u64 + i as u64).into();
                        l["title"] = format!("Organic Cotton Tee {i}").into();
                        l["sku"] = format!("OCT-{i:04}-GRN-M").into();
                        l
                    })
                    .collect();
            }
        },
    )
}

/// The carrier's delivered event for customer `i`'s order, on the 25th.
fn delivered(i: u64) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(fixtures::FULFILLMENT_DELIVERED).expect("fixture");
    v["id"] = (12_584_341_209_252 + i).into();
    v["order_id"] = (450_789_469 + i).into();
    v["happened_at"] = "2026-11-25T14:02:00-05:00".into();
    v["created_at"] = "2026-11-25T14:05:00-05:00".into();
    v["updated_at"] = "2026-11-25T14:05:00-05:00".into();
    serde_json::to_vec(&v).expect("JSON")
}

/// Customer `i`'s body of one topic.
type Body = fn(u64) -> Vec<u8>;

struct Row {
    what: String,
    usage: Usage,
    /// How many of what the row is about (emails, events) its usage covers.
    count: u64,
}

impl Row {
    fn print(&self) {
        if std::env::var_os("METER_LOG").is_some() {
            println!("  -- {}", self.what);
            for line in &self.usage.log {
                println!("     {line}");
            }
        }
        let t = self.usage.total();
        let per = t.per(self.count);
        let per_calls = t.calls as f64 / self.count.max(1) as f64;
        println!(
            "  {:<58} {:>6.1} {:>7.1} {:>7.1}   {}",
            self.what,
            per_calls,
            per.wru,
            per.rru,
            self.usage.calls_line()
        );
    }
}

async fn followups(t: &TestApp) -> Vec<FollowUpRecord> {
    scan_table(&client_for(&endpoint()).await, &t.table)
        .await
        .into_iter()
        .filter(|i| s(i, "entity") == "followup")
        .map(|i| serde_dynamo::from_item(i).expect("follow-up decodes"))
        .collect()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let prices: Prices = toml::from_str(PRICES).expect("tools/prices.toml");
    let meter = Meter::start().await;
    // The proxy's own reads slow every call down: time is not what is measured here.
    let config = config_with(
        "[webhook]\nstore_budget_ms = 4500\n",
        "[[shop.product]]\nproduct_id = 632910392\nconsumption_days = 10\nlead_days = 2\n",
    );
    // The webhook hands deliveries to the ingest queue and the consumer records them, as
    // deployed: its calls are metered too.
    let q = queue::queues(10, 30).await;
    let mut t = TestApp::spawn_alone_via(&meter.url, config)
        .await
        .with_queue(&q.webhook);
    let ingest = t.ingest_via(&q.main, &meter.url);
    meter.take().await;
    let mut life = Vec::new();
    let mut aside = Vec::new();
    let mut invocations = 0u64;

    // The webhook: each customer's delivery of each topic, then the consumer's batches.
    let topics: [(&str, Body); 3] = [
        ("orders/paid", |i| order(i, false, 0)),
        ("orders/fulfilled", |i| order(i, true, 0)),
        ("fulfillment_events/create", delivered),
    ];
    for (topic, body) in topics {
        for i in 0..CUSTOMERS {
            let id = format!("wh-{}-{i}", topic.replace('/', "-"));
            let (status, resp) = t.post(signed(topic, &body(i), &id)).await;
            assert_eq!(status, 200, "{topic}: {resp}");
            assert_eq!(resp["status"], "queued", "{topic}: {resp}");
            invocations += 1;
        }
        let drained = queue::drain(&ingest, &q, 1, std::time::Duration::from_secs(120)).await;
        assert_eq!(
            (drained.messages, drained.failures),
            (CUSTOMERS as u32, 0),
            "{topic}: {drained:?}"
        );
        invocations += u64::from(drained.batches);
        life.push(Row {
            what: format!("webhook + ingest {topic}"),
            usage: meter.take().await,
            count: CUSTOMERS,
        });
    }
    // Beside the life, recorded inline (a retry this soon would be dropped by the
    // queue's deduplication, before any DynamoDB call): Shopify's retry of the first,
    // five minutes on.
    t.app.queue = None;
    let retry = signed_retry("orders/paid", &order(0, false, 0), "wh-orders-paid-0", 5);
    let what = "webhook orders/paid, duplicate";
    aside.push(inline(&t, &meter, what, retry, "duplicate_delivery").await);

    // The dispatcher, once at each follow-up's time, earliest first, until none is
    // pending: the thank-you, the satisfaction check, its reminder (planned by the
    // satisfaction send; called off at its time, since SES reports the deliveries only
    // after the last run) and the replenishment reminder. A run that sends is counted
    // per email it sent; one that only calls follow-ups off, per follow-up called off.
    let mut sent_rows = Vec::new();
    let mut called_off = Vec::new();
    let mut after = String::new();
    while let Some(next) = followups(&t)
        .await
        .into_iter()
        .filter(|f| f.status == FollowUpStatus::Pending && f.due_at > after)
        .min_by(|a, b| a.due_at.cmp(&b.due_at))
    {
        after.clone_from(&next.due_at);
        let at = chrono::DateTime::parse_from_rfc3339(&next.due_at).expect("due")
            + chrono::Duration::minutes(1);
        let d = t.dispatcher_via(&at.to_rfc3339(), None, &meter.url).await;
        meter.take().await;
        let summary = run_dispatch(&d).await;
        let usage = meter.take().await;
        let count = |k: &str| summary[k].as_u64().unwrap_or(0);
        let (n, claimed) = (count("sent"), count("claimed"));
        let playbook = next.playbook.as_str();
        if n == 0 {
            let off = count("cancelled");
            // A run that neither sent nor called off (deferred, say) is no row of the life.
            assert!(
                off > 0,
                "{playbook} run sent nothing and called nothing off: {summary}"
            );
            called_off.push(Row {
                what: format!("dispatch, per {playbook} called off ({off})"),
                usage,
                count: off,
            });
        } else {
            // Each run sends or calls off; a run that did both would mix the two here.
            assert_eq!(n, claimed, "{playbook} run: {summary}");
            sent_rows.push(Row {
                what: format!("dispatch, per {playbook} email ({n} sent, {claimed} claimed)"),
                usage,
                count: n,
            });
        }
    }
    let sent: Vec<FollowUpRecord> = followups(&t)
        .await
        .into_iter()
        .filter(|f| f.status == FollowUpStatus::Sent)
        .collect();
    let emails = sent.len() as u64;
    let mut dispatch = Usage::default();
    for r in &sent_rows {
        dispatch.add(&r.usage);
    }
    // What each run costs with nothing due (it runs on a schedule, orders or not).
    let d = t
        .dispatcher_via("2026-11-22T08:05:00Z", None, &meter.url)
        .await;
    meter.take().await;
    let summary = run_dispatch(&d).await;
    assert_eq!(summary["sent"], 0, "{summary}");
    let idle = Row {
        what: "dispatch run, nothing due".into(),
        usage: meter.take().await,
        count: 1,
    };
    let per_email = dispatch.minus(&idle.usage, sent_rows.len() as u64);
    // The runs that only called follow-ups off, beyond the runs' fixed cost: part of the
    // life, not of the cost per sent email.
    let mut off = Usage::default();
    for r in &called_off {
        off.add(&r.usage);
    }
    let off = off.minus(&idle.usage, called_off.len() as u64);
    let offs: u64 = called_off.iter().map(|r| r.count).sum();

    // mail-events: each email's delivery, open and click.
    let events = MailEventsApp {
        store: DynamoStore::new(client_for(&meter.url).await, t.table.clone(), RECEIPT_TTL),
        clock: Arc::new(FixedClock::new(
            "2026-12-30T12:00:00Z".parse().expect("valid time"),
        )),
    };
    // The first customer's events one an invocation (a quiet shop's queue hands each
    // over alone); the others' as the queue batches them when busy: each batch one
    // playbook's events of one kind, sent the same day.
    let mut sent = sent;
    sent.sort_by_key(|f| (f.playbook.as_str(), f.order_id));
    let mut event_rows = Vec::new();
    let (mut alone, mut batched) = (Usage::default(), Usage::default());
    let (mut alone_n, mut batched_n, mut batches) = (0u64, 0u64, 0u64);
    for (kind, detail_type, fixture) in [
        ("Delivery", "Email Delivered", ses::SNS_DELIVERY),
        ("Open", "Email Opened", ses::SNS_OPEN),
        ("Click", "Email Clicked", ses::SNS_CLICK),
    ] {
        let eventbridge = |f: &FollowUpRecord| {
            let sns = ses_event_for(fixture, f, &email(f.order_id - 450_789_469));
            let detail: Value = serde_json::from_str(
                sns["Records"][0]["Sns"]["Message"]
                    .as_str()
                    .expect("message"),
            )
            .expect("SES event");
            serde_json::json!({"version": "0", "id": format!("eb-{kind}-{}", f.id),
                "detail-type": detail_type, "source": "aws.ses", "detail": detail})
        };
        let (first, rest): (Vec<&FollowUpRecord>, Vec<&FollowUpRecord>) =
            sent.iter().partition(|f| f.order_id == 450_789_469);
        for f in &first {
            let summary = events
                .handle(sqs_batch(&[eventbridge(f)]))
                .await
                .expect("handled");
            assert_eq!(summary.applied, 1, "{kind} of {}: {summary:?}", f.id);
        }
        let what = format!("mail-events {kind}, one an invocation");
        event_rows.push(take_row(&meter, what, first.len(), &mut alone, &mut alone_n).await);
        for batch in rest.chunk_by(|a, b| a.playbook == b.playbook) {
            let records: Vec<Value> = batch.iter().map(|f| eventbridge(f)).collect();
            let summary = events.handle(sqs_batch(&records)).await.expect("handled");
            assert_eq!(summary.applied as usize, batch.len(), "{kind}: {summary:?}");
            batches += 1;
        }
        let what = format!("mail-events {kind}, in batches of one playbook");
        event_rows.push(take_row(&meter, what, rest.len(), &mut batched, &mut batched_n).await);
    }

    // Beside the life: a carrier's tracking event that is not the delivery (a shipment
    // gets several): the shipment alone, with the event's receipt.
    let body = tracking_event(12_584_341_300_000, "out_for_delivery");
    let req = signed("fulfillment_events/create", &body, "wh-out-for-delivery");
    let what = "webhook fulfillment_events/create, out for delivery";
    aside.push(inline(&t, &meter, what, req, "recorded").await);

    // Beside the life: an order of 250 lines.
    let req = signed("orders/paid", &order(CUSTOMERS, false, 250), "wh-large");
    aside.push(
        inline(
            &t,
            &meter,
            "webhook orders/paid, 250 lines",
            req,
            "recorded",
        )
        .await,
    );

    println!("\nDynamoDB per call of each kind (counted through the metering proxy against moto)");
    println!(
        "  {:<58} {:>6} {:>7} {:>7}   calls",
        "", "calls", "WRU", "RRU"
    );
    for r in &life {
        r.print();
    }
    idle.print();
    // Each run without what it costs with nothing due, per email it sent or per
    // follow-up it called off.
    for r in sent_rows.iter().chain(&called_off) {
        Row {
            what: r.what.clone(),
            usage: r.usage.minus(&idle.usage, 1),
            count: r.count,
        }
        .print();
    }
    Row {
        what: format!("dispatch, per sent email ({emails})"),
        usage: per_email.clone(),
        count: emails,
    }
    .print();
    for r in &event_rows {
        r.print();
    }
    Row {
        what: format!("mail-events, per event one an invocation ({alone_n})"),
        usage: alone.clone(),
        count: alone_n,
    }
    .print();
    Row {
        what: format!("mail-events, per event in {batches} batches ({batched_n})"),
        usage: batched.clone(),
        count: batched_n,
    }
    .print();
    for r in &aside {
        r.print();
    }

    // Per order: its deliveries, its emails beyond the runs' fixed cost, and its SES
    // events at the cost of each way the queue hands them over.
    let mut total = per_email.clone();
    total.add(&off);
    for r in &life {
        total.add(&r.usage);
    }
    let Units { calls, rru, wru } = total.total().per(CUSTOMERS);
    let calls = calls as f64 / CUSTOMERS as f64;
    let emails_each = emails / CUSTOMERS;
    let events_each = 3 * emails_each;
    // The webhook's invocations and the ingest consumer's batches, per order.
    let webhooks_each = invocations as f64 / CUSTOMERS as f64;
    println!(
        "\nOne order's life ({} deliveries, {emails_each} emails, {} follow-up called off at its time, {events_each} SES events; the mean of {CUSTOMERS}):",
        life.len(),
        offs / CUSTOMERS
    );
    let per_event = |u: &Usage, n: u64| {
        let t = u.total();
        (t.calls as f64 / n as f64, t.per(n))
    };
    let ways = [
        ("events one an invocation", per_event(&alone, alone_n), 1.0),
        (
            "events in batches",
            per_event(&batched, batched_n),
            batches as f64 / batched_n as f64,
        ),
    ];
    // Per 10,000 orders: DynamoDB, SES, Lambda requests and all-in, in dollars.
    let bill = |wru: f64, rru: f64, requests: f64| {
        let dynamo = ORDERS
            * (wru * prices.dynamodb_write_request_unit + rru * prices.dynamodb_read_request_unit);
        let mail = ORDERS * emails_each as f64 * prices.ses_email;
        let lambda = ORDERS * requests * prices.lambda_request;
        (dynamo, mail, lambda, dynamo + mail + lambda)
    };
    // One life's calls, units and Lambda requests, at one of the ways' cost per event.
    let life_at = |(event_calls, event): (f64, Units), invocations_per_event: f64| {
        let n = events_each as f64;
        (
            calls + n * event_calls,
            wru + n * event.wru,
            rru + n * event.rru,
            webhooks_each + n * invocations_per_event,
        )
    };
    for (how, per_event, invocations_per_event) in ways {
        let (calls, wru, rru, requests) = life_at(per_event, invocations_per_event);
        let (dynamo, mail, lambda, all) = bill(wru, rru, requests);
        println!(
            "  {how:<26} {calls:.1} calls, {wru:.1} WRU, {rru:.1} RRU; per 10,000 orders in {} (tools/prices.toml): DynamoDB ${dynamo:.2}, SES ${mail:.2}, Lambda requests ${lambda:.2} ({requests:.1} per order); all-in ${all:.2}, {:.0} % above SES alone",
            prices.region,
            (all / mail - 1.0) * 100.0
        );
    }
    // Where the write units of a life go (events in batches, the last line above), by
    // the kind of item written.
    let mut shares = Usage::default();
    shares.add_writes(&total, 1.0 / CUSTOMERS as f64);
    shares.add_writes(&batched, events_each as f64 / batched_n as f64);
    let (_, batched_way, invocations_per_event) = ways[1];
    let (_, wru, rru, requests) = life_at(batched_way, invocations_per_event);
    let split = print_write_shares(&shares);
    assert!(
        (split.total() - wru).abs() < 0.05,
        "the split ({:.2} WRU) adds up to the life's {wru:.2}",
        split.total()
    );
    let without_second = split.own + split.index;
    let (_, _, _, all) = bill(without_second, rru, requests);
    println!(
        "  without the transactions' second unit the life would be {without_second:.1} WRU, all-in ${all:.2}"
    );
    let Units { rru: idle_rru, .. } = idle.usage.total();
    let runs = 30.0 * 24.0 * 60.0;
    println!(
        "Runs on the schedule, orders or not: {:.1} RRU each, ${:.2} a month at one a minute",
        idle_rru,
        runs * idle_rru * prices.dynamodb_read_request_unit
    );
    drop(t);
    throughput().await;
    at_lambda_share(256).await;
}

/// Prints one life's write units by the kind of item written, largest first, split
/// into the items' own units, the transactions' second unit and the `due` index's;
/// returns their sum.
fn print_write_shares(shares: &Usage) -> WriteShare {
    let mut kinds: Vec<(&String, &WriteShare)> = shares
        .writes
        .iter()
        .filter(|(_, w)| w.total() > 0.005)
        .collect();
    kinds.sort_by(|a, b| b.1.total().total_cmp(&a.1.total()));
    let mut all = WriteShare::default();
    println!(
        "Where the write units of a life go (events in batches), by the item written:\n  {:<26} {:>6} {:>6} {:>12} {:>10}",
        "", "WRU", "own", "transaction", "due index"
    );
    let line = |what: &str, w: &WriteShare| {
        println!(
            "  {what:<26} {:>6.1} {:>6.1} {:>12.1} {:>10.1}",
            w.total(),
            w.own,
            w.transaction,
            w.index
        )
    };
    for (kind, w) in kinds {
        line(kind, w);
        all.add_times(*w, 1.0);
    }
    line("all", &all);
    all
}

/// The dispatcher's pace against moto itself (no proxy): 40 thank-yous in one run, the
/// send rate far above what moto can take. moto answers one call at a time, so this is
/// a floor, not what DynamoDB allows.
async fn throughput() {
    const N: u64 = 40;
    let t =
        TestApp::spawn_alone_configured(config_with("[email]\nmax_send_rate = 1000.0\n", "")).await;
    plant_thank_yous(&t, 0, N).await;
    let d = t.dispatcher("2026-11-22T09:01:00Z", None).await;
    let started = std::time::Instant::now();
    let report = run_dispatch(&d).await;
    let took = started.elapsed().as_secs_f64();
    assert_eq!(report["sent"], N, "{report}");
    println!(
        "Dispatch against moto, unmetered: {N} thank-yous in {took:.2} s = {:.1} emails/s",
        N as f64 / took
    );
}

/// Customers `base..base + n`'s paid orders through the webhook, so `n` thank-yous are
/// due at 09:01.
async fn plant_thank_yous(t: &TestApp, base: u64, n: u64) {
    for i in base..base + n {
        let body = paid_order(
            8_000 + i,
            3_000 + i,
            &format!("pace{i}@example.com"),
            false,
            |_| {},
        );
        let (status, resp) = t
            .post(signed("orders/paid", &body, &format!("wh-pace-{i}")))
            .await;
        assert_eq!(status, 200, "{resp}");
    }
}

/// The dispatcher as its own process (`dispatch_child`), confined to the CPU and
/// memory of a `memory_mb` Lambda function ([`lambda_share`]), sending 250 thank-yous
/// against moto: paced at a MaxSendRate of 50/s (first unconfined, for the pacer's own
/// rate), then unpaced; then paced with every answer held back as long as DynamoDB and
/// SES take in production ([`LATENCY`]), unconfined and at the share. Prints emails/s
/// and the CPU time per email, from which the rate the CPU share allows follows.
async fn at_lambda_share(memory_mb: u32) {
    use aftercart_integration::lambda_share::LambdaShare;
    const N: u64 = 250;
    let share = match LambdaShare::create("aftercart-bench-dispatch", memory_mb) {
        Ok(share) => share,
        Err(why) => {
            println!("Dispatch at a {memory_mb} MB function's CPU share: not measured ({why}; needs root)");
            return;
        }
    };
    println!(
        "Dispatch as its own process at a {memory_mb} MB function's share ({:.3} of a CPU, {memory_mb} MiB), {N} thank-yous:",
        share.cpus()
    );
    // The pacer's own rate, unconfined, then at the share paced and unpaced; then paced
    // again with each DynamoDB and SES answer held back as long as those services take
    // in production (moto answers in a few milliseconds).
    let latency = format!(
        "DynamoDB {} ms, SES {} ms",
        LATENCY.dynamodb.as_millis(),
        LATENCY.ses.as_millis()
    );
    println!("  (\"+ latency\": each answer comes through a proxy that holds it back, {latency})");
    let slow = LATENCY.proxy().await;
    let runs = [
        (50.0, false, None),
        (50.0, true, None),
        (1000.0, true, None),
        (50.0, false, Some(slow.as_str())),
        (50.0, true, Some(slow.as_str())),
    ];
    for (i, (rate, confined, via)) in runs.into_iter().enumerate() {
        let top = format!("[email]\nmax_send_rate = {rate:.1}\n");
        let t = TestApp::spawn_alone_configured(config_with(&top, "")).await;
        plant_thank_yous(&t, 10_000 * (i as u64 + 1), N).await;
        let started = std::time::Instant::now();
        let child = std::path::Path::new(env!("CARGO_BIN_EXE_dispatch_child"));
        let mut command = if confined {
            share.command(child)
        } else {
            std::process::Command::new(child)
        };
        command
            .args([t.table.as_str(), "2026-11-22T09:01:00Z", top.as_str()])
            .env(
                "AFTERCART_TEST_ENDPOINT",
                via.map_or_else(endpoint, str::to_owned),
            );
        // Off the runtime's threads: the latency proxy runs on them meanwhile.
        let out = tokio::task::spawn_blocking(move || command.output())
            .await
            .expect("joined")
            .expect("dispatch_child runs");
        let took = started.elapsed().as_secs_f64();
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "dispatch_child: {:?} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let line = |kind: &str| {
            said.lines()
                .find_map(|l| l.strip_prefix(kind))
                .map(str::to_owned)
        };
        let report: Value =
            serde_json::from_str(&line("report ").expect("a report")).expect("JSON");
        assert_eq!(report["sent"], N, "{report}");
        let run: Vec<f64> = line("run ")
            .expect("the run's times")
            .split(' ')
            .filter_map(|x| x.parse().ok())
            .collect();
        let [wall, sending, cpu] = run[..] else {
            panic!("run times: {run:?}")
        };
        let per_email = cpu / N as f64;
        println!(
            "  {:<20} MaxSendRate {rate:>6.0}/s: {:.1} emails/s sending, {:.1} over the run ({took:.2} s with start-up); CPU {:.2} ms an email, so the share allows {:.0} emails/s",
            match (confined, via) {
                (false, None) => "unconfined",
                (true, None) => "at share",
                (false, Some(_)) => "unconfined + latency",
                (true, Some(_)) => "at share + latency",
            },
            (N - 1) as f64 / sending,
            N as f64 / wall,
            per_email * 1e3,
            share.cpus() / per_email
        );
    }
}

/// `events` (EventBridge events) as one batch from the mail-events queue.
fn sqs_batch(events: &[Value]) -> Value {
    let records: Vec<Value> = events
        .iter()
        .enumerate()
        .map(|(n, e)| {
            serde_json::json!({"messageId": format!("{}-{n}", e["id"].as_str().unwrap_or("m")),
                "eventSource": "aws:sqs", "body": e.to_string()})
        })
        .collect();
    serde_json::json!({ "Records": records })
}

/// The calls since the last take, as a row of `n` events, also added to `total` and
/// `count`.
/// One delivery `req` the webhook records inline, beside the life, answered with
/// `status` (`recorded`, `duplicate_delivery`): its calls as a row of their own.
async fn inline(
    t: &TestApp,
    meter: &Meter,
    what: &str,
    req: lambda_http::Request,
    status: &str,
) -> Row {
    let (code, resp) = t.post(req).await;
    assert_eq!(
        (code, resp["status"].as_str()),
        (200, Some(status)),
        "{what}: {resp}"
    );
    Row {
        what: what.to_owned(),
        usage: meter.take().await,
        count: 1,
    }
}

async fn take_row(
    meter: &Meter,
    what: String,
    n: usize,
    total: &mut Usage,
    count: &mut u64,
) -> Row {
    let usage = meter.take().await;
    total.add(&usage);
    *count += n as u64;
    Row {
        what,
        usage,
        count: n as u64,
    }
}
