//! Signed Plaid webhooks: `BANK_TRANSFERS_EVENTS_UPDATE` after every bank transfer event, its
//! `Plaid-Verification` JWT checked with the key `/webhook_verification_key/get` serves, key
//! rotation, `/sandbox/bank_transfer/fire_webhook`, the run-time URL, failed deliveries, and the
//! duplicate/delay webhook faults.

use std::time::Duration;

use funding_sandbox::{SandboxConfig, WebhookFault};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{
    ReceivedWebhook, TestSandbox, WebhookReceiver, eventually, spawn_sandbox, spawn_with,
};

const BODY: &str = "{\n  \"webhook_type\": \"BANK_TRANSFERS\",\n  \"webhook_code\": \"BANK_TRANSFERS_EVENTS_UPDATE\",\n  \"environment\": \"sandbox\"\n}";

async fn with_webhook(url: &str) -> TestSandbox {
    spawn_with(SandboxConfig {
        plaid_webhook_url: Some(url.to_owned()),
        ..SandboxConfig::ephemeral()
    })
    .await
}

fn create_body(processor_token: &str, key: &str, kind: &str) -> Value {
    json!({
        "idempotency_key": key,
        "processor_token": processor_token,
        "type": kind,
        "network": "ach",
        "amount": "25.00",
        "iso_currency_code": "USD",
        "description": "deposit",
        "ach_class": if kind == "debit" { "web" } else { "ppd" },
        "user": {"legal_name": "Ada Lovelace"},
    })
}

async fn create(sandbox: &TestSandbox, key: &str) -> String {
    let token = sandbox.processor_token().await;
    let created = sandbox
        .plaid_ok(
            "/processor/bank_transfer/create",
            create_body(&token, key, "debit"),
        )
        .await;
    created["bank_transfer"]["id"].as_str().unwrap().to_owned()
}

async fn simulate(sandbox: &TestSandbox, id: &str, event_type: &str) {
    sandbox
        .plaid_ok(
            "/sandbox/bank_transfer/simulate",
            json!({"bank_transfer_id": id, "event_type": event_type}),
        )
        .await;
}

async fn key(sandbox: &TestSandbox, kid: &str) -> Value {
    sandbox
        .plaid_ok("/webhook_verification_key/get", json!({"key_id": kid}))
        .await["key"]
        .clone()
}

async fn control(
    sandbox: &TestSandbox,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = sandbox.http.request(
        method,
        format!("{}/_sandbox{path}", sandbox.handle.plaid_url()),
    );
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The JWT of a received webhook.
fn jwt(webhook: &ReceivedWebhook) -> String {
    webhook.headers["plaid-verification"]
        .to_str()
        .unwrap()
        .to_owned()
}

fn kid_of(webhook: &ReceivedWebhook) -> String {
    jsonwebtoken::decode_header(jwt(webhook))
        .unwrap()
        .kid
        .unwrap()
}

/// Verifies a webhook as Plaid's docs say: ES256 only, the key by `kid`, the signature, `iat`
/// within five minutes, the body's SHA-256. Returns the claims.
pub async fn verify(sandbox: &TestSandbox, webhook: &ReceivedWebhook) -> Result<Value, String> {
    let token = jwt(webhook);
    let header = jsonwebtoken::decode_header(&token).map_err(|e| e.to_string())?;
    if header.alg != Algorithm::ES256 || header.typ.as_deref() != Some("JWT") {
        return Err(format!("unexpected header {header:?}"));
    }
    let jwk = key(sandbox, header.kid.as_deref().unwrap_or_default()).await;
    assert_eq!(jwk["alg"], "ES256");
    assert_eq!(jwk["crv"], "P-256");
    assert_eq!(jwk["kty"], "EC");
    assert_eq!(jwk["use"], "sig");
    let decoding =
        DecodingKey::from_ec_components(jwk["x"].as_str().unwrap(), jwk["y"].as_str().unwrap())
            .map_err(|e| e.to_string())?;
    let mut validation = Validation::new(Algorithm::ES256);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    let claims = jsonwebtoken::decode::<Value>(&token, &decoding, &validation)
        .map_err(|e| e.to_string())?
        .claims;
    let iat = claims["iat"].as_i64().ok_or("no iat")?;
    let now = sandbox.control.now().timestamp();
    if (now - iat).abs() > 300 {
        return Err(format!("iat {iat} is not within five minutes of {now}"));
    }
    let hash = hex::encode(Sha256::digest(&webhook.body));
    if claims["request_body_sha256"] != hash.as_str() {
        return Err(format!("body hash {hash} differs from the claim {claims}"));
    }
    Ok(claims)
}

#[tokio::test]
async fn every_bank_transfer_event_sends_a_signed_webhook_that_verifies() {
    let mut receiver = WebhookReceiver::start().await;
    let sandbox = with_webhook(&receiver.url).await;
    let id = create(&sandbox, "signed").await;

    let first = receiver.next().await;
    assert_eq!(std::str::from_utf8(&first.body).unwrap(), BODY);
    assert_eq!(first.headers["content-type"], "application/json");
    let claims = verify(&sandbox, &first).await.unwrap();
    assert_eq!(claims.as_object().unwrap().len(), 2, "{claims}");
    assert_eq!(kid_of(&first), sandbox.control.webhook_key_id());
    // Sent once the event is visible to the sync a receiver makes next.
    let events = sandbox
        .plaid_ok("/bank_transfer/event/sync", json!({"after_id": 0}))
        .await;
    assert_eq!(events["bank_transfer_events"][0]["event_type"], "pending");

    simulate(&sandbox, &id, "posted").await;
    verify(&sandbox, &receiver.next().await).await.unwrap();
    sandbox
        .plaid_ok(
            "/sandbox/bank_transfer/simulate",
            json!({"bank_transfer_id": id, "event_type": "reversed",
                   "failure_reason": {"ach_return_code": "R01", "description": "Insufficient funds"}}),
        )
        .await;
    verify(&sandbox, &receiver.next().await).await.unwrap();

    let other = create(&sandbox, "to-cancel").await;
    verify(&sandbox, &receiver.next().await).await.unwrap();
    sandbox
        .plaid_ok("/bank_transfer/cancel", json!({"bank_transfer_id": other}))
        .await;
    verify(&sandbox, &receiver.next().await).await.unwrap();

    // An idempotent replay and a refused transition record no event and send nothing.
    let token = sandbox.processor_token().await;
    let body = create_body(&token, "replayed", "debit");
    sandbox
        .plaid_ok("/processor/bank_transfer/create", body.clone())
        .await;
    verify(&sandbox, &receiver.next().await).await.unwrap();
    sandbox
        .plaid_ok("/processor/bank_transfer/create", body)
        .await;
    let (status, _) = sandbox
        .plaid(
            "/sandbox/bank_transfer/simulate",
            json!({"bank_transfer_id": other, "event_type": "posted"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let deliveries = eventually("six deliveries", || async {
        let log = sandbox.control.webhook_deliveries();
        (log.len() >= 6).then_some(log)
    })
    .await;
    // The fire_webhook that follows is dispatched after anything queued before it.
    sandbox
        .plaid_ok(
            "/sandbox/bank_transfer/fire_webhook",
            json!({"webhook": receiver.url}),
        )
        .await;
    verify(&sandbox, &receiver.next().await).await.unwrap();
    assert!(receiver.try_next().is_none());
    assert_eq!(deliveries.len(), 6);
    for delivery in &deliveries {
        assert_eq!(delivery.status, Some(200));
        assert_eq!(delivery.error, None);
        assert_eq!(delivery.url, receiver.url);
        assert_eq!(delivery.webhook_code, "BANK_TRANSFERS_EVENTS_UPDATE");
    }
}

#[tokio::test]
async fn the_verification_key_is_a_p256_jwk_and_an_unknown_kid_is_invalid_input() {
    let sandbox = spawn_sandbox().await;
    let kid = sandbox.control.webhook_key_id();
    assert!(uuid::Uuid::parse_str(&kid).is_ok(), "{kid}");
    let answer = sandbox
        .plaid_ok("/webhook_verification_key/get", json!({"key_id": kid}))
        .await;
    assert!(answer["request_id"].is_string());
    let jwk = &answer["key"];
    let keys: Vec<&str> = jwk
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "alg",
            "created_at",
            "crv",
            "expired_at",
            "kid",
            "kty",
            "use",
            "x",
            "y"
        ]
    );
    assert_eq!(jwk["kid"], kid.as_str());
    assert!(jwk["expired_at"].is_null());
    let created = jwk["created_at"].as_i64().unwrap();
    assert!((sandbox.control.now().timestamp() - created).abs() < 60);
    for coordinate in ["x", "y"] {
        let text = jwk[coordinate].as_str().unwrap();
        assert!(!text.contains('=') && !text.contains('+') && !text.contains('/'));
        assert_eq!(text.len(), 43, "32 bytes in unpadded base64url: {text}");
    }

    let (status, error) = sandbox
        .plaid(
            "/webhook_verification_key/get",
            json!({"key_id": "bfbd5111-8e33-4643-8ced-b2e642a72f3c"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["error_type"], "INVALID_INPUT");
    assert_eq!(error["error_code"], "INVALID_WEBHOOK_VERIFICATION_KEY_ID");
    assert!(error["display_message"].is_null());
    assert!(error["request_id"].is_string());
    let (_, error) = sandbox
        .plaid("/webhook_verification_key/get", json!({}))
        .await;
    assert_eq!(error["error_code"], "MISSING_FIELDS");
}

#[tokio::test]
async fn rotating_expires_the_old_key_and_signs_with_the_new_one() {
    let mut receiver = WebhookReceiver::start().await;
    let sandbox = with_webhook(&receiver.url).await;
    let old = sandbox.control.webhook_key_id();
    create(&sandbox, "before").await;
    let before = receiver.next().await;
    assert_eq!(kid_of(&before), old);

    let new = sandbox.control.rotate_webhook_key().unwrap();
    assert_ne!(new, old);
    assert_eq!(sandbox.control.webhook_key_id(), new);
    let expired = key(&sandbox, &old).await;
    let expired_at = expired["expired_at"].as_i64().unwrap();
    assert!(expired_at >= expired["created_at"].as_i64().unwrap());
    let current = key(&sandbox, &new).await;
    assert!(current["expired_at"].is_null());
    assert_ne!(current["x"], expired["x"]);

    create(&sandbox, "after").await;
    let after = receiver.next().await;
    assert_eq!(kid_of(&after), new);
    verify(&sandbox, &after).await.unwrap();

    // A token signed by the new key does not verify with the old key's coordinates.
    let wrong = DecodingKey::from_ec_components(
        expired["x"].as_str().unwrap(),
        expired["y"].as_str().unwrap(),
    )
    .unwrap();
    let mut validation = Validation::new(Algorithm::ES256);
    validation.required_spec_claims.clear();
    assert!(jsonwebtoken::decode::<Value>(jwt(&after), &wrong, &validation).is_err());

    // Over HTTP too.
    let (status, body) = control(&sandbox, Method::POST, "/plaid/webhook_key/rotate", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["expired_key_id"], new.as_str());
    let newest = body["key_id"].as_str().unwrap().to_owned();
    assert_eq!(sandbox.control.webhook_key_id(), newest);
    assert!(key(&sandbox, &new).await["expired_at"].is_i64());
}

#[tokio::test]
async fn fire_webhook_sends_one_now_and_refuses_bad_urls() {
    let mut receiver = WebhookReceiver::start().await;
    let sandbox = spawn_sandbox().await;
    let answer = sandbox
        .plaid_ok(
            "/sandbox/bank_transfer/fire_webhook",
            json!({"webhook": receiver.url}),
        )
        .await;
    assert_eq!(
        answer.as_object().unwrap().len(),
        1,
        "only request_id: {answer}"
    );
    let webhook = receiver.next().await;
    assert_eq!(std::str::from_utf8(&webhook.body).unwrap(), BODY);
    verify(&sandbox, &webhook).await.unwrap();

    for bad in ["not a url", "ftp://example.com/hooks", ""] {
        let (status, error) = sandbox
            .plaid(
                "/sandbox/bank_transfer/fire_webhook",
                json!({"webhook": bad}),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(error["error_type"], "INVALID_REQUEST");
        assert_eq!(error["error_code"], "INVALID_FIELD", "{bad}: {error}");
    }
    let (_, error) = sandbox
        .plaid("/sandbox/bank_transfer/fire_webhook", json!({}))
        .await;
    assert_eq!(error["error_code"], "MISSING_FIELDS");
    assert!(error["error_message"].as_str().unwrap().contains("webhook"));
}

#[tokio::test]
async fn the_webhook_url_is_set_and_cleared_at_run_time() {
    let mut receiver = WebhookReceiver::start().await;
    let sandbox = spawn_sandbox().await;
    assert_eq!(sandbox.control.plaid_webhook_url(), None);
    let id = create(&sandbox, "unheard").await;

    let (status, body) = control(
        &sandbox,
        Method::POST,
        "/plaid/webhook",
        Some(json!({"url": receiver.url})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["url"], receiver.url.as_str());
    assert_eq!(body["key_id"], sandbox.control.webhook_key_id().as_str());
    simulate(&sandbox, &id, "posted").await;
    verify(&sandbox, &receiver.next().await).await.unwrap();

    let (status, _) = control(&sandbox, Method::DELETE, "/plaid/webhook", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(sandbox.control.plaid_webhook_url(), None);
    simulate(&sandbox, &id, "reversed").await;
    // Dispatched in order: when this one arrives, the reversal's was (not) sent already.
    sandbox
        .plaid_ok(
            "/sandbox/bank_transfer/fire_webhook",
            json!({"webhook": receiver.url}),
        )
        .await;
    receiver.next().await;
    eventually("two deliveries", || async {
        (sandbox.control.webhook_deliveries().len() == 2).then_some(())
    })
    .await;
    assert!(receiver.try_next().is_none());

    let (status, error) = control(
        &sandbox,
        Method::POST,
        "/plaid/webhook",
        Some(json!({"url": "nope"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error["error"].is_string());
    assert!(
        sandbox
            .control
            .set_plaid_webhook_url(Some("/relative"))
            .is_err()
    );
    sandbox
        .control
        .set_plaid_webhook_url(Some(&receiver.url))
        .unwrap();
    let (_, body) = control(&sandbox, Method::GET, "/plaid/webhook", None).await;
    assert_eq!(body["url"], receiver.url.as_str());
    let (status, _) = control(
        &sandbox,
        Method::POST,
        "/plaid/webhook",
        Some(json!({"url": null})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sandbox.control.plaid_webhook_url(), None);
}

#[tokio::test]
async fn a_failed_delivery_is_logged_and_dropped_and_a_slow_receiver_blocks_nothing() {
    // Nobody listens on this port any more.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/hooks", listener.local_addr().unwrap())
    };
    let sandbox = with_webhook(&closed).await;
    create(&sandbox, "refused").await;
    let refused = eventually("a failed delivery", || async {
        sandbox.control.webhook_deliveries().pop()
    })
    .await;
    assert_eq!(refused.status, None);
    assert!(refused.error.is_some());

    let failing =
        WebhookReceiver::answering(StatusCode::INTERNAL_SERVER_ERROR, Duration::ZERO).await;
    sandbox
        .control
        .set_plaid_webhook_url(Some(&failing.url))
        .unwrap();
    sandbox.control.reset_webhook_deliveries();
    create(&sandbox, "answered-500").await;
    let answered = eventually("a 500 delivery", || async {
        sandbox.control.webhook_deliveries().pop()
    })
    .await;
    assert_eq!(answered.status, Some(500));
    assert!(answered.error.unwrap().contains("500"));

    // A receiver that takes minutes to answer holds up neither the API nor later webhooks.
    let mut slow = WebhookReceiver::answering(StatusCode::OK, Duration::from_secs(600)).await;
    let mut quick = WebhookReceiver::start().await;
    sandbox
        .control
        .set_plaid_webhook_url(Some(&slow.url))
        .unwrap();
    let id = create(&sandbox, "slow").await;
    slow.next().await;
    simulate(&sandbox, &id, "posted").await;
    slow.next().await;
    sandbox
        .plaid_ok(
            "/sandbox/bank_transfer/fire_webhook",
            json!({"webhook": quick.url}),
        )
        .await;
    verify(&sandbox, &quick.next().await).await.unwrap();
    sandbox.handle.shutdown().await;
}

#[tokio::test]
async fn webhook_faults_duplicate_and_delay_the_next_webhooks() {
    let mut receiver = WebhookReceiver::start().await;
    let sandbox = with_webhook(&receiver.url).await;
    sandbox
        .control
        .inject_webhook_fault(WebhookFault::duplicate().times(2));
    let id = create(&sandbox, "twice").await;
    let (one, two) = (receiver.next().await, receiver.next().await);
    assert_eq!(jwt(&one), jwt(&two));
    assert_eq!(one.body, two.body);
    simulate(&sandbox, &id, "posted").await;
    receiver.next().await;
    receiver.next().await;
    simulate(&sandbox, &id, "reversed").await;
    verify(&sandbox, &receiver.next().await).await.unwrap();
    eventually("five deliveries", || async {
        (sandbox.control.webhook_deliveries().len() == 5).then_some(())
    })
    .await;
    assert!(receiver.try_next().is_none());

    // Delayed over HTTP: a later, undelayed webhook to another receiver overtakes it.
    let (status, _) = control(
        &sandbox,
        Method::POST,
        "/plaid/webhook_faults",
        Some(json!({"delay_ms": 3000})),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let mut other = WebhookReceiver::start().await;
    create(&sandbox, "late").await;
    sandbox
        .plaid_ok(
            "/sandbox/bank_transfer/fire_webhook",
            json!({"webhook": other.url}),
        )
        .await;
    other.next().await;
    assert!(
        receiver.try_next().is_none(),
        "the delayed webhook came early"
    );
    let delayed = receiver.next().await;
    // Signed when it was dispatched, not when it finally arrived.
    verify(&sandbox, &delayed).await.unwrap();

    let (status, _) = control(
        &sandbox,
        Method::POST,
        "/plaid/webhook_faults",
        Some(json!({"duplicate": true, "times": 5})),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = control(&sandbox, Method::DELETE, "/plaid/webhook_faults", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = control(
        &sandbox,
        Method::POST,
        "/plaid/webhook_faults",
        Some(json!({"twice": true})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    sandbox
        .plaid_ok(
            "/sandbox/bank_transfer/fire_webhook",
            json!({"webhook": other.url}),
        )
        .await;
    other.next().await;
    let log = eventually("eight deliveries", || async {
        let (status, log) = control(&sandbox, Method::GET, "/plaid/webhook_deliveries", None).await;
        assert_eq!(status, StatusCode::OK);
        (log.as_array().unwrap().len() == 8).then_some(log)
    })
    .await;
    let log = log.as_array().unwrap();
    assert!(
        log.iter()
            .all(|d| d["status"] == 200 && d["error"].is_null()),
        "{log:?}"
    );
    let to_other = log
        .iter()
        .filter(|d| d["url"] == other.url.as_str())
        .count();
    assert_eq!(to_other, 2);
    assert!(
        other.try_next().is_none(),
        "the cleared duplicate rule still applied"
    );
    let (status, _) = control(&sandbox, Method::DELETE, "/plaid/webhook_deliveries", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(sandbox.control.webhook_deliveries().is_empty());
}

#[tokio::test]
async fn a_configured_url_that_is_not_http_refuses_to_start() {
    for bad in ["nope", "ftp://example.com/hooks"] {
        let started = funding_sandbox::spawn(SandboxConfig {
            plaid_webhook_url: Some(bad.to_owned()),
            ..SandboxConfig::ephemeral()
        })
        .await;
        match started {
            Err(funding_sandbox::SandboxError::Setup(message)) => {
                assert!(message.contains("plaid_webhook_url"), "{message}");
            }
            other => panic!("{bad} was accepted: {other:?}"),
        }
    }
    let sandbox = with_webhook("http://127.0.0.1:9/hooks").await;
    assert_eq!(
        sandbox.control.plaid_webhook_url().as_deref(),
        Some("http://127.0.0.1:9/hooks")
    );
}
