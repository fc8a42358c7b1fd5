//! A paced traffic generator for zero-loss throughput (RFC 2544 §26.1 style): frames from a
//! pcap sent into one DPDK port at a fixed rate for a trial, what comes back counted on
//! another, and a binary search for the highest rate at which every frame came back.
//!
//! `vxgate loadgen` runs it on the EAL of its own process, usually with two `net_memif`
//! servers that a `vxgate run` under test connects to as a client (`scripts/bench.sh`). The
//! search ([`zero_loss_search`]) is independent of the ports, so it is tested on its own.

/// What one trial at a given rate saw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trial {
    /// The rate asked for, packets per second (`f64::INFINITY`: as fast as the port takes).
    pub rate_pps: f64,
    /// Packets the transmit port accepted.
    pub offered: u64,
    /// Packets received back.
    pub received: u64,
    /// Seconds the trial sent for.
    pub secs: f64,
}

impl Trial {
    /// The rate actually offered.
    pub fn offered_pps(&self) -> f64 {
        if self.secs > 0.0 {
            self.offered as f64 / self.secs
        } else {
            0.0
        }
    }

    /// Whether every offered packet came back `per_frame` times.
    pub fn lossless(&self, per_frame: u64) -> bool {
        self.offered > 0 && self.received >= self.offered.saturating_mul(per_frame)
    }
}

/// The result of a search.
#[derive(Debug, Clone, PartialEq)]
pub struct Search {
    /// Highest offered rate (packets per second) with no loss; 0 when even the lowest lost.
    pub zero_loss_pps: f64,
    /// Whether the generator itself was the limit (no loss even as fast as it could send).
    pub generator_bound: bool,
    pub trials: Vec<Trial>,
}

/// Binary search for the highest lossless rate: a first trial as fast as the generator can
/// send gives the upper bound (and the answer when it lost nothing), then `steps` halvings
/// between the best lossless and the lowest lossy rate.
pub fn zero_loss_search(
    steps: usize,
    per_frame: u64,
    mut trial: impl FnMut(f64) -> Trial,
) -> Search {
    let first = trial(f64::INFINITY);
    let mut trials = vec![first];
    if first.lossless(per_frame) {
        return Search {
            zero_loss_pps: first.offered_pps(),
            generator_bound: true,
            trials,
        };
    }
    let (mut lo, mut hi) = (0.0f64, first.offered_pps());
    for _ in 0..steps {
        let mid = (lo + hi) / 2.0;
        if mid <= 0.0 {
            break;
        }
        let t = trial(mid);
        trials.push(t);
        if t.lossless(per_frame) {
            // Credit what was really offered (pacing can fall short of the target).
            lo = mid.min(t.offered_pps()).max(lo);
        } else {
            hi = mid;
        }
    }
    Search {
        zero_loss_pps: lo,
        generator_bound: false,
        trials,
    }
}

#[cfg(feature = "dpdk")]
pub use ports::{run, Options};

#[cfg(feature = "dpdk")]
mod ports {
    use std::time::{Duration, Instant};

    use super::{zero_loss_search, Trial};
    use crate::io::dpdk::{Dpdk, DpdkPool, Eal, Mbuf, Mempool, Port, PortOptions};
    use crate::io::{Burst, Io, PacketPool, RxQueue, TxQueue, BURST_SIZE};

    /// What `vxgate loadgen` was asked to do.
    #[derive(Debug, Clone)]
    pub struct Options {
        pub eal_args: Vec<String>,
        pub frames: Vec<Vec<u8>>,
        pub tx_port: String,
        pub rx_port: String,
        pub trial_secs: f64,
        /// One trial at this rate (packets per second) instead of a search.
        pub rate_pps: Option<f64>,
        pub steps: usize,
        /// Packets expected back per packet sent (3 for a flood to three VTEPs).
        pub per_frame: u64,
        pub link_wait: Duration,
    }

    /// Opens the ports, waits for their links, then runs the trial or the search, printing a
    /// line per trial and the result.
    pub fn run(o: &Options) -> Result<super::Search, String> {
        if o.frames.is_empty() {
            return Err("the pcap holds no frames".into());
        }
        let eal = Eal::init(&o.eal_args).map_err(|e| e.to_string())?;
        let pool = Mempool::new(
            "loadgen",
            16383,
            256,
            crate::io::dpdk::MBUF_DEFAULT_BUF_SIZE,
        )
        .map_err(|e| e.to_string())?;
        let opts = PortOptions {
            promiscuous: true,
            ..PortOptions::default()
        };
        let mut tx_port =
            Port::open(&o.tx_port, 1, 1024, 1024, &pool, opts).map_err(|e| e.to_string())?;
        let mut rx_port =
            Port::open(&o.rx_port, 1, 1024, 1024, &pool, opts).map_err(|e| e.to_string())?;
        let deadline = Instant::now() + o.link_wait;
        while !(tx_port.link_up() && rx_port.link_up()) {
            if Instant::now() > deadline {
                return Err(format!(
                    "links not up after {:?} (is the gateway connected?)",
                    o.link_wait
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("loadgen: links up; {} frames to replay", o.frames.len());
        let (_, mut tx) = tx_port.take_queues().pop().ok_or("no tx queue")?;
        let (mut rx, _) = rx_port.take_queues().pop().ok_or("no rx queue")?;
        let mut pkts = DpdkPool::new(&pool, false);
        let mut go = |rate: f64| -> Trial {
            let t = trial(o, rate, &mut pkts, &mut tx, &mut rx);
            println!(
                "trial {:>8} Mpps: offered {} ({:.3} Mpps), received {}, lost {}",
                if rate.is_finite() {
                    format!("{:.3}", rate / 1e6)
                } else {
                    "max".to_string()
                },
                t.offered,
                t.offered_pps() / 1e6,
                t.received,
                (t.offered * o.per_frame).saturating_sub(t.received)
            );
            t
        };
        let result = match o.rate_pps {
            Some(r) => {
                let t = go(r);
                let lossless = t.lossless(o.per_frame);
                super::Search {
                    zero_loss_pps: if lossless { t.offered_pps() } else { 0.0 },
                    generator_bound: false,
                    trials: vec![t],
                }
            }
            None => zero_loss_search(o.steps, o.per_frame, go),
        };
        drop((tx, rx, pkts));
        drop((tx_port, rx_port, pool, eal));
        Ok(result)
    }

    /// Receives and frees packets for `time`; returns how many.
    fn receive_for(rx: &mut <Dpdk as Io>::Rx, got: &mut Burst<Mbuf>, time: Duration) -> u64 {
        let (end, mut n) = (Instant::now() + time, 0u64);
        while Instant::now() < end {
            got.clear();
            n += rx.rx_burst(got, BURST_SIZE) as u64;
        }
        got.clear();
        n
    }

    /// Sends for `o.trial_secs` at `rate` (paced per burst against the clock), receiving all
    /// along, then receives for another 200 ms for what is still in flight.
    fn trial(
        o: &Options,
        rate: f64,
        pool: &mut DpdkPool,
        tx: &mut <Dpdk as Io>::Tx,
        rx: &mut <Dpdk as Io>::Rx,
    ) -> Trial {
        let mut burst: Burst<Mbuf> = Burst::new();
        let mut got: Burst<Mbuf> = Burst::new();
        // Drain what an earlier trial left.
        receive_for(rx, &mut got, Duration::from_millis(100));
        let (mut offered, mut received, mut next) = (0u64, 0u64, 0usize);
        let start = Instant::now();
        let end = start + Duration::from_secs_f64(o.trial_secs);
        loop {
            let now = Instant::now();
            if now >= end {
                break;
            }
            let due = if rate.is_finite() {
                let should = (now.duration_since(start).as_secs_f64() * rate) as u64;
                usize::try_from(should.saturating_sub(offered).min(BURST_SIZE as u64))
                    .unwrap_or(BURST_SIZE)
            } else {
                BURST_SIZE
            };
            for _ in 0..due {
                let frame = &o.frames[next % o.frames.len()];
                next += 1;
                let Some(mut m) = pool.alloc() else { break };
                match m.append(frame.len()) {
                    Some(d) => d.copy_from_slice(frame),
                    None => continue,
                }
                burst.push(m);
            }
            if !burst.is_empty() {
                offered += tx.tx_burst(&mut burst) as u64;
                // What the port did not take was never offered: freed, and the pacing
                // tries again on the next round.
                burst.clear();
            }
            got.clear();
            received += rx.rx_burst(&mut got, BURST_SIZE) as u64;
        }
        let secs = start.elapsed().as_secs_f64();
        received += receive_for(rx, &mut got, Duration::from_millis(200));
        Trial {
            rate_pps: rate,
            offered,
            received,
            secs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A device under test that loses frames above `capacity` packets per second, and a
    /// generator that cannot send faster than `gen_max`.
    fn dut(capacity: f64, gen_max: f64) -> impl FnMut(f64) -> Trial {
        move |rate| {
            let sent = rate.min(gen_max);
            let offered = sent as u64;
            let received = if sent <= capacity {
                offered
            } else {
                capacity as u64
            };
            Trial {
                rate_pps: rate,
                offered,
                received,
                secs: 1.0,
            }
        }
    }

    #[test]
    fn the_search_converges_on_the_device_capacity() {
        let s = zero_loss_search(10, 1, dut(3_000_000.0, 10_000_000.0));
        assert!(!s.generator_bound);
        assert!(s.zero_loss_pps <= 3_000_000.0, "{s:?}");
        assert!(s.zero_loss_pps > 3_000_000.0 * 0.99, "{s:?}");
        assert_eq!(s.trials.len(), 11);
        assert!(s.trials[0].rate_pps.is_infinite());
    }

    #[test]
    fn a_device_faster_than_the_generator_is_reported_as_generator_bound() {
        let s = zero_loss_search(10, 1, dut(20_000_000.0, 5_000_000.0));
        assert!(s.generator_bound);
        assert_eq!(s.zero_loss_pps, 5_000_000.0);
        assert_eq!(s.trials.len(), 1);
    }

    #[test]
    fn replication_counts_every_copy() {
        let t = Trial {
            rate_pps: 1.0,
            offered: 100,
            received: 299,
            secs: 1.0,
        };
        assert!(!t.lossless(3));
        assert!(Trial { received: 300, ..t }.lossless(3));
        assert!(!Trial {
            offered: 0,
            received: 0,
            ..t
        }
        .lossless(1));
    }

    #[test]
    fn a_device_that_loses_everything_gives_zero() {
        let s = zero_loss_search(6, 1, |rate| Trial {
            rate_pps: rate,
            offered: 1000,
            received: 0,
            secs: 1.0,
        });
        assert_eq!(s.zero_loss_pps, 0.0);
        assert_eq!(s.trials.len(), 7);
    }
}
