//! A bank link's health (DESIGN §5, §11–§12): whether the bank access behind it still works, apart
//! from its ACH relationship's status. Plaid reports it through the Item's webhooks; ACH returns
//! that say the account is gone make a link `UNUSABLE`.
//!
//! ```
//! use funding_domain::BankLinkHealth;
//! let health = BankLinkHealth::from_item_webhook("ERROR", Some("ITEM_LOGIN_REQUIRED"));
//! assert_eq!(health, Some(BankLinkHealth::NeedsReauth));
//! assert!(BankLinkHealth::Healthy.can_become(BankLinkHealth::NeedsReauth));
//! assert!(!BankLinkHealth::Revoked.can_become(BankLinkHealth::Healthy));
//! ```

use std::fmt;

/// How a link's bank access stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BankLinkHealth {
    /// Works.
    Healthy,
    /// The user must log in again (Plaid Link in update mode): `ITEM_LOGIN_REQUIRED`,
    /// `PENDING_EXPIRATION`, `PENDING_DISCONNECT`.
    NeedsReauth,
    /// The user withdrew this service's access (`USER_PERMISSION_REVOKED`,
    /// `USER_ACCOUNT_REVOKED`): for good, a new link is needed.
    Revoked,
    /// The bank account is gone or wrong (an ACH return such as R02, R03, R04): for good.
    Unusable,
}

impl BankLinkHealth {
    pub const ALL: [Self; 4] = [
        Self::Healthy,
        Self::NeedsReauth,
        Self::Revoked,
        Self::Unusable,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Healthy => "HEALTHY",
            Self::NeedsReauth => "NEEDS_REAUTH",
            Self::Revoked => "REVOKED",
            Self::Unusable => "UNUSABLE",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|health| health.as_str() == text)
    }

    /// Whether it never changes again (a new link is needed).
    pub fn is_final(&self) -> bool {
        matches!(self, Self::Revoked | Self::Unusable)
    }

    /// Whether a link of this health may move to `next`: anything but from a final health, and
    /// not to itself.
    pub fn can_become(&self, next: Self) -> bool {
        *self != next && !self.is_final()
    }

    /// What an `ITEM` webhook (Plaid's `webhook_code`, and for `ERROR` its `error.error_code`)
    /// says of the link's health; `None` for webhooks that say nothing of it.
    pub fn from_item_webhook(webhook_code: &str, error_code: Option<&str>) -> Option<Self> {
        match (webhook_code, error_code) {
            ("ERROR", Some("ITEM_LOGIN_REQUIRED")) => Some(Self::NeedsReauth),
            ("PENDING_EXPIRATION" | "PENDING_DISCONNECT", _) => Some(Self::NeedsReauth),
            ("LOGIN_REPAIRED", _) => Some(Self::Healthy),
            ("USER_PERMISSION_REVOKED" | "USER_ACCOUNT_REVOKED", _) => Some(Self::Revoked),
            _ => None,
        }
    }

    /// What Plaid's `/item/get` says of a link whose health is `self` (with `reason`): an Item
    /// whose `error` is one only the user can mend (a login, a lock, consent) needs
    /// re-authentication; one that works again mends a NEEDS_REAUTH that came from such an error
    /// (not one from `PENDING_EXPIRATION` / `PENDING_DISCONNECT`, which warn of the future and
    /// which `/item/get` cannot show resolved). `None`: no move (a transient error such as
    /// `INSTITUTION_DOWN` says nothing of the link).
    pub fn from_item_state(self, error_code: Option<&str>, reason: Option<&str>) -> Option<Self> {
        let next = match error_code {
            Some(code) if USER_MENDED_ITEM_ERRORS.contains(&code) => Self::NeedsReauth,
            Some(_) => return None,
            None => {
                let warned_of_future = reason.is_some_and(|reason| reason.contains("PENDING_"));
                if self != Self::NeedsReauth || warned_of_future {
                    return None;
                }
                Self::Healthy
            }
        };
        self.can_become(next).then_some(next)
    }
}

/// Item errors only the user can mend, in Link's update mode.
pub const USER_MENDED_ITEM_ERRORS: &[&str] = &[
    "ITEM_LOGIN_REQUIRED",
    "INVALID_CREDENTIALS",
    "INVALID_MFA",
    "INSUFFICIENT_CREDENTIALS",
    "ITEM_LOCKED",
    "USER_SETUP_REQUIRED",
    "MFA_NOT_SUPPORTED",
    "ACCESS_NOT_GRANTED",
    "PASSWORD_RESET_REQUIRED",
    "NO_ACCOUNTS",
];

impl fmt::Display for BankLinkHealth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_get_moves_health_only_where_it_can_tell() {
        use BankLinkHealth::*;
        let login = Some("Plaid's ERROR webhook (ITEM_LOGIN_REQUIRED)");
        let expiring = Some("Plaid's PENDING_EXPIRATION webhook");
        for (from, error, reason, to) in [
            (
                Healthy,
                Some("ITEM_LOGIN_REQUIRED"),
                None,
                Some(NeedsReauth),
            ),
            (Healthy, Some("ITEM_LOCKED"), None, Some(NeedsReauth)),
            (Healthy, Some("INSTITUTION_DOWN"), None, None),
            (Healthy, None, None, None),
            (NeedsReauth, Some("ITEM_LOGIN_REQUIRED"), login, None),
            (NeedsReauth, None, login, Some(Healthy)),
            (NeedsReauth, None, expiring, None),
            (Revoked, None, None, None),
            (Revoked, Some("ITEM_LOGIN_REQUIRED"), None, None),
            (Unusable, None, None, None),
        ] {
            assert_eq!(
                from.from_item_state(error, reason),
                to,
                "{from} {error:?} {reason:?}"
            );
        }
    }

    #[test]
    fn item_webhooks_map_to_plaids_meaning() {
        use BankLinkHealth::*;
        for (code, error, health) in [
            ("ERROR", Some("ITEM_LOGIN_REQUIRED"), Some(NeedsReauth)),
            ("ERROR", Some("INSTITUTION_DOWN"), None),
            ("PENDING_EXPIRATION", None, Some(NeedsReauth)),
            ("PENDING_DISCONNECT", None, Some(NeedsReauth)),
            ("LOGIN_REPAIRED", None, Some(Healthy)),
            ("USER_PERMISSION_REVOKED", None, Some(Revoked)),
            ("USER_ACCOUNT_REVOKED", None, Some(Revoked)),
            ("NEW_ACCOUNTS_AVAILABLE", None, None),
            ("WEBHOOK_UPDATE_ACKNOWLEDGED", None, None),
        ] {
            assert_eq!(
                BankLinkHealth::from_item_webhook(code, error),
                health,
                "{code}"
            );
        }
    }

    #[test]
    fn final_healths_stay_and_the_others_move() {
        for from in BankLinkHealth::ALL {
            for to in BankLinkHealth::ALL {
                let expected = from != to && !from.is_final();
                assert_eq!(from.can_become(to), expected, "{from} -> {to}");
            }
        }
        for health in BankLinkHealth::ALL {
            assert_eq!(BankLinkHealth::parse(health.as_str()), Some(health));
        }
        assert_eq!(BankLinkHealth::parse("healthy"), None);
    }
}
