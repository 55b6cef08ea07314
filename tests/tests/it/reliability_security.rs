//! Security: archives and repositories private to their owner, passwords in no log,
//! error, archive or process title, and hostile names and data that stay names and data.

use std::io::Read;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rdump_tests::{
    assert_same, check, conninfo_value, fixture, rbackup_bin, rdump_bin, rrestore_bin, run,
    Cluster, ClusterOptions,
};

use crate::tools::{dump, fails, restore, rrestore_cmd};

const SECRET: &str = "Pa55-w0rd-that-must-not-leak";

/// Every file and directory below `root`, `root` included.
fn tree(root: &Path) -> Vec<(PathBuf, bool)> {
    let mut out = vec![(root.to_path_buf(), true)];
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            let is_dir = e.file_type().unwrap().is_dir();
            if is_dir {
                stack.push(e.path());
            }
            out.push((e.path(), is_dir));
        }
    }
    out
}

fn assert_private(root: &Path) {
    for (path, is_dir) in tree(root) {
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        let want = if is_dir { 0o700 } else { 0o600 };
        assert_eq!(mode, want, "{:o} on {}", mode, path.display());
    }
}

fn assert_no_secret_in_files(root: &Path) {
    for (path, is_dir) in tree(root) {
        if !is_dir {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
                "the password is in {}",
                path.display()
            );
        }
    }
}

fn assert_no_secret(what: &str, text: &[u8]) {
    let text = String::from_utf8_lossy(text);
    assert!(!text.contains(SECRET), "the password is in {what}: {text}");
}

/// Runs `cmd` with a umask that would let everyone read what it creates.
fn with_open_umask(cmd: &mut Command) -> &mut Command {
    // SAFETY: umask is async-signal-safe and only affects the child.
    unsafe {
        cmd.pre_exec(|| {
            libc::umask(0);
            Ok(())
        });
    }
    cmd
}

fn password_cluster() -> Cluster {
    let cluster = Cluster::start_with(ClusterOptions {
        password: Some(SECRET.into()),
        ..Default::default()
    });
    cluster.create_db("src");
    cluster.psql(
        "src",
        "CREATE TABLE t (id int PRIMARY KEY, v text);
         INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 1000) g;
         SELECT lo_from_bytea(0, 'large object');",
    );
    cluster
}

/// A command with no password in its environment: it must come from the conninfo.
fn without_pgpassword(program: &Path, cluster: &Cluster) -> Command {
    let mut cmd = Command::new(program);
    cluster.prepare(&mut cmd);
    cmd.env_remove("PGPASSWORD");
    cmd
}

fn conninfo_with_password(cluster: &Cluster, db: &str) -> String {
    format!(
        "{} password={}",
        cluster.conninfo(db),
        conninfo_value(SECRET)
    )
}

#[test]
fn archives_are_private_and_hold_no_password_nor_print_it() {
    let cluster = password_cluster();
    let dir = tempfile::tempdir().unwrap();

    // PGPASSWORD, verbose, uncompressed (so a password in the data would show).
    let a = dir.path().join("a");
    let out = dump(
        &cluster,
        "src",
        &a,
        &["-v", "-j", "2", "-Z", "none", "--summary-json"],
    );
    assert_no_secret("rdump -v output", &[out.stdout, out.stderr].concat());
    assert_no_secret_in_files(&a);

    // The password in a conninfo string, under a umask that hides nothing.
    let b = dir.path().join("b");
    let mut cmd = without_pgpassword(&rdump_bin(), &cluster);
    cmd.args(["-v", "-Z", "none", "-f", b.to_str().unwrap(), "-d"])
        .arg(conninfo_with_password(&cluster, "src"));
    let out = check(with_open_umask(&mut cmd));
    assert_no_secret("rdump -v output", &[out.stdout, out.stderr].concat());
    assert_no_secret_in_files(&b);
    assert_private(&b);

    // rrestore -v with the password in a URI, and its errors.
    cluster.create_db("dst");
    let uri = format!(
        "postgresql://postgres:{SECRET}@127.0.0.1:{}/dst",
        cluster.port()
    );
    let mut cmd = without_pgpassword(&rrestore_bin(), &cluster);
    cmd.args(["-v", "-j", "2", "-d", &uri]).arg(&b);
    let out = check(&mut cmd);
    assert_no_secret("rrestore -v output", &[out.stdout, out.stderr].concat());
    assert_eq!(cluster.psql("dst", "SELECT count(*) FROM t"), "1000");
    // A failing restore (the objects exist now) reports errors without the password.
    let mut cmd = without_pgpassword(&rrestore_bin(), &cluster);
    cmd.args(["-v", "-d", &uri]).arg(&b);
    let out = run(&mut cmd);
    assert!(!out.status.success());
    assert_no_secret("rrestore errors", &[out.stdout, out.stderr].concat());
    // A failing dump (no such database) names the target, not the password.
    let mut cmd = without_pgpassword(&rdump_bin(), &cluster);
    cmd.args(["-f", dir.path().join("c").to_str().unwrap(), "-d"])
        .arg(conninfo_with_password(&cluster, "nosuchdb"));
    let (_, stderr) = fails(&mut cmd);
    assert!(stderr.contains("nosuchdb"), "{stderr}");
    assert_no_secret("rdump error", stderr.as_bytes());
}

#[test]
fn repositories_are_private_whatever_the_umask() {
    let cluster = Cluster::start();
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let mut cmd = Command::new(rbackup_bin());
    cluster.prepare(&mut cmd);
    cmd.args([
        "backup",
        "--fast",
        "--repo",
        repo.to_str().unwrap(),
        "--pgdata",
    ])
    .arg(cluster.data_dir())
    .args(cluster.conn_args());
    check(with_open_umask(&mut cmd));
    // archive-push creates the WAL directories too.
    let segment = cluster.psql("postgres", "SELECT pg_walfile_name(pg_switch_wal())");
    let mut cmd = Command::new(rbackup_bin());
    cluster.prepare(&mut cmd);
    cmd.arg("archive-push")
        .arg(cluster.data_dir().join("pg_wal").join(&segment))
        .args(["--repo", repo.to_str().unwrap(), "--pgdata"])
        .arg(cluster.data_dir());
    check(with_open_umask(&mut cmd));
    assert_private(&repo);
}

/// A listener that accepts a client and never answers: the client sits in its startup
/// with its arguments parsed, and its process title can be read at leisure.
fn silent_server() -> TcpListener {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    listener
}

/// Starts `cmd`, waits until it connects to `listener`, and returns its command line as
/// `/proc/<pid>/cmdline` shows it to other users (NULs as spaces).
fn cmdline_while_connecting(cmd: &mut Command, listener: &TcpListener) -> String {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let _connection = loop {
        match listener.accept() {
            Ok((stream, _)) => break stream,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("accept: {e}"),
        }
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .unwrap();
            panic!("{cmd:?} exited ({status}) before connecting: {stderr}");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{cmd:?} never connected");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", child.id())).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    String::from_utf8_lossy(&cmdline).replace('\0', " ")
}

#[test]
fn passwords_on_the_command_line_are_hidden_from_other_users() {
    // rrestore reads its archive before connecting: give it a real one.
    let cluster = Cluster::start();
    cluster.create_db("src");
    cluster.psql("src", "CREATE TABLE t (a int)");
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("a");
    dump(&cluster, "src", &archive, &[]);

    let listener = silent_server();
    let port = listener.local_addr().unwrap().port();
    let conninfo =
        format!("host=127.0.0.1 port={port} user=u dbname=d sslmode=disable password='{SECRET}'");
    let uri = format!("postgresql://u:{SECRET}@127.0.0.1:{port}/d?sslmode=disable");
    // A killed rdump leaves its output directory behind: one per run.
    let out = |n: u32| dir.path().join(format!("out{n}")).display().to_string();
    let cases: Vec<(PathBuf, Vec<String>)> = vec![
        (
            rdump_bin(),
            vec!["-f".into(), out(1), "-d".into(), conninfo.clone()],
        ),
        (
            rdump_bin(),
            vec!["-f".into(), out(2), format!("--dbname={uri}")],
        ),
        (
            rrestore_bin(),
            vec!["-d".into(), uri.clone(), archive.display().to_string()],
        ),
        (
            rbackup_bin(),
            vec![
                "backup".into(),
                "--repo".into(),
                dir.path().join("repo").display().to_string(),
                "--pgdata".into(),
                cluster.data_dir().display().to_string(),
                "-d".into(),
                conninfo.clone(),
            ],
        ),
    ];
    for (program, args) in cases {
        let mut cmd = Command::new(&program);
        cluster.prepare(&mut cmd);
        cmd.args(&args);
        let shown = cmdline_while_connecting(&mut cmd, &listener);
        assert!(
            !shown.contains(SECRET),
            "{} shows the password: {shown}",
            program.display()
        );
        assert!(
            shown.contains(&"x".repeat(SECRET.len())),
            "{}: the password's place should be masked: {shown}",
            program.display()
        );
    }
}

/// psql running the script `file` in `db`, stopping at the first error.
fn psql_file(cluster: &Cluster, db: &str, file: &Path) {
    let mut psql = cluster.client("psql");
    psql.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-f"])
        .arg(file)
        .arg("-d")
        .arg(cluster.conninfo(db));
    check(&mut psql);
}

fn canary_is_intact(cluster: &Cluster, db: &str) {
    assert_eq!(
        cluster.psql(db, "SELECT string_agg(id || ':' || note, ',') FROM canary"),
        "1:still here",
        "{db}: something from the data ran as SQL"
    );
}

#[test]
fn hostile_names_and_data_round_trip_and_never_run_as_sql() {
    let cluster = Cluster::start();
    cluster.create_db("src");
    cluster.psql_file("src", &fixture("hostile.sql"));
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("a");
    dump(&cluster, "src", &archive, &["-j", "2"]);

    cluster.create_db("dst");
    restore(&cluster, "dst", &archive, &["-j", "2"]);
    canary_is_intact(&cluster, "dst");
    assert_same(&cluster, "src", &cluster, "dst");

    // The same archive as a script through psql.
    let script = dir.path().join("restore.sql");
    check(&mut rrestore_cmd(
        &cluster,
        &["-f", script.to_str().unwrap(), archive.to_str().unwrap()],
    ));
    cluster.create_db("dst_script");
    psql_file(&cluster, "dst_script", &script);
    canary_is_intact(&cluster, "dst_script");
    assert_same(&cluster, "src", &cluster, "dst_script");

    // Data rows that read as SQL or as COPY's end marker are still rows.
    let count = |db: &str| {
        cluster.psql(
            db,
            r#"SELECT count(*) FROM "semi;colon 'quoted' $$dollar$$"."child
table" WHERE payload LIKE 'COPY canary%'"#,
        )
    };
    assert_eq!(count("dst"), "500");
    assert_eq!(count("dst_script"), "500");
}
