//! Hitless reload: re-reading the configuration file of a running gateway and applying what
//! can change without restarting a worker.
//!
//! # Design
//! A reload (SIGHUP or `vxgate reload`) runs on the control thread:
//! 1. load and validate the file exactly as `vxgate check` does; an invalid file changes
//!    nothing and is answered with the same error;
//! 2. refuse, naming the key, any change to what the running process was built from (ports,
//!    queues, cores, EAL arguments, the VTEP's addresses, the metrics and control endpoints,
//!    the fleet, multicast groups, replica sizes);
//! 3. hand every worker its new pipeline settings and flood-list slots
//!    (`dataplane::reconfig`), then let the control plane publish the reconfiguration marker
//!    and the differences: VNIs, learning policies, ARP retries, flood lists, static FDB and
//!    neighbour entries.
//!
//! Unchanged VNIs keep their entries, flood lists and settings, so they lose no packet. The
//! answer waits until every worker applied the reload's generation (the control thread's
//! usual rule for changes). Static entries added over the control socket are not in the file
//! and survive a reload, unless the file now sets the same key. A static neighbour dropped
//! from the file becomes a resolved entry with the same MAC, checked by one ARP request, so
//! the tunnels through it keep forwarding.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

use serde_json::Value;

use crate::config::Config;
use crate::dataplane::reconfig::{Reconfig, ReconfigSender};
use crate::fdb::replica::flood_lists;
use crate::fdb::{ControlPlane, FdbKey};
use crate::runtime::{fdb_settings, fleet_settings, pipeline_settings};
use crate::types::{MacAddr, Vni};

/// Why a reload changed nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReloadError {
    /// The file does not load or validate (the text `vxgate check` prints).
    #[error("invalid configuration, the running one stays: {0}")]
    Invalid(String),
    /// The file changes something that needs a restart.
    #[error("{key} cannot change while vxgate runs ({why}); restart to apply it, the running configuration stays")]
    Refused { key: String, why: &'static str },
    /// A reload is still being applied by the workers.
    #[error("the previous reload is still being applied by the workers; try again")]
    Busy,
}

impl ReloadError {
    /// The `result` label of `vxgate_config_reloads_total`.
    pub fn result(&self) -> &'static str {
        match self {
            ReloadError::Invalid(_) => "invalid",
            ReloadError::Refused { .. } | ReloadError::Busy => "refused",
        }
    }
}

/// What a reload changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadSummary {
    pub vnis_added: Vec<Vni>,
    pub vnis_removed: Vec<Vni>,
    /// VNIs whose VLAN, learning, limits, flood list or ARP suppression changed.
    pub vnis_changed: Vec<Vni>,
    pub fdb_set: usize,
    pub fdb_removed: usize,
    pub neighbors_set: usize,
    pub neighbors_removed: usize,
    /// `[learning]` or `[arp]` changed.
    pub settings_changed: bool,
    /// Static entries the control plane refused (e.g. a full tunnel table), with the reason.
    pub failed: Vec<String>,
}

impl ReloadSummary {
    pub fn is_empty(&self) -> bool {
        *self == ReloadSummary::default()
    }
}

impl fmt::Display for ReloadSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("no change");
        }
        let list = |v: &[Vni]| {
            v.iter()
                .map(|x| x.get().to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        let mut parts = Vec::new();
        if !self.vnis_added.is_empty() {
            parts.push(format!("VNIs added: {}", list(&self.vnis_added)));
        }
        if !self.vnis_removed.is_empty() {
            parts.push(format!("VNIs removed: {}", list(&self.vnis_removed)));
        }
        if !self.vnis_changed.is_empty() {
            parts.push(format!("VNIs changed: {}", list(&self.vnis_changed)));
        }
        if self.fdb_set + self.fdb_removed > 0 {
            parts.push(format!(
                "static FDB: {} set, {} removed",
                self.fdb_set, self.fdb_removed
            ));
        }
        if self.neighbors_set + self.neighbors_removed > 0 {
            parts.push(format!(
                "neighbours: {} set, {} removed",
                self.neighbors_set, self.neighbors_removed
            ));
        }
        if self.settings_changed {
            parts.push("learning/ARP settings changed".into());
        }
        if !self.failed.is_empty() {
            parts.push(format!("not applied: {}", self.failed.join("; ")));
        }
        f.write_str(&parts.join("; "))
    }
}

/// Re-reads the configuration file and applies it; owned by the control thread.
pub struct Reloader {
    path: PathBuf,
    current: Config,
    vtep_mac: MacAddr,
    workers: Vec<ReconfigSender>,
    /// The cores the process could use at start (the control thread is pinned to one).
    cores: Vec<usize>,
}

impl Reloader {
    /// A reloader for a gateway started from `current` (read from `path`), whose workers take
    /// new settings through `workers` (in worker order); files are validated against the
    /// calling thread's cores unless [`Reloader::with_cores`] says otherwise.
    pub fn new(
        path: PathBuf,
        current: Config,
        vtep_mac: MacAddr,
        workers: Vec<ReconfigSender>,
    ) -> Reloader {
        Reloader {
            path,
            current,
            vtep_mac,
            workers,
            cores: crate::config::available_cores(),
        }
    }

    /// Validates reloaded files against `cores` (take them before any thread is pinned).
    pub fn with_cores(mut self, cores: Vec<usize>) -> Reloader {
        self.cores = cores;
        self
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Loads the file and applies it to `cp` and the workers. On success the caller waits
    /// for `cp.published_generation()` to be applied everywhere.
    pub fn reload(&mut self, cp: &mut ControlPlane) -> Result<ReloadSummary, ReloadError> {
        let new = Config::load_for(&self.path, &self.cores)
            .map_err(|e| ReloadError::Invalid(e.in_file(&self.path)))?;
        self.apply(cp, new)
    }

    /// Applies an already validated configuration.
    pub fn apply(
        &mut self,
        cp: &mut ControlPlane,
        new: Config,
    ) -> Result<ReloadSummary, ReloadError> {
        if let Some((key, why)) = fixed_change(&self.current, &new) {
            return Err(ReloadError::Refused { key, why });
        }
        if new == self.current {
            return Ok(ReloadSummary::default());
        }
        if !self.workers.iter_mut().all(ReconfigSender::ready) {
            return Err(ReloadError::Busy);
        }
        let settings = pipeline_settings(&new, self.vtep_mac)
            .map_err(|e| ReloadError::Invalid(format!("{}: {e}", self.path.display())))?;
        let vnis: Vec<Vni> = new.vni.iter().map(|n| n.id).collect();
        for w in &mut self.workers {
            let r = Box::new(Reconfig {
                settings: settings.clone(),
                flood: flood_lists(&vnis),
            });
            // Every sender was ready above and nothing else sends: this cannot fail.
            if w.send(r).is_err() {
                return Err(ReloadError::Busy);
            }
        }
        let mut summary = vni_changes(&self.current, &new);
        summary.settings_changed =
            self.current.learning != new.learning || self.current.arp != new.arp;
        cp.reconfigure(&fdb_settings(&new), fleet_settings(&new).arp_suppress);

        // Static FDB entries: what the old file had and the new one does not goes; what is
        // new or points elsewhere is set.
        let old_fdb = fdb_map(&self.current);
        let new_fdb = fdb_map(&new);
        for key in old_fdb.keys().filter(|k| !new_fdb.contains_key(k)) {
            // Gone already with its VNI, or deleted over the socket meanwhile.
            if cp.remove(*key).is_ok() || summary.vnis_removed.contains(&key.vni) {
                summary.fdb_removed += 1;
            }
        }
        for (key, remote) in &new_fdb {
            if old_fdb.get(key) != Some(remote) {
                match cp.add_static(*key, *remote) {
                    Ok(_) => summary.fdb_set += 1,
                    Err(e) => summary
                        .failed
                        .push(format!("fdb {} {} → {remote}: {e}", key.vni, key.mac)),
                }
            }
        }
        let old_nb: BTreeMap<IpAddr, MacAddr> = self
            .current
            .neighbor
            .iter()
            .map(|n| (n.ip, n.mac))
            .collect();
        let new_nb: BTreeMap<IpAddr, MacAddr> =
            new.neighbor.iter().map(|n| (n.ip, n.mac)).collect();
        // A static neighbour that leaves the file is no longer pinned, but its MAC stays in
        // use (and is checked by one request) so tunnels through it lose nothing.
        for ip in old_nb.keys().filter(|ip| !new_nb.contains_key(ip)) {
            cp.neighbor_unpin(*ip);
            summary.neighbors_removed += 1;
        }
        for (ip, mac) in &new_nb {
            if old_nb.get(ip) != Some(mac) {
                cp.neighbor_add(*ip, *mac);
                summary.neighbors_set += 1;
            }
        }
        self.current = new;
        Ok(summary)
    }
}

fn fdb_map(cfg: &Config) -> BTreeMap<FdbKey, IpAddr> {
    cfg.fdb
        .iter()
        .map(|e| (FdbKey::new(e.vni, e.mac), e.remote))
        .collect()
}

/// VNIs added, removed and changed between two configurations.
fn vni_changes(old: &Config, new: &Config) -> ReloadSummary {
    let mut s = ReloadSummary::default();
    for n in &new.vni {
        match old.vni_config(n.id) {
            None => s.vnis_added.push(n.id),
            Some(o) if o != n => s.vnis_changed.push(n.id),
            Some(_) => {}
        }
    }
    s.vnis_removed = old
        .vni
        .iter()
        .filter(|o| new.vni_config(o.id).is_none())
        .map(|o| o.id)
        .collect();
    s
}

/// The first key whose change needs a restart, with the reason.
pub fn fixed_change(old: &Config, new: &Config) -> Option<(String, &'static str)> {
    const WHY: &[(&str, &str)] = &[
        ("dpdk", "the EAL and the mempool are set up at start"),
        ("ports", "ports and queues are opened at start"),
        ("workers", "worker threads are pinned at start"),
        (
            "vtep",
            "the underlay addresses are in every worker's headers and the port's filters",
        ),
        ("metrics", "the metrics listener is bound at start"),
        ("control", "the control socket is bound at start"),
        ("cluster", "the fleet membership is registered at start"),
    ];
    let (a, b) = (to_value(old), to_value(new));
    for (section, why) in WHY {
        if let Some(key) = first_difference(a.get(section), b.get(section), section) {
            return Some((key, why));
        }
    }
    if old.learning.max_total != new.learning.max_total {
        return Some((
            "learning.max_total".into(),
            "it sizes every worker's FDB replica at start",
        ));
    }
    // Joining or leaving a group changes the underlay port's multicast filter and IGMP state.
    let groups = |c: &Config| -> BTreeSet<_> { c.vni.iter().filter_map(|n| n.group).collect() };
    if groups(old) != groups(new) {
        let changed = new
            .vni
            .iter()
            .find(|n| {
                old.vni_config(n.id)
                    .map_or(n.group.is_some(), |o| o.group != n.group)
            })
            .or_else(|| {
                old.vni
                    .iter()
                    .find(|o| o.group.is_some() && new.vni_config(o.id).is_none())
            })
            .map_or("vni.group".to_string(), |n| {
                format!("vni[id={}].group", n.id)
            });
        return Some((
            changed,
            "joining or leaving a multicast group needs a restart",
        ));
    }
    if old.cluster.is_some() {
        let ids = |c: &Config| -> BTreeSet<Vni> { c.vni.iter().map(|n| n.id).collect() };
        if ids(old) != ids(new) {
            return Some((
                "vni".into(),
                "fleet members register their VNIs in etcd at start",
            ));
        }
    }
    None
}

fn to_value(c: &Config) -> Value {
    serde_json::to_value(c).unwrap_or(Value::Null)
}

/// The dotted key of the first difference between two values; arrays are compared whole.
fn first_difference(a: Option<&Value>, b: Option<&Value>, path: &str) -> Option<String> {
    match (a, b) {
        (Some(Value::Object(x)), Some(Value::Object(y))) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter()
                .find_map(|k| first_difference(x.get(k), y.get(k), &format!("{path}.{k}")))
        }
        (x, y) if x == y => None,
        _ => Some(path.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataplane::reconfig::reconfig_channel;
    use crate::fdb::replica;
    use std::net::Ipv4Addr;
    use std::time::Instant;

    const BASE: &str = r#"
        [vtep]
        ip = "192.0.2.1"
        [ports]
        access = "net_null0"
        underlay = "net_null1"
        [workers]
        cores = [0]
        [[vni]]
        id = 100
        vlan = 10
        flood = ["192.0.2.2"]
        [[fdb]]
        vni = 100
        mac = "02:00:00:00:01:01"
        remote = "192.0.2.3"
        [[neighbor]]
        ip = "192.0.2.2"
        mac = "02:00:00:00:00:02"
    "#;

    fn cfg(extra: &str) -> Config {
        let c = Config::from_toml_str(&format!("{BASE}{extra}")).unwrap();
        c.validate(&[0]).unwrap();
        c
    }

    fn edit(from: &str, to: &str) -> Config {
        let c = Config::from_toml_str(&BASE.replace(from, to)).unwrap();
        c.validate(&[0]).unwrap();
        c
    }

    #[test]
    fn fixed_keys_are_named() {
        let old = cfg("");
        let cases = [
            (edit("net_null0", "net_null9"), "ports.access"),
            (
                {
                    let mut c = cfg("");
                    c.workers.burst_size = 8;
                    c
                },
                "workers.burst_size",
            ),
            (edit("ip = \"192.0.2.1\"", "ip = \"192.0.2.9\""), "vtep.ip"),
            (
                cfg("[learning]\nmax_total = 5\nmax_per_vni = 5\n"),
                "learning.max_total",
            ),
            (
                cfg("[metrics]\nlisten = \"127.0.0.1:9999\"\n"),
                "metrics.listen",
            ),
            (
                edit("vlan = 10\n", "vlan = 10\n        group = \"239.1.1.1\"\n"),
                "vni[id=100].group",
            ),
        ];
        for (new, key) in cases {
            let (k, _) = fixed_change(&old, &new).unwrap_or_else(|| panic!("{key} not refused"));
            assert_eq!(k, key);
        }
        // What can change live is not refused.
        let live = cfg("[learning]\naging_secs = 10\n[[vni]]\nid = 200\nvlan = 20\n");
        assert_eq!(fixed_change(&old, &live), None);
    }

    fn gateway(
        workers: usize,
    ) -> (
        ControlPlane,
        Vec<replica::Replica>,
        Reloader,
        Vec<crate::dataplane::reconfig::ReconfigReceiver>,
    ) {
        let c = cfg("");
        let mut links = Vec::new();
        let mut reps = Vec::new();
        let mut senders = Vec::new();
        let mut receivers = Vec::new();
        for _ in 0..workers {
            let (l, mut r) = replica::channel(1024, 1024);
            r.reserve_flood(&[Vni::from_wire(100)]);
            links.push(l);
            reps.push(r);
            let (s, rx) = reconfig_channel();
            senders.push(s);
            receivers.push(rx);
        }
        let mut cp = ControlPlane::new(fdb_settings(&c), links);
        for n in &c.neighbor {
            cp.neighbor_add(n.ip, n.mac);
        }
        for e in &c.fdb {
            cp.add_static(FdbKey::new(e.vni, e.mac), e.remote).unwrap();
        }
        let rl = Reloader::new(
            "unused.toml".into(),
            c,
            MacAddr([2, 0, 0, 0, 0, 1]),
            senders,
        );
        (cp, reps, rl, receivers)
    }

    /// What a worker does when it meets the marker.
    fn converge(
        cp: &mut ControlPlane,
        reps: &mut [replica::Replica],
        rxs: &mut [crate::dataplane::reconfig::ReconfigReceiver],
    ) -> Vec<crate::dataplane::PipelineSettings> {
        cp.poll(Instant::now());
        let mut out = Vec::new();
        for (r, rx) in reps.iter_mut().zip(rxs.iter_mut()) {
            loop {
                r.apply_pending(usize::MAX);
                if !r.reconfigure_due() {
                    break;
                }
                let mut b = rx.take().unwrap();
                r.finish_reconfigure(Some(&mut b.flood));
                out.push(b.settings.clone());
                rx.give_back(b);
            }
        }
        assert_eq!(cp.min_applied_generation(), cp.published_generation());
        out
    }

    #[test]
    fn a_reload_adds_and_removes_vnis_flood_lists_and_static_entries() {
        let (mut cp, mut reps, mut rl, mut rxs) = gateway(2);
        converge(&mut cp, &mut reps, &mut rxs);
        let v100 = Vni::from_wire(100);
        let v200 = Vni::from_wire(200);
        let kept = MacAddr([2, 0, 0, 0, 1, 1]);
        let a = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
        let b = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 4));
        assert_eq!(reps[0].flood_remotes(v100), vec![a]);

        // Add VNI 200 with a flood list and a static entry, and a second VTEP for VNI 100.
        let more = edit(
            "flood = [\"192.0.2.2\"]",
            "flood = [\"192.0.2.2\", \"192.0.2.4\"]",
        );
        let mut more_text = more.to_toml_string().unwrap();
        more_text.push_str("[[vni]]\nid = 200\nvlan = 20\nflood = [\"192.0.2.4\"]\n[[fdb]]\nvni = 200\nmac = \"02:00:00:00:02:02\"\nremote = \"192.0.2.4\"\n");
        let more = Config::from_toml_str(&more_text).unwrap();
        let s = rl.apply(&mut cp, more.clone()).unwrap();
        assert_eq!(s.vnis_added, vec![v200]);
        assert_eq!(s.vnis_changed, vec![v100]);
        assert_eq!(s.fdb_set, 1);
        let new_settings = converge(&mut cp, &mut reps, &mut rxs);
        assert_eq!(new_settings.len(), 2, "every worker took new settings");
        assert!(new_settings[0].vni_for_vlan(Some(20)).is_some());
        for r in &reps {
            assert_eq!(r.flood_remotes(v100), vec![a, b], "kept VNI keeps its list");
            assert_eq!(r.flood_remotes(v200), vec![b]);
            assert_eq!(r.lookup_remote(v200, MacAddr([2, 0, 0, 0, 2, 2])), Some(b));
            assert_eq!(
                r.lookup_remote(v100, kept),
                Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 3)))
            );
        }

        // Back to the base file: VNI 200 and its entries go, VNI 100 is as before.
        let s = rl.apply(&mut cp, cfg("")).unwrap();
        assert_eq!(s.vnis_removed, vec![v200]);
        let new_settings = converge(&mut cp, &mut reps, &mut rxs);
        assert!(new_settings[1].vni_for_vlan(Some(20)).is_none());
        for r in &reps {
            assert_eq!(r.flood_remotes(v100), vec![a]);
            assert!(r.flood_remotes(v200).is_empty());
            assert_eq!(r.lookup(v200, MacAddr([2, 0, 0, 0, 2, 2])), None);
            assert!(r.lookup(v100, kept).is_some());
        }
        assert!(cp.entries(Some(v200)).is_empty());

        // The same file again changes nothing and publishes nothing.
        let g = cp.published_generation();
        assert!(rl.apply(&mut cp, cfg("")).unwrap().is_empty());
        assert_eq!(cp.published_generation(), g);

        // A static neighbour leaving the file keeps its MAC: the flood tunnel keeps forwarding.
        let mac = cp.next_hop(a);
        assert!(mac.is_some());
        let without = Config::from_toml_str(&BASE.replace(
            "[[neighbor]]\n        ip = \"192.0.2.2\"\n        mac = \"02:00:00:00:00:02\"\n",
            "",
        ))
        .unwrap();
        assert!(without.neighbor.is_empty());
        let s = rl.apply(&mut cp, without).unwrap();
        assert_eq!(s.neighbors_removed, 1);
        converge(&mut cp, &mut reps, &mut rxs);
        assert_eq!(cp.next_hop(a), mac);
        for r in &mut reps {
            let id = r.tunnel_of(a).unwrap();
            assert_eq!(r.tunnel(id).unwrap().next_hop, mac);
        }
    }

    #[test]
    fn a_second_reload_waits_for_the_workers_to_take_the_first() {
        let (mut cp, mut reps, mut rl, mut rxs) = gateway(1);
        converge(&mut cp, &mut reps, &mut rxs);
        rl.apply(&mut cp, cfg("[[vni]]\nid = 200\nvlan = 20\n"))
            .unwrap();
        assert_eq!(
            rl.apply(&mut cp, cfg("[[vni]]\nid = 300\nvlan = 30\n")),
            Err(ReloadError::Busy)
        );
        converge(&mut cp, &mut reps, &mut rxs);
        rl.apply(&mut cp, cfg("[[vni]]\nid = 300\nvlan = 30\n"))
            .unwrap();
    }
}
