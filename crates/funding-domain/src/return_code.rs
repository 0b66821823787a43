//! ACH return codes (NACHA R01–R85) with their descriptions. A code the table does not hold is kept
//! as given in [`AchReturnCode::Unknown`]: a return is money coming back, and it is never dropped.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Every known code and its description: Plaid's table, with R39, R53, R75–R77 and R83–R85 from NACHA.
const CODES: &[(&str, &str)] = &[
    ("R01", "Insufficient funds"),
    ("R02", "Account closed"),
    ("R03", "No account or unable to locate account"),
    ("R04", "Invalid account number"),
    ("R05", "Unauthorized debit to consumer account"),
    ("R06", "Returned per ODFI's request"),
    ("R07", "Authorization revoked by customer"),
    ("R08", "Payment stopped or stop payment on item"),
    ("R09", "Uncollected funds"),
    ("R10", "Customer advises not authorized"),
    ("R11", "Check truncation entry return"),
    ("R12", "Branch sold to another DFI"),
    ("R13", "Invalid ACH routing number"),
    (
        "R14",
        "Representative payee deceased or unable to continue in that capacity",
    ),
    ("R15", "Beneficiary or account holder deceased"),
    ("R16", "Account frozen"),
    ("R17", "File record edit criteria"),
    ("R18", "Improper effective entry date"),
    ("R19", "Amount field error"),
    ("R20", "Non-transaction account"),
    ("R21", "Invalid company identification"),
    ("R22", "Invalid individual ID number"),
    ("R23", "Credit entry refused by receiver"),
    ("R24", "Duplicate entry"),
    ("R25", "Addenda error"),
    ("R26", "Mandatory field error"),
    ("R27", "Trace number error"),
    ("R28", "Routing number or check digit error"),
    ("R29", "Corporate customer advises not authorized"),
    ("R30", "RDFI not participant in check truncation program"),
    ("R31", "Permissible return entry"),
    ("R32", "RDFI non-settlement"),
    ("R33", "Return of XCK entry"),
    ("R34", "Limited participation DFI"),
    ("R35", "Return of improper debit entry"),
    ("R36", "Return of improper credit entry"),
    ("R37", "Source document presented for payment"),
    ("R38", "Stop payment on source document"),
    ("R39", "Improper source document"),
    ("R40", "Return of ENR entry by federal government agency"),
    ("R41", "Invalid transaction code"),
    ("R42", "Routing number or check digit error"),
    ("R43", "Invalid DFI account number"),
    ("R44", "Invalid individual ID number"),
    ("R45", "Invalid individual name or company name"),
    ("R46", "Invalid representative payee indicator"),
    ("R47", "Duplicate enrollment"),
    ("R50", "State law affecting RCK acceptance"),
    (
        "R51",
        "Item ineligible, notice not provided or signature not genuine",
    ),
    ("R52", "Stop payment on item"),
    ("R53", "Item and RCK entry presented for payment"),
    ("R61", "Misrouted return"),
    ("R62", "Incorrect trace number"),
    ("R63", "Incorrect dollar amount"),
    ("R64", "Incorrect individual identification"),
    ("R65", "Incorrect transaction code"),
    ("R66", "Incorrect company identification"),
    ("R67", "Duplicate return"),
    ("R68", "Untimely return"),
    ("R69", "Multiple errors"),
    ("R70", "Permissible return entry not accepted"),
    ("R71", "Misrouted dishonored return"),
    ("R72", "Untimely dishonored return"),
    ("R73", "Timely original return"),
    ("R74", "Corrected return"),
    ("R75", "Return not a duplicate"),
    ("R76", "No errors found"),
    ("R77", "Non-acceptance of R62 dishonored return"),
    ("R80", "Cross-border payment coding error"),
    ("R81", "Non-participant in cross-border program"),
    ("R82", "Invalid foreign receiving DFI identification"),
    ("R83", "Foreign receiving DFI unable to settle"),
    ("R84", "Entry not processed by gateway"),
    ("R85", "Incorrectly coded outbound international payment"),
];

/// An ACH return code.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum AchReturnCode {
    /// A code from the table, by its index.
    Known(KnownReturnCode),
    /// A code the table does not hold, exactly as the provider gave it.
    Unknown(String),
}

/// A code from the table; only [`AchReturnCode::parse`] makes one.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KnownReturnCode(usize);

impl AchReturnCode {
    /// Reads a code such as `"R01"` (any case, surrounding spaces ignored). Anything else is kept as
    /// given, as `Unknown`.
    pub fn parse(text: &str) -> Self {
        let normalized = text.trim().to_ascii_uppercase();
        match CODES.iter().position(|(code, _)| *code == normalized) {
            Some(index) => Self::Known(KnownReturnCode(index)),
            None => Self::Unknown(text.to_owned()),
        }
    }

    /// Finds the first `Rnn` code inside free text, such as Alpaca's transfer `reason`
    /// ("R01: insufficient funds").
    pub fn find_in(text: &str) -> Option<Self> {
        let bytes = text.as_bytes();
        (0..bytes.len().saturating_sub(2)).find_map(|i| {
            let window = &bytes[i..i + 3];
            let boundary_before = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
            let boundary_after = bytes.get(i + 3).is_none_or(|b| !b.is_ascii_alphanumeric());
            (boundary_before
                && boundary_after
                && (window[0] == b'R' || window[0] == b'r')
                && window[1].is_ascii_digit()
                && window[2].is_ascii_digit())
            .then(|| Self::parse(&text[i..i + 3]))
        })
    }

    /// The code as given (`"R01"`), or as the provider wrote it when unknown.
    pub fn code(&self) -> &str {
        match self {
            Self::Known(KnownReturnCode(index)) => CODES[*index].0,
            Self::Unknown(text) => text,
        }
    }

    /// The human description, when the code is known.
    pub fn description(&self) -> Option<&'static str> {
        match self {
            Self::Known(KnownReturnCode(index)) => Some(CODES[*index].1),
            Self::Unknown(_) => None,
        }
    }

    /// The NACHA return-rate category the code counts in (every return counts in the overall
    /// rate as well).
    pub fn category(&self) -> ReturnCategory {
        match self.code() {
            "R05" | "R07" | "R10" | "R11" | "R29" | "R51" => ReturnCategory::Unauthorized,
            "R02" | "R03" | "R04" => ReturnCategory::Administrative,
            _ => ReturnCategory::Other,
        }
    }

    /// Every known code.
    pub fn all_known() -> impl Iterator<Item = AchReturnCode> {
        (0..CODES.len()).map(|index| Self::Known(KnownReturnCode(index)))
    }
}

/// The NACHA return-rate categories: an originator's unauthorized returns must stay below 0.5 %
/// of its debits, administrative returns (account closed, no account, invalid number) below 3 %,
/// and all returns below 15 %.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReturnCategory {
    /// R05, R07, R10, R11, R29, R51.
    Unauthorized,
    /// R02, R03, R04.
    Administrative,
    /// Every other return (they count in the overall rate only).
    Other,
}

impl ReturnCategory {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Unauthorized => "unauthorized",
            Self::Administrative => "administrative",
            Self::Other => "other",
        }
    }
}

impl fmt::Display for AchReturnCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Debug for AchReturnCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Known(_) => write!(f, "AchReturnCode({})", self.code()),
            Self::Unknown(text) => write!(f, "AchReturnCode::Unknown({text:?})"),
        }
    }
}

impl Serialize for AchReturnCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for AchReturnCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Self::parse(&String::deserialize(deserializer)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_fall_in_nachas_rate_categories() {
        for code in ["R05", "R07", "R10", "R11", "R29", "R51"] {
            assert_eq!(
                AchReturnCode::parse(code).category(),
                ReturnCategory::Unauthorized
            );
        }
        for code in ["R02", "R03", "R04"] {
            assert_eq!(
                AchReturnCode::parse(code).category(),
                ReturnCategory::Administrative
            );
        }
        assert_eq!(
            AchReturnCode::parse("R01").category(),
            ReturnCategory::Other
        );
        assert_eq!(
            AchReturnCode::parse("X99").category(),
            ReturnCategory::Other
        );
    }

    #[test]
    fn known_codes_carry_their_description() {
        let r01 = AchReturnCode::parse("R01");
        assert_eq!(r01.code(), "R01");
        assert_eq!(r01.description(), Some("Insufficient funds"));
        assert_eq!(
            AchReturnCode::parse(" r10 ").description(),
            Some("Customer advises not authorized")
        );
        assert_eq!(
            AchReturnCode::parse("R85").description(),
            Some("Incorrectly coded outbound international payment")
        );
    }

    #[test]
    fn every_code_from_r01_to_r38_and_the_plaid_table_is_known() {
        for n in (1..=38).chain(40..=47).chain([
            50, 51, 52, 61, 62, 63, 64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 80, 81, 82, 83, 84,
            85,
        ]) {
            let code = format!("R{n:02}");
            assert!(
                matches!(AchReturnCode::parse(&code), AchReturnCode::Known(_)),
                "{code}"
            );
        }
        assert!(AchReturnCode::all_known().all(|c| c.description().is_some_and(|d| !d.is_empty())));
    }

    #[test]
    fn unknown_codes_are_kept_as_given() {
        let code = AchReturnCode::parse("R99");
        assert_eq!(code, AchReturnCode::Unknown("R99".into()));
        assert_eq!(code.code(), "R99");
        assert_eq!(code.description(), None);
        assert_eq!(AchReturnCode::parse("X1").code(), "X1");
        assert_eq!(serde_json::to_string(&code).unwrap(), "\"R99\"");
        assert_eq!(
            serde_json::from_str::<AchReturnCode>("\"R02\"")
                .unwrap()
                .description(),
            Some("Account closed")
        );
    }

    #[test]
    fn a_code_is_found_inside_a_reason() {
        assert_eq!(
            AchReturnCode::find_in("R01: insufficient funds")
                .unwrap()
                .code(),
            "R01"
        );
        assert_eq!(
            AchReturnCode::find_in("returned (R16 account frozen)")
                .unwrap()
                .code(),
            "R16"
        );
        assert_eq!(
            AchReturnCode::find_in("code R99").unwrap(),
            AchReturnCode::Unknown("R99".into())
        );
        assert!(AchReturnCode::find_in("TR01X").is_none());
        assert!(AchReturnCode::find_in("no code").is_none());
        assert!(AchReturnCode::find_in("").is_none());
        assert!(AchReturnCode::find_in("ü R").is_none());
    }
}
