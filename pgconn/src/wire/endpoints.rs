//! Endpoints for the plain client ([`super::PlainConn`]) on connections without TLS:
//! rdump's bulk COPY readers parse the byte stream in place, which tokio-postgres (one
//! message, one allocation and one wakeup per row) cannot do.
//!
//! The list honours neither `target_session_attrs` nor `load_balance_hosts`: with several
//! hosts, take it from the options [`ConnectOptions::connect_pinned`] returns, which name
//! the one server a first connection reached.
//!
//! Only what libpq would also connect to without TLS is offered: Unix-domain sockets,
//! and TCP under sslmode `disable`, `allow` or `prefer` (the caller must send an
//! SSLRequest first under `prefer` and give up if the server accepts). Callers fall back
//! to [`ConnectOptions::connect`] for everything else.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tokio_postgres::config::ChannelBinding;

use crate::options::ConnectOptions;
use crate::tls::SslMode;

/// Where a plain connection goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlainAddress {
    /// The socket file itself (`dir/.s.PGSQL.port`).
    Socket(PathBuf),
    Tcp(SocketAddr),
}

/// Everything needed to open and authenticate one plain connection.
#[derive(Clone)]
pub struct PlainEndpoint {
    pub address: PlainAddress,
    pub user: String,
    pub dbname: String,
    pub password: Option<String>,
    /// The `options` startup parameter (`-c name=value ...`).
    pub options: Option<String>,
    pub application_name: Option<String>,
    pub connect_timeout: Option<Duration>,
    /// sslmode `prefer` on TCP: ask for TLS first; if the server agrees, this endpoint
    /// must not be used in plain.
    pub ssl_request: bool,
    /// TCP keepalives as the options ask for them.
    pub keepalives: bool,
}

impl fmt::Debug for PlainEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlainEndpoint")
            .field("address", &self.address)
            .field("user", &self.user)
            .field("dbname", &self.dbname)
            .field("password", &self.password.as_ref().map(|_| "****"))
            .finish_non_exhaustive()
    }
}

impl ConnectOptions {
    /// The endpoints a plain connection may use, in the order [`ConnectOptions::connect`]
    /// tries targets; empty when every target needs TLS or channel binding is required.
    /// Host names are resolved here. The password is the one `connect` would use first
    /// (given, typed at a prompt by a clone of these options, or the password file).
    pub async fn plain_endpoints(&self) -> Vec<PlainEndpoint> {
        if self.channel_binding == ChannelBinding::Require {
            return Vec::new();
        }
        let given = match &self.password {
            Some(p) => Some(p.clone()),
            None => self.shared.prompted.lock().await.clone(),
        };
        let mut out = Vec::new();
        for target in &self.targets {
            let password = self.password_for(target, given.as_ref()).value;
            let endpoint = |address, ssl_request| PlainEndpoint {
                address,
                user: self.user.clone(),
                dbname: self.dbname.clone(),
                password: password.clone(),
                options: self.options.clone(),
                application_name: self.application_name().map(str::to_owned),
                connect_timeout: self.connect_timeout,
                ssl_request,
                keepalives: self.tcp.keepalives,
            };
            if let Some(dir) = target.socket_dir() {
                let file = dir.join(format!(".s.PGSQL.{}", target.port));
                out.push(endpoint(PlainAddress::Socket(file), false));
                continue;
            }
            let ssl_request = match self.tls.mode {
                SslMode::Disable | SslMode::Allow => false,
                SslMode::Prefer => true,
                SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => continue,
            };
            // Direct TLS negotiation has no plain fallback.
            if self.tls.direct {
                continue;
            }
            let addrs: Vec<SocketAddr> = match (target.hostaddr, &target.host) {
                (Some(ip), _) => vec![SocketAddr::new(ip, target.port)],
                (None, host) => {
                    let name = host.clone().unwrap_or_default();
                    let found = tokio::net::lookup_host((name.as_str(), target.port)).await;
                    match found {
                        Ok(found) => found.collect(),
                        Err(_) => continue,
                    }
                }
            };
            let mut seen = Vec::new();
            for addr in addrs {
                if !seen.contains(&addr) {
                    seen.push(addr);
                    out.push(endpoint(PlainAddress::Tcp(addr), ssl_request));
                }
            }
        }
        out
    }
}
