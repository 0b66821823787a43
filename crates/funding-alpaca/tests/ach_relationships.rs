//! ACH relationship calls, each request pinned exactly (method, path, Basic auth, body, query) and
//! each answer read into the port's `AchRelationship`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests/ may unwrap (STYLE)

mod common;

use common::{
    BASIC_AUTH, RELATIONSHIP, TOKEN, account, client, relationship_id, relationship_json,
    relationships_path, token,
};
use funding_core::ports::Broker;
use funding_domain::{AchRelationshipStatus, Nickname};
use serde_json::json;
use wiremock::matchers::{body_json, header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test]
async fn creating_a_relationship_sends_only_the_processor_token_with_basic_auth() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(relationships_path()))
        .and(header("authorization", BASIC_AUTH))
        .and(header("content-type", "application/json"))
        .and(body_json(json!({"processor_token": TOKEN})))
        .respond_with(ResponseTemplate::new(200).set_body_json(relationship_json("QUEUED")))
        .expect(1)
        .mount(&server)
        .await;

    let created = client(&server.uri())
        .create_ach_relationship(account(), &token(), None)
        .await
        .unwrap();

    assert_eq!(created.id, relationship_id());
    assert_eq!(created.account_id, account());
    assert_eq!(created.status, AchRelationshipStatus::Queued);
    assert_eq!(created.account_owner_name, "John Doe");
    assert_eq!(
        created.nickname.as_deref(),
        Some("Bank of America Checking")
    );
    assert_eq!(created.created_at.timestamp_subsec_nanos(), 357_433_280);
    assert_eq!(created.updated_at.timestamp_subsec_nanos(), 123_456_789);
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].url.query(), None);
}

#[tokio::test]
async fn the_bank_account_type_and_the_last_four_digits_are_read() {
    let server = MockServer::start().await;
    let mut answer = relationship_json("QUEUED");
    answer["bank_account_type"] = json!("CHECKING");
    answer["bank_account_number"] = json!("1111222233330000");
    answer["bank_routing_number"] = json!("011401533");
    Mock::given(method("POST"))
        .and(path(relationships_path()))
        .respond_with(ResponseTemplate::new(200).set_body_json(&answer))
        .mount(&server)
        .await;
    let mut savings = relationship_json("APPROVED");
    savings["bank_account_type"] = json!("SAVINGS");
    savings["bank_account_number"] = json!("XXXXXXXXXXXX1111");
    Mock::given(method("GET"))
        .and(path(relationships_path()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([savings])))
        .mount(&server)
        .await;
    let client = client(&server.uri());

    let created = client
        .create_ach_relationship(account(), &token(), None)
        .await
        .unwrap();
    assert_eq!(created.bank_account_type.as_deref(), Some("CHECKING"));
    assert_eq!(created.bank_account_mask.as_deref(), Some("0000"));

    let listed = client.list_ach_relationships(account()).await.unwrap();
    assert_eq!(listed[0].bank_account_type.as_deref(), Some("SAVINGS"));
    assert_eq!(listed[0].bank_account_mask.as_deref(), Some("1111"));
}

#[tokio::test]
async fn a_nickname_is_sent_when_one_is_given() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(relationships_path()))
        .and(body_json(
            json!({"processor_token": TOKEN, "nickname": "Main checking"}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(relationship_json("QUEUED")))
        .expect(1)
        .mount(&server)
        .await;

    let nickname = Nickname::parse("Main checking").unwrap();
    client(&server.uri())
        .create_ach_relationship(account(), &token(), Some(&nickname))
        .await
        .unwrap();
}

#[tokio::test]
async fn listing_reads_a_bare_array_and_tolerates_plaid_shaped_relationships() {
    let server = MockServer::start().await;
    let plaid_shaped = json!({
        "id": "61e69015-8549-4bfd-b9c3-01e75843f47d",
        "account_id": common::ACCOUNT,
        "created_at": "2021-03-16T18:38:01.942282Z",
        "updated_at": "2021-03-16T18:38:01.942282Z",
        "status": "CANCEL_SENT",
        "account_owner_name": "John Doe",
        "bank_account_type": "",
        "bank_account_number": "",
        "bank_routing_number": "121000358",
        "approval_method": "PLAID",
        "plaid_institution": "Chase",
        "account_mask": "0000"
    });
    let missing_optionals = json!({
        "id": RELATIONSHIP,
        "account_id": common::ACCOUNT,
        "created_at": "2021-04-08T23:01:53.35743328Z",
        "status": "SOMETHING_NEW",
        "account_owner_name": "John Doe"
    });
    Mock::given(method("GET"))
        .and(path(relationships_path()))
        .and(header("authorization", BASIC_AUTH))
        .and(query_param_is_missing("statuses"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!([plaid_shaped, missing_optionals])),
        )
        .expect(1)
        .mount(&server)
        .await;

    let listed = client(&server.uri())
        .list_ach_relationships(account())
        .await
        .unwrap();

    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].status, AchRelationshipStatus::CancelSent);
    assert_eq!(listed[0].nickname, None);
    assert_eq!(listed[0].bank_account_type, None);
    assert_eq!(listed[0].bank_account_mask, None);
    assert_eq!(listed[1].bank_account_type, None);
    assert_eq!(listed[1].bank_account_mask, None);
    assert_eq!(
        listed[1].status,
        AchRelationshipStatus::Unknown("SOMETHING_NEW".into())
    );
    assert_eq!(listed[1].updated_at, listed[1].created_at);
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests[0].url.query(), None);
    assert!(requests[0].body.is_empty());
}

#[tokio::test]
async fn an_empty_list_is_an_empty_vec() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(relationships_path()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;
    assert!(
        client(&server.uri())
            .list_ach_relationships(account())
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn odd_relationships_between_good_ones_are_skipped_and_the_good_ones_returned() {
    let good: Vec<uuid::Uuid> = (0..3).map(|_| uuid::Uuid::new_v4()).collect();
    let with_id = |id: uuid::Uuid| {
        let mut relationship = relationship_json("APPROVED");
        relationship["id"] = json!(id);
        relationship
    };
    let mut no_status = with_id(uuid::Uuid::new_v4());
    no_status.as_object_mut().unwrap().remove("status");
    let mut bad_date = with_id(uuid::Uuid::new_v4());
    bad_date["created_at"] = json!("yesterday");
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(relationships_path()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            with_id(good[0]),
            no_status,
            with_id(good[1]),
            "a new shape",
            bad_date,
            {"id": 7},
            with_id(good[2]),
        ])))
        .expect(1)
        .mount(&server)
        .await;
    let listed = client(&server.uri())
        .list_ach_relationships(account())
        .await
        .unwrap();
    let ids: Vec<uuid::Uuid> = listed.iter().map(|r| r.id.as_uuid()).collect();
    assert_eq!(ids, good);
}

#[tokio::test]
async fn listing_with_statuses_sends_them_comma_separated() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(relationships_path()))
        .and(query_param("statuses", "QUEUED,APPROVED"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!([relationship_json("APPROVED")])),
        )
        .expect(1)
        .mount(&server)
        .await;

    let listed = client(&server.uri())
        .list_ach_relationships_with_statuses(
            account(),
            &[
                AchRelationshipStatus::Queued,
                AchRelationshipStatus::Approved,
            ],
        )
        .await
        .unwrap();
    assert_eq!(listed[0].status, AchRelationshipStatus::Approved);
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests[0].url.query_pairs().count(), 1);
}

#[tokio::test]
async fn deleting_sends_a_delete_for_the_relationship_and_accepts_204() {
    let server = MockServer::start().await;
    Mock::given(method("DELETE"))
        .and(path(format!("{}/{RELATIONSHIP}", relationships_path())))
        .and(header("authorization", BASIC_AUTH))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;

    client(&server.uri())
        .delete_ach_relationship(account(), relationship_id())
        .await
        .unwrap();
    let requests = server.received_requests().await.unwrap();
    assert!(requests[0].body.is_empty());
    assert_eq!(requests[0].url.query(), None);
}
