//! The official Plaid OpenAPI spec (`2020-09-14.yml`), parsed once per test binary, and a small
//! checker of JSON values against its schemas: `$ref`s and `allOf` followed, `required`, declared
//! properties (Plaid refuses unknown request fields), `readOnly`, types, enums and the length and
//! range limits the adapter's bodies can meet.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::Value;

/// Where the spec is looked for: `$PLAID_OPENAPI_SPEC`, then the project's shared specs folder.
fn spec_path() -> PathBuf {
    if let Ok(path) = std::env::var("PLAID_OPENAPI_SPEC") {
        return PathBuf::from(path);
    }
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let candidates = [
        manifest.join("../../specs/plaid/2020-09-14.yml"),
        manifest.join("../../../shared/specs/plaid/2020-09-14.yml"),
    ];
    candidates
        .iter()
        .find(|path| path.exists())
        .cloned()
        .unwrap_or_else(|| panic!("Plaid spec not found in {candidates:?}; set PLAID_OPENAPI_SPEC"))
}

/// The whole spec as JSON.
pub fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        let path = spec_path();
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path:?}: {e}"));
        serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("parsing {path:?}: {e}"))
    })
}

fn operation(path: &str) -> &'static Value {
    let operation = &spec()["paths"][path]["post"];
    assert!(operation.is_object(), "the spec has no POST {path}");
    operation
}

/// The request body schema of `POST path`.
pub fn request_schema(path: &str) -> &'static Value {
    let schema = &operation(path)["requestBody"]["content"]["application/json"]["schema"];
    assert!(
        schema.is_object(),
        "POST {path} has no JSON request body in the spec"
    );
    schema
}

/// The 200 response schema of `POST path`.
pub fn response_schema(path: &str) -> &'static Value {
    let schema = &operation(path)["responses"]["200"]["content"]["application/json"]["schema"];
    assert!(
        schema.is_object(),
        "POST {path} has no JSON 200 response in the spec"
    );
    schema
}

/// A schema of `#/components/schemas`.
pub fn component(name: &str) -> &'static Value {
    let schema = &spec()["components"]["schemas"][name];
    assert!(schema.is_object(), "the spec has no schema {name}");
    schema
}

/// Follows `$ref`s to the schema itself.
fn deref(mut schema: &'static Value) -> &'static Value {
    for _ in 0..32 {
        let Some(reference) = schema.get("$ref").and_then(Value::as_str) else {
            return schema;
        };
        let pointer = reference
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("external $ref {reference}"));
        schema = spec()
            .pointer(pointer)
            .unwrap_or_else(|| panic!("dangling $ref {reference}"));
    }
    panic!("$ref cycle");
}

/// A schema with its `$ref`s and `allOf` members merged.
#[derive(Default)]
struct Shape {
    properties: BTreeMap<String, &'static Value>,
    required: BTreeSet<String>,
    additional: Option<&'static Value>,
    keywords: Vec<&'static Value>,
}

impl Shape {
    fn of(schema: &'static Value) -> Self {
        let mut shape = Self::default();
        shape.merge(schema);
        shape
    }

    fn merge(&mut self, schema: &'static Value) {
        let schema = deref(schema);
        self.keywords.push(schema);
        if let Some(members) = schema.get("allOf").and_then(Value::as_array) {
            for member in members {
                self.merge(member);
            }
        }
        if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
            self.properties
                .extend(properties.iter().map(|(k, v)| (k.clone(), v)));
        }
        if let Some(required) = schema.get("required").and_then(Value::as_array) {
            self.required
                .extend(required.iter().filter_map(Value::as_str).map(str::to_owned));
        }
        if let Some(additional) = schema.get("additionalProperties").filter(|a| a.is_object()) {
            self.additional = Some(additional);
        }
    }

    fn keyword(&self, name: &str) -> Option<&'static Value> {
        self.keywords.iter().find_map(|schema| schema.get(name))
    }

    fn flag(&self, name: &str) -> bool {
        self.keyword(name).and_then(Value::as_bool).unwrap_or(false)
    }

    fn number(&self, name: &str) -> Option<f64> {
        self.keyword(name).and_then(Value::as_f64)
    }
}

/// How strictly a value is held to its schema.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// What we send: nothing undeclared, nothing read-only.
    Request,
    /// What Plaid sends (our fixtures): extra fields are allowed.
    Response,
}

/// Every way `value` breaks `schema`, each with the JSON path where it does.
pub fn violations(schema: &'static Value, value: &Value, direction: Direction) -> Vec<String> {
    let mut found = Vec::new();
    check(schema, value, "$", direction, &mut found);
    found
}

fn check(
    schema: &'static Value,
    value: &Value,
    at: &str,
    direction: Direction,
    found: &mut Vec<String>,
) {
    let shape = Shape::of(schema);
    if value.is_null() {
        let null_in_enum = shape
            .keyword("enum")
            .and_then(Value::as_array)
            .is_some_and(|values| values.contains(&Value::Null));
        if !shape.flag("nullable") && !null_in_enum {
            found.push(format!("{at}: null, but the schema is not nullable"));
        }
        return;
    }
    if let Some(values) = shape.keyword("enum").and_then(Value::as_array)
        && !values.contains(value)
    {
        found.push(format!("{at}: {value} is not one of the spec's values"));
    }
    let declared_type = shape.keyword("type").and_then(Value::as_str);
    let is_object_schema = declared_type == Some("object") || !shape.properties.is_empty();
    match declared_type {
        Some("string") => match value.as_str() {
            Some(text) => {
                if let Some(max) = shape.number("maxLength")
                    && text.chars().count() as f64 > max
                {
                    found.push(format!("{at}: longer than maxLength {max}"));
                }
            }
            None => found.push(format!("{at}: {value} is not a string")),
        },
        Some("integer") | Some("number") => match value.as_f64() {
            Some(number) => {
                if declared_type == Some("integer") && !(value.is_i64() || value.is_u64()) {
                    found.push(format!("{at}: {value} is not an integer"));
                }
                if shape.number("minimum").is_some_and(|min| number < min) {
                    found.push(format!("{at}: {value} is below the minimum"));
                }
                if shape.number("maximum").is_some_and(|max| number > max) {
                    found.push(format!("{at}: {value} is above the maximum"));
                }
            }
            None => found.push(format!("{at}: {value} is not a number")),
        },
        Some("boolean") if !value.is_boolean() => {
            found.push(format!("{at}: {value} is not a boolean"))
        }
        Some("array") => match value.as_array() {
            Some(items) => {
                if shape
                    .number("minItems")
                    .is_some_and(|min| (items.len() as f64) < min)
                {
                    found.push(format!("{at}: fewer items than minItems"));
                }
                if let Some(item_schema) = shape.keyword("items") {
                    for (index, item) in items.iter().enumerate() {
                        check(
                            item_schema,
                            item,
                            &format!("{at}[{index}]"),
                            direction,
                            found,
                        );
                    }
                }
            }
            None => found.push(format!("{at}: {value} is not an array")),
        },
        _ => {}
    }
    if !is_object_schema {
        return;
    }
    let Some(object) = value.as_object() else {
        found.push(format!("{at}: {value} is not an object"));
        return;
    };
    for required in &shape.required {
        if !object.contains_key(required) {
            found.push(format!("{at}.{required}: required, but missing"));
        }
    }
    if shape
        .number("maxProperties")
        .is_some_and(|max| object.len() as f64 > max)
    {
        found.push(format!("{at}: more properties than maxProperties"));
    }
    for (name, field) in object {
        let field_at = format!("{at}.{name}");
        if let Some(field_schema) = shape.properties.get(name) {
            if direction == Direction::Request && Shape::of(field_schema).flag("readOnly") {
                found.push(format!("{field_at}: read-only, must not be sent"));
            }
            check(field_schema, field, &field_at, direction, found);
        } else if let Some(additional) = shape.additional.filter(|_| shape.properties.is_empty()) {
            check(additional, field, &field_at, direction, found);
        } else if direction == Direction::Request {
            found.push(format!(
                "{field_at}: not declared by the schema (Plaid refuses unknown fields)"
            ));
        }
    }
}
