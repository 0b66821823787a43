//! The balance check (DESIGN §11): before a debit of the customer's bank (a deposit; a Plaid-rail
//! debit), the bank's available balance against the amount. Below it: REFUSE
//! (`INSUFFICIENT_BANK_BALANCE`, naming the shortfall) or REVIEW, as configured; the balance
//! unavailable (Plaid could not reach the bank): a separate setting, whose default, as Plaid's own,
//! is to accept.

use super::{Decision, Rule, Verdict, format_cents};

/// `[risk] balance_check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BalanceCheck {
    Refuse,
    Review,
    #[default]
    Off,
}

impl BalanceCheck {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "refuse" => Some(Self::Refuse),
            "review" => Some(Self::Review),
            "off" => Some(Self::Off),
            _ => None,
        }
    }
}

/// `[risk] balance_unavailable`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BalanceUnavailable {
    #[default]
    Accept,
    Review,
    Refuse,
}

impl BalanceUnavailable {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "accept" => Some(Self::Accept),
            "review" => Some(Self::Review),
            "refuse" => Some(Self::Refuse),
            _ => None,
        }
    }
}

/// The refusal code of the balance check.
pub const INSUFFICIENT_BANK_BALANCE: &str = "INSUFFICIENT_BANK_BALANCE";

/// The balance check of a debit of `amount` cents, the bank's `available` balance in cents
/// (`None`: unavailable).
pub fn check_balance(
    check: BalanceCheck,
    unavailable: BalanceUnavailable,
    available: Option<i64>,
    amount: i64,
) -> Decision {
    if check == BalanceCheck::Off {
        return Decision::accept();
    }
    let Some(available) = available else {
        let verdict = match unavailable {
            BalanceUnavailable::Accept => Verdict::Accept,
            BalanceUnavailable::Review => Verdict::Review,
            BalanceUnavailable::Refuse => Verdict::Refuse,
        };
        return Decision {
            verdict,
            rule: Rule::Balance,
            reason: (verdict != Verdict::Accept).then_some(INSUFFICIENT_BANK_BALANCE),
            detail: "the bank's available balance could not be read".to_owned(),
            figures: vec![
                ("amount", format_cents(amount)),
                ("available", "unavailable".to_owned()),
            ],
        };
    };
    let figures = vec![
        ("amount", format_cents(amount)),
        ("available", format_cents(available)),
    ];
    if available >= amount {
        return Decision::accepted_by(
            Rule::Balance,
            format!(
                "the bank has {} available for {}",
                format_cents(available),
                format_cents(amount)
            ),
            figures,
        );
    }
    Decision {
        verdict: match check {
            BalanceCheck::Review => Verdict::Review,
            _ => Verdict::Refuse,
        },
        rule: Rule::Balance,
        reason: Some(INSUFFICIENT_BANK_BALANCE),
        detail: format!(
            "the bank has {} available, {} short of {}",
            format_cents(available),
            format_cents(amount - available),
            format_cents(amount)
        ),
        figures,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_balance_below_the_amount_refuses_or_reviews_naming_the_shortfall() {
        let refused = check_balance(
            BalanceCheck::Refuse,
            BalanceUnavailable::Accept,
            Some(12_000),
            50_000,
        );
        assert_eq!(refused.verdict, Verdict::Refuse);
        assert_eq!(refused.reason, Some(INSUFFICIENT_BANK_BALANCE));
        assert!(
            refused.detail.contains("380.00 short of 500.00"),
            "{}",
            refused.detail
        );
        let reviewed = check_balance(
            BalanceCheck::Review,
            BalanceUnavailable::Accept,
            Some(12_000),
            50_000,
        );
        assert_eq!(reviewed.verdict, Verdict::Review);
        let enough = check_balance(
            BalanceCheck::Refuse,
            BalanceUnavailable::Accept,
            Some(50_000),
            50_000,
        );
        assert_eq!(enough.verdict, Verdict::Accept);
        assert_eq!(enough.rule, Rule::Balance);
        let off = check_balance(BalanceCheck::Off, BalanceUnavailable::Refuse, None, 50_000);
        assert_eq!(off, Decision::accept());
    }

    #[test]
    fn an_unavailable_balance_does_what_its_setting_says() {
        for (setting, verdict) in [
            (BalanceUnavailable::Accept, Verdict::Accept),
            (BalanceUnavailable::Review, Verdict::Review),
            (BalanceUnavailable::Refuse, Verdict::Refuse),
        ] {
            let decision = check_balance(BalanceCheck::Refuse, setting, None, 100);
            assert_eq!(decision.verdict, verdict);
            assert_eq!(decision.rule, Rule::Balance);
        }
    }
}
