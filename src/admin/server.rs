//! The HTTP side of the admin server: routes, handlers and a hardened accept loop.
//!
//! The accept loop (rather than `axum::serve`) adds what an endpoint that may face webhook
//! senders needs: a header read timeout against slow clients, a whole-request timeout, and a
//! cap on open connections that never makes a new client wait: when full, it closes a
//! connection of the peer holding the most (see [`super::conns`]), so a flood cannot starve the
//! kubelet's `/healthz` probe. Shutdown is graceful: open requests finish first.

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper::service::Service as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

use super::conns::{ConnId, ConnTable};
use super::{Hub, metrics, webhook};

/// Limits of the admin server.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// How long a client may take to send the request headers.
    pub header_read_timeout: Duration,
    /// How long one request (body included) may take before it gets 408.
    pub request_timeout: Duration,
    /// How many connections are open at once; a new one beyond it closes another first
    /// (one of the peer with the most connections, idle before busy, longest idle first).
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
pub fn router(state: impl Into<Hub>, request_timeout: Duration) -> Router {
    let state: Hub = state.into();
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
    state: impl Into<Hub>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    serve_with(listener, state, ServeOptions::default(), shutdown).await;
}

/// Serves the admin endpoints on `listener` with `options` until `shutdown` resolves.
pub async fn serve_with(
    listener: TcpListener,
    state: impl Into<Hub>,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let app = router(state, options.request_timeout);
    let graceful = GracefulShutdown::new();
    let table = ConnTable::new(options.max_connections);
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // E.g. too many open files: pause instead of spinning.
                tracing::warn!(error = %e, "admin server failed to accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let (admitted, evicted) = table.admit(peer.ip());
        if evicted {
            tracing::debug!(%peer, "admin server full: closed a connection to admit a new one");
        }
        let service = tracked_service(app.clone(), table.clone(), admitted.id);
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(options.header_read_timeout)
            .serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        let table = table.clone();
        tokio::spawn(async move {
            tokio::select! {
                ended = conn => {
                    if let Err(e) = ended {
                        tracing::debug!(error = %e, "admin connection ended with an error");
                    }
                }
                // Dropping the connection closes the socket.
                () = admitted.close.notified() => {}
            }
            table.closed(admitted.id);
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

/// The router as the service of connection `id`, recording in `table` while a request of it
/// is in flight.
fn tracked_service(
    app: Router,
    table: ConnTable,
    id: ConnId,
) -> impl hyper::service::Service<
    Request<hyper::body::Incoming>,
    Response = Response,
    Error = std::convert::Infallible,
    Future = impl Future<Output = Result<Response, std::convert::Infallible>> + Send,
> {
    let inner = TowerToHyperService::new(app);
    hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
        table.request_started(id);
        let answered = inner.call(req);
        let table = table.clone();
        async move {
            let response = answered.await;
            table.request_finished(id);
            response
        }
    })
}

/// Answers 408 when a request (reading its body included) takes longer than `limit`.
async fn time_limit(limit: Duration, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => (StatusCode::REQUEST_TIMEOUT, "request took too long\n").into_response(),
    }
}

async fn readyz(State(state): State<Hub>) -> (StatusCode, &'static str) {
    if state.is_ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: no successful reconcile yet\n",
        )
    }
}

async fn metrics_text(State(state): State<Hub>) -> Response {
    match state.metrics_text() {
        Ok(text) => ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], text).into_response(),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "failed to encode metrics\n",
        )
            .into_response(),
    }
}

async fn status_json(State(state): State<Hub>) -> axum::Json<serde_json::Value> {
    axum::Json(state.status_json())
}
