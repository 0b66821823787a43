//! The ACH relationship lifecycle at Alpaca: QUEUED, then PENDING or SENT_TO_CLEARING, to APPROVED or
//! REJECTED; a delete goes CANCEL_REQUESTED → CANCEL_SENT → CANCELED (or CANCEL_FAILED). CREATING and
//! FAILED are this service's own: before Alpaca knows the relationship, and after it refused it.

use super::{Lifecycle, status_enum};

status_enum! {
    /// Where an ACH relationship is.
    AchRelationshipStatus {
        provider {
            Queued => "QUEUED",
            Pending => "PENDING",
            SentToClearing => "SENT_TO_CLEARING",
            /// Usable for transfers, until cancelled.
            Approved => "APPROVED",
            Rejected => "REJECTED",
            CancelRequested => "CANCEL_REQUESTED",
            CancelSent => "CANCEL_SENT",
            CancelFailed => "CANCEL_FAILED",
            Canceled => "CANCELED",
        }
        own {
            /// Stored, not yet created at Alpaca.
            Creating => "CREATING",
            /// Definitely refused before Alpaca created it (e.g. a Plaid or Alpaca 4xx).
            Failed => "FAILED",
        }
    }
}

impl AchRelationshipStatus {
    /// Position along the approval path; `None` off it.
    fn approval_rank(&self) -> Option<u8> {
        match self {
            Self::Creating => Some(0),
            Self::Queued => Some(1),
            Self::Pending => Some(2),
            Self::SentToClearing => Some(3),
            Self::Approved => Some(4),
            _ => None,
        }
    }

    /// Whether transfers may be made over it.
    pub fn is_usable(&self) -> bool {
        matches!(self, Self::Approved)
    }

    /// Whether Alpaca counts it as the account's active relationship (a second one gets 409).
    pub fn is_active(&self) -> bool {
        !matches!(
            self,
            Self::Rejected | Self::Canceled | Self::Failed | Self::Creating | Self::Unknown(_)
        )
    }
}

impl Lifecycle for AchRelationshipStatus {
    fn allows(&self, next: &Self) -> bool {
        use AchRelationshipStatus::*;
        if self.is_terminal() || matches!(next, Creating | Unknown(_)) {
            return false;
        }
        match (self, next) {
            (Creating, Failed) => true,
            (from, to) if to.approval_rank().is_some() => {
                matches!((from.approval_rank(), to.approval_rank()), (Some(a), Some(b)) if a < b)
                    || matches!((from, to), (CancelFailed, Approved))
            }
            (Creating, Rejected) => true,
            (Queued | Pending | SentToClearing, Rejected) => true,
            (Queued | Pending | SentToClearing | Approved | CancelFailed, CancelRequested) => true,
            (Queued | Pending | SentToClearing | Approved | CancelRequested, CancelSent) => true,
            (
                Queued | Pending | SentToClearing | Approved | CancelRequested | CancelSent,
                Canceled,
            ) => true,
            (CancelRequested | CancelSent, CancelFailed) => true,
            _ => false,
        }
    }

    fn is_terminal(&self) -> bool {
        matches!(self, Self::Rejected | Self::Canceled | Self::Failed)
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
    use super::AchRelationshipStatus::{self, *};
    use crate::lifecycle::{Transition, TransitionError, apply, table_tests};

    /// The table, written out independently of the implementation.
    fn table() -> Vec<(AchRelationshipStatus, AchRelationshipStatus)> {
        let mut moves = vec![
            (Creating, Failed),
            (Creating, Rejected),
            (CancelFailed, Approved),
        ];
        let path = [Creating, Queued, Pending, SentToClearing, Approved];
        for (i, from) in path.iter().enumerate() {
            for to in &path[i + 1..] {
                moves.push((from.clone(), to.clone()));
            }
        }
        for from in [Queued, Pending, SentToClearing] {
            moves.push((from, Rejected));
        }
        for from in [Queued, Pending, SentToClearing, Approved] {
            moves.extend([
                (from.clone(), CancelRequested),
                (from.clone(), CancelSent),
                (from, Canceled),
            ]);
        }
        moves.extend([
            (CancelRequested, CancelSent),
            (CancelRequested, Canceled),
            (CancelRequested, CancelFailed),
            (CancelSent, Canceled),
            (CancelSent, CancelFailed),
            (CancelFailed, CancelRequested),
        ]);
        moves
    }

    #[test]
    fn apply_follows_the_table_exactly() {
        table_tests::matches_table(AchRelationshipStatus::ALL, &table());
    }

    #[test]
    fn random_event_sequences_stay_on_the_table() {
        table_tests::random_sequences_stay_on_table(
            Creating,
            AchRelationshipStatus::ALL.to_vec(),
            AchRelationshipStatus::from_provider("SOMETHING_NEW"),
            table(),
            vec![],
        );
    }

    #[test]
    fn a_late_pending_after_approval_changes_nothing() {
        assert!(matches!(
            apply(&Approved, Pending),
            Err(TransitionError::Illegal { .. })
        ));
        assert_eq!(apply(&Approved, Approved), Ok(Transition::Unchanged));
    }

    #[test]
    fn unknown_strings_are_kept_and_refused() {
        let status = AchRelationshipStatus::from_provider("ON_HOLD");
        assert_eq!(status.as_str(), "ON_HOLD");
        assert_eq!(
            apply(&Queued, status),
            Err(TransitionError::UnknownStatus("ON_HOLD".into()))
        );
    }

    #[test]
    fn own_states_are_never_read_from_a_provider() {
        assert_eq!(
            AchRelationshipStatus::from_provider("CREATING"),
            AchRelationshipStatus::Unknown("CREATING".into())
        );
        assert_eq!(AchRelationshipStatus::from_stored("CREATING"), Creating);
        for status in AchRelationshipStatus::ALL {
            assert_eq!(&AchRelationshipStatus::from_stored(status.as_str()), status);
        }
    }

    #[test]
    fn only_approved_is_usable_and_terminal_ones_are_inactive() {
        assert!(Approved.is_usable());
        assert!(!Queued.is_usable());
        assert!(Queued.is_active() && Approved.is_active());
        assert!(!Rejected.is_active() && !Canceled.is_active());
    }
}
