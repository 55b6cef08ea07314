//! Errors of the restore library.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Connect(#[from] pgconn::Error),
    #[error(transparent)]
    Archive(#[from] archive_format::Error),
    /// A bad option or combination of options.
    #[error("{0}")]
    Usage(String),
    /// The server went away mid-run; `--resume` continues from where it was.
    #[error("lost the connection to the server: {0}")]
    ConnectionLost(String),
    /// The server refused the item and the client drops the session over it (tokio-postgres
    /// does when a COPY fails to start): the item failed, its worker needs a new session.
    #[error("{0}")]
    SessionDropped(String),
    /// Writing the script or list failed.
    #[error("{0}")]
    Output(String),
    #[error("{0}")]
    Other(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
