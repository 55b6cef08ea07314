//! Errors. (placeholder: being written)
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {detail}", path.display())]
    Corrupt { path: PathBuf, detail: String },
    #[error("{}: not an rdump archive (no toc.json)", path.display())]
    NotArchive { path: PathBuf },
    #[error("{}: archive format {found} is newer than this rrestore reads ({supported}); use a newer rrestore", path.display())]
    UnsupportedVersion {
        path: PathBuf,
        found: String,
        supported: String,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
