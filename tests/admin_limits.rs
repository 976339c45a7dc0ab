//! The admin server's protection against slow clients, over real TCP on 127.0.0.1.

mod admin_support;

use std::time::Duration;

use admin_support::start_with;
use mlsync::admin::ServeOptions;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn short_limits() -> ServeOptions {
    ServeOptions {
        header_read_timeout: Duration::from_millis(200),
        request_timeout: Duration::from_millis(200),
        ..ServeOptions::default()
    }
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let server = start_with(None, short_limits()).await;
    let mut conn = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // The server must close the connection (read returns) instead of waiting forever.
    let mut answer = Vec::new();
    conn.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(!answer.contains("200 OK"), "{answer}");
    // The server still answers others.
    assert_eq!(server.get("/healthz").await.0, 200);
    server.stop().await;
}

#[tokio::test]
async fn a_body_that_never_arrives_gets_408_and_fires_nothing() {
    let mut server = start_with(Some(admin_support::TEST_WEBHOOK_SECRET), short_limits()).await;
    let mut conn = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let head = "POST /webhook/gitlab HTTP/1.1\r\nHost: x\r\nX-Gitlab-Token: test-webhook-secret\r\n\
                Content-Length: 100\r\n\r\n{";
    conn.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 1024];
    let n = conn.read(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(server.triggers.try_recv().is_none());
    server.stop().await;
}

#[tokio::test]
async fn shutdown_lets_an_idle_keep_alive_connection_go() {
    let server = start_with(None, ServeOptions::default()).await;
    let mut conn = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 1024];
    let n = conn.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    // The connection stays open (keep-alive); stopping must still finish, closing it.
    server.stop().await;
    assert_eq!(conn.read(&mut buf).await.unwrap(), 0);
}

/// How many slow clients the flood opens (more than the default connection cap of 256).
const FLOOD_CONNECTIONS: usize = 300;

/// One slowloris client: sends a request head one byte a second and reconnects whenever the
/// server closes the connection, until the task is aborted.
async fn slow_client(addr: std::net::SocketAddr) {
    let head =
        b"GET /healthz HTTP/1.1\r\nHost: flood\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    loop {
        let Ok(mut conn) = tokio::net::TcpStream::connect(addr).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        for byte in head.iter().cycle() {
            if conn.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

/// The report's flood: 300 connections sending one header byte a second, then `/healthz` probed
/// the way the kubelet probes it (a fresh connection, 1 s timeout), 11 times over ~12 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_stays_answerable_under_a_slow_client_flood() {
    let server = start_with(None, ServeOptions::default()).await;
    let flood: Vec<_> = (0..FLOOD_CONNECTIONS)
        .map(|_| tokio::spawn(slow_client(server.addr)))
        .collect();
    // Let the flood fill the server before the first probe.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut answers = Vec::new();
    for _ in 0..11 {
        let probe = admin_support::request(server.addr, "GET", "/healthz", &[], Vec::new());
        let answer = match tokio::time::timeout(Duration::from_secs(1), probe).await {
            Ok((status, _)) => status.to_string(),
            Err(_) => "timeout".to_string(),
        };
        answers.push(answer);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    for task in &flood {
        task.abort();
    }
    assert!(
        answers.iter().all(|a| a == "200"),
        "probe answers: {answers:?}"
    );
    server.stop().await;
}
