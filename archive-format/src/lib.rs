//! The on-disk formats shared by rdump, rrestore and rbackup.
//!
//! Nothing here knows about PostgreSQL connections: it turns byte streams into
//! compressed, checksummed files and back, and (de)serialises the documents that
//! describe them (`toc.json` for logical archives).

pub mod atomic;
pub mod blob_frames;
pub mod checksum;
pub mod codec;
pub mod data_file;
pub mod data_order;
pub mod database;
mod direct_io;
pub mod error;
pub mod filter;
pub mod hashing;
pub mod record;
pub mod sql;
pub mod toc;

pub use checksum::{ChecksumAlgo, Hasher};
pub use codec::{Codec, InvalidCodec, Method};
pub use data_file::{open_verified, verify_file, DataFileWriter, VerifiedReader};
pub use error::{Error, Result};
pub use record::FileRecord;
pub use toc::{Entry, EntryKind, Header, Section, Toc};
