//! Upstream accounts as configured: `accounts` in `config.json` or `ONDEMAND_ACCOUNTS`.

use serde_json::{Map, Value};

use super::values::{Raw, boolean, invalid, whole};
use super::{ConfigError, Origin};
use crate::secret::Secret;

/// API keys that begin so belong to simulated accounts (the dashboard's *Try the demo*):
/// their calls go to the in-process demo upstream, never to on-demand.io.
pub const SIMULATED_KEY_PREFIX: &str = "odp-demo-";

/// How an account signs in to on-demand.io.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    ApiKey,
    EmailPassword,
}

impl AccountKind {
    /// `api_key` or `email_password`, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ApiKey => "api_key",
            Self::EmailPassword => "email_password",
        }
    }
}

/// One upstream account as configured.
#[derive(Debug, Clone, PartialEq)]
pub enum AccountConfig {
    ApiKey {
        name: String,
        api_key: Secret,
        options: AccountOptions,
    },
    /// Email/password: the dashboard's sign-in flow (§2.2), experimental.
    Password {
        name: String,
        email: String,
        password: Secret,
        options: AccountOptions,
    },
}

/// How the pool treats an account, whatever its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountOptions {
    /// Share of traffic under the `weighted` strategy.
    pub weight: u32,
    /// Cap on this account's concurrent requests; `None` is unlimited.
    pub max_concurrent: Option<u32>,
    pub enabled: bool,
    /// The account's own way out; `None` takes `upstream_proxy`.
    pub proxy: Option<super::ProxyUrl>,
}

impl Default for AccountOptions {
    fn default() -> Self {
        Self {
            weight: 1,
            max_concurrent: None,
            enabled: true,
            proxy: None,
        }
    }
}

impl AccountConfig {
    pub fn name(&self) -> &str {
        match self {
            Self::ApiKey { name, .. } | Self::Password { name, .. } => name,
        }
    }

    pub fn kind(&self) -> AccountKind {
        match self {
            Self::ApiKey { .. } => AccountKind::ApiKey,
            Self::Password { .. } => AccountKind::EmailPassword,
        }
    }

    /// The sign-in email of an email/password account.
    pub fn email(&self) -> Option<&str> {
        match self {
            Self::ApiKey { .. } => None,
            Self::Password { email, .. } => Some(email),
        }
    }

    /// The API key, or the password.
    pub fn secret(&self) -> &Secret {
        match self {
            Self::ApiKey { api_key, .. } => api_key,
            Self::Password { password, .. } => password,
        }
    }

    /// A simulated account (the demo's): its key says so.
    pub fn simulated(&self) -> bool {
        matches!(self, Self::ApiKey { api_key, .. } if api_key.expose().starts_with(SIMULATED_KEY_PREFIX))
    }

    pub fn options(&self) -> &AccountOptions {
        match self {
            Self::ApiKey { options, .. } | Self::Password { options, .. } => options,
        }
    }
}

/// A stable, non-reversible short name for an unnamed API key, so it can be told apart in
/// logs and keeps its identity across restarts (FNV-1a).
pub fn key_fingerprint(key: &Secret) -> String {
    let hash = key
        .expose()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
    format!("key-{:08x}", hash >> 32)
}

pub(super) fn parse_accounts(
    raw: &Raw,
    origin: &Origin,
) -> Result<Vec<AccountConfig>, ConfigError> {
    let value = match raw {
        Raw::Json(v) => v.clone(),
        Raw::Text(t) => serde_json::from_str(t)
            .map_err(|e| invalid("accounts", origin, format!("not valid JSON: {e}")))?,
    };
    let list = match value {
        Value::Array(list) => list,
        Value::Object(mut obj) => match obj.remove("accounts") {
            Some(Value::Array(list)) => list,
            _ => {
                return Err(invalid(
                    "accounts",
                    origin,
                    "expected {\"accounts\": [...]} or a JSON array",
                ));
            }
        },
        _ => {
            return Err(invalid(
                "accounts",
                origin,
                "expected a JSON array of accounts",
            ));
        }
    };
    let mut accounts: Vec<AccountConfig> = Vec::with_capacity(list.len());
    for (i, item) in list.into_iter().enumerate() {
        let field = format!("accounts[{i}]");
        let Value::Object(obj) = item else {
            return Err(invalid(&field, origin, "expected an object"));
        };
        let get = |k: &str| {
            obj.get(k)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
        };
        let name = get("name").map(str::to_owned);
        let options = account_options(&obj, &field, origin)?;
        let account = match (
            get("api_key").or_else(|| get("apikey")),
            get("email"),
            get("password"),
        ) {
            (Some(key), None, None) => {
                if key.chars().any(char::is_whitespace) || !crate::config::header_safe(key) {
                    return Err(invalid(
                        &field,
                        origin,
                        "api_key must be visible ASCII characters without spaces",
                    ));
                }
                let api_key = Secret::new(key);
                AccountConfig::ApiKey {
                    name: name.unwrap_or_else(|| key_fingerprint(&api_key)),
                    api_key,
                    options,
                }
            }
            (None, Some(email), Some(password)) => AccountConfig::Password {
                name: name.unwrap_or_else(|| email.to_owned()),
                email: email.to_owned(),
                password: Secret::new(password),
                options,
            },
            (None, Some(_), None) => {
                return Err(invalid(&field, origin, "has an email but no password"));
            }
            (Some(_), Some(_), _) => {
                return Err(invalid(
                    &field,
                    origin,
                    "has both api_key and email; use one kind per account",
                ));
            }
            _ => {
                return Err(invalid(
                    &field,
                    origin,
                    "needs either \"api_key\", or \"email\" and \"password\"",
                ));
            }
        };
        if accounts.iter().any(|a| a.name() == account.name()) {
            return Err(invalid(
                &field,
                origin,
                format!("duplicate account name {:?}", account.name()),
            ));
        }
        accounts.push(account);
    }
    Ok(accounts)
}

fn account_options(
    obj: &Map<String, Value>,
    field: &str,
    origin: &Origin,
) -> Result<AccountOptions, ConfigError> {
    let mut options = AccountOptions::default();
    if let Some(v) = obj.get("weight") {
        options.weight = whole(
            &format!("{field}.weight"),
            &Raw::Json(v.clone()),
            origin,
            1,
            1000,
        )? as u32;
    }
    if let Some(v) = obj.get("max_concurrent") {
        let cap = whole(
            &format!("{field}.max_concurrent"),
            &Raw::Json(v.clone()),
            origin,
            0,
            100_000,
        )? as u32;
        options.max_concurrent = (cap > 0).then_some(cap);
    }
    if let Some(v) = obj.get("enabled") {
        options.enabled = boolean(&format!("{field}.enabled"), &Raw::Json(v.clone()), origin)?;
    }
    match obj.get("proxy") {
        None | Some(Value::Null) => {}
        Some(Value::String(text)) if text.trim().is_empty() => {}
        Some(Value::String(text)) => {
            options.proxy = Some(
                super::ProxyUrl::parse(text)
                    .map_err(|reason| invalid(&format!("{field}.proxy"), origin, reason))?,
            );
        }
        Some(_) => {
            return Err(invalid(
                &format!("{field}.proxy"),
                origin,
                "expected a proxy URL string",
            ));
        }
    }
    Ok(options)
}
