//! Security labels (SECURITY LABEL FOR provider ON ... IS ...), from pg_seclabel and, for
//! the database itself, pg_shseclabel; one entry per label, naming the object through
//! the designator its family registered, like comments.
//!
//! Labels only exist where a label provider module (sepgsql, or the `dummy_seclabel`
//! test module) is loaded, and restoring them needs the same provider on the target;
//! none ships with the Debian packages, so the round trip cannot exercise this here and
//! the unit tests check the generated SQL instead. On a database without labels the one
//! query returns nothing and no entry is made.

use archive_format::toc::EntryKind;
use futures::future::BoxFuture;
use logical_shared::sql::{quote_ident, quote_literal};
use tokio_postgres::Client;

use super::{class, Ctx, Family, ObjId};
use crate::error::Result;
use crate::rows::query;
use crate::toc_builder::{entry, TocBuilder};

#[derive(Debug, Clone)]
struct Label {
    obj: ObjId,
    /// Column number for a column's label, 0 for the object itself.
    subid: i32,
    /// The column's name when `subid` names one.
    column: Option<String>,
    provider: String,
    label: String,
}

#[derive(Debug, Default)]
pub struct SecLabels {
    labels: Vec<Label>,
}

async fn read(client: &Client, _ctx: &Ctx) -> Result<SecLabels> {
    let rows = query(
        client,
        "SELECT l.classoid, l.objoid, l.objsubid, a.attname::text, l.provider, l.label
               FROM pg_catalog.pg_seclabel l
               LEFT JOIN pg_catalog.pg_attribute a
                      ON l.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass
                     AND a.attrelid = l.objoid AND a.attnum = l.objsubid AND l.objsubid > 0
             UNION ALL
             SELECT l.classoid, l.objoid, 0, NULL, l.provider, l.label
               FROM pg_catalog.pg_shseclabel l
              WHERE l.classoid = 'pg_catalog.pg_database'::pg_catalog.regclass
                AND l.objoid = (SELECT d.oid FROM pg_catalog.pg_database d
                                 WHERE d.datname = pg_catalog.current_database())
              ORDER BY 1, 2, 3, 5",
        &[],
        "reading security labels",
    )
    .await?;
    Ok(SecLabels {
        labels: rows.map(|r| {
            Ok(Label {
                obj: ObjId::new(r.get("classoid")?, r.get("objoid")?),
                subid: r.get("objsubid")?,
                column: r.get("attname")?,
                provider: r.get("provider")?,
                label: r.get("label")?,
            })
        })?,
    })
}

impl Family for SecLabels {
    fn read<'a>(client: &'a Client, ctx: &'a Ctx) -> BoxFuture<'a, Result<Self>> {
        Box::pin(read(client, ctx))
    }

    /// Call after every other family added its entries: labels name objects through
    /// their designators, and a label whose object is not dumped is not dumped either.
    fn add_entries(&self, toc: &mut TocBuilder) {
        for l in &self.labels {
            let Some(d) = toc.designators.get(&l.obj).cloned() else {
                continue;
            };
            let target = match (l.subid, &l.column) {
                (0, _) => format!("{} {}", d.keyword, d.name),
                (_, Some(col)) if l.obj.class == class::PG_CLASS => {
                    format!("COLUMN {}.{}", d.name, quote_ident(col))
                }
                _ => {
                    tracing::warn!(
                        "security label of {} {} (sub-object {}) names nothing rdump can address: not dumped",
                        d.keyword,
                        d.name,
                        l.subid
                    );
                    continue;
                }
            };
            let (section, schema, table, on) = match toc.entry_mut(d.entry) {
                Some(e) => (e.section, e.schema.clone(), e.table, e.kind.clone()),
                None => continue,
            };
            let create = format!(
                "SECURITY LABEL FOR {} ON {target} IS {};",
                quote_ident(&l.provider),
                quote_literal(&l.label)
            );
            let mut e = entry(
                EntryKind::SecurityLabel,
                section,
                schema.as_deref(),
                &target,
                d.owner.as_deref(),
                create,
                String::new(),
            );
            e.deps = vec![d.entry];
            e.table = table;
            e.target_kind = Some(on);
            toc.push(e, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use archive_format::toc::Section;

    fn label(obj: ObjId, subid: i32, column: Option<&str>) -> Label {
        Label {
            obj,
            subid,
            column: column.map(str::to_owned),
            provider: "selinux".into(),
            label: "system_u:object_r:sepgsql_table_t:s0 'x'".into(),
        }
    }

    #[test]
    fn labels_name_objects_and_columns_through_designators() {
        let mut toc = TocBuilder::new(false);
        let table = entry(
            EntryKind::Table,
            Section::PreData,
            Some("Zoo S"),
            "t",
            Some("o"),
            "CREATE TABLE \"Zoo S\".t ();".into(),
            String::new(),
        );
        let id = toc.add_object(table, ObjId::rel(42), "TABLE", "\"Zoo S\".t".into());
        let labels = SecLabels {
            labels: vec![
                label(ObjId::rel(42), 0, None),
                label(ObjId::rel(42), 2, Some("Col")),
                // Not dumped: no entry, no label.
                label(ObjId::rel(43), 0, None),
            ],
        };
        labels.add_entries(&mut toc);
        let made: Vec<_> = toc
            .entries
            .iter()
            .filter(|e| e.kind == EntryKind::SecurityLabel)
            .collect();
        assert_eq!(made.len(), 2);
        assert_eq!(
            made[0].create,
            "SECURITY LABEL FOR selinux ON TABLE \"Zoo S\".t IS 'system_u:object_r:sepgsql_table_t:s0 ''x''';"
        );
        assert_eq!(
            made[1].create,
            "SECURITY LABEL FOR selinux ON COLUMN \"Zoo S\".t.\"Col\" IS 'system_u:object_r:sepgsql_table_t:s0 ''x''';"
        );
        assert!(made.iter().all(|e| e.deps == vec![id]));
        assert!(made.iter().all(|e| e.target_kind == Some(EntryKind::Table)));
        assert!(made.iter().all(|e| e.section == Section::PreData));
    }
}
