//! COMMENT ON for every dumped object that has one, read from pg_description in one
//! query and named through the designators the families registered.

use archive_format::toc::EntryKind;
use futures::future::BoxFuture;
use logical_shared::sql::{quote_ident, quote_literal};
use tokio_postgres::Client;

use super::{class, Ctx, Family, ObjId};
use crate::error::Result;
use crate::rows::query;
use crate::toc_builder::{entry, TocBuilder};

#[derive(Debug)]
struct Comment {
    obj: ObjId,
    /// Column name for comments on columns.
    column: Option<String>,
    text: String,
}

#[derive(Debug, Default)]
pub struct Comments {
    comments: Vec<Comment>,
}

async fn read(client: &Client) -> Result<Comments> {
    let rows = query(
        client,
            "SELECT d.classoid, d.objoid,
                    CASE WHEN d.objsubid > 0 THEN
                         (SELECT a.attname::text FROM pg_catalog.pg_attribute a
                           WHERE a.attrelid = d.objoid AND a.attnum = d.objsubid) END AS column_name,
                    d.description, d.objsubid
               FROM pg_catalog.pg_description d
              -- A large object's oid is whatever lo_create was given, low ones included.
              WHERE d.objoid >= 16384
                 OR d.classoid IN ('pg_catalog.pg_namespace'::pg_catalog.regclass,
                                   'pg_catalog.pg_largeobject'::pg_catalog.regclass)
             UNION ALL
             -- The database's own comment is a shared one.
             SELECT s.classoid, s.objoid, NULL, s.description, 0
               FROM pg_catalog.pg_shdescription s
              WHERE s.classoid = 'pg_catalog.pg_database'::pg_catalog.regclass
                AND s.objoid = (SELECT db.oid FROM pg_catalog.pg_database db
                                 WHERE db.datname = pg_catalog.current_database())
              ORDER BY 1, 2, 5",
            &[],
        "reading comments",
    )
    .await?;
    Ok(Comments {
        comments: rows.map(|r| {
            Ok(Comment {
                obj: ObjId::new(r.get("classoid")?, r.get("objoid")?),
                column: r.get("column_name")?,
                text: r.get("description")?,
            })
        })?,
    })
}

impl Family for Comments {
    fn read<'a>(client: &'a Client, _ctx: &'a Ctx) -> BoxFuture<'a, Result<Self>> {
        Box::pin(read(client))
    }

    fn add_entries(&self, toc: &mut TocBuilder) {
        for c in &self.comments {
            let Some(d) = toc.designators.get(&c.obj).cloned() else {
                continue;
            };
            let Some(parent) = toc.entries.get(d.entry as usize - 1) else {
                continue;
            };
            let (section, schema, owner, on) = (
                parent.section,
                parent.schema.clone(),
                parent.owner.clone(),
                parent.kind.clone(),
            );
            let target = match &c.column {
                Some(col) if c.obj.class == class::PG_CLASS || c.obj.class == class::PG_TYPE => {
                    format!("COLUMN {}.{}", d.name, quote_ident(col))
                }
                Some(_) => continue,
                None => format!("{} {}", d.keyword, d.name),
            };
            let mut e = entry(
                EntryKind::Comment,
                section,
                schema.as_deref(),
                &target,
                owner.as_deref(),
                format!("COMMENT ON {target} IS {};", quote_literal(&c.text)),
                String::new(),
            );
            e.deps.push(d.entry);
            e.target_kind = Some(on);
            toc.push(e, None);
        }
    }
}
