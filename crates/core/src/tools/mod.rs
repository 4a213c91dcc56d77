//! Tool calling over a text-only upstream.
//!
//! on-demand.io's chat API has no client-defined tools (its `pluginIds` are its own agents),
//! so the proxy emulates them as the tool-call middlewares for models without native tools
//! do: the tools and a calling protocol go into the query's system part ([`render`]), the
//! history's calls and results are written in that protocol, and the answer is parsed for
//! calls ([`parse`]), as it streams or whole, with the same parser.
//!
//! The protocol is Hermes-style `<tool_call>{"name", "arguments"}</tool_call>` blocks, the
//! format most open models are trained on; the parser also takes fenced JSON and the other
//! shapes models write unprompted.

pub mod parse;
pub mod render;

use rand::Rng;
use rand::distr::Alphanumeric;
use serde_json::Value;

use crate::output::Refused;

/// Most tools one request may offer.
pub const MAX_TOOLS: usize = 128;

/// One tool the client offers.
#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    pub name: String,
    pub description: Option<String>,
    /// JSON Schema of the arguments (`{}` when the client gave none).
    pub parameters: Value,
    /// `strict`: the arguments must validate against `parameters` (compiled).
    pub strict: Option<crate::output::Schema>,
}

/// Whether and which tool the model must call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice {
    Auto,
    /// No tool protocol goes into the query.
    None,
    /// At least one call.
    Required,
    /// A call to this tool.
    Named(String),
}

/// The tools of one request, and how they may be used.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSet {
    pub tools: Vec<Tool>,
    pub choice: ToolChoice,
    /// Several calls in one answer are allowed.
    pub parallel: bool,
    /// Offered through the legacy `functions` (answered with `function_call`).
    pub legacy: bool,
}

impl ToolSet {
    /// Whether the tool protocol goes into the query (tools offered, choice not `none`).
    pub fn active(&self) -> bool {
        !self.tools.is_empty() && self.choice != ToolChoice::None
    }

    /// Whether `calls` leave out a call the choice requires (`required`, or a named tool).
    pub fn missing_call(&self, calls: &[ToolCall]) -> bool {
        match &self.choice {
            ToolChoice::Required => calls.is_empty(),
            ToolChoice::Named(name) => !calls.iter().any(|c| &c.name == name),
            ToolChoice::Auto | ToolChoice::None => false,
        }
    }

    /// Why a call's arguments do not validate against its strict tool's schema, if one does
    /// not.
    pub fn invalid_arguments(&self, calls: &[ToolCall]) -> Option<String> {
        calls.iter().find_map(|call| {
            let schema = self
                .tools
                .iter()
                .find(|t| t.name == call.name)?
                .strict
                .as_ref()?;
            let arguments: Value = serde_json::from_str(&call.arguments).ok()?;
            schema.check(&arguments).err().map(|why| {
                format!(
                    "The arguments of `{}` do not follow its schema: {why}.",
                    call.name
                )
            })
        })
    }

    /// The names a call may use.
    pub fn names(&self) -> Vec<String> {
        self.tools.iter().map(|t| t.name.clone()).collect()
    }
}

/// A call the model made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCall {
    /// `call_…`, made by the proxy.
    pub id: String,
    pub name: String,
    /// The arguments as compact JSON text (an object).
    pub arguments: String,
}

impl ToolCall {
    /// What the request log keeps of it: the name and the arguments' size.
    pub fn summary(&self) -> CallSummary {
        CallSummary {
            name: self.name.clone(),
            argument_bytes: self.arguments.len() as u64,
        }
    }
}

/// A fresh call id, `call_` and 24 letters and digits, as OpenAI's look.
pub fn call_id() -> String {
    let suffix: String = rand::rng()
        .sample_iter(Alphanumeric)
        .take(24)
        .map(char::from)
        .collect();
    format!("call_{suffix}")
}

fn refused(param: impl Into<String>, message: impl Into<String>) -> Refused {
    Refused {
        param: param.into(),
        message: message.into(),
    }
}

/// A call an answer made, as the request log keeps it.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
pub struct CallSummary {
    pub name: String,
    /// The size of the arguments' JSON.
    pub argument_bytes: u64,
}

/// A tool name as OpenAI takes it: 1–64 letters, digits, `_` or `-`.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The request's tool fields, as sent.
#[derive(Debug, Default, Clone, Copy)]
pub struct Fields<'a> {
    pub tools: Option<&'a Value>,
    pub tool_choice: Option<&'a Value>,
    pub parallel_tool_calls: Option<bool>,
    pub functions: Option<&'a Value>,
    pub function_call: Option<&'a Value>,
}

/// A field that was sent and is not `null`.
fn present(value: Option<&Value>) -> Option<&Value> {
    value.filter(|v| !v.is_null())
}

/// Reads and checks a request's tools: `None` when it offers none.
pub fn read(fields: Fields<'_>) -> Result<Option<ToolSet>, Refused> {
    let (list, param, legacy) = match (present(fields.tools), present(fields.functions)) {
        (Some(_), Some(_)) => {
            return Err(refused(
                "functions",
                "Send `tools` or the legacy `functions`, not both.",
            ));
        }
        (Some(tools), None) => (tools, "tools", false),
        (None, Some(functions)) => (functions, "functions", true),
        (None, None) => {
            if present(fields.tool_choice).is_some() {
                return Err(refused("tool_choice", "`tool_choice` needs `tools`."));
            }
            return Ok(None);
        }
    };
    let Value::Array(items) = list else {
        return Err(refused(param, format!("`{param}` must be an array.")));
    };
    if items.len() > MAX_TOOLS {
        return Err(refused(
            param,
            format!(
                "At most {MAX_TOOLS} tools per request; got {}.",
                items.len()
            ),
        ));
    }
    let mut tools: Vec<Tool> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = format!("{param}[{i}]");
        let function = if legacy {
            item
        } else {
            match item.get("type").and_then(Value::as_str) {
                Some("function") => {}
                Some(other) => {
                    return Err(refused(
                        format!("{at}.type"),
                        format!("Tools of type `{other}` are not supported; only `function`."),
                    ));
                }
                None => {
                    return Err(refused(
                        format!("{at}.type"),
                        "A tool needs `type: \"function\"`.",
                    ));
                }
            }
            item.get("function")
                .ok_or_else(|| refused(format!("{at}.function"), "A tool needs `function`."))?
        };
        let name = function.get("name").and_then(Value::as_str).unwrap_or("");
        if !valid_name(name) {
            return Err(refused(
                format!("{at}.function.name"),
                format!("`{name}` is not a tool name: 1 to 64 letters, digits, `_` or `-`."),
            ));
        }
        if tools.iter().any(|t| t.name == name) {
            return Err(refused(
                format!("{at}.function.name"),
                format!("The tool `{name}` is offered twice."),
            ));
        }
        let parameters = match function.get("parameters") {
            None | Some(Value::Null) => Value::Object(Default::default()),
            Some(schema @ Value::Object(_)) => schema.clone(),
            Some(_) => {
                return Err(refused(
                    format!("{at}.function.parameters"),
                    "`parameters` must be a JSON Schema object.",
                ));
            }
        };
        let strict = match function.get("strict").and_then(Value::as_bool) {
            Some(true) => Some(
                crate::output::Schema::compile(&parameters)
                    .map_err(|why| refused(format!("{at}.function.parameters"), why))?,
            ),
            _ => None,
        };
        tools.push(Tool {
            name: name.to_owned(),
            description: function
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_owned),
            parameters,
            strict,
        });
    }
    let (choice_param, choice) = if legacy {
        ("function_call", present(fields.function_call))
    } else {
        ("tool_choice", present(fields.tool_choice))
    };
    let choice = match choice {
        None => ToolChoice::Auto,
        Some(Value::String(s)) => match s.as_str() {
            "auto" => ToolChoice::Auto,
            "none" => ToolChoice::None,
            "required" if !legacy => ToolChoice::Required,
            other => {
                return Err(refused(
                    choice_param,
                    format!(
                        "`{choice_param}` must be auto, none, required or a named function; got `{other}`."
                    ),
                ));
            }
        },
        Some(Value::Object(object)) => {
            let name = object
                .get("function")
                .and_then(|f| f.get("name"))
                .or_else(|| object.get("name"))
                .and_then(Value::as_str)
                .unwrap_or("");
            if !tools.iter().any(|t| t.name == name) {
                return Err(refused(
                    choice_param,
                    format!(
                        "`{choice_param}` names `{name}`, which is not among the tools offered."
                    ),
                ));
            }
            ToolChoice::Named(name.to_owned())
        }
        Some(_) => {
            return Err(refused(
                choice_param,
                format!("`{choice_param}` must be a string or a named function."),
            ));
        }
    };
    Ok(Some(ToolSet {
        tools,
        choice,
        parallel: !legacy && fields.parallel_tool_calls != Some(false),
        legacy,
    }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn read_json(body: Value) -> Result<Option<ToolSet>, Refused> {
        read(Fields {
            tools: body.get("tools"),
            tool_choice: body.get("tool_choice"),
            parallel_tool_calls: body.get("parallel_tool_calls").and_then(Value::as_bool),
            functions: body.get("functions"),
            function_call: body.get("function_call"),
        })
    }

    fn weather() -> Value {
        json!({"type": "function", "function": {"name": "get_weather", "description": "Weather now",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}})
    }

    #[test]
    fn tools_and_every_choice_are_read() {
        let set = read_json(json!({"tools": [weather()]})).unwrap().unwrap();
        assert_eq!(set.names(), ["get_weather"]);
        assert_eq!(set.choice, ToolChoice::Auto);
        assert!(set.parallel && set.active() && !set.legacy);
        for (choice, expected) in [
            (json!("none"), ToolChoice::None),
            (json!("required"), ToolChoice::Required),
            (
                json!({"type": "function", "function": {"name": "get_weather"}}),
                ToolChoice::Named("get_weather".into()),
            ),
        ] {
            let set = read_json(json!({"tools": [weather()], "tool_choice": choice}))
                .unwrap()
                .unwrap();
            assert_eq!(set.choice, expected);
        }
        let none = read_json(json!({"tools": [weather()], "tool_choice": "none"})).unwrap();
        assert!(
            !none.unwrap().active(),
            "none puts no protocol in the query"
        );
        let serial = read_json(json!({"tools": [weather()], "parallel_tool_calls": false}));
        assert!(!serial.unwrap().unwrap().parallel);
        assert_eq!(
            read_json(json!({"tools": []})).unwrap().map(|s| s.active()),
            Some(false)
        );
        assert_eq!(read_json(json!({})).unwrap(), None);
    }

    #[test]
    fn legacy_functions_are_read() {
        let set = read_json(json!({
            "functions": [{"name": "f", "parameters": {"type": "object"}}],
            "function_call": {"name": "f"}
        }))
        .unwrap()
        .unwrap();
        assert!(set.legacy && !set.parallel);
        assert_eq!(set.choice, ToolChoice::Named("f".into()));
    }

    #[test]
    fn bad_tools_are_refused_naming_the_field() {
        for (body, param) in [
            (json!({"tools": {"a": 1}}), "tools"),
            (json!({"tools": [{"type": "retrieval"}]}), "tools[0].type"),
            (
                json!({"tools": [{"type": "function"}]}),
                "tools[0].function",
            ),
            (
                json!({"tools": [{"type": "function", "function": {"name": "no spaces"}}]}),
                "tools[0].function.name",
            ),
            (
                json!({"tools": [weather(), weather()]}),
                "tools[1].function.name",
            ),
            (
                json!({"tools": [{"type": "function", "function": {"name": "f", "parameters": "x"}}]}),
                "tools[0].function.parameters",
            ),
            (
                json!({"tools": [weather()], "tool_choice": "always"}),
                "tool_choice",
            ),
            (
                json!({"tools": [weather()], "tool_choice": {"type": "function", "function": {"name": "other"}}}),
                "tool_choice",
            ),
            (json!({"tool_choice": "auto"}), "tool_choice"),
            (
                json!({"tools": [weather()], "functions": [{"name": "f"}]}),
                "functions",
            ),
            (
                json!({"functions": [{"name": "f"}], "function_call": "required"}),
                "function_call",
            ),
        ] {
            let refusal = read_json(body.clone()).unwrap_err();
            assert_eq!(refusal.param, param, "{body}");
            assert!(!refusal.message.is_empty());
        }
        let many: Vec<Value> = (0..=MAX_TOOLS)
            .map(|i| json!({"type": "function", "function": {"name": format!("t{i}")}}))
            .collect();
        assert_eq!(
            read_json(json!({"tools": many})).unwrap_err().param,
            "tools"
        );
    }
}
