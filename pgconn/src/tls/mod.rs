//! sslmode and friends, over rustls with the ring provider.
//!
//! libpq's rules, kept here: Unix sockets never use TLS; `require` encrypts without checking
//! the certificate, unless a root certificate file exists, in which case the chain is
//! verified (as `verify-ca`); `verify-ca` checks the chain only; `verify-full` checks the chain
//! and the host name (subjectAltName, or the Common Name when the certificate has no DNS
//! names); `sslrootcert=system` uses the system's trust store and implies `verify-full`.

mod connector;
mod files;
mod names;
mod verify;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ClientConfig;

use crate::env::Environment;
use crate::error::Error;
use crate::keywords::Params;
use crate::resolve::invalid;

pub(crate) use connector::PgTls;
use verify::{Check, PgVerifier};

/// libpq's sslmode values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        })
    }
}

/// Where trusted roots come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Roots {
    /// `sslrootcert` or `~/.postgresql/root.crt`: used when it exists, required by verify-*.
    File(PathBuf),
    /// `sslrootcert=system`: the bundle named by `SSL_CERT_FILE`, else the distribution's.
    System(Option<PathBuf>),
    /// No `sslrootcert` and no home directory to find the default in.
    NoHome,
}

/// TLS versions rustls can speak.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum TlsVersion {
    V1_2,
    V1_3,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TlsSettings {
    pub(crate) mode: SslMode,
    pub(crate) roots: Roots,
    pub(crate) cert: Option<PathBuf>,
    pub(crate) key: Option<PathBuf>,
    pub(crate) send_cert: bool,
    pub(crate) crl: Option<PathBuf>,
    pub(crate) crl_dir: Option<PathBuf>,
    pub(crate) sni: bool,
    pub(crate) min_version: TlsVersion,
    pub(crate) max_version: TlsVersion,
    pub(crate) direct: bool,
}

const HOW_TO_FIX_ROOTS: &str = "Either provide the file, use the system's trusted roots with sslrootcert=system, or change sslmode to disable server certificate verification.";

/// Parses `TLSv1` .. `TLSv1.3`; versions below 1.2 are accepted as a minimum (rustls never
/// goes lower anyway) but cannot be a maximum.
fn tls_version(
    params: &Params,
    keyword: &'static str,
) -> Result<Option<(TlsVersion, bool)>, Error> {
    let Some(text) = params.get(keyword) else {
        return Ok(None);
    };
    let version = match text.to_ascii_lowercase().as_str() {
        "tlsv1" | "tlsv1.1" => (TlsVersion::V1_2, false),
        "tlsv1.2" => (TlsVersion::V1_2, true),
        "tlsv1.3" => (TlsVersion::V1_3, true),
        _ => return Err(invalid(keyword, text)),
    };
    Ok(Some(version))
}

impl TlsSettings {
    pub(crate) fn from_params(
        params: &Params,
        home: Option<&Path>,
        env: &dyn Environment,
    ) -> Result<TlsSettings, Error> {
        let rootcert = params.get("sslrootcert");
        let system = rootcert == Some("system");
        let mode = match params.get("sslmode") {
            None if system => SslMode::VerifyFull,
            None => SslMode::Prefer,
            Some("disable") => SslMode::Disable,
            Some("allow") => SslMode::Allow,
            Some("prefer") => SslMode::Prefer,
            Some("require") => SslMode::Require,
            Some("verify-ca") => SslMode::VerifyCa,
            Some("verify-full") => SslMode::VerifyFull,
            Some(other) => return Err(invalid("sslmode", other)),
        };
        if system && mode != SslMode::VerifyFull {
            return Err(Error::TlsSetup(format!(
                "weak sslmode \"{mode}\" may not be used with sslrootcert=system (use \"verify-full\")"
            )));
        }
        let direct = match params.get("sslnegotiation") {
            None | Some("postgres") => false,
            Some("direct") => true,
            Some(other) => return Err(invalid("sslnegotiation", other)),
        };
        if direct && matches!(mode, SslMode::Disable | SslMode::Allow | SslMode::Prefer) {
            return Err(Error::TlsSetup(format!(
                "weak sslmode \"{mode}\" may not be used with sslnegotiation=direct (use \"require\", \"verify-ca\", or \"verify-full\")"
            )));
        }
        let send_cert = match params.get("sslcertmode") {
            None | Some("allow") => true,
            Some("disable") => false,
            Some("require") => {
                return Err(Error::Unsupported {
                    keyword: "sslcertmode",
                    reason: "\"require\" cannot be checked with rustls; use \"allow\"".into(),
                })
            }
            Some(other) => return Err(invalid("sslcertmode", other)),
        };
        let min = tls_version(params, "ssl_min_protocol_version")?;
        let max = tls_version(params, "ssl_max_protocol_version")?;
        if let Some((_, false)) = max {
            return Err(Error::Unsupported {
                keyword: "ssl_max_protocol_version",
                reason: "TLS versions older than TLSv1.2 are not supported".into(),
            });
        }
        let min_version = min.map_or(TlsVersion::V1_2, |(v, _)| v);
        let max_version = max.map_or(TlsVersion::V1_3, |(v, _)| v);
        if min_version > max_version {
            return Err(Error::TlsSetup("invalid SSL protocol version range".into()));
        }

        let in_home = |name: &str| home.map(|h| h.join(".postgresql").join(name));
        let path_or_default = |keyword: &str, name: &str| {
            params
                .get(keyword)
                .map(PathBuf::from)
                .or_else(|| in_home(name))
        };
        let roots = match rootcert {
            Some("system") => Roots::System(
                env.var("SSL_CERT_FILE")
                    .filter(|f| !f.is_empty())
                    .map(PathBuf::from),
            ),
            Some(path) => Roots::File(PathBuf::from(path)),
            None => in_home("root.crt").map_or(Roots::NoHome, Roots::File),
        };
        Ok(TlsSettings {
            mode,
            roots,
            cert: path_or_default("sslcert", "postgresql.crt"),
            key: path_or_default("sslkey", "postgresql.key"),
            send_cert,
            crl: path_or_default("sslcrl", "root.crl"),
            crl_dir: params.get("sslcrldir").map(PathBuf::from),
            // libpq sends SNI only when sslsni starts with '1' (the default).
            sni: params.get("sslsni").is_none_or(|v| v.starts_with('1')),
            min_version,
            max_version,
            direct,
        })
    }

    /// What to check of the server's certificate, and against which roots.
    fn check(&self) -> Result<Check, Error> {
        let verify = matches!(self.mode, SslMode::VerifyCa | SslMode::VerifyFull);
        let with_name = self.mode == SslMode::VerifyFull;
        let roots = match &self.roots {
            Roots::System(bundle) => files::system_roots(bundle.as_deref())?,
            Roots::File(path) if path.exists() => files::load_roots(path)?,
            Roots::File(path) if verify => {
                return Err(Error::TlsSetup(format!(
                    "root certificate file \"{}\" does not exist\n{HOW_TO_FIX_ROOTS}",
                    path.display()
                )))
            }
            Roots::NoHome if verify => {
                return Err(Error::TlsSetup(format!(
                "could not get home directory to locate root certificate file\n{HOW_TO_FIX_ROOTS}"
            )))
            }
            Roots::File(_) | Roots::NoHome => return Ok(Check::Nothing),
        };
        let mut crls = Vec::new();
        if let Some(path) = self.crl.as_deref().filter(|p| p.exists()) {
            crls.extend(files::load_crls(path)?);
        }
        if let Some(dir) = &self.crl_dir {
            crls.extend(files::load_crl_dir(dir)?);
        }
        Ok(Check::Chain {
            roots,
            crls,
            host_name: with_name,
        })
    }

    /// The rustls configuration for this sslmode, or `None` for `disable`.
    pub(crate) fn client_config(&self) -> Result<Option<Arc<ClientConfig>>, Error> {
        if self.mode == SslMode::Disable {
            return Ok(None);
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = PgVerifier::new(self.check()?, provider.clone())?;
        let mut versions = Vec::new();
        if self.min_version <= TlsVersion::V1_2 && self.max_version >= TlsVersion::V1_2 {
            versions.push(&rustls::version::TLS12);
        }
        if self.max_version >= TlsVersion::V1_3 {
            versions.push(&rustls::version::TLS13);
        }
        let builder = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&versions)
            .map_err(|e| Error::TlsSetup(format!("could not set up TLS: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier));
        let client_cert = match (&self.cert, self.send_cert) {
            (Some(cert), true) if cert.exists() => {
                Some(files::load_client_cert(cert, self.key.as_deref())?)
            }
            _ => None,
        };
        let mut config = match client_cert {
            Some((chain, key)) => builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| Error::TlsSetup(format!("could not use client certificate: {e}")))?,
            None => builder.with_no_client_auth(),
        };
        config.enable_sni = self.sni;
        // PostgreSQL 17+ requires this ALPN with direct negotiation; older servers ignore it.
        config.alpn_protocols = vec![b"postgresql".to_vec()];
        Ok(Some(Arc::new(config)))
    }
}

#[cfg(test)]
pub(crate) mod test_certs;
