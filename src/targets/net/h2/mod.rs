//! HTTP/2 (RFC 9113) on the network pool: frames ([`frame`]), one connection's protocol
//! without I/O ([`conn`]), HPACK from the `loona-hpack` crate.

pub mod conn;
pub mod frame;
pub mod hpack;
pub mod pool;

pub use conn::{H2Conn, Sink, StreamEnd};
pub use pool::H2Pool;
