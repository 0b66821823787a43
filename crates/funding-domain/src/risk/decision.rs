//! A check's answer: the verdict, the rule that decided, the reason code a refusal carries, and
//! the figures the rule saw (shown to callers and operators, stored with the transfer).

use std::fmt;

/// What to do with a transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verdict {
    /// Send it.
    Accept,
    /// Hold it until an operator approves it (`PENDING_REVIEW`).
    Review,
    /// End it without sending anything.
    Refuse,
}

impl Verdict {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Accept => "ACCEPT",
            Self::Review => "REVIEW",
            Self::Refuse => "REFUSE",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The rule behind a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    /// Nothing was checked, or every check passed.
    None,
    Balance,
    OwnerName,
    PerTransferLimit,
    DailyLimit,
    Rolling30DayLimit,
    Frozen,
    /// The link's recent insufficient-funds returns (DESIGN §12).
    ReturnHistory,
}

impl Rule {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Balance => "balance",
            Self::OwnerName => "owner_name",
            Self::PerTransferLimit => "per_transfer_limit",
            Self::DailyLimit => "daily_limit",
            Self::Rolling30DayLimit => "rolling_30_days_limit",
            Self::Frozen => "frozen",
            Self::ReturnHistory => "return_history",
        }
    }
}

/// A check's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub verdict: Verdict,
    pub rule: Rule,
    /// For a REFUSE: the reason callers see (`INSUFFICIENT_BANK_BALANCE`, `NAME_MISMATCH`,
    /// `LIMIT_EXCEEDED`, `ACCOUNT_FROZEN`); for a REVIEW, the same code of what would refuse.
    pub reason: Option<&'static str>,
    /// What was found, in words (names the limit and what remains, the shortfall, the score).
    pub detail: String,
    /// The figures the rule saw, by name (`available`, `amount`, `used_today`, `score`, …).
    pub figures: Vec<(&'static str, String)>,
}

impl Decision {
    /// Nothing against it.
    pub fn accept() -> Self {
        Self {
            verdict: Verdict::Accept,
            rule: Rule::None,
            reason: None,
            detail: String::new(),
            figures: Vec::new(),
        }
    }

    /// An acceptance by `rule`, with what it saw.
    pub fn accepted_by(rule: Rule, detail: String, figures: Vec<(&'static str, String)>) -> Self {
        Self {
            verdict: Verdict::Accept,
            rule,
            reason: None,
            detail,
            figures,
        }
    }

    pub fn is_accept(&self) -> bool {
        self.verdict == Verdict::Accept
    }

    /// The stricter of two decisions (REFUSE over REVIEW over ACCEPT); the first among equals.
    pub fn and(self, other: Self) -> Self {
        if other.verdict > self.verdict {
            other
        } else {
            self
        }
    }

    /// The strictest of several; ACCEPT (rule `None`) when there are none.
    pub fn strictest(decisions: impl IntoIterator<Item = Self>) -> Self {
        decisions.into_iter().fold(Self::accept(), Self::and)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decision(verdict: Verdict, rule: Rule) -> Decision {
        Decision {
            verdict,
            rule,
            reason: None,
            detail: String::new(),
            figures: Vec::new(),
        }
    }

    #[test]
    fn the_strictest_decides_and_the_first_among_equals() {
        let review = decision(Verdict::Review, Rule::DailyLimit);
        let refuse = decision(Verdict::Refuse, Rule::Balance);
        let other_review = decision(Verdict::Review, Rule::Balance);
        assert_eq!(
            Decision::strictest([review.clone(), refuse.clone(), other_review.clone()]).rule,
            Rule::Balance
        );
        assert_eq!(
            Decision::strictest([review.clone(), other_review]).rule,
            Rule::DailyLimit
        );
        assert_eq!(Decision::strictest([]).verdict, Verdict::Accept);
    }
}
