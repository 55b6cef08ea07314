//! pg_dump 17/18's newer switches (issue 11): each through pg_dump 18 + pg_restore 18 and
//! through rdump + rrestore, restored into empty databases of a PostgreSQL 18 cluster, must
//! give the same schema and rows. Where a restored database cannot show what a switch
//! does (`--quote-all-identifiers`, `--serializable-deferrable`), the SQL scripts are
//! compared (`pg_restore -f`, `rrestore -f`). Needs PG18_BINDIR (skipped without it,
//! failed under CI=true).

use std::path::{Path, PathBuf};

use rdump_tests::{
    check, compare_databases, fixture, run, version_bindir, Cluster, ClusterOptions,
};

use crate::tools::{dump, fails, rdump_cmd, restore, rrestore_cmd};

/// What every target gets first: the extensions (both tools write CREATE EXTENSION IF
/// NOT EXISTS), so archives without them (`-t`, `--exclude-extension`) still load.
const TARGET_PREP: &str = "CREATE EXTENSION citext; CREATE EXTENSION hstore;";
/// With -t no schema is dumped.
const SCHEMAS_PREP: &str = "CREATE SCHEMA app; CREATE SCHEMA \"Other\";";

fn source() -> Option<Cluster> {
    let bindir = version_bindir("PG18_BINDIR", "pg_dump 18 switches")?;
    let cluster = Cluster::start_with(ClusterOptions {
        bindir: Some(bindir),
        ..ClusterOptions::default()
    });
    assert!(cluster.server_version_num() >= 180_000);
    cluster.create_db("src");
    cluster.psql_file("src", &fixture("switches.sql"));
    Some(cluster)
}

struct Case {
    name: String,
    /// Switches given to both dumps.
    dump: Vec<String>,
    /// Switches given to both restores.
    restore: Vec<String>,
    /// SQL run in both targets before the restore.
    prep: String,
}

fn case(name: &str, dump: &[&str], restore: &[&str], prep: &str) -> Case {
    Case {
        name: name.into(),
        dump: dump.iter().map(|s| s.to_string()).collect(),
        restore: restore.iter().map(|s| s.to_string()).collect(),
        prep: prep.into(),
    }
}

fn pg_dump_archive(cluster: &Cluster, dir: &Path, args: &[String]) {
    let mut pg_dump = cluster.client("pg_dump");
    pg_dump
        .args(["-Fd", "-f"])
        .arg(dir)
        .args(args)
        .arg("-d")
        .arg(cluster.conninfo("src"));
    check(&mut pg_dump);
}

/// pg_dump + pg_restore into `pg_<name>`, rdump + rrestore into `r_<name>`; same result.
fn both_ways(cluster: &Cluster, work: &Path, c: &Case) {
    let pg_db = format!("pg_{}", c.name);
    let r_db = format!("r_{}", c.name);
    for db in [&pg_db, &r_db] {
        cluster.create_db(db);
        cluster.psql(db, &format!("{TARGET_PREP} {}", c.prep));
    }
    let pg_dir = work.join(format!("pg_{}.dir", c.name));
    pg_dump_archive(cluster, &pg_dir, &c.dump);
    let mut pg_restore = cluster.client("pg_restore");
    pg_restore
        .args(["--exit-on-error", "-d"])
        .arg(cluster.conninfo(&pg_db))
        .args(&c.restore)
        .arg(&pg_dir);
    check(&mut pg_restore);

    let r_dir = work.join(format!("r_{}.dir", c.name));
    let dump_args: Vec<&str> = c.dump.iter().map(String::as_str).collect();
    dump(cluster, "src", &r_dir, &dump_args);
    let mut restore_args: Vec<&str> = c.restore.iter().map(String::as_str).collect();
    restore_args.extend(["-e", "-j", "2"]);
    restore(cluster, &r_db, &r_dir, &restore_args);
    if let Err(report) = compare_databases(cluster, &pg_db, cluster, &r_db) {
        panic!(
            "{}: rdump {:?} + rrestore {:?} differ from pg_dump/pg_restore 18:\n{report}",
            c.name, c.dump, c.restore
        );
    }
}

fn run_cases(cluster: &Cluster, work: &Path, cases: &[Case]) {
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some(c) = cases.get(i) else { break };
                    both_ways(cluster, work, c);
                })
            })
            .collect();
        for w in workers {
            if let Err(panic) = w.join() {
                std::panic::resume_unwind(panic);
            }
        }
    });
}

/// The whole schema as pg_dump 18 writes it, for targets of data-only switches.
fn schema_sql(cluster: &Cluster, work: &Path) -> String {
    let path = work.join("schema.sql");
    let mut pg_dump = cluster.client("pg_dump");
    pg_dump
        .args(["-s", "-f"])
        .arg(&path)
        .arg("-d")
        .arg(cluster.conninfo("src"));
    check(&mut pg_dump);
    std::fs::read_to_string(&path).unwrap()
}

fn write_file(work: &Path, name: &str, text: &str) -> PathBuf {
    let path = work.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn dump_switches_match_pg_dump_18() {
    let Some(cluster) = source() else { return };
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let filter = write_file(
        w,
        "dump.filter",
        "# tables of app, some without rows\n\
         include schema app\n\
         exclude table app.doc?   # the documents stay behind\n\
         exclude table_data_and_children app.events_a\n\
         exclude table_data \"app\".\"cache\"\n\
         exclude extension hstore\n",
    );
    let filter = filter.to_str().unwrap();
    let schema = schema_sql(&cluster, w);
    let cases = vec![
        case("filter", &["--filter", filter], &[], ""),
        case(
            "exclude_extension",
            &["--exclude-extension", "hstore"],
            &[],
            "",
        ),
        case(
            "table_and_children",
            &[
                "--table-and-children",
                "app.events",
                "--table-and-children",
                "app.anim*",
            ],
            &[],
            SCHEMAS_PREP,
        ),
        case(
            "exclude_table_and_children",
            &[
                "--exclude-table-and-children",
                "app.events",
                "--exclude-table-and-children",
                "app.animal",
            ],
            &[],
            "",
        ),
        case(
            "exclude_table_data_and_children",
            &[
                "--exclude-table-data-and-children",
                "app.events",
                "--exclude-table-data-and-children",
                "app.animal",
            ],
            &[],
            "",
        ),
        case("no_policies", &["--no-policies"], &[], ""),
        case("sequence_data", &["-s", "--sequence-data"], &[], ""),
        case("no_data", &["--no-data"], &[], ""),
        case("no_schema", &["--no-schema"], &[], &schema),
        case(
            "no_unlogged_table_data",
            &["--no-unlogged-table-data"],
            &[],
            "",
        ),
        case(
            "load_via_partition_root",
            &["--load-via-partition-root"],
            &[],
            "",
        ),
        case("enable_row_security", &["--enable-row-security"], &[], ""),
    ];
    run_cases(&cluster, w, &cases);

    // --no-data --sequence-data: the sequences' values come without any rows.
    assert_eq!(
        cluster.psql("r_sequence_data", "SELECT last_value FROM app.counter"),
        "42"
    );
    assert_eq!(
        cluster.psql("r_sequence_data", "SELECT count(*) FROM app.users"),
        "0"
    );
    assert_eq!(
        cluster.psql("r_no_unlogged_table_data", "SELECT count(*) FROM app.cache"),
        "0"
    );
}

#[test]
fn restore_switches_match_pg_restore_18() {
    let Some(cluster) = source() else { return };
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let filter = write_file(
        w,
        "restore.filter",
        "include table users\ninclude table cache  # with its rows\n",
    );
    let filter = filter.to_str().unwrap();
    let cases = vec![
        case("r_filter", &[], &["--filter", filter], SCHEMAS_PREP),
        case("r_transaction_size", &[], &["--transaction-size", "7"], ""),
        case("r_no_data", &[], &["--no-data"], ""),
    ];
    run_cases(&cluster, w, &cases);
}

/// A filter file that names what rdump cannot do fails with the file and line.
#[test]
fn bad_filter_files_fail_with_file_and_line() {
    let Some(cluster) = source() else { return };
    let work = tempfile::tempdir().unwrap();
    for (text, tool_refuses) in [
        (
            "include table app.users\ninclude foreign_data srv\n",
            "line 2",
        ),
        (
            "exclude tables app.users\n",
            "unknown object type \"tables\"",
        ),
        (
            "include table_data app.users\n",
            "does not support \"include table_data\"",
        ),
    ] {
        let path = write_file(work.path(), "bad.filter", text);
        let dir = work.path().join("bad.dir");
        let (code, stderr) = fails(&mut rdump_cmd(
            &cluster,
            &[
                "-Fd",
                "-f",
                dir.to_str().unwrap(),
                "--filter",
                path.to_str().unwrap(),
                "src",
            ],
        ));
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains("bad.filter"), "{stderr}");
        assert!(stderr.contains(tool_refuses), "{text:?}: {stderr}");
        assert!(!dir.join("toc.json").exists());
        // pg_dump 18 refuses the same files.
        let mut pg_dump = cluster.client("pg_dump");
        pg_dump
            .args(["-f", "/dev/null", "--filter"])
            .arg(&path)
            .arg("-d")
            .arg(cluster.conninfo("src"));
        fails(&mut pg_dump);
    }
}

/// Switches a restored database cannot show: the scripts `pg_restore -f` and
/// `rrestore -f` write from each tool's archive are compared instead.
#[test]
fn quoting_and_isolation_switches_show_in_scripts() {
    let Some(cluster) = source() else { return };
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let script = |tool: &str, archive: &Path| -> String {
        let out = w.join(format!(
            "{}.sql",
            archive.file_name().unwrap().to_string_lossy()
        ));
        if tool == "pg" {
            let mut pg_restore = cluster.client("pg_restore");
            pg_restore.arg("-f").arg(&out).arg(archive);
            check(&mut pg_restore);
        } else {
            check(&mut rrestore_cmd(
                &cluster,
                &["-f", out.to_str().unwrap(), archive.to_str().unwrap()],
            ));
        }
        std::fs::read_to_string(&out).unwrap()
    };
    let mut scripts = std::collections::HashMap::new();
    for (name, args) in [
        ("plain", &[][..]),
        ("quoted", &["--quote-all-identifiers"][..]),
        ("deferrable", &["--serializable-deferrable"][..]),
    ] {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let pg_dir = w.join(format!("pg_{name}"));
        pg_dump_archive(&cluster, &pg_dir, &args);
        let r_dir = w.join(format!("r_{name}"));
        let r_args: Vec<&str> = args.iter().map(String::as_str).collect();
        dump(&cluster, "src", &r_dir, &r_args);
        scripts.insert(format!("pg_{name}"), script("pg", &pg_dir));
        scripts.insert(format!("r_{name}"), script("r", &r_dir));
    }
    // --serializable-deferrable changes how the snapshot is taken, not what is dumped.
    for tool in ["pg", "r"] {
        let (plain, deferrable) = (
            &scripts[&format!("{tool}_plain")],
            &scripts[&format!("{tool}_deferrable")],
        );
        assert!(
            normalize(plain) == normalize(deferrable),
            "{tool}: --serializable-deferrable changed the script:\n{}",
            rdump_tests::diff(
                &normalize(plain),
                &normalize(deferrable),
                "plain",
                "deferrable"
            )
        );
    }
    // --quote-all-identifiers: every name pg_dump quotes in its statements, rdump quotes
    // too; without the switch neither quotes a plain lowercase name.
    let (pg_quoted, r_quoted) = (&scripts["pg_quoted"], &scripts["r_quoted"]);
    for name in [
        "\"app\".\"users\"",
        "\"id\"",
        "\"events_a_2024\"",
        "\"docs_owner\"",
        "\"counter\"",
    ] {
        assert!(pg_quoted.contains(name), "pg_dump did not quote {name}");
        assert!(
            r_quoted.contains(name),
            "rdump did not quote {name}:\n{r_quoted}"
        );
        assert!(
            !scripts["r_plain"].contains(name),
            "rdump quoted {name} unasked"
        );
    }
    // The quoted archive restores to the same database.
    cluster.create_db("quoted");
    restore(&cluster, "quoted", &w.join("r_quoted"), &["-e"]);
    if let Err(report) = compare_databases(&cluster, "src", &cluster, "quoted") {
        panic!("--quote-all-identifiers changed the database:\n{report}");
    }
}

/// Scripts of one tool from two dumps: only the dump times and the restrict keys differ.
fn normalize(script: &str) -> String {
    script
        .lines()
        .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
        .filter(|l| !l.starts_with("-- Started on") && !l.starts_with("-- Completed on"))
        .filter(|l| !l.starts_with("-- Restore script of database"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `--snapshot`: both tools dump the moment another session exported, not the present;
/// rows committed afterwards are not in either restored database.
#[test]
fn snapshot_dumps_the_exported_moment() {
    let Some(cluster) = source() else { return };
    let work = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let conninfo = cluster.conninfo("src");
    let (holder, connection) = rt
        .block_on(tokio_postgres::connect(&conninfo, tokio_postgres::NoTls))
        .unwrap();
    rt.spawn(connection);
    let snapshot: String = rt.block_on(async {
        holder
            .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
            .await
            .unwrap();
        holder
            .query_one("SELECT pg_export_snapshot()", &[])
            .await
            .unwrap()
            .get(0)
    });
    cluster.psql(
        "src",
        "INSERT INTO app.users VALUES (1000, 'late@x.org', NULL)",
    );
    let c = case("snapshot", &["--snapshot", &snapshot, "-j", "2"], &[], "");
    both_ways(&cluster, work.path(), &c);
    assert_eq!(
        cluster.psql(
            "r_snapshot",
            "SELECT count(*) FROM app.users WHERE id = 1000"
        ),
        "0"
    );

    // (Sequences are outside transactions: a setval after the snapshot would show in
    // both tools' dumps, so only rows tell.)
    assert_eq!(
        cluster.psql("src", "SELECT count(*) FROM app.users WHERE id = 1000"),
        "1"
    );
    rt.block_on(holder.batch_execute("COMMIT")).unwrap();

    // A snapshot that does not exist: a clear failure and no archive.
    let dir = work.path().join("none.dir");
    let out = run(&mut rdump_cmd(
        &cluster,
        &[
            "-Fd",
            "-f",
            dir.to_str().unwrap(),
            "--snapshot",
            "00000003-0000001B-1",
            "src",
        ],
    ));
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("00000003-0000001B-1"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!dir.join("toc.json").exists());
}

/// `--enable-row-security`, dumping as a user the table's policies apply to: without the
/// switch both tools refuse (the rows would be silently cut), with it both dump the rows
/// the user may see, and the restored databases hold just those.
#[test]
fn row_security_switch_dumps_what_the_user_may_see() {
    let Some(cluster) = source() else { return };
    cluster.psql(
        "src",
        "CREATE ROLE rls_reader LOGIN;
         GRANT USAGE ON SCHEMA app TO rls_reader;
         GRANT SELECT ON app.docs TO rls_reader;
         INSERT INTO app.docs VALUES (3, 'rls_reader', 'for the reader');",
    );
    let work = tempfile::tempdir().unwrap();
    let as_reader = |tool: &str, dir: &Path, rls: bool| -> std::process::Output {
        let mut cmd = if tool == "pg_dump" {
            let mut c = cluster.client("pg_dump");
            c.arg("-Fd");
            c
        } else {
            let mut c = std::process::Command::new(rdump_tests::rdump_bin());
            cluster.prepare(&mut c);
            c
        };
        cmd.args(["-h", &cluster.socket_dir().display().to_string()])
            .args(["-p", &cluster.port().to_string(), "-U", "rls_reader"])
            .args(["-t", "app.docs", "-f"])
            .arg(dir);
        if rls {
            cmd.arg("--enable-row-security");
        }
        cmd.arg("src");
        run(&mut cmd)
    };
    for tool in ["pg_dump", "rdump"] {
        let refused = as_reader(tool, &work.path().join(format!("{tool}_off")), false);
        assert!(
            !refused.status.success(),
            "{tool} dumped a table whose policies cut its rows"
        );
        let why = String::from_utf8_lossy(&refused.stderr);
        assert!(why.contains("row-level security"), "{tool}: {why}");
        let dir = work.path().join(format!("{tool}_on"));
        let out = as_reader(tool, &dir, true);
        assert!(
            out.status.success(),
            "{tool} --enable-row-security: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let db = format!("rls_{tool}");
        cluster.create_db(&db);
        cluster.psql(&db, SCHEMAS_PREP);
        if tool == "pg_dump" {
            let mut pg_restore = cluster.client("pg_restore");
            pg_restore
                .args(["--exit-on-error", "-d"])
                .arg(cluster.conninfo(&db))
                .arg(&dir);
            check(&mut pg_restore);
        } else {
            restore(&cluster, &db, &dir, &["-e"]);
        }
        assert_eq!(
            cluster.psql(
                &db,
                "SELECT string_agg(body, ',' ORDER BY id) FROM app.docs"
            ),
            "for the reader"
        );
    }
    if let Err(report) = compare_databases(&cluster, "rls_pg_dump", &cluster, "rls_rdump") {
        panic!("--enable-row-security: rdump differs from pg_dump 18:\n{report}");
    }
}
