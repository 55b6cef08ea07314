//! Operators (CREATE OPERATOR with every option).
//!
//! A commutator or negator that does not exist yet is made as a shell by CREATE OPERATOR
//! and filled in when its own CREATE OPERATOR runs, so pairs need no special order in a
//! serial restore (pg_depend records no edge between them). Restored in parallel, two
//! sessions would each try to make the other's shell; the later operator of a pair (by
//! OID) therefore waits for the earlier one. Shell operators themselves (no function)
//! are left out: whoever refers to them recreates them.

use std::collections::HashMap;

use archive_format::toc::{EntryKind, Section};
use futures::future::BoxFuture;
use logical_shared::sql::quote_ident;
use tokio_postgres::Client;

use super::{class, not_extension_member, Ctx, Family, ObjId, USER_SCHEMA};
use crate::error::Result;
use crate::rows::{query, NamedRow};
use crate::toc_builder::{entry, TocBuilder};

#[derive(Debug)]
struct Operator {
    oid: u32,
    schema: String,
    name: String,
    owner: String,
    /// `format_type()` of the operands; None for a missing one (prefix operators, and
    /// postfix operators before PostgreSQL 14).
    left: Option<String>,
    right: Option<String>,
    /// `regproc` names.
    function: String,
    restrict: Option<String>,
    join: Option<String>,
    /// (oid, `OPERATOR(schema.name)`) of commutator and negator.
    commutator: Option<(u32, String)>,
    negator: Option<(u32, String)>,
    hashes: bool,
    merges: bool,
}

#[derive(Debug, Default)]
pub struct Operators {
    operators: Vec<Operator>,
}

async fn read(client: &Client, _ctx: &Ctx) -> Result<Operators> {
    let sql = format!(
        "SELECT o.oid, n.nspname::text, o.oprname::text,
                pg_catalog.pg_get_userbyid(o.oprowner)::text AS owner,
                CASE WHEN o.oprleft <> 0 THEN pg_catalog.format_type(o.oprleft, NULL) END AS left_type,
                CASE WHEN o.oprright <> 0 THEN pg_catalog.format_type(o.oprright, NULL) END AS right_type,
                o.oprcode::pg_catalog.regproc::text AS function,
                CASE WHEN o.oprrest <> 0 THEN o.oprrest::pg_catalog.regproc::text END AS restrict_fn,
                CASE WHEN o.oprjoin <> 0 THEN o.oprjoin::pg_catalog.regproc::text END AS join_fn,
                c.oid AS commutator_oid, pg_catalog.quote_ident(cn.nspname) AS commutator_schema,
                c.oprname::text AS commutator_name,
                ng.oid AS negator_oid, pg_catalog.quote_ident(ngn.nspname) AS negator_schema,
                ng.oprname::text AS negator_name,
                o.oprcanhash, o.oprcanmerge
           FROM pg_catalog.pg_operator o
           JOIN pg_catalog.pg_namespace n ON n.oid = o.oprnamespace
           LEFT JOIN pg_catalog.pg_operator c ON c.oid = o.oprcom
           LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid = c.oprnamespace
           LEFT JOIN pg_catalog.pg_operator ng ON ng.oid = o.oprnegate
           LEFT JOIN pg_catalog.pg_namespace ngn ON ngn.oid = ng.oprnamespace
          WHERE o.oprcode <> 0 AND {USER_SCHEMA} AND {}
          ORDER BY n.nspname, o.oprname, o.oid",
        not_extension_member("pg_catalog.pg_operator", "o.oid")
    );
    Ok(Operators {
        operators: query(client, &sql, &[], "reading operators")
            .await?
            .map(|r| {
                Ok(Operator {
                    oid: r.get("oid")?,
                    schema: r.get("nspname")?,
                    name: r.get("oprname")?,
                    owner: r.get("owner")?,
                    left: r.get("left_type")?,
                    right: r.get("right_type")?,
                    function: r.get("function")?,
                    restrict: r.get("restrict_fn")?,
                    join: r.get("join_fn")?,
                    commutator: partner(&r, "commutator")?,
                    negator: partner(&r, "negator")?,
                    hashes: r.get("oprcanhash")?,
                    merges: r.get("oprcanmerge")?,
                })
            })?,
    })
}

/// The commutator or negator (`which`) of the row's operator: its oid, and how CREATE
/// OPERATOR names it.
fn partner(r: &NamedRow<'_>, which: &str) -> Result<Option<(u32, String)>> {
    let oid: Option<u32> = r.get(&format!("{which}_oid"))?;
    let schema: Option<String> = r.get(&format!("{which}_schema"))?;
    let name: Option<String> = r.get(&format!("{which}_name"))?;
    Ok(oid
        .zip(schema.zip(name))
        .map(|(oid, (schema, name))| (oid, operator_ref(&schema, &name))))
}

/// `OPERATOR(schema.name)`, with the schema already quoted (operator names never are).
fn operator_ref(quoted_schema: &str, name: &str) -> String {
    format!("OPERATOR({quoted_schema}.{name})")
}

/// `schema.op(left, right)`, how COMMENT ON / ALTER OPERATOR name an operator.
fn signature(o: &Operator) -> String {
    format!(
        "{}.{}({}, {})",
        quote_ident(&o.schema),
        o.name,
        o.left.as_deref().unwrap_or("NONE"),
        o.right.as_deref().unwrap_or("NONE")
    )
}

fn create_sql(o: &Operator) -> String {
    let mut opts = vec![format!("FUNCTION = {}", o.function)];
    if let Some(t) = &o.left {
        opts.push(format!("LEFTARG = {t}"));
    }
    if let Some(t) = &o.right {
        opts.push(format!("RIGHTARG = {t}"));
    }
    if let Some((_, c)) = &o.commutator {
        opts.push(format!("COMMUTATOR = {c}"));
    }
    if let Some((_, n)) = &o.negator {
        opts.push(format!("NEGATOR = {n}"));
    }
    if let Some(f) = &o.restrict {
        opts.push(format!("RESTRICT = {f}"));
    }
    if let Some(f) = &o.join {
        opts.push(format!("JOIN = {f}"));
    }
    if o.hashes {
        opts.push("HASHES".to_owned());
    }
    if o.merges {
        opts.push("MERGES".to_owned());
    }
    format!(
        "CREATE OPERATOR {}.{} (\n    {}\n);",
        quote_ident(&o.schema),
        o.name,
        opts.join(",\n    ")
    )
}

impl Family for Operators {
    fn read<'a>(client: &'a Client, ctx: &'a Ctx) -> BoxFuture<'a, Result<Self>> {
        Box::pin(read(client, ctx))
    }

    fn add_entries(&self, toc: &mut TocBuilder) {
        let mut ids: HashMap<u32, u32> = HashMap::new();
        for o in &self.operators {
            let sig = signature(o);
            if o.right.is_none() {
                tracing::warn!(
                    "operator {sig} is a postfix operator: PostgreSQL 14 and later cannot create it, \
                     so the archive restores only into PostgreSQL 13 or older"
                );
            }
            let e = entry(
                EntryKind::Operator,
                Section::PreData,
                Some(&o.schema),
                &format!(
                    "{}({}, {})",
                    o.name,
                    o.left.as_deref().unwrap_or("NONE"),
                    o.right.as_deref().unwrap_or("NONE")
                ),
                Some(&o.owner),
                create_sql(o),
                format!("DROP OPERATOR {sig};"),
            );
            let id = toc.add_object(e, ObjId::new(class::PG_OPERATOR, o.oid), "OPERATOR", sig);
            ids.insert(o.oid, id);
        }
        // The later operator of a commutator / negator pair waits for the earlier one
        // (see the module documentation). Ordering by OID never makes a loop.
        for o in &self.operators {
            let partners = [&o.commutator, &o.negator];
            let earlier: Vec<u32> = partners
                .into_iter()
                .flatten()
                .filter(|(p, _)| *p < o.oid)
                .filter_map(|(p, _)| ids.get(p).copied())
                .collect();
            if let Some(e) = ids.get(&o.oid).and_then(|id| toc.entry_mut(*id)) {
                e.deps.extend(earlier);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_lists_every_option_and_prefix_operators_have_no_left() {
        let o = Operator {
            oid: 1,
            schema: "Zoo S".into(),
            name: "===".into(),
            owner: "o".into(),
            left: Some("integer".into()),
            right: Some("integer".into()),
            function: "int4eq".into(),
            restrict: Some("eqsel".into()),
            join: Some("eqjoinsel".into()),
            commutator: Some((1, operator_ref("\"Zoo S\"", "==="))),
            negator: Some((2, operator_ref("\"Zoo S\"", "!=="))),
            hashes: true,
            merges: true,
        };
        assert_eq!(
            create_sql(&o),
            "CREATE OPERATOR \"Zoo S\".=== (\n    FUNCTION = int4eq,\n    LEFTARG = integer,\n    \
             RIGHTARG = integer,\n    COMMUTATOR = OPERATOR(\"Zoo S\".===),\n    \
             NEGATOR = OPERATOR(\"Zoo S\".!==),\n    RESTRICT = eqsel,\n    JOIN = eqjoinsel,\n    \
             HASHES,\n    MERGES\n);"
        );
        let prefix = Operator { left: None, ..o };
        assert_eq!(signature(&prefix), "\"Zoo S\".===(NONE, integer)");
        assert!(!create_sql(&prefix).contains("LEFTARG"));
    }
}
