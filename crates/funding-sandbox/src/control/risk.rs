//! Control of what the risk checks read (DESIGN §7, §11): a Plaid Item's balances, its owner
//! names and a balance the bank cannot give ([`SandboxControl::set_item_risk`]); an Alpaca
//! account's owner ([`SandboxControl::set_account_owner_name`]).

use rust_decimal::Decimal;
use uuid::Uuid;

use super::SandboxControl;
use super::link::ItemSnapshot;
use crate::error::ControlError;

/// Largest balance the control accepts, either sign (a trillion: far beyond any test, and exact
/// once rendered as the JSON number Plaid sends).
const MAX_BALANCE: Decimal = Decimal::from_parts(3_567_587_328, 232, 0, false, 0);
/// Most owner names an Item may carry.
const MAX_OWNER_NAMES: usize = 10;
/// Longest owner name, in characters.
const MAX_NAME_CHARS: usize = 200;

/// Changes to a Plaid Item's risk data: each `Some` field is set, each `None` left as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ItemRiskSettings {
    /// The account whose `available`/`current` change; `None`: the Item's checking account.
    pub account_id: Option<String>,
    /// `balances.available`: `Some(Some(x))` sets it, `Some(None)` makes it null (an institution
    /// that reports no available balance). At most two decimal places, at most a trillion.
    pub available: Option<Option<Decimal>>,
    /// `balances.current`, likewise.
    pub current: Option<Option<Decimal>>,
    /// The names on every account of the Item (`owners[].names`, what `/identity/match` scores);
    /// 1 to 10 names, none blank. Default: `["Alberta Bobbeth Charleson"]`.
    pub owner_names: Option<Vec<String>>,
    /// `true`: `/accounts/balance/get` and `/processor/balance/get` answer Plaid's
    /// `INSTITUTION_ERROR`/`INSTITUTION_NOT_RESPONDING` (HTTP 400) until set back to `false`.
    pub balance_unavailable: Option<bool>,
}

fn invalid(message: String) -> ControlError {
    ControlError::Invalid(message)
}

fn checked_balance(name: &str, value: Option<Decimal>) -> Result<Option<Decimal>, ControlError> {
    match value {
        Some(amount) if amount.normalize().scale() > 2 => Err(invalid(format!(
            "{name}: at most two decimal places, got {amount}"
        ))),
        Some(amount) if amount.abs() > MAX_BALANCE => Err(invalid(format!(
            "{name}: must be between -{MAX_BALANCE} and {MAX_BALANCE}, got {amount}"
        ))),
        other => Ok(other),
    }
}

fn checked_name(field: &str, name: &str) -> Result<String, ControlError> {
    let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
    if name.is_empty() {
        return Err(invalid(format!("{field}: a name must not be blank")));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(invalid(format!(
            "{field}: a name may have at most {MAX_NAME_CHARS} characters"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid(format!(
            "{field}: a name must not contain control characters"
        )));
    }
    Ok(name)
}

fn checked_owner_names(names: Vec<String>) -> Result<Vec<String>, ControlError> {
    if names.is_empty() || names.len() > MAX_OWNER_NAMES {
        return Err(invalid(format!(
            "owner_names: give 1 to {MAX_OWNER_NAMES} names, got {}",
            names.len()
        )));
    }
    names
        .iter()
        .map(|name| checked_name("owner_names", name))
        .collect()
}

/// An account owner's `(given_name, family_name)` from a full name: the family name is the last
/// word, the given name every word before it ("Alberta Bobbeth Charleson" → "Alberta Bobbeth",
/// "Charleson").
pub(super) fn split_owner_name(owner_name: &str) -> Result<(String, String), ControlError> {
    let name = checked_name("owner_name", owner_name)?;
    match name.rsplit_once(' ') {
        Some((given, family)) => Ok((given.to_owned(), family.to_owned())),
        None => Err(invalid(format!(
            "owner_name: needs a given name and a family name (e.g. \"Alberta Charleson\"), got {name:?}"
        ))),
    }
}

/// Both halves of an account owner's name, checked.
pub(super) fn checked_owner(
    given_name: &str,
    family_name: &str,
) -> Result<(String, String), ControlError> {
    Ok((
        checked_name("given_name", given_name)?,
        checked_name("family_name", family_name)?,
    ))
}

impl SandboxControl {
    /// Sets a Plaid Item's balances, owner names and whether its balance can be read (see
    /// [`ItemRiskSettings`]); everything is checked before anything changes. Returns the Item.
    /// `/accounts/get` shows the new balances too (it returns what the balance reads last saw).
    ///
    /// # Errors
    /// [`ControlError::ItemNotFound`]; [`ControlError::Invalid`] naming the field at fault (an
    /// `account_id` that is not the Item's, `account_id` without a balance, a balance with more
    /// than two decimal places or beyond a trillion, no or blank owner names).
    pub fn set_item_risk(
        &self,
        item_id: &str,
        settings: ItemRiskSettings,
    ) -> Result<ItemSnapshot, ControlError> {
        let available = settings
            .available
            .map(|value| checked_balance("available", value))
            .transpose()?;
        let current = settings
            .current
            .map(|value| checked_balance("current", value))
            .transpose()?;
        let owner_names = settings.owner_names.map(checked_owner_names).transpose()?;
        if settings.account_id.is_some() && available.is_none() && current.is_none() {
            return Err(invalid(
                "account_id: only with available or current (it says whose balances change)".into(),
            ));
        }
        {
            let mut world = self.shared.world();
            let item = world
                .plaid
                .item_mut(item_id)
                .ok_or_else(|| ControlError::ItemNotFound(item_id.to_owned()))?;
            let account = match &settings.account_id {
                Some(id) => item
                    .accounts
                    .iter_mut()
                    .find(|account| &account.account_id == id)
                    .ok_or_else(|| {
                        invalid(format!(
                            "account_id: {id:?} is not an account of item {item_id}"
                        ))
                    })?,
                None => {
                    let index = item
                        .accounts
                        .iter()
                        .position(|account| account.subtype == "checking")
                        .unwrap_or(0);
                    item.accounts.get_mut(index).ok_or_else(|| {
                        invalid(format!("item {item_id} has no account to set balances on"))
                    })?
                }
            };
            if let Some(value) = available {
                account.available = value;
            }
            if let Some(value) = current {
                account.current = value;
            }
            if let Some(names) = owner_names {
                item.owner_names = names;
            }
            if let Some(unavailable) = settings.balance_unavailable {
                item.balance_unavailable = unavailable;
            }
        }
        self.item(item_id)
            .ok_or_else(|| ControlError::ItemNotFound(item_id.to_owned()))
    }

    /// Sets an Alpaca account's owner from a full name: `identity.family_name` is its last word,
    /// `identity.given_name` the words before ("Alberta B. Charleson" → "Alberta B.",
    /// "Charleson").
    ///
    /// # Errors
    /// [`ControlError::Invalid`] for a blank or one-word name (or one over 200 characters).
    pub fn set_account_owner_name(
        &self,
        account_id: Uuid,
        owner_name: &str,
    ) -> Result<(), ControlError> {
        let (given, family) = split_owner_name(owner_name)?;
        self.store_owner(account_id, given, family);
        Ok(())
    }

    /// Sets an Alpaca account's owner as given and family names (for a family name of several
    /// words).
    ///
    /// # Errors
    /// [`ControlError::Invalid`] for a blank name.
    pub fn set_account_owner(
        &self,
        account_id: Uuid,
        given_name: &str,
        family_name: &str,
    ) -> Result<(), ControlError> {
        let (given, family) = checked_owner(given_name, family_name)?;
        self.store_owner(account_id, given, family);
        Ok(())
    }

    pub(super) fn store_owner(&self, account_id: Uuid, given_name: String, family_name: String) {
        let mut world = self.shared.world();
        let account = world.alpaca.account_mut(account_id);
        account.given_name = given_name;
        account.family_name = family_name;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_owner_name_splits_at_its_last_word() {
        assert_eq!(
            split_owner_name("  Alberta   Bobbeth Charleson ").unwrap(),
            ("Alberta Bobbeth".to_owned(), "Charleson".to_owned())
        );
        let error = split_owner_name("Cher").unwrap_err().to_string();
        assert!(error.contains("owner_name"), "{error}");
        assert!(split_owner_name("   ").is_err());
    }

    #[test]
    fn balances_are_money_within_bounds() {
        assert_eq!(MAX_BALANCE, Decimal::from(1_000_000_000_000_i64));
        let cents: Decimal = "120.50".parse().unwrap();
        assert_eq!(
            checked_balance("available", Some(cents)).unwrap(),
            Some(cents)
        );
        let trailing: Decimal = "120.5000".parse().unwrap();
        assert!(checked_balance("available", Some(trailing)).is_ok());
        let error = checked_balance("current", Some("0.001".parse().unwrap()))
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("current"), "{error}");
        assert!(checked_balance("current", Some(-MAX_BALANCE)).is_ok());
        assert!(checked_balance("current", Some(MAX_BALANCE + Decimal::ONE)).is_err());
        assert_eq!(checked_balance("current", None).unwrap(), None);
    }

    #[test]
    fn owner_names_are_one_to_ten_non_blank_names() {
        assert!(checked_owner_names(vec![]).is_err());
        assert!(checked_owner_names(vec!["A B".into(), " ".into()]).is_err());
        assert!(checked_owner_names(vec!["A B".into(); 11]).is_err());
        assert_eq!(
            checked_owner_names(vec![" John  Q Public ".into()]).unwrap(),
            vec!["John Q Public".to_owned()]
        );
    }
}
