//! Plaid tokens at rest: they come back as they went in, the database holds only ciphertext bound to
//! its row and column, and a wrong key or a moved ciphertext reads as `Corrupt` without leaking.

use funding_core::ports::{BankLinkStore as _, LinkSecretStore as _, StoreError};
use funding_domain::{AccessToken, BankLinkId, PlaidItemId, ProcessorToken};
use sea_orm::sea_query::{Expr, ExprTrait as _, Query};
use sea_orm::{ConnectionTrait as _, DatabaseConnection};

use crate::support::{
    Backend, PUBLIC_TOKEN, TestDb, account, claim_for, claim_link, contains, created_link,
    raw_bytes,
};

const ACCESS: &str = "access-sandbox-de3ce8ef-33f8-452c-a685-8671031fc0f6";
const PROCESSOR: &str = "processor-sandbox-0asd1-a92nc-5f3e4d9b1a7c";

fn access() -> AccessToken {
    AccessToken::parse(ACCESS).unwrap()
}

fn processor() -> ProcessorToken {
    ProcessorToken::parse(PROCESSOR).unwrap()
}

fn item() -> PlaidItemId {
    PlaidItemId::parse("Ed6bjNrDLJfGvZWwnkQlfxwoNz54B5C97ejBr").unwrap()
}

async fn set_raw(db: &DatabaseConnection, link: BankLinkId, column: &'static str, value: Vec<u8>) {
    let update = Query::update()
        .table("bank_links")
        .value(column, value)
        .and_where(Expr::col("id").eq(link.as_uuid()))
        .to_owned();
    db.execute(&update).await.expect("tamper");
}

async fn tokens_come_back_as_they_were_saved(db: &TestDb) {
    let store = db.store().await;
    let link = created_link(&store, account(), "k").await;
    let secrets = store.link_secrets(link.id).await.unwrap();
    assert!(secrets.access_token.is_none() && secrets.processor_token.is_none());
    assert_eq!(
        secrets.public_token.as_ref().map(|t| t.expose_secret()),
        Some(PUBLIC_TOKEN),
        "the public token waits, sealed, to be exchanged"
    );
    let fence = claim_link(&store, link.id).await;

    store
        .save_exchange(&fence, link.id, &access(), &item())
        .await
        .unwrap();
    store
        .save_processor_token(&fence, link.id, &processor())
        .await
        .unwrap();

    let secrets = store.link_secrets(link.id).await.unwrap();
    assert!(secrets.public_token.is_none(), "the exchange forgets it");
    assert_eq!(secrets.access_token, Some(access()));
    assert_eq!(secrets.processor_token, Some(processor()));
    let stored = store.get_link(link.id).await.unwrap().unwrap();
    assert_eq!(stored.plaid_item_id, Some(item()));
}

async fn tokens_are_not_stored_in_plaintext(db: &TestDb) {
    let store = db.store().await;
    let link = created_link(&store, account(), "k").await;
    let fence = claim_link(&store, link.id).await;
    store
        .save_exchange(&fence, link.id, &access(), &item())
        .await
        .unwrap();
    store
        .save_processor_token(&fence, link.id, &processor())
        .await
        .unwrap();

    let raw = db.raw().await;
    for (column, token) in [("access_token", ACCESS), ("processor_token", PROCESSOR)] {
        let sealed = raw_bytes(&raw, link.id, column)
            .await
            .expect("a ciphertext");
        assert!(
            !contains(&sealed, token.as_bytes()),
            "{column} is plaintext"
        );
        assert_eq!(
            sealed.len(),
            2 + 8 + 24 + token.len() + 16,
            "version, key id length, key id, nonce, text, tag"
        );
    }

    match db.backend {
        Backend::Sqlite => {
            let mut bytes = Vec::new();
            for file in db.sqlite_files() {
                if let Ok(content) = std::fs::read(&file) {
                    bytes.extend(content);
                }
            }
            assert!(
                contains(&bytes, item().as_str().as_bytes()),
                "the search does see what is stored in clear"
            );
            for token in [ACCESS, PROCESSOR] {
                assert!(
                    !contains(&bytes, token.as_bytes()),
                    "a token is in the file"
                );
            }
        }
        Backend::Postgres => {
            for (column, token) in [("access_token", ACCESS), ("processor_token", PROCESSOR)] {
                let sql = format!(
                    "SELECT COUNT(*) FROM bank_links WHERE position(convert_to($1, 'UTF8') in {column}) > 0"
                );
                let row = raw
                    .query_one_raw(sea_orm::Statement::from_sql_and_values(
                        sea_orm::DatabaseBackend::Postgres,
                        sql,
                        [token.into()],
                    ))
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!(
                    row.try_get_by_index::<i64>(0).unwrap(),
                    0,
                    "{column} holds the token"
                );
            }
        }
    }
}

async fn a_ciphertext_moved_to_another_row_does_not_decrypt(db: &TestDb) {
    let store = db.store().await;
    let account = account();
    let victim = created_link(&store, account, "victim").await;
    let other = created_link(&store, account, "other").await;
    let fence = claim_link(&store, victim.id).await;
    store
        .save_exchange(&fence, victim.id, &access(), &item())
        .await
        .unwrap();

    let raw = db.raw().await;
    let sealed = raw_bytes(&raw, victim.id, "access_token").await.unwrap();
    set_raw(&raw, other.id, "access_token", sealed.clone()).await;
    let error = store.link_secrets(other.id).await.unwrap_err();
    assert!(matches!(error, StoreError::Corrupt(_)), "{error:?}");
    assert!(!format!("{error} {error:?}").contains(ACCESS));

    // Nor into another column of the same row.
    set_raw(&raw, victim.id, "processor_token", sealed).await;
    let error = store.link_secrets(victim.id).await.unwrap_err();
    assert!(matches!(error, StoreError::Corrupt(_)), "{error:?}");
}

async fn a_store_with_another_key_cannot_read_the_tokens(db: &TestDb) {
    let store = db.store().await;
    let link = created_link(&store, account(), "k").await;
    let fence = claim_link(&store, link.id).await;
    store
        .save_exchange(&fence, link.id, &access(), &item())
        .await
        .unwrap();

    let stranger = db.store_with(funding_store::Cipher::generate()).await;
    let error = stranger.link_secrets(link.id).await.unwrap_err();
    assert!(matches!(error, StoreError::Corrupt(_)), "{error:?}");
    assert!(!format!("{error} {error:?}").contains(ACCESS));
    // The rest of the link is still readable.
    assert!(stranger.get_link(link.id).await.unwrap().is_some());
}

async fn damaged_ciphertext_is_corrupt(db: &TestDb) {
    let store = db.store().await;
    let link = created_link(&store, account(), "k").await;
    let fence = claim_link(&store, link.id).await;
    store
        .save_processor_token(&fence, link.id, &processor())
        .await
        .unwrap();
    let raw = db.raw().await;
    let mut sealed = raw_bytes(&raw, link.id, "processor_token").await.unwrap();
    let last = sealed.len() - 1;
    sealed[last] ^= 0x01;
    set_raw(&raw, link.id, "processor_token", sealed).await;
    assert!(matches!(
        store.link_secrets(link.id).await,
        Err(StoreError::Corrupt(_))
    ));
}

async fn secrets_of_a_missing_link_are_not_found(db: &TestDb) {
    let store = db.store().await;
    let missing = BankLinkId::generate();
    let fence = claim_for(&store, missing.as_uuid()).await;
    assert!(matches!(
        store.link_secrets(missing).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store
            .save_exchange(&fence, missing, &access(), &item())
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store
            .save_processor_token(&fence, missing, &processor())
            .await,
        Err(StoreError::NotFound(_))
    ));
}

async fn forgetting_the_tokens_clears_every_one_of_them(db: &TestDb) {
    let store = db.store().await;
    let link = created_link(&store, account(), "k").await;
    let fence = claim_link(&store, link.id).await;
    store
        .save_exchange(&fence, link.id, &access(), &item())
        .await
        .unwrap();
    store
        .save_processor_token(&fence, link.id, &processor())
        .await
        .unwrap();
    store.forget_tokens(&fence, link.id).await.unwrap();
    let secrets = store.link_secrets(link.id).await.unwrap();
    assert!(secrets.public_token.is_none());
    assert!(secrets.access_token.is_none());
    assert!(secrets.processor_token.is_none());
    let raw = db.raw().await;
    for column in ["access_token", "processor_token", "public_token"] {
        assert_eq!(raw_bytes(&raw, link.id, column).await, None, "{column}");
    }
    let stored = store.get_link(link.id).await.unwrap().unwrap();
    assert_eq!(stored.plaid_item_id, Some(item()), "the Item id stays");
}

async fn the_public_token_is_sealed_until_it_is_exchanged(db: &TestDb) {
    let store = db.store().await;
    let link = created_link(&store, account(), "k").await;
    let raw = db.raw().await;
    let sealed = raw_bytes(&raw, link.id, "public_token")
        .await
        .expect("a ciphertext");
    assert!(!contains(&sealed, PUBLIC_TOKEN.as_bytes()));
    assert_eq!(sealed.len(), 2 + 8 + 24 + PUBLIC_TOKEN.len() + 16);

    let fence = claim_link(&store, link.id).await;
    let at = crate::support::t0() + crate::support::seconds(2);
    store
        .mark_exchange_requested(&fence, link.id, Some(at))
        .await
        .unwrap();
    let stored = store.get_link(link.id).await.unwrap().unwrap();
    assert_eq!(
        stored.exchange_requested_at.map(|at| at.timestamp_micros()),
        Some(at.timestamp_micros())
    );
    assert!(
        store
            .link_secrets(link.id)
            .await
            .unwrap()
            .public_token
            .is_some(),
        "marking the exchange keeps the token"
    );
    store
        .mark_exchange_requested(&fence, link.id, None)
        .await
        .unwrap();
    assert_eq!(
        store
            .get_link(link.id)
            .await
            .unwrap()
            .unwrap()
            .exchange_requested_at,
        None
    );
}

on_both_backends!(
    forgetting_the_tokens_clears_every_one_of_them,
    the_public_token_is_sealed_until_it_is_exchanged,
    tokens_come_back_as_they_were_saved,
    tokens_are_not_stored_in_plaintext,
    a_ciphertext_moved_to_another_row_does_not_decrypt,
    a_store_with_another_key_cannot_read_the_tokens,
    damaged_ciphertext_is_corrupt,
    secrets_of_a_missing_link_are_not_found,
);
