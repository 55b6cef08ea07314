//! Streams one verified data file into `COPY ... FROM stdin`. The file's checksum is
//! only known at its end, so the COPY is finished only after the reader has verified
//! it: a corrupt or truncated file aborts the COPY and no row of it is kept.

use std::io::Read;
use std::path::Path;

use archive_format::data_file::open_verified;
use archive_format::toc::DataFile;
use archive_format::{ChecksumAlgo, Method};
use bytes::{Bytes, BytesMut};
use futures::SinkExt;
use tokio_postgres::Client;

use crate::error::{Error, Result};

const READ_BYTES: usize = 256 * 1024;
const CHANNEL_DEPTH: usize = 8;

pub struct LoadSpec<'a> {
    pub root: &'a Path,
    pub file: &'a DataFile,
    pub method: Method,
    pub algo: ChecksumAlgo,
    /// `COPY ... FROM stdin`, possibly with options.
    pub copy: String,
}

/// Loads the file; returns the rows the server reports. Errors name the file.
pub async fn load(client: &Client, spec: &LoadSpec<'_>) -> Result<u64> {
    let path = spec.root.join(&spec.file.file.path);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(CHANNEL_DEPTH);
    let (root, rec, method, algo) = (
        spec.root.to_path_buf(),
        spec.file.file.clone(),
        spec.method,
        spec.algo,
    );
    let reader = tokio::task::spawn_blocking(move || {
        let mut r = match open_verified(&root, &rec, method, algo) {
            Ok(r) => r,
            Err(e) => {
                let _ = tx.blocking_send(Err(std::io::Error::other(e)));
                return;
            }
        };
        let mut buf = BytesMut::zeroed(READ_BYTES);
        loop {
            match r.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    let chunk = buf.split_to(n).freeze();
                    if tx.blocking_send(Ok(chunk)).is_err() {
                        return;
                    }
                    if buf.len() < READ_BYTES / 4 {
                        buf = BytesMut::zeroed(READ_BYTES);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        }
    });

    let copy_err = |e: tokio_postgres::Error| {
        Error::Other(format!(
            "loading {}: {}",
            path.display(),
            pgconn::server_message(&e)
        ))
    };
    let sink = match client.copy_in::<_, Bytes>(spec.copy.as_str()).await {
        Ok(sink) => sink,
        // tokio-postgres (0.7) drops the session, a moment later, whenever the server
        // refuses a COPY at its start: only the item failed, but this client is done.
        Err(e) if e.code().is_some_and(|c| !pgconn::session_ended(c)) => {
            return Err(Error::SessionDropped(copy_err(e).to_string()))
        }
        Err(e) => return Err(copy_err(e)),
    };
    futures::pin_mut!(sink);
    while let Some(chunk) = rx.recv().await {
        match chunk {
            Ok(bytes) => sink.send(bytes).await.map_err(copy_err)?,
            // Returning drops the sink unfinished, which aborts the COPY on the server.
            Err(e) => {
                return Err(Error::Archive(archive_format::Error::from_io(&path, e)));
            }
        }
    }
    let _ = reader.await;
    let rows = sink.finish().await.map_err(copy_err)?;
    if rows != spec.file.rows {
        return Err(Error::Other(format!(
            "{}: the server loaded {rows} rows but the archive recorded {}",
            path.display(),
            spec.file.rows
        )));
    }
    Ok(rows)
}
