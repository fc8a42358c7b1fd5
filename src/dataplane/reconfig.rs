//! Handing a worker new pipeline settings while it runs (a configuration reload).
//!
//! # Design
//! The control thread builds everything a reload changes in a worker (its [`PipelineSettings`]
//! and its flood-list slots for the new VNI set), boxes it, pushes the box into the worker's
//! reconfiguration ring and only then publishes [`Delta::Reconfigure`](crate::fdb::Delta) into
//! the worker's delta stream. The worker meets the delta in order, swaps the box's contents
//! with its own (pointer moves: no allocation, no lock) and pushes the box, now holding the
//! old settings, back on the return ring for the control thread to free. Deltas published
//! before the reload apply under the old settings, those after it under the new ones.
//!
//! One reload is in flight at a time ([`ReconfigSender::ready`]), so the one-slot rings can
//! never be full when either side pushes.

use super::settings::PipelineSettings;
use crate::fdb::replica::FloodLists;

/// What a reload hands one worker.
#[derive(Debug)]
pub struct Reconfig {
    pub settings: PipelineSettings,
    /// The new VNI set's flood lists, empty: the worker fills them from its current ones.
    pub flood: FloodLists,
}

/// The control thread's end of one worker's reconfiguration channel.
pub struct ReconfigSender {
    to_worker: rtrb::Producer<Box<Reconfig>>,
    returned: rtrb::Consumer<Box<Reconfig>>,
    /// Boxes sent and not yet returned.
    in_flight: usize,
}

/// The worker's end.
pub struct ReconfigReceiver {
    from_control: rtrb::Consumer<Box<Reconfig>>,
    back: rtrb::Producer<Box<Reconfig>>,
}

/// Creates one worker's reconfiguration channel.
pub fn reconfig_channel() -> (ReconfigSender, ReconfigReceiver) {
    let (tp, tc) = rtrb::RingBuffer::new(1);
    let (bp, bc) = rtrb::RingBuffer::new(1);
    (
        ReconfigSender {
            to_worker: tp,
            returned: bc,
            in_flight: 0,
        },
        ReconfigReceiver {
            from_control: tc,
            back: bp,
        },
    )
}

impl ReconfigSender {
    /// Frees what the worker handed back; true when nothing is in flight any more.
    pub fn ready(&mut self) -> bool {
        while let Ok(old) = self.returned.pop() {
            drop(old);
            self.in_flight = self.in_flight.saturating_sub(1);
        }
        self.in_flight == 0
    }

    /// Sends `r`; fails (handing it back) while an earlier one is in flight.
    pub fn send(&mut self, r: Box<Reconfig>) -> Result<(), Box<Reconfig>> {
        if !self.ready() {
            return Err(r);
        }
        match self.to_worker.push(r) {
            Ok(()) => {
                self.in_flight += 1;
                Ok(())
            }
            Err(rtrb::PushError::Full(r)) => Err(r),
        }
    }
}

impl ReconfigReceiver {
    /// Takes the pending reconfiguration, if the control thread sent one.
    #[inline]
    pub fn take(&mut self) -> Option<Box<Reconfig>> {
        self.from_control.pop().ok()
    }

    /// Hands the old settings back to the control thread to free. The return slot is free
    /// (one reload in flight at a time); if it ever were not, the box is freed here, which
    /// costs a reload's worker one deallocation and never loses a packet.
    pub fn give_back(&mut self, old: Box<Reconfig>) {
        if let Err(rtrb::PushError::Full(old)) = self.back.push(old) {
            drop(old);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::MacAddr;
    use std::net::Ipv4Addr;

    fn reconfig(port: u16) -> Box<Reconfig> {
        let mut settings = PipelineSettings::new(Ipv4Addr::LOCALHOST, MacAddr::ZERO);
        settings.udp_port = port;
        Box::new(Reconfig {
            settings,
            flood: Vec::new(),
        })
    }

    #[test]
    fn one_reload_in_flight_until_the_worker_hands_the_old_settings_back() {
        let (mut tx, mut rx) = reconfig_channel();
        assert!(tx.ready());
        tx.send(reconfig(1)).unwrap();
        assert!(!tx.ready());
        assert_eq!(tx.send(reconfig(2)).unwrap_err().settings.udp_port, 2);

        let mut got = rx.take().unwrap();
        assert_eq!(got.settings.udp_port, 1);
        assert!(rx.take().is_none());
        got.settings.udp_port = 9; // the worker's old settings go back
        rx.give_back(got);
        assert!(tx.ready());
        tx.send(reconfig(3)).unwrap();
        assert_eq!(rx.take().unwrap().settings.udp_port, 3);
    }
}
