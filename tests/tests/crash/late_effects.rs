//! A create that Alpaca commits after its caller gave up (a 504 from the load balancer, the write
//! landing 2.5 s later), with fundingd SIGKILLed while it waits for that unknown outcome to settle:
//! after the restart the late resource is adopted, never created again.

use std::time::Duration;

use funding_client::FundingClient;
use funding_client::v1::{self, BankLinkStatus};
use funding_sandbox::{Fault, Host, Method};
use funding_tests::Backend;

use super::harness::Cluster;
use super::{approved_link, transfers_at_alpaca, wait_for_transfer};

const LANDS_AFTER: Duration = Duration::from_millis(2_500);

async fn a_deposit_that_lands_late_survives_a_sigkill_during_its_settle_wait(backend: Backend) {
    let cluster = Cluster::start(backend).await;
    let mut replica = cluster.replica("replica").await;
    let (account_id, link) = approved_link(&cluster, &replica).await;
    cluster
        .control
        .set_transfer_step_delay(Duration::from_millis(100));
    let path = format!("/v1/accounts/{account_id}/transfers");
    cluster.control.inject_fault(
        Fault::late_effect(Host::Alpaca, path.clone(), 504, LANDS_AFTER).method(Method::POST),
    );
    let client = FundingClient::connect(replica.address.clone(), None)
        .await
        .unwrap();
    let request = v1::CreateTransferRequest {
        account_id: account_id.clone(),
        bank_link_id: link.id.clone(),
        amount: "75.00".into(),
        direction: v1::TransferDirection::Deposit.into(),
        idempotency_key: "deposit-late".into(),
    };
    let created = client
        .transfers()
        .create_transfer(request.clone())
        .await
        .unwrap()
        .into_inner()
        .transfer
        .unwrap();
    // Wait until it is visibly settling (its first lookup found nothing), then kill it there.
    let mut settling = false;
    for _ in 0..200 {
        let now = client
            .transfers()
            .get_transfer(v1::GetTransferRequest {
                id: created.id.clone(),
            })
            .await
            .unwrap()
            .into_inner()
            .transfer
            .unwrap();
        if now.status_reason.starts_with("settling an unknown outcome") {
            settling = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(settling, "the transfer said it was settling");
    assert_eq!(
        transfers_at_alpaca(&cluster, &account_id),
        0,
        "not landed yet"
    );
    eprintln!("SIGKILL {} while the deposit settles", replica.name);
    replica.kill();
    tokio::time::sleep(LANDS_AFTER).await;
    replica.start().await;
    let done = wait_for_transfer(
        &[replica.address.clone()],
        &created.id,
        v1::TransferStatus::Complete,
    )
    .await;
    assert_eq!(
        transfers_at_alpaca(&cluster, &account_id),
        1,
        "made once at Alpaca"
    );
    assert!(!done.provider_transfer_id.is_empty());
    assert_eq!(cluster.posts(&path), 1, "never sent again");
    drop(replica);
    cluster.stop().await;
}

async fn a_relationship_that_lands_late_survives_a_sigkill_during_its_settle_wait(
    backend: Backend,
) {
    let cluster = Cluster::start(backend).await;
    let mut replica = cluster.replica("replica").await;
    let account_id = uuid::Uuid::new_v4().to_string();
    let path = format!("/v1/accounts/{account_id}/ach_relationships");
    cluster.control.inject_fault(
        Fault::late_effect(Host::Alpaca, path.clone(), 504, LANDS_AFTER).method(Method::POST),
    );
    let client = FundingClient::connect(replica.address.clone(), None)
        .await
        .unwrap();
    let (public_token, plaid_account_id) = cluster.public_token();
    let request = v1::CreateBankLinkRequest {
        account_id: account_id.clone(),
        public_token,
        plaid_account_id,
        nickname: "Checking".into(),
        idempotency_key: "link-late".into(),
        replace_bank_link_id: String::new(),
    };
    // The fast path answers UNAVAILABLE (Alpaca's 504); the link is stored and waits.
    let _ = client.bank_links().create_bank_link(request.clone()).await;
    let mut link = None;
    for _ in 0..200 {
        let links = client
            .bank_links()
            .list_bank_links(v1::ListBankLinksRequest {
                account_id: account_id.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .bank_links;
        if let Some(found) = links
            .into_iter()
            .find(|l| l.status_reason.starts_with("settling an unknown outcome"))
        {
            link = Some(found);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let link = link.expect("the link said it was settling");
    assert!(
        cluster.relationships_at_alpaca(&account_id).is_empty(),
        "not landed yet"
    );
    eprintln!("SIGKILL {} while the link settles", replica.name);
    replica.kill();
    tokio::time::sleep(LANDS_AFTER).await;
    replica.start().await;
    let client = FundingClient::connect(replica.address.clone(), None)
        .await
        .unwrap();
    let mut approved = None;
    for _ in 0..300 {
        let now = client
            .bank_links()
            .get_bank_link(v1::GetBankLinkRequest {
                id: link.id.clone(),
            })
            .await
            .unwrap()
            .into_inner()
            .bank_link
            .unwrap();
        assert_ne!(now.status(), BankLinkStatus::Failed, "{now:?}");
        if now.status() == BankLinkStatus::Approved {
            approved = Some(now);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let approved = approved.expect("the link reached APPROVED");
    let made = cluster.relationships_at_alpaca(&account_id);
    assert_eq!(made.len(), 1, "{made:?}");
    assert!(made.contains(&approved.ach_relationship_id), "adopted");
    assert_eq!(cluster.posts(&path), 1, "never sent again");
    drop(replica);
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deposit_that_lands_late_survives_a_sigkill_on_sqlite() {
    a_deposit_that_lands_late_survives_a_sigkill_during_its_settle_wait(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deposit_that_lands_late_survives_a_sigkill_on_postgres() {
    a_deposit_that_lands_late_survives_a_sigkill_during_its_settle_wait(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_relationship_that_lands_late_survives_a_sigkill_on_sqlite() {
    a_relationship_that_lands_late_survives_a_sigkill_during_its_settle_wait(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_relationship_that_lands_late_survives_a_sigkill_on_postgres() {
    a_relationship_that_lands_late_survives_a_sigkill_during_its_settle_wait(Backend::Postgres)
        .await;
}
