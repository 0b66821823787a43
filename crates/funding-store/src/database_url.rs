//! Reading the database URL: which backend it names and, for a SQLite file, where the file lives, so
//! that its directory can be created and the file opened read-write-create.

use std::path::PathBuf;

/// What a database URL points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// A SQLite file (`sqlite:./var/funding.db`, `sqlite:///abs/path.db`), with the URL to open it.
    SqliteFile { path: PathBuf, url: String },
    /// An in-memory SQLite database (`sqlite::memory:`), one per connection.
    SqliteMemory { url: String },
    /// A PostgreSQL server (`postgres://…` or `postgresql://…`).
    Postgres { url: String },
}

/// Why a URL was refused. Never repeats the URL, which may carry a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the database URL must start with sqlite: or postgres://")]
pub(crate) struct UnsupportedUrl;

pub(crate) fn parse(database_url: &str) -> Result<Target, UnsupportedUrl> {
    let url = database_url.trim();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Target::Postgres {
            url: url.to_owned(),
        });
    }
    let Some(rest) = url.strip_prefix("sqlite:") else {
        return Err(UnsupportedUrl);
    };
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (path, query) = match rest.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (rest, None),
    };
    if path.is_empty() || path == ":memory:" {
        return Ok(Target::SqliteMemory {
            url: url.to_owned(),
        });
    }
    let has_mode = query.is_some_and(|q| q.split('&').any(|pair| pair.starts_with("mode=")));
    let url = match (query, has_mode) {
        (_, true) => url.to_owned(),
        (Some(_), false) => format!("{url}&mode=rwc"),
        (None, false) => format!("{url}?mode=rwc"),
    };
    Ok(Target::SqliteFile {
        path: PathBuf::from(path),
        url,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relative_sqlite_file_is_opened_read_write_create() {
        assert_eq!(
            parse("sqlite:./var/funding.db").unwrap(),
            Target::SqliteFile {
                path: "./var/funding.db".into(),
                url: "sqlite:./var/funding.db?mode=rwc".into()
            }
        );
        assert_eq!(
            parse("sqlite:///tmp/x/funding.db?cache=shared").unwrap(),
            Target::SqliteFile {
                path: "/tmp/x/funding.db".into(),
                url: "sqlite:///tmp/x/funding.db?cache=shared&mode=rwc".into()
            }
        );
    }

    #[test]
    fn an_explicit_mode_is_kept() {
        assert_eq!(
            parse("sqlite://funding.db?mode=ro").unwrap(),
            Target::SqliteFile {
                path: "funding.db".into(),
                url: "sqlite://funding.db?mode=ro".into()
            }
        );
    }

    #[test]
    fn memory_and_postgres_urls_are_recognised() {
        assert!(matches!(
            parse("sqlite::memory:").unwrap(),
            Target::SqliteMemory { .. }
        ));
        assert!(matches!(
            parse("postgres://u:p@localhost/db").unwrap(),
            Target::Postgres { .. }
        ));
        assert!(matches!(
            parse("postgresql://localhost/db").unwrap(),
            Target::Postgres { .. }
        ));
    }

    #[test]
    fn other_schemes_are_refused_without_echoing_the_url() {
        let error = parse("mysql://user:hunter2@host/db").unwrap_err();
        assert!(!error.to_string().contains("hunter2"));
    }
}
