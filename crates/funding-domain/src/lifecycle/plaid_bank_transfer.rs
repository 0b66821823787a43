//! The Plaid bank transfer lifecycle: pending → posted | cancelled | failed, and posted → reversed when
//! an ACH return arrives. `posted` means submitted to the network, not settled, hence the one move out
//! of it.

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
            /// Plaid definitely refused to create it; no money moves.
            Refused => "refused",
        }
    }
}

impl Lifecycle for PlaidBankTransferStatus {
    fn allows(&self, next: &Self) -> bool {
        use PlaidBankTransferStatus::*;
        match (self, next) {
            // The create's answer (or a later read) may find it anywhere on Plaid's lifecycle.
            (Submitting, Pending | Posted | Cancelled | Failed | Reversed | Refused) => true,
            _ => matches!(
                (self, next),
                (Pending, Posted | Cancelled | Failed) | (Posted, Reversed)
            ),
        }
    }

    fn is_terminal(&self) -> bool {
        !matches!(self, Self::Submitting | Self::Pending | Self::Unknown(_))
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
    fn wire_strings_are_lowercase() {
        assert_eq!(serde_json::to_string(&Posted).unwrap(), "\"posted\"");
        assert_eq!(
            PlaidBankTransferStatus::from_provider("POSTED"),
            PlaidBankTransferStatus::Unknown("POSTED".into())
        );
    }
}
