//! The funding event stream: replay from `since_id` with no gap and no duplicate, live tail,
//! heartbeats, several subscribers, cursor rules, `until_id`, and control-driven disconnects.

use std::collections::HashSet;
use std::time::Duration;

use funding_sandbox::SandboxConfig;
use reqwest::StatusCode;
use serde_json::Value;
use uuid::Uuid;

use crate::helpers::{TestSandbox, is_event, spawn_sandbox, spawn_with};

fn ids(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["event_id"].as_str().unwrap().to_owned())
        .collect()
}

/// Creates `n` relationships (each QUEUED then APPROVED: two events) and returns every event
/// the control API reports.
async fn make_events(sandbox: &TestSandbox, n: usize) -> Vec<Value> {
    for _ in 0..n {
        sandbox.relationship(Uuid::new_v4()).await;
    }
    crate::helpers::eventually("approvals", || async {
        let events = sandbox.control.funding_events();
        let approved = events
            .iter()
            .filter(|e| e["status_to"] == "APPROVED")
            .count();
        (approved >= n).then_some(events)
    })
    .await
}

#[tokio::test]
async fn replay_from_since_id_then_live_has_no_gap_and_no_duplicate() {
    let sandbox = spawn_sandbox().await;
    let history = make_events(&sandbox, 3).await;
    assert_eq!(history.len(), 6);
    let cursor = history[1]["event_id"].as_str().unwrap().to_owned();

    let mut stream = sandbox.events(&format!("?since_id={cursor}")).await;
    assert_eq!(stream.status, StatusCode::OK);
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(stream.next_event().await.unwrap());
    }
    assert_eq!(ids(&seen), ids(&history[2..]));

    // Live events follow the replay directly.
    let account = Uuid::new_v4();
    let id = sandbox.relationship(account).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    seen.extend(stream.until(|e| is_event(e, &id, "APPROVED")).await);
    let all_ids = ids(&seen);
    let unique: HashSet<&String> = all_ids.iter().collect();
    assert_eq!(unique.len(), all_ids.len(), "no duplicates");
    let mut sorted = all_ids.clone();
    sorted.sort();
    assert_eq!(sorted, all_ids, "ids increase");
    assert_eq!(
        ids(&sandbox.control.funding_events()[2..]),
        all_ids,
        "no gaps"
    );
}

#[tokio::test]
async fn without_a_cursor_only_live_events_arrive() {
    let sandbox = spawn_sandbox().await;
    make_events(&sandbox, 1).await;
    let mut stream = sandbox.events("").await;
    let account = Uuid::new_v4();
    let id = sandbox.relationship(account).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let first = stream.next_event().await.unwrap();
    assert!(is_event(&first, &id, "QUEUED"), "{first}");
}

#[tokio::test]
async fn since_a_date_replays_the_whole_day() {
    let sandbox = spawn_sandbox().await;
    let history = make_events(&sandbox, 2).await;
    let today = sandbox.control.now().format("%Y-%m-%d").to_string();
    let mut stream = sandbox.events(&format!("?since={today}")).await;
    let mut seen = Vec::new();
    for _ in 0..history.len() {
        seen.push(stream.next_event().await.unwrap());
    }
    assert_eq!(ids(&seen), ids(&history));
}

#[tokio::test]
async fn until_id_ends_the_stream_after_that_event() {
    let sandbox = spawn_sandbox().await;
    let history = make_events(&sandbox, 2).await;
    let since = history[0]["event_id"].as_str().unwrap();
    let until = history[2]["event_id"].as_str().unwrap();
    let mut stream = sandbox
        .events(&format!("?since_id={since}&until_id={until}"))
        .await;
    let mut seen = Vec::new();
    while let Some(event) = stream.next_event().await {
        seen.push(event);
    }
    assert_eq!(ids(&seen), ids(&history[1..3]));
}

#[tokio::test]
async fn cursor_rules_answer_400() {
    let sandbox = spawn_sandbox().await;
    let ulid = ulid::Ulid::new().to_string();
    for query in [
        format!("?since_id={ulid}&since=2024-01-01"),
        "?until=2024-01-01".to_owned(),
        format!("?until_id={ulid}"),
        "?since_id=not-a-ulid".to_owned(),
        "?since=last-tuesday".to_owned(),
    ] {
        let response = sandbox
            .alpaca(
                reqwest::Method::GET,
                &format!("/v2/events/funding/status{query}"),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], 40010000, "{query}");
    }
}

#[tokio::test]
async fn heartbeats_arrive_as_comment_lines() {
    let sandbox = spawn_with(SandboxConfig {
        heartbeat_interval: Duration::from_millis(20),
        ..SandboxConfig::ephemeral()
    })
    .await;
    let mut stream = sandbox.events("").await;
    for _ in 0..2 {
        assert_eq!(stream.next_frame().await.unwrap(), ":heartbeat");
    }
}

#[tokio::test]
async fn every_subscriber_gets_every_event() {
    let sandbox = spawn_sandbox().await;
    let mut first = sandbox.events("").await;
    let mut second = sandbox.events("").await;
    let account = Uuid::new_v4();
    let id = sandbox.relationship(account).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let a = first.until(|e| is_event(e, &id, "APPROVED")).await;
    let b = second.until(|e| is_event(e, &id, "APPROVED")).await;
    assert_eq!(ids(&a), ids(&b));
    assert_eq!(a.len(), 2);
}

#[tokio::test]
async fn a_disconnect_closes_streams_and_since_id_resumes_without_loss() {
    let sandbox = spawn_sandbox().await;
    let mut stream = sandbox.events("").await;
    let account = Uuid::new_v4();
    let first = sandbox.relationship(account).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = stream.until(|e| is_event(e, &first, "APPROVED")).await;
    let cursor = before.last().unwrap()["event_id"]
        .as_str()
        .unwrap()
        .to_owned();

    sandbox.control.disconnect_streams();
    assert!(stream.next_event().await.is_none(), "the stream ends");

    // Events while disconnected are not lost.
    let other = Uuid::new_v4();
    let missed = sandbox.relationship(other).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut resumed = sandbox.events(&format!("?since_id={cursor}")).await;
    let after = resumed.until(|e| is_event(e, &missed, "APPROVED")).await;
    assert_eq!(after.len(), 2);
    assert!(is_event(&after[0], &missed, "QUEUED"));
}

#[tokio::test]
async fn shutdown_ends_open_streams() {
    let sandbox = spawn_sandbox().await;
    let mut stream = sandbox.events("").await;
    sandbox.handle.shutdown().await;
    assert!(stream.next_event().await.is_none());
}

#[tokio::test]
async fn an_event_fault_sends_the_next_event_twice_and_the_log_keeps_it_once() {
    let sandbox = spawn_sandbox().await;
    let mut stream = sandbox.events("").await;
    let answer = reqwest::Client::new()
        .post(sandbox.plaid_url("/_sandbox/events/faults"))
        .json(&serde_json::json!({"duplicate": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::NO_CONTENT);
    let id = sandbox.relationship(Uuid::new_v4()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let seen = stream.until(|e| is_event(e, &id, "APPROVED")).await;
    let statuses: Vec<&str> = seen
        .iter()
        .map(|e| e["status_to"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["QUEUED", "QUEUED", "APPROVED"]);
    assert_eq!(
        seen[0]["event_id"], seen[1]["event_id"],
        "the very same event"
    );
    let logged = sandbox.control.funding_events();
    assert_eq!(logged.len(), 2, "the log has it once");
}

#[tokio::test]
async fn a_late_event_arrives_after_newer_ones_and_a_replay_has_the_order() {
    let sandbox = spawn_sandbox().await;
    let mut stream = sandbox.events("").await;
    sandbox
        .control
        .inject_event_fault(funding_sandbox::EventFault::delayed(Duration::from_millis(
            300,
        )));
    let id = sandbox.relationship(Uuid::new_v4()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let seen = stream.until(|e| is_event(e, &id, "QUEUED")).await;
    let statuses: Vec<&str> = seen
        .iter()
        .map(|e| e["status_to"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["APPROVED", "QUEUED"], "QUEUED came late");
    assert!(seen[1]["event_id"].as_str() < seen[0]["event_id"].as_str());
    // The log (and so a replay) keeps Alpaca's order; clearing the rules ends the faults.
    sandbox
        .control
        .inject_event_fault(funding_sandbox::EventFault::duplicate().times(10));
    sandbox.control.clear_event_faults();
    let mut replay = sandbox.events("?since=2000-01-01").await;
    let replayed = replay.until(|e| is_event(e, &id, "APPROVED")).await;
    assert_eq!(ids(&replayed), ids(&sandbox.control.funding_events()));
    assert_eq!(replayed[0]["status_to"], "QUEUED");
    let other = sandbox.relationship(Uuid::new_v4()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let live = stream.until(|e| is_event(e, &other, "APPROVED")).await;
    assert_eq!(live.len(), 2, "no rule left: {live:?}");
}
