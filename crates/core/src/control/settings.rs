//! Settings and model aliases.

use serde::Serialize;
use serde_json::{Map, Value};

use super::{Control, ControlError, apply_aliases, apply_patterns};
use crate::clock::now_ms;
use crate::config::{
    self, Choice, Group, KindName, Origin, SETTINGS, Words, is_live_setting, is_setting,
    settings_json,
};
use crate::engine::Engine;
use crate::models::Pattern;
use crate::models::{ModelCatalog, PASSTHROUGH_PREFIXES};
use crate::store::{aliases, patterns, settings as rows};

/// One setting as the admin API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = Setting)]
pub struct SettingView {
    pub key: &'static str,
    pub value: Value,
    /// What a reset brings back (the built-in default, or the start-up configuration's).
    pub default: Value,
    pub source: SettingSource,
    /// Whether the admin API may change it: not when config pins it, nor for settings that
    /// apply at the next start only.
    pub editable: bool,
    /// Why it cannot be changed here, when it cannot.
    pub locked_reason: Option<String>,
    pub env: &'static str,
    pub flag: &'static str,
    pub kind: KindName,
    /// The values a `choice` takes.
    pub choices: &'static [Choice],
    /// The range of a number.
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub group: Group,
    /// Changes apply at once (`false`: at the next start).
    pub live: bool,
    pub label: Words,
    pub help: Words,
}

/// Where a setting's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SettingSource {
    Default,
    Dashboard,
    ConfigFile,
    Environment,
    Flag,
}

/// Where an alias comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AliasSource {
    /// Shipped in `models.json`.
    Builtin,
    /// Added or overridden here.
    Custom,
}

/// One model alias as the admin API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = Alias)]
pub struct AliasView {
    pub alias: String,
    pub endpoint_id: String,
    pub source: AliasSource,
    /// A custom alias that replaces a built-in one of the same name.
    pub overrides_builtin: bool,
    /// Whether the live catalogue lists its target as active; `None` while no catalogue is
    /// known (then every alias is offered).
    pub target_available: Option<bool>,
}

/// The model patterns as the admin API shows them.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PatternsView {
    pub data: Vec<PatternView>,
    /// The list is the shipped one (nothing edited, or reset).
    pub builtin: bool,
}

/// One pattern, and what it resolves to now.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PatternView {
    pub pattern: String,
    pub targets: Vec<String>,
    /// The target used now: the first the live catalogue has active (the first, while no
    /// catalogue is known); `None` when none of them is available.
    pub resolves_to: Option<String>,
}

/// Most patterns in the list, and targets per pattern.
const MAX_PATTERNS: usize = 64;
const MAX_TARGETS: usize = 16;

impl Control {
    pub async fn patterns(&self, engine: &Engine) -> Result<PatternsView, ControlError> {
        let stored = self.store.read(patterns::list).await?;
        let live = engine.endpoints();
        let catalog = engine.catalog();
        Ok(PatternsView {
            builtin: stored.is_empty(),
            data: catalog
                .patterns()
                .iter()
                .map(|p| PatternView {
                    pattern: p.pattern.clone(),
                    targets: p.targets.clone(),
                    resolves_to: p.target(&live).map(str::to_owned),
                })
                .collect(),
        })
    }

    /// Replaces the whole ordered list of patterns; an empty list brings the built-in one
    /// back.
    pub async fn put_patterns(
        &self,
        engine: &Engine,
        list: Vec<Pattern>,
    ) -> Result<(), ControlError> {
        if list.len() > MAX_PATTERNS {
            return Err(ControlError::invalid(
                "patterns",
                format!("At most {MAX_PATTERNS} patterns."),
            ));
        }
        let mut checked = Vec::with_capacity(list.len());
        for (i, p) in list.into_iter().enumerate() {
            let at = |field: &str| format!("patterns[{i}].{field}");
            let pattern = p.pattern.trim();
            if pattern.is_empty()
                || pattern.len() > 128
                || pattern.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                return Err(ControlError::invalid(
                    at("pattern"),
                    "A pattern is 1 to 128 characters without spaces; `*` matches any run of characters.",
                ));
            }
            if p.targets.is_empty() || p.targets.len() > MAX_TARGETS {
                return Err(ControlError::invalid(
                    at("targets"),
                    format!("A pattern needs 1 to {MAX_TARGETS} endpoint ids, best first."),
                ));
            }
            let targets = p
                .targets
                .iter()
                .enumerate()
                .map(|(j, t)| {
                    check_endpoint(t).map_err(|e| {
                        ControlError::invalid(at(&format!("targets[{j}]")), e.to_string())
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            checked.push(Pattern {
                pattern: pattern.to_owned(),
                targets,
            });
        }
        self.change(
            engine,
            move |tx| Ok(patterns::replace(tx, &checked, now_ms())?),
            patterns::list,
            apply_patterns,
        )
        .await
    }

    pub fn settings_view(&self, engine: &Engine) -> Vec<SettingView> {
        let values = settings_json(&engine.settings());
        let defaults = settings_json(&self.base);
        let stored = self.stored_lock().clone();
        SETTINGS
            .iter()
            .map(|f| {
                let pinned = self.pinned.origin(f.key);
                let source = match pinned {
                    Some(Origin::File(_)) => SettingSource::ConfigFile,
                    Some(Origin::Env(_)) => SettingSource::Environment,
                    Some(Origin::Flag(_)) => SettingSource::Flag,
                    Some(Origin::Stored) | None if stored.contains_key(f.key) => {
                        SettingSource::Dashboard
                    }
                    _ => SettingSource::Default,
                };
                let locked_reason = match pinned {
                    Some(origin) => Some(format!("Set {origin}; change it there.")),
                    None if !f.live => Some(format!(
                        "Applies at start only; set {} or the config file.",
                        f.env
                    )),
                    None => None,
                };
                SettingView {
                    key: f.key,
                    value: values.get(f.key).cloned().unwrap_or(Value::Null),
                    default: defaults.get(f.key).cloned().unwrap_or(Value::Null),
                    source,
                    editable: locked_reason.is_none(),
                    locked_reason,
                    env: f.env,
                    flag: f.flag,
                    kind: f.kind.name(),
                    choices: f.kind.choices(),
                    min: f.kind.range().map(|r| r.0),
                    max: f.kind.range().map(|r| r.1),
                    group: f.group,
                    live: f.live,
                    label: f.label,
                    help: f.help,
                }
            })
            .collect()
    }

    /// Applies `changes` (`key → value`, `null` back to the default) as one change: all
    /// valid, stored and live, or none.
    pub async fn update_settings(
        &self,
        engine: &Engine,
        changes: Map<String, Value>,
    ) -> Result<(), ControlError> {
        if changes.is_empty() {
            return Err(ControlError::invalid(
                "settings",
                "Send at least one setting to change.",
            ));
        }
        for key in changes.keys() {
            if !is_setting(key) {
                return Err(ControlError::invalid(
                    key.clone(),
                    format!("Unknown setting `{key}`."),
                ));
            }
            if let Some(origin) = self.pinned.origin(key) {
                return Err(ControlError::conflict(
                    key.clone(),
                    format!("`{key}` is set {origin}; change it there."),
                ));
            }
            if !is_live_setting(key) {
                return Err(ControlError::invalid(
                    key.clone(),
                    format!(
                        "`{key}` applies at start only; set it in the config file or environment."
                    ),
                ));
            }
        }
        let _order = self.order.lock().await;
        let mut changes = changes;
        // The dashboard shows a proxy's password masked; the masked URL sent back keeps it.
        let current = engine.settings();
        if let Some(Value::String(proxy)) = changes.get_mut("upstream_proxy") {
            *proxy = config::ProxyUrl::unmask(proxy, current.upstream_proxy.as_ref());
        }
        let mut next = self.stored_lock().clone();
        for (key, value) in &changes {
            if value.is_null() {
                next.remove(key);
            } else {
                next.insert(key.clone(), value.clone());
            }
        }
        let settings =
            config::settings_with(&self.base, &self.pinned, &next).map_err(|e| match e {
                config::ConfigError::Invalid { field, reason, .. } => {
                    ControlError::invalid(field.clone(), format!("`{field}`: {reason}."))
                }
                other => ControlError::invalid("settings", other.to_string()),
            })?;
        self.store
            .write(move |tx| -> Result<(), ControlError> {
                Ok(rows::save(tx, &changes, now_ms())?)
            })
            .await?;
        *self.stored_lock() = next;
        engine.set_settings(settings);
        Ok(())
    }

    pub async fn aliases(&self, engine: &Engine) -> Result<Vec<AliasView>, ControlError> {
        let custom = self.store.read(aliases::list).await?;
        let live = engine.endpoints();
        Ok(engine
            .catalog()
            .aliases()
            .map(|(alias, endpoint)| {
                let is_custom = custom.iter().any(|c| c.alias.eq_ignore_ascii_case(alias));
                AliasView {
                    alias: alias.to_owned(),
                    endpoint_id: endpoint.to_owned(),
                    source: if is_custom {
                        AliasSource::Custom
                    } else {
                        AliasSource::Builtin
                    },
                    overrides_builtin: is_custom && ModelCatalog::is_builtin(alias),
                    target_available: live.is_known().then(|| live.available(endpoint)),
                }
            })
            .collect())
    }

    /// Adds an alias, or replaces one (a built-in one is overridden, not lost). With
    /// `create_only`, an existing custom alias of that name is a conflict.
    pub async fn put_alias(
        &self,
        engine: &Engine,
        alias: &str,
        endpoint_id: &str,
        create_only: bool,
    ) -> Result<(), ControlError> {
        let alias = check_alias(alias)?;
        let endpoint_id = check_endpoint(endpoint_id)?;
        self.change(
            engine,
            move |tx| {
                let exists = aliases::list(tx)?
                    .iter()
                    .any(|a| a.alias.eq_ignore_ascii_case(&alias));
                if create_only && exists {
                    return Err(ControlError::conflict(
                        "alias",
                        format!("The alias {alias:?} already exists."),
                    ));
                }
                aliases::upsert(tx, &alias, &endpoint_id, now_ms())?;
                Ok(())
            },
            aliases::list,
            apply_aliases,
        )
        .await
    }

    /// Deletes a custom alias; a built-in alias it overrode comes back.
    pub async fn delete_alias(&self, engine: &Engine, alias: &str) -> Result<(), ControlError> {
        let alias = alias.to_owned();
        self.change(engine, move |tx| {
            if aliases::delete(tx, &alias)? {
                return Ok(());
            }
            if ModelCatalog::is_builtin(&alias) {
                return Err(ControlError::invalid("alias", format!("{alias:?} is built in and cannot be deleted; override it with another endpoint instead.")));
            }
            Err(ControlError::NotFound { what: "alias", id: alias })
        }, aliases::list, apply_aliases)
        .await
    }
}

pub(super) fn check_alias(alias: &str) -> Result<String, ControlError> {
    let alias = alias.trim();
    if alias.is_empty()
        || alias.len() > 128
        || alias.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(ControlError::invalid(
            "alias",
            "`alias` must be 1 to 128 characters without spaces.",
        ));
    }
    if PASSTHROUGH_PREFIXES.iter().any(|p| alias.starts_with(p)) {
        return Err(ControlError::invalid(
            "alias",
            "Names starting with predefined- or byoi- already pass through unchanged; choose another alias.",
        ));
    }
    Ok(alias.to_owned())
}

pub(super) fn check_endpoint(endpoint_id: &str) -> Result<String, ControlError> {
    let endpoint_id = endpoint_id.trim();
    let valid = !endpoint_id.is_empty()
        && endpoint_id.len() <= 128
        && endpoint_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c));
    if !valid {
        return Err(ControlError::invalid(
            "endpoint_id",
            "`endpoint_id` must be an on-demand.io endpoint id such as predefined-openai-gpt4o.",
        ));
    }
    Ok(endpoint_id.to_owned())
}
