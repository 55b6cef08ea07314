//! From raw keyword values to [`ConnectOptions`]: environment defaults, libpq's built-in
//! defaults, validation of every value, and a clear refusal of features we do not implement.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio_postgres::config::ChannelBinding;

use crate::args::PasswordPrompt;
use crate::env::{home_dir, Environment};
use crate::error::Error;
use crate::keywords::Params;
use crate::options::{ConnectOptions, Password, SessionAttrs, Shared, Target, TcpSettings};
use crate::tls::TlsSettings;

const DEFAULT_PORT: u16 = 5432;

pub(crate) fn from_params(
    mut params: Params,
    env: &dyn Environment,
    prompt: PasswordPrompt,
) -> Result<ConnectOptions, Error> {
    params.add_env_defaults(&|name| env.var(name));
    reject_unsupported(&params)?;

    let user = match params.get("user") {
        Some(user) => user.to_string(),
        None => env.os_user().map_err(Error::UnknownUser)?,
    };
    let dbname = params.get("dbname").unwrap_or(&user).to_string();
    let home = home_dir(env);
    let passfile = params
        .get("passfile")
        .map(PathBuf::from)
        .or_else(|| home.as_ref().map(|h| h.join(".pgpass")));
    let default_socket_dir = env.default_socket_dir();

    Ok(ConnectOptions {
        targets: targets(&params, &default_socket_dir)?,
        load_balance: match params.get("load_balance_hosts") {
            None | Some("disable") => false,
            Some("random") => true,
            Some(other) => return Err(invalid("load_balance_hosts", other)),
        },
        user,
        dbname,
        password: params.get("password").map(|p| Password(p.to_string())),
        passfile,
        application_name: params.get("application_name").map(str::to_string),
        fallback_application_name: params.get("fallback_application_name").map(str::to_string),
        options: params.get("options").map(str::to_string),
        connect_timeout: connect_timeout(&params)?,
        tcp: tcp_settings(&params)?,
        tls: TlsSettings::from_params(&params, home.as_deref(), env)?,
        channel_binding: match params.get("channel_binding") {
            None | Some("prefer") => ChannelBinding::Prefer,
            Some("disable") => ChannelBinding::Disable,
            Some("require") => ChannelBinding::Require,
            Some(other) => return Err(invalid("channel_binding", other)),
        },
        session_attrs: match params.get("target_session_attrs") {
            None | Some("any") => SessionAttrs::Any,
            Some("read-write") => SessionAttrs::ReadWrite,
            Some("read-only") => SessionAttrs::ReadOnly,
            Some("primary") => SessionAttrs::Primary,
            Some("standby") => SessionAttrs::Standby,
            Some("prefer-standby") => SessionAttrs::PreferStandby,
            Some(other) => return Err(invalid("target_session_attrs", other)),
        },
        prompt,
        default_socket_dir,
        shared: Arc::new(Shared::default()),
    })
}

pub(crate) fn invalid(keyword: &'static str, value: &str) -> Error {
    Error::InvalidValue {
        keyword,
        value: value.to_string(),
    }
}

fn unsupported(keyword: &'static str, reason: &str) -> Error {
    Error::Unsupported {
        keyword,
        reason: reason.to_string(),
    }
}

/// Features that change security or semantics must not be silently ignored.
fn reject_unsupported(params: &Params) -> Result<(), Error> {
    const REFUSED: &[(&str, &str)] = &[
        (
            "service",
            "service files (pg_service.conf) are not read; give the connection parameters directly",
        ),
        (
            "require_auth",
            "the accepted authentication methods cannot be restricted",
        ),
        ("requirepeer", "the server process's user cannot be checked"),
        (
            "sslpassword",
            "encrypted client keys are not supported; decrypt the key file (openssl pkey)",
        ),
        ("sslkeylogfile", "TLS key logging is not supported"),
        ("oauth_issuer", "OAuth authentication is not supported"),
        ("oauth_client_id", "OAuth authentication is not supported"),
        (
            "oauth_client_secret",
            "OAuth authentication is not supported",
        ),
        ("oauth_scope", "OAuth authentication is not supported"),
    ];
    for (keyword, reason) in REFUSED {
        if params.get(keyword).is_some() {
            return Err(unsupported(keyword, reason));
        }
    }

    if let Some(value) = params.get("replication") {
        match value.to_ascii_lowercase().as_str() {
            "0" | "off" | "false" | "no" | "f" | "n" => {}
            "1" | "on" | "true" | "yes" | "t" | "y" | "database" => {
                return Err(unsupported(
                    "replication",
                    "replication connections are not supported",
                ))
            }
            _ => return Err(invalid("replication", value)),
        }
    }
    match params.get("gssencmode") {
        None | Some("disable") | Some("prefer") => {}
        Some("require") => {
            return Err(unsupported(
                "gssencmode",
                "GSSAPI encryption is not supported; use sslmode",
            ))
        }
        Some(other) => return Err(invalid("gssencmode", other)),
    }
    // tokio-postgres speaks protocol 3.0.
    match params.get("min_protocol_version") {
        None | Some("3.0") => {}
        Some("3.2") | Some("latest") => {
            return Err(unsupported(
                "min_protocol_version",
                "only protocol version 3.0 is spoken",
            ))
        }
        Some(other) => return Err(invalid("min_protocol_version", other)),
    }
    match params.get("max_protocol_version") {
        None | Some("3.0") | Some("3.2") | Some("latest") => {}
        Some(other) => return Err(invalid("max_protocol_version", other)),
    }
    if let Some(encoding) = params.get("client_encoding") {
        // libpq compares encoding names ignoring case and punctuation ("utf-8", "UTF_8").
        let normalized: String = encoding
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .collect();
        if !matches!(normalized.as_str(), "utf8" | "unicode" | "auto") {
            return Err(unsupported(
                "client_encoding",
                "connections always use UTF8 (tokio-postgres requires it); the server converts",
            ));
        }
    }
    Ok(())
}

/// libpq's integer parsing: surrounding whitespace allowed, anything else is an error.
fn int_param(params: &Params, keyword: &'static str) -> Result<Option<i64>, Error> {
    let Some(value) = params.get(keyword) else {
        return Ok(None);
    };
    value
        .trim()
        .parse::<i32>()
        .map(|v| Some(i64::from(v)))
        .map_err(|_| {
            Error::Syntax(format!(
                "invalid integer value \"{value}\" for connection option \"{keyword}\""
            ))
        })
}

fn connect_timeout(params: &Params) -> Result<Option<Duration>, Error> {
    Ok(match int_param(params, "connect_timeout")? {
        None => None,
        Some(secs) if secs <= 0 => None,
        // libpq insists on at least two seconds so a rounding can't fail a connection at once.
        Some(secs) => Some(Duration::from_secs(secs.max(2) as u64)),
    })
}

fn tcp_settings(params: &Params) -> Result<TcpSettings, Error> {
    let seconds = |keyword| -> Result<Option<Duration>, Error> {
        Ok(int_param(params, keyword)?
            .filter(|v| *v > 0)
            .map(|v| Duration::from_secs(v as u64)))
    };
    Ok(TcpSettings {
        keepalives: int_param(params, "keepalives")? != Some(0),
        keepalives_idle: seconds("keepalives_idle")?,
        keepalives_interval: seconds("keepalives_interval")?,
        keepalives_count: int_param(params, "keepalives_count")?
            .filter(|v| *v > 0)
            .map(|v| v as u32),
        user_timeout: int_param(params, "tcp_user_timeout")?
            .filter(|v| *v > 0)
            .map(|v| Duration::from_millis(v as u64)),
    })
}

fn parse_port(text: &str) -> Result<u16, Error> {
    if text.is_empty() {
        return Ok(DEFAULT_PORT);
    }
    match text.trim().parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        _ => Err(Error::Syntax(format!("invalid port number: \"{text}\""))),
    }
}

/// Splits host, hostaddr and port lists into one target per host, as libpq does.
fn targets(params: &Params, default_socket_dir: &std::path::Path) -> Result<Vec<Target>, Error> {
    let hostaddrs: Option<Vec<&str>> = params.get("hostaddr").map(|v| v.split(',').collect());
    let hosts: Option<Vec<&str>> = params.get("host").map(|v| v.split(',').collect());
    let count = match (&hostaddrs, &hosts) {
        (Some(addrs), Some(names)) if addrs.len() != names.len() => {
            return Err(Error::HostCount {
                names: names.len(),
                addrs: addrs.len(),
            })
        }
        (Some(addrs), _) => addrs.len(),
        (None, Some(names)) => names.len(),
        (None, None) => 1,
    };
    let ports: Vec<u16> = match params.get("port") {
        None => vec![DEFAULT_PORT; count],
        Some(list) => {
            let ports = list
                .split(',')
                .map(parse_port)
                .collect::<Result<Vec<_>, _>>()?;
            match ports.len() {
                1 => vec![ports[0]; count],
                n if n == count => ports,
                n => {
                    return Err(Error::PortCount {
                        ports: n,
                        hosts: count,
                    })
                }
            }
        }
    };

    let mut targets = Vec::with_capacity(count);
    for (i, port) in ports.into_iter().enumerate() {
        let hostaddr = match hostaddrs.as_ref().map(|a| a[i]).filter(|a| !a.is_empty()) {
            Some(text) => Some(text.parse::<IpAddr>().map_err(|_| {
                Error::Syntax(format!("could not parse network address \"{text}\""))
            })?),
            None => None,
        };
        let mut host = hosts
            .as_ref()
            .map(|h| h[i])
            .filter(|h| !h.is_empty())
            .map(str::to_string);
        if let Some(name) = &host {
            if name.starts_with('@') {
                return Err(unsupported(
                    "host",
                    "abstract Unix-domain sockets are not supported",
                ));
            }
        }
        if host.is_none() && hostaddr.is_none() {
            host = Some(default_socket_dir.to_string_lossy().into_owned());
        }
        targets.push(Target {
            host,
            hostaddr,
            port,
        });
    }
    Ok(targets)
}
