//! `Metadata::parse`: any pairs are metadata within Plaid's limits or refusals naming `metadata`
//! or `metadata.<key>`, never a panic.
#![no_main]

use funding_domain::Metadata;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|pairs: Vec<(String, String)>| {
    match Metadata::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
        Ok(metadata) => {
            let map = serde_json::to_value(&metadata).unwrap_or_default();
            let map = map.as_object().cloned().unwrap_or_default();
            assert!(map.len() <= Metadata::MAX_PAIRS);
            for (key, value) in &map {
                assert!(!key.is_empty() && key.is_ascii() && key.len() <= Metadata::MAX_KEY_CHARS);
                let value = value.as_str().unwrap_or_default();
                assert!(value.is_ascii() && value.len() <= Metadata::MAX_VALUE_CHARS);
            }
        }
        Err(errors) => {
            assert!(!errors.is_empty());
            for error in errors.iter() {
                assert!(error.field() == "metadata" || error.field().starts_with("metadata."));
                assert!(!error.rule().is_empty());
            }
        }
    }
});
