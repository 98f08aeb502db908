//! Ingest hot path: HMAC verification and typed parsing of an `orders/paid` body.
//!
//! Two bodies: the 7 KB REST fixture `order.json`, and a generated order with 250
//! realistic line items (~300 KB), the largest order Shopify sends in one webhook.
//! For each: verify alone, parse alone, and verify followed by parse, with byte
//! throughput in decimal units so the report shows MB/s (10^6 bytes per second), as
//! the issue asks.
//!
//! Run with `cargo bench -p aftercart --bench ingest` (about 30 s).

use std::hint::black_box;
use std::time::Duration;

use aftercart::wire::shopify::{parse_event, Event, Topic};
use aftercart::wire::verify::{sign_webhook, verify_webhook};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use secrecy::SecretString;

#[path = "support/orders.rs"]
mod orders;
use orders::{large_order, LINE_ITEMS, ORDER_FIXTURE};

fn bench_body(c: &mut Criterion, name: &str, body: &[u8]) {
    let secrets = [SecretString::from(
        "shpss_bench_0123456789abcdef0123456789abcdef".to_owned(),
    )];
    let sig = sign_webhook(body, &secrets[0]);

    // Fail fast if the body would not take the happy path being measured.
    verify_webhook(body, Some(&sig), &secrets).expect("signature verifies");
    match parse_event(Topic::OrdersPaid, body).expect("body parses") {
        Event::Order(_, o) if name != "order_250_items" || o.line_items.len() == 250 => {}
        other => panic!("unexpected event {other:?}"),
    }

    let mut group = c.benchmark_group(format!("ingest/{name}"));
    group
        .throughput(Throughput::BytesDecimal(body.len() as u64))
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));

    group.bench_function("verify", |b| {
        b.iter(|| verify_webhook(black_box(body), Some(black_box(&sig)), &secrets))
    });
    group.bench_function("parse", |b| {
        b.iter(|| parse_event(Topic::OrdersPaid, black_box(body)))
    });
    group.bench_function("verify+parse", |b| {
        b.iter(|| {
            // The handler parses only a verified body, exactly as here.
            verify_webhook(black_box(body), Some(black_box(&sig)), &secrets).expect("verified");
            parse_event(Topic::OrdersPaid, body)
        })
    });
    group.finish();
}

fn ingest(c: &mut Criterion) {
    bench_body(c, "order_fixture", ORDER_FIXTURE);
    let large = large_order();
    eprintln!(
        "generated order: {} line items, {} bytes ({:.0} KiB)",
        LINE_ITEMS,
        large.len(),
        large.len() as f64 / 1024.0
    );
    bench_body(c, "order_250_items", &large);
}

/// Planning per order: the pure planner (order state, profile, follow-ups) for a new
/// paid order, with the sample config's rules (thank-you plus a replenishment reminder
/// per configured product).
fn planning(c: &mut Criterion) {
    let config = aftercart::config::Config::parse(
        include_str!("../../infra/aftercart.toml"),
        "infra/aftercart.toml",
    )
    .expect("sample config is valid");
    let mut group = c.benchmark_group("plan");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    let large = large_order();
    for (name, body) in [
        ("order_fixture", ORDER_FIXTURE.to_vec()),
        ("order_250_items", large),
    ] {
        let event = parse_event(Topic::OrdersPaid, &body).expect("parses");
        let ctx = aftercart::domain::ingest::Context {
            shop: &config.shops[0].domain,
            webhook_id: "bench",
            now: chrono::Utc::now(),
            rules: Some(&config.shops[0]),
            shards: config.dispatch.shards,
            redelivery: false,
            import: false,
            counts: None,
        };
        let loaded = aftercart::domain::ingest::Loaded::default();
        let writes = aftercart::domain::ingest::plan(&ctx, &event, &loaded);
        assert!(writes.len() >= 4, "order, profile, history and follow-ups");
        group.bench_function(name, |b| {
            b.iter(|| aftercart::domain::ingest::plan(black_box(&ctx), black_box(&event), &loaded))
        });
    }
    group.finish();
}

criterion_group!(benches, ingest, planning);
criterion_main!(benches);
