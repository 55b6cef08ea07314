//! Functions, procedures and aggregates.

use archive_format::sql::qualified;
use archive_format::toc::Section;
use futures::future::BoxFuture;
use tokio_postgres::Client;

use super::{not_extension_member, Ctx, Family, ObjId, USER_SCHEMA};
use crate::error::Result;
use crate::rows::query;
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

async fn read(client: &Client, ctx: &Ctx) -> Result<Functions> {
    // Aggregates have no pg_get_functiondef; their CREATE AGGREGATE is put together
    // from pg_aggregate.
    let _ = ctx;
    let agg_options = aggregate_options_sql();
    let sql = format!(
        "SELECT p.oid, n.nspname::text, p.proname::text,
                pg_catalog.pg_get_userbyid(p.proowner)::text AS owner, p.prokind::text,
                -- An aggregate of no arguments is written agg(*) everywhere: agg() is not SQL.
                CASE WHEN p.prokind = 'a' AND p.pronargs = 0 THEN '*'
                     ELSE pg_catalog.pg_get_function_identity_arguments(p.oid) END AS identity_args,
                CASE WHEN p.prokind = 'a' THEN
                    CASE WHEN p.pronargs = 0 THEN '*' ELSE pg_catalog.pg_get_function_arguments(p.oid) END
                    || E')\\n(' || ({agg_options})
                ELSE pg_catalog.pg_get_functiondef(p.oid) END AS definition
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
    Ok(Functions {
        functions: query(client, &sql, &[], "reading functions")
            .await?
            .map(|r| {
                Ok(Function {
                    oid: r.get("oid")?,
                    schema: r.get("nspname")?,
                    name: r.get("proname")?,
                    owner: r.get("owner")?,
                    kind: r.char("prokind")?.unwrap_or('f'),
                    identity_args: r.get("identity_args")?,
                    definition: r.get("definition")?,
                })
            })?,
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

impl Family for Functions {
    fn read<'a>(client: &'a Client, ctx: &'a Ctx) -> BoxFuture<'a, Result<Self>> {
        Box::pin(read(client, ctx))
    }

    fn add_entries(&self, toc: &mut TocBuilder) {
        for f in &self.functions {
            let signature = format!("{}({})", qualified(&f.schema, &f.name), f.identity_args);
            let (kind, keyword, create) = match f.kind {
                'p' => (
                    "PROCEDURE",
                    "PROCEDURE",
                    format!("{};", f.definition.trim_end()),
                ),
                'a' => (
                    "AGGREGATE",
                    "AGGREGATE",
                    format!(
                        "CREATE AGGREGATE {}({}\n);",
                        qualified(&f.schema, &f.name),
                        f.definition
                    ),
                ),
                _ => (
                    "FUNCTION",
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
