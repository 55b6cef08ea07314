//! Runs one item of the plan on one connection.
//!
//! Each item is one transaction that also writes its lines of the resume record, so the
//! record is exact. A table created by this restore and loaded in one item (one file, or
//! all of its files on one connection) is loaded as `BEGIN; TRUNCATE; COPY ... FREEZE; …
//! COMMIT`: its rows are written frozen and visible, so neither the index builds after it
//! nor a later VACUUM has to visit every page again to learn that.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Mutex;

use archive_format::toc::{Entry, EntryKind, Toc};
use logical_shared::sql::qualified;
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

use crate::error::{Error, Result};
use crate::graph::{data_key, loads_frozen, Plan, Work};
use crate::journal::Journal;
use crate::load::{load, LoadSpec};

/// How often a statement chosen as a deadlock's victim runs before its error stands.
/// The scheduler keeps conflicting locks apart; this covers locks it cannot see.
const DEADLOCK_ATTEMPTS: u32 = 3;

/// How items relate to transactions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxnMode {
    /// Each item commits on its own (and records itself in the resume record).
    PerItem,
    /// `-1`: everything runs inside one transaction the caller opened.
    Single,
}

pub struct ItemContext<'a> {
    pub toc: &'a Toc,
    pub plan: &'a Plan,
    pub archive: &'a Path,
    pub journal: Option<&'a Journal>,
    pub mode: TxnMode,
    pub no_owner: bool,
    /// `--disable-triggers` in a data-only restore.
    pub disable_triggers: bool,
    /// TABLE entries created by this restore (this run, or the run it resumes).
    pub created: &'a Mutex<HashSet<u32>>,
    /// TABLE entries of partitioned tables (COPY FREEZE refuses them).
    pub partitioned: HashSet<u32>,
    /// The resume record's keys of the run this one resumes.
    pub resumed: &'a HashSet<String>,
    /// Freeze tables of any size.
    pub freeze_all: bool,
}

/// `KIND schema.name`, how messages name an entry.
pub fn describe(e: &Entry) -> String {
    match &e.schema {
        Some(s) => format!("{} {}.{}", e.kind, s, e.name),
        None => format!("{} {}", e.kind, e.name),
    }
}

/// The SQL of a DDL-like item: the entry's definition, then its ownership unless `-O`.
pub fn item_sql(e: &Entry, work: Work, no_owner: bool) -> String {
    match (work, &e.index_build) {
        (Work::IndexBuild, Some(b)) => b.create_index.clone(),
        (Work::Attach, Some(b)) => b.attach.clone(),
        (Work::Data { .. }, _) => String::new(),
        _ => match (&e.set_owner, no_owner) {
            (Some(owner), false) => format!("{}\n{owner}", terminated(&e.create)),
            _ => e.create.clone(),
        },
    }
}

impl ItemContext<'_> {
    fn created(&self, table: u32) -> bool {
        self.created
            .lock()
            .map(|c| c.contains(&table))
            .unwrap_or(false)
    }

    /// Runs item `n`; returns the rows it loaded.
    pub async fn run(&self, client: &Client, n: petgraph::graph::NodeIndex) -> Result<u64> {
        let item = &self.plan.graph[n];
        let e = &self.toc.entries[item.entry];
        let result = match item.work {
            Work::Data { file } => self.load_data(client, e, Some(file)).await,
            Work::AllData => self.load_data(client, e, None).await,
            work => {
                let record = self.journal.map(|j| j.record_sql(&item.key(e)));
                let sql = item_sql(e, work, self.no_owner);
                self.run_ddl(client, &sql, record).await.map(|_| 0)
            }
        };
        result.map_err(|err| {
            let what = match item.work {
                Work::IndexBuild => format!("{} (building its index)", describe(e)),
                Work::Attach => format!("{} (attaching its index)", describe(e)),
                Work::Data { file } if e.data.as_ref().is_some_and(|d| d.files.len() > 1) => {
                    format!("{} (file {})", describe(e), file + 1)
                }
                _ => describe(e),
            };
            match err {
                Error::ConnectionLost(m) => Error::ConnectionLost(format!("{what}: {m}")),
                Error::SessionDropped(m) => Error::SessionDropped(format!("{what}: {m}")),
                other => Error::Other(format!("{what}: {other}")),
            }
        })
    }

    /// Runs the DDL items `nodes` in one transaction, each with its resume record. `None`
    /// when it failed and was rolled back (nothing of it stays).
    pub async fn run_batch(
        &self,
        client: &Client,
        nodes: &[petgraph::graph::NodeIndex],
    ) -> Option<Vec<(petgraph::graph::NodeIndex, Result<u64>)>> {
        let mut text = String::from("BEGIN;\n");
        for &n in nodes {
            let item = &self.plan.graph[n];
            let e = &self.toc.entries[item.entry];
            text.push_str(&terminated(&item_sql(e, item.work, self.no_owner)));
            text.push('\n');
            if let Some(j) = self.journal {
                text.push_str(&j.record_sql(&item.key(e)));
                text.push('\n');
            }
        }
        text.push_str("COMMIT;");
        match client.batch_execute(&text).await {
            Ok(()) => Some(nodes.iter().map(|n| (*n, Ok(0))).collect()),
            Err(e) => {
                tracing::debug!(
                    "a batch of {} items failed ({}); running them one by one",
                    nodes.len(),
                    pgconn::server_message(&e)
                );
                let _ = client.batch_execute("ROLLBACK").await;
                None
            }
        }
    }

    async fn run_ddl(&self, client: &Client, sql: &str, record: Option<String>) -> Result<()> {
        let sql = terminated(sql);
        let record = record.filter(|_| self.mode == TxnMode::PerItem);
        let mut attempt = 1;
        loop {
            match self.run_ddl_once(client, &sql, record.as_deref()).await {
                // The victim of a deadlock was rolled back whole and can simply run again;
                // inside `-1`'s one transaction everything before it is gone too.
                Err(e)
                    if e.code() == Some(&SqlState::T_R_DEADLOCK_DETECTED)
                        && self.mode == TxnMode::PerItem
                        && attempt < DEADLOCK_ATTEMPTS =>
                {
                    tracing::warn!(
                        "{}; running it again (attempt {})",
                        pgconn::server_message(&e),
                        attempt + 1
                    );
                    attempt += 1;
                }
                other => return other.map_err(server_error),
            }
        }
    }

    async fn run_ddl_once(
        &self,
        client: &Client,
        sql: &str,
        record: Option<&str>,
    ) -> Result<(), tokio_postgres::Error> {
        let Some(record) = record else {
            if !sql.is_empty() {
                client.batch_execute(sql).await?;
            }
            return Ok(());
        };
        let text = format!("BEGIN;\n{sql}\n{record}\nCOMMIT;");
        match client.batch_execute(&text).await {
            Ok(()) => Ok(()),
            Err(e) => {
                let _ = client.batch_execute("ROLLBACK").await;
                if e.code() != Some(&SqlState::ACTIVE_SQL_TRANSACTION) {
                    return Err(e);
                }
                // A statement that refuses transaction blocks: run it alone, then record it.
                client.batch_execute(sql).await?;
                client.batch_execute(record).await
            }
        }
    }

    /// Loads data file `file` of `e`, or with `None` all of them in one transaction.
    async fn load_data(&self, client: &Client, e: &Entry, file: Option<usize>) -> Result<u64> {
        let data = e
            .data
            .as_ref()
            .ok_or_else(|| Error::Other("no data in this entry".into()))?;
        let table = e.table;
        // Rows loaded through the partition root may land in other partitions: this one
        // is neither truncated nor frozen into.
        let created = !data.via_root
            && table.is_some_and(|t| self.created(t) && !self.partitioned.contains(&t));
        let whole = file.is_none() || data.files.len() == 1;
        let name = qualified(e.schema.as_deref().unwrap_or("public"), &e.name);
        let mut before = String::new();
        let mut after = String::new();
        let (freeze, truncate) = match self.mode {
            // Created in this very transaction: every file may be frozen.
            TxnMode::Single => (created, false),
            TxnMode::PerItem => {
                let fresh = created && whole && (self.freeze_all || loads_frozen(data));
                (fresh, fresh)
            }
        };
        if truncate {
            before.push_str(&format!("TRUNCATE TABLE ONLY {name};\n"));
        }
        let key = |k: usize| data_key(e, k);
        // Files an earlier run loaded stay loaded unless the table is emptied first.
        let files: Vec<usize> = match file {
            Some(k) => vec![k],
            None => (0..data.files.len())
                .filter(|k| truncate || !self.resumed.contains(&key(*k)))
                .collect(),
        };
        // Large objects belong to no table.
        let blobs = e.kind == EntryKind::Blobs;
        if self.disable_triggers && !blobs {
            before.push_str(&format!("ALTER TABLE {name} DISABLE TRIGGER ALL;\n"));
            after.push_str(&format!("ALTER TABLE {name} ENABLE TRIGGER ALL;\n"));
        }
        if let (Some(j), TxnMode::PerItem) = (self.journal, self.mode) {
            for k in &files {
                if file.is_some() || !self.resumed.contains(&key(*k)) {
                    after.push_str(&j.record_sql(&key(*k)));
                }
            }
        }
        // Large objects are written by statements, not one COPY, and a table's files
        // are one unit: only a transaction keeps a damaged file from leaving rows or
        // objects half-written.
        let own_txn = self.mode == TxnMode::PerItem
            && (blobs || files.len() > 1 || !(before.is_empty() && after.is_empty()));
        if own_txn {
            before.insert_str(0, "BEGIN;\n");
            after.push_str("\nCOMMIT;");
        }
        let copy = if freeze {
            with_freeze(&data.copy)
        } else {
            data.copy.clone()
        };
        let result = async {
            if !before.is_empty() {
                client.batch_execute(&before).await.map_err(server_error)?;
            }
            let mut rows = 0;
            for k in &files {
                let f = data
                    .files
                    .get(*k)
                    .ok_or_else(|| Error::Other(format!("no file {k}")))?;
                let spec = LoadSpec {
                    root: self.archive,
                    file: f,
                    method: self.toc.header.codec.method,
                    algo: self.toc.header.checksum,
                    copy: copy.clone(),
                };
                rows += if blobs {
                    crate::blobs::load(client, &spec).await?
                } else {
                    load(client, &spec).await?
                };
            }
            if !after.is_empty() {
                client.batch_execute(&after).await.map_err(server_error)?;
            }
            Ok(rows)
        }
        .await;
        if result.is_err() && own_txn && !client.is_closed() {
            let _ = client.batch_execute("ROLLBACK").await;
        }
        result
    }
}

/// SQL text ending in `;`, so that more statements can follow it.
fn terminated(sql: &str) -> String {
    let t = sql.trim_end();
    if t.is_empty() || t.ends_with(';') {
        t.to_owned()
    } else {
        format!("{t};")
    }
}

/// The COPY statement with the FREEZE option added.
fn with_freeze(copy: &str) -> String {
    let c = copy.trim_end().trim_end_matches(';');
    match c.rfind(" WITH (") {
        Some(_) if c.ends_with(')') => format!("{}, FREEZE)", &c[..c.len() - 1]),
        _ => format!("{c} WITH (FREEZE)"),
    }
}

pub fn server_error(e: tokio_postgres::Error) -> Error {
    if e.is_closed() {
        Error::ConnectionLost(pgconn::server_message(&e))
    } else {
        Error::Other(pgconn::server_message(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freeze_option_is_added_once() {
        assert_eq!(
            with_freeze("COPY public.t (a) FROM stdin"),
            "COPY public.t (a) FROM stdin WITH (FREEZE)"
        );
        assert_eq!(
            with_freeze("COPY public.t (a) FROM stdin WITH (FORMAT text);"),
            "COPY public.t (a) FROM stdin WITH (FORMAT text, FREEZE)"
        );
    }

    #[test]
    fn statements_are_terminated() {
        assert_eq!(terminated("SELECT 1"), "SELECT 1;");
        assert_eq!(terminated("SELECT 1;\n"), "SELECT 1;");
        assert_eq!(terminated("  "), "");
    }
}
