//! Interrupting a connection in use (CMAP: a pool clear with `interruptInUseConnections`):
//! from outside the task that runs its command, and without slowing that command down.
//!
//! The connection's socket is duplicated once, when it opens; interrupting shuts the socket
//! down through the duplicate, which wakes the command's pending read or write with an
//! end-of-stream or a broken pipe (TLS included: it runs over that socket). The flag tells the
//! command's error apart from a network failure, so that it fails with the retryable
//! [`ErrorKind::PoolCleared`](crate::error::ErrorKind::PoolCleared) the specification asks for.

use std::sync::atomic::{AtomicBool, Ordering};

/// The handle that interrupts one connection.
#[derive(Debug, Default)]
pub(crate) struct Interrupter {
    interrupted: AtomicBool,
    socket: Option<Socket>,
}

/// A duplicate of a connection's socket (the same socket, another descriptor).
#[derive(Debug)]
enum Socket {
    Tcp(std::net::TcpStream),
    #[cfg(unix)]
    Unix(std::os::unix::net::UnixStream),
}

impl Interrupter {
    /// The interrupter of a TCP connection (`None` if the socket cannot be duplicated: the
    /// connection then finishes its command and is closed when it comes back).
    pub(crate) fn tcp(stream: &tokio::net::TcpStream) -> Option<Self> {
        #[cfg(unix)]
        let copy = {
            use std::os::fd::AsFd;
            stream.as_fd().try_clone_to_owned()
        };
        #[cfg(windows)]
        let copy = {
            use std::os::windows::io::AsSocket;
            stream.as_socket().try_clone_to_owned()
        };
        #[cfg(any(unix, windows))]
        return copy.ok().map(|fd| Self {
            interrupted: AtomicBool::new(false),
            socket: Some(Socket::Tcp(std::net::TcpStream::from(fd))),
        });
        #[cfg(not(any(unix, windows)))]
        return None;
    }

    /// The interrupter of a Unix domain socket connection.
    #[cfg(unix)]
    pub(crate) fn unix(stream: &tokio::net::UnixStream) -> Option<Self> {
        use std::os::fd::AsFd;
        let fd = stream.as_fd().try_clone_to_owned().ok()?;
        Some(Self {
            interrupted: AtomicBool::new(false),
            socket: Some(Socket::Unix(std::os::unix::net::UnixStream::from(fd))),
        })
    }

    /// Interrupts the connection: whatever it is doing fails now, and so does anything it is
    /// asked to do later.
    pub(crate) fn interrupt(&self) {
        self.interrupted.store(true, Ordering::Release);
        // An error means the socket is closed already: nothing left to interrupt.
        let _ = match &self.socket {
            Some(Socket::Tcp(s)) => s.shutdown(std::net::Shutdown::Both),
            #[cfg(unix)]
            Some(Socket::Unix(s)) => s.shutdown(std::net::Shutdown::Both),
            None => Ok(()),
        };
    }

    /// True once [`Interrupter::interrupt`] was called.
    pub(crate) fn is_interrupted(&self) -> bool {
        self.interrupted.load(Ordering::Acquire)
    }
}
