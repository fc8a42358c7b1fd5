//! The control socket server: a Unix socket, one accepting thread, one short-lived thread per
//! connection (at most [`MAX_CONNECTIONS`]), every request forwarded to the control thread.
//!
//! # Contract
//! - The socket never exists with a mode wider than 0600: it is bound inside a fresh 0700
//!   directory, restricted, then renamed into place. Its directory (created 0755 if missing)
//!   must not be writable by others nor owned by another user (whoever can write there could
//!   replace the socket); start-up refuses it otherwise. A stale socket (nobody answers on it)
//!   is replaced, a live one or a non-socket file is an error.
//! - Lines are bounded ([`MAX_LINE_BYTES`]); a request line must arrive whole within
//!   [`IO_TIMEOUT`] (a client trickling bytes is cut off), writes time out too. Malformed JSON
//!   is answered with `Response::Error` and never reaches the control thread. Each connection
//!   has its own thread, so a slow client delays nobody else.
//! - The socket file is removed when the server stops.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use super::protocol::{to_line, Request, Response, MAX_LINE_BYTES};
use super::{ControlError, ControlMsg};

/// Read/write timeout on a connection (an idle client is dropped after it).
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// How long to wait for the control thread's answer (it answers itself within ~2 s).
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once; more are refused with an error line.
pub const MAX_CONNECTIONS: usize = 64;
const ACCEPT_POLL: Duration = Duration::from_millis(20);

/// Reads one line of at most `max` bytes. `Ok(None)` at EOF; an error for an overlong line.
pub(crate) fn read_line_bounded<R: BufRead>(
    r: &mut R,
    max: usize,
) -> std::io::Result<Option<Vec<u8>>> {
    let mut line = Vec::with_capacity(256);
    let n = r.take(max as u64).read_until(b'\n', &mut line)?;
    if n == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') && n >= max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("line longer than {max} bytes"),
        ));
    }
    Ok(Some(line))
}

/// Reads one request line of at most `max` bytes, all of it before `deadline`. `Ok(None)` at
/// EOF before any byte; `TimedOut` past the deadline however the bytes trickle in;
/// `InvalidData` for an overlong line.
fn read_line_by(
    r: &mut BufReader<UnixStream>,
    max: usize,
    deadline: Instant,
) -> std::io::Result<Option<Vec<u8>>> {
    let mut line = Vec::with_capacity(256);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "request line not complete in time",
            ));
        }
        r.get_ref().set_read_timeout(Some(left))?;
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok((!line.is_empty()).then_some(line));
        }
        let (take, done) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        if line.len() + take > max {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("line longer than {max} bytes"),
            ));
        }
        line.extend_from_slice(buf.get(..take).unwrap_or_default());
        r.consume(take);
        if done {
            return Ok(Some(line));
        }
    }
}

/// Refuses a directory that another user could write to or owns.
fn check_dir(dir: &Path) -> std::io::Result<()> {
    let meta = std::fs::metadata(dir)?;
    let refuse = |why: String| {
        Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            why,
        ))
    };
    if meta.mode() & 0o002 != 0 {
        return refuse(format!(
            "{} is writable by every user, who could replace the control socket; put the \
             socket in a directory of its own (e.g. /run/vxgate/)",
            dir.display()
        ));
    }
    // /proc/self belongs to this process's effective user (no `geteuid`: unsafe code is
    // denied outside io::dpdk).
    let me = std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(0);
    if meta.uid() != me && meta.uid() != 0 {
        return refuse(format!(
            "{} belongs to uid {}, not to this user (uid {me})",
            dir.display(),
            meta.uid()
        ));
    }
    Ok(())
}

/// Binds `path` so that it never exists with a wider mode than 0600: inside a fresh 0700
/// directory beside it, restricted, then renamed into place.
fn bind_private(path: &Path) -> std::io::Result<UnixListener> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let private = dir.join(format!(".vxgate-bind-{}-{nanos}", std::process::id()));
    std::fs::DirBuilder::new().mode(0o700).create(&private)?;
    let tmp = private.join("s");
    let result = UnixListener::bind(&tmp).and_then(|l| {
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
        std::fs::rename(&tmp, path)?;
        Ok(l)
    });
    let _ = std::fs::remove_file(&tmp);
    let _ = std::fs::remove_dir(&private);
    result
}

fn socket_dir(path: &Path) -> &Path {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."))
}

/// Refuses a socket path that [`serve`] would refuse, without changing anything: a directory
/// another user could write to, a file that is not a socket, a socket another vxgate serves.
/// `vxgate run` calls it before it touches a port, `vxgate check` to report it. Returns
/// whether a stale socket (nobody listening) is there to be replaced.
pub fn check_path(path: &Path) -> Result<bool, ControlError> {
    let err = |error| ControlError::Socket {
        path: path.to_path_buf(),
        error,
    };
    let dir = socket_dir(path);
    match std::fs::metadata(dir) {
        Ok(_) => check_dir(dir).map_err(err)?,
        // `serve` creates it, owned by this user.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(err(e)),
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if UnixStream::connect(path).is_ok() {
                return Err(err(std::io::Error::new(
                    std::io::ErrorKind::AddrInUse,
                    "another vxgate is listening on it",
                )));
            }
            Ok(true)
        }
        Ok(_) => Err(err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            "exists and is not a socket; refusing to remove it",
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(err(e)),
    }
}

/// Prepares the socket path: creates and checks the directory, removes a stale socket.
fn prepare(path: &Path) -> Result<(), ControlError> {
    let err = |error| ControlError::Socket {
        path: path.to_path_buf(),
        error,
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(socket_dir(path))
        .map_err(err)?;
    if check_path(path)? {
        std::fs::remove_file(path).map_err(err)?;
    }
    Ok(())
}

/// Binds the control socket and starts the accepting thread, which ends once `stop` is set.
pub fn serve(
    path: &Path,
    requests: Sender<ControlMsg>,
    stop: Arc<AtomicBool>,
) -> Result<JoinHandle<()>, ControlError> {
    prepare(path)?;
    let err = |error| ControlError::Socket {
        path: path.to_path_buf(),
        error,
    };
    let listener = bind_private(path).map_err(err)?;
    listener.set_nonblocking(true).map_err(err)?;
    let path: PathBuf = path.to_path_buf();
    std::thread::Builder::new()
        .name("vxgate-ctl-sock".into())
        .spawn(move || {
            accept_loop(&listener, &requests, &stop);
            let _ = std::fs::remove_file(&path);
        })
        .map_err(ControlError::Spawn)
}

fn accept_loop(listener: &UnixListener, requests: &Sender<ControlMsg>, stop: &Arc<AtomicBool>) {
    let active = Arc::new(AtomicUsize::new(0));
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                if active.load(Ordering::Acquire) >= MAX_CONNECTIONS {
                    refuse(stream, "too many control connections; try again");
                    continue;
                }
                active.fetch_add(1, Ordering::AcqRel);
                let requests = requests.clone();
                let active2 = active.clone();
                let stop = stop.clone();
                let spawned = std::thread::Builder::new()
                    .name("vxgate-ctl-conn".into())
                    .spawn(move || {
                        if let Err(e) = connection(stream, &requests, &stop) {
                            tracing::debug!(error = %e, "control connection ended");
                        }
                        active2.fetch_sub(1, Ordering::AcqRel);
                    });
                if spawned.is_err() {
                    active.fetch_sub(1, Ordering::AcqRel);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(ACCEPT_POLL);
            }
            Err(e) => {
                tracing::warn!(error = %e, "control accept failed");
                std::thread::sleep(ACCEPT_POLL);
            }
        }
    }
}

fn refuse(mut stream: UnixStream, message: &str) {
    let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
    if let Ok(line) = to_line(&Response::error(message)) {
        let _ = stream.write_all(line.as_bytes());
    }
}

/// Serves one connection: request lines in, response lines out, until EOF or an error.
fn connection(
    stream: UnixStream,
    requests: &Sender<ControlMsg>,
    stop: &AtomicBool,
) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    while !stop.load(Ordering::Relaxed) {
        let deadline = Instant::now() + IO_TIMEOUT;
        let line = match read_line_by(&mut reader, MAX_LINE_BYTES, deadline) {
            Ok(Some(l)) => l,
            Ok(None) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                write_response(&mut writer, &Response::error(e.to_string()))?;
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let response = match serde_json::from_slice::<Request>(&line) {
            Ok(request) => forward(requests, request),
            Err(e) => Response::error(format!("malformed request: {e}")),
        };
        write_response(&mut writer, &response)?;
    }
    Ok(())
}

fn forward(requests: &Sender<ControlMsg>, request: Request) -> Response {
    let (reply, answer) = crossbeam_channel::bounded(1);
    match requests.try_send(ControlMsg { request, reply }) {
        Ok(()) => {}
        Err(crossbeam_channel::TrySendError::Full(_)) => {
            return Response::error("control thread busy; try again")
        }
        Err(crossbeam_channel::TrySendError::Disconnected(_)) => {
            return Response::error("control thread stopped")
        }
    }
    answer
        .recv_timeout(REPLY_TIMEOUT)
        .unwrap_or_else(|_| Response::error("control thread did not answer in time"))
}

fn write_response(w: &mut UnixStream, r: &Response) -> std::io::Result<()> {
    let line = to_line(r).map_err(std::io::Error::other)?;
    w.write_all(line.as_bytes())?;
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn bounded_lines() {
        let mut r = Cursor::new(b"abc\ndef".to_vec());
        assert_eq!(read_line_bounded(&mut r, 10).unwrap().unwrap(), b"abc\n");
        assert_eq!(read_line_bounded(&mut r, 10).unwrap().unwrap(), b"def");
        assert!(read_line_bounded(&mut r, 10).unwrap().is_none());
        let mut long = Cursor::new(vec![b'x'; 100]);
        assert!(read_line_bounded(&mut long, 10).is_err());
    }

    fn temp_socket(name: &str) -> PathBuf {
        std::env::temp_dir()
            .join(format!("vxgate-test-{}-{name}", std::process::id()))
            .join("ctl.sock")
    }

    #[test]
    fn refuses_a_directory_everyone_can_write() {
        let path = temp_socket("wdir");
        let dir = path.parent().unwrap().to_path_buf();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let (tx, _rx) = crate::control::request_channel();
        let e = serve(&path, tx, Arc::new(AtomicBool::new(false))).unwrap_err();
        assert!(e.to_string().contains("writable by every user"), "{e}");
        assert!(!path.exists());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn slow_clients_are_cut_off_and_delay_nobody_else() {
        let path = temp_socket("slow");
        let (tx, rx) = crate::control::request_channel();
        let stop = Arc::new(AtomicBool::new(false));
        let h = serve(&path, tx, stop.clone()).unwrap();
        // A stand-in control thread answering pings.
        let ctl = std::thread::spawn(move || {
            while let Ok(m) = rx.recv_timeout(Duration::from_secs(10)) {
                let _ = m.reply.send(Response::ok());
            }
        });
        // Twelve clients that send half a request and stall, one that trickles a byte every
        // 200 ms (each read arrives well within the timeout; the line never completes).
        let mut stalled: Vec<UnixStream> = (0..12)
            .map(|_| {
                let mut s = UnixStream::connect(&path).unwrap();
                s.write_all(b"{\"op\":").unwrap();
                s
            })
            .collect();
        let trickle = {
            let path = path.clone();
            std::thread::spawn(move || {
                let mut s = UnixStream::connect(&path).unwrap();
                let started = Instant::now();
                for b in b"{\"op\":\"ping\"}                                        ".iter() {
                    if s.write_all(&[*b]).is_err() {
                        return Some(started.elapsed());
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
                None
            })
        };
        // Others are served meanwhile.
        for _ in 0..5 {
            let mut s = UnixStream::connect(&path).unwrap();
            s.write_all(b"{\"op\":\"ping\"}\n").unwrap();
            let mut r = BufReader::new(s);
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            assert!(line.contains("\"ok\""), "{line}");
        }
        // The trickler is disconnected after the request timeout, not served forever.
        let cut = trickle.join().unwrap();
        assert!(cut.is_some(), "a trickling client was never cut off");
        stalled.clear();
        stop.store(true, Ordering::Relaxed);
        h.join().unwrap();
        drop(ctl);
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn refuses_non_socket_and_replaces_stale() {
        let path = temp_socket("prep");
        let dir = path.parent().unwrap().to_path_buf();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(&path, b"not a socket").unwrap();
        assert!(prepare(&path).is_err());
        std::fs::remove_file(&path).unwrap();
        // A socket nobody listens on any more is stale.
        drop(UnixListener::bind(&path).unwrap());
        assert!(prepare(&path).is_ok());
        assert!(!path.exists());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn malformed_json_is_answered_without_reaching_the_control_thread() {
        let path = temp_socket("bad");
        let (tx, rx) = crate::control::request_channel();
        let stop = Arc::new(AtomicBool::new(false));
        let h = serve(&path, tx, stop.clone()).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let mut s = UnixStream::connect(&path).unwrap();
        s.write_all(b"{not json}\n").unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let line = read_line_bounded(&mut r, MAX_LINE_BYTES).unwrap().unwrap();
        let resp: Response = serde_json::from_slice(&line).unwrap();
        assert!(matches!(resp, Response::Error { .. }), "{resp:?}");
        assert!(rx.try_recv().is_err());
        drop(s);
        stop.store(true, Ordering::Relaxed);
        h.join().unwrap();
        assert!(!path.exists());
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }
}
