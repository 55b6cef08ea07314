//! Extended statistics (CREATE STATISTICS) with their statistics target.

use archive_format::toc::{EntryKind, Section};
use futures::future::BoxFuture;
use logical_shared::sql::qualified;
use tokio_postgres::Client;

use super::{class, not_extension_member, Ctx, Family, ObjId, USER_SCHEMA};
use crate::error::Result;
use crate::rows::query;
use crate::toc_builder::{entry, TocBuilder};

#[derive(Debug)]
struct StatisticsObject {
    oid: u32,
    schema: String,
    name: String,
    owner: String,
    table_oid: u32,
    /// `pg_get_statisticsobjdef()`
    definition: String,
    /// Set by ALTER STATISTICS ... SET STATISTICS.
    target: Option<i32>,
}

#[derive(Debug, Default)]
pub struct Statistics {
    objects: Vec<StatisticsObject>,
}

async fn read(client: &Client, _ctx: &Ctx) -> Result<Statistics> {
    // stxstattarget: -1 for the default up to PostgreSQL 16, NULL from 17 on.
    let sql = format!(
        "SELECT s.oid, n.nspname::text, s.stxname::text,
                pg_catalog.pg_get_userbyid(s.stxowner)::text AS owner, s.stxrelid,
                pg_catalog.pg_get_statisticsobjdef(s.oid) AS definition,
                (CASE WHEN s.stxstattarget >= 0 THEN s.stxstattarget END)::int4 AS target
           FROM pg_catalog.pg_statistic_ext s
           JOIN pg_catalog.pg_namespace n ON n.oid = s.stxnamespace
          WHERE {USER_SCHEMA} AND {}
          ORDER BY n.nspname, s.stxname",
        not_extension_member("pg_catalog.pg_statistic_ext", "s.oid")
    );
    Ok(Statistics {
        objects: query(client, &sql, &[], "reading extended statistics")
            .await?
            .map(|r| {
                Ok(StatisticsObject {
                    oid: r.get("oid")?,
                    schema: r.get("nspname")?,
                    name: r.get("stxname")?,
                    owner: r.get("owner")?,
                    table_oid: r.get("stxrelid")?,
                    definition: r.get("definition")?,
                    target: r.get("target")?,
                })
            })?,
    })
}

impl Family for Statistics {
    fn read<'a>(client: &'a Client, ctx: &'a Ctx) -> BoxFuture<'a, Result<Self>> {
        Box::pin(read(client, ctx))
    }

    fn add_entries(&self, toc: &mut TocBuilder) {
        for s in &self.objects {
            let Some(table_id) = toc.id_of(ObjId::rel(s.table_oid)) else {
                continue;
            };
            let name = qualified(&s.schema, &s.name);
            let mut create = format!("{};", s.definition);
            if let Some(n) = s.target {
                create.push_str(&format!("\nALTER STATISTICS {name} SET STATISTICS {n};"));
            }
            let mut e = entry(
                EntryKind::Statistics,
                Section::PostData,
                Some(&s.schema),
                &s.name,
                Some(&s.owner),
                create,
                format!("DROP STATISTICS {name};"),
            );
            e.deps = vec![table_id];
            e.table = Some(table_id);
            toc.add_object(
                e,
                ObjId::new(class::PG_STATISTIC_EXT, s.oid),
                "STATISTICS",
                name,
            );
        }
    }
}
