//! Bad input stops at the door (DESIGN §4.5): INVALID_ARGUMENT with a BadRequest naming every bad
//! field, no provider call, no database write, and no panic on any input.

use funding_client::v1;
use funding_tests::{TestApp, bad_request_fields, error_reason};

#[tokio::test]
async fn bad_input_is_refused_naming_each_field_and_changes_nothing() {
    let app = TestApp::spawn().await;
    app.sandbox.reset_calls();
    let request = v1::CreateBankLinkRequest {
        account_id: "not-a-uuid".into(),
        public_token: String::new(),
        plaid_account_id: "acc".into(),
        nickname: String::new(),
        idempotency_key: "k".repeat(51),
        replace_bank_link_id: String::new(),
    };
    let status = app.create_link(request).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert_eq!(error_reason(&status), "INVALID_ARGUMENT");
    let mut fields = bad_request_fields(&status);
    fields.sort();
    assert_eq!(
        fields,
        vec!["account_id", "idempotency_key", "public_token"]
    );
    assert!(
        app.requests().is_empty(),
        "the emulator saw {:?}",
        app.requests()
    );
    assert_eq!(app.count_rows("bank_links").await, 0);
    assert_eq!(app.count_rows("idempotency_records").await, 0);
    app.stop().await;
}

#[tokio::test]
async fn odd_input_never_crashes_the_server() {
    let app = TestApp::spawn().await;
    let odd = [
        "",
        " ",
        "\0",
        "💸",
        &"x".repeat(100_000),
        "public-sandbox-",
        "00000000-0000-0000-0000-000000000000",
    ];
    for text in odd {
        let request = v1::CreateBankLinkRequest {
            account_id: text.into(),
            public_token: text.into(),
            plaid_account_id: text.into(),
            nickname: text.into(),
            idempotency_key: text.into(),
            replace_bank_link_id: String::new(),
        };
        let status = app.create_link(request).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{text:?}");
        let _ = app
            .client
            .bank_links()
            .get_bank_link(v1::GetBankLinkRequest { id: text.into() })
            .await;
        let _ = app
            .client
            .bank_links()
            .delete_bank_link(v1::DeleteBankLinkRequest { id: text.into() })
            .await;
        let _ = app
            .client
            .bank_links()
            .list_bank_links(v1::ListBankLinksRequest {
                account_id: text.into(),
                page_size: -1,
                page_token: text.into(),
            })
            .await;
    }
    assert!(
        app.requests().is_empty(),
        "the emulator saw {:?}",
        app.requests()
    );
    assert_eq!(app.count_rows("bank_links").await, 0);
    // Still serving.
    app.create_link(app.create_request().await).await.unwrap();
    app.stop().await;
}
