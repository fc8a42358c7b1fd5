//! Wire formats: zero-copy, bounds-checked views over byte buffers.
//!
//! Contract: `new_checked` verifies every length the accessors rely on, so after it succeeds
//! no getter or setter of that view can panic.

/// Why a buffer is not a valid header of the expected kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("buffer too short")]
    Truncated,
    #[error("malformed header")]
    Malformed,
}
