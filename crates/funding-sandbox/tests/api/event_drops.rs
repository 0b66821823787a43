//! Dropped live events (`POST /_sandbox/events/faults {"drop": N}`,
//! [`funding_sandbox::SandboxControl::drop_live_events`]): the live stream skips N events, says
//! `: you are reading too slowly, dropped N messages` and goes on; the log and a replay from
//! `since_id` still have them.

use reqwest::{Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{EventStream, is_event, spawn_sandbox};

/// The next frame that is not a heartbeat.
async fn next_frame(stream: &mut EventStream) -> String {
    loop {
        let frame = stream.next_frame().await.expect("the stream stays open");
        if frame != ":heartbeat" {
            return frame;
        }
    }
}

#[tokio::test]
async fn the_live_stream_skips_n_events_says_so_and_goes_on() {
    let sandbox = spawn_sandbox().await;
    let account = Uuid::new_v4();
    let relationship = sandbox.approved_relationship(account).await;
    let approved_event = sandbox
        .control
        .funding_events()
        .into_iter()
        .rfind(|e| is_event(e, &relationship, "APPROVED"))
        .unwrap();
    let mut stream = sandbox.events("").await;
    let (status, _) = sandbox
        .control_http(Method::POST, "/events/faults", Some(json!({"drop": 2})))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let (_, transfer) = sandbox
        .transfer(account, &relationship, "10", "INCOMING")
        .await;
    let id = transfer["id"].as_str().unwrap().to_owned();
    // QUEUED and SENT_TO_CLEARING are dropped, then the notice, then COMPLETE.
    assert_eq!(
        next_frame(&mut stream).await,
        ": you are reading too slowly, dropped 2 messages"
    );
    let frame = next_frame(&mut stream).await;
    let complete: serde_json::Value =
        serde_json::from_str(frame.strip_prefix("data: ").unwrap()).unwrap();
    assert!(is_event(&complete, &id, "COMPLETE"), "{complete}");

    // The stream is still open: the next event arrives on it.
    let other = sandbox.relationship(Uuid::new_v4()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    stream.until(|e| is_event(e, &other, "QUEUED")).await;

    // A replay has them all.
    let since = approved_event["event_id"].as_str().unwrap();
    let mut replay = sandbox.events(&format!("?since_id={since}")).await;
    let replayed = replay.until(|e| is_event(e, &id, "COMPLETE")).await;
    let statuses: Vec<&str> = replayed
        .iter()
        .filter(|e| e["entity_id"] == id.as_str())
        .map(|e| e["status_to"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["QUEUED", "SENT_TO_CLEARING", "COMPLETE"]);
}

#[tokio::test]
async fn drops_from_rust_apply_to_every_live_subscriber_once() {
    let sandbox = spawn_sandbox().await;
    let mut first = sandbox.events("").await;
    let mut second = sandbox.events("").await;
    sandbox.control.drop_live_events(1);
    let id = sandbox.relationship(Uuid::new_v4()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for stream in [&mut first, &mut second] {
        assert_eq!(
            next_frame(stream).await,
            ": you are reading too slowly, dropped 1 messages"
        );
        let seen = stream.until(|e| is_event(e, &id, "APPROVED")).await;
        assert_eq!(seen.len(), 1, "QUEUED was dropped: {seen:?}");
    }
    assert_eq!(
        sandbox.control.funding_events().len(),
        2,
        "the log has both"
    );
}

#[tokio::test]
async fn bad_drop_requests_get_a_400_naming_the_field() {
    let sandbox = spawn_sandbox().await;
    for request in [
        json!({"drop": "two"}),
        json!({"drop": -1}),
        json!({"drop": 2, "duplicate": true}),
        json!({"drop": 2, "times": 3}),
    ] {
        let (status, body) = sandbox
            .control_http(Method::POST, "/events/faults", Some(request.clone()))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{request}");
        assert!(
            body["error"].as_str().unwrap().contains("drop"),
            "{request}: {body}"
        );
    }
    let (status, body) = sandbox
        .control_http(
            Method::POST,
            "/events/faults",
            Some(json!({"duplicate": "yes"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("duplicate"));
}
