//! Configuration: TOML read with serde, then `validate()`.
