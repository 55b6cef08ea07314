//! Errors of rbackup. Every variant says what failed and, where there is one, which file;
//! [`Error::exit_code`] maps them onto the conventions: 1 finished with errors, 2 usage or setup.

use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad flags or arguments (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The environment is not fit to start: wrong repository, cluster mismatch, server
    /// settings, a running server where none may run (exit 2).
    #[error("{0}")]
    Setup(String),
    /// Connecting to the server failed (exit 2).
    #[error(transparent)]
    Connect(#[from] pgconn::Error),
    /// A statement failed on the held connection (exit 1).
    #[error("{context}: {message}")]
    Sql { context: String, message: String },
    /// Reading or writing a file failed (exit 1).
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Stored data is damaged or missing, or a stream failed (exit 1).
    #[error(transparent)]
    Archive(#[from] archive_format::Error),
    /// The work finished, but with problems already reported one by one (exit 1).
    #[error("{0}")]
    Failed(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// The typed error carried by an `io::Error` from archive-format streams, or a plain
    /// IO error naming `path`.
    pub fn from_stream(path: &Path, e: io::Error) -> Error {
        match archive_format::Error::from_io(path, e) {
            archive_format::Error::Io { path, source } => Error::Io { path, source },
            other => Error::Archive(other),
        }
    }

    pub fn corrupt(path: impl Into<PathBuf>, detail: impl Into<String>) -> Error {
        Error::Archive(archive_format::Error::Corrupt {
            path: path.into(),
            detail: detail.into(),
        })
    }

    pub fn missing(path: impl Into<PathBuf>) -> Error {
        Error::Archive(archive_format::Error::Missing { path: path.into() })
    }

    pub fn sql(context: impl Into<String>, e: &tokio_postgres::Error) -> Error {
        Error::Sql {
            context: context.into(),
            message: pgconn::server_message(e),
        }
    }

    /// 2 for usage and setup problems, 1 for everything that went wrong while working.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) | Error::Setup(_) | Error::Connect(_) => 2,
            _ => 1,
        }
    }

    /// True when stored data is damaged or missing.
    pub fn is_corruption(&self) -> bool {
        matches!(self, Error::Archive(e) if e.is_corruption())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_conventions() {
        assert_eq!(Error::Usage("x".into()).exit_code(), 2);
        assert_eq!(Error::Setup("x".into()).exit_code(), 2);
        assert_eq!(Error::missing("a/b").exit_code(), 1);
        assert!(Error::missing("a/b").to_string().contains("a/b"));
        assert!(Error::corrupt("c", "bad").is_corruption());
        assert!(!Error::Failed("x".into()).is_corruption());
    }
}
