//! The cursor rules of Alpaca's event streams for `/v2/events/funding/status`: `since`/`until`
//! (a `YYYY-MM-DD` date or an RFC 3339 time) and `since_id`/`until_id` (ULIDs). `since` and
//! `since_id` cannot be combined; `until` needs `since` and `until_id` needs `since_id`. Without a
//! since-cursor the stream carries live events only.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use ulid::Ulid;

use super::error::AlpacaError;
use super::events::FundingEvent;

/// Where replay starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Since {
    /// Events strictly after this id.
    Id(Ulid),
    /// Events at or after this time.
    Time(DateTime<Utc>),
}

/// Where the stream ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Until {
    /// Up to and including this id.
    Id(Ulid),
    /// Up to and including this time.
    Time(DateTime<Utc>),
}

/// A validated cursor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Cursor {
    pub since: Option<Since>,
    pub until: Option<Until>,
}

impl Cursor {
    /// Parses and checks the query parameters.
    pub(crate) fn parse(query: &HashMap<String, String>) -> Result<Self, AlpacaError> {
        let get = |name: &str| {
            query
                .get(name)
                .map(String::as_str)
                .filter(|v| !v.is_empty())
        };
        let (since, since_id) = (get("since"), get("since_id"));
        let (until, until_id) = (get("until"), get("until_id"));
        if since.is_some() && since_id.is_some() {
            return Err(AlpacaError::bad_request(
                "since and since_id cannot be used together",
            ));
        }
        if until.is_some() && since.is_none() {
            return Err(AlpacaError::bad_request(
                "since is required if until is set",
            ));
        }
        if until_id.is_some() && since_id.is_none() {
            return Err(AlpacaError::bad_request(
                "since_id is required if until_id is set",
            ));
        }
        let since = match (since, since_id) {
            (Some(text), _) => Some(Since::Time(parse_time(text, "since", false)?)),
            (_, Some(text)) => Some(Since::Id(parse_ulid(text, "since_id")?)),
            _ => None,
        };
        let until = match (until, until_id) {
            (Some(text), _) => Some(Until::Time(parse_time(text, "until", true)?)),
            (_, Some(text)) => Some(Until::Id(parse_ulid(text, "until_id")?)),
            _ => None,
        };
        Ok(Self { since, until })
    }

    /// Whether an event is after the since-cursor (always true without one).
    pub(crate) fn admits(&self, event: &FundingEvent) -> bool {
        match self.since {
            None => true,
            Some(Since::Id(id)) => event.id > id,
            Some(Since::Time(at)) => event.at >= at,
        }
    }

    /// Whether an event lies beyond the until-cursor (and so ends the stream).
    pub(crate) fn is_past_end(&self, event: &FundingEvent) -> bool {
        match self.until {
            None => false,
            Some(Until::Id(id)) => event.id > id,
            Some(Until::Time(at)) => event.at > at,
        }
    }

    /// Whether the end is already behind us: the newest stored event or the clock has passed it.
    pub(crate) fn ended(&self, newest: Option<Ulid>, now: DateTime<Utc>) -> bool {
        match self.until {
            None => false,
            Some(Until::Id(id)) => newest.is_some_and(|newest| newest >= id),
            Some(Until::Time(at)) => now > at,
        }
    }

    /// Whether replay from the log is wanted at all.
    pub(crate) fn replays(&self) -> bool {
        self.since.is_some()
    }
}

fn parse_ulid(text: &str, name: &str) -> Result<Ulid, AlpacaError> {
    Ulid::from_string(text)
        .map_err(|_| AlpacaError::bad_request(format!("invalid {name}: not a valid ULID")))
}

/// A date means its first instant (`since`) or its last (`until`).
fn parse_time(text: &str, name: &str, end_of_day: bool) -> Result<DateTime<Utc>, AlpacaError> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        AlpacaError::bad_request(format!(
            "invalid {name}: expected a date or an RFC3339 time"
        ))
    })?;
    let time = if end_of_day {
        NaiveTime::from_hms_nano_opt(23, 59, 59, 999_999_999)
    } else {
        Some(NaiveTime::MIN)
    };
    let time = time.unwrap_or(NaiveTime::MIN);
    Ok(date.and_time(time).and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn since_and_since_id_cannot_be_combined() {
        let id = Ulid::new().to_string();
        let q = query(&[("since", "2024-01-01"), ("since_id", &id)]);
        assert_eq!(Cursor::parse(&q).unwrap_err().status.as_u16(), 400);
    }

    #[test]
    fn until_requires_since() {
        assert!(Cursor::parse(&query(&[("until", "2024-01-01")])).is_err());
        let id = Ulid::new().to_string();
        assert!(Cursor::parse(&query(&[("until_id", &id)])).is_err());
    }

    #[test]
    fn dates_and_times_are_both_accepted() {
        let cursor = Cursor::parse(&query(&[
            ("since", "2024-01-01"),
            ("until", "2024-01-02T10:00:00Z"),
        ]))
        .unwrap();
        assert!(cursor.replays());
        assert!(Cursor::parse(&query(&[("since", "yesterday")])).is_err());
        assert!(Cursor::parse(&query(&[("since_id", "not-a-ulid")])).is_err());
    }

    #[test]
    fn no_cursor_means_live_only() {
        assert!(!Cursor::parse(&HashMap::new()).unwrap().replays());
    }
}
