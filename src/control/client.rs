//! The CLI's side of the control socket: connect, send one request line, read one response.

use std::io::{BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use super::protocol::{to_line, Request, Response, MAX_RESPONSE_BYTES};
use super::server::read_line_bounded;
use super::ControlError;

/// How long the client waits for an answer (the server gives up on replicas after ~2 s).
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(15);

/// Sends `req` to the gateway listening on `socket` and returns its answer. A
/// `Response::Error` is returned as a response, not as an `Err`: the request was delivered.
pub fn request(socket: &Path, req: &Request) -> Result<Response, ControlError> {
    let stream = UnixStream::connect(socket).map_err(|error| ControlError::Connect {
        path: socket.to_path_buf(),
        error,
    })?;
    stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    stream.set_write_timeout(Some(CLIENT_TIMEOUT))?;
    let line = to_line(req).map_err(|e| ControlError::Protocol(e.to_string()))?;
    (&stream).write_all(line.as_bytes())?;
    (&stream).flush()?;
    let mut reader = BufReader::new(&stream);
    let answer = read_line_bounded(&mut reader, MAX_RESPONSE_BYTES)?.ok_or_else(|| {
        ControlError::Protocol("connection closed before an answer arrived".into())
    })?;
    serde_json::from_slice(&answer).map_err(|e| ControlError::Protocol(e.to_string()))
}

/// Like [`request`], but turns `Response::Error` into `ControlError::Remote`.
pub fn request_ok(socket: &Path, req: &Request) -> Result<Response, ControlError> {
    match request(socket, req)? {
        Response::Error { message } => Err(ControlError::Remote(message)),
        r => Ok(r),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_socket_is_a_connect_error() {
        let p = std::env::temp_dir().join("vxgate-no-such-dir/ctl.sock");
        assert!(matches!(
            request(&p, &Request::Ping),
            Err(ControlError::Connect { .. })
        ));
    }
}
