//! Throwaway certificates for SSL clusters, made once per test process with the openssl CLI:
//! a CA, a server certificate it signs (CN localhost; SAN DNS:localhost, IP:127.0.0.1), and a
//! second, unrelated CA for tests that expect verification to fail.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::command::check;

/// The certificate files of one test process.
#[derive(Debug)]
pub struct Certificates {
    /// The CA that signed `server_cert`: what a client passes as `sslrootcert`.
    pub ca_cert: PathBuf,
    /// A CA that signed nothing the server presents: verification against it must fail.
    pub other_ca_cert: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
}

/// The process's certificates, made on first use.
pub fn certificates() -> &'static Certificates {
    static CERTS: OnceLock<Certificates> = OnceLock::new();
    CERTS.get_or_init(|| make_certificates(&crate::scratch::private_dir(true)))
}

fn make_certificates(dir: &Path) -> Certificates {
    let ca_key = dir.join("ca.key");
    let ca_cert = dir.join("ca.crt");
    make_ca(&ca_key, &ca_cert, "rdump test CA");

    let other_ca_key = dir.join("other-ca.key");
    let other_ca_cert = dir.join("other-ca.crt");
    make_ca(&other_ca_key, &other_ca_cert, "rdump untrusted test CA");

    let server_key = dir.join("server.key");
    let server_csr = dir.join("server.csr");
    let server_cert = dir.join("server.crt");
    check(
        openssl()
            .args(["req", "-new", "-nodes", "-newkey", "ec"])
            .args(["-pkeyopt", "ec_paramgen_curve:prime256v1"])
            .args(["-subj", "/CN=localhost"])
            .arg("-keyout")
            .arg(&server_key)
            .arg("-out")
            .arg(&server_csr),
    );
    // rustls/webpki insist on a v3 leaf with SAN, not marked as a CA, usable for server auth.
    let extensions = dir.join("server.ext");
    std::fs::write(
        &extensions,
        "basicConstraints = critical, CA:FALSE\n\
         keyUsage = critical, digitalSignature, keyEncipherment\n\
         extendedKeyUsage = serverAuth\n\
         subjectAltName = DNS:localhost, IP:127.0.0.1\n",
    )
    .unwrap_or_else(|err| panic!("write {}: {err}", extensions.display()));
    check(
        openssl()
            .args(["x509", "-req", "-days", "3650", "-sha256"])
            .args(["-set_serial", &serial()])
            .arg("-in")
            .arg(&server_csr)
            .arg("-CA")
            .arg(&ca_cert)
            .arg("-CAkey")
            .arg(&ca_key)
            .arg("-extfile")
            .arg(&extensions)
            .arg("-out")
            .arg(&server_cert),
    );
    Certificates {
        ca_cert,
        other_ca_cert,
        server_cert,
        server_key,
    }
}

fn make_ca(key: &Path, cert: &Path, common_name: &str) {
    check(
        openssl()
            .args(["req", "-x509", "-new", "-nodes", "-days", "3650", "-sha256"])
            .args(["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"])
            .args(["-subj", &format!("/CN={common_name}")])
            .args(["-set_serial", &serial()])
            .args(["-addext", "basicConstraints=critical,CA:TRUE"])
            .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"])
            .arg("-keyout")
            .arg(key)
            .arg("-out")
            .arg(cert),
    );
}

fn openssl() -> Command {
    let mut cmd = Command::new("openssl");
    // Keep a developer's OPENSSL_CONF from changing what gets generated.
    cmd.env_remove("OPENSSL_CONF");
    cmd
}

/// A serial number unlikely to repeat between runs (clients may cache by issuer + serial).
fn serial() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("0x{:x}{:08x}", nanos, std::process::id())
}
