//! The owner-name scorer (DESIGN §11), used when Plaid's `/identity/match` is not available: how
//! well the bank account owner's name (Plaid `/identity/get`) matches the brokerage account
//! owner's, 0 to 100 on Plaid's scale, where Plaid takes 70 and above as a match.
//!
//! Names are normalised first (case, punctuation, accents of the common Latin letters, honorifics
//! such as "Dr", suffixes such as "Jr", "Last, First" order). A person's first and last names are
//! compared apart: the same name, a known nickname ("Bob" for "Robert") or an initial counts, and a
//! small typo costs little (Jaro-Winkler); a middle name that disagrees costs more than one left
//! out. Business names (an "Inc", "LLC", … among the words) are compared as wholes, without those
//! words.

use super::{Decision, Rule, Verdict};

/// Plaid's threshold: a score at or above it is a match.
pub const PLAID_MATCH_THRESHOLD: u8 = 70;

/// The refusal code of the owner-name check.
pub const NAME_MISMATCH: &str = "NAME_MISMATCH";

/// `[risk] name_check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NameCheck {
    Refuse,
    Review,
    #[default]
    Off,
}

impl NameCheck {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "refuse" => Some(Self::Refuse),
            "review" => Some(Self::Review),
            "off" => Some(Self::Off),
            _ => None,
        }
    }
}

const HONORIFICS: &[&str] = &[
    "mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "madam",
];
const SUFFIXES: &[&str] = &["jr", "sr", "ii", "iii", "iv", "esq", "phd", "md", "cpa"];
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
    "trust",
    "holdings",
    "partners",
];
const BUSINESS_FILLER: &[&str] = &["the", "and"];

/// Given names and their usual short forms.
const NICKNAMES: &[(&str, &[&str])] = &[
    ("robert", &["bob", "bobby", "rob", "robbie", "bert"]),
    ("william", &["bill", "billy", "will", "willie", "liam"]),
    ("richard", &["rick", "ricky", "rich", "dick"]),
    ("james", &["jim", "jimmy", "jamie"]),
    ("john", &["jack", "johnny", "jon"]),
    ("jonathan", &["jon", "john", "jonny"]),
    ("margaret", &["maggie", "meg", "peggy", "marge"]),
    (
        "elizabeth",
        &["liz", "lizzie", "beth", "betty", "eliza", "libby"],
    ),
    ("katherine", &["kate", "kathy", "katie", "kat"]),
    ("catherine", &["cathy", "kate", "katie", "cat"]),
    ("michael", &["mike", "mikey", "mick"]),
    ("thomas", &["tom", "tommy"]),
    ("joseph", &["joe", "joey"]),
    ("charles", &["charlie", "chuck", "chas"]),
    ("christopher", &["chris", "kit"]),
    ("christine", &["chris", "chrissy", "tina"]),
    ("daniel", &["dan", "danny"]),
    ("matthew", &["matt"]),
    ("anthony", &["tony"]),
    ("alexander", &["alex", "al", "sasha"]),
    ("alexandra", &["alex", "sandra", "sasha"]),
    ("edward", &["ed", "eddie", "ted", "ned"]),
    ("jennifer", &["jen", "jenny"]),
    ("patricia", &["pat", "patty", "trish"]),
    ("patrick", &["pat", "paddy"]),
    ("samuel", &["sam", "sammy"]),
    ("samantha", &["sam", "sammy"]),
    ("benjamin", &["ben", "benny"]),
    ("nicholas", &["nick", "nicky"]),
    ("andrew", &["andy", "drew"]),
    ("steven", &["steve"]),
    ("stephen", &["steve"]),
    ("david", &["dave", "davey"]),
    ("susan", &["sue", "susie"]),
    ("deborah", &["deb", "debbie"]),
    ("rebecca", &["becky", "becca"]),
    ("alberta", &["bertie", "allie"]),
    ("gregory", &["greg"]),
    ("timothy", &["tim", "timmy"]),
    ("kenneth", &["ken", "kenny"]),
    ("ronald", &["ron", "ronnie"]),
    ("donald", &["don", "donnie"]),
    ("victoria", &["vicky", "tori"]),
    ("abigail", &["abby"]),
];

/// The words of a name, normalised (honorifics and suffixes kept); `true` when it reads as a
/// business.
fn words(name: &str) -> (Vec<String>, bool) {
    let folded: String = name
        .chars()
        .flat_map(char::to_lowercase)
        .map(fold_accent)
        .collect();
    // "Charleson, Alberta B." is "Alberta B. Charleson".
    let ordered = match folded.split_once(',') {
        Some((last, rest)) if !rest.trim().is_empty() && !is_suffix_list(rest) => {
            format!("{rest} {last}")
        }
        _ => folded,
    };
    let tokens: Vec<String> = ordered
        .replace('&', " and ")
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .map(|word| word.replace('\'', ""))
        .filter(|word| !word.is_empty())
        .collect();
    let business = tokens.iter().any(|w| BUSINESS_WORDS.contains(&w.as_str()));
    (tokens, business)
}

/// The words that name the business: without its legal form and fillers.
fn business_words(words: Vec<String>) -> Vec<String> {
    words
        .into_iter()
        .filter(|w| !BUSINESS_WORDS.contains(&w.as_str()) && !BUSINESS_FILLER.contains(&w.as_str()))
        .collect()
}

/// The words that name the person: without honorifics and suffixes.
fn person_words(words: Vec<String>) -> Vec<String> {
    words
        .into_iter()
        .filter(|w| !HONORIFICS.contains(&w.as_str()) && !SUFFIXES.contains(&w.as_str()))
        .collect()
}

fn is_suffix_list(text: &str) -> bool {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .all(|w| SUFFIXES.contains(&w) || BUSINESS_WORDS.contains(&w))
}

fn fold_accent(c: char) -> char {
    match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => 'a',
        'ç' => 'c',
        'è' | 'é' | 'ê' | 'ë' => 'e',
        'ì' | 'í' | 'î' | 'ï' => 'i',
        'ñ' => 'n',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' => 'o',
        'ù' | 'ú' | 'û' | 'ü' => 'u',
        'ý' | 'ÿ' => 'y',
        other => other,
    }
}

fn is_nickname(a: &str, b: &str) -> bool {
    NICKNAMES.iter().any(|(full, short)| {
        (a == *full && short.contains(&b))
            || (b == *full && short.contains(&a))
            || (short.contains(&a) && short.contains(&b))
    })
}

/// How alike two given names are, 0 to 1.
fn given_alike(a: &str, b: &str) -> f64 {
    if a == b {
        return 1.0;
    }
    if is_nickname(a, b) {
        return 0.9;
    }
    if is_initial_of(a, b) || is_initial_of(b, a) {
        return 0.75;
    }
    typo_alike(a, b)
}

/// How alike two family names are, 0 to 1: one part of a double-barrelled name counts.
fn family_alike(a: &str, b: &str) -> f64 {
    if a == b {
        return 1.0;
    }
    let parts = |name: &str| name.split('-').map(str::to_owned).collect::<Vec<_>>();
    if parts(a).iter().any(|p| p == b) || parts(b).iter().any(|p| p == a) {
        return 0.9;
    }
    typo_alike(a, b)
}

/// A near spelling (a typo) is almost the same; an unlike word counts for little.
fn typo_alike(a: &str, b: &str) -> f64 {
    let similarity = strsim::jaro_winkler(a, b);
    if similarity >= 0.9 {
        similarity * 0.95
    } else {
        similarity * 0.4
    }
}

fn is_initial_of(initial: &str, name: &str) -> bool {
    initial.chars().count() == 1 && name.starts_with(initial) && name.len() > 1
}

/// The middle names' effect on the score: agreeing (or an initial of the other) costs nothing,
/// one side without costs a little, a disagreement costs more.
fn middle_penalty(a: &[String], b: &[String]) -> f64 {
    match (a.first(), b.first()) {
        (None, None) => 0.0,
        (Some(_), None) | (None, Some(_)) => 5.0,
        (Some(x), Some(y)) if x == y || is_initial_of(x, y) || is_initial_of(y, x) => 0.0,
        _ => 35.0,
    }
}

fn person_score(a: &[String], b: &[String]) -> f64 {
    match (a, b) {
        ([], _) | (_, []) => 0.0,
        ([one], [first, .., last]) | ([first, .., last], [one]) => {
            // A single word: the best it does against either name, capped below a full match.
            65.0 * given_alike(one, first).max(family_alike(one, last))
        }
        ([one], [other]) => 100.0 * family_alike(one, other),
        ([a_first, a_middle @ .., a_last], [b_first, b_middle @ .., b_last]) => {
            let straight = 100.0
                * (0.5 * given_alike(a_first, b_first) + 0.5 * family_alike(a_last, b_last))
                - middle_penalty(a_middle, b_middle);
            // "Charleson Alberta": the same words in the other order, a little less.
            let swapped = 100.0
                * (0.5 * given_alike(a_first, b_last) + 0.5 * family_alike(a_last, b_first))
                - 10.0;
            straight.max(swapped)
        }
    }
}

fn business_score(a: &[String], b: &[String]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    if a == b {
        return 100.0;
    }
    100.0 * strsim::jaro_winkler(&a.join(" "), &b.join(" ")) * 0.9
}

/// How well `bank_owner` matches `account_owner`, 0 to 100 (Plaid's scale; 70 and above match).
pub fn name_score(bank_owner: &str, account_owner: &str) -> u8 {
    let (a, a_business) = words(bank_owner);
    let (b, b_business) = words(account_owner);
    let score = if a_business || b_business {
        business_score(&business_words(a), &business_words(b))
    } else {
        person_score(&person_words(a), &person_words(b))
    };
    score.round().clamp(0.0, 100.0) as u8
}

/// The owner-name check: the best score of the bank's owners against the account owner's name.
/// Below `threshold` (or no owner names at all): REFUSE (`NAME_MISMATCH`) or REVIEW, as
/// configured.
pub fn check_owner_name(
    check: NameCheck,
    threshold: u8,
    bank_owners: &[&str],
    account_owner: &str,
) -> Decision {
    if check == NameCheck::Off {
        return Decision::accept();
    }
    let best = bank_owners
        .iter()
        .map(|owner| (name_score(owner, account_owner), *owner))
        .max_by_key(|(score, _)| *score);
    let score = best.map_or(0, |(score, _)| score);
    let figures = vec![
        ("score", score.to_string()),
        ("threshold", threshold.to_string()),
        ("bank_owners", bank_owners.len().to_string()),
    ];
    if score >= threshold {
        return Decision::accepted_by(
            Rule::OwnerName,
            format!("the bank account owner's name matches the account owner's (score {score})"),
            figures,
        );
    }
    Decision {
        verdict: match check {
            NameCheck::Review => Verdict::Review,
            _ => Verdict::Refuse,
        },
        rule: Rule::OwnerName,
        reason: Some(NAME_MISMATCH),
        detail: if bank_owners.is_empty() {
            "the bank reported no owner name to compare".to_owned()
        } else {
            format!(
                "the bank account owner's name does not match the account owner's (score {score}, below {threshold})"
            )
        },
        figures,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn the_same_person_written_differently_matches() {
        for (bank, account) in [
            ("Alberta Bobbeth Charleson", "Alberta Charleson"),
            ("Alberta B. Charleson", "Alberta Bobbeth Charleson"),
            ("Alberta B. Charleson", "Alberta Charleson"),
            ("CHARLESON, ALBERTA", "Alberta Charleson"),
            ("Dr. Robert Smith Jr.", "Bob Smith"),
            ("Bill O'Brien", "William OBrien"),
            ("José Núñez", "Jose Nunez"),
            ("Alberta Charlson", "Alberta Charleson"),
            ("Mary Smith-Jones", "Mary Jones"),
        ] {
            let score = name_score(bank, account);
            assert!(
                score >= PLAID_MATCH_THRESHOLD,
                "{bank} / {account}: {score}"
            );
        }
    }

    #[test]
    fn different_people_do_not_match() {
        for (bank, account) in [
            ("John Q Public", "Alberta Charleson"),
            ("John Q Public", "Alberta B. Charleson"),
            ("Alberta Smith", "Alberta Charleson"),
            ("Robert Charleson", "Alberta Charleson"),
            ("Alberta Xavier Charleson", "Alberta Bobbeth Charleson"),
            ("Acme Widgets LLC", "Alberta Charleson"),
            ("", "Alberta Charleson"),
        ] {
            let score = name_score(bank, account);
            assert!(score < PLAID_MATCH_THRESHOLD, "{bank} / {account}: {score}");
        }
        assert_eq!(name_score("Alberta Charleson", "Alberta Charleson"), 100);
    }

    #[test]
    fn business_names_compare_without_their_legal_form() {
        assert_eq!(name_score("ACME Widgets, Inc.", "Acme Widgets LLC"), 100);
        assert_eq!(
            name_score("The Plaid & Stripes Co", "Plaid and Stripes"),
            100
        );
        assert!(name_score("Acme Widgets Inc", "Zenith Gadgets Inc") < PLAID_MATCH_THRESHOLD);
    }

    #[test]
    fn the_check_refuses_or_reviews_below_the_threshold() {
        let refused = check_owner_name(
            NameCheck::Refuse,
            PLAID_MATCH_THRESHOLD,
            &["John Q Public"],
            "Alberta Charleson",
        );
        assert_eq!(
            (refused.verdict, refused.reason),
            (Verdict::Refuse, Some(NAME_MISMATCH))
        );
        let passed = check_owner_name(
            NameCheck::Refuse,
            PLAID_MATCH_THRESHOLD,
            &["John Q Public", "Alberta B. Charleson"],
            "Alberta Charleson",
        );
        assert_eq!(passed.verdict, Verdict::Accept);
        let reviewed = check_owner_name(NameCheck::Review, 70, &[], "Alberta Charleson");
        assert_eq!(reviewed.verdict, Verdict::Review);
        assert_eq!(
            check_owner_name(NameCheck::Off, 70, &[], "x"),
            Decision::accept()
        );
    }

    proptest! {
        #[test]
        fn any_name_scores_within_the_scale_without_panicking(a in ".{0,60}", b in ".{0,60}") {
            let score = name_score(&a, &b);
            prop_assert!(score <= 100);
        }

        #[test]
        fn a_name_matches_itself(first in "[A-Z][a-z]{1,10}", last in "[A-Z][a-z]{1,12}") {
            let name = format!("{first} {last}");
            prop_assert_eq!(name_score(&name, &name), 100);
        }
    }
}
