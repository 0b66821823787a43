//! A small request-schema checker mirroring Plaid's strictness: each endpoint lists its body
//! fields (from the OpenAPI request schema), and a body is refused for unknown fields (named with
//! their dotted path, e.g. `options.foo`), missing required fields, or values of the wrong type.

use serde_json::{Map, Value};

/// The JSON type a field must have.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Str,
    /// `true` or `false`.
    Bool,
    /// Any JSON value (not checked: a field the emulator accepts and ignores).
    Any,
    /// An integer within `min..=max`.
    Int {
        min: i64,
        max: i64,
    },
    /// A string from a closed list.
    Enum(&'static [&'static str]),
    /// An array whose items are all `item`, with at least `min_items` of them.
    Array {
        item: &'static Kind,
        min_items: usize,
    },
    /// An object with exactly these fields.
    Object(&'static [Field]),
    /// Any object (its inside is not checked).
    FreeObject,
}

/// One body field.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field {
    pub name: &'static str,
    pub kind: Kind,
    pub required: bool,
    pub nullable: bool,
}

/// A required, non-null field.
pub(crate) const fn required(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        required: true,
        nullable: false,
    }
}

/// An optional field that must not be null when present.
pub(crate) const fn optional(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        required: false,
        nullable: false,
    }
}

/// An optional field that may be null.
pub(crate) const fn nullable(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        required: false,
        nullable: true,
    }
}

/// Everything wrong with one body, by category, in field order.
#[derive(Debug, Default)]
pub(crate) struct Violations {
    pub unknown: Vec<String>,
    pub missing: Vec<String>,
    pub invalid: Vec<String>,
}

/// Checks `body` against `fields`.
pub(crate) fn check(body: &Map<String, Value>, fields: &[Field]) -> Violations {
    let mut violations = Violations::default();
    walk(body, fields, "", &mut violations);
    violations
}

fn walk(object: &Map<String, Value>, fields: &[Field], prefix: &str, out: &mut Violations) {
    for key in object.keys() {
        if !fields.iter().any(|field| field.name == key) {
            out.unknown.push(format!("{prefix}{key}"));
        }
    }
    for field in fields {
        let path = format!("{prefix}{}", field.name);
        match object.get(field.name) {
            None if field.required => out.missing.push(path),
            None => {}
            Some(Value::Null) if field.nullable => {}
            Some(Value::Null) if field.required => out.missing.push(path),
            Some(Value::Null) => out.invalid.push(format!("{path} must not be null")),
            Some(value) => check_kind(value, &field.kind, &path, out),
        }
    }
}

fn check_kind(value: &Value, kind: &Kind, path: &str, out: &mut Violations) {
    match kind {
        Kind::Str if !value.is_string() => out.invalid.push(format!("{path} must be a string")),
        Kind::Bool if !value.is_boolean() => out.invalid.push(format!("{path} must be a boolean")),
        Kind::Int { min, max } => match value.as_i64() {
            Some(number) if (*min..=*max).contains(&number) => {}
            _ => out
                .invalid
                .push(format!("{path} must be an integer between {min} and {max}")),
        },
        Kind::Enum(allowed) => match value.as_str() {
            Some(text) if allowed.contains(&text) => {}
            Some(text) => out.invalid.push(format!(
                "{path} must be one of the supported values, got {}",
                Value::from(text)
            )),
            None => out.invalid.push(format!("{path} must be a string")),
        },
        Kind::Array { item, min_items } => match value.as_array() {
            Some(items) if items.len() < *min_items => out
                .invalid
                .push(format!("{path} must contain at least {min_items} item(s)")),
            Some(items) => {
                for (index, element) in items.iter().enumerate() {
                    check_kind(element, item, &format!("{path}[{index}]"), out);
                }
            }
            None => out.invalid.push(format!("{path} must be an array")),
        },
        Kind::Object(fields) => match value.as_object() {
            Some(object) => walk(object, fields, &format!("{path}."), out),
            None => out.invalid.push(format!("{path} must be an object")),
        },
        Kind::FreeObject if !value.is_object() => {
            out.invalid.push(format!("{path} must be an object"));
        }
        Kind::Str | Kind::Bool | Kind::Any | Kind::FreeObject => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const OPTIONS: &[Field] = &[optional("webhook", Kind::Str)];
    const SCHEMA: &[Field] = &[
        required("institution_id", Kind::Str),
        required(
            "initial_products",
            Kind::Array {
                item: &Kind::Enum(&["auth", "identity"]),
                min_items: 1,
            },
        ),
        optional("options", Kind::Object(OPTIONS)),
    ];

    fn run(body: Value) -> Violations {
        check(body.as_object().unwrap(), SCHEMA)
    }

    #[test]
    fn unknown_fields_are_named_with_their_path() {
        let v = run(
            json!({"institution_id": "ins_1", "initial_products": ["auth"],
                           "extra": 1, "options": {"nope": true}}),
        );
        assert_eq!(v.unknown, vec!["extra", "options.nope"]);
    }

    #[test]
    fn missing_and_null_required_fields_are_missing() {
        let v = run(json!({"institution_id": null}));
        assert_eq!(v.missing, vec!["institution_id", "initial_products"]);
    }

    #[test]
    fn wrong_types_and_values_are_invalid() {
        let v = run(json!({"institution_id": 5, "initial_products": []}));
        assert_eq!(v.invalid.len(), 2);
        let v = run(json!({"institution_id": "i", "initial_products": ["cake"], "options": null}));
        assert_eq!(v.invalid.len(), 2, "{:?}", v.invalid);
    }
}
