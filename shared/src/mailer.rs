//! Sending mail: the port the dispatcher sends through, and its SES v2 adapter.

use aws_sdk_sesv2::error::{DisplayErrorContext, SdkError};
use aws_sdk_sesv2::operation::send_email::SendEmailError;
use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{Destination, EmailContent, MessageTag, RawMessage};
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

/// Why a send failed: worth retrying, or not.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("temporary failure: {0}")]
    Transient(String),
    #[error("rejected: {0}")]
    Permanent(String),
}

pub trait Mailer: Send + Sync {
    /// Sends one message; returns the provider's message id.
    fn send(&self, email: &OutgoingEmail)
        -> impl Future<Output = Result<String, SendError>> + Send;
    /// The account's maximum send rate (emails per second), where the provider tells.
    fn max_send_rate(&self) -> impl Future<Output = Option<f64>> + Send;
}

/// Amazon SES v2.
#[derive(Debug, Clone)]
pub struct SesMailer {
    client: aws_sdk_sesv2::Client,
}

impl SesMailer {
    pub fn new(client: aws_sdk_sesv2::Client) -> Self {
        SesMailer { client }
    }
}

/// SES tag values allow letters, digits, `_`, `-`, `.` and `@`; anything else becomes `_`.
fn tag_value(v: &str) -> String {
    v.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@') {
                c
            } else {
                '_'
            }
        })
        .take(256)
        .collect()
}

impl Mailer for SesMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<String, SendError> {
        let mut req = self
            .client
            .send_email()
            .from_email_address(&email.from)
            .destination(Destination::builder().to_addresses(&email.to).build())
            .content(
                EmailContent::builder()
                    .raw(
                        RawMessage::builder()
                            .data(Blob::new(email.raw.clone()))
                            .build()
                            .map_err(|e| SendError::Permanent(e.to_string()))?,
                    )
                    .build(),
            )
            .set_configuration_set_name(email.configuration_set.clone());
        for (name, value) in &email.tags {
            req = req.email_tags(
                MessageTag::builder()
                    .name(*name)
                    .value(tag_value(value))
                    .build()
                    .map_err(|e| SendError::Permanent(e.to_string()))?,
            );
        }
        match req.send().await {
            Ok(out) => Ok(out.message_id.unwrap_or_default()),
            Err(e) => Err(classify(e)),
        }
    }

    async fn max_send_rate(&self) -> Option<f64> {
        // Not every endpoint implements GetAccount (moto does not); then config decides.
        let account = self.client.get_account().send().await.ok()?;
        account
            .send_quota()
            .map(|q| q.max_send_rate())
            .filter(|r| *r > 0.0)
    }
}

fn classify(e: SdkError<SendEmailError, aws_sdk_sesv2::config::http::HttpResponse>) -> SendError {
    let message = DisplayErrorContext(&e).to_string();
    match &e {
        SdkError::ServiceError(se) => match se.err() {
            SendEmailError::TooManyRequestsException(_)
            | SendEmailError::LimitExceededException(_) => SendError::Transient(message),
            SendEmailError::MessageRejected(_)
            | SendEmailError::MailFromDomainNotVerifiedException(_)
            | SendEmailError::AccountSuspendedException(_)
            | SendEmailError::SendingPausedException(_)
            | SendEmailError::BadRequestException(_)
            | SendEmailError::NotFoundException(_) => SendError::Permanent(message),
            _ if se.raw().status().is_server_error() => SendError::Transient(message),
            _ => SendError::Permanent(message),
        },
        // Timeouts, connection failures and unreadable responses may succeed next time.
        _ => SendError::Transient(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_values_keep_only_what_ses_accepts() {
        assert_eq!(tag_value("acme.myshopify.com"), "acme.myshopify.com");
        assert_eq!(tag_value("thank_you#450789469#0"), "thank_you_450789469_0");
    }
}
