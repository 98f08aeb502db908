//! The merchant configuration file (TOML) and the secrets it refers to.
//!
//! The file is read once at start and validated; every error names the field and the
//! fix. Secrets never live in the file: it names the environment variables that hold
//! them (filled from SSM Parameter Store in production, from `.env` locally), and they
//! are wrapped in [`SecretString`] so they cannot be printed by accident.

use secrecy::SecretString;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// Default cap on a webhook body: 1 MiB. Shopify's largest order payloads (250 line
/// items with all their fields) stay well below it.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// Environment variable holding the webhook secrets, comma-separated, newest first.
pub const DEFAULT_SECRETS_ENV: &str = "AFTERCART_WEBHOOK_SECRETS";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub webhook: WebhookSettings,
    /// One `[[shop]]` table per store.
    #[serde(rename = "shop", default)]
    pub shops: Vec<ShopConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// Largest accepted body in bytes; larger deliveries get 413.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Time allowed for recording, in milliseconds, before answering 503 so Shopify
    /// retries. Shopify gives up after 5 s; the default leaves room for the rest.
    #[serde(default = "default_store_budget_ms")]
    pub store_budget_ms: u64,
    /// Days a delivery receipt is kept for deduplication (Shopify retries for 4 hours
    /// and may deliver a day late). Correctness never depends on the expiry.
    #[serde(default = "default_receipt_days")]
    pub receipt_days: u32,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            max_body_bytes: default_max_body(),
            store_budget_ms: default_store_budget_ms(),
            receipt_days: default_receipt_days(),
        }
    }
}

fn default_max_body() -> usize {
    DEFAULT_MAX_BODY_BYTES
}
fn default_store_budget_ms() -> u64 {
    2500
}
fn default_receipt_days() -> u32 {
    7
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShopConfig {
    /// The shop's permanent domain, as in `X-Shopify-Shop-Domain` (`name.myshopify.com`).
    pub domain: String,
    /// Brand name shown to customers.
    #[serde(default)]
    pub name: Option<String>,
    /// Environment variable with this shop's webhook secrets (custom apps have one
    /// secret per store). Defaults to `AFTERCART_WEBHOOK_SECRETS`.
    #[serde(default)]
    pub webhook_secrets_env: Option<String>,
}

/// A configuration problem, phrased as what is wrong and how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid: {message}")]
    Syntax { path: String, message: String },
    #[error("{field}: {problem}. Fix: {fix}")]
    Invalid {
        field: String,
        problem: String,
        fix: String,
    },
}

impl Config {
    /// Reads and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Config::parse(&text, &path.display().to_string())
    }

    /// Parses and validates TOML text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: origin.to_owned(),
            message: e.to_string(),
        })?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field: String, problem: &str, fix: &str| ConfigError::Invalid {
            field,
            problem: problem.to_owned(),
            fix: fix.to_owned(),
        };
        if self.shops.is_empty() {
            return Err(invalid(
                "shop".into(),
                "no shop is configured",
                "add a [[shop]] table with domain = \"your-store.myshopify.com\"",
            ));
        }
        if self.webhook.max_body_bytes < 1024 {
            return Err(invalid(
                "webhook.max_body_bytes".into(),
                "is below 1024 bytes, too small for any Shopify payload",
                "remove it to use the 1 MiB default",
            ));
        }
        if !(100..=4500).contains(&self.webhook.store_budget_ms) {
            return Err(invalid(
                "webhook.store_budget_ms".into(),
                "must be between 100 and 4500 (Shopify waits 5 s in total)",
                "remove it to use the 2500 ms default",
            ));
        }
        let mut seen = HashMap::new();
        for (i, shop) in self.shops.iter().enumerate() {
            let field = format!("shop[{i}].domain");
            let d = &shop.domain;
            if !crate::shopify::is_shop_domain(d) {
                return Err(invalid(
                    field,
                    &format!("{d:?} is not a shop domain"),
                    "use the permanent lowercase domain, e.g. \"acme.myshopify.com\", without https://",
                ));
            }
            if let Some(prev) = seen.insert(d.clone(), i) {
                return Err(invalid(
                    field,
                    &format!("{d:?} is configured twice (also shop[{prev}])"),
                    "keep one [[shop]] table per domain",
                ));
            }
            if let Some(var) = &shop.webhook_secrets_env {
                if var.is_empty()
                    || !var
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
                {
                    return Err(invalid(
                        format!("shop[{i}].webhook_secrets_env"),
                        &format!("{var:?} is not an environment variable name"),
                        "use upper-case letters, digits and _, e.g. \"ACME_WEBHOOK_SECRETS\"",
                    ));
                }
            }
        }
        Ok(())
    }

    pub fn shop(&self, domain: &str) -> Option<&ShopConfig> {
        self.shops.iter().find(|s| s.domain == domain)
    }
}

/// Webhook secrets per shop domain, loaded once at start.
#[derive(Clone, Default)]
pub struct WebhookSecrets(HashMap<String, Arc<[SecretString]>>);

impl std::fmt::Debug for WebhookSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(
                self.0
                    .iter()
                    .map(|(k, v)| (k, format!("{} secret(s)", v.len()))),
            )
            .finish()
    }
}

impl WebhookSecrets {
    /// Reads each shop's secrets from its environment variable through `lookup`
    /// (`std::env::var` in production). A variable may hold several comma-separated
    /// secrets: during a rotation, list the new one first and keep the old one for an hour.
    pub fn load(
        config: &Config,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut map = HashMap::new();
        for (i, shop) in config.shops.iter().enumerate() {
            let var = shop
                .webhook_secrets_env
                .as_deref()
                .unwrap_or(DEFAULT_SECRETS_ENV);
            let secrets: Vec<SecretString> = lookup(var)
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| SecretString::from(s.to_owned()))
                .collect();
            if secrets.is_empty() {
                return Err(ConfigError::Invalid {
                    field: format!("shop[{i}] ({})", shop.domain),
                    problem: format!("environment variable {var} holds no webhook secret"),
                    fix: format!(
                        "set {var} to the app's client secret (comma-separated during a rotation)"
                    ),
                });
            }
            map.insert(shop.domain.clone(), Arc::from(secrets));
        }
        Ok(WebhookSecrets(map))
    }

    /// From explicit values (tests, tools).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a [&'a str])>) -> Self {
        WebhookSecrets(
            pairs
                .into_iter()
                .map(|(shop, secrets)| {
                    let v: Vec<SecretString> = secrets
                        .iter()
                        .map(|s| SecretString::from((*s).to_owned()))
                        .collect();
                    (shop.to_owned(), Arc::from(v))
                })
                .collect(),
        )
    }

    pub fn for_shop(&self, domain: &str) -> Option<&[SecretString]> {
        self.0.get(domain).map(|v| &v[..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[webhook]
max_body_bytes = 2097152

[[shop]]
domain = "acme.myshopify.com"
name = "Acme"

[[shop]]
domain = "beta.myshopify.com"
webhook_secrets_env = "BETA_SECRETS"
"#;

    #[test]
    fn parses_a_valid_file_with_defaults() {
        let c = Config::parse(GOOD, "test").unwrap();
        assert_eq!(c.webhook.max_body_bytes, 2 * 1024 * 1024);
        assert_eq!(c.webhook.store_budget_ms, 2500);
        assert_eq!(c.shops.len(), 2);
        assert_eq!(
            c.shop("acme.myshopify.com").unwrap().name.as_deref(),
            Some("Acme")
        );
    }

    #[test]
    fn unknown_field_is_named() {
        let e = Config::parse("[[shop]]\ndomian = \"a.myshopify.com\"\n", "t").unwrap_err();
        assert!(e.to_string().contains("domian"), "{e}");
    }

    #[test]
    fn bad_domain_names_field_and_fix() {
        let e =
            Config::parse("[[shop]]\ndomain = \"https://Acme.myshopify.com\"\n", "t").unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("shop[0].domain") && msg.contains("Fix:"),
            "{msg}"
        );
    }

    #[test]
    fn duplicate_shop_is_rejected() {
        let e = Config::parse(
            "[[shop]]\ndomain=\"a.b.com\"\n[[shop]]\ndomain=\"a.b.com\"\n",
            "t",
        )
        .unwrap_err();
        assert!(e.to_string().contains("twice"), "{e}");
    }

    #[test]
    fn no_shop_is_rejected() {
        let e = Config::parse("", "t").unwrap_err();
        assert!(e.to_string().contains("[[shop]]"), "{e}");
    }

    #[test]
    fn secrets_are_split_for_rotation_and_never_printed() {
        let c = Config::parse(GOOD, "test").unwrap();
        let s = WebhookSecrets::load(&c, |var| match var {
            "AFTERCART_WEBHOOK_SECRETS" => Some("new-one, old-one".into()),
            "BETA_SECRETS" => Some("beta".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(s.for_shop("acme.myshopify.com").unwrap().len(), 2);
        assert_eq!(s.for_shop("beta.myshopify.com").unwrap().len(), 1);
        let shown = format!("{s:?}");
        assert!(
            !shown.contains("new-one") && !shown.contains("beta\""),
            "{shown}"
        );
    }

    #[test]
    fn missing_secret_variable_is_named() {
        let c = Config::parse(GOOD, "test").unwrap();
        let e = WebhookSecrets::load(&c, |_| None).unwrap_err();
        assert!(e.to_string().contains("AFTERCART_WEBHOOK_SECRETS"), "{e}");
    }
}
