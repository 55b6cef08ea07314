//! rbackup: physical, file-level, parallel backup and restore of a whole PostgreSQL
//! cluster, with full, differential and incremental backups, a WAL archive, verification
//! and expiry. See DESIGN.md ("Physical repository", "rbackup backup").

pub mod archive;
pub mod durable;
pub mod error;
pub mod label;
pub mod lsn;
pub mod manifest;
pub mod pagecheck;
pub mod pgcontrol;
pub mod pool;
pub mod repo;
pub mod sources;
pub mod store;
pub mod walk;

pub use error::{Error, Result};
pub mod backup;
pub mod expire;
pub mod info;
pub mod restore;
pub mod verify;
