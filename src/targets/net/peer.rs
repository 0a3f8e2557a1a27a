//! Where a network target's connections go, and the socket they go over: a TCP address, or
//! the path of a Unix domain socket (`unix_socket`, `--unix-socket`, `http+unix://...`).
//!
//! Every stream protocol (HTTP plain and TLS, TCP, Redis, memcached) runs over a [`Stream`]
//! of either kind; only TCP's own options (Nagle off) are TCP's. A target's address that
//! starts with `/` is a Unix socket's path; anything else is `host:port`, resolved once when
//! the run starts.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::path::PathBuf;

use mio::event::Source;
use mio::net::{TcpStream, UnixStream};
use mio::{Interest, Registry, Token};

use super::resolve;

/// A target's connection endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Peer {
    /// A TCP address.
    Inet(SocketAddr),
    /// A Unix domain socket's path.
    Unix(PathBuf),
}

impl Peer {
    /// `address` as configured: a path starting with `/` is a Unix socket's, anything else
    /// `host:port`, resolved to its first address.
    pub fn resolve(address: &str) -> Result<Peer, String> {
        if is_unix_path(address) {
            return Ok(Peer::Unix(PathBuf::from(address)));
        }
        resolve(address).map(Peer::Inet)
    }
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Peer::Inet(addr) => write!(f, "{addr}"),
            Peer::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// Whether a target's address names a Unix socket (an absolute path).
pub fn is_unix_path(address: &str) -> bool {
    address.starts_with('/')
}

/// A Unix socket's path as a target names it: absolute, without control characters.
pub fn unix_path(path: &str) -> Result<String, String> {
    if !path.starts_with('/') || path.len() < 2 || path.chars().any(char::is_control) {
        return Err(format!(
            "`{path}` is not a Unix socket's path: an absolute path, e.g. /run/app.sock"
        ));
    }
    Ok(path.to_string())
}

/// A connection's socket: TCP or a Unix domain socket, non-blocking, registered with a poll.
#[derive(Debug)]
pub enum Stream {
    /// Over TCP.
    Tcp(TcpStream),
    /// Over a Unix domain socket.
    Unix(UnixStream),
}

/// Calls the same method on whichever socket `$stream` holds.
macro_rules! either {
    ($stream:expr, $s:ident => $call:expr) => {
        match $stream {
            Stream::Tcp($s) => $call,
            Stream::Unix($s) => $call,
        }
    };
}

impl Stream {
    /// Starts a non-blocking connect to `peer`.
    pub fn connect(peer: &Peer) -> io::Result<Stream> {
        match peer {
            Peer::Inet(addr) => TcpStream::connect(*addr).map(Stream::Tcp),
            Peer::Unix(path) => UnixStream::connect(path).map(Stream::Unix),
        }
    }

    /// The socket's pending error (SO_ERROR), taken.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        either!(self, s => s.take_error())
    }

    /// Whether the connect has completed: `Ok(false)` while it is under way.
    pub fn connected(&self) -> io::Result<bool> {
        let peer = either!(self, s => s.peer_addr().map(drop));
        match peer {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Sends each write at once (TCP_NODELAY); a Unix socket has no Nagle to turn off.
    pub fn set_nodelay(&self) {
        if let Stream::Tcp(s) = self {
            let _ = s.set_nodelay(true);
        }
    }
}

impl Read for Stream {
    #[inline]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        either!(self, s => s.read(buf))
    }
}

impl Write for Stream {
    #[inline]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        either!(self, s => s.write(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        either!(self, s => s.flush())
    }
}

impl AsRawFd for Stream {
    fn as_raw_fd(&self) -> RawFd {
        either!(self, s => s.as_raw_fd())
    }
}

impl Source for Stream {
    fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        either!(self, s => s.register(registry, token, interests))
    }

    fn reregister(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        either!(self, s => s.reregister(registry, token, interests))
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        either!(self, s => s.deregister(registry))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_is_a_unix_socket_and_anything_else_an_address() {
        assert_eq!(
            Peer::resolve("/run/app.sock").unwrap(),
            Peer::Unix("/run/app.sock".into())
        );
        assert_eq!(
            Peer::resolve("127.0.0.1:6379").unwrap(),
            Peer::Inet("127.0.0.1:6379".parse().unwrap())
        );
        assert_eq!(Peer::Unix("/a.sock".into()).to_string(), "unix:/a.sock");
    }

    /// Over a Unix socket pair made by a listener: connect, write, read, as over TCP.
    #[test]
    fn a_unix_stream_connects_writes_and_reads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let mut stream = Stream::connect(&Peer::Unix(path)).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        assert!(stream.connected().unwrap());
        assert!(stream.take_error().unwrap().is_none());
        stream.write_all(b"ping").unwrap();
        let mut got = [0u8; 4];
        server.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"ping");
        server.write_all(b"pong").unwrap();
        let mut back = [0u8; 4];
        let mut n = 0;
        while n < 4 {
            match stream.read(&mut back[n..]) {
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::yield_now(),
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(&back, b"pong");
    }
}
