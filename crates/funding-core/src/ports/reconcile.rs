//! What the reconciler keeps of each look it takes (DESIGN §4.9, §9): why a resource in flight is
//! still unresolved after it was looked up at its provider.

/// Why a resource in flight stays unresolved after the reconciler looked it up: the `reason` of
/// the gauge `funding_reconciler_unresolved`, stored with the resource until its next look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Unresolved {
    /// The provider reports the status we have, and the resource has not moved for longer than
    /// it is expected to take (`reconcile_stuck_after_ms`).
    Unchanged,
    /// The provider does not know the resource.
    Missing,
    /// The lookup failed: the provider answered an error, or did not answer.
    LookupFailed,
    /// The provider reports a status this service does not know; the resource keeps its own.
    UnknownStatus,
}

impl Unresolved {
    /// Every reason, in the order the gauge lists them.
    pub const ALL: [Unresolved; 4] = [
        Unresolved::Unchanged,
        Unresolved::Missing,
        Unresolved::LookupFailed,
        Unresolved::UnknownStatus,
    ];

    /// As stored and as the gauge's label: `unchanged`, `missing`, `lookup_failed`,
    /// `unknown_status`.
    pub fn as_str(self) -> &'static str {
        match self {
            Unresolved::Unchanged => "unchanged",
            Unresolved::Missing => "missing",
            Unresolved::LookupFailed => "lookup_failed",
            Unresolved::UnknownStatus => "unknown_status",
        }
    }

    /// The reason [`as_str`](Self::as_str) wrote; `None` for anything else.
    pub fn parse(text: &str) -> Option<Unresolved> {
        Unresolved::ALL
            .into_iter()
            .find(|reason| reason.as_str() == text)
    }
}

/// How many resources of one kind are unresolved, by reason (reasons with none left out).
pub type UnresolvedCounts = Vec<(Unresolved, u64)>;
