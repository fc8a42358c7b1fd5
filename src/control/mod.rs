//! The control socket (server side) and the CLI's client side.
