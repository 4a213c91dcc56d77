//! Structured output over a text-only upstream: `response_format` (`json_object`, or
//! `json_schema` with a schema) is honoured through instructions in the query's system part,
//! extraction of the JSON from the answer (a code fence or prose around it is stripped), and
//! validation against the schema. An answer that does not fit gets one corrective follow-up
//! (as a required tool call left out does); the same check serves tool arguments of tools
//! declared `strict`.

use std::sync::Arc;

use serde_json::Value;

/// Why a request's tools or answer format were refused: the parameter at fault and what is
/// wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub param: String,
    pub message: String,
}

/// Largest schema accepted, as JSON text.
const MAX_SCHEMA_BYTES: usize = 64 * 1024;

/// A compiled JSON Schema.
#[derive(Clone)]
pub struct Schema {
    pub schema: Value,
    validator: Arc<jsonschema::Validator>,
}

impl std::fmt::Debug for Schema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schema")
            .field("schema", &self.schema)
            .finish()
    }
}

impl PartialEq for Schema {
    fn eq(&self, other: &Self) -> bool {
        self.schema == other.schema
    }
}

impl Schema {
    /// Compiles `schema`; why not, when it is no schema (or reaches outside itself: no
    /// reference is fetched).
    pub fn compile(schema: &Value) -> Result<Self, String> {
        if schema.to_string().len() > MAX_SCHEMA_BYTES {
            return Err(format!("The schema is over {MAX_SCHEMA_BYTES} bytes."));
        }
        jsonschema::validator_for(schema)
            .map(|v| Self {
                schema: schema.clone(),
                validator: Arc::new(v),
            })
            .map_err(|e| format!("The schema is not a valid JSON Schema: {e}"))
    }

    /// Why `value` does not validate, if it does not.
    pub fn check(&self, value: &Value) -> Result<(), String> {
        self.validator.validate(value).map_err(|e| {
            let at = e.instance_path().to_string();
            if at.is_empty() {
                e.to_string()
            } else {
                format!("at {at}: {e}")
            }
        })
    }
}

/// What shape the answer must have.
#[derive(Debug, Clone, PartialEq)]
pub enum Format {
    /// One JSON object.
    JsonObject,
    /// JSON that validates against a schema.
    JsonSchema {
        name: Option<String>,
        schema: Schema,
    },
}

fn refused(param: &str, message: impl Into<String>) -> Refused {
    Refused {
        param: param.to_owned(),
        message: message.into(),
    }
}

/// Reads `response_format`: `None` for none or `text`.
pub fn read(value: Option<&Value>) -> Result<Option<Format>, Refused> {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    match value.get("type").and_then(Value::as_str) {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(Format::JsonObject)),
        Some("json_schema") => {
            let spec = value.get("json_schema").ok_or_else(|| {
                refused(
                    "response_format.json_schema",
                    "`json_schema` needs its `schema`.",
                )
            })?;
            let schema = match spec.get("schema") {
                Some(schema @ (Value::Object(_) | Value::Bool(_))) => schema,
                _ => {
                    return Err(refused(
                        "response_format.json_schema.schema",
                        "`json_schema.schema` must be a JSON Schema object.",
                    ));
                }
            };
            let schema = Schema::compile(schema)
                .map_err(|why| refused("response_format.json_schema.schema", why))?;
            Ok(Some(Format::JsonSchema {
                name: spec.get("name").and_then(Value::as_str).map(str::to_owned),
                schema,
            }))
        }
        other => Err(refused(
            "response_format.type",
            format!(
                "`response_format.type` must be text, json_object or json_schema; got {}.",
                other.unwrap_or("nothing")
            ),
        )),
    }
}

impl Format {
    /// The format's name in `response_format.type`.
    pub fn name(&self) -> &'static str {
        match self {
            Format::JsonObject => "json_object",
            Format::JsonSchema { .. } => "json_schema",
        }
    }

    /// The system part that asks for the format.
    pub fn instructions(&self) -> String {
        match self {
            Format::JsonObject => "# Answer format\n\nAnswer with one JSON object and nothing else: no prose before or after it, no code fence.".to_owned(),
            Format::JsonSchema { name, schema } => format!(
                "# Answer format\n\nAnswer with one JSON value that validates against this JSON Schema{}, and nothing else: no prose before or after it, no code fence.\n<schema>\n{}\n</schema>",
                name.as_deref().map(|n| format!(" (`{n}`)")).unwrap_or_default(),
                schema.schema
            ),
        }
    }

    /// The answer's JSON, as written, when it has the format; else why not.
    pub fn check<'a>(&self, answer: &'a str) -> Result<&'a str, String> {
        let json = extract(answer).ok_or("The answer holds no JSON.")?;
        let value: Value = serde_json::from_str(json)
            .map_err(|e| format!("The answer's JSON is invalid: {e}."))?;
        match self {
            Format::JsonObject if !value.is_object() => {
                Err("The answer's JSON is not an object.".to_owned())
            }
            Format::JsonObject => Ok(json),
            Format::JsonSchema { schema, .. } => schema
                .check(&value)
                .map(|()| json)
                .map_err(|why| format!("The answer does not validate against the schema {why}.")),
        }
    }

    /// The follow-up sent when the answer did not have the format.
    pub fn correction(&self, why: &str) -> String {
        format!(
            "{why} Answer again with only the JSON, in the format given: no prose, no code fence."
        )
    }
}

/// The JSON in an answer: inside a code fence if there is one, else from the first `{` or
/// `[` to the last matching `}` or `]`.
pub fn extract(answer: &str) -> Option<&str> {
    let text = answer.trim();
    if let Some(start) = text.find("```") {
        let after = &text[start + 3..];
        let body_start = after.find('\n').map_or(0, |n| n + 1);
        let body = &after[body_start..];
        let body = body.find("```").map_or(body, |end| &body[..end]);
        if !body.trim().is_empty() {
            return Some(body.trim());
        }
    }
    let open = text.find(['{', '['])?;
    let close_char = if text[open..].starts_with('{') {
        '}'
    } else {
        ']'
    };
    let close = text.rfind(close_char)?;
    (close > open).then(|| &text[open..=close])
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn schema() -> Format {
        read(Some(&json!({"type": "json_schema", "json_schema": {"name": "person",
            "schema": {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
                       "required": ["name", "age"], "additionalProperties": false}}})))
        .unwrap()
        .unwrap()
    }

    #[test]
    fn formats_are_read_and_bad_ones_refused_naming_the_field() {
        assert_eq!(read(None).unwrap(), None);
        assert_eq!(read(Some(&json!({"type": "text"}))).unwrap(), None);
        assert_eq!(
            read(Some(&json!({"type": "json_object"}))).unwrap(),
            Some(Format::JsonObject)
        );
        assert!(matches!(schema(), Format::JsonSchema { name: Some(n), .. } if n == "person"));
        for (value, param) in [
            (json!({"type": "xml"}), "response_format.type"),
            (
                json!({"type": "json_schema"}),
                "response_format.json_schema",
            ),
            (
                json!({"type": "json_schema", "json_schema": {"schema": 3}}),
                "response_format.json_schema.schema",
            ),
            (
                json!({"type": "json_schema", "json_schema": {"schema": {"type": "no-such-type"}}}),
                "response_format.json_schema.schema",
            ),
            (
                json!({"type": "json_schema", "json_schema": {"schema": {"$ref": "https://example.com/s.json"}}}),
                "response_format.json_schema.schema",
            ),
        ] {
            assert_eq!(read(Some(&value)).unwrap_err().param, param, "{value}");
        }
    }

    #[test]
    fn the_json_is_found_in_fences_and_prose_and_checked() {
        let person = schema();
        assert_eq!(
            person.check("{\"name\": \"Ann\", \"age\": 3}"),
            Ok("{\"name\": \"Ann\", \"age\": 3}")
        );
        assert_eq!(
            person.check(
                "Here you go:\n```json\n{\"name\": \"Ann\", \"age\": 3}\n```\nAnything else?"
            ),
            Ok("{\"name\": \"Ann\", \"age\": 3}")
        );
        assert_eq!(
            person.check("Sure! {\"name\": \"Ann\", \"age\": 3} Done."),
            Ok("{\"name\": \"Ann\", \"age\": 3}")
        );
        assert!(
            person
                .check("{\"name\": \"Ann\"}")
                .unwrap_err()
                .contains("age")
        );
        assert!(
            person
                .check("{\"name\": \"Ann\", \"age\": \"three\"}")
                .unwrap_err()
                .contains("/age")
        );
        assert!(person.check("no json at all").is_err());
        assert!(
            person.check("{\"name\": \"Ann\", \"age\": 3").is_err(),
            "cut off"
        );
        assert!(Format::JsonObject.check("[1, 2]").is_err());
        assert_eq!(Format::JsonObject.check("```\n{}\n```"), Ok("{}"));
        assert!(
            person
                .instructions()
                .contains("\"required\":[\"name\",\"age\"]")
        );
    }
}
