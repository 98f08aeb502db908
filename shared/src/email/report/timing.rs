//! The "Replenishment timing" section: each configured product's days per unit now,
//! on the page ([`view`]) and in the CSV ([`csv`]).

use super::{csv_field, csv_row, csv_text};
use crate::model::report::{Report, Timing, TimingRow};
use minijinja::{context, Value};
use serde::Serialize;

/// The CSV's timing table header.
pub(super) const CSV_TIMING: &str = "timing_product,product_id,sku,configured_days,\
days_per_unit,repeats,samples,refused,source,waiting_for";

#[derive(Serialize)]
struct RowView {
    product: String,
    /// The id or SKU beside a title.
    detail: Option<String>,
    /// `data-figure` prefix: `timing.{timing key}`.
    figure: String,
    configured: String,
    days: Option<String>,
    repeats: u64,
    samples: u64,
    refused: u64,
    source: String,
    waiting: bool,
}

fn row_view(t: &TimingRow) -> RowView {
    let id = t.product_id.map(|id| format!("Product {id}"));
    let sku = t.sku.as_ref().map(|s| format!("SKU {s}"));
    let (product, detail) = match (&t.title, sku, id) {
        (Some(title), sku, id) => (title.clone(), sku.or(id)),
        (None, sku, Some(id)) => (id, sku),
        (None, Some(sku), None) => (sku, None),
        (None, None, None) => (t.product.clone(), None),
    };
    let source = match t.waiting_for {
        Some(1) => "waiting for 1 more repeat".to_owned(),
        Some(n) => format!("waiting for {n} more repeats"),
        None => t.source.clone(),
    };
    RowView {
        product,
        detail,
        figure: format!("timing.{}", t.product),
        configured: t
            .configured_days
            .map_or_else(|| "none".into(), |d| d.to_string()),
        days: t.days_per_unit.map(|d| format!("{d:.1}")),
        repeats: t.repeats,
        samples: t.samples,
        refused: t.refused,
        source,
        waiting: t.waiting_for.is_some(),
    }
}

/// What the state of the shop's learning adds to the section's note, if anything.
fn state_note(t: &Timing) -> Option<&'static str> {
    if !t.enabled {
        Some("Replenishment reminders are off: nothing is timed by these figures.")
    } else if !t.learn {
        Some("Learning is off (learn = false): reminders use the configured figures only.")
    } else if t.products.iter().all(|p| p.repeats == 0) {
        Some("Learning has no repeats yet: no customer has bought a replenishable product again.")
    } else {
        None
    }
}

/// The page's section.
pub(super) fn view(report: &Report) -> Value {
    let t = &report.replenishment_timing;
    context! {
        rows => t.products.iter().map(row_view).collect::<Vec<_>>(),
        learn => t.learn,
        prior_weight => t.prior_weight,
        min_repeats => t.min_repeats,
        state => state_note(t),
    }
}

/// The CSV's timing table (after the comments and a blank line).
pub(super) fn csv(out: &mut String, report: &Report) {
    out.push_str(CSV_TIMING);
    out.push_str("\r\n");
    let opt = |n: Option<u32>| n.map(|n| n.to_string()).unwrap_or_default();
    for t in &report.replenishment_timing.products {
        let fields = [
            csv_text(t.title.as_deref().unwrap_or(&t.product)),
            t.product_id.map(|n| n.to_string()).unwrap_or_default(),
            csv_text(t.sku.as_deref().unwrap_or_default()),
            opt(t.configured_days),
            t.days_per_unit
                .map(|d| format!("{d:.1}"))
                .unwrap_or_default(),
            t.repeats.to_string(),
            t.samples.to_string(),
            t.refused.to_string(),
            csv_field(&t.source),
            opt(t.waiting_for),
        ];
        csv_row(out, &fields);
    }
}
