//! The live endpoint catalogue: which on-demand.io endpoints exist now, which are active,
//! and which account sees which (§14.1 of the upstream contract).
//!
//! The upstream retires endpoint ids every month, so a static alias table goes stale; the
//! catalogue is read from `GET /config/v1/public/endpoints` for every API-key account and
//! kept here (and in SQLite, so a restart starts from the last good one). Invariants:
//!
//! - Parsing is tolerant: any envelope (a bare array, `{data:[…]}`, `{data:{endpoints:[…]}}`,
//!   or one array-valued field), unknown fields ignored, optional fields optional.
//! - A failed refresh keeps the account's last good list and records the error; nothing
//!   empties the catalogue but a successful answer that lists nothing.
//! - With no successful read at all ([`EndpointCatalog::is_known`] false: offline, a route the
//!   upstream lacks, email/password accounts only) the proxy behaves as before: the alias
//!   table is the catalogue and native ids pass through.
//! - An account with no list of its own is not restricted by the others' lists.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

/// One upstream endpoint as the catalogue describes it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = UpstreamEndpoint)]
pub struct Endpoint {
    /// The native id sent as `endpointId` (`predefined-…`, `byoi-…`).
    pub id: String,
    pub name: Option<String>,
    pub model_id: Option<String>,
    pub active: bool,
    pub premium: bool,
    /// The `reasoningEffort` values the endpoint takes; empty: it takes none.
    pub reasoning_efforts: Vec<String>,
    pub context_length: Option<u64>,
    pub streaming: bool,
    /// When a refresh last listed it (Unix ms).
    pub last_seen_ms: i64,
}

impl Endpoint {
    /// The OpenAI-style name clients use: the native id without `predefined-`, lower case,
    /// `_` as `-` (`predefined-muse_spark_1.3` → `muse-spark-1.3`). `byoi-…` ids have none:
    /// they are a person's own endpoints, known by their id.
    pub fn clean_id(&self) -> Option<String> {
        clean_id(&self.id)
    }
}

/// See [`Endpoint::clean_id`].
pub fn clean_id(id: &str) -> Option<String> {
    let rest = id.strip_prefix("predefined-")?;
    (!rest.is_empty()).then(|| rest.to_ascii_lowercase().replace('_', "-"))
}

/// What one account's last reads of the catalogue gave.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AccountView {
    /// When a read last succeeded (Unix ms); `None` if none ever did.
    pub ok_ms: Option<i64>,
    /// The last read's error, if the last read failed (the list is then the last good one).
    pub error: Option<String>,
    pub error_ms: Option<i64>,
    /// The endpoint ids the last good read listed.
    pub endpoints: BTreeSet<String>,
}

/// The catalogue over every account. Cheap to read; replaced whole on every change.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EndpointCatalog {
    endpoints: BTreeMap<String, Endpoint>,
    accounts: BTreeMap<String, AccountView>,
}

/// Largest catalogue answer read (the real one is ~100 small objects).
pub const MAX_CATALOGUE_BYTES: usize = 4 * 1024 * 1024;

impl EndpointCatalog {
    pub fn from_parts(
        endpoints: impl IntoIterator<Item = Endpoint>,
        accounts: impl IntoIterator<Item = (String, AccountView)>,
    ) -> Self {
        Self {
            endpoints: endpoints.into_iter().map(|e| (e.id.clone(), e)).collect(),
            accounts: accounts.into_iter().collect(),
        }
    }

    /// Whether any account has read the catalogue successfully.
    pub fn is_known(&self) -> bool {
        self.accounts.values().any(|a| a.ok_ms.is_some())
    }

    pub fn endpoints(&self) -> impl Iterator<Item = &Endpoint> {
        self.endpoints.values()
    }

    pub fn accounts(&self) -> impl Iterator<Item = (&str, &AccountView)> {
        self.accounts.iter().map(|(n, v)| (n.as_str(), v))
    }

    pub fn get(&self, id: &str) -> Option<&Endpoint> {
        self.endpoints.get(id)
    }

    /// The accounts whose last good list has `id`.
    pub fn seen_by(&self, id: &str) -> Vec<&str> {
        self.accounts
            .iter()
            .filter(|(_, v)| v.endpoints.contains(id))
            .map(|(n, _)| n.as_str())
            .collect()
    }

    /// Active, and listed by some account now.
    pub fn available(&self, id: &str) -> bool {
        self.endpoints.get(id).is_some_and(|e| e.active)
            && self.accounts.values().any(|v| v.endpoints.contains(id))
    }

    /// Whether `account` may be sent to `id`: yes unless it has a list of its own that
    /// lacks it (an account without a list is not judged by the others').
    pub fn visible_to(&self, id: &str, account: &str) -> bool {
        self.accounts
            .get(account)
            .is_none_or(|v| v.ok_ms.is_none() || v.endpoints.contains(id))
    }

    /// The available endpoints, in id order.
    pub fn available_endpoints(&self) -> impl Iterator<Item = &Endpoint> {
        self.endpoints.values().filter(|e| self.available(&e.id))
    }

    /// The native id behind a clean name (`gpt-5.6-luna`), if an available endpoint has it.
    pub fn by_clean_id(&self, name: &str) -> Option<&Endpoint> {
        let name = name.to_ascii_lowercase();
        self.available_endpoints()
            .find(|e| e.clean_id().as_deref() == Some(name.as_str()))
    }

    /// The catalogue after one account's read: a success replaces its list and refreshes
    /// the endpoints it names; a failure keeps its last good list and notes the error.
    pub fn with_read(
        &self,
        account: &str,
        read: Result<Vec<Endpoint>, String>,
        now_ms: i64,
    ) -> Self {
        let mut next = self.clone();
        let view = next.accounts.entry(account.to_owned()).or_default();
        match read {
            Ok(endpoints) => {
                view.ok_ms = Some(now_ms);
                view.error = None;
                view.error_ms = None;
                view.endpoints = endpoints.iter().map(|e| e.id.clone()).collect();
                for endpoint in endpoints {
                    next.endpoints.insert(endpoint.id.clone(), endpoint);
                }
            }
            Err(error) => {
                view.error = Some(error);
                view.error_ms = Some(now_ms);
            }
        }
        next
    }

    /// The catalogue with only these accounts' views (the others were removed or renamed),
    /// and only the endpoints some account still lists or that were seen in the last
    /// `keep_ms` (so an inactive endpoint stays visible as inactive for a while).
    pub fn retain_accounts(&self, names: &[&str], now_ms: i64, keep_ms: i64) -> Self {
        let mut next = self.clone();
        next.accounts
            .retain(|name, _| names.contains(&name.as_str()));
        let listed: BTreeSet<&String> = next.accounts.values().flat_map(|v| &v.endpoints).collect();
        let keep: BTreeSet<String> = next
            .endpoints
            .values()
            .filter(|e| listed.contains(&e.id) || now_ms - e.last_seen_ms <= keep_ms)
            .map(|e| e.id.clone())
            .collect();
        next.endpoints.retain(|id, _| keep.contains(id));
        next
    }
}

/// Reads a catalogue answer (§14.1), tolerant of its envelope and of missing fields.
pub fn parse(body: &[u8], now_ms: i64) -> Result<Vec<Endpoint>, String> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| format!("the endpoint catalogue is not JSON ({e})"))?;
    let items = list_in(&value)
        .ok_or_else(|| "the endpoint catalogue answer holds no list of endpoints".to_owned())?;
    Ok(items.iter().filter_map(|v| endpoint(v, now_ms)).collect())
}

/// The list of endpoints in an answer: a bare array, `data` as an array, `data.endpoints`,
/// or the one array-valued field of the answer or of its `data`.
fn list_in(value: &Value) -> Option<&Vec<Value>> {
    fn only_array(map: &serde_json::Map<String, Value>) -> Option<&Vec<Value>> {
        let mut arrays = map.values().filter_map(Value::as_array);
        match (arrays.next(), arrays.next()) {
            (Some(only), None) => Some(only),
            _ => None,
        }
    }
    match value {
        Value::Array(items) => Some(items),
        Value::Object(map) => match map.get("data") {
            Some(Value::Array(items)) => Some(items),
            Some(Value::Object(data)) => data
                .get("endpoints")
                .and_then(Value::as_array)
                .or_else(|| only_array(data)),
            _ => map
                .get("endpoints")
                .and_then(Value::as_array)
                .or_else(|| only_array(map)),
        },
        _ => None,
    }
}

fn endpoint(value: &Value, now_ms: i64) -> Option<Endpoint> {
    let text = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| value.get(*k).and_then(Value::as_str))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let id = text(&["endpoint_id", "endpointId", "id"])?;
    if id.len() > 200 || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return None;
    }
    let flag = |key: &str, default: bool| match value.get(key) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => matches!(s.to_ascii_lowercase().as_str(), "true" | "yes" | "1"),
        Some(Value::Number(n)) => n.as_f64().is_some_and(|n| n != 0.0),
        _ => default,
    };
    let active = match value.get("status").and_then(Value::as_str) {
        Some(status) => status.eq_ignore_ascii_case("active"),
        None => flag("active", true),
    };
    let reasoning_efforts = value
        .get("reasoning_efforts")
        .or_else(|| value.get("reasoningEfforts"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_ascii_lowercase)
                .collect()
        })
        .unwrap_or_default();
    let context_length = value
        .get("context_length")
        .or_else(|| value.get("contextLength"))
        .and_then(|v| {
            v.as_u64()
                .or_else(|| v.as_f64().filter(|f| *f > 0.0).map(|f| f as u64))
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        })
        .filter(|n| *n > 0);
    Some(Endpoint {
        name: text(&["endpoint_name", "endpointName", "name"]),
        model_id: text(&["model_id", "modelId"]),
        active,
        premium: flag("is_premium", false) || flag("isPremium", false),
        reasoning_efforts,
        context_length,
        streaming: flag("streaming_supported", true),
        last_seen_ms: now_ms,
        id,
    })
}

/// Up to three names from `candidates` closest to `wanted`: same family first (the part
/// before the first `-` or digit, `claude` in `claude-3.7-sonnet`), then fewest edits.
pub fn nearest<'a>(wanted: &str, candidates: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let wanted = wanted.to_ascii_lowercase();
    let family = |s: &str| -> String {
        s.split(|c: char| c == '-' || c.is_ascii_digit())
            .next()
            .unwrap_or("")
            .to_owned()
    };
    let wanted_family = family(&wanted);
    let mut scored: Vec<(bool, usize, &str)> = candidates
        .into_iter()
        .map(|c| {
            let lower = c.to_ascii_lowercase();
            (
                family(&lower) != wanted_family,
                edit_distance(&wanted, &lower),
                c,
            )
        })
        .collect();
    scored.sort();
    scored.into_iter().take(3).map(|(_, _, c)| c).collect()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
#[path = "endpoints_tests.rs"]
mod tests;
