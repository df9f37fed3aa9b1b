//! The stream handed to the connection layer.
//!
//! With TLS 1.3 the client finishes its handshake before the server has checked the client
//! certificate: a server that refuses it (or wanted one and got none) sends its alert after
//! `connect` returned, and the client sees it on its first read or write. Until the first byte
//! is read, such an alert is turned into the [`ErrorKind::TlsHandshake`] error it really is
//! (inside the `io::Error`; `From<io::Error> for Error` takes it out again).

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::error::{Error, ErrorKind};
use crate::tls::BoxStream;

pub(super) struct OpenSslStream {
    inner: tokio_openssl::SslStream<BoxStream>,
    host: String,
    client_subject: Option<String>,
    /// Set once the server has sent application data: its verdict is in.
    confirmed: bool,
}

impl OpenSslStream {
    pub(super) fn new(
        inner: tokio_openssl::SslStream<BoxStream>,
        host: &str,
        client_subject: Option<String>,
    ) -> Self {
        Self {
            inner,
            host: host.to_owned(),
            client_subject,
            confirmed: false,
        }
    }

    fn map_error(&self, e: io::Error) -> io::Error {
        if self.confirmed {
            return e;
        }
        let reason = match e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<::openssl::ssl::Error>())
        {
            Some(ssl_error) => ssl_error
                .ssl_error()
                .and_then(|stack| stack.errors().iter().find_map(|err| err.reason()))
                .and_then(|reason| super::describe_alert(reason, self.client_subject.as_deref())),
            None => None,
        };
        match reason {
            Some(reason) => io::Error::new(
                e.kind(),
                Error::new(ErrorKind::TlsHandshake {
                    address: self.host.clone(),
                    backend: super::NAME.to_string(),
                    reason,
                }),
            ),
            None => e,
        }
    }
}

impl fmt::Debug for OpenSslStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenSslStream")
            .field("host", &self.host)
            .field("version", &self.inner.ssl().version_str())
            .finish_non_exhaustive()
    }
}

impl AsyncRead for OpenSslStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    self.confirmed = true;
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(self.map_error(e))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncWrite for OpenSslStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(self.map_error(e))),
            other => other,
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_flush(cx) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(self.map_error(e))),
            other => other,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
