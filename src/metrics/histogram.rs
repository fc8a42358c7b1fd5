//! Per-worker processing latency: HdrHistograms recorded by the worker, handed off to the scrape
//! side without locks.
//!
//! # Design
//! - The worker owns a [`LatencyRecorder`]: one boxed `Histogram<u64>` in nanoseconds (1 ns ..
//!   10 s, 3 significant digits, fixed size, so recording never allocates). It records one value
//!   per burst (burst received → burst sent).
//! - About every [`HANDOFF_INTERVAL_NS`] the worker calls [`LatencyRecorder::maybe_handoff`]: it
//!   pops an empty histogram from the `empty` ring, swaps it with the filled one (a `Box` move,
//!   no copy) and pushes the filled one into the `full` ring. Both rings are `rtrb` SPSC rings:
//!   plain loads and stores, no lock, no read-modify-write, no allocation on the worker.
//! - The collector side ([`LatencyCollector`], one [`LatencyCollectorHandle`] per worker) drains
//!   the `full` ring, merges each histogram into a cumulative one (for the Prometheus histogram)
//!   and into the current one-second window (for p50/p99/p99.9 of the last interval), resets it
//!   and returns it through the `empty` ring.
//! - A fixed number of boxes circulates ([`SPARE_HISTOGRAMS`] + the one being recorded) and the
//!   `full` ring can hold all of them, so the worker's push cannot fail; when the collector is
//!   late there is no empty box and the worker simply keeps recording into the one it has.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::MetricsError;

/// Lowest and highest trackable latency, in nanoseconds.
pub const LOWEST_NS: u64 = 1;
pub const HIGHEST_NS: u64 = 10_000_000_000;
/// Significant decimal digits kept by every histogram.
pub const SIGFIG: u8 = 3;
/// How often a worker hands its histogram to the collector.
pub const HANDOFF_INTERVAL_NS: u64 = 100_000_000;
/// Empty histograms waiting for the worker, besides the one it records into.
pub const SPARE_HISTOGRAMS: usize = 2;
/// Length of the window whose quantiles `vxgate stats` and the per-second line report.
pub const WINDOW: Duration = Duration::from_secs(1);

/// A latency histogram as used everywhere in this module.
pub type LatencyHistogram = Histogram<u64>;

/// Creates an empty histogram with the module's bounds.
pub fn new_histogram() -> Result<LatencyHistogram, MetricsError> {
    Histogram::new_with_bounds(LOWEST_NS, HIGHEST_NS, SIGFIG)
        .map_err(|e| MetricsError::Histogram(format!("{e:?}")))
}

/// The worker's side: records burst latencies and hands them off periodically.
pub struct LatencyRecorder {
    current: Box<LatencyHistogram>,
    full: rtrb::Producer<Box<LatencyHistogram>>,
    empty: rtrb::Consumer<Box<LatencyHistogram>>,
    last_handoff_ns: u64,
}

/// The collector's end of one worker's rings.
pub struct LatencyCollectorHandle {
    full: rtrb::Consumer<Box<LatencyHistogram>>,
    empty: rtrb::Producer<Box<LatencyHistogram>>,
}

/// Creates the recorder for one worker and the handle its collector drains.
pub fn latency_pair() -> Result<(LatencyRecorder, LatencyCollectorHandle), MetricsError> {
    let (full_tx, full_rx) = rtrb::RingBuffer::new(SPARE_HISTOGRAMS + 1);
    let (mut empty_tx, empty_rx) = rtrb::RingBuffer::new(SPARE_HISTOGRAMS + 1);
    for _ in 0..SPARE_HISTOGRAMS {
        empty_tx
            .push(Box::new(new_histogram()?))
            .map_err(|_| MetricsError::Histogram("spare ring too small".into()))?;
    }
    Ok((
        LatencyRecorder {
            current: Box::new(new_histogram()?),
            full: full_tx,
            empty: empty_rx,
            last_handoff_ns: 0,
        },
        LatencyCollectorHandle {
            full: full_rx,
            empty: empty_tx,
        },
    ))
}

impl LatencyRecorder {
    /// Records one burst's processing time. Values beyond the bounds are clamped.
    #[inline]
    pub fn record(&mut self, ns: u64) {
        self.current.saturating_record(ns.max(LOWEST_NS));
    }

    /// Hands the filled histogram to the collector when [`HANDOFF_INTERVAL_NS`] has passed since
    /// the last handoff (`now_ns` is any monotonic nanosecond clock, e.g. TSC-derived). Returns
    /// whether a handoff happened.
    #[inline]
    pub fn maybe_handoff(&mut self, now_ns: u64) -> bool {
        if now_ns.wrapping_sub(self.last_handoff_ns) < HANDOFF_INTERVAL_NS {
            return false;
        }
        self.last_handoff_ns = now_ns;
        if self.current.is_empty() {
            return false;
        }
        let Ok(fresh) = self.empty.pop() else {
            // The collector is behind: keep recording into the same histogram.
            return false;
        };
        let filled = std::mem::replace(&mut self.current, fresh);
        match self.full.push(filled) {
            Ok(()) => true,
            Err(rtrb::PushError::Full(filled)) => {
                // Unreachable: the ring can hold every box in circulation. Were it reached, keep
                // the data (the empty box is dropped, a one-off deallocation).
                self.current = filled;
                false
            }
        }
    }

    /// Values recorded since the last handoff (for tests and the worker's own summary).
    pub fn pending(&self) -> u64 {
        self.current.len()
    }
}

/// Quantiles of a latency distribution, in nanoseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Quantiles {
    pub count: u64,
    pub p50_ns: u64,
    pub p99_ns: u64,
    pub p999_ns: u64,
    pub max_ns: u64,
}

impl Quantiles {
    pub fn of(h: &LatencyHistogram) -> Quantiles {
        if h.is_empty() {
            return Quantiles::default();
        }
        Quantiles {
            count: h.len(),
            p50_ns: h.value_at_quantile(0.50),
            p99_ns: h.value_at_quantile(0.99),
            p999_ns: h.value_at_quantile(0.999),
            max_ns: h.max(),
        }
    }
}

/// One worker's histograms on the collector side.
struct WorkerLatency {
    handle: LatencyCollectorHandle,
    cumulative: LatencyHistogram,
    window: LatencyHistogram,
    last_window: LatencyHistogram,
}

/// The scrape side: merges handed-off histograms per worker.
pub struct LatencyCollector {
    workers: Vec<WorkerLatency>,
    window_started: Instant,
}

impl LatencyCollector {
    /// A collector for the given workers (index = worker id).
    pub fn new(handles: Vec<LatencyCollectorHandle>) -> Result<LatencyCollector, MetricsError> {
        let workers = handles
            .into_iter()
            .map(|handle| {
                Ok(WorkerLatency {
                    handle,
                    cumulative: new_histogram()?,
                    window: new_histogram()?,
                    last_window: new_histogram()?,
                })
            })
            .collect::<Result<Vec<_>, MetricsError>>()?;
        Ok(LatencyCollector {
            workers,
            window_started: Instant::now(),
        })
    }

    /// Number of workers this collector serves.
    pub fn workers(&self) -> usize {
        self.workers.len()
    }

    /// Drains every handed-off histogram, merges it and returns it empty to its worker; rotates
    /// the quantile window once [`WINDOW`] has passed. Returns how many histograms were merged.
    pub fn collect(&mut self, now: Instant) -> usize {
        let mut merged = 0;
        for w in &mut self.workers {
            while let Ok(mut h) = w.handle.full.pop() {
                // Same bounds on both sides, so adding cannot fail; ignore defensively.
                let _ = w.cumulative.add(&*h);
                let _ = w.window.add(&*h);
                h.reset();
                // The empty ring holds every box in circulation; a failed push only drops a box.
                let _ = w.handle.empty.push(h);
                merged += 1;
            }
        }
        if now.saturating_duration_since(self.window_started) >= WINDOW {
            for w in &mut self.workers {
                std::mem::swap(&mut w.window, &mut w.last_window);
                w.window.reset();
            }
            self.window_started = now;
        }
        merged
    }

    /// The cumulative histogram of worker `worker` since start.
    pub fn cumulative(&self, worker: usize) -> Option<&LatencyHistogram> {
        self.workers.get(worker).map(|w| &w.cumulative)
    }

    /// Quantiles of the last complete window of one worker (falls back to the window being
    /// filled while no window has completed yet).
    pub fn recent(&self, worker: usize) -> Quantiles {
        self.workers
            .get(worker)
            .map(|w| {
                if w.last_window.is_empty() {
                    Quantiles::of(&w.window)
                } else {
                    Quantiles::of(&w.last_window)
                }
            })
            .unwrap_or_default()
    }

    /// Quantiles of the last window over all workers together.
    pub fn recent_all(&self) -> Quantiles {
        let Ok(mut all) = new_histogram() else {
            return Quantiles::default();
        };
        for w in &self.workers {
            let src = if w.last_window.is_empty() {
                &w.window
            } else {
                &w.last_window
            };
            let _ = all.add(src);
        }
        Quantiles::of(&all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handoff_moves_histogram_and_returns_empty() {
        let (mut rec, handle) = latency_pair().unwrap();
        let mut col = LatencyCollector::new(vec![handle]).unwrap();
        for ns in [1_000u64, 2_000, 3_000, 100_000] {
            rec.record(ns);
        }
        // Too early: nothing handed off.
        assert!(!rec.maybe_handoff(HANDOFF_INTERVAL_NS - 1));
        assert_eq!(rec.pending(), 4);
        assert!(rec.maybe_handoff(HANDOFF_INTERVAL_NS));
        assert_eq!(rec.pending(), 0);
        assert_eq!(col.collect(Instant::now()), 1);
        assert_eq!(col.cumulative(0).unwrap().len(), 4);
        let q = col.recent(0);
        assert_eq!(q.count, 4);
        assert!(q.p50_ns >= 1_990 && q.p50_ns <= 2_010, "{q:?}");
        assert!(q.max_ns >= 99_900);

        // Boxes keep circulating: many handoffs never run out as long as the collector drains.
        for i in 2..50u64 {
            rec.record(500);
            assert!(rec.maybe_handoff(i * HANDOFF_INTERVAL_NS));
            col.collect(Instant::now());
        }
        assert_eq!(col.cumulative(0).unwrap().len(), 4 + 48);
    }

    #[test]
    fn slow_collector_keeps_data_on_worker() {
        let (mut rec, handle) = latency_pair().unwrap();
        let mut col = LatencyCollector::new(vec![handle]).unwrap();
        let mut t = 0;
        // More handoffs than spare boxes, without draining.
        for _ in 0..(SPARE_HISTOGRAMS + 3) {
            rec.record(10);
            t += HANDOFF_INTERVAL_NS;
            rec.maybe_handoff(t);
        }
        let on_worker = rec.pending();
        assert!(on_worker > 0);
        col.collect(Instant::now());
        assert_eq!(
            col.cumulative(0).unwrap().len() + on_worker,
            (SPARE_HISTOGRAMS + 3) as u64
        );
    }

    #[test]
    fn window_rotates() {
        let (mut rec, handle) = latency_pair().unwrap();
        let mut col = LatencyCollector::new(vec![handle]).unwrap();
        rec.record(7_000);
        rec.maybe_handoff(HANDOFF_INTERVAL_NS);
        let later = Instant::now() + WINDOW;
        col.collect(later);
        // The window completed: its quantiles stay readable after rotation.
        assert_eq!(col.recent(0).count, 1);
        assert_eq!(col.recent_all().count, 1);
        assert_eq!(col.recent(5), Quantiles::default());
    }
}
