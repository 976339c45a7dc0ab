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
use serde::Deserialize;
use serde::de::IgnoredAny;
use url::Url;

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

/// The body of an answer of `/api/v1/query`.
#[derive(Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// `data` of a successful answer.
#[derive(Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
enum Data {
    Vector(Vec<Series>),
    Scalar(Point),
    Matrix(IgnoredAny),
    String(IgnoredAny),
}

/// One series of a vector; its labels are not needed.
#[derive(Deserialize)]
struct Series {
    value: Point,
}

/// `[unix time, "value"]`.
#[derive(Deserialize)]
struct Point(IgnoredAny, String);

impl Point {
    /// The value; `NaN` and `±Inf` are no data.
    fn sample(&self, address: &str) -> Result<Sample, PrometheusError> {
        let value: f64 = self.1.trim().parse().map_err(|_| PrometheusError::Decode {
            address: address.to_owned(),
            reason: "a sample value is not a number".to_owned(),
        })?;
        Ok(if value.is_finite() {
            Sample::Value(value)
        } else {
            Sample::NoData
        })
    }
}

/// The sample in an answer of `/api/v1/query`, or why there is none.
fn decode(address: &str, status: StatusCode, body: &[u8]) -> Result<Sample, PrometheusError> {
    let answer = match serde_json::from_slice::<Answer>(body) {
        Ok(answer) => answer,
        Err(_) if !status.is_success() => {
            return Err(PrometheusError::HttpStatus {
                address: address.to_owned(),
                status: status.as_u16(),
            });
        }
        Err(e) => {
            return Err(PrometheusError::Decode {
                address: address.to_owned(),
                reason: format!(
                    "not a Prometheus API response ({:?} error at line {} column {})",
                    e.classify(),
                    e.line(),
                    e.column()
                ),
            });
        }
    };
    // Prometheus answers errors with 400, 422 or 503 and `"status":"error"`.
    if answer.status == "error" {
        return Err(PrometheusError::Query {
            address: address.to_owned(),
            error_type: bounded(answer.error_type.as_deref().unwrap_or("unknown")),
            error: bounded(answer.error.as_deref().unwrap_or("")),
        });
    }
    if !status.is_success() {
        return Err(PrometheusError::HttpStatus {
            address: address.to_owned(),
            status: status.as_u16(),
        });
    }
    let malformed = |reason: &str| PrometheusError::Decode {
        address: address.to_owned(),
        reason: reason.to_owned(),
    };
    if answer.status != "success" {
        return Err(malformed("the status is neither success nor error"));
    }
    match answer.data {
        None => Err(malformed("a successful answer without data")),
        Some(Data::Scalar(point)) => point.sample(address),
        Some(Data::Vector(series)) => match series.as_slice() {
            [] => Ok(Sample::NoData),
            [one] => one.value.sample(address),
            many => Err(PrometheusError::Ambiguous {
                address: address.to_owned(),
                series: many.len(),
            }),
        },
        Some(Data::Matrix(_)) => Err(PrometheusError::ResultType {
            result_type: "matrix".to_owned(),
            address: address.to_owned(),
        }),
        Some(Data::String(_)) => Err(PrometheusError::ResultType {
            result_type: "string".to_owned(),
            address: address.to_owned(),
        }),
    }
}

/// `text` cut to [`MAX_ERROR_TEXT`] bytes (at a character boundary).
fn bounded(text: &str) -> String {
    if text.len() <= MAX_ERROR_TEXT {
        return text.to_owned();
    }
    let mut end = MAX_ERROR_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADDRESS: &str = "http://prometheus.test:9090";

    fn ok(body: &str) -> Result<Sample, PrometheusError> {
        decode(ADDRESS, StatusCode::OK, body.as_bytes())
    }

    #[test]
    fn a_vector_with_one_series_is_its_value() {
        let body = r#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"track":"canary"},"value":[1700000000.123,"0.25"]}]}}"#;
        assert_eq!(ok(body).unwrap(), Sample::Value(0.25));
    }

    #[test]
    fn a_vector_with_labels_after_the_value_and_result_before_its_type_decodes() {
        let body = r#"{"data":{"result":[{"value":[1700000000,"3"],"metric":{}}],
            "resultType":"vector"},"status":"success","warnings":["w"]}"#;
        assert_eq!(ok(body).unwrap(), Sample::Value(3.0));
    }

    #[test]
    fn a_scalar_is_its_value() {
        let body = r#"{"status":"success","data":{"resultType":"scalar","result":[1700000000,"-1.5e-3"]}}"#;
        assert_eq!(ok(body).unwrap(), Sample::Value(-0.0015));
    }

    #[test]
    fn an_empty_vector_is_no_data() {
        let body = r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        assert_eq!(ok(body).unwrap(), Sample::NoData);
    }

    #[test]
    fn nan_and_infinities_are_no_data() {
        for value in ["NaN", "+Inf", "-Inf", "Inf"] {
            let vector = format!(
                r#"{{"status":"success","data":{{"resultType":"vector","result":[
                {{"metric":{{}},"value":[1700000000,"{value}"]}}]}}}}"#
            );
            assert_eq!(ok(&vector).unwrap(), Sample::NoData, "{value}");
            let scalar = format!(
                r#"{{"status":"success","data":{{"resultType":"scalar","result":[1,"{value}"]}}}}"#
            );
            assert_eq!(ok(&scalar).unwrap(), Sample::NoData, "{value}");
        }
    }

    #[test]
    fn two_series_are_ambiguous() {
        let body = r#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"track":"stable"},"value":[1700000000,"1"]},
            {"metric":{"track":"canary"},"value":[1700000000,"NaN"]}]}}"#;
        let error = ok(body).unwrap_err();
        assert!(
            matches!(error, PrometheusError::Ambiguous { series: 2, .. }),
            "{error:?}"
        );
        assert_eq!(error.metric_label(), "ambiguous");
        assert_eq!(
            error.to_string(),
            "failed to query Prometheus at http://prometheus.test:9090: the query returned 2 \
             series, not one (aggregate it, e.g. with sum(...))"
        );
    }

    #[test]
    fn an_error_status_is_a_query_error_with_prometheus_text() {
        let body = r#"{"status":"error","errorType":"bad_data",
            "error":"1:9: parse error: unclosed left parenthesis"}"#;
        for status in [StatusCode::BAD_REQUEST, StatusCode::OK] {
            let error = decode(ADDRESS, status, body.as_bytes()).unwrap_err();
            let PrometheusError::Query {
                error_type,
                error: text,
                ..
            } = &error
            else {
                panic!("{error:?}");
            };
            assert_eq!(error_type, "bad_data");
            assert_eq!(text, "1:9: parse error: unclosed left parenthesis");
            assert_eq!(error.metric_label(), "query_error");
            assert_eq!(
                error.to_string(),
                "failed to query Prometheus at http://prometheus.test:9090: query failed \
                 (bad_data): 1:9: parse error: unclosed left parenthesis"
            );
        }
    }

    #[test]
    fn a_long_error_text_is_cut() {
        let body = format!(
            r#"{{"status":"error","errorType":"execution","error":"{}"}}"#,
            "é".repeat(MAX_ERROR_TEXT)
        );
        let error = decode(ADDRESS, StatusCode::UNPROCESSABLE_ENTITY, body.as_bytes()).unwrap_err();
        let PrometheusError::Query { error: text, .. } = error else {
            panic!("{error:?}");
        };
        assert!(
            text.len() <= MAX_ERROR_TEXT + '…'.len_utf8(),
            "{}",
            text.len()
        );
        assert!(text.ends_with('…'));
    }

    #[test]
    fn a_status_that_is_not_2xx_without_an_api_error_is_an_http_status() {
        let error = decode(
            ADDRESS,
            StatusCode::BAD_GATEWAY,
            b"<html>bad gateway</html>",
        )
        .unwrap_err();
        assert!(
            matches!(error, PrometheusError::HttpStatus { status: 502, .. }),
            "{error:?}"
        );
        assert_eq!(error.metric_label(), "http_status");
        assert_eq!(
            error.to_string(),
            "failed to query Prometheus at http://prometheus.test:9090: HTTP status 502"
        );
        // A 2xx-looking success body behind a non-2xx status is not trusted either.
        let body = r#"{"status":"success","data":{"resultType":"scalar","result":[1,"1"]}}"#;
        let error = decode(ADDRESS, StatusCode::NOT_FOUND, body.as_bytes()).unwrap_err();
        assert!(matches!(
            error,
            PrometheusError::HttpStatus { status: 404, .. }
        ));
    }

    #[test]
    fn an_unreadable_answer_is_a_decode_error_that_does_not_repeat_the_body() {
        for body in [
            "<html>secret-ish</html>",
            r#"{"status":"success","data":{"resultType":"vector","result":[{"value":[1,"secret-ish"]}]}}"#,
            r#"{"status":"success","data":{"resultType":"vector","result":"secret-ish"}}"#,
            r#"{"status":"success"}"#,
            r#"{"status":"secret-ish"}"#,
        ] {
            let error = ok(body).unwrap_err();
            assert_eq!(error.metric_label(), "decode", "{body}: {error:?}");
            assert!(!error.to_string().contains("secret-ish"), "{error}");
        }
    }

    #[test]
    fn a_matrix_is_refused() {
        let body = r#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{},"values":[[1,"1"],[2,"2"]]}]}}"#;
        let error = ok(body).unwrap_err();
        assert!(
            matches!(&error, PrometheusError::ResultType { result_type, .. } if result_type == "matrix"),
            "{error:?}"
        );
        assert_eq!(error.metric_label(), "result_type");
    }

    #[test]
    fn addresses_keep_their_path_prefix_and_refuse_other_schemes() {
        let prometheus = Prometheus::new("http://prom.example:9090/prefix/").unwrap();
        assert_eq!(
            prometheus.endpoint.as_str(),
            "http://prom.example:9090/prefix/api/v1/query"
        );
        assert_eq!(prometheus.address, "http://prom.example:9090/prefix/");
        let plain = Prometheus::new("http://prom.example:9090").unwrap();
        assert_eq!(
            plain.endpoint.as_str(),
            "http://prom.example:9090/api/v1/query"
        );
        for address in [
            "ftp://prom.example",
            "prom.example:9090",
            "",
            "http://x/?a=b",
        ] {
            let error = Prometheus::new(address).unwrap_err();
            assert_eq!(error.metric_label(), "address", "{address}: {error:?}");
            assert!(
                error
                    .to_string()
                    .starts_with("failed to query Prometheus at "),
                "{error}"
            );
        }
    }

    #[test]
    fn the_client_and_its_queries_can_move_between_threads() {
        fn send_sync<T: Send + Sync>(_: &T) {}
        fn send<T: Send>(_: T) {}
        let prometheus = Prometheus::new("http://prom.example:9090").unwrap();
        send_sync(&prometheus);
        send(prometheus.query("vector(1)"));
    }

    #[test]
    fn credentials_in_the_address_become_basic_auth_and_are_never_shown() {
        let prometheus = Prometheus::new("http://us%40er:p%3Ass@prom.example:9090/x").unwrap();
        assert_eq!(prometheus.address, "http://prom.example:9090/x");
        assert_eq!(
            prometheus.endpoint.as_str(),
            "http://prom.example:9090/x/api/v1/query"
        );
        assert_eq!(
            prometheus.authorization.as_deref(),
            Some(format!("Basic {}", STANDARD.encode("us@er:p:ss")).as_str())
        );
        assert!(!format!("{prometheus:?}").contains("Basic"));
        let error = Prometheus::new("ftp://user:secret@prom.example/").unwrap_err();
        assert!(!error.to_string().contains("secret"), "{error}");
        assert!(error.to_string().contains("ftp://prom.example/"), "{error}");
        let error = Prometheus::new("http://user:secret@[::1/").unwrap_err();
        assert!(!error.to_string().contains("secret"), "{error}");
    }

    #[tokio::test]
    async fn the_query_is_percent_encoded_and_a_silent_server_times_out() {
        use tokio::io::AsyncReadExt as _;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (sent, received) = tokio::sync::oneshot::channel();
        let server = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buffer = vec![0; 4096];
            let n = stream.read(&mut buffer).await.unwrap();
            let _ = sent.send(String::from_utf8_lossy(&buffer[..n]).into_owned());
            // Never answers.
            tokio::time::sleep(Duration::from_secs(30)).await;
            drop(stream);
        });
        let mut prometheus = Prometheus::new(&format!("http://127.0.0.1:{port}/p")).unwrap();
        prometheus.timeout = Duration::from_millis(300);
        let error = prometheus
            .query(r#"sum(rate(x{a="b c",code=~"5.."}[1m])) / 2 + 1"#)
            .await
            .unwrap_err();
        assert!(
            matches!(error, PrometheusError::Timeout { .. }),
            "{error:?}"
        );
        assert_eq!(error.metric_label(), "timeout");
        let request = received.await.unwrap();
        let first_line = request.lines().next().unwrap();
        assert_eq!(
            first_line,
            "GET /p/api/v1/query?query=sum%28rate%28x%7Ba%3D%22b+c%22%2Ccode%3D%7E%225..%22%7D%5B1m%5D%29%29+%2F+2+%2B+1 HTTP/1.1"
        );
        server.abort();
    }
}
