//! Connecting: every host in order (or shuffled), every address of each host, libpq's sslmode
//! retries, passwords from the options, a prompt or the password file, target_session_attrs,
//! and libpq-style messages for every failed attempt.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use rustls::ClientConfig;
use tokio_postgres::config::{SslMode as WireSslMode, SslNegotiation};
use tokio_postgres::error::Severity;
use tokio_postgres::{AsyncMessage, Client, SimpleQueryMessage};

use crate::args::PasswordPrompt;
use crate::error::{ConnectFailure, Error, FailureKind};
use crate::failure::{error_chain, failure_from, server_label, strip_os_error};
use crate::options::{ConnectOptions, Password, SessionAttrs, Target};
use crate::pgpass;
use crate::prompt;
use crate::tls::{PgTls, SslMode};

/// One concrete place to connect to.
pub(crate) enum Address {
    Socket(PathBuf),
    Tcp { name: String, ip: IpAddr },
}

/// Where a password came from matters for one message: libpq names the password file when a
/// password from it is rejected.
pub(crate) struct AttemptPassword {
    pub(crate) value: Option<String>,
    pub(crate) from_file: Option<PathBuf>,
}

impl ConnectOptions {
    /// Opens a connection and spawns its driver on the current tokio runtime.
    ///
    /// The password comes from, in order: a `-W` prompt, `password=` / `PGPASSWORD`, a
    /// prompt typed earlier by a clone of these options, the password file. When the server
    /// asks for a password and none was found, the terminal is asked (unless `-w`) and the
    /// connection retried; the typed password is then reused by every clone.
    pub async fn connect(&self) -> Result<Client, Error> {
        self.connect_pinned().await.map(|(client, _)| client)
    }

    /// Connects as [`ConnectOptions::connect`] does, and also returns options that reach
    /// exactly the server this connection reached: its one host (socket, or TCP address and
    /// port), with `target_session_attrs` and `load_balance_hosts` already settled. Further
    /// connections that must share this one's server (rdump's workers joining the leader's
    /// snapshot) use those: with several hosts, the original options could pick another.
    pub async fn connect_pinned(&self) -> Result<(Client, ConnectOptions), Error> {
        let (client, reached) = self.connect_reaching().await?;
        let pinned = ConnectOptions {
            targets: vec![reached],
            load_balance: false,
            session_attrs: SessionAttrs::Any,
            ..self.clone()
        };
        Ok((client, pinned))
    }

    async fn connect_reaching(&self) -> Result<(Client, Target), Error> {
        let tls = PgTls::new(self.tls_config()?);
        let password = self.password_before_connecting().await?;
        match self.connect_all(&tls, password.as_ref()).await {
            Err(err)
                if err.needs_password()
                    && password.is_none()
                    && self.prompt == PasswordPrompt::WhenNeeded =>
            {
                match self.prompted_password().await? {
                    Some(typed) => self.connect_all(&tls, Some(&typed)).await,
                    None => Err(err),
                }
            }
            other => other,
        }
    }

    /// The rustls configuration, built only when some target could use TLS.
    pub(crate) fn tls_config(&self) -> Result<Option<Arc<ClientConfig>>, Error> {
        if self.targets.iter().all(|t| t.socket_dir().is_some()) {
            return Ok(None);
        }
        self.tls.client_config()
    }

    async fn password_before_connecting(&self) -> Result<Option<Password>, Error> {
        if self.prompt == PasswordPrompt::Always {
            return self
                .prompted_password()
                .await
                .map(|typed| typed.or_else(|| self.password.clone()));
        }
        if self.password.is_some() {
            return Ok(self.password.clone());
        }
        Ok(self.shared.prompted.lock().await.clone())
    }

    /// Asks the terminal once for all clones; `None` when there is no terminal.
    async fn prompted_password(&self) -> Result<Option<Password>, Error> {
        let mut cached = self.shared.prompted.lock().await;
        if cached.is_none() {
            let typed = tokio::task::spawn_blocking(|| prompt::read_password("Password: "))
                .await
                .map_err(|e| Error::Prompt(std::io::Error::other(e)))?
                .map_err(Error::Prompt)?;
            *cached = typed.map(Password);
        }
        Ok(cached.clone())
    }

    async fn connect_all(
        &self,
        tls: &PgTls,
        password: Option<&Password>,
    ) -> Result<(Client, Target), Error> {
        let mut order: Vec<&Target> = self.targets.iter().collect();
        if self.load_balance {
            shuffle(&mut order);
        }
        let passes: &[SessionAttrs] = match self.session_attrs {
            SessionAttrs::PreferStandby => &[SessionAttrs::Standby, SessionAttrs::Any],
            ref attrs => std::slice::from_ref(attrs),
        };
        let mut failures = Vec::new();
        for &attrs in passes {
            for target in &order {
                if let Some(reached) = self
                    .connect_target(target, tls, password, attrs, &mut failures)
                    .await
                {
                    return Ok(reached);
                }
            }
        }
        Err(Error::Connect(failures))
    }

    pub(crate) fn password_for(
        &self,
        target: &Target,
        given: Option<&Password>,
    ) -> AttemptPassword {
        if let Some(password) = given {
            return AttemptPassword {
                value: Some(password.0.clone()),
                from_file: None,
            };
        }
        let none = AttemptPassword {
            value: None,
            from_file: None,
        };
        let Some(passfile) = &self.passfile else {
            return none;
        };
        let hostaddr = target.hostaddr.map(|a| a.to_string());
        let key = pgpass::host_key(
            target.host.as_deref(),
            hostaddr.as_deref(),
            &self.default_socket_dir.to_string_lossy(),
        );
        match pgpass::lookup(
            passfile,
            key,
            &target.port.to_string(),
            &self.dbname,
            &self.user,
        ) {
            pgpass::Lookup::Found(password) => AttemptPassword {
                value: Some(password),
                from_file: Some(passfile.clone()),
            },
            pgpass::Lookup::NotFound => none,
            pgpass::Lookup::Ignored(warning) => {
                if !self.shared.passfile_warned.swap(true, Ordering::SeqCst) {
                    tracing::warn!("{warning}");
                }
                none
            }
        }
    }

    async fn connect_target(
        &self,
        target: &Target,
        tls: &PgTls,
        given: Option<&Password>,
        attrs: SessionAttrs,
        failures: &mut Vec<ConnectFailure>,
    ) -> Option<(Client, Target)> {
        let password = self.password_for(target, given);
        let tcp = target.socket_dir().is_none();
        if tcp && self.tls.mode == SslMode::VerifyFull && target.host.is_none() {
            failures.push(ConnectFailure {
                server: Some(server_label(target, None)),
                message: "host name must be specified for a verified SSL connection".into(),
                db_error: None,
                kind: FailureKind::Other,
            });
            return None;
        }
        let addresses = match addresses(target, self.load_balance).await {
            Ok(addresses) => addresses,
            Err(failure) => {
                failures.push(failure);
                return None;
            }
        };
        for address in &addresses {
            for (step, mode) in wire_modes(self.tls.mode, tcp).iter().enumerate() {
                let attempt_tls = tls.fresh();
                match self
                    .attempt(target, address, *mode, attempt_tls.clone(), &password)
                    .await
                {
                    Ok(client) => {
                        return match session_matches(&client, attrs).await {
                            Ok(()) => Some((client, reached_target(target, address))),
                            Err(message) => {
                                failures.push(ConnectFailure {
                                    server: Some(server_label(target, Some(address))),
                                    message,
                                    db_error: None,
                                    kind: FailureKind::Other,
                                });
                                None
                            }
                        };
                    }
                    Err(failure) => {
                        // libpq: "allow" retries with TLS when the server rejected plain;
                        // "prefer" retries without TLS when the TLS session failed.
                        let retry = step == 0
                            && match self.tls.mode {
                                SslMode::Allow => failure.kind == FailureKind::Server,
                                SslMode::Prefer => {
                                    attempt_tls.handshake_started()
                                        && matches!(
                                            failure.kind,
                                            FailureKind::Server | FailureKind::Tls
                                        )
                                }
                                _ => false,
                            };
                        failures.push(failure);
                        if !retry {
                            break;
                        }
                    }
                }
            }
        }
        None
    }

    async fn attempt(
        &self,
        target: &Target,
        address: &Address,
        mode: WireSslMode,
        tls: PgTls,
        password: &AttemptPassword,
    ) -> Result<Client, ConnectFailure> {
        let mut config = tokio_postgres::Config::new();
        config
            .user(&self.user)
            .dbname(&self.dbname)
            .port(target.port);
        if let Some(value) = &password.value {
            config.password(value);
        }
        if let Some(options) = &self.options {
            config.options(options);
        }
        if let Some(name) = self.application_name() {
            config.application_name(name);
        }
        match address {
            Address::Socket(dir) => {
                config.host_path(dir).ssl_mode(WireSslMode::Disable);
            }
            Address::Tcp { name, ip } => {
                config.host(name).hostaddr(*ip).ssl_mode(mode);
                config.keepalives(self.tcp.keepalives);
                if let Some(idle) = self.tcp.keepalives_idle {
                    config.keepalives_idle(idle);
                }
                if let Some(interval) = self.tcp.keepalives_interval {
                    config.keepalives_interval(interval);
                }
                if let Some(count) = self.tcp.keepalives_count {
                    config.keepalives_retries(count);
                }
                if let Some(timeout) = self.tcp.user_timeout {
                    config.tcp_user_timeout(timeout);
                }
            }
        }
        config.ssl_negotiation(if self.tls.direct {
            SslNegotiation::Direct
        } else {
            SslNegotiation::Postgres
        });
        config.channel_binding(self.channel_binding);
        if let Some(timeout) = self.connect_timeout {
            config.connect_timeout(timeout);
        }

        let server = server_label(target, Some(address));
        let connecting = config.connect(tls);
        // libpq's connect_timeout bounds the whole startup, not just the TCP connect.
        let result = match self.connect_timeout {
            Some(limit) => match tokio::time::timeout(limit, connecting).await {
                Ok(result) => result,
                Err(_) => {
                    return Err(ConnectFailure {
                        server: Some(server),
                        message: "timeout expired".into(),
                        db_error: None,
                        kind: FailureKind::Other,
                    })
                }
            },
            None => connecting.await,
        };
        match result {
            Ok((client, connection)) => {
                tokio::spawn(drive(connection));
                Ok(client)
            }
            Err(err) => Err(failure_from(&err, server, address, password)),
        }
    }
}

/// Runs a connection until it closes, passing the server's notices and warnings to `tracing`
/// (tokio-postgres would hand them to the `log` crate, which our binaries do not listen to).
async fn drive<S, T>(mut connection: tokio_postgres::Connection<S, T>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            Some(Ok(AsyncMessage::Notice(notice))) => {
                let text = format!("{}:  {}", notice.severity(), notice.message());
                // The non-localized severity, whatever lc_messages says.
                match notice.parsed_severity() {
                    Some(Severity::Warning) => tracing::warn!("{text}"),
                    Some(Severity::Notice | Severity::Info) => tracing::info!("{text}"),
                    _ => tracing::debug!("{text}"),
                }
            }
            Some(Ok(_)) => {}
            Some(Err(err)) => {
                tracing::debug!("connection ended with an error: {}", error_chain(&err));
                return;
            }
            None => return,
        }
    }
}

/// The TLS modes to try on one address, in order; retries are decided by `connect_target`.
fn wire_modes(mode: SslMode, tcp: bool) -> Vec<WireSslMode> {
    if !tcp {
        return vec![WireSslMode::Disable];
    }
    match mode {
        SslMode::Disable => vec![WireSslMode::Disable],
        SslMode::Allow => vec![WireSslMode::Disable, WireSslMode::Require],
        SslMode::Prefer => vec![WireSslMode::Prefer, WireSslMode::Disable],
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => vec![WireSslMode::Require],
    }
}

async fn addresses(target: &Target, shuffled: bool) -> Result<Vec<Address>, ConnectFailure> {
    if let Some(dir) = target.socket_dir() {
        return Ok(vec![Address::Socket(dir.to_path_buf())]);
    }
    if let Some(ip) = target.hostaddr {
        // A socket directory next to a hostaddr names nothing TLS could check.
        let name = match &target.host {
            Some(host) if !host.starts_with('/') => host.clone(),
            _ => ip.to_string(),
        };
        return Ok(vec![Address::Tcp { name, ip }]);
    }
    let name = target.host.clone().unwrap_or_default();
    let resolved = tokio::net::lookup_host((name.as_str(), target.port))
        .await
        .map_err(|err| ConnectFailure {
            server: None,
            message: format!(
                "could not translate host name \"{name}\" to address: {}",
                strip_os_error(&err.to_string())
            ),
            db_error: None,
            kind: FailureKind::Other,
        })?;
    let mut ips: Vec<IpAddr> = Vec::new();
    for addr in resolved {
        if !ips.contains(&addr.ip()) {
            ips.push(addr.ip());
        }
    }
    // load_balance_hosts=random also spreads connections over a name's addresses (libpq).
    if shuffled {
        shuffle(&mut ips);
    }
    Ok(ips
        .into_iter()
        .map(|ip| Address::Tcp {
            name: name.clone(),
            ip,
        })
        .collect())
}

/// The one place `address` (of `target`) is: a target that offers no other choice.
fn reached_target(target: &Target, address: &Address) -> Target {
    match address {
        // A socket target has one address: itself.
        Address::Socket(_) => target.clone(),
        // The host name stays: TLS checks it and the password file is keyed by it.
        Address::Tcp { ip, .. } => Target {
            host: target.host.clone(),
            hostaddr: Some(*ip),
            port: target.port,
        },
    }
}

/// Checks `target_session_attrs` on a fresh connection; `Err` is libpq's reason to move on.
async fn session_matches(client: &Client, attrs: SessionAttrs) -> Result<(), String> {
    if attrs == SessionAttrs::Any {
        return Ok(());
    }
    let messages = client
        .simple_query(
            "SELECT pg_catalog.pg_is_in_recovery(), pg_catalog.current_setting('transaction_read_only')",
        )
        .await
        .map_err(|e| format!("could not check the server's state: {}", error_chain(&e)))?;
    let Some(row) = messages.iter().find_map(|m| match m {
        SimpleQueryMessage::Row(row) => Some(row),
        _ => None,
    }) else {
        return Err("could not check the server's state: no row returned".into());
    };
    let in_recovery = row.get(0) == Some("t");
    let read_only = row.get(1) == Some("on");
    match attrs {
        SessionAttrs::ReadWrite if read_only => Err("session is read-only".into()),
        SessionAttrs::ReadOnly if !read_only => Err("session is not read-only".into()),
        SessionAttrs::Primary if in_recovery => Err("server is in hot standby mode".into()),
        SessionAttrs::Standby if !in_recovery => Err("server is not in hot standby mode".into()),
        _ => Ok(()),
    }
}

/// Fisher–Yates with the standard library's per-process random keys (no rand dependency).
fn shuffle<T>(items: &mut [T]) {
    let random = RandomState::new();
    for i in (1..items.len()).rev() {
        let mut hasher = random.build_hasher();
        hasher.write_usize(i);
        let j = (hasher.finish() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_attempt_order() {
        assert_eq!(
            wire_modes(SslMode::Prefer, false),
            vec![WireSslMode::Disable]
        );
        assert_eq!(
            wire_modes(SslMode::VerifyFull, false),
            vec![WireSslMode::Disable]
        );
        assert_eq!(
            wire_modes(SslMode::Allow, true),
            vec![WireSslMode::Disable, WireSslMode::Require]
        );
        assert_eq!(
            wire_modes(SslMode::Prefer, true),
            vec![WireSslMode::Prefer, WireSslMode::Disable]
        );
        assert_eq!(
            wire_modes(SslMode::VerifyCa, true),
            vec![WireSslMode::Require]
        );
    }

    #[test]
    fn shuffle_keeps_every_item() {
        let mut items: Vec<u32> = (0..50).collect();
        shuffle(&mut items);
        let mut sorted = items.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
    }
}
