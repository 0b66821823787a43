//! The Plaid bank transfer lifecycle: pending → posted | cancelled | failed, and posted → reversed when
//! an ACH return arrives. `posted` means submitted to the network, not settled, hence the one move out
//! of it. `submitting`, `refused` and `pending_review` are this service's own: stored before Plaid
//! knows the transfer, after Plaid (or this service's checks) definitely refused it, and while it is
//! held for an operator's review (DESIGN §11), from which it is sent (`submitting`), refused or
//! cancelled.

use super::{Lifecycle, status_enum};

status_enum! {
    /// Where a Plaid bank transfer is (`BankTransferStatus`).
    PlaidBankTransferStatus {
        provider {
            Pending => "pending",
            /// Submitted to the payment network; a reversal may follow.
            Posted => "posted",
            Cancelled => "cancelled",
            /// Failed; no money moved.
            Failed => "failed",
            /// A posted transfer was returned.
            Reversed => "reversed",
        }
        own {
            /// Stored as an intent; Plaid may or may not know it yet. Resent with its idempotency
            /// key until Plaid answers.
            Submitting => "submitting",
            /// Plaid, or this service's checks, definitely refused to create it; no money moves.
            Refused => "refused",
            /// Held by the risk checks until an operator approves it; nothing sent yet.
            PendingReview => "pending_review",
        }
    }
}

impl Lifecycle for PlaidBankTransferStatus {
    fn allows(&self, next: &Self) -> bool {
        use PlaidBankTransferStatus::*;
        match (self, next) {
            // The create's answer (or a later read) may find it anywhere on Plaid's lifecycle.
            (Submitting, Pending | Posted | Cancelled | Failed | Reversed | Refused) => true,
            // Held for review (DESIGN §11): before anything is sent, and sent only once approved.
            (Submitting, PendingReview) => true,
            (PendingReview, Submitting | Refused | Cancelled) => true,
            _ => matches!(
                (self, next),
                (Pending, Posted | Cancelled | Failed) | (Posted, Reversed)
            ),
        }
    }

    fn is_terminal(&self) -> bool {
        !matches!(
            self,
            Self::Submitting | Self::Pending | Self::PendingReview | Self::Unknown(_)
        )
    }

    fn unknown(&self) -> Option<&str> {
        match self {
            Self::Unknown(text) => Some(text),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::PlaidBankTransferStatus::{self, *};
    use crate::lifecycle::{TransitionError, apply, table_tests};

    fn table() -> Vec<(PlaidBankTransferStatus, PlaidBankTransferStatus)> {
        vec![
            (Submitting, Pending),
            (Submitting, Posted),
            (Submitting, Cancelled),
            (Submitting, Failed),
            (Submitting, Reversed),
            (Submitting, Refused),
            (Submitting, PendingReview),
            (PendingReview, Submitting),
            (PendingReview, Refused),
            (PendingReview, Cancelled),
            (Pending, Posted),
            (Pending, Cancelled),
            (Pending, Failed),
            (Posted, Reversed),
        ]
    }

    #[test]
    fn apply_follows_the_table_exactly() {
        table_tests::matches_table(PlaidBankTransferStatus::ALL, &table());
    }

    #[test]
    fn random_event_sequences_stay_on_the_table_and_terminal_states_stay_terminal() {
        table_tests::random_sequences_stay_on_table(
            Submitting,
            PlaidBankTransferStatus::ALL.to_vec(),
            PlaidBankTransferStatus::from_provider("settled"),
            table(),
            vec![(Posted, Reversed)],
        );
    }

    #[test]
    fn a_reversal_needs_a_posted_transfer() {
        assert!(matches!(
            apply(&Pending, Reversed),
            Err(TransitionError::Illegal { .. })
        ));
        assert!(matches!(
            apply(&Reversed, Posted),
            Err(TransitionError::Illegal { .. })
        ));
    }

    #[test]
    fn a_held_transfer_is_not_terminal_and_leaves_only_for_a_send_a_refusal_or_a_cancel() {
        use crate::lifecycle::Lifecycle as _;
        assert!(!PendingReview.is_terminal());
        for to in [Pending, Posted, Failed, Reversed] {
            assert!(
                matches!(
                    apply(&PendingReview, to.clone()),
                    Err(TransitionError::Illegal { .. })
                ),
                "pending_review → {to}"
            );
        }
        assert_eq!(PendingReview.as_str(), "pending_review");
    }

    #[test]
    fn wire_strings_are_lowercase() {
        assert_eq!(serde_json::to_string(&Posted).unwrap(), "\"posted\"");
        assert_eq!(
            PlaidBankTransferStatus::from_provider("POSTED"),
            PlaidBankTransferStatus::Unknown("POSTED".into())
        );
    }
}
