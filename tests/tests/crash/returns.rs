//! What an R03 return does, through a SIGKILL in the middle of it: the return has made the link
//! UNUSABLE and its relationship's cancel is on its way to Alpaca (held there by a slow answer)
//! when fundingd is killed. After the restart the consequence finishes exactly once: the link stays
//! UNUSABLE and reaches CANCELED at Alpaca, its Plaid Item is removed once, one audit event says
//! so, and a new deposit on it is refused.

use std::time::Duration;

use funding_client::FundingClient;
use funding_client::v1::{self, BankLinkStatus, TransferDirection, TransferStatus};
use funding_sandbox::{Fault, Host, Method};
use funding_tests::{Backend, error_reason};

use super::approved_link;
use super::harness::Cluster;

async fn link(client: &FundingClient, id: &str) -> v1::BankLink {
    client
        .bank_links()
        .get_bank_link(v1::GetBankLinkRequest { id: id.into() })
        .await
        .unwrap()
        .into_inner()
        .bank_link
        .unwrap()
}

async fn transfer(client: &FundingClient, id: &str) -> v1::Transfer {
    client
        .transfers()
        .get_transfer(v1::GetTransferRequest { id: id.into() })
        .await
        .unwrap()
        .into_inner()
        .transfer
        .unwrap()
}

async fn an_r03_consequence_survives_a_sigkill_in_its_middle(backend: Backend) {
    let cluster = Cluster::start(backend).await;
    let mut replica = cluster.replica("replica").await;
    let (account_id, approved) = approved_link(&cluster, &replica).await;
    let client = FundingClient::connect(replica.address.clone(), None)
        .await
        .unwrap();
    let deposit = client
        .transfers()
        .create_transfer(v1::CreateTransferRequest {
            account_id: account_id.clone(),
            bank_link_id: approved.id.clone(),
            amount: "75.00".into(),
            direction: TransferDirection::Deposit.into(),
            idempotency_key: "returned-deposit".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .transfer
        .unwrap();
    let mut complete = false;
    for _ in 0..400 {
        if transfer(&client, &deposit.id).await.status() == TransferStatus::Complete {
            complete = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(complete, "the deposit completed");
    // Alpaca takes its time to answer the relationship's cancel: the kill lands while it is out.
    let relationship = format!(
        "/v1/accounts/{account_id}/ach_relationships/{}",
        approved.ach_relationship_id
    );
    cluster.control.inject_fault(
        Fault::slow(Host::Alpaca, relationship.clone(), Duration::from_secs(4))
            .method(Method::DELETE),
    );
    let provider_id = transfer(&client, &deposit.id).await.provider_transfer_id;
    cluster
        .control
        .set_transfer_status(
            uuid::Uuid::parse_str(&provider_id).unwrap(),
            "RETURNED",
            Some("R03 No account/unable to locate account".into()),
        )
        .unwrap();
    let mut unusable = false;
    for _ in 0..400 {
        if link(&client, &approved.id).await.health() == v1::BankLinkHealth::Unusable {
            unusable = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(unusable, "the return made the link UNUSABLE");
    eprintln!(
        "SIGKILL {} while the relationship's cancel is out",
        replica.name
    );
    replica.kill();
    tokio::time::sleep(Duration::from_millis(500)).await;
    replica.start().await;
    let client = FundingClient::connect(replica.address.clone(), None)
        .await
        .unwrap();
    let mut canceled = None;
    for _ in 0..600 {
        let now = link(&client, &approved.id).await;
        if now.status() == BankLinkStatus::Canceled {
            canceled = Some(now);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let canceled = canceled.expect("the link reached CANCELED after the restart");
    assert_eq!(canceled.health(), v1::BankLinkHealth::Unusable);
    let mut removed = 0;
    for _ in 0..200 {
        removed = cluster.posts("/item/remove");
        if removed >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        cluster.posts("/item/remove"),
        1,
        "the Item is removed once ({removed})"
    );
    assert_eq!(
        cluster
            .count("SELECT COUNT(*) AS n FROM audit_events WHERE action = 'bank_link.unusable'")
            .await,
        1,
        "the consequence is recorded once"
    );
    let refused = client
        .transfers()
        .create_transfer(v1::CreateTransferRequest {
            account_id: account_id.clone(),
            bank_link_id: approved.id.clone(),
            amount: "5.00".into(),
            direction: TransferDirection::Deposit.into(),
            idempotency_key: "after-the-return".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(error_reason(&refused), "BANK_LINK_UNUSABLE", "{refused:?}");
    drop(replica);
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_r03_consequence_survives_a_sigkill_on_sqlite() {
    an_r03_consequence_survives_a_sigkill_in_its_middle(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_r03_consequence_survives_a_sigkill_on_postgres() {
    an_r03_consequence_survives_a_sigkill_in_its_middle(Backend::Postgres).await;
}
