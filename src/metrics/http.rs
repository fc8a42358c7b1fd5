//! A minimal std-only HTTP/1.0-style server for `/metrics` and `/healthz`.
//!
//! # Contract
//! - Runs on its own thread, never on a worker. One connection at a time: Prometheus scrapes
//!   rarely and the handler only reads counters.
//! - Binds loopback only unless `allow_remote` (the metrics reveal topology).
//! - Requests are bounded ([`MAX_REQUEST_BYTES`] for the head, a body is never read) and every
//!   socket has read/write timeouts, so a stuck or hostile client cannot pin the thread.
//! - `GET /metrics` → 200 with the text format; `GET /healthz` → 200 `ok`; any other path → 404;
//!   any other method → 405; an unparseable or oversized request → 400. Every response closes
//!   the connection.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::exposition::{Exposition, CONTENT_TYPE};
use super::telemetry::Telemetry;
use super::MetricsError;

/// Upper bound on the request line plus headers.
pub const MAX_REQUEST_BYTES: usize = 8 * 1024;
/// Read and write timeout per connection.
pub const IO_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the accept loop checks the stop flag.
const ACCEPT_POLL: Duration = Duration::from_millis(20);

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
    let exposition = Exposition::new(telemetry)?;
    let listener = TcpListener::bind(listen).map_err(|e| MetricsError::Bind(listen, e))?;
    let bound = listener
        .local_addr()
        .map_err(|e| MetricsError::Bind(listen, e))?;
    // Non-blocking accept so the loop can notice `stop`.
    listener
        .set_nonblocking(true)
        .map_err(|e| MetricsError::Bind(listen, e))?;
    let handle = std::thread::Builder::new()
        .name("vxgate-metrics".into())
        .spawn(move || accept_loop(&listener, &exposition, &stop))
        .map_err(MetricsError::Spawn)?;
    Ok((bound, handle))
}

fn accept_loop(listener: &TcpListener, exposition: &Exposition, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, peer)) => {
                if let Err(e) = handle(stream, exposition) {
                    tracing::debug!(%peer, error = %e, "metrics connection failed");
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(ACCEPT_POLL);
            }
            Err(e) => {
                tracing::warn!(error = %e, "metrics accept failed");
                std::thread::sleep(ACCEPT_POLL);
            }
        }
    }
}

/// What a request asked for.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    Metrics,
    Health,
    NotFound,
    MethodNotAllowed,
    BadRequest,
}

/// Routes a request head (everything up to the blank line, or what was read of it).
fn route(head: &[u8]) -> Route {
    let Ok(text) = std::str::from_utf8(head) else {
        return Route::BadRequest;
    };
    let Some(line) = text.lines().next() else {
        return Route::BadRequest;
    };
    let mut parts = line.split_ascii_whitespace();
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Route::BadRequest;
    };
    if !version.starts_with("HTTP/") || parts.next().is_some() {
        return Route::BadRequest;
    }
    if method != "GET" && method != "HEAD" {
        return Route::MethodNotAllowed;
    }
    // Ignore a query string (Prometheus may add none, curl users might).
    let path = target.split('?').next().unwrap_or(target);
    match path {
        "/metrics" => Route::Metrics,
        "/healthz" => Route::Health,
        _ => Route::NotFound,
    }
}

/// Reads the request head: until "\r\n\r\n" (or "\n\n"), EOF, or the size bound.
fn read_head(stream: &mut TcpStream) -> std::io::Result<Option<Vec<u8>>> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(Some(head));
        }
        head.extend_from_slice(&buf[..n]);
        if head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n") {
            return Ok(Some(head));
        }
        if head.len() > MAX_REQUEST_BYTES {
            return Ok(None);
        }
    }
}

fn handle(mut stream: TcpStream, exposition: &Exposition) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let route = match read_head(&mut stream)? {
        Some(head) => route(&head),
        None => Route::BadRequest,
    };
    let (status, ctype, body) = match route {
        Route::Metrics => match exposition.render() {
            Ok(text) => ("200 OK", CONTENT_TYPE, text),
            Err(e) => ("500 Internal Server Error", "text/plain", format!("{e}\n")),
        },
        Route::Health => ("200 OK", "text/plain", "ok\n".to_string()),
        Route::NotFound => ("404 Not Found", "text/plain", "not found\n".to_string()),
        Route::MethodNotAllowed => (
            "405 Method Not Allowed",
            "text/plain",
            "method not allowed\n".to_string(),
        ),
        Route::BadRequest => ("400 Bad Request", "text/plain", "bad request\n".to_string()),
    };
    let header = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(header.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    stream.flush()?;
    // Lingering close: discard (bounded) what the client still sends, so closing with unread
    // input does not reset the connection before it has read the response.
    stream.shutdown(std::net::Shutdown::Write)?;
    let _ = std::io::copy(&mut (&stream).take(64 * 1024), &mut std::io::sink());
    Ok(())
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
        assert_eq!(route(b"GET /metrics HTTP/1.1\r\n\r\n"), Route::Metrics);
        assert_eq!(route(b"GET /metrics?x=1 HTTP/1.0\r\n\r\n"), Route::Metrics);
        assert_eq!(route(b"GET /healthz HTTP/1.1\r\n\r\n"), Route::Health);
        assert_eq!(route(b"GET / HTTP/1.1\r\n\r\n"), Route::NotFound);
        assert_eq!(route(b"GET /metricsx HTTP/1.1\r\n\r\n"), Route::NotFound);
        assert_eq!(
            route(b"POST /metrics HTTP/1.1\r\n\r\n"),
            Route::MethodNotAllowed
        );
        assert_eq!(route(b"GET /metrics\r\n\r\n"), Route::BadRequest);
        assert_eq!(route(b"\xff\xfe"), Route::BadRequest);
        assert_eq!(route(b""), Route::BadRequest);
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
        assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");

        stop.store(true, Ordering::Relaxed);
        h.join().unwrap();
    }
}
