//! Raw values from each source and their typing, with errors that name the field, where
//! the value came from and why it is wrong.

use std::time::Duration;

use serde_json::Value;

use super::{ConfigError, Origin};

/// A value before typing: JSON from the file, text from env and flags.
#[derive(Debug, Clone)]
pub(super) enum Raw {
    Json(Value),
    Text(String),
}

pub(super) fn invalid(field: &str, origin: &Origin, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.to_owned(),
        origin: origin.clone(),
        reason: reason.into(),
    }
}

pub(super) fn describe(raw: &Raw) -> String {
    match raw {
        Raw::Json(v) => v.to_string(),
        Raw::Text(t) => format!("{t:?}"),
    }
}

pub(super) fn number(key: &str, raw: &Raw, origin: &Origin) -> Result<f64, ConfigError> {
    let n = match raw {
        Raw::Json(Value::Number(n)) => n.as_f64(),
        Raw::Json(Value::String(s)) | Raw::Text(s) => s.trim().parse::<f64>().ok(),
        Raw::Json(_) => None,
    };
    n.filter(|n| n.is_finite()).ok_or_else(|| {
        invalid(
            key,
            origin,
            format!("expected a number, got {}", describe(raw)),
        )
    })
}

pub(super) fn whole(
    key: &str,
    raw: &Raw,
    origin: &Origin,
    lo: u64,
    hi: u64,
) -> Result<u64, ConfigError> {
    let n = number(key, raw, origin)?;
    if n.fract() != 0.0 || n < lo as f64 || n > hi as f64 {
        return Err(invalid(
            key,
            origin,
            format!(
                "expected a whole number from {lo} to {hi}, got {}",
                describe(raw)
            ),
        ));
    }
    Ok(n as u64)
}

pub(super) fn seconds(
    key: &str,
    raw: &Raw,
    origin: &Origin,
    lo: f64,
    hi: f64,
) -> Result<Duration, ConfigError> {
    let n = number(key, raw, origin)?;
    if n < lo || n > hi {
        return Err(invalid(
            key,
            origin,
            format!("expected seconds from {lo} to {hi}, got {}", describe(raw)),
        ));
    }
    Ok(Duration::from_secs_f64(n))
}

pub(super) fn boolean(key: &str, raw: &Raw, origin: &Origin) -> Result<bool, ConfigError> {
    let text = match raw {
        Raw::Json(Value::Bool(b)) => return Ok(*b),
        Raw::Json(Value::String(s)) | Raw::Text(s) => s.trim().to_ascii_lowercase(),
        Raw::Json(_) => String::new(),
    };
    match text.as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(invalid(
            key,
            origin,
            format!("expected true or false, got {}", describe(raw)),
        )),
    }
}

/// A text setting: it is sent as a header (the user agent), so visible ASCII and spaces
/// only, at most 512 bytes.
pub(super) fn text(key: &str, raw: &Raw, origin: &Origin) -> Result<String, ConfigError> {
    match raw {
        Raw::Json(Value::String(s)) | Raw::Text(s)
            if !s.trim().is_empty() && (!header_safe(s.trim()) || s.trim().len() > 512) =>
        {
            Err(invalid(
                key,
                origin,
                "expected at most 512 visible ASCII characters (no control characters)",
            ))
        }
        Raw::Json(Value::String(s)) | Raw::Text(s) if !s.trim().is_empty() => {
            Ok(s.trim().to_owned())
        }
        _ => Err(invalid(
            key,
            origin,
            format!("expected a non-empty string, got {}", describe(raw)),
        )),
    }
}

pub(super) fn url(key: &str, raw: &Raw, origin: &Origin) -> Result<String, ConfigError> {
    let value = text(key, raw, origin)?;
    match reqwest::Url::parse(&value) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
            Ok(value.trim_end_matches('/').to_owned())
        }
        _ => Err(invalid(
            key,
            origin,
            format!("expected an http(s) URL, got {value:?}"),
        )),
    }
}

/// Text that may be empty (a setting turned off); anything else must be a string.
fn optional_text(key: &str, raw: &Raw, origin: &Origin) -> Result<String, ConfigError> {
    match raw {
        Raw::Json(Value::String(s)) | Raw::Text(s) => Ok(s.trim().to_owned()),
        Raw::Json(Value::Null) => Ok(String::new()),
        _ => Err(invalid(
            key,
            origin,
            format!("expected a string, got {}", describe(raw)),
        )),
    }
}

/// An outbound proxy URL, or empty for none.
pub(super) fn proxy(key: &str, raw: &Raw, origin: &Origin) -> Result<String, ConfigError> {
    let value = optional_text(key, raw, origin)?;
    if value.is_empty() {
        return Ok(value);
    }
    super::ProxyUrl::parse(&value)
        .map(|p| p.expose().to_owned())
        .map_err(|reason| invalid(key, origin, reason))
}

/// A readable PEM file of certificates, or empty for none.
pub(super) fn ca_file(key: &str, raw: &Raw, origin: &Origin) -> Result<String, ConfigError> {
    let value = optional_text(key, raw, origin)?;
    if value.is_empty() {
        return Ok(value);
    }
    super::read_ca_file(std::path::Path::new(&value))
        .map_err(|reason| invalid(key, origin, reason))?;
    Ok(value)
}

/// Whether `value` can be sent as an HTTP header value: visible ASCII and spaces only (an API
/// key or a user agent with anything else would make every upstream call fail).
pub fn header_safe(value: &str) -> bool {
    value.bytes().all(|b| (0x20..=0x7e).contains(&b))
}
