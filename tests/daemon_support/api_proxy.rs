//! The test API server seen through `kubectl proxy` (plain HTTP on 127.0.0.1), behind a small
//! HTTP front that forwards every request, except the LISTs it is told to refuse: for those it
//! closes the connection without an answer, as a killed API server does. That makes "the API
//! server went away between two requests of one reconcile" deterministic: the front refuses
//! exactly the request that comes after the point of interest, and nothing else.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use http_body_util::BodyExt as _;
use http_body_util::combinators::BoxBody;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

/// LISTs to refuse: (resource plural, exact label selector).
type Refusal = Option<(String, String)>;

/// `kubectl proxy` plus the refusing front.
pub struct ApiProxy {
    kubectl: Child,
    /// The front's port.
    pub port: u16,
    refuse: Arc<Mutex<Refusal>>,
    refused: Arc<AtomicUsize>,
}

impl ApiProxy {
    /// Starts `kubectl proxy` for `kubeconfig` and the front (on the current tokio runtime).
    pub async fn start(kubeconfig: &Path) -> Self {
        let mut kubectl = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(["proxy", "--port=0", "--address=127.0.0.1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start kubectl proxy");
        let mut line = String::new();
        let stdout = kubectl.stdout.take().unwrap();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).unwrap();
        // "Starting to serve on 127.0.0.1:38543"
        let upstream: u16 = line
            .trim()
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("kubectl proxy said {line:?}"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let refuse: Arc<Mutex<Refusal>> = Arc::default();
        let refused = Arc::new(AtomicUsize::new(0));
        let (r, n) = (refuse.clone(), refused.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (r, n) = (r.clone(), n.clone());
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        forward(req, upstream, r.clone(), n.clone())
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Self {
            kubectl,
            port,
            refuse,
            refused,
        }
    }

    /// A kubeconfig (written into `dir`) that reaches the API server through the front.
    pub fn kubeconfig(&self, dir: &Path) -> PathBuf {
        let path = dir.join("proxy-kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: p\n  cluster:\n    server: http://127.0.0.1:{}\ncontexts:\n- name: p\n  context:\n    cluster: p\n    user: u\ncurrent-context: p\nusers:\n- name: u\n  user: {{}}\n",
            self.port
        );
        std::fs::write(&path, text).unwrap();
        path
    }

    /// From now on, drop LISTs of `plural` (e.g. `deployments`) whose label selector is exactly
    /// `selector`; `None` forwards everything again.
    pub fn refuse_lists(&self, refusal: Option<(&str, &str)>) {
        *self.refuse.lock().unwrap() = refusal.map(|(p, s)| (p.to_owned(), s.to_owned()));
    }

    /// How many requests were refused so far.
    pub fn refused(&self) -> usize {
        self.refused.load(Ordering::SeqCst)
    }
}

impl Drop for ApiProxy {
    fn drop(&mut self) {
        let _ = self.kubectl.kill();
        let _ = self.kubectl.wait();
    }
}

async fn forward(
    req: Request<Incoming>,
    upstream: u16,
    refuse: Arc<Mutex<Refusal>>,
    refused: Arc<AtomicUsize>,
) -> Result<Response<BoxBody<Bytes, hyper::Error>>, Box<dyn std::error::Error + Send + Sync>> {
    let selector = req.uri().query().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "labelSelector")
            .map(|(_, v)| v.into_owned())
    });
    let refusal = refuse.lock().unwrap().clone();
    if let Some((plural, wanted)) = refusal
        && req.method() == hyper::Method::GET
        && req.uri().path().ends_with(&format!("/{plural}"))
        && selector.as_deref() == Some(wanted.as_str())
    {
        refused.fetch_add(1, Ordering::SeqCst);
        // An error makes hyper close the connection without a response.
        return Err("the API server is down".into());
    }
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", upstream))
        .await
        .expect("connect to kubectl proxy");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let response = sender.send_request(req).await?;
    Ok(response.map(|b| b.boxed()))
}
