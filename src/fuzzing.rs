//! Whole-gateway harnesses for the fuzz targets (`fuzz/`) and for the tests that replay their
//! corpora: what libFuzzer feeds reaches exactly the code a running gateway runs.
//!
//! [`PipelineHarness`] is one worker on the software port with its control plane, built from
//! an embedded configuration that switches on every path (802.1Q and untagged VNIs, head-end
//! and multicast flooding, an IPv6 underlay, static entries, learning, ARP suppression).
//! [`PipelineHarness::run`] puts a frame on both wires, polls once, lets the control plane take
//! the worker's reports, and checks the oracle the fuzzer cannot see: every pooled buffer is
//! back in the pool.

use std::sync::Arc;
use std::time::Instant;

use crate::config::Config;
use crate::control::protocol::{Request, Response};
use crate::dataplane::Worker;
use crate::fdb::{replica, ControlPlane, FdbKey};
use crate::io::mem::{Mem, MemPool, MemRing, MemRx, MemTx};
use crate::io::WorkerIo;
use crate::metrics::WorkerCounters;
use crate::runtime::{fdb_settings, fleet_settings, pipeline_settings};
use crate::types::MacAddr;

/// The harness's gateway: every pipeline feature on.
pub const CONFIG: &str = include_str!("../fuzz/pipeline.toml");

/// Pooled buffers the harness's worker may hold (replicas, replies, solicitations).
const POOL: usize = 256;

/// One worker and its control plane on software rings.
pub struct PipelineHarness {
    worker: Worker<Mem>,
    cp: ControlPlane,
    access_in: MemRing,
    access_out: MemRing,
    underlay_in: MemRing,
    underlay_out: MemRing,
}

impl Default for PipelineHarness {
    fn default() -> Self {
        Self::new()
    }
}

impl PipelineHarness {
    /// Builds the gateway of [`CONFIG`] (a fixed, valid configuration: failing here is a bug
    /// of the harness, not an input).
    pub fn new() -> PipelineHarness {
        Self::with_config(CONFIG)
    }

    /// Builds the gateway of `text` (one worker; the ports are ignored), e.g. to predict what a
    /// DPDK run of the same configuration must do.
    #[allow(clippy::expect_used)]
    pub fn with_config(text: &str) -> PipelineHarness {
        let cfg = Config::from_toml_str(text).expect("harness configuration parses");
        cfg.validate(&[0]).expect("harness configuration validates");
        let mac = MacAddr([2, 0, 0, 0, 0, 1]);
        let settings = pipeline_settings(&cfg, mac).expect("harness settings");
        let (link, mut rep) = replica::channel_with_capacity(1024, 1024, 1024);
        let vnis: Vec<_> = cfg.vni.iter().map(|n| n.id).collect();
        rep.reserve_flood(&vnis);
        let mut cp = ControlPlane::new(fdb_settings(&cfg), vec![link])
            .with_max_entries(1024)
            .with_fleet(fleet_settings(&cfg));
        for n in &cfg.neighbor {
            cp.neighbor_add(n.ip, n.mac);
        }
        for e in &cfg.fdb {
            cp.add_static(FdbKey::new(e.vni, e.mac), e.remote)
                .expect("harness static entry");
        }
        cp.poll(Instant::now());
        rep.apply_pending(usize::MAX);
        let rings: Vec<MemRing> = (0..4).map(|_| MemRing::new(64)).collect();
        let io = WorkerIo::<Mem> {
            access_rx: MemRx(rings[0].clone()),
            access_tx: MemTx(rings[1].clone()),
            underlay_rx: MemRx(rings[2].clone()),
            underlay_tx: MemTx(rings[3].clone()),
            pool: MemPool::new(POOL),
        };
        let worker = Worker::new(
            0,
            settings,
            io,
            rep,
            Arc::new(WorkerCounters::default()),
            (),
        );
        PipelineHarness {
            worker,
            cp,
            access_in: rings[0].clone(),
            access_out: rings[1].clone(),
            underlay_in: rings[2].clone(),
            underlay_out: rings[3].clone(),
        }
    }

    /// `frame` in on the access side and on the underlay side, one poll, one control round;
    /// returns the frames sent (access, underlay). Panics when a pooled buffer did not come
    /// back: a leak is a finding like a crash.
    pub fn run(&mut self, frame: &[u8]) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        self.access_in.inject(frame);
        self.underlay_in.inject(frame);
        self.poll()
    }

    /// `frame` in on the access side only; otherwise as [`PipelineHarness::run`].
    pub fn run_access(&mut self, frame: &[u8]) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        self.access_in.inject(frame);
        self.poll()
    }

    /// `frame` in on the underlay side only; otherwise as [`PipelineHarness::run`].
    pub fn run_underlay(&mut self, frame: &[u8]) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        self.underlay_in.inject(frame);
        self.poll()
    }

    fn poll(&mut self) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        let now = Instant::now();
        self.worker.poll_once(now);
        self.cp.poll(now);
        let out = (self.access_out.drain(), self.underlay_out.drain());
        let free = self.worker.pool().available();
        assert_eq!(free, POOL, "{} pooled buffers not returned", POOL - free);
        out
    }

    /// The worker's counters (what `/metrics` would show).
    pub fn counters(&self) -> &WorkerCounters {
        self.worker.counters()
    }
}

/// A configuration file's text through everything `vxgate check` and a start do with it;
/// panics on what must hold for any accepted file (the serialised form reads back equal).
pub fn config(text: &str) {
    let Ok(cfg) = Config::from_toml_str(text) else {
        return;
    };
    if cfg.validate(&[0, 1]).is_err() {
        return;
    }
    let mac = MacAddr([2, 0, 0, 0, 0, 1]);
    let _ = pipeline_settings(&cfg, mac);
    let _ = fdb_settings(&cfg);
    let _ = fleet_settings(&cfg);
    let _ = crate::runtime::underlay_multicast_macs(&cfg);
    let _ = cfg.control.state_path();
    if let Ok(again) = cfg.to_toml_string() {
        let back = Config::from_toml_str(&again);
        assert!(
            back.as_ref().is_ok_and(|b| *b == cfg),
            "an accepted configuration does not read back: {back:?}"
        );
    }
}

/// A control-socket line through the parser and validation (and responses through theirs).
pub fn control_line(line: &[u8]) {
    if let Ok(req) = serde_json::from_slice::<Request>(line) {
        let _ = req.validate();
        let _ = serde_json::to_string(&req);
    }
    if let Ok(resp) = serde_json::from_slice::<Response>(line) {
        let _ = crate::cli::render(&resp);
    }
    let mut r = std::io::Cursor::new(line);
    while let Ok(Some(_)) = crate::control::server::read_line_bounded(&mut r, 64) {}
}
