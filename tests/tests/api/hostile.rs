//! Hostile input (DESIGN §4.5): random request messages for every RPC the proto declares — empty,
//! huge, unicode and NUL strings, random and plausible ids, negative and huge numbers, unknown enum
//! values, garbage page tokens and timestamps, and random bytes as the whole body. The server never
//! panics and keeps serving; every answer is OK or a documented refusal, never INTERNAL or
//! UNKNOWN; and a request refused as invalid calls no provider and writes no row.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};

use funding_tests::TestApp;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use prost::Message as _;
use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor, Value};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use tonic::Code;
use tonic_types::StatusExt as _;

use crate::raw_grpc::{self, Rpc};

/// Tables only the background followers write (Alpaca's stream and Plaid's sync keep their
/// cursors and leases), and the migrations' own: not touched by a request.
const BACKGROUND_TABLES: &[&str] = &[
    "stream_cursors",
    "stream_leases",
    "seaql_migrations",
    "deployment",
];

/// Provider calls only the background workers make, whatever the requests: the reconciler's Item
/// check reads approved links' Items.
const BACKGROUND_CALLS: &[&str] = &["POST /item/get"];

/// What a request could leave behind: the rows of every table, and the calls the emulator got
/// (but the followers' own reading).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    rows: BTreeMap<String, i64>,
    provider_calls: Vec<String>,
}

impl Snapshot {
    pub async fn take(app: &TestApp) -> Snapshot {
        let db = Database::connect(&app.database_url).await.unwrap();
        let snapshot = Self::take_on(&db, app, &[]).await;
        let _ = db.close().await;
        snapshot
    }

    /// As [`take`](Self::take), on `db`, leaving out provider calls whose path names one of
    /// `ignored` (the reconciler's looking at resources made before).
    async fn take_on(db: &DatabaseConnection, app: &TestApp, ignored: &[String]) -> Snapshot {
        let backend = db.get_database_backend();
        let tables = db
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            ))
            .await
            .unwrap();
        let mut rows = BTreeMap::new();
        for table in tables {
            let name: String = table.try_get("", "name").unwrap();
            if BACKGROUND_TABLES.contains(&name.as_str()) {
                continue;
            }
            let count = db
                .query_one_raw(Statement::from_string(
                    backend,
                    format!("SELECT COUNT(*) AS n FROM \"{name}\""),
                ))
                .await
                .unwrap()
                .unwrap();
            rows.insert(name, count.try_get::<i64>("", "n").unwrap());
        }
        let provider_calls = app
            .requests()
            .into_iter()
            .filter(|call| !ignored.iter().any(|id| call.path.contains(id.as_str())))
            .map(|call| format!("{} {}", call.method, call.path))
            .filter(|call| !BACKGROUND_CALLS.contains(&call.as_str()))
            .collect();
        Snapshot {
            rows,
            provider_calls,
        }
    }

    /// What `later` has that this does not, if anything.
    pub fn difference(&self, later: &Snapshot) -> Option<String> {
        let mut changes = Vec::new();
        for (table, n) in &later.rows {
            let before = self.rows.get(table).copied().unwrap_or(0);
            if *n != before {
                changes.push(format!("{table}: {before} -> {n} rows"));
            }
        }
        if later.provider_calls.len() != self.provider_calls.len() {
            let new: Vec<_> = later
                .provider_calls
                .iter()
                .skip(self.provider_calls.len())
                .collect();
            changes.push(format!("provider calls {new:?}"));
        }
        (!changes.is_empty()).then(|| changes.join("; "))
    }
}

// ---------------------------------------------------------------------------------------------
// Hostile values

fn hostile_string() -> BoxedStrategy<String> {
    prop_oneof![
        Just(String::new()),
        Just(" ".to_owned()),
        Just("\0".to_owned()),
        Just("abc\0def".to_owned()),
        Just("'; DROP TABLE bank_links; --".to_owned()),
        Just("../../../etc/passwd".to_owned()),
        Just("\u{202e}gnp.exe\u{200b}\u{feff}".to_owned()),
        Just("💸🏦\u{10ffff}".to_owned()),
        Just("%00%ff".to_owned()),
        Just("null".to_owned()),
        // Plausible shapes, so that some requests get past validation.
        any::<u128>().prop_map(|n| uuid::Uuid::from_u128(n).to_string()),
        any::<u128>().prop_map(|n| uuid::Uuid::from_u128(n).simple().to_string()),
        Just(uuid::Uuid::nil().to_string()),
        Just("00000000-0000-0000-0000-00000000000G".to_owned()),
        prop_oneof![
            Just("100.00"),
            Just("0.01"),
            Just("0"),
            Just("-1.00"),
            Just("1e309"),
            Just("NaN"),
            Just("0.001"),
            Just("99999999999999999999999999999.99"),
            Just("1,000.00"),
            Just(" 5.00 "),
            Just("USD"),
            Just("usd"),
            Just("R01"),
            Just("R99"),
            Just("COMPLETE"),
            Just("RETURNED"),
            Just("APPROVED"),
            Just("posted"),
            Just("reversed"),
            Just("ins_109508"),
            Just("jane@example.com"),
        ]
        .prop_map(str::to_owned),
        "\\PC{0,40}",
        "[\\x00-\\x1f\\x7f]{1,8}",
        // Garbage page tokens and ids: base64-ish, very long, numbers.
        "[A-Za-z0-9+/=_-]{1,64}",
        "-?[0-9]{1,30}",
        (1usize..40_000).prop_map(|n| "x".repeat(n)),
        (1usize..2_000).prop_map(|n| "é".repeat(n)),
    ]
    .boxed()
}

fn hostile_i32() -> BoxedStrategy<i32> {
    prop_oneof![
        Just(0),
        Just(-1),
        Just(1),
        Just(i32::MIN),
        Just(i32::MAX),
        Just(101),
        Just(1_000_000),
        any::<i32>(),
    ]
    .boxed()
}

fn hostile_i64() -> BoxedStrategy<i64> {
    prop_oneof![
        Just(0),
        Just(-1),
        Just(i64::MIN),
        Just(i64::MAX),
        Just(253_402_300_800), // year 10000
        Just(-62_135_596_801), // before year 1
        Just(1_700_000_000),
        any::<i64>(),
    ]
    .boxed()
}

/// A hostile value for one (non-repeated, non-map) field of kind `kind`; `depth` bounds nesting.
fn scalar(kind: Kind, depth: u32) -> BoxedStrategy<Value> {
    match kind {
        Kind::Double => prop_oneof![
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(-0.0),
            any::<f64>()
        ]
        .prop_map(Value::F64)
        .boxed(),
        Kind::Float => any::<f32>().prop_map(Value::F32).boxed(),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => hostile_i32().prop_map(Value::I32).boxed(),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => hostile_i64().prop_map(Value::I64).boxed(),
        Kind::Uint32 | Kind::Fixed32 => any::<u32>().prop_map(Value::U32).boxed(),
        Kind::Uint64 | Kind::Fixed64 => any::<u64>().prop_map(Value::U64).boxed(),
        Kind::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
        Kind::String => hostile_string().prop_map(Value::String).boxed(),
        Kind::Bytes => prop::collection::vec(any::<u8>(), 0..64)
            .prop_map(|b| Value::Bytes(b.into()))
            .boxed(),
        Kind::Enum(descriptor) => {
            let known: Vec<i32> = descriptor.values().map(|v| v.number()).collect();
            prop_oneof![prop::sample::select(known), hostile_i32(), (-3i32..12),]
                .prop_map(Value::EnumNumber)
                .boxed()
        }
        Kind::Message(descriptor) => message(descriptor, depth + 1, None)
            .prop_map(Value::Message)
            .boxed(),
    }
}

/// A well-formed value for `field`, judged by its name and kind, so that some requests get past
/// validation and reach the use cases, the store and the providers.
fn plausible(field: &FieldDescriptor) -> Option<BoxedStrategy<Value>> {
    let name = field.name();
    let uuid = || {
        any::<u128>()
            .prop_map(|n| Value::String(uuid::Uuid::from_u128(n).to_string()))
            .boxed()
    };
    match field.kind() {
        Kind::String if name == "amount" => Some(
            prop_oneof![
                Just("100.00"),
                Just("0.01"),
                Just("25.5"),
                Just("1000000.00")
            ]
            .prop_map(|a| Value::String(a.to_owned()))
            .boxed(),
        ),
        Kind::String if name == "iso_currency_code" => {
            Some(Just(Value::String("USD".into())).boxed())
        }
        Kind::String if name.ends_with("id") || name == "idempotency_key" => Some(uuid()),
        Kind::String if name == "public_token" || name == "processor_token" => {
            let prefix = if name == "public_token" {
                "public"
            } else {
                "processor"
            };
            Some(
                any::<u128>()
                    .prop_map(move |n| {
                        Value::String(format!("{prefix}-sandbox-{}", uuid::Uuid::from_u128(n)))
                    })
                    .boxed(),
            )
        }
        Kind::String if name == "email_address" => {
            Some(Just(Value::String("jane@example.com".into())).boxed())
        }
        Kind::String => Some("[A-Za-z][A-Za-z0-9 ]{0,9}".prop_map(Value::String).boxed()),
        Kind::Int32 if name == "page_size" => Some((0i32..=100).prop_map(Value::I32).boxed()),
        Kind::Enum(descriptor) => {
            let known: Vec<i32> = descriptor
                .values()
                .map(|v| v.number())
                .filter(|n| *n != 0)
                .collect();
            (!known.is_empty()).then(|| {
                prop::sample::select(known)
                    .prop_map(Value::EnumNumber)
                    .boxed()
            })
        }
        Kind::Message(descriptor) if descriptor.full_name() == "google.protobuf.Timestamp" => {
            let seconds = descriptor.get_field_by_name("seconds")?;
            Some(
                (1_600_000_000i64..1_900_000_000)
                    .prop_map(move |n| {
                        let mut timestamp = DynamicMessage::new(descriptor.clone());
                        timestamp.set_field(&seconds, Value::I64(n));
                        Value::Message(timestamp)
                    })
                    .boxed(),
            )
        }
        _ => None,
    }
}

/// A value for `field` — hostile, or well-formed — or none (the field left unset).
fn field_value(
    field: &FieldDescriptor,
    depth: u32,
    known: Option<&[String]>,
) -> BoxedStrategy<Option<Value>> {
    let value: BoxedStrategy<Value> = if field.is_map() {
        let Kind::Message(entry) = field.kind() else {
            unreachable!("a map field's kind is its entry message")
        };
        let key = entry.map_entry_key_field();
        let value = entry.map_entry_value_field();
        let keys = scalar(key.kind(), depth);
        let values = scalar(value.kind(), depth);
        prop::collection::vec((keys, values), 0..60)
            .prop_map(|entries| {
                let map: HashMap<MapKey, Value> = entries
                    .into_iter()
                    .filter_map(|(k, v)| {
                        let key = match k {
                            Value::String(s) => MapKey::String(s),
                            Value::I32(n) => MapKey::I32(n),
                            Value::I64(n) => MapKey::I64(n),
                            Value::U32(n) => MapKey::U32(n),
                            Value::U64(n) => MapKey::U64(n),
                            Value::Bool(b) => MapKey::Bool(b),
                            _ => return None,
                        };
                        Some((key, v))
                    })
                    .collect();
                Value::Map(map)
            })
            .boxed()
    } else if field.is_list() {
        prop::collection::vec(scalar(field.kind(), depth), 0..4)
            .prop_map(Value::List)
            .boxed()
    } else {
        scalar(field.kind(), depth)
    };
    let value = match plausible(field).filter(|_| !field.is_list() && !field.is_map()) {
        Some(plausible) => prop_oneof![plausible, value].boxed(),
        None => value,
    };
    // The ids of resources that exist, for the fields of reads.
    let value = match known {
        Some(known) if field.kind() == Kind::String && !field.is_list() && !field.is_map() => {
            let known = prop::sample::select(known.to_vec()).prop_map(Value::String);
            prop_oneof![known, value].boxed()
        }
        _ => value,
    };
    prop::option::weighted(0.8, value).boxed()
}

/// A hostile message of type `descriptor`: each field set or not, to a hostile value.
fn message(
    descriptor: MessageDescriptor,
    depth: u32,
    known: Option<&[String]>,
) -> BoxedStrategy<DynamicMessage> {
    if depth > 2 {
        return Just(DynamicMessage::new(descriptor)).boxed();
    }
    let fields: Vec<FieldDescriptor> = descriptor.fields().collect();
    let values: Vec<BoxedStrategy<Option<Value>>> = fields
        .iter()
        .map(|f| field_value(f, depth, known))
        .collect();
    values
        .prop_map(move |values| {
            let mut message = DynamicMessage::new(descriptor.clone());
            for (field, value) in fields.iter().zip(values) {
                // A value of the wrong type for its field would be refused here: it is not sent.
                if let Some(value) = value {
                    let _ = message.try_set_field(field, value);
                }
            }
            message
        })
        .boxed()
}

/// A request body for `rpc`: a hostile message of its type, random bytes, or a message with
/// random bytes after it. The reads' string fields may also hold the `known` ids; writes never
/// get them, so that no request changes the resources made before (whose events would arrive
/// while later requests are judged).
fn body(rpc: &Rpc, known: &[String]) -> BoxedStrategy<Vec<u8>> {
    let read = ["/Get", "/List", "/Watch"]
        .iter()
        .any(|verb| rpc.path.contains(verb));
    let encoded =
        message(rpc.input.clone(), 0, read.then_some(known)).prop_map(|m| m.encode_to_vec());
    prop_oneof![
        6 => encoded.clone(),
        2 => prop::collection::vec(any::<u8>(), 0..200),
        1 => (encoded, prop::collection::vec(any::<u8>(), 1..20)).prop_map(|(mut m, tail)| {
            m.extend(tail);
            m
        }),
    ]
    .boxed()
}

// ---------------------------------------------------------------------------------------------
// The property

/// Panics on the server's threads (named below): a panic caught by a task still counts.
static SERVER_PANICS: AtomicUsize = AtomicUsize::new(0);
const SERVER_THREAD: &str = "hostile-server";

/// The answers DESIGN and docs/api.md document for a refused request.
const DOCUMENTED: &[Code] = &[
    Code::InvalidArgument,
    Code::NotFound,
    Code::FailedPrecondition,
    Code::AlreadyExists,
    Code::PermissionDenied,
    Code::Unauthenticated,
    Code::ResourceExhausted,
    Code::Aborted,
];

/// How many cases; `FUNDING_HOSTILE_CASES` runs more.
fn cases() -> u32 {
    std::env::var("FUNDING_HOSTILE_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000)
}

#[test]
fn hostile_requests_get_documented_answers_and_invalid_ones_leave_nothing_behind() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().name() == Some(SERVER_THREAD) {
            SERVER_PANICS.fetch_add(1, Ordering::SeqCst);
        }
        previous(info);
    }));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(SERVER_THREAD)
        .enable_all()
        .build()
        .unwrap();
    let app = runtime.block_on(TestApp::spawn());
    let known = runtime.block_on(existing_resources(&app));
    let db = runtime
        .block_on(Database::connect(&app.database_url))
        .unwrap();
    let rpcs = raw_grpc::rpcs();
    let strategy = (0..rpcs.len()).prop_flat_map(|index| (Just(index), body(&rpcs[index], &known)));
    let tally = std::sync::Mutex::new(BTreeMap::<String, usize>::new());

    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&strategy, |(index, body)| {
        let rpc = &rpcs[index];
        runtime.block_on(async {
            let before = Snapshot::take_on(&db, &app, &known).await;
            let outcome = raw_grpc::call(app.client.channel(), rpc, None, body.clone()).await;
            let code = outcome.as_ref().err().map_or(Code::Ok, |s| s.code());
            let reason = outcome
                .as_ref()
                .err()
                .and_then(|s| s.get_details_error_info())
                .map(|info| info.reason)
                .unwrap_or_default();
            *tally
                .lock()
                .unwrap()
                .entry(format!("{} {code:?} {reason}", short(&rpc.path)))
                .or_default() += 1;
            if let Err(status) = &outcome {
                // Tokens are secrets (DESIGN §4.6): a refusal never repeats one.
                let mut said = status.message().to_owned();
                if let Some(bad) = status.get_details_bad_request() {
                    for violation in bad.field_violations {
                        said.push_str(&violation.description);
                    }
                }
                for token in secrets_in(&rpc.input, &body) {
                    prop_assert!(
                        !said.contains(&token),
                        "{} repeats the token {token:?} in its answer: {said}",
                        rpc.path
                    );
                }
                prop_assert!(
                    DOCUMENTED.contains(&status.code()),
                    "{} answered {:?}: {} ({} bytes)",
                    rpc.path,
                    status.code(),
                    status.message(),
                    body.len()
                );
                // Our own refusals of bad input stop at the door; the provider's refusals of
                // input only it can judge (a token it never issued) are its answers, after a call.
                if status.code() == Code::InvalidArgument && reason != "PROVIDER_REFUSED_INPUT" {
                    prop_assert!(
                        status.get_details_bad_request().is_some(),
                        "{}: INVALID_ARGUMENT without a BadRequest: {}",
                        rpc.path,
                        status.message()
                    );
                    let after = Snapshot::take_on(&db, &app, &known).await;
                    if let Some(difference) = before.difference(&after) {
                        return Err(TestCaseError::fail(format!(
                            "{} refused as invalid ({}) but left {difference}",
                            rpc.path,
                            status.message()
                        )));
                    }
                }
            }
            Ok(())
        })
    });
    let tally = tally.into_inner().unwrap();
    eprintln!("hostile answers (rpc code reason: cases):");
    for (what, n) in &tally {
        eprintln!("  {what}: {n}");
    }
    if let Err(error) = result {
        panic!("{error}");
    }
    assert_eq!(
        SERVER_PANICS.load(Ordering::SeqCst),
        0,
        "the server panicked"
    );
    // Still serving.
    runtime.block_on(async {
        let mut health = tonic_health::pb::health_client::HealthClient::new(app.client.channel());
        let answer = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: String::new(),
            })
            .await
            .expect("health answers after the hostile run")
            .into_inner();
        assert_eq!(
            answer.status(),
            tonic_health::pb::health_check_response::ServingStatus::Serving
        );
        let _ = db.close().await;
        app.stop().await;
    });
}

/// An account with an APPROVED link and a COMPLETE deposit: their ids (the account's, the
/// link's, its relationship's, the transfer's and Alpaca's, and an event id of its history).
async fn existing_resources(app: &TestApp) -> Vec<String> {
    let (account_id, link) = app.approved_link().await;
    let request = app.transfer_request(
        &account_id,
        &link,
        "10.00",
        funding_client::v1::TransferDirection::Deposit,
    );
    let transfer = app.create_transfer(request).await.unwrap();
    let transfer = app
        .wait_for_transfer_status(&transfer.id, funding_client::v1::TransferStatus::Complete)
        .await;
    let mut history = app
        .client
        .transfers()
        .watch_transfers(funding_client::v1::WatchTransfersRequest {
            account_id: account_id.clone(),
            after_event_id: "0".into(),
            transfer_id: transfer.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let event_id = history.message().await.unwrap().unwrap().event_id;
    vec![
        account_id,
        link.id,
        link.ach_relationship_id,
        transfer.id,
        transfer.provider_transfer_id,
        event_id,
    ]
}

/// The token fields' values of a body that look like Plaid's tokens, if it decodes.
fn secrets_in(input: &MessageDescriptor, body: &[u8]) -> Vec<String> {
    let Ok(message) = DynamicMessage::decode(input.clone(), body) else {
        return Vec::new();
    };
    input
        .fields()
        .filter(|field| field.name().ends_with("token") && field.name() != "page_token")
        .filter_map(|field| match message.get_field(&field).as_ref() {
            // Shaped like a real one (the plausible values' are unique): a hostile string may
            // also be a metadata key, which an answer names.
            Value::String(token)
                if token.starts_with("public-") || token.starts_with("processor-") =>
            {
                Some(token.clone())
            }
            _ => None,
        })
        .collect()
}

fn short(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}
