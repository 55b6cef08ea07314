//! Loads the bytes of large objects (a "BLOBS" entry's file of frames, see
//! `archive_format::blob_frames`) into objects its BLOB METADATA entry created, with
//! batched `lo_put` calls: one statement writes many small objects, or one piece of a
//! big one.
//!
//! The file's checksum is only known at its end, so the caller runs this inside a
//! transaction and commits only after it returned: a damaged file leaves no object
//! half-written.

use std::io::Write;
use std::path::{Path, PathBuf};

use archive_format::blob_frames::read_frame;
use archive_format::data_file::open_verified;
use archive_format::toc::DataFile;
use archive_format::{ChecksumAlgo, FileRecord, Method, VerifiedReader};
use tokio_postgres::Client;

use crate::error::{Error, Result};
use crate::load::LoadSpec;

/// Bytes gathered into one statement.
const BATCH_BYTES: usize = 8 * 1024 * 1024;
/// Pieces gathered into one statement.
const BATCH_PIECES: usize = 1000;
const CHANNEL_DEPTH: usize = 2;

/// Pieces to write: `lo_put(oid, offset, bytes)` for each index.
#[derive(Debug, Default)]
struct Batch {
    oids: Vec<u32>,
    offsets: Vec<i64>,
    data: Vec<Vec<u8>>,
    bytes: usize,
}

/// The frames of a verified file as pieces to write: (object, offset, bytes). Empty
/// objects yield nothing (`lo_create` made them complete) but are counted.
struct Pieces {
    reader: VerifiedReader,
    path: PathBuf,
    /// The object being read and the offset of its next byte.
    current: Option<(u32, i64)>,
    objects: u64,
}

impl Pieces {
    fn open(root: &Path, file: &FileRecord, method: Method, algo: ChecksumAlgo) -> Result<Pieces> {
        Ok(Pieces {
            reader: open_verified(root, file, method, algo)?,
            path: root.join(&file.path),
            current: None,
            objects: 0,
        })
    }

    /// The next non-empty piece; `None` once the whole file was read and verified.
    fn next_piece(&mut self) -> Result<Option<(u32, i64, Vec<u8>)>> {
        loop {
            let Some(frame) = read_frame(&mut self.reader)
                .map_err(|e| Error::Archive(archive_format::Error::from_io(&self.path, e)))?
            else {
                return Ok(None);
            };
            let offset = match self.current {
                Some((oid, next)) if oid == frame.oid => next,
                _ => {
                    self.objects += 1;
                    0
                }
            };
            self.current = Some((frame.oid, offset + frame.data.len() as i64));
            if !frame.data.is_empty() {
                return Ok(Some((frame.oid, offset, frame.data)));
            }
        }
    }
}

/// Reads the whole file, sending full batches; returns how many objects it held. The
/// last batch is sent only once the file was verified to its end.
fn read_batches(
    spec_root: &Path,
    rec: &FileRecord,
    method: Method,
    algo: ChecksumAlgo,
    tx: &tokio::sync::mpsc::Sender<Batch>,
) -> Result<u64> {
    let mut pieces = Pieces::open(spec_root, rec, method, algo)?;
    let mut batch = Batch::default();
    while let Some((oid, offset, data)) = pieces.next_piece()? {
        batch.bytes += data.len();
        batch.oids.push(oid);
        batch.offsets.push(offset);
        batch.data.push(data);
        let full = batch.bytes >= BATCH_BYTES || batch.oids.len() >= BATCH_PIECES;
        // A closed channel means the loader stopped; its error is the one to report.
        if full && tx.blocking_send(std::mem::take(&mut batch)).is_err() {
            return Ok(pieces.objects);
        }
    }
    if !batch.oids.is_empty() {
        let _ = tx.blocking_send(batch);
    }
    Ok(pieces.objects)
}

/// Writes the objects of `spec.file`; returns how many there were. `spec.copy` is not
/// used. Errors name the file.
pub async fn load(client: &Client, spec: &LoadSpec<'_>) -> Result<u64> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Batch>(CHANNEL_DEPTH);
    let (root, rec, method, algo) = (
        spec.root.to_path_buf(),
        spec.file.file.clone(),
        spec.method,
        spec.algo,
    );
    let reader = tokio::task::spawn_blocking(move || read_batches(&root, &rec, method, algo, &tx));
    let path = spec.root.join(&spec.file.file.path);
    let put_err = |e: tokio_postgres::Error| {
        let msg = pgconn::server_message(&e);
        if e.is_closed() {
            Error::ConnectionLost(format!("loading {}: {msg}", path.display()))
        } else {
            Error::Other(format!("loading {}: {msg}", path.display()))
        }
    };
    let mut loaded: Result<()> = Ok(());
    while let Some(b) = rx.recv().await {
        let result = client
            .execute(
                "SELECT pg_catalog.lo_put(x.o, x.off, x.d)
                   FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.oid[]),
                                   pg_catalog.unnest($2::pg_catalog.int8[]),
                                   pg_catalog.unnest($3::pg_catalog.bytea[])) AS x(o, off, d)",
                &[&b.oids, &b.offsets, &b.data],
            )
            .await;
        if let Err(e) = result {
            loaded = Err(put_err(e));
            break;
        }
    }
    // Closing the channel stops the reader if the load failed.
    drop(rx);
    let objects = reader
        .await
        .map_err(|e| Error::Other(format!("reader thread failed: {e}")))?;
    loaded?;
    let objects = objects?;
    if objects != spec.file.rows {
        return Err(Error::Other(format!(
            "{}: held {objects} large objects but the archive recorded {}",
            path.display(),
            spec.file.rows
        )));
    }
    Ok(objects)
}

/// Writes the objects of `file` as SQL for a restore script: one `lo_put` per frame, the
/// bytes as a hex bytea literal (their objects were created by the script's BLOB
/// METADATA part). Returns how many objects the file held.
pub fn write_script(
    root: &Path,
    file: &DataFile,
    method: Method,
    algo: ChecksumAlgo,
    out: &mut dyn Write,
) -> Result<u64> {
    let write_err = |e: std::io::Error| Error::Output(format!("writing the script: {e}"));
    let mut pieces = Pieces::open(root, &file.file, method, algo)?;
    while let Some((oid, offset, data)) = pieces.next_piece()? {
        let mut line = String::with_capacity(data.len() * 2 + 64);
        line.push_str(&format!("SELECT pg_catalog.lo_put('{oid}', {offset}, '\\x"));
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for b in &data {
            line.push(HEX[(b >> 4) as usize] as char);
            line.push(HEX[(b & 15) as usize] as char);
        }
        line.push_str("');\n");
        out.write_all(line.as_bytes()).map_err(write_err)?;
    }
    Ok(pieces.objects)
}

#[cfg(test)]
mod tests {
    use super::*;
    use archive_format::blob_frames::frame_header;
    use archive_format::{Codec, DataFileWriter};

    /// A private scratch directory, removed when dropped.
    struct Scratch(PathBuf);
    impl Scratch {
        fn new(name: &str) -> Scratch {
            let p =
                std::env::temp_dir().join(format!("rrestore-blobs-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            Scratch(p)
        }
        fn path(&self) -> &Path {
            &self.0
        }
    }
    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn write(dir: &Path, frames: &[(u32, Vec<u8>)]) -> DataFile {
        let codec = Codec::new(Method::Zstd, None).unwrap();
        let storage = archive_format::storage::LocalDir::new(dir);
        let key = archive_format::storage::Key::new("b.zst").unwrap();
        let mut w =
            DataFileWriter::create_in(&storage, &key, codec, ChecksumAlgo::DEFAULT).unwrap();
        for (oid, data) in frames {
            w.write_all(&frame_header(*oid, data.len() as u32)).unwrap();
            w.write_all(data).unwrap();
        }
        DataFile {
            file: w.finish().unwrap(),
            rows: 0,
        }
    }

    fn batches(dir: &Path, f: &DataFile) -> (Result<u64>, Vec<Batch>) {
        let (tx, mut rx) = tokio::sync::mpsc::channel(1000);
        let n = read_batches(dir, &f.file, Method::Zstd, ChecksumAlgo::DEFAULT, &tx);
        drop(tx);
        let mut out = Vec::new();
        while let Ok(b) = rx.try_recv() {
            out.push(b);
        }
        (n, out)
    }

    #[test]
    fn pieces_of_one_object_get_running_offsets_and_empty_objects_count() {
        let dir = Scratch::new("offsets");
        let f = write(
            dir.path(),
            &[
                (5, b"abc".to_vec()),
                (5, b"de".to_vec()),
                (6, Vec::new()),
                (7, b"x".to_vec()),
            ],
        );
        let (n, got) = batches(dir.path(), &f);
        assert_eq!(n.unwrap(), 3);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].oids, vec![5, 5, 7]);
        assert_eq!(got[0].offsets, vec![0, 3, 0]);
        assert_eq!(
            got[0].data,
            vec![b"abc".to_vec(), b"de".to_vec(), b"x".to_vec()]
        );
    }

    #[test]
    fn a_damaged_file_sends_nothing_of_its_last_batch() {
        let dir = Scratch::new("damaged");
        let mut f = write(dir.path(), &[(5, b"abc".to_vec())]);
        f.file.checksum = "00".repeat(16);
        let (n, got) = batches(dir.path(), &f);
        assert!(n.is_err());
        assert!(got.is_empty());
    }
}
