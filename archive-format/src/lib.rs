//! The on-disk formats shared by rdump, rrestore and rbackup.
//!
//! Nothing here knows about PostgreSQL connections: it turns byte streams into
//! compressed, checksummed files and back, and (de)serialises the documents that
//! describe them (`toc.json` for logical archives).

pub mod atomic;
pub mod checksum;
pub mod codec;
pub mod error;
pub mod record;
pub mod toc;

pub use checksum::ChecksumAlgo;
pub use codec::{Codec, Method};
pub use error::Error;
pub use record::FileRecord;
pub use toc::{Entry, Header, Section, Toc};
