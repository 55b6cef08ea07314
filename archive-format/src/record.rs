//! The record of one stored file, shared by the logical archive and the physical repository.

use serde::{Deserialize, Serialize};

/// One file as stored: where it is, how big it was before and after the codec,
/// and the checksum of the stored bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// Path relative to the archive (or repository) root, always with `/` separators.
    pub path: String,
    /// Bytes before compression.
    pub raw_size: u64,
    /// Bytes on disk.
    pub stored_size: u64,
    /// Lower-case hex digest of the stored bytes, with the algorithm named in the header.
    pub checksum: String,
}
