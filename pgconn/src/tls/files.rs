//! Reading PEM files: root certificates, CRLs, the client certificate and its key.

use std::fs;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};

use crate::error::Error;

fn setup(message: String) -> Error {
    Error::TlsSetup(message)
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, Error> {
    fs::read(path).map_err(|e| {
        setup(format!(
            "could not read {what} file \"{}\": {e}",
            path.display()
        ))
    })
}

fn certificates(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, Error> {
    let bytes = read(path, what)?;
    let certs = rustls_pemfile::certs(&mut BufReader::new(bytes.as_slice()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            setup(format!(
                "could not read {what} file \"{}\": {e}",
                path.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(setup(format!(
            "{what} file \"{}\" contains no PEM certificate",
            path.display()
        )));
    }
    Ok(certs)
}

/// The trusted roots of `sslrootcert` (or `~/.postgresql/root.crt`).
pub(super) fn load_roots(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    certificates(path, "root certificate")
}

/// Bundles where distributions keep the system's trusted roots.
const SYSTEM_BUNDLES: [&str; 4] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// `sslrootcert=system`: `SSL_CERT_FILE` if set, else the first bundle that exists.
pub(super) fn system_roots(bundle: Option<&Path>) -> Result<Vec<CertificateDer<'static>>, Error> {
    let path = match bundle {
        Some(path) => path.to_path_buf(),
        None => SYSTEM_BUNDLES
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .ok_or_else(|| {
                setup(
                    "sslrootcert=system: no system certificate bundle found; set SSL_CERT_FILE"
                        .into(),
                )
            })?,
    };
    certificates(&path, "system root certificate")
}

pub(super) fn load_crls(path: &Path) -> Result<Vec<CertificateRevocationListDer<'static>>, Error> {
    let bytes = read(path, "SSL certificate revocation list")?;
    rustls_pemfile::crls(&mut BufReader::new(bytes.as_slice()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            setup(format!(
                "could not read SSL certificate revocation list file \"{}\": {e}",
                path.display()
            ))
        })
}

/// Every regular file of `sslcrldir` (OpenSSL's hashed directory of PEM CRLs).
pub(super) fn load_crl_dir(
    dir: &Path,
) -> Result<Vec<CertificateRevocationListDer<'static>>, Error> {
    let entries = fs::read_dir(dir).map_err(|e| {
        setup(format!(
            "could not read SSL certificate revocation list directory \"{}\": {e}",
            dir.display()
        ))
    })?;
    let mut crls = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_file() {
            crls.extend(load_crls(&path)?);
        }
    }
    Ok(crls)
}

/// libpq's rule for the private key: no group/world access, except group read when the
/// file belongs to root (keys managed by the system).
#[cfg(unix)]
fn check_key_permissions(path: &Path) -> Result<(), Error> {
    use std::os::unix::fs::MetadataExt;
    let meta = fs::metadata(path).map_err(|e| {
        setup(format!(
            "could not read private key file \"{}\": {e}",
            path.display()
        ))
    })?;
    if !meta.is_file() {
        return Err(setup(format!(
            "private key file \"{}\" is not a regular file",
            path.display()
        )));
    }
    let mode = meta.mode();
    let too_open = if meta.uid() == 0 {
        mode & 0o037 != 0
    } else {
        mode & 0o077 != 0
    };
    if too_open {
        return Err(setup(format!(
            "private key file \"{}\" has group or world access; file must have permissions u=rw (0600) or less if owned by the current user, or permissions u=rw,g=r (0640) or less if owned by root",
            path.display()
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_key_permissions(_path: &Path) -> Result<(), Error> {
    Ok(())
}

/// `sslcert` with the key from `sslkey`; a certificate without its key is an error, as in libpq.
pub(super) fn load_client_cert(
    cert: &Path,
    key: Option<&Path>,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), Error> {
    let chain = certificates(cert, "certificate")?;
    let key_path = key.filter(|k| k.exists()).ok_or_else(|| {
        setup(format!(
            "certificate present, but not private key file \"{}\"",
            key.map(|k| k.display().to_string()).unwrap_or_default()
        ))
    })?;
    check_key_permissions(key_path)?;
    let bytes = read(key_path, "private key")?;
    let parsed =
        rustls_pemfile::private_key(&mut BufReader::new(bytes.as_slice())).map_err(|e| {
            setup(format!(
                "could not load private key file \"{}\": {e}",
                key_path.display()
            ))
        })?;
    match parsed {
        Some(key) => Ok((chain, key)),
        None if String::from_utf8_lossy(&bytes).contains("ENCRYPTED") => Err(Error::Unsupported {
            keyword: "sslkey",
            reason: format!(
                "private key file \"{}\" is encrypted; decrypt it (openssl pkey -in KEY -out PLAIN)",
                key_path.display()
            ),
        }),
        None => Err(setup(format!(
            "could not load private key file \"{}\": no PEM private key found",
            key_path.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::tls::test_certs::{encrypted_copy, self_signed};

    #[test]
    fn client_certificate_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = self_signed(dir.path(), "client", "/CN=alice", &[]);
        fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
        let (chain, _key) = load_client_cert(&cert, Some(&key)).unwrap();
        assert_eq!(chain.len(), 1);

        fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
        let err = load_client_cert(&cert, Some(&key)).unwrap_err().to_string();
        assert!(err.contains("has group or world access"), "{err}");

        let missing = dir.path().join("missing.key");
        let err = load_client_cert(&cert, Some(&missing))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("certificate present, but not private key file"),
            "{err}"
        );

        fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
        let encrypted = encrypted_copy(&key, dir.path());
        fs::set_permissions(&encrypted, fs::Permissions::from_mode(0o600)).unwrap();
        let err = load_client_cert(&cert, Some(&encrypted)).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Unsupported {
                    keyword: "sslkey",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn root_files_must_hold_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.crt");
        fs::write(&empty, "not a certificate\n").unwrap();
        let err = load_roots(&empty).unwrap_err().to_string();
        assert!(err.contains("contains no PEM certificate"), "{err}");
        let (cert, _) = self_signed(dir.path(), "ca", "/CN=ca", &[]);
        assert_eq!(load_roots(&cert).unwrap().len(), 1);
    }
}
