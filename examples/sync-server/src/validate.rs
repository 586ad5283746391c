//! Server-side validation of well-formed events, refusing them one by one
//! (`rejected` in the push response) while the rest of the batch is stored.
//!
//! Apps plug in either a Rust [`EventValidator`] or declarative
//! [`CollectionRules`] such as `todos:title=nonempty-string`.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use eventsourced_db::protocol::{Event, EventType};
use serde_json::Value;

/// Why a validator refused an event; becomes a `RejectedEvent`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Stable machine-readable code, e.g. `validation`.
    pub code: String,
    /// Human-readable reason.
    pub reason: String,
}

impl Rejection {
    /// A rejection with code `validation`.
    pub fn validation(reason: impl Into<String>) -> Self {
        Rejection {
            code: "validation".into(),
            reason: reason.into(),
        }
    }
}

/// A check an app plugs into the server. Runs for every well-formed event
/// that is not already stored; an `Err` refuses only that event.
pub trait EventValidator: Send + Sync + 'static {
    /// Accepts or refuses `event` pushed into `scope`.
    fn validate(&self, scope: &str, event: &Event) -> Result<(), Rejection>;
}

impl<F> EventValidator for F
where
    F: Fn(&str, &Event) -> Result<(), Rejection> + Send + Sync + 'static,
{
    fn validate(&self, scope: &str, event: &Event) -> Result<(), Rejection> {
        self(scope, event)
    }
}

/// The JSON type a rule demands of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// Any JSON string.
    String,
    /// A string with at least one non-whitespace character.
    NonEmptyString,
    /// Any JSON number.
    Number,
    /// A number without a fractional part.
    Integer,
    /// `true` or `false`.
    Boolean,
    /// A JSON object.
    Object,
    /// A JSON array.
    Array,
    /// `null`.
    Null,
    /// Any value (the field only has to be present).
    Any,
}

impl FieldType {
    fn parse(s: &str) -> Result<Self, String> {
        Ok(match s {
            "string" => FieldType::String,
            "nonempty-string" | "non-empty-string" => FieldType::NonEmptyString,
            "number" => FieldType::Number,
            "integer" => FieldType::Integer,
            "boolean" | "bool" => FieldType::Boolean,
            "object" => FieldType::Object,
            "array" => FieldType::Array,
            "null" => FieldType::Null,
            "any" => FieldType::Any,
            _ => return Err(format!(
                "unknown field type `{s}` (expected string, nonempty-string, number, integer, boolean, object, array, null or any)"
            )),
        })
    }

    fn matches(self, v: &Value) -> bool {
        match self {
            FieldType::String => v.is_string(),
            FieldType::NonEmptyString => v.as_str().is_some_and(|s| !s.trim().is_empty()),
            FieldType::Number => v.is_number(),
            FieldType::Integer => {
                v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0)
            }
            FieldType::Boolean => v.is_boolean(),
            FieldType::Object => v.is_object(),
            FieldType::Array => v.is_array(),
            FieldType::Null => v.is_null(),
            FieldType::Any => true,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            FieldType::String => "a string",
            FieldType::NonEmptyString => "a non-empty string",
            FieldType::Number => "a number",
            FieldType::Integer => "an integer",
            FieldType::Boolean => "a boolean",
            FieldType::Object => "an object",
            FieldType::Array => "an array",
            FieldType::Null => "null",
            FieldType::Any => "present",
        }
    }
}

/// One field rule: the field must have one of `types` (or be absent if optional).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRule {
    /// The field's name in the row.
    pub field: String,
    /// Absent is fine; present must match.
    pub optional: bool,
    /// Accepted types (any of them).
    pub types: Vec<FieldType>,
}

impl FieldRule {
    fn check(&self, collection: &str, row: &serde_json::Map<String, Value>) -> Result<(), String> {
        match row.get(&self.field) {
            None if self.optional => Ok(()),
            Some(v) if self.types.iter().any(|t| t.matches(v)) => Ok(()),
            _ => Err(format!(
                "{collection}.{} must be {}",
                self.field,
                self.types
                    .iter()
                    .map(|t| t.describe())
                    .collect::<Vec<_>>()
                    .join(" or ")
            )),
        }
    }
}

impl fmt::Display for FieldRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.field, if self.optional { "?" } else { "" })
    }
}

/// The rules of one collection, checked against the row of every insert and
/// update (deletes carry the row as it was, so they are not checked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionRules {
    /// The collection's name.
    pub collection: String,
    /// Its field rules.
    pub fields: Vec<FieldRule>,
}

impl CollectionRules {
    /// Parses `COLLECTION:FIELD=TYPE[|TYPE],FIELD?=TYPE...`, e.g.
    /// `todos:title=nonempty-string,done?=boolean`.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let (collection, fields) = spec
            .split_once(':')
            .ok_or_else(|| format!("rule `{spec}`: expected COLLECTION:FIELD=TYPE,..."))?;
        let collection = collection.trim();
        if collection.is_empty() {
            return Err(format!("rule `{spec}`: empty collection"));
        }
        let fields = fields
            .split(',')
            .map(|f| {
                let (name, types) = f
                    .split_once('=')
                    .ok_or_else(|| format!("rule `{spec}`: `{f}` is not FIELD=TYPE"))?;
                field_rule(name.trim(), types.trim())
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CollectionRules {
            collection: collection.to_string(),
            fields,
        })
    }

    /// Parses a rules file: `{"todos": {"title": "nonempty-string", "done?": "boolean"}}`.
    pub fn parse_json_file(text: &str) -> Result<Vec<Self>, String> {
        let map: BTreeMap<String, BTreeMap<String, String>> =
            serde_json::from_str(text).map_err(|e| format!("rules file: {e}"))?;
        map.into_iter()
            .map(|(collection, fields)| {
                let fields = fields
                    .iter()
                    .map(|(name, types)| field_rule(name, types))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(CollectionRules { collection, fields })
            })
            .collect()
    }

    /// The demo app's rule: a todo's title must be a non-empty string.
    pub fn demo() -> Self {
        CollectionRules::parse("todos:title=nonempty-string").expect("static rule")
    }
}

fn field_rule(name: &str, types: &str) -> Result<FieldRule, String> {
    let (field, optional) = match name.strip_suffix('?') {
        Some(f) => (f, true),
        None => (name, false),
    };
    if field.is_empty() {
        return Err("empty field name in rule".into());
    }
    let types = types
        .split('|')
        .map(|t| FieldType::parse(t.trim()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(FieldRule {
        field: field.to_string(),
        optional,
        types,
    })
}

impl EventValidator for CollectionRules {
    fn validate(&self, _scope: &str, event: &Event) -> Result<(), Rejection> {
        if event.collection_id != self.collection || event.kind == EventType::Delete {
            return Ok(());
        }
        for rule in &self.fields {
            rule.check(&self.collection, &event.payload)
                .map_err(Rejection::validation)?;
        }
        Ok(())
    }
}

/// All validators of a server, run in order; the first refusal wins.
#[derive(Clone, Default)]
pub struct Validators(Vec<Arc<dyn EventValidator>>);

impl Validators {
    /// Adds a validator.
    pub fn push(&mut self, v: Arc<dyn EventValidator>) {
        self.0.push(v);
    }

    /// Appends all validators of `other`.
    pub fn extend(&mut self, other: Validators) {
        self.0.extend(other.0);
    }

    /// `Some(rejection)` when a validator refuses the event.
    pub fn check(&self, scope: &str, event: &Event) -> Option<Rejection> {
        self.0.iter().find_map(|v| v.validate(scope, event).err())
    }

    /// No validators: every well-formed event is accepted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Validators {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Validators({})", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn todo(title: Value) -> Event {
        serde_json::from_value(json!({
            "eventId": "0190a0a0-0000-7000-8000-000000000001", "collectionId": "todos",
            "type": "insert", "key": "t1", "payload": {"id": "t1", "title": title},
            "timestamp": 1
        }))
        .unwrap()
    }

    #[test]
    fn demo_rule_requires_a_nonempty_title() {
        let r = CollectionRules::demo();
        assert!(r.validate("s", &todo(json!("buy milk"))).is_ok());
        let err = r.validate("s", &todo(json!("  "))).unwrap_err();
        assert_eq!(err.code, "validation");
        assert_eq!(err.reason, "todos.title must be a non-empty string");
        assert!(r.validate("s", &todo(json!(3))).is_err());
    }

    #[test]
    fn rules_parse_from_cli_and_json() {
        let r = CollectionRules::parse("todos:title=string|null,done?=boolean").unwrap();
        assert_eq!(r.fields.len(), 2);
        assert!(r.fields[1].optional);
        assert_eq!(r.fields[0].types, vec![FieldType::String, FieldType::Null]);
        let f =
            CollectionRules::parse_json_file(r#"{"todos":{"title":"nonempty-string"}}"#).unwrap();
        assert_eq!(f, vec![CollectionRules::demo()]);
        assert!(CollectionRules::parse("todos").is_err());
        assert!(CollectionRules::parse("todos:title=text").is_err());
    }

    #[test]
    fn deletes_and_other_collections_pass() {
        let r = CollectionRules::demo();
        let mut e = todo(json!(""));
        e.kind = EventType::Delete;
        assert!(r.validate("s", &e).is_ok());
        e.kind = EventType::Insert;
        e.collection_id = "notes".into();
        assert!(r.validate("s", &e).is_ok());
    }
}
