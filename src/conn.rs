//! Connections: establishing one (TCP or Unix socket, then TLS, then the `hello` handshake and
//! authentication) and running commands on it.
//!
//! This layer works on [`BoxStream`](crate::tls::BoxStream) and `Arc<dyn TlsBackend>` only; it
//! never names a TLS backend.

mod connection;
mod establish;
pub(crate) mod faas;
pub(crate) mod handshake;
mod interrupt;
#[cfg(test)]
pub(crate) mod tests;

#[cfg(feature = "fuzzing")]
pub(crate) use connection::check_ok;
pub(crate) use connection::{to_document, Connection, IoLimit};
pub(crate) use establish::{
    establish, establish_with_step, refused_after_closes, EstablishError, EstablishOptions,
    EstablishStep, DEFAULT_CONNECT_TIMEOUT,
};
#[allow(unused_imports)]
pub(crate) use handshake::HelloReply;
pub(crate) use interrupt::Interrupter;
