//! Wire formats: zero-copy, bounds-checked views over byte buffers.
//!
//! # Contract
//!
//! Every header type follows smoltcp's shape:
//!
//! - a view `Packet<T: AsRef<[u8]>>` (`Frame` for Ethernet, `Tag` for 802.1Q) that owns or borrows
//!   the buffer and copies nothing;
//! - `new_unchecked(buf)` wraps without looking; `new_checked(buf)` verifies once every length the
//!   accessors rely on, so **after it succeeds no getter or setter of that view can panic**
//!   (variable-length regions such as `payload()` are additionally clamped with `get`, so even
//!   setters that rewrite length fields cannot make a later accessor panic);
//! - getters on `T: AsRef<[u8]>`, setters on `T: AsRef<[u8]> + AsMut<[u8]>`, `into_inner()`;
//! - a private `mod field` with the byte offsets and ranges, a public `HEADER_LEN`;
//! - a `*Repr` (a parsed, owned, high-level summary) with `parse` and `emit` where the pipeline
//!   builds headers from values;
//! - free `emit_header` functions that write a header into a caller-supplied buffer and return
//!   `false` (writing nothing) when the buffer is too short, so the pipeline never panics on a
//!   short buffer either.
//!
//! Values the code does not know are still values (`EtherType::Unknown(u16)`,
//! `IpProtocol::Unknown(u8)`), never errors: deciding what to do with them is the pipeline's job.
//! Nothing here allocates.

/// Declares a wire view: the struct holding `buffer: T` plus `new_unchecked`, `new_checked` (which
/// calls the view's own `check_len`), `into_inner` and `AsRef<[u8]>`. Each file keeps its
/// `check_len`, getters, setters and the docs: the attributes before `struct` (the RFC diagram)
/// go on the type, those before `fn new_unchecked;` / `fn new_checked;` on those constructors.
macro_rules! wire_view {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident;
        $(#[$unchecked_meta:meta])*
        fn new_unchecked;
        $(#[$checked_meta:meta])*
        fn new_checked;
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        $vis struct $name<T: AsRef<[u8]>> {
            buffer: T,
        }

        impl<T: AsRef<[u8]>> $name<T> {
            $(#[$unchecked_meta])*
            pub const fn new_unchecked(buffer: T) -> $name<T> {
                $name { buffer }
            }

            $(#[$checked_meta])*
            pub fn new_checked(buffer: T) -> Result<$name<T>, $crate::wire::WireError> {
                let view = Self::new_unchecked(buffer);
                view.check_len()?;
                Ok(view)
            }

            pub fn into_inner(self) -> T {
                self.buffer
            }
        }

        impl<T: AsRef<[u8]>> AsRef<[u8]> for $name<T> {
            fn as_ref(&self) -> &[u8] {
                self.buffer.as_ref()
            }
        }
    };
}

pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod icmpv4;
pub mod icmpv6;
pub mod igmp;
pub mod ipv4;
pub mod ipv6;
pub mod udp;
pub mod vlan;
pub mod vxlan;

#[cfg(test)]
mod proptests;

pub use arp::{ArpOperation, ArpRepr};
pub use ethernet::EtherType;
pub use ipv4::{IpProtocol, Ipv4Repr};
pub use ipv6::Ipv6Repr;

/// Why a buffer is not a valid header of the expected kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The buffer is shorter than the header, or than a length field inside it claims.
    #[error("buffer too short")]
    Truncated,
    /// A field holds an impossible value (wrong IP version, header length below the minimum,
    /// total length smaller than the header, a non Ethernet/IPv4 ARP in `ArpRepr::parse`, ...).
    #[error("malformed header")]
    Malformed,
    /// The header is well formed but its checksum does not verify (only `*Repr::parse`
    /// checks checksums; the views leave that to `verify_checksum`).
    #[error("bad checksum")]
    Checksum,
}

/// A byte range inside a header.
pub(crate) type Field = core::ops::Range<usize>;

/// Reads a big-endian u16 at `at`. Callers guarantee `at + 2 <= d.len()` (checked in
/// `new_checked`).
#[inline(always)]
pub(crate) fn get_u16(d: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([d[at], d[at + 1]])
}

/// Writes a big-endian u16 at `at`. Callers guarantee `at + 2 <= d.len()`.
#[inline(always)]
pub(crate) fn put_u16(d: &mut [u8], at: usize, v: u16) {
    d[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

/// Reads a big-endian u32 at `at`. Callers guarantee `at + 4 <= d.len()`.
#[inline(always)]
pub(crate) fn get_u32(d: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(get_4(d, at))
}

/// Writes a big-endian u32 at `at`. Callers guarantee `at + 4 <= d.len()`.
#[inline(always)]
pub(crate) fn put_u32(d: &mut [u8], at: usize, v: u32) {
    d[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

/// Reads four bytes at `at` (an IPv4 address). Callers guarantee `at + 4 <= d.len()`.
#[inline(always)]
pub(crate) fn get_4(d: &[u8], at: usize) -> [u8; 4] {
    [d[at], d[at + 1], d[at + 2], d[at + 3]]
}

/// Reads six bytes at `at` (a MAC address). Callers guarantee `at + 6 <= d.len()`.
#[inline(always)]
pub(crate) fn get_6(d: &[u8], at: usize) -> [u8; 6] {
    [d[at], d[at + 1], d[at + 2], d[at + 3], d[at + 4], d[at + 5]]
}

/// `Truncated` when `d` is shorter than `min`: the `check_len` of fixed-size headers.
#[inline]
pub(crate) fn check_min_len(d: &[u8], min: usize) -> Result<(), WireError> {
    if d.len() < min {
        Err(WireError::Truncated)
    } else {
        Ok(())
    }
}

/// `d[from..]`, or empty when `from` is past the end.
#[inline]
pub(crate) fn tail(d: &[u8], from: usize) -> &[u8] {
    d.get(from..).unwrap_or(&[])
}

/// `d[from..]` mutable, or empty when `from` is past the end.
#[inline]
pub(crate) fn tail_mut(d: &mut [u8], from: usize) -> &mut [u8] {
    d.get_mut(from..).unwrap_or(&mut [])
}

/// `d[range]`, or empty when `range` is not inside `d` (or is reversed).
#[inline]
pub(crate) fn span(d: &[u8], range: Field) -> &[u8] {
    d.get(range).unwrap_or(&[])
}

/// `d[range]` mutable, or empty when `range` is not inside `d` (or is reversed).
#[inline]
pub(crate) fn span_mut(d: &mut [u8], range: Field) -> &mut [u8] {
    d.get_mut(range).unwrap_or(&mut [])
}

/// The bytes of a borrowed buffer for the borrow's own lifetime `'a`. `into_payload` uses it:
/// `self.buffer.as_ref()` on a `&'a T` field would borrow the view instead.
#[inline]
pub(crate) fn bytes<T: AsRef<[u8]> + ?Sized>(buffer: &T) -> &[u8] {
    buffer.as_ref()
}
