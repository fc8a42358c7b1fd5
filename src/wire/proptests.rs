//! Property tests for the wire formats.
