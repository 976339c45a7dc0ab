//! Smart-HTTP git server for tests: the real `git http-backend` (CGI) behind a minimal
//! HTTP/1.1 shim on 127.0.0.1 that demands basic auth with a fixed user and token.
//!
//! The shim is a stand-in for a web server (none is installed); everything git-specific is
//! done by `git http-backend` itself.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// A running smart-HTTP server.
pub struct GitHttp {
    /// The port it listens on.
    pub port: u16,
    /// Every `Authorization` user name the server accepted.
    pub accepted_users: Arc<Mutex<Vec<String>>>,
}

impl GitHttp {
    /// Serves repositories under `root`, accepting only `user:token` basic auth.
    pub fn start(root: &Path, user: &str, token: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted_users = Arc::new(Mutex::new(Vec::new()));
        let expected = format!("Basic {}", STANDARD.encode(format!("{user}:{token}")));
        let (root, users) = (root.to_path_buf(), accepted_users.clone());
        let user = user.to_string();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (root, users, expected, user) =
                    (root.clone(), users.clone(), expected.clone(), user.clone());
                std::thread::spawn(move || {
                    let _ = serve(stream, &root, &expected, &user, &users);
                });
            }
        });
        Self {
            port,
            accepted_users,
        }
    }
}

fn serve(
    stream: TcpStream,
    root: &PathBuf,
    expected_auth: &str,
    user: &str,
    users: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, target) = (
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or("").to_string(),
    );
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header)?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((k, v)) = header.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let get = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let body = read_body(&mut reader, get("content-length"), get("transfer-encoding"))?;
    let mut out = stream;
    if get("authorization").as_deref() != Some(expected_auth) {
        let msg = "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"test\"\r\n\
                   Content-Length: 0\r\nConnection: close\r\n\r\n";
        return out.write_all(msg.as_bytes());
    }
    if let Ok(mut seen) = users.lock() {
        seen.push(user.to_string());
    }
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let mut child = Command::new("git")
        .arg("http-backend")
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("REQUEST_METHOD", &method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("CONTENT_TYPE", get("content-type").unwrap_or_default())
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("REMOTE_USER", user)
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(&body)?;
    }
    let output = child.wait_with_output()?;
    let split = output
        .stdout
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| {
            output
                .stdout
                .windows(2)
                .position(|w| w == b"\n\n")
                .map(|i| (i, 2))
        });
    let Some((at, sep)) = split else {
        return out.write_all(b"HTTP/1.1 500 Bad CGI\r\nContent-Length: 0\r\n\r\n");
    };
    let cgi_headers = String::from_utf8_lossy(&output.stdout[..at]).to_string();
    let cgi_body = &output.stdout[at + sep..];
    let mut status = "200 OK".to_string();
    let mut response = String::new();
    for h in cgi_headers.lines() {
        match h.split_once(':') {
            Some((k, v)) if k.eq_ignore_ascii_case("status") => status = v.trim().to_string(),
            Some(_) => response.push_str(&format!("{h}\r\n")),
            None => {}
        }
    }
    let head = format!(
        "HTTP/1.1 {status}\r\n{response}Content-Length: {}\r\nConnection: close\r\n\r\n",
        cgi_body.len()
    );
    out.write_all(head.as_bytes())?;
    out.write_all(cgi_body)
}

fn read_body(
    reader: &mut impl BufRead,
    length: Option<String>,
    encoding: Option<String>,
) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    if encoding.is_some_and(|e| e.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk)?;
            if size == 0 {
                return Ok(body);
            }
            body.extend_from_slice(&chunk[..size]);
        }
    }
    if let Some(len) = length.and_then(|l| l.parse::<usize>().ok()) {
        body.resize(len, 0);
        reader.read_exact(&mut body)?;
    }
    Ok(body)
}
