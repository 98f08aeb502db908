//! Start-up settings read from the environment (once, at cold start).

use crate::adapters::shopify_admin::{token_var, AdminClient, AdminTokens};
use crate::config::{Config, ConfigError, WebhookSecrets, DEFAULT_SECRETS_ENV, LINK_KEYS_VAR};
use crate::email::Templates;
use crate::model::tokens::LinkKeys;
use std::collections::HashMap;
use std::path::PathBuf;

/// Path of the merchant config file.
pub const CONFIG_VAR: &str = "AFTERCART_CONFIG";
/// Name of the DynamoDB table.
pub const TABLE_VAR: &str = "AFTERCART_TABLE";
/// Used when `AFTERCART_CONFIG` is unset: the file deployed beside the binary.
pub const DEFAULT_CONFIG_PATH: &str = "aftercart.toml";

#[derive(thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("environment variable {0} is not set. Fix: {1}")]
    MissingVar(&'static str, &'static str),
    #[error("{0} is not valid: {1}")]
    Invalid(&'static str, String),
    #[error(transparent)]
    Secret(#[from] crate::adapters::ssm::SecretError),
}

/// A function's `main` returns this error, and Rust prints a returned error with `Debug`:
/// so `Debug` is the message with its fix (names only, never a secret's value), which is
/// what the function's log shows when a cold start fails.
impl std::fmt::Debug for StartupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

pub fn config_path() -> PathBuf {
    std::env::var_os(CONFIG_VAR)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_PATH))
}

pub fn load_config() -> Result<Config, ConfigError> {
    Config::load(&config_path())
}

pub fn table_name() -> Result<String, StartupError> {
    std::env::var(TABLE_VAR)
        .ok()
        .filter(|t| !t.is_empty())
        .ok_or(StartupError::MissingVar(
            TABLE_VAR,
            "set it to the DynamoDB table name (the SAM template does; locally .env does)",
        ))
}

/// A secret setting by its variable name (`AFTERCART_LINK_KEYS`, a shop's
/// `webhook_secrets_env`, …): `None` when it is not set.
///
/// Every function reads its secrets through here (or [`secrets`] for several at once),
/// once at cold start, so where they come from is decided in one place: the SSM
/// Parameter Store SecureString named by `{var}_PARAM` when that is set (production;
/// the SAM template sets it), else the variable itself (local development). Errors name
/// the variable and the parameter, never the value. See [`crate::adapters::ssm`].
pub async fn secret(var: &str) -> Result<Option<String>, StartupError> {
    Ok(secrets(&[var]).await?.value(var))
}

/// Several secrets at once, as [`secret`] reads one: all the SSM parameters they name
/// are fetched together (one `GetParameters` call per ten), so a cold start pays for one
/// round trip.
pub async fn secrets(vars: &[&str]) -> Result<crate::adapters::ssm::Secrets, StartupError> {
    Ok(crate::adapters::ssm::resolve(
        vars,
        |v| std::env::var(v).ok(),
        crate::adapters::ssm::ssm_client,
    )
    .await?)
}

/// The link-signing keys ([`LINK_KEYS_VAR`]), for the functions that sign or check
/// customer links (`dispatch`, `links`).
pub async fn link_keys() -> Result<LinkKeys, StartupError> {
    let keys = secret(LINK_KEYS_VAR)
        .await?
        .ok_or(StartupError::MissingVar(
            LINK_KEYS_VAR,
            "set it to 1:<a random secret of 32+ characters> (see .env.example), or set \
         AFTERCART_LINK_KEYS_PARAM to the name of an SSM SecureString holding that",
        ))?;
    LinkKeys::parse(&keys).map_err(|e| StartupError::Invalid(LINK_KEYS_VAR, e.to_string()))
}

/// Each shop's webhook secrets, read together (one SSM round trip) and checked.
pub async fn webhook_secrets(config: &Config) -> Result<WebhookSecrets, StartupError> {
    let vars: Vec<&str> = config
        .shops
        .iter()
        .map(|s| {
            s.webhook_secrets_env
                .as_deref()
                .unwrap_or(DEFAULT_SECRETS_ENV)
        })
        .collect();
    let values = secrets(&vars).await?;
    Ok(WebhookSecrets::load(config, |var| values.value(var))?)
}

/// The Shopify Admin API client for the dispatcher, with each shop's token read
/// together through [`secrets`].
pub async fn admin_client(config: &Config) -> Result<AdminClient, StartupError> {
    let mut vars: Vec<&str> = config.shops.iter().map(token_var).collect();
    vars.sort_unstable();
    vars.dedup();
    let values = secrets(&vars).await?;
    let tokens = AdminTokens::load(config, |var| values.value(var))?;
    AdminClient::new(&config.admin, tokens)
        .map_err(|e| StartupError::Invalid("admin", e.to_string()))
}

/// Each shop's templates: its override directory over the built-ins, read and checked
/// once at cold start (not at the first send).
pub fn shop_templates(config: &Config) -> Result<HashMap<String, Templates>, StartupError> {
    config
        .shops
        .iter()
        .map(|s| {
            let t = match &s.templates_dir {
                Some(dir) => Templates::with_overrides(dir).map_err(|e| {
                    StartupError::Invalid("templates_dir", format!("{}: {e}", s.domain))
                })?,
                None => Templates::builtin(),
            };
            Ok((s.domain.clone(), t))
        })
        .collect()
}
