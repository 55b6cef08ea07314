//! How a failed statement is reported to users.

use crate::failure::error_chain;

/// The server's own words where there are some (`ERROR: ... (DETAIL: ...)`), else the
/// client-side description with its causes (`error communicating with the server: Connection
/// reset by peer`), which tokio-postgres's own `Display` leaves out.
pub fn server_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut s = format!("{}: {}", db.severity(), db.message());
            if let Some(detail) = db.detail() {
                s.push_str(&format!(" (DETAIL: {detail})"));
            }
            s
        }
        None => error_chain(e),
    }
}

/// Whether a server error ended the session rather than one statement: connection
/// exceptions (class 08) and operator intervention (class 57: terminated, shutting down).
pub fn session_ended(code: &tokio_postgres::error::SqlState) -> bool {
    let c = code.code();
    c.starts_with("08") || c.starts_with("57P")
}
