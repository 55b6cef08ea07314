//! `-f FILE`: write the restore as an SQL script for psql instead of connecting, as
//! pg_restore does. Entries come in dependency order, data as `COPY ... FROM stdin` blocks
//! streamed from the verified data files.

use std::io::{Read, Write};
use std::path::Path;

use archive_format::data_file::open_verified;
use archive_format::toc::{Entry, EntryKind, Toc};
use logical_shared::sql::qualified;

use crate::clean::{drop_order, drop_sql};
use crate::error::{Error, Result};
use crate::execute::item_sql;
use crate::graph::Work;
use crate::session::{set_role_sql, FIXED_SETTINGS};

pub struct ScriptPlan<'a> {
    pub toc: &'a Toc,
    pub archive: &'a Path,
    /// Indexes into `toc.entries`, in the order to write them (dependencies first).
    pub order: Vec<usize>,
    /// `-C`: the DATABASE entry to create and connect to.
    pub database: Option<&'a Entry>,
    pub clean: bool,
    pub if_exists: bool,
    pub no_owner: bool,
    pub single_transaction: bool,
    pub role: Option<String>,
    /// `--disable-triggers` in a data-only restore.
    pub disable_triggers: bool,
}

#[derive(Debug, Default)]
pub struct ScriptSummary {
    pub entries: usize,
    pub rows: u64,
}

/// Writes the script to `out`. A data file failing its check ends the script there with
/// an error: the caller must not use what was written.
pub fn write_script(plan: &ScriptPlan, out: &mut dyn Write) -> Result<ScriptSummary> {
    let io = |e: std::io::Error| Error::Output(format!("writing the script: {e}"));
    let h = &plan.toc.header;
    write!(
        out,
        "--\n-- Restore script of database \"{}\" written by rrestore from an archive made by {} at {}\n--\n\n",
        oneline(&h.database),
        h.tool,
        h.created_at
    )
    .map_err(io)?;
    let preamble = format!("{FIXED_SETTINGS}{}\n", set_role_sql(plan.role.as_deref()));
    out.write_all(preamble.as_bytes()).map_err(io)?;

    if let Some(db) = plan.database {
        if plan.clean {
            writeln!(out, "{}\n", drop_sql(db, plan.if_exists)).map_err(io)?;
        }
        writeln!(
            out,
            "{}\n",
            item_sql(db, Work::Ddl, plan.no_owner).trim_end()
        )
        .map_err(io)?;
        writeln!(out, "{}\n", connect_command(&db.name)).map_err(io)?;
        out.write_all(preamble.as_bytes()).map_err(io)?;
    }
    if plan.single_transaction {
        writeln!(out, "BEGIN;\n").map_err(io)?;
    }
    // With -C the database itself is dropped and made anew: nothing in it to drop.
    if plan.clean && plan.database.is_none() {
        for e in drop_order(plan.toc, &plan.order) {
            writeln!(out, "{}", drop_sql(e, plan.if_exists).trim_end()).map_err(io)?;
        }
        writeln!(out).map_err(io)?;
    }

    let mut summary = ScriptSummary::default();
    for &i in &plan.order {
        let e = &plan.toc.entries[i];
        if e.kind == EntryKind::Database {
            continue;
        }
        if let (Some(data), EntryKind::Blobs) = (&e.data, &e.kind) {
            header(out, e).map_err(io)?;
            for f in &data.files {
                summary.rows +=
                    crate::blobs::write_script(plan.archive, f, h.codec.method, h.checksum, out)?;
                writeln!(out).map_err(io)?;
            }
        } else if let Some(data) = &e.data {
            header(out, e).map_err(io)?;
            let table = qualified(e.schema.as_deref().unwrap_or("public"), &e.name);
            for f in &data.files {
                if plan.disable_triggers {
                    writeln!(out, "ALTER TABLE {table} DISABLE TRIGGER ALL;\n").map_err(io)?;
                }
                writeln!(out, "{};", data.copy.trim_end().trim_end_matches(';')).map_err(io)?;
                copy_file(plan, f, out)?;
                out.write_all(b"\\.\n\n").map_err(io)?;
                if plan.disable_triggers {
                    writeln!(out, "ALTER TABLE {table} ENABLE TRIGGER ALL;\n").map_err(io)?;
                }
                summary.rows += f.rows;
            }
        } else {
            let sql = item_sql(e, Work::Ddl, plan.no_owner);
            if sql.trim().is_empty() {
                continue;
            }
            header(out, e).map_err(io)?;
            writeln!(out, "{}\n", sql.trim_end()).map_err(io)?;
        }
        summary.entries += 1;
    }
    if plan.single_transaction {
        writeln!(out, "COMMIT;\n").map_err(io)?;
    }
    writeln!(out, "--\n-- Restore script complete\n--").map_err(io)?;
    out.flush().map_err(io)?;
    Ok(summary)
}

/// pg_dump's comment before each object.
fn header(out: &mut dyn Write, e: &Entry) -> std::io::Result<()> {
    writeln!(
        out,
        "--\n-- Name: {}; Type: {}; Schema: {}; Owner: {}\n--\n",
        oneline(&e.name),
        e.kind,
        e.schema.as_deref().map_or("-".into(), oneline),
        e.owner.as_deref().map_or("-".into(), oneline)
    )
}

fn oneline(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

/// psql's `\connect` to database `name` on the same server, as one quoted argument.
pub fn connect_command(name: &str) -> String {
    let value = name.replace('\\', "\\\\").replace('\'', "\\'");
    let arg = format!("dbname='{value}'").replace('"', "\"\"");
    format!("\\connect -reuse-previous=on \"{arg}\"")
}

/// Streams one data file, verified, into the script.
fn copy_file(
    plan: &ScriptPlan,
    f: &archive_format::toc::DataFile,
    out: &mut dyn Write,
) -> Result<()> {
    let h = &plan.toc.header;
    let path = plan.archive.join(&f.file.path);
    // A bad data file fails the script (exit 1), unlike an unreadable archive (exit 2).
    let bad = |e: archive_format::Error| Error::Other(e.to_string());
    let mut reader =
        open_verified(plan.archive, &f.file, h.codec.method, h.checksum).map_err(bad)?;
    let mut buf = vec![0u8; 256 * 1024];
    let mut last = b'\n';
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(bad(archive_format::Error::from_io(&path, e))),
        };
        out.write_all(&buf[..n])
            .map_err(|e| Error::Output(format!("writing the script: {e}")))?;
        last = buf[n - 1];
    }
    if last != b'\n' {
        return Err(Error::Other(format!(
            "{}: the COPY data does not end with a line break",
            path.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_command_quotes_for_psql_and_conninfo() {
        assert_eq!(
            connect_command("app"),
            "\\connect -reuse-previous=on \"dbname='app'\""
        );
        assert_eq!(
            connect_command("a'b\"c\\d"),
            "\\connect -reuse-previous=on \"dbname='a\\'b\"\"c\\\\d'\""
        );
    }
}
