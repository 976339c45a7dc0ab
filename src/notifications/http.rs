//! One POST of a notice body: hyper's client over plain TCP, or rustls with the system's root
//! certificates for `https://` (built like the Prometheus client in
//! `reconcile/rollout/prometheus.rs`), and a typed [`Failure`] that says whether to retry.
//!
//! A [`Failure`] never holds the URL or the text of the underlying error (a Slack URL holds a
//! token): only its kind, an HTTP status or an [`std::io::ErrorKind`].

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Bytes;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// The most of an answer read (then dropped): receivers answer with little or nothing.
const MAX_ANSWER: usize = 64 * 1024;

/// The HTTP client of one receiver: plain, or TLS for `https://`.
#[derive(Clone)]
pub(crate) enum Client {
    Http(legacy::Client<HttpConnector, Full<Bytes>>),
    Https(legacy::Client<HttpsConnector<HttpConnector>, Full<Bytes>>),
}

/// Why one POST did not succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The URL could not be turned into a request (not expected after `load`'s checks).
    Request,
    /// No connection could be made (refused, DNS, TLS handshake).
    Connect(Option<std::io::ErrorKind>),
    /// The connection failed while the request was sent or answered.
    Transport(Option<std::io::ErrorKind>),
    /// No answer within the timeout.
    Timeout(Duration),
    /// A status other than 2xx.
    Status(u16),
}

impl Failure {
    /// Whether another attempt may succeed: connection failures, timeouts, 5xx and 429. Other
    /// statuses (4xx, 3xx: redirects are not followed) are answers that will not change.
    pub(crate) fn retryable(self) -> bool {
        match self {
            Failure::Request => false,
            Failure::Connect(_) | Failure::Transport(_) | Failure::Timeout(_) => true,
            Failure::Status(status) => status == 429 || (500..600).contains(&status),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = |f: &mut fmt::Formatter<'_>, kind: &Option<std::io::ErrorKind>| match kind {
            Some(kind) => write!(f, " ({kind})"),
            None => Ok(()),
        };
        match self {
            Failure::Request => f.write_str("the request could not be built"),
            Failure::Connect(k) => {
                f.write_str("could not connect")?;
                kind(f, k)
            }
            Failure::Transport(k) => {
                f.write_str("the connection failed")?;
                kind(f, k)
            }
            Failure::Timeout(timeout) => write!(f, "no answer within {timeout:?}"),
            Failure::Status(status) => write!(f, "HTTP status {status}"),
        }
    }
}

impl Client {
    /// A client for `http://` (`https` false) or `https://` URLs; `Err` says why TLS cannot be
    /// set up.
    pub(crate) fn new(https: bool) -> Result<Self, String> {
        if !https {
            return Ok(Client::Http(
                legacy::Client::builder(TokioExecutor::new()).build_http(),
            ));
        }
        let connector = HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| e.to_string())?
            .https_only()
            .enable_http1()
            .build();
        Ok(Client::Https(
            legacy::Client::builder(TokioExecutor::new()).build(connector),
        ))
    }

    /// POSTs `body` as JSON to `url` with the extra `headers`; `Ok` on a 2xx answer.
    pub(crate) async fn post(
        &self,
        url: &str,
        headers: &[(&'static str, String)],
        body: Bytes,
        timeout: Duration,
    ) -> Result<(), Failure> {
        let mut request = hyper::Request::post(url)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(hyper::header::USER_AGENT, "mlsync");
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let request = request
            .body(Full::new(body))
            .map_err(|_| Failure::Request)?;
        match tokio::time::timeout(timeout, self.exchange(request)).await {
            Ok(answer) => answer,
            Err(_) => Err(Failure::Timeout(timeout)),
        }
    }

    /// Sends `request` and reads (then drops) the answer, so the connection can be reused.
    async fn exchange(&self, request: hyper::Request<Full<Bytes>>) -> Result<(), Failure> {
        let sent = match self {
            Client::Http(client) => client.request(request).await,
            Client::Https(client) => client.request(request).await,
        };
        let response = sent.map_err(|e| {
            let kind = io_kind(&e);
            if e.is_connect() {
                Failure::Connect(kind)
            } else {
                Failure::Transport(kind)
            }
        })?;
        let status = response.status();
        // A 2xx whose body breaks off was still accepted: only the status decides.
        let _ = Limited::new(response.into_body(), MAX_ANSWER)
            .collect()
            .await;
        if status.is_success() {
            Ok(())
        } else {
            Err(Failure::Status(status.as_u16()))
        }
    }
}

/// The kind of the first I/O error among the causes of `error`, if any.
fn io_kind(error: &(dyn StdError + 'static)) -> Option<std::io::ErrorKind> {
    let mut next = error.source();
    while let Some(cause) = next {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        next = cause.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_only_what_may_change() {
        assert!(Failure::Connect(None).retryable());
        assert!(Failure::Transport(None).retryable());
        assert!(Failure::Timeout(Duration::from_secs(10)).retryable());
        assert!(Failure::Status(500).retryable());
        assert!(Failure::Status(503).retryable());
        assert!(Failure::Status(429).retryable());
        assert!(!Failure::Status(400).retryable());
        assert!(!Failure::Status(404).retryable());
        assert!(!Failure::Status(301).retryable());
        assert!(!Failure::Request.retryable());
    }

    #[test]
    fn failures_read_without_urls() {
        let refused = Failure::Connect(Some(std::io::ErrorKind::ConnectionRefused));
        assert_eq!(
            refused.to_string(),
            "could not connect (connection refused)"
        );
        assert_eq!(Failure::Status(503).to_string(), "HTTP status 503");
        let timeout = Failure::Timeout(Duration::from_secs(10));
        assert_eq!(timeout.to_string(), "no answer within 10s");
    }

    #[tokio::test]
    async fn a_closed_port_is_a_connect_failure() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let client = Client::new(false).unwrap();
        let url = format!("http://127.0.0.1:{port}/");
        let failure = client
            .post(
                &url,
                &[],
                Bytes::from_static(b"{}"),
                Duration::from_secs(10),
            )
            .await
            .unwrap_err();
        assert!(matches!(failure, Failure::Connect(_)), "{failure:?}");
    }
}
