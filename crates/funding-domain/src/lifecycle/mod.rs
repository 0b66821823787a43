//! The three lifecycles the service follows — an Alpaca ACH relationship, an Alpaca transfer and a
//! Plaid bank transfer — each a status enum with its transition table, and one function, [`apply`],
//! that applies a status a provider reported: it moves along the table, treats a repeat as a no-op,
//! and refuses anything else (late, out-of-order or unknown statuses) without changing the state.

mod ach_relationship;
mod alpaca_transfer;
mod plaid_bank_transfer;

use std::fmt;

pub use ach_relationship::AchRelationshipStatus;
pub use alpaca_transfer::AlpacaTransferStatus;
pub use plaid_bank_transfer::PlaidBankTransferStatus;

/// A status with a transition table.
pub trait Lifecycle: Clone + PartialEq + fmt::Debug + fmt::Display {
    /// Whether the table allows moving from `self` to `next` (`self != next`).
    fn allows(&self, next: &Self) -> bool;

    /// Terminal states accept no further move, but for the documented exceptions
    /// (an Alpaca transfer's COMPLETE → RETURNED, a Plaid bank transfer's posted → reversed).
    fn is_terminal(&self) -> bool;

    /// The provider's string this status was read from, when the service does not know it.
    fn unknown(&self) -> Option<&str>;
}

/// What applying a reported status did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition<S> {
    /// The status moved along the table.
    Moved { from: S, to: S },
    /// The reported status is the current one: a duplicate, nothing to do.
    Unchanged,
}

/// Why a reported status was not applied. The state stays as it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError<S: fmt::Debug + fmt::Display> {
    #[error("status cannot move from {from} to {to}")]
    Illegal { from: S, to: S },
    #[error("unknown provider status {0:?}")]
    UnknownStatus(String),
}

/// Applies a status a provider reported to the current one.
pub fn apply<S: Lifecycle>(current: &S, reported: S) -> Result<Transition<S>, TransitionError<S>> {
    if let Some(text) = reported.unknown() {
        return Err(TransitionError::UnknownStatus(text.to_owned()));
    }
    if *current == reported {
        return Ok(Transition::Unchanged);
    }
    if current.allows(&reported) {
        Ok(Transition::Moved {
            from: current.clone(),
            to: reported,
        })
    } else {
        Err(TransitionError::Illegal {
            from: current.clone(),
            to: reported,
        })
    }
}

/// Declares a status enum whose variants map to fixed strings, plus `Unknown(String)` for the rest.
/// `provider` lists the strings a provider may send; `own` lists this service's own states, which are
/// never read from a provider.
macro_rules! status_enum {
    (
        $(#[$doc:meta])* $name:ident {
            provider { $($(#[$vdoc:meta])* $variant:ident => $text:literal,)* }
            own { $($(#[$odoc:meta])* $own:ident => $own_text:literal,)* }
        }
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
            $($(#[$odoc])* $own,)*
            /// A status string the service does not know; kept as given, never dropped.
            Unknown(String),
        }

        impl $name {
            /// Every known status, provider's and own.
            pub const ALL: &'static [$name] = &[$($name::$variant,)* $($name::$own,)*];

            /// Reads a status a provider sent; strings it does not know become `Unknown`.
            /// This service's own states are never read from a provider.
            pub fn from_provider(text: &str) -> Self {
                match text {
                    $($text => Self::$variant,)*
                    other => Self::Unknown(other.to_owned()),
                }
            }

            /// Reads a status as [`as_str`](Self::as_str) wrote it (storage), own states included.
            pub fn from_stored(text: &str) -> Self {
                match text {
                    $($own_text => Self::$own,)*
                    other => Self::from_provider(other),
                }
            }

            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $text,)*
                    $(Self::$own => $own_text,)*
                    Self::Unknown(text) => text,
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                Ok(Self::from_provider(&text))
            }
        }
    };
}
pub(crate) use status_enum;

#[cfg(test)]
pub(crate) mod table_tests {
    //! Shared checks for every lifecycle: the implementation against an independent list of allowed
    //! moves, and random sequences of reported statuses.

    use super::*;
    use proptest::prelude::*;

    /// `apply` moves exactly along `table`, and a repeat is unchanged.
    pub fn matches_table<S: Lifecycle>(all: &[S], table: &[(S, S)]) {
        for from in all {
            for to in all {
                let result = apply(from, to.clone());
                if from == to {
                    assert_eq!(result, Ok(Transition::Unchanged), "{from} -> {to}");
                } else if table.contains(&(from.clone(), to.clone())) {
                    assert!(
                        matches!(result, Ok(Transition::Moved { .. })),
                        "{from} -> {to} should move"
                    );
                } else {
                    assert!(
                        matches!(result, Err(TransitionError::Illegal { .. })),
                        "{from} -> {to} should be refused"
                    );
                }
            }
        }
    }

    /// Random sequences never leave the table, and a terminal state only ever takes `exceptions`.
    pub fn random_sequences_stay_on_table<S: Lifecycle + 'static>(
        start: S,
        all: Vec<S>,
        unknown: S,
        table: Vec<(S, S)>,
        exceptions: Vec<(S, S)>,
    ) {
        let mut candidates = all;
        candidates.push(unknown);
        let strategy = proptest::collection::vec(proptest::sample::select(candidates), 0..40);
        proptest!(|(sequence in strategy)| {
            let mut state = start.clone();
            for reported in sequence {
                let before = state.clone();
                match apply(&state, reported.clone()) {
                    Ok(Transition::Moved { from, to }) => {
                        prop_assert!(table.contains(&(from.clone(), to.clone())), "{} -> {} is off the table", from, to);
                        if from.is_terminal() {
                            prop_assert!(exceptions.contains(&(from.clone(), to.clone())), "terminal {} moved to {}", from, to);
                        }
                        state = to;
                    }
                    Ok(Transition::Unchanged) => prop_assert_eq!(&before, &reported),
                    Err(_) => prop_assert_eq!(&state, &before),
                }
                prop_assert!(state.unknown().is_none());
            }
        });
    }
}
