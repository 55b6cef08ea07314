//! The file side of one data item: a writer thread that compresses, checksums and
//! writes, fed large buffers over a bounded channel and handing them back for reuse.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::thread::JoinHandle;

use archive_format::data_file::DataFileWriter;
use archive_format::storage::Key;
use archive_format::FileRecord;

use super::Shared;
use crate::error::{Error, Result};

/// Bytes gathered before they cross to the writer thread: one hand-off per buffer.
const BATCH_BYTES: usize = 256 * 1024;
/// Buffers queued for the writer. With the one being filled and the one being
/// written, at most `CHANNEL_DEPTH + 2` buffers exist per file, whatever its size.
const CHANNEL_DEPTH: usize = 4;

enum Msg {
    Data(Vec<u8>),
    /// The stream ended cleanly: only now may the file be finished.
    End,
}

/// Why [`FileSink::push`] refused data.
#[derive(Debug)]
pub(super) enum Refused {
    /// Another worker failed.
    Stopped,
    /// The writer failed; [`FileSink::finish`] returns its error.
    WriterFailed,
}

pub(super) struct FileSink<'a> {
    shared: &'a Shared,
    batch: Vec<u8>,
    full: Option<SyncSender<Msg>>,
    empty: Receiver<Vec<u8>>,
    writer: Option<JoinHandle<Result<FileRecord>>>,
}

impl<'a> FileSink<'a> {
    /// Starts the archive's data file `rel_path` and its writer thread.
    pub(super) fn start(shared: &'a Shared, rel_path: &str) -> Result<FileSink<'a>> {
        let (full_tx, full_rx) = sync_channel(CHANNEL_DEPTH);
        let (empty_tx, empty_rx) = sync_channel(CHANNEL_DEPTH + 2);
        // Created here, so that a bad path or a full disk fails before any query runs.
        let key = Key::new(rel_path)?;
        let file =
            DataFileWriter::create_in(&*shared.storage, &key, shared.codec, shared.checksum)?;
        let writer = std::thread::Builder::new()
            .name("rdump-writer".into())
            .spawn(move || write_file(file, full_rx, empty_tx))
            .map_err(|e| Error::Other(format!("cannot start a writer thread: {e}")))?;
        Ok(FileSink {
            shared,
            batch: Vec::with_capacity(BATCH_BYTES),
            full: Some(full_tx),
            empty: empty_rx,
            writer: Some(writer),
        })
    }

    /// Queues `data`; blocks while the writer is `CHANNEL_DEPTH` buffers behind.
    pub(super) fn push(&mut self, data: &[u8]) -> Result<(), Refused> {
        self.batch.extend_from_slice(data);
        if self.batch.len() >= BATCH_BYTES {
            self.send_batch()?;
        }
        Ok(())
    }

    fn send_batch(&mut self) -> Result<(), Refused> {
        if self.shared.stopped() {
            return Err(Refused::Stopped);
        }
        let next = self
            .empty
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(BATCH_BYTES));
        let full = std::mem::replace(&mut self.batch, next);
        self.shared.progress.inc(full.len() as u64);
        match &self.full {
            Some(tx) => tx.send(Msg::Data(full)).map_err(|_| Refused::WriterFailed),
            None => Err(Refused::WriterFailed),
        }
    }

    /// Writes what is left, completes the file and returns its record. If the writer
    /// failed earlier, returns its error.
    pub(super) fn finish(mut self) -> Result<FileRecord> {
        let sent = if self.batch.is_empty() {
            Ok(())
        } else {
            self.send_batch()
        };
        if sent.is_ok() {
            if let Some(tx) = &self.full {
                // A failure here means the writer already stopped; join says why.
                let _ = tx.send(Msg::End);
            }
        }
        self.full = None;
        let writer = self.writer.take();
        match (sent, writer.map(JoinHandle::join)) {
            (Err(Refused::Stopped), _) => Err(Error::Stopped),
            (_, Some(Ok(result))) => result,
            (_, Some(Err(_))) => Err(Error::Other("a file writer thread panicked".into())),
            (_, None) => Err(Error::Other("file writer already finished".into())),
        }
    }

    /// The writer's error after [`Refused::WriterFailed`], or `Stopped`.
    pub(super) fn failure(mut self, why: Refused) -> Error {
        self.full = None;
        match (why, self.writer.take().map(JoinHandle::join)) {
            (Refused::WriterFailed, Some(Ok(Err(e)))) => e,
            (Refused::WriterFailed, Some(Err(_))) => {
                Error::Other("a file writer thread panicked".into())
            }
            _ => Error::Stopped,
        }
    }
}

/// Dropped unfinished (an error on the reading side): the writer sees the channel
/// close without `End` and removes its partial file; waiting for it means the file
/// is gone before the error travels further.
impl Drop for FileSink<'_> {
    fn drop(&mut self) {
        self.full = None;
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

fn write_file(
    mut file: DataFileWriter,
    full: Receiver<Msg>,
    empty: SyncSender<Vec<u8>>,
) -> Result<FileRecord> {
    while let Ok(msg) = full.recv() {
        match msg {
            Msg::Data(mut buf) => {
                file.write_all(&buf)?;
                buf.clear();
                // Handed back for reuse; if the reader has enough, it is freed.
                if let Err(TrySendError::Disconnected(_)) = empty.try_send(buf) {
                    break;
                }
            }
            Msg::End => return Ok(file.finish()?),
        }
    }
    // Dropping the writer unfinished removes the partial file.
    Err(Error::Other(format!(
        "{}: the data stream was interrupted",
        file.path().display()
    )))
}
