//! Test traffic built to match a Config.
