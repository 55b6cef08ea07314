//! pg_restore's options, each with its meaning, on real servers.

use rdump_tests::{assert_same, Cluster};
use serde_json::json;

use crate::support::restore::{
    add_entry, archive_of, count, edit_toc, entry_id, has_relation, rrestore, small_source, stderr,
};
use crate::tools::{dump, restore};

#[test]
fn list_reads_back_with_lines_commented_out() {
    let cluster = Cluster::start();
    small_source(&cluster, "src");
    let dir = tempfile::tempdir().unwrap();
    let archive = archive_of(&cluster, "src", dir.path(), "a");
    let a = archive.to_str().unwrap();

    let out = rrestore(&cluster, &["-l", a]);
    assert!(out.status.success(), "{}", stderr(&out));
    let list = String::from_utf8(out.stdout).unwrap();
    assert!(list.starts_with(";\n; Archive created at "), "{list}");
    let orders_data = entry_id(&archive, "TABLE DATA", "orders");
    let data_line = format!("{orders_data}; 0 0 TABLE DATA app orders postgres");
    assert!(list.lines().any(|l| l == data_line), "{data_line}\n{list}");
    let index_id = entry_id(&archive, "INDEX", "orders_customer_idx");

    // Comment out the orders data and one index, as a user edits the list.
    let edited: String = list
        .lines()
        .map(|l| {
            if l.starts_with(&format!("{orders_data};")) || l.starts_with(&format!("{index_id};")) {
                format!(";{l}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect::<String>()
        + "not a line\n";
    let list_file = dir.path().join("list.txt");
    std::fs::write(&list_file, edited).unwrap();
    cluster.create_db("dst");
    let out = rrestore(
        &cluster,
        &["-j", "2", "-L", list_file.to_str().unwrap(), "-d", "dst", a],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("line ignored: not a line"),
        "{}",
        stderr(&out)
    );
    assert_eq!(count(&cluster, "dst", "app.orders"), 0);
    assert_eq!(count(&cluster, "dst", "app.customers"), 2000);
    assert!(!has_relation(&cluster, "dst", "app.orders_customer_idx"));
    assert!(has_relation(&cluster, "dst", "app.orders_pkey"));

    // -l honours the selection options too.
    let out = rrestore(&cluster, &["-l", "-n", "audit", a]);
    let list = String::from_utf8(out.stdout).unwrap();
    let entries: Vec<&str> = list.lines().filter(|l| !l.starts_with(';')).collect();
    assert!(!entries.is_empty());
    assert!(entries.iter().all(|l| l.contains(" audit ")), "{list}");
}

#[test]
fn sections_one_by_one_equal_a_whole_restore() {
    let cluster = Cluster::start();
    small_source(&cluster, "src");
    let dir = tempfile::tempdir().unwrap();
    let archive = archive_of(&cluster, "src", dir.path(), "a");
    let a = archive.to_str().unwrap();
    cluster.create_db("dst");

    restore(
        &cluster,
        "dst",
        &archive,
        &["-j", "2", "--section", "pre-data"],
    );
    assert!(has_relation(&cluster, "dst", "app.orders"));
    assert_eq!(count(&cluster, "dst", "app.orders"), 0);
    assert!(!has_relation(&cluster, "dst", "app.orders_pkey"));

    restore(&cluster, "dst", &archive, &["-j", "2", "--section=data"]);
    assert_eq!(count(&cluster, "dst", "app.orders"), 20000);
    assert!(!has_relation(&cluster, "dst", "app.orders_customer_idx"));

    restore(
        &cluster,
        "dst",
        &archive,
        &["-j", "2", "--section", "post-data"],
    );
    assert_same(&cluster, "src", &cluster, "dst");

    // -s and -a are the same split.
    cluster.create_db("dst2");
    restore(&cluster, "dst2", &archive, &["-s"]);
    assert_eq!(count(&cluster, "dst2", "app.orders"), 0);
    assert!(has_relation(&cluster, "dst2", "app.orders_customer_idx"));
    restore(
        &cluster,
        "dst2",
        &archive,
        &["-a", "--disable-triggers", "-j", "2"],
    );
    assert_same(&cluster, "src", &cluster, "dst2");
    // Without --disable-triggers the keys check every row: customers must load before
    // orders, though orders, the larger table, would be taken first.
    cluster.create_db("dst3");
    restore(&cluster, "dst3", &archive, &["-s"]);
    restore(&cluster, "dst3", &archive, &["-a", "-j", "1"]);
    assert_same(&cluster, "src", &cluster, "dst3");
    let script = String::from_utf8(rrestore(&cluster, &["-a", "-f", "-", a]).stdout).unwrap();
    let copy_of = |t: &str| script.find(&format!("COPY {t} ")).expect(t);
    assert!(copy_of("app.customers") < copy_of("app.orders"));
    // A data-only dump keeps no keys: it writes their order into the archive.
    let data_only = dir.path().join("data-only");
    dump(&cluster, "src", &data_only, &["-a"]);
    cluster.create_db("dst4");
    restore(&cluster, "dst4", &archive, &["-s"]);
    restore(&cluster, "dst4", &data_only, &["-j", "1"]);
    assert_same(&cluster, "src", &cluster, "dst4");

    let out = rrestore(&cluster, &["--section", "middle", "-d", "dst", a]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn schema_and_table_selection() {
    let cluster = Cluster::start();
    small_source(&cluster, "src");
    let dir = tempfile::tempdir().unwrap();
    let archive = archive_of(&cluster, "src", dir.path(), "a");
    let a = archive.to_str().unwrap();

    // -n: objects in the schema, not the schema itself (as pg_restore).
    cluster.create_db("only_app");
    cluster.psql("only_app", "CREATE SCHEMA app");
    restore(&cluster, "only_app", &archive, &["-n", "app", "-j", "2"]);
    assert_eq!(count(&cluster, "only_app", "app.orders"), 20000);
    assert!(!has_relation(&cluster, "only_app", "audit.log"));

    // -N: everything but the schema.
    cluster.create_db("no_app");
    restore(&cluster, "no_app", &archive, &["-N", "app"]);
    assert_eq!(count(&cluster, "no_app", "audit.log"), 100);
    assert!(!has_relation(&cluster, "no_app", "app.customers"));

    // -t: the table and its data only, none of its indexes or constraints.
    cluster.create_db("one_table");
    cluster.psql("one_table", "CREATE SCHEMA app");
    restore(&cluster, "one_table", &archive, &["-t", "customers"]);
    assert_eq!(count(&cluster, "one_table", "app.customers"), 2000);
    assert!(!has_relation(&cluster, "one_table", "app.customers_pkey"));
    assert!(!has_relation(&cluster, "one_table", "app.orders"));
    // -n with -t: the table must be in one of the schemas.
    let out = rrestore(&cluster, &["-l", "-t", "customers", "-n", "audit", a]);
    let list = String::from_utf8(out.stdout).unwrap();
    assert!(list.lines().all(|l| l.starts_with(';')), "{list}");

    // -I: the index alone, into the table restored above.
    restore(
        &cluster,
        "one_table",
        &archive,
        &["-I", "customers_email_key"],
    );
    assert!(!has_relation(
        &cluster,
        "one_table",
        "app.customers_email_key"
    ));
    restore(
        &cluster,
        "one_table",
        &archive,
        &["-n", "app", "-t", "orders"],
    );
    let idx = "orders_customer_idx";
    restore(&cluster, "one_table", &archive, &["-I", idx]);
    assert!(has_relation(&cluster, "one_table", &format!("app.{idx}")));
}

#[test]
fn functions_and_triggers_by_name() {
    let cluster = Cluster::start();
    small_source(&cluster, "src");
    let dir = tempfile::tempdir().unwrap();
    let archive = archive_of(&cluster, "src", dir.path(), "a");
    let app = entry_id(&archive, "SCHEMA", "app");
    let orders = entry_id(&archive, "TABLE", "orders");
    let function = add_entry(
        &archive,
        json!({"kind": "FUNCTION", "schema": "app", "name": "stamp()", "owner": "postgres",
               "create": "CREATE FUNCTION app.stamp() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.note := 'stamped'; RETURN NEW; END $$;",
               "drop": "DROP FUNCTION app.stamp();", "deps": [app]}),
    );
    add_entry(
        &archive,
        json!({"kind": "TRIGGER", "section": "post-data", "schema": "app", "name": "orders stamp",
               "create": "CREATE TRIGGER stamp BEFORE INSERT ON app.orders FOR EACH ROW EXECUTE FUNCTION app.stamp();",
               "drop": "DROP TRIGGER stamp ON app.orders;", "deps": [orders, function], "table": orders}),
    );
    cluster.create_db("dst");
    cluster.psql("dst", "CREATE SCHEMA app");
    restore(&cluster, "dst", &archive, &["-s", "-n", "app"]);
    cluster.psql(
        "dst",
        "DROP TRIGGER stamp ON app.orders; DROP FUNCTION app.stamp()",
    );

    restore(&cluster, "dst", &archive, &["-P", "stamp()"]);
    assert_eq!(
        cluster.psql(
            "dst",
            "SELECT count(*) FROM pg_proc WHERE proname = 'stamp'"
        ),
        "1"
    );
    assert_eq!(
        cluster.psql(
            "dst",
            "SELECT count(*) FROM pg_trigger WHERE tgname = 'stamp'"
        ),
        "0"
    );
    restore(&cluster, "dst", &archive, &["-T", "orders stamp"]);
    cluster.psql("dst", "INSERT INTO app.customers VALUES (1, 'x', NULL); INSERT INTO app.orders (customer_id) VALUES (1)");
    assert_eq!(
        cluster.psql("dst", "SELECT note FROM app.orders"),
        "stamped"
    );
}

#[test]
fn privileges_comments_and_owners_can_be_left_out() {
    let cluster = Cluster::start();
    cluster.psql(
        "postgres",
        "CREATE ROLE app_owner; CREATE ROLE reader; CREATE ROLE restorer;",
    );
    small_source(&cluster, "src");
    cluster.psql("src", "ALTER TABLE app.customers OWNER TO app_owner");
    let dir = tempfile::tempdir().unwrap();
    let archive = archive_of(&cluster, "src", dir.path(), "a");
    let customers = entry_id(&archive, "TABLE", "customers");
    add_entry(
        &archive,
        json!({"kind": "ACL", "schema": "app", "name": "TABLE customers", "owner": "app_owner",
               "create": "GRANT SELECT ON TABLE app.customers TO reader;", "deps": [customers]}),
    );
    let grants =
        "SELECT count(*) FROM information_schema.role_table_grants WHERE grantee = 'reader'";
    let comment = "SELECT coalesce(obj_description('app.customers'::regclass, 'pg_class'), 'none')";
    let owner = "SELECT tableowner FROM pg_tables WHERE tablename = 'customers'";

    cluster.create_db("all");
    restore(&cluster, "all", &archive, &["-j", "2"]);
    assert_eq!(cluster.psql("all", grants), "1");
    assert_eq!(cluster.psql("all", comment), "people who order");
    assert_eq!(cluster.psql("all", owner), "app_owner");

    cluster.create_db("bare");
    restore(
        &cluster,
        "bare",
        &archive,
        &["-j", "2", "-x", "--no-comments", "-O"],
    );
    assert_eq!(cluster.psql("bare", grants), "0");
    assert_eq!(cluster.psql("bare", comment), "none");
    assert_eq!(cluster.psql("bare", owner), "postgres");

    // --role: everything is created as that role.
    cluster.psql(
        "postgres",
        "CREATE DATABASE as_role OWNER restorer; GRANT app_owner TO restorer;",
    );
    restore(&cluster, "as_role", &archive, &["-O", "--role", "restorer"]);
    assert_eq!(cluster.psql("as_role", owner), "restorer");
    assert_eq!(
        cluster.psql(
            "as_role",
            "SELECT nspowner::regrole FROM pg_namespace WHERE nspname = 'app'"
        ),
        "restorer"
    );
}

#[test]
fn clean_drops_before_recreating() {
    let cluster = Cluster::start();
    small_source(&cluster, "src");
    let dir = tempfile::tempdir().unwrap();
    let archive = archive_of(&cluster, "src", dir.path(), "a");
    let a = archive.to_str().unwrap();

    cluster.create_db("dst");
    restore(&cluster, "dst", &archive, &["-j", "2"]);
    cluster.psql(
        "dst",
        "INSERT INTO app.customers VALUES (-1, 'extra', NULL);
         CREATE TABLE public.unrelated (x int);",
    );
    restore(&cluster, "dst", &archive, &["-j", "2", "-c"]);
    assert_eq!(count(&cluster, "dst", "app.customers"), 2000);
    // An object already gone is no error with --if-exists.
    cluster.psql("dst", "DROP INDEX app.orders_customer_idx");
    restore(&cluster, "dst", &archive, &["-j", "2", "-c", "--if-exists"]);
    assert!(has_relation(&cluster, "dst", "app.orders_customer_idx"));
    cluster.psql("dst", "DROP TABLE public.unrelated");
    assert_same(&cluster, "src", &cluster, "dst");

    // Into an empty database the drops fail (reported, carried on) unless --if-exists.
    cluster.create_db("empty1");
    let out = rrestore(&cluster, &["-c", "-d", "empty1", a]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("errors ignored on restore:"),
        "{}",
        stderr(&out)
    );
    assert_same(&cluster, "src", &cluster, "empty1");
    cluster.create_db("empty2");
    restore(
        &cluster,
        "empty2",
        &archive,
        &["-c", "--if-exists", "-j", "2"],
    );
    assert_same(&cluster, "src", &cluster, "empty2");

    let out = rrestore(&cluster, &["--if-exists", "-d", "empty2", a]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--if-exists requires option -c/--clean"));
}

#[test]
fn create_makes_the_archives_database_and_restores_into_it() {
    let cluster = Cluster::start();
    small_source(&cluster, "src");
    let dir = tempfile::tempdir().unwrap();
    let archive = archive_of(&cluster, "src", dir.path(), "a");
    let a = archive.to_str().unwrap();

    // The archive's DATABASE entry names "src": create it in another cluster.
    let other = Cluster::start();
    restore(&other, "postgres", &archive, &["-C", "-j", "2"]);
    assert_same(&cluster, "src", &other, "src");

    // Again with -c: dropped and made anew.
    other.psql("src", "CREATE TABLE leftover ()");
    restore(&other, "postgres", &archive, &["-C", "-c", "--if-exists"]);
    assert_same(&cluster, "src", &other, "src");

    // An archive without a DATABASE entry cannot be restored with -C.
    edit_toc(&archive, |entries| {
        entries.retain(|e| {
            let kind = e["kind"].as_str().unwrap_or("");
            let name = e["name"].as_str().unwrap_or("");
            !kind.starts_with("DATABASE") && !name.starts_with("DATABASE ")
        })
    });
    let out = rrestore(&other, &["-C", "-d", "postgres", a]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("DATABASE entry"), "{}", stderr(&out));

    // Without -C the DATABASE entry is not restored (nor listed).
    let out = rrestore(&cluster, &["-l", a]);
    assert!(!String::from_utf8(out.stdout).unwrap().contains("DATABASE"));
}

#[test]
fn single_transaction_is_all_or_nothing_and_needs_one_job() {
    let cluster = Cluster::start();
    small_source(&cluster, "src");
    let dir = tempfile::tempdir().unwrap();
    let archive = archive_of(&cluster, "src", dir.path(), "a");
    let a = archive.to_str().unwrap();

    cluster.create_db("dst");
    let out = rrestore(&cluster, &["-1", "-j", "2", "-d", "dst", a]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--single-transaction cannot be used with -j"),
        "{}",
        stderr(&out)
    );

    // One failing statement undoes everything.
    cluster.psql("dst", "CREATE SCHEMA audit");
    let out = rrestore(&cluster, &["-1", "-d", "dst", a]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(!has_relation(&cluster, "dst", "app.customers"));

    cluster.psql("dst", "DROP SCHEMA audit");
    restore(&cluster, "dst", &archive, &["--single-transaction"]);
    assert_same(&cluster, "src", &cluster, "dst");
}

#[test]
fn data_of_a_failed_table_loads_unless_told_otherwise() {
    let cluster = Cluster::start();
    small_source(&cluster, "src");
    let dir = tempfile::tempdir().unwrap();
    let archive = archive_of(&cluster, "src", dir.path(), "a");
    let a = archive.to_str().unwrap();
    let existing = "CREATE SCHEMA audit; CREATE TABLE audit.log (id int, msg text);
                    INSERT INTO audit.log VALUES (-1, 'before');";
    // Only the audit schema's objects, so the schema creation is not what fails.
    let args = |db: &'static str, extra: &'static str| {
        let mut v = vec!["-n", "audit", "-d", db, a];
        if !extra.is_empty() {
            v.insert(0, extra);
        }
        v
    };
    cluster.create_db("keep");
    cluster.psql("keep", existing);
    let out = rrestore(&cluster, &args("keep", ""));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(count(&cluster, "keep", "audit.log"), 101);

    cluster.create_db("skip");
    cluster.psql("skip", existing);
    let out = rrestore(&cluster, &args("skip", "--no-data-for-failed-tables"));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(count(&cluster, "skip", "audit.log"), 1);
    assert!(
        stderr(&out).contains("TABLE DATA audit.log"),
        "the skipped data should be named: {}",
        stderr(&out)
    );
}

#[test]
fn analyze_leaves_statistics() {
    let cluster = Cluster::start();
    small_source(&cluster, "src");
    let dir = tempfile::tempdir().unwrap();
    let archive = archive_of(&cluster, "src", dir.path(), "a");
    cluster.create_db("dst");
    restore(&cluster, "dst", &archive, &["-j", "2", "--analyze"]);
    // ANALYZE writes pg_statistic in its own transaction: no waiting for the stats system.
    assert_eq!(
        cluster.psql(
            "dst",
            "SELECT count(DISTINCT s.starelid) FROM pg_statistic s
               JOIN pg_class c ON c.oid = s.starelid
               JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname IN ('app', 'audit') AND c.relkind = 'r'"
        ),
        "3"
    );
    assert_same(&cluster, "src", &cluster, "dst");
}

#[test]
fn data_for_missing_tables_fails_those_items_and_loads_the_rest() {
    let cluster = Cluster::start();
    small_source(&cluster, "src");
    let dir = tempfile::tempdir().unwrap();
    let archive = archive_of(&cluster, "src", dir.path(), "a");
    // Only the customers' table exists in the target: orders and the log are missing.
    cluster.create_db("dst");
    cluster.psql("dst", "CREATE SCHEMA app; CREATE SCHEMA audit");
    restore(&cluster, "dst", &archive, &["-s", "-t", "customers"]);
    // Every worker meets a missing table; each must go on with the items after it.
    let out = rrestore(
        &cluster,
        &["-a", "-j", "2", "-d", "dst", archive.to_str().unwrap()],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("app.orders")
            && err.contains("does not exist")
            && err.contains("errors ignored on restore:"),
        "{err}"
    );
    assert!(!err.contains("lost the connection"), "{err}");
    assert_eq!(count(&cluster, "dst", "app.customers"), 2000);
}

/// `--transaction-size N`: up to N definitions commit together on each connection (the
/// tables created in one transaction share its id, `pg_class.xmin`), the database is
/// the same as without it, and a failing definition rolls back only its own batch's
/// work, which then runs item by item so just that definition fails.
#[test]
fn transaction_size_commits_in_batches() {
    let cluster = Cluster::start();
    cluster.create_db("src");
    cluster.psql(
        "src",
        "SELECT format('CREATE TABLE public.t%s (a int, b text)', g) FROM generate_series(1, 40) g \\gexec",
    );
    let dir = tempfile::tempdir().unwrap();
    let archive = archive_of(&cluster, "src", dir.path(), "a");
    let a = archive.to_str().unwrap();
    let transactions = |db: &str| -> i64 {
        cluster
            .psql(
                db,
                "SELECT count(DISTINCT c.xmin::text) FROM pg_class c
                  JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = 'public' AND c.relkind = 'r'",
            )
            .parse()
            .unwrap()
    };
    cluster.create_db("each");
    // Definitions only: loading even an empty table truncates it first, which rewrites
    // its pg_class row in the load's own transaction.
    restore(&cluster, "each", &archive, &["-s", "-j", "2"]);
    assert_eq!(
        transactions("each"),
        40,
        "one transaction per table by default"
    );
    cluster.create_db("batched");
    restore(
        &cluster,
        "batched",
        &archive,
        &["-s", "-j", "2", "--transaction-size", "10"],
    );
    let batched = transactions("batched");
    assert!(
        (4..=12).contains(&batched),
        "40 tables in batches of 10 on 2 connections took {batched} transactions"
    );
    assert_same(&cluster, "src", &cluster, "batched");

    // A table that exists already fails alone; the other 39 of the batches are created.
    // (Tables without indexes: nothing else rewrites their pg_class rows.)
    cluster.create_db("clash");
    cluster.psql("clash", "CREATE TABLE public.t17 (z int)");
    let out = rrestore(
        &cluster,
        &["-s", "--transaction-size", "10", "-d", "clash", a],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("t17") && err.contains("already exists"),
        "{err}"
    );
    assert_eq!(
        cluster.psql(
            "clash",
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = 'public' AND c.relkind = 'r'"
        ),
        "40"
    );
    // -1 and --transaction-size contradict each other, as in pg_restore.
    let out = rrestore(
        &cluster,
        &["-1", "--transaction-size", "10", "-d", "clash", a],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}
