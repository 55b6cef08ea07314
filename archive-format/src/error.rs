//! Errors of the archive layer. Every variant names the file it is about, so the
//! binaries can print one line that says what failed and where.

use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A file exists but its contents are not what the archive recorded
    /// (checksum or size mismatch, undecodable stream, malformed document).
    #[error("{}: {detail}", path.display())]
    Corrupt { path: PathBuf, detail: String },
    /// A file the archive lists is not there.
    #[error("{}: file is missing", path.display())]
    Missing { path: PathBuf },
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

impl Error {
    /// Recovers the typed error from an `io::Error` produced by this crate's
    /// readers and writers (which wrap an `Error` so they can travel through
    /// `Read`/`Write`); any other `io::Error` becomes `Error::Io` naming `path`.
    pub fn from_io(path: impl Into<PathBuf>, e: io::Error) -> Error {
        if e.get_ref().is_some_and(|inner| inner.is::<Error>()) {
            if let Some(inner) = e.into_inner() {
                if let Ok(typed) = inner.downcast::<Error>() {
                    return *typed;
                }
            }
            // Unreachable: the check above saw an `Error` inside.
            return Error::Corrupt {
                path: path.into(),
                detail: "internal error: lost a wrapped error".into(),
            };
        }
        Error::Io {
            path: path.into(),
            source: e,
        }
    }

    /// The file this error is about.
    pub fn path(&self) -> &std::path::Path {
        match self {
            Error::Io { path, .. }
            | Error::Corrupt { path, .. }
            | Error::Missing { path }
            | Error::NotArchive { path }
            | Error::UnsupportedVersion { path, .. } => path,
        }
    }

    /// True for errors that mean the stored data is damaged (as opposed to an
    /// environment problem such as a full disk or a permission).
    pub fn is_corruption(&self) -> bool {
        matches!(self, Error::Corrupt { .. } | Error::Missing { .. })
    }
}

/// Wraps the typed error so it can be returned from `Read`/`Write`;
/// [`Error::from_io`] takes it back out.
impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        let kind = match &e {
            Error::Io { source, .. } => source.kind(),
            Error::Missing { .. } | Error::NotArchive { .. } => io::ErrorKind::NotFound,
            Error::Corrupt { .. } | Error::UnsupportedVersion { .. } => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_error_survives_a_trip_through_io_error() {
        let e: io::Error = Error::Corrupt {
            path: "data/1.copy.zst".into(),
            detail: "checksum mismatch".into(),
        }
        .into();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(e.to_string().contains("data/1.copy.zst: checksum mismatch"));
        match Error::from_io("elsewhere", e) {
            Error::Corrupt { path, detail } => {
                assert_eq!(path, PathBuf::from("data/1.copy.zst"));
                assert_eq!(detail, "checksum mismatch");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn plain_io_error_gets_the_path() {
        let e = io::Error::new(io::ErrorKind::PermissionDenied, "nope");
        let typed = Error::from_io("x/y", e);
        assert!(matches!(typed, Error::Io { .. }));
        assert_eq!(typed.path(), std::path::Path::new("x/y"));
        assert!(typed.to_string().starts_with("x/y: nope"), "{typed}");
    }
}
