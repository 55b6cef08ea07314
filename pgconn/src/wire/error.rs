//! Errors of the plain protocol client.

use std::fmt;
use std::io;

use fallible_iterator::FallibleIterator;
use postgres_protocol::message::backend::ErrorFields;

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
    /// The fields of an `ErrorResponse` or `NoticeResponse`, as `postgres-protocol`
    /// splits them. A malformed body ends the list early rather than failing: what was
    /// read still explains the error.
    pub fn from_fields(mut fields: ErrorFields<'_>) -> ServerError {
        let mut e = ServerError {
            severity: String::new(),
            code: String::new(),
            message: String::new(),
            detail: None,
            hint: None,
        };
        while let Ok(Some(field)) = fields.next() {
            let value = String::from_utf8_lossy(field.value_bytes()).into_owned();
            match field.type_() {
                b'S' => e.severity = value,
                b'C' => e.code = value,
                b'M' => e.message = value,
                b'D' => e.detail = Some(value),
                b'H' => e.hint = Some(value),
                _ => {}
            }
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
    use bytes::BytesMut;
    use postgres_protocol::message::backend::Message;

    use super::*;

    /// An ErrorResponse with `body`, parsed as the client parses it.
    fn parsed(body: &[u8]) -> ServerError {
        let mut raw = BytesMut::from(&b"E"[..]);
        raw.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
        raw.extend_from_slice(body);
        match Message::parse(&mut raw) {
            Ok(Some(Message::ErrorResponse(b))) => ServerError::from_fields(b.fields()),
            _ => panic!("not an ErrorResponse"),
        }
    }

    #[test]
    fn error_fields_are_read_and_shown_like_pgconn() {
        let e = parsed(
            b"SERROR\0VERROR\0C42P01\0Mrelation \"x\" does not exist\0Dsome detail\0P15\0\0",
        );
        assert_eq!(e.code, "42P01");
        assert_eq!(e.hint, None);
        assert_eq!(
            e.to_string(),
            "ERROR: relation \"x\" does not exist (DETAIL: some detail)"
        );
    }

    #[test]
    fn truncated_error_bodies_do_not_panic() {
        let e = parsed(b"SFATAL\0Mno terminator");
        assert_eq!(e.severity, "FATAL");
        assert_eq!(e.message, "");
        assert_eq!(parsed(b"").message, "");
    }
}
