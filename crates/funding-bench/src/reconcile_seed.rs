//! Seeding for the reconciler at scale (`reconcile_scale`): the transfers in flight made at the
//! emulator over its Alpaca HTTP API (one manual ACH relationship per account, then the account's
//! transfers), the healthy ones moved to COMPLETE there with their events never delivered (the
//! stream cursor is stored past them), and the same transfers written straight into fundingd's
//! database, QUEUED, 500 rows a statement in one transaction.

use std::time::Duration;

use anyhow::{Context, bail};
use funding_sandbox::SandboxHandle;
use futures::StreamExt as _;
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement, TransactionTrait, Value};

use crate::db::connect_like_fundingd;

/// Where the seeded transfers are.
pub struct Shape {
    pub in_flight: u64,
    pub never_resolving: u64,
    pub per_account: u64,
}

/// One account at the emulator: its relationship and its transfers' Alpaca ids.
pub struct Account {
    pub id: uuid::Uuid,
    pub relationship: uuid::Uuid,
    pub transfers: Vec<uuid::Uuid>,
    /// Its transfers never resolve (they stay QUEUED at Alpaca).
    pub stuck: bool,
}

/// The key prefixes of the seeded transfers, so the monitor can tell them apart.
pub const HEALTHY: &str = "healthy-";
pub const STUCK: &str = "stuck-";

/// Requests at once while seeding the emulator.
const AT_ONCE: usize = 16;

/// A client of the emulator's Alpaca API with the bench's credentials.
pub struct Alpaca {
    http: reqwest::Client,
    base: String,
}

impl Alpaca {
    pub fn new(emulator: &SandboxHandle) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: emulator.alpaca_url().trim_end_matches('/').to_owned(),
        }
    }

    async fn post(&self, path: &str, body: serde_json::Value) -> anyhow::Result<uuid::Uuid> {
        let answer = self
            .http
            .post(format!("{}{path}", self.base))
            .basic_auth("funding-bench", Some("funding-bench-secret"))
            .json(&body)
            .send()
            .await?;
        let status = answer.status();
        let body: serde_json::Value = answer.json().await?;
        if !status.is_success() {
            bail!("POST {path}: {status} {body}");
        }
        body["id"]
            .as_str()
            .and_then(|id| uuid::Uuid::parse_str(id).ok())
            .with_context(|| format!("POST {path}: no id in {body}"))
    }

    /// A manual ACH relationship for `account`.
    pub async fn relationship(&self, account: uuid::Uuid) -> anyhow::Result<uuid::Uuid> {
        self.post(
            &format!("/v1/accounts/{account}/ach_relationships"),
            serde_json::json!({
                "account_owner_name": "Scale Owner",
                "bank_account_type": "CHECKING",
                "bank_account_number": "32131231abc",
                "bank_routing_number": "121000358",
                "nickname": "Scale",
            }),
        )
        .await
    }

    /// An ACH deposit on `relationship`; Alpaca's transfer id.
    pub async fn deposit(
        &self,
        account: uuid::Uuid,
        relationship: uuid::Uuid,
    ) -> anyhow::Result<uuid::Uuid> {
        self.post(
            &format!("/v1/accounts/{account}/transfers"),
            serde_json::json!({
                "transfer_type": "ach",
                "relationship_id": relationship,
                "amount": "100",
                "direction": "INCOMING",
            }),
        )
        .await
    }
}

/// Makes the accounts, relationships and transfers at the emulator: the ones that never resolve
/// on accounts of their own (so no healthy transfer comes along with their accounts' lists),
/// `per_account` on each account; then moves the healthy ones to COMPLETE there.
pub async fn seed_emulator(
    emulator: &SandboxHandle,
    shape: &Shape,
) -> anyhow::Result<Vec<Account>> {
    let per = shape.per_account.max(1);
    let healthy = shape.in_flight.saturating_sub(shape.never_resolving);
    let mut counts: Vec<(u64, bool)> = Vec::new();
    for (total, stuck) in [(shape.never_resolving, true), (healthy, false)] {
        let mut left = total;
        while left > 0 {
            let n = left.min(per);
            counts.push((n, stuck));
            left -= n;
        }
    }
    let alpaca = std::sync::Arc::new(Alpaca::new(emulator));
    let made: Vec<anyhow::Result<Account>> = futures::stream::iter(counts)
        .map(|(n, stuck)| {
            let alpaca = alpaca.clone();
            async move {
                let id = uuid::Uuid::new_v4();
                let relationship = alpaca.relationship(id).await?;
                let mut transfers = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    transfers.push(alpaca.deposit(id, relationship).await?);
                }
                Ok(Account {
                    id,
                    relationship,
                    transfers,
                    stuck,
                })
            }
        })
        .buffered(AT_ONCE)
        .collect()
        .await;
    let accounts = made.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
    let control = emulator.control();
    for account in accounts.iter().filter(|account| !account.stuck) {
        for transfer in &account.transfers {
            control
                .set_transfer_status(*transfer, "COMPLETE", None)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
    }
    Ok(accounts)
}

/// A cursor of Alpaca's stream after every event the emulator has made so far (event ids are
/// ULIDs of the emulator's clock): fundingd reads from there, so the seeded transfers' events
/// are never delivered.
pub async fn cursor_after_now(emulator: &SandboxHandle) -> String {
    tokio::time::sleep(Duration::from_millis(5)).await;
    let now = emulator.control().now();
    let millis = u64::try_from(now.timestamp_millis()).unwrap_or(0);
    ulid::Ulid::from_parts(millis, 0).to_string()
}

/// Writes one APPROVED bank link per account and the transfers, QUEUED, in one transaction, and
/// the stream's cursor. The ones that never resolve are the oldest (six days unmoved: past
/// `reconcile_stuck_after_ms`, so they count as `unchanged`); the healthy ones follow, a second
/// apart, taking the accounts in turn (as transfers made over days would), so a pass's rows are
/// on many accounts.
pub async fn seed_database(url: &str, accounts: &[Account], cursor: &str) -> anyhow::Result<()> {
    let db = connect_like_fundingd(url).await?;
    let backend = db.get_database_backend();
    let now = chrono::Utc::now();
    let txn = db.begin().await?;
    let mut links = Vec::with_capacity(accounts.len());
    let link_columns = "id, caller, idempotency_key, account_id, plaid_account_id, nickname, status, ach_relationship_id, account_owner_name, created_at, updated_at";
    let mut rows: Vec<Vec<Value>> = Vec::new();
    for (i, account) in accounts.iter().enumerate() {
        let link = uuid::Uuid::now_v7();
        links.push(link);
        let made = now - chrono::TimeDelta::days(10);
        rows.push(vec![
            Value::from(link),
            Value::from("funding-bench".to_owned()),
            Value::from(format!("scale-link-{i}")),
            Value::from(account.id),
            Value::from(format!("scale-plaid-account-{i}")),
            Value::from("Scale".to_owned()),
            Value::from("APPROVED".to_owned()),
            Value::from(account.relationship),
            Value::from("Scale Owner".to_owned()),
            Value::from(made),
            Value::from(made),
        ]);
    }
    insert(&txn, backend, "bank_links", link_columns, rows).await?;

    // (account index, transfer index within it), in the order of their `updated_at`.
    let mut order: Vec<(usize, usize)> = Vec::new();
    let (stuck, healthy): (Vec<usize>, Vec<usize>) =
        (0..accounts.len()).partition(|&i| accounts[i].stuck);
    for group in [&stuck, &healthy] {
        let deepest = group
            .iter()
            .map(|&i| accounts[i].transfers.len())
            .max()
            .unwrap_or(0);
        for k in 0..deepest {
            for &i in group {
                if k < accounts[i].transfers.len() {
                    order.push((i, k));
                }
            }
        }
    }
    let columns = "id, caller, idempotency_key, account_id, bank_link_id, relationship_id, amount, direction, status, provider_transfer_id, created_at, updated_at";
    let mut rows: Vec<Vec<Value>> = Vec::with_capacity(order.len());
    let (mut stuck_n, mut healthy_n) = (0i64, 0i64);
    for (i, k) in order {
        let account = &accounts[i];
        let (key, at) = if account.stuck {
            stuck_n += 1;
            (
                format!("{STUCK}{stuck_n}"),
                now - chrono::TimeDelta::days(6) + chrono::TimeDelta::seconds(stuck_n),
            )
        } else {
            healthy_n += 1;
            (
                format!("{HEALTHY}{healthy_n}"),
                now - chrono::TimeDelta::days(3) + chrono::TimeDelta::seconds(healthy_n),
            )
        };
        rows.push(vec![
            Value::from(uuid::Uuid::now_v7()),
            Value::from("funding-bench".to_owned()),
            Value::from(key),
            Value::from(account.id),
            Value::from(links[i]),
            Value::from(account.relationship),
            Value::from("100.00".to_owned()),
            Value::from("deposit".to_owned()),
            Value::from("QUEUED".to_owned()),
            Value::from(account.transfers[k]),
            Value::from(at),
            Value::from(at),
        ]);
    }
    insert(&txn, backend, "transfers", columns, rows).await?;
    let sql = match backend {
        DatabaseBackend::Postgres => {
            "INSERT INTO stream_cursors (stream, cursor, updated_at) VALUES ($1, $2, $3)"
        }
        _ => "INSERT INTO stream_cursors (stream, cursor, updated_at) VALUES (?, ?, ?)",
    };
    txn.execute_raw(Statement::from_sql_and_values(
        backend,
        sql,
        [
            Value::from(crate::reconcile_scale::FUNDING_STREAM.to_owned()),
            Value::from(cursor.to_owned()),
            Value::from(now),
        ],
    ))
    .await
    .context("the stream cursor")?;
    txn.commit().await?;
    if backend == DatabaseBackend::Postgres {
        // Fresh statistics, as a database that grew to this size over days would have.
        db.execute_unprepared("ANALYZE").await?;
    }
    let _ = db.close().await;
    Ok(())
}

/// Rows per INSERT statement.
const BATCH: usize = 500;

async fn insert(
    txn: &impl ConnectionTrait,
    backend: DatabaseBackend,
    table: &str,
    columns: &str,
    rows: Vec<Vec<Value>>,
) -> anyhow::Result<()> {
    let placeholder = |n: usize| match backend {
        DatabaseBackend::Postgres => format!("${n}"),
        _ => "?".to_owned(),
    };
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let batch: Vec<Vec<Value>> = rows.by_ref().take(BATCH).collect();
        let mut tuples = Vec::with_capacity(batch.len());
        let mut values = Vec::new();
        for row in batch {
            let first = values.len() + 1;
            let cells: Vec<String> = (first..first + row.len()).map(placeholder).collect();
            tuples.push(format!("({})", cells.join(", ")));
            values.extend(row);
        }
        let sql = format!(
            "INSERT INTO {table} ({columns}) VALUES {}",
            tuples.join(", ")
        );
        txn.execute_raw(Statement::from_sql_and_values(backend, sql, values))
            .await
            .with_context(|| format!("seeding {table}"))?;
    }
    Ok(())
}
