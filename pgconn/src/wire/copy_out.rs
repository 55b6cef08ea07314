//! COPY OUT: the payloads of CopyData messages go to the consumer straight from the
//! read buffer, in pieces that need not match rows (a row larger than the buffer is
//! passed on in parts, so memory stays bounded whatever the row size).

use std::time::Duration;

use postgres_protocol::message::backend;

use super::{PlainConn, ServerError, WireError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CopyFormat {
    Text,
    Binary,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CopyOutcome {
    /// Rows, as the server's `COPY n` command tag reports them.
    pub rows: u64,
    pub format: CopyFormat,
}

/// Reads smaller than this mean the reader is outpacing the server.
const SMALL_READ: usize = 64 * 1024;
/// How long to let data gather after a small read. The server writes in 8 KiB
/// pieces; waking for each costs a context switch on both sides, which on a busy
/// small machine costs about as much CPU as parsing the data. A short pause lets
/// tens of pieces gather (a Unix socket holds ~200 KB, about 1 ms of a fast COPY),
/// so the server never waits on a full socket.
pub(super) const NAP: Duration = Duration::from_micros(400);

impl PlainConn {
    /// Runs `sql`, a `COPY ... TO STDOUT`, passing the data to `sink` as it arrives.
    /// A sink error stops the copy with [`WireError::SinkFailed`]; after any error
    /// other than [`WireError::Server`] the connection is unusable.
    pub fn copy_out(
        &mut self,
        sql: &str,
        sink: &mut dyn FnMut(&[u8]) -> Result<(), ()>,
    ) -> Result<CopyOutcome, WireError> {
        self.send_query(sql)?;
        let mut format = None;
        let mut rows = None;
        let mut failed = None;
        // Bytes of the current CopyData message not yet passed on.
        let mut pending = 0usize;
        let mut last_read = usize::MAX;
        loop {
            if pending > 0 {
                if self.start == self.end {
                    last_read = self.paced_fill(last_read)?;
                }
                let n = pending.min(self.end - self.start);
                sink(&self.buf[self.start..self.start + n]).map_err(|()| WireError::SinkFailed)?;
                self.start += n;
                pending -= n;
                continue;
            }
            // The common case: whole CopyData messages already in the buffer.
            while let Some((from, len)) = self.next_whole_copy_data() {
                sink(&self.buf[from..from + len]).map_err(|()| WireError::SinkFailed)?;
            }
            if self.end - self.start < 5 {
                last_read = self.paced_fill(last_read)?;
                continue;
            }
            let h = self.header()?;
            if h.tag == b'd' {
                if format.is_none() {
                    return Err(WireError::Protocol(
                        "CopyData before CopyOutResponse".into(),
                    ));
                }
                // Larger than what is buffered: pass it on as it comes.
                self.start += 5;
                pending = h.body_len;
                continue;
            }
            // Control messages are small and come at the end: no pause for them.
            last_read = usize::MAX;
            use backend::Message as M;
            let message = self.next_message()?;
            match self.unless_common(message)? {
                Some(M::CopyOutResponse(body)) => {
                    format = Some(match body.format() {
                        0 => CopyFormat::Text,
                        1 => CopyFormat::Binary,
                        _ => return Err(WireError::Protocol("bad CopyOutResponse".into())),
                    })
                }
                Some(M::CommandComplete(body)) => rows = body.tag().ok().and_then(parse_copy_tag),
                Some(M::ErrorResponse(body)) => {
                    failed = Some(ServerError::from_fields(body.fields()))
                }
                Some(M::ReadyForQuery(_)) => {
                    if let Some(e) = failed {
                        return Err(WireError::Server(e));
                    }
                    return match (format, rows) {
                        (Some(format), Some(rows)) => Ok(CopyOutcome { rows, format }),
                        _ => Err(WireError::Protocol(
                            "the statement did not run a COPY TO STDOUT".into(),
                        )),
                    };
                }
                Some(M::CopyInResponse(_)) => {
                    return Err(WireError::Protocol("expected COPY OUT, got COPY IN".into()))
                }
                // CopyDone, and anything a COPY's response may add.
                _ => {}
            }
        }
    }

    /// The body range of a whole CopyData message at `start`, consumed; `None` if
    /// the next message is not one or is incomplete.
    #[inline]
    fn next_whole_copy_data(&mut self) -> Option<(usize, usize)> {
        let b = &self.buf[self.start..self.end];
        if b.len() < 5 || b[0] != b'd' {
            return None;
        }
        let body_len = (u32::from_be_bytes([b[1], b[2], b[3], b[4]]) as usize).checked_sub(4)?;
        if b.len() < 5 + body_len {
            return None;
        }
        let from = self.start + 5;
        self.start = from + body_len;
        Some((from, body_len))
    }

    /// `fill`, after a pause when the previous read was small (see [`NAP`]).
    fn paced_fill(&mut self, last_read: usize) -> Result<usize, WireError> {
        if last_read < SMALL_READ && !self.nap.is_zero() {
            std::thread::sleep(self.nap);
        }
        self.fill()
    }
}

/// The row count of a `COPY n` command tag.
fn parse_copy_tag(tag: &str) -> Option<u64> {
    tag.strip_prefix("COPY ")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::super::tests::{conn_reading, msg};
    use super::*;

    fn copy_response(rows: &[&[u8]]) -> Vec<u8> {
        let mut s = msg(b'H', &[0, 0, 1, 0, 0]);
        for r in rows {
            s.extend(msg(b'd', r));
        }
        s.extend(msg(b'c', b""));
        s.extend(msg(b'C', format!("COPY {}\0", rows.len()).as_bytes()));
        s.extend(msg(b'Z', b"T"));
        s
    }

    #[test]
    fn payloads_arrive_in_order_and_rows_come_from_the_tag() {
        let rows: Vec<Vec<u8>> = (0..1000)
            .map(|i| format!("{i}\trow {i}\n").into_bytes())
            .collect();
        let refs: Vec<&[u8]> = rows.iter().map(|r| r.as_slice()).collect();
        let (mut c, _peer) = conn_reading(&copy_response(&refs));
        let mut got = Vec::new();
        let out = c
            .copy_out("COPY t TO STDOUT", &mut |d| {
                got.extend_from_slice(d);
                Ok(())
            })
            .unwrap();
        assert_eq!(
            out,
            CopyOutcome {
                rows: 1000,
                format: CopyFormat::Text
            }
        );
        assert!(got == rows.concat());
    }

    #[test]
    fn a_row_larger_than_the_buffer_streams_through() {
        let big = vec![b'z'; super::super::READ_BUFFER * 3 + 5];
        let server = copy_response(&[b"a\n", &big, b"b\n"]);
        let (ours, mut theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        let writer = std::thread::spawn(move || {
            std::io::Write::write_all(&mut theirs, &server).map(|_| theirs)
        });
        let mut c = PlainConn::new(super::super::Stream::Unix(ours));
        let mut total = 0usize;
        let mut largest_piece = 0usize;
        let out = c
            .copy_out("COPY t TO STDOUT", &mut |d| {
                total += d.len();
                largest_piece = largest_piece.max(d.len());
                Ok(())
            })
            .unwrap();
        let _keep_open = writer.join().unwrap().unwrap();
        assert_eq!(out.rows, 3);
        assert_eq!(total, big.len() + 4);
        assert!(
            largest_piece <= super::super::READ_BUFFER,
            "{largest_piece}"
        );
        assert_eq!(c.buf.len(), super::super::READ_BUFFER, "the buffer grew");
    }

    #[test]
    fn an_error_mid_copy_is_the_servers_message() {
        let mut server = msg(b'H', &[0, 0, 0]);
        server.extend(msg(b'd', b"1\n"));
        server.extend(msg(
            b'E',
            b"SERROR\0C57014\0Mcanceling statement due to user request\0\0",
        ));
        server.extend(msg(b'Z', b"I"));
        let (mut c, _peer) = conn_reading(&server);
        match c.copy_out("COPY t TO STDOUT", &mut |_| Ok(())) {
            Err(WireError::Server(e)) => assert_eq!(e.code, "57014"),
            other => panic!("expected the server's error, got {other:?}"),
        }
    }

    #[test]
    fn a_failing_sink_stops_the_copy() {
        let (mut c, _peer) = conn_reading(&copy_response(&[b"1\n", b"2\n"]));
        let r = c.copy_out("COPY t TO STDOUT", &mut |_| Err(()));
        assert!(matches!(r, Err(WireError::SinkFailed)));
    }

    #[test]
    fn copy_tags_parse() {
        assert_eq!(parse_copy_tag("COPY 42"), Some(42));
        assert_eq!(parse_copy_tag("COPY 0"), Some(0));
        assert_eq!(parse_copy_tag("SELECT 1"), None);
    }
}
