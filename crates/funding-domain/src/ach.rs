//! The kinds that shape a Plaid bank transfer: its [`BankTransferType`] (debit pulls money from the
//! user, credit pushes it to them), its [`Network`], and its [`AchClass`] (the NACHA SEC code), with
//! the rule of which classes each type allows; and the [`BankTransferDirection`] Plaid reports.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ValidationError;

/// `debit`: money into the origination account (pulled from the user); `credit`: money out of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BankTransferType {
    Debit,
    Credit,
}

impl BankTransferType {
    pub fn parse(input: &str) -> Result<Self, ValidationError> {
        match input {
            "debit" => Ok(Self::Debit),
            "credit" => Ok(Self::Credit),
            _ => Err(ValidationError::new("type", "must be debit or credit")),
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Debit => "debit",
            Self::Credit => "credit",
        }
    }
}

/// The payment network of a Plaid bank transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Network {
    #[serde(rename = "ach")]
    Ach,
    #[serde(rename = "same-day-ach")]
    SameDayAch,
    #[serde(rename = "wire")]
    Wire,
}

impl Network {
    pub fn parse(input: &str) -> Result<Self, ValidationError> {
        match input {
            "ach" => Ok(Self::Ach),
            "same-day-ach" => Ok(Self::SameDayAch),
            "wire" => Ok(Self::Wire),
            _ => Err(ValidationError::new(
                "network",
                "must be ach, same-day-ach or wire",
            )),
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Ach => "ach",
            Self::SameDayAch => "same-day-ach",
            Self::Wire => "wire",
        }
    }

    /// ACH networks need an [`AchClass`]; wires do not.
    pub fn is_ach(&self) -> bool {
        matches!(self, Self::Ach | Self::SameDayAch)
    }
}

/// The NACHA Standard Entry Class of an ACH transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AchClass {
    /// Corporate credit or debit, business to business.
    Ccd,
    /// Prearranged payment with a written or e-signed authorization.
    Ppd,
    /// Consumer debit authorized by a recorded phone call.
    Tel,
    /// Consumer debit authorized over the internet.
    Web,
}

impl AchClass {
    pub fn parse(input: &str) -> Result<Self, ValidationError> {
        match input {
            "ccd" => Ok(Self::Ccd),
            "ppd" => Ok(Self::Ppd),
            "tel" => Ok(Self::Tel),
            "web" => Ok(Self::Web),
            _ => Err(ValidationError::new(
                "ach_class",
                "must be ccd, ppd, tel or web",
            )),
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Ccd => "ccd",
            Self::Ppd => "ppd",
            Self::Tel => "tel",
            Self::Web => "web",
        }
    }

    /// Credits allow `ccd` and `ppd`; debits allow `ccd`, `tel` and `web`.
    pub fn allows(&self, transfer_type: BankTransferType) -> bool {
        match transfer_type {
            BankTransferType::Credit => matches!(self, Self::Ccd | Self::Ppd),
            BankTransferType::Debit => matches!(self, Self::Ccd | Self::Tel | Self::Web),
        }
    }

    /// The classes a transfer type allows, for error messages.
    pub fn allowed_for(transfer_type: BankTransferType) -> &'static [AchClass] {
        match transfer_type {
            BankTransferType::Credit => &[Self::Ccd, Self::Ppd],
            BankTransferType::Debit => &[Self::Ccd, Self::Tel, Self::Web],
        }
    }
}

/// `outbound` transfers were made through the API, `inbound` ones were received by the
/// origination account (Plaid's `BankTransferDirection`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BankTransferDirection {
    Outbound,
    Inbound,
}

impl BankTransferDirection {
    pub fn parse(input: &str) -> Result<Self, ValidationError> {
        match input {
            "outbound" => Ok(Self::Outbound),
            "inbound" => Ok(Self::Inbound),
            _ => Err(ValidationError::new(
                "direction",
                "must be outbound or inbound",
            )),
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Outbound => "outbound",
            Self::Inbound => "inbound",
        }
    }
}

macro_rules! display_as_str {
    ($($name:ident),*) => {$(
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    )*};
}
display_as_str!(BankTransferType, Network, AchClass, BankTransferDirection);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credits_allow_ccd_and_ppd_only() {
        let allowed: Vec<_> = [AchClass::Ccd, AchClass::Ppd, AchClass::Tel, AchClass::Web]
            .into_iter()
            .filter(|c| c.allows(BankTransferType::Credit))
            .collect();
        assert_eq!(allowed, vec![AchClass::Ccd, AchClass::Ppd]);
        assert_eq!(
            AchClass::allowed_for(BankTransferType::Credit),
            &allowed[..]
        );
    }

    #[test]
    fn debits_allow_ccd_tel_and_web_only() {
        let allowed: Vec<_> = [AchClass::Ccd, AchClass::Ppd, AchClass::Tel, AchClass::Web]
            .into_iter()
            .filter(|c| c.allows(BankTransferType::Debit))
            .collect();
        assert_eq!(allowed, vec![AchClass::Ccd, AchClass::Tel, AchClass::Web]);
        assert_eq!(AchClass::allowed_for(BankTransferType::Debit), &allowed[..]);
    }

    #[test]
    fn wire_names_parse_and_print_back() {
        for text in ["ach", "same-day-ach", "wire"] {
            assert_eq!(Network::parse(text).unwrap().as_str(), text);
            let json = format!("\"{text}\"");
            assert_eq!(
                serde_json::to_string(&serde_json::from_str::<Network>(&json).unwrap()).unwrap(),
                json
            );
        }
        for text in ["ccd", "ppd", "tel", "web"] {
            assert_eq!(AchClass::parse(text).unwrap().as_str(), text);
        }
        for text in ["debit", "credit"] {
            assert_eq!(BankTransferType::parse(text).unwrap().as_str(), text);
        }
        for text in ["outbound", "inbound"] {
            assert_eq!(BankTransferDirection::parse(text).unwrap().as_str(), text);
            let json = format!("\"{text}\"");
            assert_eq!(
                serde_json::to_string(&BankTransferDirection::parse(text).unwrap()).unwrap(),
                json
            );
        }
    }

    #[test]
    fn unknown_kinds_are_refused_naming_the_field() {
        assert_eq!(Network::parse("rtp").unwrap_err().field(), "network");
        assert_eq!(Network::parse("ACH").unwrap_err().field(), "network");
        assert_eq!(AchClass::parse("iat").unwrap_err().field(), "ach_class");
        assert_eq!(BankTransferType::parse("").unwrap_err().field(), "type");
    }
}
