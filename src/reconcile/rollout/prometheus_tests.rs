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
    let body =
        r#"{"status":"success","data":{"resultType":"scalar","result":[1700000000,"-1.5e-3"]}}"#;
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
