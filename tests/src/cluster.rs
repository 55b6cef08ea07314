//! A throwaway PostgreSQL cluster: private socket directory, free TCP port on 127.0.0.1,
//! removed with everything in it when dropped (also when the test panicked).

use std::collections::HashSet;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

use crate::command::{check, clean_pg_env, failure_message, run, run_with_stdin};
use crate::config::{harness_conf, hba_conf, Auth, ServerSettings};
use crate::pg_install::{client_tool, default_bindir, server_tool};
use crate::quote::{conninfo_value, quote_ident, quote_literal};
use crate::server_user::{as_server, give_to_server, set_mode};
use crate::template::{copy_template, template, HARNESS_CONF, SUPERUSER};

/// How to start a cluster. `Default` is a plain, trusting, non-SSL server.
#[derive(Clone, Debug, Default)]
pub struct ClusterOptions {
    /// ssl=on with a certificate for localhost/127.0.0.1 signed by [`Cluster::ca_cert`].
    pub ssl: bool,
    /// The superuser's password; when set, the socket and TCP require scram-sha-256.
    pub password: Option<String>,
    /// initdb --data-checksums.
    pub data_checksums: bool,
    /// Extra postgresql.conf settings (name, unquoted value); they override the harness's.
    pub settings: Vec<(String, String)>,
    /// Server binaries; default `PG_BINDIR`, else `pg_config --bindir`.
    pub bindir: Option<PathBuf>,
}

/// A running throwaway cluster. See the crate docs for an example.
#[derive(Debug)]
pub struct Cluster {
    base_dir: PathBuf,
    data_dir: PathBuf,
    socket_dir: PathBuf,
    log_file: PathBuf,
    port: u16,
    bindir: PathBuf,
    password: Option<String>,
    ssl: bool,
    server_version_num: u32,
}

/// Ports handed to clusters of this process, so two threads never race for the same one.
static PORTS_IN_USE: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

const START_ATTEMPTS: usize = 8;

impl Cluster {
    /// Starts a cluster with default options; panics with a clear message on failure.
    pub fn start() -> Cluster {
        Cluster::start_with(ClusterOptions::default())
    }

    /// Starts a cluster with `opts`; panics with a clear message on failure.
    pub fn start_with(opts: ClusterOptions) -> Cluster {
        // Any build of the programs under test happens now, before the test starts timing
        // anything (a failure is reported when a test asks for the binary).
        let _ = crate::paths::build_workspace_binaries();
        let bindir = opts
            .bindir
            .clone()
            .unwrap_or_else(|| default_bindir().to_path_buf());
        let template = template(&bindir, opts.data_checksums);

        let base_dir = crate::scratch::private_dir(false);
        let data_dir = base_dir.join("data");
        let socket_dir = base_dir.join("sock");
        let log_file = base_dir.join("server.log");
        // From here on, `cluster` owns base_dir: a panic below removes it via Drop.
        let mut cluster = Cluster {
            base_dir,
            data_dir,
            socket_dir,
            log_file,
            port: 0,
            bindir,
            password: opts.password.clone(),
            ssl: opts.ssl,
            server_version_num: 0,
        };
        cluster.prepare_files(&template, &opts);
        cluster.start_on_free_port(&opts);
        cluster.server_version_num = cluster
            .psql("postgres", "SHOW server_version_num")
            .parse()
            .unwrap_or_else(|err| panic!("unexpected server_version_num: {err}"));
        cluster
    }

    fn prepare_files(&self, template: &crate::template::Template, opts: &ClusterOptions) {
        std::fs::create_dir(&self.socket_dir)
            .unwrap_or_else(|err| panic!("mkdir {}: {err}", self.socket_dir.display()));
        give_to_server(&self.socket_dir);
        std::fs::write(&self.log_file, "")
            .unwrap_or_else(|err| panic!("create {}: {err}", self.log_file.display()));
        give_to_server(&self.log_file);
        copy_template(template, &self.data_dir);

        if opts.ssl {
            let certs = crate::tls::certificates();
            for (source, name) in [
                (&certs.server_cert, "server.crt"),
                (&certs.server_key, "server.key"),
            ] {
                let target = self.data_dir.join(name);
                std::fs::copy(source, &target)
                    .unwrap_or_else(|err| panic!("copy {}: {err}", source.display()));
                give_to_server(&target);
                // The server refuses a key others can read.
                set_mode(&target, 0o600);
            }
        }
        self.write_file_in_data("pg_hba.conf", &hba_conf(opts.ssl, self.auth()));
        if let Some(password) = &opts.password {
            self.set_password_offline(password);
        }
    }

    fn auth(&self) -> Auth {
        if self.password.is_some() {
            Auth::ScramSha256
        } else {
            Auth::Trust
        }
    }

    /// Sets the superuser password in single-user mode, before the server accepts anyone,
    /// so there is no moment when the password cluster trusts connections.
    fn set_password_offline(&self, password: &str) {
        let sql = format!(
            "ALTER ROLE {} PASSWORD {};\n",
            quote_ident(SUPERUSER),
            quote_literal(password)
        );
        let mut postgres = Command::new(server_tool(&self.bindir, "postgres"));
        as_server(&mut postgres)
            .current_dir(&self.base_dir)
            .arg("--single")
            .arg("-D")
            .arg(&self.data_dir)
            .args(["-c", "password_encryption=scram-sha-256", "-c", "fsync=off"])
            .arg("postgres");
        // The statement itself carries the password: feed it on stdin, never in arguments.
        let output = run_with_stdin(&mut postgres, sql.as_bytes());
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() || stderr.contains("ERROR") {
            panic!(
                "setting the superuser password failed: {}",
                failure_message(&postgres, &output)
            );
        }
    }

    fn start_on_free_port(&mut self, opts: &ClusterOptions) {
        let mut last_failure = String::new();
        for _ in 0..START_ATTEMPTS {
            let port = reserve_port();
            self.port = port;
            self.write_file_in_data(
                HARNESS_CONF,
                &harness_conf(&ServerSettings {
                    port,
                    socket_dir: &self.socket_dir,
                    ssl: opts.ssl,
                    auth: self.auth(),
                    extra: &opts.settings,
                }),
            );
            let log_before = self.server_log().len();
            let output = self.pg_ctl(&["start", "-w", "-t", "120"]);
            if output.status.success() {
                return;
            }
            let log = self.server_log();
            let new_log = log.get(log_before..).unwrap_or(&log).to_string();
            last_failure = format!(
                "{}\n--- server log ---\n{new_log}",
                failure_message(&self.pg_ctl_command(&["start"]), &output)
            );
            if !port_was_taken(&new_log) {
                break;
            }
            // Another process grabbed the port between our check and the server's bind.
        }
        panic!(
            "could not start a PostgreSQL cluster in {}: {last_failure}",
            self.base_dir.display()
        );
    }

    fn pg_ctl_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(server_tool(&self.bindir, "pg_ctl"));
        as_server(&mut cmd)
            .current_dir(&self.base_dir)
            .env_remove("PGDATA")
            .env("LC_ALL", "C")
            .arg("-D")
            .arg(&self.data_dir)
            .arg("-l")
            .arg(&self.log_file)
            .args(args);
        cmd
    }

    fn pg_ctl(&self, args: &[&str]) -> Output {
        run(&mut self.pg_ctl_command(args))
    }

    fn write_file_in_data(&self, name: &str, text: &str) {
        let path = self.data_dir.join(name);
        std::fs::write(&path, text).unwrap_or_else(|err| panic!("write {}: {err}", path.display()));
        give_to_server(&path);
    }

    /// The directory holding the server's unix socket.
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// The TCP port on 127.0.0.1 (the socket uses the same number).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The superuser role, `postgres`.
    pub fn superuser(&self) -> &str {
        SUPERUSER
    }

    /// The superuser password, when the cluster was started with one.
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// The directory of the server binaries this cluster runs.
    pub fn bindir(&self) -> &Path {
        &self.bindir
    }

    /// The cluster's data directory (owned by the server account).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The server's log file.
    pub fn log_file(&self) -> &Path {
        &self.log_file
    }

    /// The server's log so far (for failure messages).
    pub fn server_log(&self) -> String {
        std::fs::read_to_string(&self.log_file).unwrap_or_default()
    }

    /// `server_version_num`, e.g. 150018.
    pub fn server_version_num(&self) -> u32 {
        self.server_version_num
    }

    /// With SSL: the CA certificate that signed the server's certificate.
    pub fn ca_cert(&self) -> Option<&Path> {
        self.ssl
            .then(|| crate::tls::certificates().ca_cert.as_path())
    }

    /// With SSL: a CA certificate that did NOT sign the server's (for failing verify-ca).
    pub fn other_ca_cert(&self) -> Option<&Path> {
        self.ssl
            .then(|| crate::tls::certificates().other_ca_cert.as_path())
    }

    /// `-h socket_dir -p port -U postgres`, the connection arguments pg_dump and rdump take.
    pub fn conn_args(&self) -> Vec<String> {
        vec![
            "-h".into(),
            self.socket_dir.display().to_string(),
            "-p".into(),
            self.port.to_string(),
            "-U".into(),
            SUPERUSER.into(),
        ]
    }

    /// A libpq keyword=value string reaching `db` over the unix socket. It holds no
    /// password: use [`Cluster::prepare`] (PGPASSWORD) or add one yourself.
    pub fn conninfo(&self, db: &str) -> String {
        format!(
            "host={} port={} user={} dbname={}",
            conninfo_value(&self.socket_dir.display().to_string()),
            self.port,
            conninfo_value(SUPERUSER),
            conninfo_value(db)
        )
    }

    /// A libpq keyword=value string reaching `db` over TCP on 127.0.0.1 (no password, no
    /// sslmode: append what the test needs, e.g. " sslmode=verify-full sslrootcert=...").
    pub fn tcp_conninfo(&self, db: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user={} dbname={}",
            self.port,
            conninfo_value(SUPERUSER),
            conninfo_value(db)
        )
    }

    /// Gives `cmd` a clean client environment: no `PG*` variable of the developer's, no
    /// ~/.pgpass, and PGPASSWORD when the cluster has a password.
    pub fn prepare<'c>(&self, cmd: &'c mut Command) -> &'c mut Command {
        clean_pg_env(cmd);
        if let Some(password) = &self.password {
            cmd.env("PGPASSWORD", password);
        }
        cmd
    }

    /// A client program (psql, pg_dump, pg_restore...) matching this server, with
    /// [`Cluster::prepare`]d environment.
    pub fn client(&self, program: &str) -> Command {
        let mut cmd = Command::new(client_tool(&self.bindir, program));
        self.prepare(&mut cmd);
        cmd
    }

    fn psql_command(&self, db: &str) -> Command {
        let mut cmd = self.client("psql");
        cmd.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .arg("-d")
            .arg(self.conninfo(db));
        cmd
    }

    /// Runs `sql` (any number of statements, psql meta-commands allowed) in `db` and returns
    /// the unaligned, tuples-only output without its final newline; panics with psql's
    /// stderr on error.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        self.try_psql(db, sql).unwrap_or_else(|err| panic!("{err}"))
    }

    /// Like [`Cluster::psql`], returning the failure (command, stderr, stdout) instead.
    pub fn try_psql(&self, db: &str, sql: &str) -> Result<String, String> {
        let mut cmd = self.psql_command(db);
        cmd.args(["-f", "-"]);
        let output = run_with_stdin(&mut cmd, sql.as_bytes());
        if !output.status.success() {
            let shown_sql: String = sql.chars().take(2000).collect();
            return Err(format!(
                "{}\n--- sql ---\n{shown_sql}",
                failure_message(&cmd, &output)
            ));
        }
        let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
        if text.ends_with('\n') {
            text.pop();
        }
        Ok(text)
    }

    /// Runs the SQL file `file` in `db`, stopping at the first error (and panicking with it).
    pub fn psql_file(&self, db: &str, file: &Path) {
        let mut cmd = self.psql_command(db);
        cmd.arg("-f").arg(file);
        check(&mut cmd);
    }

    /// CREATE DATABASE with `name` quoted as an identifier.
    pub fn create_db(&self, name: &str) {
        self.psql(
            "postgres",
            &format!("CREATE DATABASE {}", quote_ident(name)),
        );
    }

    /// DROP DATABASE with `name` quoted as an identifier.
    pub fn drop_db(&self, name: &str) {
        self.psql("postgres", &format!("DROP DATABASE {}", quote_ident(name)));
    }

    /// Replaces pg_hba.conf with `text` and reloads the configuration.
    pub fn set_hba(&self, text: &str) {
        self.write_file_in_data("pg_hba.conf", text);
        self.reload();
    }

    /// Appends postgresql.conf settings (unquoted values) and reloads; settings that need a
    /// restart take effect after [`Cluster::restart`].
    pub fn set_settings(&self, settings: &[(&str, &str)]) {
        let path = self.data_dir.join(HARNESS_CONF);
        let mut text = std::fs::read_to_string(&path)
            .unwrap_or_else(|err| panic!("read {}: {err}", path.display()));
        for (name, value) in settings {
            text.push_str(&format!(
                "{name} = '{}'\n",
                value.replace('\\', "\\\\").replace('\'', "''")
            ));
        }
        self.write_file_in_data(HARNESS_CONF, &text);
        self.reload();
    }

    /// Rereads the configuration files (pg_ctl reload).
    pub fn reload(&self) {
        let output = self.pg_ctl(&["reload"]);
        if !output.status.success() {
            panic!(
                "{}",
                failure_message(&self.pg_ctl_command(&["reload"]), &output)
            );
        }
    }

    /// Restarts the server (fast shutdown), keeping port and socket.
    pub fn restart(&self) {
        self.pg_ctl_checked(&["restart", "-m", "fast", "-w", "-t", "120"]);
    }

    /// Stops the server (fast shutdown). Files stay until the cluster is dropped.
    pub fn stop(&self) {
        self.pg_ctl_checked(&["stop", "-m", "fast", "-w", "-t", "120"]);
    }

    /// Starts the server again after [`Cluster::stop`], on the same port and socket.
    pub fn start_again(&self) {
        self.pg_ctl_checked(&["start", "-w", "-t", "120"]);
    }

    /// Whether a postmaster is running on this cluster's data directory.
    pub fn is_running(&self) -> bool {
        crate::scratch::live_postmaster(&self.data_dir).is_some()
    }

    fn pg_ctl_checked(&self, args: &[&str]) {
        let output = self.pg_ctl(args);
        if !output.status.success() {
            panic!(
                "{}\n--- server log (end) ---\n{}",
                failure_message(&self.pg_ctl_command(args), &output),
                tail(&self.server_log(), 40)
            );
        }
    }

    /// `pg_dump --schema-only` of `db`, normalised for comparison (see
    /// [`crate::normalize_schema_dump`]). The pg_dump is `PG_JUDGE_BINDIR`'s when set
    /// (pg_dump 18, which reads every server from 13 on, so every version is judged alike),
    /// else the one matching this server.
    pub fn schema_dump(&self, db: &str) -> String {
        let mut cmd = match crate::pg_install::judge_pg_dump() {
            Some(judge) => {
                let mut cmd = std::process::Command::new(judge);
                self.prepare(&mut cmd);
                cmd
            }
            None => self.client("pg_dump"),
        };
        cmd.args(["--schema-only", "--no-password"])
            .arg("-d")
            .arg(self.conninfo(db));
        let output = check(&mut cmd);
        crate::compare::normalize_schema_dump(&String::from_utf8_lossy(&output.stdout))
    }

    /// A digest of every row of every table and materialized view, every sequence's state and
    /// every large object (see [`crate::compare`]). Equal for databases with equal contents.
    pub fn data_digest(&self, db: &str) -> String {
        crate::compare::data_digest(self, db)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Never panic here: this runs while a failed test unwinds.
        if self.port != 0 && crate::scratch::live_postmaster(&self.data_dir).is_some() {
            let mut stop = self.pg_ctl_command(&["stop", "-m", "immediate", "-w", "-t", "30"]);
            let _ = stop.stdin(std::process::Stdio::null()).output();
        }
        // Also stops a postmaster pg_ctl could not.
        crate::scratch::remove_private_dir(&self.base_dir);
        release_port(self.port);
    }
}

fn reserve_port() -> u16 {
    let mut guard = PORTS_IN_USE.lock().unwrap_or_else(|p| p.into_inner());
    let in_use = guard.get_or_insert_with(HashSet::new);
    for _ in 0..100 {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .unwrap_or_else(|err| panic!("cannot bind a TCP port on 127.0.0.1: {err}"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|err| panic!("local_addr: {err}"))
            .port();
        if in_use.insert(port) {
            return port;
        }
    }
    panic!("no free TCP port found on 127.0.0.1");
}

fn release_port(port: u16) {
    let mut guard = PORTS_IN_USE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(in_use) = guard.as_mut() {
        in_use.remove(&port);
    }
}

fn port_was_taken(log: &str) -> bool {
    log.contains("Address already in use") || log.contains("could not create any TCP/IP sockets")
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
