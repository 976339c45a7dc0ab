//! A real HTTP webhook receiver on 127.0.0.1 for the notification tests: a hyper server that
//! records every request (method, path, headers, raw body) and answers with scripted statuses
//! (200 once the script is used up). It can hold requests until released, to play a slow
//! receiver without timing anything.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

/// The longest [`WebhookReceiver::wait_for`] waits before failing the test (a hang guard, not
/// a timed assertion).
const HANG_GUARD: Duration = Duration::from_secs(60);

/// One request as the receiver got it.
#[derive(Debug, Clone)]
pub struct Received {
    /// `POST`, …
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Every header, names lowercase, in order.
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: Vec<u8>,
}

impl Received {
    /// The value of header `name` (lowercase), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("the body is JSON")
    }
}

#[derive(Default)]
struct State {
    received: Mutex<Vec<Received>>,
    script: Mutex<VecDeque<u16>>,
    arrived: Notify,
}

/// A running receiver; stops when dropped.
pub struct WebhookReceiver {
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    state: Arc<State>,
    gate: watch::Sender<bool>,
    server: JoinHandle<()>,
}

impl WebhookReceiver {
    /// Starts a receiver on 127.0.0.1 and a free port (within a tokio runtime).
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(State::default());
        let (gate, _) = watch::channel(true);
        let server = tokio::spawn(serve(listener, state.clone(), gate.clone()));
        Self {
            port,
            state,
            gate,
            server,
        }
    }

    /// `http://127.0.0.1:{port}{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Answers the next requests with `statuses`, in order, then 200 again.
    pub fn answer_with(&self, statuses: &[u16]) {
        self.state.script.lock().unwrap().extend(statuses);
    }

    /// Holds every request (after recording it) until [`WebhookReceiver::release`].
    pub fn hold(&self) {
        self.gate.send_replace(false);
    }

    /// Answers held requests, and new ones at once.
    pub fn release(&self) {
        self.gate.send_replace(true);
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests arrived; fails the test after a minute.
    pub async fn wait_for(&self, n: usize) {
        let arrived = async {
            loop {
                let notified = self.state.arrived.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if self.state.received.lock().unwrap().len() >= n {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(HANG_GUARD, arrived)
            .await
            .unwrap_or_else(|_| panic!("the receiver did not get {n} requests"));
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn serve(listener: TcpListener, state: Arc<State>, gate: watch::Sender<bool>) {
    let mut connections = tokio::task::JoinSet::new();
    while let Ok((stream, _)) = listener.accept().await {
        let (state, gate) = (state.clone(), gate.clone());
        let service = service_fn(move |request| answer(request, state.clone(), gate.subscribe()));
        connections.spawn(async move {
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn answer(
    request: Request<Incoming>,
    state: Arc<State>,
    mut gate: watch::Receiver<bool>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();
    let headers = parts
        .headers
        .iter()
        .map(|(n, v)| {
            let value = String::from_utf8_lossy(v.as_bytes()).into_owned();
            (n.as_str().to_owned(), value)
        })
        .collect();
    let path = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned());
    state.received.lock().unwrap().push(Received {
        method: parts.method.as_str().to_owned(),
        path,
        headers,
        body,
    });
    state.arrived.notify_waiters();
    let _ = gate.wait_for(|open| *open).await;
    let status = state.script.lock().unwrap().pop_front().unwrap_or(200);
    let mut response = Response::new(Full::new(Bytes::from_static(b"ok")));
    *response.status_mut() = StatusCode::from_u16(status).unwrap();
    Ok(response)
}
