//! The secret scan after the run (DESIGN §4.6): the database — the SQLite file's bytes (with its
//! WAL), or on PostgreSQL every table dumped as text (`bytea` values decoded back to their bytes) —
//! and every captured `fundingd` log must hold none of the run's secrets in plaintext: the Plaid
//! access and processor tokens the emulator issued (whole, or their random part alone), the bank
//! account numbers behind them, and the run's API secrets and encryption key.

use std::collections::HashMap;
use std::path::PathBuf;

use reqwest::Method;
use sea_orm::ConnectionTrait;

use crate::Run;
use crate::world::{Db, rows};

/// The account numbers of the emulator's checking and savings accounts (`/processor/auth/get`).
const ACCOUNT_NUMBERS: &[&str] = &["1111222233330000", "1111222233331111"];

/// Length of the random (UUID) part that ends every sandbox token.
const TAIL: usize = 36;

pub async fn scan(run: &Run, db: &Db, logs: &[PathBuf]) -> anyhow::Result<Vec<String>> {
    let issued = run
        .emulator
        .control(Method::GET, "/plaid/tokens", None)
        .await?;
    // Token tails (their random part) → what they are.
    let mut tails: HashMap<Vec<u8>, &'static str> = HashMap::new();
    for (field, kind) in [
        ("access_tokens", "a Plaid access token"),
        ("processor_tokens", "a Plaid processor token"),
    ] {
        for token in issued[field].as_array().cloned().unwrap_or_default() {
            let token = token.as_str().unwrap_or_default();
            if token.len() >= TAIL {
                tails.insert(token.as_bytes()[token.len() - TAIL..].to_vec(), kind);
            }
        }
    }
    let mut fixed: Vec<(&'static str, Vec<u8>)> = ACCOUNT_NUMBERS
        .iter()
        .map(|n| ("a bank account number", n.as_bytes().to_vec()))
        .collect();
    fixed.push((
        "the Plaid API secret",
        run.secrets.plaid_secret.as_bytes().to_vec(),
    ));
    fixed.push((
        "the Alpaca API secret",
        run.secrets.alpaca_secret.as_bytes().to_vec(),
    ));
    fixed.push((
        "the encryption key",
        run.secrets.encryption_key.as_bytes().to_vec(),
    ));

    let mut places: Vec<(String, Vec<u8>)> = Vec::new();
    match db {
        Db::Sqlite { path } => {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if let Some(dir) = path.parent() {
                for entry in std::fs::read_dir(dir)? {
                    let entry = entry?;
                    let file = entry.file_name().to_string_lossy().into_owned();
                    if file.starts_with(&name) {
                        places.push((
                            format!("the database file {file}"),
                            std::fs::read(entry.path())?,
                        ));
                    }
                }
            }
        }
        Db::Postgres { .. } => places.push(("the database dump".into(), dump(db).await?)),
    }
    for log in logs {
        places.push((format!("the log {}", log.display()), std::fs::read(log)?));
    }

    let tokens = tails.len();
    let mut violations = Vec::new();
    let mut scanned = 0;
    for (place, bytes) in &places {
        scanned += bytes.len();
        for (kind, excerpt) in hits(bytes, &tails, &fixed) {
            violations.push(format!(
                "SECRET: {kind} in plaintext in {place}: …{excerpt}…"
            ));
        }
    }
    println!(
        "chaos: secret scan: {} places, {} bytes, {tokens} issued tokens, {} account numbers, 3 API secrets: {} hits",
        places.len(),
        scanned,
        ACCOUNT_NUMBERS.len(),
        violations.len()
    );
    Ok(violations)
}

/// Every table of the run's PostgreSQL database as text, one JSON row a line, `bytea` values
/// (shown as `\x…` hex) followed by their decoded bytes.
async fn dump(db: &Db) -> anyhow::Result<Vec<u8>> {
    let connection = db.connect().await?;
    let tables = rows(
        &connection,
        "SELECT CAST(table_name AS TEXT) AS name FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
        &["name"],
    )
    .await?;
    let mut out = Vec::new();
    for table in tables {
        let name = table[0].clone().unwrap_or_default();
        let statement = sea_orm::Statement::from_string(
            connection.get_database_backend(),
            format!("SELECT CAST(row_to_json(t) AS TEXT) AS row FROM \"{name}\" t"),
        );
        for row in connection.query_all_raw(statement).await? {
            let text: String = row.try_get("", "row")?;
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(text.as_bytes());
            out.push(b'\n');
            if let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) {
                for field in value.as_object().into_iter().flat_map(|o| o.values()) {
                    if let Some(hex_text) = field.as_str().and_then(|s| s.strip_prefix("\\x"))
                        && let Ok(bytes) = hex::decode(hex_text)
                    {
                        out.extend_from_slice(&bytes);
                        out.push(b'\n');
                    }
                }
            }
        }
    }
    let _ = connection.close().await;
    Ok(out)
}

/// What `bytes` holds: runs of token characters whose last 36 are a token's random part, and
/// every occurrence of a fixed secret; each with a short excerpt around it.
fn hits(
    bytes: &[u8],
    tails: &HashMap<Vec<u8>, &'static str>,
    fixed: &[(&'static str, Vec<u8>)],
) -> Vec<(&'static str, String)> {
    let excerpt = |at: usize, len: usize| {
        let start = at.saturating_sub(24);
        let end = (at + len + 8).min(bytes.len());
        String::from_utf8_lossy(&bytes[start..end]).replace(['\n', '\r'], " ")
    };
    let mut found = Vec::new();
    let token_char = |b: &u8| b.is_ascii_alphanumeric() || *b == b'-';
    let mut start = 0;
    while start < bytes.len() {
        if !token_char(&bytes[start]) {
            start += 1;
            continue;
        }
        let mut end = start;
        while end < bytes.len() && token_char(&bytes[end]) {
            end += 1;
        }
        if end - start >= TAIL
            && let Some(kind) = tails.get(&bytes[end - TAIL..end])
        {
            found.push((*kind, excerpt(start, end - start)));
        }
        start = end;
    }
    for (kind, needle) in fixed {
        if needle.is_empty() {
            continue;
        }
        let mut at = 0;
        while let Some(offset) = bytes[at..]
            .windows(needle.len())
            .position(|window| window == needle.as_slice())
        {
            found.push((*kind, excerpt(at + offset, needle.len())));
            at += offset + needle.len();
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_whole_tokens_bare_tails_and_fixed_secrets_but_not_masked_ones() {
        let token = "access-sandbox-0b9c1f0e-8a4e-4c36-9a57-2f6a1d8e7c11";
        let tails = HashMap::from([(token.as_bytes()[token.len() - TAIL..].to_vec(), "token")]);
        let fixed = vec![("number", b"1111222233330000".to_vec())];
        let text = format!(
            "{{\"t\":\"{token}\"}} bare 0b9c1f0e-8a4e-4c36-9a57-2f6a1d8e7c11. masked XXXXXXXXXXXX0000 acct=1111222233330000"
        );
        let found = hits(text.as_bytes(), &tails, &fixed);
        let kinds: Vec<&str> = found.iter().map(|(k, _)| *k).collect();
        assert_eq!(kinds, ["token", "token", "number"]);
        assert!(
            hits(
                b"access-sandbox-[REDACTED] XXXXXXXXXXXX0000",
                &tails,
                &fixed
            )
            .is_empty()
        );
    }
}
