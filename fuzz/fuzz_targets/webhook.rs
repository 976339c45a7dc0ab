//! The admin server's HTTP side on raw request bytes: hyper's HTTP/1.1 parser, the routes, the
//! body limit and the webhook signature and token checks, with the secret `fuzz-webhook-secret`
//! (the seeds hold correctly signed deliveries, so mutations reach the accepted path too).
//!
//! Checks: no panic, the connection always ends, and the server always answers with HTTP (or
//! closes without answering a request it cannot parse).

#![no_main]

use std::sync::LazyLock;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use libfuzzer_sys::fuzz_target;
use mlsync::admin::webhook::WebhookSecret;
use mlsync::admin::{self, AdminState};
use mlsync::trigger;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
});

fuzz_target!(|data: &[u8]| {
    RUNTIME.block_on(async {
        let (triggers, _receiver) = trigger::channel();
        let secret = WebhookSecret::from_bytes(b"fuzz-webhook-secret".to_vec());
        let app = admin::router(AdminState::new(triggers, secret), Duration::from_secs(5));
        let (client, server) = tokio::io::duplex(64 * 1024);
        let conn = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(server), TowerToHyperService::new(app));
        let (mut from_server, mut to_server) = tokio::io::split(client);
        let send = async {
            // The server may close before reading everything (e.g. after a 413).
            let _ = to_server.write_all(data).await;
            let _ = to_server.shutdown().await;
        };
        let receive = async {
            let mut answer = Vec::new();
            let _ = from_server.read_to_end(&mut answer).await;
            answer
        };
        let serve = async {
            let _ = conn.await;
        };
        let ((), (), answer) = tokio::join!(send, serve, receive);
        assert!(
            answer.is_empty() || answer.starts_with(b"HTTP/1."),
            "not an HTTP answer: {:?}",
            String::from_utf8_lossy(&answer[..answer.len().min(200)])
        );
    });
});
