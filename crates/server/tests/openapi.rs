//! The admin API's OpenAPI document, black box: served without a credential, and every
//! `GET` route's real answer fits the schema it declares.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use common::*;
use serde_json::{Value, json};

/// Every property `schema` names, through `$ref` and `allOf`.
fn properties<'d>(doc: &'d Value, schema: &'d Value, into: &mut BTreeSet<&'d str>) {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.trim_start_matches("#/components/schemas/");
        return properties(doc, &doc["components"]["schemas"][name], into);
    }
    into.extend(
        schema["properties"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| k.as_str()),
    );
    for part in schema["allOf"].as_array().into_iter().flatten() {
        properties(doc, part, into);
    }
}

/// Whether `value` fits `schema` (the subset of JSON Schema the server's document uses:
/// `$ref`, `allOf`, `oneOf`, `type`, `enum`, `properties`, `required`, `items`), and names
/// no field the document does not.
fn fits(doc: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.trim_start_matches("#/components/schemas/");
        return fits(doc, &doc["components"]["schemas"][name], value, at);
    }
    if let Some(options) = schema["oneOf"].as_array() {
        if !options.iter().any(|o| fits(doc, o, value, at).is_ok()) {
            return Err(format!("{at}: {value} fits none of {options:?}"));
        }
    }
    if let Some(choices) = schema["enum"].as_array() {
        if !choices.contains(value) {
            return Err(format!("{at}: {value} is not one of {choices:?}"));
        }
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let kind = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    if !types.is_empty()
        && !types
            .iter()
            .any(|t| *t == kind || (*t == "number" && kind == "integer"))
    {
        return Err(format!(
            "{at}: {value} is {kind}, the document says {types:?}"
        ));
    }
    if let Value::Object(fields) = value {
        let mut named = BTreeSet::new();
        properties(doc, schema, &mut named);
        for part in schema["allOf"].as_array().into_iter().flatten() {
            let mut required = part;
            while let Some(r) = required["$ref"].as_str() {
                required =
                    &doc["components"]["schemas"][r.trim_start_matches("#/components/schemas/")];
            }
            for name in required["required"].as_array().into_iter().flatten() {
                if !fields.contains_key(name.as_str().unwrap()) {
                    return Err(format!("{at}: required {name} is missing"));
                }
            }
        }
        for name in schema["required"].as_array().into_iter().flatten() {
            if !fields.contains_key(name.as_str().unwrap()) {
                return Err(format!("{at}: required {name} is missing"));
            }
        }
        for (name, field) in fields {
            if !named.is_empty() && !named.contains(name.as_str()) {
                return Err(format!("{at}: `{name}` is not in the document"));
            }
            if let Some(s) = field_schema(doc, schema, name) {
                fits(doc, s, field, &format!("{at}.{name}"))?;
            }
        }
    }
    if let (Value::Array(items), Some(item)) = (value, schema.get("items")) {
        for (i, v) in items.iter().enumerate() {
            fits(doc, item, v, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

/// The schema of field `name` of an object `schema`, through `$ref` and `allOf`.
fn field_schema<'d>(doc: &'d Value, schema: &'d Value, name: &str) -> Option<&'d Value> {
    if let Some(reference) = schema["$ref"].as_str() {
        let target = reference.trim_start_matches("#/components/schemas/");
        return field_schema(doc, &doc["components"]["schemas"][target], name);
    }
    schema["properties"].get(name).or_else(|| {
        schema["allOf"]
            .as_array()
            .into_iter()
            .flatten()
            .find_map(|part| field_schema(doc, part, name))
    })
}

#[tokio::test]
async fn the_openapi_document_is_open_and_describes_what_the_routes_answer() {
    let h = Harness::with_keys(&["k1"]).await;
    let response = h.http.get(h.url("/api/openapi.json")).send().await.unwrap();
    assert_eq!(response.status(), 200, "no credential needed");
    let doc: Value = response.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    // Something to show on every page.
    h.admin(
        "POST",
        "/api/tokens",
        Some(json!({"name": "app", "rpm": 5})),
    )
    .await;
    h.chat(json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}))
        .await;
    h.usage().await;
    h.admin(
        "POST",
        "/api/aliases",
        Some(json!({"alias": "house", "endpoint_id": "predefined-kimi-k3"})),
    )
    .await;
    let operations: Vec<&Value> = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|i| i.as_object().unwrap().values())
        .collect();
    let ids: BTreeSet<_> = operations
        .iter()
        .map(|o| o["operationId"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids.len(),
        operations.len(),
        "operation ids are unique: {ids:?}"
    );
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let route = format!("{} {path}", method.to_uppercase());
            let path = path.replace("{id}", "1").replace("{alias}", "house");
            // Only what reads: a GET changes nothing, and the events stream never ends.
            if method != "get" || path.ends_with("/events") {
                continue;
            }
            let path = if path.ends_with("/breakdown") {
                format!("{path}?by=model")
            } else {
                path
            };
            let response = h
                .http
                .get(h.url(&path))
                .bearer_auth(ADMIN)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{route}");
            let body: Value = response.json().await.unwrap();
            let schema = &operation["responses"]["200"]["content"]["application/json"]["schema"];
            fits(&doc, schema, &body, &route).unwrap();
            checked += 1;
        }
    }
    assert!(checked >= 12, "{checked} answers checked");
    // Errors come in the envelope the document names.
    let error = h.admin("GET", "/api/accounts/999", None).await;
    fits(
        &doc,
        &json!({"$ref": "#/components/schemas/Error"}),
        &error.1,
        "error",
    )
    .unwrap();
}
