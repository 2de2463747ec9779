//! The agent's own read-only HTTP endpoint (`[http]` in gantry.toml, off by
//! default): Prometheus `/metrics` and JSON under `/api/v1/deploy/`.
//!
//! It never acts and never waits on the agent's loop: it reads the latest
//! [`Snapshot`] the loop published on a `watch` channel, and the audit log
//! from disk on a blocking thread. Loopback only, unless a bearer token is
//! set. docs/http.md documents every path and series.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{ALLOW, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use super::ledger;
use super::metrics::{self, Snapshot};
use crate::wire::history::{DEFAULT_LIMIT, History};

/// Connections served at once; more wait in the listen backlog.
const MAX_CONNECTIONS: usize = 64;
/// A client must send its request headers within this. Short: a slot that
/// a client trickling header bytes holds is a slot a scraper (Prometheus
/// gives up at 10 s) waits for, in the backlog, at most this long.
const HEADER_TIMEOUT: Duration = Duration::from_secs(2);
/// No connection lives longer than this (keep-alive included).
const CONNECTION_LIFETIME: Duration = Duration::from_secs(120);
/// Audit entries a request may ask for, like the socket's `audit_tail`.
const MAX_AUDIT: usize = 10_000;
/// Shortest token accepted: it may cross a network.
const MIN_TOKEN: usize = 16;

/// `[http]` as written in gantry.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSection {
    /// IP:port, e.g. "127.0.0.1:9600".
    pub listen: String,
    /// When set, every request needs `Authorization: Bearer <token>`.
    #[serde(default)]
    pub token: Option<String>,
}

/// `[http]`, validated.
#[derive(Clone, PartialEq)]
pub struct HttpConfig {
    pub listen: SocketAddr,
    pub token: Option<String>,
}

// Hand-written so the token never lands in a log or an error message.
impl std::fmt::Debug for HttpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpConfig")
            .field("listen", &self.listen)
            .field("token", &self.token.as_ref().map(|_| "(set)"))
            .finish()
    }
}

impl HttpConfig {
    /// Checks the section; errors name the field (`http.listen`,
    /// `http.token`), for the caller to prefix with the file.
    pub fn from_section(section: &HttpSection) -> Result<Self, String> {
        let listen: SocketAddr = section.listen.parse().map_err(|_| {
            format!(
                "http.listen: {:?} is not an IP address and port such as \"127.0.0.1:9600\"",
                section.listen
            )
        })?;
        if let Some(token) = &section.token {
            if token.chars().count() < MIN_TOKEN {
                return Err(format!(
                    "http.token: too short ({} characters); use at least {MIN_TOKEN}, e.g. the output of `openssl rand -hex 32`",
                    token.chars().count()
                ));
            }
            if !token.chars().all(|c| c.is_ascii_graphic()) {
                return Err(
                    "http.token: must be printable ASCII without spaces (it travels in an HTTP header)"
                        .into(),
                );
            }
        }
        if !listen.ip().is_loopback() && section.token.is_none() {
            return Err(format!(
                "http.listen: {listen} is reachable from other hosts; set http.token to serve beyond loopback, or listen on 127.0.0.1"
            ));
        }
        Ok(Self {
            listen,
            token: section.token.clone(),
        })
    }
}

/// `/api/v1/deploy/audit`: a struct, not `json!`, so the fields keep
/// their order.
#[derive(serde::Serialize)]
struct AuditPage {
    host: String,
    entries: Vec<crate::wire::AuditEntry>,
}

/// The files the endpoint reads: the ledger is computed from both.
pub struct Files {
    pub audit: PathBuf,
    pub alerts: PathBuf,
}

/// What every request handler shares.
struct Served {
    snapshots: watch::Receiver<Arc<Snapshot>>,
    audit_path: PathBuf,
    alerts_path: PathBuf,
    /// The ledger `/metrics` last computed.
    ledger: Arc<ledger::MetricsCache>,
    /// sha256 of the token: comparing fixed-length digests in constant time
    /// says nothing about the token's length or its first wrong byte.
    token_digest: Option<[u8; 32]>,
}

/// Binds `config.listen` and serves it until the runtime shuts down.
/// Returns the bound address (the port may have been 0).
pub async fn spawn(
    config: &HttpConfig,
    snapshots: watch::Receiver<Arc<Snapshot>>,
    files: Files,
) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind(config.listen).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot listen on http.listen {}: {e}; another process may hold the port",
            config.listen
        )
    })?;
    let bound = listener.local_addr()?;
    let served = Arc::new(Served {
        snapshots,
        audit_path: files.audit,
        alerts_path: files.alerts,
        ledger: Arc::default(),
        token_digest: config.token.as_ref().map(|t| digest(t.as_bytes())),
    });
    tokio::spawn(serve(listener, served));
    Ok(bound)
}

async fn serve(listener: TcpListener, served: Arc<Served>) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        // The semaphore is never closed, so acquiring cannot fail.
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
            return;
        };
        let stream = match listener.accept().await {
            Ok((stream, _peer)) => stream,
            Err(_) => {
                // Out of file descriptors and the like: back off briefly
                // rather than spin; the next accept may succeed.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let served = Arc::clone(&served);
        tokio::spawn(async move {
            let service = service_fn(move |request| respond(Arc::clone(&served), request));
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            // A client that stalls or goes away is its own business.
            let _ = tokio::time::timeout(CONNECTION_LIFETIME, connection).await;
            drop(permit);
        });
    }
}

async fn respond(
    served: Arc<Served>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if let Some(expected) = &served.token_digest
        && !authorized(&request, expected)
    {
        let mut response = text(
            StatusCode::UNAUTHORIZED,
            "unauthorized: send Authorization: Bearer <http.token>\n".into(),
        );
        response.headers_mut().insert(
            hyper::header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"gantry\""),
        );
        return Ok(response);
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed: this endpoint is read-only (GET)\n".into(),
        );
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return Ok(response);
    }
    let limit = |default: usize, max: usize| -> Result<usize, String> {
        match query_param(request.uri().query(), "limit") {
            None => Ok(default),
            Some(v) => v
                .parse::<usize>()
                .map(|n| n.min(max))
                .map_err(|_| format!("limit: {v:?} is not a whole number\n")),
        }
    };
    let response = match request.uri().path() {
        "/metrics" => {
            let snapshot = Arc::clone(&served.snapshots.borrow());
            let mut page = metrics::render(&snapshot, chrono::Utc::now());
            let (host, cache) = (snapshot.status.host.clone(), Arc::clone(&served.ledger));
            let (audit, alerts) = (served.audit_path.clone(), served.alerts_path.clone());
            let computed =
                tokio::task::spawn_blocking(move || cache.report(&host, &audit, &alerts)).await;
            if let Ok(report) = computed {
                page.push_str(&ledger::render(&report));
            }
            body(StatusCode::OK, metrics::CONTENT_TYPE, page.into_bytes())
        }
        "/api/v1/deploy/report" => {
            let since = query_param(request.uri().query(), "since")
                .unwrap_or(crate::wire::ledger::DEFAULT_SINCE);
            match crate::wire::ledger::parse_since(since) {
                Ok(window) => {
                    let host = served.snapshots.borrow().status.host.clone();
                    let window = window.map(|d| d.num_seconds().max(0) as u64);
                    match report(&served, host, window).await {
                        Ok(report) => json(&report),
                        Err(message) => text(StatusCode::INTERNAL_SERVER_ERROR, message),
                    }
                }
                Err(message) => text(
                    StatusCode::BAD_REQUEST,
                    format!("{}\n", message.replace("--since", "since")),
                ),
            }
        }
        "/api/v1/deploy/status" => {
            let snapshot = Arc::clone(&served.snapshots.borrow());
            json(&snapshot.status)
        }
        "/api/v1/deploy/history" => match limit(DEFAULT_LIMIT, usize::MAX) {
            Ok(n) => {
                let snapshot = Arc::clone(&served.snapshots.borrow());
                json(&History {
                    host: snapshot.status.host.clone(),
                    deploys: snapshot.history.iter().take(n).cloned().collect(),
                })
            }
            Err(message) => text(StatusCode::BAD_REQUEST, message),
        },
        "/api/v1/deploy/audit" => match limit(20, MAX_AUDIT) {
            Ok(n) => {
                let host = served.snapshots.borrow().status.host.clone();
                let path = served.audit_path.clone();
                // Reading the log is file I/O: keep it off the runtime's
                // workers, which the agent's loop also runs on.
                match tokio::task::spawn_blocking(move || super::audit::tail(&path, n)).await {
                    Ok(entries) => json(&AuditPage { host, entries }),
                    Err(_) => text(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "cannot read the audit log\n".into(),
                    ),
                }
            }
            Err(message) => text(StatusCode::BAD_REQUEST, message),
        },
        _ => text(
            StatusCode::NOT_FOUND,
            "not found: try /metrics, /api/v1/deploy/status, /api/v1/deploy/history?limit=N, /api/v1/deploy/audit?limit=N, /api/v1/deploy/report?since=30d\n".into(),
        ),
    };
    Ok(response)
}

/// The ledger, read on a blocking thread (whole files: the runtime's
/// workers also run the agent's loop).
async fn report(
    served: &Served,
    host: String,
    since_s: Option<u64>,
) -> Result<crate::wire::ledger::Report, String> {
    let (audit, alerts) = (served.audit_path.clone(), served.alerts_path.clone());
    tokio::task::spawn_blocking(move || ledger::read(&host, &audit, &alerts, since_s))
        .await
        .map_err(|_| "cannot read the audit log\n".to_string())
}

fn authorized(request: &Request<Incoming>, expected: &[u8; 32]) -> bool {
    let Some(value) = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    // The scheme is case-insensitive (RFC 9110 §11.1).
    let Some((scheme, token)) = value.trim().split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return false;
    }
    let given = digest(token.trim().as_bytes());
    // Constant time: every byte is compared whatever the first difference.
    given
        .iter()
        .zip(expected)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// The first value of `name` in a query string (no percent-decoding: the
/// only parameter is a number).
fn query_param<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Every JSON answer: C1 controls escaped (crate::text::json_inert), so a
/// release reason cannot carry a raw CSI to whoever prints the answer.
fn json<T: serde::Serialize>(value: &T) -> Response<Full<Bytes>> {
    match serde_json::to_string_pretty(value) {
        Ok(text) => {
            let mut text = crate::text::json_inert(&text);
            text.push('\n');
            body(StatusCode::OK, "application/json", text.into_bytes())
        }
        Err(e) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode the answer: {e}\n"),
        ),
    }
}

fn text(status: StatusCode, message: String) -> Response<Full<Bytes>> {
    body(status, "text/plain; charset=utf-8", message.into_bytes())
}

fn body(status: StatusCode, content_type: &'static str, bytes: Vec<u8>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(bytes)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Every answer is the state of one instant; no cache should keep it.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(listen: &str, token: Option<&str>) -> Result<HttpConfig, String> {
        HttpConfig::from_section(&HttpSection {
            listen: listen.into(),
            token: token.map(str::to_string),
        })
    }

    #[test]
    fn loopback_alone_unless_a_token_is_set() {
        assert!(section("127.0.0.1:9600", None).is_ok());
        assert!(section("[::1]:9600", None).is_ok());
        let e = section("0.0.0.0:9600", None).unwrap_err();
        assert!(
            e.starts_with("http.listen:") && e.contains("http.token"),
            "{e}"
        );
        assert!(section("0.0.0.0:9600", Some("0123456789abcdef0123")).is_ok());
        let e = section("localhost:9600", None).unwrap_err();
        assert!(e.starts_with("http.listen:"), "{e}");
        let e = section("127.0.0.1:9600", Some("short")).unwrap_err();
        assert!(e.starts_with("http.token:"), "{e}");
        let e = section("127.0.0.1:9600", Some("has a space in it, long enough")).unwrap_err();
        assert!(e.starts_with("http.token:"), "{e}");
        let debug = format!("{:?}", section("0.0.0.0:1", Some("0123456789abcdef0123")));
        assert!(!debug.contains("0123456789abcdef"), "{debug}");
    }

    #[test]
    fn query_limit() {
        assert_eq!(query_param(Some("limit=5"), "limit"), Some("5"));
        assert_eq!(query_param(Some("a=1&limit=7"), "limit"), Some("7"));
        assert_eq!(query_param(Some("a=1"), "limit"), None);
        assert_eq!(query_param(None, "limit"), None);
    }
}
