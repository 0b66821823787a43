//! Crash tests: real `fundingd` processes SIGKILLed (or SIGSTOPped past their claims' lease) at
//! random moments while callers create bank links, retrying with their own keys under transient
//! provider faults. Afterwards every account has exactly one relationship at the emulator, held by
//! an APPROVED link. The seed is printed; `FUNDING_CHAOS_SEED=<seed>` replays a run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod change_bank;
mod harness;
mod late_effects;
mod returns;
mod watch;

use std::time::{Duration, Instant};

use funding_client::FundingClient;
use funding_client::v1::{self, BankLinkStatus};
use funding_sandbox::{Fault, FaultMode, Host, Method};
use funding_tests::{Backend, error_reason};
use harness::{Cluster, Replica, Rng};
use tokio::sync::Mutex;

const CALLERS: usize = 20;
const KILLS: usize = 6;

/// What one caller ended with: its account and its APPROVED link.
struct Linked {
    account_id: String,
    link: v1::BankLink,
}

/// Creates a link for a new account until it is APPROVED, retrying with the same key on every
/// failure, on whichever replica answers; a link that needs a new public token (its exchange had
/// an unknown outcome) is started again with a new token and key, as Plaid's docs tell a client to.
async fn caller(
    cluster: &Cluster,
    addresses: Vec<String>,
    index: usize,
    start_after: Duration,
) -> Result<Linked, String> {
    tokio::time::sleep(start_after).await;
    let account_id = uuid::Uuid::new_v4().to_string();
    let (mut public_token, mut plaid_account_id) = cluster.public_token();
    let mut key = format!("crash-{index}-{}", uuid::Uuid::new_v4().simple());
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut turn = index;
    while Instant::now() < deadline {
        turn += 1;
        let address = &addresses[turn % addresses.len()];
        let request = v1::CreateBankLinkRequest {
            account_id: account_id.clone(),
            public_token: public_token.clone(),
            plaid_account_id: plaid_account_id.clone(),
            nickname: "Checking".into(),
            idempotency_key: key.clone(),
            replace_bank_link_id: String::new(),
        };
        let answer = match FundingClient::connect(address.clone(), None).await {
            Ok(client) => {
                let mut call = tonic::Request::new(request);
                call.set_timeout(Duration::from_secs(5));
                client.bank_links().create_bank_link(call).await
            }
            Err(_) => Err(tonic::Status::unavailable("not serving")),
        };
        match answer {
            Ok(response) => {
                let link = response.into_inner().bank_link.unwrap();
                if link.status() == BankLinkStatus::Approved {
                    return Ok(Linked { account_id, link });
                }
            }
            Err(status) if error_reason(&status) == "PUBLIC_TOKEN_NEEDED" => {
                (public_token, plaid_account_id) = cluster.public_token();
                key = format!("crash-{index}-{}", uuid::Uuid::new_v4().simple());
            }
            Err(status)
                if matches!(
                    status.code(),
                    tonic::Code::AlreadyExists | tonic::Code::InvalidArgument
                ) =>
            {
                return Err(format!("caller {index}: refused for good: {status:?}"));
            }
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    Err(format!("caller {index}: no APPROVED link in time"))
}

/// Transient faults, some after the effect, on the calls a link makes.
fn inject_faults(cluster: &Cluster, rng: &mut Rng) {
    let control = &cluster.control;
    control.inject_fault(
        Fault::new(Host::Alpaca, "/v1/accounts/", 500)
            .method(Method::POST)
            .mode(FaultMode::AfterEffect)
            .times(3),
    );
    control.inject_fault(
        Fault::new(Host::Alpaca, "/v1/accounts/", 503)
            .method(Method::POST)
            .times(2),
    );
    control.inject_fault(Fault::new(Host::Plaid, "/processor/token/create", 500).times(3));
    control.inject_fault(
        Fault::new(Host::Plaid, "/item/public_token/exchange", 429).times(rng.between(1, 4) as u32),
    );
    // Slow answers keep calls in flight, so that kills land between sending and storing.
    control.inject_fault(
        Fault::slow(Host::Alpaca, "/v1/accounts/", Duration::from_millis(400))
            .method(Method::POST)
            .times(12),
    );
    control.inject_fault(
        Fault::slow(
            Host::Plaid,
            "/processor/token/create",
            Duration::from_millis(250),
        )
        .times(10),
    );
}

/// Kills (SIGKILL) and restarts `replicas` at random moments until `stop` is set.
async fn killer(replicas: &Mutex<Vec<Replica>>, rng: &Mutex<Rng>, kills: usize) -> usize {
    let mut done = 0;
    for _ in 0..kills {
        let (pause, which, down) = {
            let mut rng = rng.lock().await;
            (
                rng.between(100, 900),
                rng.next() as usize,
                rng.between(0, 300),
            )
        };
        tokio::time::sleep(Duration::from_millis(pause)).await;
        let mut replicas = replicas.lock().await;
        let count = replicas.len();
        let replica = &mut replicas[which % count];
        eprintln!("SIGKILL {}", replica.name);
        replica.kill();
        tokio::time::sleep(Duration::from_millis(down)).await;
        replica.start().await;
        done += 1;
    }
    done
}

async fn run(backend: Backend, replica_count: usize, test: &str) {
    let cluster = Cluster::start(backend).await;
    let rng = Mutex::new(Rng::from_env(test));
    inject_faults(&cluster, &mut *rng.lock().await);
    let mut started = Vec::new();
    for n in 0..replica_count {
        started.push(cluster.replica(&format!("replica-{n}")).await);
    }
    let addresses: Vec<String> = started.iter().map(|r| r.address.clone()).collect();
    let replicas = Mutex::new(started);

    let mut starts = Vec::new();
    for _ in 0..CALLERS {
        starts.push(Duration::from_millis(rng.lock().await.between(0, 3_000)));
    }
    let callers = futures::future::join_all(
        (0..CALLERS).map(|index| caller(&cluster, addresses.clone(), index, starts[index])),
    );
    let (outcomes, kills) = tokio::join!(callers, killer(&replicas, &rng, KILLS));
    assert_eq!(kills, KILLS);

    let mut failures = Vec::new();
    let mut accounts = Vec::new();
    for outcome in outcomes {
        match outcome {
            Ok(Linked { account_id, link }) => {
                accounts.push(account_id.clone());
                let made = cluster.relationships_at_alpaca(&account_id);
                if made.len() != 1 || !made.contains(&link.ach_relationship_id) {
                    failures.push(format!(
                        "account {account_id}: Alpaca has {made:?}, the link holds {}",
                        link.ach_relationship_id
                    ));
                }
            }
            Err(error) => failures.push(error),
        }
    }
    // Every event reached each link's history at most once, whichever replica applied it.
    let doubled = cluster
        .count(
            "SELECT COUNT(*) AS n FROM (SELECT link_id, event_id FROM bank_link_status_history \
             WHERE event_id IS NOT NULL GROUP BY link_id, event_id HAVING COUNT(*) > 1) AS d",
        )
        .await;
    // Every event Alpaca sent about these accounts was stored in the inbox (once: it is keyed by
    // event id), across the kills and the stream's takeovers, and none waits unapplied.
    let sent: Vec<String> = cluster
        .control
        .funding_events()
        .into_iter()
        .filter(|event| {
            event["account_id"]
                .as_str()
                .is_some_and(|account| accounts.iter().any(|a| a == account))
        })
        .filter_map(|event| event["event_id"].as_str().map(str::to_owned))
        .collect();
    let mut stored = 0;
    for _ in 0..100 {
        let list = sent
            .iter()
            .map(|id| format!("'{id}'"))
            .collect::<Vec<_>>()
            .join(",");
        stored = cluster
            .count(&format!(
                "SELECT COUNT(*) AS n FROM inbox_events WHERE state <> 'pending' AND event_id IN ({list})"
            ))
            .await;
        if stored == sent.len() as i64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if stored != sent.len() as i64 {
        failures.push(format!(
            "{} of {} events were stored and applied",
            stored,
            sent.len()
        ));
    }
    if !failures.is_empty() || doubled != 0 {
        for replica in replicas.lock().await.iter() {
            eprintln!("----- {} -----\n{}", replica.name, replica.log_text());
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(doubled, 0, "an event applied twice");
    drop(replicas);
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn links_survive_sigkills_at_random_moments_on_sqlite() {
    run(
        Backend::Sqlite,
        1,
        "links_survive_sigkills_at_random_moments_on_sqlite",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn links_survive_sigkills_of_either_of_two_replicas_on_postgres() {
    run(
        Backend::Postgres,
        2,
        "links_survive_sigkills_of_either_of_two_replicas_on_postgres",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_paused_past_its_claim_cannot_store_its_late_answer() {
    let cluster = Cluster::start(Backend::Postgres).await;
    let paused = cluster.replica("paused").await;
    let other = cluster.replica("other").await;
    let account_id = uuid::Uuid::new_v4().to_string();
    let path = format!("/v1/accounts/{account_id}/ach_relationships");
    // Alpaca makes the relationship at once and answers 3 s later: the paused replica will hold
    // that answer after its 1 s claim has run out.
    cluster.control.inject_fault(
        Fault::slow(Host::Alpaca, path.clone(), Duration::from_secs(3)).method(Method::POST),
    );
    let (public_token, plaid_account_id) = cluster.public_token();
    let request = v1::CreateBankLinkRequest {
        account_id: account_id.clone(),
        public_token,
        plaid_account_id,
        nickname: "Checking".into(),
        idempotency_key: "paused-1".into(),
        replace_bank_link_id: String::new(),
    };
    let client = FundingClient::connect(paused.address.clone(), None)
        .await
        .unwrap();
    let call = tokio::spawn(async move { client.bank_links().create_bank_link(request).await });
    // Wait until the create is at Alpaca (it has made the relationship), then freeze the replica.
    for _ in 0..200 {
        if !cluster.relationships_at_alpaca(&account_id).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(cluster.relationships_at_alpaca(&account_id).len(), 1);
    paused.pause();
    // The other replica takes the work over once the claim runs out, and adopts the relationship.
    let other_client = FundingClient::connect(other.address.clone(), None)
        .await
        .unwrap();
    let mut link = None;
    for _ in 0..200 {
        let listed = other_client
            .bank_links()
            .list_bank_links(v1::ListBankLinksRequest {
                account_id: account_id.clone(),
                page_size: 10,
                page_token: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
            .bank_links;
        if let Some(found) = listed
            .into_iter()
            .find(|l| !l.ach_relationship_id.is_empty())
        {
            link = Some(found);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let link = link.expect("the other replica finished the link");
    paused.resume();
    let _ = call.await.unwrap();
    // The late answer was refused by the fence: the relationship was stored once, by the lookup.
    let sources = cluster
        .count(&format!(
            "SELECT COUNT(*) AS n FROM bank_link_status_history WHERE link_id = '{}' \
             AND from_status = 'CREATING' AND source = 'alpaca:lookup'",
            link.id
        ))
        .await;
    let creates = cluster
        .count(&format!(
            "SELECT COUNT(*) AS n FROM bank_link_status_history WHERE link_id = '{}' \
             AND source = 'alpaca:create'",
            link.id
        ))
        .await;
    assert_eq!((sources, creates), (1, 0), "{}", paused.log_text());
    assert!(
        paused.log_text().contains("its outcome was not stored"),
        "the paused replica's attempt was fenced"
    );
    assert_eq!(cluster.relationships_at_alpaca(&account_id).len(), 1);
    assert_eq!(
        cluster
            .control
            .calls()
            .iter()
            .filter(|c| c.method == "POST" && c.path == path)
            .count(),
        1
    );
    drop((paused, other));
    cluster.stop().await;
}

/// An APPROVED link for a new account, made through `replica`: (account id, link).
async fn approved_link(cluster: &Cluster, replica: &Replica) -> (String, v1::BankLink) {
    let client = FundingClient::connect(replica.address.clone(), None)
        .await
        .unwrap();
    let (public_token, plaid_account_id) = cluster.public_token();
    let account_id = uuid::Uuid::new_v4().to_string();
    let link = client
        .bank_links()
        .create_bank_link(v1::CreateBankLinkRequest {
            account_id: account_id.clone(),
            public_token,
            plaid_account_id,
            nickname: "Checking".into(),
            idempotency_key: uuid::Uuid::new_v4().to_string(),
            replace_bank_link_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .bank_link
        .unwrap();
    for _ in 0..200 {
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
        if now.status() == BankLinkStatus::Approved {
            return (account_id, now);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the link never reached APPROVED");
}

/// Polls the transfer on whichever of `addresses` answers, until it has `status`.
async fn wait_for_transfer(
    addresses: &[String],
    id: &str,
    status: v1::TransferStatus,
) -> v1::Transfer {
    let mut last = None;
    for turn in 0..400 {
        let address = &addresses[turn % addresses.len()];
        if let Ok(client) = FundingClient::connect(address.clone(), None).await
            && let Ok(answer) = client
                .transfers()
                .get_transfer(v1::GetTransferRequest { id: id.into() })
                .await
        {
            let transfer = answer.into_inner().transfer.unwrap();
            if transfer.status() == status {
                return transfer;
            }
            last = Some(transfer);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("transfer {id} never reached {status:?}; last seen {last:?}");
}

fn transfers_at_alpaca(cluster: &Cluster, account_id: &str) -> usize {
    cluster
        .control
        .funding_events()
        .into_iter()
        .filter(|event| event["entity_type"] == "Transfer" && event["account_id"] == account_id)
        .filter_map(|event| event["entity_id"].as_str().map(str::to_owned))
        .collect::<std::collections::BTreeSet<_>>()
        .len()
}

/// SIGKILL during a withdrawal of 50.00 whose `slow_path` answers slowly, once it is stored (and,
/// with `wait_for_post`, made at Alpaca); then a restart. The withdrawal ends COMPLETE, made once
/// at Alpaca.
async fn a_withdrawal_survives_a_sigkill(
    slow_path: &str,
    slow_method: Method,
    wait_for_post: bool,
) {
    a_transfer_survives_a_sigkill(
        v1::TransferDirection::Withdrawal,
        slow_path,
        slow_method,
        wait_for_post,
    )
    .await;
}

/// SIGKILL during a transfer of 50.00 in `direction` whose `slow_path` answers slowly, once it is
/// stored (and, with `wait_for_post`, made at Alpaca: the create's first commit is in, its second
/// is not); then a restart. The transfer ends COMPLETE, made once at Alpaca.
async fn a_transfer_survives_a_sigkill(
    direction: v1::TransferDirection,
    slow_path: &str,
    slow_method: Method,
    wait_for_post: bool,
) {
    let cluster = Cluster::start(Backend::Sqlite).await;
    let mut replica = cluster.replica("replica").await;
    let (account_id, link) = approved_link(&cluster, &replica).await;
    cluster.control.set_account_cash(
        account_id.parse().unwrap(),
        rust_decimal::Decimal::new(10_000, 2),
    );
    cluster
        .control
        .set_transfer_step_delay(Duration::from_millis(100));
    cluster.control.inject_fault(
        Fault::slow(
            Host::Alpaca,
            slow_path.replace("{account}", &account_id),
            Duration::from_secs(3),
        )
        .method(slow_method),
    );
    let client = FundingClient::connect(replica.address.clone(), None)
        .await
        .unwrap();
    let request = v1::CreateTransferRequest {
        account_id: account_id.clone(),
        bank_link_id: link.id.clone(),
        amount: "50.00".into(),
        direction: direction.into(),
        idempotency_key: "transfer-once".into(),
    };
    let call = tokio::spawn({
        let request = request.clone();
        async move { client.transfers().create_transfer(request).await }
    });
    // The intent is stored first; wait for it (and, when asked, for Alpaca to have made the
    // transfer), then kill the process mid-call.
    for _ in 0..200 {
        let stored = cluster.count("SELECT COUNT(*) AS n FROM transfers").await == 1;
        let at_alpaca = transfers_at_alpaca(&cluster, &account_id) == 1;
        if stored && (!wait_for_post || at_alpaca) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        cluster.count("SELECT COUNT(*) AS n FROM transfers").await,
        1
    );
    if wait_for_post {
        // Between the create's two commits: the first (the transfer, its request mark, its work
        // claimed) is in; the second (Alpaca's answer, the work finished) is not.
        assert_eq!(
            cluster
                .count(
                    "SELECT COUNT(*) AS n FROM transfers WHERE submit_requested_at IS NOT NULL \
                     AND provider_transfer_id IS NULL AND status = 'SUBMITTING'"
                )
                .await,
            1,
            "the request is marked sent and its answer not stored"
        );
        assert_eq!(
            cluster
                .count(
                    "SELECT COUNT(*) AS n FROM work_items WHERE kind = 'transfer_submit' \
                     AND state = 'pending' AND claim_owner IS NOT NULL"
                )
                .await,
            1,
            "the submit work is claimed and not finished"
        );
    }
    eprintln!(
        "SIGKILL {} (Alpaca has {} transfers)",
        replica.name,
        transfers_at_alpaca(&cluster, &account_id)
    );
    replica.kill();
    let _ = call.await;
    replica.start().await;
    // The caller repeats its request with its key, as callers do after a lost answer.
    let client = FundingClient::connect(replica.address.clone(), None)
        .await
        .unwrap();
    let transfer = client
        .transfers()
        .create_transfer(request)
        .await
        .unwrap()
        .into_inner()
        .transfer
        .unwrap();
    let done = wait_for_transfer(
        &[replica.address.clone()],
        &transfer.id,
        v1::TransferStatus::Complete,
    )
    .await;
    assert_eq!(
        transfers_at_alpaca(&cluster, &account_id),
        1,
        "made exactly once at Alpaca"
    );
    assert!(!done.provider_transfer_id.is_empty());
    let posts = cluster
        .control
        .calls()
        .iter()
        .filter(|c| c.method == "POST" && c.path == format!("/v1/accounts/{account_id}/transfers"))
        .count();
    assert!(posts <= 1, "never sent twice ({posts} POSTs)");
    drop(replica);
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_withdrawal_killed_between_its_intent_and_its_submit_is_submitted_once_after_restart() {
    // Killed while it reads the withdrawable cash: stored, not yet sent.
    a_withdrawal_survives_a_sigkill("/v1/trading/accounts/{account}", Method::GET, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_withdrawal_killed_while_alpaca_answers_its_create_is_adopted_not_sent_again() {
    // Killed after Alpaca made the transfer and before its answer arrived.
    a_withdrawal_survives_a_sigkill("/v1/accounts/{account}/transfers", Method::POST, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deposit_killed_between_its_two_commits_is_adopted_not_sent_again() {
    // The first commit (intent, key, work claimed, request marked) is in; Alpaca made the
    // transfer; the process dies before the second (Alpaca's answer, the work finished).
    a_transfer_survives_a_sigkill(
        v1::TransferDirection::Deposit,
        "/v1/accounts/{account}/transfers",
        Method::POST,
        true,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_creates_with_one_key_across_two_replicas_make_one_transfer() {
    let cluster = Cluster::start(Backend::Postgres).await;
    let a = cluster.replica("a").await;
    let b = cluster.replica("b").await;
    let (account_id, link) = approved_link(&cluster, &a).await;
    let request = v1::CreateTransferRequest {
        account_id: account_id.clone(),
        bank_link_id: link.id.clone(),
        amount: "10.00".into(),
        direction: v1::TransferDirection::Deposit.into(),
        idempotency_key: "one-key".into(),
    };
    let addresses = [a.address.clone(), b.address.clone()];
    let answers = futures::future::join_all((0..20).map(|n| {
        let address = addresses[n % 2].clone();
        let request = request.clone();
        async move {
            let client = FundingClient::connect(address, None).await.unwrap();
            client.transfers().create_transfer(request).await
        }
    }))
    .await;
    let ids: std::collections::BTreeSet<String> = answers
        .into_iter()
        .map(|answer| {
            answer
                .expect("every caller gets the transfer")
                .into_inner()
                .transfer
                .unwrap()
                .id
        })
        .collect();
    assert_eq!(ids.len(), 1);
    let id = ids.into_iter().next().unwrap();
    wait_for_transfer(&addresses, &id, v1::TransferStatus::Complete).await;
    assert_eq!(transfers_at_alpaca(&cluster, &account_id), 1);
    drop((a, b));
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_watcher_on_one_replica_sees_a_transfer_the_other_drives() {
    let cluster = Cluster::start(Backend::Postgres).await;
    let a = cluster.replica("a").await;
    let b = cluster.replica("b").await;
    cluster
        .control
        .set_transfer_step_delay(Duration::from_millis(100));
    let (account_id, link) = approved_link(&cluster, &a).await;
    let watcher = FundingClient::connect(b.address.clone(), None)
        .await
        .unwrap();
    let mut watch = watcher
        .transfers()
        .watch_transfers(v1::WatchTransfersRequest {
            account_id: account_id.clone(),
            after_event_id: String::new(),
            transfer_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let driver = FundingClient::connect(a.address.clone(), None)
        .await
        .unwrap();
    let transfer = driver
        .transfers()
        .create_transfer(v1::CreateTransferRequest {
            account_id: account_id.clone(),
            bank_link_id: link.id.clone(),
            amount: "12.00".into(),
            direction: v1::TransferDirection::Deposit.into(),
            idempotency_key: "watched".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .transfer
        .unwrap();
    let mut statuses = Vec::new();
    while statuses.last() != Some(&v1::TransferStatus::Complete) {
        let event = tokio::time::timeout(Duration::from_secs(30), watch.message())
            .await
            .expect("an event in time")
            .unwrap()
            .unwrap();
        let seen = event.transfer.unwrap();
        assert_eq!(seen.id, transfer.id);
        statuses.push(seen.status());
    }
    assert_eq!(statuses.first(), Some(&v1::TransferStatus::Submitting));
    drop((a, b));
    cluster.stop().await;
}

/// Plaid's bank transfers as Plaid lists them (one page is enough here).
async fn bank_transfers_at_plaid(cluster: &Cluster) -> Vec<serde_json::Value> {
    let page: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/bank_transfer/list", cluster.emulator.plaid_url()))
        .json(&serde_json::json!({"client_id": "crash-test", "secret": "crash-test-secret", "count": 25}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    page["bank_transfers"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bank_transfer_killed_while_plaid_answers_its_create_is_made_once() {
    let cluster = Cluster::start(Backend::Sqlite).await;
    let mut replica = cluster.replica("replica").await;
    let token: serde_json::Value = reqwest::Client::new()
        .post(format!(
            "{}/sandbox/processor_token/create",
            cluster.emulator.plaid_url()
        ))
        .json(&serde_json::json!({"client_id": "crash-test", "secret": "crash-test-secret", "institution_id": "ins_109508"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["processor_token"]
        .as_str()
        .expect("a processor token");
    // Plaid makes the transfer, then answers three seconds late: the kill lands in between.
    cluster.control.inject_fault(
        Fault::slow(
            Host::Plaid,
            "/processor/bank_transfer/create",
            Duration::from_secs(3),
        )
        .method(Method::POST),
    );
    let request = v1::CreateBankTransferRequest {
        idempotency_key: "bank-transfer-once".into(),
        processor_token: token.to_owned(),
        r#type: v1::BankTransferType::Debit.into(),
        network: v1::BankTransferNetwork::Ach.into(),
        amount: "75.00".into(),
        iso_currency_code: "USD".into(),
        description: "Deposit".into(),
        ach_class: v1::AchClass::Web.into(),
        user: Some(v1::BankTransferUser {
            legal_name: "Jane Doe".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let client = FundingClient::connect(replica.address.clone(), None)
        .await
        .unwrap();
    let call = tokio::spawn({
        let request = request.clone();
        async move { client.bank_transfers().create_bank_transfer(request).await }
    });
    for _ in 0..200 {
        if bank_transfers_at_plaid(&cluster).await.len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        bank_transfers_at_plaid(&cluster).await.len(),
        1,
        "Plaid made it before the kill"
    );
    assert_eq!(
        cluster
            .count("SELECT COUNT(*) AS n FROM bank_transfers WHERE status = 'submitting'")
            .await,
        1,
        "our answer is not stored yet"
    );
    eprintln!(
        "SIGKILL {} while Plaid's answer is on its way",
        replica.name
    );
    replica.kill();
    let _ = call.await;
    replica.start().await;
    // The caller repeats its request with its key, as callers do after a lost answer.
    let client = FundingClient::connect(replica.address.clone(), None)
        .await
        .unwrap();
    let mut transfer = client
        .bank_transfers()
        .create_bank_transfer(request)
        .await
        .expect("the repeat answers the one transfer")
        .into_inner()
        .bank_transfer
        .unwrap();
    for _ in 0..200 {
        if transfer.status() == v1::BankTransferStatus::Pending {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        transfer = client
            .bank_transfers()
            .get_bank_transfer(v1::GetBankTransferRequest {
                id: transfer.id.clone(),
            })
            .await
            .unwrap()
            .into_inner()
            .bank_transfer
            .unwrap();
    }
    assert_eq!(transfer.status(), v1::BankTransferStatus::Pending);
    let at_plaid = bank_transfers_at_plaid(&cluster).await;
    assert_eq!(at_plaid.len(), 1, "made exactly once at Plaid");
    assert_eq!(
        at_plaid[0]["id"],
        transfer.provider_bank_transfer_id.as_str()
    );
    drop(replica);
    cluster.stop().await;
}
