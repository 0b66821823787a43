//! The Link page over plain HTTP (the browser test in tests/python drives it for real):
//! `link-initialize.js` at Plaid's CDN path, the page and its element ids, a session from
//! institution to public token (which exchanges like any other), `user_bad`'s
//! `INVALID_CREDENTIALS`, update mode, and the hosted form's refusals.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestSandbox, spawn_sandbox};
use crate::plaid_link_tokens::link_token;

/// The page's settings blob.
fn page_config(html: &str) -> Value {
    let start = html
        .find("<script id=\"link-config\" type=\"application/json\">")
        .unwrap();
    let rest = &html[start..];
    let open = rest.find('>').unwrap() + 1;
    let close = rest.find("</script>").unwrap();
    serde_json::from_str(&rest[open..close]).unwrap()
}

async fn get(
    sandbox: &TestSandbox,
    path: &str,
) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let response = sandbox
        .http
        .get(sandbox.plaid_url(path))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

/// Opens the framed page; returns its settings.
async fn open(sandbox: &TestSandbox, token: &str) -> Value {
    let (status, _, html) = get(
        sandbox,
        &format!("/link/v2/stable/link.html?token={token}&origin=http%3A%2F%2Flocalhost%3A3000"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    page_config(&html)
}

async fn page_call(sandbox: &TestSandbox, path: &str, body: Value) -> (StatusCode, Value) {
    let response = sandbox
        .http
        .post(sandbox.plaid_url(path))
        .json(&body)
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

async fn log_in(
    sandbox: &TestSandbox,
    session: &Value,
    user: &str,
    pass: &str,
) -> (StatusCode, Value) {
    page_call(
        sandbox,
        "/link/v2/stable/api/credentials",
        json!({"link_session_id": session, "institution_id": "ins_109508",
               "username": user, "password": pass}),
    )
    .await
}

#[tokio::test]
async fn link_initialize_js_is_served_at_plaids_cdn_path_to_any_origin() {
    let sandbox = spawn_sandbox().await;
    let (status, headers, body) = get(&sandbox, "/link/v2/stable/link-initialize.js").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/javascript")
    );
    assert_eq!(headers["access-control-allow-origin"], "*");
    assert!(body.contains("window.Plaid = { create: create"));
    let (status, _, page_js) = get(&sandbox, "/link/v2/stable/link.js").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page_js.contains("postMessage"));
}

#[tokio::test]
async fn the_page_lists_the_sandbox_institutions_with_stable_ids() {
    let sandbox = spawn_sandbox().await;
    let token = link_token(&sandbox, |body| body["client_name"] = json!("<Demo & Co>")).await;
    let (status, headers, html) = get(
        &sandbox,
        &format!("/link/v2/stable/link.html?token={token}&origin=http://localhost:3000"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors *")
    );
    assert!(headers.get("x-frame-options").is_none());
    for id in [
        "institution-ins_109508",
        "institution-ins_109509",
        "username",
        "password",
        "credentials-submit",
        "credentials-error",
        "account-list",
        "accounts-submit",
        "link-exit",
    ] {
        assert!(html.contains(&format!("id=\"{id}\"")), "{id}");
    }
    assert!(html.contains("First Platypus Bank"));
    assert!(
        html.contains("&lt;Demo &amp; Co&gt;"),
        "the app's name is escaped"
    );
    let config = page_config(&html);
    assert_eq!(config["mode"], "framed");
    assert_eq!(config["parent_origin"], "http://localhost:3000");
    assert!(config["error"].is_null());
    assert!(uuid::Uuid::parse_str(config["link_session_id"].as_str().unwrap()).is_ok());
}

#[tokio::test]
async fn a_session_logs_in_picks_checking_and_gets_a_public_token_that_exchanges() {
    let sandbox = spawn_sandbox().await;
    let token = link_token(&sandbox, |body| {
        body["webhook"] = json!("http://127.0.0.1:9/hooks")
    })
    .await;
    let session = open(&sandbox, &token).await["link_session_id"].clone();

    let (status, bad) = log_in(&sandbox, &session, "user_bad", "pass_good").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(bad["error_type"], "ITEM_ERROR");
    assert_eq!(bad["error_code"], "INVALID_CREDENTIALS");
    assert_eq!(
        bad["error_message"],
        "the provided credentials were not correct"
    );
    assert_eq!(
        bad["display_message"],
        "The provided credentials were not correct. Please try again."
    );

    let (status, good) = log_in(&sandbox, &session, "user_good", "pass_good").await;
    assert_eq!(status, StatusCode::OK, "{good}");
    assert_eq!(good["status"], "choose_accounts");
    let accounts = good["accounts"].as_array().unwrap();
    assert_eq!(accounts.len(), 2);
    let checking = accounts
        .iter()
        .find(|a| a["subtype"] == "checking")
        .unwrap();
    assert_eq!(checking["mask"], "0000");
    assert_eq!(checking["type"], "depository");

    let (status, done) = page_call(
        &sandbox,
        "/link/v2/stable/api/accounts",
        json!({"link_session_id": session, "account_ids": [checking["id"]]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    let public_token = done["public_token"].as_str().unwrap();
    assert!(public_token.starts_with("public-sandbox-"));
    let metadata = &done["metadata"];
    assert_eq!(metadata["public_token"], public_token);
    assert_eq!(
        metadata["institution"],
        json!({"name": "First Platypus Bank", "institution_id": "ins_109508"})
    );
    assert_eq!(metadata["accounts"].as_array().unwrap().len(), 1);
    assert_eq!(metadata["account_id"], checking["id"]);
    assert_eq!(metadata["account"]["name"], "Plaid Checking");
    assert!(metadata["accounts"][0]["verification_status"].is_null());
    assert!(metadata["transfer_status"].is_null());
    assert_eq!(metadata["link_session_id"], session);

    let (status, again) = page_call(
        &sandbox,
        "/link/v2/stable/api/accounts",
        json!({"link_session_id": session, "account_ids": [checking["id"]]}),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a finished session takes nothing more: {again}"
    );

    let exchanged = sandbox
        .plaid_ok(
            "/item/public_token/exchange",
            json!({"public_token": public_token}),
        )
        .await;
    let access = exchanged["access_token"].as_str().unwrap();
    let listed = sandbox
        .plaid_ok("/accounts/get", json!({"access_token": access}))
        .await;
    let ids: Vec<&Value> = listed["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["account_id"])
        .collect();
    assert_eq!(
        ids,
        vec![&checking["id"]],
        "the Item holds the chosen account only"
    );
    assert_eq!(listed["item"]["webhook"], "http://127.0.0.1:9/hooks");
    assert_eq!(listed["item"]["products"], json!(["auth"]));
    let processor = sandbox
        .plaid_ok(
            "/processor/token/create",
            json!({"access_token": access, "account_id": checking["id"], "processor": "alpaca"}),
        )
        .await;
    assert!(
        processor["processor_token"]
            .as_str()
            .unwrap()
            .starts_with("processor-sandbox-")
    );
    assert_eq!(
        sandbox.control.link_token(&token).unwrap().public_tokens,
        vec![public_token]
    );
}

#[tokio::test]
async fn sandbox_error_passwords_and_bad_page_calls_get_plaid_errors() {
    let sandbox = spawn_sandbox().await;
    let token = link_token(&sandbox, |_| {}).await;
    let session = open(&sandbox, &token).await["link_session_id"].clone();
    let (status, locked) = log_in(&sandbox, &session, "user_good", "error_ITEM_LOCKED").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(locked["error_code"], "ITEM_LOCKED");
    let (status, nobody) = log_in(
        &sandbox,
        &json!("no-such-session"),
        "user_good",
        "pass_good",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(nobody["error_code"], "INVALID_FIELD");
    let (status, garbage) =
        page_call(&sandbox, "/link/v2/stable/api/credentials", json!([1])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(garbage["error_type"], "INVALID_REQUEST");
    let (status, _) = page_call(
        &sandbox,
        "/link/v2/stable/api/credentials",
        json!({"link_session_id": session, "institution_id": "bank", "username": "u", "password": "p"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn an_unknown_token_opens_a_page_that_reports_invalid_link_token() {
    let sandbox = spawn_sandbox().await;
    for path in [
        "/link/v2/stable/link.html?token=link-sandbox-nope",
        "/link/v2/stable/link.html",
    ] {
        let (status, _, html) = get(&sandbox, path).await;
        assert_eq!(status, StatusCode::OK);
        let config = page_config(&html);
        assert_eq!(config["error"]["error_code"], "INVALID_LINK_TOKEN");
        assert_eq!(config["error"]["error_type"], "INVALID_INPUT");
        assert!(config["link_session_id"].is_null());
    }
}

#[tokio::test]
async fn the_hosted_form_needs_an_http_redirect_uri() {
    let sandbox = spawn_sandbox().await;
    let token = link_token(&sandbox, |_| {}).await;
    for query in [
        format!("token={token}"),
        format!("token={token}&redirect_uri=javascript:alert(1)"),
    ] {
        let (status, _, html) = get(&sandbox, &format!("/link?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert!(html.contains("redirect_uri is required"));
    }
    let (status, _, html) = get(
        &sandbox,
        &format!("/link?token={token}&redirect_uri=http%3A%2F%2Flocalhost%3A3000%2Fdone"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let config = page_config(&html);
    assert_eq!(config["mode"], "hosted");
    assert_eq!(config["redirect_uri"], "http://localhost:3000/done");
    let with_own = link_token(&sandbox, |b| {
        b["redirect_uri"] = json!("https://app.example.com/cb")
    })
    .await;
    let (status, _, html) = get(&sandbox, &format!("/link?token={with_own}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        page_config(&html)["redirect_uri"],
        "https://app.example.com/cb"
    );
}

#[tokio::test]
async fn update_mode_logs_in_at_the_items_institution_and_clears_its_error() {
    let sandbox = spawn_sandbox().await;
    let linked = sandbox.link().await;
    sandbox.control.reset_login(&linked.item_id).unwrap();
    let token = link_token(&sandbox, |body| {
        body.as_object_mut().unwrap().remove("products");
        body["access_token"] = json!(linked.access_token);
    })
    .await;
    let config = open(&sandbox, &token).await;
    assert_eq!(config["update"]["institution_id"], "ins_109508");
    assert_eq!(config["update"]["institution_name"], "First Platypus Bank");
    let session = config["link_session_id"].clone();
    let (status, bad) = log_in(&sandbox, &session, "user_good", "nope").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(bad["error_code"], "INVALID_CREDENTIALS");
    assert_eq!(
        sandbox
            .control
            .item(&linked.item_id)
            .unwrap()
            .error_code
            .as_deref(),
        Some("ITEM_LOGIN_REQUIRED")
    );
    let (status, done) = log_in(&sandbox, &session, "user_good", "pass_good").await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(
        done["status"], "success",
        "no account picker in plain update mode"
    );
    assert_eq!(done["metadata"]["accounts"].as_array().unwrap().len(), 2);
    assert_eq!(
        sandbox.control.item(&linked.item_id).unwrap().error_code,
        None
    );
    let item = sandbox
        .plaid_ok("/item/get", json!({"access_token": linked.access_token}))
        .await;
    assert!(item["item"]["error"].is_null());
    sandbox
        .plaid_ok(
            "/accounts/get",
            json!({"access_token": linked.access_token}),
        )
        .await;
}
