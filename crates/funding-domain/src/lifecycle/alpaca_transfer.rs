//! The Alpaca transfer lifecycle: QUEUED → [APPROVAL_PENDING] → [PENDING] → SENT_TO_CLEARING →
//! [APPROVED] → COMPLETE, with REJECTED, CANCELED and EXPIRED as exits from any state in flight.
//! COMPLETE is provisional: an ACH return moves it to RETURNED, the one move out of a terminal state.
//! SUBMITTING, FAILED and PENDING_REVIEW are this service's own: stored before Alpaca knows the
//! transfer, after Alpaca (or this service's checks) definitely refused it, and while it is held
//! for an operator's review (DESIGN §11), from which it is sent (SUBMITTING), failed or cancelled.

use super::{Lifecycle, status_enum};

status_enum! {
    /// Where an Alpaca transfer is.
    AlpacaTransferStatus {
        provider {
            Queued => "QUEUED",
            ApprovalPending => "APPROVAL_PENDING",
            Pending => "PENDING",
            SentToClearing => "SENT_TO_CLEARING",
            Approved => "APPROVED",
            /// Money moved; provisional, a RETURNED may follow.
            Complete => "COMPLETE",
            /// The bank sent an ACH return after the transfer completed.
            Returned => "RETURNED",
            Rejected => "REJECTED",
            /// Cancelled at the client's request.
            Canceled => "CANCELED",
            Expired => "EXPIRED",
        }
        own {
            /// Stored as an intent; Alpaca may or may not know it yet.
            Submitting => "SUBMITTING",
            /// Alpaca, or this service's checks, definitely refused it; no money moves.
            Failed => "FAILED",
            /// Held by the risk checks until an operator approves it; nothing sent yet.
            PendingReview => "PENDING_REVIEW",
        }
    }
}

impl AlpacaTransferStatus {
    /// Position along the way to COMPLETE; `None` off it.
    fn progress_rank(&self) -> Option<u8> {
        match self {
            Self::Submitting => Some(0),
            Self::Queued => Some(1),
            Self::ApprovalPending => Some(2),
            Self::Pending => Some(3),
            Self::SentToClearing => Some(4),
            Self::Approved => Some(5),
            Self::Complete => Some(6),
            _ => None,
        }
    }

    /// In flight: neither done nor failed.
    pub fn is_in_flight(&self) -> bool {
        matches!(self.progress_rank(), Some(rank) if rank < 6)
    }

    /// Whether a cancel request can still stop it at Alpaca (before it reaches clearing).
    pub fn is_cancellable(&self) -> bool {
        matches!(self, Self::Queued | Self::ApprovalPending | Self::Pending)
    }
}

impl Lifecycle for AlpacaTransferStatus {
    fn allows(&self, next: &Self) -> bool {
        use AlpacaTransferStatus::*;
        match (self, next) {
            (Complete, Returned) => true,
            // Held for review (DESIGN §11): before anything is sent, and sent only once approved.
            (Submitting, PendingReview) => true,
            (PendingReview, Submitting | Failed | Canceled) => true,
            (from, _) if from.is_terminal() => false,
            (_, Submitting | Unknown(_)) => false,
            (Submitting, Failed) => true,
            (_, Failed) => false,
            (from, to) if to.progress_rank().is_some() => {
                matches!((from.progress_rank(), to.progress_rank()), (Some(a), Some(b)) if a < b)
            }
            // A return implies the transfer cleared: a missed COMPLETE must not leave it stuck.
            (_, Returned | Rejected | Canceled | Expired) => self.is_in_flight(),
            _ => false,
        }
    }

    fn is_terminal(&self) -> bool {
        matches!(
            self,
            Self::Complete
                | Self::Returned
                | Self::Rejected
                | Self::Canceled
                | Self::Expired
                | Self::Failed
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
    use super::AlpacaTransferStatus::{self, *};
    use crate::lifecycle::{Lifecycle, Transition, TransitionError, apply, table_tests};

    fn table() -> Vec<(AlpacaTransferStatus, AlpacaTransferStatus)> {
        let path = [
            Submitting,
            Queued,
            ApprovalPending,
            Pending,
            SentToClearing,
            Approved,
            Complete,
        ];
        let mut moves = vec![
            (Submitting, Failed),
            (Complete, Returned),
            (Submitting, PendingReview),
            (PendingReview, Submitting),
            (PendingReview, Failed),
            (PendingReview, Canceled),
        ];
        for (i, from) in path.iter().enumerate() {
            for to in &path[i + 1..] {
                moves.push((from.clone(), to.clone()));
            }
        }
        for from in &path[..6] {
            for exit in [Returned, Rejected, Canceled, Expired] {
                moves.push((from.clone(), exit));
            }
        }
        moves
    }

    #[test]
    fn apply_follows_the_table_exactly() {
        table_tests::matches_table(AlpacaTransferStatus::ALL, &table());
    }

    #[test]
    fn random_event_sequences_stay_on_the_table_and_terminal_states_stay_terminal() {
        table_tests::random_sequences_stay_on_table(
            Submitting,
            AlpacaTransferStatus::ALL.to_vec(),
            AlpacaTransferStatus::from_provider("SETTLED"),
            table(),
            vec![(Complete, Returned)],
        );
    }

    #[test]
    fn complete_may_still_be_returned_and_nothing_else() {
        assert!(Complete.is_terminal());
        assert_eq!(
            apply(&Complete, Returned),
            Ok(Transition::Moved {
                from: Complete,
                to: Returned
            })
        );
        for next in [Canceled, Rejected, Expired, Queued, SentToClearing, Failed] {
            assert!(matches!(
                apply(&Complete, next),
                Err(TransitionError::Illegal { .. })
            ));
        }
        for next in AlpacaTransferStatus::ALL {
            if *next != Returned {
                assert!(apply(&Returned, next.clone()).is_err());
            }
        }
    }

    #[test]
    fn a_late_event_is_refused_and_a_duplicate_changes_nothing() {
        assert!(matches!(
            apply(&SentToClearing, Queued),
            Err(TransitionError::Illegal { .. })
        ));
        assert_eq!(
            apply(&SentToClearing, SentToClearing),
            Ok(Transition::Unchanged)
        );
    }

    #[test]
    fn only_early_states_are_cancellable() {
        let cancellable: Vec<_> = AlpacaTransferStatus::ALL
            .iter()
            .filter(|s| s.is_cancellable())
            .collect();
        assert_eq!(cancellable, vec![&Queued, &ApprovalPending, &Pending]);
    }

    #[test]
    fn unknown_statuses_are_kept_as_given() {
        let settled = AlpacaTransferStatus::from_provider("SETTLED");
        assert_eq!(settled, AlpacaTransferStatus::Unknown("SETTLED".into()));
        assert_eq!(serde_json::to_string(&settled).unwrap(), "\"SETTLED\"");
        assert_eq!(
            serde_json::from_str::<AlpacaTransferStatus>("\"COMPLETE\"").unwrap(),
            Complete
        );
        assert_eq!(
            AlpacaTransferStatus::from_provider("FAILED"),
            AlpacaTransferStatus::Unknown("FAILED".into())
        );
    }
}
