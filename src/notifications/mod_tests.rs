use super::*;

fn notice() -> Notice {
    Notice {
        target: None,
        revision: Some("abc".to_owned()),
        kind: NoticeKind::RevisionApplied { changed: vec![] },
    }
}

/// A generic receiver of a port nothing listens on, getting only `events`.
fn unreachable(events: Option<Vec<NoticeType>>) -> Receiver {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let config = ReceiverConfig {
        name: "hook".to_owned(),
        kind: ReceiverType::Generic,
        address: Some(format!("http://127.0.0.1:{port}/")),
        address_file: None,
        secret_file: None,
        events,
    };
    load(&[config]).unwrap().remove(0)
}

fn quick() -> DeliveryOptions {
    DeliveryOptions {
        attempts: 2,
        first_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(1),
        ..DeliveryOptions::default()
    }
}

#[tokio::test]
async fn disabled_sends_nothing() {
    let notifications = Notifications::disabled();
    assert!(!notifications.is_enabled());
    notifications.send(notice());
    assert!(notifications.flush(Duration::ZERO).await);
    let none = Notifications::spawn(vec![], NotificationMetrics::new());
    assert!(!none.is_enabled());
}

#[test]
fn without_a_runtime_nothing_is_started() {
    let metrics = NotificationMetrics::new();
    let notifications = Notifications::spawn(vec![unreachable(None)], metrics.clone());
    assert!(!notifications.is_enabled());
    notifications.send(notice());
    assert_eq!(metrics.count("hook", NotificationResult::Dropped), 0);
}

#[tokio::test]
async fn kinds_outside_the_filter_are_not_queued() {
    let metrics = NotificationMetrics::new();
    let only = Some(vec![NoticeType::RolloutAborted]);
    let notifications =
        Notifications::spawn_with(vec![unreachable(only)], metrics.clone(), quick());
    assert!(notifications.is_enabled());
    notifications.send(notice());
    assert!(notifications.flush(Duration::from_secs(30)).await);
    for result in NotificationResult::ALL {
        assert_eq!(metrics.count("hook", result), 0, "{}", result.as_str());
    }
    assert_eq!(
        format!("{notifications:?}"),
        r#"Notifications { receivers: ["hook"] }"#
    );
}

#[tokio::test]
async fn a_failed_notice_is_counted_once_after_its_retries() {
    let metrics = NotificationMetrics::new();
    let notifications =
        Notifications::spawn_with(vec![unreachable(None)], metrics.clone(), quick());
    notifications.send(notice());
    assert!(notifications.flush(Duration::from_secs(30)).await);
    assert_eq!(metrics.count("hook", NotificationResult::Failed), 1);
    assert_eq!(metrics.count("hook", NotificationResult::Sent), 0);
    notifications.send(notice());
    assert!(notifications.flush(Duration::from_secs(30)).await);
    assert_eq!(
        metrics.count("hook", NotificationResult::Failed),
        2,
        "a failed notice is not remembered for dedup"
    );
}

#[test]
fn after_the_runtime_is_gone_notices_are_dropped() {
    let metrics = NotificationMetrics::new();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let notifications = runtime.block_on(async {
        Notifications::spawn_with(vec![unreachable(None)], metrics.clone(), quick())
    });
    drop(runtime); // ends the receiver's task: its queue is closed
    notifications.send(notice());
    assert_eq!(metrics.count("hook", NotificationResult::Dropped), 1);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    assert!(
        runtime.block_on(notifications.flush(Duration::ZERO)),
        "nothing pending"
    );
}
