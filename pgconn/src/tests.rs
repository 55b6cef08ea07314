//! Resolution and precedence, with an injected environment.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::options::{Password, Target};
use crate::tls::Roots;
use crate::{ConnArgs, ConnectOptions, Error, MapEnv, PasswordPrompt, SessionAttrs, SslMode};

fn env() -> MapEnv {
    MapEnv::new()
        .os_user(Some("osuser"))
        .socket_dir(Path::new("/run/pg"))
        .var("HOME", "/home/osuser")
}

fn args(host: Option<&str>, port: Option<&str>, user: Option<&str>) -> ConnArgs {
    ConnArgs {
        host: host.map(str::to_string),
        port: port.map(str::to_string),
        username: user.map(str::to_string),
        ..ConnArgs::default()
    }
}

fn resolve(args: &ConnArgs, dbname: Option<&str>, env: &MapEnv) -> ConnectOptions {
    ConnectOptions::resolve_with_env(args, dbname, env).unwrap()
}

fn target(host: &str, port: u16) -> Target {
    Target {
        host: Some(host.to_string()),
        hostaddr: None,
        port,
    }
}

#[test]
fn libpq_defaults_when_nothing_is_given() {
    let o = resolve(&ConnArgs::default(), None, &env());
    assert_eq!(o.targets, vec![target("/run/pg", 5432)]);
    assert_eq!(o.user(), "osuser");
    assert_eq!(o.dbname(), "osuser");
    assert_eq!(o.ssl_mode(), SslMode::Prefer);
    assert_eq!(o.passfile, Some(PathBuf::from("/home/osuser/.pgpass")));
    assert_eq!(
        o.tls.roots,
        Roots::File(PathBuf::from("/home/osuser/.postgresql/root.crt"))
    );
    assert_eq!(o.password, None);
    assert_eq!(o.prompt, PasswordPrompt::WhenNeeded);
    assert_eq!(
        o.describe(),
        "user \"osuser\" on socket /run/pg port 5432 database \"osuser\""
    );
}

#[test]
fn flags_beat_environment() {
    let env = env()
        .var("PGHOST", "envhost")
        .var("PGPORT", "7000")
        .var("PGUSER", "envuser")
        .var("PGDATABASE", "envdb");
    let o = resolve(
        &args(Some("/tmp/x"), Some("5433"), Some("postgres")),
        Some("db"),
        &env,
    );
    assert_eq!(o.targets, vec![target("/tmp/x", 5433)]);
    assert_eq!(o.user(), "postgres");
    assert_eq!(o.dbname(), "db");
    assert_eq!(
        o.describe(),
        "user \"postgres\" on socket /tmp/x port 5433 database \"db\""
    );

    let o = resolve(&ConnArgs::default(), None, &env);
    assert_eq!(o.targets, vec![target("envhost", 7000)]);
    assert_eq!(o.user(), "envuser");
    assert_eq!(o.dbname(), "envdb");
}

#[test]
fn connection_string_in_dbname_overrides_flags_and_flags_fill_the_rest() {
    let flags = args(Some("flaghost"), Some("5433"), Some("flaguser"));
    let o = resolve(&flags, Some("host=connhost dbname=conndb"), &env());
    assert_eq!(o.targets, vec![target("connhost", 5433)]);
    assert_eq!(o.user(), "flaguser");
    assert_eq!(o.dbname(), "conndb");

    let o = resolve(
        &flags,
        Some("postgresql://uriuser@urihost:6000/uridb"),
        &env(),
    );
    assert_eq!(o.targets, vec![target("urihost", 6000)]);
    assert_eq!(o.user(), "uriuser");
    assert_eq!(o.dbname(), "uridb");
}

#[test]
fn environment_fills_what_the_connection_string_lacks() {
    let env = env()
        .var("PGPORT", "7001")
        .var("PGHOST", "envhost")
        .var("PGDATABASE", "envdb");
    let o = resolve(&ConnArgs::default(), Some("postgresql://urihost"), &env);
    assert_eq!(o.targets, vec![target("urihost", 7001)]);
    assert_eq!(o.dbname(), "envdb");
    // An explicitly empty host blocks PGHOST and falls back to the default socket directory.
    let o = resolve(&ConnArgs::default(), Some("host='' dbname=x"), &env);
    assert_eq!(o.targets, vec![target("/run/pg", 7001)]);
}

#[test]
fn empty_arguments_count_as_absent() {
    let env = env().var("PGDATABASE", "envdb");
    let o = resolve(&args(Some(""), Some(""), Some("")), Some(""), &env);
    assert_eq!(o.targets, vec![target("/run/pg", 5432)]);
    assert_eq!(o.user(), "osuser");
    assert_eq!(o.dbname(), "envdb");
}

#[test]
fn passwords_from_connection_string_beat_pgpassword() {
    let env = env().var("PGPASSWORD", "fromenv");
    let o = resolve(&ConnArgs::default(), Some("db"), &env);
    assert_eq!(o.password, Some(Password("fromenv".into())));
    let o = resolve(&ConnArgs::default(), Some("password=fromconn"), &env);
    assert_eq!(o.password, Some(Password("fromconn".into())));
    let o = resolve(
        &ConnArgs::default(),
        Some("postgresql://u:fromuri@h/db"),
        &env,
    );
    assert_eq!(o.password, Some(Password("fromuri".into())));
}

#[test]
fn password_never_shows_in_debug_or_describe() {
    let o = resolve(
        &ConnArgs::default(),
        Some("postgresql://u:hunter2@h/db?sslmode=require"),
        &env(),
    );
    assert!(!format!("{o:?}").contains("hunter2"));
    assert!(!o.describe().contains("hunter2"));
    assert!(!format!("{:?}", o.with_dbname("other")).contains("hunter2"));
}

#[test]
fn application_name_explicit_or_pgappname_beats_fallback() {
    let o = resolve(&ConnArgs::default(), None, &env()).with_application_name("rdump");
    assert_eq!(o.application_name(), Some("rdump"));
    let o = resolve(
        &ConnArgs::default(),
        None,
        &env().var("PGAPPNAME", "nightly"),
    )
    .with_application_name("rdump");
    assert_eq!(o.application_name(), Some("nightly"));
    let o = resolve(&ConnArgs::default(), Some("application_name=mine"), &env())
        .with_application_name("rdump");
    assert_eq!(o.application_name(), Some("mine"));
}

#[test]
fn with_dbname_keeps_everything_else() {
    let o = resolve(&args(Some("h"), Some("5"), Some("u")), Some("a"), &env());
    let other = o.with_dbname("b");
    assert_eq!(other.dbname(), "b");
    assert_eq!(other.user(), "u");
    assert_eq!(other.targets, o.targets);
}

#[test]
fn multiple_hosts_ports_and_addresses() {
    let o = resolve(
        &ConnArgs::default(),
        Some("host=a,b,/sock port=6000"),
        &env(),
    );
    assert_eq!(
        o.targets,
        vec![target("a", 6000), target("b", 6000), target("/sock", 6000)]
    );

    let o = resolve(
        &ConnArgs::default(),
        Some("postgresql://h1:5433,h2,[::1]:5435/db"),
        &env(),
    );
    assert_eq!(
        o.targets,
        vec![target("h1", 5433), target("h2", 5432), target("::1", 5435)]
    );

    let o = resolve(
        &ConnArgs::default(),
        Some("host=db hostaddr=10.0.0.5"),
        &env(),
    );
    assert_eq!(
        o.targets,
        vec![Target {
            host: Some("db".into()),
            hostaddr: Some("10.0.0.5".parse::<IpAddr>().unwrap()),
            port: 5432
        }]
    );

    let err =
        ConnectOptions::resolve_with_env(&ConnArgs::default(), Some("host=a,b,c port=1,2"), &env())
            .unwrap_err();
    assert_eq!(err.to_string(), "could not match 2 port numbers to 3 hosts");
    let err = ConnectOptions::resolve_with_env(
        &ConnArgs::default(),
        Some("host=a,b hostaddr=1.2.3.4"),
        &env(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "could not match 2 host names to 1 hostaddr values"
    );
    let err = ConnectOptions::resolve_with_env(
        &ConnArgs::default(),
        Some("hostaddr=db.example.com"),
        &env(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "could not parse network address \"db.example.com\""
    );
    let err = ConnectOptions::resolve_with_env(&ConnArgs::default(), Some("port=99999"), &env())
        .unwrap_err();
    assert_eq!(err.to_string(), "invalid port number: \"99999\"");
}

#[test]
fn hostaddr_alone_is_a_tcp_target() {
    let o = resolve(
        &ConnArgs::default(),
        None,
        &env().var("PGHOSTADDR", "127.0.0.1"),
    );
    assert_eq!(o.targets[0].host, None);
    assert_eq!(o.targets[0].socket_dir(), None);
    assert_eq!(
        o.describe(),
        "user \"osuser\" on host 127.0.0.1 port 5432 database \"osuser\""
    );
}

#[test]
fn unknown_and_unsupported_keywords() {
    let err = |conninfo: &str| {
        ConnectOptions::resolve_with_env(&ConnArgs::default(), Some(conninfo), &env())
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        err("dbname=x bogus=1"),
        "invalid connection option \"bogus\""
    );
    assert!(err("service=prod").contains("\"service\" is not supported"));
    assert!(err("client_encoding=LATIN1").contains("always use UTF8"));
    assert!(err("sslpassword=x").contains("\"sslpassword\" is not supported"));
    assert!(err("replication=database").contains("replication connections"));
    assert!(err("gssencmode=require").contains("GSSAPI"));
    assert!(err("host=@abstract").contains("abstract"));
    assert_eq!(err("sslmode=bogus"), "invalid sslmode value: \"bogus\"");
    assert_eq!(
        err("target_session_attrs=x"),
        "invalid target_session_attrs value: \"x\""
    );
    assert_eq!(
        err("connect_timeout=soon"),
        "invalid integer value \"soon\" for connection option \"connect_timeout\""
    );
    // The service file variable alone asks for nothing; PGSERVICE does.
    let env = env().var("PGSERVICEFILE", "/nonexistent");
    assert!(ConnectOptions::resolve_with_env(&ConnArgs::default(), None, &env).is_ok());
    let env = env.var("PGSERVICE", "prod");
    assert!(matches!(
        ConnectOptions::resolve_with_env(&ConnArgs::default(), None, &env),
        Err(Error::Unsupported {
            keyword: "service",
            ..
        })
    ));
}

#[test]
fn accepted_libpq_keywords_that_change_nothing_here() {
    let o = resolve(
        &ConnArgs::default(),
        Some("client_encoding=utf-8 gssencmode=disable sslcompression=1 krbsrvname=x keepalives=0 replication=false"),
        &env().var("PGCLIENTENCODING", "UTF8"),
    );
    assert!(!o.tcp.keepalives);
}

#[test]
fn timeouts_and_keepalives() {
    let o = resolve(
        &ConnArgs::default(),
        Some("connect_timeout=1 keepalives_idle=30 tcp_user_timeout=1500"),
        &env(),
    );
    assert_eq!(o.connect_timeout, Some(Duration::from_secs(2)));
    assert_eq!(o.tcp.keepalives_idle, Some(Duration::from_secs(30)));
    assert_eq!(o.tcp.user_timeout, Some(Duration::from_millis(1500)));
    assert!(o.tcp.keepalives);
    let o = resolve(
        &ConnArgs::default(),
        None,
        &env().var("PGCONNECT_TIMEOUT", " 10 "),
    );
    assert_eq!(o.connect_timeout, Some(Duration::from_secs(10)));
    let o = resolve(&ConnArgs::default(), Some("connect_timeout=0"), &env());
    assert_eq!(o.connect_timeout, None);
}

#[test]
fn sslmode_sources_and_rules() {
    let o = resolve(
        &ConnArgs::default(),
        None,
        &env().var("PGSSLMODE", "verify-ca"),
    );
    assert_eq!(o.ssl_mode(), SslMode::VerifyCa);
    let o = resolve(
        &ConnArgs::default(),
        Some("sslmode=disable"),
        &env().var("PGSSLMODE", "require"),
    );
    assert_eq!(o.ssl_mode(), SslMode::Disable);
    let o = resolve(
        &ConnArgs::default(),
        None,
        &env().var("PGSSLROOTCERT", "/certs/ca.pem"),
    );
    assert_eq!(o.tls.roots, Roots::File(PathBuf::from("/certs/ca.pem")));

    let o = resolve(&ConnArgs::default(), Some("sslrootcert=system"), &env());
    assert_eq!(o.ssl_mode(), SslMode::VerifyFull);
    let err = ConnectOptions::resolve_with_env(
        &ConnArgs::default(),
        Some("sslrootcert=system sslmode=require"),
        &env(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "weak sslmode \"require\" may not be used with sslrootcert=system (use \"verify-full\")"
    );
    let err = ConnectOptions::resolve_with_env(
        &ConnArgs::default(),
        Some("sslnegotiation=direct"),
        &env(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("weak sslmode \"prefer\""));
    let err = ConnectOptions::resolve_with_env(
        &ConnArgs::default(),
        Some("ssl_max_protocol_version=TLSv1.1"),
        &env(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Unsupported { .. }));
    let err = ConnectOptions::resolve_with_env(
        &ConnArgs::default(),
        Some("ssl_min_protocol_version=TLSv1.3 ssl_max_protocol_version=TLSv1.2"),
        &env(),
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "invalid SSL protocol version range");
}

#[test]
fn verify_modes_need_a_root_certificate_but_sockets_do_not_care() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("root.crt");
    let conninfo = format!(
        "host=db sslmode=verify-ca sslrootcert={}",
        missing.display()
    );
    let o = resolve(&ConnArgs::default(), Some(&conninfo), &env());
    let err = o.tls_config().unwrap_err().to_string();
    assert!(
        err.starts_with(&format!(
            "root certificate file \"{}\" does not exist",
            missing.display()
        )),
        "{err}"
    );

    // require without a root file encrypts without verification.
    let conninfo = format!("host=db sslmode=require sslrootcert={}", missing.display());
    assert!(resolve(&ConnArgs::default(), Some(&conninfo), &env())
        .tls_config()
        .unwrap()
        .is_some());
    // disable: no TLS at all; sockets only: TLS is never needed.
    assert!(resolve(
        &ConnArgs::default(),
        Some("host=db sslmode=disable"),
        &env()
    )
    .tls_config()
    .unwrap()
    .is_none());
    let conninfo = format!(
        "host=/sock sslmode=verify-full sslrootcert={}",
        missing.display()
    );
    assert!(resolve(&ConnArgs::default(), Some(&conninfo), &env())
        .tls_config()
        .unwrap()
        .is_none());

    // No home directory and no sslrootcert.
    let homeless = MapEnv::new();
    let o = ConnectOptions::resolve_with_env(
        &ConnArgs::default(),
        Some("host=db sslmode=verify-full"),
        &homeless,
    )
    .unwrap();
    assert!(o
        .tls_config()
        .unwrap_err()
        .to_string()
        .contains("could not get home directory"));
}

#[test]
fn session_attrs_and_load_balancing() {
    let o = resolve(
        &ConnArgs::default(),
        Some("target_session_attrs=prefer-standby load_balance_hosts=random"),
        &env(),
    );
    assert_eq!(o.session_attrs, SessionAttrs::PreferStandby);
    assert!(o.load_balance);
    let o = resolve(
        &ConnArgs::default(),
        None,
        &env().var("PGTARGETSESSIONATTRS", "read-write"),
    );
    assert_eq!(o.session_attrs, SessionAttrs::ReadWrite);
}

#[test]
fn passfile_sources() {
    let o = resolve(
        &ConnArgs::default(),
        None,
        &env().var("PGPASSFILE", "/etc/pgpass"),
    );
    assert_eq!(o.passfile, Some(PathBuf::from("/etc/pgpass")));
    let o = resolve(
        &ConnArgs::default(),
        Some("passfile=/mine"),
        &env().var("PGPASSFILE", "/etc/pgpass"),
    );
    assert_eq!(o.passfile, Some(PathBuf::from("/mine")));
    let o = resolve(
        &ConnArgs::default(),
        None,
        &MapEnv::new().os_home(Some(Path::new("/pwhome"))),
    );
    assert_eq!(o.passfile, Some(PathBuf::from("/pwhome/.pgpass")));
}

#[test]
fn unknown_os_user_needs_a_user_name() {
    let env = MapEnv::new().os_user(None);
    let err = ConnectOptions::resolve_with_env(&ConnArgs::default(), None, &env).unwrap_err();
    assert!(err.to_string().contains("pass -U or set PGUSER"), "{err}");
    let o = resolve(&args(None, None, Some("u")), None, &env);
    assert_eq!(o.dbname(), "u");
}

#[test]
fn prompt_policy_comes_from_the_flags() {
    let flags = ConnArgs {
        no_password: true,
        ..ConnArgs::default()
    };
    assert_eq!(resolve(&flags, None, &env()).prompt, PasswordPrompt::Never);
    let o =
        resolve(&ConnArgs::default(), None, &env()).with_password_prompt(PasswordPrompt::Always);
    assert_eq!(o.prompt, PasswordPrompt::Always);
}

#[cfg(unix)]
#[test]
fn password_file_lookup_per_target() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let passfile = dir.path().join("pgpass");
    std::fs::write(
        &passfile,
        "/tmp/sock:5433:db:u:socketpw\nlocalhost:5432:db:u:defaultpw\nh:5432:*:u:tcppw\n",
    )
    .unwrap();
    std::fs::set_permissions(&passfile, std::fs::Permissions::from_mode(0o600)).unwrap();
    let with = |conninfo: &str| {
        let conninfo = format!(
            "{conninfo} dbname=db user=u passfile={}",
            passfile.display()
        );
        let o = resolve(&ConnArgs::default(), Some(&conninfo), &env());
        o.password_for(&o.targets[0], None).value
    };
    assert_eq!(
        with("host=/tmp/sock port=5433").as_deref(),
        Some("socketpw")
    );
    assert_eq!(with("host=/run/pg").as_deref(), Some("defaultpw"));
    assert_eq!(with("").as_deref(), Some("defaultpw"));
    assert_eq!(with("host=h").as_deref(), Some("tcppw"));
    assert_eq!(with("host=other"), None);

    // A given password wins over the file.
    let o = resolve(
        &ConnArgs::default(),
        Some("host=h dbname=db user=u"),
        &env(),
    );
    let given = Password("typed".into());
    assert_eq!(
        o.password_for(&o.targets[0], Some(&given)).value.as_deref(),
        Some("typed")
    );
}

#[test]
fn options_and_errors_cross_threads() {
    fn send_sync<T: Send + Sync + 'static>() {}
    send_sync::<ConnectOptions>();
    send_sync::<Error>();
    send_sync::<crate::Canceller>();
}
