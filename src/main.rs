//! The `vxgate` command: run the gateway, check a configuration, generate test traffic, and
//! talk to a running gateway over its control socket.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Parser, Subcommand};

use vxgate::cli::ControlCommand;
use vxgate::config::Config;
use vxgate::trafficgen::{self, TrafficSpec};

#[derive(Parser)]
#[command(name = "vxgate", version = env!("CARGO_PKG_VERSION"), about = "VXLAN gateway (VTEP) on DPDK")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the gateway until SIGINT/SIGTERM (or --duration), then print a summary.
    Run {
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
        /// Stop after this many seconds.
        #[arg(long, value_name = "SECS")]
        duration: Option<f64>,
        /// Do not pin workers to their cores (shared or small machines).
        #[arg(long)]
        no_pin: bool,
    },
    /// Validate a configuration file; exits non-zero naming the offending key.
    Check {
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
        /// Check the file for another machine: worker cores this one lacks are a warning, not
        /// an error (packaging, CI).
        #[arg(long)]
        offline: bool,
    },
    /// Print vxgate's version and the DPDK version it was built against.
    Version,
    /// Write the man pages and shell completions (bash, zsh, fish) generated from these
    /// commands into a directory (packaging).
    Generate {
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Write pcap files of test traffic matching a configuration (access and underlay side).
    PcapGen {
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
        /// Access-side frames (802.1Q per VNI) to this file.
        #[arg(long, value_name = "FILE", default_value = "out/access.pcap")]
        access: PathBuf,
        /// Underlay-side VXLAN frames addressed to the VTEP to this file.
        #[arg(long, value_name = "FILE", default_value = "out/underlay.pcap")]
        underlay: PathBuf,
        /// Frames per file.
        #[arg(long, default_value_t = 1024)]
        frames: usize,
        /// Frame sizes in bytes (access side, without FCS), used round robin. The default's
        /// largest, 1468 tagged, is the largest that fits the default 1500-byte underlay MTU
        /// once encapsulated.
        #[arg(long, value_delimiter = ',', default_value = trafficgen::DEFAULT_FRAME_SIZES)]
        sizes: Vec<usize>,
        /// Local hosts per VNI.
        #[arg(long, default_value_t = 8)]
        hosts: usize,
        /// Every Nth frame is a broadcast (0 = none).
        #[arg(long, default_value_t = 0)]
        broadcast_every: usize,
        /// Mix in hostile frames (truncated at every header offset, bad lengths, fragments,
        /// wrong port and flags, unknown VNIs, runts, oversized frames, spoofed sources, bad
        /// ARP), a valid frame after each: robustness runs and soak tests.
        #[arg(long)]
        hostile: bool,
    },
    /// Zero-loss throughput (RFC 2544 style): replay a pcap into one DPDK port at a paced rate,
    /// count what comes back on another, and search for the highest rate with no loss (or run
    /// one trial at --rate-mpps). EAL arguments after `--` (e.g. two net_memif servers that the
    /// gateway under test connects to).
    Loadgen(LoadgenArgs),
    #[command(flatten)]
    Control(ControlCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Run {
            config,
            duration,
            no_pin,
        } => run(&config, duration, !no_pin),
        Cmd::Check { config, offline } => check(&config, offline),
        Cmd::Version => {
            println!("{}", version_line());
            Ok(())
        }
        Cmd::Generate { out } => generate(&out),
        Cmd::PcapGen {
            config,
            access,
            underlay,
            frames,
            sizes,
            hosts,
            broadcast_every,
            hostile,
        } => pcap_gen(
            &config,
            &access,
            &underlay,
            TrafficSpec {
                hosts_per_vni: hosts,
                frame_sizes: sizes,
                broadcast_every,
                frames,
            },
            hostile,
        ),
        Cmd::Loadgen(args) => loadgen(args),
        Cmd::Control(cmd) => vxgate::cli::run(cmd).map_err(anyhow::Error::from),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vxgate: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `vxgate X.Y.Z (DPDK A.B.C)`, or `(built without DPDK)`.
fn version_line() -> String {
    let dpdk = option_env!("VXGATE_DPDK_VERSION")
        .filter(|_| cfg!(feature = "dpdk"))
        .map_or_else(|| "built without DPDK".to_string(), |v| format!("DPDK {v}"));
    format!("vxgate {} ({dpdk})", env!("CARGO_PKG_VERSION"))
}

fn generate(dir: &Path) -> Result<()> {
    use clap::CommandFactory;
    let man = dir.join("man");
    let completions = dir.join("completions");
    std::fs::create_dir_all(&man)?;
    std::fs::create_dir_all(&completions)?;
    let cmd = Cli::command();
    clap_mangen::generate_to(cmd.clone(), &man).context("writing man pages")?;
    for shell in [
        clap_complete::Shell::Bash,
        clap_complete::Shell::Zsh,
        clap_complete::Shell::Fish,
    ] {
        clap_complete::generate_to(shell, &mut cmd.clone(), "vxgate", &completions)
            .context("writing completions")?;
    }
    println!(
        "wrote man pages to {} and completions to {}",
        man.display(),
        completions.display()
    );
    Ok(())
}

/// What the control socket's place on this machine would make `vxgate run` refuse, told
/// before any port starts.
fn check_control_socket(cfg: &Config, path: &Path) -> Result<()> {
    vxgate::control::server::check_path(&cfg.control.socket)
        .map(|_| ())
        .map_err(|e| anyhow!("{}: {e}", path.display()))
}

fn check(path: &Path, offline: bool) -> Result<()> {
    let cfg = if offline {
        // Every core the file names counts as available; say which this machine lacks.
        let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
        let cfg = Config::from_toml_str(&text).with_context(|| format!("{}", path.display()))?;
        let here = vxgate::config::available_cores();
        let mut cores = cfg.workers.cores.clone();
        cores.extend(here.iter().copied());
        cfg.validate(&cores)
            .with_context(|| format!("{}", path.display()))?;
        if let Err(e) = check_control_socket(&cfg, path) {
            eprintln!("vxgate: warning: {e:#} (on this machine)");
        }
        let missing: Vec<_> = cfg
            .workers
            .cores
            .iter()
            .filter(|c| !here.contains(c))
            .collect();
        if !missing.is_empty() {
            eprintln!(
                "vxgate: warning: workers.cores {missing:?} are not available on this machine \
                 (available: {here:?})"
            );
        }
        cfg
    } else {
        let cfg = Config::load(path).map_err(|e| anyhow!(e.in_file(path)))?;
        check_control_socket(&cfg, path)?;
        cfg
    };
    println!(
        "{}: ok ({} VNIs, {} static FDB entries, {} workers)",
        path.display(),
        cfg.vni.len(),
        cfg.fdb.len(),
        cfg.workers.cores.len()
    );
    Ok(())
}

fn pcap_gen(
    path: &Path,
    access: &Path,
    underlay: &Path,
    spec: TrafficSpec,
    hostile: bool,
) -> Result<()> {
    use vxgate::trafficgen::hostile as h;
    let cfg = Config::load(path).map_err(|e| anyhow!(e.in_file(path)))?;
    let mut a = trafficgen::access_frames(&cfg, &spec);
    let mut u = trafficgen::underlay_frames(&cfg, &spec);
    if hostile {
        let mac = cfg.vtep.mac.map_or([2, 0, 0, 0, 0, 1], |m| m.0);
        let tagged = a.iter().find(|f| f.get(12..14) == Some(&[0x81, 0x00][..]));
        let bad_a = tagged.map_or_else(Vec::new, |b| h::access(b, mac, false));
        let bad_u = u.first().map_or_else(Vec::new, |b| {
            h::underlay(b, cfg.vtep.ipv4().octets(), false)
        });
        a = h::interleave(bad_a, &a);
        u = h::interleave(bad_u, &u);
    }
    vxgate::pcap::write_frames(access, &a)
        .with_context(|| format!("writing {}", access.display()))?;
    vxgate::pcap::write_frames(underlay, &u)
        .with_context(|| format!("writing {}", underlay.display()))?;
    println!(
        "wrote {} frames to {} and {} frames to {}",
        a.len(),
        access.display(),
        u.len(),
        underlay.display()
    );
    Ok(())
}

#[cfg(feature = "dpdk")]
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}

/// `vxgate loadgen`'s arguments.
#[derive(clap::Args)]
#[cfg_attr(not(feature = "dpdk"), allow(dead_code))]
struct LoadgenArgs {
    /// Frames to send, replayed in a loop.
    #[arg(long, value_name = "FILE")]
    pcap: PathBuf,
    /// DPDK port to send into.
    #[arg(long = "tx", value_name = "PORT")]
    tx_port: String,
    /// DPDK port to count received frames on.
    #[arg(long = "rx", value_name = "PORT")]
    rx_port: String,
    /// Seconds each trial sends for.
    #[arg(long, default_value_t = 2.0)]
    trial_secs: f64,
    /// One trial at this rate instead of a search.
    #[arg(long, value_name = "MPPS")]
    rate_mpps: Option<f64>,
    /// Halvings of the search interval after the first, unpaced trial.
    #[arg(long, default_value_t = 7)]
    steps: usize,
    /// Frames expected back per frame sent (3 for a flood to three VTEPs).
    #[arg(long, default_value_t = 1)]
    per_frame: u64,
    /// Seconds to wait for both links (the gateway connecting).
    #[arg(long, default_value_t = 30.0)]
    link_wait: f64,
    /// EAL arguments.
    #[arg(last = true)]
    eal: Vec<String>,
}

#[cfg(not(feature = "dpdk"))]
fn loadgen(_a: LoadgenArgs) -> Result<()> {
    bail!("this vxgate was built without DPDK (--no-default-features): loadgen needs DPDK ports")
}

#[cfg(feature = "dpdk")]
fn loadgen(a: LoadgenArgs) -> Result<()> {
    use std::time::Duration;
    if !(a.trial_secs.is_finite() && a.trial_secs > 0.0) {
        bail!("--trial-secs must be a positive number of seconds");
    }
    if !(a.link_wait.is_finite() && a.link_wait >= 0.0) {
        bail!("--link-wait must be a number of seconds");
    }
    if a.rate_mpps.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
        bail!("--rate-mpps must be a positive number");
    }
    let frames = vxgate::pcap::read_frames(&a.pcap)
        .with_context(|| format!("reading {}", a.pcap.display()))?;
    let bytes: usize = frames.iter().map(Vec::len).sum();
    let avg = bytes as f64 / frames.len().max(1) as f64;
    let o = vxgate::loadgen::Options {
        eal_args: a.eal,
        frames,
        tx_port: a.tx_port,
        rx_port: a.rx_port,
        trial_secs: a.trial_secs,
        rate_pps: a.rate_mpps.map(|r| r * 1e6),
        steps: a.steps,
        per_frame: a.per_frame.max(1),
        link_wait: Duration::from_secs_f64(a.link_wait),
    };
    let s = vxgate::loadgen::run(&o).map_err(anyhow::Error::msg)?;
    // Gbps on the wire as Ethernet counts it: frame + FCS + preamble + inter-frame gap.
    let gbps = s.zero_loss_pps * (avg + 24.0) * 8.0 / 1e9;
    println!(
        "zero-loss: {:.3} Mpps ({gbps:.2} Gbps at {avg:.0}-byte frames){}",
        s.zero_loss_pps / 1e6,
        if s.generator_bound {
            ", as fast as the generator sends: the gateway lost nothing"
        } else {
            ""
        }
    );
    Ok(())
}

#[cfg(not(feature = "dpdk"))]
fn run(_path: &Path, _duration: Option<f64>, _pin: bool) -> Result<()> {
    bail!("this vxgate was built without DPDK (--no-default-features); rebuild with the default features to run the data path")
}

#[cfg(feature = "dpdk")]
fn run(path: &Path, duration: Option<f64>, pin: bool) -> Result<()> {
    use std::io::IsTerminal;
    use std::sync::atomic::Ordering;
    use std::sync::Arc;
    use std::time::{Duration, Instant};
    use vxgate::io::dpdk::{self, port::stats_of, Dpdk, DpdkSetup, Mempool};
    use vxgate::metrics::rates::{Rates, Sample};
    use vxgate::metrics::telemetry::{DeviceStats, DeviceStatsSource, PortNames};
    use vxgate::runtime::{self, StartOptions};

    /// Device counters read by port id from the metrics thread.
    struct DpdkStats {
        ports: Vec<(String, u16)>,
        mempools: Vec<Mempool>,
    }
    impl DeviceStatsSource for DpdkStats {
        fn device_stats(&self) -> Vec<(String, DeviceStats)> {
            self.ports
                .iter()
                .map(|(name, id)| (name.clone(), stats_of(*id).into()))
                .collect()
        }
        fn mempool(&self) -> Option<(u64, u64)> {
            let in_use = self.mempools.iter().map(Mempool::in_use).sum::<usize>();
            let capacity = self.mempools.iter().map(Mempool::capacity).sum::<usize>();
            Some((in_use as u64, capacity as u64))
        }
    }

    init_logging();
    // Before DPDK's EAL pins this thread to its main lcore: reloads are validated against the
    // cores the process was given, not the one its main thread was left on.
    let process_cores = vxgate::config::available_cores();
    let cfg = Config::load(path).map_err(|e| anyhow!(e.in_file(path)))?;
    check_control_socket(&cfg, path)?;
    if let Some(d) = duration {
        if !(d.is_finite() && d > 0.0) {
            bail!("--duration must be a positive number of seconds");
        }
    }
    let setup = DpdkSetup {
        eal_args: cfg.dpdk.eal_args.clone(),
        mempool_size: cfg.dpdk.mempool_size,
        mempool_cache: cfg.dpdk.mempool_cache,
        rx_descriptors: cfg.dpdk.rx_descriptors,
        tx_descriptors: cfg.dpdk.tx_descriptors,
        access: cfg.ports.access.clone(),
        underlay: cfg.ports.underlay.clone(),
        queues: cfg.ports.queues,
        underlay_mtu: cfg.vtep.underlay_mtu,
        underlay_multicast: vxgate::runtime::underlay_multicast_macs(&cfg),
        access_promiscuous: cfg.ports.access_promiscuous,
        access_allmulticast: cfg.ports.access_allmulticast,
        underlay_promiscuous: cfg.ports.underlay_promiscuous,
        underlay_allmulticast: cfg.ports.underlay_allmulticast,
    };
    let memif_clients: Vec<String> = [&cfg.ports.access, &cfg.ports.underlay]
        .into_iter()
        .filter(|p| vxgate::io::vdev::is_memif_client(&cfg.dpdk.eal_args, p))
        .cloned()
        .collect();
    let (env, ios) = match dpdk::open(&setup) {
        Ok(v) => v,
        Err(e)
            if matches!(&e, dpdk::DpdkError::Call { call: "rte_eth_dev_start", context, .. }
                if memif_clients.contains(context)) =>
        {
            bail!(
                "starting DPDK: {e}: a memif client needs its server listening on the socket \
                 at start-up; start the peer first (or give this side role=server)"
            )
        }
        Err(e) => return Err(e).context("starting DPDK"),
    };
    let vtep_mac = cfg
        .vtep
        .mac
        .unwrap_or_else(|| env.underlay_port().mac_addr());
    // NUMA: a worker polling a port on another node pays a cross-node trip per packet
    // (DPDK's l3fwd warns the same way).
    let mut numa_remote = 0u64;
    for (w, core) in cfg.workers.cores.iter().enumerate() {
        let node = vxgate::config::numa_node_of_core(*core);
        for port in [env.access_port(), env.underlay_port()] {
            if let (Some(n), Some(p)) = (node, port.numa_node()) {
                if n != p {
                    numa_remote += 1;
                    tracing::warn!(
                        worker = w,
                        core,
                        core_node = n,
                        port = port.name(),
                        port_node = p,
                        "worker core and port are on different NUMA nodes: expect lower throughput"
                    );
                }
            }
        }
    }
    let names = PortNames {
        access: cfg.ports.access.clone(),
        underlay: cfg.ports.underlay.clone(),
    };
    let stats = DpdkStats {
        ports: vec![
            (names.access.clone(), env.access_port().port_id()),
            (names.underlay.clone(), env.underlay_port().port_id()),
        ],
        mempools: env.mempools().to_vec(),
    };
    tracing::info!(
        access = %cfg.ports.access, underlay = %cfg.ports.underlay, vtep_ip = %cfg.vtep.ipv4(), vtep_ip6 = ?cfg.vtep.ip6,
        vtep_mac = %vtep_mac, workers = cfg.workers.cores.len(), "ports started"
    );
    let gw = runtime::start::<Dpdk>(
        &cfg,
        vtep_mac,
        ios,
        StartOptions {
            pin_workers: pin,
            serve_metrics: true,
            serve_control: true,
            device_stats: Some(Box::new(stats)),
            port_names: names,
            config_path: Some(std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())),
            process_cores,
        },
    )
    .context("starting the gateway")?;
    gw.telemetry.set_numa_remote(numa_remote);
    if let Some(addr) = gw.metrics_addr() {
        tracing::info!("metrics on http://{addr}/metrics");
    }
    tracing::info!("control socket {}", cfg.control.socket.display());

    let stop = gw.stop_flag();
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop)).context("installing signal handler")?;
    }
    // SIGHUP re-reads the configuration file, as `vxgate reload` does.
    let hangup = Arc::new(std::sync::atomic::AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(&hangup))
        .context("installing signal handler")?;
    // systemd: ready once every worker has polled (the ports started before `start`).
    let notifier = vxgate::service::Notifier::from_env();
    let polls = |t: &vxgate::metrics::Telemetry| -> Vec<u64> {
        t.workers.iter().map(|w| w.polls.get()).collect()
    };
    let ready_by = Instant::now() + Duration::from_secs(10);
    while polls(&gw.telemetry).contains(&0) && Instant::now() < ready_by {
        std::thread::sleep(Duration::from_millis(1));
    }
    if let Some(n) = &notifier {
        let status = format!(
            "READY=1\nSTATUS={} workers forwarding {} <-> {}",
            cfg.workers.cores.len(),
            cfg.ports.access,
            cfg.ports.underlay
        );
        if let Err(e) = n.send(&status) {
            tracing::warn!("systemd notification failed: {e}");
        }
    }
    let watchdog = vxgate::service::watchdog_interval();
    let mut liveness = vxgate::service::Liveness::default();
    let mut next_feed = Instant::now();

    let started = Instant::now();
    let deadline = duration.map(|d| started + Duration::from_secs_f64(d));
    let tty = std::io::stdout().is_terminal();
    let mut base = Sample::take(&gw.telemetry);
    let mut next_line = started + Duration::from_secs(1);
    let mut last_links: Vec<(String, bool, u32)> = Vec::new();
    // A memif client whose server went away: DPDK's memif client never reconnects.
    let mut peer_lost: Option<String> = None;
    // Time with traffic, sampled with the loop: the summary's rates are over it.
    let received = |t: &vxgate::metrics::Telemetry| -> u64 {
        t.workers
            .iter()
            .map(|w| w.access_rx.packets.get() + w.underlay_rx.packets.get())
            .sum()
    };
    let (mut last_rx, mut last_at, mut active) =
        (received(&gw.telemetry), Instant::now(), Duration::ZERO);
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        let rx = received(&gw.telemetry);
        if rx != last_rx {
            active += now.saturating_duration_since(last_at);
        }
        (last_rx, last_at) = (rx, now);
        // The watchdog is fed only while every worker keeps polling: a wedged worker gets the
        // service restarted.
        if let (Some(n), Some(every)) = (&notifier, watchdog) {
            if now >= next_feed {
                next_feed = now + every;
                if liveness.all_advanced(&polls(&gw.telemetry)) {
                    let _ = n.send("WATCHDOG=1");
                } else {
                    tracing::error!("a worker stopped polling: not feeding the systemd watchdog");
                }
            }
        }
        if deadline.is_some_and(|d| now >= d) {
            break;
        }
        if hangup.swap(false, Ordering::Relaxed) {
            // The control thread logs the outcome and counts it.
            if let vxgate::control::Response::Error { message } = gw.reload() {
                tracing::debug!("SIGHUP: reload not applied: {message}");
            }
        }
        if now >= next_line {
            // Link changes, once a second (link-state polling on the control side).
            let links: Vec<(String, bool, u32)> = gw
                .telemetry
                .device_stats()
                .into_iter()
                .map(|(p, d)| (p, d.link_up, d.speed_mbps))
                .collect();
            for (p, up, speed) in &links {
                match last_links.iter().find(|(q, _, _)| q == p) {
                    Some((_, was, _)) if was == up => {}
                    _ if *up => tracing::info!(port = %p, speed_mbps = speed, "link up"),
                    _ => tracing::warn!(port = %p, "link down"),
                }
                if !*up && memif_clients.contains(p) {
                    peer_lost = Some(p.clone());
                }
            }
            last_links = links;
            if let Some(p) = &peer_lost {
                tracing::error!(
                    port = %p,
                    "memif peer gone: DPDK's memif client does not reconnect, stopping (the \
                     service manager restarts vxgate)"
                );
                break;
            }
            let (rates, sample): (Rates, Sample) = Rates::since(&base, &gw.telemetry);
            base = sample;
            if tty {
                println!("{rates}");
            } else {
                tracing::info!("{rates}");
            }
            next_line += Duration::from_secs(1);
        }
        std::thread::sleep(Duration::from_millis(20));
    }

    if let Some(n) = &notifier {
        let _ = n.send("STOPPING=1");
    }
    let (summary, _) = gw.shutdown();
    let summary = summary.with_active_seconds(active.as_secs_f64());
    print!("{summary}");
    let capacity = env.mempool_capacity();
    let in_use = env.close();
    println!("  mempool: {in_use} of {capacity} buffers still in use after shutdown");
    if in_use != 0 {
        bail!("{in_use} mbufs leaked");
    }
    if let Some(p) = peer_lost {
        bail!(
            "port {p} lost its memif peer (link down); DPDK's memif client cannot reconnect, \
             so vxgate stopped: start it again once the peer is back (the packaged service \
             restarts it on its own)"
        );
    }
    Ok(())
}

#[cfg(test)]
mod doc_commands {
    //! Every `vxgate …` command the README, the docs, the example configs and the unit file show
    //! a reader must be one this binary accepts: a comment once sent users to
    //! `vxgate config check -c …`, which never existed.
    use super::Cli;
    use clap::error::ErrorKind;
    use clap::Parser;

    /// Words a doc uses for "a value here", replaced by a value of the right shape.
    const PLACEHOLDERS: &[(&str, &str)] = &[
        ("N", "5000"),
        ("M", "02:00:00:00:00:01"),
        ("IP", "192.0.2.2"),
        ("F", "/tmp/f"),
        ("SECS", "5"),
        ("FILE", "/tmp/f"),
        ("DIR", "/tmp"),
    ];

    /// The command in `text` (which starts with `vxgate `), cut at a shell comment, pipe,
    /// redirection or ellipsis, optional brackets removed and placeholders filled in.
    fn command_words(text: &str) -> Vec<String> {
        let mut words = Vec::new();
        for w in text.split_whitespace() {
            if w.starts_with('#') || w == "|" || w.starts_with('>') || w.contains('…') {
                break;
            }
            if w.contains("...") || w == "&&" || w == ";" {
                break;
            }
            let w = w.trim_matches(|c| c == '[' || c == ']');
            if w.is_empty() {
                continue;
            }
            let w = PLACEHOLDERS
                .iter()
                .find(|(p, _)| *p == w)
                .map_or(w, |(_, v)| v);
            words.push(w.to_string());
        }
        words
    }

    /// Commands in a Markdown or commented file: inline code spans, and lines of fenced blocks
    /// and comments that start with `vxgate `.
    fn commands_in(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut fenced = false;
        for line in text.lines() {
            let t = line.trim_start();
            if t.starts_with("```") {
                fenced = !fenced;
                continue;
            }
            let bare = t.trim_start_matches('#').trim_start();
            if fenced && bare.starts_with("vxgate ") {
                out.push(bare.to_string());
            }
            // "...:   vxgate check -c FILE" in the configs' headers.
            if let Some((_, rest)) = t.split_once(":   vxgate ") {
                out.push(format!("vxgate {rest}"));
            }
            let mut spans = line.split('`');
            spans.next();
            while let Some(span) = spans.next() {
                if span.starts_with("vxgate ") {
                    out.push(span.to_string());
                }
                spans.next();
            }
        }
        out
    }

    #[test]
    fn every_documented_command_parses() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = vec![
            root.join("README.md"),
            root.join("packaging/vxgate.service"),
        ];
        for dir in ["docs", "config", "scripts/pktgen"] {
            if let Ok(rd) = std::fs::read_dir(root.join(dir)) {
                files.extend(rd.flatten().map(|e| e.path()));
            }
        }
        let mut checked = 0;
        for file in files.iter().filter(|f| f.is_file()) {
            let text = std::fs::read_to_string(file).unwrap_or_default();
            for cmd in commands_in(&text) {
                let words = command_words(&cmd);
                // Output samples, not commands.
                if words.get(1).is_some_and(|w| w == "summary") {
                    continue;
                }
                // A `|`-separated list of alternatives ("fdb|stats|...") names subcommands.
                let alternatives: Vec<Vec<String>> =
                    if words.get(1).is_some_and(|w| w.contains('|')) {
                        words[1]
                            .split('|')
                            .filter(|w| !w.is_empty())
                            .map(|w| vec!["vxgate".to_string(), w.to_string()])
                            .collect()
                    } else {
                        vec![words]
                    };
                for words in alternatives {
                    let parsed = Cli::try_parse_from(&words);
                    let ok = match &parsed {
                        Ok(_) => true,
                        // The doc cut the command short or names a command group: the words
                        // it shows exist.
                        Err(e) => matches!(
                            e.kind(),
                            ErrorKind::MissingRequiredArgument
                                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
                                | ErrorKind::MissingSubcommand
                                | ErrorKind::DisplayVersion
                        ),
                    };
                    assert!(
                        ok,
                        "{}: `{cmd}` is not a vxgate command: {}",
                        file.display(),
                        parsed.err().map(|e| e.to_string()).unwrap_or_default()
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 20, "only {checked} documented commands found");
    }

    #[test]
    fn a_command_that_does_not_exist_is_caught() {
        let words = command_words("vxgate config check -c FILE   # validate");
        assert!(Cli::try_parse_from(&words).is_err());
        let found = commands_in("# Check it without touching any port:   vxgate check -c a.toml\n");
        assert_eq!(found, vec!["vxgate check -c a.toml".to_string()]);
        assert!(Cli::try_parse_from(command_words(&found[0])).is_ok());
    }
}
