//! User-defined types: enum, composite, domain, range (with its multirange) and base
//! types (a shell entry first, so their I/O functions can be created before the type).

use std::collections::HashMap;

use archive_format::sql::{qualified, quote_ident, quote_literal};
use archive_format::toc::Section;
use futures::future::BoxFuture;
use tokio_postgres::Client;

use super::{not_extension_member, Ctx, Family, ObjId, USER_SCHEMA};
use crate::error::Result;
use crate::rows::query;
use crate::toc_builder::{entry, TocBuilder};

#[derive(Debug)]
struct Type {
    oid: u32,
    schema: String,
    name: String,
    owner: String,
    /// 'e' enum, 'c' composite, 'd' domain, 'r' range, 'b' base
    kind: char,
    /// The automatically made parts: array type, multirange and its array.
    parts: Vec<u32>,
    /// Composite types: their pg_class row.
    relid: u32,
}

#[derive(Debug)]
struct DomainConstraint {
    oid: u32,
    name: String,
    /// 'c' check, 'n' NOT NULL (PostgreSQL 17+ keeps those in pg_constraint)
    kind: char,
    definition: String,
    validated: bool,
}

#[derive(Debug, Default)]
pub struct Types {
    types: Vec<Type>,
    enum_labels: HashMap<u32, Vec<String>>,
    /// Composite type attributes: (name, type, collation).
    attributes: HashMap<u32, Vec<(String, String, Option<String>)>>,
    domains: HashMap<u32, DomainDef>,
    domain_constraints: HashMap<u32, Vec<DomainConstraint>>,
    ranges: HashMap<u32, String>,
    base: HashMap<u32, String>,
}

#[derive(Debug)]
struct DomainDef {
    base: String,
    not_null: bool,
    default: Option<String>,
    collation: Option<String>,
}

async fn read(client: &Client, ctx: &Ctx) -> Result<Types> {
    let multirange = if ctx.server_version >= 140000 {
        "coalesce((SELECT ARRAY[r.rngmultitypid, mt.typarray] FROM pg_catalog.pg_range r
                    JOIN pg_catalog.pg_type mt ON mt.oid = r.rngmultitypid WHERE r.rngtypid = t.oid), '{}')"
    } else {
        "'{}'::oid[]"
    };
    let sql = format!(
        "SELECT t.oid, n.nspname::text, t.typname::text,
                pg_catalog.pg_get_userbyid(t.typowner)::text AS owner, t.typtype::text,
                ARRAY[t.typarray]::oid[] || {multirange}::oid[] AS parts, t.typrelid
           FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
          WHERE (t.typtype IN ('e', 'c', 'd', 'r', 'b') OR (t.typtype = 'p' AND NOT t.typisdefined))
            AND {USER_SCHEMA} AND {}
            AND (t.typtype <> 'c' OR (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid) = 'c')
            AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_type e WHERE e.typarray = t.oid)
          ORDER BY n.nspname, t.typname",
        not_extension_member("pg_catalog.pg_type", "t.oid")
    );
    let mut out = Types::default();
    for r in query(client, &sql, &[], "reading types").await?.iter() {
        let parts: Vec<u32> = r.get("parts")?;
        out.types.push(Type {
            oid: r.get("oid")?,
            schema: r.get("nspname")?,
            name: r.get("typname")?,
            owner: r.get("owner")?,
            kind: r.char("typtype")?.unwrap_or('b'),
            parts: parts.into_iter().filter(|o| *o != 0).collect(),
            relid: r.get("typrelid")?,
        });
    }
    if out.types.is_empty() {
        return Ok(out);
    }
    let oids: Vec<u32> = out.types.iter().map(|t| t.oid).collect();
    let relids: Vec<u32> = out
        .types
        .iter()
        .filter(|t| t.kind == 'c')
        .map(|t| t.relid)
        .collect();

    for r in query(
        client,
        "SELECT enumtypid, enumlabel::text FROM pg_catalog.pg_enum
          WHERE enumtypid = ANY($1) ORDER BY enumtypid, enumsortorder",
        &[&oids],
        "reading enum labels",
    )
    .await?
    .iter()
    {
        out.enum_labels
            .entry(r.get("enumtypid")?)
            .or_default()
            .push(r.get("enumlabel")?);
    }

    for r in query(
        client,
            "SELECT t.oid, a.attname::text, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type_sql,
                    CASE WHEN a.attcollation <> at.typcollation THEN
                         pg_catalog.quote_ident(cn.nspname) || '.' || pg_catalog.quote_ident(co.collname) END
                      AS collation
               FROM pg_catalog.pg_type t
               JOIN pg_catalog.pg_attribute a ON a.attrelid = t.typrelid
               JOIN pg_catalog.pg_type at ON at.oid = a.atttypid
               LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation
               LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace
              WHERE t.typrelid = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped
              ORDER BY t.oid, a.attnum",
            &[&relids],
        "reading composite type attributes",
    )
    .await?
    .iter()
    {
        out.attributes.entry(r.get("oid")?).or_default().push((
            r.get("attname")?,
            r.get("type_sql")?,
            r.get("collation")?,
        ));
    }

    for r in query(
        client,
            "SELECT t.oid, pg_catalog.format_type(t.typbasetype, t.typtypmod) AS base, t.typnotnull,
                    pg_catalog.pg_get_expr(t.typdefaultbin, 0) AS default_expr,
                    CASE WHEN t.typcollation <> bt.typcollation THEN
                         pg_catalog.quote_ident(cn.nspname) || '.' || pg_catalog.quote_ident(co.collname) END
                      AS collation
               FROM pg_catalog.pg_type t
               JOIN pg_catalog.pg_type bt ON bt.oid = t.typbasetype
               LEFT JOIN pg_catalog.pg_collation co ON co.oid = t.typcollation
               LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace
              WHERE t.oid = ANY($1) AND t.typtype = 'd'",
            &[&oids],
        "reading domains",
    )
    .await?
    .iter()
    {
        out.domains.insert(
            r.get("oid")?,
            DomainDef {
                base: r.get("base")?,
                not_null: r.get("typnotnull")?,
                default: r.get("default_expr")?,
                collation: r.get("collation")?,
            },
        );
    }
    for r in query(
        client,
        "SELECT co.contypid, co.oid, co.conname::text, co.contype::text,
                    pg_catalog.pg_get_constraintdef(co.oid) AS definition, co.convalidated
               FROM pg_catalog.pg_constraint co
              WHERE co.contypid = ANY($1) ORDER BY co.contypid, co.conname",
        &[&oids],
        "reading domain constraints",
    )
    .await?
    .iter()
    {
        out.domain_constraints
            .entry(r.get("contypid")?)
            .or_default()
            .push(DomainConstraint {
                oid: r.get("oid")?,
                name: r.get("conname")?,
                kind: r.char("contype")?.unwrap_or('c'),
                definition: r.get("definition")?,
                validated: r.get("convalidated")?,
            });
    }

    let multirange_name = if ctx.server_version >= 140000 {
        "(SELECT pg_catalog.quote_ident(mn.nspname) || '.' || pg_catalog.quote_ident(mt.typname)
            FROM pg_catalog.pg_type mt JOIN pg_catalog.pg_namespace mn ON mn.oid = mt.typnamespace
           WHERE mt.oid = r.rngmultitypid)"
    } else {
        "NULL::text"
    };
    let range_sql = format!(
        "SELECT r.rngtypid,
                concat_ws(', ',
                  'subtype = ' || pg_catalog.format_type(r.rngsubtype, NULL),
                  'multirange_type_name = ' || {multirange_name},
                  CASE WHEN NOT oc.opcdefault THEN 'subtype_opclass = ' ||
                       pg_catalog.quote_ident(ocn.nspname) || '.' || pg_catalog.quote_ident(oc.opcname) END,
                  CASE WHEN r.rngcollation <> 0 AND r.rngcollation <> st.typcollation THEN 'collation = ' ||
                       pg_catalog.quote_ident(cn.nspname) || '.' || pg_catalog.quote_ident(co.collname) END,
                  CASE WHEN r.rngcanonical <> 0 THEN 'canonical = ' || r.rngcanonical::pg_catalog.regproc::text END,
                  CASE WHEN r.rngsubdiff <> 0 THEN 'subtype_diff = ' || r.rngsubdiff::pg_catalog.regproc::text END)
                  AS options
           FROM pg_catalog.pg_range r
           JOIN pg_catalog.pg_type st ON st.oid = r.rngsubtype
           JOIN pg_catalog.pg_opclass oc ON oc.oid = r.rngsubopc
           JOIN pg_catalog.pg_namespace ocn ON ocn.oid = oc.opcnamespace
           LEFT JOIN pg_catalog.pg_collation co ON co.oid = r.rngcollation
           LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace
          WHERE r.rngtypid = ANY($1)"
    );
    for r in query(client, &range_sql, &[&oids], "reading range types")
        .await?
        .iter()
    {
        out.ranges.insert(r.get("rngtypid")?, r.get("options")?);
    }

    let subscript = if ctx.server_version >= 140000 {
        "CASE WHEN t.typsubscript <> 0 AND t.typsubscript <> 'pg_catalog.array_subscript_handler'::pg_catalog.regproc
              THEN 'SUBSCRIPT = ' || t.typsubscript::pg_catalog.regproc::text END"
    } else {
        "NULL::text"
    };
    let base_sql = format!(
        "SELECT t.oid,
                concat_ws(E',\\n    ',
                  'INPUT = ' || t.typinput::pg_catalog.regproc::text,
                  'OUTPUT = ' || t.typoutput::pg_catalog.regproc::text,
                  CASE WHEN t.typreceive <> 0 THEN 'RECEIVE = ' || t.typreceive::pg_catalog.regproc::text END,
                  CASE WHEN t.typsend <> 0 THEN 'SEND = ' || t.typsend::pg_catalog.regproc::text END,
                  CASE WHEN t.typmodin <> 0 THEN 'TYPMOD_IN = ' || t.typmodin::pg_catalog.regproc::text END,
                  CASE WHEN t.typmodout <> 0 THEN 'TYPMOD_OUT = ' || t.typmodout::pg_catalog.regproc::text END,
                  CASE WHEN t.typanalyze <> 0 THEN 'ANALYZE = ' || t.typanalyze::pg_catalog.regproc::text END,
                  {subscript},
                  'INTERNALLENGTH = ' || CASE WHEN t.typlen = -1 THEN 'variable' ELSE t.typlen::text END,
                  CASE WHEN t.typbyval THEN 'PASSEDBYVALUE' END,
                  'ALIGNMENT = ' || CASE t.typalign WHEN 'c' THEN 'char' WHEN 's' THEN 'int2'
                                                    WHEN 'i' THEN 'int4' ELSE 'double' END,
                  'STORAGE = ' || CASE t.typstorage WHEN 'p' THEN 'plain' WHEN 'e' THEN 'external'
                                                    WHEN 'm' THEN 'main' ELSE 'extended' END,
                  CASE WHEN t.typcategory <> 'U' THEN 'CATEGORY = ' || pg_catalog.quote_literal(t.typcategory::text) END,
                  CASE WHEN t.typispreferred THEN 'PREFERRED = true' END,
                  CASE WHEN t.typdefault IS NOT NULL THEN 'DEFAULT = ' || pg_catalog.quote_literal(t.typdefault) END,
                  CASE WHEN t.typelem <> 0 THEN 'ELEMENT = ' || pg_catalog.format_type(t.typelem, NULL) END,
                  CASE WHEN t.typdelim <> ',' THEN 'DELIMITER = ' || pg_catalog.quote_literal(t.typdelim::text) END,
                  CASE WHEN t.typcollation <> 0 THEN 'COLLATABLE = true' END) AS options
           FROM pg_catalog.pg_type t WHERE t.oid = ANY($1) AND t.typtype = 'b'"
    );
    for r in query(client, &base_sql, &[&oids], "reading base types")
        .await?
        .iter()
    {
        out.base.insert(r.get("oid")?, r.get("options")?);
    }
    Ok(out)
}

impl Types {
    fn domain_sql(&self, t: &Type, d: &DomainDef, name: &str) -> String {
        let mut sql = format!("CREATE DOMAIN {name} AS {}", d.base);
        if let Some(c) = &d.collation {
            sql.push_str(&format!(" COLLATE {c}"));
        }
        if let Some(def) = &d.default {
            sql.push_str(&format!(" DEFAULT {def}"));
        }
        let constraints = self
            .domain_constraints
            .get(&t.oid)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let named_not_null = constraints.iter().any(|c| c.kind == 'n');
        if d.not_null && !named_not_null {
            sql.push_str(" NOT NULL");
        }
        for c in constraints.iter().filter(|c| c.validated) {
            sql.push_str(&format!(
                "\n    CONSTRAINT {} {}",
                quote_ident(&c.name),
                c.definition
            ));
        }
        sql.push(';');
        sql
    }
}

impl Family for Types {
    fn read<'a>(client: &'a Client, ctx: &'a Ctx) -> BoxFuture<'a, Result<Self>> {
        Box::pin(read(client, ctx))
    }

    fn add_entries(&self, toc: &mut TocBuilder) {
        for t in &self.types {
            let name = qualified(&t.schema, &t.name);
            let (keyword, body) = match t.kind {
                'e' => {
                    let labels = self
                        .enum_labels
                        .get(&t.oid)
                        .map(Vec::as_slice)
                        .unwrap_or(&[]);
                    let list: Vec<String> = labels
                        .iter()
                        .map(|l| format!("    {}", quote_literal(l)))
                        .collect();
                    (
                        "TYPE",
                        format!("CREATE TYPE {name} AS ENUM (\n{}\n);", list.join(",\n")),
                    )
                }
                'c' => {
                    let attrs = self
                        .attributes
                        .get(&t.oid)
                        .map(Vec::as_slice)
                        .unwrap_or(&[]);
                    let list: Vec<String> = attrs
                        .iter()
                        .map(|(n, ty, coll)| match coll {
                            Some(c) => format!("    {} {ty} COLLATE {c}", quote_ident(n)),
                            None => format!("    {} {ty}", quote_ident(n)),
                        })
                        .collect();
                    (
                        "TYPE",
                        format!("CREATE TYPE {name} AS (\n{}\n);", list.join(",\n")),
                    )
                }
                'd' => {
                    let Some(d) = self.domains.get(&t.oid) else {
                        continue;
                    };
                    ("DOMAIN", self.domain_sql(t, d, &name))
                }
                // A shell never completed (`CREATE TYPE name;` alone).
                'p' => ("TYPE", format!("CREATE TYPE {name};")),
                'r' => {
                    let Some(opts) = self.ranges.get(&t.oid) else {
                        continue;
                    };
                    (
                        "TYPE",
                        format!("CREATE TYPE {name} AS RANGE (\n    {opts}\n);"),
                    )
                }
                _ => {
                    let Some(opts) = self.base.get(&t.oid) else {
                        continue;
                    };
                    let mut shell = entry(
                        "SHELL TYPE",
                        Section::PreData,
                        Some(&t.schema),
                        &t.name,
                        Some(&t.owner),
                        format!("CREATE TYPE {name};"),
                        String::new(),
                    );
                    shell.deps.extend(toc.schema_deps(&t.schema));
                    let shell_id = toc.push(shell, None);
                    toc.shell_types.insert(ObjId::type_(t.oid), shell_id);
                    ("TYPE", format!("CREATE TYPE {name} (\n    {opts}\n);"))
                }
            };
            let e = entry(
                if t.kind == 'd' { "DOMAIN" } else { "TYPE" },
                Section::PreData,
                Some(&t.schema),
                &t.name,
                Some(&t.owner),
                body,
                format!("DROP {keyword} {name};"),
            );
            let id = toc.add_object(e, ObjId::type_(t.oid), keyword, name.clone());
            if let Some(shell) = toc.shell_types.get(&ObjId::type_(t.oid)).copied() {
                if let Some(e) = toc.entry_mut(id) {
                    e.deps.push(shell);
                }
            }
            for part in &t.parts {
                toc.alias(ObjId::type_(*part), id);
            }
            if t.kind == 'c' {
                toc.alias(ObjId::rel(t.relid), id);
                // Comments on a composite type's columns name its pg_class row.
                toc.register(ObjId::rel(t.relid), id, "TYPE", name.clone());
            }
            for c in self.domain_constraints.get(&t.oid).into_iter().flatten() {
                let cname = format!("{} ON DOMAIN {name}", quote_ident(&c.name));
                if c.validated {
                    toc.alias(ObjId::constraint(c.oid), id);
                    toc.register(ObjId::constraint(c.oid), id, "CONSTRAINT", cname);
                } else {
                    // NOT VALID: added after the data, like pg_dump does.
                    let mut e = entry(
                        "CHECK CONSTRAINT",
                        Section::PostData,
                        Some(&t.schema),
                        &format!("{} {}", t.name, c.name),
                        Some(&t.owner),
                        format!(
                            "ALTER DOMAIN {name}\n    ADD CONSTRAINT {} {};",
                            quote_ident(&c.name),
                            c.definition
                        ),
                        format!(
                            "ALTER DOMAIN {name} DROP CONSTRAINT {};",
                            quote_ident(&c.name)
                        ),
                    );
                    e.deps.push(id);
                    let cid = toc.push(e, Some(ObjId::constraint(c.oid)));
                    toc.register(ObjId::constraint(c.oid), cid, "CONSTRAINT", cname);
                }
            }
        }
    }
}
