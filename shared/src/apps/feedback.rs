//! Settling ratings: where a click on a rating link takes effect, a few minutes after it
//! was made (see [`crate::domain::feedback`] for who counts as a person). Run by the
//! `dispatch` function before its sends, over the links app's port.
//!
//! For each feedback item due in a `SETTLE#n` partition of the due index: a scanner's
//! burst is closed with no effect; a person's rating counts the click on the follow-up,
//! alerts the merchant of a low score (once), passes a comment on (once, `Reply-To` the
//! customer), plans the apology for a low score and calls it off for a high one. The
//! settling write is version-conditioned and marks the notices sent, so of two
//! dispatchers only one acts and a notice is never sent twice (one that fails to go out
//! is logged). Nothing personal is logged.

use crate::config::{Config, ShopConfig};
use crate::domain::feedback::{self, Effects, Scale, TallyRule};
use crate::model::time::{parse_time, utc_key, Clock};
use crate::model::{
    keys, FeedbackRecord, FollowUpRecord, FollowUpStatus, OrderRecord, Playbook, ReasonTallyRecord,
    ReturnReason, SETTLE_PREFIX,
};
use crate::ports::links::LinkStore;
use crate::ports::mail::{notify_merchant, Mailer, Notice, NoticeError};
use crate::ports::store::{Cas, StoreError};
use chrono::{DateTime, Duration, Utc};
use std::fmt::Write as _;
use std::time::Instant;

/// Feedback items read per shard per run.
const BATCH: i32 = 200;
/// Optimistic-concurrency rounds for one tally before the settlement is left for later.
const TALLY_ATTEMPTS: u32 = 5;

/// What one settling pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Settled {
    /// People's ratings that took effect (or were settled again for a comment).
    pub ratings: u32,
    /// Items that held only a scanner's burst of clicks.
    pub scanner_bursts: u32,
    /// Notices sent to merchants (low-score alerts and comments).
    pub notices: u32,
    /// Items another dispatcher or a new click changed first: left for the next run.
    pub lost: u32,
}

/// What settling needs: the store, the mailer for merchant notices, config and clock.
pub struct Settler<'a, S, M> {
    pub config: &'a Config,
    pub store: &'a S,
    pub mailer: &'a M,
    pub clock: &'a dyn Clock,
}

impl<S: LinkStore, M: Mailer> Settler<'_, S, M> {
    /// Settles what is due in every shard until nothing is or `deadline` is near.
    pub async fn settle_due(&self, deadline: Instant) -> Result<Settled, StoreError> {
        let mut done = Settled::default();
        let now_key = utc_key(&self.clock.now());
        let partitions: Vec<String> = (0..self.config.dispatch.shards)
            .map(|shard| format!("{SETTLE_PREFIX}{shard}"))
            .collect();
        for item in self
            .store
            .due_feedback(&partitions, &now_key, BATCH)
            .await?
        {
            if Instant::now() >= deadline {
                return Ok(done);
            }
            self.settle_one(item, &mut done).await?;
        }
        Ok(done)
    }

    async fn settle_one(&self, item: FeedbackRecord, done: &mut Settled) -> Result<(), StoreError> {
        let now = self.clock.now();
        let Some(shop) = self.config.shop(&item.shop) else {
            // A shop no longer configured: close the item without effect.
            let mut next = item.clone();
            next.v += 1;
            next.unindex();
            self.save(&item, &next, done).await?;
            return Ok(());
        };
        let rules = &shop.playbooks.satisfaction;
        let scale = if item.is_return_reason() {
            Scale::Reason
        } else {
            Scale::Score {
                low: rules.low_score,
                high: rules.high_score,
            }
        };
        let burst = Duration::seconds(self.config.links.scanner_burst_seconds.into());
        let (mut next, effects) = feedback::settle(&item, scale, burst, now);
        // A person's rating or reason needs its order: for the report (its name and
        // products) and for the return-reason tallies. Read once.
        let order = match effects {
            Some(_) => self.store.get_order(&item.shop, item.order_id).await?,
            None => None,
        };
        let tallies = self.report_counts(&mut next, order.as_ref());
        // The apology's plan and call-off and the reason tallies are idempotent: made
        // before the settling write, so a store failure between the two loses none of
        // them (the next run settles again).
        let mut repeated = Vec::new();
        if let Some(effects) = &effects {
            if effects.plan_recovery {
                self.plan_recovery(shop, &next, &effects.rated_at, now)
                    .await?;
            } else if effects.cancel_recovery {
                self.cancel_recovery(&next).await?;
            }
            if let Some(change) = effects.retally {
                repeated = self
                    .retally(shop, &next, order.as_ref(), change, &effects.rated_at, now)
                    .await?;
            }
        }
        // A tally that reached its count alerts once, whatever becomes of this write.
        for alert in &repeated {
            if self.send_notice(shop, &next, alert, None, now).await {
                done.notices += 1;
            }
        }
        if !self.save(&item, &next, done).await? {
            return Ok(());
        }
        self.store.count(&item.shop, tallies).await;
        let Some(effects) = effects else {
            done.scanner_bursts += 1;
            tracing::info!(shop = %shop.domain, followup = %item.followup, clicks = item.clicks.len(), "clicks were a scanner's burst: no rating or reason");
            return Ok(());
        };
        done.ratings += 1;
        // At most once from here: the write above marked the click counted and the
        // notices sent.
        if let Some(at) = &effects.count_click_at {
            let followup = keys::followup(&next.shop, &next.customer_key, &next.followup);
            self.store.record_click(&followup, at).await?;
        }
        if (effects.alert_low || effects.pass_comment)
            && self.notify(shop, &next, &effects, now).await
        {
            done.notices += 1;
        }
        Ok(())
    }

    /// The report's counters this settling changes (a first or changed score or
    /// reason, a comment), marked on `next` so they move rather than add up; and, for a
    /// comment, the item's entry in the shop's list of comments (`VOICE#{shop}`).
    fn report_counts(
        &self,
        next: &mut FeedbackRecord,
        order: Option<&OrderRecord>,
    ) -> Vec<crate::model::report::Tally> {
        let playbook = if next.is_return_reason() {
            Playbook::Returns
        } else {
            Playbook::Satisfaction
        };
        let products = match (order, playbook) {
            (Some(o), Playbook::Returns) => returned_products(o),
            (Some(o), _) => ordered_products(o),
            (None, _) => Vec::new(),
        };
        if let Some(name) = order.and_then(|o| o.name.clone()) {
            next.order_name = Some(name);
        }
        let now_key = utc_key(&self.clock.now());
        let (tallies, score, comment) =
            crate::domain::report::of_settle(next, playbook, &products, &now_key);
        next.counted_score = score;
        next.counted_comment = comment;
        next.index_voice();
        tallies
    }

    /// Counts the return under `reason` in the tally of every product it refunded (and
    /// takes it out of `before`'s); the notices of tallies that reached their count.
    async fn retally(
        &self,
        shop: &ShopConfig,
        item: &FeedbackRecord,
        order: Option<&OrderRecord>,
        (before, reason): (Option<ReturnReason>, ReturnReason),
        at: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let rule = TallyRule {
            count: shop.playbooks.returns.reason_alert_count,
            window: Duration::days(shop.playbooks.returns.reason_alert_days.into()),
        };
        let mut alerts = Vec::new();
        for (product_id, title) in order.map(returned_products).unwrap_or_default() {
            if let Some(before) = before {
                self.update_tally(
                    &item.shop,
                    product_id,
                    before,
                    &item.followup,
                    None,
                    now,
                    &rule,
                )
                .await?;
            }
            let (tally, alert) = self
                .update_tally(
                    &item.shop,
                    product_id,
                    reason,
                    &item.followup,
                    Some(at),
                    now,
                    &rule,
                )
                .await?;
            if alert {
                alerts.push(repeated_reason_text(shop, &title, reason, &tally, &rule));
            }
        }
        Ok(alerts)
    }

    /// One tally's version-conditioned update, retried while other returns write it.
    #[allow(clippy::too_many_arguments)]
    async fn update_tally(
        &self,
        shop: &str,
        product_id: u64,
        reason: ReturnReason,
        followup: &str,
        at: Option<&str>,
        now: DateTime<Utc>,
        rule: &TallyRule,
    ) -> Result<(ReasonTallyRecord, bool), StoreError> {
        for _ in 0..TALLY_ATTEMPTS {
            let current = self
                .store
                .get_reason_tally(shop, product_id, reason)
                .await?;
            if current.is_none() && at.is_none() {
                return Ok((ReasonTallyRecord::default(), false)); // nothing to take out
            }
            let expected = current.as_ref().map(|t| t.v);
            let current = current.unwrap_or(ReasonTallyRecord {
                product_id,
                reason: Some(reason),
                ..ReasonTallyRecord::default()
            });
            let (next, alert) = feedback::tally(current, followup, at, now, rule);
            if self
                .store
                .save_reason_tally(shop, reason, &next, expected)
                .await?
                == Cas::Done
            {
                return Ok((next, alert));
            }
        }
        Err(StoreError::Unavailable {
            operation: "PutItem",
            message: "a return-reason tally kept changing; retried next run".into(),
        })
    }

    /// Writes the settled item; `false` when it changed meanwhile (the next run sees it).
    async fn save(
        &self,
        item: &FeedbackRecord,
        next: &FeedbackRecord,
        done: &mut Settled,
    ) -> Result<bool, StoreError> {
        let saved = self
            .store
            .save_feedback(&item.shop, &item.customer_key, next, Some(item.v))
            .await?;
        if saved == Cas::Lost {
            done.lost += 1;
        }
        Ok(saved == Cas::Done)
    }

    /// Plans the apology once per order (a pending follow-up, sent by `dispatch`),
    /// `delay_hours` after the person rated.
    async fn plan_recovery(
        &self,
        shop: &ShopConfig,
        item: &FeedbackRecord,
        rated_at: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let rule = &shop.playbooks.recovery;
        if !rule.enabled {
            return Ok(());
        }
        let rated = parse_time(rated_at).map_or(now, |t| t.to_utc());
        let due = rated
            .checked_add_signed(Duration::hours(rule.delay_hours.into()))
            .unwrap_or(now);
        let f = FollowUpRecord::pending(
            &item.shop,
            &item.customer_key,
            Playbook::Recovery,
            item.order_id,
            None,
            &utc_key(&due),
            &utc_key(&now),
            self.config.dispatch.shards,
        );
        if self.store.create_followup(&f).await? == Cas::Done {
            let tally = crate::domain::report::planned(&f, &utc_key(&now));
            self.store.count(&f.shop, vec![tally]).await;
        }
        Ok(())
    }

    /// A customer who re-rates high no longer needs the apology.
    async fn cancel_recovery(&self, item: &FeedbackRecord) -> Result<(), StoreError> {
        let id = crate::model::followup_id(Playbook::Recovery, item.order_id, None);
        let Some(f) = self
            .store
            .get_followup(&item.shop, &item.customer_key, &id)
            .await?
        else {
            return Ok(());
        };
        if f.status != FollowUpStatus::Pending {
            return Ok(());
        }
        let mut next = f.clone();
        next.v += 1;
        next.status = FollowUpStatus::Cancelled;
        next.reason = Some("rated again higher".into());
        next.unindex();
        // Lost: a dispatcher took it first; the apology goes out, which is harmless.
        if self.store.save_followup(&next, f.v, None).await? == Cas::Done {
            let now_key = utc_key(&self.clock.now());
            let tally = crate::domain::report::of_outcome(&f, &next, &now_key);
            self.store.count(&f.shop, tally.into_iter().collect()).await;
        }
        Ok(())
    }

    /// One mail to the merchant with the score (or reason), the comment if any, the
    /// order and its admin link, `Reply-To` the customer. `true` when it went out.
    async fn notify(
        &self,
        shop: &ShopConfig,
        item: &FeedbackRecord,
        effects: &Effects,
        now: DateTime<Utc>,
    ) -> bool {
        // Neither read is worth holding the notice back for.
        let order = self
            .store
            .get_order(&item.shop, item.order_id)
            .await
            .ok()
            .flatten();
        let customer = self
            .store
            .get_profile(&item.shop, &item.customer_key)
            .await
            .ok()
            .flatten()
            .and_then(|p| p.email);
        let text = notice_text(shop, item, effects, order.as_ref(), customer.is_some());
        self.send_notice(shop, item, &text, customer.as_deref(), now)
            .await
    }

    /// Sends one notice `(subject, text)` to the merchant; `true` when it went out. A
    /// customer address a header cannot carry is left out rather than losing the notice.
    async fn send_notice(
        &self,
        shop: &ShopConfig,
        item: &FeedbackRecord,
        (subject, text): &(String, String),
        reply_to: Option<&str>,
        now: DateTime<Utc>,
    ) -> bool {
        let mut notice = Notice {
            subject,
            text,
            kind: "merchant_alert",
            reply_to,
            html: None,
        };
        let mut sent = notify_merchant(self.mailer, self.config, shop, &notice, now).await;
        if matches!(sent, Err(NoticeError::Build(_))) && notice.reply_to.is_some() {
            notice.reply_to = None;
            sent = notify_merchant(self.mailer, self.config, shop, &notice, now).await;
        }
        match sent {
            Ok(()) => {
                tracing::info!(shop = %shop.domain, followup = %item.followup, "merchant told");
                true
            }
            Err(NoticeError::NoContact) => {
                tracing::warn!(shop = %shop.domain, followup = %item.followup, "no alert_email or support_email configured: merchant not told");
                false
            }
            Err(e) => {
                tracing::error!(shop = %shop.domain, followup = %item.followup, error = %e, "merchant notice not sent");
                false
            }
        }
    }
}

/// The products a return is about, each once with its title: the order's refunded lines,
/// else (no refund lines recorded) every line with a product.
/// Every product of an order, once each, with its title.
pub fn ordered_products(order: &OrderRecord) -> Vec<(u64, String)> {
    let mut out: Vec<(u64, String)> = Vec::new();
    for line in &order.lines {
        if let Some(p) = line.product_id {
            if !out.iter().any(|(q, _)| *q == p) {
                out.push((p, line.title.clone()));
            }
        }
    }
    out
}

pub fn returned_products(order: &OrderRecord) -> Vec<(u64, String)> {
    let refunded: Vec<_> = order
        .lines
        .iter()
        .filter(|l| order.refunded_qty(l.line_item_id) > 0)
        .collect();
    let lines = if refunded.is_empty() {
        order.lines.iter().collect()
    } else {
        refunded
    };
    let mut out: Vec<(u64, String)> = Vec::new();
    for line in lines {
        if let Some(p) = line.product_id {
            if !out.iter().any(|(q, _)| *q == p) {
                out.push((p, line.title.clone()));
            }
        }
    }
    out
}

/// The alert of a product whose returns gave one reason `rule.count` times.
pub fn repeated_reason_text(
    shop: &ShopConfig,
    title: &str,
    reason: ReturnReason,
    tally: &ReasonTallyRecord,
    rule: &TallyRule,
) -> (String, String) {
    let days = rule.window.num_days();
    let count = tally.returns.len();
    let subject = format!(
        "{count} returns of {title} in {days} days: \"{}\"",
        reason.label()
    );
    let mut text = format!(
        "{count} customers who sent back {title} in the last {days} days gave the same reason: \"{}\".\n\nProduct: https://{}/admin/products/{}\n\nOrders:\n",
        reason.label(),
        shop.domain,
        tally.product_id
    );
    let mut returns: Vec<(&String, &String)> = tally.returns.iter().collect();
    returns.sort_by(|a, b| b.1.cmp(a.1));
    for (followup, _) in returns {
        if let Some(order) = followup.split('#').nth(1) {
            let _ = writeln!(text, "https://{}/admin/orders/{order}", shop.domain);
        }
    }
    let _ = write!(
        text,
        "\nAftercart tells you again if it happens {} more times after {days} days.\n",
        rule.count
    );
    (subject, text)
}

/// The subject and text of a merchant notice: a low score, a comment, or both.
pub fn notice_text(
    shop: &ShopConfig,
    item: &FeedbackRecord,
    effects: &Effects,
    order: Option<&OrderRecord>,
    can_reply: bool,
) -> (String, String) {
    let order_name = order
        .and_then(|o| o.name.clone())
        .unwrap_or_else(|| item.order_id.to_string());
    let score = effects.score;
    let comment = item.comment.as_deref().filter(|_| effects.pass_comment);
    if let Some(reason) = item.return_reason() {
        let subject = format!(
            "A customer's return reason for order {order_name}: {}",
            reason.label()
        );
        let mut text = format!(
            "A customer who sent back order {order_name} gave the reason \"{}\".\n\n",
            reason.label()
        );
        if let Some(c) = comment {
            let _ = write!(text, "Their comment:\n\n{c}\n\n");
            if can_reply {
                text.push_str("Reply to this email to answer them directly.\n\n");
            }
        }
        let _ = writeln!(
            text,
            "Order: https://{}/admin/orders/{}",
            shop.domain, item.order_id
        );
        return (subject, text);
    }
    let subject = match (effects.alert_low, comment.is_some()) {
        (true, true) => format!("Low rating with a comment: {score}/5 for order {order_name}"),
        (true, false) => format!("Low rating: {score}/5 for order {order_name}"),
        _ => format!("A customer's comment on order {order_name} ({score}/5)"),
    };
    let mut text = format!("A customer rated order {order_name} {score}/5.\n\n");
    match comment {
        Some(c) => {
            let _ = write!(text, "Their comment:\n\n{c}\n\n");
        }
        None => text
            .push_str("They have not written a comment. If they do, Aftercart passes it on.\n\n"),
    }
    if comment.is_some() && can_reply {
        text.push_str("Reply to this email to answer them directly.\n\n");
    }
    let _ = writeln!(
        text,
        "Order: https://{}/admin/orders/{}",
        shop.domain, item.order_id
    );
    if effects.alert_low && shop.playbooks.recovery.enabled {
        let _ = write!(
            text,
            "\nAftercart will send them an apology {} hour(s) after their rating unless they rate again higher.\n",
            shop.playbooks.recovery.delay_hours
        );
    }
    (subject, text)
}

#[cfg(test)]
mod tests;
