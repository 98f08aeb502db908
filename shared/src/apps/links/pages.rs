//! The pages customers see, rendered from minijinja templates.
//!
//! The templates are in `templates/` next to this file, compiled into the binary:
//! `layout.html` (the frame, language-neutral) and one template per page in English,
//! French, German and Spanish: `{page}.html`, `{page}.fr.html`, `{page}.de.html` and
//! `{page}.es.html` (every page has all four: a test holds it). They are compiled in an
//! environment set up as for email ([`crate::email::environment`]: every value
//! auto-escaped, undefined variables are errors) and picked by locale the same way
//! ([`crate::email::pick_localized`]): for `fr-CA`, `{page}.fr-ca.html`, then
//! `{page}.fr.html`, then the next candidate, ending with English; `de-DE` and `de-AT`
//! use `de`, `es-MX` and `es-ES` use `es`.
//!
//! Every page template sees `lang` (the language of the template picked, for the
//! `lang` attribute) and `brand` (the shop's name, or none on refusal pages), plus its
//! own variables (see each call in `links_app`).

use crate::config::ShopConfig;
use crate::email::{environment, pick_localized};
use crate::model::locale::locale_chain;
use lambda_http::http::{header, StatusCode};
use lambda_http::{Body, Response};
use minijinja::{context, Environment, Value};
use std::sync::OnceLock;

macro_rules! page_templates {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("templates/", $name)))),*]
    };
}

/// Every page template, by name.
pub(super) const TEMPLATES: &[(&str, &str)] = page_templates![
    "layout.html",
    "rated.html",
    "rated.fr.html",
    "rated.de.html",
    "rated.es.html",
    "commented.html",
    "commented.fr.html",
    "commented.de.html",
    "commented.es.html",
    "reason.html",
    "reason.fr.html",
    "reason.de.html",
    "reason.es.html",
    "expired.html",
    "expired.fr.html",
    "expired.de.html",
    "expired.es.html",
    "unsubscribe.html",
    "unsubscribe.fr.html",
    "unsubscribe.de.html",
    "unsubscribe.es.html",
    "unsubscribed.html",
    "unsubscribed.fr.html",
    "unsubscribed.de.html",
    "unsubscribed.es.html",
    "resubscribed.html",
    "resubscribed.fr.html",
    "resubscribed.de.html",
    "resubscribed.es.html",
    "subscribed.html",
    "subscribed.fr.html",
    "subscribed.de.html",
    "subscribed.es.html",
    "kept_suppressed.html",
    "kept_suppressed.fr.html",
    "kept_suppressed.de.html",
    "kept_suppressed.es.html",
    "shop_again.html",
    "shop_again.fr.html",
    "shop_again.de.html",
    "shop_again.es.html",
    "refusal.html",
    "refusal.fr.html",
    "refusal.de.html",
    "refusal.es.html",
];

/// `Content-Security-Policy` of every page: nothing external, inline styles only, forms
/// post to the same origin, no framing.
pub(super) const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// Most `Accept-Language` entries looked at (the header is the client's to fill).
const MAX_ACCEPT_LANGUAGES: usize = 16;

/// The compiled templates (once per process), or why they do not compile.
fn env() -> Result<&'static Environment<'static>, minijinja::Error> {
    static ENV: OnceLock<Result<Environment<'static>, String>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = environment();
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .map_err(|e| format!("{name}: {e}"))?;
        }
        Ok(env)
    })
    .as_ref()
    .map_err(|e| minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e.clone()))
}

/// The default locale of a shop's pages, before English: the shop's `locale` setting
/// (validated at load).
pub(super) fn shop_locale(shop: &ShopConfig) -> Option<&str> {
    shop.locale.as_deref()
}

pub(super) use crate::model::locale::customer_chain;

/// Locale candidates for a refusal, where nothing is known about the customer: the
/// shop's default when the shop is known, then the browser's languages in preference
/// order; English comes after all of them.
pub(super) fn anonymous_chain(
    shop_default: Option<&str>,
    accept_language: Option<&str>,
) -> Vec<String> {
    let mut chain = locale_chain(shop_default);
    for tag in accept_languages(accept_language.unwrap_or_default()) {
        chain.extend(locale_chain(Some(tag)));
    }
    chain
}

/// The tags of an `Accept-Language` header, most preferred first (by `q`, then by
/// position); `*`, `q=0` and entries with an unreadable `q` are left out.
fn accept_languages(header: &str) -> Vec<&str> {
    let mut tags: Vec<(u16, usize, &str)> = header
        .split(',')
        .take(MAX_ACCEPT_LANGUAGES)
        .enumerate()
        .filter_map(|(position, entry)| {
            let mut params = entry.split(';');
            let tag = params.next().unwrap_or_default().trim();
            if tag.is_empty() || tag == "*" {
                return None;
            }
            let mut q = 1000;
            for param in params {
                let param = param.trim();
                if let Some(value) = param.strip_prefix("q=").or(param.strip_prefix("Q=")) {
                    let value: f32 = value.trim().parse().ok()?;
                    if !(0.0..=1.0).contains(&value) {
                        return None;
                    }
                    q = (value * 1000.0).round() as u16;
                }
            }
            (q > 0).then_some((q, position, tag))
        })
        .collect();
    tags.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    tags.into_iter().map(|(_, _, tag)| tag).collect()
}

/// Renders `{page}.html` in the first language of `chain` that has it (else English)
/// with `ctx` plus `lang`: the HTML and its language.
pub(super) fn render(
    page: &str,
    chain: &[String],
    ctx: Value,
) -> Result<(String, String), minijinja::Error> {
    let env = env()?;
    let lookup = |name: &str| {
        TEMPLATES
            .iter()
            .map(|(n, _)| *n)
            .find(|n| n.eq_ignore_ascii_case(name))
    };
    let (name, lang) = pick_localized(lookup, page, "html", chain).ok_or_else(|| {
        minijinja::Error::new(
            minijinja::ErrorKind::TemplateNotFound,
            format!("no page template `{page}.html`"),
        )
    })?;
    let html = env
        .get_template(name)?
        .render(context! { lang => lang.as_str(), ..ctx })?;
    Ok((html, lang))
}

/// The page as a response with the headers every page carries: nothing cached, the
/// token never leaked through `Referer`, no sniffing, no framing, no external assets.
///
/// A template that fails (a bug: every built-in page is rendered by the tests) is
/// logged and answered with a plain 500 page.
pub(super) fn respond(
    status: StatusCode,
    page: &str,
    chain: &[String],
    ctx: Value,
) -> Response<Body> {
    let (status, html) = match render(page, chain, ctx) {
        // Ends with one line break, as pages always have.
        Ok((html, _)) => (status, format!("{}\n", html.trim_end())),
        Err(e) => {
            tracing::error!(page, error = %e, "page template failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Something went wrong</title></head><body><h1>Something went wrong on our side</h1><p>Please try again in a minute.</p></body></html>\n".to_owned(),
            )
        }
    };
    with_headers(status, "text/html; charset=utf-8", html)
}

/// A response with every page's headers: not cached, no referrer (links carry their
/// token), no sniffing, the strict CSP.
pub(super) fn with_headers(status: StatusCode, content_type: &str, body: String) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CACHE_CONTROL, "no-store")
        .header(header::REFERRER_POLICY, "no-referrer")
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(header::CONTENT_SECURITY_POLICY, CSP)
        .body(Body::Text(body))
        .unwrap_or_else(|_| Response::new(Body::Empty))
}
