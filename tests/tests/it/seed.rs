//! rseed: databases cloned from a template built once per archive identity. Judged like every
//! round trip: pg_dump --schema-only plus every table's rows of source and copy.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use rdump_tests::{check, diff, rseed_bin, Cluster};
use serde_json::Value;

use crate::support::process::{finish, signal, spawn, wait_for};
use crate::support::restore::{archive_of, edit_toc, small_source, stderr};
use crate::tools::fails;
use crate::zoo::dumped_zoo;

/// `rseed <conn args> <args>` with a clean client environment.
pub fn rseed_cmd(cluster: &Cluster, args: &[&str]) -> Command {
    let mut cmd = Command::new(rseed_bin());
    cluster.prepare(&mut cmd);
    cmd.args(cluster.conn_args()).args(args);
    cmd
}

/// Runs a seed that must succeed and returns its `--summary-json`.
fn seed(cluster: &Cluster, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--summary-json");
    let out = check(&mut rseed_cmd(cluster, &all));
    summary(&out)
}

fn summary(out: &Output) -> Value {
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim())
        .unwrap_or_else(|e| panic!("rseed's summary is not JSON ({e}): {text}"))
}

/// The names of the ready templates `rseed --list` shows.
fn listed(cluster: &Cluster) -> Vec<String> {
    let out = check(&mut rseed_cmd(cluster, &["--list", "--summary-json"]));
    let list: Value = summary(&out);
    list.as_array()
        .unwrap_or_else(|| panic!("--list --summary-json is not an array: {list}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Databases of builds that did not finish.
fn leftover_builds(cluster: &Cluster) -> String {
    cluster.psql(
        "postgres",
        "SELECT string_agg(datname, ',') FROM pg_database WHERE datname LIKE 'rseed\\_build\\_%'",
    )
}

/// What a database is, as the round trips judge it: its normalised schema dump and data digest.
struct Content {
    schema: String,
    data: String,
}

impl Content {
    fn of(cluster: &Cluster, db: &str) -> Content {
        Content {
            schema: cluster.schema_dump(db),
            data: cluster.data_digest(db),
        }
    }

    fn assert_matches(&self, cluster: &Cluster, db: &str) {
        let other = Content::of(cluster, db);
        assert!(
            self.schema == other.schema,
            "schema of {db} differs from the source:\n{}",
            diff(&self.schema, &other.schema, "source", db)
        );
        assert!(
            self.data == other.data,
            "data of {db} differs from the source:\n{}",
            diff(&self.data, &other.data, "source", db)
        );
    }
}

/// Eight rseed processes at once on a new archive of the zoo: one builds, seven wait and
/// clone, and all eight copies equal the source.
#[test]
fn eight_at_once_build_the_template_once_and_all_copies_equal_the_source() {
    let (cluster, _dir, archive) = dumped_zoo();
    let archive_arg = archive.to_string_lossy().into_owned();
    let children: Vec<Child> = (1..=8)
        .map(|i| {
            let name = format!("copy_{i}");
            let mut cmd = rseed_cmd(
                &cluster,
                &["-j", "2", "-d", &name, "--summary-json", &archive_arg],
            );
            cmd.stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            cmd.spawn().unwrap()
        })
        .collect();
    let outputs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    for out in &outputs {
        assert!(out.status.success(), "rseed failed: {}", stderr(out));
    }
    let summaries: Vec<Value> = outputs.iter().map(summary).collect();
    let builders = summaries.iter().filter(|s| s["built"] == true).count();
    assert_eq!(builders, 1, "exactly one run builds: {summaries:?}");
    let templates: Vec<&str> = summaries
        .iter()
        .map(|s| s["template"].as_str().unwrap_or_default())
        .collect();
    assert!(
        templates.iter().all(|t| *t == templates[0]),
        "{templates:?}"
    );
    assert_eq!(listed(&cluster), vec![templates[0].to_owned()]);

    let source = Content::of(&cluster, "zoo");
    std::thread::scope(|s| {
        for i in 1..=8 {
            let (cluster, source) = (&cluster, &source);
            s.spawn(move || source.assert_matches(cluster, &format!("copy_{i}")));
        }
    });
}

/// A source database big enough that its COPY lasts a moment in a debug build.
fn slow_source(cluster: &Cluster, db: &str) {
    small_source(cluster, db);
    cluster.psql(
        db,
        "CREATE TABLE app.big (id int PRIMARY KEY, body text);
         INSERT INTO app.big SELECT g, repeat(md5(g::text), 8) FROM generate_series(1, 400000) g;",
    );
}

/// Starts a builder that stops at `stage` (a test hook) and waits until it says so.
fn builder_paused_at(cluster: &Cluster, archive: &str, stage: &str) -> Child {
    let mut cmd = rseed_cmd(cluster, &["-j", "2", "-d", "killed", archive]);
    cmd.env("RSEED_TEST_PAUSE", stage);
    let mut child = spawn(&mut cmd);
    let pipe = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if line.contains("test hook: paused at") {
                let _ = tx.send(line);
            }
        }
    });
    let line = rx
        .recv_timeout(Duration::from_secs(120))
        .unwrap_or_else(|_| panic!("the builder never paused at {stage}"));
    assert!(line.ends_with(stage), "{line}");
    child
}

/// After a builder was killed: nothing is listed as a template, the next run builds it
/// afresh (removing the leftover) and its copy equals the source; then the template is
/// dropped again for the next stage.
fn after_kill(cluster: &Cluster, archive: &str, source: &Content, stage: &str) {
    assert!(
        listed(cluster).is_empty(),
        "killed {stage}: a template is listed"
    );
    let s = seed(cluster, &["-j", "2", "-d", "after", archive]);
    assert_eq!(s["built"], true, "killed {stage}: {s}");
    source.assert_matches(cluster, "after");
    assert_eq!(listed(cluster).len(), 1, "killed {stage}");
    assert_eq!(leftover_builds(cluster), "", "killed {stage}");
    cluster.drop_db("after");
    check(&mut rseed_cmd(cluster, &["--prune"]));
    assert!(listed(cluster).is_empty());
}

#[test]
fn a_builder_killed_at_any_stage_leaves_nothing_that_is_cloned() {
    let cluster = Cluster::start();
    slow_source(&cluster, "src");
    let dir = tempfile::tempdir().unwrap();
    let archive = archive_of(&cluster, "src", dir.path(), "src.dir");
    let archive = archive.to_string_lossy().into_owned();
    let source = Content::of(&cluster, "src");

    // During the load: while the big table's COPY runs in the build database.
    let mut cmd = rseed_cmd(&cluster, &["-j", "2", "-d", "killed", &archive]);
    let mut child = spawn(&mut cmd);
    wait_for(
        "the build database receives a COPY",
        &mut child,
        Duration::from_secs(60),
        || {
            cluster.psql(
                "postgres",
                "SELECT count(*) FROM pg_stat_activity
                  WHERE datname LIKE 'rseed\\_build\\_%' AND query LIKE 'COPY%'",
            ) != "0"
        },
    );
    signal(&child, libc::SIGKILL);
    let _ = child.wait();
    after_kill(&cluster, &archive, &source, "during the load");

    for stage in ["vacuum", "rename"] {
        let child = builder_paused_at(&cluster, &archive, stage);
        signal(&child, libc::SIGKILL);
        let _ = finish(child, Duration::from_secs(10));
        assert_ne!(
            leftover_builds(&cluster),
            "",
            "the build under way at {stage}"
        );
        if stage == "rename" {
            // A killed builder's database also goes with a prune.
            let pruned = seed(&cluster, &["--prune"]);
            assert_eq!(
                pruned["builds_removed"].as_array().map(Vec::len),
                Some(1),
                "{pruned}"
            );
            assert_eq!(leftover_builds(&cluster), "");
        }
        after_kill(&cluster, &archive, &source, stage);
    }
    assert_eq!(
        cluster.psql(
            "postgres",
            "SELECT count(*) FROM pg_database WHERE datname = 'killed'"
        ),
        "0",
        "no killed run made its database"
    );
}

/// Two dumps of an unchanged database share a template; a changed row gives a new one,
/// the old one stays listed, and `--prune --keep 1` removes it.
#[test]
fn a_changed_row_gets_a_new_template_and_prune_keeps_the_latest() {
    let cluster = Cluster::start();
    small_source(&cluster, "src");
    let dir = tempfile::tempdir().unwrap();
    let first = archive_of(&cluster, "src", dir.path(), "first.dir");
    let again = archive_of(&cluster, "src", dir.path(), "again.dir");
    let a = seed(&cluster, &["-d", "a", first.to_str().unwrap()]);
    assert_eq!(a["built"], true);
    let b = seed(&cluster, &["-d", "b", again.to_str().unwrap()]);
    assert_eq!(
        b["built"], false,
        "an unchanged database's second dump: {b}"
    );
    assert_eq!(a["template"], b["template"]);

    cluster.psql(
        "src",
        "UPDATE app.customers SET email = 'changed@example.com' WHERE id = 7",
    );
    let changed = archive_of(&cluster, "src", dir.path(), "changed.dir");
    let c = seed(&cluster, &["-d", "c", changed.to_str().unwrap()]);
    assert_eq!(c["built"], true, "{c}");
    assert_ne!(c["template"], a["template"]);
    let list = listed(&cluster);
    assert_eq!(list.len(), 2, "{list:?}");
    // Most recently used first.
    assert_eq!(list[0], c["template"].as_str().unwrap());
    Content::of(&cluster, "src").assert_matches(&cluster, "c");
    assert_eq!(
        cluster.psql("a", "SELECT email FROM app.customers WHERE id = 7"),
        "c7@example.com"
    );

    let pruned = seed(&cluster, &["--prune", "--keep", "1"]);
    assert_eq!(pruned["removed"], serde_json::json!([a["template"]]));
    assert_eq!(listed(&cluster), vec![c["template"].as_str().unwrap()]);
    // The copies are not templates: pruning leaves them alone.
    assert_eq!(
        cluster.psql("a", "SELECT count(*) FROM app.customers"),
        "2000"
    );
}

/// A seeded database carries planner statistics for its tables, and every page of every
/// table is frozen (nothing left for a vacuum to do).
#[test]
fn a_seeded_database_has_statistics_and_frozen_rows() {
    let cluster = Cluster::start();
    small_source(&cluster, "src");
    let dir = tempfile::tempdir().unwrap();
    let archive = archive_of(&cluster, "src", dir.path(), "src.dir");
    seed(
        &cluster,
        &["-j", "2", "-d", "seeded", archive.to_str().unwrap()],
    );

    let unanalyzed = cluster.psql(
        "seeded",
        "SELECT string_agg(a.attrelid::regclass || '.' || a.attname, ', ')
           FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
           JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname IN ('app', 'audit') AND c.relkind = 'r' AND a.attnum > 0
            AND NOT a.attisdropped
            AND NOT EXISTS (SELECT 1 FROM pg_stats s WHERE s.schemaname = n.nspname
                             AND s.tablename = c.relname AND s.attname = a.attname)",
    );
    assert_eq!(unanalyzed, "", "columns without statistics");
    assert_eq!(
        cluster.psql(
            "seeded",
            "SELECT reltuples::bigint FROM pg_class WHERE oid = 'app.orders'::regclass"
        ),
        "20000"
    );
    cluster.psql("seeded", "CREATE EXTENSION pg_visibility");
    let not_frozen = cluster.psql(
        "seeded",
        "SELECT coalesce(string_agg(format('%s: %s of %s pages', c.oid::regclass,
                    c.relpages - v.all_frozen, c.relpages), ', '), '')
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace,
                LATERAL pg_visibility_map_summary(c.oid) v
          WHERE n.nspname IN ('app', 'audit') AND c.relkind = 'r'
            AND v.all_frozen < pg_relation_size(c.oid) / 8192",
    );
    assert_eq!(not_frozen, "", "pages not frozen");
    // The database's own horizon moved too: nothing in it is older than its build.
    let age: i64 = cluster
        .psql(
            "postgres",
            "SELECT age(datfrozenxid) FROM pg_database WHERE datname = 'seeded'",
        )
        .parse()
        .unwrap();
    let template0: i64 = cluster
        .psql(
            "postgres",
            "SELECT age(datfrozenxid) FROM pg_database WHERE datname = 'template0'",
        )
        .parse()
        .unwrap();
    assert!(
        age < template0,
        "datfrozenxid age {age} not below template0's {template0}"
    );
}

/// An existing name is refused (exit 2, nothing touched) unless `--replace`; `--count K`
/// makes NAME_1 … NAME_K; a live database (`--from-db`) is followed through its changes.
#[test]
fn names_replace_count_and_live_sources() {
    let cluster = Cluster::start();
    small_source(&cluster, "src");
    let dir = tempfile::tempdir().unwrap();
    let archive = archive_of(&cluster, "src", dir.path(), "src.dir");
    let archive = archive.to_str().unwrap();
    cluster.create_db("taken");
    cluster.psql("taken", "CREATE TABLE mine (x int)");
    let (code, err) = fails(&mut rseed_cmd(&cluster, &["-d", "taken", archive]));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("\"taken\" already exists") && err.contains("--replace"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert_eq!(
        cluster.psql(
            "taken",
            "SELECT count(*) FROM pg_class WHERE relname = 'mine'"
        ),
        "1"
    );

    let s = seed(&cluster, &["-d", "taken", "--replace", archive]);
    assert_eq!(s["database"], "taken");
    let source = Content::of(&cluster, "src");
    source.assert_matches(&cluster, "taken");

    let s = seed(&cluster, &["-d", "many", "--count", "3", archive]);
    assert_eq!(
        s["databases"],
        serde_json::json!(["many_1", "many_2", "many_3"])
    );
    assert_eq!(s["built"], false);
    source.assert_matches(&cluster, "many_3");

    let first = seed(&cluster, &["--from-db", "src", "-d", "live_1", "-j", "2"]);
    let second = seed(&cluster, &["--from-db", "src", "-d", "live_2"]);
    assert_eq!(second["built"], false, "{second}");
    assert_eq!(first["template"], second["template"]);
    cluster.psql("src", "DELETE FROM audit.log WHERE id = 3");
    let third = seed(&cluster, &["--from-db", "src", "-d", "live_3"]);
    assert_eq!(third["built"], true, "a changed source: {third}");
    Content::of(&cluster, "src").assert_matches(&cluster, "live_3");
    assert_eq!(
        cluster.psql("live_2", "SELECT count(*) FROM audit.log"),
        "100"
    );
}

/// Bad input ends in one line naming what is wrong, and leaves no template behind.
#[test]
fn bad_archives_and_options_fail_clearly_and_publish_nothing() {
    let cluster = Cluster::start();
    small_source(&cluster, "src");
    let dir = tempfile::tempdir().unwrap();
    let archive = archive_of(&cluster, "src", dir.path(), "src.dir");

    let missing = dir.path().join("nowhere.dir");
    let (code, err) = fails(&mut rseed_cmd(
        &cluster,
        &["-d", "x", missing.to_str().unwrap()],
    ));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("nowhere.dir"), "{err}");

    let (code, err) = fails(&mut rseed_cmd(
        &cluster,
        &["-d", "x", "--count", "0", archive.to_str().unwrap()],
    ));
    assert_eq!(code, 2, "{err}");

    // A data file damaged after the dump: the build fails on it and nothing is listed.
    let damaged = damage_largest_data_file(&archive);
    let (code, err) = fails(&mut rseed_cmd(
        &cluster,
        &["-d", "x", archive.to_str().unwrap()],
    ));
    assert_eq!(code, 1, "{err}");
    let file = damaged.file_name().unwrap().to_string_lossy();
    assert!(
        err.contains(file.as_ref()),
        "the message names {file}: {err}"
    );
    assert!(listed(&cluster).is_empty());
    assert_eq!(
        cluster.psql(
            "postgres",
            "SELECT count(*) FROM pg_database WHERE datname = 'x'"
        ),
        "0"
    );
    // The failed build removed its own database.
    assert_eq!(leftover_builds(&cluster), "");
}

/// An archive from a server with a locale this one lacks (a production dump seeded on a CI
/// image): the template gets the archive's encoding and the server's locale, with a warning
/// naming the locale, and holds everything.
#[test]
fn a_locale_the_server_lacks_is_replaced_with_a_warning() {
    let cluster = Cluster::start();
    small_source(&cluster, "src");
    let dir = tempfile::tempdir().unwrap();
    let archive = archive_of(&cluster, "src", dir.path(), "src.dir");
    edit_toc(&archive, |entries| {
        let db = entries
            .iter_mut()
            .find(|e| e["kind"] == "DATABASE")
            .expect("a DATABASE entry");
        db["database"]["collate"] = "xx_NOWHERE.UTF-8".into();
        db["database"]["ctype"] = "xx_NOWHERE.UTF-8".into();
    });
    let out = check(&mut rseed_cmd(
        &cluster,
        &["-d", "copy", "--summary-json", archive.to_str().unwrap()],
    ));
    let err = stderr(&out);
    assert!(
        err.contains("xx_NOWHERE.UTF-8") && err.contains("server's default locale"),
        "{err}"
    );
    assert_eq!(summary(&out)["built"], true);
    Content::of(&cluster, "src").assert_matches(&cluster, "copy");
}

/// Flips a byte in the middle of the archive's largest data file; returns its path.
fn damage_largest_data_file(archive: &Path) -> PathBuf {
    let mut files: Vec<PathBuf> = std::fs::read_dir(archive.join("data"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort_by_key(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0));
    let path = files.pop().unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&path, bytes).unwrap();
    path
}

/// On 13 (no copy strategies) a plain template copy; on 18 the files are cloned. Both copies
/// equal their source.
#[test]
fn strategies_follow_the_server_version() {
    for (var, what) in [
        ("PG13_BINDIR", "PostgreSQL 13"),
        ("PG18_BINDIR", "PostgreSQL 18"),
    ] {
        let Some(bindir) = rdump_tests::version_bindir(var, what) else {
            continue;
        };
        let cluster = Cluster::start_with(rdump_tests::ClusterOptions {
            bindir: Some(bindir),
            ..Default::default()
        });
        small_source(&cluster, "src");
        let dir = tempfile::tempdir().unwrap();
        let archive = archive_of(&cluster, "src", dir.path(), "src.dir");
        let archive = archive.to_str().unwrap();
        let major = cluster.server_version_num() / 10000;
        let s = if major >= 18 {
            seed(&cluster, &["-d", "copy", "--strategy", "clone", archive])
        } else {
            let (code, err) = fails(&mut rseed_cmd(
                &cluster,
                &["-d", "copy", "--strategy", "wal-log", archive],
            ));
            assert_eq!(code, 2, "{err}");
            assert!(err.contains("PostgreSQL 15"), "{err}");
            seed(&cluster, &["-d", "copy", archive])
        };
        let want = if major >= 18 { "clone" } else { "plain" };
        assert_eq!(s["strategy"], want, "on {major}: {s}");
        Content::of(&cluster, "src").assert_matches(&cluster, "copy");
    }
}
