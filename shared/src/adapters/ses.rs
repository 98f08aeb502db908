//! The SES v2 adapter behind [`crate::ports::mail::Mailer`].

use crate::ports::mail::{Mailer, OutgoingEmail, SendError};
use aws_sdk_sesv2::error::{DisplayErrorContext, SdkError};
use aws_sdk_sesv2::operation::send_email::SendEmailError;
use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{Destination, EmailContent, MessageTag, RawMessage};

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
    use aws_sdk_sesv2::error::ProvideErrorMetadata;
    match &e {
        SdkError::ServiceError(se) => {
            // SES's own words, short: they end up in follow-ups' `reason` and in logs.
            let (err, status) = (se.err(), se.raw().status().as_u16());
            let message = crate::model::personal::mask_addresses(&format!(
                "SES {} (HTTP {status}): {}",
                err.code().unwrap_or("error"),
                err.message().unwrap_or("no message")
            ));
            answered(err, status, message)
        }
        // Timeouts, connection failures and unreadable responses may succeed next time.
        _ => SendError::Transient(crate::model::personal::mask_addresses(
            &DisplayErrorContext(&e).to_string(),
        )),
    }
}

/// What SES's error answer (`err`, HTTP `status`) means for this message and the rest.
fn answered(err: &SendEmailError, status: u16, message: String) -> SendError {
    use aws_sdk_sesv2::error::ProvideErrorMetadata;
    let halt = || SendError::Halt {
        reason: message.clone(),
    };
    match err {
        // The account's daily quota answers as throttling too, but lasts up to a day.
        SendEmailError::TooManyRequestsException(_) | SendEmailError::LimitExceededException(_)
            if quota_used_up(&message) =>
        {
            halt()
        }
        SendEmailError::TooManyRequestsException(_) | SendEmailError::LimitExceededException(_) => {
            SendError::Transient(message)
        }
        // The account, the sending domain or the configuration set: every message fails
        // alike until someone fixes it.
        SendEmailError::AccountSuspendedException(_)
        | SendEmailError::SendingPausedException(_)
        | SendEmailError::MailFromDomainNotVerifiedException(_)
        | SendEmailError::NotFoundException(_) => halt(),
        // This message: its recipient or content.
        SendEmailError::MessageRejected(_) | SendEmailError::BadRequestException(_) => {
            SendError::Permanent(message)
        }
        other => {
            match other.code() {
                Some("Throttling" | "ThrottlingException") if quota_used_up(&message) => halt(),
                Some("Throttling" | "ThrottlingException") => SendError::Transient(message),
                _ if status >= 500 => SendError::Transient(message),
                // Credentials or IAM (AccessDenied, UnrecognizedClient, ExpiredToken, …).
                _ if status == 401 || status == 403 => halt(),
                _ => SendError::Permanent(message),
            }
        }
    }
}

/// Whether a throttling answer means the 24-hour quota ("Daily message quota
/// exceeded"), not the per-second rate.
fn quota_used_up(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("daily") || m.contains("quota")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_values_keep_only_what_ses_accepts() {
        assert_eq!(tag_value("acme.myshopify.com"), "acme.myshopify.com");
        assert_eq!(tag_value("thank_you#450789469#0"), "thank_you_450789469_0");
    }

    /// An SES v2 error answer as the SDK parsed it.
    fn answer(status: u16, err: SendEmailError) -> SendError {
        let message = err.to_string();
        answered(&err, status, message)
    }

    fn meta(code: &str, message: &str) -> aws_sdk_sesv2::error::ErrorMetadata {
        aws_sdk_sesv2::error::ErrorMetadata::builder()
            .code(code)
            .message(message)
            .build()
    }

    #[test]
    fn account_level_errors_halt_and_recipient_errors_are_permanent() {
        use aws_sdk_sesv2::types::error::*;
        let paused = SendingPausedException::builder().message("paused").build();
        assert!(matches!(
            answer(400, SendEmailError::SendingPausedException(paused)),
            SendError::Halt { .. }
        ));
        let suspended = AccountSuspendedException::builder().build();
        assert!(matches!(
            answer(400, SendEmailError::AccountSuspendedException(suspended)),
            SendError::Halt { .. }
        ));
        let mail_from = MailFromDomainNotVerifiedException::builder().build();
        assert!(matches!(
            answer(
                400,
                SendEmailError::MailFromDomainNotVerifiedException(mail_from)
            ),
            SendError::Halt { .. }
        ));
        let no_set = NotFoundException::builder().build();
        assert!(matches!(
            answer(404, SendEmailError::NotFoundException(no_set)),
            SendError::Halt { .. }
        ));
        let denied = SendEmailError::generic(meta("AccessDeniedException", "not allowed"));
        assert!(matches!(answer(403, denied), SendError::Halt { .. }));

        let rejected = MessageRejected::builder()
            .message("Email address is not verified.")
            .build();
        assert!(matches!(
            answer(400, SendEmailError::MessageRejected(rejected)),
            SendError::Permanent(_)
        ));
        let bad = BadRequestException::builder().build();
        assert!(matches!(
            answer(400, SendEmailError::BadRequestException(bad)),
            SendError::Permanent(_)
        ));
    }

    #[test]
    fn throttling_is_transient_unless_the_daily_quota_is_used_up() {
        use aws_sdk_sesv2::types::error::*;
        let rate = TooManyRequestsException::builder()
            .message("Maximum sending rate exceeded.")
            .build();
        assert!(matches!(
            answer(429, SendEmailError::TooManyRequestsException(rate)),
            SendError::Transient(_)
        ));
        let daily = TooManyRequestsException::builder()
            .message("Daily message quota exceeded.")
            .build();
        assert!(matches!(
            answer(429, SendEmailError::TooManyRequestsException(daily)),
            SendError::Halt { .. }
        ));
        let legacy = SendEmailError::generic(meta("Throttling", "Maximum sending rate exceeded."));
        assert!(matches!(answer(400, legacy), SendError::Transient(_)));
        let server = SendEmailError::generic(meta("InternalFailure", "oops"));
        assert!(matches!(answer(500, server), SendError::Transient(_)));
    }
}
