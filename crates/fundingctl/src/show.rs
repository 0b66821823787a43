//! What every command shares: printing resources (as JSON for scripts, or as a table with a single
//! resource's wait explained), reading every page of a list, and the small pieces of a request
//! (a fresh idempotency key) and of an answer (a resource that is missing from it).

use std::future::Future;

use funding_client::v1;
use serde_json::Value;

use crate::error::CliError;
use crate::{json, output};

/// A resource the commands show: its JSON, a table of several, and why it waits.
pub trait Shown: Sized {
    fn json(&self) -> Value;
    fn table(items: &[Self]) -> String;
    fn waiting(&self) -> Option<&v1::Waiting>;
}

impl Shown for v1::BankLink {
    fn json(&self) -> Value {
        json::bank_link(self)
    }
    fn table(items: &[Self]) -> String {
        output::bank_links(items)
    }
    fn waiting(&self) -> Option<&v1::Waiting> {
        self.waiting.as_ref()
    }
}

impl Shown for v1::Transfer {
    fn json(&self) -> Value {
        json::transfer(self)
    }
    fn table(items: &[Self]) -> String {
        output::transfers(items)
    }
    fn waiting(&self) -> Option<&v1::Waiting> {
        self.waiting.as_ref()
    }
}

impl Shown for v1::BankTransfer {
    fn json(&self) -> Value {
        json::bank_transfer(self)
    }
    fn table(items: &[Self]) -> String {
        output::bank_transfers(items)
    }
    fn waiting(&self) -> Option<&v1::Waiting> {
        self.waiting.as_ref()
    }
}

/// Prints `items`: with `json`, a list (`list`) as an array and a single resource as the object
/// itself; else a table, and for a single resource (not a list) why it waits.
pub fn show<T: Shown>(json: bool, items: &[T], list: bool) -> Result<(), CliError> {
    if json {
        let values: Vec<Value> = items.iter().map(T::json).collect();
        return print_json(&one_or_many(values, list));
    }
    print!("{}", T::table(items));
    if let [item] = items
        && !list
    {
        print!("{}", output::waiting(item.waiting()));
    }
    Ok(())
}

/// A list answers an array; a single resource answers the object itself.
fn one_or_many(mut values: Vec<Value>, list: bool) -> Value {
    if !list && values.len() == 1 {
        values.remove(0)
    } else {
        Value::Array(values)
    }
}

/// Prints a JSON document on stdout.
pub fn print_json(value: &Value) -> Result<(), CliError> {
    let text = serde_json::to_string(value).map_err(|e| CliError::Other(format!("json: {e}")))?;
    println!("{text}");
    Ok(())
}

/// Every page of a list: `page(page_token)` asks for one and answers its items and the next
/// page's token (empty after the last page).
pub async fn every_page<T, F, Fut>(mut page: F) -> Result<Vec<T>, CliError>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, String), tonic::Status>>,
{
    let mut items = Vec::new();
    let mut page_token = String::new();
    loop {
        let (some, next_page_token) = page(page_token).await?;
        items.extend(some);
        if next_page_token.is_empty() {
            return Ok(items);
        }
        page_token = next_page_token;
    }
}

/// The idempotency key given, or a new UUID.
pub fn new_key(key: Option<String>) -> String {
    key.unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// The error of an answer without the resource it should hold.
pub fn missing(what: &str) -> CliError {
    CliError::Other(format!("the service answered without a {what}"))
}
