//! Reading the file and applying the environment's overrides.

use super::{Config, DEV_MODE_ENV};
use std::path::Path;

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
    /// Reads and validates the file at `path`, then applies the process's overrides
    /// ([`DEV_MODE_ENV`]).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Config::load_with_env(path, |var| std::env::var(var).ok())
    }

    /// As [`Config::load`], reading the overrides through `lookup`.
    pub fn load_with_env(
        path: &Path,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let mut config = Config::parse(&text, &path.display().to_string())?;
        config.apply_env(lookup)?;
        Ok(config)
    }

    /// Settings the environment may override: only `email.dev_mode` (from
    /// [`DEV_MODE_ENV`]), so local runs can send for a development store's test orders
    /// without a file that would be unsafe to deploy.
    pub fn apply_env(
        &mut self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        if let Some(value) = lookup(DEV_MODE_ENV) {
            self.email.dev_mode = match value.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => true,
                "false" | "0" | "no" | "off" | "" => false,
                _ => {
                    return Err(ConfigError::Invalid {
                        field: format!("{DEV_MODE_ENV} (overrides email.dev_mode)"),
                        problem: format!("{value:?} is not true or false"),
                        fix: format!(
                            "set {DEV_MODE_ENV}=true or {DEV_MODE_ENV}=false, or unset it"
                        ),
                    })
                }
            };
        }
        Ok(())
    }

    /// Parses and validates TOML text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: origin.to_owned(),
            message: e.to_string(),
        })?;
        config.validate()?;
        for shop in &mut config.shops {
            shop.retention_days = config.privacy.retention_days;
        }
        Ok(config)
    }
}
