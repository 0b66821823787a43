//! Paging requests, read the same way for every list: `page_size` 0 means the default, more than
//! the maximum (or less than 0) is refused naming the field, and a `page_token` is the last id of
//! the previous page, refused when it is not one this service issued.

use funding_domain::{ValidationError, ValidationErrors};

/// How many items a page may hold.
pub(crate) struct PageLimits {
    pub default: u32,
    pub max: u32,
}

/// The page size and the id to continue after (`None` for the first page); every problem is added
/// to `errors`, and the matching part is `None`.
pub(crate) fn read_page<T>(
    errors: &mut ValidationErrors,
    page_size: i32,
    page_token: &str,
    limits: PageLimits,
    parse_id: impl Fn(&str) -> Result<T, ValidationError>,
) -> (Option<u32>, Option<Option<T>>) {
    let size = match u32::try_from(page_size) {
        Ok(0) => Some(limits.default),
        Ok(size) if size <= limits.max => Some(size),
        _ => {
            errors.push(ValidationError::new(
                "page_size",
                format!("must be between 0 and {}", limits.max),
            ));
            None
        }
    };
    let after = if page_token.is_empty() {
        Some(None)
    } else {
        errors
            .check(parse_id(page_token).map_err(|_| {
                ValidationError::new("page_token", "is not a token this service issued")
            }))
            .map(Some)
    };
    (size, after)
}

/// The error for a page token that belongs to another account's listing.
pub(crate) fn foreign_page_token() -> ValidationErrors {
    ValidationErrors::from(ValidationError::new(
        "page_token",
        "was not issued for this account_id",
    ))
}
