//! The merchant's report: computed from the shop's counters and comments over the
//! report port ([`compute`]), an order's follow-ups ([`lookup`]), and the weekly digest
//! the dispatcher sends ([`send_digests`]). Rendering is `email::report`; the figures
//! are `domain::report`. See `docs/report.md`.

use crate::config::{Config, ShopConfig};
use crate::domain::report::{self as figures, Inputs};
use crate::model::report::{Lookup, Report};
use crate::model::time::utc_key;
use crate::model::tokens::LinkBuilder;
use crate::ports::mail::{notify_merchant, Mailer, Notice};
use crate::ports::report::ReportStore;
use crate::ports::store::{Cas, StoreError};
use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};

/// Longest period a report covers.
pub const MAX_DAYS: u32 = 366;

/// The report of `shop` for the `days` UTC days ending with `to` (included), against
/// the `days` before. Reads, at once: the shop's day counters of both periods and its
/// product counters of this one (two ranges of its stats partition), its comments of
/// the period (one query of the due index), and its products' learned timing (one
/// query of its `SHOP#{shop}` partition: current state, not the period's).
pub async fn compute<S: ReportStore>(
    store: &S,
    shop: &ShopConfig,
    to: NaiveDate,
    days: u32,
    now: DateTime<Utc>,
) -> Result<Report, StoreError> {
    compute_listing(store, shop, to, days, now, Report::MAX_COMMENTS).await
}

/// As [`compute`], listing at most `max_comments` comments (the page lists
/// [`Report::PAGE_COMMENTS`]).
pub async fn compute_listing<S: ReportStore>(
    store: &S,
    shop: &ShopConfig,
    to: NaiveDate,
    days: u32,
    now: DateTime<Utc>,
    max_comments: usize,
) -> Result<Report, StoreError> {
    let (period, previous) = figures::periods(to, days.clamp(1, MAX_DAYS));
    let last = format!("{}T23:59:59.999Z", period.to);
    let since = figures::products_since(&period);
    let limit = max_comments.min(Report::MAX_COMMENTS);
    let (mut rows, products, (comments, capped), cadences) = futures::try_join!(
        store.stats(&shop.domain, &previous.from, &period.to, false),
        store.stats(&shop.domain, &since, &period.to, true),
        store.comments(&shop.domain, &period.from, &last, limit),
        store.cadences(&shop.domain),
    )?;
    rows.extend(products);
    let mut report = figures::build(&Inputs {
        shop: &shop.domain,
        period,
        previous,
        generated_at: utc_key(&now),
        attribution_window_days: shop.attribution_window_days,
        rows: &rows,
        comments: &comments,
        comments_capped: capped,
        max_comments: limit,
        holdout_percent: &|p| shop.playbooks.holdout_percent(p),
    });
    report.replenishment_timing = figures::timing(shop, &cadences, &report.products);
    Ok(report)
}

/// Every follow-up of the order a name or id stands for; `None` when no such order
/// was recorded. At most 64 characters of query are looked at.
pub async fn lookup<S: ReportStore>(
    store: &S,
    shop: &str,
    query: &str,
) -> Result<Option<Lookup>, StoreError> {
    let query: String = query.trim().chars().take(64).collect();
    if query.is_empty() {
        return Ok(None);
    }
    let Some(order) = store.find_order(shop, &query).await? else {
        return Ok(None);
    };
    let (followups, feedback) = match order.customer_key.as_deref() {
        Some(key) => store.customer_followups(shop, key).await?,
        None => (Vec::new(), Vec::new()),
    };
    Ok(Some(figures::lookup(shop, &order, &followups, &feedback)))
}

/// The week a digest belongs to (`2026-W49`), once the shop's digest moment of that
/// week (its `digest_day` at `digest_hour`, local time) has passed; else the week
/// before's.
pub fn digest_week(shop: &ShopConfig, now: DateTime<Utc>) -> String {
    let tz = shop.tz();
    let local = now.with_timezone(&tz);
    let date = local.date_naive();
    let back = (7 + date.weekday().num_days_from_monday()
        - shop.report.weekday().num_days_from_monday())
        % 7;
    let mut moment_day = date - Duration::days(back.into());
    let moment = tz
        .from_local_datetime(
            &moment_day
                .and_hms_opt(shop.report.digest_hour.min(23), 0, 0)
                .unwrap_or_default(),
        )
        .earliest();
    if moment.is_none_or(|m| m > local) {
        moment_day -= Duration::days(7);
    }
    let iso = moment_day.iso_week();
    format!("{}-W{:02}", iso.year(), iso.week())
}

/// What one digest pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Digests {
    pub sent: u32,
    /// Shops with nothing sent in either week: marked, not mailed.
    pub quiet: u32,
    pub failed: u32,
}

/// For each shop whose digest is due this week and not yet sent: the mark taken first
/// (conditional write, so two dispatchers never both send), the last 7 UTC days'
/// report against the 7 before, one email to the merchant with the report link. A
/// digest that could not be sent gives its mark back.
pub async fn send_digests<S: ReportStore, M: Mailer>(
    store: &S,
    mailer: &M,
    config: &Config,
    links: &LinkBuilder,
    now: DateTime<Utc>,
    deadline: std::time::Instant,
) -> Digests {
    let mut done = Digests::default();
    let margin = std::time::Duration::from_millis(config.dispatch.deadline_margin_ms);
    // A shop with no sender or no merchant address has no one to send it to.
    let reachable = |s: &&ShopConfig| s.sender_email.is_some() && s.merchant_contact().is_some();
    for shop in config
        .shops
        .iter()
        .filter(|s| s.report.digest)
        .filter(reachable)
    {
        if std::time::Instant::now() + margin >= deadline {
            break; // the next run sends the rest
        }
        let week = digest_week(shop, now);
        match send_digest(store, mailer, config, links, shop, &week, now).await {
            Ok(Some(true)) => done.sent += 1,
            Ok(Some(false)) => done.quiet += 1,
            Ok(None) => {}
            Err(e) => {
                done.failed += 1;
                tracing::warn!(shop = %shop.domain, week, error = %e, "weekly digest not sent; the next run tries again");
                if let Err(e) = store.release_digest(&shop.domain, &week).await {
                    tracing::warn!(shop = %shop.domain, error = %e, "weekly digest mark not given back");
                }
            }
        }
    }
    done
}

/// `Some(true)` sent, `Some(false)` nothing to tell, `None` already done this week.
async fn send_digest<S: ReportStore, M: Mailer>(
    store: &S,
    mailer: &M,
    config: &Config,
    links: &LinkBuilder,
    shop: &ShopConfig,
    week: &str,
    now: DateTime<Utc>,
) -> Result<Option<bool>, String> {
    let claimed = store
        .claim_digest(&shop.domain, week, &utc_key(&now))
        .await
        .map_err(|e| e.to_string())?;
    if claimed == Cas::Lost {
        return Ok(None);
    }
    let yesterday = now.date_naive() - Duration::days(1);
    let report = compute(store, shop, yesterday, 7, now)
        .await
        .map_err(|e| e.to_string())?;
    if report.total.sent + report.total_previous.sent + report.total.planned == 0 {
        return Ok(Some(false));
    }
    let days = i64::from(shop.report.link_days);
    let url = links.report_url(&shop.domain, now.timestamp(), days);
    let digest = crate::email::report::render_digest(&report, &url).map_err(|e| e.to_string())?;
    let notice = Notice {
        subject: &digest.subject,
        text: &digest.text,
        kind: "weekly_digest",
        reply_to: None,
        html: Some(&digest.html),
    };
    notify_merchant(mailer, config, shop, &notice, now)
        .await
        .map_err(|e| e.to_string())?;
    Ok(Some(true))
}

#[cfg(test)]
mod tests;
