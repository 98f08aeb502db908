//! The webhook secrets, read from the environment variables the file names.

use super::{Config, ConfigError, DEFAULT_SECRETS_ENV};
use secrecy::SecretString;
use std::collections::HashMap;
use std::sync::Arc;

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
