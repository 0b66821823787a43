//! The scores of `/identity/match` and `/processor/identity/match`: how well what the caller knows
//! of its user (`user.legal_name`, `phone_number`, `email_address`, `address`) matches what the
//! bank knows of the account's owner. Each is 0 to 100 on Plaid's scale (100 perfect; names: 85
//! and above strong, 70 and above partial, below 70 a mismatch), and a null `score` (flags null
//! too) when there is nothing to compare, as Plaid documents. The score objects themselves are
//! never null: plaid-python 46 (`NameMatchScore`, `PhoneNumberMatchScore`, … with
//! `_nullable = False` and every key required) refuses a null one, although the 2020-09-14 spec
//! allows it; an object with a null score satisfies both.
//!
//! - Legal name: the best score over the Item's owner names, from the service's own scorer
//!   ([`funding_domain::risk::names::name_score`]: normalised names, nicknames, initials, typos,
//!   business names). `is_first_name_or_last_name_match`: the first or the last word is the same;
//!   `is_nickname_match`: the first names differ in spelling but the scorer takes one for the
//!   other (a known short form); `is_business_name_detected`: either name carries a legal form
//!   such as "Inc", "LLC", "Corp", "Ltd".
//! - Phone number: the digits (a leading US `1` dropped) equal → 100, else 0.
//! - Email: equal ignoring case → 100; equal once a `+tag` is dropped → 90; else 0.
//! - Address: the street (normalised words) counts 70, the postal code (first five characters) 20
//!   and the city 10; `is_postal_code_match` when both sides have a postal code.

use funding_domain::risk::names::name_score;
use serde::Deserialize;
use serde_json::{Value, json};

use super::model::{OWNER_CITY, OWNER_EMAIL, OWNER_PHONE, OWNER_POSTAL_CODE, OWNER_STREET};

/// Words that mark a business name (Plaid cites "CORP", "LLC", "INC", "LTD").
const BUSINESS_WORDS: &[&str] = &[
    "inc",
    "incorporated",
    "llc",
    "ltd",
    "limited",
    "corp",
    "corporation",
    "co",
    "company",
    "lp",
    "llp",
    "plc",
    "pllc",
    "gmbh",
];

/// `IdentityMatchUser`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct MatchUser {
    pub legal_name: Option<String>,
    pub phone_number: Option<String>,
    pub email_address: Option<String>,
    pub address: Option<MatchAddress>,
}

/// `AddressDataNullableNoRequiredFields` (`region` and `country` are accepted, not scored).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct MatchAddress {
    pub street: Option<String>,
    pub city: Option<String>,
    pub postal_code: Option<String>,
}

/// The four scores of one account, as `AccountIdentityMatchScore` carries them.
pub(crate) fn scores(owner_names: &[String], user: &MatchUser) -> [(&'static str, Value); 4] {
    [
        (
            "legal_name",
            legal_name(owner_names, non_empty(&user.legal_name)),
        ),
        ("phone_number", phone(non_empty(&user.phone_number))),
        ("email_address", email(non_empty(&user.email_address))),
        ("address", address(user.address.as_ref())),
    ]
}

fn non_empty(text: &Option<String>) -> Option<&str> {
    text.as_deref()
        .map(str::trim)
        .filter(|text| !text.is_empty())
}

/// Lower-case words of a name, punctuation dropped.
fn words(name: &str) -> Vec<String> {
    name.split(|c: char| !c.is_alphanumeric() && c != '\'')
        .map(|word| word.replace('\'', "").to_lowercase())
        .filter(|word| !word.is_empty())
        .collect()
}

fn is_business(words: &[String]) -> bool {
    words
        .iter()
        .any(|word| BUSINESS_WORDS.contains(&word.as_str()))
}

/// `NameMatchScore`: the best of the owner names against `given`; a null score when either side
/// has no name.
pub(crate) fn legal_name(owner_names: &[String], given: Option<&str>) -> Value {
    let best = given.and_then(|given| {
        owner_names
            .iter()
            .map(|owner| (name_score(owner, given), owner, given))
            .max_by_key(|(score, _, _)| *score)
    });
    let Some((score, owner, given)) = best else {
        return json!({
            "score": null,
            "is_first_name_or_last_name_match": null,
            "is_nickname_match": null,
            "is_business_name_detected": null,
        });
    };
    let (owner_words, given_words) = (words(owner), words(given));
    let business = is_business(&owner_words) || is_business(&given_words);
    let first_or_last = !business
        && (owner_words.first() == given_words.first() || owner_words.last() == given_words.last());
    let nickname = !business
        && match (owner_words.first(), given_words.first()) {
            (Some(a), Some(b)) => is_nickname(a, b),
            _ => false,
        };
    json!({
        "score": score,
        "is_first_name_or_last_name_match": first_or_last,
        "is_nickname_match": nickname,
        "is_business_name_detected": business,
    })
}

/// Two different first names the scorer takes for one another although their spelling is far
/// apart: with the same family name they score as alike as a nickname does (90 and above),
/// while alone, where only spelling counts, they do not (below 85; a typo scores 85 or more).
fn is_nickname(a: &str, b: &str) -> bool {
    a != b
        && a.chars().count() > 1
        && b.chars().count() > 1
        && name_score(&format!("{a} x"), &format!("{b} x")) >= 90
        && name_score(a, b) < 85
}

fn digits(phone: &str) -> String {
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    match digits.strip_prefix('1') {
        Some(rest) if digits.len() == 11 => rest.to_owned(),
        _ => digits,
    }
}

/// `PhoneNumberMatchScore`.
fn phone(given: Option<&str>) -> Value {
    let Some(given) = given else {
        return json!({ "score": null });
    };
    let score = if digits(given) == digits(OWNER_PHONE) {
        100
    } else {
        0
    };
    json!({ "score": score })
}

fn without_tag(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let local = local.split('+').next().unwrap_or(local);
            format!("{local}@{domain}")
        }
        None => email.to_owned(),
    }
}

/// `EmailAddressMatchScore`.
fn email(given: Option<&str>) -> Value {
    let Some(given) = given else {
        return json!({ "score": null });
    };
    let (given, owner) = (given.to_lowercase(), OWNER_EMAIL.to_lowercase());
    let score = if given == owner {
        100
    } else if without_tag(&given) == without_tag(&owner) {
        90
    } else {
        0
    };
    json!({ "score": score })
}

fn postal(code: &str) -> String {
    code.trim()
        .chars()
        .take(5)
        .collect::<String>()
        .to_uppercase()
}

/// `AddressMatchScore`: a null score when the caller gave no street, city or postal code.
fn address(given: Option<&MatchAddress>) -> Value {
    let nothing = json!({ "score": null, "is_postal_code_match": null });
    let Some(given) = given else {
        return nothing;
    };
    let street = non_empty(&given.street);
    let city = non_empty(&given.city);
    let postal_code = non_empty(&given.postal_code);
    if street.is_none() && city.is_none() && postal_code.is_none() {
        return nothing;
    }
    let same_street = street.is_some_and(|street| words(street) == words(OWNER_STREET));
    let same_postal = postal_code.map(|code| postal(code) == postal(OWNER_POSTAL_CODE));
    let same_city = city.is_some_and(|city| words(city) == words(OWNER_CITY));
    let score = 70 * u8::from(same_street)
        + 20 * u8::from(same_postal == Some(true))
        + 10 * u8::from(same_city);
    json!({ "score": score, "is_postal_code_match": same_postal })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owners(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| (*name).to_owned()).collect()
    }

    #[test]
    fn the_sandbox_owner_matches_herself_and_not_a_stranger() {
        let bank = owners(&["Alberta Bobbeth Charleson"]);
        let exact = legal_name(&bank, Some("Alberta Bobbeth Charleson"));
        assert_eq!(exact["score"], 100);
        assert_eq!(exact["is_first_name_or_last_name_match"], true);
        assert_eq!(exact["is_nickname_match"], false);
        assert_eq!(exact["is_business_name_detected"], false);
        assert!(legal_name(&bank, Some("Alberta B. Charleson"))["score"].as_u64() >= Some(70));
        let stranger = legal_name(&owners(&["John Q Public"]), Some("Alberta Charleson"));
        assert!(stranger["score"].as_u64() < Some(70), "{stranger}");
        assert_eq!(stranger["is_first_name_or_last_name_match"], false);
    }

    #[test]
    fn the_best_owner_counts_and_flags_follow_it() {
        let bank = owners(&["John Q Public", "Robert Smith"]);
        let bob = legal_name(&bank, Some("Bob Smith"));
        assert!(bob["score"].as_u64() >= Some(85), "{bob}");
        assert_eq!(bob["is_nickname_match"], true);
        assert_eq!(bob["is_first_name_or_last_name_match"], true);
        let typo = legal_name(&owners(&["Alberta Charleson"]), Some("Albertta Charleson"));
        assert_eq!(typo["is_nickname_match"], false, "{typo}");
        let business = legal_name(&owners(&["Acme Widgets LLC"]), Some("Acme Widgets Inc"));
        assert_eq!(business["is_business_name_detected"], true);
        assert_eq!(business["score"], 100);
    }

    #[test]
    fn nothing_to_compare_is_a_null_score_never_a_null_object() {
        let none = legal_name(&owners(&["A B"]), None);
        assert_eq!(
            none,
            json!({"score": null, "is_first_name_or_last_name_match": null,
                   "is_nickname_match": null, "is_business_name_detected": null})
        );
        assert_eq!(legal_name(&[], Some("A B")), none);
        assert_eq!(phone(None), json!({"score": null}));
        assert_eq!(email(None), json!({"score": null}));
        assert_eq!(
            address(Some(&MatchAddress::default())),
            json!({"score": null, "is_postal_code_match": null})
        );
    }

    #[test]
    fn contact_details_score_as_documented() {
        assert_eq!(phone(Some("+1 111-222-3333"))["score"], 100);
        assert_eq!(phone(Some("+14157452130"))["score"], 0);
        assert_eq!(email(Some("AccountHolder0@example.com"))["score"], 100);
        assert_eq!(email(Some("accountholder0+bank@example.com"))["score"], 90);
        assert_eq!(email(Some("someone@example.com"))["score"], 0);
        let full = MatchAddress {
            street: Some("2992 cameron road".into()),
            city: Some("Malakoff".into()),
            postal_code: Some("14236-1234".into()),
        };
        assert_eq!(
            address(Some(&full)),
            json!({"score": 100, "is_postal_code_match": true})
        );
        let elsewhere = MatchAddress {
            street: Some("1 Main Street".into()),
            postal_code: Some("94105".into()),
            ..MatchAddress::default()
        };
        assert_eq!(
            address(Some(&elsewhere)),
            json!({"score": 0, "is_postal_code_match": false})
        );
    }
}
