//! `docs/api.md` is executable: every ```sh block holding a `grpcurl` command is run, in document
//! order, against a real sandbox server (the same `Application` that `fundingd` runs), and its answer
//! is compared with the ```json block that follows it, or, for an error, with the ```text block of
//! grpcurl's error output that follows it (its `Code`, its `Message` and its `google.rpc` details as
//! JSON).
//!
//! The same page also runs through the real grpcurl binary (`tests/grpcurl/run.sh`, in `.ci/run`);
//! this test does what grpcurl does, in process and without a download: it reads the API's
//! descriptors (the ones `funding-client` compiles and serves through reflection, and
//! `grpc.health.v1`'s), builds a dynamic message from the request JSON, calls the method with a tonic
//! client over a dynamic codec and prints the answer as grpcurl does (proto3 JSON, camelCase, default
//! values left out, enums by name).
//!
//! How a documented answer is compared with the real one:
//! - the same field names on both sides, at every level (a renamed or undocumented field fails);
//! - a concrete value must be equal;
//! - `"<name>"` matches any non-empty value; the first time a name is seen it is bound to that value,
//!   later requests may use `<name>` and get it substituted, and later answers showing `"<name>"` must
//!   show the same value. `"<timestamp>"` matches any non-empty value and never binds.
//! - Get and List examples (reads) are asked again for up to ten seconds until they match, as a
//!   caller waiting for the sandbox's next status would; other calls are made once.
//! - A server-streaming example documents its first N messages (N JSON values in the block).
//!
//! Every method of every service in the descriptors (but the reflection services) must have an
//! example: an RPC missing from the doc fails the test.
//!
//! `DOCS_PRINT=1 cargo test -p funding-tests --test docs -- --nocapture` prints the real answers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, MethodDescriptor};
use serde_json::Value;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;

const DOC: &str = include_str!("../../docs/api.md");
const DOC_ADDRESS: &str = "localhost:50051";
/// Names that match any non-empty value and are never bound.
const WILDCARDS: &[&str] = &["timestamp"];

// --- the doc --------------------------------------------------------------------------------------

/// One `grpcurl` example and its documented answer.
#[derive(Debug)]
struct Example {
    line: usize,
    /// `funding.v1.BankLinkService/CreateBankLink`
    method: String,
    /// The request JSON, placeholders unsubstituted (`{}` when the command has no `-d`).
    request: String,
    /// The documented messages (one for unary calls, the first N for a stream); none for an error.
    answer: Vec<Value>,
    /// The documented error, as grpcurl prints it.
    error: Option<DocError>,
}

/// An error as grpcurl prints it: `Code: InvalidArgument`, `Message: …`, and each detail's JSON
/// after `1)`, `2)`, ….
#[derive(Debug)]
struct DocError {
    code: String,
    message: String,
    details: Vec<Value>,
}

/// grpcurl's error output (`ERROR:`, `Code:`, `Message:`, `Details:` with `N)` before each detail).
fn parse_error(line: usize, text: &str) -> DocError {
    let mut code = None;
    let mut message = String::new();
    let mut details: Vec<String> = Vec::new();
    let mut in_details = false;
    for row in text.lines().map(str::trim) {
        if in_details {
            let start = row
                .split_once(')')
                .filter(|(n, _)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
            match start {
                Some((_, detail)) => details.push(detail.trim().to_string()),
                None if !row.is_empty() => details
                    .last_mut()
                    .unwrap_or_else(|| panic!("docs/api.md:{line}: a detail without `1)`"))
                    .push_str(row),
                None => {}
            }
        } else if let Some(rest) = row.strip_prefix("Code:") {
            code = Some(rest.trim().to_string());
        } else if let Some(rest) = row.strip_prefix("Message:") {
            message = rest.trim().to_string();
        } else if row == "Details:" {
            in_details = true;
        }
    }
    DocError {
        code: code.unwrap_or_else(|| panic!("docs/api.md:{line}: an error without `Code:`")),
        message,
        details: details
            .iter()
            .map(|d| {
                serde_json::from_str(d)
                    .unwrap_or_else(|e| panic!("docs/api.md:{line}: a detail is not JSON: {e}"))
            })
            .collect(),
    }
}

fn fenced_blocks(doc: &str) -> Vec<(usize, String, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String, String)> = None;
    for (index, line) in doc.lines().enumerate() {
        let trimmed = line.trim_start();
        match current.take() {
            None => {
                if let Some(info) = trimmed.strip_prefix("```") {
                    current = Some((index + 1, info.trim().to_string(), String::new()));
                }
            }
            Some((start, info, mut body)) => {
                if trimmed.starts_with("```") {
                    blocks.push((start, info, body));
                } else {
                    body.push_str(line);
                    body.push('\n');
                    current = Some((start, info, body));
                }
            }
        }
    }
    assert!(current.is_none(), "docs/api.md: an unclosed fenced block");
    blocks
}

/// Splits a command line as a POSIX shell would for what the doc uses: words, single quotes, and
/// backslash-newline continuations.
fn shell_words(command: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = command.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    word.push(q);
                }
            }
            '\\' if chars.peek() == Some(&'\n') => {
                chars.next();
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

fn parse_command(line: usize, block: &str) -> (String, String) {
    let command: String = block
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    let words = shell_words(&command);
    assert_eq!(
        words.first().map(String::as_str),
        Some("grpcurl"),
        "docs/api.md:{line}: one grpcurl command per block"
    );
    let mut request = None;
    let mut positional = Vec::new();
    let mut plaintext = false;
    let mut rest = words[1..].iter();
    while let Some(word) = rest.next() {
        match word.as_str() {
            "-plaintext" => plaintext = true,
            "-d" => request = Some(rest.next().expect("-d takes the request").clone()),
            flag if flag.starts_with('-') => {
                panic!("docs/api.md:{line}: the test does not know grpcurl's {flag}")
            }
            other => positional.push(other.to_string()),
        }
    }
    assert!(plaintext, "docs/api.md:{line}: the sandbox is plaintext");
    assert_eq!(
        positional.len(),
        2,
        "docs/api.md:{line}: `grpcurl -plaintext -d '<json>' ADDR service/Method`"
    );
    assert_eq!(
        positional[0], DOC_ADDRESS,
        "docs/api.md:{line}: examples use {DOC_ADDRESS}"
    );
    (
        positional[1].clone(),
        request.unwrap_or_else(|| "{}".to_string()),
    )
}

fn examples(doc: &str) -> Vec<Example> {
    let blocks = fenced_blocks(doc);
    let mut examples = Vec::new();
    let mut index = 0;
    while index < blocks.len() {
        let (line, info, body) = &blocks[index];
        index += 1;
        if info != "sh" || !body.contains("grpcurl") {
            continue;
        }
        let (method, request) = parse_command(*line, body);
        let (_, answer_info, answer_body) = blocks
            .get(index)
            .unwrap_or_else(|| panic!("docs/api.md:{line}: no ```json answer after the command"));
        index += 1;
        if answer_info == "text" {
            examples.push(Example {
                line: *line,
                method,
                request,
                answer: Vec::new(),
                error: Some(parse_error(*line, answer_body)),
            });
            continue;
        }
        assert_eq!(
            answer_info, "json",
            "docs/api.md:{line}: the block after a command is its ```json answer or ```text error"
        );
        let answer: Vec<Value> = serde_json::Deserializer::from_str(answer_body)
            .into_iter::<Value>()
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("docs/api.md:{line}: the answer is not JSON: {e}"));
        assert!(!answer.is_empty(), "docs/api.md:{line}: an empty answer");
        examples.push(Example {
            line: *line,
            method,
            request,
            answer,
            error: None,
        });
    }
    examples
}

// --- placeholders and comparison ------------------------------------------------------------------

fn placeholder(value: &Value) -> Option<&str> {
    let s = value.as_str()?;
    let name = s.strip_prefix('<')?.strip_suffix('>')?;
    (!name.is_empty()).then_some(name)
}

fn substitute(request: &str, bound: &HashMap<String, String>, line: usize) -> String {
    let mut out = String::new();
    let mut rest = request;
    while let Some(start) = rest.find('<') {
        let Some(len) = rest[start..].find('>') else {
            break;
        };
        let name = &rest[start + 1..start + len];
        let value = bound.get(name).unwrap_or_else(|| {
            panic!("docs/api.md:{line}: <{name}> is not known from an earlier answer")
        });
        out.push_str(&rest[..start]);
        out.push_str(value);
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    out
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

fn as_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Compares a documented answer with a real one; new bindings go to `bind`. `Err` names the path.
fn matches(
    path: &str,
    doc: &Value,
    actual: &Value,
    bound: &HashMap<String, String>,
    bind: &mut HashMap<String, String>,
) -> Result<(), String> {
    if let Some(name) = placeholder(doc) {
        if is_empty(actual) {
            return Err(format!("{path}: documented as <{name}>, got {actual}"));
        }
        if WILDCARDS.contains(&name) {
            return Ok(());
        }
        let text = as_text(actual);
        match bound.get(name).or_else(|| bind.get(name)) {
            Some(known) if *known != text => {
                Err(format!("{path}: <{name}> was {known}, now {text}"))
            }
            Some(_) => Ok(()),
            None => {
                bind.insert(name.to_string(), text);
                Ok(())
            }
        }
    } else {
        match (doc, actual) {
            (Value::Object(d), Value::Object(a)) => {
                let documented: BTreeSet<_> = d.keys().collect();
                let answered: BTreeSet<_> = a.keys().collect();
                if documented != answered {
                    return Err(format!(
                        "{path}: fields documented {documented:?}, answered {answered:?}"
                    ));
                }
                for (key, value) in d {
                    matches(&format!("{path}.{key}"), value, &a[key], bound, bind)?;
                }
                Ok(())
            }
            (Value::Array(d), Value::Array(a)) => {
                if d.len() != a.len() {
                    return Err(format!(
                        "{path}: {} elements documented, {} answered",
                        d.len(),
                        a.len()
                    ));
                }
                for (i, (d, a)) in d.iter().zip(a).enumerate() {
                    matches(&format!("{path}[{i}]"), d, a, bound, bind)?;
                }
                Ok(())
            }
            (d, a) if d == a => Ok(()),
            (d, a) => Err(format!("{path}: documented {d}, answered {a}")),
        }
    }
}

/// What `DOCS_PRINT` mode binds from an answer that did not match, to go on with the next examples.
fn bind_leniently(doc: &Value, actual: &Value, bind: &mut HashMap<String, String>) {
    match (doc, actual) {
        (d, a) if placeholder(d).is_some() => {
            let name = placeholder(d).unwrap_or_default();
            if !WILDCARDS.contains(&name) && !is_empty(a) {
                bind.entry(name.to_string()).or_insert_with(|| as_text(a));
            }
        }
        (Value::Object(d), Value::Object(a)) => {
            for (key, value) in d {
                if let Some(actual) = a.get(key) {
                    bind_leniently(value, actual, bind);
                }
            }
        }
        (Value::Array(d), Value::Array(a)) => {
            for (d, a) in d.iter().zip(a) {
                bind_leniently(d, a, bind);
            }
        }
        _ => {}
    }
}

// --- the dynamic client ---------------------------------------------------------------------------

/// A tonic codec for messages known only by their descriptors.
#[derive(Clone)]
struct DynamicCodec {
    output: MessageDescriptor,
}

impl Codec for DynamicCodec {
    type Encode = DynamicMessage;
    type Decode = DynamicMessage;
    type Encoder = DynamicCodec;
    type Decoder = DynamicCodec;

    fn encoder(&mut self) -> Self::Encoder {
        self.clone()
    }

    fn decoder(&mut self) -> Self::Decoder {
        self.clone()
    }
}

impl Encoder for DynamicCodec {
    type Item = DynamicMessage;
    type Error = tonic::Status;

    fn encode(&mut self, item: DynamicMessage, dst: &mut EncodeBuf<'_>) -> Result<(), Self::Error> {
        item.encode(dst)
            .map_err(|e| tonic::Status::internal(e.to_string()))
    }
}

impl Decoder for DynamicCodec {
    type Item = DynamicMessage;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<DynamicMessage>, Self::Error> {
        DynamicMessage::decode(self.output.clone(), src)
            .map(Some)
            .map_err(|e| tonic::Status::internal(e.to_string()))
    }
}

fn descriptors() -> DescriptorPool {
    let mut pool = DescriptorPool::new();
    pool.decode_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .expect("grpc.health.v1 descriptors");
    pool.decode_file_descriptor_set(funding_client::FILE_DESCRIPTOR_SET)
        .expect("funding.v1 descriptors");
    pool.decode_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
        .expect("google.rpc descriptors");
    pool
}

/// An error as grpcurl shows it: the code's name, the message, and each `google.rpc` detail as
/// JSON (decoded through the descriptors, `@type` first), to compare with a [`DocError`].
fn error_json(pool: &DescriptorPool, status: &tonic::Status) -> Value {
    let descriptor = pool
        .get_message_by_name("google.rpc.Status")
        .expect("google.rpc.Status");
    let details = DynamicMessage::decode(descriptor, status.details())
        .map(|message| to_json(&message))
        .ok()
        .and_then(|json| json.get("details").cloned())
        .unwrap_or_else(|| Value::Array(Vec::new()));
    serde_json::json!({
        "code": format!("{:?}", status.code()),
        "message": status.message(),
        "details": details,
    })
}

fn find_method(pool: &DescriptorPool, full: &str) -> Option<MethodDescriptor> {
    let (service, method) = full.split_once('/')?;
    pool.get_service_by_name(service)?
        .methods()
        .find(|m| m.name() == method)
}

fn to_json(message: &DynamicMessage) -> Value {
    serde_json::to_value(message).expect("the answer as JSON")
}

/// Calls `method` with `request` as grpcurl would and returns the answer (the first `count` messages
/// of a stream).
async fn call(
    channel: &Channel,
    method: &MethodDescriptor,
    request: &str,
    count: usize,
) -> Result<Vec<Value>, tonic::Status> {
    let mut deserializer = serde_json::Deserializer::from_str(request);
    let message = DynamicMessage::deserialize(method.input(), &mut deserializer)
        .map_err(|e| tonic::Status::invalid_argument(format!("the request JSON: {e}")))?;
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready()
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let path = PathAndQuery::try_from(format!(
        "/{}/{}",
        method.parent_service().full_name(),
        method.name()
    ))
    .expect("a method path");
    let codec = DynamicCodec {
        output: method.output(),
    };
    if method.is_server_streaming() {
        let mut stream = grpc
            .server_streaming(tonic::Request::new(message), path, codec)
            .await?
            .into_inner();
        let mut answers = Vec::new();
        while answers.len() < count {
            match tokio::time::timeout(Duration::from_secs(20), stream.message()).await {
                Ok(Ok(Some(message))) => answers.push(to_json(&message)),
                Ok(Ok(None)) => break,
                Ok(Err(status)) => return Err(status),
                Err(_) => break,
            }
        }
        Ok(answers)
    } else {
        let answer = grpc
            .unary(tonic::Request::new(message), path, codec)
            .await?
            .into_inner();
        Ok(vec![to_json(&answer)])
    }
}

fn is_read(method: &MethodDescriptor) -> bool {
    method.name().starts_with("Get") || method.name().starts_with("List")
}

// --- the tests ------------------------------------------------------------------------------------

#[test]
fn every_rpc_of_every_service_has_an_example() {
    let pool = descriptors();
    let documented: BTreeSet<String> = examples(DOC).into_iter().map(|e| e.method).collect();
    let mut missing = Vec::new();
    for service in pool.services() {
        if service.full_name().starts_with("grpc.reflection.") {
            continue;
        }
        for method in service.methods() {
            let full = format!("{}/{}", service.full_name(), method.name());
            if !documented.contains(&full) {
                missing.push(full);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/api.md has no example for {missing:?}"
    );
    for name in &documented {
        assert!(
            find_method(&pool, name).is_some(),
            "docs/api.md documents {name}, which the API does not have"
        );
    }
}

#[test]
fn the_comparison_catches_renamed_fields_and_other_values() {
    let bound = HashMap::from([("id".to_string(), "a".to_string())]);
    let mut bind = HashMap::new();
    let doc: Value =
        serde_json::json!({"bankLink": {"id": "<id>", "status": "X", "createdAt": "<timestamp>"}});
    let same = serde_json::json!({"bankLink": {"id": "a", "status": "X", "createdAt": "2026-01-01T00:00:00Z"}});
    assert!(matches("", &doc, &same, &bound, &mut bind).is_ok());
    let renamed = serde_json::json!({"bankLink": {"linkId": "a", "status": "X", "createdAt": "t"}});
    assert!(matches("", &doc, &renamed, &bound, &mut bind).is_err());
    let other = serde_json::json!({"bankLink": {"id": "a", "status": "Y", "createdAt": "t"}});
    assert!(matches("", &doc, &other, &bound, &mut bind).is_err());
    let other_id = serde_json::json!({"bankLink": {"id": "b", "status": "X", "createdAt": "t"}});
    assert!(matches("", &doc, &other_id, &bound, &mut bind).is_err());
    let empty_id = serde_json::json!({"bankLink": {"status": "X", "createdAt": "t"}});
    assert!(matches("", &doc, &empty_id, &bound, &mut bind).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_example_in_the_api_doc_answers_as_documented() {
    let app = funding_tests::TestApp::spawn().await;
    // Statuses move only when the doc says so (SimulateTransfer), not on the emulator's timers.
    app.sandbox
        .set_relationship_approval_delay(Duration::from_secs(3600));
    app.sandbox
        .set_transfer_step_delay(Duration::from_secs(3600));
    let channel = Channel::from_shared(app.address.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let pool = descriptors();
    let print = std::env::var_os("DOCS_PRINT").is_some();
    let mut bound: HashMap<String, String> = HashMap::new();
    let mut failures = Vec::new();
    for example in examples(DOC) {
        let line = example.line;
        let method = find_method(&pool, &example.method)
            .unwrap_or_else(|| panic!("docs/api.md:{line}: no method {}", example.method));
        let request = substitute(&example.request, &bound, line);
        let deadline = tokio::time::Instant::now()
            + if is_read(&method) {
                Duration::from_secs(10)
            } else {
                Duration::ZERO
            };
        let outcome = loop {
            let attempt = match call(&channel, &method, &request, example.answer.len()).await {
                Err(status) if example.error.is_some() => {
                    let doc = example.error.as_ref().expect("an error example");
                    let doc = serde_json::json!({
                        "code": doc.code,
                        "message": substitute(&doc.message, &bound, line),
                        "details": doc.details,
                    });
                    let real = error_json(&pool, &status);
                    let mut bind = HashMap::new();
                    matches("", &doc, &real, &bound, &mut bind)
                        .map(|()| bind)
                        .map_err(|e| format!("{e}\nanswered: {real:#}"))
                }
                Err(status) => Err(format!("{status:?}")),
                Ok(answer) if example.error.is_some() => {
                    Err(format!("documented an error, answered {answer:?}"))
                }
                Ok(answer) => {
                    if print {
                        bind_leniently(
                            &Value::Array(example.answer.clone()),
                            &Value::Array(answer.clone()),
                            &mut bound,
                        );
                    }
                    let mut bind = HashMap::new();
                    matches(
                        "",
                        &Value::Array(example.answer.clone()),
                        &Value::Array(answer.clone()),
                        &bound,
                        &mut bind,
                    )
                    .map(|()| bind)
                    .map_err(|e| {
                        format!(
                            "{e}\nanswered:\n{}",
                            answer
                                .iter()
                                .map(|a| serde_json::to_string_pretty(a).unwrap())
                                .collect::<Vec<_>>()
                                .join("\n")
                        )
                    })
                }
            };
            if attempt.is_ok() || tokio::time::Instant::now() >= deadline {
                break attempt;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        match outcome {
            Ok(bind) => {
                if print {
                    println!("docs/api.md:{line} {}: ok", example.method);
                }
                bound.extend(bind);
            }
            Err(error) => {
                if print {
                    println!("docs/api.md:{line} {}: {error}", example.method);
                }
                failures.push(format!("docs/api.md:{line} {}: {error}", example.method));
                // Later examples need this one's bindings: stop at the first broken one, unless
                // printing every answer.
                if !print {
                    break;
                }
            }
        }
    }
    app.stop().await;
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
