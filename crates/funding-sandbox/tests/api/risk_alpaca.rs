//! What the risk checks read from Alpaca (DESIGN §7, §11): `GET /v1/accounts/{account_id}` with
//! the account's owner (`identity.given_name`/`family_name`, Plaid's sandbox owner by default),
//! set through `POST /_sandbox/accounts/{id}` (`owner_name`, or `given_name` with `family_name`)
//! or [`funding_sandbox::SandboxControl::set_account_owner_name`], and that control's refusals.

use reqwest::{Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

use crate::helpers::spawn_sandbox;

#[tokio::test]
async fn an_account_is_plaids_sandbox_owner_until_told_otherwise() {
    let sandbox = spawn_sandbox().await;
    let account = Uuid::new_v4();
    let (status, body) = sandbox
        .alpaca_json(Method::GET, &format!("/v1/accounts/{account}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["id"], account.to_string());
    assert_eq!(body["status"], "ACTIVE");
    assert_eq!(body["currency"], "USD");
    assert_eq!(body["last_equity"], "0");
    assert!(body["account_number"].as_str().unwrap().len() == 10);
    assert_eq!(body["identity"]["given_name"], "Alberta Bobbeth");
    assert_eq!(body["identity"]["family_name"], "Charleson");
    assert_eq!(
        body["contact"]["email_address"],
        "accountholder0@example.com"
    );
    assert_eq!(
        body["contact"]["street_address"],
        json!(["2992 Cameron Road"])
    );
    assert!(
        body["identity"].get("tax_id").is_none(),
        "no tax id is shown"
    );

    // Control: a full name splits at its last word; status and cash show too.
    let (status, answer) = sandbox
        .control_http(
            Method::POST,
            &format!("/accounts/{account}"),
            Some(json!({"owner_name": "Alberta B. Charleson", "cash": "12.50"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["owner_name"], "Alberta B. Charleson");
    assert_eq!(answer["given_name"], "Alberta B.");
    assert_eq!(answer["family_name"], "Charleson");
    let (_, body) = sandbox
        .alpaca_json(Method::GET, &format!("/v1/accounts/{account}"), None)
        .await;
    assert_eq!(body["identity"]["given_name"], "Alberta B.");
    assert_eq!(body["last_equity"], "12.5");

    // A family name of two words, given apart; and the Rust API.
    sandbox
        .control_http(
            Method::POST,
            &format!("/accounts/{account}"),
            Some(json!({"given_name": "Mary", "family_name": "Smith Jones"})),
        )
        .await;
    assert_eq!(
        sandbox.control.account(account).owner_name(),
        "Mary Smith Jones"
    );
    sandbox
        .control
        .set_account_owner_name(account, "John Q Public")
        .unwrap();
    let (_, got) = sandbox
        .control_http(Method::GET, &format!("/accounts/{account}"), None)
        .await;
    assert_eq!(
        (got["given_name"].as_str(), got["family_name"].as_str()),
        (Some("John Q"), Some("Public"))
    );
    sandbox
        .control
        .set_account_owner(account, "Ada", "King Lovelace")
        .unwrap();
    assert_eq!(
        sandbox.control.account(account).family_name,
        "King Lovelace"
    );
}

#[tokio::test]
async fn the_account_control_refuses_a_bad_owner_before_changing_anything() {
    let sandbox = spawn_sandbox().await;
    let account = Uuid::new_v4();
    for (body, field) in [
        (json!({"owner_name": "Cher", "cash": "5"}), "owner_name"),
        (json!({"owner_name": "   "}), "owner_name"),
        (json!({"owner_name": 7}), "owner_name"),
        (
            json!({"owner_name": "A B", "given_name": "A"}),
            "owner_name",
        ),
        (json!({"given_name": "Ada"}), "family_name"),
        (json!({"family_name": "King"}), "given_name"),
        (
            json!({"given_name": "Ada", "family_name": " "}),
            "family_name",
        ),
    ] {
        let (status, answer) = sandbox
            .control_http(
                Method::POST,
                &format!("/accounts/{account}"),
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        let error = answer["error"].as_str().unwrap();
        assert!(error.contains(field), "{body}: {error}");
    }
    let unchanged = sandbox.control.account(account);
    assert_eq!(unchanged.owner_name(), "Alberta Bobbeth Charleson");
    assert!(
        unchanged.cash.is_zero(),
        "the cash of a refused request is not set"
    );
    assert!(
        sandbox
            .control
            .set_account_owner_name(account, "Cher")
            .is_err()
    );
}

#[tokio::test]
async fn the_account_read_needs_credentials_and_a_uuid() {
    let sandbox = spawn_sandbox().await;
    let (status, body) = sandbox
        .alpaca_json(Method::GET, "/v1/accounts/not-a-uuid", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["message"].as_str().unwrap().contains("account_id"),
        "{body}"
    );
    let unauthenticated = sandbox
        .http
        .get(sandbox.alpaca_url(&format!("/v1/accounts/{}", Uuid::new_v4())))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);
}
