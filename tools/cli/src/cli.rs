//! What the developer and operator commands `aftercart check-config`, `aftercart
//! preview` and `aftercart confirm-redact` do, as library functions: the binary
//! (`tools/cli/src/main.rs`) only parses arguments and prints, so these paths are tested
//! like the rest of the crate.

use aftercart::config::{Config, WebhookSecrets};
use aftercart::model::{FollowUpRecord, Playbook};
use aftercart::wire::shopify::Topic;
use anyhow::{bail, Context as _, Result};
use chrono::{DateTime, Utc};
use std::path::{Path, PathBuf};

pub mod backtest;
pub mod import;
pub mod orders_csv;
pub mod queue;
pub mod simulate;

/// What `check-config` found in a file that loads.
#[derive(Debug)]
pub struct ConfigCheck {
    pub shops: usize,
    /// Things worth knowing that do not make the file invalid (a secret not set in this
    /// shell, dev mode on).
    pub notes: Vec<String>,
}

/// Validates the config file at `path` as every function does at start: the file and
/// its rules ([`Config::load_with_env`], with `lookup` for the environment), then each
/// shop's `templates_dir` overrides through [`aftercart::apps::startup::shop_templates`], the
/// same loader `dispatch` runs at cold start, so a broken template fails here, naming
/// the file, rather than on deploy. Secrets that `lookup` cannot see are notes, not
/// errors: in AWS they come from SSM, not from this shell.
pub fn check_config(path: &Path, lookup: impl Fn(&str) -> Option<String>) -> Result<ConfigCheck> {
    let config = Config::load_with_env(path, &lookup)?;
    aftercart::apps::startup::shop_templates(&config).with_context(|| {
        format!(
            "{}: a shop's email templates (templates_dir) do not load",
            path.display()
        )
    })?;
    let mut notes = Vec::new();
    if let Err(e) = WebhookSecrets::load(&config, &lookup) {
        notes.push(e.to_string());
    }
    if let Err(e) = aftercart::adapters::shopify_admin::AdminTokens::load(&config, &lookup) {
        notes.push(e.to_string());
    }
    if config.email.dev_mode {
        notes.push(format!(
            "email.dev_mode is on (in the file or {}): test orders get follow-ups too; keep it off in production",
            aftercart::config::DEV_MODE_ENV
        ));
    }
    Ok(ConfigCheck {
        shops: config.shops.len(),
        notes,
    })
}

/// Every playbook's name, as `--playbook` takes it: `thank_you, satisfaction, …`.
pub fn playbook_names() -> String {
    Playbook::ALL
        .iter()
        .map(|p| p.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A playbook by its name, or an error listing every name.
pub fn parse_playbook(name: &str) -> Result<Playbook> {
    match Playbook::parse(name) {
        Some(p) => Ok(p),
        None => bail!("unknown playbook {name:?}; use one of {}", playbook_names()),
    }
}

/// The discount code previews of loyalty and recovery show.
pub const SAMPLE_CODE: &str = "THANKS-7KQ9-M2XP";

/// One playbook's email for the sample order, rendered and built, not sent.
#[derive(Debug)]
pub struct Preview {
    pub playbook: Playbook,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// The MIME message SES would be given.
    pub eml: Vec<u8>,
}

/// Renders `playbook` for the sample order ([`aftercart::wire::shopify::fixtures::ORDER`], recorded as the
/// webhook records it) with `shop`'s rules and templates (default: the config's first
/// shop), exactly as `dispatch` builds a message. Links are signed with
/// `AFTERCART_LINK_KEYS` when set (so they open against `make dev`), else with a
/// throwaway key. Returns shows the first line refunded; loyalty and recovery carry
/// [`SAMPLE_CODE`].
pub fn preview(
    config: &Config,
    playbook: Playbook,
    shop: Option<&str>,
    locale: Option<String>,
    now: DateTime<Utc>,
) -> Result<Preview> {
    let shop = match shop {
        Some(d) => config
            .shop(d)
            .with_context(|| format!("shop {d} is not in the config"))?,
        None => config.shops.first().context("the config has no shop")?,
    };
    let event = aftercart::wire::shopify::parse_event(
        Topic::OrdersPaid,
        aftercart::wire::shopify::fixtures::ORDER,
    )?;
    let ctx = aftercart::domain::ingest::Context {
        shop: &shop.domain,
        webhook_id: "preview",
        now,
        rules: None,
        shards: 1,
        redelivery: false,
        import: false,
        counts: None,
    };
    let (mut order, mut profile) = (None, None);
    for w in aftercart::domain::ingest::plan(&ctx, &event, &Default::default()) {
        match w.item {
            aftercart::domain::ingest::Item::Order(o) => order = Some(o),
            aftercart::domain::ingest::Item::Profile(p) => profile = Some(p),
            _ => {}
        }
    }
    let (Some(mut order), Some(profile)) = (order, profile) else {
        bail!("the sample order produced no order or profile");
    };
    order.customer_locale = locale.or(order.customer_locale);
    if playbook == Playbook::Returns {
        // As after a refund of the first line's units: the email is about what came back.
        if let Some(line) = order.lines.first() {
            order
                .refunded
                .insert(line.line_item_id.to_string(), line.quantity);
        }
    }
    let product_id = (playbook == Playbook::Replenishment)
        .then(|| order.lines.iter().find_map(|l| l.product_id))
        .flatten();
    let now_key = aftercart::model::time::utc_key(&now);
    let f = FollowUpRecord::pending(
        &shop.domain,
        &profile.customer_key,
        playbook,
        order.order_id,
        product_id,
        &now_key,
        &now_key,
        1,
    );
    let links = aftercart::model::tokens::LinkBuilder {
        base_url: config.links.base_url.clone(),
        // The local key when set (`.env`), so the links work against `make dev`.
        keys: aftercart::model::tokens::LinkKeys::parse(
            &std::env::var(aftercart::config::LINK_KEYS_VAR)
                .unwrap_or_else(|_| "0:preview-only-key-never-used-for-real-links".into()),
        )
        .with_context(|| {
            format!(
                "{} is not a link key list",
                aftercart::config::LINK_KEYS_VAR
            )
        })?,
        ttl_days: config.links.ttl_days.into(),
    };
    let to = profile.email.clone().unwrap_or_default();
    let from = shop
        .sender_email
        .clone()
        .unwrap_or_else(|| format!("hello@{}", shop.domain));
    let mut email_ctx = aftercart::email::context::email_context(
        &links, &f, shop, &order, &profile, &to, &from, now,
    );
    if matches!(playbook, Playbook::Loyalty | Playbook::Recovery) {
        // What a code from the shop's discount rule looks like (none is made).
        email_ctx.discount_code = Some(SAMPLE_CODE.to_owned());
        email_ctx.discount_expires = Some(
            (now + chrono::Duration::days(30))
                .format("%Y-%m-%d")
                .to_string(),
        );
    }
    let templates = aftercart::apps::startup::shop_templates(config)?
        .remove(&shop.domain)
        .unwrap_or_else(aftercart::email::Templates::builtin);
    let rendered = templates.render(&email_ctx)?;
    let eml = aftercart::email::build_mime(&email_ctx, &rendered, now)?;
    Ok(Preview {
        playbook,
        subject: rendered.subject,
        text: rendered.text,
        html: rendered.html,
        eml,
    })
}

impl Preview {
    /// Writes `DIR/preview-PLAYBOOK.{html,txt,eml}`; returns the paths written.
    pub fn write_to(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        self.write_as(dir, &format!("preview-{}", self.playbook.as_str()))
    }

    /// Writes `DIR/STEM.{html,txt,eml}`; returns the paths written.
    fn write_as(&self, dir: &Path, stem: &str) -> Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        // `with_extension` would cut a stem such as `thank_you.fr` at its dot.
        let base = dir.join(stem);
        let mut paths = Vec::new();
        for (ext, bytes) in [
            ("html", self.html.as_bytes()),
            ("txt", self.text.as_bytes()),
            ("eml", &self.eml[..]),
        ] {
            let path = PathBuf::from(format!("{}.{ext}", base.display()));
            std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
            paths.push(path);
        }
        Ok(paths)
    }
}

/// Every playbook in every shipped locale ([`aftercart::email::LOCALES`]), rendered for
/// the sample order as [`preview`] does, written to `DIR/PLAYBOOK.LOCALE.{html,txt,eml}`
/// with `DIR/index.html` linking them all; returns the index's path.
pub fn preview_all(
    config: &Config,
    shop: Option<&str>,
    dir: &Path,
    now: DateTime<Utc>,
) -> Result<PathBuf> {
    let mut rows = String::new();
    for playbook in Playbook::ALL {
        let name = playbook.as_str();
        rows.push_str(&format!("<tr><th scope=\"row\">{name}</th>"));
        for locale in aftercart::email::LOCALES {
            let p = preview(config, playbook, shop, Some(locale.to_owned()), now)?;
            let stem = format!("{name}.{locale}");
            p.write_as(dir, &stem)?;
            rows.push_str(&format!(
                "<td><a href=\"{stem}.html\">{}</a><br><small><a href=\"{stem}.txt\">text</a> · <a href=\"{stem}.eml\">.eml</a></small></td>",
                html_escape(&p.subject)
            ));
        }
        rows.push_str("</tr>\n");
    }
    let head: String = aftercart::email::LOCALES
        .iter()
        .map(|l| format!("<th scope=\"col\">{l}</th>"))
        .collect();
    let index = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Aftercart email previews</title>\n<style>body{{font-family:Arial,Helvetica,sans-serif;margin:24px;color:#1f2328}}\
         table{{border-collapse:collapse}}th,td{{border:1px solid #d0d4d9;padding:8px 10px;text-align:left;vertical-align:top}}\
         th[scope=row]{{font-family:monospace}}small{{color:#5c6370}}</style>\n</head>\n<body>\n\
         <h1>Email previews</h1>\n<p>Every playbook in every language, for the sample order, with this config's brand. Nothing was sent; the links are signed with <code>AFTERCART_LINK_KEYS</code> when set.</p>\n\
         <table>\n<tr><th>playbook</th>{head}</tr>\n{rows}</table>\n</body>\n</html>\n"
    );
    let path = dir.join("index.html");
    std::fs::write(&path, index).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// `& < > "` escaped, for the index page.
fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A shop domain as `--shop` takes it (`acme.myshopify.com`), lower-cased; refused if
/// it holds anything but letters, digits, dots and hyphens (a `#` would name another
/// partition of the table).
pub fn parse_shop_domain(shop: &str) -> Result<String> {
    let shop = shop.trim().to_ascii_lowercase();
    let valid = !shop.is_empty()
        && shop.len() <= 255
        && shop.contains('.')
        && shop
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    if !valid {
        bail!("--shop {shop:?} is not a shop domain such as acme.myshopify.com");
    }
    Ok(shop)
}

/// `aftercart confirm-redact --shop SHOP`: confirms, as `operator`, the shop's
/// `shop/redact` requests that wait because the Admin API could not confirm the
/// uninstall (see `docs/privacy.md`), so the next dispatch erases the shop. Returns
/// what to print; an error when nothing was waiting.
pub async fn confirm_redact(
    store: &aftercart::adapters::dynamo::DynamoStore,
    shop: &str,
    operator: &str,
    now: DateTime<Utc>,
) -> Result<String> {
    let shop = parse_shop_domain(shop)?;
    let confirmed = aftercart::apps::privacy::confirm_redact(store, &shop, operator, now)
        .await
        .with_context(|| format!("confirming the shop/redact of {shop}"))?;
    if confirmed.is_empty() {
        bail!(
            "no shop/redact request of {shop} awaits confirmation (status {}): it may not have \
             been checked yet, or it was confirmed, refused or carried out already",
            aftercart::ports::privacy::status::AWAITING_CONFIRMATION
        );
    }
    let requests: Vec<&str> = confirmed.iter().map(|k| k.sk.as_str()).collect();
    Ok(format!(
        "confirmed {} shop/redact request(s) of {shop} ({}): the next dispatch erases the shop's data",
        confirmed.len(),
        requests.join(", ")
    ))
}

/// `aftercart reputation --shop SHOP [--resume]`: the shop's bounce and complaint
/// figures over the window and its marketing brake's state; with `resume`, first lifts
/// a pause by hand (see `docs/deliverability.md`: it holds for the window unless new
/// bounces or complaints arrive). Returns what to print.
pub async fn reputation(
    store: &aftercart::adapters::dynamo::DynamoStore,
    config: &aftercart::config::Config,
    shop: &str,
    resume: bool,
    now: DateTime<Utc>,
) -> Result<String> {
    use aftercart::apps::dispatch::reputation as brake;
    let shop = parse_shop_domain(shop)?;
    if config.shop(&shop).is_none() {
        bail!("{shop} is not a shop of the config file");
    }
    let mut out = String::new();
    if resume {
        let resumed = brake::resume(store, config, &shop, now)
            .await
            .with_context(|| format!("resuming the marketing of {shop}"))?;
        out.push_str(if resumed {
            "resumed: marketing follow-ups go out from the next dispatch, which tells the merchant\n"
        } else {
            "marketing was not paused: nothing changed\n"
        });
    }
    let status = brake::status(store, config, &shop, now)
        .await
        .with_context(|| format!("reading the reputation of {shop}"))?;
    out.push_str(&status.describe(config));
    Ok(out)
}

#[cfg(test)]
mod tests;

/// What `aftercart report` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Html,
    Json,
    Csv,
}

/// `aftercart report --shop S [--from D] [--to D] --format F`: the shop's report for
/// the UTC days `from` to `to` (default: the 30 days ending today) against as many
/// days before, as one HTML file, JSON (`docs/report.md`) or CSV.
pub async fn report<S: aftercart::ports::report::ReportStore>(
    store: &S,
    config: &aftercart::config::Config,
    shop: &str,
    from: Option<chrono::NaiveDate>,
    to: Option<chrono::NaiveDate>,
    format: ReportFormat,
    now: DateTime<Utc>,
) -> Result<String> {
    let domain = parse_shop_domain(shop)?;
    let Some(shop) = config.shop(&domain) else {
        bail!("{domain} is not a shop of the config file");
    };
    let to = to.unwrap_or_else(|| now.date_naive());
    let from = from.unwrap_or(to - chrono::Duration::days(29));
    let days = (to - from).num_days() + 1;
    let max = i64::from(aftercart::apps::report::MAX_DAYS);
    if !(1..=max).contains(&days) {
        bail!(
            "--from must be on or before --to, at most {max} days before it (got {from} to {to})"
        );
    }
    let report = aftercart::apps::report::compute(store, shop, to, days as u32, now)
        .await
        .with_context(|| format!("reading the report of {domain}"))?;
    Ok(match format {
        ReportFormat::Html => {
            let options = aftercart::email::report::PageOptions {
                self_url: None,
                token: None,
                lookup: None,
                lookup_missing: None,
            };
            aftercart::email::report::render_page(&report, &options)?
        }
        ReportFormat::Json => format!("{}\n", serde_json::to_string_pretty(&report)?),
        ReportFormat::Csv => aftercart::email::report::render_csv(&report),
    })
}

/// `aftercart report-link --shop S [--days N]`: a signed link to the shop's report
/// page, valid N days (default `[shop.report] link_days`).
pub fn report_link(
    config: &aftercart::config::Config,
    keys: aftercart::model::tokens::LinkKeys,
    shop: &str,
    days: Option<u32>,
    now: DateTime<Utc>,
) -> Result<String> {
    let domain = parse_shop_domain(shop)?;
    let Some(shop) = config.shop(&domain) else {
        bail!("{domain} is not a shop of the config file");
    };
    let days = days.unwrap_or(shop.report.link_days);
    let max = aftercart::config::MAX_LINK_DAYS;
    if !(1..=max).contains(&days) {
        bail!("--days must be from 1 to {max}");
    }
    let links = aftercart::model::tokens::LinkBuilder {
        base_url: config.links.base_url.clone(),
        keys,
        ttl_days: config.links.ttl_days.into(),
    };
    Ok(links.report_url(&domain, now.timestamp(), days.into()))
}
