//! The risk controls' storage: PENDING_REVIEW admitted by migration 000019 (and nothing else new)
//! on both rails, and taken back by its `down`; a held transfer counted in the limits and closed
//! once; a bank transfer refused or held by the checks with its decision, and its review closed
//! once (approved: its submit work armed again; cancelled); freezing that changes only what is not
//! already so, and the audit trail numbered without gaps and chained, even under concurrent
//! appends, with a changed row detected.

use funding_core::model::RiskDecision;
use funding_core::ports::{
    AccountFreeze, AuditFilter, BankTransferChange, BankTransferReviewDecision,
    BankTransferStore as _, FundingFlow, NewAuditEvent, NewWork, Review, ReviewDecision,
    ReviewState, RiskStore as _, TransferChange, WorkKind, WorkQueue as _,
};
use funding_domain::AlpacaTransferStatus::{self, PendingReview, Submitting};
use funding_domain::PlaidBankTransferStatus;
use funding_domain::audit::verify_chain;
use uuid::Uuid;

use crate::support::bank_transfers as plaid_rail;
use crate::support::transfers::{claim_submit, deposit, link, stored};
use crate::support::{LEASE, TestDb, account, execute, seconds, t0};

fn audit(actor: &str, action: &str, account: funding_domain::AccountId) -> NewAuditEvent {
    NewAuditEvent {
        actor: actor.into(),
        action: action.into(),
        resource: format!("accounts/{account}"),
        account_id: Some(account),
        reason: format!("{action} by {actor}"),
        details: serde_json::json!({ "account_id": account.to_string() }),
        at: t0(),
    }
}

fn review_decision() -> RiskDecision {
    RiskDecision {
        verdict: "REVIEW".into(),
        rule: "balance".into(),
        reason: Some("INSUFFICIENT_BANK_BALANCE".into()),
        detail: "the bank has 1.00 available, 9.00 short of 10.00".into(),
        figures: vec![("available".into(), "1.00".into())],
    }
}

fn moving(from: AlpacaTransferStatus, to: AlpacaTransferStatus) -> TransferChange {
    TransferChange {
        from,
        to,
        reason: Some("held".into()),
        ach_return_code: None,
        source: "test".into(),
        event_id: None,
        at: t0() + seconds(1),
    }
}

async fn the_status_checks_admit_pending_review_and_still_refuse_the_unknown(db: &TestDb) {
    let store = db.store().await;
    let (link, account) = link(&store).await;
    let transfer = deposit(&store, link, account, "k").await;
    // The only transfer of a fresh database (ids are stored differently on each backend).
    let raw = db.raw().await;
    let admitted = sea_orm::ConnectionTrait::execute_unprepared(
        &raw,
        "UPDATE transfers SET status = 'PENDING_REVIEW' WHERE status = 'SUBMITTING'",
    )
    .await
    .expect("PENDING_REVIEW is admitted");
    assert_eq!(admitted.rows_affected(), 1);
    assert_eq!(stored(&store, transfer.id).await.status, PendingReview);
    let refused = sea_orm::ConnectionTrait::execute_unprepared(
        &raw,
        "UPDATE transfers SET status = 'ON_HOLD' WHERE status = 'PENDING_REVIEW'",
    )
    .await;
    assert!(refused.is_err(), "an unknown status is still refused");
    // The history and the change log admit it too.
    for (table, column) in [
        ("transfer_status_history", "to_status"),
        ("transfer_changes", "status"),
    ] {
        let probe = sea_orm::ConnectionTrait::execute_unprepared(
            &raw,
            &format!("UPDATE {table} SET {column} = 'ON_HOLD'"),
        )
        .await;
        let rows = sea_orm::ConnectionTrait::execute_unprepared(
            &raw,
            &format!("UPDATE {table} SET {column} = 'PENDING_REVIEW'"),
        )
        .await;
        assert!(
            rows.is_ok(),
            "{table}.{column} admits PENDING_REVIEW: {rows:?}"
        );
        assert!(
            probe.is_err() || probe.is_ok_and(|done| done.rows_affected() == 0),
            "{table}.{column} still refuses an unknown status"
        );
    }
}

async fn the_bank_transfer_status_checks_admit_pending_review_until_000019_is_undone(db: &TestDb) {
    use migration::MigratorTrait as _;
    let store = db.store().await;
    let transfer = plaid_rail::created(&store, "k").await;
    let raw = db.raw().await;
    let admitted = sea_orm::ConnectionTrait::execute_unprepared(
        &raw,
        "UPDATE bank_transfers SET status = 'pending_review', risk_decision = '{}' \
         WHERE status = 'submitting'",
    )
    .await
    .expect("pending_review and the decision's column are admitted");
    assert_eq!(admitted.rows_affected(), 1);
    let history = sea_orm::ConnectionTrait::execute_unprepared(
        &raw,
        "UPDATE bank_transfer_status_history SET status = 'pending_review'",
    )
    .await;
    assert!(history.is_ok(), "the history admits it: {history:?}");
    for (table, column) in [
        ("bank_transfers", "status"),
        ("bank_transfer_status_history", "status"),
    ] {
        let refused = sea_orm::ConnectionTrait::execute_unprepared(
            &raw,
            &format!("UPDATE {table} SET {column} = 'on_hold'"),
        )
        .await;
        assert!(
            refused.is_err(),
            "{table}.{column} still refuses an unknown status"
        );
    }
    sea_orm::ConnectionTrait::execute_unprepared(
        &raw,
        "UPDATE bank_transfers SET status = 'submitting', risk_decision = NULL",
    )
    .await
    .unwrap();
    sea_orm::ConnectionTrait::execute_unprepared(
        &raw,
        "UPDATE bank_transfer_status_history SET status = 'submitting'",
    )
    .await
    .unwrap();

    // Down (000019 and any later one): the CHECKs as migration 000010 made them, the column gone;
    // up again: admitted again.
    let all = funding_store::Migrator::migrations();
    let at = all
        .iter()
        .position(|m| m.name() == "m20261206_000019_risk_controls");
    let from_000019 = u32::try_from(all.len() - at.expect("migration 000019")).unwrap();
    funding_store::Migrator::down(&raw, Some(from_000019))
        .await
        .unwrap();
    for (table, column) in [
        ("bank_transfers", "status"),
        ("bank_transfer_status_history", "status"),
    ] {
        let refused = sea_orm::ConnectionTrait::execute_unprepared(
            &raw,
            &format!("UPDATE {table} SET {column} = 'pending_review'"),
        )
        .await;
        assert!(refused.is_err(), "{table}.{column} after down: {refused:?}");
    }
    assert!(
        sea_orm::ConnectionTrait::execute_unprepared(
            &raw,
            "UPDATE bank_transfers SET risk_decision = NULL"
        )
        .await
        .is_err(),
        "the column is gone"
    );
    let store = db.store().await;
    sea_orm::ConnectionTrait::execute_unprepared(
        &raw,
        "UPDATE bank_transfers SET status = 'pending_review'",
    )
    .await
    .expect("admitted again");
    assert_eq!(
        plaid_rail::stored(&store, transfer.id).await.status,
        PlaidBankTransferStatus::PendingReview
    );
}

fn bank_transfer_change(
    from: PlaidBankTransferStatus,
    to: PlaidBankTransferStatus,
    failure_code: Option<&str>,
) -> BankTransferChange {
    BankTransferChange {
        from,
        to,
        cancellable: false,
        failure: None,
        reason: Some("checked".into()),
        failure_code: failure_code.map(str::to_owned),
        source: "test".into(),
        event_id: None,
        at: t0() + seconds(1),
    }
}

fn bank_transfer_review(id: funding_domain::BankTransferId) -> Review {
    Review {
        id: Uuid::now_v7(),
        resource: "bank_transfer".into(),
        resource_id: id.as_uuid(),
        account_id: None,
        state: ReviewState::Open,
        rule: "balance".into(),
        reason: Some("INSUFFICIENT_BANK_BALANCE".into()),
        detail: "short".into(),
        amount: Some("12.34".into()),
        created_at: t0(),
        expires_at: t0() + seconds(60),
        decided_at: None,
        decided_by: None,
        note: None,
    }
}

fn bank_transfer_audit(action: &str, id: funding_domain::BankTransferId) -> NewAuditEvent {
    NewAuditEvent {
        actor: "ops".into(),
        action: action.into(),
        resource: format!("bank_transfers/{id}"),
        account_id: None,
        reason: action.into(),
        details: serde_json::json!({}),
        at: t0(),
    }
}

async fn a_bank_transfer_refused_by_the_checks_keeps_its_decision_and_a_sent_one_is_never_refused(
    db: &TestDb,
) {
    use PlaidBankTransferStatus::{Refused, Submitting as Sending};
    let store = db.store().await;
    let refused = plaid_rail::created(&store, "refused").await;
    let fence = plaid_rail::claim_submit(&store, refused.id).await;
    let code = "service/risk/INSUFFICIENT_BANK_BALANCE";
    assert!(
        store
            .refuse_bank_transfer_by_checks(
                &fence,
                refused.id,
                bank_transfer_change(Sending, Refused, Some(code)),
                &review_decision(),
            )
            .await
            .unwrap()
    );
    let stored = plaid_rail::stored(&store, refused.id).await;
    assert_eq!(stored.status, Refused);
    assert_eq!(stored.failure_code.as_deref(), Some(code));
    assert_eq!(stored.risk, Some(review_decision()));
    assert_eq!(
        store
            .bank_transfer_history(refused.id)
            .await
            .unwrap()
            .last()
            .map(|entry| entry.status.clone()),
        Some(Refused)
    );
    assert!(
        store
            .refuse_bank_transfer_by_checks(
                &crate::support::stale(&fence),
                refused.id,
                bank_transfer_change(Sending, Refused, Some(code)),
                &review_decision(),
            )
            .await
            .is_err(),
        "fenced"
    );

    // One whose create was sent (its acceptance stored with the mark) is Plaid's to end.
    let sent = plaid_rail::created(&store, "sent").await;
    let fence = plaid_rail::claim_submit(&store, sent.id).await;
    let accepted = RiskDecision {
        verdict: "ACCEPT".into(),
        rule: "none".into(),
        reason: None,
        detail: String::new(),
        figures: Vec::new(),
    };
    assert!(
        store
            .mark_bank_transfer_submit_requested(
                &fence,
                sent.id,
                t0() + seconds(1),
                Some(&accepted)
            )
            .await
            .unwrap()
    );
    assert!(
        !store
            .refuse_bank_transfer_by_checks(
                &fence,
                sent.id,
                bank_transfer_change(Sending, Refused, Some(code)),
                &review_decision(),
            )
            .await
            .unwrap()
    );
    let sent = plaid_rail::stored(&store, sent.id).await;
    assert_eq!(sent.status, Sending);
    assert_eq!(sent.risk, Some(accepted));
}

async fn a_held_bank_transfer_is_approved_once_with_its_submit_work_armed_again(db: &TestDb) {
    use PlaidBankTransferStatus::{Cancelled, PendingReview as Held, Submitting as Sending};
    let store = db.store().await;
    let transfer = plaid_rail::created(&store, "held").await;
    let fence = plaid_rail::claim_submit(&store, transfer.id).await;
    let review = bank_transfer_review(transfer.id);
    assert!(
        store
            .hold_bank_transfer_for_review(
                &fence,
                transfer.id,
                bank_transfer_change(Sending, Held, None),
                &review_decision(),
                review.clone(),
                bank_transfer_audit("review.opened", transfer.id),
            )
            .await
            .unwrap()
    );
    assert!(
        !store
            .hold_bank_transfer_for_review(
                &fence,
                transfer.id,
                bank_transfer_change(Sending, Held, None),
                &review_decision(),
                bank_transfer_review(transfer.id),
                bank_transfer_audit("review.opened", transfer.id),
            )
            .await
            .unwrap(),
        "held once"
    );
    let held = plaid_rail::stored(&store, transfer.id).await;
    assert_eq!(held.status, Held);
    assert_eq!(held.risk, Some(review_decision()));
    assert_eq!(
        store
            .review_of("bank_transfer", transfer.id.as_uuid())
            .await
            .unwrap()
            .map(|r| (r.id, r.state, r.account_id)),
        Some((review.id, ReviewState::Open, None))
    );
    assert!(store.finish(&fence).await.unwrap(), "the submit work ends");
    assert!(
        store
            .claim(
                WorkKind::BankTransferSubmit,
                transfer.id.as_uuid(),
                "owner",
                LEASE
            )
            .await
            .unwrap()
            .is_none(),
        "nothing to send while held"
    );

    let approval = |by: &str| BankTransferReviewDecision {
        review_id: review.id,
        to: ReviewState::Approved,
        decided_by: by.into(),
        note: Some("called the customer".into()),
        at: t0() + seconds(2),
        bank_transfer: transfer.id,
        change: bank_transfer_change(Held, Sending, None),
        work: Some(NewWork {
            kind: WorkKind::BankTransferSubmit,
            subject_id: transfer.id.as_uuid(),
            ordering_key: Some(format!("plaid:bank_transfer:{}", transfer.id)),
            max_attempts: 5,
        }),
        audit: bank_transfer_audit("review.approved", transfer.id),
    };
    assert!(
        store
            .decide_bank_transfer_review(approval("ops"))
            .await
            .unwrap()
    );
    assert!(
        !store
            .decide_bank_transfer_review(approval("other"))
            .await
            .unwrap(),
        "a closed review is not closed again"
    );
    let approved = plaid_rail::stored(&store, transfer.id).await;
    assert_eq!(approved.status, Sending);
    assert_eq!(
        approved.risk,
        Some(review_decision()),
        "the decision that held it stays"
    );
    let closed = store.get_review(review.id).await.unwrap().unwrap();
    assert_eq!(closed.state, ReviewState::Approved);
    assert_eq!(closed.decided_by.as_deref(), Some("ops"));
    assert!(
        store
            .claim(
                WorkKind::BankTransferSubmit,
                transfer.id.as_uuid(),
                "owner",
                LEASE
            )
            .await
            .unwrap()
            .is_some(),
        "its submit work is due again"
    );
    let statuses: Vec<PlaidBankTransferStatus> = store
        .bank_transfer_history(transfer.id)
        .await
        .unwrap()
        .into_iter()
        .map(|entry| entry.status)
        .collect();
    assert_eq!(statuses, [Sending, Held, Sending]);

    // Another one held, then cancelled by its caller: CANCELLED, its review closed, no work.
    let other = plaid_rail::created(&store, "cancelled").await;
    let fence = plaid_rail::claim_submit(&store, other.id).await;
    let review = bank_transfer_review(other.id);
    assert!(
        store
            .hold_bank_transfer_for_review(
                &fence,
                other.id,
                bank_transfer_change(Sending, Held, None),
                &review_decision(),
                review.clone(),
                bank_transfer_audit("review.opened", other.id),
            )
            .await
            .unwrap()
    );
    assert!(
        store
            .decide_bank_transfer_review(BankTransferReviewDecision {
                review_id: review.id,
                to: ReviewState::Rejected,
                decided_by: "caller".into(),
                note: None,
                at: t0() + seconds(2),
                bank_transfer: other.id,
                change: bank_transfer_change(Held, Cancelled, None),
                work: None,
                audit: bank_transfer_audit("review.cancelled", other.id),
            })
            .await
            .unwrap()
    );
    assert_eq!(plaid_rail::stored(&store, other.id).await.status, Cancelled);
    let (events, _) = store
        .list_audit_events(AuditFilter::default(), 10, None)
        .await
        .unwrap();
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "review.opened",
            "review.approved",
            "review.opened",
            "review.cancelled"
        ]
    );
}

async fn a_held_transfer_counts_in_the_limits_and_its_review_closes_once(db: &TestDb) {
    let store = db.store().await;
    let (link, account) = link(&store).await;
    let transfer = deposit(&store, link, account, "k").await;
    let since = t0() - seconds(86_400);
    assert!(
        store
            .limit_usage(account, FundingFlow::AlpacaDeposit, since)
            .await
            .unwrap()
            .is_empty(),
        "an undecided transfer is not counted"
    );
    let fence = claim_submit(&store, transfer.id).await;
    let review = Review {
        id: Uuid::now_v7(),
        resource: "transfer".into(),
        resource_id: transfer.id.as_uuid(),
        account_id: Some(account),
        state: ReviewState::Open,
        rule: "balance".into(),
        reason: Some("INSUFFICIENT_BANK_BALANCE".into()),
        detail: "short".into(),
        amount: Some(transfer.amount.to_string()),
        created_at: t0(),
        expires_at: t0() + seconds(60),
        decided_at: None,
        decided_by: None,
        note: None,
    };
    assert!(
        store
            .hold_transfer_for_review(
                &fence,
                transfer.id,
                moving(Submitting, PendingReview),
                &review_decision(),
                review.clone(),
                audit("service", "review.opened", account),
            )
            .await
            .unwrap()
    );
    let held = stored(&store, transfer.id).await;
    assert_eq!(held.status, PendingReview);
    assert_eq!(held.risk, Some(review_decision()));
    let used = store
        .limit_usage(account, FundingFlow::AlpacaDeposit, since)
        .await
        .unwrap();
    assert_eq!(used.len(), 1, "a held transfer counts");
    assert_eq!(
        store
            .expired_reviews(t0() + seconds(61), 10)
            .await
            .unwrap()
            .len(),
        1
    );
    let decision = |to: ReviewState, by: &str| ReviewDecision {
        review_id: review.id,
        to,
        decided_by: by.into(),
        note: Some("checked".into()),
        at: t0() + seconds(2),
        transfer: transfer.id,
        change: moving(PendingReview, AlpacaTransferStatus::Failed),
        failure_code: Some("service/risk/REVIEW_REJECTED".into()),
        work: None,
        audit: audit(by, "review.rejected", account),
    };
    assert!(
        store
            .decide_review(decision(ReviewState::Rejected, "ops"))
            .await
            .unwrap()
    );
    assert!(
        !store
            .decide_review(decision(ReviewState::Rejected, "other"))
            .await
            .unwrap(),
        "a closed review is not closed again"
    );
    let closed = store.get_review(review.id).await.unwrap().unwrap();
    assert_eq!(closed.state, ReviewState::Rejected);
    assert_eq!(closed.decided_by.as_deref(), Some("ops"));
    assert_eq!(
        stored(&store, transfer.id).await.status,
        AlpacaTransferStatus::Failed
    );
    assert!(
        store
            .limit_usage(account, FundingFlow::AlpacaDeposit, since)
            .await
            .unwrap()
            .is_empty(),
        "a failed transfer no longer counts"
    );
    let (events, _) = store
        .list_audit_events(AuditFilter::default(), 10, None)
        .await
        .unwrap();
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["review.opened", "review.rejected"]);
}

async fn freezing_changes_only_what_is_not_already_so(db: &TestDb) {
    let store = db.store().await;
    let account = account();
    let freeze = || AccountFreeze {
        reason: "R10".into(),
        by: "ops".into(),
        at: t0(),
    };
    assert!(
        !store
            .set_frozen(account, None, audit("ops", "account.unfrozen", account))
            .await
            .unwrap(),
        "unfreezing an account never frozen is no change"
    );
    assert!(
        store
            .set_frozen(
                account,
                Some(freeze()),
                audit("ops", "account.frozen", account)
            )
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_frozen(
                account,
                Some(freeze()),
                audit("ops", "account.frozen", account)
            )
            .await
            .unwrap()
    );
    let controls = store.account_controls(account).await.unwrap();
    assert_eq!(
        controls.frozen.map(|f| (f.reason, f.by)),
        Some(("R10".into(), "ops".into()))
    );
    assert!(
        store
            .set_frozen(account, None, audit("ops", "account.unfrozen", account))
            .await
            .unwrap()
    );
    assert!(
        store
            .account_controls(account)
            .await
            .unwrap()
            .frozen
            .is_none()
    );
    let (events, _) = store
        .list_audit_events(
            AuditFilter {
                account_id: Some(account),
                resource: None,
            },
            10,
            None,
        )
        .await
        .unwrap();
    assert_eq!(events.len(), 2, "one event per change, none for the no-ops");
}

async fn concurrent_appends_keep_one_gapless_chain_and_a_changed_row_breaks_it(db: &TestDb) {
    let store = db.store().await;
    let appends = (0..12).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            let account = account();
            store
                .set_frozen(
                    account,
                    Some(AccountFreeze {
                        reason: format!("reason {i}"),
                        by: "ops".into(),
                        at: t0(),
                    }),
                    audit("ops", "account.frozen", account),
                )
                .await
                .unwrap()
        })
    });
    for done in futures::future::join_all(appends).await {
        assert!(done.unwrap());
    }
    let (events, _) = store
        .list_audit_events(AuditFilter::default(), 100, None)
        .await
        .unwrap();
    assert_eq!(events.len(), 12);
    let trail = |events: &[funding_core::ports::AuditEvent]| {
        verify_chain(events.iter().map(|e| (e.chain_fields(), e.hash.as_str())))
    };
    assert_eq!(trail(&events), Ok(12));
    execute(
        db,
        "UPDATE audit_events SET reason = 'nothing to see' WHERE seq = 5",
    )
    .await;
    let (tampered, _) = store
        .list_audit_events(AuditFilter::default(), 100, None)
        .await
        .unwrap();
    assert_eq!(
        trail(&tampered),
        Err(funding_domain::audit::ChainBreak::Mismatch { sequence: 5 })
    );
}

on_both_backends!(
    the_status_checks_admit_pending_review_and_still_refuse_the_unknown,
    the_bank_transfer_status_checks_admit_pending_review_until_000019_is_undone,
    a_bank_transfer_refused_by_the_checks_keeps_its_decision_and_a_sent_one_is_never_refused,
    a_held_bank_transfer_is_approved_once_with_its_submit_work_armed_again,
    a_held_transfer_counts_in_the_limits_and_its_review_closes_once,
    freezing_changes_only_what_is_not_already_so,
    concurrent_appends_keep_one_gapless_chain_and_a_changed_row_breaks_it,
);
