//! Start-up settings read from the environment (once, at cold start).

use crate::config::{Config, ConfigError};
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
    Secret(#[from] crate::secrets::SecretError),
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
/// the variable and the parameter, never the value. See [`crate::secrets`].
pub async fn secret(var: &str) -> Result<Option<String>, StartupError> {
    Ok(secrets(&[var]).await?.value(var))
}

/// Several secrets at once, as [`secret`] reads one: all the SSM parameters they name
/// are fetched together (one `GetParameters` call per ten), so a cold start pays for one
/// round trip.
pub async fn secrets(vars: &[&str]) -> Result<crate::secrets::Secrets, StartupError> {
    Ok(
        crate::secrets::resolve(vars, |v| std::env::var(v).ok(), crate::secrets::ssm_client)
            .await?,
    )
}
