//! Load through the ingest queue (bounded, local only): ORDERS orders (default 5,000)
//! of CUSTOMERS customers (500) through HTTPS, then through EventBridge, each on its
//! own table and queue on moto. The webhook's (or the router's) answers are timed
//! under CONCURRENCY (16) deliveries in flight; 4 pollers stand in for Lambda's SQS
//! trigger. DynamoDB calls are counted through the metering proxy
//! ([`aftercart_integration::meter`]). Every order must be recorded exactly once and
//! every profile must count its customer's orders exactly.
//!
//! moto is far slower than SQS and DynamoDB and serves one request at a time, so the
//! rates printed are moto's, not production's; the calls per delivery are the same.
//!
//! Run with `make bench` or, with moto on port 5006,
//! `AFTERCART_TEST_ENDPOINT=http://127.0.0.1:5006 cargo bench -p aftercart-integration --bench ingest_load`.

use aftercart_integration::meter::Meter;
use aftercart_integration::queue::{bridge_event, drain, queues};
use aftercart_integration::*;
use futures::StreamExt;
use std::time::{Duration, Instant};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Order `i` of customer `i % customers`.
fn order(i: usize, customers: usize) -> Vec<u8> {
    let c = (i % customers) as u64;
    paid_order(
        9_000_000 + i as u64,
        7_000_000 + c,
        &format!("load{c}@example.com"),
        false,
        |o| o["name"] = format!("#L{i}").into(),
    )
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

async fn run(via: &str, orders: usize, customers: usize, concurrency: usize) {
    let meter = Meter::start().await;
    let q = queues(10, 60).await;
    let t = TestApp::spawn_alone_via(&meter.url, config())
        .await
        .with_queue(&q.webhook);
    let ingest = t.ingest_via(&q.main, &meter.url);
    let started = Instant::now();
    let answers: Vec<(u16, Duration)> = futures::stream::iter(0..orders)
        .map(|i| {
            let (t, ingest) = (&t, &ingest);
            async move {
                let body = order(i, customers);
                let id = format!("load-{i}");
                let at = Instant::now();
                let status = if via == "https" {
                    t.post(signed("orders/paid", &body, &id)).await.0
                } else {
                    match ingest.handle(bridge_event("orders/paid", &body, &id)).await {
                        Ok(_) => 200,
                        Err(_) => 500,
                    }
                };
                (status, at.elapsed())
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let accepted_in = started.elapsed();
    let drained = drain(&ingest, &q, 4, Duration::from_secs(1800)).await;
    let total = started.elapsed();
    let usage = meter.take().await;

    let failed = answers.iter().filter(|(s, _)| *s != 200).count();
    let mut times: Vec<Duration> = answers.iter().map(|(_, d)| *d).collect();
    times.sort();
    let items = scan_table(&patient_client().await, &t.table).await;
    let recorded = items.iter().filter(|i| s(i, "sk") == "ORDER").count();
    let counted: u64 = items
        .iter()
        .filter(|i| s(i, "sk") == "PROFILE")
        .map(|i| n(i, "orders_count").parse::<u64>().unwrap_or(0))
        .sum();
    let calls = usage.total();
    println!(
        "{via:<11} {orders} orders / {customers} customers: {failed} answers not 200; answer p50 {:.1} ms, p99 {:.1} ms; accepted at {:.0}/s, recorded at {:.0}/s ({} batches, {} retried); {recorded} orders recorded, profiles count {counted}; DynamoDB {:.2} calls, {:.1} WRU, {:.1} RRU per delivery ({})",
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        percentile(&times, 0.99).as_secs_f64() * 1e3,
        orders as f64 / accepted_in.as_secs_f64(),
        orders as f64 / total.as_secs_f64(),
        drained.batches,
        drained.failures,
        calls.calls as f64 / orders as f64,
        calls.wru / orders as f64,
        calls.rru / orders as f64,
        usage.calls_line(),
    );
    assert_eq!(failed, 0, "{via}: every delivery accepted first time");
    assert_eq!(recorded, orders, "{via}: every order recorded");
    assert_eq!(counted, orders as u64, "{via}: every order counted once");
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let orders = env_or("ORDERS", 5_000);
    let customers = env_or("CUSTOMERS", 500);
    let concurrency = env_or("CONCURRENCY", 16);
    println!("ingest load through the queue (moto; rates are moto's):");
    run("https", orders, customers, concurrency).await;
    run("eventbridge", orders, customers, concurrency).await;
}
