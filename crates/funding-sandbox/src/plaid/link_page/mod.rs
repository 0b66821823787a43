//! Plaid Link, offline: the pages a front end reaches the way it reaches Plaid's own Link.
//!
//! - `GET /link/v2/stable/link-initialize.js` (Plaid's CDN path): defines
//!   `Plaid.create({token, onSuccess, onExit, onEvent, onLoad, receivedRedirectUri})`, whose
//!   handler has `open()`, `exit()` and `destroy()`. It frames the Link page below (preloaded,
//!   hidden until `open()`) and relays its `postMessage`s to the callbacks; it can be loaded from
//!   a page on any origin.
//! - `GET /link/v2/stable/link.html?token=…&origin=…`: the Link page itself (institution list,
//!   credentials, account picker), which posts only to `origin`.
//! - `GET /link?token=…&redirect_uri=…`: the same flow full-page (hosted Link); it ends by
//!   navigating to `redirect_uri` with the outcome in the query (see `link.js`).
//! - `POST /link/v2/stable/api/credentials` and `/link/v2/stable/api/accounts`: the page's own
//!   calls (JSON; no API keys: the session id stands for the link token, as in Plaid's Link).
//!   Errors are Plaid error objects.

mod render;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::error::PlaidError;
use super::link_flow::{self, AfterLogin, link_account};
use super::webhooks::check_url;
use crate::body::read_capped;
use crate::ids::plaid_request_id;
use crate::state::Shared;
use render::{Mode, PageSetup, render_page};

const INITIALIZE_JS: &str = include_str!("link-initialize.js");
const PAGE_JS: &str = include_str!("link.js");

/// Routes of Link (merged into the Plaid router).
pub(super) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/link/v2/stable/link-initialize.js", get(initialize_js))
        .route("/link/v2/stable/link.js", get(page_js))
        .route("/link/v2/stable/link.html", get(framed_page))
        .route("/link", get(hosted_page))
        .route("/link/v2/stable/api/credentials", post(credentials))
        .route("/link/v2/stable/api/accounts", post(accounts))
}

fn script(source: &'static str) -> Response {
    let mut response = (StatusCode::OK, source).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/javascript; charset=utf-8"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("cross-origin"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

async fn initialize_js() -> Response {
    script(INITIALIZE_JS)
}

async fn page_js() -> Response {
    script(PAGE_JS)
}

type Params = Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>;

fn params(query: Params) -> HashMap<String, String> {
    query.map(|Query(map)| map).unwrap_or_default()
}

/// `scheme://host[:port]` of an http(s) URL.
fn origin_of(url: &str) -> Option<String> {
    let parsed = reqwest::Url::parse(url).ok()?;
    matches!(parsed.scheme(), "http" | "https").then(|| parsed.origin().ascii_serialization())
}

async fn framed_page(State(shared): State<Arc<Shared>>, query: Params) -> Response {
    let params = params(query);
    let setup = PageSetup {
        mode: Mode::Framed,
        parent_origin: params.get("origin").and_then(|origin| origin_of(origin)),
        redirect_uri: None,
    };
    render_page(&shared, params.get("token").map(String::as_str), setup)
}

async fn hosted_page(State(shared): State<Arc<Shared>>, query: Params) -> Response {
    let params = params(query);
    let token = params.get("token").map(String::as_str);
    let given = params.get("redirect_uri").cloned();
    let from_token = token.and_then(|token| {
        shared
            .world()
            .plaid
            .links
            .token(token)
            .and_then(|snapshot| snapshot.redirect_uri.clone())
    });
    let redirect_uri = given.or(from_token).and_then(|uri| check_url(&uri).ok());
    if redirect_uri.is_none() {
        return render::problem(
            StatusCode::BAD_REQUEST,
            "redirect_uri is required: an absolute http or https URL, in the query or given to /link/token/create",
        );
    }
    let setup = PageSetup {
        mode: Mode::Hosted,
        parent_origin: None,
        redirect_uri,
    };
    render_page(&shared, token, setup)
}

#[derive(Deserialize)]
struct CredentialsRequest {
    link_session_id: String,
    institution_id: String,
    username: String,
    password: String,
}

#[derive(Deserialize)]
struct AccountsRequest {
    link_session_id: String,
    account_ids: Vec<String>,
}

/// Reads a JSON body for the page's own calls.
async fn read_json<T: DeserializeOwned>(body: Body) -> Result<T, PlaidError> {
    let bytes = read_capped(body)
        .await
        .map_err(|_| PlaidError::invalid_body())?;
    serde_json::from_slice(&bytes).map_err(|error| PlaidError::invalid_field(error.to_string()))
}

fn answer(outcome: Result<Value, PlaidError>) -> Response {
    let request_id = plaid_request_id();
    match outcome {
        Ok(mut value) => {
            if let Value::Object(map) = &mut value {
                map.insert("request_id".into(), Value::String(request_id));
            }
            (StatusCode::OK, axum::Json(value)).into_response()
        }
        Err(error) => error.render(&request_id),
    }
}

async fn credentials(State(shared): State<Arc<Shared>>, body: Body) -> Response {
    let outcome = match read_json::<CredentialsRequest>(body).await {
        Ok(request) => {
            let now = shared.clock.now();
            let mut world = shared.world();
            link_flow::submit_credentials(
                &mut world.plaid,
                &request.link_session_id,
                &request.institution_id,
                &request.username,
                &request.password,
                now,
            )
            .map(|after| match after {
                AfterLogin::ChooseAccounts(accounts) => json!({
                    "status": "choose_accounts",
                    "accounts": accounts.iter().map(link_account).collect::<Vec<_>>(),
                }),
                AfterLogin::Done(result) => json!({
                    "status": "success",
                    "public_token": result.public_token,
                    "metadata": result.metadata(),
                }),
            })
        }
        Err(error) => Err(error),
    };
    answer(outcome)
}

async fn accounts(State(shared): State<Arc<Shared>>, body: Body) -> Response {
    let outcome = match read_json::<AccountsRequest>(body).await {
        Ok(request) => {
            let now = shared.clock.now();
            let mut world = shared.world();
            link_flow::choose_accounts(
                &mut world.plaid,
                &request.link_session_id,
                &request.account_ids,
                now,
            )
            .map(|result| {
                json!({
                    "status": "success",
                    "public_token": result.public_token,
                    "metadata": result.metadata(),
                })
            })
        }
        Err(error) => Err(error),
    };
    answer(outcome)
}
