//! Turning a failed attempt into libpq's kind of message: which server, and the server's
//! words or the client-side reason (with libpq's hints), never the password.

use tokio_postgres::error::SqlState;

use crate::connect::{Address, AttemptPassword};
use crate::error::{ConnectFailure, FailureKind};
use crate::options::Target;

/// libpq's way of naming the server in a failure.
pub(crate) fn server_label(target: &Target, address: Option<&Address>) -> String {
    match address {
        Some(Address::Socket(dir)) => {
            format!(
                "server on socket \"{}/.s.PGSQL.{}\"",
                dir.display(),
                target.port
            )
        }
        Some(Address::Tcp { name, ip }) if target.hostaddr.is_none() && *name != ip.to_string() => {
            format!("server at \"{name}\" ({ip}), port {}", target.port)
        }
        Some(Address::Tcp { ip, .. }) if target.hostaddr.is_some() => {
            format!("server at \"{ip}\", port {}", target.port)
        }
        Some(Address::Tcp { name, .. }) => format!("server at \"{name}\", port {}", target.port),
        None => format!(
            "server at \"{}\", port {}",
            target
                .host
                .clone()
                .or_else(|| target.hostaddr.map(|a| a.to_string()))
                .unwrap_or_default(),
            target.port
        ),
    }
}

/// "Connection refused (os error 111)" → "Connection refused", as libpq prints strerror.
pub(crate) fn strip_os_error(text: &str) -> String {
    match text.rfind(" (os error ") {
        Some(pos) if text.ends_with(')') => text[..pos].to_string(),
        _ => text.to_string(),
    }
}

/// The error and its causes, joined: tokio-postgres keeps the interesting part in `source`.
pub(crate) fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![err.to_string()];
    let mut source = err.source();
    while let Some(cause) = source {
        parts.push(cause.to_string());
        source = cause.source();
    }
    strip_os_error(&parts.join(": "))
}

pub(crate) fn failure_from(
    err: &tokio_postgres::Error,
    server: String,
    address: &Address,
    password: &AttemptPassword,
) -> ConnectFailure {
    if let Some(db) = err.as_db_error() {
        let mut message = format!("{}:  {}", db.severity(), db.message());
        if let Some(detail) = db.detail() {
            message.push_str(&format!("\nDETAIL:  {detail}"));
        }
        if let Some(hint) = db.hint() {
            message.push_str(&format!("\nHINT:  {hint}"));
        }
        if let (Some(file), &SqlState::INVALID_PASSWORD) = (&password.from_file, db.code()) {
            message.push_str(&format!(
                "\npassword retrieved from file \"{}\"",
                file.display()
            ));
        }
        return ConnectFailure {
            server: Some(server),
            message,
            db_error: Some(db.clone()),
            kind: FailureKind::Server,
        };
    }
    let top = err.to_string();
    let cause = std::error::Error::source(err)
        .map(error_chain)
        .unwrap_or_default();
    let (message, kind) = if cause == "password missing" {
        (
            "fe_sendauth: no password supplied".to_string(),
            FailureKind::NoPassword,
        )
    } else if top.starts_with("error performing TLS handshake") {
        let message = if cause == "server does not support TLS" {
            "server does not support SSL, but SSL was required".to_string()
        } else {
            let detail = std::error::Error::source(err)
                .and_then(rustls_error)
                .map(describe_rustls_error)
                .unwrap_or(cause);
            format!("SSL error: {detail}")
        };
        (message, FailureKind::Tls)
    } else if top.starts_with("error connecting to server") {
        let hint = match address {
            Address::Socket(_) => {
                "Is the server running locally and accepting connections on that socket?"
            }
            Address::Tcp { .. } => {
                "Is the server running on that host and accepting TCP/IP connections?"
            }
        };
        (format!("{cause}\n\t{hint}"), FailureKind::Other)
    } else if cause.is_empty() {
        (top, FailureKind::Other)
    } else {
        (format!("{top}: {cause}"), FailureKind::Other)
    };
    ConnectFailure {
        server: Some(server),
        message,
        db_error: None,
        kind,
    }
}

/// The rustls error inside a failed handshake (tokio-rustls wraps it in an `io::Error`).
fn rustls_error<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        if let Some(tls) = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(tls);
        }
        current = e.source();
    }
    None
}

/// rustls prints some certificate errors with `Debug`; ours carry a sentence of their own.
fn describe_rustls_error(err: &rustls::Error) -> String {
    match err {
        rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other)) => {
            format!("certificate verify failed: {}", other.0)
        }
        rustls::Error::InvalidCertificate(cert) => {
            use rustls::CertificateError as E;
            let reason = match cert {
                E::UnknownIssuer => {
                    "the server's certificate is not signed by a CA in the root certificate file"
                        .to_string()
                }
                E::Expired | E::ExpiredContext { .. } => {
                    "the server's certificate has expired".to_string()
                }
                E::NotValidYet | E::NotValidYetContext { .. } => {
                    "the server's certificate is not valid yet".to_string()
                }
                E::Revoked => "the server's certificate has been revoked".to_string(),
                other => other.to_string(),
            };
            format!("certificate verify failed: {reason}")
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;

    #[test]
    fn server_labels_follow_libpq() {
        let socket = Target {
            host: Some("/tmp/s".into()),
            hostaddr: None,
            port: 5433,
        };
        assert_eq!(
            server_label(&socket, Some(&Address::Socket("/tmp/s".into()))),
            "server on socket \"/tmp/s/.s.PGSQL.5433\""
        );
        let named = Target {
            host: Some("localhost".into()),
            hostaddr: None,
            port: 5432,
        };
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let tcp = Address::Tcp {
            name: "localhost".into(),
            ip,
        };
        assert_eq!(
            server_label(&named, Some(&tcp)),
            "server at \"localhost\" (127.0.0.1), port 5432"
        );
        let numeric = Target {
            host: None,
            hostaddr: Some(ip),
            port: 5432,
        };
        let tcp = Address::Tcp {
            name: "127.0.0.1".into(),
            ip,
        };
        assert_eq!(
            server_label(&numeric, Some(&tcp)),
            "server at \"127.0.0.1\", port 5432"
        );
    }

    #[test]
    fn os_error_suffix_is_dropped() {
        assert_eq!(
            strip_os_error("Connection refused (os error 111)"),
            "Connection refused"
        );
        assert_eq!(strip_os_error("plain"), "plain");
    }
}
