//! Client tokens: create (the secret is returned this once), edit limits, delete (revoke).

use serde::{Deserialize, Deserializer};

use super::{Control, ControlError, Entry, check_name, editable};
use crate::client_tokens::{display_prefix, generate_secret, hash_secret};
use crate::clock::now_ms;
use crate::engine::Engine;
use crate::models::ModelCatalog;
use crate::secret::Secret;
use crate::store::accounts::Source;
use crate::store::client_tokens::{self as rows, TokenLimits, TokenRow};

/// `null` and a missing field differ on an edit: `null` removes a limit.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// A token as sent to create or edit one. On an edit, missing fields keep their value and
/// `null` removes a limit; the name is fixed (usage history is kept by name).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenInput {
    pub name: Option<String>,
    /// Unix ms.
    #[serde(default, deserialize_with = "present")]
    pub expires_at: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    pub quota_requests: Option<Option<u64>>,
    #[serde(default, deserialize_with = "present")]
    pub quota_tokens: Option<Option<u64>>,
    #[serde(default, deserialize_with = "present")]
    pub models: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "present")]
    pub rpm: Option<Option<u32>>,
    /// Requests in flight at once; `null` takes the default share.
    #[serde(default, deserialize_with = "present")]
    pub max_concurrent: Option<Option<u32>>,
    pub enabled: Option<bool>,
}

/// A token just created, with its secret: the only time the secret exists outside the
/// client that holds it.
#[derive(Debug)]
pub struct NewToken {
    pub row: TokenRow,
    pub secret: Secret,
}

/// `current` with the input's limits applied, validated.
pub(super) fn limits(
    input: &TokenInput,
    current: &TokenLimits,
    catalog: &ModelCatalog,
) -> Result<TokenLimits, ControlError> {
    let mut next = current.clone();
    if let Some(expires_at) = input.expires_at {
        if expires_at.is_some_and(|t| t <= 0) {
            return Err(ControlError::invalid(
                "expires_at",
                "`expires_at` must be a time (Unix ms) or null.",
            ));
        }
        next.expires_at = expires_at;
    }
    if let Some(quota) = input.quota_requests {
        if quota == Some(0) {
            return Err(ControlError::invalid(
                "quota_requests",
                "`quota_requests` must be at least 1, or null for no quota.",
            ));
        }
        next.quota_requests = quota;
    }
    if let Some(quota) = input.quota_tokens {
        if quota == Some(0) {
            return Err(ControlError::invalid(
                "quota_tokens",
                "`quota_tokens` must be at least 1, or null for no quota.",
            ));
        }
        next.quota_tokens = quota;
    }
    if let Some(rpm) = input.rpm {
        if rpm.is_some_and(|r| !(1..=1_000_000).contains(&r)) {
            return Err(ControlError::invalid(
                "rpm",
                "`rpm` must be from 1 to 1000000, or null for the global rate_limit.",
            ));
        }
        next.rpm = rpm;
    }
    if let Some(max) = input.max_concurrent {
        if max.is_some_and(|m| !(1..=100_000).contains(&m)) {
            return Err(ControlError::invalid(
                "max_concurrent",
                "`max_concurrent` must be from 1 to 100000, or null for the default share (beside other tokens, half of max_concurrent_upstream).",
            ));
        }
        next.max_concurrent = max;
    }
    if let Some(models) = &input.models {
        if let Some(models) = models {
            if models.is_empty() {
                return Err(ControlError::invalid(
                    "models",
                    "`models` must list at least one model, or be null to allow all.",
                ));
            }
            for (i, model) in models.iter().enumerate() {
                if catalog.resolve(model.trim()).is_err() {
                    return Err(ControlError::invalid(
                        format!("models[{i}]"),
                        format!(
                            "Unknown model {model:?}: use an alias from the model list, or a predefined-/byoi- id."
                        ),
                    ));
                }
            }
        }
        next.models = models
            .as_ref()
            .map(|m| m.iter().map(|s| s.trim().to_owned()).collect());
    }
    Ok(next)
}

impl Entry for TokenRow {
    const WHAT: &'static str = "client token";
    fn get(conn: &rusqlite::Connection, id: i64) -> rusqlite::Result<Option<Self>> {
        rows::get(conn, id)
    }
    fn source(&self) -> Source {
        self.source
    }
    fn name(&self) -> &str {
        &self.name
    }
}

fn not_found(id: i64) -> ControlError {
    super::not_found::<TokenRow>(id)
}

impl Control {
    pub async fn tokens(&self) -> Result<Vec<TokenRow>, ControlError> {
        Ok(self.store.read(rows::list).await?)
    }

    pub async fn token(&self, id: i64) -> Result<TokenRow, ControlError> {
        self.entry(id).await
    }

    pub async fn create_token(
        &self,
        engine: &Engine,
        input: TokenInput,
    ) -> Result<NewToken, ControlError> {
        let name = check_name("name", input.name.as_deref().unwrap_or(""))?;
        let limits = limits(&input, &TokenLimits::default(), &engine.catalog())?;
        let secret = generate_secret();
        let now = now_ms();
        let row = TokenRow {
            id: 0,
            name,
            secret_hash: hash_secret(secret.expose()),
            prefix: display_prefix(secret.expose()),
            limits,
            enabled: input.enabled.unwrap_or(true),
            source: Source::Api,
            used_requests: 0,
            used_tokens: 0,
            used_uploads: 0,
            last_used_at: None,
            created_at: now,
            updated_at: now,
        };
        let row = self
            .change(
                engine,
                move |tx| {
                    if rows::find_by_name(tx, &row.name)?.is_some() {
                        return Err(ControlError::conflict(
                            "name",
                            format!("A client token named {:?} already exists.", row.name),
                        ));
                    }
                    let id = rows::insert(tx, &row)?;
                    rows::get(tx, id)?.ok_or_else(|| not_found(id))
                },
                rows::list,
                |engine, rows| engine.clients.tokens.load(rows),
            )
            .await?;
        Ok(NewToken { row, secret })
    }

    pub async fn update_token(
        &self,
        engine: &Engine,
        id: i64,
        input: TokenInput,
    ) -> Result<TokenRow, ControlError> {
        let catalog = engine.catalog();
        self.change(
            engine,
            move |tx| {
                let row = editable::<TokenRow>(tx, id)?;
                if let Some(name) = &input.name
                    && name.trim() != row.name
                {
                    return Err(ControlError::invalid(
                        "name",
                        "A token's name cannot change (its usage history is kept by name).",
                    ));
                }
                let limits = limits(&input, &row.limits, &catalog)?;
                rows::update(
                    tx,
                    id,
                    &limits,
                    input.enabled.unwrap_or(row.enabled),
                    now_ms(),
                )?;
                rows::get(tx, id)?.ok_or_else(|| not_found(id))
            },
            rows::list,
            |engine, rows| engine.clients.tokens.load(rows),
        )
        .await
    }

    /// Revokes the token for good: its hash is deleted, so its secret opens nothing again.
    /// Its usage history stays, under its name.
    pub async fn delete_token(&self, engine: &Engine, id: i64) -> Result<(), ControlError> {
        self.change(
            engine,
            move |tx| {
                editable::<TokenRow>(tx, id)?;
                rows::delete(tx, id)?;
                Ok(())
            },
            rows::list,
            |engine, rows| engine.clients.tokens.load(rows),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_validate_and_null_removes() {
        let catalog = ModelCatalog::builtin();
        let input: TokenInput = serde_json::from_value(serde_json::json!({
            "expires_at": 5, "quota_requests": 3, "models": ["gpt-4o", "predefined-x"], "rpm": 10
        }))
        .unwrap();
        let set = limits(&input, &TokenLimits::default(), &catalog).unwrap();
        assert_eq!(set.models.as_deref().map(<[String]>::len), Some(2));
        let clear: TokenInput =
            serde_json::from_value(serde_json::json!({"expires_at": null, "rpm": null})).unwrap();
        let cleared = limits(&clear, &set, &catalog).unwrap();
        assert_eq!(
            (cleared.expires_at, cleared.rpm, cleared.quota_requests),
            (None, None, Some(3))
        );
        for (body, field) in [
            (serde_json::json!({"quota_requests": 0}), "quota_requests"),
            (serde_json::json!({"quota_tokens": 0}), "quota_tokens"),
            (serde_json::json!({"rpm": 0}), "rpm"),
            (serde_json::json!({"expires_at": -1}), "expires_at"),
            (serde_json::json!({"models": []}), "models"),
            (
                serde_json::json!({"models": ["gpt-4o", "gpt-9000"]}),
                "models[1]",
            ),
        ] {
            let input: TokenInput = serde_json::from_value(body.clone()).unwrap();
            let err = limits(&input, &TokenLimits::default(), &catalog).unwrap_err();
            assert_eq!(err.field(), Some(field), "{body}");
        }
    }
}
