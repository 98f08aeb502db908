//! Email rendering and MIME building for the playbooks.
//!
//! Two steps, kept apart so each can be tested and benchmarked on its own:
//!
//! 1. [`Templates::render`] turns an [`EmailContext`] into a [`Rendered`] subject, text
//!    part and HTML part with minijinja templates: one set per playbook
//!    (`{playbook}.subject`, `{playbook}.txt`, `{playbook}.html`), optionally per
//!    locale (`thank_you.fr.html`, `thank_you.fr-CA.html`). Built-in English, French,
//!    German and Spanish templates are compiled into the binary; a shop may override any
//!    of them by name ([`Templates::with_overrides`]).
//! 2. [`build_mime`] wraps a [`Rendered`] into a complete RFC 5322 message for SES v2
//!    raw sending.
//!
//! Escaping: `.html` templates auto-escape every interpolated value (`& < > " '`);
//! `.txt` and `.subject` templates escape nothing. Every value that reaches a header has
//! its control characters (CR, LF, TAB, …) replaced by spaces, and non-ASCII header text
//! is RFC 2047-encoded by lettre.
//!
//! # Template variables
//!
//! Templates (built-in or a shop's) see a cleaned view of the [`EmailContext`]: one-line
//! strings have control characters replaced by spaces and are trimmed, blank optional
//! strings are `none`, URLs are checked to be `http(s)://` without whitespace, quotes or
//! angle brackets (else [`EmailError::InvalidUrl`]). Undefined variables are an error.
//!
//! `playbook` (`thank_you`, …), `marketing` (bool), `shop_name`, `shop_url` (the
//! storefront), `from_name`, `first_name`, `locale` (requested, lower-cased),
//! `order_name`, `lines` (the units this email is about: each `title`, `variant_title`,
//! `quantity`, `price` — the line's amount, formatted — and `image_url`), `care` (once
//! per product: `title`, `care_url`, `how_to_url`), `total` and `savings` (thank-you;
//! formatted), `ratings` (each `score` 1–5 and `url`), `reasons` (returns: each `reason`
//! — `size_too_small`, `size_too_large`, `not_as_described`, `defective`,
//! `arrived_late`, `wrong_item`, `unwanted`, `other` — and `url`), `reorder_url`,
//! `review_url`, `discount_code`, `discount_expires` (formatted), `complementary` (each
//! `title`, `url`; empty when the playbook's `cross_sell` is off), `preheader` (the
//! shop's, else none: the template's own block), `brand` (`logo_url`, `color`,
//! `accent`, `accent_text`, `link` — `#rrggbb` —, `sign_off`,
//! `postal_address`), `support_email`, `unsubscribe_url`; and per part `lang` (the
//! language of the template picked: `fr-CA`, `fr`, `de`, `es`, or `en` for an unlocalised
//! one) and, in `.txt` and `.html`, the rendered `subject`. Amounts and dates are
//! written for the customer's locale in the template's language ([`crate::model::money`]).
//!
//! The built-in bodies extend their locale's `layout.txt` / `layout.html` (`layout.fr.*`,
//! `layout.de.*`, `layout.es.*` for French, German and Spanish), which only give the
//! frame's text: the greeting, the "You may also like" title, the sign-off and the
//! footer. The markup is in the language-neutral `frame.txt` / `frame.html` (header,
//! preheader, card, cross-sell block, footer with the postal address) that every layout
//! extends, and the bodies' pieces in `parts.html` (button, product lines, rating scale,
//! code box, reason buttons), whose labels (quantity, the scale's ends, reasons, buttons)
//! each language's body passes in. A shop can override any of them like any other
//! template.

use crate::model::color::{Rgb, WHITE};
use crate::model::locale::{customer_chain, locale_chain};
use crate::model::money::{format_date, format_money};
use crate::model::{Playbook, ReturnReason};
use lettre::Address;
use minijinja::{context, AutoEscape, Environment, ErrorKind, UndefinedBehavior, Value};
use rust_decimal::Decimal;
use serde::Serialize;
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

#[cfg(test)]
#[path = "tests/locale.rs"]
pub(crate) mod locale_tests;
#[cfg(test)]
mod tests;

pub mod context;
pub mod mime;
pub mod report;

/// The `From` of an email: the shop's display name and a verified SES sender address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender {
    pub name: String,
    pub email: String,
}

/// One product line as shown in an email: the units the email is about (kept,
/// refunded or to reorder, see [`context`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineView {
    pub title: String,
    pub variant_title: Option<String>,
    pub quantity: u32,
    /// One unit as paid (Shopify's line `price`), in the order's currency.
    pub unit_price: Option<Decimal>,
    /// The product's picture (`[[shop.product]] image_url`).
    pub image_url: Option<String>,
}

/// A product's care guide and how-to links, once per product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CareView {
    pub title: String,
    pub care_url: Option<String>,
    pub how_to_url: Option<String>,
}

/// The shop's look (`[shop.brand]`) and postal address; every part optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BrandView {
    pub logo_url: Option<String>,
    /// `#rrggbb` / `#rgb`; a default when unset or unreadable.
    pub color: Option<String>,
    pub accent: Option<String>,
    pub sign_off: Option<String>,
    pub postal_address: Option<String>,
}

/// A titled link (the "You may also like" block).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkView {
    pub title: String,
    pub url: String,
}

/// Everything one email needs. Strings are raw (not escaped); the templates escape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailContext {
    pub playbook: Playbook,
    pub shop_name: String,
    /// The storefront, linked from the header.
    pub shop_url: Option<String>,
    pub from: Sender,
    /// The customer's address.
    pub to: String,
    /// Shown as the support contact and used as `Reply-To` when set.
    pub support_email: Option<String>,
    pub first_name: Option<String>,
    /// The customer's locale, e.g. "fr", "fr-CA", "en-US" (case-insensitive); picks the
    /// templates and formats money and dates.
    pub locale: Option<String>,
    /// The shop's default locale, tried after the customer's, before English.
    pub shop_locale: Option<String>,
    /// e.g. "#1001".
    pub order_name: Option<String>,
    /// ISO 4217 code of the order's amounts.
    pub currency: Option<String>,
    pub lines: Vec<LineView>,
    /// Care and how-to links of the lines' products, once per product.
    pub care: Vec<CareView>,
    /// Thank-you: what the order cost, and what its discounts took off.
    pub total: Option<Decimal>,
    pub savings: Option<Decimal>,
    /// Satisfaction: five URLs, index 0 = score 1.
    pub rating_urls: Vec<String>,
    /// Returns: one URL per return reason, in [`ReturnReason::ALL`] order.
    pub reason_urls: Vec<(ReturnReason, String)>,
    /// Replenishment.
    pub reorder_url: Option<String>,
    pub review_url: Option<String>,
    /// Loyalty and recovery (when the shop's rule gives a code).
    pub discount_code: Option<String>,
    /// The code's last valid day, `YYYY-MM-DD` in the shop's time zone.
    pub discount_expires: Option<String>,
    /// The "You may also like" block; empty when the playbook's `cross_sell` is off.
    pub complementary: Vec<LinkView>,
    /// The shop's preheader for this playbook (else the template's own).
    pub preheader: Option<String>,
    pub brand: BrandView,
    /// When set: footer link plus `List-Unsubscribe` / `List-Unsubscribe-Post` headers.
    pub unsubscribe_url: Option<String>,
}

/// The three rendered parts of an email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// One line, control characters already removed.
    pub subject: String,
    /// CRLF line endings, ends with one CRLF.
    pub text: String,
    /// CRLF line endings, ends with one CRLF.
    pub html: String,
}

#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    /// No template for this playbook and part, in any locale.
    #[error("email template `{name}` not found")]
    TemplateMissing { name: String },
    /// A template does not compile (or, for overrides, fails a trial render).
    #[error("email template `{name}` is invalid: {source}")]
    TemplateInvalid {
        name: String,
        #[source]
        source: minijinja::Error,
    },
    /// A template failed while rendering a real context.
    #[error("rendering email template `{name}` failed: {source}")]
    Render {
        name: String,
        #[source]
        source: minijinja::Error,
    },
    /// The override directory or one of its files could not be read.
    #[error("cannot read email templates at {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `field` is `to`, `from.email` or `support_email`. The address itself is never
    /// included (it is personal data and errors get logged).
    #[error("invalid email address in `{field}`: {reason}")]
    InvalidAddress { field: &'static str, reason: String },
    /// `field` names the context field, e.g. `unsubscribe_url` or `lines[2].care_url`.
    #[error("invalid URL in `{field}`: {reason}")]
    InvalidUrl { field: String, reason: &'static str },
    #[error("invalid attachment content type")]
    InvalidAttachmentType,
    #[error("building the MIME message failed: {0}")]
    Build(#[from] lettre::error::Error),
}

/// The three parts rendered for every email, in render order.
const KINDS: [&str; 3] = ["subject", "txt", "html"];

/// The languages every built-in email and page is written in.
pub use crate::model::locale::SHIPPED as LOCALES;

/// Language of the templates without a locale segment (the built-in ones are English).
pub(crate) const DEFAULT_LANG: &str = "en";

macro_rules! builtin_templates {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("templates/", $name)))),*]
    };
}

/// Every template compiled into the binary, by name.
const BUILTIN: &[(&str, &str)] = builtin_templates![
    "parts.html",
    "frame.txt",
    "frame.html",
    "layout.txt",
    "layout.html",
    "layout.fr.txt",
    "layout.fr.html",
    "layout.de.txt",
    "layout.de.html",
    "layout.es.txt",
    "layout.es.html",
    "thank_you.subject",
    "thank_you.txt",
    "thank_you.html",
    "thank_you.fr.subject",
    "thank_you.fr.txt",
    "thank_you.fr.html",
    "thank_you.de.subject",
    "thank_you.de.txt",
    "thank_you.de.html",
    "thank_you.es.subject",
    "thank_you.es.txt",
    "thank_you.es.html",
    "satisfaction.subject",
    "satisfaction.txt",
    "satisfaction.html",
    "satisfaction.fr.subject",
    "satisfaction.fr.txt",
    "satisfaction.fr.html",
    "satisfaction.de.subject",
    "satisfaction.de.txt",
    "satisfaction.de.html",
    "satisfaction.es.subject",
    "satisfaction.es.txt",
    "satisfaction.es.html",
    "replenishment.subject",
    "replenishment.txt",
    "replenishment.html",
    "replenishment.fr.subject",
    "replenishment.fr.txt",
    "replenishment.fr.html",
    "replenishment.de.subject",
    "replenishment.de.txt",
    "replenishment.de.html",
    "replenishment.es.subject",
    "replenishment.es.txt",
    "replenishment.es.html",
    "loyalty.subject",
    "loyalty.txt",
    "loyalty.html",
    "loyalty.fr.subject",
    "loyalty.fr.txt",
    "loyalty.fr.html",
    "loyalty.de.subject",
    "loyalty.de.txt",
    "loyalty.de.html",
    "loyalty.es.subject",
    "loyalty.es.txt",
    "loyalty.es.html",
    "returns.subject",
    "returns.txt",
    "returns.html",
    "returns.fr.subject",
    "returns.fr.txt",
    "returns.fr.html",
    "returns.de.subject",
    "returns.de.txt",
    "returns.de.html",
    "returns.es.subject",
    "returns.es.txt",
    "returns.es.html",
    "recovery.subject",
    "recovery.txt",
    "recovery.html",
    "recovery.fr.subject",
    "recovery.fr.txt",
    "recovery.fr.html",
    "recovery.de.subject",
    "recovery.de.txt",
    "recovery.de.html",
    "recovery.es.subject",
    "recovery.es.txt",
    "recovery.es.html",
    "satisfaction_reminder.subject",
    "satisfaction_reminder.txt",
    "satisfaction_reminder.html",
    "satisfaction_reminder.fr.subject",
    "satisfaction_reminder.fr.txt",
    "satisfaction_reminder.fr.html",
    "satisfaction_reminder.de.subject",
    "satisfaction_reminder.de.txt",
    "satisfaction_reminder.de.html",
    "satisfaction_reminder.es.subject",
    "satisfaction_reminder.es.txt",
    "satisfaction_reminder.es.html",
];

/// A compiled template set: the built-ins, possibly with a shop's overrides on top.
///
/// Cheap to clone (compiled templates are shared); `Send + Sync`.
#[derive(Clone)]
pub struct Templates {
    env: Environment<'static>,
    /// Lower-cased template name -> name registered in `env` (lookups are
    /// case-insensitive, so `thank_you.fr-CA.html` and `thank_you.fr-ca.html` match).
    names: HashMap<String, String>,
}

impl fmt::Debug for Templates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> = self.names.values().map(String::as_str).collect();
        names.sort_unstable();
        f.debug_struct("Templates").field("names", &names).finish()
    }
}

impl Templates {
    /// The templates compiled into the binary (English, French, German and Spanish for
    /// every playbook).
    pub fn builtin() -> Templates {
        static BUILT: OnceLock<Templates> = OnceLock::new();
        BUILT
            .get_or_init(|| {
                let mut templates = Templates::empty();
                for (name, source) in BUILTIN {
                    if let Err(err) = templates.add(name, Cow::Borrowed(source)) {
                        // Unreachable in a tested build: every built-in is rendered by tests.
                        panic!("built-in email template is invalid: {err}");
                    }
                }
                templates
            })
            .clone()
    }

    /// The built-ins with a shop's directory on top.
    ///
    /// Every regular file in `dir` (not recursive) whose name ends in `.subject`, `.txt`
    /// or `.html` is loaded under its file name: it replaces the built-in of the same
    /// name (case-insensitively), or adds a new template (a locale, a partial for
    /// `{% include %}`). Other files are ignored. A file that does not compile, or that
    /// makes any playbook template fail a trial render (e.g. an unknown variable or a
    /// missing `{% extends %}` target), is an error naming the file.
    pub fn with_overrides(dir: &Path) -> Result<Templates, EmailError> {
        let io_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| EmailError::Io { path, source }
        };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
            let entry = entry.map_err(io_err(dir))?;
            let path = entry.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if !KINDS.iter().any(|kind| name.ends_with(&format!(".{kind}"))) {
                continue;
            }
            if !std::fs::metadata(&path).map_err(io_err(&path))?.is_file() {
                continue;
            }
            let source = std::fs::read_to_string(&path).map_err(io_err(&path))?;
            files.push((name.to_owned(), source));
        }
        // Deterministic order, so that the same directory always gives the same result.
        files.sort();

        let mut templates = Templates::builtin();
        for (name, source) in files {
            templates.add(&name, Cow::Owned(source))?;
        }
        templates.trial_render()?;
        Ok(templates)
    }

    /// Renders the subject, text and HTML parts for `ctx.playbook` in `ctx.locale`.
    ///
    /// Each part picks its template independently: for locale `fr-CA`,
    /// `{playbook}.fr-ca.{part}`, then `{playbook}.fr.{part}`, then `{playbook}.{part}`
    /// (case-insensitive); the variables are listed in the [module docs](self).
    ///
    /// The subject is one line; text and HTML use CRLF line endings (the canonical MIME
    /// form, so the parts of [`build_mime`]'s message decode to exactly these strings).
    pub fn render(&self, ctx: &EmailContext) -> Result<Rendered, EmailError> {
        let chain = customer_chain(ctx.locale.as_deref(), ctx.shop_locale.as_deref());
        let playbook = ctx.playbook.as_str();
        let (name, lang) = self.resolve(playbook, "subject", &chain)?;
        // Money and dates in the customer's own variant of the body's language.
        let (_, body_lang) = self.resolve(playbook, "html", &chain)?;
        let view = Value::from_serialize(View::new(ctx, &format_locale(&chain, &body_lang))?);
        let raw = self.render_one(name, context! { lang, ..view.clone() })?;
        let subject = clean_line(&raw);
        if subject.is_empty() {
            return Err(EmailError::Render {
                name: name.to_owned(),
                source: minijinja::Error::new(ErrorKind::InvalidOperation, "subject is empty"),
            });
        }

        let (name, lang) = self.resolve(playbook, "txt", &chain)?;
        let text = tidy_text(&self.render_one(
            name,
            context! { lang, subject => subject.as_str(), ..view.clone() },
        )?);

        let (name, lang) = self.resolve(playbook, "html", &chain)?;
        let html = crlf(
            self.render_one(name, context! { lang, subject => subject.as_str(), ..view })?
                .trim_end(),
        );

        Ok(Rendered {
            subject,
            text,
            html,
        })
    }

    fn empty() -> Templates {
        Templates {
            env: environment(),
            names: HashMap::new(),
        }
    }

    /// Adds or replaces a template; a name differing only in case from an existing one
    /// replaces it under the existing name (so `{% extends %}` in other templates sees it).
    fn add(&mut self, name: &str, source: Cow<'static, str>) -> Result<(), EmailError> {
        let key = name.to_ascii_lowercase();
        let registered = self
            .names
            .get(&key)
            .cloned()
            .unwrap_or_else(|| name.to_owned());
        self.env
            .add_template_owned(registered.clone(), source)
            .map_err(|source| EmailError::TemplateInvalid {
                name: name.to_owned(),
                source,
            })?;
        self.names.insert(key, registered);
        Ok(())
    }

    /// The first existing template in `chain` order, and its language.
    fn resolve(
        &self,
        playbook: &str,
        kind: &str,
        chain: &[String],
    ) -> Result<(&str, String), EmailError> {
        pick_localized(
            |name| self.names.get(name).map(String::as_str),
            playbook,
            kind,
            chain,
        )
        .ok_or_else(|| EmailError::TemplateMissing {
            name: format!("{playbook}.{kind}"),
        })
    }

    fn render_one(&self, name: &str, ctx: Value) -> Result<String, EmailError> {
        let wrap = |source: minijinja::Error| EmailError::Render {
            name: name.to_owned(),
            source,
        };
        self.env
            .get_template(name)
            .map_err(wrap)?
            .render(ctx)
            .map_err(wrap)
    }

    /// Renders every playbook template (every locale) with a full and a minimal context,
    /// so that a broken override fails at load time rather than when a customer is due
    /// an email. The error names the template where the failure happened.
    fn trial_render(&self) -> Result<(), EmailError> {
        let mut names: Vec<&String> = self.names.values().collect();
        names.sort_unstable();
        for playbook in Playbook::ALL {
            let prefix = format!("{}.", playbook.as_str());
            let samples = [
                sample_context(playbook, true),
                sample_context(playbook, false),
            ];
            for name in names
                .iter()
                .filter(|n| n.to_ascii_lowercase().starts_with(&prefix))
            {
                for sample in &samples {
                    let view = Value::from_serialize(View::new(sample, DEFAULT_LANG)?);
                    let ctx = context! { lang => DEFAULT_LANG, subject => "Subject", ..view };
                    let rendered = self.env.get_template(name).and_then(|t| t.render(ctx));
                    if let Err(source) = rendered {
                        let failing = source.name().unwrap_or(name).to_owned();
                        return Err(EmailError::TemplateInvalid {
                            name: failing,
                            source,
                        });
                    }
                }
            }
        }
        Ok(())
    }
}

/// A plain-text notice to the merchant (low-rating alert and the like): one text part,
/// header text cleaned and encoded as for customer email ([`mime::build`]).
pub fn build_notice(
    from: (&str, &str),
    to: &str,
    reply_to: Option<&str>,
    subject: &str,
    text: &str,
    html: Option<&str>,
    date: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<u8>, EmailError> {
    let envelope = mime::Envelope {
        from,
        from_field: "from",
        to,
        to_field: "to",
        reply_to: reply_to.map(|a| ("", a)),
        subject,
        date,
        unsubscribe_url: None,
    };
    match html {
        Some(html) => mime::build(&envelope, mime::Body::Alternative { text, html }),
        None => mime::build(&envelope, mime::Body::Plain(text)),
    }
}

/// Builds the full RFC 5322 message for SES v2 raw sending ([`mime::build`]).
///
/// `multipart/alternative` with `text/plain` then `text/html` (both UTF-8); `From`
/// (`"name" <email>`), `To` (the bare address), `Reply-To` (`support_email`, with the shop
/// name, when set), `Subject`, `Date` (`date`), `Message-ID`
/// (`<32 random hex digits@domain of from.email>`), `MIME-Version`, and when
/// `ctx.unsubscribe_url` is set `List-Unsubscribe: <URL>` and
/// `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058).
pub fn build_mime(
    ctx: &EmailContext,
    rendered: &Rendered,
    date: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<u8>, EmailError> {
    let envelope = mime::Envelope {
        from: (&ctx.from.name, &ctx.from.email),
        from_field: "from.email",
        to: &ctx.to,
        to_field: "to",
        reply_to: non_blank(&ctx.support_email).map(|s| (ctx.shop_name.as_str(), s)),
        subject: &rendered.subject,
        date,
        unsubscribe_url: ctx.unsubscribe_url.as_deref(),
    };
    let body = mime::Body::Alternative {
        text: &rendered.text,
        html: &rendered.html,
    };
    mime::build(&envelope, body)
}

// ---------------------------------------------------------------------------------------
// The template view

/// The locale money and dates are written for: the first of `chain` in the language
/// of the template picked (`fr-ca` for a Canadian customer reading French), else that
/// language.
fn format_locale(chain: &[String], lang: &str) -> String {
    let primary = |l: &str| l.split('-').next().unwrap_or_default().to_ascii_lowercase();
    let want = primary(lang);
    chain
        .iter()
        .find(|l| primary(l) == want)
        .cloned()
        .unwrap_or_else(|| lang.to_ascii_lowercase())
}

/// Default header and link colour: a deep blue that reads on white (8.6:1).
const DEFAULT_COLOR: Rgb = Rgb(0x1f, 0x4e, 0x79);
/// Default button colour.
const DEFAULT_ACCENT: Rgb = Rgb(0x1a, 0x5f, 0xb4);

/// What templates see; documented in the module docs.
#[derive(Serialize)]
struct View<'a> {
    playbook: &'static str,
    marketing: bool,
    shop_name: String,
    shop_url: Option<&'a str>,
    from_name: String,
    first_name: Option<String>,
    locale: Option<String>,
    order_name: Option<String>,
    lines: Vec<LineOut<'a>>,
    care: Vec<CareOut<'a>>,
    total: Option<String>,
    savings: Option<String>,
    ratings: Vec<RatingOut<'a>>,
    reasons: Vec<ReasonOut<'a>>,
    reorder_url: Option<&'a str>,
    review_url: Option<&'a str>,
    discount_code: Option<String>,
    discount_expires: Option<String>,
    complementary: Vec<LinkOut<'a>>,
    preheader: Option<String>,
    brand: BrandOut<'a>,
    support_email: Option<&'a str>,
    unsubscribe_url: Option<&'a str>,
}

#[derive(Serialize)]
struct LineOut<'a> {
    title: String,
    variant_title: Option<String>,
    quantity: u32,
    /// The line's amount (unit price × quantity), formatted.
    price: Option<String>,
    image_url: Option<&'a str>,
}

#[derive(Serialize)]
struct CareOut<'a> {
    title: String,
    care_url: Option<&'a str>,
    how_to_url: Option<&'a str>,
}

#[derive(Serialize)]
struct BrandOut<'a> {
    logo_url: Option<&'a str>,
    /// `#rrggbb`.
    color: String,
    accent: String,
    accent_text: String,
    /// Links, outlines and the shop name on white: `color` when it reads there (4.5:1),
    /// else the default.
    link: String,
    sign_off: Option<String>,
    postal_address: Option<String>,
}

#[derive(Serialize)]
struct RatingOut<'a> {
    score: usize,
    url: &'a str,
}

#[derive(Serialize)]
struct ReasonOut<'a> {
    reason: &'static str,
    url: &'a str,
}

#[derive(Serialize)]
struct LinkOut<'a> {
    title: String,
    url: &'a str,
}

impl<'a> View<'a> {
    /// The view of `ctx` with money and dates written for `locale`.
    fn new(ctx: &'a EmailContext, locale: &str) -> Result<View<'a>, EmailError> {
        let money = |amount: Decimal| {
            format_money(amount, ctx.currency.as_deref().unwrap_or_default(), locale)
        };
        let lines = lines_out(ctx, &money)?;
        let care = care_out(ctx)?;
        let mut ratings = Vec::with_capacity(ctx.rating_urls.len());
        for (i, u) in ctx.rating_urls.iter().enumerate() {
            ratings.push(RatingOut {
                score: i + 1,
                url: req_url(u, || format!("rating_urls[{i}]"))?,
            });
        }
        let mut reasons = Vec::with_capacity(ctx.reason_urls.len());
        for (i, (reason, u)) in ctx.reason_urls.iter().enumerate() {
            reasons.push(ReasonOut {
                reason: reason.as_str(),
                url: req_url(u, || format!("reason_urls[{i}]"))?,
            });
        }
        let mut complementary = Vec::with_capacity(ctx.complementary.len());
        for (i, link) in ctx.complementary.iter().enumerate() {
            complementary.push(LinkOut {
                title: clean_line(&link.title),
                url: req_url(&link.url, || format!("complementary[{i}].url"))?,
            });
        }
        let support_email = match non_blank(&ctx.support_email) {
            Some(s) => {
                parse_address("support_email", s)?;
                Some(s)
            }
            None => None,
        };
        let unsubscribe_url = match &ctx.unsubscribe_url {
            Some(u) => Some(check_unsubscribe_url(u)?),
            None => None,
        };
        Ok(View {
            playbook: ctx.playbook.as_str(),
            marketing: ctx.playbook.is_marketing(),
            shop_name: clean_line(&ctx.shop_name),
            shop_url: opt_url(&ctx.shop_url, || "shop_url".to_owned())?,
            from_name: clean_line(&ctx.from.name),
            first_name: clean_opt(&ctx.first_name),
            locale: ctx
                .locale
                .as_deref()
                .and_then(|l| locale_chain(Some(l)).into_iter().next()),
            order_name: clean_opt(&ctx.order_name),
            lines,
            care,
            total: ctx.total.map(money),
            savings: ctx.savings.map(money),
            ratings,
            reasons,
            reorder_url: opt_url(&ctx.reorder_url, || "reorder_url".to_owned())?,
            review_url: opt_url(&ctx.review_url, || "review_url".to_owned())?,
            discount_code: clean_opt(&ctx.discount_code),
            discount_expires: clean_opt(&ctx.discount_expires).map(|d| {
                match chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d") {
                    Ok(date) => format_date(date, locale),
                    Err(_) => d,
                }
            }),
            complementary,
            preheader: clean_opt(&ctx.preheader),
            brand: BrandOut::new(&ctx.brand)?,
            support_email,
            unsubscribe_url,
        })
    }
}

/// The product lines as templates see them, amounts written by `money`.
fn lines_out<'a>(
    ctx: &'a EmailContext,
    money: &dyn Fn(Decimal) -> String,
) -> Result<Vec<LineOut<'a>>, EmailError> {
    let mut lines = Vec::with_capacity(ctx.lines.len());
    for (i, line) in ctx.lines.iter().enumerate() {
        lines.push(LineOut {
            title: clean_line(&line.title),
            variant_title: clean_opt(&line.variant_title),
            quantity: line.quantity,
            price: line
                .unit_price
                .and_then(|p| p.checked_mul(Decimal::from(line.quantity)))
                .map(money),
            image_url: opt_url(&line.image_url, || format!("lines[{i}].image_url"))?,
        });
    }
    Ok(lines)
}

/// The care and how-to links as templates see them.
fn care_out(ctx: &EmailContext) -> Result<Vec<CareOut<'_>>, EmailError> {
    let mut care = Vec::with_capacity(ctx.care.len());
    for (i, c) in ctx.care.iter().enumerate() {
        care.push(CareOut {
            title: clean_line(&c.title),
            care_url: opt_url(&c.care_url, || format!("care[{i}].care_url"))?,
            how_to_url: opt_url(&c.how_to_url, || format!("care[{i}].how_to_url"))?,
        });
    }
    Ok(care)
}

impl<'a> BrandOut<'a> {
    /// Colours parsed (defaults when unset or unreadable), with the text colours that
    /// read on them; the logo's URL checked.
    fn new(brand: &'a BrandView) -> Result<BrandOut<'a>, EmailError> {
        let colour =
            |c: &Option<String>, default: Rgb| c.as_deref().and_then(Rgb::parse).unwrap_or(default);
        let (color, accent) = (
            colour(&brand.color, DEFAULT_COLOR),
            colour(&brand.accent, DEFAULT_ACCENT),
        );
        Ok(BrandOut {
            logo_url: opt_url(&brand.logo_url, || "brand.logo_url".to_owned())?,
            color: color.hex(),
            accent: accent.hex(),
            accent_text: accent.text_on().hex(),
            link: if color.contrast(WHITE) >= 4.5 {
                color.hex()
            } else {
                DEFAULT_COLOR.hex()
            },
            sign_off: clean_opt(&brand.sign_off),
            postal_address: clean_opt(&brand.postal_address),
        })
    }
}

/// A context with every field set (`full`) or with every option `None` and empty lists.
/// Used for the trial render of overrides (and by tests).
fn sample_context(playbook: Playbook, full: bool) -> EmailContext {
    let url = |path: &str| format!("https://shop.example.com/{path}");
    let some = |s: &str| full.then(|| s.to_owned());
    EmailContext {
        playbook,
        shop_name: "Example Shop".into(),
        shop_url: full.then(|| url("")),
        from: Sender {
            name: "Example Shop".into(),
            email: "hello@shop.example.com".into(),
        },
        to: "customer@example.com".into(),
        support_email: some("support@shop.example.com"),
        first_name: some("Alex"),
        locale: some("en"),
        shop_locale: None,
        order_name: some("#1001"),
        currency: some("USD"),
        lines: sample_lines(full),
        care: sample_care(full),
        total: full.then(|| Decimal::new(10994, 2)),
        savings: full.then(|| Decimal::new(1000, 2)),
        rating_urls: if full {
            (1..=5).map(|i| url(&format!("rate/{i}"))).collect()
        } else {
            Vec::new()
        },
        reason_urls: if full {
            ReturnReason::ALL
                .into_iter()
                .map(|r| (r, url(&format!("reason/{}", r.as_str()))))
                .collect()
        } else {
            Vec::new()
        },
        reorder_url: full.then(|| url("reorder")),
        review_url: full.then(|| url("review")),
        discount_code: some("THANKS10"),
        discount_expires: some("2026-12-31"),
        complementary: if full {
            vec![LinkView {
                title: "Other product".into(),
                url: url("products/other"),
            }]
        } else {
            Vec::new()
        },
        preheader: some("A preheader"),
        brand: if full {
            BrandView {
                logo_url: Some(url("logo.png")),
                color: Some("#0f5132".into()),
                accent: Some("#ffd700".into()),
                sign_off: Some("The Example team".into()),
                postal_address: Some("1 Example Street, Springfield".into()),
            }
        } else {
            BrandView::default()
        },
        unsubscribe_url: full.then(|| url("unsubscribe")),
    }
}

/// Three product lines with prices and pictures, or none.
fn sample_lines(full: bool) -> Vec<LineView> {
    if !full {
        return Vec::new();
    }
    (1..=3)
        .map(|i| LineView {
            title: format!("Product {i}"),
            variant_title: Some("Large".into()),
            quantity: i,
            unit_price: Some(Decimal::new(1999, 2)),
            image_url: Some(format!("https://shop.example.com/images/{i}.png")),
        })
        .collect()
}

/// Care and how-to links for the three sample products, or none.
fn sample_care(full: bool) -> Vec<CareView> {
    if !full {
        return Vec::new();
    }
    (1..=3)
        .map(|i| CareView {
            title: format!("Product {i}"),
            care_url: Some(format!("https://shop.example.com/care/{i}")),
            how_to_url: Some(format!("https://shop.example.com/how-to/{i}")),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Helpers

/// Output formatter: for `.html` templates, escapes `& < > " '` (minijinja's default also
/// escapes `/`, which would turn every URL into `https:&#x2f;&#x2f;…`); everything else
/// as minijinja does by default.
fn format_value(
    out: &mut minijinja::Output,
    state: &minijinja::State,
    value: &Value,
) -> Result<(), minijinja::Error> {
    if state.auto_escape() == AutoEscape::Html && !value.is_safe() {
        if let Some(s) = value.as_str() {
            let mut last = 0;
            for (i, b) in s.bytes().enumerate() {
                let entity = match b {
                    b'&' => "&amp;",
                    b'<' => "&lt;",
                    b'>' => "&gt;",
                    b'"' => "&quot;",
                    b'\'' => "&#x27;",
                    _ => continue,
                };
                out.write_str(&s[last..i])?;
                out.write_str(entity)?;
                last = i + 1;
            }
            out.write_str(&s[last..])?;
            return Ok(());
        }
    }
    minijinja::escape_formatter(out, state, value)
}

/// One line of text safe for a header: control characters (CR, LF, TAB, NUL, C1, and the
/// Unicode line/paragraph separators) become spaces, runs of spaces collapse to one, ends
/// are trimmed.
fn clean_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending_space = false;
    for c in s.chars() {
        if c == ' ' || c.is_control() || c == '\u{2028}' || c == '\u{2029}' {
            pending_space = !out.is_empty();
        } else {
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            out.push(c);
        }
    }
    out
}

fn clean_opt(s: &Option<String>) -> Option<String> {
    s.as_deref().map(clean_line).filter(|s| !s.is_empty())
}

fn non_blank(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// CRLF line endings (the canonical form of MIME text, so the parts decode to exactly
/// these strings), no trailing whitespace, at most one blank line in a row, no leading
/// blank lines, exactly one final line break.
fn tidy_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 16);
    let mut blank = true; // suppresses leading blank lines
    for line in s.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            if !blank {
                out.push_str("\r\n");
            }
            blank = true;
        } else {
            out.push_str(line);
            out.push_str("\r\n");
            blank = false;
        }
    }
    out.truncate(out.trim_end().len());
    out.push_str("\r\n");
    out
}

/// Every line break (CRLF, LF or a lone CR) as CRLF, plus a final CRLF.
fn crlf(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 16);
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                chars.next_if_eq(&'\n');
                out.push_str("\r\n");
            }
            '\n' => out.push_str("\r\n"),
            c => out.push(c),
        }
    }
    out.push_str("\r\n");
    out
}

/// A plain ASCII `user@domain` (SES does not support SMTPUTF8 local parts).
fn parse_address(field: &'static str, value: &str) -> Result<Address, EmailError> {
    let value = value.trim();
    if !value.is_ascii() {
        return Err(EmailError::InvalidAddress {
            field,
            reason: "non-ASCII characters".into(),
        });
    }
    value
        .parse::<Address>()
        .map_err(|err| EmailError::InvalidAddress {
            field,
            reason: err.to_string(),
        })
}

fn req_url(value: &str, field: impl FnOnce() -> String) -> Result<&str, EmailError> {
    check_url(value).map_err(|reason| EmailError::InvalidUrl {
        field: field(),
        reason,
    })
}

/// A blank optional URL counts as absent.
fn opt_url(
    value: &Option<String>,
    field: impl FnOnce() -> String,
) -> Result<Option<&str>, EmailError> {
    non_blank(value).map(|u| req_url(u, field)).transpose()
}

/// Longest URL accepted (the `List-Unsubscribe` line must stay under 998 octets).
const MAX_URL_LEN: usize = 2000;

fn check_url(url: &str) -> Result<&str, &'static str> {
    let url = url.trim();
    let scheme_ok = ["https://", "http://"].iter().any(|scheme| {
        url.get(..scheme.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(scheme))
    });
    if !scheme_ok {
        return Err("must start with https:// or http://");
    }
    if url.len() > MAX_URL_LEN {
        return Err("too long");
    }
    if url
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"'))
    {
        return Err("contains whitespace, control characters, quotes or angle brackets");
    }
    Ok(url)
}

/// RFC 8058 one-click unsubscribe needs an HTTPS URI (plain `http://` is accepted only
/// for loopback hosts, for local development); it goes into a header, so ASCII.
fn check_unsubscribe_url(url: &str) -> Result<&str, EmailError> {
    let invalid = |reason| EmailError::InvalidUrl {
        field: "unsubscribe_url".into(),
        reason,
    };
    let url = check_url(url).map_err(invalid)?;
    let https = url
        .get(..8)
        .is_some_and(|s| s.eq_ignore_ascii_case("https://"));
    if !https && !is_loopback_http(url) {
        return Err(invalid("must be https:// (RFC 8058)"));
    }
    if !url.is_ascii() {
        return Err(invalid("must be ASCII (percent-encode it)"));
    }
    if url.len() > 900 {
        return Err(invalid("too long for a header"));
    }
    Ok(url)
}

/// `http://localhost…`, `http://127.x.y.z…` or `http://[::1]…` (any port).
fn is_loopback_http(url: &str) -> bool {
    let Some(rest) = url
        .get(..7)
        .filter(|s| s.eq_ignore_ascii_case("http://"))
        .map(|_| &url[7..])
    else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return false;
    }
    let host = if authority.starts_with('[') {
        authority.split_inclusive(']').next().unwrap_or_default()
    } else {
        authority.split(':').next().unwrap_or_default()
    };
    host.eq_ignore_ascii_case("localhost")
        || host == "[::1]"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

// ---------------------------------------------------------------------------------------
// Shared with the customer-facing pages of `links` (`crate::apps::links`)

/// A template environment set up as for email: `.html` templates auto-escape
/// (`& < > " '`, URLs left readable), nothing else does; undefined variables are errors;
/// block tags trim their line.
pub(crate) fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    // Must be set before any template is added: the mode is fixed per template when
    // it is compiled. Decided by the extension only, never by the content.
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    env.set_formatter(format_value);
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env
}

/// The template for `{base}.{kind}` in the first locale of `chain` that has one, and
/// its language (`bcp47_case`): `{base}.{locale}.{kind}` when `lookup` knows it, else,
/// when the locale is [`DEFAULT_LANG`] itself, the unlocalised `{base}.{kind}`. After the
/// chain, the unlocalised template in [`DEFAULT_LANG`]. `lookup` maps a lower-cased
/// name to the registered one.
pub(crate) fn pick_localized<'a>(
    lookup: impl Fn(&str) -> Option<&'a str>,
    base: &str,
    kind: &str,
    chain: &[String],
) -> Option<(&'a str, String)> {
    let unlocalised = || lookup(&format!("{base}.{kind}")).map(|n| (n, DEFAULT_LANG.to_owned()));
    for locale in chain {
        if let Some(name) = lookup(&format!("{base}.{locale}.{kind}")) {
            return Some((name, bcp47_case(locale)));
        }
        if locale == DEFAULT_LANG {
            return unlocalised();
        }
    }
    unlocalised()
}

/// `fr-ca` -> `fr-CA`, `zh-hant-tw` -> `zh-Hant-TW` (for the HTML `lang` attribute).
fn bcp47_case(locale: &str) -> String {
    locale
        .split('-')
        .enumerate()
        .map(|(i, tag)| match (i, tag.len()) {
            (0, _) => tag.to_ascii_lowercase(),
            (_, 2) => tag.to_ascii_uppercase(),
            (_, 4) => {
                let mut t = tag.to_ascii_lowercase();
                t[..1].make_ascii_uppercase();
                t
            }
            _ => tag.to_ascii_lowercase(),
        })
        .collect::<Vec<_>>()
        .join("-")
}
