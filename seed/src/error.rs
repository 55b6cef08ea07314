//! Errors of the seeding library.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Connect(#[from] pgconn::Error),
    #[error(transparent)]
    Archive(#[from] archive_format::Error),
    /// A bad option, or a database that exists and may not be replaced.
    #[error("{0}")]
    Usage(String),
    /// Building the template failed; nothing was published.
    #[error("building the template failed: {0}")]
    Build(String),
    /// A statement on the server failed: what was being done, and the server's message.
    #[error("{what}: {message}")]
    Server {
        what: String,
        message: String,
        /// The server's SQLSTATE, when it sent one.
        code: Option<String>,
    },
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// Whether the program should exit 2 (usage or setup) rather than 1.
    pub fn is_setup(&self) -> bool {
        matches!(
            self,
            Error::Usage(_) | Error::Connect(_) | Error::Archive(_)
        )
    }
}

/// Turns a server error into [`Error::Server`] with `what` was being done.
pub fn server(what: impl Into<String>) -> impl FnOnce(tokio_postgres::Error) -> Error {
    let what = what.into();
    move |e| Error::Server {
        what,
        code: e.code().map(|c| c.code().to_owned()),
        message: pgconn::server_message(&e),
    }
}

impl From<restore::Error> for Error {
    fn from(e: restore::Error) -> Error {
        match e {
            restore::Error::Connect(c) => Error::Connect(c),
            restore::Error::Archive(a) => Error::Archive(a),
            restore::Error::Usage(u) => Error::Usage(u),
            other => Error::Build(other.to_string()),
        }
    }
}

impl From<dump::Error> for Error {
    fn from(e: dump::Error) -> Error {
        match e {
            dump::Error::Connect(c) => Error::Connect(c),
            dump::Error::Usage(u) => Error::Usage(u),
            other => Error::Other(format!("dumping the source database: {other}")),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
