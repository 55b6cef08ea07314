//! The storage layer shared by rdump, rrestore and rbackup.
//!
//! Nothing here knows about PostgreSQL connections: it keeps objects ([`storage`]) under
//! the names of [`layout`], turns byte streams into compressed, checksummed files and
//! back, and (de)serialises the documents that describe them (`toc.json` for logical
//! archives, manifests for backups). The SQL the logical tools build around an archive
//! lives in the `logical-shared` crate.

pub mod archive;
pub mod atomic;
pub mod blob_frames;
pub mod bundle;
pub mod checksum;
pub mod codec;
pub mod data_file;
pub mod database;
pub mod direct_io;
pub mod error;
pub mod hashing;
pub mod layout;
pub mod record;
pub mod storage;
#[cfg(any(test, feature = "test-util"))]
pub mod test_util;
pub mod toc;

pub use bundle::BundleWriter;
pub use checksum::{ChecksumAlgo, Hasher};
pub use codec::{BlockCompressor, Codec, InvalidCodec, Method};
pub use data_file::{
    open_verified, verify_extent, verify_extent_in, verify_file, DataFileWriter, Extent,
    VerifiedReader,
};
pub use error::{Error, Result};
pub use record::FileRecord;
pub use toc::{Entry, EntryKind, Header, Section, Toc};
