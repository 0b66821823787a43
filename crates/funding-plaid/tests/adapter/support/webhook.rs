//! The webhook tests' Plaid: a P-256 key pair that signs as Plaid signs ([`Signer`]), a fake key
//! endpoint that serves, expires, fails or delays keys and counts its fetches ([`FakeKeys`]), a
//! clock the tests move, and a verifier wired to all three ([`Setup`]).

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
use funding_domain::{BankTransferRequest, PlaidBankTransferId};
use funding_plaid::{WebhookRejection, WebhookVerifier, WebhookVerifierConfig};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub const KID: &str = "bfbd5111-8e33-4643-8ced-b2e642a72f3c";

/// A webhook body as Plaid sends it: pretty-printed with two-space indentation.
pub const BODY: &[u8] = b"{\n  \"environment\": \"sandbox\",\n  \"webhook_code\": \"BANK_TRANSFERS_EVENTS_UPDATE\",\n  \"webhook_type\": \"BANK_TRANSFERS\"\n}";

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 10, 12, 0, 0).unwrap()
}

/// A clock the tests move.
pub struct TestClock(Mutex<DateTime<Utc>>);

impl TestClock {
    pub fn new() -> Arc<Self> {
        Arc::new(Self(Mutex::new(start())))
    }

    pub fn advance(&self, by: TimeDelta) {
        *self.0.lock().unwrap() += by;
    }

    pub fn unix(&self) -> i64 {
        self.now().timestamp()
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

/// A P-256 key pair, as Plaid holds one.
pub struct Signer {
    pkcs8: Vec<u8>,
    /// `0x04 || x || y`.
    pub point: Vec<u8>,
}

impl Signer {
    pub fn generate() -> Self {
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

    pub fn x(&self) -> String {
        URL_SAFE_NO_PAD.encode(&self.point[1..33])
    }

    pub fn y(&self) -> String {
        URL_SAFE_NO_PAD.encode(&self.point[33..65])
    }

    /// The JWK `/webhook_verification_key/get` answers for this key.
    pub fn jwk(&self, kid: &str) -> WebhookVerificationKey {
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

    pub fn jwk_json(&self, kid: &str) -> Value {
        json!({
            "alg": "ES256", "crv": "P-256", "kid": kid, "kty": "EC", "use": "sig",
            "x": self.x(), "y": self.y(), "created_at": start().timestamp() - 86_400,
            "expired_at": null
        })
    }

    /// A `Plaid-Verification` value for `body`, issued at `iat`.
    pub fn sign(&self, kid: &str, iat: i64, body: &[u8]) -> String {
        self.sign_claims(kid, &claims(iat, body))
    }

    pub fn sign_claims(&self, kid: &str, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(kid.into());
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_ec_der(&self.pkcs8)).unwrap()
    }
}

pub fn claims(iat: i64, body: &[u8]) -> Value {
    json!({"iat": iat, "request_body_sha256": hex::encode(Sha256::digest(body))})
}

pub fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// Plaid's key endpoint, faked: serves the keys it was given, counts fetches, and can fail or
/// be slow on demand.
#[derive(Default)]
pub struct FakeKeys {
    pub keys: Mutex<HashMap<String, WebhookVerificationKey>>,
    failure: Mutex<Option<ProviderError>>,
    pub delay: Mutex<Option<Duration>>,
    fetches: AtomicUsize,
}

impl FakeKeys {
    pub fn serve(&self, key: WebhookVerificationKey) {
        self.keys.lock().unwrap().insert(key.kid.clone(), key);
    }

    pub fn expire(&self, kid: &str, at: i64) {
        self.keys.lock().unwrap().get_mut(kid).unwrap().expired_at = Some(at);
    }

    pub fn fail_with(&self, error: Option<ProviderError>) {
        *self.failure.lock().unwrap() = error;
    }

    pub fn fetches(&self) -> usize {
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
        _: &PlaidBankTransferId,
    ) -> Result<PlaidBankTransfer, ProviderError> {
        Err(not_faked())
    }
    async fn cancel_bank_transfer(&self, _: &PlaidBankTransferId) -> Result<(), ProviderError> {
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
    async fn processor_balance(
        &self,
        _: &funding_domain::ProcessorToken,
    ) -> Result<funding_core::ports::AccountBalance, ProviderError> {
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
pub struct Setup {
    pub signer: Signer,
    pub keys: Arc<FakeKeys>,
    pub clock: Arc<TestClock>,
    pub verifier: WebhookVerifier,
}

impl Setup {
    pub fn new() -> Self {
        Self::with_config(WebhookVerifierConfig::default())
    }

    pub fn with_config(config: WebhookVerifierConfig) -> Self {
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
    pub fn genuine(&self) -> String {
        self.signer.sign(KID, self.clock.unix(), BODY)
    }

    pub async fn verify(&self, token: &str, body: &[u8]) -> Result<(), WebhookRejection> {
        self.verifier.verify(Some(token), body).await
    }
}
