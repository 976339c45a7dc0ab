//! Shared helpers for the admin server tests: a real server on 127.0.0.1 and a real
//! HTTP/1.1 client (hyper) to talk to it.

#![allow(dead_code)]

use std::net::SocketAddr;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use mlsync::admin::webhook::WebhookSecret;
use mlsync::admin::{self, AdminState, ServeOptions};
use mlsync::trigger::{self, TriggerReceiver};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The shared secret the webhook tests use (a test value, not a real secret).
pub const TEST_WEBHOOK_SECRET: &[u8] = b"test-webhook-secret";

/// A running admin server.
pub struct Server {
    pub addr: SocketAddr,
    pub state: AdminState,
    pub triggers: TriggerReceiver,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

/// Starts the admin server on an ephemeral 127.0.0.1 port with default limits.
pub async fn start(secret: Option<&[u8]>) -> Server {
    start_with(secret, ServeOptions::default()).await
}

/// Starts the admin server on an ephemeral 127.0.0.1 port with `options`.
pub async fn start_with(secret: Option<&[u8]>, options: ServeOptions) -> Server {
    let (tx, triggers) = trigger::channel();
    let secret = secret.map(|s| WebhookSecret::from_bytes(s.to_vec()).unwrap());
    let state = AdminState::new(tx, secret);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let shutdown = async move {
        let _ = stopped.await;
    };
    let task = tokio::spawn(admin::serve_with(
        listener,
        state.clone(),
        options,
        shutdown,
    ));
    Server {
        addr,
        state,
        triggers,
        stop,
        task,
    }
}

impl Server {
    /// Shuts the server down through its shutdown future and checks it ended cleanly.
    pub async fn stop(self) {
        self.stop.send(()).unwrap();
        self.task.await.unwrap();
    }

    /// GET `path`; returns the status code and body.
    pub async fn get(&self, path: &str) -> (u16, String) {
        request(self.addr, "GET", path, &[], Vec::new()).await
    }

    /// POST `body` to `path` with `headers`; returns the status code and body.
    pub async fn post(&self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String) {
        request(self.addr, "POST", path, headers, body.to_vec()).await
    }
}

/// One HTTP/1.1 request over a fresh connection.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, String) {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = sender
        .send_request(req.body(Full::new(Bytes::from(body))).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}
