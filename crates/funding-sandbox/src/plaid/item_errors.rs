//! The Item errors: the state an Item can be in (`ITEM_LOGIN_REQUIRED` after
//! `/sandbox/item/reset_login`), the errors Link shows for Plaid's sandbox credentials
//! (`user_good`/`pass_good` succeed; `user_good` with the password `error_<CODE>` gives that
//! error; anything else is `INVALID_CREDENTIALS`), and the link token errors Link reports.
//! Messages are Plaid's own (its error reference pages).

use axum::http::StatusCode;

use super::error::PlaidError;

/// The sandbox username and password that succeed.
pub(crate) const GOOD_USERNAME: &str = "user_good";
pub(crate) const GOOD_PASSWORD: &str = "pass_good";

fn item_error(code: &'static str, message: &'static str, display: &'static str) -> PlaidError {
    PlaidError::new(StatusCode::BAD_REQUEST, "ITEM_ERROR", code, message).with_display(display)
}

fn institution_error(code: &'static str) -> PlaidError {
    PlaidError::new(
        StatusCode::BAD_REQUEST,
        "INSTITUTION_ERROR",
        code,
        "this institution is not currently responding to this request. please try again soon",
    )
    .with_display(
        "This financial institution is not currently responding to requests. We apologize for the inconvenience.",
    )
}

/// `ITEM_LOGIN_REQUIRED`: what an Item answers after `/sandbox/item/reset_login`.
pub(crate) fn item_login_required() -> PlaidError {
    PlaidError::new(
        StatusCode::BAD_REQUEST,
        "ITEM_ERROR",
        "ITEM_LOGIN_REQUIRED",
        "the login details of this item have changed (credentials, MFA, or required user action) and a user login is required to update this information. use Link's update mode to restore the item to a good state",
    )
}

/// `USER_PERMISSION_REVOKED`, as the `USER_PERMISSION_REVOKED` webhook carries it.
pub(crate) fn user_permission_revoked() -> PlaidError {
    PlaidError::new(
        StatusCode::BAD_REQUEST,
        "ITEM_ERROR",
        "USER_PERMISSION_REVOKED",
        "the holder of this account has revoked their permission for your application to access it",
    )
}

/// `INVALID_CREDENTIALS`: wrong sandbox credentials in Link.
pub(crate) fn invalid_credentials() -> PlaidError {
    item_error(
        "INVALID_CREDENTIALS",
        "the provided credentials were not correct",
        "The provided credentials were not correct. Please try again.",
    )
}

/// The outcome of a login at a sandbox institution: `Ok` for `user_good`/`pass_good`, the error
/// a `user_good` + `error_<CODE>` password asks for (the codes below; others are
/// `INVALID_CREDENTIALS`), `INVALID_CREDENTIALS` for anything else.
pub(crate) fn check_credentials(username: &str, password: &str) -> Result<(), PlaidError> {
    if username != GOOD_USERNAME {
        return Err(invalid_credentials());
    }
    if password == GOOD_PASSWORD {
        return Ok(());
    }
    let Some(code) = password.strip_prefix("error_") else {
        return Err(invalid_credentials());
    };
    Err(match code {
        "ITEM_LOCKED" => item_error(
            "ITEM_LOCKED",
            "the account is locked. prompt the user to visit the institution's site and unlock their account",
            "The given account has been locked by the financial institution. Please visit your financial institution's website to unlock your account.",
        ),
        "ITEM_NOT_SUPPORTED" => item_error(
            "ITEM_NOT_SUPPORTED",
            "this account is currently not supported",
            "The given account is not currently supported for this financial institution. We apologize for the inconvenience.",
        ),
        "NO_ACCOUNTS" => item_error(
            "NO_ACCOUNTS",
            "no valid accounts were found for this item",
            "No valid accounts were found at the financial institution. Please visit your financial institution's website to confirm accounts are available.",
        ),
        "USER_SETUP_REQUIRED" => item_error(
            "USER_SETUP_REQUIRED",
            "the account has not been fully set up. prompt the user to visit the issuing institution's site and finish the setup process",
            "The given account is not fully setup. Please visit your financial institution's website to setup your account.",
        ),
        "INSTITUTION_DOWN" => institution_error("INSTITUTION_DOWN"),
        "INSTITUTION_NOT_RESPONDING" => institution_error("INSTITUTION_NOT_RESPONDING"),
        _ => invalid_credentials(),
    })
}

/// `INVALID_LINK_TOKEN`: Link opened with a token the emulator never issued.
pub(crate) fn invalid_link_token() -> PlaidError {
    PlaidError::new(
        StatusCode::BAD_REQUEST,
        "INVALID_INPUT",
        "INVALID_LINK_TOKEN",
        "provided link token is in an invalid format or does not exist",
    )
}

/// `INVALID_LINK_TOKEN` for a token past its `expiration`.
pub(crate) fn expired_link_token() -> PlaidError {
    PlaidError::new(
        StatusCode::BAD_REQUEST,
        "INVALID_INPUT",
        "INVALID_LINK_TOKEN",
        "link token has expired",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sandbox_credentials_follow_plaids_rules() {
        assert!(check_credentials("user_good", "pass_good").is_ok());
        for (user, password) in [("user_bad", "pass_good"), ("user_good", "wrong"), ("", "")] {
            let error = check_credentials(user, password).unwrap_err();
            assert_eq!(error.error_code, "INVALID_CREDENTIALS");
            assert_eq!(error.error_type, "ITEM_ERROR");
            assert!(error.display.is_some());
        }
        let locked = check_credentials("user_good", "error_ITEM_LOCKED").unwrap_err();
        assert_eq!(locked.error_code, "ITEM_LOCKED");
        let down = check_credentials("user_good", "error_INSTITUTION_DOWN").unwrap_err();
        assert_eq!(down.error_type, "INSTITUTION_ERROR");
        let unknown = check_credentials("user_good", "error_NOPE").unwrap_err();
        assert_eq!(unknown.error_code, "INVALID_CREDENTIALS");
    }
}
