//! ICMPv4 (RFC 792), enough to answer echo requests.
//!
//! The view covers the whole ICMP message (the IPv4 payload exactly): the checksum is computed
//! over the entire buffer. `new_checked` checks only the 8-byte header (`Truncated`).

use super::{bytes, check_min_len, checksum, get_u16, put_u16, tail, tail_mut, Field, WireError};

mod field {
    use super::Field;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Field = 2..4;
    pub const ECHO_IDENT: Field = 4..6;
    pub const ECHO_SEQNO: Field = 6..8;
    pub const DATA: usize = 8;
}

/// Length of the ICMP header (type, code, checksum and the 4-byte rest-of-header).
pub const HEADER_LEN: usize = field::DATA;

/// Echo request message type.
pub const ECHO_REQUEST: u8 = 8;
/// Echo reply message type.
pub const ECHO_REPLY: u8 = 0;

wire_view! {
    /// A view of an ICMPv4 message.
    ///
    /// ```text
    ///  0                   1                   2                   3
    ///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    /// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    /// |     Type      |     Code      |          Checksum             |
    /// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    /// |           Identifier          |        Sequence Number        |  (echo)
    /// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    /// |     Data ...
    /// ```
    pub struct Packet;
    /// Wraps `buffer` without checking it.
    fn new_unchecked;
    /// Wraps `buffer` after checking it holds the 8-byte header (`Truncated` otherwise).
    fn new_checked;
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// `Truncated` when the buffer is shorter than [`HEADER_LEN`].
    pub fn check_len(&self) -> Result<(), WireError> {
        check_min_len(self.buffer.as_ref(), HEADER_LEN)
    }

    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    /// Identifier of an echo request/reply.
    pub fn echo_ident(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::ECHO_IDENT.start)
    }

    /// Sequence number of an echo request/reply.
    pub fn echo_seq_no(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::ECHO_SEQNO.start)
    }

    /// Everything after the 8-byte header.
    pub fn data(&self) -> &[u8] {
        tail(self.buffer.as_ref(), field::DATA)
    }

    /// Whether the checksum over the whole buffer verifies.
    pub fn verify_checksum(&self) -> bool {
        checksum::data(self.buffer.as_ref()) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_msg_type(&mut self, t: u8) {
        self.buffer.as_mut()[field::TYPE] = t;
    }

    pub fn set_code(&mut self, c: u8) {
        self.buffer.as_mut()[field::CODE] = c;
    }

    pub fn set_checksum(&mut self, c: u16) {
        put_u16(self.buffer.as_mut(), field::CHECKSUM.start, c);
    }

    pub fn set_echo_ident(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::ECHO_IDENT.start, v);
    }

    pub fn set_echo_seq_no(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::ECHO_SEQNO.start, v);
    }

    /// Everything after the header, mutable.
    pub fn data_mut(&mut self) -> &mut [u8] {
        tail_mut(self.buffer.as_mut(), field::DATA)
    }

    /// Computes the checksum over the whole buffer and stores it.
    pub fn fill_checksum(&mut self) {
        let c = !checksum::fold(checksum::sum_skipping(
            self.buffer.as_ref(),
            field::CHECKSUM.start,
        ));
        self.set_checksum(c);
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The data borrowed for the buffer's lifetime `'a` rather than the view's, so a parser
    /// can drop this view and keep walking the next layer (`data()` borrows the view).
    pub fn into_data(self) -> &'a [u8] {
        tail(bytes(self.buffer), field::DATA)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo request as Linux `ping` sends it without timestamp data: id 0x1234, seq 1,
    /// data "abcd". Checksum 0x2104 cross-checked with a Python RFC 1071 sum.
    const ECHO: [u8; 12] = [
        0x08, 0x00, 0x21, 0x04, 0x12, 0x34, 0x00, 0x01, b'a', b'b', b'c', b'd',
    ];

    #[test]
    fn parse_echo() {
        let p = Packet::new_checked(&ECHO[..]).unwrap();
        assert_eq!(p.msg_type(), ECHO_REQUEST);
        assert_eq!(p.code(), 0);
        assert_eq!(p.checksum(), 0x2104);
        assert_eq!(p.echo_ident(), 0x1234);
        assert_eq!(p.echo_seq_no(), 1);
        assert_eq!(p.data(), b"abcd");
        assert!(p.verify_checksum());
        assert_eq!(p.into_data(), b"abcd");
    }

    #[test]
    fn reply_in_place() {
        let mut b = ECHO;
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.set_msg_type(ECHO_REPLY);
        p.fill_checksum();
        assert!(p.verify_checksum());
        // Type 8 -> 0 changes the first word by 0x0800: the incremental update agrees.
        assert_eq!(p.checksum(), checksum::update16(0x2104, 0x0800, 0x0000));
        p.set_code(1);
        assert!(!p.verify_checksum());
        p.set_echo_ident(7);
        p.set_echo_seq_no(9);
        p.data_mut()[0] = b'z';
        p.set_checksum(0);
        p.fill_checksum();
        assert!(p.verify_checksum());
        assert_eq!((p.echo_ident(), p.echo_seq_no()), (7, 9));
    }

    #[test]
    fn short() {
        assert_eq!(
            Packet::new_checked(&ECHO[..7]).unwrap_err(),
            WireError::Truncated
        );
        assert!(Packet::new_checked(&ECHO[..8]).unwrap().data().is_empty());
    }
}
