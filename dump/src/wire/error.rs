//! Errors of the plain protocol client.

use std::fmt;
use std::io;

/// An `ErrorResponse` from the server: the fields users and callers need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerError {
    /// Localized severity (`ERROR`, `FATAL`, ...).
    pub severity: String,
    /// SQLSTATE.
    pub code: String,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
}

impl ServerError {
    /// Parses the body of an `ErrorResponse` or `NoticeResponse`: (type byte, C string)
    /// pairs ending with a zero byte.
    pub fn parse(body: &[u8]) -> ServerError {
        let mut e = ServerError {
            severity: String::new(),
            code: String::new(),
            message: String::new(),
            detail: None,
            hint: None,
        };
        let mut rest = body;
        while let Some((&kind, tail)) = rest.split_first() {
            if kind == 0 {
                break;
            }
            let end = tail.iter().position(|&b| b == 0).unwrap_or(tail.len());
            let value = String::from_utf8_lossy(&tail[..end]).into_owned();
            match kind {
                b'S' => e.severity = value,
                b'C' => e.code = value,
                b'M' => e.message = value,
                b'D' => e.detail = Some(value),
                b'H' => e.hint = Some(value),
                _ => {}
            }
            rest = tail.get(end + 1..).unwrap_or(&[]);
        }
        e
    }
}

/// Same shape as `pgconn::server_message`: `ERROR: message (DETAIL: detail)`.
impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.severity, self.message)?;
        if let Some(detail) = &self.detail {
            write!(f, " (DETAIL: {detail})")?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("{0}")]
    Server(ServerError),
    #[error("error communicating with the server: {0}")]
    Io(#[from] io::Error),
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// The connection needs something this client does not do (TLS, an authentication
    /// method): the caller uses a full client instead.
    #[error("{0}")]
    Unsupported(String),
    /// The consumer of the data refused it; its own error says why.
    #[error("the data could not be stored")]
    SinkFailed,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_fields_are_read_and_shown_like_pgconn() {
        let body = b"SERROR\0VERROR\0C42P01\0Mrelation \"x\" does not exist\0Dsome detail\0P15\0\0";
        let e = ServerError::parse(body);
        assert_eq!(e.code, "42P01");
        assert_eq!(e.hint, None);
        assert_eq!(
            e.to_string(),
            "ERROR: relation \"x\" does not exist (DETAIL: some detail)"
        );
    }

    #[test]
    fn truncated_error_bodies_do_not_panic() {
        let e = ServerError::parse(b"SFATAL\0Mno terminator");
        assert_eq!(e.severity, "FATAL");
        assert_eq!(e.message, "no terminator");
        assert_eq!(ServerError::parse(b"").message, "");
    }
}
