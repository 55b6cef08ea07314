//! User-defined types: enum, composite, domain, range (with its multirange) and base
//! types (a shell entry first, so their I/O functions can be created before the type).

use std::collections::HashMap;

use archive_format::toc::{EntryKind, Section};
use futures::future::BoxFuture;
use logical_shared::sql::{qualified, quote_ident, quote_literal};
use tokio_postgres::Client;

use super::{not_extension_member, Ctx, Family, ObjId, USER_SCHEMA};
use crate::error::Result;
use crate::rows::{query, NamedRow};
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
        "SELECT r.rngtypid, pg_catalog.format_type(r.rngsubtype, NULL) AS subtype,
                {multirange_name} AS multirange,
                oc.opcdefault,
                pg_catalog.quote_ident(ocn.nspname) || '.' || pg_catalog.quote_ident(oc.opcname) AS opclass,
                r.rngcollation <> 0 AND r.rngcollation <> st.typcollation AS own_collation,
                pg_catalog.quote_ident(cn.nspname) || '.' || pg_catalog.quote_ident(co.collname) AS collation,
                CASE WHEN r.rngcanonical <> 0 THEN r.rngcanonical::pg_catalog.regproc::text END AS canonical,
                CASE WHEN r.rngsubdiff <> 0 THEN r.rngsubdiff::pg_catalog.regproc::text END AS subdiff
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
        out.ranges
            .insert(r.get("rngtypid")?, RangeDef::from_row(&r)?.options());
    }

    let subscript = if ctx.server_version >= 140000 {
        "CASE WHEN t.typsubscript <> 0 AND t.typsubscript <> 'pg_catalog.array_subscript_handler'::pg_catalog.regproc
              THEN t.typsubscript::pg_catalog.regproc::text END"
    } else {
        "NULL::text"
    };
    let func = |col: &str| {
        format!("CASE WHEN t.{col} <> 0 THEN t.{col}::pg_catalog.regproc::text END AS {col}")
    };
    let base_sql = format!(
        "SELECT t.oid, t.typinput::pg_catalog.regproc::text AS typinput,
                t.typoutput::pg_catalog.regproc::text AS typoutput, {}, {}, {}, {}, {},
                {subscript} AS typsubscript, t.typlen, t.typbyval, t.typalign::text,
                t.typstorage::text, t.typcategory::text, t.typispreferred, t.typdefault,
                CASE WHEN t.typelem <> 0 THEN pg_catalog.format_type(t.typelem, NULL) END AS element,
                t.typdelim::text, t.typcollation <> 0 AS collatable
           FROM pg_catalog.pg_type t WHERE t.oid = ANY($1) AND t.typtype = 'b'",
        func("typreceive"),
        func("typsend"),
        func("typmodin"),
        func("typmodout"),
        func("typanalyze"),
    );
    for r in query(client, &base_sql, &[&oids], "reading base types")
        .await?
        .iter()
    {
        out.base
            .insert(r.get("oid")?, BaseDef::from_row(&r)?.options());
    }
    Ok(out)
}

/// A range type's pg_range row, as CREATE TYPE ... AS RANGE needs it.
#[derive(Debug, Default)]
struct RangeDef {
    subtype: String,
    /// PostgreSQL 14+.
    multirange: Option<String>,
    opclass_is_default: bool,
    opclass: String,
    /// Whether the range has a collation other than its subtype's.
    own_collation: bool,
    collation: Option<String>,
    canonical: Option<String>,
    subdiff: Option<String>,
}

impl RangeDef {
    fn from_row(r: &NamedRow<'_>) -> Result<RangeDef> {
        Ok(RangeDef {
            subtype: r.get("subtype")?,
            multirange: r.get("multirange")?,
            opclass_is_default: r.get("opcdefault")?,
            opclass: r.get("opclass")?,
            own_collation: r.get("own_collation")?,
            collation: r.get("collation")?,
            canonical: r.get("canonical")?,
            subdiff: r.get("subdiff")?,
        })
    }

    /// The options inside `AS RANGE ( ... )`; defaults are left out.
    fn options(&self) -> String {
        let key = |k: &str, v: &Option<String>| v.as_ref().map(|v| format!("{k} = {v}"));
        [
            Some(format!("subtype = {}", self.subtype)),
            key("multirange_type_name", &self.multirange),
            (!self.opclass_is_default).then(|| format!("subtype_opclass = {}", self.opclass)),
            key(
                "collation",
                &self.collation.clone().filter(|_| self.own_collation),
            ),
            key("canonical", &self.canonical),
            key("subtype_diff", &self.subdiff),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ")
    }
}

/// A base type's pg_type row, as CREATE TYPE ( ... ) needs it: functions as `regproc`
/// text, `None` where there is none.
#[derive(Debug, Default)]
struct BaseDef {
    input: String,
    output: String,
    receive: Option<String>,
    send: Option<String>,
    typmod_in: Option<String>,
    typmod_out: Option<String>,
    analyze: Option<String>,
    /// PostgreSQL 14+, and not the array one every array type has.
    subscript: Option<String>,
    /// -1 for variable.
    length: i16,
    by_value: bool,
    align: char,
    storage: char,
    category: String,
    preferred: bool,
    default: Option<String>,
    element: Option<String>,
    delimiter: String,
    collatable: bool,
}

impl BaseDef {
    fn from_row(r: &NamedRow<'_>) -> Result<BaseDef> {
        Ok(BaseDef {
            input: r.get("typinput")?,
            output: r.get("typoutput")?,
            receive: r.get("typreceive")?,
            send: r.get("typsend")?,
            typmod_in: r.get("typmodin")?,
            typmod_out: r.get("typmodout")?,
            analyze: r.get("typanalyze")?,
            subscript: r.get("typsubscript")?,
            length: r.get("typlen")?,
            by_value: r.get("typbyval")?,
            align: r.char("typalign")?.unwrap_or('d'),
            storage: r.char("typstorage")?.unwrap_or('x'),
            category: r.get("typcategory")?,
            preferred: r.get("typispreferred")?,
            default: r.get("typdefault")?,
            element: r.get("element")?,
            delimiter: r.get("typdelim")?,
            collatable: r.get("collatable")?,
        })
    }

    /// The options inside CREATE TYPE's `( ... )`, one a line; defaults are left out.
    fn options(&self) -> String {
        let func = |k: &str, v: &Option<String>| v.as_ref().map(|v| format!("{k} = {v}"));
        let length = if self.length == -1 {
            "variable".to_owned()
        } else {
            self.length.to_string()
        };
        let align = match self.align {
            'c' => "char",
            's' => "int2",
            'i' => "int4",
            _ => "double",
        };
        let storage = match self.storage {
            'p' => "plain",
            'e' => "external",
            'm' => "main",
            _ => "extended",
        };
        [
            Some(format!("INPUT = {}", self.input)),
            Some(format!("OUTPUT = {}", self.output)),
            func("RECEIVE", &self.receive),
            func("SEND", &self.send),
            func("TYPMOD_IN", &self.typmod_in),
            func("TYPMOD_OUT", &self.typmod_out),
            func("ANALYZE", &self.analyze),
            func("SUBSCRIPT", &self.subscript),
            Some(format!("INTERNALLENGTH = {length}")),
            self.by_value.then(|| "PASSEDBYVALUE".to_owned()),
            Some(format!("ALIGNMENT = {align}")),
            Some(format!("STORAGE = {storage}")),
            (self.category != "U").then(|| format!("CATEGORY = {}", quote_literal(&self.category))),
            self.preferred.then(|| "PREFERRED = true".to_owned()),
            self.default
                .as_ref()
                .map(|d| format!("DEFAULT = {}", quote_literal(d))),
            func("ELEMENT", &self.element),
            (self.delimiter != ",")
                .then(|| format!("DELIMITER = {}", quote_literal(&self.delimiter))),
            self.collatable.then(|| "COLLATABLE = true".to_owned()),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(",\n    ")
    }
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
                        EntryKind::ShellType,
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
                if t.kind == 'd' {
                    EntryKind::Domain
                } else {
                    EntryKind::Type
                },
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
                        EntryKind::CheckConstraint,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_options_leave_defaults_out() {
        let r = RangeDef {
            subtype: "integer".into(),
            opclass_is_default: true,
            opclass: "pg_catalog.int4_ops".into(),
            own_collation: false,
            collation: Some("pg_catalog.\"C\"".into()),
            ..RangeDef::default()
        };
        assert_eq!(r.options(), "subtype = integer");
    }

    #[test]
    fn range_options_in_order() {
        let r = RangeDef {
            subtype: "text".into(),
            multirange: Some("s.textmultirange".into()),
            opclass_is_default: false,
            opclass: "s.text_ops".into(),
            own_collation: true,
            collation: Some("pg_catalog.\"C\"".into()),
            canonical: Some("s.canon".into()),
            subdiff: Some("s.diff".into()),
        };
        assert_eq!(
            r.options(),
            "subtype = text, multirange_type_name = s.textmultirange, \
             subtype_opclass = s.text_ops, collation = pg_catalog.\"C\", \
             canonical = s.canon, subtype_diff = s.diff"
        );
    }

    #[test]
    fn base_type_options() {
        let b = BaseDef {
            input: "s.in".into(),
            output: "s.out".into(),
            length: -1,
            align: 'i',
            storage: 'x',
            category: "U".into(),
            delimiter: ",".into(),
            ..BaseDef::default()
        };
        assert_eq!(
            b.options(),
            "INPUT = s.in,\n    OUTPUT = s.out,\n    INTERNALLENGTH = variable,\n    \
             ALIGNMENT = int4,\n    STORAGE = extended"
        );
        let b = BaseDef {
            input: "s.in".into(),
            output: "s.out".into(),
            receive: Some("s.recv".into()),
            send: Some("s.send".into()),
            typmod_in: Some("s.tin".into()),
            typmod_out: Some("s.tout".into()),
            analyze: Some("s.an".into()),
            subscript: Some("s.sub".into()),
            length: 8,
            by_value: true,
            align: 'd',
            storage: 'p',
            category: "N".into(),
            preferred: true,
            default: Some("it's".into()),
            element: Some("integer".into()),
            delimiter: ";".into(),
            collatable: true,
        };
        assert_eq!(
            b.options().split(",\n    ").collect::<Vec<_>>(),
            [
                "INPUT = s.in",
                "OUTPUT = s.out",
                "RECEIVE = s.recv",
                "SEND = s.send",
                "TYPMOD_IN = s.tin",
                "TYPMOD_OUT = s.tout",
                "ANALYZE = s.an",
                "SUBSCRIPT = s.sub",
                "INTERNALLENGTH = 8",
                "PASSEDBYVALUE",
                "ALIGNMENT = double",
                "STORAGE = plain",
                "CATEGORY = 'N'",
                "PREFERRED = true",
                "DEFAULT = 'it''s'",
                "ELEMENT = integer",
                "DELIMITER = ';'",
                "COLLATABLE = true",
            ]
        );
    }
}
