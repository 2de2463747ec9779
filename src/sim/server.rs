//! The HTTP side of `gantry sim`: HTTP/1.1 (hyper) on one TCP listener,
//! `GET /metrics` and nothing else.
//!
//! It only reads the model, through [`Shared`], which the shell's loop
//! advances. Faults that concern the server (hang, garbage) are asked of the
//! model per request, so they switch on at their exact time.

use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{ALLOW, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::metrics;
use super::model::{Answer, Sim};

/// The model and the clock it runs on, shared by the loop and the server.
pub struct Shared {
    sim: Mutex<Sim>,
    start: Instant,
}

impl Shared {
    pub fn new(sim: Sim, start: Instant) -> Arc<Self> {
        Arc::new(Self {
            sim: Mutex::new(sim),
            start,
        })
    }

    /// Time since the process started: the model's `now`.
    pub fn now(&self) -> Duration {
        self.start.elapsed()
    }

    pub fn start(&self) -> Instant {
        self.start
    }

    pub fn lock(&self) -> MutexGuard<'_, Sim> {
        // Nothing panics while holding the lock (the model is plain
        // arithmetic), and a poisoned model is still the best answer we have.
        self.sim.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Accepts connections until the runtime shuts down.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _peer)) => stream,
            Err(_) => {
                // Out of file descriptors and the like: back off briefly
                // rather than spin; the next accept may succeed.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        // Scrapes are tiny; without Nagle's delay the answer leaves at once.
        let _ = stream.set_nodelay(true);
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let service = service_fn(move |request| respond(Arc::clone(&shared), request));
            // A client that goes away mid-request is its own business.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn respond(
    shared: Arc<Shared>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let answer = shared.lock().answer(shared.now());
    if answer == Answer::Hang {
        // The wedged service: the connection stays open, nothing comes back.
        return std::future::pending().await;
    }
    if request.uri().path() != "/metrics" {
        return Ok(plain(StatusCode::NOT_FOUND, "not found: try /metrics\n"));
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return Ok(response);
    }
    let body = {
        let sample = shared.lock().sample(shared.now());
        match answer {
            Answer::Garbage => metrics::render_garbage(&sample),
            Answer::Metrics | Answer::Hang => metrics::render(&sample),
        }
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(metrics::CONTENT_TYPE),
    );
    Ok(response)
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
