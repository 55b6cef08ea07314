//! initdb runs once per test process and server build (and once more with data checksums);
//! every cluster starts as a copy of that template, which is much faster than initdb.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use crate::command::check;
use crate::pg_install::{server_major_version, server_tool};
use crate::server_user::{as_server, give_to_server, set_mode};

/// The per-cluster configuration file the template's postgresql.conf includes.
pub const HARNESS_CONF: &str = "rdump_tests.conf";

/// The superuser initdb creates; tests and tools connect as this role.
pub const SUPERUSER: &str = "postgres";

#[derive(Clone, Debug)]
pub struct Template {
    pub data_dir: PathBuf,
}

/// The template for the server in `bindir`, with or without data checksums; made on first use.
pub fn template(bindir: &Path, data_checksums: bool) -> Template {
    static TEMPLATES: Mutex<Vec<((PathBuf, bool), Template)>> = Mutex::new(Vec::new());
    // Held while initdb runs: two tests asking for the same template wait for one initdb.
    let mut templates = TEMPLATES.lock().unwrap_or_else(|p| p.into_inner());
    let key = (bindir.to_path_buf(), data_checksums);
    if let Some((_, found)) = templates.iter().find(|(k, _)| *k == key) {
        return found.clone();
    }
    let made = make_template(bindir, data_checksums);
    templates.push((key, made.clone()));
    made
}

fn make_template(bindir: &Path, data_checksums: bool) -> Template {
    let major_version = server_major_version(bindir);
    let dir = crate::scratch::private_dir(true);
    let data_dir = dir.join("data");
    std::fs::create_dir(&data_dir)
        .unwrap_or_else(|err| panic!("mkdir {}: {err}", data_dir.display()));
    give_to_server(&data_dir);
    set_mode(&data_dir, 0o700);

    let mut initdb = Command::new(server_tool(bindir, "initdb"));
    as_server(&mut initdb)
        .current_dir(&dir)
        .env_remove("PGDATA")
        .env("LC_ALL", "C")
        .arg("-D")
        .arg(&data_dir)
        // No fsync: a crash loses only a throwaway cluster.
        .arg("--no-sync")
        .args(["--auth=trust", "--username", SUPERUSER])
        // UTF8 holds every character a fixture may use; the C locale sorts by bytes, the
        // same on every machine, so index order and text comparisons match on both sides
        // of a round trip.
        .args(["--encoding=UTF8", "--locale=C"]);
    if data_checksums {
        initdb.arg("--data-checksums");
    } else if major_version >= 18 {
        // PostgreSQL 18 turns checksums on by default.
        initdb.arg("--no-data-checksums");
    }
    check(&mut initdb);

    let conf = data_dir.join("postgresql.conf");
    let mut text = std::fs::read_to_string(&conf)
        .unwrap_or_else(|err| panic!("read {}: {err}", conf.display()));
    text.push_str(&format!(
        "\n# Per-cluster settings written by the rdump test harness.\ninclude_if_exists '{HARNESS_CONF}'\n"
    ));
    std::fs::write(&conf, text).unwrap_or_else(|err| panic!("write {}: {err}", conf.display()));

    Template { data_dir }
}

/// Copies the template's data directory to `target` (which must not exist), keeping owners
/// and modes.
pub fn copy_template(template: &Template, target: &Path) {
    check(
        Command::new("cp")
            .arg("-a")
            .arg(&template.data_dir)
            .arg(target),
    );
}
