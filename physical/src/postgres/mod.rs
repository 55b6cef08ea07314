//! What rbackup knows of PostgreSQL's side: the control file, WAL positions and file
//! names, data page checksums, and the walk over a data directory.

pub mod lsn;
pub mod pagecheck;
pub mod pgcontrol;
pub mod walk;
