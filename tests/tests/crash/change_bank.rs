//! Changing banks through a SIGKILL between the delete and the create: fundingd asked Alpaca to
//! cancel the old relationship and is waiting for CANCELED when it is killed; Alpaca cancels while
//! it is down. After the restart the new relationship is created once, the old link ends CANCELED,
//! and Alpaca holds exactly one active relationship for the account.

use std::time::Duration;

use funding_client::FundingClient;
use funding_client::v1::{self, BankLinkStatus};
use funding_tests::Backend;

use super::approved_link;
use super::harness::Cluster;

/// How long Alpaca (the emulator) takes to move a relationship on (QUEUED → APPROVED,
/// CANCEL_REQUESTED → CANCELED) once the old link is approved: long enough to kill in between.
const ALPACA_DELAY: Duration = Duration::from_secs(3);

async fn get(client: &FundingClient, id: &str) -> v1::BankLink {
    client
        .bank_links()
        .get_bank_link(v1::GetBankLinkRequest { id: id.into() })
        .await
        .unwrap()
        .into_inner()
        .bank_link
        .unwrap()
}

fn relationship_posts(cluster: &Cluster, account_id: &str) -> usize {
    cluster.posts(&format!("/v1/accounts/{account_id}/ach_relationships"))
}

async fn changing_banks_survives_a_sigkill_between_the_delete_and_the_create(backend: Backend) {
    let cluster = Cluster::start(backend).await;
    let mut replica = cluster.replica("replica").await;
    let (account_id, old) = approved_link(&cluster, &replica).await;
    cluster
        .control
        .set_relationship_approval_delay(ALPACA_DELAY);
    let client = FundingClient::connect(replica.address.clone(), None)
        .await
        .unwrap();
    let (public_token, plaid_account_id) = cluster.public_token();
    let new = client
        .bank_links()
        .create_bank_link(v1::CreateBankLinkRequest {
            account_id: account_id.clone(),
            public_token,
            plaid_account_id,
            nickname: "New bank".into(),
            idempotency_key: "change-bank".into(),
            replace_bank_link_id: old.id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .bank_link
        .unwrap();
    // The delete is sent and stored (the old link CANCEL_REQUESTED); the new link waits.
    let mut waiting = false;
    for _ in 0..200 {
        let old_now = get(&client, &old.id).await;
        let new_now = get(&client, &new.id).await;
        if old_now.status() == BankLinkStatus::CancelRequested
            && new_now.status() == BankLinkStatus::Creating
        {
            assert!(
                new_now.status_reason.contains("changing banks"),
                "{}",
                new_now.status_reason
            );
            waiting = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        waiting,
        "the new link waited for the old relationship's cancel"
    );
    assert_eq!(
        relationship_posts(&cluster, &account_id),
        1,
        "only the old one so far"
    );
    eprintln!("SIGKILL {} between the delete and the create", replica.name);
    replica.kill();
    tokio::time::sleep(ALPACA_DELAY + Duration::from_millis(500)).await;
    replica.start().await;
    let client = FundingClient::connect(replica.address.clone(), None)
        .await
        .unwrap();
    let mut approved = None;
    for _ in 0..400 {
        let now = get(&client, &new.id).await;
        assert_ne!(now.status(), BankLinkStatus::Failed, "{now:?}");
        if now.status() == BankLinkStatus::Approved {
            approved = Some(now);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let approved = approved.expect("the new link reached APPROVED");
    assert_eq!(
        get(&client, &old.id).await.status(),
        BankLinkStatus::Canceled
    );
    assert_eq!(
        relationship_posts(&cluster, &account_id),
        2,
        "the new relationship was created once"
    );
    let made = cluster.relationships_at_alpaca(&account_id);
    assert_eq!(made.len(), 2, "{made:?}");
    assert!(made.contains(&approved.ach_relationship_id));
    let events = cluster.control.funding_events();
    let last_status = |id: &str| {
        events
            .iter()
            .rev()
            .filter(|event| event["entity_id"] == id)
            .find_map(|event| event["status_to"].as_str())
            .map(str::to_owned)
    };
    assert_eq!(
        last_status(&old.ach_relationship_id).as_deref(),
        Some("CANCELED")
    );
    assert_eq!(
        last_status(&approved.ach_relationship_id).as_deref(),
        Some("APPROVED"),
        "exactly one active relationship: the new one"
    );
    drop(replica);
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn changing_banks_survives_a_sigkill_on_sqlite() {
    changing_banks_survives_a_sigkill_between_the_delete_and_the_create(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn changing_banks_survives_a_sigkill_on_postgres() {
    changing_banks_survives_a_sigkill_between_the_delete_and_the_create(Backend::Postgres).await;
}
