//! Making databases from a ready template: which copy strategy, and the copies themselves.
//!
//! PostgreSQL copies a template in one of two ways (15 and later):
//! - `WAL_LOG` copies block by block through shared buffers and writes every block to the
//!   WAL: its cost grows with the template's size, and it never checkpoints.
//! - `FILE_COPY` copies the files, between two checkpoints of the whole cluster: a fixed
//!   cost that grows with what else is dirty on the server, then a plain file copy. On 18,
//!   `file_copy_method = clone` has the kernel copy (or, on btrfs/XFS, share) the blocks.
//!
//! Before 15 there is only the file copy. Measured with `bench/seed.sh` (see
//! bench/RESULTS-seed.md): with `fsync` off the file copy is as fast or faster at every size
//! (38 MB: 54 ms against 94 ms); with it on, the two are level below a few hundred MB, and
//! there the WAL copy spares the cluster two checkpoints; at 750 MB the file copy wins by
//! 1.6x with fsync and 3.5x without.

use logical_shared::database::{DatabaseProps, DatabaseSql};
use logical_shared::sql::quote_ident;

use crate::error::{server, Error, Result};
use crate::server::Admin;

/// With `fsync` on, templates of this size and more are copied as files, smaller ones
/// through the WAL (measured: bench/RESULTS-seed.md).
pub const FILE_COPY_FROM_BYTES: i64 = 256 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// `CREATE DATABASE … TEMPLATE t` on servers that have no strategies (13, 14).
    Plain,
    WalLog,
    FileCopy,
    /// FILE_COPY with `file_copy_method = clone` (18).
    Clone,
}

/// What the user asked for with `--strategy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum StrategyChoice {
    /// By server version and template size.
    #[default]
    Auto,
    WalLog,
    FileCopy,
    Clone,
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Plain => "plain",
            Strategy::WalLog => "wal-log",
            Strategy::FileCopy => "file-copy",
            Strategy::Clone => "clone",
        }
    }

    /// The strategy for a template of `size` bytes on a server of `server_version` whose
    /// `fsync` setting is `fsync`.
    pub fn choose(
        choice: StrategyChoice,
        server_version: u32,
        size: i64,
        fsync: bool,
    ) -> Result<Strategy> {
        let has_strategies = server_version >= 150000;
        let has_clone = server_version >= 180000;
        match choice {
            StrategyChoice::Auto if !has_strategies => Ok(Strategy::Plain),
            StrategyChoice::Auto if fsync && size < FILE_COPY_FROM_BYTES => Ok(Strategy::WalLog),
            StrategyChoice::Auto if has_clone => Ok(Strategy::Clone),
            StrategyChoice::Auto => Ok(Strategy::FileCopy),
            StrategyChoice::FileCopy if !has_strategies => Ok(Strategy::Plain),
            StrategyChoice::FileCopy => Ok(Strategy::FileCopy),
            StrategyChoice::WalLog if has_strategies => Ok(Strategy::WalLog),
            StrategyChoice::Clone if has_clone => Ok(Strategy::Clone),
            StrategyChoice::WalLog | StrategyChoice::Clone => Err(Error::Usage(format!(
                "--strategy {} needs PostgreSQL {} or later; the server is {}",
                if choice == StrategyChoice::Clone {
                    "clone"
                } else {
                    "wal-log"
                },
                if choice == StrategyChoice::Clone {
                    18
                } else {
                    15
                },
                server_version / 10000
            ))),
        }
    }

    fn create_sql(self, name: &str, template: &str) -> String {
        let base = format!(
            "CREATE DATABASE {} TEMPLATE {}",
            quote_ident(name),
            quote_ident(template)
        );
        match self {
            Strategy::Plain => base,
            Strategy::WalLog => format!("{base} STRATEGY wal_log"),
            Strategy::FileCopy | Strategy::Clone => format!("{base} STRATEGY file_copy"),
        }
    }
}

/// Makes `name` from `template`, then gives it the archive's database settings (which live
/// outside the database, so a copy does not carry them). Returns the strategy used: a
/// server that refuses cloning files falls back to copying them.
pub async fn make(
    admin: &Admin,
    name: &str,
    template: &str,
    strategy: Strategy,
    props: Option<&DatabaseProps>,
) -> Result<Strategy> {
    let what = format!("creating database \"{name}\" from template \"{template}\"");
    let mut used = strategy;
    if strategy == Strategy::Clone {
        if let Err(e) = admin
            .client
            .batch_execute("SET file_copy_method = clone")
            .await
        {
            tracing::info!(
                "the server cannot clone files ({}); copying them",
                pgconn::server_message(&e)
            );
            used = Strategy::FileCopy;
        }
    }
    let mut created = admin
        .run_when_unused(template, &used.create_sql(name, template), &what)
        .await;
    if used == Strategy::Clone {
        let _ = admin.client.batch_execute("RESET file_copy_method").await;
        // A file system that cannot clone between these files fails with an I/O error
        // (class 58) and leaves nothing behind: copy instead.
        if let Err(Error::Server {
            code: Some(c),
            message,
            ..
        }) = &created
        {
            if c.starts_with("58") {
                tracing::info!("the server could not clone the files ({message}); copying them");
                used = Strategy::FileCopy;
                created = admin
                    .run_when_unused(template, &used.create_sql(name, template), &what)
                    .await;
            }
        }
    }
    created?;
    if let Some(p) = props {
        let settings = p.settings_sql(name);
        if !settings.is_empty() {
            admin
                .client
                .batch_execute(&settings)
                .await
                .map_err(server(format!("giving database \"{name}\" its settings")))?;
        }
    }
    Ok(used)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategy_follows_version_size_and_fsync() {
        use Strategy::*;
        let auto = StrategyChoice::Auto;
        let big = FILE_COPY_FROM_BYTES;
        let small = 8 << 20;
        // (choice, server, size, fsync) -> strategy; without fsync the file copy's
        // checkpoints cost nothing, so it wins at any size.
        let cases = [
            (auto, 130023, big, true, Plain),
            (auto, 140000, small, true, Plain),
            (auto, 150018, small, true, WalLog),
            (auto, 150018, big, true, FileCopy),
            (auto, 170000, big, true, FileCopy),
            (auto, 180006, big, true, Clone),
            (auto, 180006, small, true, WalLog),
            (auto, 150018, small, false, FileCopy),
            (auto, 180006, small, false, Clone),
            (auto, 140000, small, false, Plain),
            (StrategyChoice::FileCopy, 130000, small, true, Plain),
        ];
        for (choice, version, size, fsync, want) in cases {
            assert_eq!(
                Strategy::choose(choice, version, size, fsync).ok(),
                Some(want),
                "{choice:?} on {version}, {size} bytes, fsync {fsync}"
            );
        }
        assert!(Strategy::choose(StrategyChoice::Clone, 170000, big, true).is_err());
        assert!(Strategy::choose(StrategyChoice::WalLog, 140000, big, true).is_err());
    }

    #[test]
    fn statements_quote_names() {
        assert_eq!(
            Strategy::WalLog.create_sql("My Test", "rseed_ab"),
            "CREATE DATABASE \"My Test\" TEMPLATE rseed_ab STRATEGY wal_log"
        );
        assert_eq!(
            Strategy::Plain.create_sql("t1", "rseed_ab"),
            "CREATE DATABASE t1 TEMPLATE rseed_ab"
        );
    }
}
