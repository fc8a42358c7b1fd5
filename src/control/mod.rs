//! The control socket (server side) and the CLI's client side.
//!
//! # Design
//! - `protocol`: JSON lines; every value is validated by the newtypes' `FromStr` on the server.
//! - `server`: one thread accepts connections on a Unix socket (mode 0600, so only the owner —
//!   normally root — can change the FDB) and forwards each request over a crossbeam channel to
//!   the control thread, then writes the reply back. It never touches the tables itself.
//! - `thread`: the control thread, the only owner of `fdb::control::ControlPlane`: serves
//!   requests, polls the control plane, refreshes telemetry. A change is acknowledged only when
//!   every worker replica has applied it.
//! - `client`: one request, one response, for the CLI; `format`: human tables.

use std::path::PathBuf;

use crossbeam_channel::{Receiver, Sender};

pub mod client;
pub mod format;
pub mod protocol;
pub mod server;
pub mod thread;

pub use protocol::{Request, Response, StatsSnapshot};

/// The default control socket path.
pub const DEFAULT_SOCKET: &str = "/run/vxgate/control.sock";

/// Requests waiting for the control thread at most; the server answers "busy" beyond.
pub const REQUEST_QUEUE: usize = 64;

/// A request on its way to the control thread, with the channel for its answer.
#[derive(Debug)]
pub struct ControlMsg {
    pub request: Request,
    pub reply: Sender<Response>,
}

/// The channel between the socket server and the control thread.
pub fn request_channel() -> (Sender<ControlMsg>, Receiver<ControlMsg>) {
    crossbeam_channel::bounded(REQUEST_QUEUE)
}

/// Why a control operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("cannot connect to the control socket {path}: {error} (is vxgate running?)")]
    Connect {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("control socket {path}: {error}")]
    Socket {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("control socket I/O: {0}")]
    Io(std::io::Error),
    #[error("malformed control message: {0}")]
    Protocol(String),
    /// An argument the CLI refuses before it connects (the gateway's own parser says why).
    #[error("{0}")]
    Argument(String),
    #[error("vxgate refused the request: {0}")]
    Remote(String),
    #[error("unexpected response: {0}")]
    Unexpected(String),
    #[error("cannot start the control thread: {0}")]
    Spawn(std::io::Error),
}

// Errors print their cause in their own message and do not also return it as `source()`, so a
// reporter that walks the chain prints every cause once.
impl From<std::io::Error> for ControlError {
    fn from(e: std::io::Error) -> Self {
        ControlError::Io(e)
    }
}
