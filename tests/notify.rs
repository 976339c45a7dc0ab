//! systemd notifications over a real unix datagram socket (the test plays systemd).

use std::ffi::OsStr;
use std::os::unix::net::UnixDatagram;

use mlsync::notify::Notifier;

fn recv(sock: &UnixDatagram) -> String {
    let mut buf = [0u8; 4096];
    let n = sock.recv(&mut buf).unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn states_arrive_on_a_path_socket() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let systemd = UnixDatagram::bind(&path).unwrap();
    let n = Notifier::from_env_vars(Some(path.as_os_str()), None, None, std::process::id());
    assert!(n.is_enabled());
    n.ready().unwrap();
    assert_eq!(recv(&systemd), "READY=1");
    n.status("synced rev abc\nsecond line").unwrap();
    assert_eq!(recv(&systemd), "STATUS=synced rev abc second line");
    n.watchdog().unwrap();
    assert_eq!(recv(&systemd), "WATCHDOG=1");
    n.stopping().unwrap();
    assert_eq!(recv(&systemd), "STOPPING=1");
}

#[test]
fn states_arrive_on_an_abstract_socket() {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::SocketAddr;
    let name = format!("mlsync-notify-test-{}", std::process::id());
    let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let systemd = UnixDatagram::bind_addr(&addr).unwrap();
    let env = format!("@{name}");
    let n = Notifier::from_env_vars(Some(OsStr::new(&env)), None, None, 1);
    n.ready().unwrap();
    assert_eq!(recv(&systemd), "READY=1");
}

#[test]
fn a_missing_socket_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.sock");
    let n = Notifier::from_env_vars(Some(path.as_os_str()), None, None, 1);
    let err = n.ready().unwrap_err().to_string();
    assert!(
        err.starts_with("failed to send \"READY=1\" to NOTIFY_SOCKET"),
        "{err}"
    );
    assert!(err.contains("absent.sock"), "{err}");
}

#[tokio::test]
async fn the_watchdog_task_pings_until_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let systemd = tokio::net::UnixDatagram::bind(&path).unwrap();
    // WATCHDOG_USEC=20000 (20 ms) for this pid: pings every 10 ms.
    let pid = std::process::id().to_string();
    let n = Notifier::from_env_vars(
        Some(path.as_os_str()),
        Some("20000"),
        Some(&pid),
        std::process::id(),
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = n
        .spawn_watchdog(async move {
            let _ = stopped.await;
        })
        .expect("watchdog enabled");
    let mut buf = [0u8; 64];
    for _ in 0..2 {
        let len = systemd.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..len], b"WATCHDOG=1");
    }
    stop.send(()).unwrap();
    task.await.unwrap();

    let disabled = Notifier::from_env_vars(Some(path.as_os_str()), None, None, 1);
    assert!(disabled.spawn_watchdog(async {}).is_none());
}
