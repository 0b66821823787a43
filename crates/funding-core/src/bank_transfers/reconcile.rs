//! The reconciler of bank transfers, which backs Plaid's events up: a transfer whose events are
//! late is read back from Plaid (`/bank_transfer/get`) and what differs is applied.

use funding_domain::BankTransferId;

use super::BankTransfers;
use super::apply::PlaidEventOutcome;
use crate::error::CoreError;
use crate::model::BankTransfer;
use crate::ports::Unresolved;
use crate::reconcile::{Pacer, ReconcileReport, ReconcileSettings, ago, publish_unresolved};

impl BankTransfers {
    /// Reads the transfer back from Plaid and applies what differs.
    pub(super) async fn refresh(
        &self,
        transfer: &BankTransfer,
    ) -> Result<PlaidEventOutcome, CoreError> {
        let Some(plaid_id) = transfer.provider_id() else {
            return Ok(PlaidEventOutcome::NoSubject);
        };
        let found = self.gateway.get_bank_transfer(plaid_id).await?;
        if found.status == transfer.status {
            if found.cancellable != transfer.cancellable() {
                self.store
                    .set_bank_transfer_cancellable(transfer.id, found.cancellable)
                    .await?;
            }
            return Ok(PlaidEventOutcome::Ignored("duplicate"));
        }
        self.apply_status(
            transfer,
            found.status,
            found.failure_reason,
            None,
            "plaid:get",
        )
        .await
    }

    /// Reads back from Plaid, by id and each in its turn of `pacer`, up to `settings.pass_size`
    /// pending transfers that have not moved for longer than `settings.after` (those looked at
    /// least recently first); applies any difference and records what stays unresolved.
    pub async fn reconcile(
        &self,
        settings: &ReconcileSettings,
        pacer: &Pacer,
    ) -> Result<ReconcileReport, CoreError> {
        let now = self.clock.now();
        let cutoff = ago(now, settings.after);
        let stuck_before = ago(now, settings.stuck_after);
        let mut report = ReconcileReport::default();
        let due = self
            .store
            .bank_transfers_to_reconcile(cutoff, settings.pass_size)
            .await?;
        let mut checks: Vec<(BankTransferId, Option<Unresolved>)> = Vec::with_capacity(due.len());
        for transfer in due {
            pacer.wait().await;
            report.lookups += 1;
            report.checked += 1;
            let unresolved = match self.refresh(&transfer).await {
                Ok(PlaidEventOutcome::Moved { .. }) => {
                    report.moved += 1;
                    tracing::warn!(bank_transfer_id = %transfer.id, "the reconciler moved a bank transfer its events had not");
                    metrics::counter!("funding_reconciler_moves_total", "resource" => "bank_transfer").increment(1);
                    None
                }
                Ok(PlaidEventOutcome::UnknownStatus(_)) => Some(Unresolved::UnknownStatus),
                Ok(_) if transfer.updated_at <= stuck_before => Some(Unresolved::Unchanged),
                Ok(_) => None,
                Err(CoreError::Provider(error))
                    if error.kind == crate::ports::ProviderErrorKind::NotFound =>
                {
                    report.missing += 1;
                    tracing::error!(bank_transfer_id = %transfer.id, "Plaid does not know the bank transfer");
                    metrics::counter!("funding_reconciler_missing_total", "resource" => "bank_transfer").increment(1);
                    Some(Unresolved::Missing)
                }
                Err(CoreError::Provider(error)) => {
                    tracing::warn!(bank_transfer_id = %transfer.id, "cannot reconcile the bank transfer: {error}");
                    Some(Unresolved::LookupFailed)
                }
                Err(error) => return Err(error),
            };
            checks.push((transfer.id, unresolved));
        }
        self.store.record_bank_transfer_checks(&checks).await?;
        report.unresolved = self.store.unresolved_bank_transfers().await?;
        publish_unresolved("bank_transfer", &report.unresolved);
        Ok(report)
    }
}
