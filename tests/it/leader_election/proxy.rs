//! A TCP relay on 127.0.0.1 in front of the test kube-apiserver that can be cut: while cut,
//! it holds every connection open and forwards nothing (a network partition: requests hang,
//! they do not fail fast). Real TLS passes through end to end; this is no test double of the
//! API server, only of the network between one replica and it.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The relay; stops when dropped.
pub struct Proxy {
    kubeconfig: Kubeconfig,
    addr: SocketAddr,
    cut: watch::Sender<bool>,
    parked: Arc<Mutex<Vec<TcpStream>>>,
    accept: JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl Proxy {
    /// Starts a relay to the API server named in the test kubeconfig.
    pub async fn start() -> Proxy {
        let kubeconfig = Kubeconfig::read_from(super::support::cluster().kubeconfig_path())
            .expect("read test kubeconfig");
        let server = kubeconfig.clusters[0]
            .cluster
            .as_ref()
            .and_then(|c| c.server.clone())
            .expect("kubeconfig server");
        let url = url::Url::parse(&server).expect("server URL");
        let upstream: SocketAddr = format!(
            "{}:{}",
            url.host_str().expect("server host"),
            url.port().expect("server port")
        )
        .parse()
        .expect("server address is an IP address");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind relay");
        let addr = listener.local_addr().expect("relay address");
        let (cut, cut_rx) = watch::channel(false);
        let parked = Arc::new(Mutex::new(Vec::new()));
        let accept = tokio::spawn(relay(listener, upstream, cut_rx, parked.clone()));
        Proxy {
            kubeconfig,
            addr,
            cut,
            parked,
            accept,
        }
    }

    /// A client that reaches the API server through this relay.
    pub async fn client(&self) -> Client {
        let mut kubeconfig = self.kubeconfig.clone();
        for cluster in &mut kubeconfig.clusters {
            if let Some(c) = cluster.cluster.as_mut() {
                c.server = Some(format!("https://{}", self.addr));
            }
        }
        let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .expect("relay kubeconfig");
        Client::try_from(config).expect("relay client")
    }

    /// Stops forwarding; connections stay open and silent.
    pub fn cut(&self) {
        self.cut.send_replace(true);
    }

    /// Forwards again; the silent connections are closed so the client reconnects.
    pub fn restore(&self) {
        self.cut.send_replace(false);
        self.parked.lock().expect("parked connections").clear();
    }
}

async fn relay(
    listener: TcpListener,
    upstream: SocketAddr,
    cut: watch::Receiver<bool>,
    parked: Arc<Mutex<Vec<TcpStream>>>,
) {
    while let Ok((mut inbound, _)) = listener.accept().await {
        let mut cut = cut.clone();
        let parked = parked.clone();
        tokio::spawn(async move {
            if *cut.borrow_and_update() {
                parked.lock().expect("parked connections").push(inbound);
                return;
            }
            let Ok(mut outbound) = TcpStream::connect(upstream).await else {
                return;
            };
            let partitioned = tokio::select! {
                _ = copy_bidirectional(&mut inbound, &mut outbound) => false,
                _ = cut.wait_for(|cut| *cut) => true,
            };
            if partitioned {
                parked.lock().expect("parked connections").push(inbound);
            }
        });
    }
}
