//! Functions, procedures and aggregates.

use archive_format::toc::{EntryKind, Section};
use logical_shared::sql::qualified;
use tokio_postgres::Client;

use super::{not_extension_member, Ctx, ObjId, USER_SCHEMA};
use crate::error::{QueryContext, Result};
use crate::toc_builder::{entry, TocBuilder};

#[derive(Debug)]
struct Function {
    oid: u32,
    schema: String,
    name: String,
    owner: String,
    /// 'f' function, 'p' procedure, 'a' aggregate, 'w' window
    kind: char,
    /// `pg_get_function_identity_arguments()`: how DROP / COMMENT name it.
    identity_args: String,
    /// Complete CREATE statement (functions, procedures) or the aggregate's options.
    definition: String,
}

#[derive(Debug, Default)]
pub struct Functions {
    functions: Vec<Function>,
}

pub async fn read(client: &Client, ctx: &Ctx) -> Result<Functions> {
    // Aggregates have no pg_get_functiondef; their CREATE AGGREGATE is put together
    // from pg_aggregate.
    let _ = ctx;
    let agg_options = aggregate_options_sql();
    let sql = format!(
        "SELECT p.oid, n.nspname::text, p.proname::text, pg_catalog.pg_get_userbyid(p.proowner)::text,
                p.prokind::text,
                -- An aggregate of no arguments is written agg(*) everywhere: agg() is not SQL.
                CASE WHEN p.prokind = 'a' AND p.pronargs = 0 THEN '*'
                     ELSE pg_catalog.pg_get_function_identity_arguments(p.oid) END,
                CASE WHEN p.prokind = 'a' THEN
                    CASE WHEN p.pronargs = 0 THEN '*' ELSE pg_catalog.pg_get_function_arguments(p.oid) END
                    || E')\\n(' || ({agg_options})
                ELSE pg_catalog.pg_get_functiondef(p.oid) END
           FROM pg_catalog.pg_proc p
           JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
           LEFT JOIN pg_catalog.pg_aggregate a ON a.aggfnoid = p.oid
          WHERE {USER_SCHEMA} AND {}
            -- Range and multirange constructors come with their type.
            AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend i
                             WHERE i.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
                               AND i.objid = p.oid AND i.deptype = 'i')
          ORDER BY n.nspname, p.proname, 6",
        not_extension_member("pg_catalog.pg_proc", "p.oid")
    );
    let rows = client
        .query(&sql, &[])
        .await
        .during(|| "reading functions".into())?;
    Ok(Functions {
        functions: rows
            .iter()
            .map(|r| {
                let kind: String = r.get(4);
                Function {
                    oid: r.get(0),
                    schema: r.get(1),
                    name: r.get(2),
                    owner: r.get(3),
                    kind: kind.chars().next().unwrap_or('f'),
                    identity_args: r.get(5),
                    definition: r.get(6),
                }
            })
            .collect(),
    })
}

/// The `( ... )` option list of CREATE AGGREGATE, from pg_aggregate, deparsed server-side.
fn aggregate_options_sql() -> String {
    let fn_ref = |col: &str, key: &str| {
        format!("CASE WHEN a.{col} <> 0 THEN '{key} = ' || a.{col}::pg_catalog.regproc::text END")
    };
    let modify = |col: &str, key: &str| {
        format!(
            "CASE a.{col} WHEN 's' THEN '{key} = SHAREABLE' WHEN 'w' THEN '{key} = READ_WRITE' ELSE '{key} = READ_ONLY' END"
        )
    };
    let (finalmodify, mfinalmodify) = (
        modify("aggfinalmodify", "FINALFUNC_MODIFY"),
        modify("aggmfinalmodify", "MFINALFUNC_MODIFY"),
    );
    format!(
        "concat_ws(E',\\n    ',
            'SFUNC = ' || a.aggtransfn::pg_catalog.regproc::text,
            'STYPE = ' || pg_catalog.format_type(a.aggtranstype, NULL),
            CASE WHEN a.aggtransspace <> 0 THEN 'SSPACE = ' || a.aggtransspace END,
            {},
            CASE WHEN a.aggfinalextra THEN 'FINALFUNC_EXTRA' END,
            CASE WHEN a.aggfinalmodify <> CASE WHEN a.aggkind = 'n' THEN 'r' ELSE 'w' END THEN {finalmodify} END,
            {}, {}, {},
            CASE WHEN a.agginitval IS NOT NULL THEN 'INITCOND = ' || pg_catalog.quote_literal(a.agginitval) END,
            {}, {},
            CASE WHEN a.aggmtranstype <> 0 THEN 'MSTYPE = ' || pg_catalog.format_type(a.aggmtranstype, NULL) END,
            CASE WHEN a.aggmtransspace <> 0 THEN 'MSSPACE = ' || a.aggmtransspace END,
            {},
            CASE WHEN a.aggmfinalextra THEN 'MFINALFUNC_EXTRA' END,
            CASE WHEN a.aggmtranstype <> 0 AND a.aggmfinalmodify <> CASE WHEN a.aggkind = 'n' THEN 'r' ELSE 'w' END THEN {mfinalmodify} END,
            CASE WHEN a.aggminitval IS NOT NULL THEN 'MINITCOND = ' || pg_catalog.quote_literal(a.aggminitval) END,
            CASE WHEN a.aggsortop <> 0 THEN 'SORTOP = ' || a.aggsortop::pg_catalog.regoperator::text END,
            CASE p.proparallel WHEN 's' THEN 'PARALLEL = SAFE' WHEN 'r' THEN 'PARALLEL = RESTRICTED' END,
            CASE WHEN a.aggkind = 'h' THEN 'HYPOTHETICAL' END)",
        fn_ref("aggfinalfn", "FINALFUNC"),
        fn_ref("aggcombinefn", "COMBINEFUNC"),
        fn_ref("aggserialfn", "SERIALFUNC"),
        fn_ref("aggdeserialfn", "DESERIALFUNC"),
        fn_ref("aggmtransfn", "MSFUNC"),
        fn_ref("aggminvtransfn", "MINVFUNC"),
        fn_ref("aggmfinalfn", "MFINALFUNC"),
    )
}

impl Functions {
    pub fn add_entries(&self, toc: &mut TocBuilder) {
        for f in &self.functions {
            let signature = format!("{}({})", qualified(&f.schema, &f.name), f.identity_args);
            let (kind, keyword, create) = match f.kind {
                'p' => (
                    EntryKind::Procedure,
                    "PROCEDURE",
                    format!("{};", f.definition.trim_end()),
                ),
                'a' => (
                    EntryKind::Aggregate,
                    "AGGREGATE",
                    format!(
                        "CREATE AGGREGATE {}({}\n);",
                        qualified(&f.schema, &f.name),
                        f.definition
                    ),
                ),
                _ => (
                    EntryKind::Function,
                    "FUNCTION",
                    format!("{};", f.definition.trim_end()),
                ),
            };
            let e = entry(
                kind,
                Section::PreData,
                Some(&f.schema),
                &format!("{}({})", f.name, f.identity_args),
                Some(&f.owner),
                create,
                format!("DROP {keyword} {signature};"),
            );
            toc.add_object(e, ObjId::proc(f.oid), keyword, signature);
        }
    }
}
