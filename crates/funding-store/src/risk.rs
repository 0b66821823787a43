//! [`RiskStore`] on a [`Store`]: `account_funding` (frozen), `account_limits` (overrides),
//! `reviews`, `audit_events`, and the transfer and bank transfer moves the checks and reviews make
//! (through the same conditional moves, history, change log (transfers) and outbox as every other
//! status move of each).
//!
//! The audit trail is appended one event at a time across replicas (an advisory lock on
//! PostgreSQL, the single writer on SQLite), each numbered one more than the last and holding the
//! hash of the one before (`funding_domain::audit`), in the transaction of what it records; the
//! primary key on the number refuses a fork even without the lock.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use funding_core::model::RiskDecision;
use funding_core::ports::{
    AccountControls, AccountFreeze, AuditEvent, AuditFilter, BankTransferChange,
    BankTransferReviewDecision, Claim, FundingFlow, LimitOverride, NewAuditEvent, Review,
    ReviewDecision, ReviewState, RiskStore, StoreError, TransferChange,
};
use funding_domain::audit::{AuditFields, GENESIS, chain_hash};
use funding_domain::risk::limits::{FundingLimits, Limit, PastTransfer};
use funding_domain::{
    AccountId, AlpacaTransferStatus, Amount, BankTransferId, PlaidBankTransferStatus, TransferId,
};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait as _, ConnectionTrait, QueryFilter as _, QueryResult, Value};
use uuid::Uuid;

use crate::Store;
use crate::bank_transfers::status as bank_status;
use crate::convert::db_time;
use crate::entity::{bank_transfer, transfer};
use crate::error::{corrupt, from_db};
use crate::sql::statement;
use crate::transfers::status::{apply, from_submitting, moving};
use crate::work::{fence, insert_work};

/// The advisory lock appends to the audit trail hold (PostgreSQL).
const AUDIT_LOCK: &str = "funding:audit";

/// Statuses of an Alpaca transfer that moved no money and never will: not counted in limits.
const ENDED_WITHOUT_MONEY: &str = "('FAILED', 'CANCELED', 'REJECTED', 'EXPIRED', 'RETURNED')";

fn get<T: sea_orm::TryGetable>(row: &QueryResult, column: &str) -> Result<T, StoreError> {
    row.try_get("", column)
        .map_err(|error| StoreError::Other(format!("reading {column}: {error}")))
}

/// In the caller's transaction: appends `event` to the audit trail.
pub(crate) async fn append_audit(
    db: &impl ConnectionTrait,
    event: &NewAuditEvent,
) -> Result<(), StoreError> {
    append_audits(db, std::slice::from_ref(event)).await
}

/// Audit rows written by one statement at most (ten values each).
const AUDIT_ROWS_PER_INSERT: usize = 100;

/// In the caller's transaction: appends `events` to the audit trail in order, each chained to the
/// one before it, as one [`append_audit`] after another would: the lock taken and the last event
/// read once, the rows inserted many at a time.
pub(crate) async fn append_audits(
    db: &impl ConnectionTrait,
    events: &[NewAuditEvent],
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let backend = db.get_database_backend();
    crate::sql::lock_for_transaction(db, AUDIT_LOCK).await?;
    let last = db
        .query_one_raw(statement(
            backend,
            "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1",
            [],
        ))
        .await
        .map_err(from_db)?;
    let (mut seq, mut previous) = match last {
        Some(row) => (get::<i64>(&row, "seq")?, get::<String>(&row, "hash")?),
        None => (0, GENESIS.to_owned()),
    };
    for chunk in events.chunks(AUDIT_ROWS_PER_INSERT) {
        let mut values: Vec<Value> = Vec::with_capacity(chunk.len() * 10);
        for event in chunk {
            seq += 1;
            let details = event.details.to_string();
            let at_ms = event.at.timestamp_millis();
            let hash = chain_hash(
                &previous,
                &AuditFields {
                    sequence: seq,
                    at_ms,
                    actor: &event.actor,
                    action: &event.action,
                    resource: &event.resource,
                    reason: &event.reason,
                    details: &details,
                },
            );
            values.extend([
                seq.into(),
                at_ms.into(),
                event.actor.clone().into(),
                event.action.clone().into(),
                event.resource.clone().into(),
                event.account_id.map(|id| id.as_uuid()).into(),
                event.reason.clone().into(),
                details.into(),
                std::mem::replace(&mut previous, hash.clone()).into(),
                hash.into(),
            ]);
        }
        db.execute_raw(statement(
            backend,
            &format!(
                "INSERT INTO audit_events (seq, at_ms, actor, action, resource, account_id, \
                 reason, details, prev_hash, hash) VALUES {}",
                crate::sql::tuples(chunk.len(), 10)
            ),
            values,
        ))
        .await
        .map_err(from_db)?;
    }
    Ok(())
}

/// In the caller's transaction: the open review; `false` when the resource already has one.
async fn insert_review(db: &impl ConnectionTrait, review: &Review) -> Result<bool, StoreError> {
    let inserted = db
        .execute_raw(statement(
            db.get_database_backend(),
            &format!(
                "INSERT INTO reviews ({REVIEW_COLUMNS}) \
                 VALUES ($1, $2, $3, $4, 'open', $5, $6, $7, $8, $9, $10, NULL, NULL, NULL) \
                 ON CONFLICT (resource, resource_id) DO NOTHING"
            ),
            [
                review.id.into(),
                review.resource.clone().into(),
                review.resource_id.into(),
                review.account_id.map(|id| id.as_uuid()).into(),
                review.rule.clone().into(),
                review.reason.clone().into(),
                review.detail.clone().into(),
                review.amount.clone().into(),
                db_time(review.created_at).into(),
                review.expires_at.timestamp_millis().into(),
            ],
        ))
        .await
        .map_err(from_db)?
        .rows_affected();
    Ok(inserted == 1)
}

/// In the caller's transaction: closes the review if it is still open; whether it was.
async fn close_open_review(
    db: &impl ConnectionTrait,
    review_id: Uuid,
    to: ReviewState,
    at: DateTime<Utc>,
    decided_by: &str,
    note: Option<String>,
) -> Result<bool, StoreError> {
    let closed = db
        .execute_raw(statement(
            db.get_database_backend(),
            "UPDATE reviews SET state = $1, decided_at = $2, decided_by = $3, note = $4 \
             WHERE id = $5 AND state = 'open'",
            [
                to.as_str().into(),
                db_time(at).into(),
                decided_by.into(),
                note.into(),
                review_id.into(),
            ],
        ))
        .await
        .map_err(from_db)?
        .rows_affected();
    Ok(closed == 1)
}

fn audit_event(row: &QueryResult) -> Result<AuditEvent, StoreError> {
    let at_ms: i64 = get(row, "at_ms")?;
    Ok(AuditEvent {
        seq: get(row, "seq")?,
        at: DateTime::from_timestamp_millis(at_ms).unwrap_or_default(),
        actor: get(row, "actor")?,
        action: get(row, "action")?,
        resource: get(row, "resource")?,
        account_id: get::<Option<Uuid>>(row, "account_id")?.map(AccountId::from_uuid),
        reason: get(row, "reason")?,
        details: get(row, "details")?,
        prev_hash: get(row, "prev_hash")?,
        hash: get(row, "hash")?,
    })
}

const REVIEW_COLUMNS: &str = "id, resource, resource_id, account_id, state, rule, reason, detail, \
     amount, created_at, expires_at_ms, decided_at, decided_by, note";

fn review(row: &QueryResult) -> Result<Review, StoreError> {
    let id: Uuid = get(row, "id")?;
    let state: String = get(row, "state")?;
    let expires_ms: i64 = get(row, "expires_at_ms")?;
    Ok(Review {
        id,
        resource: get(row, "resource")?,
        resource_id: get(row, "resource_id")?,
        account_id: get::<Option<Uuid>>(row, "account_id")?.map(AccountId::from_uuid),
        state: ReviewState::parse(&state).ok_or_else(|| corrupt("reviews", id, "unknown state"))?,
        rule: get(row, "rule")?,
        reason: get(row, "reason")?,
        detail: get(row, "detail")?,
        amount: get(row, "amount")?,
        created_at: get(row, "created_at")?,
        expires_at: DateTime::from_timestamp_millis(expires_ms).unwrap_or_default(),
        decided_at: get(row, "decided_at")?,
        decided_by: get(row, "decided_by")?,
        note: get(row, "note")?,
    })
}

fn cents_value(cents: Option<i64>) -> Value {
    cents.into()
}

fn limit_of(row: &QueryResult, window: &str) -> Result<Limit, StoreError> {
    Ok(Limit {
        soft: get(row, &format!("{window}_soft"))?,
        hard: get(row, &format!("{window}_hard"))?,
    })
}

/// Cents of a stored amount (always canonical: written by this store).
fn stored_cents(text: &str) -> i64 {
    Amount::parse(text)
        .ok()
        .and_then(|amount| funding_domain::risk::cents(amount.as_decimal()))
        .unwrap_or(0)
}

/// The direction column of an Alpaca flow; `None` for a Plaid-rail flow (its transfers have no
/// account of ours yet).
fn alpaca_direction(flow: FundingFlow) -> Option<&'static str> {
    match flow {
        FundingFlow::AlpacaDeposit => Some("deposit"),
        FundingFlow::AlpacaWithdrawal => Some("withdrawal"),
        FundingFlow::PlaidDebit | FundingFlow::PlaidCredit => None,
    }
}

#[async_trait]
impl RiskStore for Store {
    async fn account_controls(&self, account_id: AccountId) -> Result<AccountControls, StoreError> {
        // The freeze and the overrides in one read: the freeze's row (if any) first, marked by a
        // NULL rail, then one row per override.
        let rows = self
            .db
            .query_all_raw(statement(
                self.db.get_database_backend(),
                "SELECT NULL AS rail, NULL AS direction, NULL AS per_transfer_soft, \
                 NULL AS per_transfer_hard, NULL AS daily_soft, NULL AS daily_hard, \
                 NULL AS rolling_30_days_soft, NULL AS rolling_30_days_hard, NULL AS updated_by, \
                 NULL AS reason, NULL AS updated_at, \
                 frozen, frozen_reason, frozen_by, frozen_at, 0 AS part \
                 FROM account_funding WHERE account_id = $1 \
                 UNION ALL \
                 SELECT rail, direction, per_transfer_soft, per_transfer_hard, daily_soft, \
                 daily_hard, rolling_30_days_soft, rolling_30_days_hard, updated_by, reason, \
                 updated_at, NULL, NULL, NULL, NULL, 1 FROM account_limits WHERE account_id = $1 \
                 ORDER BY part",
                [account_id.as_uuid().into()],
            ))
            .await
            .map_err(from_db)?;
        let mut rows = rows.into_iter().peekable();
        let freeze = rows.next_if(|row| matches!(get::<i32>(row, "part"), Ok(0)));
        let frozen = match freeze {
            Some(row) if get::<bool>(&row, "frozen")? => Some(AccountFreeze {
                reason: get::<Option<String>>(&row, "frozen_reason")?.unwrap_or_default(),
                by: get::<Option<String>>(&row, "frozen_by")?.unwrap_or_default(),
                at: get::<Option<DateTime<Utc>>>(&row, "frozen_at")?.unwrap_or_default(),
            }),
            _ => None,
        };
        let rows: Vec<_> = rows.collect();
        let mut overrides = Vec::with_capacity(rows.len());
        for row in rows {
            let rail: String = get(&row, "rail")?;
            let direction: String = get(&row, "direction")?;
            let flow = FundingFlow::parse(&rail, &direction)
                .ok_or_else(|| corrupt("account_limits", account_id, "unknown flow"))?;
            overrides.push(LimitOverride {
                flow,
                limits: FundingLimits {
                    per_transfer: limit_of(&row, "per_transfer")?,
                    daily: limit_of(&row, "daily")?,
                    rolling_30_days: limit_of(&row, "rolling_30_days")?,
                },
                updated_by: get(&row, "updated_by")?,
                reason: get(&row, "reason")?,
                updated_at: get(&row, "updated_at")?,
            });
        }
        Ok(AccountControls { frozen, overrides })
    }

    async fn limit_usage(
        &self,
        account_id: AccountId,
        flow: FundingFlow,
        since: DateTime<Utc>,
    ) -> Result<Vec<PastTransfer>, StoreError> {
        let Some(direction) = alpaca_direction(flow) else {
            return Ok(Vec::new());
        };
        // Decided transfers only: an undecided SUBMITTING one is the one being checked, or one
        // whose own check (one at a time per account) comes after.
        let sql = format!(
            "SELECT amount, created_at FROM transfers WHERE account_id = $1 AND direction = $2 \
             AND created_at >= $3 AND status NOT IN {ENDED_WITHOUT_MONEY} \
             AND (status <> 'SUBMITTING' OR risk_decision IS NOT NULL)"
        );
        let rows = self
            .db
            .query_all_raw(statement(
                self.db.get_database_backend(),
                &sql,
                [
                    account_id.as_uuid().into(),
                    direction.into(),
                    db_time(since).into(),
                ],
            ))
            .await
            .map_err(from_db)?;
        rows.iter()
            .map(|row| {
                let amount: String = get(row, "amount")?;
                let at: DateTime<Utc> = get(row, "created_at")?;
                Ok(PastTransfer {
                    at_ms: at.timestamp_millis(),
                    amount: stored_cents(&amount),
                })
            })
            .collect()
    }

    async fn in_flight_amount(
        &self,
        account_id: AccountId,
        flow: FundingFlow,
    ) -> Result<i64, StoreError> {
        let Some(direction) = alpaca_direction(flow) else {
            return Ok(0);
        };
        let sql = format!(
            "SELECT amount FROM transfers WHERE account_id = $1 AND direction = $2 \
             AND status NOT IN {ENDED_WITHOUT_MONEY} AND status <> 'COMPLETE' \
             AND (status <> 'SUBMITTING' OR risk_decision IS NOT NULL)"
        );
        let rows = self
            .db
            .query_all_raw(statement(
                self.db.get_database_backend(),
                &sql,
                [account_id.as_uuid().into(), direction.into()],
            ))
            .await
            .map_err(from_db)?;
        let mut total: i64 = 0;
        for row in &rows {
            total = total.saturating_add(stored_cents(&get::<String>(row, "amount")?));
        }
        Ok(total)
    }

    async fn set_account_limits(
        &self,
        account_id: AccountId,
        flow: FundingFlow,
        limits: FundingLimits,
        audit: NewAuditEvent,
    ) -> Result<(), StoreError> {
        let (_permit, txn) = self.begin_write().await?;
        let backend = txn.get_database_backend();
        let key: [Value; 3] = [
            account_id.as_uuid().into(),
            flow.rail().into(),
            flow.direction().into(),
        ];
        if limits.per_transfer.is_none()
            && limits.daily.is_none()
            && limits.rolling_30_days.is_none()
        {
            txn.execute_raw(statement(
                backend,
                "DELETE FROM account_limits WHERE account_id = $1 AND rail = $2 AND direction = $3",
                key,
            ))
            .await
            .map_err(from_db)?;
        } else {
            let mut values: Vec<Value> = key.to_vec();
            values.extend([
                cents_value(limits.per_transfer.soft),
                cents_value(limits.per_transfer.hard),
                cents_value(limits.daily.soft),
                cents_value(limits.daily.hard),
                cents_value(limits.rolling_30_days.soft),
                cents_value(limits.rolling_30_days.hard),
                audit.actor.clone().into(),
                audit.reason.clone().into(),
                db_time(audit.at).into(),
            ]);
            txn.execute_raw(statement(
                backend,
                "INSERT INTO account_limits (account_id, rail, direction, per_transfer_soft, \
                 per_transfer_hard, daily_soft, daily_hard, rolling_30_days_soft, \
                 rolling_30_days_hard, updated_by, reason, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                 ON CONFLICT (account_id, rail, direction) DO UPDATE SET \
                 per_transfer_soft = excluded.per_transfer_soft, \
                 per_transfer_hard = excluded.per_transfer_hard, \
                 daily_soft = excluded.daily_soft, daily_hard = excluded.daily_hard, \
                 rolling_30_days_soft = excluded.rolling_30_days_soft, \
                 rolling_30_days_hard = excluded.rolling_30_days_hard, \
                 updated_by = excluded.updated_by, reason = excluded.reason, \
                 updated_at = excluded.updated_at",
                values,
            ))
            .await
            .map_err(from_db)?;
        }
        append_audit(&txn, &audit).await?;
        txn.commit().await.map_err(from_db)
    }

    async fn set_frozen(
        &self,
        account_id: AccountId,
        freeze: Option<AccountFreeze>,
        audit: NewAuditEvent,
    ) -> Result<bool, StoreError> {
        let (_permit, txn) = self.begin_write().await?;
        let backend = txn.get_database_backend();
        // Each changes only an account not already in that state: a concurrent second freeze (or
        // unfreeze) finds the row changed and writes nothing, audit event included.
        let frozen = freeze.is_some();
        let changed = match freeze {
            Some(freeze) => {
                txn.execute_raw(statement(
                    backend,
                    "INSERT INTO account_funding (account_id, frozen, frozen_reason, frozen_by, \
                     frozen_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5) \
                     ON CONFLICT (account_id) DO UPDATE SET frozen = excluded.frozen, \
                     frozen_reason = excluded.frozen_reason, frozen_by = excluded.frozen_by, \
                     frozen_at = excluded.frozen_at, updated_at = excluded.updated_at \
                     WHERE account_funding.frozen = $6",
                    [
                        account_id.as_uuid().into(),
                        true.into(),
                        freeze.reason.into(),
                        freeze.by.into(),
                        db_time(freeze.at).into(),
                        false.into(),
                    ],
                ))
                .await
            }
            None => {
                txn.execute_raw(statement(
                    backend,
                    "UPDATE account_funding SET frozen = $1, frozen_reason = NULL, \
                     frozen_by = NULL, frozen_at = NULL, updated_at = $2 \
                     WHERE account_id = $3 AND frozen = $4",
                    [
                        false.into(),
                        db_time(audit.at).into(),
                        account_id.as_uuid().into(),
                        true.into(),
                    ],
                ))
                .await
            }
        }
        .map_err(from_db)?
        .rows_affected()
            == 1;
        if !changed {
            txn.rollback().await.map_err(from_db)?;
            return Ok(false);
        }
        if !frozen {
            // The account's transfers held by the freeze are looked at again at once.
            txn.execute_raw(statement(
                backend,
                "UPDATE work_items SET due_at_ms = {now_ms} \
                 WHERE ordering_key = $1 AND state = 'pending'",
                [funding_core::ports::alpaca_account_key(account_id).into()],
            ))
            .await
            .map_err(from_db)?;
        }
        // A status event, as a transfer's change is one (DESIGN §12): published to NATS.
        crate::outbox::record(
            &txn,
            Uuid::now_v7().to_string(),
            funding_core::ports::OutboxResource::Account,
            account_id.as_uuid(),
            if frozen { "frozen" } else { "unfrozen" },
            audit.at,
        )
        .await?;
        append_audit(&txn, &audit).await?;
        txn.commit().await.map_err(from_db)?;
        Ok(true)
    }

    async fn refuse_transfer(
        &self,
        fence_claim: &Claim,
        id: TransferId,
        change: TransferChange,
        failure_code: String,
        decision: &RiskDecision,
    ) -> Result<bool, StoreError> {
        from_submitting(&change, "a transfer is refused by the checks")?;
        if change.to != AlpacaTransferStatus::Failed {
            return Err(StoreError::Other(format!(
                "a refused transfer ends FAILED, not {}",
                change.to
            )));
        }
        let (_permit, txn) = self.begin_write().await?;
        fence(&txn, fence_claim).await?;
        let update = moving(id, &change)
            .col_expr(transfer::Column::FailureCode, Expr::value(failure_code))
            .col_expr(
                transfer::Column::RiskDecision,
                Expr::value(decision.encode()),
            );
        let moved = apply(&txn, id, update, &change, &self.return_policy).await?;
        crate::sql::commit_if(txn, moved).await
    }

    async fn hold_transfer_for_review(
        &self,
        fence_claim: &Claim,
        id: TransferId,
        change: TransferChange,
        decision: &RiskDecision,
        review: Review,
        audit: NewAuditEvent,
    ) -> Result<bool, StoreError> {
        from_submitting(&change, "a transfer is held for review")?;
        let (_permit, txn) = self.begin_write().await?;
        fence(&txn, fence_claim).await?;
        let update = moving(id, &change)
            .col_expr(
                transfer::Column::RiskDecision,
                Expr::value(decision.encode()),
            )
            .filter(transfer::Column::SubmitRequestedAt.is_null());
        if !apply(&txn, id, update, &change, &self.return_policy).await? {
            txn.rollback().await.map_err(from_db)?;
            return Ok(false);
        }
        insert_review(&txn, &review).await?;
        append_audit(&txn, &audit).await?;
        txn.commit().await.map_err(from_db)?;
        Ok(true)
    }

    async fn decide_review(&self, decision: ReviewDecision) -> Result<bool, StoreError> {
        if decision.change.from != AlpacaTransferStatus::PendingReview {
            return Err(StoreError::Other(format!(
                "a review moves its transfer out of PENDING_REVIEW, not {}",
                decision.change.from
            )));
        }
        let (_permit, txn) = self.begin_write().await?;
        let closed = close_open_review(
            &txn,
            decision.review_id,
            decision.to,
            decision.at,
            &decision.decided_by,
            decision.note.clone(),
        )
        .await?;
        if !closed {
            txn.rollback().await.map_err(from_db)?;
            return Ok(false);
        }
        let mut update = moving(decision.transfer, &decision.change);
        if let Some(code) = &decision.failure_code {
            update = update.col_expr(transfer::Column::FailureCode, Expr::value(code.clone()));
        }
        if !apply(
            &txn,
            decision.transfer,
            update,
            &decision.change,
            &self.return_policy,
        )
        .await?
        {
            txn.rollback().await.map_err(from_db)?;
            return Ok(false);
        }
        if let Some(work) = &decision.work {
            insert_work(&txn, work).await?;
        }
        append_audit(&txn, &decision.audit).await?;
        txn.commit().await.map_err(from_db)?;
        Ok(true)
    }

    async fn refuse_bank_transfer_by_checks(
        &self,
        fence_claim: &Claim,
        id: BankTransferId,
        change: BankTransferChange,
        decision: &RiskDecision,
    ) -> Result<bool, StoreError> {
        bank_status::from_submitting(&change, "a bank transfer is refused by the checks")?;
        if change.to != PlaidBankTransferStatus::Refused || change.failure_code.is_none() {
            return Err(StoreError::Other(format!(
                "a bank transfer refused by the checks ends REFUSED with its failure code, not {} \
                 (failure code {:?})",
                change.to, change.failure_code
            )));
        }
        let (_permit, txn) = self.begin_write().await?;
        fence(&txn, fence_claim).await?;
        // Never one whose create may be at Plaid: only Plaid's answer may end that one.
        let update = bank_status::moving(id, &change)
            .col_expr(
                bank_transfer::Column::RiskDecision,
                Expr::value(decision.encode()),
            )
            .filter(bank_transfer::Column::SubmitRequestedAt.is_null());
        let moved = bank_status::apply(&txn, id, update, &change).await?;
        crate::sql::commit_if(txn, moved).await
    }

    async fn hold_bank_transfer_for_review(
        &self,
        fence_claim: &Claim,
        id: BankTransferId,
        change: BankTransferChange,
        decision: &RiskDecision,
        review: Review,
        audit: NewAuditEvent,
    ) -> Result<bool, StoreError> {
        bank_status::from_submitting(&change, "a bank transfer is held for review")?;
        if change.to != PlaidBankTransferStatus::PendingReview {
            return Err(StoreError::Other(format!(
                "a bank transfer held for review moves to PENDING_REVIEW, not {}",
                change.to
            )));
        }
        if review.resource != "bank_transfer" || review.resource_id != id.as_uuid() {
            return Err(StoreError::Other(format!(
                "the review of bank transfer {id} is of {} {}",
                review.resource, review.resource_id
            )));
        }
        let (_permit, txn) = self.begin_write().await?;
        fence(&txn, fence_claim).await?;
        let update = bank_status::moving(id, &change)
            .col_expr(
                bank_transfer::Column::RiskDecision,
                Expr::value(decision.encode()),
            )
            .filter(bank_transfer::Column::SubmitRequestedAt.is_null());
        if !bank_status::apply(&txn, id, update, &change).await? {
            txn.rollback().await.map_err(from_db)?;
            return Ok(false);
        }
        insert_review(&txn, &review).await?;
        append_audit(&txn, &audit).await?;
        txn.commit().await.map_err(from_db)?;
        Ok(true)
    }

    async fn decide_bank_transfer_review(
        &self,
        decision: BankTransferReviewDecision,
    ) -> Result<bool, StoreError> {
        if decision.change.from != PlaidBankTransferStatus::PendingReview {
            return Err(StoreError::Other(format!(
                "a review moves its bank transfer out of PENDING_REVIEW, not {}",
                decision.change.from
            )));
        }
        let (_permit, txn) = self.begin_write().await?;
        let closed = close_open_review(
            &txn,
            decision.review_id,
            decision.to,
            decision.at,
            &decision.decided_by,
            decision.note.clone(),
        )
        .await?;
        if !closed {
            txn.rollback().await.map_err(from_db)?;
            return Ok(false);
        }
        let update = bank_status::moving(decision.bank_transfer, &decision.change);
        if !bank_status::apply(&txn, decision.bank_transfer, update, &decision.change).await? {
            txn.rollback().await.map_err(from_db)?;
            return Ok(false);
        }
        if let Some(work) = &decision.work {
            insert_work(&txn, work).await?;
        }
        append_audit(&txn, &decision.audit).await?;
        txn.commit().await.map_err(from_db)?;
        Ok(true)
    }

    async fn open_review(&self, review: Review, audit: NewAuditEvent) -> Result<(), StoreError> {
        let (_permit, txn) = self.begin_write().await?;
        if insert_review(&txn, &review).await? {
            append_audit(&txn, &audit).await?;
            txn.commit().await.map_err(from_db)
        } else {
            txn.rollback().await.map_err(from_db)
        }
    }

    async fn close_link_review(
        &self,
        review_id: Uuid,
        link_id: Uuid,
        to: ReviewState,
        decided_by: &str,
        note: Option<String>,
        at: DateTime<Utc>,
        audit: NewAuditEvent,
    ) -> Result<bool, StoreError> {
        let (_permit, txn) = self.begin_write().await?;
        let backend = txn.get_database_backend();
        if !close_open_review(&txn, review_id, to, at, decided_by, note).await? {
            txn.rollback().await.map_err(from_db)?;
            return Ok(false);
        }
        txn.execute_raw(statement(
            backend,
            "UPDATE work_items SET due_at_ms = {now_ms} \
             WHERE kind = 'link_create' AND subject_id = $1 AND state = 'pending'",
            [link_id.into()],
        ))
        .await
        .map_err(from_db)?;
        append_audit(&txn, &audit).await?;
        txn.commit().await.map_err(from_db)?;
        Ok(true)
    }

    async fn mark_link_unusable(
        &self,
        link_id: funding_domain::BankLinkId,
        reason: &str,
        event_id: &str,
        audit: NewAuditEvent,
    ) -> Result<bool, StoreError> {
        let moved = crate::bank_links::health::change_health(
            self,
            crate::bank_links::health::HealthOf::Link(link_id),
            funding_domain::BankLinkHealth::Unusable,
            reason,
            "alpaca:return",
            event_id,
            audit.at,
            Some(&audit),
        )
        .await?;
        Ok(!moved.is_empty())
    }

    async fn returns_on_link(
        &self,
        link_id: funding_domain::BankLinkId,
        codes: &[&str],
        since: DateTime<Utc>,
    ) -> Result<u32, StoreError> {
        if codes.is_empty() {
            return Ok(0);
        }
        let mut values: Vec<Value> = vec![link_id.as_uuid().into(), db_time(since).into()];
        let mut placeholders = Vec::new();
        for code in codes {
            values.push((*code).into());
            placeholders.push(format!("${}", values.len()));
        }
        let row = self
            .db
            .query_one_raw(statement(
                self.db.get_database_backend(),
                &format!(
                    "SELECT COUNT(*) AS n FROM transfers WHERE bank_link_id = $1 \
                     AND direction = 'deposit' AND status = 'RETURNED' AND updated_at >= $2 \
                     AND ach_return_code IN ({})",
                    placeholders.join(", ")
                ),
                values,
            ))
            .await
            .map_err(from_db)?;
        let count = row
            .map(|row| get::<i64>(&row, "n"))
            .transpose()?
            .unwrap_or(0);
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }

    async fn debit_outcomes(
        &self,
        account_id: Option<AccountId>,
        since: DateTime<Utc>,
    ) -> Result<Vec<(bool, Option<String>, u64)>, StoreError> {
        let mut values: Vec<Value> = vec![db_time(since).into()];
        let mut of_account = String::new();
        if let Some(account_id) = account_id {
            values.push(account_id.as_uuid().into());
            of_account = "AND account_id = $2".to_owned();
        }
        let rows = self
            .db
            .query_all_raw(statement(
                self.db.get_database_backend(),
                &format!(
                    "SELECT status, ach_return_code, COUNT(*) AS n FROM transfers \
                     WHERE direction = 'deposit' AND created_at >= $1 {of_account} \
                     AND status IN ('SENT_TO_CLEARING', 'APPROVED', 'COMPLETE', 'RETURNED') \
                     GROUP BY status, ach_return_code"
                ),
                values,
            ))
            .await
            .map_err(from_db)?;
        rows.iter()
            .map(|row| {
                let status: String = get(row, "status")?;
                let n: i64 = get(row, "n")?;
                Ok((
                    status == "RETURNED",
                    get::<Option<String>>(row, "ach_return_code")?,
                    u64::try_from(n).unwrap_or(0),
                ))
            })
            .collect()
    }

    async fn completed_deposits_since(
        &self,
        account_id: AccountId,
        since: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let rows = self
            .db
            .query_all_raw(statement(
                self.db.get_database_backend(),
                "SELECT amount FROM transfers WHERE account_id = $1 AND direction = 'deposit' \
                 AND status = 'COMPLETE' AND updated_at >= $2",
                [account_id.as_uuid().into(), db_time(since).into()],
            ))
            .await
            .map_err(from_db)?;
        let mut total: i64 = 0;
        for row in &rows {
            total = total.saturating_add(stored_cents(&get::<String>(row, "amount")?));
        }
        Ok(total)
    }

    async fn get_review(&self, id: Uuid) -> Result<Option<Review>, StoreError> {
        let row = self
            .db
            .query_one_raw(statement(
                self.db.get_database_backend(),
                &format!("SELECT {REVIEW_COLUMNS} FROM reviews WHERE id = $1"),
                [id.into()],
            ))
            .await
            .map_err(from_db)?;
        row.as_ref().map(review).transpose()
    }

    async fn review_of(
        &self,
        resource: &str,
        resource_id: Uuid,
    ) -> Result<Option<Review>, StoreError> {
        let row = self
            .db
            .query_one_raw(statement(
                self.db.get_database_backend(),
                &format!(
                    "SELECT {REVIEW_COLUMNS} FROM reviews WHERE resource = $1 AND resource_id = $2"
                ),
                [resource.into(), resource_id.into()],
            ))
            .await
            .map_err(from_db)?;
        row.as_ref().map(review).transpose()
    }

    async fn list_reviews(
        &self,
        state: Option<ReviewState>,
        account_id: Option<AccountId>,
        size: u32,
        after: Option<Uuid>,
    ) -> Result<(Vec<Review>, Option<Uuid>), StoreError> {
        let mut conditions = Vec::new();
        let mut values: Vec<Value> = Vec::new();
        if let Some(state) = state {
            values.push(state.as_str().into());
            conditions.push(format!("state = ${}", values.len()));
        }
        if let Some(account_id) = account_id {
            values.push(account_id.as_uuid().into());
            conditions.push(format!("account_id = ${}", values.len()));
        }
        if let Some(after) = after {
            values.push(after.into());
            conditions.push(format!("id > ${}", values.len()));
        }
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let rows = self
            .db
            .query_all_raw(statement(
                self.db.get_database_backend(),
                &format!(
                    "SELECT {REVIEW_COLUMNS} FROM reviews {filter} ORDER BY id LIMIT {}",
                    size + 1
                ),
                values,
            ))
            .await
            .map_err(from_db)?;
        let mut reviews = rows.iter().map(review).collect::<Result<Vec<_>, _>>()?;
        let next = if reviews.len() > size as usize {
            reviews.truncate(size as usize);
            reviews.last().map(|last| last.id)
        } else {
            None
        };
        Ok((reviews, next))
    }

    async fn expired_reviews(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Review>, StoreError> {
        let rows = self
            .db
            .query_all_raw(statement(
                self.db.get_database_backend(),
                &format!(
                    "SELECT {REVIEW_COLUMNS} FROM reviews WHERE state = 'open' \
                     AND expires_at_ms <= $1 ORDER BY expires_at_ms LIMIT {limit}"
                ),
                [now.timestamp_millis().into()],
            ))
            .await
            .map_err(from_db)?;
        rows.iter().map(review).collect()
    }

    async fn list_audit_events(
        &self,
        filter: AuditFilter,
        size: u32,
        after: Option<i64>,
    ) -> Result<(Vec<AuditEvent>, Option<i64>), StoreError> {
        let mut conditions = Vec::new();
        let mut values: Vec<Value> = Vec::new();
        if let Some(account_id) = filter.account_id {
            values.push(account_id.as_uuid().into());
            conditions.push(format!("account_id = ${}", values.len()));
        }
        if let Some(resource) = filter.resource {
            values.push(resource.into());
            conditions.push(format!("resource = ${}", values.len()));
        }
        if let Some(after) = after {
            values.push(after.into());
            conditions.push(format!("seq > ${}", values.len()));
        }
        let where_clause = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let rows = self
            .db
            .query_all_raw(statement(
                self.db.get_database_backend(),
                &format!(
                    "SELECT seq, at_ms, actor, action, resource, account_id, reason, details, \
                     prev_hash, hash FROM audit_events {where_clause} ORDER BY seq LIMIT {}",
                    size + 1
                ),
                values,
            ))
            .await
            .map_err(from_db)?;
        let mut events = rows
            .iter()
            .map(audit_event)
            .collect::<Result<Vec<_>, _>>()?;
        let next = if events.len() > size as usize {
            events.truncate(size as usize);
            events.last().map(|last| last.seq)
        } else {
            None
        };
        Ok((events, next))
    }
}
