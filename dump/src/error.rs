//! Errors of the dump library. Each says what was being done and on which object.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Connect(#[from] pgconn::Error),
    // The server's message is part of this one; not a `source`, so that chained
    // printing does not repeat it.
    #[error("{what}: {}", pgconn::server_message(.cause))]
    Query {
        what: String,
        cause: tokio_postgres::Error,
    },
    /// A catalog row without a column its query names, or with another type: a server
    /// this version of rdump does not know.
    #[error("{what}: column `{column}`: {}", column_problem(.cause))]
    Column {
        what: String,
        column: String,
        cause: tokio_postgres::Error,
    },
    #[error(transparent)]
    Archive(#[from] archive_format::Error),
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Other(String),
    /// A data worker stopped because another one failed; that failure is the one
    /// to report.
    #[error("stopped after another worker failed")]
    Stopped,
    /// Ctrl-C.
    #[error("interrupted")]
    Interrupted,
}

/// What went wrong with a column, without tokio-postgres's "column N" (the name is
/// already in the message).
fn column_problem(cause: &tokio_postgres::Error) -> String {
    match std::error::Error::source(cause) {
        Some(inner) => inner.to_string(),
        None => cause.to_string(),
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attaches "what we were doing" to a tokio-postgres error.
pub trait QueryContext<T> {
    fn during(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> QueryContext<T> for std::result::Result<T, tokio_postgres::Error> {
    fn during(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|cause| Error::Query {
            what: what(),
            cause,
        })
    }
}
