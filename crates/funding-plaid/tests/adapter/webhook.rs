//! The webhook verifier against real P-256 keys generated here (aws-lc-rs), signed the way Plaid
//! signs (ES256 JWT in `Plaid-Verification`, `iat` and `request_body_sha256` claims), its key
//! served by a fake [`BankTransferGateway`] or by wiremock through a real `PlaidClient`: what
//! passes, every forgery and what each is refused as, and how keys are cached.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use funding_core::ports::{
    BankTransferBalance, BankTransferGateway, Clock, PlaidBankTransfer, PlaidBankTransferEvent,
    PlaidBankTransferEventFilter, PlaidBankTransferListFilter, Provider, ProviderError,
    ProviderErrorKind, WebhookVerificationKey,
};
use funding_domain::{BankTransferId, BankTransferRequest};
use funding_plaid::{WebhookRejection, WebhookVerifier, WebhookVerifierConfig};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use wiremock::ResponseTemplate;
use wiremock::matchers::{body_json, method, path};

use crate::fixtures::plaid_error;
use crate::support::*;

const KID: &str = "bfbd5111-8e33-4643-8ced-b2e642a72f3c";

/// A webhook body as Plaid sends it: pretty-printed with two-space indentation.
const BODY: &[u8] = b"{\n  \"environment\": \"sandbox\",\n  \"webhook_code\": \"BANK_TRANSFERS_EVENTS_UPDATE\",\n  \"webhook_type\": \"BANK_TRANSFERS\"\n}";

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 10, 12, 0, 0).unwrap()
}

/// A clock the tests move.
struct TestClock(Mutex<DateTime<Utc>>);

impl TestClock {
    fn new() -> Arc<Self> {
        Arc::new(Self(Mutex::new(start())))
    }

    fn advance(&self, by: TimeDelta) {
        *self.0.lock().unwrap() += by;
    }

    fn unix(&self) -> i64 {
        self.now().timestamp()
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

/// A P-256 key pair, as Plaid holds one.
struct Signer {
    pkcs8: Vec<u8>,
    /// `0x04 || x || y`.
    point: Vec<u8>,
}

impl Signer {
    fn generate() -> Self {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
        let point = pair.public_key().as_ref().to_vec();
        assert_eq!(point.len(), 65);
        assert_eq!(point[0], 0x04);
        Self {
            pkcs8: pkcs8.as_ref().to_vec(),
            point,
        }
    }

    fn x(&self) -> String {
        URL_SAFE_NO_PAD.encode(&self.point[1..33])
    }

    fn y(&self) -> String {
        URL_SAFE_NO_PAD.encode(&self.point[33..65])
    }

    /// The JWK `/webhook_verification_key/get` answers for this key.
    fn jwk(&self, kid: &str) -> WebhookVerificationKey {
        WebhookVerificationKey {
            alg: "ES256".into(),
            crv: "P-256".into(),
            kid: kid.into(),
            kty: "EC".into(),
            key_use: "sig".into(),
            x: self.x(),
            y: self.y(),
            created_at: start().timestamp() - 86_400,
            expired_at: None,
        }
    }

    fn jwk_json(&self, kid: &str) -> Value {
        json!({
            "alg": "ES256", "crv": "P-256", "kid": kid, "kty": "EC", "use": "sig",
            "x": self.x(), "y": self.y(), "created_at": start().timestamp() - 86_400,
            "expired_at": null
        })
    }

    /// A `Plaid-Verification` value for `body`, issued at `iat`.
    fn sign(&self, kid: &str, iat: i64, body: &[u8]) -> String {
        self.sign_claims(kid, &claims(iat, body))
    }

    fn sign_claims(&self, kid: &str, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(kid.into());
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_ec_der(&self.pkcs8)).unwrap()
    }
}

fn claims(iat: i64, body: &[u8]) -> Value {
    json!({"iat": iat, "request_body_sha256": hex::encode(Sha256::digest(body))})
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// Plaid's key endpoint, faked: serves the keys it was given, counts fetches, and can fail or
/// be slow on demand.
#[derive(Default)]
struct FakeKeys {
    keys: Mutex<HashMap<String, WebhookVerificationKey>>,
    failure: Mutex<Option<ProviderError>>,
    delay: Mutex<Option<Duration>>,
    fetches: AtomicUsize,
}

impl FakeKeys {
    fn serve(&self, key: WebhookVerificationKey) {
        self.keys.lock().unwrap().insert(key.kid.clone(), key);
    }

    fn expire(&self, kid: &str, at: i64) {
        self.keys.lock().unwrap().get_mut(kid).unwrap().expired_at = Some(at);
    }

    fn fail_with(&self, error: Option<ProviderError>) {
        *self.failure.lock().unwrap() = error;
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

fn not_faked() -> ProviderError {
    ProviderError::new(
        Provider::Plaid,
        ProviderErrorKind::InvalidRequest,
        "NOT_FAKED",
        "not part of the fake",
    )
}

#[async_trait]
impl BankTransferGateway for FakeKeys {
    async fn create_bank_transfer(
        &self,
        _: &BankTransferRequest,
    ) -> Result<PlaidBankTransfer, ProviderError> {
        Err(not_faked())
    }
    async fn get_bank_transfer(
        &self,
        _: &BankTransferId,
    ) -> Result<PlaidBankTransfer, ProviderError> {
        Err(not_faked())
    }
    async fn cancel_bank_transfer(&self, _: &BankTransferId) -> Result<(), ProviderError> {
        Err(not_faked())
    }
    async fn list_bank_transfers(
        &self,
        _: &PlaidBankTransferListFilter,
    ) -> Result<Vec<PlaidBankTransfer>, ProviderError> {
        Err(not_faked())
    }
    async fn list_bank_transfer_events(
        &self,
        _: &PlaidBankTransferEventFilter,
    ) -> Result<Vec<PlaidBankTransferEvent>, ProviderError> {
        Err(not_faked())
    }
    async fn sync_bank_transfer_events(
        &self,
        _: u64,
        _: u8,
    ) -> Result<Vec<funding_core::ports::SyncedPlaidEvent>, ProviderError> {
        Err(not_faked())
    }
    async fn bank_transfer_balance(
        &self,
        _: Option<&str>,
    ) -> Result<BankTransferBalance, ProviderError> {
        Err(not_faked())
    }
    async fn webhook_verification_key(
        &self,
        key_id: &str,
    ) -> Result<WebhookVerificationKey, ProviderError> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        let delay = *self.delay.lock().unwrap();
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        if let Some(error) = self.failure.lock().unwrap().clone() {
            return Err(error);
        }
        self.keys
            .lock()
            .unwrap()
            .get(key_id)
            .cloned()
            .ok_or_else(|| {
                let mut error = ProviderError::new(
                    Provider::Plaid,
                    ProviderErrorKind::InvalidInput,
                    "INVALID_WEBHOOK_VERIFICATION_KEY_ID",
                    "INVALID_INPUT: invalid key_id provided",
                );
                error.http_status = Some(400);
                error
            })
    }
}

/// Plaid's signing key under [`KID`], its key endpoint, a clock, and a verifier.
struct Setup {
    signer: Signer,
    keys: Arc<FakeKeys>,
    clock: Arc<TestClock>,
    verifier: WebhookVerifier,
}

impl Setup {
    fn new() -> Self {
        Self::with_config(WebhookVerifierConfig::default())
    }

    fn with_config(config: WebhookVerifierConfig) -> Self {
        let signer = Signer::generate();
        let keys = Arc::new(FakeKeys::default());
        keys.serve(signer.jwk(KID));
        let clock = TestClock::new();
        let verifier = WebhookVerifier::with_config(keys.clone(), clock.clone(), config);
        Self {
            signer,
            keys,
            clock,
            verifier,
        }
    }

    /// A genuine webhook's header, issued now.
    fn genuine(&self) -> String {
        self.signer.sign(KID, self.clock.unix(), BODY)
    }

    async fn verify(&self, token: &str, body: &[u8]) -> Result<(), WebhookRejection> {
        self.verifier.verify(Some(token), body).await
    }
}

#[tokio::test]
async fn a_genuine_webhook_passes() {
    let setup = Setup::new();

    setup.verify(&setup.genuine(), BODY).await.unwrap();

    assert_eq!(setup.keys.fetches(), 1);
}

#[tokio::test]
async fn a_webhook_signed_by_another_key_under_the_same_kid_is_a_bad_signature() {
    let setup = Setup::new();
    let forger = Signer::generate();

    let forged = forger.sign(KID, setup.clock.unix(), BODY);

    assert_eq!(
        setup.verify(&forged, BODY).await,
        Err(WebhookRejection::BadSignature)
    );
}

#[tokio::test]
async fn a_token_re_signed_with_hs256_using_the_public_key_as_secret_is_refused() {
    let setup = Setup::new();
    let payload = claims(setup.clock.unix(), BODY);
    let jwk_text = setup.signer.jwk_json(KID).to_string();
    let x = setup.signer.x();
    let secrets: [&[u8]; 4] = [
        &setup.signer.point,
        &setup.signer.point[1..],
        x.as_bytes(),
        jwk_text.as_bytes(),
    ];
    for secret in secrets {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(KID.into());
        let token = jsonwebtoken::encode(
            &header,
            &payload,
            &EncodingKey::from_secret(secret).unwrap(),
        )
        .unwrap();
        assert_eq!(
            setup.verify(&token, BODY).await,
            Err(WebhookRejection::WrongAlgorithm)
        );

        // The same HMAC under a header that claims ES256 does not verify either.
        let message = format!(
            "{}.{}",
            b64(&json!({"alg": "ES256", "kid": KID, "typ": "JWT"})),
            b64(&payload)
        );
        let hmac = jsonwebtoken::crypto::sign(
            message.as_bytes(),
            &EncodingKey::from_secret(secret).unwrap(),
            Algorithm::HS256,
        )
        .unwrap();
        assert_eq!(
            setup.verify(&format!("{message}.{hmac}"), BODY).await,
            Err(WebhookRejection::BadSignature)
        );
    }
}

#[tokio::test]
async fn alg_none_and_every_other_algorithm_are_refused_before_a_key_is_fetched() {
    let setup = Setup::new();
    let payload = b64(&claims(setup.clock.unix(), BODY));
    let genuine_signature = setup.genuine().rsplit('.').next().unwrap().to_owned();
    for alg in [
        json!("none"),
        json!("None"),
        json!("NONE"),
        json!("HS256"),
        json!("RS256"),
        json!("ES384"),
        json!("PS256"),
        json!("es256"),
        json!("ES256 "),
        json!(null),
        json!(["ES256"]),
    ] {
        let header = b64(&json!({"alg": alg, "kid": KID, "typ": "JWT"}));
        for signature in ["", genuine_signature.as_str()] {
            let token = format!("{header}.{payload}.{signature}");
            assert_eq!(
                setup.verify(&token, BODY).await,
                Err(WebhookRejection::WrongAlgorithm),
                "alg {alg}, signature {signature:?}"
            );
        }
    }
    assert_eq!(setup.keys.fetches(), 0);
}

#[tokio::test]
async fn a_token_issued_four_minutes_ago_passes_and_six_minutes_ago_is_stale() {
    let setup = Setup::new();
    let now = setup.clock.unix();

    for (age, expected) in [
        (4 * 60, Ok(())),
        (5 * 60, Ok(())),
        (5 * 60 + 1, Err(WebhookRejection::Stale)),
        (6 * 60, Err(WebhookRejection::Stale)),
        (86_400, Err(WebhookRejection::Stale)),
    ] {
        let token = setup.signer.sign(KID, now - age, BODY);
        assert_eq!(setup.verify(&token, BODY).await, expected, "{age} s old");
    }
}

#[tokio::test]
async fn a_token_issued_in_the_future_passes_only_within_the_clock_skew() {
    let setup = Setup::new();
    let now = setup.clock.unix();

    for (ahead, expected) in [
        (20, Ok(())),
        (30, Ok(())),
        (31, Err(WebhookRejection::IssuedInFuture)),
        (5 * 60, Err(WebhookRejection::IssuedInFuture)),
    ] {
        let token = setup.signer.sign(KID, now + ahead, BODY);
        assert_eq!(
            setup.verify(&token, BODY).await,
            expected,
            "{ahead} s ahead"
        );
    }
}

#[tokio::test]
async fn a_body_altered_by_a_single_byte_even_whitespace_is_refused() {
    let setup = Setup::new();
    let token = setup.genuine();
    let compact = serde_json::to_vec(&serde_json::from_slice::<Value>(BODY).unwrap()).unwrap();
    let mut one_byte = BODY.to_vec();
    one_byte[BODY.len() - 3] = b'Z';
    let mut extra_space = BODY.to_vec();
    extra_space.insert(2, b' ');
    let mut trailing_newline = BODY.to_vec();
    trailing_newline.push(b'\n');

    for (what, body) in [
        ("one byte changed", one_byte.as_slice()),
        ("one space added", extra_space.as_slice()),
        ("a trailing newline", trailing_newline.as_slice()),
        ("the same JSON, compact", compact.as_slice()),
        ("no body", b"".as_slice()),
    ] {
        assert_eq!(
            setup.verify(&token, body).await,
            Err(WebhookRejection::BodyMismatch),
            "{what}"
        );
    }
    setup.verify(&token, BODY).await.unwrap();
}

#[tokio::test]
async fn a_hash_claim_in_upper_case_or_of_another_body_is_refused() {
    let setup = Setup::new();
    let upper = hex::encode_upper(Sha256::digest(BODY));
    for hash in [upper.as_str(), "", "00"] {
        let token = setup.signer.sign_claims(
            KID,
            &json!({"iat": setup.clock.unix(), "request_body_sha256": hash}),
        );
        assert_eq!(
            setup.verify(&token, BODY).await,
            Err(WebhookRejection::BodyMismatch),
            "{hash:?}"
        );
    }
}

#[tokio::test]
async fn an_expired_key_is_refused() {
    let setup = Setup::new();
    setup.keys.expire(KID, setup.clock.unix() - 60);

    assert_eq!(
        setup.verify(&setup.genuine(), BODY).await,
        Err(WebhookRejection::ExpiredKey)
    );
}

#[tokio::test]
async fn a_key_cached_while_valid_is_refused_once_it_is_learned_expired() {
    let setup = Setup::new();
    setup.verify(&setup.genuine(), BODY).await.unwrap();
    assert_eq!(setup.keys.fetches(), 1);

    // Plaid expires the key. Until the cached copy is due for a refresh, it is what the verifier
    // knows (at most `key_refresh_after`, 5 minutes).
    setup.keys.expire(KID, setup.clock.unix());
    setup.clock.advance(TimeDelta::minutes(4));
    setup.verify(&setup.genuine(), BODY).await.unwrap();
    assert_eq!(setup.keys.fetches(), 1);

    // Once it is, the expiry is learned, and every later webhook is refused, cached or not.
    setup.clock.advance(TimeDelta::minutes(2));
    assert_eq!(
        setup.verify(&setup.genuine(), BODY).await,
        Err(WebhookRejection::ExpiredKey)
    );
    assert_eq!(setup.keys.fetches(), 2);
    setup.clock.advance(TimeDelta::seconds(10));
    assert_eq!(
        setup.verify(&setup.genuine(), BODY).await,
        Err(WebhookRejection::ExpiredKey)
    );
    assert_eq!(setup.keys.fetches(), 2);
}

#[tokio::test]
async fn an_unknown_kid_is_refused_and_remembered_for_a_while() {
    let setup = Setup::new();
    let token = setup
        .signer
        .sign("0d4f0b6e-unknown-kid", setup.clock.unix(), BODY);

    assert_eq!(
        setup.verify(&token, BODY).await,
        Err(WebhookRejection::UnknownKey)
    );
    assert_eq!(
        setup.verify(&token, BODY).await,
        Err(WebhookRejection::UnknownKey)
    );
    assert_eq!(setup.keys.fetches(), 1, "remembered as unknown");

    setup.clock.advance(TimeDelta::minutes(2));
    let token = setup
        .signer
        .sign("0d4f0b6e-unknown-kid", setup.clock.unix(), BODY);
    assert_eq!(
        setup.verify(&token, BODY).await,
        Err(WebhookRejection::UnknownKey)
    );
    assert_eq!(setup.keys.fetches(), 2, "asked again after unknown_key_ttl");
}

#[tokio::test]
async fn a_kid_that_turns_up_after_being_unknown_is_used_once_plaid_is_asked_again() {
    let setup = Setup::new();
    let rotated = Signer::generate();
    let token = rotated.sign("new-kid", setup.clock.unix(), BODY);
    assert_eq!(
        setup.verify(&token, BODY).await,
        Err(WebhookRejection::UnknownKey)
    );

    setup.keys.serve(rotated.jwk("new-kid"));
    setup.clock.advance(TimeDelta::seconds(61));

    let token = rotated.sign("new-kid", setup.clock.unix(), BODY);
    setup.verify(&token, BODY).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_is_fetched_once_for_many_webhooks() {
    let setup = Arc::new(Setup::new());

    for _ in 0..20 {
        setup.verify(&setup.genuine(), BODY).await.unwrap();
    }
    assert_eq!(setup.keys.fetches(), 1);

    // Concurrent first webhooks of a new key wait for one fetch.
    let rotated = Signer::generate();
    setup.keys.serve(rotated.jwk("rotated-kid"));
    *setup.keys.delay.lock().unwrap() = Some(Duration::from_millis(50));
    let token = rotated.sign("rotated-kid", setup.clock.unix(), BODY);
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let setup = setup.clone();
            let token = token.clone();
            tokio::spawn(async move { setup.verify(&token, BODY).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(setup.keys.fetches(), 2);
}

#[tokio::test]
async fn a_missing_or_empty_header_is_missing() {
    let setup = Setup::new();
    for header in [None, Some(""), Some("   ")] {
        assert_eq!(
            setup.verifier.verify(header, BODY).await,
            Err(WebhookRejection::MissingHeader),
            "{header:?}"
        );
    }
}

#[tokio::test]
async fn a_header_that_is_not_a_usable_jwt_is_malformed_and_costs_no_key_fetch() {
    let setup = Setup::new();
    let payload = b64(&claims(setup.clock.unix(), BODY));
    let with_header = |header: Value| format!("{}.{payload}.c2ln", b64(&header));
    let cases = [
        "not-a-jwt".to_owned(),
        "a.b".to_owned(),
        "a.b.c.d".to_owned(),
        format!("!!!.{payload}.c2ln"),
        format!("{}.{payload}.c2ln", URL_SAFE_NO_PAD.encode("not json")),
        with_header(json!({"kid": KID})),
        with_header(json!({"alg": "ES256"})),
        with_header(json!({"alg": "ES256", "kid": 7})),
        with_header(json!({"alg": "ES256", "kid": ""})),
        with_header(json!({"alg": "ES256", "kid": "has space"})),
        with_header(json!({"alg": "ES256", "kid": "k".repeat(129)})),
        format!("{}.{payload}.", b64(&json!({"alg": "ES256", "kid": KID}))),
        format!("{}.{payload}.c2ln", "e".repeat(9000)),
    ];
    for token in &cases {
        assert!(
            matches!(
                setup.verify(token, BODY).await,
                Err(WebhookRejection::Malformed(_))
            ),
            "{token}"
        );
    }
    assert_eq!(setup.keys.fetches(), 0);
}

#[tokio::test]
async fn signed_claims_without_iat_or_hash_are_malformed() {
    let setup = Setup::new();
    let hash = hex::encode(Sha256::digest(BODY));
    for claims in [
        json!({"request_body_sha256": hash}),
        json!({"iat": setup.clock.unix()}),
        json!({"iat": "now", "request_body_sha256": hash}),
        json!({"iat": setup.clock.unix(), "request_body_sha256": 5}),
    ] {
        let token = setup.signer.sign_claims(KID, &claims);
        assert!(
            matches!(
                setup.verify(&token, BODY).await,
                Err(WebhookRejection::Malformed(_))
            ),
            "{claims}"
        );
    }
}

#[tokio::test]
async fn a_token_with_an_exp_in_the_past_still_passes_since_plaid_sets_none() {
    // `exp` is not Plaid's; `iat` is what bounds a token's life.
    let setup = Setup::new();
    let mut claims = claims(setup.clock.unix(), BODY);
    claims["exp"] = json!(1);
    let token = setup.signer.sign_claims(KID, &claims);

    setup.verify(&token, BODY).await.unwrap();
}

#[tokio::test]
async fn a_key_that_is_not_an_es256_p256_signing_key_is_refused() {
    let signer = Signer::generate();
    type Change = fn(&mut WebhookVerificationKey);
    let changes: [(&str, Change); 6] = [
        ("kty RSA", |key| key.kty = "RSA".into()),
        ("crv P-384", |key| key.crv = "P-384".into()),
        ("alg ES384", |key| key.alg = "ES384".into()),
        ("use enc", |key| key.key_use = "enc".into()),
        ("short x", |key| key.x.truncate(20)),
        ("padded y", |key| key.y.push('=')),
    ];
    for (what, change) in changes {
        let keys = Arc::new(FakeKeys::default());
        let mut key = signer.jwk(KID);
        change(&mut key);
        keys.serve(key);
        let clock = TestClock::new();
        let verifier = WebhookVerifier::new(keys, clock.clone());

        let token = signer.sign(KID, clock.unix(), BODY);

        assert_eq!(
            verifier.verify(Some(&token), BODY).await,
            Err(WebhookRejection::UnsupportedKey),
            "{what}"
        );
    }
}

#[tokio::test]
async fn a_failed_key_fetch_says_whether_it_is_transient_and_is_not_cached() {
    let setup = Setup::new();
    let mut down = ProviderError::new(
        Provider::Plaid,
        ProviderErrorKind::Unavailable,
        "INTERNAL_SERVER_ERROR",
        "API_ERROR: an unexpected error occurred",
    );
    down.http_status = Some(500);
    setup.keys.fail_with(Some(down.clone()));

    let rejection = setup.verify(&setup.genuine(), BODY).await.unwrap_err();
    assert_eq!(rejection, WebhookRejection::KeyFetchFailed(down));
    assert!(rejection.is_transient());
    assert_eq!(rejection.as_str(), "key_fetch_failed");

    let refused = ProviderError::new(
        Provider::Plaid,
        ProviderErrorKind::Unauthorized,
        "INVALID_API_KEYS",
        "INVALID_INPUT: invalid client_id or secret provided",
    );
    setup.keys.fail_with(Some(refused));
    let rejection = setup.verify(&setup.genuine(), BODY).await.unwrap_err();
    assert!(matches!(rejection, WebhookRejection::KeyFetchFailed(_)));
    assert!(!rejection.is_transient());

    // Plaid is back: the next webhook fetches the key and passes.
    setup.keys.fail_with(None);
    setup.verify(&setup.genuine(), BODY).await.unwrap();
    assert_eq!(setup.keys.fetches(), 3);
    for other in [
        WebhookRejection::BadSignature,
        WebhookRejection::UnknownKey,
        WebhookRejection::Stale,
    ] {
        assert!(!other.is_transient());
    }
}

#[tokio::test]
async fn a_key_fetch_that_takes_too_long_is_a_transient_failure() {
    let setup = Setup::with_config(WebhookVerifierConfig {
        key_fetch_timeout: Duration::from_millis(100),
        ..WebhookVerifierConfig::default()
    });
    *setup.keys.delay.lock().unwrap() = Some(Duration::from_secs(5));

    let rejection = setup.verify(&setup.genuine(), BODY).await.unwrap_err();

    match &rejection {
        WebhookRejection::KeyFetchFailed(error) => {
            assert_eq!(error.kind, ProviderErrorKind::Transport);
            assert_eq!(error.code, "TIMEOUT");
        }
        other => panic!("expected a key fetch failure, got {other:?}"),
    }
    assert!(rejection.is_transient());
}

#[tokio::test]
async fn a_key_answered_under_another_kid_is_not_used() {
    let setup = Setup::new();
    let wrong = setup.signer.jwk("some-other-kid");
    setup.keys.keys.lock().unwrap().insert(KID.into(), wrong);

    let rejection = setup.verify(&setup.genuine(), BODY).await.unwrap_err();

    assert!(matches!(rejection, WebhookRejection::KeyFetchFailed(_)));
    assert!(!rejection.is_transient());
}

#[tokio::test]
async fn the_cache_holds_at_most_32_kids_and_evicts_the_oldest() {
    let setup = Setup::new();
    let kids: Vec<String> = (0..33).map(|n| format!("kid-{n}")).collect();
    for kid in &kids {
        setup.keys.serve(setup.signer.jwk(kid));
    }
    for kid in &kids {
        let token = setup.signer.sign(kid, setup.clock.unix(), BODY);
        setup.verify(&token, BODY).await.unwrap();
        setup.clock.advance(TimeDelta::seconds(1));
    }
    assert_eq!(setup.keys.fetches(), 33);
    assert!(format!("{:?}", setup.verifier).contains("cached_keys: 32"));

    // The newest is still cached; the oldest was evicted and is fetched again.
    let token = setup.signer.sign(&kids[32], setup.clock.unix(), BODY);
    setup.verify(&token, BODY).await.unwrap();
    assert_eq!(setup.keys.fetches(), 33);
    let token = setup.signer.sign(&kids[0], setup.clock.unix(), BODY);
    setup.verify(&token, BODY).await.unwrap();
    assert_eq!(setup.keys.fetches(), 34);
}

#[tokio::test]
async fn a_flood_of_made_up_kids_does_not_evict_plaids_key() {
    let setup = Setup::new();
    setup.verify(&setup.genuine(), BODY).await.unwrap();

    for n in 0..100 {
        setup.clock.advance(TimeDelta::milliseconds(100));
        let token = setup
            .signer
            .sign(&format!("made-up-{n}"), setup.clock.unix(), BODY);
        assert_eq!(
            setup.verify(&token, BODY).await,
            Err(WebhookRejection::UnknownKey)
        );
    }
    let fetches = setup.keys.fetches();

    setup.verify(&setup.genuine(), BODY).await.unwrap();
    assert_eq!(setup.keys.fetches(), fetches, "Plaid's key is still cached");
}

#[tokio::test]
async fn a_clock_that_goes_backwards_makes_the_cached_key_fetched_again() {
    let setup = Setup::new();
    setup.verify(&setup.genuine(), BODY).await.unwrap();

    setup.clock.advance(TimeDelta::minutes(-1));
    setup.verify(&setup.genuine(), BODY).await.unwrap();

    assert_eq!(setup.keys.fetches(), 2);
}

/// The verifier on a real `PlaidClient`, its key served by a fake Plaid.
mod through_plaid {
    use super::*;

    async fn setup() -> (
        wiremock::MockServer,
        Signer,
        Arc<TestClock>,
        WebhookVerifier,
    ) {
        let (server, client) = plaid().await;
        let signer = Signer::generate();
        let clock = TestClock::new();
        let verifier = WebhookVerifier::new(Arc::new(client), clock.clone());
        (server, signer, clock, verifier)
    }

    #[tokio::test]
    async fn a_genuine_webhook_passes_with_the_key_plaid_serves() {
        let (server, signer, clock, verifier) = setup().await;
        wiremock::Mock::given(method("POST"))
            .and(path("/webhook_verification_key/get"))
            .and(body_json(json!({"key_id": KID})))
            .respond_with(ok(
                json!({"key": signer.jwk_json(KID), "request_id": "RZ6Omi1bzzwDaLo"}),
            ))
            .mount(&server)
            .await;

        for _ in 0..5 {
            let token = signer.sign(KID, clock.unix(), BODY);
            verifier.verify(Some(&token), BODY).await.unwrap();
        }

        let requests = received(&server, "/webhook_verification_key/get").await;
        assert_eq!(requests.len(), 1);
        assert_plaid_headers(&requests[0]);
        assert_eq!(body(&requests[0]), json!({"key_id": KID}));
    }

    #[tokio::test]
    async fn a_kid_plaid_does_not_know_is_an_unknown_key() {
        let (server, signer, clock, verifier) = setup().await;
        on(
            "/webhook_verification_key/get",
            ResponseTemplate::new(400).set_body_json(plaid_error(
                "INVALID_INPUT",
                "INVALID_WEBHOOK_VERIFICATION_KEY_ID",
                "invalid key_id provided",
                "req-kid",
            )),
        )
        .mount(&server)
        .await;

        let token = signer.sign(KID, clock.unix(), BODY);

        assert_eq!(
            verifier.verify(Some(&token), BODY).await,
            Err(WebhookRejection::UnknownKey)
        );
        assert_eq!(
            received(&server, "/webhook_verification_key/get")
                .await
                .len(),
            1
        );
    }

    #[tokio::test]
    async fn plaid_failing_to_serve_the_key_is_a_transient_rejection() {
        let (server, signer, clock, verifier) = setup().await;
        on(
            "/webhook_verification_key/get",
            ResponseTemplate::new(500).set_body_json(plaid_error(
                "API_ERROR",
                "INTERNAL_SERVER_ERROR",
                "an unexpected error occurred",
                "req-500",
            )),
        )
        .mount(&server)
        .await;

        let token = signer.sign(KID, clock.unix(), BODY);
        let rejection = verifier.verify(Some(&token), BODY).await.unwrap_err();

        assert!(rejection.is_transient(), "{rejection:?}");
        assert_eq!(
            received(&server, "/webhook_verification_key/get")
                .await
                .len(),
            MAX_ATTEMPTS as usize,
            "a read: retried"
        );
    }
}
