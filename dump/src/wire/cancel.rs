//! CancelRequest for plain connections: a new connection to the same address carrying
//! the backend's process id and secret key (protocol documentation, "Canceling Requests
//! in Progress"). The server answers nothing and closes it.

use std::io::Write;
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use pgconn::PlainAddress;

const CANCEL_REQUEST_CODE: u32 = 80_877_102;

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
        let mut packet = 16u32.to_be_bytes().to_vec();
        packet.extend_from_slice(&CANCEL_REQUEST_CODE.to_be_bytes());
        packet.extend_from_slice(&self.pid.to_be_bytes());
        packet.extend_from_slice(&self.key.to_be_bytes());
        match &self.address {
            PlainAddress::Socket(path) => UnixStream::connect(path)?.write_all(&packet),
            PlainAddress::Tcp(addr) => {
                TcpStream::connect_timeout(addr, Duration::from_secs(5))?.write_all(&packet)
            }
        }
    }
}

/// Parses a BackendKeyData body (process id, secret key).
pub(super) fn parse_key(body: &[u8]) -> Option<(u32, u32)> {
    let pid = u32::from_be_bytes(body.get(0..4)?.try_into().ok()?);
    let key = u32::from_be_bytes(body.get(4..8)?.try_into().ok()?);
    Some((pid, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_carries_pid_and_key() {
        let dir = std::env::temp_dir().join(format!("rdump-cancel-{}", std::process::id()));
        let _ = std::fs::remove_file(&dir);
        let listener = std::os::unix::net::UnixListener::bind(&dir).unwrap();
        let cancel = PlainCancel {
            address: PlainAddress::Socket(dir.clone()),
            pid: 4242,
            key: 0xdead_beef,
        };
        cancel.send().unwrap();
        let (mut peer, _) = listener.accept().unwrap();
        let mut got = Vec::new();
        std::io::Read::read_to_end(&mut peer, &mut got).unwrap();
        let _ = std::fs::remove_file(&dir);
        assert_eq!(got.len(), 16);
        assert_eq!(&got[4..8], &CANCEL_REQUEST_CODE.to_be_bytes());
        assert_eq!(parse_key(&got[8..]), Some((4242, 0xdead_beef)));
    }
}
