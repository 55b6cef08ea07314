//! Views and materialized views (with their indexes, and the refresh that fills a
//! populated materialized view after everything it reads is restored).

use std::collections::{HashMap, HashSet};

use archive_format::toc::{EntryKind, LockMode, Section};
use futures::future::BoxFuture;
use logical_shared::sql::{qualified, quote_ident};
use tokio_postgres::Client;

use super::{class, column_settings, not_extension_member, Ctx, Family, ObjId, USER_SCHEMA};
use crate::catalog::read_columns;
use crate::error::Result;
use crate::model::Table;
use crate::rows::query;
use crate::toc_builder::{entry, TocBuilder};

#[derive(Debug)]
struct View {
    oid: u32,
    schema: String,
    name: String,
    owner: String,
    materialized: bool,
    populated: bool,
    /// `pg_get_viewdef()`
    query: String,
    /// Storage options without check_option (which has its own clause).
    options: Vec<String>,
    check_option: Option<String>,
    /// Table access method of a materialized view, when not the default.
    access_method: Option<String>,
    /// The view's `_RETURN` rule and row types: parts of the view's entry.
    parts: Vec<ObjId>,
    /// Column defaults set on a view: (column, expression).
    defaults: Vec<(String, String)>,
    /// A materialized view's column settings (storage, compression, statistics...):
    /// ALTER statements, or empty.
    column_settings: String,
    size: u64,
}

#[derive(Debug)]
struct MatviewIndex {
    oid: u32,
    view_oid: u32,
    schema: String,
    name: String,
    definition: String,
    clustered: bool,
}

#[derive(Debug, Default)]
pub struct Views {
    views: Vec<View>,
    indexes: Vec<MatviewIndex>,
    /// (materialized view, a materialized view it reads, directly or through views).
    reads: Vec<(u32, u32)>,
}

async fn read(client: &Client, ctx: &Ctx) -> Result<Views> {
    let sql = format!(
        "SELECT c.oid, n.nspname::text, c.relname::text,
                pg_catalog.pg_get_userbyid(c.relowner)::text AS owner,
                c.relkind = 'm' AS materialized, c.relispopulated,
                pg_catalog.pg_get_viewdef(c.oid) AS query,
                coalesce(ARRAY(SELECT o FROM unnest(c.reloptions) o WHERE o !~ '^check_option='), '{{}}')
                  AS options,
                (SELECT substr(o, 14) FROM unnest(c.reloptions) o WHERE o ~ '^check_option=')
                  AS check_option,
                CASE WHEN c.relkind = 'm' AND am.amname <> 'heap' THEN am.amname::text END
                  AS access_method,
                ARRAY[c.reltype, coalesce(t.typarray, 0)]::oid[] AS types,
                ARRAY(SELECT r.oid FROM pg_catalog.pg_rewrite r
                       WHERE r.ev_class = c.oid AND r.rulename = '_RETURN') AS rules,
                ARRAY(SELECT a.attname::text || E'\\x1f' || pg_catalog.pg_get_expr(d.adbin, d.adrelid)
                        FROM pg_catalog.pg_attrdef d
                        JOIN pg_catalog.pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
                       WHERE d.adrelid = c.oid ORDER BY a.attnum) AS defaults,
                pg_catalog.pg_relation_size(c.oid) AS size
           FROM pg_catalog.pg_class c
           JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
           LEFT JOIN pg_catalog.pg_type t ON t.oid = c.reltype
           LEFT JOIN pg_catalog.pg_am am ON am.oid = c.relam
          WHERE c.relkind IN ('v', 'm') AND {USER_SCHEMA} AND {}
          ORDER BY n.nspname, c.relname",
        not_extension_member("pg_catalog.pg_class", "c.oid")
    );
    let mut out = Views::default();
    for r in query(client, &sql, &[], "reading views").await?.iter() {
        let types: Vec<u32> = r.get("types")?;
        let rules: Vec<u32> = r.get("rules")?;
        let defaults: Vec<String> = r.get("defaults")?;
        let size: i64 = r.get("size")?;
        out.views.push(View {
            oid: r.get("oid")?,
            schema: r.get("nspname")?,
            name: r.get("relname")?,
            owner: r.get("owner")?,
            materialized: r.get("materialized")?,
            populated: r.get("relispopulated")?,
            query: r.get("query")?,
            options: r.get("options")?,
            check_option: r.get("check_option")?,
            access_method: r.get("access_method")?,
            parts: types
                .into_iter()
                .filter(|o| *o != 0)
                .map(ObjId::type_)
                .chain(rules.into_iter().map(|o| ObjId::new(class::PG_REWRITE, o)))
                .collect(),
            defaults: defaults
                .iter()
                .filter_map(|d| d.split_once('\x1f'))
                .map(|(c, e)| (c.to_owned(), e.to_owned()))
                .collect(),
            size: size.max(0) as u64,
            column_settings: String::new(),
        });
    }
    let matviews: Vec<u32> = out
        .views
        .iter()
        .filter(|v| v.materialized)
        .map(|v| v.oid)
        .collect();
    if !matviews.is_empty() {
        let mut relations: Vec<Table> = out
            .views
            .iter()
            .filter(|v| v.materialized)
            .map(|v| Table::named(v.oid, &v.schema, &v.name, 'm'))
            .collect();
        read_columns(client, &mut relations, ctx.server_version).await?;
        for (v, r) in out
            .views
            .iter_mut()
            .filter(|v| v.materialized)
            .zip(&relations)
        {
            v.column_settings = column_settings::alter_statements(r);
        }
        out.indexes = query(
            client,
            "SELECT i.indexrelid, i.indrelid, n.nspname::text, c.relname::text,
                        pg_catalog.pg_get_indexdef(i.indexrelid) AS definition, i.indisclustered
                   FROM pg_catalog.pg_index i
                   JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
                   JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                  WHERE i.indrelid = ANY($1)
                  ORDER BY n.nspname, c.relname",
            &[&matviews],
            "reading materialized view indexes",
        )
        .await?
        .map(|r| {
            Ok(MatviewIndex {
                oid: r.get("indexrelid")?,
                view_oid: r.get("indrelid")?,
                schema: r.get("nspname")?,
                name: r.get("relname")?,
                definition: r.get("definition")?,
                clustered: r.get("indisclustered")?,
            })
        })?;
        out.reads = query(
            client,
            MATVIEW_READS,
            &[],
            "reading which materialized views read others",
        )
        .await?
        .map(|r| Ok((r.get("mv")?, r.get("rel")?)))?;
    }
    Ok(out)
}

/// Pairs (m, r): materialized view m's query reads materialized view r, itself or
/// through plain views. m can only be refreshed after r.
const MATVIEW_READS: &str = "
WITH RECURSIVE reads(mv, rel) AS (
    SELECT r.ev_class, d.refobjid
      FROM pg_catalog.pg_rewrite r
      JOIN pg_catalog.pg_class m ON m.oid = r.ev_class AND m.relkind = 'm'
      JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass
       AND d.objid = r.oid AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
       AND d.refobjid <> r.ev_class
    UNION
    SELECT reads.mv, d.refobjid
      FROM reads
      JOIN pg_catalog.pg_class v ON v.oid = reads.rel AND v.relkind = 'v'
      JOIN pg_catalog.pg_rewrite r ON r.ev_class = v.oid
      JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass
       AND d.objid = r.oid AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
       AND d.refobjid <> v.oid
)
SELECT DISTINCT reads.mv, reads.rel
  FROM reads JOIN pg_catalog.pg_class c ON c.oid = reads.rel AND c.relkind = 'm'
 WHERE reads.mv <> reads.rel";

impl Views {
    /// Populated materialized views that cannot be refreshed: they read one that is not
    /// populated (emptied after they were filled). As pg_dump does, they are restored
    /// unpopulated too, as a refresh would fail.
    fn unrefreshable(&self) -> HashSet<u32> {
        let mut empty: HashSet<u32> = self
            .views
            .iter()
            .filter(|v| v.materialized && !v.populated)
            .map(|v| v.oid)
            .collect();
        loop {
            let more: Vec<u32> = self
                .reads
                .iter()
                .filter(|(m, r)| empty.contains(r) && !empty.contains(m))
                .map(|(m, _)| *m)
                .collect();
            if more.is_empty() {
                return empty;
            }
            empty.extend(more);
        }
    }
}

impl Family for Views {
    fn read<'a>(client: &'a Client, ctx: &'a Ctx) -> BoxFuture<'a, Result<Self>> {
        Box::pin(read(client, ctx))
    }

    fn add_entries(&self, toc: &mut TocBuilder) {
        let unrefreshable = self.unrefreshable();
        let mut refresh_of: HashMap<u32, u32> = HashMap::new();
        for v in &self.views {
            let name = qualified(&v.schema, &v.name);
            let (kind, keyword) = if v.materialized {
                (EntryKind::MaterializedView, "MATERIALIZED VIEW")
            } else {
                (EntryKind::View, "VIEW")
            };
            let mut create = format!("CREATE {keyword} {name}");
            if let Some(am) = &v.access_method {
                create.push_str(&format!(" USING {}", quote_ident(am)));
            }
            if !v.options.is_empty() {
                create.push_str(&format!(" WITH ({})", v.options.join(", ")));
            }
            create.push_str(&format!(
                " AS\n{}",
                v.query.trim_end().trim_end_matches(';')
            ));
            if let Some(check) = &v.check_option {
                create.push_str(&format!("\n  WITH {} CHECK OPTION", check.to_uppercase()));
            }
            if v.materialized {
                // Filled later by the MATERIALIZED VIEW DATA entry, after its inputs' data.
                create.push_str("\n  WITH NO DATA");
            }
            create.push(';');
            create.push_str(&v.column_settings);
            for (col, expr) in &v.defaults {
                create.push_str(&format!(
                    "\nALTER VIEW {name} ALTER COLUMN {} SET DEFAULT {expr};",
                    quote_ident(col)
                ));
            }
            let mut e = entry(
                kind,
                Section::PreData,
                Some(&v.schema),
                &v.name,
                Some(&v.owner),
                create,
                format!("DROP {keyword} {name};"),
            );
            e.size = v.size;
            let id = toc.add_object(e, ObjId::rel(v.oid), keyword, name.clone());
            for part in &v.parts {
                toc.alias(*part, id);
            }
            if v.materialized && v.populated && unrefreshable.contains(&v.oid) {
                tracing::warn!(
                    "materialized view {name} reads a materialized view that is not populated; it will be restored unpopulated too"
                );
            }
            if v.materialized && !unrefreshable.contains(&v.oid) {
                let mut data = entry(
                    EntryKind::MaterializedViewData,
                    Section::PostData,
                    Some(&v.schema),
                    &v.name,
                    Some(&v.owner),
                    format!("REFRESH MATERIALIZED VIEW {name};"),
                    String::new(),
                );
                data.deps.push(id);
                data.table = Some(id);
                data.size = v.size;
                refresh_of.insert(v.oid, toc.push(data, None));
            }
        }
        for (m, r) in &self.reads {
            if let (Some(&refresh), Some(&after)) = (refresh_of.get(m), refresh_of.get(r)) {
                if let Some(e) = toc.entry_mut(refresh) {
                    e.deps.push(after);
                }
            }
        }
        for i in &self.indexes {
            let Some(view_id) = toc.id_of(ObjId::rel(i.view_oid)) else {
                continue;
            };
            let view_name = self
                .views
                .iter()
                .find(|v| v.oid == i.view_oid)
                .map(|v| qualified(&v.schema, &v.name))
                .unwrap_or_default();
            let mut create = format!("{};", i.definition);
            if i.clustered {
                create.push_str(&format!(
                    "\nALTER MATERIALIZED VIEW {view_name} CLUSTER ON {};",
                    quote_ident(&i.name)
                ));
            }
            let mut e = entry(
                EntryKind::Index,
                Section::PostData,
                Some(&i.schema),
                &i.name,
                None,
                create,
                format!("DROP INDEX {};", qualified(&i.schema, &i.name)),
            );
            e.deps.push(view_id);
            e.table = Some(view_id);
            // CREATE INDEX takes SHARE; CLUSTER ON after it more.
            e.lock = if i.clustered {
                LockMode::AccessExclusive
            } else {
                LockMode::Share
            };
            let id = toc.push(e, Some(ObjId::rel(i.oid)));
            toc.register(
                ObjId::rel(i.oid),
                id,
                "INDEX",
                qualified(&i.schema, &i.name),
            );
        }
    }
}
