//! Matching the server's certificate to the host name, with libpq's rules rather than the
//! stricter web ones: the Common Name counts when there is no DNS subjectAltName, and an IP
//! address may match an iPAddress or dNSName entry, or the Common Name when there is no
//! iPAddress entry.

use std::net::IpAddr;

use rustls::pki_types::UnixTime;
use x509_cert::der::asn1::{Ia5StringRef, PrintableStringRef, TeletexStringRef, Utf8StringRef};
use x509_cert::der::oid::{AssociatedOid, ObjectIdentifier};
use x509_cert::der::{Any, Decode};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::Certificate;

const COMMON_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");

/// The identities a certificate claims.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct CertNames {
    pub(crate) dns: Vec<String>,
    pub(crate) ips: Vec<IpAddr>,
    pub(crate) common_names: Vec<String>,
}

fn parse(der: &[u8]) -> Result<Certificate, String> {
    Certificate::from_der(der).map_err(|e| format!("could not parse server certificate: {e}"))
}

fn any_to_string(value: &Any) -> Option<String> {
    if let Ok(s) = value.decode_as::<Utf8StringRef<'_>>() {
        return Some(s.as_str().to_string());
    }
    if let Ok(s) = value.decode_as::<PrintableStringRef<'_>>() {
        return Some(s.as_str().to_string());
    }
    if let Ok(s) = value.decode_as::<Ia5StringRef<'_>>() {
        return Some(s.as_str().to_string());
    }
    if let Ok(s) = value.decode_as::<TeletexStringRef<'_>>() {
        return Some(s.as_str().to_string());
    }
    None
}

pub(crate) fn certificate_names(der: &[u8]) -> Result<CertNames, String> {
    let cert = parse(der)?;
    let mut names = CertNames::default();
    for ext in cert.tbs_certificate.extensions.iter().flatten() {
        if ext.extn_id != SubjectAltName::OID {
            continue;
        }
        let san = SubjectAltName::from_der(ext.extn_value.as_bytes())
            .map_err(|e| format!("could not parse the server certificate's subjectAltName: {e}"))?;
        for name in san.0 {
            match name {
                GeneralName::DnsName(dns) => names.dns.push(dns.to_string()),
                GeneralName::IpAddress(octets) => {
                    let bytes = octets.as_bytes();
                    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
                        names.ips.push(IpAddr::from(v4));
                    } else if let Ok(v6) = <[u8; 16]>::try_from(bytes) {
                        names.ips.push(IpAddr::from(v6));
                    }
                }
                _ => {}
            }
        }
    }
    for rdn in cert.tbs_certificate.subject.0.iter() {
        for attribute in rdn.0.iter() {
            if attribute.oid == COMMON_NAME {
                if let Some(cn) = any_to_string(&attribute.value) {
                    names.common_names.push(cn);
                }
            }
        }
    }
    Ok(names)
}

/// A certificate name against a host name: case-insensitive, and a leading `*.` matches one
/// label (never a dot).
fn name_matches(pattern: &str, host: &str) -> bool {
    if pattern.eq_ignore_ascii_case(host) {
        return true;
    }
    let Some(suffix) = pattern.strip_prefix('*') else {
        return false;
    };
    if !suffix.starts_with('.') || suffix.len() < 2 || host.len() < suffix.len() + 1 {
        return false;
    }
    let (label, tail) = host.split_at(host.len() - suffix.len());
    tail.eq_ignore_ascii_case(suffix) && !label.contains('.')
}

pub(crate) fn host_matches(names: &CertNames, host: &str) -> bool {
    match host.parse::<IpAddr>() {
        Ok(ip) => {
            names.ips.contains(&ip)
                || names.dns.iter().any(|d| d.eq_ignore_ascii_case(host))
                || (names.ips.is_empty() && names.common_names.iter().any(|cn| cn == host))
        }
        Err(_) if names.dns.is_empty() => {
            names.common_names.iter().any(|cn| name_matches(cn, host))
        }
        Err(_) => names.dns.iter().any(|d| name_matches(d, host)),
    }
}

/// libpq's wording for a certificate issued to someone else.
pub(crate) fn mismatch_message(names: &CertNames, host: &str) -> String {
    let all: Vec<String> = names
        .dns
        .iter()
        .cloned()
        .chain(names.ips.iter().map(IpAddr::to_string))
        .chain(names.common_names.iter().cloned())
        .collect();
    match all.as_slice() {
        [] => "could not get server's host name from server certificate".to_string(),
        [one] => format!("server certificate for \"{one}\" does not match host name \"{host}\""),
        [first, rest @ ..] => format!(
            "server certificate for \"{first}\" (and {} other name{}) does not match host name \"{host}\"",
            rest.len(),
            if rest.len() == 1 { "" } else { "s" }
        ),
    }
}

/// Whether `now` lies in the certificate's validity period (for a pinned self-signed
/// certificate, where webpki's path building does not apply).
pub(crate) fn currently_valid(der: &[u8], now: UnixTime) -> Result<bool, String> {
    let cert = parse(der)?;
    let validity = cert.tbs_certificate.validity;
    let now = now.as_secs();
    Ok(validity.not_before.to_unix_duration().as_secs() <= now
        && now <= validity.not_after.to_unix_duration().as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dns: &[&str], ips: &[&str], cns: &[&str]) -> CertNames {
        CertNames {
            dns: dns.iter().map(|s| s.to_string()).collect(),
            ips: ips.iter().map(|s| s.parse().unwrap()).collect(),
            common_names: cns.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn dns_names_and_wildcards() {
        let n = names(
            &["db.example.com", "*.pg.example.com"],
            &[],
            &["ignored.example.com"],
        );
        assert!(host_matches(&n, "DB.example.com"));
        assert!(host_matches(&n, "a.pg.example.com"));
        assert!(!host_matches(&n, "a.b.pg.example.com"));
        assert!(!host_matches(&n, "pg.example.com"));
        // A DNS subjectAltName hides the Common Name.
        assert!(!host_matches(&n, "ignored.example.com"));
    }

    #[test]
    fn common_name_when_no_dns_names() {
        let n = names(&[], &[], &["localhost"]);
        assert!(host_matches(&n, "localhost"));
        assert!(!host_matches(&n, "otherhost"));
        assert!(!host_matches(&n, "127.0.0.1"));
    }

    #[test]
    fn ip_addresses() {
        let n = names(&["localhost"], &["127.0.0.1", "::1"], &[]);
        assert!(host_matches(&n, "127.0.0.1"));
        assert!(host_matches(&n, "::1"));
        assert!(!host_matches(&n, "10.0.0.1"));
        let cn_only = names(&[], &[], &["10.0.0.1"]);
        assert!(host_matches(&cn_only, "10.0.0.1"));
        let with_ip_san = names(&[], &["10.0.0.2"], &["10.0.0.1"]);
        assert!(!host_matches(&with_ip_san, "10.0.0.1"));
    }

    #[test]
    fn mismatch_messages() {
        assert_eq!(
            mismatch_message(&names(&["localhost"], &[], &[]), "127.0.0.1"),
            "server certificate for \"localhost\" does not match host name \"127.0.0.1\""
        );
        assert_eq!(
            mismatch_message(&names(&["a", "b"], &["::1"], &[]), "c"),
            "server certificate for \"a\" (and 2 other names) does not match host name \"c\""
        );
    }
}

#[cfg(test)]
mod certificate_tests {
    use super::*;
    use crate::tls::test_certs::{der, self_signed};

    #[test]
    fn names_are_read_from_real_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let (cn_only, _) = self_signed(dir.path(), "cn", "/O=Example/CN=db.example.com", &[]);
        let names = certificate_names(der(&cn_only).as_ref()).unwrap();
        assert_eq!(names.common_names, vec!["db.example.com".to_string()]);
        assert!(names.dns.is_empty() && names.ips.is_empty());
        assert!(host_matches(&names, "db.example.com"));

        let (with_san, _) = self_signed(
            dir.path(),
            "san",
            "/CN=ignored",
            &["subjectAltName=DNS:*.pg.example.com,DNS:db,IP:10.1.2.3,IP:::1"],
        );
        let names = certificate_names(der(&with_san).as_ref()).unwrap();
        assert_eq!(
            names.dns,
            vec!["*.pg.example.com".to_string(), "db".to_string()]
        );
        assert_eq!(
            names.ips,
            vec![
                "10.1.2.3".parse::<IpAddr>().unwrap(),
                "::1".parse().unwrap()
            ]
        );
        assert!(host_matches(&names, "x.pg.example.com"));
        assert!(host_matches(&names, "::1"));
        assert!(!host_matches(&names, "ignored"));
        assert!(currently_valid(der(&with_san).as_ref(), UnixTime::now()).unwrap());
    }
}
