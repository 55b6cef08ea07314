//! The output directory: created empty and private, discarded whole on failure so an
//! interrupted dump never leaves files that look like an archive.

use std::fs::DirBuilder;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

pub use archive_format::layout::archive::DATA_DIR;

pub struct OutputDir {
    pub root: PathBuf,
    created_root: bool,
}

impl OutputDir {
    /// `dir` must not exist, or be an empty directory (pg_dump's rule).
    pub fn create(dir: &Path) -> Result<OutputDir> {
        let io = |e: std::io::Error| {
            Error::Usage(format!(
                "could not create directory \"{}\": {e}",
                dir.display()
            ))
        };
        let created_root = match std::fs::read_dir(dir) {
            Ok(mut entries) => {
                if entries.next().is_some() {
                    return Err(Error::Usage(format!(
                        "output directory \"{}\" exists and is not empty",
                        dir.display()
                    )));
                }
                false
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                DirBuilder::new().mode(0o700).create(dir).map_err(io)?;
                true
            }
            Err(e) => return Err(io(e)),
        };
        DirBuilder::new()
            .mode(0o700)
            .create(dir.join(DATA_DIR))
            .map_err(io)?;
        Ok(OutputDir {
            root: dir.to_path_buf(),
            created_root,
        })
    }

    /// Removes what the dump wrote (best effort: we are already reporting an error).
    pub fn discard(self) {
        let _ = std::fs::remove_dir_all(self.root.join(DATA_DIR));
        let _ = std::fs::remove_file(self.root.join(archive_format::toc::TOC_FILE));
        if self.created_root {
            let _ = std::fs::remove_dir(&self.root);
        }
    }
}
