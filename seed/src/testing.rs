//! A fresh database per test, for Rust test suites: the counterpart of Go's pgtestdb.
//!
//! A [`Seeder`] names a source (an rdump archive, or a setup function such as your
//! migrations, run once) and a server. [`Seeder::database`] finds or builds the source's
//! template on that server (once, whatever the number of test threads and processes), clones
//! it under a new name, and returns a [`TestDatabase`] that drops the clone when it goes out
//! of scope, also when the test panics. It works from plain and from `#[tokio::test]` tests:
//! the server work runs on a thread of its own.
//!
//! ```no_run
//! use rseed::testing::Seeder;
//!
//! // Once per test binary (a `static` OnceLock, say):
//! let seeder = Seeder::from_archive("host=/var/run/postgresql user=postgres", "tests/app.dir")?;
//! // In each test:
//! let db = seeder.database()?;
//! let conninfo = db.conninfo(); // "host=/var/run/postgresql user=postgres dbname=rseed_t…"
//! # Ok::<(), rseed::Error>(())
//! ```
//!
//! `Seeder::from_setup(conninfo, key, |conninfo| run_migrations(conninfo))` builds the
//! template by calling your function on an empty database instead; `key` is the identity
//! (change it, for example to a hash of the migration files, when the setup changes).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use pgconn::ConnectOptions;
use restore::Selection;
use tokio::runtime::Runtime;

use crate::build::{Build, Shape};
use crate::clone::{self, Strategy, StrategyChoice};
use crate::error::{Error, Result};
use crate::identity::Identity;
use crate::record;
use crate::seed::{ensure_template, seed, SeedOptions, Source};
use crate::server::Admin;

/// What a setup function returns.
pub type SetupResult = std::result::Result<(), Box<dyn std::error::Error + Send + Sync>>;
type SetupFn = dyn Fn(&str) -> SetupResult + Send + Sync;

enum Origin {
    Archive(PathBuf),
    Setup { key: String, setup: Arc<SetupFn> },
}

/// Makes test databases from one source on one server. Share one per test binary.
pub struct Seeder {
    runtime: Runtime,
    /// The user's connection string, to which each test database's name is added.
    conninfo: String,
    maintenance: ConnectOptions,
    origin: Origin,
    jobs: usize,
    prefix: String,
    counter: AtomicU64,
}

impl Seeder {
    /// Test databases that are copies of an rdump archive's database. `conninfo` (a
    /// keyword=value string or a URI, as libpq takes them) reaches the maintenance
    /// database, where the seeder connects and takes its locks: name it (`dbname=postgres`),
    /// since libpq's default is the user's name.
    pub fn from_archive(conninfo: &str, archive: impl Into<PathBuf>) -> Result<Seeder> {
        Seeder::new(conninfo, Origin::Archive(archive.into()))
    }

    /// Test databases built by `setup`, which gets the connection string of an empty
    /// database and fills it. It runs once per `key` on the server, not once per test.
    pub fn from_setup(
        conninfo: &str,
        key: &str,
        setup: impl Fn(&str) -> SetupResult + Send + Sync + 'static,
    ) -> Result<Seeder> {
        Seeder::new(
            conninfo,
            Origin::Setup {
                key: key.to_owned(),
                setup: Arc::new(setup),
            },
        )
    }

    fn new(conninfo: &str, origin: Origin) -> Result<Seeder> {
        let maintenance = ConnectOptions::parse(conninfo)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| Error::Other(format!("cannot start a runtime: {e}")))?;
        Ok(Seeder {
            runtime,
            conninfo: conninfo.to_owned(),
            maintenance: maintenance.with_application_name("rseed"),
            origin,
            jobs: 2,
            prefix: "rseed_test".into(),
            counter: AtomicU64::new(0),
        })
    }

    /// Connections used to build the template (default 2).
    pub fn jobs(mut self, jobs: usize) -> Seeder {
        self.jobs = jobs.max(1);
        self
    }

    /// The start of each test database's name (default `rseed_test`); the process id and
    /// a counter follow it.
    pub fn prefix(mut self, prefix: &str) -> Seeder {
        self.prefix = prefix.to_owned();
        self
    }

    /// A new database, a copy of the source, dropped when the result is dropped.
    pub fn database(&self) -> Result<TestDatabase> {
        let n = self.counter.fetch_add(1, Ordering::SeqCst) + 1;
        let name = format!("{}_{}_{n}", self.prefix, std::process::id());
        self.on_own_thread(|| self.make(&name))?;
        Ok(TestDatabase {
            conninfo: with_dbname(&self.conninfo, &name),
            options: self.maintenance.with_dbname(&name),
            maintenance: self.maintenance.clone(),
            name,
            keep: false,
        })
    }

    async fn make(&self, name: &str) -> Result<()> {
        match &self.origin {
            Origin::Archive(path) => {
                seed(&SeedOptions {
                    maintenance: self.maintenance.clone(),
                    source: Source::Archive(path.clone()),
                    name: name.to_owned(),
                    count: None,
                    replace: true,
                    jobs: self.jobs,
                    selection: Selection::default(),
                    no_owner: false,
                    strategy: StrategyChoice::Auto,
                    progress: false,
                    cancellers: pgconn::CancelList::default(),
                })
                .await?;
            }
            Origin::Setup { key, setup } => {
                let admin = Admin::connect(&self.maintenance).await?;
                let id = Identity::of_setup(key);
                let ready = ensure_template(&admin, id, || async {
                    let build = Build::begin(&admin, id, Shape::ServerDefault).await?;
                    let target = with_dbname(&self.conninfo, build.name());
                    let setup = setup.clone();
                    let built = async {
                        // The setup may block (a migration tool, say): not on the runtime.
                        tokio::task::spawn_blocking(move || setup(&target))
                            .await
                            .map_err(|e| Error::Build(format!("the setup function panicked: {e}")))?
                            .map_err(|e| Error::Build(format!("the setup function failed: {e}")))?;
                        build
                            .finish(self.jobs, &Default::default(), format!("setup {key}"))
                            .await
                    }
                    .await;
                    if built.is_err() {
                        build.abandon().await;
                    }
                    built
                })
                .await?;
                let strategy = Strategy::choose(
                    StrategyChoice::Auto,
                    admin.server_version,
                    ready.bytes,
                    admin.fsync,
                )?;
                admin.drop_database(name).await?;
                let template = record::template_name(&id);
                clone::make(&admin, name, &template, strategy, None).await?;
                admin.touch(&template).await;
            }
        }
        Ok(())
    }

    /// Runs `work` to its end on a thread of its own, so that a test already inside a
    /// runtime (`#[tokio::test]`) can wait for it.
    fn on_own_thread<T: Send, F: std::future::Future<Output = T>>(
        &self,
        work: impl FnOnce() -> F + Send,
    ) -> T {
        std::thread::scope(|s| {
            s.spawn(|| self.runtime.block_on(work()))
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }
}

/// One test's database. Dropping it drops the database (with `WITH (FORCE)`, so sessions
/// the test left open do not keep it), unless [`TestDatabase::keep`] was called.
pub struct TestDatabase {
    name: String,
    conninfo: String,
    options: ConnectOptions,
    maintenance: ConnectOptions,
    keep: bool,
}

impl TestDatabase {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The connection string given to the seeder, with this database's name.
    pub fn conninfo(&self) -> &str {
        &self.conninfo
    }

    /// The connection options, for [`pgconn`] (`options().connect().await`).
    pub fn options(&self) -> &ConnectOptions {
        &self.options
    }

    /// Leaves the database in place when dropped, to look at after a failure.
    pub fn keep(&mut self) {
        self.keep = true;
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        let maintenance = self.maintenance.clone();
        let name = self.name.clone();
        // Drop may run inside a runtime: a thread with its own keeps out of its way.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async {
                let admin = Admin::connect(&maintenance)
                    .await
                    .map_err(|e| e.to_string())?;
                admin.drop_database(&name).await.map_err(|e| e.to_string())
            })
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("rseed: could not drop test database \"{}\": {e}", self.name),
            Err(_) => eprintln!("rseed: dropping test database \"{}\" panicked", self.name),
        }
    }
}

/// `conninfo` with the database `name`: a later `dbname` overrides an earlier one, in both
/// keyword=value strings and URI parameters.
fn with_dbname(conninfo: &str, name: &str) -> String {
    let is_uri = conninfo.starts_with("postgresql://") || conninfo.starts_with("postgres://");
    if is_uri {
        let sep = if conninfo.contains('?') { '&' } else { '?' };
        let encoded: String = name
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        format!("{conninfo}{sep}dbname={encoded}")
    } else if pgconn::is_connection_string(conninfo) {
        let quoted = name.replace('\\', "\\\\").replace('\'', "\\'");
        format!("{conninfo} dbname='{quoted}'")
    } else {
        format!(
            "dbname='{}'",
            name.replace('\\', "\\\\").replace('\'', "\\'")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::with_dbname;

    #[test]
    fn the_test_database_overrides_the_maintenance_one() {
        assert_eq!(
            with_dbname("host=/tmp user=u", "t_1"),
            "host=/tmp user=u dbname='t_1'"
        );
        assert_eq!(
            with_dbname("postgresql://u@h/postgres", "t 1"),
            "postgresql://u@h/postgres?dbname=t%201"
        );
        assert_eq!(
            with_dbname("postgresql://u@h/postgres?sslmode=disable", "t"),
            "postgresql://u@h/postgres?sslmode=disable&dbname=t"
        );
    }
}
