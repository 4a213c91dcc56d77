//! Upstream accounts: create, edit, delete, test, reset.

use std::time::{Duration, Instant};

use serde::Deserialize;

use super::{Control, ControlError, Entry, apply_accounts, check_name, editable};
use crate::chat::{self, ChatPlan};
use crate::clock::now_ms;
use crate::config::{AccountConfig, AccountOptions, ProxyUrl, key_fingerprint};
use crate::engine::Engine;
use crate::openai::ChatCompletionRequest;
use crate::secret::Secret;
use crate::store::accounts::{self as rows, AccountRow, Source};
use crate::upstream::error::UpstreamError;

/// An account as sent to create or edit one. On an edit, missing fields keep their value;
/// the name and kind are fixed (usage history is kept by name).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountInput {
    pub name: Option<String>,
    /// Inferred from the fields when missing; fixed after creation.
    #[schema(value_type = Option<crate::config::AccountKind>)]
    pub kind: Option<String>,
    pub api_key: Option<String>,
    pub email: Option<String>,
    pub password: Option<String>,
    /// 1–1000; share of traffic under the `weighted` strategy.
    pub weight: Option<u32>,
    /// Concurrent requests on this account; 0 is unlimited.
    pub max_concurrent: Option<u32>,
    pub enabled: Option<bool>,
    /// The account's own proxy (`http://`, `https://`, `socks5://`, `socks5h://`); empty for
    /// the global `upstream_proxy`. Shown masked; the masked URL sent back keeps the password.
    pub proxy: Option<String>,
}

fn secret_field(field: &str, value: &str) -> Result<Secret, ControlError> {
    let value = value.trim();
    if value.is_empty() || value.len() > 512 || value.chars().any(char::is_whitespace) {
        return Err(ControlError::invalid(
            field,
            format!("`{field}` must be 1 to 512 characters without spaces."),
        ));
    }
    // An API key travels as a header: anything but visible ASCII would fail every call.
    if field == "api_key" && !crate::config::header_safe(value) {
        return Err(ControlError::invalid(
            field,
            "`api_key` must be visible ASCII characters (no control characters).",
        ));
    }
    Ok(Secret::new(value))
}

fn email_field(value: &str) -> Result<String, ControlError> {
    let value = value.trim();
    if value.len() > 254 || !value.contains('@') || value.chars().any(char::is_whitespace) {
        return Err(ControlError::invalid(
            "email",
            "`email` must be an email address.",
        ));
    }
    Ok(value.to_owned())
}

fn options(input: &AccountInput, current: AccountOptions) -> Result<AccountOptions, ControlError> {
    let proxy =
        match input.proxy.as_deref().map(str::trim) {
            None => current.proxy.clone(),
            Some("") => None,
            Some(text) => {
                let text = ProxyUrl::unmask(text, current.proxy.as_ref());
                Some(ProxyUrl::parse(&text).map_err(|reason| {
                    ControlError::invalid("proxy", format!("`proxy`: {reason}."))
                })?)
            }
        };
    let weight = input.weight.unwrap_or(current.weight);
    if !(1..=1000).contains(&weight) {
        return Err(ControlError::invalid(
            "weight",
            "`weight` must be from 1 to 1000.",
        ));
    }
    let max_concurrent = match input.max_concurrent {
        None => current.max_concurrent,
        Some(0) => None,
        Some(n) if n <= 100_000 => Some(n),
        Some(_) => {
            return Err(ControlError::invalid(
                "max_concurrent",
                "`max_concurrent` must be from 0 (unlimited) to 100000.",
            ));
        }
    };
    Ok(AccountOptions {
        weight,
        max_concurrent,
        enabled: input.enabled.unwrap_or(current.enabled),
        proxy,
    })
}

/// The account a creation describes.
pub(super) fn new_account(input: &AccountInput) -> Result<AccountConfig, ControlError> {
    let kind = match (input.kind.as_deref(), &input.api_key, &input.email) {
        (Some("api_key"), ..) | (None, Some(_), None) => "api_key",
        (Some("email_password"), ..) | (None, None, Some(_)) => "email_password",
        (Some(other), ..) => {
            return Err(ControlError::invalid(
                "kind",
                format!("`kind` must be api_key or email_password, got {other:?}."),
            ));
        }
        (None, Some(_), Some(_)) => {
            return Err(ControlError::invalid(
                "email",
                "Give either `api_key`, or `email` and `password`, not both.",
            ));
        }
        (None, None, None) => {
            return Err(ControlError::invalid(
                "api_key",
                "An account needs `api_key`, or `email` and `password`.",
            ));
        }
    };
    let options = options(input, AccountOptions::default())?;
    if kind == "api_key" {
        if input.email.is_some() || input.password.is_some() {
            return Err(ControlError::invalid(
                "email",
                "An api_key account has no `email` or `password`.",
            ));
        }
        let api_key = secret_field("api_key", input.api_key.as_deref().unwrap_or(""))?;
        let name = match &input.name {
            Some(name) => check_name("name", name)?,
            None => key_fingerprint(&api_key),
        };
        return Ok(AccountConfig::ApiKey {
            name,
            api_key,
            options,
        });
    }
    if input.api_key.is_some() {
        return Err(ControlError::invalid(
            "api_key",
            "An email_password account has no `api_key`.",
        ));
    }
    let email = email_field(input.email.as_deref().unwrap_or(""))?;
    let password = secret_field("password", input.password.as_deref().unwrap_or(""))?;
    let name = match &input.name {
        Some(name) => check_name("name", name)?,
        None => email.clone(),
    };
    Ok(AccountConfig::Password {
        name,
        email,
        password,
        options,
    })
}

/// `current` with an edit applied.
fn edited(current: &AccountConfig, input: &AccountInput) -> Result<AccountConfig, ControlError> {
    if let Some(name) = &input.name
        && name.trim() != current.name()
    {
        return Err(ControlError::invalid(
            "name",
            "An account's name cannot change (its usage history is kept by name); create a new account instead.",
        ));
    }
    match current {
        AccountConfig::ApiKey {
            name,
            api_key,
            options: o,
        } => {
            if input.kind.as_deref().is_some_and(|k| k != "api_key") {
                return Err(ControlError::invalid(
                    "kind",
                    "An account's kind cannot change.",
                ));
            }
            if input.email.is_some() || input.password.is_some() {
                return Err(ControlError::invalid(
                    "email",
                    "An api_key account has no `email` or `password`.",
                ));
            }
            Ok(AccountConfig::ApiKey {
                name: name.clone(),
                api_key: match &input.api_key {
                    Some(key) => secret_field("api_key", key)?,
                    None => api_key.clone(),
                },
                options: options(input, o.clone())?,
            })
        }
        AccountConfig::Password {
            name,
            email,
            password,
            options: o,
        } => {
            if input.kind.as_deref().is_some_and(|k| k != "email_password") {
                return Err(ControlError::invalid(
                    "kind",
                    "An account's kind cannot change.",
                ));
            }
            if input.api_key.is_some() {
                return Err(ControlError::invalid(
                    "api_key",
                    "An email_password account has no `api_key`.",
                ));
            }
            Ok(AccountConfig::Password {
                name: name.clone(),
                email: match &input.email {
                    Some(e) => email_field(e)?,
                    None => email.clone(),
                },
                password: match &input.password {
                    Some(p) => secret_field("password", p)?,
                    None => password.clone(),
                },
                options: options(input, o.clone())?,
            })
        }
    }
}

impl Entry for AccountRow {
    const WHAT: &'static str = "account";
    fn get(conn: &rusqlite::Connection, id: i64) -> rusqlite::Result<Option<Self>> {
        rows::get(conn, id)
    }
    fn source(&self) -> Source {
        self.source
    }
    fn name(&self) -> &str {
        self.config.name()
    }
}

/// Says in the log that adding a real account ended the demo.
pub(super) fn demo_ended(names: &[String]) {
    if !names.is_empty() {
        tracing::info!(accounts = ?names, "the demo ended: a real account is here, so the simulated one was removed");
    }
}

fn not_found(id: i64) -> ControlError {
    super::not_found::<AccountRow>(id)
}

/// The outcome of an account test.
#[derive(Debug)]
pub struct TestOutcome {
    pub latency: Duration,
    pub result: Result<String, UpstreamError>,
}

impl Control {
    pub async fn accounts(&self) -> Result<Vec<AccountRow>, ControlError> {
        Ok(self.store.read(rows::list).await?)
    }

    pub async fn account(&self, id: i64) -> Result<AccountRow, ControlError> {
        self.entry(id).await
    }

    pub async fn create_account(
        &self,
        engine: &Engine,
        input: AccountInput,
    ) -> Result<AccountRow, ControlError> {
        let config = new_account(&input)?;
        self.change(
            engine,
            move |tx| {
                if rows::find_by_name(tx, config.name())?.is_some() {
                    return Err(ControlError::conflict(
                        "name",
                        format!("An account named {:?} already exists.", config.name()),
                    ));
                }
                if config.simulated() && rows::any_real(tx)? {
                    return Err(ControlError::conflict(
                        "api_key",
                        "A simulated (demo) account serves only while there is no real account.",
                    ));
                }
                let id = rows::insert(tx, &config, Source::Api, now_ms())?;
                let ended = rows::end_demo_beside_real(tx)?;
                Ok((rows::get(tx, id)?.ok_or_else(|| not_found(id))?, ended))
            },
            rows::list,
            apply_accounts,
        )
        .await
        .map(|(row, ended)| {
            demo_ended(&ended);
            engine.wake_catalogue(&[row.config.name().to_owned()]);
            row
        })
    }

    pub async fn update_account(
        &self,
        engine: &Engine,
        id: i64,
        input: AccountInput,
    ) -> Result<AccountRow, ControlError> {
        self.change(
            engine,
            move |tx| {
                let row = editable::<AccountRow>(tx, id)?;
                let config = edited(&row.config, &input)?;
                let changed = config != row.config;
                if changed {
                    rows::update(tx, id, &config, now_ms())?;
                }
                Ok((rows::get(tx, id)?.ok_or_else(|| not_found(id))?, changed))
            },
            rows::list,
            apply_accounts,
        )
        .await
        .map(|(row, changed)| {
            if changed {
                engine.wake_catalogue(&[row.config.name().to_owned()]);
            }
            row
        })
    }

    pub async fn delete_account(&self, engine: &Engine, id: i64) -> Result<(), ControlError> {
        self.change(
            engine,
            move |tx| {
                editable::<AccountRow>(tx, id)?;
                rows::delete(tx, id)?;
                Ok(())
            },
            rows::list,
            apply_accounts,
        )
        .await
    }

    async fn live_account(
        &self,
        engine: &Engine,
        id: i64,
    ) -> Result<std::sync::Arc<crate::pool::Account>, ControlError> {
        let row = self.account(id).await?;
        engine
            .routing
            .pool
            .accounts()
            .iter()
            .find(|a| a.name == row.config.name())
            .cloned()
            .ok_or_else(|| not_found(id))
    }

    /// Back to healthy (config-managed accounts too: this changes no configuration).
    pub async fn reset_account(&self, engine: &Engine, id: i64) -> Result<(), ControlError> {
        self.live_account(engine, id).await?.reset();
        Ok(())
    }

    /// Sends a real minimal query through the account and reports the latency and answer,
    /// or the upstream's error.
    pub async fn test_account(
        &self,
        engine: &Engine,
        id: i64,
    ) -> Result<TestOutcome, ControlError> {
        let account = self.live_account(engine, id).await?;
        let plan = test_plan(engine, &account.name)?;
        let started = Instant::now();
        let result = engine
            .test_account(&account, &plan)
            .await
            .map(|answer| answer.answer);
        Ok(TestOutcome {
            latency: started.elapsed(),
            result,
        })
    }
}

/// The cheapest question worth asking: one short user turn to a small model, one that the
/// live catalogue says this account sees (and that is not premium) when there is one.
fn test_plan(engine: &Engine, account: &str) -> Result<ChatPlan, ControlError> {
    let live = engine.endpoints();
    let model = live
        .available_endpoints()
        .filter(|e| live.visible_to(&e.id, account))
        .min_by_key(|e| (e.premium, e.id != "predefined-gpt-5.6-luna"))
        .map_or_else(|| "gpt-4o-mini".to_owned(), |e| e.id.clone());
    let request: ChatCompletionRequest = serde_json::from_value(serde_json::json!({
        "model": model,
        "messages": [{"role": "user", "content": "Reply with the single word OK."}],
    }))
    .map_err(|e| ControlError::invalid("model", e.to_string()))?;
    chat::plan(
        request,
        &engine.catalog(),
        &live,
        &engine.settings(),
        "account-test",
    )
    .map_err(|e| ControlError::invalid("model", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(json: serde_json::Value) -> AccountInput {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn creation_infers_the_kind_and_names_the_bad_field() {
        let key = new_account(&input(serde_json::json!({"api_key": "k-123"}))).unwrap();
        assert!(matches!(key, AccountConfig::ApiKey { ref name, .. } if name.starts_with("key-")));
        let pw = new_account(&input(
            serde_json::json!({"email": "a@b.c", "password": "p"}),
        ))
        .unwrap();
        assert_eq!(pw.name(), "a@b.c");
        for (body, field) in [
            (serde_json::json!({}), "api_key"),
            (serde_json::json!({"api_key": "has space"}), "api_key"),
            (serde_json::json!({"api_key": "k", "weight": 0}), "weight"),
            (
                serde_json::json!({"api_key": "k", "max_concurrent": 100_001}),
                "max_concurrent",
            ),
            (serde_json::json!({"api_key": "k", "name": ""}), "name"),
            (serde_json::json!({"kind": "oauth"}), "kind"),
            (
                serde_json::json!({"email": "nope", "password": "p"}),
                "email",
            ),
            (serde_json::json!({"email": "a@b.c"}), "password"),
            (
                serde_json::json!({"api_key": "k", "email": "a@b.c"}),
                "email",
            ),
        ] {
            let err = new_account(&input(body.clone())).unwrap_err();
            assert_eq!(err.field(), Some(field), "{body}: {err}");
        }
    }

    #[test]
    fn edits_keep_name_and_kind() {
        let current =
            new_account(&input(serde_json::json!({"name": "a", "api_key": "k1"}))).unwrap();
        let next = edited(
            &current,
            &input(serde_json::json!({"api_key": "k2", "weight": 5})),
        )
        .unwrap();
        assert!(
            matches!(next, AccountConfig::ApiKey { ref api_key, options, .. }
            if api_key.expose() == "k2" && options.weight == 5)
        );
        assert_eq!(
            edited(&current, &input(serde_json::json!({"name": "b"})))
                .unwrap_err()
                .field(),
            Some("name")
        );
        assert_eq!(
            edited(&current, &input(serde_json::json!({"password": "x"})))
                .unwrap_err()
                .field(),
            Some("email")
        );
    }
}
