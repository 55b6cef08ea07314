//! Data files through every codec: round trips, and every kind of damage detected.

use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::OnceLock;

use archive_format::storage::{Key, LocalDir};
use archive_format::{
    open_verified, verify_file, ChecksumAlgo, Codec, DataFileWriter, Error, FileRecord,
};
use proptest::prelude::*;
use proptest::sample::Index;

const ALGO: ChecksumAlgo = ChecksumAlgo::DEFAULT;

/// Two levels of every method, including zstd's fast (negative) levels.
const CODECS: &[&str] = &[
    "none", "gzip:1", "gzip:9", "zstd:1", "zstd:9", "zstd:-5", "lz4", "lz4:12",
];

fn codec(spec: &str) -> Codec {
    spec.parse().unwrap()
}

/// Deterministic test data: random (incompressible), text-like, or long runs.
fn make_data(seed: u64, len: usize, kind: u8) -> Vec<u8> {
    let mut x = seed | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    match kind {
        0 => (0..len).map(|_| next() as u8).collect(),
        1 => {
            let mut out = Vec::with_capacity(len + 32);
            while out.len() < len {
                let v = next();
                out.extend_from_slice(
                    format!("{}\tname {}\t{}\n", v % 100_000, v % 97, v % 7).as_bytes(),
                );
            }
            out.truncate(len);
            out
        }
        _ => {
            let mut out = Vec::with_capacity(len);
            while out.len() < len {
                let v = next();
                let run = (v % 5000) as usize + 1;
                out.extend(std::iter::repeat_n(
                    (v >> 32) as u8,
                    run.min(len - out.len()),
                ));
            }
            out
        }
    }
}

/// A writer of the data file `name` under `root`, through a local storage there.
fn create(root: &Path, name: &str, spec: &str) -> DataFileWriter {
    let key = Key::new(name).unwrap();
    DataFileWriter::create_in(&LocalDir::new(root), &key, codec(spec), ALGO).unwrap()
}

fn write_file(root: &Path, name: &str, spec: &str, data: &[u8], chunk: usize) -> FileRecord {
    let mut w = create(root, name, spec);
    for c in data.chunks(chunk.max(1)) {
        w.write_all(c).unwrap();
    }
    w.finish().unwrap()
}

/// Reads a data file back in `chunk`-sized reads.
fn read_back(root: &Path, rec: &FileRecord, spec: &str, chunk: usize) -> io::Result<Vec<u8>> {
    let mut r = open_verified(root, rec, codec(spec).method, ALGO).map_err(io::Error::from)?;
    let mut out = Vec::new();
    let mut buf = vec![0u8; chunk.max(1)];
    loop {
        match r.read(&mut buf)? {
            0 => return Ok(out),
            n => out.extend_from_slice(&buf[..n]),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 20, ..ProptestConfig::default() })]

    #[test]
    fn any_bytes_round_trip_through_every_codec(
        len in prop_oneof![0usize..=64, 0usize..=8192, 200_000usize..=700_000],
        seed in any::<u64>(),
        kind in 0u8..3,
        write_chunk in prop_oneof![1usize..=512, 1usize..=300_000],
        read_chunk in prop_oneof![1usize..=512, 1usize..=300_000],
    ) {
        let data = make_data(seed, len, kind);
        let dir = tempfile::tempdir().unwrap();
        for (i, spec) in CODECS.iter().enumerate() {
            let name = format!("{i}.data");
            let rec = write_file(dir.path(), &name, spec, &data, write_chunk);
            let stored = std::fs::read(dir.path().join(&name)).unwrap();
            prop_assert_eq!(&rec.path, &name);
            prop_assert_eq!(rec.raw_size, data.len() as u64);
            prop_assert_eq!(rec.stored_size, stored.len() as u64);
            prop_assert_eq!(&rec.checksum, &ALGO.digest_hex(&stored));
            let back = read_back(dir.path(), &rec, spec, read_chunk).unwrap();
            prop_assert!(back == data, "{} changed the data", spec);
            verify_file(dir.path(), &rec, ALGO).unwrap();
        }
    }
}

/// One stored file per codec and size class, built once.
struct Sample {
    spec: &'static str,
    raw: Vec<u8>,
    stored: Vec<u8>,
    rec: FileRecord,
}

fn samples() -> &'static [Sample] {
    static SAMPLES: OnceLock<Vec<Sample>> = OnceLock::new();
    SAMPLES.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let mut out = Vec::new();
        for (i, spec) in CODECS.iter().enumerate() {
            // Empty, tiny, and several codec blocks / read buffers long.
            for (j, raw) in [
                Vec::new(),
                b"1\tone\n2\ttwo\n".to_vec(),
                make_data(i as u64 + 7, 600_000, 1),
            ]
            .into_iter()
            .enumerate()
            {
                let name = format!("{i}-{j}.data");
                let rec = write_file(dir.path(), &name, spec, &raw, 100_000);
                let stored = std::fs::read(dir.path().join(&name)).unwrap();
                out.push(Sample {
                    spec,
                    raw,
                    stored,
                    rec,
                });
            }
        }
        out
    })
}

#[derive(Clone, Debug)]
enum Damage {
    FlipBit(Index, u8),
    ReplaceByte(Index, u8),
    Truncate(Index),
    Append(Vec<u8>),
}

fn apply(damage: &Damage, stored: &[u8]) -> Option<Vec<u8>> {
    let mut out = stored.to_vec();
    match damage {
        Damage::FlipBit(_, _) | Damage::ReplaceByte(_, _) | Damage::Truncate(_)
            if stored.is_empty() =>
        {
            return None
        }
        Damage::FlipBit(at, bit) => out[at.index(stored.len())] ^= 1 << (bit % 8),
        // XOR with a non-zero value: the byte always changes.
        Damage::ReplaceByte(at, x) => out[at.index(stored.len())] ^= x.max(&1),
        Damage::Truncate(at) => out.truncate(at.index(stored.len())),
        Damage::Append(extra) => out.extend_from_slice(extra),
    }
    Some(out)
}

fn damage_strategy() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Damage::FlipBit(i, b)),
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Damage::ReplaceByte(i, b)),
        any::<Index>().prop_map(Damage::Truncate),
        prop::collection::vec(any::<u8>(), 1..64).prop_map(Damage::Append),
    ]
}

/// Writes `bytes` as the sample's file and checks that both readers refuse it
/// with an error naming the file; returns the open_verified error.
fn assert_refused(sample: &Sample, bytes: &[u8], rec: &FileRecord) -> Error {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(&rec.path), bytes).unwrap();
    let err = match read_back(dir.path(), rec, sample.spec, 64 * 1024) {
        Ok(data) => panic!(
            "{}: damaged file read back Ok ({} bytes, original equal: {})",
            sample.spec,
            data.len(),
            data == sample.raw
        ),
        Err(e) => Error::from_io("?", e),
    };
    assert!(
        err.to_string().contains(&rec.path),
        "{}: message does not name the file: {err}",
        sample.spec
    );
    assert!(err.is_corruption(), "{}: {err:?}", sample.spec);
    let verify =
        verify_file(dir.path(), rec, ALGO).expect_err("verify_file accepted a damaged file");
    assert!(verify.to_string().contains(&rec.path), "{verify}");
    err
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, ..ProptestConfig::default() })]

    #[test]
    fn any_damage_is_detected(which in any::<Index>(), damage in damage_strategy()) {
        let sample = which.get(samples());
        if let Some(bytes) = apply(&damage, &sample.stored) {
            assert_refused(sample, &bytes, &sample.rec);
        }
    }

    /// Appended bytes that the record also claims (size and checksum updated):
    /// the stored-byte checks pass, so the decoder and raw size must catch it,
    /// or else the data read must still be exactly the original.
    #[test]
    fn appended_bytes_with_a_matching_record_never_yield_wrong_data(
        which in any::<Index>(),
        extra in prop::collection::vec(any::<u8>(), 1..300),
    ) {
        let sample = which.get(samples());
        let mut bytes = sample.stored.clone();
        bytes.extend_from_slice(&extra);
        let rec = FileRecord {
            stored_size: bytes.len() as u64,
            checksum: ALGO.digest_hex(&bytes),
            ..sample.rec.clone()
        };
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(&rec.path), &bytes).unwrap();
        if let Ok(data) = read_back(dir.path(), &rec, sample.spec, 64 * 1024) {
            prop_assert!(data == sample.raw, "{}: wrong data accepted", sample.spec);
        }
    }
}

/// Every single-bit flip and every truncation of the small files, exhaustively.
#[test]
fn every_bit_flip_and_truncation_of_small_files_is_detected() {
    for sample in samples().iter().filter(|s| s.stored.len() < 100) {
        for pos in 0..sample.stored.len() {
            for bit in 0..8u8 {
                let mut bytes = sample.stored.clone();
                bytes[pos] ^= 1 << bit;
                assert_refused(sample, &bytes, &sample.rec);
            }
        }
        for len in 0..sample.stored.len() {
            assert_refused(sample, &sample.stored[..len], &sample.rec);
        }
    }
}

#[test]
fn damage_messages_say_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let data = make_data(3, 50_000, 1);
    let rec = write_file(dir.path(), "t.copy.zst", "zstd:3", &data, 4096);
    let path = dir.path().join("t.copy.zst");
    let stored = std::fs::read(&path).unwrap();
    let sample = Sample {
        spec: "zstd:3",
        raw: data.clone(),
        stored: stored.clone(),
        rec: rec.clone(),
    };

    let err = assert_refused(&sample, &stored[..stored.len() - 10], &rec);
    let want = format!(
        "truncated: expected {} bytes, found {}",
        stored.len(),
        stored.len() - 10
    );
    assert!(err.to_string().contains(&want), "{err}");

    let mut longer = stored.clone();
    longer.push(0);
    let err = assert_refused(&sample, &longer, &rec);
    assert!(err.to_string().contains("unexpected extra data"), "{err}");

    // The frame magic: the decoder fails before any checksum comparison.
    let mut bad_magic = stored.clone();
    bad_magic[0] ^= 0xff;
    let err = assert_refused(&sample, &bad_magic, &rec);
    assert!(err.to_string().contains("corrupt zstd stream"), "{err}");

    // Uncompressed: nothing but the checksum can notice a changed byte.
    let none_rec = write_file(dir.path(), "t.copy", "none", &data, 4096);
    let mut changed = data.clone();
    changed[1234] ^= 0x20;
    let none_sample = Sample {
        spec: "none",
        raw: data.clone(),
        stored: data.clone(),
        rec: none_rec.clone(),
    };
    let err = assert_refused(&none_sample, &changed, &none_rec);
    match &err {
        Error::Corrupt { path, detail } => {
            assert!(path.ends_with("t.copy"), "{err}");
            assert!(
                detail.starts_with(&format!(
                    "checksum mismatch: expected {}",
                    none_rec.checksum
                )),
                "{err}"
            );
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

/// A decoder may report the end of its stream before the end of the file; the
/// reader must still hash the rest. An lz4 frame whose first block is an empty
/// uncompressed block ends the decoder's output early; the megabyte after it
/// is left unread by the decoder.
#[test]
fn bytes_after_the_decoders_end_are_still_checked() {
    let dir = tempfile::tempdir().unwrap();
    let data = make_data(9, 10_000, 1);
    let rec = write_file(dir.path(), "x.lz4", "lz4", &data, 10_000);
    let path = dir.path().join("x.lz4");
    let stored = std::fs::read(&path).unwrap();
    // Magic (4), FLG, BD, header checksum: this encoder writes a 7-byte header.
    let header = &stored[..7];
    let mut longer = stored.clone();
    longer.extend_from_slice(header);
    longer.extend_from_slice(&[0, 0, 0, 0x80]);
    longer.extend(make_data(10, 1 << 20, 0));
    std::fs::write(&path, &longer).unwrap();

    // Record claims the new size but the old checksum: only hashing the tail notices.
    let size_only = FileRecord {
        stored_size: longer.len() as u64,
        ..rec.clone()
    };
    let err = Error::from_io(
        "?",
        read_back(dir.path(), &size_only, "lz4", 8192).unwrap_err(),
    );
    assert!(err.to_string().contains("checksum mismatch"), "{err}");

    // Record matching the whole file: the raw data is the original, so it passes.
    let whole = FileRecord {
        stored_size: longer.len() as u64,
        checksum: ALGO.digest_hex(&longer),
        ..rec.clone()
    };
    assert_eq!(read_back(dir.path(), &whole, "lz4", 8192).unwrap(), data);
}

#[test]
fn more_decoded_bytes_than_recorded_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let rec = write_file(dir.path(), "n", "none", b"abc", 10);
    std::fs::write(dir.path().join("n"), b"abcd").unwrap();
    let claims_all = FileRecord {
        stored_size: 4,
        checksum: ALGO.digest_hex(b"abcd"),
        ..rec
    };
    let err = Error::from_io(
        "?",
        read_back(dir.path(), &claims_all, "none", 1).unwrap_err(),
    );
    assert!(
        err.to_string().contains("more than the recorded 3 bytes"),
        "{err}"
    );
}

#[test]
fn missing_file_error_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let rec = FileRecord {
        path: "data/42.copy.zst".into(),
        raw_size: 1,
        stored_size: 1,
        checksum: "00".into(),
    };
    let err = open_verified(dir.path(), &rec, codec("zstd").method, ALGO).unwrap_err();
    assert!(matches!(err, Error::Missing { .. }), "{err:?}");
    assert!(err.to_string().contains("data/42.copy.zst"), "{err}");
    assert!(err.to_string().contains("missing"), "{err}");
    let err = verify_file(dir.path(), &rec, ALGO).unwrap_err();
    assert!(matches!(err, Error::Missing { .. }), "{err:?}");
}

#[test]
fn unfinished_writer_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    for spec in CODECS {
        let mut w = create(dir.path(), "partial", spec);
        w.write_all(&make_data(1, 400_000, 0)).unwrap();
        assert!(
            !dir.path().join("partial").exists(),
            "{spec}: visible before it was finished"
        );
        drop(w);
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(
            left.is_empty(),
            "{spec}: the partial file survived: {left:?}"
        );
    }
}

#[test]
fn writer_creates_private_files_and_refuses_bad_names() {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "a", "zstd", b"x", 1);
    let mode = std::fs::metadata(dir.path().join("a"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // A second writer of the same name replaces the file only when it finishes.
    let before = std::fs::read(dir.path().join("a")).unwrap();
    let mut again = create(dir.path(), "a", "zstd");
    again.write_all(b"yy").unwrap();
    drop(again);
    assert_eq!(std::fs::read(dir.path().join("a")).unwrap(), before);

    for bad in ["../escape", "/abs", "a/../b", ""] {
        assert!(Key::new(bad).is_err(), "{bad:?} accepted");
    }
}

#[test]
fn io_copy_into_a_writer_and_out_of_a_reader() {
    let dir = tempfile::tempdir().unwrap();
    let data = make_data(5, 300_000, 2);
    let mut w = create(dir.path(), "c.gz", "gzip");
    io::copy(&mut &data[..], &mut w).unwrap();
    assert_eq!(w.raw_size(), data.len() as u64);
    let rec = w.finish().unwrap();
    let mut r = open_verified(dir.path(), &rec, codec("gzip").method, ALGO).unwrap();
    let mut back = Vec::new();
    io::copy(&mut r, &mut back).unwrap();
    assert!(back == data);
    assert_eq!(r.raw_read(), data.len() as u64);
    // Reading past the verified end keeps returning end of stream.
    assert_eq!(r.read(&mut [0u8; 16]).unwrap(), 0);
}

#[test]
fn a_writer_into_a_storage_publishes_on_finish_and_reads_back_verified() {
    use archive_format::storage::{wait, Key, LocalDir, Storage};
    use archive_format::{verify_extent_in, Extent, VerifiedReader};
    let dir = tempfile::tempdir().unwrap();
    let store = LocalDir::new(dir.path());
    let key = Key::new("backups/L/data/base/1/2.0.zst").unwrap();
    let data = make_data(3, 500_000, 4);
    for spec in CODECS {
        // Dropped part-way: no object, no file, and a finished one of that key stays.
        let mut w = DataFileWriter::create_in(&store, &key, codec(spec), ALGO).unwrap();
        w.write_all(&data[..100_000]).unwrap();
        drop(w);
        assert!(wait(store.list(None)).unwrap().is_empty(), "{spec}");

        let mut w = DataFileWriter::create_in(&store, &key, codec(spec), ALGO).unwrap();
        assert_eq!(w.path(), dir.path().join(key.as_str()));
        w.write_all(&data).unwrap();
        assert_eq!(
            wait(store.head(&key)).unwrap(),
            None,
            "{spec}: visible early"
        );
        let rec = w.finish().unwrap();
        assert_eq!(rec.path, key.as_str());
        assert_eq!(wait(store.head(&key)).unwrap(), Some(rec.stored_size));
        let extent = Extent::of_record(&rec);
        let mut r = VerifiedReader::open_in(&store, &key, extent.clone(), codec(spec).method, ALGO)
            .unwrap();
        let mut back = Vec::new();
        r.read_to_end(&mut back).unwrap();
        assert!(back == data, "{spec}");
        verify_extent_in(&store, &key, &extent, ALGO).unwrap();

        // A whole object of another size is refused up front, naming it.
        let mut longer = extent.clone();
        longer.stored_size += 1;
        let err = VerifiedReader::open_in(&store, &key, longer.clone(), codec(spec).method, ALGO)
            .unwrap_err();
        assert!(err.is_corruption(), "{err}");
        assert!(err.to_string().contains(key.as_str()), "{err}");
        assert!(verify_extent_in(&store, &key, &longer, ALGO).is_err());
        wait(store.delete(&key)).unwrap();
    }
}

#[test]
fn readers_and_writers_cross_threads() {
    fn send<T: Send>() {}
    send::<DataFileWriter>();
    send::<archive_format::VerifiedReader>();
}
