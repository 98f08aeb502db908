//! Outbox: the mail the local moto server "sent", as files a developer can open.
//!
//! moto keeps every message given to SES (v1 or v2) and dumps them, with all other
//! models, at `GET http://127.0.0.1:PORT/moto-api/data.json`. Checked against
//! moto[server] 5.2.5, after `sesv2.send_email(Content={"Raw": …})`:
//!
//! ```json
//! {
//!   "dynamodb": { … }, "s3": { … }, …,
//!   "ses": {
//!     "EmailIdentity": [ … ], "Message": [ … ], "TemplateMessage": [ … ], …,
//!     "RawMessage": [
//!       {
//!         "id": "rsfxrpobcyjhddlj-nalpmfqc-…",
//!         "source": "shop@example.com",
//!         "destinations": ["a@example.com", "Ann <a@example.com>", "b@example.com"],
//!         "raw_data": "From: Shop <shop@example.com>\r\nTo: Ann <a@example.com>, …"
//!       }
//!     ]
//!   }
//! }
//! ```
//!
//! - `ses.RawMessage` holds every raw message sent, in sending order, across all
//!   accounts and regions (moto tracks model instances globally; there is no
//!   account/region nesting). A `send_email` with `Content.Simple` lands in
//!   `ses.Message` instead, without MIME, and is not read here.
//! - `raw_data` is the whole MIME message as a JSON string, line endings as sent. moto
//!   decodes the bytes as UTF-8 when sending, and answers 500 to a raw message that is
//!   not valid UTF-8, so it is always a string.
//! - `destinations` is the envelope recipients followed by every To/Cc/Bcc header
//!   value as written (display names included, duplicates kept).
//! - The `ses` key appears only once moto has loaded its SES module: on a fresh server,
//!   before any SES call, it is missing (checked), which here means "no mail"; after one
//!   it is there with `"RawMessage": []`.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use mail_parser::{MessageParser, PartType};
use serde_json::Value;

/// One sent message, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    /// 1-based position in moto's `ses.RawMessage` list (sending order); the files
    /// written for it start with this number, zero-padded to three digits.
    pub index: usize,
    /// The message exactly as moto holds it.
    pub raw: Vec<u8>,
    /// Decoded `Subject` (RFC 2047 encoded words resolved).
    pub subject: Option<String>,
    /// Addresses in the `To` header(s); if there is none, moto's `destinations` list
    /// (deduplicated).
    pub to: Vec<String>,
    /// First `text/html` body part, decoded.
    pub html: Option<String>,
    /// First `text/plain` (or other `text/*`) body part, decoded.
    pub text: Option<String>,
}

/// moto's data.json did not have the expected shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboxError {
    #[error("moto data.json: at {path}, expected {expected}, found {found}")]
    UnexpectedShape {
        /// Where in the document, e.g. `ses.RawMessage[2].raw_data`.
        path: String,
        expected: &'static str,
        /// The JSON type found instead, or "nothing".
        found: &'static str,
    },
}

fn json_type(v: Option<&Value>) -> &'static str {
    match v {
        None => "nothing",
        Some(Value::Null) => "null",
        Some(Value::Bool(_)) => "a boolean",
        Some(Value::Number(_)) => "a number",
        Some(Value::String(_)) => "a string",
        Some(Value::Array(_)) => "an array",
        Some(Value::Object(_)) => "an object",
    }
}

fn unexpected(
    path: impl Into<String>,
    expected: &'static str,
    found: Option<&Value>,
) -> OutboxError {
    OutboxError::UnexpectedShape {
        path: path.into(),
        expected,
        found: json_type(found),
    }
}

/// Reads the raw messages out of moto's `/moto-api/data.json` and parses each one.
///
/// A missing `ses` key, or a missing `ses.RawMessage`, means no mail. Anything else that
/// does not match the shape in the module documentation is an [`OutboxError`] naming
/// where and what was expected. A `raw_data` that mail-parser cannot make sense of still
/// gives a message (with its raw bytes, so it can be written out), just without
/// subject, recipients or bodies.
pub fn messages_from_moto(data_json: &Value) -> Result<Vec<OutboxMessage>, OutboxError> {
    let root = data_json
        .as_object()
        .ok_or_else(|| unexpected("the top level", "an object", Some(data_json)))?;
    let Some(ses) = root.get("ses") else {
        return Ok(Vec::new());
    };
    let ses = ses
        .as_object()
        .ok_or_else(|| unexpected("ses", "an object of model lists", Some(ses)))?;
    let Some(raw_messages) = ses.get("RawMessage") else {
        return Ok(Vec::new());
    };
    let raw_messages = raw_messages
        .as_array()
        .ok_or_else(|| unexpected("ses.RawMessage", "an array", Some(raw_messages)))?;

    let parser = MessageParser::default();
    let mut out = Vec::with_capacity(raw_messages.len());
    for (i, entry) in raw_messages.iter().enumerate() {
        let path = format!("ses.RawMessage[{i}]");
        let entry = entry
            .as_object()
            .ok_or_else(|| unexpected(path.clone(), "an object", Some(entry)))?;
        let raw_data = entry.get("raw_data");
        let raw = raw_data.and_then(Value::as_str).ok_or_else(|| {
            unexpected(
                format!("{path}.raw_data"),
                "a string holding the MIME message",
                raw_data,
            )
        })?;
        let destinations = match entry.get("destinations") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(j, d)| {
                    d.as_str().map(str::to_owned).ok_or_else(|| {
                        unexpected(format!("{path}.destinations[{j}]"), "a string", Some(d))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
            other => {
                return Err(unexpected(
                    format!("{path}.destinations"),
                    "an array of strings",
                    other,
                ))
            }
        };
        out.push(parse_message(&parser, i + 1, raw.as_bytes(), destinations));
    }
    Ok(out)
}

fn parse_message(
    parser: &MessageParser,
    index: usize,
    raw: &[u8],
    destinations: Vec<String>,
) -> OutboxMessage {
    let mut msg = OutboxMessage {
        index,
        raw: raw.to_vec(),
        subject: None,
        to: Vec::new(),
        html: None,
        text: None,
    };
    let Some(parsed) = parser.parse(raw) else {
        msg.to = dedup(destinations);
        return msg;
    };
    msg.subject = parsed.subject().map(str::to_owned);
    msg.to = dedup(
        parsed
            .all_to()
            .flat_map(|a| a.iter())
            .filter_map(|a| a.address())
            .map(str::to_owned)
            .collect(),
    );
    if msg.to.is_empty() {
        msg.to = dedup(destinations);
    }
    // mail-parser lists a text part among the HTML bodies (and vice versa) when a
    // message lacks one of the two, converting on access; only the real parts count.
    msg.html = parsed.html_bodies().find_map(|p| match &p.body {
        PartType::Html(h) => Some(h.to_string()),
        _ => None,
    });
    msg.text = parsed.text_bodies().find_map(|p| match &p.body {
        PartType::Text(t) => Some(t.to_string()),
        _ => None,
    });
    msg
}

fn dedup(items: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

/// Writes each message to `dir` (created if needed) as `NNN-<slug>.eml`, the raw bytes,
/// and `NNN-<slug>.html`, the HTML part, or else the text part escaped inside `<pre>`.
/// `NNN` is the message's index, zero-padded to three digits; the slug is the subject
/// lowercased, ASCII letters and digits only, runs of anything else as one `-`, at most
/// 60 characters, or `no-subject`. Existing files of the same name are overwritten.
///
/// The `.html` files start with a UTF-8 byte order mark: mail-parser has decoded the
/// part to UTF-8, whatever charset the message (or a `<meta charset>` inside it)
/// declared, and a browser opening a local file honours the BOM over any declaration.
///
/// Returns the paths written, `.eml` then `.html` for each message in turn.
pub fn write_outbox(dir: &Path, messages: &[OutboxMessage]) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::with_capacity(messages.len() * 2);
    for m in messages {
        let stem = format!(
            "{:03}-{}",
            m.index,
            slug(m.subject.as_deref().unwrap_or(""))
        );
        let eml = dir.join(format!("{stem}.eml"));
        std::fs::write(&eml, &m.raw)?;
        written.push(eml);

        let body: Cow<'_, str> = match (&m.html, &m.text) {
            (Some(html), _) => Cow::Borrowed(html),
            (None, text) => Cow::Owned(text_page(
                m.subject.as_deref().unwrap_or(""),
                text.as_deref().unwrap_or(""),
            )),
        };
        let html = dir.join(format!("{stem}.html"));
        let mut bytes = Vec::with_capacity(3 + body.len());
        bytes.extend_from_slice(b"\xEF\xBB\xBF");
        bytes.extend_from_slice(body.as_bytes());
        std::fs::write(&html, bytes)?;
        written.push(html);
    }
    Ok(written)
}

/// A minimal page showing a plain-text body as it is.
fn text_page(subject: &str, text: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{}</title></head>\n\
         <body><pre>{}</pre></body></html>\n",
        aftercart::apps::links::esc(subject),
        aftercart::apps::links::esc(text)
    )
}

const MAX_SLUG_LEN: usize = 60;

fn slug(subject: &str) -> String {
    let mut out = String::new();
    let mut pending_dash = false;
    for c in subject.chars() {
        if c.is_ascii_alphanumeric() {
            if pending_dash && !out.is_empty() {
                out.push('-');
            }
            pending_dash = false;
            out.push(c.to_ascii_lowercase());
        } else {
            pending_dash = true;
        }
        if out.len() >= MAX_SLUG_LEN {
            break;
        }
    }
    out.truncate(MAX_SLUG_LEN);
    let out = out.trim_end_matches('-').to_owned();
    if out.is_empty() {
        "no-subject".to_owned()
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A multipart/alternative message as the dispatcher sends it: CRLF line endings,
    /// RFC 2047 subject, quoted-printable HTML, two To addresses.
    const ALTERNATIVE: &str = "From: Demo Shop <shop@example.com>\r\n\
        To: Ann =?UTF-8?Q?M=C3=BCller?= <ann@example.com>, bob@example.com\r\n\
        Subject: =?UTF-8?B?V2llIHdhciBJaHJlIEJlc3RlbGx1bmc/IOKYhQ==?=\r\n\
        MIME-Version: 1.0\r\n\
        Content-Type: multipart/alternative; boundary=\"=_aftercart_1\"\r\n\
        \r\n\
        --=_aftercart_1\r\n\
        Content-Type: text/plain; charset=utf-8\r\n\
        Content-Transfer-Encoding: 8bit\r\n\
        \r\n\
        Hallo Ann, wie war's? Bewerten: https://links.example.com/rate?t=v1.a.b\r\n\
        --=_aftercart_1\r\n\
        Content-Type: text/html; charset=utf-8\r\n\
        Content-Transfer-Encoding: quoted-printable\r\n\
        \r\n\
        <html><body><p>Hallo Ann, wie war=E2=80=99s? =E2=98=85</p>\r\n\
        <a href=3D\"https://links.example.com/rate?t=3Dv1.a.b\">Bewerten</a></body></html>\r\n\
        --=_aftercart_1--\r\n";

    /// Plain text only, with characters that must be escaped in HTML.
    const TEXT_ONLY: &str = "From: shop@example.com\r\n\
        To: zoe@example.com\r\n\
        Subject: Your <order> & more\r\n\
        Content-Type: text/plain; charset=utf-8\r\n\
        \r\n\
        Total: 5 < 6 & \"fine\"\r\n";

    /// Exactly the shape moto 5.2.5 serves (see the module docs), trimmed of the
    /// unrelated models.
    fn moto_json(raws: &[(&str, &[&str])]) -> Value {
        let raw_messages: Vec<Value> = raws
            .iter()
            .enumerate()
            .map(|(i, (raw, dest))| {
                json!({
                    "destinations": dest,
                    "id": format!("msg-{i}"),
                    "raw_data": raw,
                    "source": "shop@example.com",
                })
            })
            .collect();
        json!({
            "dynamodb": { "Table": [] },
            "ses": {
                "BulkTemplateMessage": [],
                "EmailIdentity": [{ "email_identity": "shop@example.com" }],
                "Message": [],
                "RawMessage": raw_messages,
                "TemplateMessage": [],
            },
            "sts": {},
        })
    }

    fn temp_dir(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!(
            "aftercart-outbox-{name}-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ))
    }

    #[test]
    fn parses_multipart_alternative_with_encoded_subject() {
        let data = moto_json(&[(
            ALTERNATIVE,
            &[
                "ann@example.com",
                "Ann =?UTF-8?Q?M=C3=BCller?= <ann@example.com>",
            ],
        )]);
        let msgs = messages_from_moto(&data).unwrap();
        assert_eq!(msgs.len(), 1);
        let m = &msgs[0];
        assert_eq!(m.index, 1);
        assert_eq!(m.raw, ALTERNATIVE.as_bytes());
        assert_eq!(m.subject.as_deref(), Some("Wie war Ihre Bestellung? ★"));
        assert_eq!(m.to, ["ann@example.com", "bob@example.com"]);
        let html = m.html.as_deref().unwrap();
        assert!(html.contains("wie war’s? ★"), "{html}");
        assert!(
            html.contains("href=\"https://links.example.com/rate?t=v1.a.b\""),
            "{html}"
        );
        let text = m.text.as_deref().unwrap();
        assert!(text.starts_with("Hallo Ann, wie war's?"), "{text}");
        assert!(!text.contains('<'), "{text}");
    }

    #[test]
    fn text_only_message_has_no_html_and_falls_back_to_destinations() {
        let no_to = TEXT_ONLY.replace("To: zoe@example.com\r\n", "");
        let data = moto_json(&[
            (TEXT_ONLY, &["zoe@example.com"]),
            (&no_to, &["x@example.com", "x@example.com", "y@example.com"]),
        ]);
        let msgs = messages_from_moto(&data).unwrap();
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0].html, None);
        assert_eq!(msgs[0].text.as_deref(), Some("Total: 5 < 6 & \"fine\"\r\n"));
        assert_eq!(msgs[0].to, ["zoe@example.com"]);
        assert_eq!(msgs[1].index, 2);
        assert_eq!(msgs[1].to, ["x@example.com", "y@example.com"]);
    }

    #[test]
    fn empty_cases_give_no_messages() {
        for data in [
            json!({}),
            json!({ "dynamodb": { "Table": [] } }),
            json!({ "ses": {} }),
            json!({ "ses": { "RawMessage": [] } }),
            moto_json(&[]),
        ] {
            assert_eq!(messages_from_moto(&data), Ok(Vec::new()), "{data}");
        }
    }

    #[test]
    fn unexpected_shapes_name_what_was_expected() {
        let cases = [
            (json!([]), "the top level", "an object", "an array"),
            (
                json!({ "ses": [] }),
                "ses",
                "an object of model lists",
                "an array",
            ),
            (
                json!({ "ses": { "RawMessage": {} } }),
                "ses.RawMessage",
                "an array",
                "an object",
            ),
            (
                json!({ "ses": { "RawMessage": ["From: a"] } }),
                "ses.RawMessage[0]",
                "an object",
                "a string",
            ),
            (
                json!({ "ses": { "RawMessage": [{ "raw_data": TEXT_ONLY }, { "raw_data": 7 }] } }),
                "ses.RawMessage[1].raw_data",
                "a string holding the MIME message",
                "a number",
            ),
            (
                json!({ "ses": { "RawMessage": [{ "id": "m" }] } }),
                "ses.RawMessage[0].raw_data",
                "a string holding the MIME message",
                "nothing",
            ),
            (
                json!({ "ses": { "RawMessage": [{ "raw_data": TEXT_ONLY, "destinations": "a@b" }] } }),
                "ses.RawMessage[0].destinations",
                "an array of strings",
                "a string",
            ),
        ];
        for (data, path, expected, found) in cases {
            let err = messages_from_moto(&data).unwrap_err();
            assert_eq!(
                err,
                OutboxError::UnexpectedShape {
                    path: path.into(),
                    expected,
                    found
                },
                "{data}"
            );
            let shown = err.to_string();
            assert!(shown.contains(path) && shown.contains(expected), "{shown}");
        }
    }

    #[test]
    fn writes_eml_and_html_files() {
        let data = moto_json(&[
            (ALTERNATIVE, &["ann@example.com"]),
            (TEXT_ONLY, &["zoe@example.com"]),
            ("", &["nobody@example.com"]),
        ]);
        let msgs = messages_from_moto(&data).unwrap();
        let dir = temp_dir("write").join("nested");
        let paths = write_outbox(&dir, &msgs).unwrap();
        let names: Vec<String> = paths
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "001-wie-war-ihre-bestellung.eml",
                "001-wie-war-ihre-bestellung.html",
                "002-your-order-more.eml",
                "002-your-order-more.html",
                "003-no-subject.eml",
                "003-no-subject.html",
            ]
        );
        assert!(paths.iter().all(|p| p.parent() == Some(dir.as_path())));

        assert_eq!(std::fs::read(&paths[0]).unwrap(), ALTERNATIVE.as_bytes());
        let html = std::fs::read(&paths[1]).unwrap();
        assert!(html.starts_with(b"\xEF\xBB\xBF"));
        assert_eq!(&html[3..], msgs[0].html.as_deref().unwrap().as_bytes());

        assert_eq!(std::fs::read(&paths[2]).unwrap(), TEXT_ONLY.as_bytes());
        let page = std::fs::read_to_string(&paths[3]).unwrap();
        assert!(
            page.contains("<pre>Total: 5 &lt; 6 &amp; &quot;fine&quot;\r\n</pre>"),
            "{page}"
        );
        assert!(
            page.contains("<title>Your &lt;order&gt; &amp; more</title>"),
            "{page}"
        );

        assert_eq!(std::fs::read(&paths[4]).unwrap(), b"");
        assert!(std::fs::read_to_string(&paths[5])
            .unwrap()
            .contains("<pre></pre>"));

        // Writing again overwrites rather than failing.
        assert_eq!(write_outbox(&dir, &msgs).unwrap(), paths);
        std::fs::remove_dir_all(dir.parent().unwrap()).unwrap();
    }

    #[test]
    fn slugs_are_short_ascii_and_never_empty() {
        assert_eq!(
            slug("Wie war Ihre Bestellung? ★"),
            "wie-war-ihre-bestellung"
        );
        assert_eq!(slug("  --Hello,   World!--  "), "hello-world");
        assert_eq!(slug("Ваш заказ"), "no-subject");
        assert_eq!(slug(""), "no-subject");
        assert_eq!(slug("../../etc/passwd"), "etc-passwd");
        let long = slug(&"word ".repeat(40));
        assert!(long.len() <= MAX_SLUG_LEN && !long.ends_with('-'), "{long}");
    }
}
