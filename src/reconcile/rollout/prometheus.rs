//! A client of the Prometheus HTTP API: instant queries that must come down to one number.
//!
//! A canary analysis asks one question per metric ("what is the canary's error rate?"), so
//! [`Prometheus::query`] accepts exactly one number: a `scalar`, or a `vector` with one series.
//! No series, or a value that is not a number (`NaN`, `±Inf`: `0/0` when a track has no traffic)
//! is [`Sample::NoData`]; more than one series is [`PrometheusError::Ambiguous`] (the query must
//! aggregate, e.g. `sum(...)`). Errors say what went wrong without the bodies of answers, beyond
//! the error text Prometheus itself sent.
//!
//! `http://` and `https://` (rustls, the system's root certificates) addresses are supported;
//! user and password in the address become basic auth and are never shown.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use http_body_util::{BodyExt as _, Empty, Limited};
use hyper::StatusCode;
use hyper::body::Bytes;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use url::Url;

use answer::decode;

#[path = "prometheus_answer.rs"]
mod answer;

/// How long a query may take, answer included.
const QUERY_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer read (a query matching many series is refused before it gets this big).
const MAX_BODY: usize = 4 * 1024 * 1024;
/// The longest error text of Prometheus kept in an error.
const MAX_ERROR_TEXT: usize = 1024;

/// What a query returned.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sample {
    /// One finite number.
    Value(f64),
    /// No series, or a value that is not a number (`NaN`, `±Inf`).
    NoData,
}

/// Why a query gave no [`Sample`].
#[derive(Debug, thiserror::Error)]
pub enum PrometheusError {
    /// The address is not an `http://` or `https://` URL.
    #[error("failed to query Prometheus at {address}: invalid address: {reason}")]
    Address {
        /// The address as given.
        address: String,
        /// What is wrong with it.
        reason: String,
    },
    /// TLS for an `https://` address failed: its set-up (e.g. no root certificates) or the
    /// handshake (e.g. a certificate that is not trusted, a server that does not speak TLS).
    #[error("failed to query Prometheus at {address}: TLS failed: {reason}")]
    Tls {
        /// The address, without credentials.
        address: String,
        /// What failed.
        reason: String,
    },
    /// No connection could be made.
    #[error("failed to query Prometheus at {address}: unreachable: {reason}")]
    Unreachable {
        /// The address, without credentials.
        address: String,
        /// Why the connection failed.
        reason: String,
    },
    /// The connection failed while the query was sent or answered.
    #[error("failed to query Prometheus at {address}: connection failed: {reason}")]
    Transport {
        /// The address, without credentials.
        address: String,
        /// What failed.
        reason: String,
    },
    /// No answer within the timeout.
    #[error("failed to query Prometheus at {address}: no answer within {timeout:?}")]
    Timeout {
        /// The address, without credentials.
        address: String,
        /// The time waited.
        timeout: Duration,
    },
    /// An HTTP status other than 2xx, without a Prometheus error in the body.
    #[error("failed to query Prometheus at {address}: HTTP status {status}")]
    HttpStatus {
        /// The address, without credentials.
        address: String,
        /// The HTTP status code.
        status: u16,
    },
    /// Prometheus refused or failed the query (`"status":"error"`), e.g. a syntax error.
    #[error("failed to query Prometheus at {address}: query failed ({error_type}): {error}")]
    Query {
        /// The address, without credentials.
        address: String,
        /// Prometheus' `errorType`, e.g. `bad_data`, `execution`, `timeout`.
        error_type: String,
        /// Prometheus' `error` text.
        error: String,
    },
    /// The query returned more than one series: it must aggregate to one number.
    #[error(
        "failed to query Prometheus at {address}: the query returned {series} series, not one \
         (aggregate it, e.g. with sum(...))"
    )]
    Ambiguous {
        /// The address, without credentials.
        address: String,
        /// How many series it returned.
        series: usize,
    },
    /// The query returned a range vector (`matrix`) or a `string`, not a number.
    #[error(
        "failed to query Prometheus at {address}: the query returned a {result_type}, not a \
         scalar or instant vector"
    )]
    ResultType {
        /// Prometheus' `resultType`.
        result_type: String,
        /// The address, without credentials.
        address: String,
    },
    /// The answer is not a Prometheus API response.
    #[error("failed to query Prometheus at {address}: unreadable answer: {reason}")]
    Decode {
        /// The address, without credentials.
        address: String,
        /// What is wrong with it (never the answer itself).
        reason: String,
    },
}

impl PrometheusError {
    /// A short fixed name of the kind of failure, for metric labels.
    pub fn metric_label(&self) -> &'static str {
        match self {
            PrometheusError::Address { .. } => "address",
            PrometheusError::Tls { .. } => "tls",
            PrometheusError::Unreachable { .. } => "unreachable",
            PrometheusError::Transport { .. } => "transport",
            PrometheusError::Timeout { .. } => "timeout",
            PrometheusError::HttpStatus { .. } => "http_status",
            PrometheusError::Query { .. } => "query_error",
            PrometheusError::Ambiguous { .. } => "ambiguous",
            PrometheusError::ResultType { .. } => "result_type",
            PrometheusError::Decode { .. } => "decode",
        }
    }
}

/// The HTTP client of one address: plain, or TLS for `https://`.
#[derive(Clone)]
enum Transport {
    Http(Client<HttpConnector, Empty<Bytes>>),
    Https(Client<HttpsConnector<HttpConnector>, Empty<Bytes>>),
}

/// A Prometheus HTTP API.
#[derive(Clone)]
pub struct Prometheus {
    /// `{base}/api/v1/query`, without credentials.
    endpoint: Url,
    /// The address for messages: as given, or without credentials if it had some.
    address: String,
    /// `Authorization` header from the address' user and password.
    authorization: Option<String>,
    transport: Transport,
    timeout: Duration,
}

impl fmt::Debug for Prometheus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Prometheus")
            .field("address", &self.address)
            .field(
                "authorization",
                &self.authorization.as_ref().map(|_| "<redacted>"),
            )
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Prometheus {
    /// `address`: base URL like http://prometheus.monitoring:9090 (a path prefix is kept).
    pub fn new(address: &str) -> Result<Self, PrometheusError> {
        let given = address.trim();
        let shown = without_credentials(given);
        let invalid = |reason: &str| PrometheusError::Address {
            address: shown.clone(),
            reason: reason.to_owned(),
        };
        let mut url = Url::parse(given).map_err(|e| invalid(&e.to_string()))?;
        let https = match url.scheme() {
            "http" => false,
            "https" => true,
            _ => return Err(invalid("the scheme must be http:// or https://")),
        };
        if url.host_str().is_none_or(str::is_empty) {
            return Err(invalid("no host"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid("a query string or fragment is not allowed"));
        }
        let authorization = if url.username().is_empty() && url.password().is_none() {
            None
        } else {
            let user = percent_decode(url.username());
            let password = url.password().map(percent_decode).unwrap_or_default();
            let credentials = STANDARD.encode(format!("{user}:{password}"));
            // A URL that has a host accepts any user and password.
            let _ = url.set_username("");
            let _ = url.set_password(None);
            Some(format!("Basic {credentials}"))
        };
        let address = shown.clone();
        let mut endpoint = url;
        endpoint
            .path_segments_mut()
            .map_err(|()| invalid("the address cannot be a base URL"))?
            .pop_if_empty()
            .extend(["api", "v1", "query"]);
        let transport = if https {
            let connector = HttpsConnectorBuilder::new()
                .with_native_roots()
                .map_err(|e| PrometheusError::Tls {
                    address: address.clone(),
                    reason: e.to_string(),
                })?
                .https_only()
                .enable_http1()
                .build();
            Transport::Https(Client::builder(TokioExecutor::new()).build(connector))
        } else {
            Transport::Http(Client::builder(TokioExecutor::new()).build_http())
        };
        Ok(Self {
            endpoint,
            address,
            authorization,
            transport,
            timeout: QUERY_TIMEOUT,
        })
    }

    /// Runs an instant query (GET {base}/api/v1/query?query=…), timeout 10 s.
    pub async fn query(&self, promql: &str) -> Result<Sample, PrometheusError> {
        match tokio::time::timeout(self.timeout, self.fetch(promql)).await {
            Ok(answer) => {
                let (status, body) = answer?;
                decode(&self.address, status, &body)
            }
            Err(_) => Err(PrometheusError::Timeout {
                address: self.address.clone(),
                timeout: self.timeout,
            }),
        }
    }

    /// Sends the query; returns the status and the body of the answer.
    async fn fetch(&self, promql: &str) -> Result<(StatusCode, Bytes), PrometheusError> {
        let mut url = self.endpoint.clone();
        url.query_pairs_mut().clear().append_pair("query", promql);
        let decode_error = |reason: String| PrometheusError::Decode {
            address: self.address.clone(),
            reason,
        };
        let mut request = hyper::Request::get(url.as_str())
            .header(hyper::header::ACCEPT, "application/json")
            .header(hyper::header::USER_AGENT, "mlsync");
        if let Some(authorization) = &self.authorization {
            request = request.header(hyper::header::AUTHORIZATION, authorization);
        }
        let request =
            request
                .body(Empty::<Bytes>::new())
                .map_err(|e| PrometheusError::Address {
                    address: self.address.clone(),
                    reason: e.to_string(),
                })?;
        let sent = match &self.transport {
            Transport::Http(client) => client.request(request).await,
            Transport::Https(client) => client.request(request).await,
        };
        let response = sent.map_err(|e| {
            let reason = causes(&e);
            // The TLS connector fails the handshake with an io::Error of its own; a TCP connect
            // failure comes wrapped in the client's connect error.
            let handshake = matches!(self.transport, Transport::Https(_))
                && e.source().is_some_and(|s| s.is::<std::io::Error>());
            if e.is_connect() && handshake {
                PrometheusError::Tls {
                    address: self.address.clone(),
                    reason,
                }
            } else if e.is_connect() {
                PrometheusError::Unreachable {
                    address: self.address.clone(),
                    reason,
                }
            } else {
                PrometheusError::Transport {
                    address: self.address.clone(),
                    reason,
                }
            }
        })?;
        let status = response.status();
        let body = Limited::new(response.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    decode_error(format!("the answer is larger than {MAX_BODY} bytes"))
                } else {
                    PrometheusError::Transport {
                        address: self.address.clone(),
                        reason: causes(&*e),
                    }
                }
            })?
            .to_bytes();
        Ok((status, body))
    }
}

/// `address` without the `user:password@` of its authority, if it has one.
fn without_credentials(address: &str) -> String {
    let Some((scheme, rest)) = address.split_once("://") else {
        return address.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
        None => address.to_owned(),
    }
}

/// `%xx` escapes of a URL's user or password decoded.
fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

/// The messages of an error's causes, joined by ": " (the error itself when it has none; the
/// client's own "client error (Connect)" says nothing).
fn causes(error: &(dyn StdError + 'static)) -> String {
    let mut parts = Vec::new();
    let mut next = error.source();
    while let Some(cause) = next {
        parts.push(cause.to_string());
        next = cause.source();
    }
    if parts.is_empty() {
        error.to_string()
    } else {
        parts.join(": ")
    }
}

#[cfg(test)]
#[path = "prometheus_tests.rs"]
mod tests;
