//! [`ConnectOptions`]: a fully resolved connection target, built once from flags, connection
//! string and environment, then cloned for every connection a program opens.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use tokio_postgres::config::ChannelBinding;

use crate::args::{ConnArgs, PasswordPrompt};
use crate::conninfo::{is_connection_string, parse_connection_string};
use crate::env::{Environment, ProcessEnv};
use crate::error::Error;
use crate::keywords::Params;
use crate::resolve::from_params;
use crate::tls::{SslMode, TlsSettings};

/// A password that never shows up in `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Password(pub(crate) String);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(****)")
    }
}

/// One host to try: a socket directory, a host name, or an address (with the name it stands
/// for, used for certificate checks and .pgpass).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) host: Option<String>,
    pub(crate) hostaddr: Option<IpAddr>,
    pub(crate) port: u16,
}

impl Target {
    /// The socket directory, when this target is a Unix-domain socket.
    pub(crate) fn socket_dir(&self) -> Option<&Path> {
        match (&self.hostaddr, &self.host) {
            (None, Some(host)) if host.starts_with('/') => Some(Path::new(host)),
            _ => None,
        }
    }

    /// `socket /tmp port 5432`, `host "db" port 5432`, `host "db" (address 10.0.0.5) port 5432`.
    fn describe(&self) -> String {
        match (self.socket_dir(), &self.host, &self.hostaddr) {
            (Some(dir), _, _) => format!("socket {} port {}", dir.display(), self.port),
            (None, Some(host), Some(addr)) => {
                format!("host \"{host}\" (address {addr}) port {}", self.port)
            }
            (None, Some(host), None) => format!("host \"{host}\" port {}", self.port),
            (None, None, Some(addr)) => format!("host {addr} port {}", self.port),
            (None, None, None) => format!("port {}", self.port),
        }
    }
}

/// TCP-level settings passed through to tokio-postgres.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TcpSettings {
    pub(crate) keepalives: bool,
    pub(crate) keepalives_idle: Option<Duration>,
    pub(crate) keepalives_interval: Option<Duration>,
    pub(crate) keepalives_count: Option<u32>,
    pub(crate) user_timeout: Option<Duration>,
}

/// libpq's `target_session_attrs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionAttrs {
    Any,
    ReadWrite,
    ReadOnly,
    Primary,
    Standby,
    PreferStandby,
}

/// State shared by all clones of one [`ConnectOptions`]: a password typed once serves every
/// worker connection, and a warning about the password file is printed once.
#[derive(Default)]
pub(crate) struct Shared {
    pub(crate) prompted: tokio::sync::Mutex<Option<Password>>,
    pub(crate) passfile_warned: AtomicBool,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Shared { .. }")
    }
}

/// Fully resolved connection options. `Debug` never prints the password.
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    pub(crate) targets: Vec<Target>,
    pub(crate) load_balance: bool,
    pub(crate) user: String,
    pub(crate) dbname: String,
    pub(crate) password: Option<Password>,
    pub(crate) passfile: Option<PathBuf>,
    pub(crate) application_name: Option<String>,
    pub(crate) fallback_application_name: Option<String>,
    pub(crate) options: Option<String>,
    pub(crate) connect_timeout: Option<Duration>,
    pub(crate) tcp: TcpSettings,
    pub(crate) tls: TlsSettings,
    pub(crate) channel_binding: ChannelBinding,
    pub(crate) session_attrs: SessionAttrs,
    pub(crate) prompt: PasswordPrompt,
    pub(crate) default_socket_dir: PathBuf,
    pub(crate) shared: Arc<Shared>,
}

impl ConnectOptions {
    /// Resolves flags and the database argument the way pg_dump does: `dbname` may be a plain
    /// name, a keyword=value string or a URI; values in a connection string override `-h -p -U`;
    /// then `PG*` variables fill what is still missing, then libpq's defaults.
    pub fn resolve(args: &ConnArgs, dbname: Option<&str>) -> Result<ConnectOptions, Error> {
        Self::resolve_with_env(args, dbname, &ProcessEnv)
    }

    /// [`ConnectOptions::resolve`] with an injected environment.
    pub fn resolve_with_env(
        args: &ConnArgs,
        dbname: Option<&str>,
        env: &dyn Environment,
    ) -> Result<ConnectOptions, Error> {
        let mut params = Params::default();
        // Empty flags count as absent, as in libpq's keyword arrays.
        let flags = [
            ("host", &args.host),
            ("port", &args.port),
            ("user", &args.username),
        ];
        for (keyword, value) in flags {
            if let Some(value) = value.as_ref().filter(|v| !v.is_empty()) {
                params.store(keyword, value.clone())?;
            }
        }
        if let Some(dbname) = dbname.filter(|d| !d.is_empty()) {
            if is_connection_string(dbname) {
                params.merge(parse_connection_string(dbname)?);
            } else {
                params.store("dbname", dbname.to_string())?;
            }
        }
        from_params(params, env, args.password_prompt())
    }

    /// A connection string (keyword=value or URI) or plain database name, with no flags.
    pub fn parse(conninfo_or_uri: &str) -> Result<ConnectOptions, Error> {
        Self::resolve(&ConnArgs::default(), Some(conninfo_or_uri))
    }

    /// [`ConnectOptions::parse`] with an injected environment.
    pub fn parse_with_env(
        conninfo_or_uri: &str,
        env: &dyn Environment,
    ) -> Result<ConnectOptions, Error> {
        Self::resolve_with_env(&ConnArgs::default(), Some(conninfo_or_uri), env)
    }

    /// The same server and credentials, another database.
    pub fn with_dbname(&self, db: &str) -> ConnectOptions {
        ConnectOptions {
            dbname: db.to_string(),
            ..self.clone()
        }
    }

    /// Sets the fallback application name: used unless `application_name` or `PGAPPNAME`
    /// already names the application.
    pub fn with_application_name(&self, name: &str) -> ConnectOptions {
        ConnectOptions {
            fallback_application_name: Some(name.to_string()),
            ..self.clone()
        }
    }

    /// Overrides the password prompt policy chosen by the flags.
    pub fn with_password_prompt(&self, prompt: PasswordPrompt) -> ConnectOptions {
        ConnectOptions {
            prompt,
            ..self.clone()
        }
    }

    /// The database to connect to.
    pub fn dbname(&self) -> &str {
        &self.dbname
    }

    /// The user to connect as.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The effective sslmode.
    pub fn ssl_mode(&self) -> SslMode {
        self.tls.mode
    }

    /// The application name the server will see.
    pub fn application_name(&self) -> Option<&str> {
        self.application_name
            .as_deref()
            .or(self.fallback_application_name.as_deref())
    }

    /// `user "postgres" on socket /tmp/x port 5433 database "db"`, for messages and logs.
    /// Never contains the password.
    pub fn describe(&self) -> String {
        let targets = self
            .targets
            .iter()
            .map(Target::describe)
            .collect::<Vec<_>>()
            .join(" or ");
        format!(
            "user \"{}\" on {} database \"{}\"",
            self.user, targets, self.dbname
        )
    }
}
