//! Warm restart: what the gateway learned, saved on a clean stop and read back at start, so an
//! upgrade restart does not begin with an empty FDB and a flood storm.
//!
//! # Contract
//! - Saved: learned FDB entries with their age, and resolved (not static) neighbours. Static
//!   entries come from the configuration, remote ones from the fleet's store, local ones from
//!   the access side: none of them is saved.
//! - Restored entries keep their age: the time the gateway was down counts, and an entry whose
//!   ageing time passed meanwhile is dropped. They go through the same limits as learning.
//! - The file is JSON, written to a temporary file in the same directory and renamed over the
//!   old one (a crash mid-write leaves the previous state), mode 0600. A missing file is an
//!   empty state; an unreadable one is an error the caller reports and starts without.

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::types::{MacAddr, Vni};

/// The format version written; a file of another version is refused.
pub const STATE_VERSION: u32 = 1;

/// One learned entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedEntry {
    pub vni: Vni,
    pub mac: MacAddr,
    pub remote: IpAddr,
    /// Seconds since the entry was last refreshed, when saved.
    pub age_secs: u64,
}

/// One resolved neighbour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedNeighbor {
    pub ip: IpAddr,
    pub mac: MacAddr,
}

/// The state file's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedState {
    pub version: u32,
    /// Unix seconds at saving, to age the entries by the downtime.
    pub saved_unix: u64,
    pub fdb: Vec<SavedEntry>,
    pub neighbors: Vec<SavedNeighbor>,
}

/// Why a state file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path}: not a vxgate state file: {error}")]
    Format {
        path: PathBuf,
        error: serde_json::Error,
    },
    #[error("{path}: state version {found}, this vxgate reads version {STATE_VERSION}")]
    Version { path: PathBuf, found: u32 },
}

/// Unix seconds now.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Writes `state` to `path` atomically (temporary file, then rename), mode 0600.
pub fn save(path: &Path, state: &SavedState) -> Result<(), StateError> {
    let io = |error| StateError::Io {
        path: path.to_path_buf(),
        error,
    };
    let tmp = path.with_extension("tmp");
    let json = serde_json::to_vec(state).map_err(|error| StateError::Format {
        path: path.to_path_buf(),
        error,
    })?;
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io)?;
        f.write_all(&json).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    std::fs::rename(&tmp, path).map_err(io)
}

/// Reads the state at `path`; `None` when there is none.
pub fn load(path: &Path) -> Result<Option<SavedState>, StateError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(StateError::Io {
                path: path.to_path_buf(),
                error,
            })
        }
    };
    let state: SavedState = serde_json::from_slice(&bytes).map_err(|error| StateError::Format {
        path: path.to_path_buf(),
        error,
    })?;
    if state.version != STATE_VERSION {
        return Err(StateError::Version {
            path: path.to_path_buf(),
            found: state.version,
        });
    }
    Ok(Some(state))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_atomically_and_loads_back() {
        let dir = std::env::temp_dir().join(format!("vxgate-state-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.json");
        assert!(load(&path).unwrap().is_none(), "no file: empty state");
        let s = SavedState {
            version: STATE_VERSION,
            saved_unix: 1_700_000_000,
            fdb: vec![SavedEntry {
                vni: Vni::new(5000).unwrap(),
                mac: MacAddr([2, 0, 0, 0, 0, 9]),
                remote: "fd00::2".parse().unwrap(),
                age_secs: 12,
            }],
            neighbors: vec![SavedNeighbor {
                ip: "192.0.2.2".parse().unwrap(),
                mac: MacAddr([2, 0, 0, 0, 0, 2]),
            }],
        };
        save(&path, &s).unwrap();
        assert_eq!(load(&path).unwrap(), Some(s.clone()));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(!path.with_extension("tmp").exists());
        std::fs::write(
            &path,
            b"{\"version\":9,\"saved_unix\":0,\"fdb\":[],\"neighbors\":[]}",
        )
        .unwrap();
        assert!(matches!(
            load(&path),
            Err(StateError::Version { found: 9, .. })
        ));
        std::fs::write(&path, b"garbage").unwrap();
        assert!(matches!(load(&path), Err(StateError::Format { .. })));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
