//! IEEE 802.1Q VLAN tags.
//!
//! Like smoltcp's `ieee8021q`, the view covers the 4 bytes that *follow* the 0x8100 TPID (which
//! the Ethernet view reports as `EtherType::Vlan`): the tag control information and the inner
//! EtherType. A tagged frame is therefore parsed as `ethernet::Frame` then `vlan::Tag` over the
//! Ethernet payload.

use super::{bytes, check_min_len, get_u16, put_u16, tail, tail_mut, Field, WireError};
use crate::types::VlanId;
use crate::wire::ethernet::EtherType;

mod field {
    use super::Field;
    pub const TCI: Field = 0..2;
    pub const ETHERTYPE: Field = 2..4;
    pub const PAYLOAD: usize = 4;
}

/// Length of the tag as seen by this view (TCI + inner EtherType).
pub const HEADER_LEN: usize = field::PAYLOAD;

const PCP_SHIFT: u16 = 13;
const DEI_BIT: u16 = 0x1000;
const VID_MASK: u16 = 0x0fff;

wire_view! {
    /// A view of an 802.1Q tag (after the TPID).
    ///
    /// ```text
    ///  0                   1                   2                   3
    ///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    /// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    /// | PCP |D|        VLAN ID        |       Inner EtherType         |
    /// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    /// |  Payload ...
    /// ```
    /// (The TPID 0x8100 precedes this, in the Ethernet header's EtherType field.)
    pub struct Tag;
    /// Wraps `buffer` without checking its length.
    fn new_unchecked;
    /// Wraps `buffer` after checking it holds the 4-byte tag (`Truncated` otherwise).
    fn new_checked;
}

impl<T: AsRef<[u8]>> Tag<T> {
    /// `Truncated` when the buffer is shorter than [`HEADER_LEN`].
    pub fn check_len(&self) -> Result<(), WireError> {
        check_min_len(self.buffer.as_ref(), HEADER_LEN)
    }

    fn tci(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::TCI.start)
    }

    /// Priority code point (3 bits).
    pub fn pcp(&self) -> u8 {
        (self.tci() >> PCP_SHIFT) as u8
    }

    /// Drop eligible indicator.
    pub fn dei(&self) -> bool {
        self.tci() & DEI_BIT != 0
    }

    /// The raw 12-bit VLAN id; 0 (priority tag) and 4095 are returned as they are.
    pub fn vlan_id(&self) -> u16 {
        self.tci() & VID_MASK
    }

    /// The VLAN id as a checked [`VlanId`]; `None` for 0 (priority tag) and 4095 (reserved).
    pub fn vlan(&self) -> Option<VlanId> {
        VlanId::new(self.vlan_id())
    }

    /// The EtherType of what follows the tag.
    pub fn ethertype(&self) -> EtherType {
        EtherType::from(get_u16(self.buffer.as_ref(), field::ETHERTYPE.start))
    }

    /// Everything after the tag.
    pub fn payload(&self) -> &[u8] {
        tail(self.buffer.as_ref(), field::PAYLOAD)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Tag<T> {
    fn set_tci(&mut self, tci: u16) {
        put_u16(self.buffer.as_mut(), field::TCI.start, tci);
    }

    /// Sets the priority (only the low 3 bits of `pcp` are used).
    pub fn set_pcp(&mut self, pcp: u8) {
        let tci = (self.tci() & !(0x7 << PCP_SHIFT)) | (u16::from(pcp & 0x7) << PCP_SHIFT);
        self.set_tci(tci);
    }

    pub fn set_dei(&mut self, dei: bool) {
        let tci = if dei {
            self.tci() | DEI_BIT
        } else {
            self.tci() & !DEI_BIT
        };
        self.set_tci(tci);
    }

    /// Sets the VLAN id (only the low 12 bits of `vid` are used).
    pub fn set_vlan_id(&mut self, vid: u16) {
        let tci = (self.tci() & !VID_MASK) | (vid & VID_MASK);
        self.set_tci(tci);
    }

    pub fn set_ethertype(&mut self, ethertype: EtherType) {
        put_u16(
            self.buffer.as_mut(),
            field::ETHERTYPE.start,
            u16::from(ethertype),
        );
    }

    /// Everything after the tag, mutable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        tail_mut(self.buffer.as_mut(), field::PAYLOAD)
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Tag<&'a T> {
    /// The payload borrowed for the buffer's lifetime `'a` rather than the view's, so a parser
    /// can drop this view and keep walking the next layer (`payload()` borrows the view).
    pub fn into_payload(self) -> &'a [u8] {
        tail(bytes(self.buffer), field::PAYLOAD)
    }
}

/// Writes a tag (PCP 0, DEI 0, `vlan`, inner `ethertype`) into the first 4 bytes of `buf`.
/// Returns `false` and writes nothing when `buf` is shorter than [`HEADER_LEN`].
pub fn emit_header(buf: &mut [u8], vlan: VlanId, ethertype: EtherType) -> bool {
    let Some(hdr) = buf.get_mut(..HEADER_LEN) else {
        return false;
    };
    let mut t = Tag::new_unchecked(hdr);
    t.set_tci(vlan.get() & VID_MASK);
    t.set_ethertype(ethertype);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    // TCI 0xa064: PCP 5, DEI 0, VID 100; inner IPv4; one payload byte.
    const TAG: [u8; 5] = [0xa0, 0x64, 0x08, 0x00, 0x45];

    #[test]
    fn parse_fixture() {
        let t = Tag::new_checked(&TAG[..]).unwrap();
        assert_eq!(t.pcp(), 5);
        assert!(!t.dei());
        assert_eq!(t.vlan_id(), 100);
        assert_eq!(t.vlan(), VlanId::new(100));
        assert_eq!(t.ethertype(), EtherType::Ipv4);
        assert_eq!(t.payload(), &[0x45]);
    }

    #[test]
    fn priority_tag_and_reserved() {
        let t = Tag::new_checked(&[0x20, 0x00, 0x08, 0x00][..]).unwrap();
        assert_eq!(t.vlan_id(), 0);
        assert_eq!(t.pcp(), 1);
        assert_eq!(t.vlan(), None);
        let t = Tag::new_checked(&[0x1f, 0xff, 0x86, 0xdd][..]).unwrap();
        assert_eq!(t.vlan_id(), 4095);
        assert!(t.dei());
        assert_eq!(t.vlan(), None);
        assert_eq!(t.ethertype(), EtherType::Ipv6);
    }

    #[test]
    fn setters_keep_other_bits() {
        let mut b = [0u8; 4];
        let mut t = Tag::new_checked(&mut b[..]).unwrap();
        t.set_vlan_id(0xffff);
        t.set_pcp(0xff);
        t.set_dei(true);
        assert_eq!((t.pcp(), t.dei(), t.vlan_id()), (7, true, 4095));
        t.set_pcp(5);
        t.set_dei(false);
        t.set_vlan_id(100);
        t.set_ethertype(EtherType::Ipv4);
        assert_eq!(b, TAG[..4]);
    }

    #[test]
    fn emit_and_short() {
        let mut b = [0u8; 4];
        let vid = VlanId::new(100).unwrap();
        assert!(emit_header(&mut b, vid, EtherType::Arp));
        assert_eq!(b, [0x00, 0x64, 0x08, 0x06]);
        assert!(!emit_header(&mut b[..3], vid, EtherType::Arp));
        assert_eq!(
            Tag::new_checked(&TAG[..3]).unwrap_err(),
            WireError::Truncated
        );
    }
}
