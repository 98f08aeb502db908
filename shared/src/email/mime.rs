//! The one MIME builder: every message Aftercart sends — a customer's follow-up, a
//! notice to the merchant, a customer-data export — is assembled by [`build`], so
//! header cleaning, address checks, `Message-ID` and one-click unsubscribe headers are
//! the same for all of them.

use super::{check_unsubscribe_url, clean_line, parse_address, EmailError};
use chrono::{DateTime, Utc};
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::Message;
use std::time::SystemTime;

/// Who a message is from and to, and its headers.
#[derive(Debug, Clone)]
pub struct Envelope<'a> {
    /// Display name (cleaned; omitted when blank) and address.
    pub from: (&'a str, &'a str),
    /// The config field the sender address comes from, named in errors.
    pub from_field: &'static str,
    pub to: &'a str,
    /// The field the recipient address comes from, named in errors.
    pub to_field: &'static str,
    /// Display name and address for `Reply-To`.
    pub reply_to: Option<(&'a str, &'a str)>,
    pub subject: &'a str,
    pub date: DateTime<Utc>,
    /// Adds `List-Unsubscribe: <URL>` and `List-Unsubscribe-Post:
    /// List-Unsubscribe=One-Click` (RFC 8058); the URL must be https.
    pub unsubscribe_url: Option<&'a str>,
}

/// What a message carries.
#[derive(Debug, Clone, Copy)]
pub enum Body<'a> {
    /// `multipart/alternative`: text then HTML (customer follow-ups).
    Alternative { text: &'a str, html: &'a str },
    /// One `text/plain` part (merchant notices).
    Plain(&'a str),
    /// `multipart/mixed`: a text part and one attachment (data exports).
    Attached {
        text: &'a str,
        filename: &'a str,
        content_type: &'a str,
        bytes: &'a [u8],
    },
}

/// The RFC 5322 message, ready for SES v2 raw sending. Control characters in names and
/// the subject become spaces and non-ASCII header text is RFC 2047-encoded; addresses
/// must be plain ASCII `user@domain` (the error names the field, never the address).
/// `Message-ID` is `<32 random hex digits@the sender's domain>`.
pub fn build(envelope: &Envelope<'_>, body: Body<'_>) -> Result<Vec<u8>, EmailError> {
    let to = parse_address(envelope.to_field, envelope.to)?;
    let from = parse_address(envelope.from_field, envelope.from.1)?;
    let message_id = format!("<{:032x}@{}>", fastrand::u128(..), from.domain());
    let mut builder = Message::builder()
        .from(mailbox(envelope.from.0, from))
        .to(Mailbox::new(None, to))
        .subject(clean_line(envelope.subject))
        .date(SystemTime::from(envelope.date))
        .message_id(Some(message_id));
    if let Some((name, address)) = envelope.reply_to {
        builder = builder.reply_to(mailbox(name, parse_address("support_email", address)?));
    }
    if let Some(url) = envelope.unsubscribe_url {
        let url = check_unsubscribe_url(url)?;
        builder = builder
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe"),
                format!("<{url}>"),
            ))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                "List-Unsubscribe=One-Click".to_owned(),
            ));
    }
    let message = match body {
        Body::Alternative { text, html } => builder.multipart(
            MultiPart::alternative_plain_html(text.to_owned(), html.to_owned()),
        )?,
        Body::Plain(text) => builder.singlepart(SinglePart::plain(text.to_owned()))?,
        Body::Attached {
            text,
            filename,
            content_type,
            bytes,
        } => {
            let content_type =
                ContentType::parse(content_type).map_err(|_| EmailError::InvalidAttachmentType)?;
            builder.multipart(
                MultiPart::mixed()
                    .singlepart(SinglePart::plain(text.to_owned()))
                    .singlepart(
                        Attachment::new(filename.to_owned()).body(bytes.to_vec(), content_type),
                    ),
            )?
        }
    };
    Ok(message.formatted())
}

fn mailbox(name: &str, address: lettre::Address) -> Mailbox {
    let name = clean_line(name);
    Mailbox::new((!name.is_empty()).then_some(name), address)
}
