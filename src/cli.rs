//! The operator's subcommands that talk to a running gateway over the control socket:
//! `fdb list|add|del|flush`, `neighbor list|add|del`, `tunnel list`, `stats`, `cluster status`,
//! `reload`. `main.rs` embeds [`ControlCommand`] in its own `Subcommand` enum (e.g.
//! `#[command(flatten)]`) and calls [`run`].
//!
//! Values are passed to the gateway as typed strings and validated there (one parser for config,
//! socket and CLI); the CLI runs that same parser before it connects, so a malformed MAC, VNI
//! or address is refused as such, with or without a gateway.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use crate::control::protocol::{FdbChange, MAX_BATCH};
use crate::control::{client, format, ControlError, Request, Response, DEFAULT_SOCKET};

/// Where the control socket is, and how to print the answer.
#[derive(Debug, Clone, Args, PartialEq, Eq)]
pub struct SocketArg {
    /// Path of vxgate's control socket.
    #[arg(long, value_name = "PATH", default_value = DEFAULT_SOCKET, global = true)]
    pub socket: PathBuf,
    /// Print the gateway's answer as one JSON object (`{"status": …, "body": …}`, the control
    /// protocol's own shape); errors too, with a non-zero exit status.
    #[arg(long, global = true)]
    pub json: bool,
}

/// Commands for a running gateway.
#[derive(Debug, Clone, Subcommand, PartialEq, Eq)]
pub enum ControlCommand {
    /// Show or change the forwarding database.
    Fdb {
        #[command(subcommand)]
        cmd: FdbCommand,
        #[command(flatten)]
        socket: SocketArg,
    },
    /// Show or change the underlay neighbour (ARP) table.
    Neighbor {
        #[command(subcommand)]
        cmd: NeighborCommand,
        #[command(flatten)]
        socket: SocketArg,
    },
    /// Show the tunnel table: remote VTEPs and groups, next hops, per-tunnel traffic.
    Tunnel {
        #[command(subcommand)]
        cmd: TunnelCommand,
        #[command(flatten)]
        socket: SocketArg,
    },
    /// Show rates, drops by reason, latency and FDB state.
    Stats {
        #[command(flatten)]
        socket: SocketArg,
    },
    /// Show the fleet: etcd connection, lease, last resync, members with their VTEPs and VNIs.
    Cluster {
        #[command(subcommand)]
        cmd: ClusterCommand,
        #[command(flatten)]
        socket: SocketArg,
    },
    /// Re-read the configuration file vxgate was started with and apply it without a restart
    /// (as SIGHUP does); prints what changed and the generation every worker applied.
    Reload {
        #[command(flatten)]
        socket: SocketArg,
    },
}

#[derive(Debug, Clone, Subcommand, PartialEq, Eq)]
pub enum TunnelCommand {
    /// List tunnels (ID REMOTE NEXT-HOP FDB FLOOD TX-PKTS TX-BYTES RX-PKTS RX-BYTES).
    List,
}

#[derive(Debug, Clone, Subcommand, PartialEq, Eq)]
pub enum ClusterCommand {
    /// Connection, lease, last resync, counters and members.
    Status,
}

#[derive(Debug, Clone, Subcommand, PartialEq, Eq)]
pub enum FdbCommand {
    /// List entries (VNI MAC REMOTE TYPE AGE FROM).
    List {
        #[arg(long)]
        vni: Option<u32>,
    },
    /// Add or replace a static entry.
    Add {
        #[arg(long)]
        vni: u32,
        #[arg(long)]
        mac: String,
        /// Remote VTEP address (IPv4, or IPv6 with `vtep.ip6` set).
        #[arg(long)]
        remote: String,
    },
    /// Delete an entry of any type.
    Del {
        #[arg(long)]
        vni: u32,
        #[arg(long)]
        mac: String,
    },
    /// Remove learned entries, of one VNI or all.
    Flush {
        #[arg(long)]
        vni: Option<u32>,
    },
    /// Apply many changes from a file (`-` for stdin), one per line: `add VNI MAC REMOTE` or
    /// `del VNI MAC` (`#` starts a comment). Sent in batches of 10 000, each answered once
    /// every worker applied it; a malformed line stops everything before anything is sent.
    Batch {
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
    },
}

#[derive(Debug, Clone, Subcommand, PartialEq, Eq)]
pub enum NeighborCommand {
    /// List the ARP cache (IP MAC STATE).
    List,
    /// Add or replace a static neighbour.
    Add {
        #[arg(long)]
        ip: String,
        #[arg(long)]
        mac: String,
    },
    /// Delete a neighbour.
    Del {
        #[arg(long)]
        ip: String,
    },
}

impl ControlCommand {
    /// The socket and output options of any command.
    pub fn args(&self) -> &SocketArg {
        match self {
            ControlCommand::Fdb { socket, .. }
            | ControlCommand::Neighbor { socket, .. }
            | ControlCommand::Tunnel { socket, .. }
            | ControlCommand::Stats { socket }
            | ControlCommand::Cluster { socket, .. }
            | ControlCommand::Reload { socket } => socket,
        }
    }

    /// The socket path and the request this command sends.
    pub fn request(&self) -> (&Path, Request) {
        match self {
            ControlCommand::Fdb { cmd, socket } => (
                &socket.socket,
                match cmd.clone() {
                    FdbCommand::List { vni } => Request::FdbList { vni },
                    FdbCommand::Add { vni, mac, remote } => Request::FdbAdd { vni, mac, remote },
                    FdbCommand::Del { vni, mac } => Request::FdbDel { vni, mac },
                    FdbCommand::Flush { vni } => Request::FdbFlush { vni },
                    // `run_to` reads the file and sends it in chunks.
                    FdbCommand::Batch { .. } => Request::FdbBatch {
                        changes: Vec::new(),
                    },
                },
            ),
            ControlCommand::Neighbor { cmd, socket } => (
                &socket.socket,
                match cmd.clone() {
                    NeighborCommand::List => Request::NeighborList,
                    NeighborCommand::Add { ip, mac } => Request::NeighborAdd { ip, mac },
                    NeighborCommand::Del { ip } => Request::NeighborDel { ip },
                },
            ),
            ControlCommand::Tunnel {
                cmd: TunnelCommand::List,
                socket,
            } => (&socket.socket, Request::TunnelList),
            ControlCommand::Stats { socket } => (&socket.socket, Request::Stats),
            ControlCommand::Cluster {
                cmd: ClusterCommand::Status,
                socket,
            } => (&socket.socket, Request::ClusterStatus),
            ControlCommand::Reload { socket } => (&socket.socket, Request::Reload),
        }
    }
}

/// Renders a response as the CLI prints it; `Response::Error` becomes `ControlError::Remote`.
pub fn render(response: &Response) -> Result<String, ControlError> {
    match response {
        Response::Error { message } => Err(ControlError::Remote(message.clone())),
        Response::Fdb(rows) => Ok(format::fdb_table(rows)),
        Response::Neighbors(rows) => Ok(format::neighbor_table(rows)),
        Response::Tunnels(rows) => Ok(format::tunnel_table(rows)),
        Response::Stats(s) => Ok(format::stats(s)),
        Response::Cluster(c) => Ok(format::cluster_status(c)),
        Response::Reloaded {
            summary,
            generation,
            applied_generation,
            millis,
        } => Ok(format!(
            "reloaded: {summary}\ngeneration {generation}, applied by every worker \
             (applied generation {applied_generation}) in {millis:.1} ms\n"
        )),
        Response::Batch {
            changed,
            failed,
            errors,
            generation,
            applied_generation,
        } => {
            let mut out = format!(
                "{changed} changed, {failed} refused; generation {generation}, applied by every \
                 worker (applied generation {applied_generation})\n"
            );
            for e in errors {
                out.push_str(&format!("  refused: {e}\n"));
            }
            Ok(out)
        }
        r @ Response::Ok { .. } => Ok(format::ok(r)),
    }
}

/// Parses a batch file: `add VNI MAC REMOTE` / `del VNI MAC` lines, `#` comments, blank lines.
pub fn parse_batch(text: &str) -> Result<Vec<FdbChange>, ControlError> {
    let mut changes = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let bad = |why: &str| ControlError::Argument(format!("line {}: {why}: `{line}`", n + 1));
        let words: Vec<&str> = line.split_whitespace().collect();
        let vni = |w: &str| w.parse::<u32>().map_err(|_| bad("not a VNI"));
        let change = match words.as_slice() {
            ["add", v, mac, remote] => FdbChange::Add {
                vni: vni(v)?,
                mac: (*mac).to_string(),
                remote: (*remote).to_string(),
            },
            ["del", v, mac] => FdbChange::Del {
                vni: vni(v)?,
                mac: (*mac).to_string(),
            },
            _ => return Err(bad("expected `add VNI MAC REMOTE` or `del VNI MAC`")),
        };
        change.validate().map_err(|why| bad(&why))?;
        changes.push(change);
    }
    Ok(changes)
}

fn run_batch(
    socket: &Path,
    file: &Path,
    json: bool,
    out: &mut dyn Write,
) -> Result<(), ControlError> {
    let text = if file == Path::new("-") {
        std::io::read_to_string(std::io::stdin())?
    } else {
        std::fs::read_to_string(file)?
    };
    let changes = parse_batch(&text)?;
    let (mut changed, mut failed) = (0u64, 0u64);
    for chunk in changes.chunks(MAX_BATCH) {
        let req = Request::FdbBatch {
            changes: chunk.to_vec(),
        };
        let resp = client::request(socket, &req)?;
        if let Response::Batch {
            changed: c,
            failed: f,
            ..
        } = &resp
        {
            changed += c;
            failed += f;
        }
        if json {
            write_json(out, &resp)?;
        } else {
            out.write_all(render(&resp)?.as_bytes())?;
        }
    }
    if !json {
        writeln!(out, "total: {changed} changed, {failed} refused")?;
    }
    Ok(())
}

/// Runs `cmd` against the gateway and writes its table to `out`.
pub fn run_to(cmd: &ControlCommand, out: &mut dyn Write) -> Result<(), ControlError> {
    if let ControlCommand::Fdb {
        cmd: FdbCommand::Batch { file },
        socket,
    } = cmd
    {
        return run_batch(&socket.socket, file, socket.json, out);
    }
    let (socket, req) = cmd.request();
    // What the gateway would refuse as malformed is refused here, before connecting: an
    // operator's typo is not reported as an unreachable socket.
    let checked = req.validate().map_err(ControlError::Argument);
    let resp = match checked.and_then(|_| client::request(socket, &req)) {
        Ok(r) => r,
        Err(e) => {
            // Not even an answer (a refused argument, no gateway there): still one JSON
            // object when asked for, and the error itself (not "refused by the gateway").
            if cmd.args().json {
                let _ = write_json(out, &Response::error(e.to_string()));
            }
            return Err(e);
        }
    };
    if cmd.args().json {
        write_json(out, &resp)
    } else {
        out.write_all(render(&resp)?.as_bytes())?;
        Ok(())
    }
}

/// One JSON line; an error response is also returned as an error (non-zero exit).
fn write_json(out: &mut dyn Write, resp: &Response) -> Result<(), ControlError> {
    let line = crate::control::protocol::to_line(resp)
        .map_err(|e| ControlError::Protocol(e.to_string()))?;
    out.write_all(line.as_bytes())?;
    match resp {
        Response::Error { message } => Err(ControlError::Remote(message.clone())),
        _ => Ok(()),
    }
}

/// Runs `cmd` against the gateway and prints its table on stdout.
pub fn run(cmd: ControlCommand) -> Result<(), ControlError> {
    run_to(&cmd, &mut std::io::stdout().lock())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        cmd: ControlCommand,
    }

    fn parse(args: &[&str]) -> ControlCommand {
        let mut v = vec!["vxgate"];
        v.extend_from_slice(args);
        Cli::try_parse_from(v).unwrap().cmd
    }

    #[test]
    fn parses_every_command() {
        let c = parse(&["fdb", "list"]);
        assert_eq!(c.request().0, Path::new(DEFAULT_SOCKET));
        assert_eq!(c.request().1, Request::FdbList { vni: None });
        let c = parse(&[
            "fdb",
            "add",
            "--vni",
            "100",
            "--mac",
            "02:00:00:00:00:01",
            "--remote",
            "192.0.2.2",
            "--socket",
            "/tmp/x.sock",
        ]);
        assert_eq!(c.request().0, Path::new("/tmp/x.sock"));
        assert_eq!(
            c.request().1,
            Request::FdbAdd {
                vni: 100,
                mac: "02:00:00:00:00:01".into(),
                remote: "192.0.2.2".into()
            }
        );
        let c = parse(&["fdb", "--socket", "/s", "del", "--vni", "1", "--mac", "m"]);
        assert_eq!(c.request().0, Path::new("/s"));
        assert_eq!(
            parse(&["fdb", "flush", "--vni", "5"]).request().1,
            Request::FdbFlush { vni: Some(5) }
        );
        assert_eq!(
            parse(&["neighbor", "list"]).request().1,
            Request::NeighborList
        );
        assert_eq!(
            parse(&["neighbor", "add", "--ip", "1.2.3.4", "--mac", "m"])
                .request()
                .1,
            Request::NeighborAdd {
                ip: "1.2.3.4".into(),
                mac: "m".into()
            }
        );
        assert_eq!(
            parse(&["neighbor", "del", "--ip", "1.2.3.4"]).request().1,
            Request::NeighborDel {
                ip: "1.2.3.4".into()
            }
        );
        assert_eq!(parse(&["stats"]).request().1, Request::Stats);
        assert_eq!(parse(&["reload"]).request().1, Request::Reload);
        assert_eq!(
            parse(&["cluster", "status"]).request().1,
            Request::ClusterStatus
        );
        let mut v = vec!["vxgate", "fdb", "add", "--vni", "x"];
        v.extend(["--mac", "m", "--remote", "r"]);
        assert!(Cli::try_parse_from(v).is_err());
    }

    #[test]
    fn batch_files_parse_or_name_the_bad_line() {
        let ok = parse_batch(
            "# churn\nadd 5000 02:00:00:00:00:01 192.0.2.2\n\ndel 5000 02:00:00:00:00:02 # gone\n",
        )
        .unwrap();
        assert_eq!(
            ok,
            vec![
                FdbChange::Add {
                    vni: 5000,
                    mac: "02:00:00:00:00:01".into(),
                    remote: "192.0.2.2".into()
                },
                FdbChange::Del {
                    vni: 5000,
                    mac: "02:00:00:00:00:02".into()
                },
            ]
        );
        let good = "add 1 02:00:00:00:00:01 192.0.2.2";
        for (bad, why) in [
            ("add 5000 02:00:00:00:00:01", "expected"),
            ("del x 02:00:00:00:00:01", "not a VNI"),
            ("move 1 02:00:00:00:00:01 192.0.2.2", "expected"),
            ("add 1 02:00:00:00:00:01 192.0.2.2 extra", "expected"),
            // Values the gateway would refuse are refused before anything is sent.
            ("add 1 m 192.0.2.2", "not a MAC address"),
            ("del 0 02:00:00:00:00:01", "VNI 0"),
            ("add 1 02:00:00:00:00:01 r", "not an IPv4 or IPv6 address"),
            ("add 1 ff:ff:ff:ff:ff:ff 192.0.2.2", "not a unicast MAC"),
            ("add 1 02:00:00:00:00:01 224.0.0.1", "not a unicast address"),
        ] {
            let e = parse_batch(&format!("{good}\n{bad}"))
                .unwrap_err()
                .to_string();
            assert!(e.contains("line 2") && e.contains(why), "{bad}: {e}");
        }
    }

    proptest::proptest! {
        #[test]
        fn batch_lines_read_back_and_any_text_is_refused_or_read_without_panic(
            ops in proptest::collection::vec(
                (proptest::bool::ANY, 1u32..16_000_000, 0u64..0xffff_ffff_ffff, 1u8..224, proptest::array::uniform3(proptest::num::u8::ANY)),
                0..50,
            ),
            junk in "\\PC{0,200}",
        ) {
            let mut text = String::new();
            let mut want = Vec::new();
            for (add, vni, mac, first, rest) in ops {
                // Unicast and locally administered (never all-zero): what an FDB key may be.
                let mac = crate::MacAddr::from_u64(mac & !(1 << 40) | (1 << 41)).to_string();
                if add {
                    let remote = std::net::Ipv4Addr::new(first, rest[0], rest[1], rest[2]).to_string();
                    text.push_str(&format!("add {vni} {mac} {remote}  # note\n"));
                    want.push(FdbChange::Add { vni, mac, remote });
                } else {
                    text.push_str(&format!("\tdel {vni} {mac}\n\n"));
                    want.push(FdbChange::Del { vni, mac });
                }
            }
            proptest::prop_assert_eq!(parse_batch(&text).unwrap(), want);
            let _ = parse_batch(&junk);
        }
    }

    #[test]
    fn error_response_is_an_error() {
        assert!(matches!(
            render(&Response::error("bad MAC")),
            Err(ControlError::Remote(m)) if m == "bad MAC"
        ));
        assert_eq!(render(&Response::ok()).unwrap(), "ok\n");
    }
}
