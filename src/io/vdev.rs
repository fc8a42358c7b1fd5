//! What the EAL arguments say about virtual devices, read without starting the EAL.
//!
//! Some virtual devices cannot recover on their own: DPDK 22.11's memif PMD in its client role
//! connects once, when the port starts, and never again after its server goes away. vxgate
//! finds those ports here so that losing the peer ends the process with a clear error (and a
//! service manager restarts it) instead of forwarding into a dead link with rates at zero.

/// The `--vdev` devices in `eal_args`, as (name, `key=value` arguments) in order. Both
/// spellings are read: `--vdev=NAME,k=v` and `--vdev NAME,k=v`.
pub fn vdevs(eal_args: &[String]) -> Vec<(String, Vec<(String, String)>)> {
    let mut out = Vec::new();
    let mut it = eal_args.iter();
    while let Some(arg) = it.next() {
        let spec = if let Some(s) = arg.strip_prefix("--vdev=") {
            s
        } else if arg == "--vdev" {
            match it.next() {
                Some(s) => s.as_str(),
                None => break,
            }
        } else {
            continue;
        };
        let mut parts = spec.split(',');
        let name = parts.next().unwrap_or_default().trim().to_string();
        if name.is_empty() {
            continue;
        }
        let kv = parts
            .filter_map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                let k = k.trim();
                (!k.is_empty()).then(|| (k.to_string(), v.trim().to_string()))
            })
            .collect();
        out.push((name, kv));
    }
    out
}

/// Whether the port `port` is a memif client (a `net_memif` vdev whose `role` is not
/// `server`; client is the PMD's default): it cannot reconnect once its peer is gone.
pub fn is_memif_client(eal_args: &[String], port: &str) -> bool {
    vdevs(eal_args).iter().any(|(name, kv)| {
        name == port
            && name.starts_with("net_memif")
            && !kv.iter().any(|(k, v)| k == "role" && v == "server")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn both_spellings_and_their_arguments_are_read() {
        let a = args(&[
            "--in-memory",
            "--vdev=net_pcap0,rx_pcap=a.pcap,infinite_rx=1",
            "--vdev",
            "net_memif0,socket=/run/m.sock",
            "-l",
            "0,1",
        ]);
        let v = vdevs(&a);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].0, "net_pcap0");
        assert_eq!(
            v[0].1,
            vec![
                ("rx_pcap".to_string(), "a.pcap".to_string()),
                ("infinite_rx".to_string(), "1".to_string())
            ]
        );
        assert_eq!(v[1].0, "net_memif0");
    }

    #[test]
    fn memif_clients_are_the_ones_that_are_not_servers() {
        let a = args(&[
            "--vdev=net_memif0,socket=/run/a.sock",
            "--vdev=net_memif1,role=client,socket=/run/b.sock",
            "--vdev=net_memif2,role=server,socket=/run/c.sock",
            "--vdev=net_null0,no-rx=1",
        ]);
        assert!(
            is_memif_client(&a, "net_memif0"),
            "client is the default role"
        );
        assert!(is_memif_client(&a, "net_memif1"));
        assert!(!is_memif_client(&a, "net_memif2"));
        assert!(!is_memif_client(&a, "net_null0"));
        assert!(
            !is_memif_client(&a, "0000:03:00.0"),
            "a PCI device is no vdev"
        );
    }

    #[test]
    fn a_dangling_vdev_flag_is_ignored() {
        assert!(vdevs(&args(&["--vdev"])).is_empty());
        assert!(vdevs(&args(&["--vdev=", "--vdev=,a=b"])).is_empty());
    }

    proptest! {
        /// Any argument list is read without panicking, and every device found was named by a
        /// `--vdev` argument.
        #[test]
        fn any_arguments_are_read(a in proptest::collection::vec(".{0,40}", 0..8)) {
            let v = vdevs(&a);
            prop_assert!(v.len() <= a.len());
            for (name, _) in v {
                prop_assert!(!name.is_empty());
                prop_assert!(a.iter().any(|s| s.contains(&name)));
            }
        }
    }
}
