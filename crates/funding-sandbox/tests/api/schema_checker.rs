//! A small OpenAPI 3.0 schema checker for the wire-format tests: required keys, JSON types,
//! nullability, enums and `minLength`, following `$ref` and `allOf` (other keywords are ignored).
//! Values listed in [`DEVIATIONS`] are accepted where the live API is documented to differ from
//! the spec.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;
use serde_yaml::Value as Yaml;

/// (schema.property, value) pairs the live API sends although the 2022 spec forbids them.
pub const DEVIATIONS: &[(&str, &str)] = &[
    // reference §3: Plaid-created relationships come back with an empty bank_account_type.
    ("ACHRelationship.bank_account_type", ""),
];

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub struct Schemas {
    pub by_name: BTreeMap<String, Yaml>,
}

impl Schemas {
    pub fn load(file: &str) -> Self {
        let text = std::fs::read_to_string(fixtures().join(file)).unwrap();
        let doc: Yaml = serde_yaml::from_str(&text).unwrap();
        let by_name = doc["schemas"]
            .as_mapping()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.as_str().unwrap().to_owned(), v.clone()))
            .collect();
        Self { by_name }
    }

    pub fn assert_valid(&self, value: &Value, name: &str) {
        let mut errors = Vec::new();
        let schema = self
            .by_name
            .get(name)
            .unwrap_or_else(|| panic!("no schema {name}"));
        self.check(value, schema, name, name, &mut errors);
        assert!(
            errors.is_empty(),
            "{name} violations: {errors:#?}\nvalue: {value:#}"
        );
    }

    fn resolve<'a>(&'a self, schema: &'a Yaml) -> (&'a Yaml, Option<&'a str>) {
        match schema.get("$ref").and_then(Yaml::as_str) {
            Some(reference) => {
                let name = reference.rsplit('/').next().unwrap();
                let target = self
                    .by_name
                    .get(name)
                    .unwrap_or_else(|| panic!("missing {name}"));
                (target, Some(name))
            }
            None => (schema, None),
        }
    }

    pub fn check(
        &self,
        value: &Value,
        schema: &Yaml,
        owner: &str,
        path: &str,
        errors: &mut Vec<String>,
    ) {
        let (schema, named) = self.resolve(schema);
        let owner = named.unwrap_or(owner);
        let nullable = schema
            .get("nullable")
            .and_then(Yaml::as_bool)
            .unwrap_or(false);
        if value.is_null() {
            let all_of_nullable =
                schema
                    .get("allOf")
                    .and_then(Yaml::as_sequence)
                    .is_some_and(|parts| {
                        parts.iter().any(|p| {
                            self.resolve(p).0.get("nullable").and_then(Yaml::as_bool) == Some(true)
                        })
                    });
            if !nullable && !all_of_nullable {
                errors.push(format!("{path}: null but not nullable"));
            }
            return;
        }
        if let Some(parts) = schema.get("allOf").and_then(Yaml::as_sequence) {
            for part in parts {
                self.check(value, part, owner, path, errors);
            }
        }
        if let Some(kind) = schema.get("type").and_then(Yaml::as_str) {
            let ok = match kind {
                "object" => value.is_object(),
                "array" => value.is_array(),
                "string" => value.is_string(),
                "number" => value.is_number(),
                "integer" => value.is_i64() || value.is_u64(),
                "boolean" => value.is_boolean(),
                _ => true,
            };
            if !ok {
                errors.push(format!("{path}: expected {kind}, got {value}"));
                return;
            }
        }
        let deviation = |text: &str| {
            let field = path.rsplit('.').next().unwrap_or(path);
            DEVIATIONS.contains(&(&format!("{owner}.{field}") as &str, text))
        };
        if let (Some(allowed), Some(text)) = (
            schema.get("enum").and_then(Yaml::as_sequence),
            value.as_str(),
        ) && !allowed.iter().any(|a| a.as_str() == Some(text))
            && !deviation(text)
        {
            errors.push(format!("{path}: {text:?} not in enum"));
        }
        if let (Some(min), Some(text)) = (
            schema.get("minLength").and_then(Yaml::as_u64),
            value.as_str(),
        ) && (text.chars().count() as u64) < min
            && !deviation(text)
        {
            errors.push(format!("{path}: shorter than {min}"));
        }
        if let Some(object) = value.as_object() {
            if let Some(required) = schema.get("required").and_then(Yaml::as_sequence) {
                for key in required.iter().filter_map(Yaml::as_str) {
                    if !object.contains_key(key) {
                        errors.push(format!("{path}: missing required {key}"));
                    }
                }
            }
            if let Some(properties) = schema.get("properties").and_then(Yaml::as_mapping) {
                for (key, sub) in properties {
                    let key = key.as_str().unwrap();
                    if let Some(child) = object.get(key) {
                        self.check(child, sub, owner, &format!("{path}.{key}"), errors);
                    }
                }
            }
        }
        if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
            for (index, item) in array.iter().enumerate() {
                self.check(item, items, owner, &format!("{path}[{index}]"), errors);
            }
        }
    }
}
