//! Operator families and operator classes.
//!
//! pg_depend says where each member (pg_amop / pg_amproc row) belongs: members that
//! depend on an operator class are listed in its CREATE OPERATOR CLASS; members that
//! depend on the family itself (added with ALTER OPERATOR FAMILY, or cross-type members
//! the access method made "loose") are added to the family entry with ALTER OPERATOR
//! FAMILY ... ADD. Members are aliased to the entry that creates them, so their
//! pg_depend edges (to operators, functions, types) order that entry.

use std::collections::HashMap;

use archive_format::toc::{EntryKind, Section};
use futures::future::BoxFuture;
use logical_shared::sql::{qualified, quote_ident};
use tokio_postgres::Client;

use super::{class, not_extension_member, Ctx, ObjId, USER_SCHEMA};
use crate::error::Result;
use crate::rows::query;
use crate::toc_builder::{entry, TocBuilder};

#[derive(Debug)]
struct Family {
    oid: u32,
    schema: String,
    name: String,
    owner: String,
    am: String,
    am_oid: u32,
}

#[derive(Debug)]
struct OpClass {
    oid: u32,
    schema: String,
    name: String,
    owner: String,
    am: String,
    am_oid: u32,
    default: bool,
    /// `format_type()` of the indexed type and of the stored type (STORAGE).
    input_type: String,
    storage: Option<String>,
    family_oid: u32,
    family_schema: String,
    family_name: String,
}

/// One `OPERATOR ...` or `FUNCTION ...` item of a member list.
#[derive(Debug)]
struct Member {
    /// pg_amop or pg_amproc, and the row's oid.
    obj: ObjId,
    /// The class or family (pg_opclass / pg_opfamily oid) it belongs to.
    owner: ObjId,
    /// 0 for operators (listed first), 1 for functions; then the strategy / support number.
    order: (u8, i16),
    sql: String,
}

#[derive(Debug, Default)]
pub struct OpClasses {
    families: Vec<Family>,
    classes: Vec<OpClass>,
    members: Vec<Member>,
}

async fn read(client: &Client, _ctx: &Ctx) -> Result<OpClasses> {
    let families_sql = format!(
        "SELECT f.oid, n.nspname::text, f.opfname::text,
                pg_catalog.pg_get_userbyid(f.opfowner)::text AS owner, am.amname::text, am.oid AS am_oid
           FROM pg_catalog.pg_opfamily f
           JOIN pg_catalog.pg_namespace n ON n.oid = f.opfnamespace
           JOIN pg_catalog.pg_am am ON am.oid = f.opfmethod
          WHERE {USER_SCHEMA} AND {}
          ORDER BY n.nspname, f.opfname, am.amname",
        not_extension_member("pg_catalog.pg_opfamily", "f.oid")
    );
    let classes_sql = format!(
        "SELECT c.oid, n.nspname::text, c.opcname::text,
                pg_catalog.pg_get_userbyid(c.opcowner)::text AS owner, am.amname::text,
                am.oid AS am_oid, c.opcdefault, pg_catalog.format_type(c.opcintype, NULL) AS input_type,
                CASE WHEN c.opckeytype <> 0 THEN pg_catalog.format_type(c.opckeytype, NULL) END AS storage,
                f.oid AS family_oid, fn.nspname::text AS family_schema, f.opfname::text AS family_name
           FROM pg_catalog.pg_opclass c
           JOIN pg_catalog.pg_namespace n ON n.oid = c.opcnamespace
           JOIN pg_catalog.pg_am am ON am.oid = c.opcmethod
           JOIN pg_catalog.pg_opfamily f ON f.oid = c.opcfamily
           JOIN pg_catalog.pg_namespace fn ON fn.oid = f.opfnamespace
          WHERE {USER_SCHEMA} AND {}
          ORDER BY n.nspname, c.opcname, am.amname",
        not_extension_member("pg_catalog.pg_opclass", "c.oid")
    );
    // Every member of a user class or family, with the class or family it depends on.
    let members_sql = format!(
        "SELECT 0 AS is_function, ao.oid, d.refclassid, d.refobjid, ao.amopstrategy AS number,
               ao.amopopr::pg_catalog.regoperator::text AS member,
               CASE WHEN ao.amoppurpose = 'o' THEN
                    pg_catalog.quote_ident(sn.nspname) || '.' || pg_catalog.quote_ident(sf.opfname) END
                 AS sort_family,
               NULL::text AS left_type, NULL::text AS right_type
          FROM pg_catalog.pg_amop ao
          JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_amop'::pg_catalog.regclass
               AND d.objid = ao.oid
               AND d.refclassid IN ('pg_catalog.pg_opclass'::pg_catalog.regclass, 'pg_catalog.pg_opfamily'::pg_catalog.regclass)
          LEFT JOIN pg_catalog.pg_opfamily sf ON sf.oid = ao.amopsortfamily
          LEFT JOIN pg_catalog.pg_namespace sn ON sn.oid = sf.opfnamespace
         WHERE ao.oid >= 16384 AND {amop_own}
        UNION ALL
        SELECT 1, ap.oid, d.refclassid, d.refobjid, ap.amprocnum,
               ap.amproc::pg_catalog.regprocedure::text, NULL,
               pg_catalog.format_type(ap.amproclefttype, NULL), pg_catalog.format_type(ap.amprocrighttype, NULL)
          FROM pg_catalog.pg_amproc ap
          JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_amproc'::pg_catalog.regclass
               AND d.objid = ap.oid
               AND d.refclassid IN ('pg_catalog.pg_opclass'::pg_catalog.regclass, 'pg_catalog.pg_opfamily'::pg_catalog.regclass)
         WHERE ap.oid >= 16384 AND {amproc_own}
         -- Members of one strategy or support number (cross-type ones) in the order they
         -- were added, which is the order the server lists them in afterwards.
         ORDER BY 1, 5, 2",
        amop_own = not_extension_member("pg_catalog.pg_amop", "ao.oid"),
        amproc_own = not_extension_member("pg_catalog.pg_amproc", "ap.oid")
    );
    let what = "reading operator families and classes";
    let families = query(client, &families_sql, &[], what).await?;
    let classes = query(client, &classes_sql, &[], what).await?;
    let members = query(client, &members_sql, &[], what).await?;
    Ok(OpClasses {
        families: families.map(|r| {
            Ok(Family {
                oid: r.get("oid")?,
                schema: r.get("nspname")?,
                name: r.get("opfname")?,
                owner: r.get("owner")?,
                am: r.get("amname")?,
                am_oid: r.get("am_oid")?,
            })
        })?,
        classes: classes.map(|r| {
            Ok(OpClass {
                oid: r.get("oid")?,
                schema: r.get("nspname")?,
                name: r.get("opcname")?,
                owner: r.get("owner")?,
                am: r.get("amname")?,
                am_oid: r.get("am_oid")?,
                default: r.get("opcdefault")?,
                input_type: r.get("input_type")?,
                storage: r.get("storage")?,
                family_oid: r.get("family_oid")?,
                family_schema: r.get("family_schema")?,
                family_name: r.get("family_name")?,
            })
        })?,
        members: members.map(|r| {
            let is_function: i32 = r.get("is_function")?;
            let number: i16 = r.get("number")?;
            let member: String = r.get("member")?;
            let sql = if is_function == 1 {
                function_item(
                    number,
                    &r.get::<String>("left_type")?,
                    &r.get::<String>("right_type")?,
                    &member,
                )
            } else {
                operator_item(
                    number,
                    &member,
                    r.get::<Option<String>>("sort_family")?.as_deref(),
                )
            };
            Ok(Member {
                obj: ObjId::new(
                    if is_function == 1 {
                        class::PG_AMPROC
                    } else {
                        class::PG_AMOP
                    },
                    r.get("oid")?,
                ),
                owner: ObjId::new(r.get("refclassid")?, r.get("refobjid")?),
                order: (is_function as u8, number),
                sql,
            })
        })?,
    })
}

/// `OPERATOR n op(left,right)` of a member list, `FOR ORDER BY family` for an ordering
/// operator (one with a sort family).
fn operator_item(strategy: i16, operator: &str, sort_family: Option<&str>) -> String {
    match sort_family {
        Some(f) => format!("OPERATOR {strategy} {operator} FOR ORDER BY {f}"),
        None => format!("OPERATOR {strategy} {operator}"),
    }
}

/// `FUNCTION n (left, right) f(args)` of a member list.
fn function_item(support: i16, left: &str, right: &str, function: &str) -> String {
    format!("FUNCTION {support} ({left}, {right}) {function}")
}

impl super::Family for OpClasses {
    fn read<'a>(client: &'a Client, ctx: &'a Ctx) -> BoxFuture<'a, Result<Self>> {
        Box::pin(read(client, ctx))
    }

    fn add_entries(&self, toc: &mut TocBuilder) {
        let mut by_owner: HashMap<ObjId, Vec<&Member>> = HashMap::new();
        for m in &self.members {
            by_owner.entry(m.owner).or_default().push(m);
        }
        for list in by_owner.values_mut() {
            list.sort_by_key(|m| m.order);
        }
        let no_members = Vec::new();
        for f in &self.families {
            let obj = ObjId::new(class::PG_OPFAMILY, f.oid);
            let name = format!(
                "{} USING {}",
                qualified(&f.schema, &f.name),
                quote_ident(&f.am)
            );
            let members = by_owner.get(&obj).unwrap_or(&no_members);
            let mut create = format!("CREATE OPERATOR FAMILY {name};");
            if !members.is_empty() {
                let items: Vec<&str> = members.iter().map(|m| m.sql.as_str()).collect();
                create.push_str(&format!(
                    "\nALTER OPERATOR FAMILY {name} ADD\n    {};",
                    items.join(",\n    ")
                ));
            }
            let e = entry(
                EntryKind::OperatorFamily,
                Section::PreData,
                Some(&f.schema),
                &format!("{} USING {}", f.name, f.am),
                Some(&f.owner),
                create,
                format!("DROP OPERATOR FAMILY {name};"),
            );
            let id = toc.add_object(e, obj, "OPERATOR FAMILY", name);
            add_am_dep(toc, id, f.am_oid);
            for m in members {
                toc.alias(m.obj, id);
            }
        }
        for c in &self.classes {
            let obj = ObjId::new(class::PG_OPCLASS, c.oid);
            let name = format!(
                "{} USING {}",
                qualified(&c.schema, &c.name),
                quote_ident(&c.am)
            );
            let members = by_owner.get(&obj).unwrap_or(&no_members);
            let mut items: Vec<String> = members.iter().map(|m| m.sql.clone()).collect();
            if let Some(t) = &c.storage {
                items.push(format!("STORAGE {t}"));
            }
            // CREATE OPERATOR CLASS needs at least one item; a class without members
            // can only be described by its storage type, or not at all.
            if items.is_empty() {
                items.push(format!("STORAGE {}", c.input_type));
            }
            // Without FAMILY, the class joins (or makes) the family of its own name.
            let family = if c.family_schema == c.schema && c.family_name == c.name {
                String::new()
            } else {
                format!(" FAMILY {}", qualified(&c.family_schema, &c.family_name))
            };
            let create = format!(
                "CREATE OPERATOR CLASS {}{} FOR TYPE {} USING {}{family} AS\n    {};",
                qualified(&c.schema, &c.name),
                if c.default { " DEFAULT" } else { "" },
                c.input_type,
                quote_ident(&c.am),
                items.join(",\n    ")
            );
            let e = entry(
                EntryKind::OperatorClass,
                Section::PreData,
                Some(&c.schema),
                &format!("{} USING {}", c.name, c.am),
                Some(&c.owner),
                create,
                format!("DROP OPERATOR CLASS {name};"),
            );
            let id = toc.add_object(e, obj, "OPERATOR CLASS", name);
            add_am_dep(toc, id, c.am_oid);
            // pg_depend links a class to its family with an automatic edge, not read.
            if let Some(fam) = toc.id_of(ObjId::new(class::PG_OPFAMILY, c.family_oid)) {
                if let Some(e) = toc.entry_mut(id) {
                    e.deps.push(fam);
                }
            }
            for m in members {
                toc.alias(m.obj, id);
            }
        }
        // Members added to PostgreSQL's own families (by a user, or by an extension
        // script: pg_amop rows are never extension members) cannot be dumped, as with
        // pg_dump: say so. Additions to an extension's families look exactly like the
        // extension's own members and are left to CREATE EXTENSION.
        for m in &self.members {
            if m.owner.class == class::PG_OPFAMILY && m.owner.oid < 16384 {
                tracing::warn!(
                    "not dumped: a member added to the built-in operator family with oid {} ({})",
                    m.owner.oid,
                    m.sql
                );
            }
        }
    }
}

/// Families and classes depend on their access method through automatic edges, which
/// the generic pg_depend pass does not read.
fn add_am_dep(toc: &mut TocBuilder, id: u32, am_oid: u32) {
    if let Some(am) = toc.id_of(ObjId::new(class::PG_AM, am_oid)) {
        if let Some(e) = toc.entry_mut(id) {
            e.deps.push(am);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_items() {
        assert_eq!(
            operator_item(1, "s.<(integer,integer)", None),
            "OPERATOR 1 s.<(integer,integer)"
        );
        assert_eq!(
            operator_item(15, "s.<->(point,point)", Some("pg_catalog.float_ops")),
            "OPERATOR 15 s.<->(point,point) FOR ORDER BY pg_catalog.float_ops"
        );
        assert_eq!(
            function_item(1, "integer", "integer", "s.cmp(integer,integer)"),
            "FUNCTION 1 (integer, integer) s.cmp(integer,integer)"
        );
    }
}
