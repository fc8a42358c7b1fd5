//! A tiny reader and writer for classic libpcap files, with no dependency.
//!
//! # Format
//!
//! ```text
//! global header (24 bytes): magic u32 | version 2.4 (u16, u16) | thiszone i32 | sigfigs u32
//!                           | snaplen u32 | linktype u32
//! per record   (16 bytes):  ts_sec u32 | ts_frac u32 | incl_len u32 | orig_len u32 | data[incl_len]
//! ```
//!
//! The writer emits microsecond-resolution files (magic `0xa1b2c3d4`) in native little-endian
//! order with `LINKTYPE_ETHERNET`, which is what DPDK's `net_pcap` (`rx_pcap=`) and tcpdump read.
//! Timestamps are synthetic (frame i at i microseconds) unless given, so generated captures are
//! byte-for-byte reproducible.
//!
//! The reader accepts both microsecond and nanosecond magics in either byte order, requires
//! `LINKTYPE_ETHERNET`, and treats the file as untrusted: every length is checked against
//! [`MAX_RECORD_LEN`] and against the bytes actually present, so garbage yields a [`PcapError`],
//! never a panic or a huge allocation.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Classic pcap magic, microsecond timestamps.
pub const MAGIC_MICROS: u32 = 0xa1b2_c3d4;
/// Classic pcap magic, nanosecond timestamps.
pub const MAGIC_NANOS: u32 = 0xa1b2_3c4d;
/// `LINKTYPE_ETHERNET`.
pub const LINKTYPE_ETHERNET: u32 = 1;
/// Snap length written in the global header; frames longer than this are refused.
pub const SNAPLEN: u32 = 65535;
/// Largest record the reader accepts (libpcap's own upper bound on snaplen).
pub const MAX_RECORD_LEN: u32 = 262_144;

const GLOBAL_HEADER_LEN: usize = 24;
const RECORD_HEADER_LEN: usize = 16;

/// Why a pcap file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PcapError {
    #[error("{}: {error}", path.display())]
    Io { path: PathBuf, error: io::Error },
    #[error("file is {0} bytes, shorter than the 24-byte pcap header")]
    TooShort(usize),
    #[error("magic {0:#010x} is not a classic pcap file")]
    BadMagic(u32),
    #[error("link type {0} is not Ethernet (1)")]
    LinkType(u32),
    #[error("record {index} at offset {offset}: header truncated")]
    TruncatedHeader { index: usize, offset: usize },
    #[error(
        "record {index} at offset {offset}: {len} bytes exceeds the {MAX_RECORD_LEN}-byte limit"
    )]
    RecordTooLong {
        index: usize,
        offset: usize,
        len: u32,
    },
    #[error("record {index} at offset {offset}: {len} bytes announced, {available} present")]
    TruncatedRecord {
        index: usize,
        offset: usize,
        len: u32,
        available: usize,
    },
}

/// Writes Ethernet frames as a classic microsecond pcap stream.
pub struct PcapWriter<W: Write> {
    out: W,
    /// Next synthetic timestamp, in microseconds.
    next_ts_us: u64,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the global header and returns the writer.
    pub fn new(mut out: W) -> io::Result<Self> {
        let mut h = [0u8; GLOBAL_HEADER_LEN];
        h[0..4].copy_from_slice(&MAGIC_MICROS.to_le_bytes());
        h[4..6].copy_from_slice(&2u16.to_le_bytes());
        h[6..8].copy_from_slice(&4u16.to_le_bytes());
        // thiszone and sigfigs stay 0.
        h[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
        h[20..24].copy_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
        out.write_all(&h)?;
        Ok(PcapWriter { out, next_ts_us: 0 })
    }

    /// Appends one frame stamped one microsecond after the previous one.
    pub fn write_frame(&mut self, frame: &[u8]) -> io::Result<()> {
        let ts = self.next_ts_us;
        self.write_frame_at(frame, ts)
    }

    /// Appends one frame with an explicit timestamp in microseconds; later synthetic stamps
    /// continue from it.
    pub fn write_frame_at(&mut self, frame: &[u8], ts_us: u64) -> io::Result<()> {
        let len = u32::try_from(frame.len())
            .ok()
            .filter(|&l| l <= SNAPLEN)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("frame of {} bytes exceeds snaplen {SNAPLEN}", frame.len()),
                )
            })?;
        let secs = u32::try_from(ts_us / 1_000_000).unwrap_or(u32::MAX);
        // Always < 1_000_000, so it fits.
        let micros = (ts_us % 1_000_000) as u32;
        let mut h = [0u8; RECORD_HEADER_LEN];
        h[0..4].copy_from_slice(&secs.to_le_bytes());
        h[4..8].copy_from_slice(&micros.to_le_bytes());
        h[8..12].copy_from_slice(&len.to_le_bytes());
        h[12..16].copy_from_slice(&len.to_le_bytes());
        self.out.write_all(&h)?;
        self.out.write_all(frame)?;
        self.next_ts_us = ts_us.saturating_add(1);
        Ok(())
    }

    /// Flushes and returns the underlying writer.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Writes `frames` to a new pcap file at `path`, creating its parent directory if needed.
pub fn write_frames(path: &Path, frames: &[Vec<u8>]) -> io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut w = PcapWriter::new(BufWriter::new(File::create(path)?))?;
    for f in frames {
        w.write_frame(f)?;
    }
    w.into_inner()?.flush()
}

/// Reads every frame of the pcap file at `path`.
pub fn read_frames(path: &Path) -> Result<Vec<Vec<u8>>, PcapError> {
    let bytes = std::fs::read(path).map_err(|error| PcapError::Io {
        path: path.to_path_buf(),
        error,
    })?;
    parse_frames(&bytes)
}

/// Parses a whole pcap file held in memory. Never panics, whatever `bytes` holds.
pub fn parse_frames(bytes: &[u8]) -> Result<Vec<Vec<u8>>, PcapError> {
    let header = bytes
        .get(..GLOBAL_HEADER_LEN)
        .ok_or(PcapError::TooShort(bytes.len()))?;
    let raw_magic = read_u32(header, 0, false);
    let swapped = match raw_magic {
        MAGIC_MICROS | MAGIC_NANOS => false,
        m if m.swap_bytes() == MAGIC_MICROS || m.swap_bytes() == MAGIC_NANOS => true,
        m => return Err(PcapError::BadMagic(m)),
    };
    let linktype = read_u32(header, 20, swapped);
    if linktype != LINKTYPE_ETHERNET {
        return Err(PcapError::LinkType(linktype));
    }

    let mut frames = Vec::new();
    let mut offset = GLOBAL_HEADER_LEN;
    while offset < bytes.len() {
        let index = frames.len();
        let rec = bytes
            .get(offset..offset + RECORD_HEADER_LEN)
            .ok_or(PcapError::TruncatedHeader { index, offset })?;
        let len = read_u32(rec, 8, swapped);
        if len > MAX_RECORD_LEN {
            return Err(PcapError::RecordTooLong { index, offset, len });
        }
        let start = offset + RECORD_HEADER_LEN;
        // len <= MAX_RECORD_LEN, so this cannot overflow.
        let end = start + len as usize;
        let data = bytes
            .get(start..end)
            .ok_or_else(|| PcapError::TruncatedRecord {
                index,
                offset,
                len,
                available: bytes.len().saturating_sub(start),
            })?;
        frames.push(data.to_vec());
        offset = end;
    }
    Ok(frames)
}

/// Reads a u32 at `at` from a slice already checked to hold it.
fn read_u32(b: &[u8], at: usize, swapped: bool) -> u32 {
    let mut a = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        a.copy_from_slice(s);
    }
    let v = u32::from_le_bytes(a);
    if swapped {
        v.swap_bytes()
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample_frames() -> Vec<Vec<u8>> {
        vec![vec![0xab; 60], (0..=255u8).collect(), vec![], vec![1, 2, 3]]
    }

    fn to_bytes(frames: &[Vec<u8>]) -> Vec<u8> {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        for f in frames {
            w.write_frame(f).unwrap();
        }
        w.into_inner().unwrap()
    }

    #[test]
    fn header_layout() {
        let b = to_bytes(&[vec![0x11; 4]]);
        assert_eq!(&b[0..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
        assert_eq!(&b[4..8], &[2, 0, 4, 0]);
        assert_eq!(&b[16..20], &SNAPLEN.to_le_bytes());
        assert_eq!(&b[20..24], &[1, 0, 0, 0]);
        // First record: ts 0.0, incl = orig = 4.
        assert_eq!(
            &b[24..40],
            &[0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 4, 0, 0, 0]
        );
        assert_eq!(&b[40..], &[0x11; 4]);
    }

    #[test]
    fn synthetic_timestamps_advance() {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        w.write_frame_at(&[0], 2_999_999).unwrap();
        w.write_frame(&[0]).unwrap();
        let b = w.into_inner().unwrap();
        let second = 24 + 16 + 1;
        assert_eq!(&b[second..second + 8], &[3, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn round_trip_in_memory() {
        let frames = sample_frames();
        assert_eq!(parse_frames(&to_bytes(&frames)).unwrap(), frames);
    }

    #[test]
    fn round_trip_through_file() {
        let dir = std::env::temp_dir().join(format!("vxgate-pcap-{}", std::process::id()));
        let path = dir.join("sub").join("t.pcap");
        let frames = sample_frames();
        write_frames(&path, &frames).unwrap();
        let back = read_frames(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(back, frames);
    }

    #[test]
    fn missing_file_names_path() {
        let err = read_frames(Path::new("/nonexistent/x.pcap")).unwrap_err();
        assert!(
            err.to_string().starts_with("/nonexistent/x.pcap: "),
            "{err}"
        );
    }

    /// Rewrites a little-endian file as big-endian, with the given magic.
    fn byte_swapped(le: &[u8], magic: u32) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&magic.to_be_bytes());
        out.extend_from_slice(&2u16.to_be_bytes());
        out.extend_from_slice(&4u16.to_be_bytes());
        for at in [8, 12, 16, 20] {
            let v = u32::from_le_bytes(le[at..at + 4].try_into().unwrap());
            out.extend_from_slice(&v.to_be_bytes());
        }
        let mut off = 24;
        while off < le.len() {
            let mut fields = [0u32; 4];
            for (i, f) in fields.iter_mut().enumerate() {
                *f = u32::from_le_bytes(le[off + 4 * i..off + 4 * i + 4].try_into().unwrap());
            }
            for f in fields {
                out.extend_from_slice(&f.to_be_bytes());
            }
            let len = fields[2] as usize;
            out.extend_from_slice(&le[off + 16..off + 16 + len]);
            off += 16 + len;
        }
        out
    }

    #[test]
    fn reads_byte_swapped_and_nanosecond_files() {
        let frames = sample_frames();
        let le = to_bytes(&frames);
        assert_eq!(
            parse_frames(&byte_swapped(&le, MAGIC_MICROS)).unwrap(),
            frames
        );
        assert_eq!(
            parse_frames(&byte_swapped(&le, MAGIC_NANOS)).unwrap(),
            frames
        );
        let mut ns_le = le.clone();
        ns_le[0..4].copy_from_slice(&MAGIC_NANOS.to_le_bytes());
        assert_eq!(parse_frames(&ns_le).unwrap(), frames);
    }

    #[test]
    fn rejects_garbage_with_reasons() {
        assert!(matches!(
            parse_frames(&[0; 10]),
            Err(PcapError::TooShort(10))
        ));
        assert!(matches!(
            parse_frames(&[0; 24]),
            Err(PcapError::BadMagic(0))
        ));
        let mut b = to_bytes(&[vec![1; 10]]);
        b[20] = 101; // LINKTYPE_RAW
        assert!(matches!(parse_frames(&b), Err(PcapError::LinkType(101))));

        let b = to_bytes(&[vec![1; 10]]);
        assert!(matches!(
            parse_frames(&b[..30]),
            Err(PcapError::TruncatedHeader {
                index: 0,
                offset: 24
            })
        ));
        assert!(matches!(
            parse_frames(&b[..b.len() - 1]),
            Err(PcapError::TruncatedRecord {
                index: 0,
                len: 10,
                available: 9,
                ..
            })
        ));
        let mut b = to_bytes(&[vec![1; 10]]);
        b[32..36].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            parse_frames(&b),
            Err(PcapError::RecordTooLong { index: 0, .. })
        ));
    }

    #[test]
    fn refuses_oversized_frame() {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        let err = w.write_frame(&vec![0; SNAPLEN as usize + 1]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_frames(&bytes);
        }

        #[test]
        fn arbitrary_tail_after_valid_header_never_panics(
            tail in proptest::collection::vec(any::<u8>(), 0..512),
            swapped in any::<bool>(),
        ) {
            let mut bytes = to_bytes(&[]);
            if swapped {
                bytes = byte_swapped(&bytes, MAGIC_NANOS);
            }
            bytes.extend_from_slice(&tail);
            let _ = parse_frames(&bytes);
        }

        #[test]
        fn round_trip_arbitrary_frames(
            frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..8)
        ) {
            prop_assert_eq!(parse_frames(&to_bytes(&frames)).unwrap(), frames);
        }
    }
}
