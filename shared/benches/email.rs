//! Render + MIME build cost per email, for each playbook.
//!
//! `cargo bench -p aftercart --bench email`. Each iteration renders the three parts with
//! the built-in templates and builds the full raw message, i.e. the per-email CPU work the
//! dispatcher does before calling SES. The context is realistic: three lines with prices
//! and pictures, care and how-to links per product, a brand, a "You may also like" block and an unsubscribe link.

use aftercart::email::{
    build_mime, BrandView, CareView, EmailContext, LineView, LinkView, Sender, Templates,
};
use aftercart::model::Playbook;
use chrono::{TimeZone, Utc};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use std::time::{Duration, Instant};

fn context(playbook: Playbook) -> EmailContext {
    let url =
        |path: &str| format!("https://links.aftercart.example/c/{path}?s=creme-co&t=Zm9vYmFy");
    EmailContext {
        playbook,
        shop_name: "Crème & Co".into(),
        shop_url: Some("https://creme.example".into()),
        from: Sender {
            name: "Crème & Co".into(),
            email: "hello@creme.example".into(),
        },
        to: "zoe@example.com".into(),
        support_email: Some("support@creme.example".into()),
        first_name: Some("Zoë".into()),
        locale: Some("en-US".into()),
        shop_locale: None,
        order_name: Some("#1001".into()),
        currency: Some("USD".into()),
        lines: [
            ("Stoneware mug", "Large / Blue"),
            ("Loose-leaf tea", "250 g"),
            ("Linen napkins", "Set of 4"),
        ]
        .iter()
        .enumerate()
        .map(|(i, (title, variant))| LineView {
            title: (*title).into(),
            variant_title: Some((*variant).into()),
            quantity: i as u32 + 1,
            unit_price: Some(rust_decimal::Decimal::new(1850, 2)),
            image_url: Some(format!("https://cdn.creme.example/products/{i}.jpg")),
        })
        .collect(),
        care: ["Stoneware mug", "Loose-leaf tea", "Linen napkins"]
            .iter()
            .enumerate()
            .map(|(i, title)| CareView {
                title: (*title).into(),
                care_url: Some(url(&format!("care/{i}"))),
                how_to_url: Some(url(&format!("how-to/{i}"))),
            })
            .collect(),
        total: Some(rust_decimal::Decimal::new(10100, 2)),
        savings: Some(rust_decimal::Decimal::new(1000, 2)),
        rating_urls: (1..=5).map(|i| url(&format!("rate/{i}"))).collect(),
        reason_urls: Vec::new(),
        reorder_url: Some(url("reorder")),
        review_url: Some(url("review")),
        discount_code: Some("WELCOMEBACK10".into()),
        discount_expires: Some("2026-12-31".into()),
        complementary: ["Ceramic teapot", "Bamboo tray", "Honey jar"]
            .iter()
            .enumerate()
            .map(|(i, title)| LinkView {
                title: (*title).into(),
                url: url(&format!("product/{i}")),
            })
            .collect(),
        preheader: None,
        brand: BrandView {
            logo_url: Some("https://cdn.creme.example/logo.png".into()),
            color: Some("#7a3e2b".into()),
            accent: Some("#d9a441".into()),
            sign_off: None,
            postal_address: Some("Crème & Co, 4 rue du Pot, 69001 Lyon, France".into()),
        },
        unsubscribe_url: Some(url("unsubscribe")),
    }
}

fn bench(c: &mut Criterion) {
    let templates = Templates::builtin();
    let date = Utc.with_ymd_and_hms(2024, 5, 17, 9, 30, 0).unwrap();
    let one = |ctx: &EmailContext| {
        let rendered = templates.render(ctx).expect("renders");
        build_mime(ctx, &rendered, date).expect("builds")
    };

    let mut group = c.benchmark_group("email/render+mime");
    for playbook in Playbook::ALL {
        let ctx = context(playbook);
        group.bench_function(playbook.as_str(), |b| b.iter(|| one(black_box(&ctx))));
    }
    group.finish();

    // A plain summary line per playbook (mean over a fixed batch), easy to grep.
    for playbook in Playbook::ALL {
        let ctx = context(playbook);
        const N: u32 = 2_000;
        let mut bytes = 0;
        let start = Instant::now();
        for _ in 0..N {
            bytes = one(black_box(&ctx)).len();
        }
        let per_email = start.elapsed() / N;
        println!(
            "per email: {:<14} {:>8.1} µs  ({bytes} bytes)",
            playbook.as_str(),
            per_email.as_secs_f64() * 1e6
        );
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = bench
}
criterion_main!(benches);
