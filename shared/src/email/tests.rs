use super::*;
use chrono::TimeZone;
use mail_parser::{MessageParser, MimeHeaders, PartType};

const XSS_SCRIPT: &str = "<script>alert(1)</script>";
const XSS_ATTR: &str = "\"><img src=x onerror=alert(1)>";
const INJECTION: &str = "Bob\r\nBcc: evil@example.com";

fn date() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc.with_ymd_and_hms(2024, 5, 17, 9, 30, 0).unwrap()
}

fn full(playbook: Playbook) -> EmailContext {
    sample_context(playbook, true)
}

fn minimal(playbook: Playbook) -> EmailContext {
    sample_context(playbook, false)
}

/// Renders with the built-ins, with LF line endings for readable assertions (the real
/// parts use CRLF; the MIME tests use them as they are).
fn render(ctx: &EmailContext) -> Rendered {
    lf(Templates::builtin().render(ctx).expect("renders"))
}

fn lf(mut r: Rendered) -> Rendered {
    r.text = r.text.replace("\r\n", "\n");
    r.html = r.html.replace("\r\n", "\n");
    r
}

/// Renders (CRLF, as produced) and builds the message.
fn build(ctx: &EmailContext) -> (Rendered, Vec<u8>) {
    let rendered = Templates::builtin().render(ctx).expect("renders");
    let raw = build_mime(ctx, &rendered, date()).expect("builds");
    (rendered, raw)
}

fn parse(raw: &[u8]) -> mail_parser::Message<'_> {
    MessageParser::default()
        .parse(raw)
        .expect("mail-parser parses the message")
}

/// The bytes before the first blank line.
fn header_section(raw: &[u8]) -> &[u8] {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header section ends with a blank line");
    &raw[..end]
}

/// Top-level headers named `name` (case-insensitive), as mail-parser sees them.
fn header_count(msg: &mail_parser::Message<'_>, name: &str) -> usize {
    msg.headers_raw()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .count()
}

fn raw_header<'a>(msg: &'a mail_parser::Message<'_>, name: &str) -> Option<&'a str> {
    msg.headers_raw()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

/// Counts leaf parts by content type `type/subtype`.
fn part_count(msg: &mail_parser::Message<'_>, ctype: &str, subtype: &str) -> usize {
    msg.parts
        .iter()
        .filter(|p| !matches!(p.body, PartType::Multipart(_)))
        .filter(|p| p.is_content_type(ctype, subtype))
        .count()
}

/// A directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!(
            "aftercart-email-{tag}-{}-{:x}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    fn write(&self, name: &str, content: &str) {
        std::fs::write(self.0.join(name), content).unwrap();
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ---------------------------------------------------------------------------------------
// Every built-in renders

#[test]
fn every_builtin_renders_for_every_playbook_full_and_minimal() {
    let templates = Templates::builtin();
    for playbook in Playbook::ALL {
        for locale in [
            None,
            Some("en"),
            Some("fr"),
            Some("fr-CA"),
            Some("de"),
            Some("de-AT"),
            Some("es"),
            Some("es-MX"),
            Some("it"),
        ] {
            for mut ctx in [full(playbook), minimal(playbook)] {
                ctx.locale = locale.map(str::to_owned);
                let rendered = templates
                    .render(&ctx)
                    .unwrap_or_else(|e| panic!("{playbook:?} {locale:?}: {e}"));
                assert!(!rendered.subject.is_empty());
                assert!(!rendered.subject.contains(['\r', '\n']));
                for part in [&rendered.text, &rendered.html] {
                    assert!(part.ends_with("\r\n") && !part.ends_with("\r\n\r\n"));
                    assert_eq!(part.matches('\n').count(), part.matches("\r\n").count());
                    assert_eq!(part.matches('\r').count(), part.matches("\r\n").count());
                }
                assert!(rendered.html.starts_with("<!DOCTYPE html>"));
                assert!(rendered.html.contains("</html>"));
                // No leftovers of template syntax or of `none` values.
                let html = rendered
                    .html
                    .replace("border:none", "")
                    .replace("display:none", "")
                    .replace("list-style:none", "")
                    .replace("text-decoration:none", "");
                for part in [&rendered.subject, &rendered.text, &html] {
                    assert!(!part.contains("{{") && !part.contains("{%"), "{part}");
                    assert!(
                        !part.to_lowercase().contains("none"),
                        "{playbook:?}: {part}"
                    );
                }
                let raw = build_mime(&ctx, &rendered, date()).expect("builds");
                parse(&raw);
            }
        }
    }
}

#[test]
fn every_playbook_has_english_and_french_builtins() {
    let names: Vec<&str> = BUILTIN.iter().map(|(n, _)| *n).collect();
    for playbook in Playbook::ALL {
        for kind in KINDS {
            let p = playbook.as_str();
            assert!(names.contains(&format!("{p}.{kind}").as_str()));
            assert!(names.contains(&format!("{p}.fr.{kind}").as_str()));
        }
    }
}

// ---------------------------------------------------------------------------------------
// Content

#[test]
fn greeting_uses_first_name_or_a_neutral_greeting() {
    let mut ctx = full(Playbook::ThankYou);
    ctx.first_name = Some("Zoë".into());
    let r = render(&ctx);
    assert!(r.text.starts_with("Hi Zoë,\n"), "{}", r.text);
    assert!(r.html.contains(">Hi Zoë,</p>"));

    ctx.first_name = Some("   ".into());
    let r = render(&ctx);
    assert!(r.text.starts_with("Hello,\n"), "{}", r.text);

    ctx.first_name = None;
    ctx.locale = Some("fr".into());
    let r = render(&ctx);
    assert!(r.text.starts_with("Bonjour,\n"), "{}", r.text);
}

#[test]
fn thank_you_shows_lines_prices_total_savings_care_and_how_to_links_and_support() {
    let ctx = full(Playbook::ThankYou);
    let r = render(&ctx);
    let money = |cents: i64| crate::model::money::format_money(Decimal::new(cents, 2), "USD", "en");
    assert!(
        r.text.contains(&format!("You saved: {}", money(1000))),
        "{}",
        r.text
    );
    assert!(r.text.contains(&format!("Total paid: {}", money(10994))));
    assert!(r.html.contains(&money(10994)));
    for c in &ctx.care {
        let care = c.care_url.as_deref().unwrap();
        let how_to = c.how_to_url.as_deref().unwrap();
        assert!(r.html.contains(&format!("href=\"{care}\"")));
        assert!(r.html.contains(&format!("href=\"{how_to}\"")));
    }
    for line in &ctx.lines {
        // The line's amount: unit price × quantity.
        let amount = money(1999 * i64::from(line.quantity));
        assert!(
            r.text.contains(&format!(
                "- {} (Large) × {}: {amount}",
                line.title, line.quantity
            )),
            "{}",
            r.text
        );
        let image = line.image_url.as_deref().unwrap();
        assert!(r.html.contains(&format!(
            "src=\"{image}\" width=\"64\" height=\"64\" alt=\"{}\"",
            line.title
        )));
    }
    assert!(r.text.contains("support@shop.example.com"));
    assert!(r.html.contains("href=\"mailto:support@shop.example.com\""));

    let r = render(&minimal(Playbook::ThankYou));
    assert!(!r.text.contains("saved"));
    assert!(!r.text.contains("Total"));
    assert!(r.text.contains("Questions? Just reply to this email."));
}

#[test]
fn satisfaction_has_five_labelled_rating_links_and_review_ask() {
    let ctx = full(Playbook::Satisfaction);
    let r = render(&ctx);
    assert_eq!(r.subject, "How was order #1001?");
    let labels = ["very poor", "poor", "okay", "good", "excellent"];
    for (i, (url, label)) in ctx.rating_urls.iter().zip(labels).enumerate() {
        let score = i + 1;
        assert!(
            r.html.contains(&format!("href=\"{url}\"") as &str)
                && r.html.contains(&format!(">{score}</a>")),
            "score {score} in {}",
            r.html
        );
        assert!(r.text.contains(&format!("\n{score} – {label}:\n{url}\n")));
    }
    // The scale's ends are named, and the one product bought is.
    assert!(r.html.contains(">1 = very poor</td>") && r.html.contains(">5 = excellent</td>"));
    assert!(r.text.contains(ctx.review_url.as_deref().unwrap()));
    for line in &ctx.lines {
        assert!(r.html.contains(&line.title) && r.text.contains(&line.title));
    }
    let mut one = ctx.clone();
    one.lines.truncate(1);
    assert!(render(&one)
        .html
        .contains("How is your <strong>Product 1</strong>?"));

    let mut fr = ctx.clone();
    fr.locale = Some("fr".into());
    let r = render(&fr);
    assert!(r.html.contains(">1 = très mauvais</td>"));
    assert!(r.html.contains(">5 = excellent</td>"));
    assert!(r.text.contains("\n1 – très mauvais\u{a0}:\n"), "{}", r.text);

    let r = render(&minimal(Playbook::Satisfaction));
    assert_eq!(r.subject, "How was your order?");
    assert!(!r.html.contains("<a href=\"https://shop.example.com/rate"));
}

#[test]
fn replenishment_has_one_reorder_link_and_optional_code() {
    let ctx = full(Playbook::Replenishment);
    let r = render(&ctx);
    let reorder = ctx.reorder_url.as_deref().unwrap();
    assert_eq!(r.html.matches(reorder).count(), 1);
    assert_eq!(r.text.matches(reorder).count(), 1);
    assert!(r.text.contains("THANKS10"));
    for line in &ctx.lines {
        assert!(r.text.contains(&line.title));
    }

    let mut one = ctx.clone();
    one.lines.truncate(1);
    assert_eq!(render(&one).subject, "Running low on Product 1?");

    let mut no_code = ctx;
    no_code.discount_code = None;
    assert!(!render(&no_code).text.contains("code"));
}

#[test]
fn loyalty_shows_the_discount_code_prominently() {
    let r = render(&full(Playbook::Loyalty));
    assert!(r.text.contains("\n\nTHANKS10\n\n"), "{}", r.text);
    assert!(r.html.contains("font-size:24px"));
    assert!(r.html.contains(">THANKS10</td>"));
    assert_eq!(
        r.subject,
        "Thanks for coming back, Alex — a little something for you"
    );
}

#[test]
fn returns_is_an_apology_with_support_contact() {
    let r = render(&full(Playbook::Returns));
    assert!(r.text.contains("sorry part of order #1001 didn't work out"));
    assert!(r.text.contains("support@shop.example.com"));
}

#[test]
fn complementary_block_and_footer_with_unsubscribe() {
    for playbook in Playbook::ALL {
        let ctx = full(playbook);
        let r = render(&ctx);
        let link = &ctx.complementary[0];
        assert!(r.text.contains(&format!(
            "You may also like:\n\n{}\n{}\n",
            link.title, link.url
        )));
        assert!(r.html.contains("You may also like</h2>"));
        assert!(r.html.contains(&format!("href=\"{}\"", link.url)));
        let unsub = ctx.unsubscribe_url.as_deref().unwrap();
        assert!(r.text.contains(&format!(
            "because you ordered from Example Shop.\nhttps://shop.example.com/\n\nUnsubscribe:\n{unsub}\n"
        )));
        assert!(r.html.contains(&format!("href=\"{unsub}\"")));

        let r = render(&minimal(playbook));
        assert!(!r.text.contains("You may also like"));
        assert!(!r.text.contains("Unsubscribe"));
        assert!(!r.html.contains("Unsubscribe"));
        assert!(r
            .text
            .contains("You're getting this email because you ordered from Example Shop."));
    }
}

#[test]
fn text_part_puts_every_url_on_its_own_line() {
    for playbook in Playbook::ALL {
        let r = render(&full(playbook));
        for line in r.text.lines() {
            if let Some(pos) = line.find("https://") {
                assert_eq!(pos, 0, "URL not at line start in {playbook:?}: {line:?}");
                assert!(!line.contains(' '), "URL line has other text: {line:?}");
            }
        }
    }
}

#[test]
fn html_is_self_contained_with_inline_styles_and_lang() {
    for playbook in Playbook::ALL {
        for (locale, lang) in [(None, "en"), (Some("fr"), "fr"), (Some("fr-CA"), "fr")] {
            let mut ctx = full(playbook);
            ctx.locale = locale.map(str::to_owned);
            let html = render(&ctx).html;
            assert!(html.contains(&format!("<html lang=\"{lang}\">")), "{html}");
            let lower = html.to_lowercase();
            for banned in ["<link", "<script", "<svg", "@import", "url(", "<iframe"] {
                assert!(!lower.contains(banned), "{banned} in {playbook:?}");
            }
            // Every http(s) reference is a link target or an image with its alt text.
            assert_eq!(
                lower.matches("http").count(),
                lower.matches("href=\"http").count() + lower.matches("<img src=\"http").count()
            );
            assert_eq!(
                lower.matches("<img ").count(),
                lower.matches("<img src=\"https://").count()
            );
            assert_eq!(
                lower.matches("<img ").count(),
                lower.matches(" alt=\"").count()
            );
            // The one style sheet only adapts to dark mode and narrow screens.
            assert_eq!(lower.matches("<style>").count(), 1);
            assert!(html.contains("@media (prefers-color-scheme: dark)"));
        }
    }
}

// ---------------------------------------------------------------------------------------
// Safety: escaping

#[test]
fn markup_in_product_title_and_first_name_is_escaped_in_html_verbatim_in_text() {
    for payload in [XSS_SCRIPT, XSS_ATTR] {
        for playbook in Playbook::ALL {
            let mut ctx = full(playbook);
            ctx.first_name = Some(payload.into());
            ctx.lines[0].title = payload.into();
            ctx.complementary[0].title = payload.into();
            ctx.shop_name = payload.into();
            let (r, raw) = build(&ctx);

            assert!(!r.html.contains("<script"), "{playbook:?}: {}", r.html);
            assert!(!r.html.contains("<img src=x"), "{playbook:?}: {}", r.html);
            let escaped = if payload == XSS_SCRIPT {
                "&lt;script&gt;alert(1)&lt;/script&gt;"
            } else {
                "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"
            };
            assert!(r.html.contains(escaped), "{playbook:?}: {}", r.html);
            assert!(r.text.contains(payload), "{playbook:?}: {}", r.text);

            // Same after a MIME round trip.
            let msg = parse(&raw);
            assert!(msg.body_html(0).unwrap().contains(escaped));
            assert!(msg.body_text(0).unwrap().contains(payload));
        }
    }
}

#[test]
fn html_overrides_auto_escape_and_txt_overrides_do_not() {
    let dir = TempDir::new("escape");
    dir.write("thank_you.html", "<p>{{ first_name }}</p>");
    dir.write("thank_you.txt", "{{ first_name }}");
    let templates = Templates::with_overrides(&dir.0).unwrap();
    let mut ctx = full(Playbook::ThankYou);
    ctx.first_name = Some(XSS_SCRIPT.into());
    let r = templates.render(&ctx).unwrap();
    assert_eq!(r.html, "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>\r\n");
    assert_eq!(r.text, format!("{XSS_SCRIPT}\r\n"));
}

#[test]
fn urls_are_not_mangled_by_html_escaping() {
    let mut ctx = full(Playbook::ThankYou);
    ctx.care[0].care_url = Some("https://shop.example.com/care?a=1&b='2'".into());
    let r = render(&ctx);
    assert!(r
        .html
        .contains("href=\"https://shop.example.com/care?a=1&amp;b=&#x27;2&#x27;\""));
}

#[test]
fn unsafe_urls_are_rejected_naming_the_field() {
    type Mutate = fn(&mut EmailContext);
    let cases: [(Mutate, &str); 9] = [
        (
            (|c: &mut EmailContext| c.care[1].care_url = Some("javascript:alert(1)".into())),
            "care[1].care_url",
        ),
        (
            (|c: &mut EmailContext| c.care[0].how_to_url = Some("https://x.example/\"><b>".into())),
            "care[0].how_to_url",
        ),
        (
            (|c: &mut EmailContext| c.rating_urls[4] = "https://x.example/a\nb".into()),
            "rating_urls[4]",
        ),
        (
            (|c: &mut EmailContext| c.complementary[0].url = "data:text/html,hi".into()),
            "complementary[0].url",
        ),
        (
            (|c: &mut EmailContext| c.reorder_url = Some("ftp://x.example/".into())),
            "reorder_url",
        ),
        (
            (|c: &mut EmailContext| c.unsubscribe_url = Some("http://x.example/u".into())),
            "unsubscribe_url",
        ),
        (
            (|c: &mut EmailContext| c.unsubscribe_url = Some("https://x.example/dé".into())),
            "unsubscribe_url",
        ),
        (
            (|c: &mut EmailContext| {
                c.unsubscribe_url = Some("http://127.0.0.1.evil.example/u".into())
            }),
            "unsubscribe_url",
        ),
        (
            (|c: &mut EmailContext| {
                c.unsubscribe_url = Some("http://localhost@evil.example/u".into())
            }),
            "unsubscribe_url",
        ),
    ];
    for (mutate, expected) in cases {
        let mut ctx = full(Playbook::Satisfaction);
        mutate(&mut ctx);
        match Templates::builtin().render(&ctx) {
            Err(EmailError::InvalidUrl { field, .. }) => assert_eq!(field, expected),
            other => panic!("{expected}: expected InvalidUrl, got {other:?}"),
        }
    }
    // build_mime checks the unsubscribe URL on its own too.
    let mut ctx = full(Playbook::Loyalty);
    let rendered = render(&ctx);
    ctx.unsubscribe_url = Some("https://x.example/>\r\nBcc: evil@example.com".into());
    assert!(matches!(
        build_mime(&ctx, &rendered, date()),
        Err(EmailError::InvalidUrl { field, .. }) if field == "unsubscribe_url"
    ));
}

#[test]
fn plain_http_unsubscribe_is_accepted_for_loopback_only() {
    for url in [
        "http://127.0.0.1:9000/lambda-url/links/unsubscribe?t=x",
        "http://localhost/u",
        "http://[::1]:8080/u",
        "HTTPS://links.example.com/u",
    ] {
        let mut ctx = full(Playbook::Loyalty);
        ctx.unsubscribe_url = Some(url.into());
        let (_, raw) = build(&ctx);
        let msg = parse(&raw);
        assert_eq!(
            raw_header(&msg, "List-Unsubscribe"),
            Some(format!("<{url}>").as_str())
        );
    }
}

// ---------------------------------------------------------------------------------------
// Safety: headers

fn assert_single_headers(raw: &[u8], to: &str) {
    let msg = parse(raw);
    assert!(msg.bcc().is_none());
    assert_eq!(header_count(&msg, "Bcc"), 0);
    assert_eq!(header_count(&msg, "Cc"), 0);
    assert_eq!(header_count(&msg, "To"), 1);
    assert_eq!(header_count(&msg, "From"), 1);
    assert_eq!(header_count(&msg, "Subject"), 1);
    assert_eq!(header_count(&msg, "Reply-To"), 1);
    let tos: Vec<_> = msg.to().unwrap().iter().collect();
    assert_eq!(tos.len(), 1);
    assert_eq!(tos[0].address(), Some(to));
    assert_eq!(msg.from().unwrap().iter().count(), 1);
    let headers = String::from_utf8(header_section(raw).to_vec()).unwrap();
    assert!(
        !headers.to_ascii_lowercase().contains("\nbcc:"),
        "{headers}"
    );
}

#[test]
fn crlf_in_subject_names_or_shop_cannot_add_headers() {
    for playbook in Playbook::ALL {
        let mut ctx = full(playbook);
        ctx.first_name = Some(INJECTION.into());
        ctx.shop_name = INJECTION.into();
        ctx.from.name = INJECTION.into();
        ctx.order_name = Some(INJECTION.into());
        let (rendered, raw) = build(&ctx);
        assert!(!rendered.subject.contains(['\r', '\n']));
        assert_single_headers(&raw, "customer@example.com");
        let msg = parse(&raw);
        assert_eq!(
            msg.from().unwrap().first().unwrap().name(),
            Some("Bob Bcc: evil@example.com")
        );
    }

    // A subject that did not come from `render` is cleaned by `build_mime` too.
    let ctx = full(Playbook::ThankYou);
    let mut rendered = render(&ctx);
    for subject in [
        INJECTION,
        "Hi\nBcc: evil@example.com",
        "Hi\rBcc: evil@example.com\r\n",
    ] {
        rendered.subject = subject.into();
        let raw = build_mime(&ctx, &rendered, date()).unwrap();
        assert_single_headers(&raw, "customer@example.com");
        let msg = parse(&raw);
        assert!(msg.subject().unwrap().ends_with("Bcc: evil@example.com"));
    }
}

#[test]
fn non_ascii_headers_are_rfc2047_encoded_and_round_trip() {
    let mut ctx = full(Playbook::ThankYou);
    ctx.shop_name = "Crème & Co".into();
    ctx.from.name = "Crème & Co".into();
    ctx.first_name = Some("Zoë".into());
    let (rendered, raw) = build(&ctx);
    assert_eq!(
        rendered.subject,
        "Zoë, thanks for your order #1001 at Crème & Co"
    );

    let headers = header_section(&raw);
    assert!(headers.is_ascii(), "{}", String::from_utf8_lossy(headers));
    assert!(String::from_utf8_lossy(headers).contains("=?utf-8?"));
    let msg = parse(&raw);
    assert_eq!(msg.subject(), Some(rendered.subject.as_str()));
    let from = msg.from().unwrap().first().unwrap();
    assert_eq!(from.name(), Some("Crème & Co"));
    assert_eq!(from.address(), Some("hello@shop.example.com"));
    let reply_to = msg.reply_to().unwrap().first().unwrap();
    assert_eq!(reply_to.name(), Some("Crème & Co"));
    assert_eq!(reply_to.address(), Some("support@shop.example.com"));

    // A long subject with dashes and CJK, folded over several lines.
    let mut rendered = rendered;
    rendered.subject =
        "Zoë — votre commande 日本 est prête, et elle a un sujet assez long pour être plié — merci"
            .into();
    let raw = build_mime(&ctx, &rendered, date()).unwrap();
    assert!(header_section(&raw).is_ascii());
    assert_eq!(parse(&raw).subject(), Some(rendered.subject.as_str()));
}

#[test]
fn invalid_addresses_are_errors_naming_the_field() {
    let templates = Templates::builtin();
    for bad in [
        "",
        "not-an-address",
        "a@b.com, c@d.com",
        "Bob <bob@example.com>",
        "bob@example.com\r\nBcc: evil@example.com",
        "zoë@example.com",
        "bob@",
    ] {
        let mut ctx = full(Playbook::ThankYou);
        ctx.to = bad.into();
        let rendered = templates.render(&ctx).unwrap();
        match build_mime(&ctx, &rendered, date()) {
            Err(EmailError::InvalidAddress { field, reason }) => {
                assert_eq!(field, "to");
                assert!(!reason.contains("example.com"), "address leaked: {reason}");
            }
            other => panic!("{bad:?}: expected InvalidAddress, got {other:?}"),
        }
    }

    let mut ctx = full(Playbook::ThankYou);
    let rendered = templates.render(&ctx).unwrap();
    ctx.from.email = "shop".into();
    assert!(matches!(
        build_mime(&ctx, &rendered, date()),
        Err(EmailError::InvalidAddress {
            field: "from.email",
            ..
        })
    ));

    let mut ctx = full(Playbook::Returns);
    ctx.support_email = Some("help desk".into());
    let err = templates.render(&ctx).unwrap_err();
    assert!(matches!(
        err,
        EmailError::InvalidAddress {
            field: "support_email",
            ..
        }
    ));
    assert!(err.to_string().contains("support_email"));
}

#[test]
fn blank_support_email_means_no_reply_to() {
    let mut ctx = full(Playbook::Returns);
    ctx.support_email = Some("  ".into());
    let (rendered, raw) = build(&ctx);
    assert!(!rendered.text.contains("write to"));
    assert_eq!(header_count(&parse(&raw), "Reply-To"), 0);
}

// ---------------------------------------------------------------------------------------
// MIME structure

#[test]
fn mime_is_multipart_alternative_text_then_html_utf8() {
    for playbook in Playbook::ALL {
        let mut ctx = full(playbook);
        ctx.first_name = Some("Zoë".into());
        let (rendered, raw) = build(&ctx);
        let msg = parse(&raw);

        let root = msg.root_part();
        assert!(root.is_content_type("multipart", "alternative"));
        assert_eq!(part_count(&msg, "text", "plain"), 1);
        assert_eq!(part_count(&msg, "text", "html"), 1);
        assert_eq!(msg.parts.len(), 3);
        assert!(
            msg.parts[1].is_content_type("text", "plain"),
            "text/plain comes first"
        );
        assert!(msg.parts[2].is_content_type("text", "html"));
        for part in &msg.parts[1..] {
            let charset = part.content_type().and_then(|c| c.attribute("charset"));
            assert!(charset.is_some_and(|c| c.eq_ignore_ascii_case("utf-8")));
        }
        assert_eq!(msg.text_body_count(), 1);
        assert_eq!(msg.html_body_count(), 1);
        assert_eq!(msg.body_text(0).unwrap(), rendered.text);
        assert_eq!(msg.body_html(0).unwrap(), rendered.html);
        assert_eq!(msg.subject(), Some(rendered.subject.as_str()));
        assert_eq!(header_count(&msg, "MIME-Version"), 1);
        assert_eq!(header_count(&msg, "Date"), 1);
        assert_eq!(header_count(&msg, "Message-ID"), 1);
    }
}

#[test]
fn list_unsubscribe_headers_iff_unsubscribe_url() {
    for playbook in Playbook::ALL {
        let ctx = full(playbook);
        let (_, raw) = build(&ctx);
        let msg = parse(&raw);
        let url = ctx.unsubscribe_url.as_deref().unwrap();
        assert_eq!(header_count(&msg, "List-Unsubscribe"), 1);
        assert_eq!(header_count(&msg, "List-Unsubscribe-Post"), 1);
        assert_eq!(
            raw_header(&msg, "List-Unsubscribe"),
            Some(format!("<{url}>").as_str())
        );
        assert_eq!(
            raw_header(&msg, "List-Unsubscribe-Post"),
            Some("List-Unsubscribe=One-Click")
        );

        let mut ctx = full(playbook);
        ctx.unsubscribe_url = None;
        let (_, raw) = build(&ctx);
        let msg = parse(&raw);
        assert_eq!(header_count(&msg, "List-Unsubscribe"), 0);
        assert_eq!(header_count(&msg, "List-Unsubscribe-Post"), 0);
    }
}

#[test]
fn date_message_id_and_addresses() {
    let ctx = full(Playbook::ThankYou);
    let (_, raw) = build(&ctx);
    let msg = parse(&raw);
    let sent = msg.date().unwrap();
    assert_eq!(sent.to_timestamp(), date().timestamp());
    let id = msg.message_id().unwrap();
    assert!(id.ends_with("@shop.example.com"), "{id}");
    let (_, raw2) = build(&ctx);
    assert_ne!(parse(&raw2).message_id(), Some(id), "Message-ID is unique");
    assert_eq!(
        msg.from().unwrap().first().unwrap().name(),
        Some("Example Shop")
    );
    assert_eq!(
        msg.to().unwrap().first().unwrap().address(),
        Some("customer@example.com")
    );
}

// ---------------------------------------------------------------------------------------
// Locales and overrides

#[test]
fn locale_fr_ca_picks_french_de_at_german_es_mx_spanish_and_others_fall_back_to_english() {
    let mut ctx = full(Playbook::ThankYou);
    for locale in ["fr-CA", "FR-ca", "fr_CA", "fr", " fr "] {
        ctx.locale = Some(locale.into());
        let r = render(&ctx);
        assert!(
            r.subject.starts_with("Alex, merci pour votre commande"),
            "{locale}"
        );
        assert!(r.text.starts_with("Bonjour Alex,"), "{locale}");
        assert!(r.html.contains("<html lang=\"fr\">"), "{locale}");
    }
    for locale in ["de-AT", "DE_de", "de"] {
        ctx.locale = Some(locale.into());
        let r = render(&ctx);
        assert!(
            r.subject.starts_with("Alex, danke für Ihre Bestellung"),
            "{locale}"
        );
        assert!(r.text.starts_with("Hallo Alex,"), "{locale}");
        assert!(r.html.contains("<html lang=\"de\">"), "{locale}");
    }
    for locale in ["es-MX", "es-419", "es"] {
        ctx.locale = Some(locale.into());
        let r = render(&ctx);
        assert!(
            r.subject.starts_with("Alex, gracias por su pedido"),
            "{locale}"
        );
        assert!(r.text.starts_with("Hola, Alex:"), "{locale}");
        assert!(r.html.contains("<html lang=\"es\">"), "{locale}");
    }
    for locale in ["it", "pt-BR", "en-US", "", "../../etc/passwd"] {
        ctx.locale = Some(locale.into());
        let r = render(&ctx);
        assert!(
            r.subject.starts_with("Alex, thanks for your order"),
            "{locale}"
        );
        assert!(r.html.contains("<html lang=\"en\">"), "{locale}");
    }
}

#[test]
fn most_specific_locale_wins_per_part_case_insensitively() {
    let dir = TempDir::new("regional");
    dir.write("thank_you.fr-CA.subject", "Merci, {{ lang }}");
    let templates = Templates::with_overrides(&dir.0).unwrap();
    let mut ctx = full(Playbook::ThankYou);
    ctx.locale = Some("fr-ca".into());
    let r = templates.render(&ctx).unwrap();
    assert_eq!(r.subject, "Merci, fr-CA");
    // Bodies fall back to the French built-ins, independently of the subject.
    assert!(r.text.starts_with("Bonjour Alex,"));
    assert!(r.html.contains("<html lang=\"fr\">"));

    ctx.locale = Some("fr-FR".into());
    let r = templates.render(&ctx).unwrap();
    assert!(r.subject.starts_with("Alex, merci"));
}

#[test]
fn override_with_only_a_subject_keeps_builtin_bodies() {
    let dir = TempDir::new("subject");
    dir.write(
        "thank_you.subject",
        "Your {{ shop_name }} order is confirmed\n",
    );
    dir.write("README.md", "not a template {{");
    let templates = Templates::with_overrides(&dir.0).unwrap();
    let ctx = full(Playbook::ThankYou);
    let custom = lf(templates.render(&ctx).unwrap());
    let builtin = render(&ctx);
    assert_eq!(custom.subject, "Your Example Shop order is confirmed");
    assert_ne!(custom.subject, builtin.subject);
    assert_eq!(custom.text, builtin.text);
    assert_eq!(
        custom.html,
        builtin.html.replace(
            &format!("<title>{}</title>", builtin.subject),
            &format!("<title>{}</title>", custom.subject)
        )
    );
    // Other playbooks are untouched.
    let ctx = full(Playbook::Loyalty);
    assert_eq!(lf(templates.render(&ctx).unwrap()), render(&ctx));
}

#[test]
fn override_replaces_a_layout_for_every_playbook() {
    let dir = TempDir::new("layout");
    dir.write(
        "Layout.txt",
        "{% block greeting %}{% endblock %}\n{% block content %}{% endblock %}\n-- {{ shop_name }} custom footer",
    );
    let templates = Templates::with_overrides(&dir.0).unwrap();
    for playbook in Playbook::ALL {
        let r = templates.render(&full(playbook)).unwrap();
        assert!(
            r.text.ends_with("-- Example Shop custom footer\r\n"),
            "{}",
            r.text
        );
    }
}

#[test]
fn override_with_a_syntax_error_fails_at_load_naming_the_file() {
    let dir = TempDir::new("syntax");
    dir.write("thank_you.subject", "fine");
    dir.write("satisfaction.fr.html", "<p>{% if first_name %}unclosed</p>");
    match Templates::with_overrides(&dir.0) {
        Err(err @ EmailError::TemplateInvalid { .. }) => {
            let EmailError::TemplateInvalid { name, .. } = &err else {
                unreachable!()
            };
            assert_eq!(name, "satisfaction.fr.html");
            assert!(err.to_string().contains("satisfaction.fr.html"), "{err}");
        }
        other => panic!("expected TemplateInvalid, got {other:?}"),
    }
}

#[test]
fn override_with_an_unknown_variable_or_missing_parent_fails_at_load() {
    let dir = TempDir::new("undefined");
    dir.write("returns.txt", "Hello {{ frist_name }}");
    assert!(matches!(
        Templates::with_overrides(&dir.0),
        Err(EmailError::TemplateInvalid { name, .. }) if name == "returns.txt"
    ));

    let dir = TempDir::new("parent");
    dir.write("loyalty.html", "{% extends \"base.html\" %}");
    assert!(matches!(
        Templates::with_overrides(&dir.0),
        Err(EmailError::TemplateInvalid { name, .. }) if name == "loyalty.html"
    ));
}

#[test]
fn missing_override_dir_is_an_io_error() {
    let dir = TempDir::new("missing");
    let missing = dir.0.join("nope");
    assert!(matches!(
        Templates::with_overrides(&missing),
        Err(EmailError::Io { path, .. }) if path == missing
    ));
}

#[test]
fn missing_template_is_named() {
    let templates = Templates::empty();
    match templates.render(&full(Playbook::Returns)) {
        Err(EmailError::TemplateMissing { name }) => assert_eq!(name, "returns.subject"),
        other => panic!("expected TemplateMissing, got {other:?}"),
    }
}

#[test]
fn empty_subject_is_an_error() {
    let dir = TempDir::new("empty");
    dir.write(
        "returns.subject",
        "{% if order_name %}{{ order_name }}{% endif %}",
    );
    let templates = Templates::with_overrides(&dir.0).unwrap();
    assert!(templates.render(&full(Playbook::Returns)).is_ok());
    assert!(matches!(
        templates.render(&minimal(Playbook::Returns)),
        Err(EmailError::Render { name, .. }) if name == "returns.subject"
    ));
}

// ---------------------------------------------------------------------------------------
// Helpers

#[test]
fn locale_chain_normalises_and_rejects_garbage() {
    assert_eq!(locale_chain(Some("fr-CA")), ["fr-ca", "fr"]);
    assert_eq!(
        locale_chain(Some("zh_Hant_TW")),
        ["zh-hant-tw", "zh-hant", "zh"]
    );
    assert_eq!(locale_chain(Some("EN")), ["en"]);
    assert!(locale_chain(None).is_empty());
    assert!(locale_chain(Some("")).is_empty());
    assert!(locale_chain(Some("fr/../x")).is_empty());
    assert!(locale_chain(Some("fr--CA")).is_empty());
    assert_eq!(bcp47_case("zh-hant-tw"), "zh-Hant-TW");
    assert_eq!(bcp47_case("fr-ca"), "fr-CA");
}

#[test]
fn clean_line_and_tidy_text() {
    assert_eq!(clean_line("  a\r\n\tb\u{2028}c  d\u{0} "), "a b c d");
    assert_eq!(clean_line("Zoë — 日本"), "Zoë — 日本");
    assert_eq!(tidy_text("\n\na  \r\n\n\n\nb\n\n"), "a\r\n\r\nb\r\n");
    assert_eq!(crlf("a\nb\r\nc\rd"), "a\r\nb\r\nc\r\nd\r\n");
}

#[test]
fn reward_emails_show_the_code_and_its_last_day() {
    for playbook in [Playbook::Loyalty, Playbook::Recovery] {
        let r = render(&full(playbook));
        assert!(
            r.html.contains("THANKS10") && r.text.contains("THANKS10"),
            "{playbook:?}"
        );
    }
    let r = render(&full(Playbook::Loyalty));
    assert!(r.text.contains("until December 31, 2026."), "{}", r.text);
    let mut no_expiry = full(Playbook::Loyalty);
    no_expiry.discount_expires = None;
    assert!(!render(&no_expiry).text.contains("until"));
}

#[test]
fn the_satisfaction_reminder_repeats_the_rating_links_in_english_and_french() {
    let ctx = full(Playbook::SatisfactionReminder);
    let r = render(&ctx);
    assert_eq!(r.subject, "A quick reminder: how was order #1001?");
    for url in &ctx.rating_urls {
        assert!(r.text.contains(url.as_str()) && r.html.contains(url.as_str()));
    }
    assert!(r.text.contains("5 – excellent:"), "{}", r.text);
    assert!(r.html.contains("This is the only reminder"), "{}", r.html);

    let mut fr = ctx.clone();
    fr.locale = Some("fr".into());
    let r = render(&fr);
    assert_eq!(
        r.subject,
        "Petit rappel\u{a0}: comment s’est passée votre commande #1001\u{202f}?"
    );
    assert!(r.html.contains("Petit rappel\u{a0}:"), "{}", r.html);
    assert!(r.text.contains("5 – excellent\u{a0}:"), "{}", r.text);
    // French typography: a no-break space before ? ! : (never a plain one), in every
    // part, the layout's footer included.
    for part in [&r.subject, &r.text, &r.html] {
        for mark in [" ?", " !", " :"] {
            assert!(!part.contains(mark), "{mark:?} in {part}");
        }
    }
    // Without rating links (a minimal context) it still renders, and says less.
    let r = render(&minimal(Playbook::SatisfactionReminder));
    assert!(!r.text.contains("Choose a rating"), "{}", r.text);
}

#[test]
fn a_reminders_rating_links_are_signed_for_the_satisfaction_check_it_repeats() {
    use crate::model::tokens::{verify, LinkBuilder, LinkKeys, Purpose};
    use crate::model::{FollowUpRecord, OrderRecord, ProfileRecord};
    let config = crate::config::Config::parse(
        "[[shop]]\npostal_address = \"1 Test Street, Springfield\"\ndomain = \"acme.myshopify.com\"\nsender_email = \"shop@acme.example\"\n",
        "test",
    )
    .unwrap();
    let keys = LinkKeys::parse("1:a-test-key-that-is-long-enough-0123456789").unwrap();
    let links = LinkBuilder {
        base_url: "https://links.example.test".into(),
        keys: keys.clone(),
        ttl_days: 60,
    };
    let reminder = FollowUpRecord::pending(
        "acme.myshopify.com",
        "42",
        Playbook::SatisfactionReminder,
        1001,
        None,
        "2026-11-28T10:00:00.000Z",
        "2026-11-23T10:00:00.000Z",
        4,
    );
    let order = OrderRecord {
        order_id: 1001,
        ..OrderRecord::default()
    };
    let profile = ProfileRecord {
        customer_key: "42".into(),
        ..ProfileRecord::default()
    };
    let now = date();
    let ctx = super::context::email_context(
        &links,
        &reminder,
        &config.shops[0],
        &order,
        &profile,
        "bob@example.com",
        "shop@acme.example",
        now,
    );
    assert_eq!(ctx.rating_urls.len(), 5);
    for (i, url) in ctx.rating_urls.iter().enumerate() {
        let token = url.split("t=").nth(1).unwrap();
        let claims = verify(&keys, token, Purpose::Rate, now.timestamp()).unwrap();
        assert_eq!(claims.followup, "satisfaction#1001#0");
        assert_eq!(claims.score, Some(i as u8 + 1));
    }
    // Its unsubscribe link names the reminder itself.
    let unsubscribe = ctx.unsubscribe_url.unwrap();
    let token = unsubscribe.split("t=").nth(1).unwrap();
    let claims = crate::model::tokens::verify_lasting(&keys, token, Purpose::Unsubscribe).unwrap();
    assert_eq!(claims.followup, "satisfaction_reminder#1001#0");
}

#[test]
fn money_and_dates_are_written_for_the_customers_locale() {
    // (locale, currency, the total paid, the code's last day), through the templates.
    let cases = [
        ("en-US", "USD", "$109.94", "until December 31, 2026"),
        ("en-GB", "GBP", "£109.94", "until 31 December 2026"),
        ("fr-FR", "EUR", "109,94\u{a0}€", "jusqu’au 31 décembre 2026"),
        ("fr-CA", "CAD", "109,94\u{a0}$", "jusqu’au 31 décembre 2026"),
    ];
    for (locale, currency, total, until) in cases {
        let mut thanks = full(Playbook::ThankYou);
        thanks.locale = Some(locale.into());
        thanks.currency = Some(currency.into());
        let r = render(&thanks);
        assert!(
            r.text.contains(total) && r.html.contains(total),
            "{locale}: {}",
            r.text
        );
        let mut loyalty = full(Playbook::Loyalty);
        loyalty.locale = Some(locale.into());
        let r = render(&loyalty);
        assert!(r.text.contains(until), "{locale}: {}", r.text);
    }
    // A customer whose language has no templates reads the shop's, with its numbers.
    let mut ctx = full(Playbook::ThankYou);
    ctx.locale = Some("ja-JP".into());
    ctx.shop_locale = Some("fr".into());
    ctx.currency = Some("EUR".into());
    assert!(render(&ctx)
        .text
        .contains("Total payé\u{a0}: 109,94\u{a0}€"));
}
