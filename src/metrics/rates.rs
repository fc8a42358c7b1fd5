//! Rates from two samples of [`Telemetry`]: Mpps and Gbps per port, per worker and in total,
//! drops in the interval, p99 latency. Its `Display` is the one-line summary `vxgate run`
//! prints once per second:
//! `rx 1.23 Mpps 0.81 Gbps | tx 1.23 Mpps 0.93 Gbps | drops 0 | p99 4.1 µs`.
//!
//! Bits per second count frame bytes as the ports report them (no preamble or inter-frame gap).

use std::fmt;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::counters::QueueCounters;
use super::histogram::Quantiles;
use super::telemetry::Telemetry;
use crate::dataplane::DropReason;

/// Packets and bytes in each direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Traffic {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
}

impl Traffic {
    /// The current totals of one port's queue pair (relaxed reads; the worker keeps running).
    pub fn read(rx: &QueueCounters, tx: &QueueCounters) -> Traffic {
        Traffic {
            rx_packets: rx.packets.get(),
            rx_bytes: rx.bytes.get(),
            tx_packets: tx.packets.get(),
            tx_bytes: tx.bytes.get(),
        }
    }

    fn delta(&self, before: &Traffic) -> Traffic {
        Traffic {
            rx_packets: self.rx_packets.wrapping_sub(before.rx_packets),
            rx_bytes: self.rx_bytes.wrapping_sub(before.rx_bytes),
            tx_packets: self.tx_packets.wrapping_sub(before.tx_packets),
            tx_bytes: self.tx_bytes.wrapping_sub(before.tx_bytes),
        }
    }
    fn sum(&self, o: &Traffic) -> Traffic {
        Traffic {
            rx_packets: self.rx_packets.wrapping_add(o.rx_packets),
            rx_bytes: self.rx_bytes.wrapping_add(o.rx_bytes),
            tx_packets: self.tx_packets.wrapping_add(o.tx_packets),
            tx_bytes: self.tx_bytes.wrapping_add(o.tx_bytes),
        }
    }
}

/// One worker's counters at a point in time.
#[derive(Debug, Clone, Default)]
pub struct WorkerSample {
    pub access: Traffic,
    pub underlay: Traffic,
    pub drops: [u64; DropReason::COUNT],
    pub busy_ns: u64,
}

/// Every worker's counters at one instant.
#[derive(Debug, Clone)]
pub struct Sample {
    pub at: Instant,
    pub workers: Vec<WorkerSample>,
}

impl Sample {
    /// Reads every worker's counters now (relaxed loads; the workers keep running).
    pub fn take(t: &Telemetry) -> Sample {
        let workers = t
            .workers
            .iter()
            .map(|c| {
                let mut drops = [0u64; DropReason::COUNT];
                for (d, c) in drops.iter_mut().zip(c.drops.iter()) {
                    *d = c.get();
                }
                WorkerSample {
                    access: Traffic::read(&c.access_rx, &c.access_tx),
                    underlay: Traffic::read(&c.underlay_rx, &c.underlay_tx),
                    drops,
                    busy_ns: c.busy_ns.get(),
                }
            })
            .collect();
        Sample {
            at: Instant::now(),
            workers,
        }
    }
}

/// Throughput each way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Throughput {
    pub rx_mpps: f64,
    pub rx_gbps: f64,
    pub tx_mpps: f64,
    pub tx_gbps: f64,
}

impl Throughput {
    fn of(t: &Traffic, secs: f64) -> Throughput {
        if secs <= 0.0 {
            return Throughput::default();
        }
        Throughput {
            rx_mpps: t.rx_packets as f64 / secs / 1e6,
            rx_gbps: t.rx_bytes as f64 * 8.0 / secs / 1e9,
            tx_mpps: t.tx_packets as f64 / secs / 1e6,
            tx_gbps: t.tx_bytes as f64 * 8.0 / secs / 1e9,
        }
    }
}

/// One port's rates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PortRates {
    pub port: String,
    pub rate: Throughput,
}

/// One worker's rates (both ports together).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerRates {
    pub worker: usize,
    pub rate: Throughput,
    pub drops: u64,
    pub busy_ratio: f64,
    pub latency: Quantiles,
}

/// Rates over one interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rates {
    pub interval_secs: f64,
    pub ports: Vec<PortRates>,
    pub workers: Vec<WorkerRates>,
    pub total: Throughput,
    /// Drops in the interval, all reasons.
    pub drops: u64,
    /// Drops in the interval by reason (every reason, zeros included).
    pub drops_by_reason: Vec<(String, u64)>,
    /// Latency of the last window over all workers.
    pub latency: Quantiles,
}

impl Rates {
    /// Rates between two samples of the same telemetry. `latency(w)` gives worker `w`'s recent
    /// quantiles and `all` the quantiles over all workers.
    pub fn between(
        before: &Sample,
        after: &Sample,
        ports: (&str, &str),
        latency: impl Fn(usize) -> Quantiles,
        all: Quantiles,
    ) -> Rates {
        let secs = after.at.saturating_duration_since(before.at).as_secs_f64();
        let empty = WorkerSample::default();
        let mut access = Traffic::default();
        let mut underlay = Traffic::default();
        let mut by_reason = [0u64; DropReason::COUNT];
        let mut workers = Vec::with_capacity(after.workers.len());
        for (w, a) in after.workers.iter().enumerate() {
            let b = before.workers.get(w).unwrap_or(&empty);
            let da = a.access.delta(&b.access);
            let du = a.underlay.delta(&b.underlay);
            access = access.sum(&da);
            underlay = underlay.sum(&du);
            let mut drops = 0u64;
            for ((r, x), y) in by_reason.iter_mut().zip(&a.drops).zip(&b.drops) {
                let d = x.wrapping_sub(*y);
                *r = r.wrapping_add(d);
                drops = drops.wrapping_add(d);
            }
            let busy = a.busy_ns.wrapping_sub(b.busy_ns) as f64;
            workers.push(WorkerRates {
                worker: w,
                rate: Throughput::of(&da.sum(&du), secs),
                drops,
                busy_ratio: if secs > 0.0 {
                    (busy / (secs * 1e9)).clamp(0.0, 1.0)
                } else {
                    0.0
                },
                latency: latency(w),
            });
        }
        Rates {
            interval_secs: secs,
            ports: vec![
                PortRates {
                    port: ports.0.to_string(),
                    rate: Throughput::of(&access, secs),
                },
                PortRates {
                    port: ports.1.to_string(),
                    rate: Throughput::of(&underlay, secs),
                },
            ],
            workers,
            total: Throughput::of(&access.sum(&underlay), secs),
            drops: by_reason.iter().sum(),
            drops_by_reason: DropReason::ALL
                .iter()
                .zip(by_reason)
                .map(|(r, n)| (r.as_str().to_string(), n))
                .collect(),
            latency: all,
        }
    }

    /// Rates from `before` to now, with latency from the telemetry's collector.
    pub fn since(before: &Sample, t: &Telemetry) -> (Rates, Sample) {
        let after = Sample::take(t);
        let lat = t.latency(after.at);
        let rates = Rates::between(
            before,
            &after,
            (&t.ports.access, &t.ports.underlay),
            |w| lat.recent(w),
            lat.recent_all(),
        );
        (rates, after)
    }
}

/// Formats nanoseconds with a unit that keeps 2-3 significant digits.
pub fn fmt_ns(ns: u64) -> String {
    let v = ns as f64;
    if ns < 1_000 {
        format!("{ns} ns")
    } else if ns < 1_000_000 {
        format!("{:.1} µs", v / 1e3)
    } else if ns < 1_000_000_000 {
        format!("{:.2} ms", v / 1e6)
    } else {
        format!("{:.2} s", v / 1e9)
    }
}

impl fmt::Display for Rates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.total;
        write!(
            f,
            "rx {:.2} Mpps {:.2} Gbps | tx {:.2} Mpps {:.2} Gbps | drops {} | p99 {}",
            t.rx_mpps,
            t.rx_gbps,
            t.tx_mpps,
            t.tx_gbps,
            self.drops,
            if self.latency.count == 0 {
                "-".to_string()
            } else {
                fmt_ns(self.latency.p99_ns)
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn sample(at: Instant, rx: u64, bytes: u64, drops: u64) -> Sample {
        let mut w = WorkerSample {
            access: Traffic {
                rx_packets: rx,
                rx_bytes: bytes,
                tx_packets: 0,
                tx_bytes: 0,
            },
            underlay: Traffic {
                rx_packets: 0,
                rx_bytes: 0,
                tx_packets: rx,
                tx_bytes: bytes + rx * 50,
            },
            busy_ns: 0,
            ..WorkerSample::default()
        };
        w.drops[DropReason::TxFull as usize] = drops;
        Sample {
            at,
            workers: vec![w],
        }
    }

    #[test]
    fn one_second_of_traffic() {
        let t0 = Instant::now();
        let a = sample(t0, 0, 0, 0);
        let b = sample(t0 + Duration::from_secs(1), 1_230_000, 1_230_000 * 64, 3);
        let q = Quantiles {
            count: 10,
            p99_ns: 4_100,
            ..Quantiles::default()
        };
        let r = Rates::between(&a, &b, ("access", "underlay"), |_| q, q);
        assert!((r.ports[0].rate.rx_mpps - 1.23).abs() < 1e-9);
        assert!((r.ports[0].rate.rx_gbps - 0.629_76).abs() < 1e-6);
        assert_eq!(r.drops, 3);
        assert_eq!(r.drops_by_reason.len(), DropReason::COUNT);
        assert_eq!(
            r.to_string(),
            "rx 1.23 Mpps 0.63 Gbps | tx 1.23 Mpps 1.12 Gbps | drops 3 | p99 4.1 µs"
        );
    }

    #[test]
    fn zero_interval_gives_zero_rates() {
        let t0 = Instant::now();
        let a = sample(t0, 5, 5, 0);
        let r = Rates::between(
            &a,
            &a,
            ("a", "u"),
            |_| Quantiles::default(),
            Quantiles::default(),
        );
        assert_eq!(r.total, Throughput::default());
        assert!(r.to_string().ends_with("p99 -"));
    }

    #[test]
    fn formats_units() {
        assert_eq!(fmt_ns(850), "850 ns");
        assert_eq!(fmt_ns(4_100), "4.1 µs");
        assert_eq!(fmt_ns(1_234_000), "1.23 ms");
    }
}
