//! `aftercart backtest --shop S --file orders.csv`: how the learned timing would have
//! done on a store's real history. The export is recorded, oldest first, through the
//! history import's own path into an in-memory table ([`MemoryRecorder`]; nothing is
//! written to AWS): each paid order fixes its days per unit from what was learned
//! before it (`OrderRecord::timing`), as the live planner does at payment. Then, for
//! every customer (keyed by email) and configured product with at least two kept
//! purchases, the **last repeat is held out**: the run-out predicted at the purchase
//! before it — learned days per unit × units, and the configured `consumption_days` ×
//! units — is compared with the date the customer actually came back.

use super::import::{import_orders, shop_rules};
use super::orders_csv::{Export, ExportOrder};
use super::simulate::{Tally, ON_TIME_DAYS};
use aftercart::config::Config;
use aftercart::domain::ingest::Item;
use aftercart::model::keys;
use aftercart::ports::memory::MemoryRecorder;
use anyhow::Result;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::fmt;

/// What the backtest measured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Backtest {
    /// Customer × product histories with a repeat to hold out.
    pub held_out: u64,
    pub learned: Tally,
    pub fixed: Tally,
    /// Of the held-out repeats, how many had a learned figure (else it fell back to the
    /// configured one, as the planner does).
    pub with_learned: u64,
}

/// One kept purchase of a configured product.
struct Bought<'a> {
    order: &'a ExportOrder,
    units: u32,
}

pub async fn backtest(
    config: &Config,
    shop: &str,
    export: &Export,
    now: DateTime<Utc>,
) -> Result<Backtest> {
    let rules = shop_rules(config, shop)?;
    let recorder = MemoryRecorder::default();
    import_orders(&recorder, config, &rules.domain, export, now, |_| {}).await?;
    // (email, timing key) -> kept purchases, oldest first.
    let mut histories: BTreeMap<(String, String), Vec<Bought>> = BTreeMap::new();
    let mut orders: Vec<&ExportOrder> = export
        .orders
        .iter()
        .filter(|o| o.is_paid() && !o.is_cancelled() && !o.fully_refunded())
        .collect();
    orders.sort_by_key(|o| (o.created_at.to_utc(), o.id));
    for o in orders {
        for l in &o.lines {
            let Some(rule) = rules.product(None, l.sku.as_deref()) else {
                continue;
            };
            if l.quantity == 0 {
                continue;
            }
            histories
                .entry((o.email.to_lowercase(), rule.timing_key()))
                .or_default()
                .push(Bought {
                    order: o,
                    units: l.quantity,
                });
        }
    }
    let mut out = Backtest::default();
    for ((_, key), bought) in &histories {
        let [.., prev, last] = bought.as_slice() else {
            continue;
        };
        let Some(rule) = rules.products.iter().find(|r| &r.timing_key() == key) else {
            continue;
        };
        let stored = recorder.with_table(|t| {
            match t.items.get(&keys::order(&rules.domain, prev.order.id)) {
                Some(Item::Order(r)) => r.timing.get(key).copied(),
                _ => None,
            }
        });
        let configured = rule.consumption_days.map(f64::from);
        let learned = stored.map(|c| f64::from(c) / 100.0).or(configured);
        let actual =
            (last.order.created_at - prev.order.created_at).num_seconds() as f64 / 86_400.0;
        out.held_out += 1;
        out.with_learned += u64::from(stored.is_some());
        let units = f64::from(prev.units);
        if let Some(d) = learned {
            out.learned.add(d * units - actual, false);
        }
        if let Some(d) = configured {
            out.fixed.add(d * units - actual, false);
        }
    }
    Ok(out)
}

impl fmt::Display for Backtest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} last repeats held out ({} with a learned figure at the purchase before)",
            self.held_out, self.with_learned
        )?;
        writeln!(f, "{:<40}{:>10}{:>10}", "", "learned", "fixed")?;
        let pct = |t: &Tally, n: u64| {
            t.share(n)
                .map_or("–".into(), |x| format!("{:.1} %", x * 100.0))
        };
        type Count = fn(&Tally) -> u64;
        let rows: [(&str, Count); 3] = [
            ("predicted within ±3 days of the reorder", |t| t.on_time),
            ("predicted > 3 days early", |t| t.early),
            ("predicted > 3 days late", |t| t.late),
        ];
        writeln!(
            f,
            "{:<40}{:>10}{:>10}",
            "predictions", self.learned.sent, self.fixed.sent
        )?;
        for (label, n) in rows {
            writeln!(
                f,
                "{label:<40}{:>10}{:>10}",
                pct(&self.learned, n(&self.learned)),
                pct(&self.fixed, n(&self.fixed))
            )?;
        }
        write!(f, "(±{ON_TIME_DAYS} days; nothing was written anywhere)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_store_whose_customers_keep_their_rhythm_is_predicted_by_the_learned_timing() {
        // Ten customers, each buying one bag every 20 days five times; configured 30.
        let mut csv = String::from(
            "Name,Email,Financial Status,Created at,Lineitem quantity,Lineitem name,Lineitem sku,Id\n",
        );
        let mut n = 1000;
        for c in 0..10 {
            for k in 0..5 {
                n += 1;
                let day = 1 + c + 20 * k;
                let date = chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap()
                    + chrono::Duration::days(i64::from(day));
                csv.push_str(&format!(
                    "#{n},c{c}@example.com,paid,{date} 10:00:00 +0000,1,Beans,BEANS-1KG,{n}\n"
                ));
            }
        }
        let export = super::super::orders_csv::parse_bytes(csv.as_bytes()).expect("parses");
        let config = Config::parse(
            "[[shop]]\ndomain = \"roasters.myshopify.com\"\npostal_address = \"1 Test Street\"\n\
             sender_email = \"hello@roasters.example\"\n\
             [[shop.product]]\nsku = \"BEANS-1KG\"\nproduct_id = 111\nconsumption_days = 30\n",
            "test",
        )
        .expect("config");
        let now = "2026-12-01T10:00:00Z".parse().expect("time");
        let b = backtest(&config, "roasters.myshopify.com", &export, now)
            .await
            .expect("runs");
        assert_eq!(b.held_out, 10);
        assert_eq!(
            b.fixed.late, 10,
            "30 configured days against 20 real: {b:?}"
        );
        assert!(b.learned.on_time >= 8, "{b:?}");
    }
}
