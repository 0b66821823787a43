//! Reading Alpaca's official OpenAPI spec (`specs/alpaca/openapi.yaml`, parsed once per test
//! binary) and the reference notes, and checking one captured request against them: the path
//! template and method exist, path and query parameters are declared with declared values, and a
//! JSON body only has declared properties (through `$ref`, `allOf`, `oneOf`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::LazyLock;

use serde_json::Value as Json;
use serde_yaml::Value as Yaml;
use wiremock::Request;

pub fn shared_file(env: &str, relative: &str) -> PathBuf {
    if let Ok(path) = std::env::var(env) {
        return PathBuf::from(path);
    }
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let candidates = [
        manifest.join("../../../shared").join(relative),
        manifest.join("../..").join(relative),
    ];
    candidates
        .iter()
        .find(|candidate| candidate.exists())
        .cloned()
        .unwrap_or_else(|| panic!("{relative} not found; set {env} to its path"))
}

/// Parsed once per test binary.
pub static SPEC: LazyLock<Yaml> = LazyLock::new(|| {
    let path = shared_file("ALPACA_OPENAPI_SPEC", "specs/alpaca/openapi.yaml");
    serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
});

pub static REFERENCE: LazyLock<String> = LazyLock::new(|| {
    let path = shared_file("ALPACA_REFERENCE", "reference/alpaca-broker-api.md");
    std::fs::read_to_string(path).unwrap()
});

/// Follows a local `$ref` (`#/components/...`).
pub fn resolve(value: &Yaml) -> &Yaml {
    let Some(reference) = value.get("$ref").and_then(Yaml::as_str) else {
        return value;
    };
    let pointer = reference.strip_prefix("#/").expect("only local refs");
    let target = pointer.split('/').fold(&*SPEC, |node, key| {
        node.get(key)
            .unwrap_or_else(|| panic!("dangling {reference}"))
    });
    resolve(target)
}

/// The spec's path template matching `path`, e.g. `/v1/accounts/{account_id}/transfers`.
pub fn find_template(path: &str) -> Option<String> {
    let wanted: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let paths = SPEC.get("paths").and_then(Yaml::as_mapping)?;
    let matches: Vec<String> = paths
        .keys()
        .filter_map(Yaml::as_str)
        .filter(|template| {
            let segments: Vec<&str> = template.trim_start_matches('/').split('/').collect();
            segments.len() == wanted.len()
                && segments.iter().zip(&wanted).all(|(t, w)| {
                    (t.starts_with('{') && t.ends_with('}') && !w.is_empty()) || t == w
                })
        })
        .map(str::to_owned)
        .collect();
    assert!(
        matches.len() <= 1,
        "{path} matches several templates: {matches:?}"
    );
    matches.into_iter().next()
}

/// The parameters of an operation (path-level and operation-level), by location and name.
pub fn parameters(path_item: &Yaml, operation: &Yaml) -> BTreeMap<(String, String), Yaml> {
    let mut declared = BTreeMap::new();
    for list in [path_item.get("parameters"), operation.get("parameters")]
        .into_iter()
        .flatten()
    {
        for parameter in list.as_sequence().into_iter().flatten().map(resolve) {
            let location = parameter["in"].as_str().unwrap().to_owned();
            let name = parameter["name"].as_str().unwrap().to_owned();
            declared.insert(
                (location, name),
                parameter
                    .get("schema")
                    .map(resolve)
                    .cloned()
                    .unwrap_or(Yaml::Null),
            );
        }
    }
    declared
}

/// A schema's properties and required names, through `allOf`/`oneOf`/`anyOf`.
pub fn properties(schema: &Yaml) -> (BTreeMap<String, Yaml>, BTreeSet<String>) {
    let schema = resolve(schema);
    let mut props = BTreeMap::new();
    let mut required = BTreeSet::new();
    if let Some(map) = schema.get("properties").and_then(Yaml::as_mapping) {
        for (name, property) in map {
            props.insert(name.as_str().unwrap().to_owned(), resolve(property).clone());
        }
    }
    for name in schema
        .get("required")
        .and_then(Yaml::as_sequence)
        .into_iter()
        .flatten()
    {
        required.insert(name.as_str().unwrap().to_owned());
    }
    for combinator in ["allOf", "oneOf", "anyOf"] {
        for part in schema
            .get(combinator)
            .and_then(Yaml::as_sequence)
            .into_iter()
            .flatten()
        {
            let (more, more_required) = properties(part);
            props.extend(more);
            if combinator == "allOf" {
                required.extend(more_required);
            }
        }
    }
    (props, required)
}

pub fn enum_values(schema: &Yaml) -> Option<Vec<String>> {
    let values = resolve(schema).get("enum")?.as_sequence()?;
    Some(
        values
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
    )
}

pub fn assert_value_declared(what: &str, schema: &Yaml, value: &str) {
    if let Some(allowed) = enum_values(schema) {
        assert!(
            allowed.iter().any(|a| a == value),
            "{what}={value:?} is not one of {allowed:?}"
        );
    }
    if resolve(schema).get("format").and_then(Yaml::as_str) == Some("uuid") {
        assert!(
            uuid::Uuid::try_parse(value).is_ok(),
            "{what}={value:?} is not a uuid"
        );
    }
    if resolve(schema).get("type").and_then(Yaml::as_str) == Some("integer") {
        let number: i64 = value
            .parse()
            .unwrap_or_else(|_| panic!("{what}={value:?} is not an integer"));
        if resolve(schema).get("format").and_then(Yaml::as_str) == Some("int32") {
            assert!(
                i32::try_from(number).is_ok(),
                "{what}={value} is not an int32"
            );
        }
    }
}

/// What a request body left out of its schema's `required`.
#[derive(Debug)]
pub struct Checked {
    pub operation_id: String,
    pub missing_required: BTreeSet<String>,
}

/// Checks one captured request against the spec.
pub fn check_against_spec(request: &Request) -> Checked {
    let method = request.method.as_str().to_lowercase();
    let path = request.url.path();
    let template =
        find_template(path).unwrap_or_else(|| panic!("{method} {path} is not in the spec"));
    let path_item = &SPEC["paths"][template.as_str()];
    let operation = path_item
        .get(method.as_str())
        .unwrap_or_else(|| panic!("{method} is not declared for {template}"));
    let declared = parameters(path_item, operation);

    for (segment, value) in template.split('/').zip(path.split('/')) {
        if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            let schema = declared
                .get(&("path".to_owned(), name.to_owned()))
                .unwrap_or_else(|| panic!("path parameter {name} of {template} is not declared"));
            assert_value_declared(name, schema, value);
        }
    }
    for (name, value) in request.url.query_pairs() {
        let schema = declared
            .get(&("query".to_owned(), name.to_string()))
            .unwrap_or_else(|| {
                panic!("query parameter {name} is not declared for {method} {template}")
            });
        assert_value_declared(&name, schema, &value);
    }

    let mut missing_required = BTreeSet::new();
    if request.body.is_empty() {
        assert!(
            operation
                .get("requestBody")
                .is_none_or(|b| b.get("required") != Some(&Yaml::Bool(true))),
            "{method} {template} needs a body"
        );
    } else {
        let body: Json = serde_json::from_slice(&request.body).unwrap();
        let schema = &resolve(&operation["requestBody"])["content"]["application/json"]["schema"];
        let (props, required) = properties(schema);
        let object = body.as_object().expect("a JSON object body");
        for (name, value) in object {
            let property = props.get(name).unwrap_or_else(|| {
                panic!("body property {name} is not declared for {method} {template}")
            });
            if let Some(text) = value.as_str() {
                assert_value_declared(name, property, text);
            }
        }
        missing_required = required
            .into_iter()
            .filter(|name| !object.contains_key(name))
            .collect();
    }
    Checked {
        operation_id: operation["operationId"].as_str().unwrap().to_owned(),
        missing_required,
    }
}

/// The query parameters the reference lists for the funding event stream (§5).
pub fn reference_funding_stream_query() -> BTreeSet<String> {
    let section = REFERENCE
        .split("### `GET /v2/events/funding/status`")
        .nth(1)
        .expect("the reference documents GET /v2/events/funding/status");
    let line = section
        .lines()
        .find(|line| line.starts_with("operationId `subscribeToFundingStatusSSE`"))
        .expect("its query parameter line");
    line.split("Query parameters:")
        .nth(1)
        .unwrap()
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|name| name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        .map(str::to_owned)
        .collect()
}
