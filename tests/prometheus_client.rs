//! The Prometheus client of canary analysis against a real Prometheus (Debian's `prometheus`)
//! scraping a fake model server with a stable and a canary track every second.
//!
//! Each test starts its own target and Prometheus (they run in parallel), sets the traffic, and
//! polls its query until Prometheus has scraped enough (bounded, failing with Prometheus' log).

mod support;

use std::time::{Duration, Instant};

use mlsync::reconcile::rollout::prometheus::{Prometheus, PrometheusError, Sample};
use support::prometheus::{MetricsTarget, PrometheusServer, Traffic};

const NAMESPACE: &str = "ml-prod";
/// How long a poll waits for Prometheus to have what a test asks for.
const PATIENCE: Duration = Duration::from_secs(60);

/// The error-rate query, placeholders substituted, over `window`.
fn error_rate(service: &str, track: &str, window: &str) -> String {
    format!(
        "sum(rate(http_requests_total{{service=\"{service}\",track=\"{track}\",code=~\"5..\"}}[{window}])) \
         / sum(rate(http_requests_total{{service=\"{service}\",track=\"{track}\"}}[{window}]))"
    )
}

/// The p95 latency query, placeholders substituted.
fn p95_latency(service: &str, track: &str) -> String {
    format!(
        "histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket\
         {{service=\"{service}\",track=\"{track}\"}}[1m])))"
    )
}

/// A target for `service` scraped by a fresh Prometheus, and a client of it.
fn start(service: &str) -> (MetricsTarget, PrometheusServer, Prometheus) {
    let target = MetricsTarget::start(service, NAMESPACE);
    let server = PrometheusServer::start(&[target.addr()]);
    let client = Prometheus::new(&server.address()).unwrap();
    (target, server, client)
}

/// Polls `query` every 250 ms until `done` accepts its result; returns that result.
async fn poll<F>(
    server: &PrometheusServer,
    what: &str,
    query: F,
    done: impl Fn(&Result<Sample, PrometheusError>) -> bool,
) -> Result<Sample, PrometheusError>
where
    F: AsyncFn() -> Result<Sample, PrometheusError>,
{
    let started = Instant::now();
    loop {
        let result = query().await;
        if done(&result) {
            return result;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "{what}: still {result:?} after {PATIENCE:?}; prometheus log ({}):\n{}",
            server.log_path().display(),
            server.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn is_value(result: &Result<Sample, PrometheusError>) -> bool {
    matches!(result, Ok(Sample::Value(_)))
}

fn value(result: Result<Sample, PrometheusError>) -> f64 {
    match result {
        Ok(Sample::Value(v)) => v,
        other => panic!("expected a value, got {other:?}"),
    }
}

#[tokio::test]
async fn error_rate_of_each_track_is_its_error_ratio() {
    let started = Instant::now();
    let service = "iris-classifier";
    let (target, server, client) = start(service);
    let healthy = Traffic {
        rps: 20.0,
        error_ratio: 0.0,
        latency: 0.05,
    };
    target.set("stable", healthy);
    target.set(
        "canary",
        Traffic {
            error_ratio: 0.25,
            ..healthy
        },
    );
    let stable_query = error_rate(service, "stable", "1m");
    let stable = poll(
        &server,
        "stable error rate",
        async || client.query(&stable_query).await,
        is_value,
    )
    .await;
    assert!(value(stable).abs() < 1e-9, "stable error rate");
    let canary_query = error_rate(service, "canary", "1m");
    let canary = value(client.query(&canary_query).await);
    assert!((canary - 0.25).abs() < 0.01, "canary error rate {canary}");
    eprintln!("error rates after {:?}", started.elapsed());
}

#[tokio::test]
async fn p95_latency_lies_in_the_bucket_of_the_latency() {
    let started = Instant::now();
    let service = "fraud-scorer";
    let (target, server, client) = start(service);
    target.set(
        "stable",
        Traffic {
            rps: 50.0,
            error_ratio: 0.01,
            latency: 0.05,
        },
    );
    target.set(
        "canary",
        Traffic {
            rps: 10.0,
            error_ratio: 0.0,
            latency: 0.3,
        },
    );
    // Every request falls into one bucket (lower, upper]: histogram_quantile interpolates
    // linearly within it, lower + 0.95 × (upper − lower).
    for (track, lower, upper) in [("stable", 0.025, 0.05), ("canary", 0.25, 0.5)] {
        let query = p95_latency(service, track);
        let p95 = value(
            poll(
                &server,
                &format!("{track} p95"),
                async || client.query(&query).await,
                is_value,
            )
            .await,
        );
        assert!(lower < p95 && p95 <= upper, "{track} p95 {p95}");
        let expected = lower + 0.95 * (upper - lower);
        assert!(
            (p95 - expected).abs() < 1e-3,
            "{track} p95 {p95} ≠ {expected}"
        );
    }
    eprintln!("p95 after {:?}", started.elapsed());
}

#[tokio::test]
async fn a_track_without_traffic_has_no_data_after_the_window() {
    let started = Instant::now();
    let service = "churn-model";
    let (target, server, client) = start(service);
    let traffic = Traffic {
        rps: 20.0,
        error_ratio: 0.1,
        latency: 0.02,
    };
    target.set("stable", traffic);
    target.set("canary", traffic);
    let canary_query = error_rate(service, "canary", "5s");
    let before = value(
        poll(
            &server,
            "canary error rate with traffic",
            async || client.query(&canary_query).await,
            is_value,
        )
        .await,
    );
    assert!((before - 0.1).abs() < 0.01, "canary error rate {before}");
    target.stop_traffic("canary");
    let stopped = Instant::now();
    // rate() over a window without increase is 0 for both sums: 0/0 is NaN, no data.
    let _no_data = poll(
        &server,
        "canary error rate without traffic",
        async || client.query(&canary_query).await,
        |r| matches!(r, Ok(Sample::NoData)),
    )
    .await;
    assert!(
        stopped.elapsed() >= Duration::from_secs(3),
        "no data already {:?} after the traffic stopped: the window still held an increase",
        stopped.elapsed()
    );
    // The other track keeps its traffic and its value.
    let stable = value(client.query(&error_rate(service, "stable", "5s")).await);
    assert!((stable - 0.1).abs() < 0.01, "stable error rate {stable}");
    eprintln!(
        "no data {:?} after the traffic stopped, {:?} in all",
        stopped.elapsed(),
        started.elapsed()
    );
}

#[tokio::test]
async fn a_query_without_aggregation_over_two_tracks_is_ambiguous() {
    let service = "recommender";
    let (target, server, client) = start(service);
    let traffic = Traffic {
        rps: 5.0,
        error_ratio: 0.0,
        latency: 0.1,
    };
    target.set("stable", traffic);
    target.set("canary", traffic);
    let query = format!("rate(http_requests_total{{service=\"{service}\",code=\"200\"}}[1m])");
    let result = poll(
        &server,
        "unaggregated rate",
        async || client.query(&query).await,
        |r| !matches!(r, Ok(Sample::NoData)),
    )
    .await;
    let error = result.unwrap_err();
    assert!(
        matches!(error, PrometheusError::Ambiguous { series: 2, .. }),
        "{error:?}"
    );
    assert_eq!(error.metric_label(), "ambiguous");
    assert_eq!(
        error.to_string(),
        format!(
            "failed to query Prometheus at {}: the query returned 2 series, not one (aggregate \
             it, e.g. with sum(...))",
            server.address()
        )
    );
    // Summed, the same query is one number (below 10/s until the series fill the 1m window:
    // rate() divides the increase it saw by the whole window).
    let summed = value(client.query(&format!("sum({query})")).await);
    assert!(summed > 0.0 && summed < 10.5, "summed rate {summed}");
}

#[tokio::test]
async fn a_syntax_error_is_a_query_error_with_prometheus_text() {
    let (_target, server, client) = start("syntax");
    let error = client
        .query("sum(rate(http_requests_total[1m])")
        .await
        .unwrap_err();
    let PrometheusError::Query {
        error_type,
        error: text,
        ..
    } = &error
    else {
        panic!("{error:?}");
    };
    assert_eq!(error_type, "bad_data");
    assert!(text.contains("parse error"), "{text}");
    assert_eq!(error.metric_label(), "query_error");
    let prefix = format!(
        "failed to query Prometheus at {}: query failed (bad_data): ",
        server.address()
    );
    assert!(error.to_string().starts_with(&prefix), "{error}");
}

#[tokio::test]
async fn an_address_with_nothing_listening_is_unreachable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let address = format!("http://127.0.0.1:{port}");
    let client = Prometheus::new(&address).unwrap();
    let error = client.query("vector(1)").await.unwrap_err();
    assert!(
        matches!(error, PrometheusError::Unreachable { .. }),
        "{error:?}"
    );
    assert_eq!(error.metric_label(), "unreachable");
    let message = error.to_string();
    assert!(
        message.starts_with(&format!(
            "failed to query Prometheus at {address}: unreachable: "
        )),
        "{message}"
    );
    assert!(message.contains("refused"), "{message}");
}

#[tokio::test]
async fn a_path_prefix_is_kept_and_scalars_are_values() {
    let (_target, server, _client) = start("prefix");
    // Prometheus without --web.route-prefix serves no /prefix/: a 404 without an API error.
    let prefixed = Prometheus::new(&format!("{}/prefix", server.address())).unwrap();
    let error = prefixed.query("vector(1)").await.unwrap_err();
    assert!(
        matches!(error, PrometheusError::HttpStatus { status: 404, .. }),
        "{error:?}"
    );
    let client = Prometheus::new(&format!("{}/", server.address())).unwrap();
    assert_eq!(
        client.query("scalar(vector(2.5))").await.unwrap(),
        Sample::Value(2.5)
    );
    assert_eq!(client.query("vector(0) / 0").await.unwrap(), Sample::NoData);
    assert_eq!(client.query("1 / 0").await.unwrap(), Sample::NoData);
    assert_eq!(
        client.query("absent_metric_of_no_target").await.unwrap(),
        Sample::NoData
    );
}

#[tokio::test]
async fn https_to_a_plain_http_prometheus_fails_with_the_tls_reason() {
    let (_target, server, _client) = start("tls");
    let address = format!("https://127.0.0.1:{}", server.port());
    let client = match Prometheus::new(&address) {
        Ok(client) => client,
        // A machine without root certificates cannot set up TLS at all.
        Err(error @ PrometheusError::Tls { .. }) => {
            eprintln!("skipped: {error}");
            return;
        }
        Err(error) => panic!("{error:?}"),
    };
    let error = client.query("vector(1)").await.unwrap_err();
    assert!(matches!(error, PrometheusError::Tls { .. }), "{error:?}");
    assert_eq!(error.metric_label(), "tls");
    let message = error.to_string();
    assert!(
        message.starts_with(&format!(
            "failed to query Prometheus at {address}: TLS failed: "
        )),
        "{message}"
    );
    // With nothing listening, https is unreachable like http.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let nothing = Prometheus::new(&format!("https://127.0.0.1:{port}")).unwrap();
    let error = nothing.query("vector(1)").await.unwrap_err();
    assert!(
        matches!(error, PrometheusError::Unreachable { .. }),
        "{error:?}"
    );
}
