//! `funding_provider_items_skipped_total{provider="alpaca", what, reason}` counts each list element
//! the adapter skipped, once. The only test of its binary: it installs the global recorder.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests/ may unwrap (STYLE)

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use common::{
    Paged, account, broker, listed, relationship_json, relationships_path, transfers_path,
};
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use serde_json::json;
use uuid::Uuid;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Every counter, by `name{label=value,…}` with the labels sorted.
#[derive(Default, Clone)]
struct Counters(Arc<Mutex<HashMap<String, Arc<AtomicU64>>>>);

impl Counters {
    fn get(&self, key: &str) -> u64 {
        self.0
            .lock()
            .unwrap()
            .get(key)
            .map_or(0, |value| value.load(Ordering::SeqCst))
    }
}

impl Recorder for Counters {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let mut labels: Vec<String> = key
            .labels()
            .map(|label| format!("{}={}", label.key(), label.value()))
            .collect();
        labels.sort();
        let text = format!("{}{{{}}}", key.name(), labels.join(","));
        Counter::from_arc(self.0.lock().unwrap().entry(text).or_default().clone())
    }

    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }

    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

#[tokio::test]
async fn each_skipped_element_is_counted_once_by_what_and_why() {
    let counters = Counters::default();
    metrics::set_global_recorder(counters.clone()).unwrap();

    let mut sideways = listed(Uuid::new_v4(), 1);
    sideways["direction"] = json!("SIDEWAYS");
    let mut wire = listed(Uuid::new_v4(), 2);
    wire["type"] = json!("wire");
    let mut bad_amount = listed(Uuid::new_v4(), 3);
    bad_amount["amount"] = json!("a lot");
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(transfers_path()))
        .respond_with(Paged {
            elements: vec![
                listed(Uuid::new_v4(), 0),
                sideways,
                wire,
                bad_amount,
                json!(17),
                listed(Uuid::new_v4(), 4),
            ],
            // Pages of two: nothing is counted twice across pages.
            cap: 2,
        })
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(relationships_path()))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([relationship_json("APPROVED"), {"id": "x"}])),
        )
        .mount(&server)
        .await;
    let client = broker(&server.uri());

    assert_eq!(
        client.list_transfers(account(), None).await.unwrap().len(),
        2
    );
    assert_eq!(
        client
            .list_ach_relationships(account())
            .await
            .unwrap()
            .len(),
        1
    );

    let metric = "funding_provider_items_skipped_total";
    for (labels, count) in [
        ("provider=alpaca,reason=direction,what=transfer", 1),
        ("provider=alpaca,reason=not_ach,what=transfer", 1),
        ("provider=alpaca,reason=unreadable,what=transfer", 2),
        ("provider=alpaca,reason=unreadable,what=ach_relationship", 1),
    ] {
        assert_eq!(
            counters.get(&format!("{metric}{{{labels}}}")),
            count,
            "{labels}"
        );
    }
}
