//! The shipped example configurations parse and validate through the public API, exactly as
//! `vxgate` loads them.

use std::path::Path;

use vxgate::config::{available_cores, Config, ConfigError};
use vxgate::{VlanId, Vni};

fn manifest_path(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

#[test]
fn gateway_example_parses_and_validates() {
    let text = std::fs::read_to_string(manifest_path("config/gateway.toml")).unwrap();
    let cfg = Config::from_toml_str(&text).unwrap();
    // The bare-metal example pins cores 1 and 2; validate against a machine that has them.
    cfg.validate(&[0, 1, 2, 3]).unwrap();
    assert_eq!(cfg.ports.queues, 2);
    assert_eq!(cfg.workers.cores, vec![1, 2]);
    assert_eq!(cfg.vni.len(), 2);
    assert_eq!(
        cfg.vni_for_vlan(VlanId::new(100)).map(Vni::get),
        Some(10100)
    );
    assert_eq!(
        cfg.vni_for_vlan(VlanId::new(200)).map(Vni::get),
        Some(10200)
    );
    assert!(cfg.vni_for_vlan(None).is_none());
}

#[test]
fn demo_example_parses_and_validates() {
    let text = std::fs::read_to_string(manifest_path("config/demo.toml")).unwrap();
    let cfg = Config::from_toml_str(&text).unwrap();
    cfg.validate(&[0, 1]).unwrap();
    assert_eq!(cfg.ports.access, "net_pcap0");
    assert_eq!(cfg.ports.underlay, "net_null0");
    assert_eq!(cfg.vni_for_vlan(VlanId::new(100)).map(Vni::get), Some(5000));
}

#[test]
fn load_validates_against_this_machine() {
    // demo.toml pins core 1: load() succeeds exactly when this process may run on core 1.
    let result = Config::load(&manifest_path("config/demo.toml"));
    if available_cores().contains(&1) {
        result.unwrap();
    } else {
        let err = result.unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { .. }));
        assert!(err.to_string().starts_with("workers.cores[0]: "), "{err}");
    }
}

#[test]
fn load_reports_the_key() {
    let dir = std::env::temp_dir().join(format!("vxgate-config-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    let text = std::fs::read_to_string(manifest_path("config/demo.toml"))
        .unwrap()
        .replacen("id = 5001", "id = 0", 1);
    std::fs::write(&path, text).unwrap();
    let err = Config::load(&path).unwrap_err();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(err.to_string(), "vni[1].id: VNI 0 is outside 1..=16777215");
}

#[test]
fn demo_traffic_round_trips_through_pcap() {
    use vxgate::pcap::{read_frames, write_frames};
    use vxgate::trafficgen::{access_frames, underlay_frames, TrafficSpec};

    let text = std::fs::read_to_string(manifest_path("config/demo.toml")).unwrap();
    let cfg = Config::from_toml_str(&text).unwrap();
    let spec = TrafficSpec::default();
    let dir = std::env::temp_dir().join(format!("vxgate-demo-pcap-{}", std::process::id()));
    let access = access_frames(&cfg, &spec);
    let underlay = underlay_frames(&cfg, &spec);
    assert_eq!(access.len(), spec.frames);
    write_frames(&dir.join("demo-access.pcap"), &access).unwrap();
    write_frames(&dir.join("demo-underlay.pcap"), &underlay).unwrap();
    let back_access = read_frames(&dir.join("demo-access.pcap")).unwrap();
    let back_underlay = read_frames(&dir.join("demo-underlay.pcap")).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(back_access, access);
    assert_eq!(back_underlay, underlay);
}

#[test]
fn fleet_example_parses_and_validates() {
    let text = std::fs::read_to_string(manifest_path("config/fleet.toml")).unwrap();
    let cfg = Config::from_toml_str(&text).unwrap();
    cfg.validate(&[0, 1]).unwrap();
    let c = cfg.cluster.as_ref().unwrap();
    assert_eq!(c.etcd.len(), 3);
    assert_eq!(c.member_name(cfg.vtep.vtep_addr()), "gw-rack11");
    assert_eq!(c.mode, vxgate::config::ClusterMode::Replicate);
    assert!(cfg.vni[0].arp_suppress && !cfg.vni[1].arp_suppress);
}

#[test]
fn underlays_example_parses_and_validates() {
    let text = std::fs::read_to_string(manifest_path("config/underlays.toml")).unwrap();
    let cfg = Config::from_toml_str(&text).unwrap();
    cfg.validate(&[0, 1]).unwrap();
    assert_eq!(cfg.vni[0].group, cfg.vni[1].group);
    assert!(cfg.vni[2].flood.iter().all(|ip| ip.is_ipv6()));
    // The underlay port receives the group and IPv6 neighbour discovery.
    let macs = vxgate::runtime::underlay_multicast_macs(&cfg);
    assert_eq!(
        macs.iter().map(|m| m.to_string()).collect::<Vec<_>>(),
        [
            "01:00:5e:01:01:01",
            "33:33:00:00:00:01",
            "33:33:ff:00:00:11"
        ]
    );
}
