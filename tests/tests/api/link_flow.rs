//! The link flow through the typed client: a public token from SandboxService, a bank link created,
//! seen reaching APPROVED through Alpaca's event stream, listed, deleted — on SQLite and PostgreSQL.

use funding_client::v1::{self, BankLinkStatus};
use funding_tests::{AppOptions, Backend, TestApp};

async fn a_bank_link_is_created_approved_listed_and_deleted(backend: Backend) {
    let app = TestApp::spawn_with(AppOptions {
        backend,
        ..AppOptions::default()
    })
    .await;
    let request = app.create_request().await;
    let account_id = request.account_id.clone();

    let link = app
        .create_link(request.clone())
        .await
        .expect("CreateBankLink");
    assert_eq!(link.account_id, account_id);
    assert_eq!(link.nickname, "Checking");
    assert_eq!(link.plaid_account_id, request.plaid_account_id);
    assert!(
        !link.ach_relationship_id.is_empty(),
        "the relationship id is known once Alpaca answered"
    );
    assert_eq!(link.account_owner_name, "Alberta Bobbeth Charleson");
    assert_eq!(link.bank_account_type, "CHECKING");
    assert_eq!(link.bank_account_mask.len(), 4, "the mask only");
    assert!(
        matches!(
            link.status(),
            BankLinkStatus::Queued | BankLinkStatus::Approved
        ),
        "{:?}",
        link.status()
    );

    let approved = app
        .wait_for_link_status(&link.id, BankLinkStatus::Approved)
        .await;
    assert_eq!(approved.ach_relationship_id, link.ach_relationship_id);
    assert!(approved.updated_at.unwrap().seconds >= approved.created_at.unwrap().seconds);

    let listed = app
        .client
        .bank_links()
        .list_bank_links(v1::ListBankLinksRequest {
            account_id: account_id.clone(),
            page_size: 0,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.bank_links.len(), 1);
    assert_eq!(listed.bank_links[0].id, link.id);
    assert_eq!(listed.next_page_token, "");

    let deleted = app
        .client
        .bank_links()
        .delete_bank_link(v1::DeleteBankLinkRequest {
            id: link.id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .bank_link
        .unwrap();
    assert!(matches!(
        deleted.status(),
        BankLinkStatus::CancelRequested | BankLinkStatus::Canceled
    ));
    app.wait_for_link_status(&link.id, BankLinkStatus::Canceled)
        .await;
    assert_eq!(
        app.provider_calls(
            "DELETE",
            &format!("/v1/accounts/{account_id}/ach_relationships/")
        ),
        1
    );
    app.stop().await;
}

#[tokio::test]
async fn a_bank_link_is_created_approved_listed_and_deleted_on_sqlite() {
    a_bank_link_is_created_approved_listed_and_deleted(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_bank_link_is_created_approved_listed_and_deleted_on_postgres() {
    a_bank_link_is_created_approved_listed_and_deleted(Backend::Postgres).await;
}

#[tokio::test]
async fn a_rejected_relationship_reaches_the_link_with_its_reason() {
    let app = TestApp::spawn_with(AppOptions {
        relationship_approval_delay_ms: 60_000,
        ..AppOptions::default()
    })
    .await;
    let link = app.create_link(app.create_request().await).await.unwrap();
    app.client
        .sandbox()
        .simulate_transfer(v1::SimulateTransferRequest {
            target: Some(v1::simulate_transfer_request::Target::BankLinkId(
                link.id.clone(),
            )),
            status: "REJECTED".into(),
            reason: "bank account owner name does not match brokerage account name".into(),
            ach_return_code: String::new(),
        })
        .await
        .unwrap();
    let rejected = app
        .wait_for_link_status(&link.id, BankLinkStatus::Rejected)
        .await;
    assert_eq!(
        rejected.status_reason,
        "bank account owner name does not match brokerage account name"
    );
    app.stop().await;
}

#[tokio::test]
async fn deleting_a_rejected_link_changes_nothing_at_alpaca() {
    let app = TestApp::spawn_with(AppOptions {
        relationship_approval_delay_ms: 60_000,
        ..AppOptions::default()
    })
    .await;
    let link = app.create_link(app.create_request().await).await.unwrap();
    app.sandbox
        .set_relationship_status(
            link.ach_relationship_id.parse().unwrap(),
            "REJECTED",
            Some("owner mismatch".into()),
        )
        .unwrap();
    app.wait_for_link_status(&link.id, BankLinkStatus::Rejected)
        .await;
    let deleted = app
        .client
        .bank_links()
        .delete_bank_link(v1::DeleteBankLinkRequest {
            id: link.id.clone(),
        })
        .await
        .unwrap();
    assert_eq!(
        deleted.into_inner().bank_link.unwrap().status(),
        BankLinkStatus::Rejected
    );
    assert_eq!(app.provider_calls("DELETE", "/v1/accounts/"), 0);
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_link_is_not_found() {
    let app = TestApp::spawn().await;
    let status = app
        .client
        .bank_links()
        .get_bank_link(v1::GetBankLinkRequest {
            id: uuid::Uuid::new_v4().to_string(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::NotFound);
    assert_eq!(funding_tests::error_reason(&status), "NOT_FOUND");
    app.stop().await;
}

#[tokio::test]
async fn links_are_listed_page_by_page_and_a_page_token_belongs_to_its_account() {
    let app = TestApp::spawn().await;
    let first = app.create_request().await;
    let account_id = first.account_id.clone();
    let mut ids = vec![app.create_link(first).await.unwrap().id];
    for _ in 0..2 {
        // Alpaca allows one active relationship per account: reject the last so another can be made.
        let last = app.get_link(ids.last().unwrap()).await;
        app.sandbox
            .set_relationship_status(last.ach_relationship_id.parse().unwrap(), "REJECTED", None)
            .unwrap();
        app.wait_for_link_status(&last.id, BankLinkStatus::Rejected)
            .await;
        let mut request = app.create_request().await;
        request.account_id = account_id.clone();
        ids.push(app.create_link(request).await.unwrap().id);
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = app
            .client
            .bank_links()
            .list_bank_links(v1::ListBankLinksRequest {
                account_id: account_id.clone(),
                page_size: 2,
                page_token: token.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert!(page.bank_links.len() <= 2);
        seen.extend(page.bank_links.into_iter().map(|link| link.id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen, ids, "every link once, oldest first");

    let page = app
        .client
        .bank_links()
        .list_bank_links(v1::ListBankLinksRequest {
            account_id: account_id.clone(),
            page_size: 1,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let status = app
        .client
        .bank_links()
        .list_bank_links(v1::ListBankLinksRequest {
            account_id: uuid::Uuid::new_v4().to_string(),
            page_size: 1,
            page_token: page.next_page_token,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert_eq!(
        funding_tests::bad_request_fields(&status),
        vec!["page_token"]
    );
    app.stop().await;
}
