//! Reflection (v1 and v1alpha) lists every service and resolves the `google.rpc` error details, and health says SERVING while the database
//! answers and NOT_SERVING once it does not.

use std::time::Duration;

use funding_tests::{AppOptions, Backend, TestApp};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

const SERVICES: &[&str] = &[
    "funding.v1.BankLinkService",
    "funding.v1.TransferService",
    "funding.v1.BankTransferService",
    "funding.v1.SandboxService",
    "grpc.health.v1.Health",
];

/// A test that lists services through one version of the reflection API.
macro_rules! reflection_lists_every_service {
    ($name:ident, $version:ident) => {
        #[tokio::test]
        async fn $name() {
            use tonic_reflection::pb::$version::ServerReflectionRequest;
            use tonic_reflection::pb::$version::server_reflection_client::ServerReflectionClient;
            use tonic_reflection::pb::$version::server_reflection_request::MessageRequest;
            use tonic_reflection::pb::$version::server_reflection_response::MessageResponse;

            let app = TestApp::spawn().await;
            let mut client = ServerReflectionClient::new(app.client.channel());
            let request = ServerReflectionRequest {
                host: String::new(),
                message_request: Some(MessageRequest::ListServices(String::new())),
            };
            let mut responses = client
                .server_reflection_info(tokio_stream_once(request))
                .await
                .unwrap()
                .into_inner();
            let response = responses.message().await.unwrap().unwrap();
            let Some(MessageResponse::ListServicesResponse(list)) = response.message_response
            else {
                panic!("unexpected reflection answer {response:?}");
            };
            let names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
            for service in SERVICES {
                assert!(
                    names.iter().any(|n| n == service),
                    "{service} missing from {names:?}"
                );
            }
            app.stop().await;
        }
    };
}

reflection_lists_every_service!(reflection_v1_lists_every_service, v1);
reflection_lists_every_service!(reflection_v1alpha_lists_every_service, v1alpha);

/// The `google.rpc` error details every error carries, as grpcurl resolves an `Any` by its type.
const ERROR_DETAILS: &[&str] = &[
    "google.rpc.ErrorInfo",
    "google.rpc.BadRequest",
    "google.rpc.PreconditionFailure",
    "google.rpc.RetryInfo",
];

/// A test that asks one version of the reflection API for the file of each error detail.
macro_rules! reflection_resolves_the_error_details {
    ($name:ident, $version:ident) => {
        #[tokio::test]
        async fn $name() {
            use tonic_reflection::pb::$version::ServerReflectionRequest;
            use tonic_reflection::pb::$version::server_reflection_client::ServerReflectionClient;
            use tonic_reflection::pb::$version::server_reflection_request::MessageRequest;
            use tonic_reflection::pb::$version::server_reflection_response::MessageResponse;

            let app = TestApp::spawn().await;
            let mut client = ServerReflectionClient::new(app.client.channel());
            for symbol in ERROR_DETAILS {
                let request = ServerReflectionRequest {
                    host: String::new(),
                    message_request: Some(MessageRequest::FileContainingSymbol(
                        (*symbol).to_owned(),
                    )),
                };
                let mut responses = client
                    .server_reflection_info(tokio_stream_once(request))
                    .await
                    .unwrap()
                    .into_inner();
                let response = responses.message().await.unwrap().unwrap();
                let Some(MessageResponse::FileDescriptorResponse(files)) =
                    response.message_response
                else {
                    panic!("{symbol}: unexpected reflection answer {response:?}");
                };
                use prost::Message as _;
                let file = prost_types::FileDescriptorProto::decode(
                    files.file_descriptor_proto[0].as_slice(),
                )
                .unwrap();
                let name = symbol.trim_start_matches("google.rpc.");
                assert_eq!(file.package(), "google.rpc", "{symbol}");
                assert!(
                    file.message_type
                        .iter()
                        .any(|message| message.name() == name),
                    "{symbol} is not in {}",
                    file.name()
                );
            }
            app.stop().await;
        }
    };
}

reflection_resolves_the_error_details!(reflection_v1_resolves_the_error_details, v1);
reflection_resolves_the_error_details!(reflection_v1alpha_resolves_the_error_details, v1alpha);

fn tokio_stream_once<T: Send + 'static>(
    item: T,
) -> impl futures::Stream<Item = T> + Send + 'static {
    futures::stream::once(async move { item })
}

async fn health(app: &TestApp, service: &str) -> ServingStatus {
    let mut client = HealthClient::new(app.client.channel());
    let response = client
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .unwrap()
        .into_inner();
    response.status()
}

#[tokio::test]
async fn health_is_serving() {
    let app = TestApp::spawn().await;
    assert_eq!(health(&app, "").await, ServingStatus::Serving);
    assert_eq!(
        health(&app, "funding.v1.BankLinkService").await,
        ServingStatus::Serving
    );
    app.stop().await;
}

#[tokio::test]
async fn health_is_not_serving_while_the_database_is_unreachable() {
    let app = TestApp::spawn_with(AppOptions {
        backend: Backend::Postgres,
        ..AppOptions::default()
    })
    .await;
    assert_eq!(health(&app, "").await, ServingStatus::Serving);
    let name = app.database_url.rsplit('/').next().unwrap().to_owned();
    let admin = sea_orm::Database::connect(funding_tests::postgres_admin_url())
        .await
        .unwrap();
    use sea_orm::ConnectionTrait;
    admin
        .execute_unprepared(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .await
        .unwrap();
    let mut last = ServingStatus::Serving;
    for _ in 0..200 {
        last = health(&app, "").await;
        if last == ServingStatus::NotServing {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(last, ServingStatus::NotServing);
    assert_eq!(
        health(&app, "funding.v1.BankLinkService").await,
        ServingStatus::NotServing
    );
    let _ = admin.close().await;
    app.stop().await;
}
