//! The reputation brake's step of a dispatch run (rule: [`crate::domain::reputation`]):
//! per shop, one read of its state and one Query over the window's day items; on a
//! change, the new state written on the shop item conditioned on its version; then,
//! once per change, the merchant's notice (the mark taken before the send and given
//! back if it fails, like the refused-deliveries notice). Also the operator's view and
//! resume (`aftercart reputation --shop S [--resume]`), and the sent count.

use super::Dispatcher;
use crate::adapters::dynamo::DynamoStore;
use crate::config::{Config, ShopConfig};
use crate::domain::reputation::{
    evaluate, notice_text, operator_resume, over_lines, sum, window, Change,
};
use crate::model::reputation::{Figures, ReputationState};
use crate::model::time::utc_key;
use crate::ports::dispatch::{DiscountStore, FollowUpStore, StoreAdmin};
use crate::ports::mail::{notify_merchant, Mailer, Notice, NoticeError};
use crate::ports::store::{Cas, StoreError};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// Checks every shop; returns the paused ones with their reason (the dispatch
/// summary's `marketing_paused`). On a store error the remaining shops are left for
/// the next run (logged), so a failing table does not eat the run's time before the
/// sends; every shop's stored state stands meanwhile, and the guards read that.
pub(super) async fn check_shops<M: Mailer>(
    store: &DynamoStore,
    mailer: &M,
    config: &Config,
    now: DateTime<Utc>,
) -> BTreeMap<String, String> {
    let mut paused = BTreeMap::new();
    for (i, shop) in config.shops.iter().enumerate() {
        match check_shop(store, mailer, config, shop, now).await {
            Ok(Some(reason)) => {
                paused.insert(shop.domain.clone(), reason);
            }
            Ok(None) => {}
            Err(e) => {
                let unchecked = config.shops.len() - i;
                tracing::error!(shop = %shop.domain, unchecked, error = %e, "reputation not checked this run; stored states stand");
                break;
            }
        }
    }
    paused
}

/// One shop's check; the pause reason if its marketing is paused afterwards.
pub async fn check_shop<M: Mailer>(
    store: &DynamoStore,
    mailer: &M,
    config: &Config,
    shop: &ShopConfig,
    now: DateTime<Utc>,
) -> Result<Option<String>, StoreError> {
    let rec = store.get_shop(&shop.domain).await?;
    if rec.as_ref().is_some_and(|r| r.uninstalled_at.is_some()) {
        // Uninstalled: nothing is sent, nobody to tell, and after `shop/redact` the
        // shop item is a tombstone nothing else writes.
        return Ok(None);
    }
    let (mut v, mut state) = rec.map_or((None, None), |r| (Some(r.v), r.reputation));
    let figures = figures(store, config, &shop.domain, now).await?;
    let next = match evaluate(&config.reputation, state.as_ref(), &figures, now) {
        Change::Keep => None,
        Change::Pause(s) | Change::Resume(s) | Change::Forget(s) => Some(s),
    };
    if let Some(next) = next {
        if store.save_reputation(&shop.domain, &next, v).await? == Cas::Lost {
            // Another dispatcher (or a webhook) wrote the shop item first: the next run
            // looks again; until then the stored state stands.
            return Ok(state.as_ref().and_then(paused_reason));
        }
        tracing::warn!(
            shop = %shop.domain,
            paused = next.paused_at.is_some(),
            reason = next.paused_reason.as_deref().unwrap_or("rates back below the lines"),
            sent = figures.sent,
            bounced = figures.bounced,
            complained = figures.complained,
            window_days = figures.window_days,
            "marketing brake changed"
        );
        v = Some(v.unwrap_or(0) + 1);
        state = Some(next);
    }
    if let Some(s) = &state {
        tell_merchant(store, mailer, config, shop, s, v, now).await?;
    }
    Ok(state.as_ref().and_then(paused_reason))
}

fn paused_reason(s: &ReputationState) -> Option<String> {
    s.pause_reason().map(str::to_owned)
}

/// The window's figures for `shop` as of `now`.
pub async fn figures(
    store: &DynamoStore,
    config: &Config,
    shop: &str,
    now: DateTime<Utc>,
) -> Result<Figures, StoreError> {
    let days = config.reputation.window_days;
    let (first, last) = window(now, days);
    let items = store.reputation_days(shop, &first, &last).await?;
    Ok(sum(&items, &first, days))
}

/// Tells the merchant of the latest change once: takes the mark (`notified_at`, a
/// version-conditioned write), sends, gives the mark back if the send failed.
async fn tell_merchant<M: Mailer>(
    store: &DynamoStore,
    mailer: &M,
    config: &Config,
    shop: &ShopConfig,
    state: &ReputationState,
    v: Option<u64>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if state.changed_at.is_none() || state.notified_at.is_some() {
        return Ok(());
    }
    let mut marked = state.clone();
    marked.notified_at = Some(utc_key(&now));
    if store.save_reputation(&shop.domain, &marked, v).await? == Cas::Lost {
        return Ok(()); // another dispatcher has it
    }
    let (subject, text) = notice_text(shop, &config.reputation, state);
    let notice = Notice {
        subject: &subject,
        text: &text,
        kind: "reputation_alert",
        reply_to: None,
        html: None,
    };
    match notify_merchant(mailer, config, shop, &notice, now).await {
        Ok(()) => {
            tracing::warn!(shop = %shop.domain, paused = state.paused_at.is_some(), "merchant told of the marketing brake");
        }
        Err(NoticeError::NoContact) => {
            // Nobody to tell: keep the mark, so this is logged once, not every minute.
            tracing::error!(shop = %shop.domain, "marketing brake changed: no sender_email and alert_email/support_email to tell the merchant");
        }
        Err(e) => {
            tracing::error!(shop = %shop.domain, error = %e, "marketing brake notice not sent; will try again");
            let after = Some(v.unwrap_or(0) + 1);
            store.save_reputation(&shop.domain, state, after).await?;
        }
    }
    Ok(())
}

/// What `aftercart reputation --shop S` shows: the window's figures, the lines they
/// are held to, and the stored state.
#[derive(Debug, Clone)]
pub struct Status {
    pub shop: String,
    pub figures: Figures,
    /// The rates at or over their line now (empty under `min_sends`).
    pub over: Vec<String>,
    pub state: Option<ReputationState>,
}

impl Status {
    /// The figures and state as an operator reads them.
    pub fn describe(&self, config: &Config) -> String {
        use crate::domain::reputation::percent;
        let s = &config.reputation;
        let f = &self.figures;
        let mut out = format!(
            "{}: last {} days (UTC): {} sent, {} bounced permanently ({}; line {}), {} complaints ({}; line {}); min_sends {}\n",
            self.shop,
            f.window_days,
            f.sent,
            f.bounced,
            percent(f.bounce_rate()),
            percent(s.bounce_warn),
            f.complained,
            percent(f.complaint_rate()),
            percent(s.complaint_warn),
            s.min_sends,
        );
        let st = self.state.clone().unwrap_or_default();
        match (&st.paused_at, &st.operator_resume) {
            (Some(at), _) => out.push_str(&format!(
                "marketing PAUSED since {at}: {}\n",
                st.pause_reason().unwrap_or_default()
            )),
            (None, Some(op)) => out.push_str(&format!(
                "marketing running: resumed by an operator at {}; holds until {} unless new bounces or complaints arrive\n",
                op.at, op.until
            )),
            (None, None) => out.push_str("marketing running\n"),
        }
        if let Some(n) = &st.notified_at {
            out.push_str(&format!("merchant told at {n}\n"));
        }
        if !self.over.is_empty() {
            out.push_str(&format!("over the line now: {}\n", self.over.join(", ")));
        }
        out
    }
}

/// The shop's figures and state, read only.
pub async fn status(
    store: &DynamoStore,
    config: &Config,
    shop: &str,
    now: DateTime<Utc>,
) -> Result<Status, StoreError> {
    let (_, state) = store.shop_reputation(shop).await?;
    let figures = figures(store, config, shop, now).await?;
    Ok(Status {
        shop: shop.to_owned(),
        over: over_lines(&config.reputation, &figures),
        figures,
        state,
    })
}

/// Lifts the shop's pause by hand (an operator's resume, see
/// [`crate::domain::reputation`]). `Ok(false)` when marketing was not paused; the next
/// dispatch run tells the merchant.
pub async fn resume(
    store: &DynamoStore,
    config: &Config,
    shop: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    for _ in 0..5 {
        let (v, state) = store.shop_reputation(shop).await?;
        if state.as_ref().and_then(|s| s.paused_at.as_ref()).is_none() {
            return Ok(false);
        }
        let figures = figures(store, config, shop, now).await?;
        let next = operator_resume(&figures, now);
        if store.save_reputation(shop, &next, v).await? == Cas::Done {
            tracing::warn!(shop, "marketing resumed by an operator");
            return Ok(true);
        }
    }
    Err(StoreError::Contention { attempts: 5 })
}

impl<M: Mailer, S: FollowUpStore + DiscountStore, A: StoreAdmin> Dispatcher<M, S, A> {
    /// Counts the emails SES accepted in a run, for their shops' rates: one write per
    /// shop and day. A failure loses those counts (logged): the rates then read
    /// slightly high, never low.
    pub(super) async fn count_for_reputation(&self, sent: super::SentCounts) {
        let writes = sent.into_iter().map(|((shop, _day), (now, n))| async move {
            if let Err(e) = self.store.count_sent(&shop, now, n).await {
                tracing::warn!(shop = %shop, sent = n, error = %e, "sends not counted for the reputation rates");
            }
        });
        futures::future::join_all(writes).await;
    }
}

#[cfg(test)]
mod tests {
    //! The guard with a paused shop; the rule itself is tested in `domain::reputation`,
    //! the whole step against moto in `tests/it/reputation.rs`.
    use crate::domain::guards::{guard, GuardContext, Verdict};
    use crate::model::{FollowUpRecord, OrderRecord, Playbook, ProfileRecord};
    use chrono::{DateTime, Duration};

    #[test]
    fn a_paused_shop_defers_marketing_and_sends_transactional() {
        let cfg = crate::config::Config::parse(
            "[[shop]]\npostal_address = \"1 Test Street, Springfield\"\ndomain = \"acme.myshopify.com\"\nsender_email = \"s@acme.example\"\n",
            "t",
        )
        .unwrap();
        let now = DateTime::parse_from_rfc3339("2026-12-02T10:00:00Z")
            .unwrap()
            .to_utc();
        let reason = "marketing paused: complaint rate 0.12 % over 7 days";
        let ctx = GuardContext {
            order: Some(OrderRecord {
                order_id: 1001,
                created_at: Some("2026-11-01T10:00:00.000Z".into()),
                ..OrderRecord::default()
            }),
            profile: Some(ProfileRecord {
                customer_key: "42".into(),
                email: Some("bob@example.com".into()),
                consent_state: Some("subscribed".into()),
                ..ProfileRecord::default()
            }),
            marketing_paused: Some(reason.into()),
            // What a satisfaction reminder needs to go: its check sent and delivered.
            reminder: Some(crate::domain::reminder::ReminderFacts {
                satisfaction: Some({
                    let mut first = FollowUpRecord::pending(
                        "acme.myshopify.com",
                        "42",
                        Playbook::Satisfaction,
                        1001,
                        None,
                        "2026-11-25T09:00:00.000Z",
                        "2026-11-01T10:00:00.000Z",
                        1,
                    );
                    first.status = crate::model::FollowUpStatus::Sent;
                    first.sent_at = Some("2026-11-25T09:00:00.000Z".into());
                    first.tracking.delivered_at = Some("2026-11-25T09:00:02.000Z".into());
                    first
                }),
                feedback: None,
            }),
            ..GuardContext::default()
        };
        for p in Playbook::ALL {
            let f = FollowUpRecord::pending(
                "acme.myshopify.com",
                "42",
                p,
                1001,
                None,
                "2026-12-02T09:00:00.000Z",
                "2026-11-01T10:00:00.000Z",
                1,
            );
            let v = guard(&cfg, &cfg.shops[0], &f, &ctx, now);
            if p.is_marketing() {
                assert_eq!(
                    v,
                    Verdict::Defer {
                        until: now + Duration::hours(1),
                        reason: reason.into()
                    },
                    "{p:?}"
                );
            } else {
                assert_eq!(v, Verdict::Send, "{p:?}");
            }
            // Not paused: everything goes.
            let running = GuardContext {
                marketing_paused: None,
                ..ctx.clone()
            };
            assert_eq!(
                guard(&cfg, &cfg.shops[0], &f, &running, now),
                Verdict::Send,
                "{p:?}"
            );
        }
        // Cancellations still come first: no consent cancels, paused or not.
        let mut no_consent = ctx.clone();
        if let Some(p) = no_consent.profile.as_mut() {
            p.consent_state = Some("unsubscribed".into());
        }
        let f = FollowUpRecord::pending(
            "acme.myshopify.com",
            "42",
            Playbook::Loyalty,
            1001,
            None,
            "2026-12-02T09:00:00.000Z",
            "2026-11-01T10:00:00.000Z",
            1,
        );
        assert!(matches!(
            guard(&cfg, &cfg.shops[0], &f, &no_consent, now),
            Verdict::Cancel(_)
        ));
    }
}
