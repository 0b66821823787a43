//! Traces over OTLP (`otlp_endpoint`): an in-test collector (the OTLP/gRPC `TraceService/Export`)
//! receives fundingd's spans — `service.name` = `fundingd`, the `grpc` span of each call with its
//! `method` and `request_id`, and the use cases' spans nested under it with the resources' ids —
//! once the service stops and the exporter is flushed. A binary of its own: the global tracing
//! subscriber is per process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use funding_client::v1;
use funding_tests::TestApp;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;

/// Every export request received.
#[derive(Clone, Default)]
struct Collector(Arc<Mutex<Vec<ExportTraceServiceRequest>>>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.0.lock().unwrap().push(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

impl Collector {
    /// Every span received, with its resource's attributes.
    fn spans(&self) -> Vec<(Vec<KeyValue>, Span)> {
        let requests = self.0.lock().unwrap();
        let mut spans = Vec::new();
        for request in requests.iter() {
            for resource_spans in &request.resource_spans {
                let resource = resource_spans
                    .resource
                    .as_ref()
                    .map(|resource| resource.attributes.clone())
                    .unwrap_or_default();
                for scope_spans in &resource_spans.scope_spans {
                    for span in &scope_spans.spans {
                        spans.push((resource.clone(), span.clone()));
                    }
                }
            }
        }
        spans
    }
}

/// The string value of attribute `key`.
fn string_attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    attributes
        .iter()
        .find(|attribute| attribute.key == key)
        .and_then(|attribute| match attribute.value.as_ref() {
            Some(AnyValue {
                value: Some(any_value::Value::StringValue(value)),
            }) => Some(value.as_str()),
            _ => None,
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_are_exported_over_otlp_with_the_request_and_resource_ids() {
    let collector = Collector::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(collector.clone()))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let traces = fundingd::telemetry::init_otlp(&endpoint, None).expect("the OTLP layer installs");

    let app = TestApp::spawn().await;
    let (account_id, link) = app.approved_link().await;
    let transfer = app
        .create_transfer(app.transfer_request(
            &account_id,
            &link,
            "25.00",
            v1::TransferDirection::Deposit,
        ))
        .await
        .expect("CreateTransfer");
    app.get_transfer(&transfer.id).await;
    app.stop().await;
    traces.shutdown().await;
    server.abort();

    let spans = collector.spans();
    assert!(!spans.is_empty(), "no span reached the collector");
    for (resource, span) in &spans {
        assert_eq!(
            string_attribute(resource, "service.name"),
            Some("fundingd"),
            "the resource of span {}",
            span.name
        );
    }
    let names: std::collections::BTreeSet<&str> =
        spans.iter().map(|(_, span)| span.name.as_str()).collect();

    // The call's span: its method and a request id (the one tower-http made for it).
    let create_calls: Vec<&Span> = spans
        .iter()
        .map(|(_, span)| span)
        .filter(|span| {
            span.name == "grpc"
                && string_attribute(&span.attributes, "method")
                    == Some("/funding.v1.TransferService/CreateTransfer")
        })
        .collect();
    assert_eq!(
        create_calls.len(),
        1,
        "one grpc span of CreateTransfer; spans: {names:?}"
    );
    let call = create_calls[0];
    let request_id = string_attribute(&call.attributes, "request_id").unwrap_or_default();
    assert!(
        !request_id.is_empty(),
        "grpc span without a request_id: {call:?}"
    );

    // The use case's span, in the call's trace, under the call's span, with the transfer's id.
    let with_id: Vec<&Span> = spans
        .iter()
        .map(|(_, span)| span)
        .filter(|span| string_attribute(&span.attributes, "transfer_id") == Some(&transfer.id))
        .collect();
    assert!(
        !with_id.is_empty(),
        "no span with transfer_id = {}; spans: {names:?}",
        transfer.id
    );
    let in_call: Vec<&&Span> = with_id
        .iter()
        .filter(|span| span.trace_id == call.trace_id)
        .collect();
    assert!(
        !in_call.is_empty(),
        "no span with the transfer's id in the CreateTransfer call's trace: {with_id:?}"
    );
    let ancestors_reach_the_call = |span: &Span| {
        let by_id = |id: &[u8]| {
            spans
                .iter()
                .map(|(_, span)| span)
                .find(|candidate| candidate.span_id == id)
        };
        let mut parent = span.parent_span_id.clone();
        for _ in 0..32 {
            if parent == call.span_id {
                return true;
            }
            match by_id(&parent) {
                Some(next) => parent = next.parent_span_id.clone(),
                None => return false,
            }
        }
        false
    };
    assert!(
        in_call.iter().any(|span| ancestors_reach_the_call(span)),
        "the use case's span does not nest under the grpc span: {in_call:?}"
    );

    // The link flow's spans carry the link's and the account's ids too.
    assert!(
        spans
            .iter()
            .any(|(_, span)| string_attribute(&span.attributes, "bank_link_id") == Some(&link.id)),
        "no span with bank_link_id = {}; spans: {names:?}",
        link.id
    );
    assert!(
        spans
            .iter()
            .any(|(_, span)| string_attribute(&span.attributes, "account_id") == Some(&account_id)),
        "no span with account_id = {account_id}; spans: {names:?}"
    );
}
