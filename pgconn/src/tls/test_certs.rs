//! Certificates for unit tests, made with the openssl command line tool (which the
//! integration-test harness needs anyway).

use std::path::{Path, PathBuf};
use std::process::Command;

use rustls::pki_types::CertificateDer;

fn openssl(args: &[&str]) {
    let output = Command::new("openssl")
        .env_remove("OPENSSL_CONF")
        .args(args)
        .output()
        .expect("the openssl command line tool is needed for these tests");
    assert!(
        output.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A self-signed certificate (marked as a CA, as `openssl req -x509` makes them) with the
/// given subject and extra `-addext` extensions; returns (cert, key) paths.
pub(crate) fn self_signed(
    dir: &Path,
    name: &str,
    subject: &str,
    extensions: &[&str],
) -> (PathBuf, PathBuf) {
    let cert = dir.join(format!("{name}.crt"));
    let key = dir.join(format!("{name}.key"));
    let (cert_s, key_s) = (cert.display().to_string(), key.display().to_string());
    let mut args = vec![
        "req",
        "-x509",
        "-new",
        "-nodes",
        "-days",
        "30",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-subj",
        subject,
        "-keyout",
        &key_s,
        "-out",
        &cert_s,
    ];
    for ext in extensions {
        args.push("-addext");
        args.push(ext);
    }
    openssl(&args);
    (cert, key)
}

pub(crate) fn der(path: &Path) -> CertificateDer<'static> {
    let pem = std::fs::read(path).unwrap();
    let first = rustls_pemfile::certs(&mut pem.as_slice())
        .next()
        .unwrap()
        .unwrap();
    first
}

/// `key` re-encrypted with a passphrase (PKCS#8).
pub(crate) fn encrypted_copy(key: &Path, dir: &Path) -> PathBuf {
    let out = dir.join("encrypted.key");
    openssl(&[
        "pkcs8",
        "-topk8",
        "-in",
        &key.display().to_string(),
        "-out",
        &out.display().to_string(),
        "-passout",
        "pass:secret",
    ]);
    out
}
