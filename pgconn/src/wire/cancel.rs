//! CancelRequest for plain connections: a new connection to the same address carrying
//! the backend's process id and secret key (protocol documentation, "Canceling Requests
//! in Progress"). The server answers nothing and closes it.

use std::io::Write;
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use bytes::BytesMut;
use postgres_protocol::message::frontend;

use super::PlainAddress;

/// What cancels the running statement of one plain connection.
#[derive(Clone, Debug)]
pub struct PlainCancel {
    pub(super) address: PlainAddress,
    pub(super) pid: u32,
    pub(super) key: u32,
}

impl PlainCancel {
    /// Sends the request; success means it was delivered, not that anything stopped.
    pub fn send(&self) -> std::io::Result<()> {
        let mut packet = BytesMut::new();
        // The protocol's Int32s, as the server sent them in BackendKeyData.
        frontend::cancel_request(self.pid as i32, self.key as i32, &mut packet);
        match &self.address {
            PlainAddress::Socket(path) => UnixStream::connect(path)?.write_all(&packet),
            PlainAddress::Tcp(addr) => {
                TcpStream::connect_timeout(addr, Duration::from_secs(5))?.write_all(&packet)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_carries_pid_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join(".s.PGSQL.5432");
        let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let cancel = PlainCancel {
            address: PlainAddress::Socket(socket),
            pid: 4242,
            key: 0xdead_beef,
        };
        cancel.send().unwrap();
        let (mut peer, _) = listener.accept().unwrap();
        let mut got = Vec::new();
        std::io::Read::read_to_end(&mut peer, &mut got).unwrap();
        assert_eq!(got.len(), 16);
        // CancelRequest code (1234 << 16 | 5678), then process id and key.
        assert_eq!(&got[4..8], &80_877_102u32.to_be_bytes());
        assert_eq!(&got[8..12], &4242u32.to_be_bytes());
        assert_eq!(&got[12..16], &0xdead_beefu32.to_be_bytes());
    }
}
