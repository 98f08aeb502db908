//! Sending mail: the port the dispatcher, the links app and the privacy worker send
//! through, and the merchant notice every app sends the same way.

use crate::config::{Config, ShopConfig};
use std::future::Future;

/// A finished message and its envelope.
#[derive(Debug, Clone)]
pub struct OutgoingEmail {
    /// The full RFC 5322 message.
    pub raw: Vec<u8>,
    pub from: String,
    pub to: String,
    pub configuration_set: Option<String>,
    /// SES message tags, so bounce and complaint events map back (shop, playbook,
    /// follow-up id, customer key). Values are sanitised for SES: `#` becomes `_`.
    pub tags: Vec<(&'static str, String)>,
}

/// Why a send failed: worth retrying, not, or not worth trying anything else now.
/// Messages never carry an address (`model::personal::mask_addresses`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// This message may go through later (throttling, a server error, a timeout).
    #[error("temporary failure: {0}")]
    Transient(String),
    /// This message will never go through (a rejected recipient or content).
    #[error("rejected: {0}")]
    Permanent(String),
    /// Nothing can be sent until someone fixes the account, the sender identity, the
    /// configuration set or the credentials (suspended, paused, unverified MAIL FROM
    /// domain, missing configuration set, daily quota used up, access denied). Not the
    /// message's fault: it must stay due, and the sender must stop trying others.
    #[error("sending halted: {reason}")]
    Halt { reason: String },
}

pub trait Mailer: Send + Sync {
    /// Sends one message; returns the provider's message id.
    fn send(&self, email: &OutgoingEmail)
        -> impl Future<Output = Result<String, SendError>> + Send;
    /// The account's maximum send rate (emails per second), where the provider tells.
    fn max_send_rate(&self) -> impl Future<Output = Option<f64>> + Send;
}

/// A plain-text notice to a shop's merchant, sent from its `sender_email` to its
/// `alert_email` (else `support_email`).
pub struct Notice<'a> {
    pub subject: &'a str,
    pub text: &'a str,
    /// The `kind` message tag (e.g. `merchant_alert`, `security_alert`).
    pub kind: &'static str,
    /// Where the merchant's reply goes (a customer's address for their comment).
    pub reply_to: Option<&'a str>,
    /// An HTML part beside the text (the weekly digest); plain text alone otherwise.
    pub html: Option<&'a str>,
}

/// Why a notice did not go out.
#[derive(Debug, thiserror::Error)]
pub enum NoticeError {
    #[error("the shop has no sender_email, or neither alert_email nor support_email")]
    NoContact,
    #[error("the notice could not be built: {0}")]
    Build(#[from] crate::email::EmailError),
    #[error(transparent)]
    Send(#[from] SendError),
}

/// Sends `notice` to the merchant of `shop`.
pub async fn notify_merchant<M: Mailer>(
    mailer: &M,
    config: &Config,
    shop: &ShopConfig,
    notice: &Notice<'_>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), NoticeError> {
    let (Some(from), Some(to)) = (shop.sender_email.as_deref(), shop.merchant_contact()) else {
        return Err(NoticeError::NoContact);
    };
    let raw = crate::email::build_notice(
        (shop.brand(), from),
        to,
        notice.reply_to,
        notice.subject,
        notice.text,
        notice.html,
        now,
    )?;
    let outgoing = OutgoingEmail {
        raw,
        from: from.to_owned(),
        to: to.to_owned(),
        configuration_set: config.email.configuration_set.clone(),
        tags: vec![
            ("shop", shop.domain.clone()),
            ("kind", notice.kind.to_owned()),
        ],
    };
    mailer.send(&outgoing).await?;
    Ok(())
}
