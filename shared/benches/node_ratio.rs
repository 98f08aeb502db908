//! The webhook's verify + parse against the same work in Node (`crypto.createHmac` and
//! `JSON.parse`, `tools/verify_parse.js`, run with the machine's `node`), in one
//! interleaved run: five rounds, each timing Rust and then Node on the same body, so
//! both see the same machine load. Prints the median time per verify + parse of each
//! and the ratio, for the 7 KB fixture order and the 250-line order (~300 KB), each in
//! full and cut to the subscription's `include_fields` (what Shopify sends once
//! `docs/shopify.app.toml` is installed).
//!
//! Rust does more than Node here: `parse_event` builds the typed order (and checks its
//! bounds), where `JSON.parse` builds untyped objects.
//!
//! Run with `cargo bench -p aftercart --bench node_ratio` (about 20 s); `make bench`
//! runs it.

use std::hint::black_box;
use std::process::Command;
use std::time::Instant;

use aftercart::wire::shopify::include_fields::project;
use aftercart::wire::shopify::{parse_event, Topic};
use aftercart::wire::verify::{sign_webhook, verify_webhook};
use secrecy::SecretString;

#[path = "support/orders.rs"]
mod orders;
use orders::{large_order, LINE_ITEMS, ORDER_FIXTURE};

const SECRET: &str = "shpss_bench_0123456789abcdef0123456789abcdef";
const ROUNDS: usize = 5;

/// Nanoseconds per verify + parse in Rust: the median of 5 batches of `n`.
fn rust_ns(body: &[u8], sig: &str, secrets: &[SecretString], n: u32) -> f64 {
    let mut batches: Vec<f64> = (0..5)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..n {
                verify_webhook(black_box(body), Some(black_box(sig)), secrets).expect("verified");
                black_box(parse_event(Topic::OrdersPaid, body).expect("parses"));
            }
            start.elapsed().as_nanos() as f64 / f64::from(n)
        })
        .collect();
    batches.sort_by(f64::total_cmp);
    batches[2]
}

/// Nanoseconds per verify + parse in Node, as `tools/verify_parse.js` measures it.
fn node_ns(file: &std::path::Path, sig: &str, n: u32) -> Option<f64> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../tools/verify_parse.js");
    let out = Command::new("node")
        .args([script, &file.to_string_lossy(), SECRET, sig, &n.to_string()])
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!("node failed: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let node = Command::new("node")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    let Some(version) = node else {
        println!("node_ratio: no `node` on PATH, nothing compared");
        return;
    };
    let secrets = [SecretString::from(SECRET.to_owned())];
    let dir = std::env::temp_dir().join(format!("aftercart-node-ratio-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let large = large_order();
    // What Shopify sends once the subscription names its `include_fields`
    // (docs/shopify.app.toml): only the fields the planner reads.
    let cut = |body: &[u8]| {
        let full: serde_json::Value = serde_json::from_slice(body).expect("fixture is JSON");
        serde_json::to_vec(&project(Topic::OrdersPaid, &full)).expect("JSON")
    };
    let (fixture_cut, large_cut) = (cut(ORDER_FIXTURE), cut(&large));
    let bodies: [(String, &[u8], u32); 4] = [
        ("order fixture".into(), ORDER_FIXTURE, 5_000),
        (format!("order of {LINE_ITEMS} lines"), &large, 100),
        ("fixture, fields cut".into(), &fixture_cut, 5_000),
        (format!("{LINE_ITEMS} lines, cut"), &large_cut, 100),
    ];
    println!(
        "\nverify + parse, Rust against Node {version} (median of {ROUNDS} interleaved rounds)"
    );
    for (name, body, n) in bodies {
        let sig = sign_webhook(body, &secrets[0]);
        let file = dir.join("body.json");
        std::fs::write(&file, body).expect("body written");
        let (mut rust, mut js) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            rust.push(rust_ns(body, &sig, &secrets, n));
            match node_ns(&file, &sig, n) {
                Some(ns) => js.push(ns),
                None => return,
            }
        }
        let (r, j) = (median(rust), median(js));
        println!(
            "  {name:<20} {:>7} bytes   Rust {:>8.1} µs   Node {:>8.1} µs   Node/Rust {:.2}×",
            body.len(),
            r / 1_000.0,
            j / 1_000.0,
            j / r
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
