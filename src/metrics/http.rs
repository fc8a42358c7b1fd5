//! The HTTP server for `/metrics` and `/healthz` (hyper, HTTP/1.1).
//!
//! # Contract
//! - Runs on its own thread with a current-thread tokio runtime, never on a worker.
//!   Connections are served concurrently, so an idle, slow or hostile client never delays a
//!   scrape: at most [`MAX_CONNECTIONS`] at once (more are closed at once), the request head
//!   within [`HEAD_TIMEOUT`] and at most [`MAX_REQUEST_BYTES`], a whole connection (keep-alive
//!   included) within [`CONNECTION_TIMEOUT`]. A request body is never read.
//! - Binds loopback only unless `allow_remote` (the metrics reveal topology).
//! - `GET`/`HEAD /metrics` → 200 with the text format; `/healthz` → 200 `ok`; any other path →
//!   404; any other method → 405; an unparseable or oversized head → 4xx from hyper.

use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};

use super::exposition::{Exposition, CONTENT_TYPE};
use super::telemetry::Telemetry;
use super::MetricsError;

/// Upper bound on the request line plus headers.
pub const MAX_REQUEST_BYTES: usize = 8 * 1024;
/// Time a client has to send its request head.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(2);
/// Time one connection may stay open, requests and responses included.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 64;
/// Read and write timeout of the test client ([`get`]).
pub const IO_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the accept loop checks the stop flag.
const STOP_POLL: Duration = Duration::from_millis(20);

/// Starts the metrics server; returns the bound address (useful with port 0) and its thread.
/// The thread ends once `stop` is set.
pub fn serve(
    listen: SocketAddr,
    allow_remote: bool,
    telemetry: Arc<Telemetry>,
    stop: Arc<AtomicBool>,
) -> Result<(SocketAddr, JoinHandle<()>), MetricsError> {
    if !listen.ip().is_loopback() && !allow_remote {
        return Err(MetricsError::NotLoopback(listen));
    }
    let exposition = Arc::new(Exposition::new(telemetry)?);
    let bind_err = |e| MetricsError::Bind(listen, e);
    let listener = TcpListener::bind(listen).map_err(bind_err)?;
    let bound = listener.local_addr().map_err(bind_err)?;
    listener.set_nonblocking(true).map_err(bind_err)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(bind_err)?;
    let handle = std::thread::Builder::new()
        .name("vxgate-metrics".into())
        .spawn(move || runtime.block_on(accept_loop(listener, exposition, stop)))
        .map_err(MetricsError::Spawn)?;
    Ok((bound, handle))
}

async fn accept_loop(listener: TcpListener, exposition: Arc<Exposition>, stop: Arc<AtomicBool>) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "metrics listener unusable");
            return;
        }
    };
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let mut tick = tokio::time::interval(STOP_POLL);
    while !stop.load(Ordering::Relaxed) {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = tick.tick() => continue,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "metrics accept failed");
                tokio::time::sleep(STOP_POLL).await;
                continue;
            }
        };
        // Over the bound the connection is closed unanswered: a scraper retries, a flood of
        // connections holds no memory.
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "metrics connection refused: {MAX_CONNECTIONS} open");
            continue;
        };
        let exposition = exposition.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let exposition = exposition.clone();
                async move { Ok::<_, Infallible>(respond(&req, &exposition)) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEAD_TIMEOUT)
                .max_buf_size(MAX_REQUEST_BYTES)
                .serve_connection(TokioIo::new(stream), service);
            match tokio::time::timeout(CONNECTION_TIMEOUT, conn).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "metrics connection failed"),
                Err(_) => tracing::debug!(%peer, "metrics connection timed out"),
            }
            drop(permit);
        });
    }
}

/// What a request asked for.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    Metrics,
    Health,
    NotFound,
    MethodNotAllowed,
}

fn route(method: &Method, path: &str) -> Route {
    if method != Method::GET && method != Method::HEAD {
        return Route::MethodNotAllowed;
    }
    match path {
        "/metrics" => Route::Metrics,
        "/healthz" => Route::Health,
        _ => Route::NotFound,
    }
}

fn respond<B>(req: &Request<B>, exposition: &Exposition) -> Response<Full<Bytes>> {
    let (status, ctype, body) = match route(req.method(), req.uri().path()) {
        Route::Metrics => match exposition.render() {
            Ok(text) => (StatusCode::OK, CONTENT_TYPE, text),
            Err(e) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "text/plain",
                format!("{e}\n"),
            ),
        },
        Route::Health => (StatusCode::OK, "text/plain", "ok\n".to_string()),
        Route::NotFound => (StatusCode::NOT_FOUND, "text/plain", "not found\n".into()),
        Route::MethodNotAllowed => (
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "method not allowed\n".into(),
        ),
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(ctype),
    );
    resp
}

/// A tiny blocking client for tests and `vxgate` self-checks: `GET path` → (status, body).
pub fn get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_write_timeout(Some(IO_TIMEOUT))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)?;
    let status = resp
        .split_ascii_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::histogram::LatencyCollector;
    use crate::metrics::telemetry::PortNames;
    use crate::metrics::WorkerCounters;

    #[test]
    fn routes() {
        assert_eq!(route(&Method::GET, "/metrics"), Route::Metrics);
        assert_eq!(route(&Method::HEAD, "/metrics"), Route::Metrics);
        assert_eq!(route(&Method::GET, "/healthz"), Route::Health);
        assert_eq!(route(&Method::GET, "/"), Route::NotFound);
        assert_eq!(route(&Method::GET, "/metricsx"), Route::NotFound);
        assert_eq!(route(&Method::POST, "/metrics"), Route::MethodNotAllowed);
    }

    fn telemetry() -> Arc<Telemetry> {
        Arc::new(Telemetry::new(
            vec![Arc::new(WorkerCounters::default())],
            PortNames::default(),
            LatencyCollector::new(vec![]).unwrap(),
        ))
    }

    #[test]
    fn refuses_non_loopback_without_allow_remote() {
        let stop = Arc::new(AtomicBool::new(false));
        let r = serve(
            "0.0.0.0:0".parse().unwrap(),
            false,
            telemetry(),
            stop.clone(),
        );
        assert!(matches!(r, Err(MetricsError::NotLoopback(_))));
    }

    #[test]
    fn serves_metrics_health_and_404() {
        let stop = Arc::new(AtomicBool::new(false));
        let (addr, h) = serve(
            "127.0.0.1:0".parse().unwrap(),
            false,
            telemetry(),
            stop.clone(),
        )
        .unwrap();
        let (code, body) = get(addr, "/healthz").unwrap();
        assert_eq!((code, body.as_str()), (200, "ok\n"));
        let (code, body) = get(addr, "/metrics").unwrap();
        assert_eq!(code, 200);
        assert!(body.contains("vxgate_drop_packets_total{reason=\"malformed\"} 0"));
        assert_eq!(get(addr, "/nope").unwrap().0, 404);
        assert_eq!(get(addr, "/../etc/passwd").unwrap().0, 404);

        // An oversized head is refused, not buffered without bound.
        let mut s = TcpStream::connect(addr).unwrap();
        let junk = vec![b'a'; MAX_REQUEST_BYTES + 2048];
        let _ = s.write_all(&junk);
        let mut resp = String::new();
        let _ = s.read_to_string(&mut resp);
        assert!(resp.is_empty() || resp.starts_with("HTTP/1.1 4"), "{resp}");
        // A query string and a malformed request line.
        assert_eq!(get(addr, "/metrics?x=1").unwrap().0, 200);
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"GET /metrics\r\n\r\n").unwrap();
        let mut resp = String::new();
        let _ = s.read_to_string(&mut resp);
        assert!(resp.is_empty() || resp.starts_with("HTTP/1.1 4"), "{resp}");

        stop.store(true, Ordering::Relaxed);
        h.join().unwrap();
    }

    #[test]
    fn idle_and_concurrent_clients_do_not_delay_a_scrape() {
        let stop = Arc::new(AtomicBool::new(false));
        let (addr, h) = serve(
            "127.0.0.1:0".parse().unwrap(),
            false,
            telemetry(),
            stop.clone(),
        )
        .unwrap();
        // Ten connections that never send a byte, and one that sent half a head: served one
        // at a time, a scrape behind them waited out every timeout (20 s for ten).
        let mut idle: Vec<TcpStream> = (0..10).map(|_| TcpStream::connect(addr).unwrap()).collect();
        let mut half = TcpStream::connect(addr).unwrap();
        half.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
            .unwrap();
        idle.push(half);
        // The scrape is answered within the client's 2 s timeout.
        let (code, body) = get(addr, "/metrics").unwrap();
        assert_eq!(code, 200);
        assert!(body.contains("vxgate_drop_packets_total"));
        // Twenty scrapers at once are all answered.
        let scrapers: Vec<_> = (0..20)
            .map(|_| std::thread::spawn(move || get(addr, "/metrics").map(|r| r.0)))
            .collect();
        for s in scrapers {
            assert_eq!(s.join().unwrap().unwrap(), 200);
        }
        drop(idle);
        stop.store(true, Ordering::Relaxed);
        h.join().unwrap();
    }
}
