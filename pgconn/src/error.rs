//! Errors of option parsing and connecting. No variant ever holds a password: values are only
//! quoted for keywords whose values are not secret, and server messages never contain one.

use std::fmt;

use tokio_postgres::error::{DbError, SqlState};

/// Everything that can go wrong between a connection string and a connected client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A keyword libpq does not know either.
    #[error("invalid connection option \"{0}\"")]
    InvalidOption(String),

    /// An unknown keyword in a URI's query part.
    #[error("invalid URI query parameter: \"{0}\"")]
    InvalidUriParameter(String),

    /// A malformed keyword=value string or URI. The message names the problem, never a value.
    #[error("{0}")]
    Syntax(String),

    /// A keyword with a value it cannot take (never used for `password`).
    #[error("invalid {keyword} value: \"{value}\"")]
    InvalidValue {
        keyword: &'static str,
        value: String,
    },

    /// A libpq feature this crate does not implement; failing beats silently ignoring it.
    #[error("connection option \"{keyword}\" is not supported: {reason}")]
    Unsupported {
        keyword: &'static str,
        reason: String,
    },

    /// `port` lists neither one port nor one per host.
    #[error("could not match {ports} port numbers to {hosts} hosts")]
    PortCount { ports: usize, hosts: usize },

    /// `host` and `hostaddr` list different numbers of entries.
    #[error("could not match {names} host names to {addrs} hostaddr values")]
    HostCount { names: usize, addrs: usize },

    /// No user name was given and the operating system could not tell ours.
    #[error("could not determine the local user name ({0}); pass -U or set PGUSER")]
    UnknownUser(String),

    /// Certificates, keys or CRLs that could not be loaded, or TLS settings that cannot work.
    #[error("{0}")]
    TlsSetup(String),

    /// Every host (and every address of every host) failed; one line per attempt, like libpq.
    #[error("{}", Failures(.0))]
    Connect(Vec<ConnectFailure>),

    /// Reading a password from the terminal failed.
    #[error("could not read the password from the terminal: {0}")]
    Prompt(#[source] std::io::Error),

    /// The cancel request could not be delivered.
    #[error("could not send cancel request: {0}")]
    Cancel(String),

    /// The server is a PostgreSQL version this toolkit does not support, or its version
    /// could not be read (see [`crate::check_server_version`]).
    #[error("{0}")]
    UnsupportedServer(String),
}

impl Error {
    /// The server's error of the last attempt that reached a server, if any: lets a caller
    /// tell "wrong password" (`28P01`) or "no such database" (`3D000`) from network trouble.
    pub fn db_error(&self) -> Option<&DbError> {
        match self {
            Error::Connect(failures) => failures.iter().rev().find_map(|f| f.db_error.as_ref()),
            _ => None,
        }
    }

    /// The SQLSTATE of [`Error::db_error`].
    pub fn code(&self) -> Option<&SqlState> {
        self.db_error().map(DbError::code)
    }

    /// True when the server asked for a password and none was available (libpq's
    /// `PQconnectionNeedsPassword`): the caller may prompt and retry.
    pub fn needs_password(&self) -> bool {
        match self {
            Error::Connect(failures) => failures.iter().any(|f| f.kind == FailureKind::NoPassword),
            _ => false,
        }
    }
}

/// Why one attempt failed; decides the sslmode retries and the password prompt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FailureKind {
    /// The server answered with an ErrorResponse.
    Server,
    /// The TLS handshake failed (certificate, protocol, or the server refused TLS).
    Tls,
    /// The server asked for a password and we had none.
    NoPassword,
    /// Anything else: refused connection, DNS failure, timeout, wrong server type.
    Other,
}

/// One failed attempt: which server, and what happened.
#[derive(Clone, Debug)]
pub struct ConnectFailure {
    /// `server on socket "/run/postgresql/.s.PGSQL.5432"` or `server at "db" (10.0.0.5), port
    /// 5432`; `None` when no server was reached (a host name that does not resolve).
    pub server: Option<String>,
    /// The server's message (`FATAL:  password authentication failed for user "x"`) or the
    /// client-side reason (`Connection refused`, `timeout expired`, a certificate problem).
    pub message: String,
    /// The server's full error, when the server sent one.
    pub db_error: Option<DbError>,
    pub(crate) kind: FailureKind,
}

impl fmt::Display for ConnectFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.server {
            Some(server) => write!(f, "connection to {server} failed: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

struct Failures<'a>(&'a [ConnectFailure]);

impl fmt::Display for Failures<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("connection failed: no host to try");
        }
        for (i, failure) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{failure}")?;
        }
        Ok(())
    }
}
