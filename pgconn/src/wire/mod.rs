//! A minimal, blocking PostgreSQL protocol client for bulk `COPY ... TO STDOUT`.
//!
//! Why: the server sends one CopyData message per row. tokio-postgres turns each into
//! a parsed message and a reference-counted buffer, passed between tasks; at a few
//! million rows that costs the client more CPU than the server spends producing them,
//! and on a small machine the two compete for the same cores. Here a worker thread
//! reads the socket into one large buffer and hands the payloads straight from it to
//! the consumer: no per-row allocation, no task switches. That CopyData path is the
//! only protocol code of our own: every other message is built and parsed by
//! `postgres-protocol`, as tokio-postgres does.
//!
//! It does only what a data worker needs: plain connections (Unix sockets, TCP
//! without TLS; see [`PlainEndpoint`]), trust / password / md5 / SCRAM-SHA-256
//! authentication, simple queries and COPY OUT. Anything else is
//! [`WireError::Unsupported`], and the caller uses tokio-postgres instead.

mod cancel;
mod copy_out;
mod endpoints;
mod error;
mod startup;

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;

use bytes::BytesMut;
use postgres_protocol::message::{backend, frontend};

pub use cancel::PlainCancel;
pub use copy_out::{CopyFormat, CopyOutcome};
pub use endpoints::{PlainAddress, PlainEndpoint};
pub use error::{ServerError, WireError};

/// The read buffer: large enough that one read can take everything the kernel has
/// queued, so a busy stream costs few system calls.
const READ_BUFFER: usize = 1024 * 1024;

enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.read(buf),
            Stream::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.write(buf),
            Stream::Tcp(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// One message header: type byte and body length.
#[derive(Clone, Copy, Debug)]
struct Header {
    tag: u8,
    body_len: usize,
}

/// An authenticated connection, idle between commands.
pub struct PlainConn {
    stream: Stream,
    buf: Vec<u8>,
    /// Unconsumed bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    /// BackendKeyData: process id and secret key.
    backend_key: Option<(u32, u32)>,
    cancel: Option<PlainCancel>,
    /// The pause after a small read during COPY (see `copy_out::NAP`).
    nap: std::time::Duration,
}

impl PlainConn {
    fn new(stream: Stream) -> PlainConn {
        PlainConn {
            stream,
            buf: vec![0; READ_BUFFER],
            start: 0,
            end: 0,
            backend_key: None,
            cancel: None,
            nap: copy_out::NAP,
        }
    }

    /// Changes the pause after a small read during COPY OUT (zero: none), for measuring
    /// what it buys (`bench/copy-client.sh`).
    pub fn set_copy_nap(&mut self, nap: std::time::Duration) {
        self.nap = nap;
    }

    /// What cancels this connection's running statement (if the server sent its key).
    pub fn canceller(&self) -> Option<PlainCancel> {
        self.cancel.clone()
    }

    fn available(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Reads more bytes from the socket, making room first. Returns the count read.
    fn fill(&mut self) -> Result<usize, WireError> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.buf.len() - self.end < READ_BUFFER / 4 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            let bigger = self.buf.len() * 2;
            self.buf.resize(bigger, 0);
        }
        loop {
            match self.stream.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    return Err(WireError::Io(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the server closed the connection unexpectedly",
                    )))
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The header of the next message, reading until its five bytes are in.
    fn header(&mut self) -> Result<Header, WireError> {
        while self.end - self.start < 5 {
            self.fill()?;
        }
        let b = self.available();
        let len = u32::from_be_bytes([b[1], b[2], b[3], b[4]]) as usize;
        if len < 4 {
            return Err(WireError::Protocol(format!(
                "message length {len} is too small"
            )));
        }
        Ok(Header {
            tag: b[0],
            body_len: len - 4,
        })
    }

    /// Makes the whole message at `start` available (growing the buffer for large
    /// ones) and returns its header; [`PlainConn::next_message`] consumes it.
    fn whole_message(&mut self) -> Result<Header, WireError> {
        let h = self.header()?;
        let need = 5 + h.body_len;
        if self.buf.len() - self.start < need {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if self.buf.len() < need {
                self.buf.resize(need, 0);
            }
        }
        while self.end - self.start < need {
            self.fill()?;
        }
        Ok(h)
    }

    fn send(&mut self, msg: &[u8]) -> Result<(), WireError> {
        self.stream.write_all(msg)?;
        Ok(())
    }

    /// Builds a message with one of `postgres_protocol::message::frontend`'s builders
    /// and sends it. A builder fails only on what it cannot encode (a zero byte in a
    /// string): something this client cannot send.
    fn send_built(
        &mut self,
        build: impl FnOnce(&mut BytesMut) -> io::Result<()>,
    ) -> Result<(), WireError> {
        let mut msg = BytesMut::new();
        build(&mut msg).map_err(|e| WireError::Unsupported(e.to_string()))?;
        self.send(&msg)
    }

    fn send_query(&mut self, sql: &str) -> Result<(), WireError> {
        self.send_built(|buf| frontend::query(sql, buf))
    }

    /// The next whole message, parsed by `postgres-protocol`: for everything but the
    /// CopyData stream, which [`PlainConn::copy_out`] reads in place.
    fn next_message(&mut self) -> Result<backend::Message, WireError> {
        let h = self.whole_message()?;
        let end = self.start + 5 + h.body_len;
        let mut raw = BytesMut::from(&self.buf[self.start..end]);
        self.start = end;
        match backend::Message::parse(&mut raw) {
            Ok(Some(message)) => Ok(message),
            Ok(None) => Err(WireError::Protocol("incomplete message".into())),
            Err(e) => Err(WireError::Protocol(e.to_string())),
        }
    }

    /// Handles the messages any response may carry; gives back any other.
    fn unless_common(
        &mut self,
        message: backend::Message,
    ) -> Result<Option<backend::Message>, WireError> {
        match message {
            // Passed to the log, as pgconn does for its connections.
            backend::Message::NoticeResponse(body) => {
                let notice = ServerError::from_fields(body.fields());
                tracing::info!("{}:  {}", notice.severity, notice.message);
                Ok(None)
            }
            backend::Message::ParameterStatus(_) | backend::Message::NotificationResponse(_) => {
                Ok(None)
            }
            other => Ok(Some(other)),
        }
    }

    /// Runs one or more statements with the simple protocol, discarding any rows.
    pub fn execute(&mut self, sql: &str) -> Result<(), WireError> {
        use backend::Message as M;
        self.send_query(sql)?;
        let mut failed = None;
        loop {
            let message = self.next_message()?;
            match self.unless_common(message)? {
                Some(M::ErrorResponse(body)) => {
                    failed = Some(ServerError::from_fields(body.fields()))
                }
                Some(M::ReadyForQuery(_)) => {
                    return match failed {
                        Some(e) => Err(WireError::Server(e)),
                        None => Ok(()),
                    }
                }
                // A COPY in a batch cannot be served here.
                Some(M::CopyInResponse(_) | M::CopyOutResponse(_)) => {
                    return Err(WireError::Protocol(
                        "unexpected COPY in a simple query".into(),
                    ))
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connection over one end of a socket pair whose other end holds `server_bytes`.
    pub(super) fn conn_reading(server_bytes: &[u8]) -> (PlainConn, UnixStream) {
        let (ours, mut theirs) = UnixStream::pair().unwrap();
        theirs.write_all(server_bytes).unwrap();
        (PlainConn::new(Stream::Unix(ours)), theirs)
    }

    pub(super) fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![tag];
        m.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
        m.extend_from_slice(body);
        m
    }

    #[test]
    fn execute_reports_the_server_error_after_ready_for_query() {
        let mut server = msg(b'E', b"SERROR\0C22023\0Mbad snapshot\0\0");
        server.extend(msg(b'Z', b"I"));
        let (mut c, _peer) = conn_reading(&server);
        match c.execute("SET TRANSACTION SNAPSHOT 'x'") {
            Err(WireError::Server(e)) => assert_eq!(e.message, "bad snapshot"),
            other => panic!("expected a server error, got {other:?}"),
        }
    }

    #[test]
    fn a_message_larger_than_the_buffer_is_read_whole() {
        let big = vec![b'x'; READ_BUFFER * 2 + 17];
        let mut server = msg(b'N', &big);
        server.extend(msg(b'C', b"SET\0"));
        server.extend(msg(b'Z', b"I"));
        let (ours, mut theirs) = UnixStream::pair().unwrap();
        let writer = std::thread::spawn(move || theirs.write_all(&server).map(|_| theirs));
        let mut c = PlainConn::new(Stream::Unix(ours));
        c.execute("SET x = 1").unwrap();
        let _keep_open = writer.join().unwrap().unwrap();
    }

    #[test]
    fn a_closed_connection_is_an_io_error() {
        let (mut c, peer) = conn_reading(&msg(b'C', b"SET\0"));
        drop(peer);
        assert!(matches!(c.execute("SET x = 1"), Err(WireError::Io(_))));
    }
}
