//! The merchant's daily notice of refused deliveries (see [`crate::domain::refusals`]): read
//! the counts, take the day's mark, send, give the mark back if the send failed.

use crate::domain::refusals::{alert_text, day_of};
use chrono::{DateTime, Utc};

/// Tells each shop's merchant about refused deliveries, once per UTC day on which any
/// occurred (today's, and yesterday's if that alert never went out). The day's item is
/// marked before the email is sent and unmarked if it cannot be, so two dispatchers
/// never both send it and a failed send is tried again on the next run. Returns how
/// many alerts went out.
pub(super) async fn alert_refused_deliveries<M: crate::ports::mail::Mailer>(
    store: &crate::adapters::dynamo::DynamoStore,
    mailer: &M,
    config: &crate::config::Config,
    now: DateTime<Utc>,
) -> Result<u32, crate::ports::store::StoreError> {
    use crate::ports::mail::{notify_merchant, Notice, NoticeError};
    use crate::ports::store::Cas;
    let since = day_of(now - chrono::Duration::days(1));
    let at = crate::model::time::utc_key(&now);
    let mut sent = 0;
    for shop in &config.shops {
        for day in store.refusals_since(&shop.domain, &since).await? {
            if day.alerted_at.is_some() || day.total == 0 {
                continue;
            }
            if store
                .claim_refusal_alert(&shop.domain, &day.day, &at)
                .await?
                == Cas::Lost
            {
                continue; // another dispatcher has it
            }
            let (subject, text) = alert_text(shop, &day);
            let notice = Notice {
                subject: &subject,
                text: &text,
                kind: "security_alert",
                reply_to: None,
                html: None,
            };
            match notify_merchant(mailer, config, shop, &notice, now).await {
                Ok(()) => {
                    sent += 1;
                    tracing::warn!(shop = %shop.domain, day = %day.day, refused = day.total, "merchant alerted of refused deliveries");
                }
                Err(NoticeError::NoContact) => {
                    // Nobody to tell: keep the mark, so this is logged once a day, not every minute.
                    tracing::error!(shop = %shop.domain, day = %day.day, refused = day.total, "refused deliveries: no sender_email and alert_email/support_email to alert the merchant");
                }
                Err(e) => {
                    tracing::error!(shop = %shop.domain, day = %day.day, error = %e, "refused-deliveries alert not sent; will try again");
                    store
                        .release_refusal_alert(&shop.domain, &day.day, &at)
                        .await?;
                }
            }
        }
    }
    Ok(sent)
}
