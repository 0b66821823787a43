//! A small axum server standing in for `/v2/events/funding/status`: each connection plays the next
//! [`Script`] (a status, some chunks, then a clean close, an abort or silence) and every request is
//! recorded, so tests can assert the `since_id` each reconnect asked for.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::routing::get;
use futures::stream::{self, BoxStream, StreamExt};

/// How a scripted response ends after its chunks.
#[derive(Debug, Clone, Copy)]
pub enum Ending {
    /// The body ends normally.
    Close,
    /// The connection is cut in the middle of the body.
    Abort,
    /// Nothing more is sent, and the connection stays open.
    Silence,
}

#[derive(Debug, Clone)]
pub struct Script {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub chunks: Vec<String>,
    pub ending: Ending,
}

impl Script {
    pub fn events(chunks: Vec<String>, ending: Ending) -> Self {
        Self {
            status: 200,
            headers: vec![],
            chunks,
            ending,
        }
    }

    pub fn refusal(status: u16, body: serde_json::Value) -> Self {
        Self {
            status,
            headers: vec![],
            chunks: vec![body.to_string()],
            ending: Ending::Close,
        }
    }
}

/// What one connection asked for.
#[derive(Debug, Clone)]
pub struct SeenRequest {
    pub path: String,
    pub query: Option<String>,
    pub authorization: Option<String>,
    pub accept: Option<String>,
}

impl SeenRequest {
    /// The `since_id` it resumed from.
    pub fn since_id(&self) -> Option<String> {
        let query = self.query.as_deref()?;
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix("since_id="))
            .map(str::to_owned)
    }
}

#[derive(Clone, Default)]
struct Shared {
    scripts: Arc<Mutex<VecDeque<Script>>>,
    seen: Arc<Mutex<Vec<SeenRequest>>>,
}

pub struct SseServer {
    pub url: String,
    shared: Shared,
}

impl SseServer {
    /// Serves `scripts` in order, then silence for every further connection.
    pub async fn start(scripts: Vec<Script>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve_on(listener, scripts)
    }

    /// Serves `scripts` on an already bound listener.
    pub fn serve_on(listener: tokio::net::TcpListener, scripts: Vec<Script>) -> Self {
        let shared = Shared::default();
        shared.scripts.lock().unwrap().extend(scripts);
        let app = Router::new()
            .route("/v2/events/funding/status", get(serve))
            .with_state(shared.clone());
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { url, shared }
    }

    pub fn requests(&self) -> Vec<SeenRequest> {
        self.shared.seen.lock().unwrap().clone()
    }

    /// Polls (bounded) until at least `count` connections were made.
    pub async fn wait_for_requests(&self, count: usize) -> Vec<SeenRequest> {
        for _ in 0..500 {
            let seen = self.requests();
            if seen.len() >= count {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("expected {count} connections, saw {:?}", self.requests());
    }
}

async fn serve(State(shared): State<Shared>, uri: Uri, headers: HeaderMap) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    shared.seen.lock().unwrap().push(SeenRequest {
        path: uri.path().to_owned(),
        query: uri.query().map(str::to_owned),
        authorization: header("authorization"),
        accept: header("accept"),
    });
    let script = shared
        .scripts
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or_else(|| Script::events(vec![], Ending::Silence));
    let chunks = stream::iter(
        script
            .chunks
            .into_iter()
            .map(|chunk| Ok::<_, std::io::Error>(Bytes::from(chunk))),
    );
    let ending: BoxStream<'static, Result<Bytes, std::io::Error>> = match script.ending {
        Ending::Close => stream::empty().boxed(),
        // Pending first, so that hyper flushes the chunks before the cut.
        Ending::Abort => stream::once(async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Err(std::io::Error::other("connection cut"))
        })
        .boxed(),
        Ending::Silence => stream::pending().boxed(),
    };
    let mut response = Response::builder().status(StatusCode::from_u16(script.status).unwrap());
    let content_type = if script.status == 200 {
        "text/event-stream"
    } else {
        "application/json"
    };
    response = response.header("content-type", content_type);
    for (name, value) in script.headers {
        response = response.header(name, value);
    }
    response
        .body(Body::from_stream(chunks.chain(ending)))
        .unwrap()
}
