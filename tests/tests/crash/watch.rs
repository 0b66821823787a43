//! The change log through a SIGKILL of the replica writing it (PostgreSQL, where a change is numbered
//! after its commit by whoever reads numbers next): replica "a" drives five deposits and is killed
//! while they move; a watcher on replica "b" still sees every status of every deposit once, in
//! order, under event ids that follow on one from another, and a watcher resumed from any of those
//! ids sees exactly the rest.

use std::collections::BTreeMap;
use std::time::Duration;

use funding_client::FundingClient;
use funding_client::v1::{self, TransferStatus};
use funding_tests::Backend;

use super::approved_link;
use super::harness::Cluster;

const DEPOSITS: usize = 5;

/// Every event of the account after `after`, until each deposit has reached COMPLETE.
async fn watch_until_complete(
    client: &FundingClient,
    account_id: &str,
    after: &str,
    deposits: usize,
) -> Vec<(i64, String, TransferStatus)> {
    let mut watch = client
        .transfers()
        .watch_transfers(v1::WatchTransfersRequest {
            account_id: account_id.to_owned(),
            after_event_id: after.to_owned(),
            transfer_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let mut seen = Vec::new();
    let mut complete = 0;
    while complete < deposits {
        let event = tokio::time::timeout(Duration::from_secs(60), watch.message())
            .await
            .expect("an event in time")
            .unwrap()
            .expect("the watch goes on");
        let transfer = event.transfer.unwrap();
        let status = transfer.status();
        if status == TransferStatus::Complete {
            complete += 1;
        }
        seen.push((event.event_id.parse().unwrap(), transfer.id, status));
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_watcher_sees_every_change_once_in_order_through_a_sigkill_of_the_writer() {
    let cluster = Cluster::start(Backend::Postgres).await;
    let mut a = cluster.replica("a").await;
    let b = cluster.replica("b").await;
    cluster
        .control
        .set_transfer_step_delay(Duration::from_millis(300));
    let (account_id, link) = approved_link(&cluster, &a).await;
    let writer = FundingClient::connect(a.address.clone(), None)
        .await
        .unwrap();
    for n in 0..DEPOSITS {
        writer
            .transfers()
            .create_transfer(v1::CreateTransferRequest {
                account_id: account_id.clone(),
                bank_link_id: link.id.clone(),
                amount: "10.00".into(),
                direction: v1::TransferDirection::Deposit.into(),
                idempotency_key: format!("watched-{n}"),
            })
            .await
            .unwrap();
    }
    // Killed while the deposits move: "a" holds the event stream's lease and writes their changes.
    tokio::time::sleep(Duration::from_millis(500)).await;
    eprintln!("SIGKILL {} while its deposits move", a.name);
    a.kill();

    let reader = FundingClient::connect(b.address.clone(), None)
        .await
        .unwrap();
    let all = watch_until_complete(&reader, &account_id, "0", DEPOSITS).await;
    for pair in all.windows(2) {
        assert_eq!(pair[1].0, pair[0].0 + 1, "event ids follow on: {all:?}");
    }
    let mut by_transfer: BTreeMap<&str, Vec<TransferStatus>> = BTreeMap::new();
    for (_, id, status) in &all {
        by_transfer.entry(id).or_default().push(*status);
    }
    assert_eq!(by_transfer.len(), DEPOSITS, "{all:?}");
    for (id, statuses) in &by_transfer {
        assert_eq!(statuses.first(), Some(&TransferStatus::Submitting), "{id}");
        assert_eq!(statuses.last(), Some(&TransferStatus::Complete), "{id}");
        let mut unique = statuses.clone();
        unique.dedup();
        assert_eq!(&unique, statuses, "{id}: a status seen twice in a row");
    }

    // Resumed from the middle: exactly the rest.
    let middle = all.len() / 2;
    let rest: Vec<_> = all[middle + 1..].to_vec();
    let completed_before = all[..=middle]
        .iter()
        .filter(|(_, _, status)| *status == TransferStatus::Complete)
        .count();
    let resumed = watch_until_complete(
        &reader,
        &account_id,
        &all[middle].0.to_string(),
        DEPOSITS - completed_before,
    )
    .await;
    assert_eq!(resumed, rest);
    drop(b);
    cluster.stop().await;
}
