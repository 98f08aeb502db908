//! `aftercart import-orders --shop S --file orders.csv`: a shop's past orders, from
//! Shopify's order export ([`super::orders_csv`]), recorded as the webhook records an
//! order — order, customer profile, history entry, learned timing — through the same
//! parser and the same [`Recorder`], with [`Context::import`] set so that **nothing is
//! planned or credited**: no email is ever sent for a past order.
//!
//! Each order is one `orders/paid` delivery (`orders/create` while unpaid) under the
//! webhook id `import:{order id}`; a fully refunded order is also one `refunds/create`
//! delivery (`import:{order id}:refund`) refunding every unit, recorded with the shop's
//! rules but every playbook off, so the refund plans nothing either. A second run finds
//! every receipt (and every order already counted) and writes nothing.

use super::orders_csv::{self, Export, ExportOrder, RowError};
use aftercart::config::{Config, ShopConfig};
use aftercart::domain::ingest::Context;
use aftercart::ports::store::{Outcome, Recorder, StoreError};
use aftercart::wire::shopify::{parse_delivery, Event, Topic};
use anyhow::{bail, Context as _, Result};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportSummary {
    /// Data rows in the file.
    pub rows: usize,
    /// Orders in the file, skipped ones included.
    pub orders_read: usize,
    /// Orders this run wrote (the order, or what a previous run left unwritten of it).
    pub recorded: usize,
    /// Orders already recorded by an earlier run: nothing written.
    pub duplicates: usize,
    /// Full refunds this run wrote (for orders whose status is `refunded`).
    pub refunds_recorded: usize,
    /// Every reason an order was skipped, by line.
    pub skipped: Vec<RowError>,
    /// Orders skipped (an order may have several reasons).
    pub skipped_orders: usize,
    /// Lines whose SKU no `[[shop.product]]` rule matches (recorded all the same,
    /// without a product id), and how many there were of each SKU.
    pub unmatched_lines: usize,
    pub unmatched_skus: BTreeMap<String, usize>,
}

impl ImportSummary {
    /// Whether the run wrote nothing (every order already there or skipped).
    pub fn wrote_nothing(&self) -> bool {
        self.recorded == 0 && self.refunds_recorded == 0
    }
}

/// How many reasons or SKUs the summary prints before "… and N more".
const SHOWN: usize = 50;

impl fmt::Display for ImportSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} orders read ({} rows)", self.orders_read, self.rows)?;
        writeln!(f, "  recorded:      {}", self.recorded)?;
        writeln!(f, "  already there: {}", self.duplicates)?;
        writeln!(f, "  skipped:       {}", self.skipped_orders)?;
        for e in self.skipped.iter().take(SHOWN) {
            writeln!(f, "    {e}")?;
        }
        if self.skipped.len() > SHOWN {
            writeln!(f, "    … and {} more", self.skipped.len() - SHOWN)?;
        }
        if self.refunds_recorded > 0 {
            writeln!(f, "  full refunds recorded: {}", self.refunds_recorded)?;
        }
        writeln!(
            f,
            "  lines not matching a configured product: {}",
            self.unmatched_lines
        )?;
        for (sku, n) in self.unmatched_skus.iter().take(SHOWN) {
            let sku = if sku.is_empty() { "(no SKU)" } else { sku };
            writeln!(f, "    {sku}: {n}")?;
        }
        if self.unmatched_skus.len() > SHOWN {
            writeln!(
                f,
                "    … and {} more SKUs",
                self.unmatched_skus.len() - SHOWN
            )?;
        }
        write!(
            f,
            "nothing was sent: imported orders plan no follow-ups{}",
            if self.wrote_nothing() && self.duplicates > 0 {
                "; this run changed nothing"
            } else {
                ""
            }
        )
    }
}

/// Reads and checks the export at `path` (nothing is written: a missing column or an
/// unreadable file stops here).
pub fn read_export(path: &Path) -> Result<Export> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    orders_csv::parse(std::io::BufReader::new(file))
        .with_context(|| format!("{} is not a Shopify order export", path.display()))
}

/// The shop's rules, or an error if `shop` is not in the config.
pub fn shop_rules<'a>(config: &'a Config, shop: &str) -> Result<&'a ShopConfig> {
    let domain = super::parse_shop_domain(shop)?;
    match config.shop(&domain) {
        Some(rules) => Ok(rules),
        None => bail!("{domain} is not a shop of the config file"),
    }
}

/// Records `export`'s orders for `shop` through `recorder`, oldest first (as they
/// happened, so what the recording path learns from one order to the next sees them
/// in order). `progress` is called after each order with the count done. A store that
/// is unavailable stops the run (run it again: what was recorded is not recorded
/// twice); an order the store refuses for good is skipped and reported.
pub async fn import_orders<R: Recorder>(
    recorder: &R,
    config: &Config,
    shop: &str,
    export: &Export,
    now: DateTime<Utc>,
    mut progress: impl FnMut(usize),
) -> Result<ImportSummary> {
    let rules = shop_rules(config, shop)?;
    let quiet = quiet_rules(rules);
    let mut summary = ImportSummary {
        rows: export.rows,
        orders_read: export.orders.len() + export.skipped_orders().len(),
        skipped: export.errors.clone(),
        ..ImportSummary::default()
    };
    let mut orders: Vec<&ExportOrder> = export.orders.iter().collect();
    orders.sort_by_key(|o| (o.created_at.to_utc(), o.id));
    let recording = Recording {
        recorder,
        rules,
        quiet: &quiet,
        shards: config.dispatch.shards,
        now,
    };
    for (done, order) in orders.into_iter().enumerate() {
        match recording.order(order, &mut summary).await {
            Ok(()) => {}
            Err(e) if e.is_permanent() => summary.skipped.push(RowError {
                line: order.line,
                order: Some(order.name.clone()),
                reason: format!("the store refused it: {e}"),
            }),
            Err(e) => {
                return Err(anyhow::Error::new(e)).with_context(|| {
                    format!(
                        "recording order {} (line {}) after {} recorded and {} already there; \
                         run the import again: nothing is recorded twice",
                        order.name, order.line, summary.recorded, summary.duplicates
                    )
                })
            }
        }
        progress(done + 1);
    }
    summary.skipped.sort_by_key(|e| e.line);
    let mut names: Vec<&str> = summary
        .skipped
        .iter()
        .filter_map(|e| e.order.as_deref())
        .collect();
    names.sort_unstable();
    names.dedup();
    summary.skipped_orders = names.len();
    Ok(summary)
}

/// The shop's rules with every playbook off: what a refund is recorded with, so that
/// it plans nothing (the recording path plans a refund's follow-ups from the rules).
fn quiet_rules(rules: &ShopConfig) -> ShopConfig {
    let mut quiet = rules.clone();
    let p = &mut quiet.playbooks;
    p.thank_you.enabled = false;
    p.satisfaction.enabled = false;
    p.replenishment.enabled = false;
    p.loyalty.enabled = false;
    p.returns.enabled = false;
    p.recovery.enabled = false;
    quiet
}

struct Recording<'a, R> {
    recorder: &'a R,
    rules: &'a ShopConfig,
    quiet: &'a ShopConfig,
    shards: u32,
    now: DateTime<Utc>,
}

impl<R: Recorder> Recording<'_, R> {
    fn context<'c>(&'c self, webhook_id: &'c str, rules: &'c ShopConfig) -> Context<'c> {
        Context {
            shop: &self.rules.domain,
            webhook_id,
            now: self.now,
            rules: Some(rules),
            shards: self.shards,
            redelivery: false,
            import: true,
            counts: None,
        }
    }

    /// One order: its bodies checked by the webhook's own parser first (a body it
    /// refuses skips the order before anything is written), then recorded.
    async fn order(&self, o: &ExportOrder, summary: &mut ImportSummary) -> Result<(), StoreError> {
        let bodies = orders_csv::webhook_bodies(o, self.rules);
        let skip = |reason: String| RowError {
            line: o.line,
            order: Some(o.name.clone()),
            reason,
        };
        let event = match parse_delivery(bodies.topic, &self.rules.domain, &bodies.order) {
            Ok(e) => e,
            Err(e) => {
                summary
                    .skipped
                    .push(skip(format!("not a valid order: {e}")));
                return Ok(());
            }
        };
        let refund = match bodies
            .refund
            .as_deref()
            .map(|b| parse_delivery(Topic::RefundsCreate, &self.rules.domain, b))
        {
            None => None,
            Some(Ok(e)) => Some(e),
            Some(Err(e)) => {
                summary
                    .skipped
                    .push(skip(format!("not a valid refund: {e}")));
                return Ok(());
            }
        };
        let id = format!("import:{}", o.id);
        let order_outcome = self
            .recorder
            .record(&self.context(&id, self.rules), &event)
            .await?;
        let refund_outcome = match &refund {
            Some(r) => Some(self.refund(o, r).await?),
            None => None,
        };
        let wrote = |out: Option<Outcome>| matches!(out, Some(Outcome::Recorded { .. }));
        if wrote(refund_outcome) {
            summary.refunds_recorded += 1;
        }
        if wrote(Some(order_outcome)) || wrote(refund_outcome) {
            summary.recorded += 1;
        } else {
            summary.duplicates += 1;
        }
        for (_, sku) in bodies.unmatched {
            summary.unmatched_lines += 1;
            *summary
                .unmatched_skus
                .entry(sku.unwrap_or_default())
                .or_default() += 1;
        }
        Ok(())
    }

    async fn refund(&self, o: &ExportOrder, refund: &Event) -> Result<Outcome, StoreError> {
        let id = format!("import:{}:refund", o.id);
        self.recorder
            .record(&self.context(&id, self.quiet), refund)
            .await
    }
}

#[cfg(test)]
#[path = "import_tests.rs"]
mod tests;
