//! DPDK binding on virtual devices: one EAL per process, so one #[test] runs every check in
//! sequence. Ports: `net_pcap0` (rx_pcap/tx_pcap files in a temp dir), `net_ring0` (a ring
//! loopback: what is sent comes back on RX), and `net_ring1`/`net_ring2` for `open_with_eal`.
//! Runs with hugepages when some are free, else `--no-huge -m 512 --no-shconf`.
#![cfg(feature = "dpdk")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use vxgate::io::dpdk::{
    self, ipv4_cksum_offload_enabled, Dpdk, DpdkError, DpdkPool, DpdkSetup, Eal, Mbuf, Mempool,
    Port, PortOptions, MBUF_DEFAULT_BUF_SIZE, PKTMBUF_HEADROOM,
};
use vxgate::io::{Burst, Io, Packet, PacketPool, RxQueue, TxQueue, BURST_SIZE};

// ---- a tiny pcap (microsecond, Ethernet) writer and reader ----

fn write_pcap(path: &Path, frames: &[Vec<u8>]) {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes()); // LINKTYPE_ETHERNET
    for (i, f) in frames.iter().enumerate() {
        out.extend_from_slice(&(i as u32).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(f);
    }
    std::fs::write(path, out).unwrap();
}

fn read_pcap(path: &Path) -> Vec<Vec<u8>> {
    let b = std::fs::read(path).unwrap();
    assert!(b.len() >= 24, "pcap {} too short", path.display());
    let magic = u32::from_le_bytes(b[0..4].try_into().unwrap());
    let le = match magic {
        0xa1b2_c3d4 | 0xa1b2_3c4d => true,
        0xd4c3_b2a1 | 0x4d3c_b2a1 => false,
        m => panic!("not a pcap: magic {m:#x}"),
    };
    let u32_at = |o: usize| {
        let a: [u8; 4] = b[o..o + 4].try_into().unwrap();
        if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    let mut frames = Vec::new();
    let mut o = 24;
    while o + 16 <= b.len() {
        let incl = u32_at(o + 8) as usize;
        frames.push(b[o + 16..o + 16 + incl].to_vec());
        o += 16 + incl;
    }
    frames
}

fn frame(len: usize, seed: u8) -> Vec<u8> {
    let mut f: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(7) ^ seed).collect();
    f[..6].copy_from_slice(&[0x02, 0, 0, 0, 0, seed]);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 1, seed]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f
}

// ---- the EAL arguments ----

fn hugepages_free() -> bool {
    std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("HugePages_Free:"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .is_some_and(|n| n > 0)
}

fn eal_args(dir: &Path) -> Vec<String> {
    let mut a: Vec<String> = if hugepages_free() {
        vec!["--in-memory".into()]
    } else {
        ["--no-huge", "-m", "512", "--no-shconf"]
            .map(String::from)
            .to_vec()
    };
    a.extend(
        [
            "--no-pci",
            "-l",
            "0",
            "--log-level",
            "lib.eal:warning",
            "--file-prefix",
        ]
        .map(String::from),
    );
    a.push(format!("vxgate_test_{}", std::process::id()));
    a.push("--vdev".into());
    a.push(format!(
        "net_pcap0,rx_pcap={},tx_pcap={}",
        dir.join("in.pcap").display(),
        dir.join("out.pcap").display()
    ));
    for v in ["net_ring0", "net_ring1", "net_ring2"] {
        a.push("--vdev".into());
        a.push(v.into());
    }
    a
}

fn temp_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("vxgate-dpdk-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Receives until `n` packets arrived (bounded: vdevs deliver on the first polls).
fn rx_n<Q: RxQueue<Pkt = Mbuf>>(q: &mut Q, n: usize) -> Vec<Mbuf> {
    let mut got = Vec::new();
    for _ in 0..10_000 {
        let mut burst = Burst::new();
        q.rx_burst(&mut burst, BURST_SIZE);
        got.extend(burst);
        if got.len() >= n {
            break;
        }
    }
    got
}

fn mbuf_from(pool: &mut DpdkPool, bytes: &[u8]) -> Mbuf {
    let mut m = pool.alloc().unwrap();
    m.append(bytes.len()).unwrap().copy_from_slice(bytes);
    m
}

#[test]
fn dpdk_binding_on_virtual_devices() {
    let dir = temp_dir();
    let rx_frames = vec![frame(60, 1), frame(342, 2), frame(1514, 3)];
    write_pcap(&dir.join("in.pcap"), &rx_frames);

    let args = eal_args(&dir);
    eprintln!("EAL args: {}", args.join(" "));
    let eal = Eal::init(&args).unwrap();
    assert!(matches!(
        Eal::init(&args),
        Err(DpdkError::EalAlreadyInitialized)
    ));

    let pool = Mempool::new("test_pool", 1023, 32, MBUF_DEFAULT_BUF_SIZE).unwrap();
    assert_eq!(pool.capacity(), 1023);
    assert_eq!(pool.in_use(), 0);

    let err = Port::open("net_nope0", 1, 64, 64, &pool, PortOptions::default()).unwrap_err();
    assert!(err.to_string().contains("net_pcap0"), "{err}");

    let opts = PortOptions {
        mtu: Some(1600),
        rss: true,
        promiscuous: true,
        ipv4_cksum_offload: true,
        multi_seg_tx: true,
        multicast: &[vxgate::MacAddr([1, 0, 0x5e, 1, 1, 1])],
        allmulticast: false,
    };
    let mut pcap = Port::open("net_pcap0", 1, 64, 64, &pool, opts).unwrap();
    let mut ring = Port::open("net_ring0", 1, 64, 64, &pool, opts).unwrap();
    assert_eq!(pcap.name(), "net_pcap0");
    assert!(ring.link_up());
    let _ = pcap.mac_addr();
    let (mut pcap_rx, mut pcap_tx) = pcap.take_queues().pop().unwrap();
    assert!(pcap.take_queues().is_empty(), "queues are handed out once");
    let (mut ring_rx, mut ring_tx) = ring.take_queues().pop().unwrap();
    // net_pcap 22.11 does not advertise RTE_ETH_TX_OFFLOAD_MULTI_SEGS, but its TX linearizes
    // chains (rte_pktmbuf_read), so chained replicas are still captured whole below.
    eprintln!(
        "multi-seg TX: pcap {} ring {}",
        pcap.multi_seg_tx(),
        ring.multi_seg_tx()
    );
    let baseline = pool.in_use();

    // 1. RX from a pcap file, byte-exact.
    let mut got = rx_n(&mut pcap_rx, rx_frames.len());
    assert_eq!(got.len(), rx_frames.len());
    for (m, f) in got.iter().zip(&rx_frames) {
        assert_eq!(m.data(), &f[..]);
        assert_eq!(m.pkt_len(), f.len());
        assert_eq!(m.nb_segs(), 1);
    }
    assert_eq!(pcap.stats().ipackets, rx_frames.len() as u64);

    // 2. Zero-copy edits on a received mbuf.
    let mut m = got.remove(1);
    assert_eq!(m.headroom(), PKTMBUF_HEADROOM);
    assert!(m.prepend(PKTMBUF_HEADROOM + 1).is_none());
    m.prepend(8).unwrap().copy_from_slice(b"VXLANHDR");
    assert_eq!(m.pkt_len(), 342 + 8);
    assert_eq!(&m.data()[..8], b"VXLANHDR");
    assert_eq!(&m.data()[8..], &rx_frames[1][..]);
    assert!(m.trim_front(8));
    assert_eq!(m.data(), &rx_frames[1][..]);
    assert!(!m.trim_front(343));
    m.truncate(400); // longer: no-op
    assert_eq!(m.pkt_len(), 342);
    m.truncate(20);
    assert_eq!(m.data(), &rx_frames[1][..20]);
    m.data_mut()[0] = 0xee;
    assert_eq!(m.data()[0], 0xee);
    drop(m);
    drop(got);
    assert_eq!(pool.in_use(), baseline);

    // 3. Checksum offload: the pcap vdev cannot, so the packet says no.
    assert!(!pcap.ipv4_cksum_offload());
    assert!(!ipv4_cksum_offload_enabled());

    // 4. Replication: chained (shared payload) and copied, then TX into a pcap file.
    let mut chain_pool = DpdkPool::new(&pool, true);
    let mut copy_pool = DpdkPool::new(&pool, false);
    let payload = frame(200, 9);
    let header: Vec<u8> = (0..50u8).collect();
    let mut orig = mbuf_from(&mut chain_pool, &payload);

    let mut chained = chain_pool.replicate(&orig, 64).unwrap();
    assert_eq!(chained.nb_segs(), 2);
    assert_eq!(chained.pkt_len(), payload.len());
    assert!(chained.headroom() >= 64);
    assert_eq!(chained.segment_refcnts(), vec![1, 2], "payload is shared");
    assert_eq!(orig.refcnt(), 2);
    assert!(
        orig.data_mut().is_empty(),
        "a shared buffer is not writable"
    );
    assert!(
        !orig.trim_front(1),
        "a shared buffer's start cannot move up"
    );
    chained
        .prepend(header.len())
        .unwrap()
        .copy_from_slice(&header);
    let expect: Vec<u8> = header.iter().chain(&payload).copied().collect();
    assert_eq!(chained.to_vec(), expect);
    assert_eq!(chained.pkt_len(), expect.len());

    let mut copied = copy_pool.replicate(&orig, 64).unwrap();
    assert_eq!(copied.nb_segs(), 1);
    assert_eq!(copied.refcnt(), 1);
    assert!(copied.headroom() >= 64);
    copied
        .prepend(header.len())
        .unwrap()
        .copy_from_slice(&header);
    assert_eq!(copied.to_vec(), expect);
    assert_eq!(copied.data(), &expect[..]);

    // A copy of a chained packet is flat and byte-identical.
    let flat = chain_pool.replicate(&chained, 0).unwrap();
    assert_eq!(flat.nb_segs(), 1);
    assert_eq!(flat.data(), &expect[..]);

    let plain = frame(64, 4);
    let mut burst = Burst::new();
    burst.push(mbuf_from(&mut chain_pool, &plain));
    burst.push(chained);
    burst.push(copied);
    burst.push(flat);
    assert_eq!(pcap_tx.tx_burst(&mut burst), 4);
    assert!(burst.is_empty());
    assert_eq!(orig.refcnt(), 1, "the driver freed the clone");
    assert_eq!(orig.data(), &payload[..]);

    // 5. Through a ring loopback: the chained replica arrives with its payload still shared.
    let mut replica = chain_pool.replicate(&orig, 64).unwrap();
    replica
        .prepend(header.len())
        .unwrap()
        .copy_from_slice(&header);
    let mut burst = Burst::new();
    burst.push(replica);
    assert_eq!(ring_tx.tx_burst(&mut burst), 1);
    let back = rx_n(&mut ring_rx, 1);
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].to_vec(), expect);
    assert_eq!(back[0].segment_refcnts(), vec![1, 2]);
    drop(back);
    assert_eq!(orig.refcnt(), 1);

    // tx_burst keeps what the queue refuses: a 64-slot ring takes at most 64 in a row.
    let mut sent_total = 0;
    let mut kept = 0;
    for _ in 0..3 {
        let mut burst = Burst::new();
        while !burst.is_full() {
            burst.push(mbuf_from(&mut chain_pool, &plain));
        }
        sent_total += ring_tx.tx_burst(&mut burst);
        kept += burst.len();
        for m in &burst {
            assert_eq!(m.data(), &plain[..], "unsent packets come back intact");
        }
    }
    assert_eq!(sent_total + kept, 96);
    let drained = rx_n(&mut ring_rx, sent_total);
    assert_eq!(drained.len(), sent_total);
    drop(drained);

    // 6. A worker thread registers with DPDK and allocates through its lcore cache.
    let mut worker_pool = DpdkPool::new(&pool, true);
    let handle = std::thread::spawn(move || {
        Dpdk::thread_init().unwrap();
        let m = worker_pool.alloc().unwrap();
        assert_eq!(m.pkt_len(), 0);
        drop(m);
        Dpdk::thread_exit();
    });
    handle.join().unwrap();

    // 7. No mbuf leaked.
    drop(orig);
    drop((chain_pool, copy_pool));
    assert_eq!(pool.in_use(), baseline, "mbuf leak");

    // 8. TX into the pcap file, read back after the port stopped.
    pcap.stop().unwrap();
    let written = read_pcap(&dir.join("out.pcap"));
    assert_eq!(
        written,
        vec![plain.clone(), expect.clone(), expect.clone(), expect]
    );
    let _ = (pcap_rx, pcap_tx, ring_rx, ring_tx);
    drop(pcap);
    drop(ring);
    assert_eq!(pool.in_use(), 0);
    drop(pool);

    // 9. The whole setup path on two ring ports; it owns the EAL and cleans it up last.
    let setup = DpdkSetup {
        eal_args: Vec::new(),
        mempool_size: 1023,
        mempool_cache: 32,
        rx_descriptors: 128,
        tx_descriptors: 128,
        access: "net_ring1".into(),
        underlay: "net_ring2".into(),
        queues: 1,
        underlay_mtu: 1600,
        underlay_multicast: Vec::new(),
        access_promiscuous: true,
        access_allmulticast: false,
        underlay_promiscuous: false,
        underlay_allmulticast: true,
    };
    let (env, mut workers) = dpdk::open_with_eal(eal, &setup).unwrap();
    assert_eq!(workers.len(), 1);
    assert_eq!(env.access_port().name(), "net_ring1");
    assert_eq!(env.underlay_port().name(), "net_ring2");
    // Both virtual devices are on this thread's socket: one pool, named after it, sized as
    // configured (a second socket would get its own pool).
    assert_eq!(env.mempools().len(), 1, "{:?}", env.mempools());
    assert!(env.mempools()[0].name().starts_with("vxgate_mbufs_s"));
    assert_eq!(env.mempool_capacity(), 1023);
    let w = &mut workers[0];
    let mut burst = Burst::new();
    burst.push(w.pool.alloc().unwrap());
    burst[0]
        .append(plain.len())
        .unwrap()
        .copy_from_slice(&plain);
    assert_eq!(w.underlay_tx.tx_burst(&mut burst), 1);
    let back = rx_n(&mut w.underlay_rx, 1);
    assert_eq!(back[0].data(), &plain[..]);
    drop(back);
    assert_eq!(env.mempool_in_use(), 0);
    drop(workers);
    drop(env);
    // rte_eal_cleanup leaves the runtime dir of our unique file prefix behind (the telemetry
    // socket stays in it): remove it.
    let runtime =
        std::path::Path::new("/var/run/dpdk").join(format!("vxgate_test_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(runtime);
    let _ = std::fs::remove_dir_all(&dir);
}
