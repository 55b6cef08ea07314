//! The text of a cluster's configuration files: the harness's settings and pg_hba.conf.

use std::path::Path;

/// How clients must authenticate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Auth {
    Trust,
    ScramSha256,
}

impl Auth {
    fn method(self) -> &'static str {
        match self {
            Auth::Trust => "trust",
            Auth::ScramSha256 => "scram-sha-256",
        }
    }
}

/// What the harness's include file sets, in order; `extra` comes last so it wins.
pub struct ServerSettings<'a> {
    pub port: u16,
    pub socket_dir: &'a Path,
    pub ssl: bool,
    pub auth: Auth,
    pub extra: &'a [(String, String)],
}

/// The harness's configuration file. Every value is quoted, which postgresql.conf accepts
/// for parameters of any type.
pub fn harness_conf(settings: &ServerSettings) -> String {
    let mut lines: Vec<(String, String)> = vec![
        ("port".into(), settings.port.to_string()),
        ("listen_addresses".into(), "127.0.0.1".into()),
        (
            "unix_socket_directories".into(),
            settings.socket_dir.display().to_string(),
        ),
        ("unix_socket_permissions".into(), "0777".into()),
        // Parallel tests each open a handful of connections (rdump -j N, rrestore -j N).
        ("max_connections".into(), "50".into()),
        // Durability buys nothing on a throwaway cluster and costs test time.
        ("fsync".into(), "off".into()),
        ("full_page_writes".into(), "off".into()),
        ("synchronous_commit".into(), "off".into()),
        // Checkpoints every 64 MB of WAL instead of 1 GB: a test that loads a few hundred MB
        // keeps a few segments, not the whole load, so parallel tests fit on a small disk.
        ("max_wal_size".into(), "64MB".into()),
        ("min_wal_size".into(), "32MB".into()),
        // The same on every machine, so expected output does not depend on the host.
        ("timezone".into(), "UTC".into()),
        ("log_timezone".into(), "UTC".into()),
        ("lc_messages".into(), "C".into()),
        ("logging_collector".into(), "off".into()),
        ("log_line_prefix".into(), "%m [%p] %q%u@%d ".into()),
    ];
    if settings.auth == Auth::ScramSha256 {
        lines.push(("password_encryption".into(), "scram-sha-256".into()));
    }
    if settings.ssl {
        lines.push(("ssl".into(), "on".into()));
        lines.push(("ssl_cert_file".into(), "server.crt".into()));
        lines.push(("ssl_key_file".into(), "server.key".into()));
    }
    lines.extend(settings.extra.iter().cloned());
    let mut text = String::from("# Written by the rdump test harness; later lines win.\n");
    for (name, value) in lines {
        text.push_str(&format!("{name} = {}\n", conf_quote(&value)));
    }
    text
}

/// pg_hba.conf: the socket and TCP on 127.0.0.1, with `auth`. With SSL, TCP accepts both
/// encrypted and plain connections so tests can try every sslmode.
pub fn hba_conf(ssl: bool, auth: Auth) -> String {
    let method = auth.method();
    let mut text = String::from("# Written by the rdump test harness.\n");
    text.push_str(&format!("local all all {method}\n"));
    if ssl {
        text.push_str(&format!("hostssl all all 127.0.0.1/32 {method}\n"));
    }
    text.push_str(&format!("host all all 127.0.0.1/32 {method}\n"));
    text
}

fn conf_quote(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_settings_come_last_and_are_quoted() {
        let extra = vec![
            ("fsync".to_string(), "on".to_string()),
            ("search_path".to_string(), "a, 'b'".to_string()),
        ];
        let text = harness_conf(&ServerSettings {
            port: 5555,
            socket_dir: Path::new("/tmp/rdt-x/sock"),
            ssl: true,
            auth: Auth::Trust,
            extra: &extra,
        });
        let fsync_lines: Vec<&str> = text.lines().filter(|l| l.starts_with("fsync")).collect();
        assert_eq!(fsync_lines, ["fsync = 'off'", "fsync = 'on'"]);
        assert!(text.contains("search_path = 'a, ''b'''\n"));
        assert!(text.contains("port = '5555'\n"));
        assert!(text.contains("ssl = 'on'\n"));
    }

    #[test]
    fn hba_requires_the_chosen_method_everywhere() {
        let text = hba_conf(true, Auth::ScramSha256);
        let rules: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            rules,
            [
                "local all all scram-sha-256",
                "hostssl all all 127.0.0.1/32 scram-sha-256",
                "host all all 127.0.0.1/32 scram-sha-256",
            ]
        );
    }
}
