//! Bounded fuzzing of every reader that takes bytes from disk: `toc.json`, the codec
//! decoders and the large-object frame reader. Arbitrary bytes and mutations of valid
//! documents and streams must end in `Ok` or `Err`, never a panic, a hang or an unbounded
//! allocation; a `toc.json` that parses must satisfy the checks rrestore relies on.

use std::collections::HashSet;
use std::io::{self, Read, Write};
use std::path::Path;

use archive_format::blob_frames::{frame_header, read_frame, MAX_FRAME_BYTES};
use archive_format::codec::Method;
use archive_format::toc::{is_safe_relative_path, FormatVersion};
use archive_format::{open_verified, ChecksumAlgo, Codec, FileRecord, Toc};
use proptest::prelude::*;
use proptest::sample::Index;

use archive_format::test_util::{replace_somewhere, sample_toc};

/// More decoded bytes than any input here can honestly produce: a decoder that gets
/// this far from a few kilobytes is looping.
const OUTPUT_LIMIT: u64 = 64 << 20;

fn sample_json() -> Vec<u8> {
    serde_json::to_vec(&sample_toc()).unwrap()
}

/// What rrestore relies on once `Toc::from_json` said yes.
fn assert_checked(toc: &Toc) {
    let ids: HashSet<u32> = toc.entries.iter().map(|e| e.id).collect();
    assert_eq!(ids.len(), toc.entries.len(), "duplicate ids accepted");
    let mut paths = HashSet::new();
    for e in &toc.entries {
        let attached = e.attach.iter().flat_map(|a| [a.parent, a.child]);
        for d in e.deps.iter().chain(e.table.iter()).copied().chain(attached) {
            assert!(ids.contains(&d), "dangling reference {d} accepted");
        }
        for f in e.data.iter().flat_map(|d| &d.files) {
            assert!(
                is_safe_relative_path(&f.file.path),
                "escaping path {:?} accepted",
                f.file.path
            );
            assert!(
                paths.insert(f.file.path.clone()),
                "file {:?} listed twice accepted",
                f.file.path
            );
        }
    }
    assert_eq!(toc.header.format.major, FormatVersion::CURRENT.major);
}

fn parse_toc(bytes: &[u8]) -> Result<Toc, archive_format::Error> {
    let result = Toc::from_json(Path::new("archive/toc.json"), bytes);
    match &result {
        Ok(toc) => assert_checked(toc),
        Err(e) => {
            let text = e.to_string();
            assert!(
                text.contains("toc.json"),
                "error does not name the file: {text}"
            );
            assert!(!text.contains('\n'), "error is not one line: {text}");
        }
    }
    result
}

#[derive(Clone, Debug)]
enum ByteMutation {
    Flip(Index, u8),
    Set(Index, u8),
    Truncate(Index),
    Insert(Index, Vec<u8>),
    Remove(Index, Index),
}

fn byte_mutation() -> impl Strategy<Value = ByteMutation> {
    prop_oneof![
        (any::<Index>(), 1u8..=255).prop_map(|(i, x)| ByteMutation::Flip(i, x)),
        (any::<Index>(), any::<u8>()).prop_map(|(i, x)| ByteMutation::Set(i, x)),
        any::<Index>().prop_map(ByteMutation::Truncate),
        (any::<Index>(), prop::collection::vec(any::<u8>(), 1..32))
            .prop_map(|(i, v)| ByteMutation::Insert(i, v)),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| ByteMutation::Remove(a, b)),
    ]
}

fn mutate(bytes: &[u8], m: &ByteMutation) -> Vec<u8> {
    let mut out = bytes.to_vec();
    if out.is_empty() {
        if let ByteMutation::Insert(_, v) = m {
            return v.clone();
        }
        return out;
    }
    match m {
        ByteMutation::Flip(i, x) => out[i.index(bytes.len())] ^= x,
        ByteMutation::Set(i, x) => out[i.index(bytes.len())] = *x,
        ByteMutation::Truncate(i) => out.truncate(i.index(bytes.len())),
        ByteMutation::Insert(i, v) => {
            let at = i.index(bytes.len() + 1);
            out.splice(at..at, v.iter().copied());
        }
        ByteMutation::Remove(a, b) => {
            let (a, b) = (a.index(bytes.len()), b.index(bytes.len()));
            out.drain(a.min(b)..=a.max(b));
        }
    }
    out
}

/// A JSON value chosen to upset a typed reader: wrong types, huge and negative
/// numbers, escaping paths, deep nesting.
fn hostile_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::{json, Value};
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        prop_oneof![
            Just("../../etc/passwd".to_string()),
            Just("/etc/passwd".to_string()),
            Just("data/3.0.copy.zst".to_string()),
            Just("".to_string()),
            Just("data/./x".to_string()),
            Just("data\\..\\x".to_string()),
            "\\PC{0,12}",
        ]
        .prop_map(Value::String),
        Just(json!([])),
        Just(json!({})),
        // Deeper than serde_json's recursion limit.
        Just((0..300).fold(json!(1), |inner, _| json!([inner]))),
    ]
}

/// A stream of `method` holding `raw`.
fn encode(method: Method, raw: &[u8]) -> Vec<u8> {
    let mut enc = Codec::new(method, None)
        .unwrap()
        .encoder(Vec::new())
        .unwrap();
    enc.write_all(raw).unwrap();
    enc.finish().unwrap()
}

fn sample_raw() -> Vec<u8> {
    (0..3000u32)
        .map(|i| format!("{i}\tname {}\t\\N\n", i % 17))
        .collect::<String>()
        .into_bytes()
}

/// Decodes `stored` with `method`, returning the decoded length or the error; panics
/// only if the decoder produces more than [`OUTPUT_LIMIT`].
fn decode_bounded(method: Method, stored: &[u8]) -> io::Result<u64> {
    let decoder = method.decoder(stored)?;
    let n = io::copy(&mut decoder.take(OUTPUT_LIMIT + 1), &mut io::sink())?;
    assert!(n <= OUTPUT_LIMIT, "{method}: decoder ran away");
    Ok(n)
}

/// Reads `stored` as a data file whose record matches its bytes (so only the decoder and
/// the raw size can object); returns the raw bytes or the error.
fn read_with_matching_record(method: Method, stored: &[u8], raw_size: u64) -> io::Result<Vec<u8>> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f"), stored).unwrap();
    let algo = ChecksumAlgo::DEFAULT;
    let rec = FileRecord {
        path: "f".into(),
        raw_size,
        stored_size: stored.len() as u64,
        checksum: algo.digest_hex(stored),
    };
    let mut r = open_verified(dir.path(), &rec, method, algo)?;
    let mut out = Vec::new();
    r.read_to_end(&mut out)?;
    Ok(out)
}

/// Reads frames until the clean end or an error; checks each frame's bound.
fn read_all_frames(mut bytes: &[u8]) -> io::Result<usize> {
    let mut frames = 0;
    while let Some(frame) = read_frame(&mut bytes)? {
        assert!(frame.data.len() <= MAX_FRAME_BYTES);
        frames += 1;
    }
    Ok(frames)
}

fn frame_stream() -> Vec<u8> {
    let mut out = Vec::new();
    for (oid, data) in [
        (16384u32, &b"hello"[..]),
        (16384, b""),
        (16385, b"\x00\xff\\.\n"),
    ] {
        out.extend_from_slice(&frame_header(oid, data.len() as u32));
        out.extend_from_slice(data);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn toc_reader_refuses_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        prop_assert!(parse_toc(&bytes).is_err());
    }

    #[test]
    fn toc_reader_survives_byte_mutations(m in byte_mutation()) {
        let json = sample_json();
        let mutated = mutate(&json, &m);
        let result = parse_toc(&mutated);
        if let ByteMutation::Truncate(_) = m {
            prop_assert!(result.is_err(), "a truncated toc.json was accepted");
        }
    }

    #[test]
    fn toc_reader_survives_hostile_values(
        steps in prop::collection::vec(any::<Index>(), 1..8),
        value in hostile_value(),
    ) {
        let mut doc = serde_json::to_value(sample_toc()).unwrap();
        replace_somewhere(&mut doc, &steps, value);
        let _ = parse_toc(doc.to_string().as_bytes());
    }

    #[test]
    fn decoders_survive_arbitrary_bytes(
        bytes in prop::collection::vec(any::<u8>(), 0..4096),
        magic in any::<bool>(),
    ) {
        for method in Method::ALL {
            // With the method's own stream header in front, the bytes reach past the
            // magic check into the block decoder.
            let mut input = if magic {
                encode(method, b"")[..header_len(method)].to_vec()
            } else {
                Vec::new()
            };
            input.extend_from_slice(&bytes);
            let _ = decode_bounded(method, &input);
        }
    }

    #[test]
    fn decoders_survive_mutated_streams(m in byte_mutation(), which in any::<Index>()) {
        let raw = sample_raw();
        let method = *which.get(&Method::ALL);
        let stored = encode(method, &raw);
        let mutated = mutate(&stored, &m);
        let _ = decode_bounded(method, &mutated);
        // Even when the record was written for the damaged bytes, the verified reader
        // returns an error or bytes of exactly the recorded size, never a panic.
        if let Ok(back) = read_with_matching_record(method, &mutated, raw.len() as u64) {
            prop_assert_eq!(back.len(), raw.len());
        }
    }

    #[test]
    fn frame_reader_survives_arbitrary_and_mutated_streams(
        bytes in prop::collection::vec(any::<u8>(), 0..512),
        m in byte_mutation(),
    ) {
        let _ = read_all_frames(&bytes);
        let valid = frame_stream();
        let mutated = mutate(&valid, &m);
        let result = read_all_frames(&mutated);
        if let ByteMutation::Truncate(_) = m {
            // Cut inside a frame: an error; cut between frames: fewer frames.
            if let Ok(frames) = result {
                prop_assert!(frames < 3, "{frames}");
            }
        }
    }
}

/// Bytes of an empty stream that form its header (magic and frame descriptor).
fn header_len(method: Method) -> usize {
    match method {
        Method::None => 0,
        Method::Gzip => 10,
        Method::Zstd => 4,
        Method::Lz4 => 7,
    }
}

#[test]
fn frame_lengths_beyond_the_limit_are_refused_before_reading() {
    // A header claiming 4 GiB must not allocate it.
    let mut bytes = frame_header(1, u32::MAX).to_vec();
    bytes.extend_from_slice(b"abc");
    let err = read_all_frames(&bytes).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
}

#[test]
fn empty_and_whitespace_toc_documents_are_corrupt() {
    for doc in [
        &b""[..],
        b" ",
        b"\n\n",
        b"null",
        b"{}",
        b"[]",
        b"\xef\xbb\xbf{}",
    ] {
        let err = parse_toc(doc).unwrap_err();
        assert!(err.is_corruption(), "{err}");
    }
}
