//! The elements of a list, read one at a time. Alpaca's lists are bare JSON arrays; a page is read
//! as `Vec<serde_json::Value>` and each element decoded on its own, so that one Alpaca cannot be
//! read as (a new shape, a field of an odd form, a direction or rail the funding flows do not use)
//! is logged, counted in `funding_provider_items_skipped_total{provider="alpaca", what, reason}`
//! and skipped: it never fails the list. The log names the element's id when it is a UUID, and
//! never quotes a value (an element may carry a token or an account number).

use serde::de::DeserializeOwned;
use serde_json::Value;
use uuid::Uuid;

/// The counter of skipped elements.
pub(crate) const SKIPPED_METRIC: &str = "funding_provider_items_skipped_total";

/// Why an element was skipped (the `reason` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SkipReason {
    /// It does not decode as the type of the list.
    Unreadable,
    /// A transfer whose direction is neither INCOMING nor OUTGOING.
    Direction,
    /// A transfer on another rail than ACH (a wire, or a type Alpaca adds later).
    NotAch,
}

impl SkipReason {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Unreadable => "unreadable",
            Self::Direction => "direction",
            Self::NotAch => "not_ach",
        }
    }
}

/// The element's `id`, when it is a UUID (anything else is not repeated in a log line).
pub(crate) fn element_id(value: &Value) -> Option<Uuid> {
    value
        .get("id")
        .and_then(Value::as_str)
        .and_then(|text| Uuid::parse_str(text.trim()).ok())
}

/// Logs and counts one skipped element of a list of `what`.
pub(crate) fn skipped(what: &'static str, id: Option<Uuid>, reason: SkipReason, detail: &str) {
    tracing::warn!(
        provider = "alpaca",
        what,
        id = id.map(tracing::field::display),
        reason = reason.as_str(),
        detail,
        "skipped an element of an Alpaca list that this service cannot use"
    );
    metrics::counter!(
        SKIPPED_METRIC,
        "provider" => "alpaca",
        "what" => what,
        "reason" => reason.as_str()
    )
    .increment(1);
}

/// Why `error` refused an element, without quoting any value: serde's messages may repeat the
/// value they choked on, so only a missing field is named.
pub(crate) fn why(error: &serde_json::Error) -> String {
    let message = error.to_string();
    if message.starts_with("missing field") {
        message
    } else {
        "a field is missing or has a value of a form this adapter does not read".to_owned()
    }
}

/// Each element of `page` as `T`, with the ids of those that could not be read (`None` for an
/// element without a UUID id); each of those is logged and counted.
pub(crate) fn decode_each<T: DeserializeOwned>(
    page: Vec<Value>,
    what: &'static str,
) -> (Vec<T>, Vec<Option<Uuid>>) {
    let mut decoded = Vec::with_capacity(page.len());
    let mut unreadable = Vec::new();
    for value in page {
        let id = element_id(&value);
        match serde_json::from_value::<T>(value) {
            Ok(item) => decoded.push(item),
            Err(error) => {
                skipped(what, id, SkipReason::Unreadable, &why(&error));
                unreadable.push(id);
            }
        }
    }
    (decoded, unreadable)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};

    use metrics::{
        Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit,
    };
    use serde_json::json;

    use super::*;

    /// A recorder that keeps every counter, by name and sorted labels.
    #[derive(Default)]
    pub(crate) struct Counters(Mutex<HashMap<String, Arc<AtomicU64>>>);

    impl Counters {
        /// The value of `name{labels}`, labels given sorted by name.
        pub(crate) fn get(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
            let key = Self::text(name, labels.iter().map(|(k, v)| (*k, *v)));
            self.0
                .lock()
                .unwrap()
                .get(&key)
                .map_or(0, |value| value.load(Ordering::SeqCst))
        }

        fn text<'a>(name: &str, labels: impl Iterator<Item = (&'a str, &'a str)>) -> String {
            let mut labels: Vec<String> = labels.map(|(k, v)| format!("{k}={v}")).collect();
            labels.sort();
            format!("{name}{{{}}}", labels.join(","))
        }
    }

    impl Recorder for Counters {
        fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

        fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
            let text = Self::text(key.name(), key.labels().map(|l| (l.key(), l.value())));
            let counter = self.0.lock().unwrap().entry(text).or_default().clone();
            Counter::from_arc(counter)
        }

        fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
            Gauge::noop()
        }

        fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
            Histogram::noop()
        }
    }

    #[derive(Debug, serde::Deserialize)]
    struct Item {
        #[allow(dead_code)]
        id: Uuid,
        amount: u32,
    }

    const GOOD: &str = "be3c368a-4c7c-4384-808e-f02c9f5a8afe";
    const ODD: &str = "0f08c6bc-8e9f-463d-a73f-fd047fdb5e94";

    #[test]
    fn an_element_that_cannot_be_read_is_skipped_and_counted_and_the_others_kept() {
        let counters = Counters::default();
        let page = vec![
            json!({"id": GOOD, "amount": 1}),
            json!({"id": ODD, "amount": "processor-sandbox-0asd1"}),
            json!({"id": "not a uuid"}),
            json!("a string"),
            json!({"id": GOOD, "amount": 3, "new_field": [1]}),
        ];
        let (items, unreadable) =
            metrics::with_local_recorder(&counters, || decode_each::<Item>(page, "test_item"));
        assert_eq!(
            items.iter().map(|item| item.amount).collect::<Vec<_>>(),
            vec![1, 3]
        );
        assert_eq!(
            unreadable,
            vec![Some(Uuid::parse_str(ODD).unwrap()), None, None]
        );
        assert_eq!(
            counters.get(
                SKIPPED_METRIC,
                &[
                    ("provider", "alpaca"),
                    ("reason", "unreadable"),
                    ("what", "test_item")
                ]
            ),
            3
        );
    }

    #[test]
    fn the_reason_never_quotes_a_value() {
        let error = serde_json::from_value::<Item>(
            json!({"id": GOOD, "amount": "processor-sandbox-0asd1"}),
        )
        .unwrap_err();
        assert!(error.to_string().contains("0asd1"), "serde quotes it");
        assert!(!why(&error).contains("0asd1"));
        let error = serde_json::from_value::<Item>(json!({"id": GOOD})).unwrap_err();
        assert_eq!(why(&error), "missing field `amount`");
    }
}
