//! The report's items: the per-day counters (`stats`, patterns 28–29), the order-name
//! pointers the follow-up lookup starts from (pattern 31), and the reads the report
//! makes (a shop's stats of a period, its settled comments from the due index's
//! `VOICE#{shop}` partition, its products' learned timing, one order's follow-ups).
//!
//! Counters are written **after** the write they count has committed, one `UpdateItem`
//! (`ADD`) per day and scope, with the SDK's retries off and a 400 ms limit: a counter
//! is never added twice by a retry, never holds a webhook past its budget, and is never
//! part of a transaction (a per-shop, per-day item in every transaction would make
//! concurrent deliveries of one shop cancel each other). A counter write that fails is
//! logged (`counter not added`) and lost; the state it counts is already right.
//!
//! The queue consumers add a whole batch's counts at its end instead, merged per shop,
//! day and scope (`model::report::Counts` for `ingest`, `Applied::Written`'s tallies
//! for `mail-events`): a batch's deliveries or events of one day cost one write of each
//! counter item they touch. A consumer that dies before the end loses that batch's
//! counts, as one dying between a write and its counter always lost that one's.

use super::{decode_item, key_attrs, unavailable, Attrs, DynamoStore, StoreError};
use crate::model::cadence::CadenceRecord;
use crate::model::report::{Scope, StatsRow, Tally};
use crate::model::{keys, FeedbackRecord, FollowUpRecord, Key, OrderRecord, VOICE_PREFIX};
use crate::ports::store::Cas;
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;
use std::time::Duration;

/// How long a counter write may take (one attempt, no retries).
const COUNTER_TIMEOUT: Duration = Duration::from_millis(400);
/// Stats items are kept 400 days: a year's reports and the comparison before them.
const STATS_TTL_DAYS: i64 = 400;

pub fn stats_pk(shop: &str) -> String {
    format!("SHOP#{shop}#STATS")
}

/// `DAY#{day}#{scope}` for a playbook or the shop, `PRODUCT#{day}#{scope}` for a
/// product: the report reads the first for both periods and the second for the
/// current one only.
pub fn stats_key(shop: &str, day: &str, scope: &Scope) -> Key {
    let kind = match scope {
        Scope::Product(_) => PRODUCT_ROWS,
        Scope::Playbook(_) | Scope::Shop => DAY_ROWS,
    };
    Key {
        pk: stats_pk(shop),
        sk: format!("{kind}{day}#{}", scope.key()),
    }
}

const DAY_ROWS: &str = "DAY#";
const PRODUCT_ROWS: &str = "PRODUCT#";

/// `SHOP#{shop}#DIGEST` / `{week}`: the weekly digest of `week` (`2026-W49`) went out
/// (in a partition of the shop's, so `shop/redact` erases it with the rest).
pub fn digest_key(shop: &str, week: &str) -> Key {
    Key {
        pk: format!("SHOP#{shop}#DIGEST"),
        sk: week.to_owned(),
    }
}

/// `SHOP#{shop}#ORDERNAME#{name}` / `ORDERNAME`: which order id a name (`#1001`) is.
pub fn order_name_key(shop: &str, name: &str) -> Key {
    Key {
        pk: format!("SHOP#{shop}#ORDERNAME#{}", name.trim()),
        sk: "ORDERNAME".into(),
    }
}

impl DynamoStore {
    /// Once a delivery's writes committed: the report's counters they change (or, in a
    /// batch, their tallies into `ctx.counts`, added once at its end) and, for an order
    /// first seen with its name, the name's pointer (both best effort, in parallel, each
    /// bounded to 400 ms: see the module's notes).
    pub(super) async fn after_commit(
        &self,
        ctx: &crate::domain::ingest::Context<'_>,
        loaded: &crate::domain::ingest::Loaded,
        writes: &[crate::domain::ingest::Write],
    ) {
        let tallies = crate::domain::report::of_writes(
            &crate::model::time::utc_key(&ctx.now),
            loaded,
            writes,
        );
        let named = writes.iter().find_map(|w| match &w.item {
            crate::domain::ingest::Item::Order(o)
                if o.name.is_some() && loaded.order.as_ref().is_none_or(|l| l.name.is_none()) =>
            {
                Some(o)
            }
            _ => None,
        });
        let pointer = async {
            if let Some(o) = named {
                if let Err(e) = self.put_order_name(ctx.shop, o).await {
                    tracing::warn!(error = %e, "order name pointer not written");
                }
            }
        };
        match ctx.counts {
            Some(counts) => {
                counts.add(ctx.shop, tallies);
                pointer.await;
            }
            None => {
                tokio::join!(self.add_tallies(ctx.shop, tallies), pointer);
            }
        }
    }

    /// Adds every tally (merged per day and scope first), each its own write, all at
    /// once. Failures are logged and dropped (see the module's notes).
    pub async fn add_tallies(&self, shop: &str, tallies: Vec<Tally>) {
        let tallies = crate::domain::report::merge(tallies);
        let writes = tallies.iter().map(|t| self.add_tally(shop, t));
        for (t, result) in tallies.iter().zip(futures::future::join_all(writes).await) {
            if let Err(e) = result {
                let counters: Vec<String> = t.adds.iter().map(|(c, _)| c.name()).collect();
                tracing::warn!(shop, day = %t.day, scope = %t.scope.key(), ?counters, error = %e, "counter not added");
            }
        }
    }

    async fn add_tally(&self, shop: &str, t: &Tally) -> Result<(), StoreError> {
        let key = stats_key(shop, &t.day, &t.scope);
        let mut names = HashMap::new();
        let mut values = HashMap::new();
        let mut adds = Vec::new();
        for (i, (counter, amount)) in t.adds.iter().enumerate() {
            names.insert(format!("#c{i}"), counter.name());
            values.insert(format!(":c{i}"), AttributeValue::N(amount.clone()));
            adds.push(format!("#c{i} :c{i}"));
        }
        if let Some(reason) = &t.failed_reason {
            names.insert("#fr".into(), "failed_reasons".into());
            values.insert(":fr".into(), AttributeValue::Ss(vec![reason.clone()]));
            adds.push("#fr :fr".into());
        }
        let mut sets = vec!["#entity = :entity", "#exp = if_not_exists(#exp, :exp)"];
        if let Some(title) = &t.title {
            names.insert("#title".into(), "title".into());
            values.insert(":title".into(), AttributeValue::S(title.clone()));
            sets.push("#title = :title");
        }
        for (n, a) in [
            ("#entity", super::table::ENTITY),
            ("#exp", super::table::TTL_ATTRIBUTE),
        ] {
            names.insert(n.into(), a.into());
        }
        // From the item's day, so every write of it sets the same expiry.
        let day_start = chrono::NaiveDate::parse_from_str(&t.day, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map_or_else(
                || chrono::Utc::now().timestamp(),
                |d| d.and_utc().timestamp(),
            );
        let expires = day_start + STATS_TTL_DAYS * 86_400;
        values.insert(":entity".into(), AttributeValue::S("stats".into()));
        values.insert(":exp".into(), AttributeValue::N(expires.to_string()));
        let mut expression = format!("SET {}", sets.join(", "));
        if !adds.is_empty() {
            expression.push_str(&format!(" ADD {}", adds.join(", ")));
        }
        let once = aws_sdk_dynamodb::config::Builder::new()
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .operation_timeout(COUNTER_TIMEOUT)
                    .build(),
            );
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(&key)))
            .update_expression(expression)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .customize()
            .config_override(once)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| unavailable("UpdateItem", &e))
    }

    /// The stats items of `shop` from `from_day` to `to_day` (both included), of the
    /// playbooks and the shop or (`products`) of the products: one query, paged.
    pub async fn stats(
        &self,
        shop: &str,
        from_day: &str,
        to_day: &str,
        products: bool,
    ) -> Result<Vec<StatsRow>, StoreError> {
        let kind = if products { PRODUCT_ROWS } else { DAY_ROWS };
        let items: Vec<Attrs> = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
            .expression_attribute_values(":pk", AttributeValue::S(stats_pk(shop)))
            .expression_attribute_values(":from", AttributeValue::S(format!("{kind}{from_day}#")))
            .expression_attribute_values(":to", AttributeValue::S(format!("{kind}{to_day}#~")))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| unavailable("Query", &e))?;
        Ok(items.iter().map(stats_row).collect())
    }

    /// The settled feedback items with a comment changed between `from_key` and
    /// `to_key`, newest first, at most `limit`; `true` when there may be more.
    pub async fn voice(
        &self,
        shop: &str,
        from_key: &str,
        to_key: &str,
        limit: usize,
    ) -> Result<(Vec<FeedbackRecord>, bool), StoreError> {
        let page = i32::try_from(limit.saturating_add(1).min(1000)).unwrap_or(1000);
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(super::table::DUE_INDEX.name)
            .key_condition_expression("#pk = :pk AND #sk BETWEEN :from AND :to")
            .expression_attribute_names("#pk", super::table::DUE_INDEX.pk)
            .expression_attribute_names("#sk", super::table::DUE_INDEX.sk)
            .expression_attribute_values(":pk", AttributeValue::S(format!("{VOICE_PREFIX}{shop}")))
            .expression_attribute_values(":from", AttributeValue::S(from_key.to_owned()))
            .expression_attribute_values(":to", AttributeValue::S(format!("{to_key}#~")))
            .scan_index_forward(false)
            .limit(page)
            .into_paginator()
            .items()
            .send();
        // The index keeps keys only: the keys, newest first, then the items themselves.
        // One more than `limit` tells whether there were more; no page past it is read.
        let mut wanted = Vec::new();
        let mut more = false;
        while let Some(entry) = pages.next().await {
            let entry = entry.map_err(|e| unavailable("Query", &e))?;
            if wanted.len() == limit {
                more = true;
                break;
            }
            wanted.extend(super::privacy::key_of(&entry));
        }
        let mut found = std::collections::HashMap::new();
        for chunk in wanted.chunks(100) {
            found.extend(self.get_many(chunk).await?);
        }
        let items = wanted
            .into_iter()
            .filter_map(|k| found.remove(&(k.pk, k.sk)))
            .map(|item| decode_item::<FeedbackRecord>(item, "comment"))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((items, more))
    }

    /// Every product's learned timing in `shop`: one query of the shop's partition,
    /// its `CADENCE#` items only, paged.
    pub async fn cadences(&self, shop: &str) -> Result<Vec<CadenceRecord>, StoreError> {
        let items: Vec<Attrs> = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", AttributeValue::S(keys::shop(shop).pk))
            .expression_attribute_values(":prefix", AttributeValue::S(keys::CADENCE_PREFIX.into()))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| unavailable("Query", &e))?;
        items
            .into_iter()
            .map(|item| decode_item::<CadenceRecord>(item, "learned timing"))
            .collect()
    }

    /// Records which order a name is, the first time the order is seen with its name.
    pub async fn put_order_name(&self, shop: &str, order: &OrderRecord) -> Result<(), StoreError> {
        let Some(name) = order.name.as_deref().filter(|n| !n.trim().is_empty()) else {
            return Ok(());
        };
        let mut item = key_attrs(&order_name_key(shop, name));
        item.insert(
            "order_id".into(),
            AttributeValue::N(order.order_id.to_string()),
        );
        item.insert(
            super::table::ENTITY.into(),
            AttributeValue::S("order_name".into()),
        );
        if let Some(exp) = order.expires_at {
            item.insert(
                super::table::TTL_ATTRIBUTE.into(),
                AttributeValue::N(exp.to_string()),
            );
        }
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| unavailable("PutItem", &e))
    }

    /// The order a name or id (`#1001`, `1001`, `450789469`) stands for, if recorded.
    pub async fn find_order(
        &self,
        shop: &str,
        name_or_id: &str,
    ) -> Result<Option<OrderRecord>, StoreError> {
        let wanted = name_or_id.trim();
        let mut names = vec![wanted.to_owned()];
        if !wanted.starts_with('#') {
            names.push(format!("#{wanted}"));
        }
        for name in names {
            let out = self
                .client
                .get_item()
                .table_name(&self.table)
                .set_key(Some(key_attrs(&order_name_key(shop, &name))))
                .send()
                .await
                .map_err(|e| unavailable("GetItem", &e))?;
            let id = out
                .item()
                .and_then(|i| i.get("order_id"))
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse::<u64>().ok());
            if let Some(id) = id {
                return self.get_order(shop, id).await;
            }
        }
        match wanted.trim_start_matches('#').parse::<u64>() {
            Ok(id) => self.get_order(shop, id).await,
            Err(_) => Ok(None),
        }
    }

    /// A customer's follow-ups and feedback items (one query of their partition).
    pub async fn customer_followups(
        &self,
        shop: &str,
        customer_key: &str,
    ) -> Result<(Vec<FollowUpRecord>, Vec<FeedbackRecord>), StoreError> {
        let pk = keys::profile(shop, customer_key).pk;
        let items: Vec<Attrs> = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :a AND :b")
            .expression_attribute_values(":pk", AttributeValue::S(pk))
            .expression_attribute_values(":a", AttributeValue::S(keys::FEEDBACK_PREFIX.into()))
            // `$` sorts right after `#`: the upper bound closes the `FOLLOWUP#` range.
            .expression_attribute_values(":b", AttributeValue::S("FOLLOWUP$".into()))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| unavailable("Query", &e))?;
        let (mut followups, mut feedback) = (Vec::new(), Vec::new());
        for item in items {
            let sk = item
                .get(super::table::SK)
                .and_then(|v| v.as_s().ok())
                .cloned();
            match sk.as_deref() {
                Some(sk) if sk.starts_with(keys::FOLLOWUP_PREFIX) => {
                    followups.push(decode_item(item, "follow-up")?)
                }
                Some(sk) if sk.starts_with(keys::FEEDBACK_PREFIX) => {
                    feedback.push(decode_item(item, "feedback")?)
                }
                _ => {}
            }
        }
        Ok((followups, feedback))
    }
}

fn stats_row(item: &Attrs) -> StatsRow {
    let s = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
    // The day and scope are the sort key's (`DAY#{day}#{scope}`, `PRODUCT#…`): not
    // stored again, so an item holds little beyond its counters.
    let sk = s(super::table::SK).unwrap_or_default();
    let rest = sk.split_once('#').map_or("", |(_, rest)| rest);
    let (day, scope) = rest.split_once('#').unwrap_or((rest, ""));
    let mut row = StatsRow {
        day: day.to_owned(),
        scope: scope.to_owned(),
        title: s("title"),
        ..StatsRow::default()
    };
    for (k, v) in item {
        if let Ok(n) = v.as_n() {
            if k != super::table::TTL_ATTRIBUTE {
                row.counts.insert(k.clone(), n.clone());
            }
        }
    }
    if let Some(AttributeValue::Ss(reasons)) = item.get("failed_reasons") {
        row.failed_reasons = reasons.clone();
        row.failed_reasons.sort();
    }
    row
}

impl crate::ports::report::ReportStore for DynamoStore {
    async fn stats(
        &self,
        shop: &str,
        from_day: &str,
        to_day: &str,
        products: bool,
    ) -> Result<Vec<StatsRow>, StoreError> {
        DynamoStore::stats(self, shop, from_day, to_day, products).await
    }
    async fn comments(
        &self,
        shop: &str,
        from_key: &str,
        to_key: &str,
        limit: usize,
    ) -> Result<(Vec<FeedbackRecord>, bool), StoreError> {
        self.voice(shop, from_key, to_key, limit).await
    }
    async fn cadences(&self, shop: &str) -> Result<Vec<CadenceRecord>, StoreError> {
        DynamoStore::cadences(self, shop).await
    }
    async fn find_order(
        &self,
        shop: &str,
        name_or_id: &str,
    ) -> Result<Option<OrderRecord>, StoreError> {
        DynamoStore::find_order(self, shop, name_or_id).await
    }
    async fn customer_followups(
        &self,
        shop: &str,
        customer_key: &str,
    ) -> Result<(Vec<FollowUpRecord>, Vec<FeedbackRecord>), StoreError> {
        DynamoStore::customer_followups(self, shop, customer_key).await
    }
    async fn claim_digest(&self, shop: &str, week: &str, now_key: &str) -> Result<Cas, StoreError> {
        let mut item = key_attrs(&digest_key(shop, week));
        item.insert("sent_at".into(), AttributeValue::S(now_key.to_owned()));
        item.insert(
            super::table::ENTITY.into(),
            AttributeValue::S("digest".into()),
        );
        let sent = crate::model::time::parse_time(now_key)
            .map_or_else(|| chrono::Utc::now().timestamp(), |t| t.timestamp());
        let expires = sent + 60 * 86_400;
        item.insert(
            super::table::TTL_ATTRIBUTE.into(),
            AttributeValue::N(expires.to_string()),
        );
        let out = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        super::cas("PutItem", out)
    }

    async fn release_digest(&self, shop: &str, week: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(&digest_key(shop, week))))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| unavailable("DeleteItem", &e))
    }
}
