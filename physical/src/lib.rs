//! rbackup: physical, file-level, parallel backup and restore of a whole PostgreSQL
//! cluster, with full, differential and incremental backups, a WAL archive, verification
//! and expiry. See DESIGN.md ("Physical repository", "rbackup backup").
//!
//! Laid out by command (`command`: backup, restore, verify, expire, info, archive-push
//! and archive-get), by the repository's concepts (`repository`: layout, manifest,
//! labels, lock, stored chunks) and by PostgreSQL's side (`postgres`: pg_control, LSNs,
//! page checks, the data directory walk).

pub mod command;
pub mod durable;
pub mod error;
pub mod pool;
pub mod postgres;
pub mod repository;
#[cfg(any(test, feature = "test-util"))]
pub mod test_util;

pub use error::{Error, Result};
