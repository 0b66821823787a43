//! What a token must be to pass: a genuine webhook passes; another key under the same kid, a token
//! re-signed with HS256 using the public key, `alg: none` and every other algorithm are refused
//! (the algorithm before any key is fetched).

use funding_plaid::WebhookRejection;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

use crate::support::webhook::{BODY, KID, Setup, Signer, b64, claims};

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
