//! The HTTP side of the admin server: routes, handlers and a hardened accept loop.
//!
//! The accept loop (rather than `axum::serve`) adds what an endpoint that may face webhook
//! senders needs: a header read timeout against slow clients, a whole-request timeout, and a
//! cap on concurrent connections. Shutdown is graceful: open requests finish first.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::{AdminState, metrics, status::DaemonStatus, webhook};

/// Limits of the admin server.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// How long a client may take to send the request headers.
    pub header_read_timeout: Duration,
    /// How long one request (body included) may take before it gets 408.
    pub request_timeout: Duration,
    /// How many connections are served at once; further clients wait in the backlog.
    pub max_connections: usize,
    /// How long shutdown waits for open connections.
    pub shutdown_grace: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_connections: 256,
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

/// The admin routes, with the body limit on the webhooks and the request timeout on all.
pub fn router(state: AdminState, request_timeout: Duration) -> Router {
    let webhooks = Router::new()
        .route("/webhook/github", post(webhook::github))
        .route("/webhook/gitlab", post(webhook::gitlab))
        .layer(DefaultBodyLimit::max(webhook::BODY_LIMIT));
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .route("/status", get(status_json))
        .merge(webhooks)
        .with_state(state)
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            time_limit(request_timeout, req, next)
        }))
}

/// Serves the admin endpoints on `listener` with default limits until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    state: AdminState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    serve_with(listener, state, ServeOptions::default(), shutdown).await;
}

/// Serves the admin endpoints on `listener` with `options` until `shutdown` resolves.
pub async fn serve_with(
    listener: TcpListener,
    state: AdminState,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let app = router(state, options.request_timeout);
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(options.max_connections.max(1)));
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = accept(&listener, &slots) => accepted,
        };
        let Some((stream, permit)) = accepted else {
            continue;
        };
        let service = TowerToHyperService::new(app.clone());
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(options.header_read_timeout)
            .serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "admin connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(options.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("admin server: open connections did not finish before shutdown");
    }
}

/// Waits for a connection slot and a connection; `None` after a (logged) accept error.
async fn accept(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
) -> Option<(tokio::net::TcpStream, tokio::sync::OwnedSemaphorePermit)> {
    let permit = Arc::clone(slots).acquire_owned().await.ok()?;
    match listener.accept().await {
        Ok((stream, _peer)) => Some((stream, permit)),
        Err(e) => {
            // E.g. too many open files: pause instead of spinning.
            tracing::warn!(error = %e, "admin server failed to accept a connection");
            tokio::time::sleep(Duration::from_millis(100)).await;
            None
        }
    }
}

/// Answers 408 when a request (reading its body included) takes longer than `limit`.
async fn time_limit(limit: Duration, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => (StatusCode::REQUEST_TIMEOUT, "request took too long\n").into_response(),
    }
}

async fn readyz(State(state): State<AdminState>) -> (StatusCode, &'static str) {
    if state.is_ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: no successful reconcile yet\n",
        )
    }
}

async fn metrics_text(State(state): State<AdminState>) -> Response {
    match state.metrics().encode() {
        Ok(text) => ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], text).into_response(),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "failed to encode metrics\n",
        )
            .into_response(),
    }
}

async fn status_json(State(state): State<AdminState>) -> axum::Json<DaemonStatus> {
    axum::Json(state.status())
}
