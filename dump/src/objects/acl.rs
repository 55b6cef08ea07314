//! Privileges: GRANT / REVOKE for every dumped object whose ACL is set, column
//! privileges, and ALTER DEFAULT PRIVILEGES. Read in two queries.
//!
//! An object's ACL is dumped as its change from where the object started (see
//! [`ACL_QUERY`]): REVOKE ALL from the grantees whose starting item is gone, then one GRANT
//! per new item in the ACL's order, as its grantor. Privileges changed on PostgreSQL's own
//! objects (`GRANT SELECT (rolname) ON pg_catalog.pg_authid TO auditor`) are dumped too.

use archive_format::toc::{EntryKind, Section};
use futures::future::BoxFuture;
use logical_shared::sql::quote_ident;
use tokio_postgres::Client;

use std::collections::HashMap;

use super::{class, Ctx, Family, ObjId};
use crate::error::Result;
use crate::rows::query;
use crate::toc_builder::{entry, TocBuilder};

/// One aclitem: who granted what to whom.
#[derive(Debug, Clone)]
struct Item {
    grantor: String,
    /// None = PUBLIC
    grantee: Option<String>,
    privileges: Vec<String>,
    grantable: Vec<String>,
}

#[derive(Debug)]
struct Acl {
    obj: ObjId,
    column: Option<String>,
    owner: String,
    /// Items of the object's starting ACL (its default, or `pg_init_privs`) that are gone.
    revoked: Vec<Item>,
    /// Items that are not in the starting ACL, in the ACL's order.
    items: Vec<Item>,
    /// A built-in object no family dumps: the GRANT keyword and name to use.
    builtin: Option<(&'static str, String)>,
}

#[derive(Debug)]
struct DefaultAcl {
    role: String,
    schema: Option<String>,
    /// TABLES, SEQUENCES, FUNCTIONS, TYPES, SCHEMAS, LARGE OBJECTS
    objects: &'static str,
    /// Items of the built-in defaults that are gone (global entries only).
    revoked: Vec<Item>,
    /// Items beyond the built-in defaults, in order.
    items: Vec<Item>,
}

#[derive(Debug, Default)]
pub struct Acls {
    acls: Vec<Acl>,
    defaults: Vec<DefaultAcl>,
}

/// Every object with privileges set: user objects (which the families designate), and
/// PostgreSQL's own objects in `pg_catalog`, named here since no family dumps them. As
/// with pg_dump, nothing in `information_schema` or the other `pg_` schemas: it has no
/// `pg_init_privs` to compare with, and its GRANTs to PUBLIC would be dumped as changes
/// that a restoring non-superuser may not make. `base` is where the object started: its `pg_init_privs` entry
/// (built-in objects, extension members), else `acldefault` for its kind and owner (none
/// for a column). Only the change from that start is dumped, as pg_dump does: the items of
/// the start that are gone are revoked, the items that are new are granted, in the order
/// the ACL has them. So a restore into a newer server keeps what that server adds to the
/// defaults (the owner's MAINTAIN on tables from PostgreSQL 17 on).
const ACL_QUERY: &str = "
WITH objs(classid, objid, subid, owner, acl, deftype, prokind, builtin, name) AS (
    SELECT 'pg_catalog.pg_class'::pg_catalog.regclass::oid, c.oid, 0::int2, c.relowner, c.relacl,
           CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END::\"char\", NULL::text,
           n.nspname = 'pg_catalog',
           pg_catalog.format('%I.%I', n.nspname, c.relname)
      FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relacl IS NOT NULL
       AND (c.oid >= 16384 OR n.nspname = 'pg_catalog')
    UNION ALL
    SELECT 'pg_catalog.pg_class'::pg_catalog.regclass::oid, a.attrelid, a.attnum, c.relowner, a.attacl,
           'c'::\"char\", NULL, n.nspname = 'pg_catalog',
           pg_catalog.format('%I.%I', n.nspname, c.relname)
      FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE a.attacl IS NOT NULL AND a.attnum > 0
       AND (a.attrelid >= 16384 OR n.nspname = 'pg_catalog')
    UNION ALL
    SELECT 'pg_catalog.pg_namespace'::pg_catalog.regclass::oid, n.oid, 0, n.nspowner, n.nspacl,
           'n', NULL, n.nspname = 'pg_catalog',
           pg_catalog.quote_ident(n.nspname)
      FROM pg_catalog.pg_namespace n
     WHERE n.nspacl IS NOT NULL
       AND (n.nspname = 'pg_catalog' OR (n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'))
    UNION ALL
    SELECT 'pg_catalog.pg_proc'::pg_catalog.regclass::oid, p.oid, 0, p.proowner, p.proacl, 'f',
           p.prokind::text, n.nspname = 'pg_catalog',
           -- The session's search_path is empty: the signature comes schema-qualified.
           p.oid::pg_catalog.regprocedure::text
      FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
     WHERE p.proacl IS NOT NULL
       AND (p.oid >= 16384 OR n.nspname = 'pg_catalog')
    UNION ALL
    SELECT 'pg_catalog.pg_type'::pg_catalog.regclass::oid, t.oid, 0, t.typowner, t.typacl, 'T',
           NULL, n.nspname = 'pg_catalog',
           pg_catalog.format_type(t.oid, NULL)
      FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
     WHERE t.typacl IS NOT NULL
       AND (t.oid >= 16384 OR n.nspname = 'pg_catalog')
    UNION ALL
    SELECT 'pg_catalog.pg_language'::pg_catalog.regclass::oid, l.oid, 0, l.lanowner, l.lanacl, 'l',
           NULL, false, NULL
      FROM pg_catalog.pg_language l WHERE l.lanacl IS NOT NULL AND l.oid >= 16384
    UNION ALL
    SELECT 'pg_catalog.pg_foreign_data_wrapper'::pg_catalog.regclass::oid, w.oid, 0, w.fdwowner, w.fdwacl,
           'F', NULL, false, NULL
      FROM pg_catalog.pg_foreign_data_wrapper w WHERE w.fdwacl IS NOT NULL
    UNION ALL
    SELECT 'pg_catalog.pg_foreign_server'::pg_catalog.regclass::oid, s.oid, 0, s.srvowner, s.srvacl,
           'S', NULL, false, NULL
      FROM pg_catalog.pg_foreign_server s WHERE s.srvacl IS NOT NULL
    UNION ALL
    SELECT 'pg_catalog.pg_largeobject'::pg_catalog.regclass::oid, m.oid, 0, m.lomowner, m.lomacl,
           'L', NULL, false, NULL
      FROM pg_catalog.pg_largeobject_metadata m WHERE m.lomacl IS NOT NULL
    UNION ALL
    SELECT 'pg_catalog.pg_database'::pg_catalog.regclass::oid, d.oid, 0, d.datdba, d.datacl,
           'd', NULL, false, NULL
      FROM pg_catalog.pg_database d
     WHERE d.datacl IS NOT NULL AND d.datname = pg_catalog.current_database()
), based AS (
    SELECT o.*,
           -- The public schema starts, as pg_dump assumes, from PostgreSQL 15's
           -- {owner=UC/owner,=U/owner} whatever the server: an empty database of any
           -- version restores into that, and an older server's wider default is carried over.
           coalesce(CASE WHEN o.classid = 'pg_catalog.pg_namespace'::pg_catalog.regclass
                          AND o.name = 'public'
                         THEN pg_catalog.format('{%1$s=UC/%1$s,=U/%1$s}',
                                  pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(o.owner)))::pg_catalog.aclitem[]
                    END,
                    ip.initprivs,
                    CASE WHEN o.subid > 0 THEN '{}'::pg_catalog.aclitem[]
                         ELSE pg_catalog.acldefault(o.deftype, o.owner) END) AS base
      FROM objs o
      LEFT JOIN pg_catalog.pg_init_privs ip
             ON ip.classoid = o.classid AND ip.objoid = o.objid AND ip.objsubid = o.subid
), changes(classid, objid, subid, owner, deftype, prokind, builtin, name, step, items) AS (
    -- step 0: items of the start that are gone; step 1: new items, in the ACL's order.
    SELECT b.classid, b.objid, b.subid, b.owner, b.deftype, b.prokind, b.builtin, b.name, 0,
           ARRAY(SELECT i FROM pg_catalog.unnest(b.base) AS i WHERE NOT i = ANY (b.acl))
      FROM based b
    UNION ALL
    SELECT b.classid, b.objid, b.subid, b.owner, b.deftype, b.prokind, b.builtin, b.name, 1,
           ARRAY(SELECT u.i FROM pg_catalog.unnest(b.acl) WITH ORDINALITY AS u(i, n)
                  WHERE NOT u.i = ANY (b.base) ORDER BY u.n)
      FROM based b
), nonempty AS MATERIALIZED (
    -- aclexplode refuses an empty (zero-dimensional) array.
    SELECT * FROM changes WHERE pg_catalog.cardinality(items) > 0
)
SELECT ch.classid, ch.objid,
       CASE WHEN ch.subid > 0 THEN (SELECT a.attname::text FROM pg_catalog.pg_attribute a
                                     WHERE a.attrelid = ch.objid AND a.attnum = ch.subid) END AS column_name,
       pg_catalog.pg_get_userbyid(ch.owner)::text AS owner,
       pg_catalog.pg_get_userbyid(x.grantor)::text AS grantor,
       CASE WHEN x.grantee <> 0 THEN pg_catalog.pg_get_userbyid(x.grantee)::text END AS grantee,
       x.privilege_type, x.is_grantable, ch.step, ch.deftype::text AS deftype, ch.prokind,
       ch.builtin, ch.name
  FROM nonempty ch
  CROSS JOIN LATERAL pg_catalog.aclexplode(ch.items) WITH ORDINALITY
       AS x(grantor, grantee, privilege_type, is_grantable, ord)
 ORDER BY ch.classid, ch.objid, ch.subid, ch.step, x.ord";

async fn read(client: &Client) -> Result<Acls> {
    let rows = query(client, ACL_QUERY, &[], "reading privileges").await?;
    let mut out = Acls::default();
    for r in rows.iter() {
        let obj = ObjId::new(r.get("classid")?, r.get("objid")?);
        let column: Option<String> = r.get("column_name")?;
        let fresh = out
            .acls
            .last()
            .is_none_or(|a| a.obj != obj || a.column != column);
        if fresh {
            let builtin = if r.get("builtin")? {
                let deftype: String = r.get("deftype")?;
                let prokind: Option<String> = r.get("prokind")?;
                let name: Option<String> = r.get("name")?;
                builtin_keyword(&deftype, prokind.as_deref()).zip(name)
            } else {
                None
            };
            out.acls.push(Acl {
                obj,
                column,
                owner: r.get("owner")?,
                revoked: Vec::new(),
                items: Vec::new(),
                builtin,
            });
        }
        let Some(acl) = out.acls.last_mut() else {
            continue;
        };
        let step: i32 = r.get("step")?;
        let items = if step == 0 {
            &mut acl.revoked
        } else {
            &mut acl.items
        };
        push_privilege(
            items,
            r.get("grantor")?,
            r.get("grantee")?,
            r.get("privilege_type")?,
            r.get("is_grantable")?,
        );
    }

    let rows = query(
        client,
            // Like objects' privileges, the change from where they start: the built-in
            // defaults for a role's global entry, nothing for a per-schema one (which adds).
            "WITH d AS (
                 SELECT d.oid, d.defaclrole, d.defaclnamespace, d.defaclobjtype, d.defaclacl AS acl,
                        CASE WHEN d.defaclnamespace = 0 THEN
                             pg_catalog.acldefault(CASE d.defaclobjtype WHEN 'S' THEN 's'
                                                   ELSE d.defaclobjtype END::\"char\", d.defaclrole)
                             ELSE '{}'::pg_catalog.aclitem[] END AS base
                   FROM pg_catalog.pg_default_acl d
             ), ch AS (
                 SELECT d.*, 0 AS step,
                        ARRAY(SELECT i FROM pg_catalog.unnest(d.base) AS i WHERE NOT i = ANY (d.acl)) AS items
                   FROM d
                 UNION ALL
                 SELECT d.*, 1,
                        ARRAY(SELECT u.i FROM pg_catalog.unnest(d.acl) WITH ORDINALITY AS u(i, n)
                               WHERE NOT u.i = ANY (d.base) ORDER BY u.n)
                   FROM d
             )
             SELECT pg_catalog.pg_get_userbyid(ch.defaclrole)::text AS role,
                    CASE WHEN ch.defaclnamespace <> 0 THEN
                         (SELECT n.nspname::text FROM pg_catalog.pg_namespace n WHERE n.oid = ch.defaclnamespace) END
                      AS schema,
                    ch.defaclobjtype::text,
                    pg_catalog.pg_get_userbyid(x.grantor)::text AS grantor,
                    CASE WHEN x.grantee <> 0 THEN pg_catalog.pg_get_userbyid(x.grantee)::text END AS grantee,
                    x.privilege_type, x.is_grantable, ch.oid, ch.step
               FROM ch
               -- aclexplode refuses an empty array; NULL gives no rows.
               LEFT JOIN LATERAL pg_catalog.aclexplode(
                        CASE WHEN pg_catalog.cardinality(ch.items) > 0 THEN ch.items END) WITH ORDINALITY
                    AS x(grantor, grantee, privilege_type, is_grantable, ord) ON true
              ORDER BY ch.oid, ch.step, x.ord",
            &[],
        "reading default privileges",
    )
    .await?;
    let mut last_oid = None;
    for r in rows.iter() {
        let oid: u32 = r.get("oid")?;
        if last_oid != Some(oid) {
            last_oid = Some(oid);
            let objtype: String = r.get("defaclobjtype")?;
            let objects = match objtype.as_str() {
                "r" => "TABLES",
                "S" => "SEQUENCES",
                "f" => "FUNCTIONS",
                "T" => "TYPES",
                "n" => "SCHEMAS",
                "L" => "LARGE OBJECTS",
                other => {
                    tracing::warn!("default privileges for object type {other:?} are not dumped");
                    last_oid = None;
                    continue;
                }
            };
            out.defaults.push(DefaultAcl {
                role: r.get("role")?,
                schema: r.get("schema")?,
                objects,
                revoked: Vec::new(),
                items: Vec::new(),
            });
        }
        let Some(d) = out.defaults.last_mut() else {
            continue;
        };
        let grantor: Option<String> = r.get("grantor")?;
        let Some(grantor) = grantor else { continue };
        let step: i32 = r.get("step")?;
        let items = if step == 0 {
            &mut d.revoked
        } else {
            &mut d.items
        };
        push_privilege(
            items,
            grantor,
            r.get("grantee")?,
            r.get("privilege_type")?,
            r.get("is_grantable")?,
        );
    }
    Ok(out)
}

/// aclexplode gives one row per privilege; consecutive rows of one grantor and
/// grantee are one aclitem.
fn push_privilege(
    items: &mut Vec<Item>,
    grantor: String,
    grantee: Option<String>,
    privilege: String,
    grantable: bool,
) {
    let same = items
        .last()
        .is_some_and(|i| i.grantor == grantor && i.grantee == grantee);
    if !same {
        items.push(Item {
            grantor,
            grantee,
            privileges: Vec::new(),
            grantable: Vec::new(),
        });
    }
    if let Some(item) = items.last_mut() {
        if grantable {
            item.grantable.push(privilege);
        } else {
            item.privileges.push(privilege);
        }
    }
}

/// The object keyword GRANT uses for a built-in object of `acldefault` type `deftype`
/// (and, for a routine, its `prokind`); `None` for kinds no built-in ACL is dumped for.
fn builtin_keyword(deftype: &str, prokind: Option<&str>) -> Option<&'static str> {
    match (deftype, prokind) {
        ("r" | "s" | "c", _) => Some("TABLE"),
        ("n", _) => Some("SCHEMA"),
        ("f", Some("p")) => Some("PROCEDURE"),
        ("f", _) => Some("FUNCTION"),
        ("T", _) => Some("TYPE"),
        _ => None,
    }
}

/// The object keyword GRANT uses for a designator keyword.
fn grant_keyword(keyword: &str) -> &str {
    match keyword {
        "VIEW" | "MATERIALIZED VIEW" | "FOREIGN TABLE" | "TABLE" => "TABLE",
        "AGGREGATE" => "FUNCTION",
        "DOMAIN" => "DOMAIN",
        "SERVER" => "FOREIGN SERVER",
        other => other,
    }
}

/// `REVOKE ALL` from each grantee whose item of the starting ACL is gone, as the item's
/// grantor.
fn revoke_statements(revoked: &[Item], on: &str, owner: &str) -> String {
    let mut sql = String::new();
    for item in revoked {
        let grantee = item
            .grantee
            .as_deref()
            .map(quote_ident)
            .unwrap_or_else(|| "PUBLIC".into());
        let as_other = owner != item.grantor;
        if as_other {
            sql.push_str(&format!(
                "SET SESSION AUTHORIZATION {};\n",
                quote_ident(&item.grantor)
            ));
        }
        sql.push_str(&format!("REVOKE ALL ON {on} FROM {grantee};\n"));
        if as_other {
            sql.push_str("RESET SESSION AUTHORIZATION;\n");
        }
    }
    sql
}

fn grant_statements(items: &[Item], on: &str, owner: Option<&str>) -> String {
    let mut sql = String::new();
    for item in items {
        let grantee = item
            .grantee
            .as_deref()
            .map(quote_ident)
            .unwrap_or_else(|| "PUBLIC".into());
        let as_other = owner.is_some_and(|o| o != item.grantor);
        if as_other {
            sql.push_str(&format!(
                "SET SESSION AUTHORIZATION {};\n",
                quote_ident(&item.grantor)
            ));
        }
        if !item.privileges.is_empty() {
            sql.push_str(&format!(
                "GRANT {} ON {on} TO {grantee};\n",
                item.privileges.join(",")
            ));
        }
        if !item.grantable.is_empty() {
            sql.push_str(&format!(
                "GRANT {} ON {on} TO {grantee} WITH GRANT OPTION;\n",
                item.grantable.join(",")
            ));
        }
        if as_other {
            sql.push_str("RESET SESSION AUTHORIZATION;\n");
        }
    }
    sql
}

impl Family for Acls {
    fn read<'a>(client: &'a Client, _ctx: &'a Ctx) -> BoxFuture<'a, Result<Self>> {
        Box::pin(read(client))
    }

    fn add_entries(&self, toc: &mut TocBuilder) {
        // Schemas first, then objects, then columns: a grant made as a non-owner needs
        // the schema's USAGE, and a table's REVOKE ALL would wipe its columns' grants.
        let mut order: Vec<&Acl> = self.acls.iter().collect();
        order.sort_by_key(|a| (a.obj.class != class::PG_NAMESPACE, a.column.is_some()));
        let mut acl_of: HashMap<u32, u32> = HashMap::new();
        for acl in order {
            let designated = toc.designators.get(&acl.obj).cloned();
            // (entry it hangs off, GRANT keyword, name in GRANT, name for the display)
            let (parent_id, keyword, on_name, display) = match (&designated, &acl.builtin) {
                (Some(d), _) => {
                    // GRANT names an aggregate of no arguments as a function: agg(), not agg(*).
                    let on_name = match (d.keyword, d.name.strip_suffix("(*)")) {
                        ("AGGREGATE", Some(bare)) => format!("{bare}()"),
                        _ => d.name.clone(),
                    };
                    (
                        Some(d.entry),
                        grant_keyword(d.keyword).to_owned(),
                        on_name,
                        d.name.clone(),
                    )
                }
                (None, Some((keyword, name))) => {
                    (None, keyword.to_string(), name.clone(), name.clone())
                }
                (None, None) => continue,
            };
            let parent = match parent_id {
                Some(id) => match toc.entries.get(id as usize - 1) {
                    Some(p) => Some(p),
                    None => continue,
                },
                None => None,
            };
            let target_kind = parent.map(|p| p.kind.clone());
            // A built-in object's privileges come after everything, as pg_dump has them.
            let (section, schema) = parent
                .map(|p| (p.section, p.schema.clone()))
                .unwrap_or((Section::PostData, None));
            let on = format!("{keyword} {on_name}");
            let name = match &acl.column {
                Some(col) => format!("COLUMN {display}.{}", quote_ident(col)),
                None => format!("{keyword} {display}"),
            };
            let mut sql = revoke_statements(&acl.revoked, &on, &acl.owner);
            sql.push_str(&grant_statements(&acl.items, &on, Some(&acl.owner)));
            if let Some(col) = &acl.column {
                sql = sql.replace(
                    &format!(" ON {on} "),
                    &format!(" ({}) ON {on} ", quote_ident(col)),
                );
            }
            let mut e = entry(
                EntryKind::Acl,
                section,
                schema.as_deref(),
                &name,
                Some(&acl.owner),
                sql.trim_end().to_owned(),
                String::new(),
            );
            e.deps.extend(parent_id);
            e.target_kind = target_kind;
            let schema_entry = schema
                .as_deref()
                .and_then(|s| toc.schema_ids.get(s))
                .copied();
            let earlier = [schema_entry, acl.column.as_ref().and(parent_id)];
            e.deps
                .extend(earlier.into_iter().flatten().filter_map(|x| acl_of.get(&x)));
            let id = toc.push(e, None);
            if let (None, Some(parent_id)) = (&acl.column, parent_id) {
                acl_of.insert(parent_id, id);
            }
        }
        for d in &self.defaults {
            let prefix = match &d.schema {
                Some(s) => format!(
                    "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {}",
                    quote_ident(&d.role),
                    quote_ident(s)
                ),
                None => format!("ALTER DEFAULT PRIVILEGES FOR ROLE {}", quote_ident(&d.role)),
            };
            let mut sql = String::new();
            for item in &d.revoked {
                let grantee = item
                    .grantee
                    .as_deref()
                    .map(quote_ident)
                    .unwrap_or_else(|| "PUBLIC".into());
                sql.push_str(&format!(
                    "{prefix} REVOKE ALL ON {} FROM {grantee};\n",
                    d.objects
                ));
            }
            for item in &d.items {
                let grantee = item
                    .grantee
                    .as_deref()
                    .map(quote_ident)
                    .unwrap_or_else(|| "PUBLIC".into());
                if !item.privileges.is_empty() {
                    sql.push_str(&format!(
                        "{prefix} GRANT {} ON {} TO {grantee};\n",
                        item.privileges.join(","),
                        d.objects
                    ));
                }
                if !item.grantable.is_empty() {
                    sql.push_str(&format!(
                        "{prefix} GRANT {} ON {} TO {grantee} WITH GRANT OPTION;\n",
                        item.grantable.join(","),
                        d.objects
                    ));
                }
            }
            if sql.is_empty() {
                continue;
            }
            let name = format!(
                "DEFAULT PRIVILEGES FOR {} {}{}",
                d.objects,
                d.role,
                d.schema
                    .as_deref()
                    .map(|s| format!(" IN SCHEMA {s}"))
                    .unwrap_or_default()
            );
            // Post-data as pg_dump has it: they must not touch the objects restored.
            let mut e = entry(
                EntryKind::DefaultAcl,
                Section::PostData,
                d.schema.as_deref(),
                &name,
                Some(&d.role),
                sql.trim_end().to_owned(),
                String::new(),
            );
            if let Some(s) = &d.schema {
                e.deps.extend(toc.schema_deps(s));
            }
            toc.push(e, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_objects_get_the_keyword_grant_takes() {
        assert_eq!(builtin_keyword("r", None), Some("TABLE"));
        assert_eq!(builtin_keyword("s", None), Some("TABLE"));
        assert_eq!(builtin_keyword("c", None), Some("TABLE"));
        assert_eq!(builtin_keyword("n", None), Some("SCHEMA"));
        assert_eq!(builtin_keyword("f", Some("p")), Some("PROCEDURE"));
        assert_eq!(builtin_keyword("f", Some("f")), Some("FUNCTION"));
        assert_eq!(builtin_keyword("f", Some("a")), Some("FUNCTION"));
        assert_eq!(builtin_keyword("T", None), Some("TYPE"));
        assert_eq!(builtin_keyword("l", None), None);
    }

    #[test]
    fn grants_keep_item_order_and_grantors() {
        let items = vec![
            Item {
                grantor: "o".into(),
                grantee: Some("Ann".into()),
                privileges: vec!["SELECT".into()],
                grantable: vec!["UPDATE".into()],
            },
            Item {
                grantor: "Ann".into(),
                grantee: None,
                privileges: vec!["UPDATE".into()],
                grantable: vec![],
            },
        ];
        let sql = grant_statements(&items, "TABLE s.t", Some("o"));
        assert_eq!(
            sql,
            "GRANT SELECT ON TABLE s.t TO \"Ann\";\nGRANT UPDATE ON TABLE s.t TO \"Ann\" WITH GRANT OPTION;\n\
             SET SESSION AUTHORIZATION \"Ann\";\nGRANT UPDATE ON TABLE s.t TO PUBLIC;\nRESET SESSION AUTHORIZATION;\n"
        );
    }
}
