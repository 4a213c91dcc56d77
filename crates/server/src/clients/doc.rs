//! The two kinds of agent config file, edited key by key while everything else stays as the
//! user wrote it: JSON (Claude Code's `settings.json`: objects keep their key order, and a
//! value the edit does not reach is written back as its original text) and TOML (Codex's
//! `config.toml`, through `toml_edit`, comments and layout kept).
//!
//! A key is a path of names (`["env", "ANTHROPIC_BASE_URL"]`). Values are set as strings;
//! what was there before is kept as its source text, to be put back as it was.

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

/// A config file being edited.
pub(crate) enum Doc {
    Json { root: Object, newline: bool },
    Toml(toml_edit::DocumentMut),
}

/// Why a key could not be set.
#[derive(Debug, thiserror::Error)]
pub enum DocError {
    #[error("it is not valid {kind}: {message}")]
    Invalid { kind: &'static str, message: String },
    #[error("`{0}` holds a value where a table of settings belongs")]
    NotATable(String),
    #[error("`{0}` holds a table where a value belongs")]
    NotAValue(String),
}

impl Doc {
    /// Parses `text` (`None`: the file does not exist yet) as JSON or TOML.
    pub fn parse(toml: bool, text: Option<&str>) -> Result<Self, DocError> {
        let text = text.unwrap_or_default();
        if toml {
            let doc = text.parse::<toml_edit::DocumentMut>();
            return doc.map(Doc::Toml).map_err(|e| DocError::Invalid {
                kind: "TOML",
                message: e.to_string().trim().to_owned(),
            });
        }
        let root = if text.trim().is_empty() {
            Object::default()
        } else {
            serde_json::from_str(text).map_err(|e| DocError::Invalid {
                kind: "JSON (an object)",
                message: e.to_string(),
            })?
        };
        Ok(Doc::Json {
            root,
            newline: text.is_empty() || text.ends_with('\n'),
        })
    }

    /// The string at `path`, if there is one.
    pub fn get_str(&self, path: &[&str]) -> Option<String> {
        match self {
            Doc::Json { root, .. } => match root.get(path)? {
                Node::Raw(raw) => serde_json::from_str::<String>(raw.get()).ok(),
                Node::Object(_) => None,
            },
            Doc::Toml(doc) => toml_item(doc, path)?.as_str().map(str::to_owned),
        }
    }

    /// Whatever is at `path`, as source text (to be put back by [`Doc::put_source`]).
    pub fn get_source(&self, path: &[&str]) -> Option<String> {
        match self {
            Doc::Json { root, .. } => Some(match root.get(path)? {
                Node::Raw(raw) => raw.get().to_owned(),
                node => serde_json::to_string(&node).ok()?,
            }),
            Doc::Toml(doc) => match toml_item(doc, path)? {
                toml_edit::Item::Value(value) => Some(value.clone().decorated("", "").to_string()),
                _ => None,
            },
        }
    }

    /// Sets the string at `path`, making the tables on the way; the paths of the tables it
    /// made are added to `made`.
    pub fn set_str(
        &mut self,
        path: &[&str],
        value: &str,
        made: &mut Vec<Vec<String>>,
    ) -> Result<(), DocError> {
        match self {
            Doc::Json { root, .. } => {
                let raw =
                    serde_json::value::to_raw_value(value).map_err(|e| DocError::Invalid {
                        kind: "JSON",
                        message: e.to_string(),
                    })?;
                root.set(path, Node::Raw(raw), made)
            }
            Doc::Toml(doc) => toml_set(doc, path, toml_edit::Value::from(value), made),
        }
    }

    /// Puts back what [`Doc::get_source`] read.
    pub fn put_source(&mut self, path: &[&str], source: &str) -> Result<(), DocError> {
        let mut made = Vec::new();
        match self {
            Doc::Json { root, .. } => {
                let raw =
                    RawValue::from_string(source.to_owned()).map_err(|e| DocError::Invalid {
                        kind: "JSON",
                        message: e.to_string(),
                    })?;
                root.set(path, Node::Raw(raw), &mut made)
            }
            Doc::Toml(doc) => {
                let value = source
                    .parse::<toml_edit::Value>()
                    .map_err(|e| DocError::Invalid {
                        kind: "TOML",
                        message: e.to_string(),
                    })?;
                toml_set(doc, path, value, &mut made)
            }
        }
    }

    /// Removes `path`.
    pub fn remove(&mut self, path: &[&str]) {
        match self {
            Doc::Json { root, .. } => root.remove(path),
            Doc::Toml(doc) => {
                if let Some((last, parents)) = path.split_last()
                    && let Some(table) = toml_table(doc, parents)
                {
                    table.remove(last);
                }
            }
        }
    }

    /// Whether the table at `path` exists and is empty.
    pub fn is_empty_table(&self, path: &[&str]) -> bool {
        match self {
            Doc::Json { root, .. } => match root.get(path) {
                Some(Node::Object(object)) => object.0.is_empty(),
                Some(Node::Raw(raw)) => raw.get().replace(char::is_whitespace, "") == "{}",
                None => false,
            },
            Doc::Toml(doc) => toml_item(doc, path)
                .and_then(|i| i.as_table_like())
                .is_some_and(|t| t.is_empty()),
        }
    }

    /// The file's new text.
    pub fn render(&self) -> String {
        match self {
            Doc::Json { root, newline } => {
                let mut text = serde_json::to_string_pretty(root).unwrap_or_default();
                if *newline {
                    text.push('\n');
                }
                text
            }
            Doc::Toml(doc) => doc.to_string(),
        }
    }
}

/// A JSON object whose keys keep their order, and whose values are kept as their text until
/// an edit reaches into them.
#[derive(Default, Clone)]
pub(crate) struct Object(Vec<(String, Node)>);

#[derive(Clone)]
pub(crate) enum Node {
    Raw(Box<RawValue>),
    Object(Object),
}

impl Object {
    /// A copy of what is at `path` (reading through values kept as text).
    fn get(&self, path: &[&str]) -> Option<Node> {
        let (first, rest) = path.split_first()?;
        let node = self
            .0
            .iter()
            .rev()
            .find(|(k, _)| k == first)
            .map(|(_, n)| n)?;
        match (node, rest.is_empty()) {
            (node, true) => Some(node.clone()),
            (Node::Object(object), false) => object.get(rest),
            (Node::Raw(raw), false) => serde_json::from_str::<Object>(raw.get()).ok()?.get(rest),
        }
    }

    fn set(
        &mut self,
        path: &[&str],
        value: Node,
        made: &mut Vec<Vec<String>>,
    ) -> Result<(), DocError> {
        let Some((first, rest)) = path.split_first() else {
            return Ok(());
        };
        let found = self.0.iter().rposition(|(k, _)| k == first);
        if rest.is_empty() {
            match found {
                Some(i) => self.0[i].1 = value,
                None => self.0.push(((*first).to_owned(), value)),
            }
            return Ok(());
        }
        let i = match found {
            Some(i) => i,
            None => {
                made.push(vec![(*first).to_owned()]);
                self.0
                    .push(((*first).to_owned(), Node::Object(Object::default())));
                self.0.len() - 1
            }
        };
        let node = &mut self.0[i].1;
        if let Node::Raw(raw) = node {
            let object = serde_json::from_str::<Object>(raw.get())
                .map_err(|_| DocError::NotATable((*first).to_owned()))?;
            *node = Node::Object(object);
        }
        let Node::Object(object) = node else {
            return Err(DocError::NotATable((*first).to_owned()));
        };
        let mut inner = Vec::new();
        object.set(rest, value, &mut inner)?;
        made.extend(inner.into_iter().map(|mut p| {
            p.insert(0, (*first).to_owned());
            p
        }));
        Ok(())
    }

    fn remove(&mut self, path: &[&str]) {
        let Some((first, rest)) = path.split_first() else {
            return;
        };
        if rest.is_empty() {
            self.0.retain(|(k, _)| k != first);
            return;
        }
        if let Some((_, node)) = self.0.iter_mut().rev().find(|(k, _)| k == first) {
            if let Node::Raw(raw) = node
                && let Ok(object) = serde_json::from_str::<Object>(raw.get())
            {
                *node = Node::Object(object);
            }
            if let Node::Object(object) = node {
                object.remove(rest);
            }
        }
    }
}

impl Serialize for Object {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, node) in &self.0 {
            map.serialize_entry(key, node)?;
        }
        map.end()
    }
}

impl Serialize for Node {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Node::Raw(raw) => raw.serialize(serializer),
            Node::Object(object) => object.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Object {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entries;
        impl<'de> Visitor<'de> for Entries {
            type Value = Object;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Object, A::Error> {
                let mut entries = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, Box<RawValue>>()? {
                    entries.push((key, Node::Raw(value)));
                }
                Ok(Object(entries))
            }
        }
        deserializer.deserialize_map(Entries)
    }
}

fn toml_item<'a>(doc: &'a toml_edit::DocumentMut, path: &[&str]) -> Option<&'a toml_edit::Item> {
    let (last, parents) = path.split_last()?;
    let mut table: &dyn toml_edit::TableLike = doc.as_table();
    for name in parents {
        table = table.get(name)?.as_table_like()?;
    }
    table.get(last)
}

fn toml_table<'a>(
    doc: &'a mut toml_edit::DocumentMut,
    path: &[&str],
) -> Option<&'a mut dyn toml_edit::TableLike> {
    let mut table: &mut dyn toml_edit::TableLike = doc.as_table_mut();
    for name in path {
        table = table.get_mut(name)?.as_table_like_mut()?;
    }
    Some(table)
}

fn toml_set(
    doc: &mut toml_edit::DocumentMut,
    path: &[&str],
    value: toml_edit::Value,
    made: &mut Vec<Vec<String>>,
) -> Result<(), DocError> {
    let Some((last, parents)) = path.split_last() else {
        return Ok(());
    };
    let mut table: &mut dyn toml_edit::TableLike = doc.as_table_mut();
    for (depth, name) in parents.iter().enumerate() {
        if table.get(name).is_none() {
            let mut new = toml_edit::Table::new();
            // `[a.b]` alone, without an empty `[a]` above it.
            new.set_implicit(depth + 1 < parents.len());
            table.insert(name, toml_edit::Item::Table(new));
            made.push(path[..=depth].iter().map(|s| (*s).to_owned()).collect());
        }
        table = table
            .get_mut(name)
            .and_then(toml_edit::Item::as_table_like_mut)
            .ok_or_else(|| DocError::NotATable(path[..=depth].join(".")))?;
    }
    match table.get_mut(last) {
        Some(toml_edit::Item::Value(old)) => {
            // Keep the old value's spacing and trailing comment.
            let decor = old.decor().clone();
            *old = value;
            *old.decor_mut() = decor;
        }
        Some(item) if !item.is_none() => return Err(DocError::NotAValue(path.join("."))),
        _ => {
            table.insert(last, toml_edit::Item::Value(value));
        }
    }
    Ok(())
}
