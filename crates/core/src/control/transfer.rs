//! Export and import of accounts, client tokens and aliases as one JSON document.
//!
//! - Secrets (account keys and passwords, token hashes) are included only when asked for,
//!   and the document then says so (`includes_secrets`).
//! - An import is checked whole before anything changes: one bad entry refuses the file,
//!   naming the entry and field. Then it is applied in one transaction.
//! - Names decide conflicts: `skip` keeps what is here, `replace` overwrites entries created
//!   through the admin API. Config-managed entries are never replaced.
//! - An account without its secret cannot work and is skipped; a token without its hash gets
//!   a new secret, returned once in the report.

use serde::{Deserialize, Serialize};

use super::accounts::AccountInput;
use super::settings::{check_alias, check_endpoint};
use super::{Control, ControlError, apply_accounts, apply_aliases};
use crate::client_tokens::{display_prefix, generate_secret, hash_secret};
use crate::clock::now_ms;
use crate::config::AccountConfig;
use crate::engine::Engine;
use crate::secret::Secret;
use crate::store::accounts::{self as account_rows, Source};
use crate::store::aliases;
use crate::store::client_tokens::{self as token_rows, TokenLimits, TokenRow};

pub const FORMAT: &str = "ondemand-proxy-export";
/// The largest use counter an import takes: far beyond any real use, and far below what the
/// database's integers hold, so adding to it never overflows.
const MAX_COUNTER: u64 = 1 << 53;
pub const VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportDocument {
    pub format: String,
    pub version: u32,
    #[serde(default)]
    pub exported_at: i64,
    /// Whether account secrets and token hashes are in this file: keep it private if so.
    pub includes_secrets: bool,
    #[serde(default)]
    pub accounts: Vec<ExportedAccount>,
    #[serde(default)]
    pub tokens: Vec<ExportedToken>,
    #[serde(default)]
    pub aliases: Vec<ExportedAlias>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportedAccount {
    pub name: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    pub weight: u32,
    #[serde(default)]
    pub max_concurrent: Option<u32>,
    pub enabled: bool,
    /// The account's own proxy, with secrets only (its URL may hold a password).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportedToken {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_hash: Option<String>,
    #[serde(default)]
    pub prefix: Option<String>,
    #[serde(default)]
    pub limits: TokenLimits,
    pub enabled: bool,
    #[serde(default)]
    pub used_requests: u64,
    #[serde(default)]
    pub used_tokens: u64,
    #[serde(default)]
    pub used_uploads: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportedAlias {
    pub alias: String,
    pub endpoint_id: String,
}

/// What an import does with names that exist here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportMode {
    #[default]
    Skip,
    Replace,
}

/// What an import did, per kind of entry.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    pub accounts: Outcome,
    pub tokens: Outcome,
    pub aliases: Outcome,
    /// Tokens that came without a hash got new secrets: shown this once.
    pub new_token_secrets: Vec<NamedSecret>,
    /// Simulated (demo) accounts removed because real accounts are here now.
    pub demo_ended: Vec<String>,
}

#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
#[schema(as = ImportOutcome)]
pub struct Outcome {
    pub added: Vec<String>,
    pub replaced: Vec<String>,
    pub skipped: Vec<Skipped>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Skipped {
    pub name: String,
    pub reason: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NamedSecret {
    pub name: String,
    pub secret: String,
}

fn export_account(config: &AccountConfig, secrets: bool) -> ExportedAccount {
    let secret = secrets.then(|| config.secret().expose().to_owned());
    let is_key = matches!(config, AccountConfig::ApiKey { .. });
    let options = config.options();
    ExportedAccount {
        name: config.name().to_owned(),
        kind: config.kind().as_str().to_owned(),
        api_key: secret.clone().filter(|_| is_key),
        email: config.email().map(str::to_owned),
        password: secret.filter(|_| !is_key),
        weight: options.weight,
        max_concurrent: options.max_concurrent,
        enabled: options.enabled,
        proxy: options
            .proxy
            .as_ref()
            .filter(|_| secrets)
            .map(|p| p.expose().to_owned()),
    }
}

/// A checked import entry.
pub(super) enum Planned {
    Account(Option<AccountConfig>, String),
    Token(TokenRow, Option<Secret>),
    Alias(String, String),
}

fn field_error(list: &str, i: usize, e: ControlError) -> ControlError {
    let field = format!("{list}[{i}].{}", e.field().unwrap_or("name"));
    ControlError::invalid(field.clone(), format!("{field}: {e}"))
}

/// Checks every entry; the first bad one refuses the whole document.
pub(super) fn plan(doc: &ExportDocument, engine: &Engine) -> Result<Vec<Planned>, ControlError> {
    if doc.format != FORMAT || doc.version != VERSION {
        return Err(ControlError::invalid(
            "format",
            format!(
                "Not an export this version reads: expected format {FORMAT:?} version {VERSION}."
            ),
        ));
    }
    let mut planned = Vec::new();
    for (i, a) in doc.accounts.iter().enumerate() {
        let has_secret = a.api_key.is_some() || a.password.is_some();
        // An account exported without its secret is still checked (name, kind, weight…)
        // with a stand-in secret, then skipped: it could not work.
        let stand_in = |kind: &str| (!has_secret && a.kind == kind).then(|| "stand-in".to_owned());
        let input = AccountInput {
            name: Some(a.name.clone()),
            kind: Some(a.kind.clone()),
            api_key: a.api_key.clone().or_else(|| stand_in("api_key")),
            email: a.email.clone(),
            password: a.password.clone().or_else(|| stand_in("email_password")),
            weight: Some(a.weight),
            max_concurrent: Some(a.max_concurrent.unwrap_or(0)),
            enabled: Some(a.enabled),
            proxy: a.proxy.clone(),
        };
        let config =
            super::accounts::new_account(&input).map_err(|e| field_error("accounts", i, e))?;
        planned.push(Planned::Account(
            has_secret.then_some(config),
            a.name.clone(),
        ));
    }
    let catalog = engine.catalog();
    for (i, t) in doc.tokens.iter().enumerate() {
        let name = super::check_name("name", &t.name).map_err(|e| field_error("tokens", i, e))?;
        let input = super::tokens::TokenInput {
            expires_at: Some(t.limits.expires_at),
            quota_requests: Some(t.limits.quota_requests),
            quota_tokens: Some(t.limits.quota_tokens),
            models: Some(t.limits.models.clone()),
            rpm: Some(t.limits.rpm),
            max_concurrent: Some(t.limits.max_concurrent),
            ..Default::default()
        };
        let limits = super::tokens::limits(&input, &TokenLimits::default(), &catalog)
            .map_err(|e| field_error("tokens", i, e))?;
        if let Some(hash) = &t.secret_hash
            && (hash.len() != 64 || !hash.chars().all(|c| c.is_ascii_hexdigit()))
        {
            return Err(field_error(
                "tokens",
                i,
                ControlError::invalid("secret_hash", "`secret_hash` must be 64 hex digits."),
            ));
        }
        for (field, count) in [
            ("used_requests", t.used_requests),
            ("used_tokens", t.used_tokens),
            ("used_uploads", t.used_uploads),
        ] {
            if count > MAX_COUNTER {
                return Err(field_error(
                    "tokens",
                    i,
                    ControlError::invalid(
                        field,
                        format!("`{field}` must be at most {MAX_COUNTER}."),
                    ),
                ));
            }
        }
        let (secret_hash, prefix, secret) = match &t.secret_hash {
            Some(hash) => (
                hash.to_ascii_lowercase(),
                t.prefix.clone().unwrap_or_else(|| "…".into()),
                None,
            ),
            None => {
                let secret = generate_secret();
                (
                    hash_secret(secret.expose()),
                    display_prefix(secret.expose()),
                    Some(secret),
                )
            }
        };
        let now = now_ms();
        let row = TokenRow {
            id: 0,
            name,
            secret_hash,
            prefix,
            limits,
            enabled: t.enabled,
            source: Source::Api,
            used_requests: t.used_requests,
            used_tokens: t.used_tokens,
            used_uploads: t.used_uploads,
            last_used_at: None,
            created_at: now,
            updated_at: now,
        };
        planned.push(Planned::Token(row, secret));
    }
    for (i, a) in doc.aliases.iter().enumerate() {
        let alias = check_alias(&a.alias).map_err(|e| field_error("aliases", i, e))?;
        let endpoint = check_endpoint(&a.endpoint_id).map_err(|e| field_error("aliases", i, e))?;
        planned.push(Planned::Alias(alias, endpoint));
    }
    Ok(planned)
}

fn skip(outcome: &mut Outcome, name: &str, reason: &str) {
    outcome.skipped.push(Skipped {
        name: name.to_owned(),
        reason: reason.to_owned(),
    });
}

fn apply(
    tx: &rusqlite::Transaction<'_>,
    planned: Vec<Planned>,
    mode: ImportMode,
) -> Result<ImportReport, ControlError> {
    let now = now_ms();
    let mut report = ImportReport::default();
    // What exists is read once: a check per entry against a fresh list made importing
    // thousands of entries quadratic.
    let mut alias_names: std::collections::HashSet<String> = aliases::list(tx)?
        .into_iter()
        .map(|a| a.alias.to_ascii_lowercase())
        .collect();
    let mut secret_hashes: std::collections::HashSet<String> = token_rows::list(tx)?
        .into_iter()
        .map(|t| t.secret_hash)
        .collect();
    for entry in planned {
        match entry {
            Planned::Account(None, name) => skip(
                &mut report.accounts,
                &name,
                "no secret in the file (export with secrets to move accounts)",
            ),
            Planned::Account(Some(config), name) => match account_rows::find_by_name(tx, &name)? {
                None => {
                    account_rows::insert(tx, &config, Source::Api, now)?;
                    report.accounts.added.push(name);
                }
                Some(row) if row.source == Source::Config => skip(
                    &mut report.accounts,
                    &name,
                    "managed by the config file here",
                ),
                Some(_) if mode == ImportMode::Skip => {
                    skip(&mut report.accounts, &name, "already exists")
                }
                Some(row) => {
                    account_rows::update(tx, row.id, &config, now)?;
                    report.accounts.replaced.push(name);
                }
            },
            Planned::Token(row, secret) => match token_rows::find_by_name(tx, &row.name)? {
                None => {
                    if !secret_hashes.insert(row.secret_hash.clone()) {
                        skip(
                            &mut report.tokens,
                            &row.name,
                            "its secret already belongs to another token here",
                        );
                        continue;
                    }
                    token_rows::insert(tx, &row)?;
                    if let Some(secret) = secret {
                        report.new_token_secrets.push(NamedSecret {
                            name: row.name.clone(),
                            secret: secret.expose().to_owned(),
                        });
                    }
                    report.tokens.added.push(row.name);
                }
                Some(existing) if existing.source == Source::Config => skip(
                    &mut report.tokens,
                    &row.name,
                    "managed by the config file here",
                ),
                Some(_) if mode == ImportMode::Skip => {
                    skip(&mut report.tokens, &row.name, "already exists")
                }
                Some(existing) => {
                    token_rows::update(tx, existing.id, &row.limits, row.enabled, now)?;
                    report.tokens.replaced.push(row.name);
                }
            },
            Planned::Alias(alias, endpoint) => {
                let exists = !alias_names.insert(alias.to_ascii_lowercase());
                if exists && mode == ImportMode::Skip {
                    skip(&mut report.aliases, &alias, "already exists");
                    continue;
                }
                aliases::upsert(tx, &alias, &endpoint, now)?;
                if exists {
                    report.aliases.replaced.push(alias);
                } else {
                    report.aliases.added.push(alias);
                }
            }
        }
    }
    report.demo_ended = account_rows::end_demo_beside_real(tx)?;
    Ok(report)
}

impl Control {
    /// Everything people manage, as one document; secrets only when `secrets`.
    pub async fn export(&self, secrets: bool) -> Result<ExportDocument, ControlError> {
        let (accounts, tokens, aliases) = self
            .store
            .read(|conn| {
                Ok((
                    account_rows::list(conn)?,
                    token_rows::list(conn)?,
                    aliases::list(conn)?,
                ))
            })
            .await?;
        Ok(ExportDocument {
            format: FORMAT.to_owned(),
            version: VERSION,
            exported_at: now_ms(),
            includes_secrets: secrets,
            accounts: accounts
                .iter()
                .map(|r| export_account(&r.config, secrets))
                .collect(),
            tokens: tokens
                .into_iter()
                .map(|t| ExportedToken {
                    name: t.name,
                    secret_hash: secrets.then_some(t.secret_hash),
                    prefix: Some(t.prefix),
                    limits: t.limits,
                    enabled: t.enabled,
                    used_requests: t.used_requests,
                    used_tokens: t.used_tokens,
                    used_uploads: t.used_uploads,
                })
                .collect(),
            aliases: aliases
                .into_iter()
                .map(|a| ExportedAlias {
                    alias: a.alias,
                    endpoint_id: a.endpoint_id,
                })
                .collect(),
        })
    }

    pub async fn import(
        &self,
        engine: &Engine,
        doc: ExportDocument,
        mode: ImportMode,
    ) -> Result<ImportReport, ControlError> {
        let planned = plan(&doc, engine)?;
        let _order = self.order.lock().await;
        let (report, accounts, tokens, all_aliases) = self
            .store
            .write(move |tx| {
                let report = apply(tx, planned, mode)?;
                Ok::<_, ControlError>((
                    report,
                    account_rows::list(tx)?,
                    token_rows::list(tx)?,
                    aliases::list(tx)?,
                ))
            })
            .await?;
        super::accounts::demo_ended(&report.demo_ended);
        apply_accounts(engine, &accounts);
        engine.clients.tokens.load(&tokens);
        apply_aliases(engine, &all_aliases);
        Ok(report)
    }
}
