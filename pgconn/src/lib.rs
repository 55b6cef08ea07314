//! libpq-compatible connection options producing tokio-postgres clients.
//!
//! tokio-postgres reads no environment variables, no `.pgpass`, and rejects libpq-only
//! keywords; this crate does what libpq does, so `rdump -h /var/run/postgresql mydb`,
//! `PGHOST=… rdump` and `rdump "postgresql://u@h/db?sslmode=require"` behave as users expect.
//!
//! ```no_run
//! # async fn demo(args: pgconn::ConnArgs) -> Result<(), pgconn::Error> {
//! let options = pgconn::ConnectOptions::resolve(&args, Some("postgresql://u@h/db"))?
//!     .with_application_name("rdump");
//! let client = options.connect().await?;
//! # Ok(()) }
//! ```
//!
//! Connections always use client_encoding UTF8 (tokio-postgres requires it); a
//! `client_encoding` other than UTF8 is refused rather than ignored.
//!
//! [`wire`] is the one protocol client of our own: a blocking reader for bulk
//! `COPY ... TO STDOUT` on connections without TLS, on `postgres-protocol`'s messages.
//!
//! Warnings libpq prints to stderr (a password file with group or world access) go to
//! `tracing::warn!`.

mod args;
mod argv;
mod cancel;
mod connect;
mod conninfo;
mod env;
mod error;
mod failure;
mod keywords;
mod message;
mod options;
mod pgpass;
mod prompt;
mod resolve;
mod server_version;
mod tls;
mod uri;
pub mod wire;

pub use args::{ConnArgs, PasswordPrompt};
pub use argv::{hide_passwords_in_process_title, password_spans};
pub use cancel::{CancelList, Canceller};
pub use conninfo::is_connection_string;
pub use env::{Environment, MapEnv, ProcessEnv};
pub use error::{ConnectFailure, Error};
pub use message::{server_message, session_ended};
pub use options::{ConnectOptions, SessionAttrs};
pub use server_version::{
    check_server_version, supported_version, NEWEST_SUPPORTED_MAJOR, OLDEST_SUPPORTED_MAJOR,
};
pub use tls::SslMode;

#[cfg(test)]
mod tests;
