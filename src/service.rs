//! Running under systemd: readiness, stop and watchdog notifications over `$NOTIFY_SOCKET`
//! (the sd_notify datagram protocol, spoken directly: no libsystemd).
//!
//! `vxgate run` sends `READY=1` once its ports are started and every worker has polled,
//! `WATCHDOG=1` every half `$WATCHDOG_USEC` but only while every worker's poll counter keeps
//! advancing (a wedged worker stops the feeding, and systemd restarts the service), and
//! `STOPPING=1` when it begins a clean stop. Without `$NOTIFY_SOCKET` nothing is sent.

use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::Duration;

/// Where notifications go.
pub struct Notifier {
    sock: UnixDatagram,
    target: Target,
}

enum Target {
    Path(PathBuf),
    /// A Linux abstract socket (`@name` in `$NOTIFY_SOCKET`).
    Abstract(Vec<u8>),
}

impl Notifier {
    /// The notifier `$NOTIFY_SOCKET` names, if any.
    pub fn from_env() -> Option<Notifier> {
        let v = std::env::var_os("NOTIFY_SOCKET")?;
        Notifier::to(&v.to_string_lossy()).ok()
    }

    /// A notifier for `addr`: a path, or `@name` for an abstract socket.
    pub fn to(addr: &str) -> io::Result<Notifier> {
        let target = match addr.strip_prefix('@') {
            Some(name) => Target::Abstract(name.as_bytes().to_vec()),
            None => Target::Path(PathBuf::from(addr)),
        };
        Ok(Notifier {
            sock: UnixDatagram::unbound()?,
            target,
        })
    }

    /// Sends one notification (newline-separated `KEY=value` assignments).
    pub fn send(&self, msg: &str) -> io::Result<()> {
        match &self.target {
            Target::Path(p) => self.sock.send_to(msg.as_bytes(), p).map(|_| ()),
            Target::Abstract(name) => {
                use std::os::linux::net::SocketAddrExt;
                let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
                self.sock.send_to_addr(msg.as_bytes(), &addr).map(|_| ())
            }
        }
    }
}

/// How often to feed the watchdog: half of `$WATCHDOG_USEC`, when it is set for this process.
pub fn watchdog_interval() -> Option<Duration> {
    if let Some(pid) = std::env::var_os("WATCHDOG_PID") {
        if pid.to_string_lossy() != std::process::id().to_string() {
            return None;
        }
    }
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec / 2))
}

/// Whether every worker made progress: each poll counter advanced since the last check.
#[derive(Debug, Default)]
pub struct Liveness {
    last: Vec<u64>,
}

impl Liveness {
    /// True when every counter in `polls` is above its value at the previous call (the
    /// first call compares with zero).
    pub fn all_advanced(&mut self, polls: &[u64]) -> bool {
        let ok = polls.len() == self.last.len().max(polls.len())
            && polls
                .iter()
                .enumerate()
                .all(|(i, p)| *p > self.last.get(i).copied().unwrap_or(0));
        self.last = polls.to_vec();
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_reach_a_path_and_an_abstract_socket() {
        let dir = std::env::temp_dir().join(format!("vxgate-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify");
        let rx = UnixDatagram::bind(&path).unwrap();
        Notifier::to(path.to_str().unwrap())
            .unwrap()
            .send("READY=1\nSTATUS=ok")
            .unwrap();
        let mut buf = [0u8; 64];
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\nSTATUS=ok");

        use std::os::linux::net::SocketAddrExt;
        let name = format!("vxgate-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let rx = UnixDatagram::bind_addr(&addr).unwrap();
        Notifier::to(&format!("@{name}"))
            .unwrap()
            .send("WATCHDOG=1")
            .unwrap();
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"WATCHDOG=1");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn the_watchdog_is_fed_only_while_every_worker_advances() {
        let mut l = Liveness::default();
        assert!(l.all_advanced(&[5, 7]));
        assert!(l.all_advanced(&[6, 9]));
        assert!(!l.all_advanced(&[6, 12]), "worker 0 did not poll");
        assert!(l.all_advanced(&[7, 13]));
        assert!(!l.all_advanced(&[0, 0]));
    }
}
