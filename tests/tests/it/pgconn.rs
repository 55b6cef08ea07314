//! pgconn against real servers: sockets and TCP, every sslmode, passwords from the
//! environment and from password files, libpq's retries, cancel requests, clear errors.
//! The environment is injected ([`MapEnv`]): tests never read or change the process's.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use pgconn::{ConnArgs, ConnectOptions, Error, MapEnv, PasswordPrompt};
use rdump_tests::{conninfo_value, Cluster, ClusterOptions};
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

const PASSWORD: &str = "Tr0ub4dor&3 'quoted'";

/// No variables, no home directory (so no ~/.pgpass, no ~/.postgresql/root.crt).
fn bare_env() -> MapEnv {
    MapEnv::new()
}

fn options(conninfo: &str, env: &MapEnv) -> ConnectOptions {
    ConnectOptions::parse_with_env(conninfo, env)
        .unwrap_or_else(|err| panic!("{conninfo}: {err}"))
        .with_password_prompt(PasswordPrompt::Never)
}

async fn connect(conninfo: &str, env: &MapEnv) -> Client {
    options(conninfo, env)
        .connect()
        .await
        .unwrap_or_else(|err| panic!("connecting with {conninfo} failed: {err}"))
}

async fn connect_err(conninfo: &str, env: &MapEnv) -> Error {
    match options(conninfo, env).connect().await {
        Ok(_) => panic!("connecting with {conninfo} should have failed"),
        Err(err) => err,
    }
}

async fn scalar(client: &Client, sql: &str) -> Option<String> {
    let row = client.query_one(sql, &[]).await.unwrap();
    row.get(0)
}

async fn ssl_in_use(client: &Client) -> bool {
    client
        .query_one(
            "SELECT ssl FROM pg_catalog.pg_stat_ssl WHERE pid = pg_catalog.pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

fn path_value(path: &Path) -> String {
    conninfo_value(&path.display().to_string())
}

fn write_passfile(dir: &Path, text: &str, mode: u32) -> std::path::PathBuf {
    let path = dir.join("pgpass");
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

/// A .pgpass field: `:` and `\` escaped.
fn pgpass_field(text: &str) -> String {
    text.replace('\\', "\\\\").replace(':', "\\:")
}

#[tokio::test]
async fn socket_tcp_flags_and_uri() {
    let cluster = Cluster::start();
    let env = bare_env();

    let client = connect(&cluster.conninfo("postgres"), &env).await;
    assert_eq!(
        scalar(&client, "SELECT current_user::text")
            .await
            .as_deref(),
        Some("postgres")
    );
    assert_eq!(
        scalar(&client, "SELECT inet_server_addr()::text").await,
        None,
        "socket"
    );

    let client = connect(&cluster.tcp_conninfo("postgres"), &env).await;
    assert_eq!(
        scalar(&client, "SELECT host(inet_server_addr())")
            .await
            .as_deref(),
        Some("127.0.0.1")
    );

    // pg_dump's flags, with the database as a plain name.
    let args = ConnArgs {
        host: Some(cluster.socket_dir().display().to_string()),
        port: Some(cluster.port().to_string()),
        username: Some("postgres".into()),
        ..ConnArgs::default()
    };
    cluster.create_db("flags db");
    let opts = ConnectOptions::resolve_with_env(&args, Some("flags db"), &env).unwrap();
    let client = opts.connect().await.unwrap();
    assert_eq!(
        scalar(&client, "SELECT current_database()::text")
            .await
            .as_deref(),
        Some("flags db")
    );

    // A URI with the socket directory percent-encoded, and one with host= in the query.
    let encoded_dir = cluster
        .socket_dir()
        .display()
        .to_string()
        .replace('/', "%2F");
    let uri = format!(
        "postgresql://postgres@{encoded_dir}:{}/flags%20db",
        cluster.port()
    );
    let client = connect(&uri, &env).await;
    assert_eq!(
        scalar(&client, "SELECT current_database()::text")
            .await
            .as_deref(),
        Some("flags db")
    );
    let uri = format!(
        "postgres:///postgres?host={}&port={}&user=postgres",
        cluster.socket_dir().display(),
        cluster.port()
    );
    connect(&uri, &env).await;
    let uri = format!(
        "postgresql://postgres@127.0.0.1:{}/postgres?sslmode=disable",
        cluster.port()
    );
    let client = connect(&uri, &env).await;
    assert!(!ssl_in_use(&client).await);
}

#[tokio::test]
async fn application_name_fallback_and_override() {
    let cluster = Cluster::start();
    let conninfo = cluster.conninfo("postgres");
    let opts = options(&conninfo, &bare_env()).with_application_name("rdump-test");
    let client = opts.connect().await.unwrap();
    assert_eq!(
        scalar(&client, "SELECT current_setting('application_name')")
            .await
            .as_deref(),
        Some("rdump-test")
    );

    let env = bare_env().var("PGAPPNAME", "nightly backup");
    let opts = options(&conninfo, &env).with_application_name("rdump-test");
    let client = opts.connect().await.unwrap();
    assert_eq!(
        scalar(&client, "SELECT current_setting('application_name')")
            .await
            .as_deref(),
        Some("nightly backup")
    );
}

#[tokio::test]
async fn several_hosts_are_tried_in_order() {
    let cluster = Cluster::start();
    let empty_dir = tempfile::tempdir().unwrap();
    let conninfo = format!(
        "host={},{} port={} user=postgres dbname=postgres",
        empty_dir.path().display(),
        cluster.socket_dir().display(),
        cluster.port()
    );
    connect(&conninfo, &bare_env()).await;

    // When all fail, every attempt is reported, libpq style.
    let conninfo = format!(
        "host={},127.0.0.1 port=1,{} user=postgres dbname=postgres sslmode=disable",
        empty_dir.path().display(),
        closed_port()
    );
    let err = connect_err(&conninfo, &bare_env()).await.to_string();
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("connection to server"))
        .collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(
        lines[0].starts_with(&format!(
            "connection to server on socket \"{}/.s.PGSQL.1\" failed:",
            empty_dir.path().display()
        )),
        "{err}"
    );
    assert!(
        lines[1].starts_with("connection to server at \"127.0.0.1\", port "),
        "{err}"
    );
    assert!(err.contains("Is the server running"), "{err}");
}

/// `connect_pinned` gives options that reach the server the connection reached and no
/// other, whatever the host list, target_session_attrs and load balancing would pick next.
#[tokio::test]
async fn pinned_options_reach_only_the_server_reached() {
    let (a, b) = (Cluster::start(), Cluster::start());
    // Read-only sessions, as on a standby: target_session_attrs tells the two apart.
    b.set_settings(&[("default_transaction_read_only", "on")]);
    let down = tempfile::tempdir().unwrap();
    let port = "SELECT pg_catalog.current_setting('port')";

    // The first host is down, the second is read-write: read-only settles on the third.
    // One quoted value for the whole host list.
    let hosts = format!(
        "{},127.0.0.1,{}",
        down.path().display(),
        b.socket_dir().display()
    );
    let conninfo = format!(
        "host={} port=1,{},{} user=postgres dbname=postgres sslmode=disable target_session_attrs=read-only",
        conninfo_value(&hosts),
        a.port(),
        b.port()
    );
    let (client, pinned) = options(&conninfo, &bare_env())
        .connect_pinned()
        .await
        .unwrap_or_else(|err| panic!("{conninfo}: {err}"));
    assert_eq!(scalar(&client, port).await, Some(b.port().to_string()));
    assert_eq!(
        pinned.describe(),
        format!(
            "user \"postgres\" on socket {} port {} database \"postgres\"",
            b.socket_dir().display(),
            b.port()
        )
    );
    let again = pinned.connect().await.unwrap();
    assert_eq!(scalar(&again, port).await, Some(b.port().to_string()));

    // Random order over two live servers: every pinned connection follows the first one.
    let conninfo = format!(
        "host=127.0.0.1,127.0.0.1 port={},{} user=postgres dbname=postgres sslmode=disable load_balance_hosts=random",
        a.port(),
        b.port()
    );
    for _ in 0..8 {
        let (client, pinned) = options(&conninfo, &bare_env())
            .connect_pinned()
            .await
            .unwrap();
        let leader = scalar(&client, port).await;
        for _ in 0..4 {
            let worker = pinned.connect().await.unwrap();
            assert_eq!(scalar(&worker, port).await, leader);
        }
    }
}

/// A TCP port on 127.0.0.1 with nothing listening.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn connect_timeout_covers_a_server_that_never_answers() {
    // Accepts TCP connections (the kernel does, from the backlog) but never speaks.
    let silent = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = silent.local_addr().unwrap().port();
    let conninfo =
        format!("host=127.0.0.1 port={port} user=u dbname=d sslmode=disable connect_timeout=2");
    let started = std::time::Instant::now();
    let err = connect_err(&conninfo, &bare_env()).await.to_string();
    assert!(err.contains("timeout expired"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(20));
    drop(silent);
}

#[tokio::test]
async fn errors_from_the_server_keep_their_code() {
    let cluster = Cluster::start();
    let err = connect_err(&cluster.conninfo("no_such_db"), &bare_env()).await;
    assert_eq!(err.code(), Some(&SqlState::INVALID_CATALOG_NAME));
    assert!(
        err.to_string()
            .contains("database \"no_such_db\" does not exist"),
        "{err}"
    );
}

#[tokio::test]
async fn target_session_attrs_on_a_primary() {
    let cluster = Cluster::start();
    let base = cluster.conninfo("postgres");
    connect(
        &format!("{base} target_session_attrs=read-write"),
        &bare_env(),
    )
    .await;
    connect(&format!("{base} target_session_attrs=primary"), &bare_env()).await;
    connect(
        &format!("{base} target_session_attrs=prefer-standby"),
        &bare_env(),
    )
    .await;
    let err = connect_err(&format!("{base} target_session_attrs=standby"), &bare_env()).await;
    assert!(
        err.to_string()
            .contains("server is not in hot standby mode"),
        "{err}"
    );
    let err = connect_err(
        &format!("{base} target_session_attrs=read-only"),
        &bare_env(),
    )
    .await;
    assert!(
        err.to_string().contains("session is not read-only"),
        "{err}"
    );
}

fn ssl_cluster() -> Cluster {
    Cluster::start_with(ClusterOptions {
        ssl: true,
        ..ClusterOptions::default()
    })
}

#[tokio::test]
async fn every_sslmode_against_an_ssl_server() {
    let cluster = ssl_cluster();
    let env = bare_env();
    let tcp = cluster.tcp_conninfo("postgres");
    let ca = path_value(cluster.ca_cert().unwrap());
    let other_ca = path_value(cluster.other_ca_cert().unwrap());

    let expectations = [
        ("sslmode=disable".to_string(), false),
        ("sslmode=allow".to_string(), false),
        ("sslmode=prefer".to_string(), true),
        (String::new(), true),
        ("sslmode=require".to_string(), true),
        (format!("sslmode=verify-ca sslrootcert={ca}"), true),
        (format!("sslmode=verify-full sslrootcert={ca}"), true),
    ];
    for (extra, encrypted) in expectations {
        let client = connect(&format!("{tcp} {extra}"), &env).await;
        assert_eq!(ssl_in_use(&client).await, encrypted, "{extra}");
    }

    // verify-full by name and by address (the certificate lists DNS:localhost, IP:127.0.0.1).
    let port = cluster.port();
    let named =
        format!("host=localhost hostaddr=127.0.0.1 port={port} user=postgres dbname=postgres");
    let client = connect(
        &format!("{named} sslmode=verify-full sslrootcert={ca}"),
        &env,
    )
    .await;
    assert!(ssl_in_use(&client).await);

    // The wrong name: the chain is fine, so verify-ca passes and verify-full does not.
    let wrong_name =
        format!("host=db.invalid hostaddr=127.0.0.1 port={port} user=postgres dbname=postgres");
    connect(
        &format!("{wrong_name} sslmode=verify-ca sslrootcert={ca}"),
        &env,
    )
    .await;
    let err = connect_err(
        &format!("{wrong_name} sslmode=verify-full sslrootcert={ca}"),
        &env,
    )
    .await;
    let text = err.to_string();
    assert!(
        text.contains("does not match host name \"db.invalid\""),
        "{text}"
    );
    assert!(
        text.starts_with("connection to server at \"127.0.0.1\""),
        "{text}"
    );

    // The wrong CA fails verify-ca, and also require: a root file makes require verify (libpq).
    for mode in ["verify-ca", "verify-full", "require"] {
        let err = connect_err(
            &format!("{tcp} sslmode={mode} sslrootcert={other_ca}"),
            &env,
        )
        .await;
        let text = err.to_string();
        assert!(
            text.contains("SSL error: certificate verify failed"),
            "{mode}: {text}"
        );
        assert!(
            text.contains("not signed by a CA in the root certificate file"),
            "{mode}: {text}"
        );
    }
    // ...while prefer falls back to an unencrypted connection, as libpq does.
    let client = connect(
        &format!("{tcp} sslmode=prefer sslrootcert={other_ca}"),
        &env,
    )
    .await;
    assert!(!ssl_in_use(&client).await);

    // PGSSLMODE / PGSSLROOTCERT work like the keywords.
    let env_vars = bare_env().var("PGSSLMODE", "verify-full").var(
        "PGSSLROOTCERT",
        &cluster.ca_cert().unwrap().display().to_string(),
    );
    let client = connect(&named, &env_vars).await;
    assert!(ssl_in_use(&client).await);

    // A verify mode without any root certificate is refused before connecting.
    let missing = tempfile::tempdir().unwrap().path().join("root.crt");
    let err = connect_err(
        &format!(
            "{tcp} sslmode=verify-ca sslrootcert={}",
            path_value(&missing)
        ),
        &env,
    )
    .await;
    assert!(err.to_string().contains("does not exist"), "{err}");

    // Unix sockets never use TLS, whatever sslmode says.
    let client = connect(
        &format!(
            "{} sslmode=verify-full sslrootcert={ca}",
            cluster.conninfo("postgres")
        ),
        &env,
    )
    .await;
    assert!(!ssl_in_use(&client).await);
}

#[tokio::test]
async fn tls_to_a_server_without_ssl() {
    let cluster = Cluster::start();
    let tcp = cluster.tcp_conninfo("postgres");
    let client = connect(&format!("{tcp} sslmode=prefer"), &bare_env()).await;
    assert!(!ssl_in_use(&client).await);
    let err = connect_err(&format!("{tcp} sslmode=require"), &bare_env()).await;
    assert!(
        err.to_string()
            .contains("server does not support SSL, but SSL was required"),
        "{err}"
    );
}

#[tokio::test]
async fn prefer_and_allow_retry_when_the_server_rejects_the_first_try() {
    let cluster = ssl_cluster();
    let tcp = cluster.tcp_conninfo("postgres");
    // Plain connections only: prefer's TLS session is rejected by pg_hba, the retry without
    // TLS succeeds.
    cluster.set_hba("local all all trust\nhostnossl all all 127.0.0.1/32 trust\n");
    let client = connect(&format!("{tcp} sslmode=prefer"), &bare_env()).await;
    assert!(!ssl_in_use(&client).await);
    // TLS only: allow's plain attempt is rejected, the retry with TLS succeeds.
    cluster.set_hba("local all all trust\nhostssl all all 127.0.0.1/32 trust\n");
    let client = connect(&format!("{tcp} sslmode=allow"), &bare_env()).await;
    assert!(ssl_in_use(&client).await);
    let err = connect_err(&format!("{tcp} sslmode=disable"), &bare_env()).await;
    assert!(err.to_string().contains("no pg_hba.conf entry"), "{err}");
}

#[tokio::test]
async fn cancel_requests_over_socket_and_tls() {
    let cluster = ssl_cluster();
    let ca = path_value(cluster.ca_cert().unwrap());
    for conninfo in [
        cluster.conninfo("postgres"),
        format!(
            "{} sslmode=verify-full sslrootcert={ca}",
            cluster.tcp_conninfo("postgres")
        ),
    ] {
        let opts = options(&conninfo, &bare_env());
        let client = opts.connect().await.unwrap();
        let pid: i32 = client
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .unwrap()
            .get(0);
        let canceller = opts.canceller(&client).unwrap();
        let sleeper =
            tokio::spawn(
                async move { client.simple_query("SELECT pg_sleep(60)").await.map(|_| ()) },
            );

        let watcher = options(&cluster.conninfo("postgres"), &bare_env())
            .connect()
            .await
            .unwrap();
        let mut active = false;
        for _ in 0..200 {
            let state: Option<String> = watcher
                .query_one("SELECT state FROM pg_stat_activity WHERE pid = $1", &[&pid])
                .await
                .unwrap()
                .get(0);
            if state.as_deref() == Some("active") {
                active = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(active, "the query never started");
        canceller.cancel().await.unwrap();
        let result = tokio::time::timeout(Duration::from_secs(30), sleeper)
            .await
            .expect("the cancel request did not stop the query")
            .unwrap();
        let err = result.expect_err("the query should have been cancelled");
        assert_eq!(err.code(), Some(&SqlState::QUERY_CANCELED), "{conninfo}");
    }
}

fn password_cluster() -> Cluster {
    Cluster::start_with(ClusterOptions {
        ssl: true,
        password: Some(PASSWORD.into()),
        ..ClusterOptions::default()
    })
}

#[tokio::test]
async fn passwords_from_the_environment_and_the_connection_string() {
    let cluster = password_cluster();
    let socket = cluster.conninfo("postgres");

    let err = connect_err(&socket, &bare_env()).await;
    assert!(err.needs_password());
    assert!(
        err.to_string()
            .contains("fe_sendauth: no password supplied"),
        "{err}"
    );

    let env = bare_env().var("PGPASSWORD", PASSWORD);
    connect(&socket, &env).await;
    let tcp_tls = format!("{} sslmode=require", cluster.tcp_conninfo("postgres"));
    let client = connect(&tcp_tls, &env).await;
    assert!(ssl_in_use(&client).await);

    connect(
        &format!("{socket} password={}", conninfo_value(PASSWORD)),
        &bare_env(),
    )
    .await;
    let uri = format!(
        "postgresql://postgres:{}@127.0.0.1:{}/postgres?sslmode=disable",
        PASSWORD
            .bytes()
            .map(|b| format!("%{b:02X}"))
            .collect::<String>(),
        cluster.port()
    );
    connect(&uri, &bare_env()).await;
}

#[tokio::test]
async fn wrong_password_shows_the_server_message_not_the_password() {
    let cluster = password_cluster();
    let wrong = "wr0ng-Secret-Value";
    let env = bare_env().var("PGPASSWORD", wrong);
    for conninfo in [
        cluster.conninfo("postgres"),
        format!("{} sslmode=prefer", cluster.tcp_conninfo("postgres")),
    ] {
        let err = connect_err(&conninfo, &env).await;
        let text = err.to_string();
        assert!(
            text.contains("password authentication failed for user \"postgres\""),
            "{text}"
        );
        assert!(text.starts_with("connection to server "), "{text}");
        assert!(!text.contains(wrong), "{text}");
        assert!(!format!("{err:?}").contains(wrong));
        assert_eq!(err.code(), Some(&SqlState::INVALID_PASSWORD));
        assert!(!err.needs_password());
    }
}

#[tokio::test]
async fn passwords_from_a_password_file() {
    let cluster = password_cluster();
    let dir = tempfile::tempdir().unwrap();
    let socket_dir = cluster.socket_dir().display().to_string();
    let passfile = write_passfile(
        dir.path(),
        &format!(
            "# socket connections match the socket directory\n\
             {}:{}:postgres:postgres:{}\n\
             127.0.0.1:*:*:postgres:{}\n",
            pgpass_field(&socket_dir),
            cluster.port(),
            pgpass_field(PASSWORD),
            pgpass_field(PASSWORD),
        ),
        0o600,
    );
    let env = bare_env().var("PGPASSFILE", &passfile.display().to_string());
    connect(&cluster.conninfo("postgres"), &env).await;
    connect(
        &format!("{} sslmode=require", cluster.tcp_conninfo("postgres")),
        &env,
    )
    .await;

    // passfile= and ~/.pgpass work the same way.
    connect(
        &format!(
            "{} passfile={}",
            cluster.conninfo("postgres"),
            path_value(&passfile)
        ),
        &bare_env(),
    )
    .await;
    std::fs::copy(&passfile, dir.path().join(".pgpass")).unwrap();
    let home_env = bare_env().var("HOME", &dir.path().display().to_string());
    connect(&cluster.conninfo("postgres"), &home_env).await;

    // Another database does not match the socket line's database field.
    cluster.create_db("other");
    let err = connect_err(&cluster.conninfo("other"), &env).await;
    assert!(err.needs_password(), "{err}");
}

#[tokio::test]
async fn password_file_readable_by_others_is_ignored() {
    let cluster = password_cluster();
    let dir = tempfile::tempdir().unwrap();
    let passfile = write_passfile(
        dir.path(),
        &format!("*:*:*:*:{}\n", pgpass_field(PASSWORD)),
        0o644,
    );
    let env = bare_env().var("PGPASSFILE", &passfile.display().to_string());
    let err = connect_err(&cluster.conninfo("postgres"), &env).await;
    assert!(err.needs_password(), "{err}");

    std::fs::set_permissions(&passfile, std::fs::Permissions::from_mode(0o600)).unwrap();
    connect(&cluster.conninfo("postgres"), &env).await;
}

#[tokio::test]
async fn wrong_password_from_a_file_names_the_file() {
    let cluster = password_cluster();
    let dir = tempfile::tempdir().unwrap();
    let passfile = write_passfile(dir.path(), "*:*:*:postgres:not-the-password\n", 0o600);
    let env = bare_env().var("PGPASSFILE", &passfile.display().to_string());
    let err = connect_err(&cluster.conninfo("postgres"), &env)
        .await
        .to_string();
    assert!(err.contains("password authentication failed"), "{err}");
    assert!(
        err.contains(&format!(
            "password retrieved from file \"{}\"",
            passfile.display()
        )),
        "{err}"
    );
    assert!(!err.contains("not-the-password"), "{err}");
}
