//! The repository lock: one process at a time changes backups (backup, expire).
//!
//! The one repository file not kept through the repository's storage: an flock on a
//! local file, held by the process. An object store has no such lock; a repository
//! there will need its own kind (a lease object written conditionally).

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;

use super::{Repo, LOCK_FILE};
use crate::error::{Error, Result};

impl Repo {
    /// Takes the repository's lock for commands that change backups (backup, expire);
    /// held until the returned value is dropped.
    pub fn lock(&self) -> Result<RepoLock> {
        let path = self.root.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        // SAFETY: flock on a descriptor we own; it has no memory-safety preconditions.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::WouldBlock {
                return Err(Error::Setup(format!(
                    "{}: another rbackup backup or expire is running on this repository",
                    path.display()
                )));
            }
            return Err(Error::io(&path, err));
        }
        Ok(RepoLock { _file: file })
    }
}

/// The repository lock; released on drop (and by the kernel if the process dies).
#[derive(Debug)]
pub struct RepoLock {
    _file: File,
}
