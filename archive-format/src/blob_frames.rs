//! The data files of large objects: a stream of frames, each
//! `oid (u32, big-endian) | length (u32, big-endian) | length bytes`.
//!
//! A large object is one or more consecutive frames holding its bytes in order (an empty
//! one is a single frame of length 0), so both sides stream objects of any size in
//! bounded memory. Written by rdump, read by rrestore; the data file layer around it
//! compresses and checksums as for table data.

use std::io::{self, Read};

/// Largest frame payload a writer produces and a reader accepts.
pub const MAX_FRAME_BYTES: usize = 1024 * 1024;

pub const HEADER_BYTES: usize = 8;

/// The header of a frame carrying `len` bytes of object `oid`.
pub fn frame_header(oid: u32, len: u32) -> [u8; HEADER_BYTES] {
    let mut h = [0u8; HEADER_BYTES];
    h[..4].copy_from_slice(&oid.to_be_bytes());
    h[4..].copy_from_slice(&len.to_be_bytes());
    h
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub oid: u32,
    pub data: Vec<u8>,
}

/// Reads the next frame; `None` at a clean end of stream (between frames). A stream
/// that ends inside a frame, or a frame longer than [`MAX_FRAME_BYTES`], is an
/// `InvalidData` error.
pub fn read_frame<R: Read>(r: &mut R) -> io::Result<Option<Frame>> {
    let mut header = [0u8; HEADER_BYTES];
    let mut filled = 0;
    while filled < HEADER_BYTES {
        match r.read(&mut header[filled..]) {
            Ok(0) if filled == 0 => return Ok(None),
            Ok(0) => return Err(invalid("large object data ends inside a frame header")),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    let oid = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
    if len > MAX_FRAME_BYTES {
        return Err(invalid(&format!(
            "large object {oid}: frame of {len} bytes exceeds the {MAX_FRAME_BYTES}-byte limit"
        )));
    }
    let mut data = vec![0u8; len];
    r.read_exact(&mut data).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            invalid(&format!("large object {oid}: data ends inside a frame"))
        } else {
            e
        }
    })?;
    Ok(Some(Frame { oid, data }))
}

fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(frames: &[(u32, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (oid, data) in frames {
            out.extend_from_slice(&frame_header(*oid, data.len() as u32));
            out.extend_from_slice(data);
        }
        out
    }

    #[test]
    fn frames_read_back_in_order_then_end() {
        let bytes = encode(&[(7, b"abc"), (7, b""), (4_000_000_000, b"x")]);
        let mut r = bytes.as_slice();
        assert_eq!(
            read_frame(&mut r).unwrap(),
            Some(Frame {
                oid: 7,
                data: b"abc".to_vec()
            })
        );
        assert_eq!(read_frame(&mut r).unwrap().unwrap().data, b"");
        assert_eq!(read_frame(&mut r).unwrap().unwrap().oid, 4_000_000_000);
        assert_eq!(read_frame(&mut r).unwrap(), None);
    }

    #[test]
    fn truncation_anywhere_inside_a_frame_is_an_error() {
        let bytes = encode(&[(1, b"hello")]);
        for cut in 1..bytes.len() {
            let mut r = &bytes[..cut];
            let err = read_frame(&mut r).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData, "cut at {cut}");
        }
    }

    #[test]
    fn oversized_frame_is_refused_before_allocating() {
        let mut bytes = frame_header(1, (MAX_FRAME_BYTES + 1) as u32).to_vec();
        bytes.extend_from_slice(b"xx");
        let err = read_frame(&mut bytes.as_slice()).unwrap_err();
        assert!(err.to_string().contains("exceeds"), "{err}");
    }
}
