//! Secrets from SSM Parameter Store in production, env vars locally: the one secrets
//! loader, which every function reaches through [`crate::apps::startup::secrets`].
//!
//! A secret setting has a variable name (`AFTERCART_LINK_KEYS`, a shop's
//! `webhook_secrets_env`, …). Where its value comes from:
//!
//! 1. `{VAR}_PARAM` set and not empty: it names an SSM Parameter Store **SecureString**
//!    holding the value (the SAM template sets these). A parameter of another type is
//!    refused: a secret must be encrypted at rest.
//! 2. Otherwise `{VAR}` itself, when set and not empty (local development, tests).
//! 3. Otherwise the secret is unset (`None`); the caller decides whether that is fatal.
//!
//! All the parameters a function needs are read together at cold start, with one
//! `GetParameters` call per ten names (the API's limit), so a cold start pays for one
//! round trip, not one per secret. Errors name the variable and the parameter, never a
//! value; [`Secrets`] prints only the variable names.

use aws_sdk_ssm::types::{Parameter, ParameterType};
use secrecy::{ExposeSecret, SecretString};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::time::Duration;

/// The SDK crate this module speaks, re-exported so tests and tools build requests with
/// the same version.
pub use aws_sdk_ssm;

/// `{VAR}{PARAM_SUFFIX}` names the SSM parameter holding `{VAR}`'s value.
pub const PARAM_SUFFIX: &str = "_PARAM";

/// Most names one `GetParameters` call accepts.
pub const GET_PARAMETERS_MAX: usize = 10;

/// The variable that names `var`'s SSM parameter: `AFTERCART_LINK_KEYS_PARAM` for
/// `AFTERCART_LINK_KEYS`.
pub fn param_var(var: &str) -> String {
    format!("{var}{PARAM_SUFFIX}")
}

/// Where one secret comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `{VAR}_PARAM` names this SSM parameter.
    Parameter(String),
    /// `{VAR}` holds the value.
    Env,
    /// Neither is set.
    Unset,
}

/// Where each of a set of secrets comes from, decided from the environment alone.
pub struct Plan {
    sources: BTreeMap<String, Source>,
    env_values: HashMap<String, SecretString>,
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plan")
            .field("sources", &self.sources)
            .finish_non_exhaustive()
    }
}

/// Decides where each of `vars` comes from, reading variables through `lookup`
/// (`std::env::var` in production). An empty variable counts as unset.
pub fn plan(vars: &[&str], lookup: impl Fn(&str) -> Option<String>) -> Plan {
    let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
    let mut sources = BTreeMap::new();
    let mut env_values = HashMap::new();
    for &var in vars {
        if sources.contains_key(var) {
            continue;
        }
        let source = if let Some(name) = get(&param_var(var)) {
            Source::Parameter(name.trim().to_owned())
        } else if let Some(value) = get(var) {
            env_values.insert(var.to_owned(), SecretString::from(value));
            Source::Env
        } else {
            Source::Unset
        };
        sources.insert(var.to_owned(), source);
    }
    Plan {
        sources,
        env_values,
    }
}

impl Plan {
    /// Where `var` comes from (`None` if it was not asked for).
    pub fn source(&self, var: &str) -> Option<&Source> {
        self.sources.get(var)
    }

    /// The distinct SSM parameter names to fetch, sorted.
    pub fn parameter_names(&self) -> Vec<String> {
        let names: BTreeSet<&String> = self
            .sources
            .values()
            .filter_map(|s| match s {
                Source::Parameter(name) => Some(name),
                _ => None,
            })
            .collect();
        names.into_iter().cloned().collect()
    }

    /// Combines the plan with the fetched parameters: every named parameter must have
    /// been found and be a SecureString.
    pub fn assemble(self, fetched: Fetched) -> Result<Secrets, SecretError> {
        let Plan {
            sources,
            mut env_values,
        } = self;
        let mut out = HashMap::new();
        for (var, source) in sources {
            match source {
                Source::Unset => {}
                Source::Env => {
                    if let Some(v) = env_values.remove(&var) {
                        out.insert(var, v);
                    }
                }
                Source::Parameter(name) => match fetched.0.get(&name) {
                    None => return Err(SecretError::NotFound { var, name }),
                    Some(p) if p.kind != ParameterType::SecureString => {
                        return Err(SecretError::NotSecure {
                            var,
                            name,
                            kind: p.kind.as_str().to_owned(),
                        })
                    }
                    // Several variables may name one parameter: each gets the value.
                    Some(p) => {
                        out.insert(var, p.value.clone());
                    }
                },
            }
        }
        Ok(Secrets(out))
    }
}

/// One fetched parameter: its value and type.
pub struct FetchedParameter {
    pub value: SecretString,
    pub kind: ParameterType,
}

/// Parameters read from SSM, by the name they were asked for.
#[derive(Default)]
pub struct Fetched(HashMap<String, FetchedParameter>);

impl std::fmt::Debug for Fetched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl Fetched {
    /// Files each returned parameter under the name it was requested by: a plain name,
    /// a full ARN, or `name:version` / `name:label`, as `GetParameters` accepts them.
    pub fn from_response(requested: &[String], returned: &[Parameter]) -> Fetched {
        let mut out = HashMap::new();
        for want in requested {
            let found = returned.iter().find(|p| {
                let name = p.name().unwrap_or_default();
                name == want
                    || p.arn() == Some(want.as_str())
                    || p.selector()
                        .is_some_and(|sel| format!("{name}{sel}") == *want)
            });
            if let Some(p) = found {
                out.insert(
                    want.clone(),
                    FetchedParameter {
                        value: SecretString::from(p.value().unwrap_or_default().to_owned()),
                        kind: p.r#type().cloned().unwrap_or(ParameterType::String),
                    },
                );
            }
        }
        Fetched(out)
    }

    fn extend(&mut self, other: Fetched) {
        self.0.extend(other.0);
    }
}

/// Resolved secrets, by variable name. Prints only the names.
#[derive(Default)]
pub struct Secrets(HashMap<String, SecretString>);

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: BTreeSet<&String> = self.0.keys().collect();
        f.debug_tuple("Secrets").field(&names).finish()
    }
}

impl Secrets {
    /// `var`'s value, if it is set.
    pub fn get(&self, var: &str) -> Option<&str> {
        self.0.get(var).map(|s| s.expose_secret())
    }

    /// `var`'s value as an owned string, if it is set.
    pub fn value(&self, var: &str) -> Option<String> {
        self.get(var).map(str::to_owned)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error(
        "SSM parameter {name} (named by {var}_PARAM) does not exist in this account and region. \
         Fix: create it with `aws ssm put-parameter --type SecureString --name {name} --value …`, \
         or correct {var}_PARAM"
    )]
    NotFound { var: String, name: String },
    #[error(
        "SSM parameter {name} (named by {var}_PARAM) is a {kind}, not a SecureString. \
         Fix: delete it and create it again with `aws ssm put-parameter --type SecureString --name {name} --value …`"
    )]
    NotSecure {
        var: String,
        name: String,
        kind: String,
    },
    #[error("reading SSM parameter(s) {names}: {}", aws_sdk_ssm::error::DisplayErrorContext(.source.as_ref()))]
    Ssm {
        names: String,
        #[source]
        source: Box<aws_sdk_ssm::Error>,
    },
}

/// Resolves `vars`: reads variables through `lookup`, and, only when some `{VAR}_PARAM`
/// names a parameter, builds an SSM client with `client` and fetches them all.
pub async fn resolve<F, Fut>(
    vars: &[&str],
    lookup: impl Fn(&str) -> Option<String>,
    client: F,
) -> Result<Secrets, SecretError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = aws_sdk_ssm::Client>,
{
    let plan = plan(vars, lookup);
    let names = plan.parameter_names();
    let fetched = if names.is_empty() {
        Fetched::default()
    } else {
        fetch(&client().await, &names).await?
    };
    plan.assemble(fetched)
}

/// Reads `names` with decryption, [`GET_PARAMETERS_MAX`] per call. Names SSM does not
/// know are simply absent from the result.
pub async fn fetch(client: &aws_sdk_ssm::Client, names: &[String]) -> Result<Fetched, SecretError> {
    let mut out = Fetched::default();
    for chunk in names.chunks(GET_PARAMETERS_MAX) {
        let resp = client
            .get_parameters()
            .set_names(Some(chunk.to_vec()))
            .with_decryption(true)
            .send()
            .await
            .map_err(|e| SecretError::Ssm {
                names: chunk.join(", "),
                source: Box::new(e.into()),
            })?;
        out.extend(Fetched::from_response(chunk, resp.parameters()));
    }
    Ok(out)
}

/// An SSM client from the default AWS configuration, with cold-start-sized timeouts:
/// a parameter read that hangs fails the start-up (and Lambda retries it) rather than
/// eating the init phase's 10 s.
pub async fn ssm_client() -> aws_sdk_ssm::Client {
    let shared = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    ssm_client_from(&shared)
}

/// An SSM client from an already loaded SDK config, with the start-up timeouts.
pub fn ssm_client_from(shared: &aws_config::SdkConfig) -> aws_sdk_ssm::Client {
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(1))
        .operation_attempt_timeout(Duration::from_secs(2))
        .operation_timeout(Duration::from_secs(5))
        .build();
    aws_sdk_ssm::Client::from_conf(
        aws_sdk_ssm::config::Builder::from(shared)
            .timeout_config(timeouts)
            .build(),
    )
}

#[cfg(test)]
mod tests;
