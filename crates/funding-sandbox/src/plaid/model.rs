//! What a Plaid sandbox item looks like: the institution, products, and the two depository
//! accounts every sandbox item gets ("Plaid Checking" mask 0000 and "Plaid Saving" mask 1111, with
//! Plaid's sandbox balances, ACH numbers and the identity of "Alberta Bobbeth Charleson"), and their
//! wire shapes (`AccountBase`, `Item`, `NumbersACH`, `Owner`). Balances and owner names can be
//! changed through control, and balance reads can be made to fail (the risk checks of DESIGN §11).

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde_json::{Value, json};

use super::error::PlaidError;
use crate::ids::plaid_object_id;

/// Name on every sandbox account, as Plaid's sandbox identity returns it.
pub(crate) const OWNER_NAME: &str = "Alberta Bobbeth Charleson";
/// Plaid sandbox ACH routing number.
const ROUTING: &str = "011401533";
/// Plaid sandbox wire routing number.
const WIRE_ROUTING: &str = "021000021";
/// Products a sandbox item can still add (besides the ones it was created with).
const AVAILABLE_PRODUCTS: &[&str] = &["balance", "identity", "signal", "transactions"];

/// One depository account of an item.
#[derive(Clone, Debug)]
pub(crate) struct PlaidAccount {
    pub account_id: String,
    pub name: &'static str,
    pub official_name: &'static str,
    pub mask: &'static str,
    pub subtype: &'static str,
    /// `balances.available`; `None` is null (an institution that reports no available balance).
    pub available: Option<Decimal>,
    /// `balances.current`; `None` is null.
    pub current: Option<Decimal>,
    pub account_number: &'static str,
}

impl PlaidAccount {
    fn checking() -> Self {
        Self {
            account_id: plaid_object_id(),
            name: "Plaid Checking",
            official_name: "Plaid Gold Standard 0% Interest Checking",
            mask: "0000",
            subtype: "checking",
            available: Some(Decimal::from(100)),
            current: Some(Decimal::from(110)),
            account_number: "1111222233330000",
        }
    }

    fn savings() -> Self {
        Self {
            account_id: plaid_object_id(),
            name: "Plaid Saving",
            official_name: "Plaid Silver Standard 0.1% Interest Saving",
            mask: "1111",
            subtype: "savings",
            available: Some(Decimal::from(200)),
            current: Some(Decimal::from(210)),
            account_number: "1111222233331111",
        }
    }

    /// `AccountBase`.
    pub(crate) fn to_wire(&self) -> Value {
        json!({
            "account_id": self.account_id,
            "balances": {
                "available": self.available.as_ref().and_then(ToPrimitive::to_f64),
                "current": self.current.as_ref().and_then(ToPrimitive::to_f64),
                "iso_currency_code": "USD",
                "limit": null,
                "unofficial_currency_code": null,
            },
            "holder_category": "personal",
            "mask": self.mask,
            "name": self.name,
            "official_name": self.official_name,
            "subtype": self.subtype,
            "type": "depository",
        })
    }

    /// `AccountIdentity`: `AccountBase` plus `owners` (one owner object carrying every name, as
    /// Plaid represents joint owners).
    pub(crate) fn to_identity_wire(&self, owner_names: &[String]) -> Value {
        let mut account = self.to_wire();
        if let Value::Object(map) = &mut account {
            map.insert("owners".into(), json!([owner(owner_names)]));
        }
        account
    }

    /// `NumbersACH`.
    pub(crate) fn ach_numbers(&self) -> Value {
        json!({
            "account": self.account_number,
            "account_id": self.account_id,
            "can_transfer_in": true,
            "can_transfer_out": true,
            "is_tokenized_account_number": false,
            "routing": ROUTING,
            "wire_routing": WIRE_ROUTING,
        })
    }

    /// The routing number Alpaca stores for a relationship made from this account.
    pub(crate) fn routing(&self) -> &'static str {
        ROUTING
    }

    /// The `bank_account_type` Alpaca gives a relationship made from this account.
    pub(crate) fn alpaca_account_type(&self) -> &'static str {
        match self.subtype {
            "savings" => "SAVINGS",
            _ => "CHECKING",
        }
    }
}

/// The sandbox owner's contact details, as Plaid's sandbox identity returns them.
pub(crate) const OWNER_EMAIL: &str = "accountholder0@example.com";
pub(crate) const OWNER_PHONE: &str = "1112223333";
pub(crate) const OWNER_STREET: &str = "2992 Cameron Road";
pub(crate) const OWNER_CITY: &str = "Malakoff";
pub(crate) const OWNER_REGION: &str = "NY";
pub(crate) const OWNER_POSTAL_CODE: &str = "14236";

fn owner(names: &[String]) -> Value {
    json!({
        "addresses": [{
            "data": {
                "city": OWNER_CITY,
                "country": "US",
                "postal_code": OWNER_POSTAL_CODE,
                "region": OWNER_REGION,
                "street": OWNER_STREET,
            },
            "primary": true,
        }],
        "emails": [{"data": OWNER_EMAIL, "primary": true, "type": "primary"}],
        "names": names,
        "phone_numbers": [{"data": OWNER_PHONE, "primary": false, "type": "home"}],
    })
}

/// A linked bank login.
#[derive(Clone, Debug)]
pub(crate) struct Item {
    pub item_id: String,
    pub institution_id: String,
    pub webhook: Option<String>,
    pub products: Vec<String>,
    pub accounts: Vec<PlaidAccount>,
    /// The Item's error (`ITEM_LOGIN_REQUIRED` after `/sandbox/item/reset_login`); cleared when
    /// Link in update mode succeeds.
    pub error: Option<PlaidError>,
    /// The names on every account of the Item (`owners[].names`), what `/identity/match` scores.
    pub owner_names: Vec<String>,
    /// Set through control: real-time balance reads fail with the institution's error.
    pub balance_unavailable: bool,
}

impl Item {
    /// A new sandbox item with a checking and a savings account.
    pub(crate) fn sandbox(
        institution_id: String,
        products: Vec<String>,
        webhook: Option<String>,
    ) -> Self {
        Self {
            item_id: plaid_object_id(),
            institution_id,
            webhook,
            products,
            accounts: vec![PlaidAccount::checking(), PlaidAccount::savings()],
            error: None,
            owner_names: vec![OWNER_NAME.to_owned()],
            balance_unavailable: false,
        }
    }

    /// Why a real-time balance read (`/accounts/balance/get`, `/processor/balance/get`) fails now,
    /// if it does: the Item's own error first (`ITEM_LOGIN_REQUIRED`), then an unavailable balance.
    pub(crate) fn balance_error(&self) -> Option<PlaidError> {
        self.error.clone().or_else(|| {
            self.balance_unavailable
                .then(PlaidError::institution_not_responding)
        })
    }

    /// The Item's name for its institution, when it is one of Plaid's sandbox institutions.
    pub(crate) fn institution_name(&self) -> Option<&'static str> {
        institution_name(&self.institution_id)
    }

    pub(crate) fn account(&self, account_id: &str) -> Option<&PlaidAccount> {
        self.accounts
            .iter()
            .find(|account| account.account_id == account_id)
    }

    /// The accounts `account_ids` names, in the Item's order (all of them without a list); an id
    /// that is not the Item's is `INVALID_ACCOUNT_ID`, as at Plaid.
    pub(crate) fn selected(
        &self,
        account_ids: Option<&[String]>,
    ) -> Result<Vec<&PlaidAccount>, PlaidError> {
        if let Some(ids) = account_ids
            && ids.iter().any(|id| self.account(id).is_none())
        {
            return Err(PlaidError::invalid_account_id());
        }
        Ok(self
            .accounts
            .iter()
            .filter(|account| account_ids.is_none_or(|ids| ids.contains(&account.account_id)))
            .collect())
    }

    /// The item's checking account (every sandbox item has one).
    pub(crate) fn checking(&self) -> Option<&PlaidAccount> {
        self.accounts
            .iter()
            .find(|account| account.subtype == "checking")
    }

    /// `Item`.
    pub(crate) fn to_wire(&self) -> Value {
        let mut available: Vec<&str> = AVAILABLE_PRODUCTS
            .iter()
            .copied()
            .filter(|product| !self.products.iter().any(|billed| billed == product))
            .collect();
        available.sort_unstable();
        json!({
            "available_products": available,
            "billed_products": self.products,
            "consent_expiration_time": null,
            "error": self.error.as_ref().map(PlaidError::to_object),
            "institution_id": self.institution_id,
            "institution_name": institution_name(&self.institution_id),
            "item_id": self.item_id,
            "products": self.products,
            "update_type": "background",
            "webhook": self.webhook,
        })
    }
}

/// The sandbox institutions Plaid documents (id, name), in the order Link lists them.
pub(crate) const SANDBOX_INSTITUTIONS: &[(&str, &str)] = &[
    ("ins_109508", "First Platypus Bank"),
    ("ins_109509", "First Gingham Credit Union"),
    ("ins_109510", "Tattersall Federal Credit Union"),
    ("ins_109511", "Tartan Bank"),
    ("ins_109512", "Houndstooth Bank"),
];

/// Names of the sandbox institutions Plaid documents; others are unnamed.
pub(crate) fn institution_name(institution_id: &str) -> Option<&'static str> {
    SANDBOX_INSTITUTIONS
        .iter()
        .find(|(id, _)| *id == institution_id)
        .map(|(_, name)| *name)
}
