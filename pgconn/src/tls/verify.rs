//! The server-certificate verifier: nothing (`require` without roots), the chain
//! (`verify-ca`, or `require` with a root file present), or chain and host name (`verify-full`).
//! Handshake signatures are always checked, so the session is at least bound to the key the
//! server presented.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, OtherError, RootCertStore, SignatureScheme};

use super::names;
use crate::error::Error;

/// What the verifier checks.
pub(crate) enum Check {
    Nothing,
    Chain {
        roots: Vec<CertificateDer<'static>>,
        crls: Vec<CertificateRevocationListDer<'static>>,
        host_name: bool,
    },
}

pub(crate) struct PgVerifier {
    chain: Option<Arc<WebPkiServerVerifier>>,
    anchors: Vec<CertificateDer<'static>>,
    host_name: bool,
    provider: Arc<CryptoProvider>,
}

impl fmt::Debug for PgVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgVerifier")
            .field("chain", &self.chain.is_some())
            .field("host_name", &self.host_name)
            .finish()
    }
}

/// A certificate problem in our own words, carried through rustls to the error message.
#[derive(Debug)]
struct Rejected(String);

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Rejected {}

fn rejected(message: String) -> rustls::Error {
    rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(Rejected(
        message,
    )))))
}

fn is_name_error(error: &rustls::Error) -> bool {
    matches!(
        error,
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
        )
    )
}

impl PgVerifier {
    pub(crate) fn new(check: Check, provider: Arc<CryptoProvider>) -> Result<PgVerifier, Error> {
        let Check::Chain {
            roots,
            crls,
            host_name,
        } = check
        else {
            return Ok(PgVerifier {
                chain: None,
                anchors: Vec::new(),
                host_name: false,
                provider,
            });
        };
        let mut store = RootCertStore::empty();
        let (added, _ignored) = store.add_parsable_certificates(roots.iter().cloned());
        if added == 0 {
            return Err(Error::TlsSetup(
                "the root certificate file holds no usable certificate".into(),
            ));
        }
        let mut builder =
            WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider.clone());
        if !crls.is_empty() {
            builder = builder.with_crls(crls);
        }
        let chain = builder.build().map_err(|e| {
            Error::TlsSetup(format!("could not set up certificate verification: {e}"))
        })?;
        Ok(PgVerifier {
            chain: Some(chain),
            anchors: roots,
            host_name,
            provider,
        })
    }

    /// The chain check, ignoring webpki's own (stricter) name check. A self-signed server
    /// certificate that is itself in the root file is trusted as OpenSSL does, even when it is
    /// marked as a CA (PostgreSQL's documented quick setup makes exactly that).
    fn check_chain(
        &self,
        chain: &WebPkiServerVerifier,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        now: UnixTime,
    ) -> Result<(), rustls::Error> {
        match chain.verify_server_cert(end_entity, intermediates, server_name, &[], now) {
            Ok(_) => Ok(()),
            Err(e) if is_name_error(&e) => Ok(()),
            Err(e) => {
                let pinned = self
                    .anchors
                    .iter()
                    .any(|a| a.as_ref() == end_entity.as_ref());
                if pinned && names::currently_valid(end_entity, now).map_err(rejected)? {
                    Ok(())
                } else {
                    Err(e)
                }
            }
        }
    }
}

impl ServerCertVerifier for PgVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        self.check_chain(chain, end_entity, intermediates, server_name, now)?;
        if self.host_name {
            let host = match server_name {
                ServerName::DnsName(name) => name.as_ref().to_string(),
                ServerName::IpAddress(ip) => IpAddr::from(*ip).to_string(),
                _ => return Err(rejected("unsupported server name type".into())),
            };
            let names = names::certificate_names(end_entity).map_err(rejected)?;
            if !names::host_matches(&names, &host) {
                return Err(rejected(names::mismatch_message(&names, &host)));
            }
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::test_certs::{der, self_signed};

    fn verifier(roots: Vec<CertificateDer<'static>>, host_name: bool) -> PgVerifier {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let check = Check::Chain {
            roots,
            crls: Vec::new(),
            host_name,
        };
        PgVerifier::new(check, provider).unwrap()
    }

    fn name(host: &str) -> ServerName<'static> {
        ServerName::try_from(host.to_string()).unwrap()
    }

    /// PostgreSQL's documented quick setup: a self-signed server certificate, copied to the
    /// clients as root.crt. webpki refuses it (a CA used as end entity); OpenSSL, and we, trust it.
    #[test]
    fn a_pinned_self_signed_certificate_is_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let (server, _) = self_signed(dir.path(), "server", "/CN=db.example.com", &[]);
        let (other, _) = self_signed(dir.path(), "other", "/CN=db.example.com", &[]);
        let cert = der(&server);
        let now = UnixTime::now();

        // webpki alone refuses it, which is why the pinned path exists.
        let mut store = RootCertStore::empty();
        store.add(cert.clone()).unwrap();
        let plain = WebPkiServerVerifier::builder_with_provider(
            Arc::new(store),
            Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()
        .unwrap();
        assert!(plain
            .verify_server_cert(&cert, &[], &name("db.example.com"), &[], now)
            .is_err());

        let full = verifier(vec![cert.clone()], true);
        assert!(full
            .verify_server_cert(&cert, &[], &name("db.example.com"), &[], now)
            .is_ok());
        let err = full
            .verify_server_cert(&cert, &[], &name("elsewhere.example.com"), &[], now)
            .unwrap_err();
        assert!(
            err.to_string().contains("does not match host name"),
            "{err}"
        );

        let chain_only = verifier(vec![cert.clone()], false);
        assert!(chain_only
            .verify_server_cert(&cert, &[], &name("elsewhere.example.com"), &[], now)
            .is_ok());

        // Same subject, different key: not trusted.
        let stranger = verifier(vec![der(&other)], false);
        assert!(stranger
            .verify_server_cert(&cert, &[], &name("db.example.com"), &[], now)
            .is_err());
    }

    #[test]
    fn no_verification_accepts_any_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let (server, _) = self_signed(dir.path(), "server", "/CN=x", &[]);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let none = PgVerifier::new(Check::Nothing, provider).unwrap();
        assert!(none
            .verify_server_cert(&der(&server), &[], &name("y"), &[], UnixTime::now())
            .is_ok());
    }
}
