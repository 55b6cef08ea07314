//! Functions, procedures and aggregates.

use archive_format::toc::{EntryKind, Section};
use futures::future::BoxFuture;
use logical_shared::sql::{qualified, quote_literal};
use tokio_postgres::Client;

use super::{not_extension_member, Ctx, Family, ObjId, USER_SCHEMA};
use crate::error::Result;
use crate::rows::{query, NamedRow};
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

/// An aggregate's pg_aggregate row, as CREATE AGGREGATE's options need it: functions as
/// `regproc` text, types as `format_type()`, `None` where the catalog has none.
#[derive(Debug, Default)]
struct Aggregate {
    /// 'n' normal, 'o' ordered-set, 'h' hypothetical-set
    kind: char,
    sfunc: String,
    stype: String,
    sspace: i32,
    finalfunc: Option<String>,
    finalextra: bool,
    /// 'r' read-only, 's' shareable, 'w' read-write
    finalmodify: char,
    combinefunc: Option<String>,
    serialfunc: Option<String>,
    deserialfunc: Option<String>,
    initcond: Option<String>,
    msfunc: Option<String>,
    minvfunc: Option<String>,
    mstype: Option<String>,
    msspace: i32,
    mfinalfunc: Option<String>,
    mfinalextra: bool,
    mfinalmodify: char,
    minitcond: Option<String>,
    /// `regoperator` text.
    sortop: Option<String>,
    /// pg_proc.proparallel: 's' safe, 'r' restricted, 'u' unsafe
    parallel: char,
}

impl Aggregate {
    fn from_row(r: &NamedRow<'_>) -> Result<Aggregate> {
        Ok(Aggregate {
            kind: r.char("aggkind")?.unwrap_or('n'),
            sfunc: r.get("sfunc")?,
            stype: r.get("stype")?,
            sspace: r.get("aggtransspace")?,
            finalfunc: r.get("finalfunc")?,
            finalextra: r.get("aggfinalextra")?,
            finalmodify: r.char("aggfinalmodify")?.unwrap_or('r'),
            combinefunc: r.get("combinefunc")?,
            serialfunc: r.get("serialfunc")?,
            deserialfunc: r.get("deserialfunc")?,
            initcond: r.get("agginitval")?,
            msfunc: r.get("msfunc")?,
            minvfunc: r.get("minvfunc")?,
            mstype: r.get("mstype")?,
            msspace: r.get("aggmtransspace")?,
            mfinalfunc: r.get("mfinalfunc")?,
            mfinalextra: r.get("aggmfinalextra")?,
            mfinalmodify: r.char("aggmfinalmodify")?.unwrap_or('r'),
            minitcond: r.get("aggminitval")?,
            sortop: r.get("sortop")?,
            parallel: r.char("proparallel")?.unwrap_or('u'),
        })
    }

    /// The option list of CREATE AGGREGATE's `( ... )`, one option a line; the defaults
    /// are left out.
    fn options(&self) -> String {
        fn modify(key: &str, m: char) -> String {
            let how = match m {
                's' => "SHAREABLE",
                'w' => "READ_WRITE",
                _ => "READ_ONLY",
            };
            format!("{key} = {how}")
        }
        let func = |key: &str, f: &Option<String>| f.as_ref().map(|f| format!("{key} = {f}"));
        // READ_ONLY is the default of normal aggregates, READ_WRITE of the others.
        let default_modify = if self.kind == 'n' { 'r' } else { 'w' };
        let options = [
            Some(format!("SFUNC = {}", self.sfunc)),
            Some(format!("STYPE = {}", self.stype)),
            (self.sspace != 0).then(|| format!("SSPACE = {}", self.sspace)),
            func("FINALFUNC", &self.finalfunc),
            self.finalextra.then(|| "FINALFUNC_EXTRA".to_owned()),
            (self.finalmodify != default_modify)
                .then(|| modify("FINALFUNC_MODIFY", self.finalmodify)),
            func("COMBINEFUNC", &self.combinefunc),
            func("SERIALFUNC", &self.serialfunc),
            func("DESERIALFUNC", &self.deserialfunc),
            self.initcond
                .as_ref()
                .map(|v| format!("INITCOND = {}", quote_literal(v))),
            func("MSFUNC", &self.msfunc),
            func("MINVFUNC", &self.minvfunc),
            func("MSTYPE", &self.mstype),
            (self.msspace != 0).then(|| format!("MSSPACE = {}", self.msspace)),
            func("MFINALFUNC", &self.mfinalfunc),
            self.mfinalextra.then(|| "MFINALFUNC_EXTRA".to_owned()),
            (self.mstype.is_some() && self.mfinalmodify != default_modify)
                .then(|| modify("MFINALFUNC_MODIFY", self.mfinalmodify)),
            self.minitcond
                .as_ref()
                .map(|v| format!("MINITCOND = {}", quote_literal(v))),
            func("SORTOP", &self.sortop),
            match self.parallel {
                's' => Some("PARALLEL = SAFE".to_owned()),
                'r' => Some("PARALLEL = RESTRICTED".to_owned()),
                _ => None,
            },
            (self.kind == 'h').then(|| "HYPOTHETICAL".to_owned()),
        ];
        options
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(",\n    ")
    }
}

#[derive(Debug, Default)]
pub struct Functions {
    functions: Vec<Function>,
}

async fn read(client: &Client, ctx: &Ctx) -> Result<Functions> {
    // Aggregates have no pg_get_functiondef; their CREATE AGGREGATE is put together
    // from pg_aggregate.
    let _ = ctx;
    let sql = format!(
        "SELECT p.oid, n.nspname::text, p.proname::text,
                pg_catalog.pg_get_userbyid(p.proowner)::text AS owner, p.prokind::text,
                -- An aggregate of no arguments is written agg(*) everywhere: agg() is not SQL.
                CASE WHEN p.prokind = 'a' AND p.pronargs = 0 THEN '*'
                     ELSE pg_catalog.pg_get_function_identity_arguments(p.oid) END AS identity_args,
                -- Aggregates have no pg_get_functiondef.
                CASE WHEN p.prokind <> 'a' THEN pg_catalog.pg_get_functiondef(p.oid) END AS definition,
                pg_catalog.pg_get_function_arguments(p.oid) AS arguments, p.pronargs, p.proparallel::text,
                {AGGREGATE_COLUMNS}
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
                let kind = r.char("prokind")?.unwrap_or('f');
                let definition = if kind == 'a' {
                    // An aggregate of no arguments is written agg(*): agg() is not SQL.
                    let arguments: String = r.get("arguments")?;
                    let arguments = if r.get::<i16>("pronargs")? == 0 {
                        "*".to_owned()
                    } else {
                        arguments
                    };
                    format!("{arguments})\n({}", Aggregate::from_row(&r)?.options())
                } else {
                    r.get("definition")?
                };
                Ok(Function {
                    oid: r.get("oid")?,
                    schema: r.get("nspname")?,
                    name: r.get("proname")?,
                    owner: r.get("owner")?,
                    kind,
                    identity_args: r.get("identity_args")?,
                    definition,
                })
            })?,
    })
}

/// pg_aggregate's columns as [`Aggregate::from_row`] reads them (NULL for functions).
const AGGREGATE_COLUMNS: &str = "a.aggkind::text, a.aggtransfn::pg_catalog.regproc::text AS sfunc,
    pg_catalog.format_type(a.aggtranstype, NULL) AS stype, a.aggtransspace,
    CASE WHEN a.aggfinalfn <> 0 THEN a.aggfinalfn::pg_catalog.regproc::text END AS finalfunc,
    a.aggfinalextra, a.aggfinalmodify::text,
    CASE WHEN a.aggcombinefn <> 0 THEN a.aggcombinefn::pg_catalog.regproc::text END AS combinefunc,
    CASE WHEN a.aggserialfn <> 0 THEN a.aggserialfn::pg_catalog.regproc::text END AS serialfunc,
    CASE WHEN a.aggdeserialfn <> 0 THEN a.aggdeserialfn::pg_catalog.regproc::text END AS deserialfunc,
    a.agginitval,
    CASE WHEN a.aggmtransfn <> 0 THEN a.aggmtransfn::pg_catalog.regproc::text END AS msfunc,
    CASE WHEN a.aggminvtransfn <> 0 THEN a.aggminvtransfn::pg_catalog.regproc::text END AS minvfunc,
    CASE WHEN a.aggmtranstype <> 0 THEN pg_catalog.format_type(a.aggmtranstype, NULL) END AS mstype,
    a.aggmtransspace,
    CASE WHEN a.aggmfinalfn <> 0 THEN a.aggmfinalfn::pg_catalog.regproc::text END AS mfinalfunc,
    a.aggmfinalextra, a.aggmfinalmodify::text, a.aggminitval,
    CASE WHEN a.aggsortop <> 0 THEN a.aggsortop::pg_catalog.regoperator::text END AS sortop";

impl Family for Functions {
    fn read<'a>(client: &'a Client, ctx: &'a Ctx) -> BoxFuture<'a, Result<Self>> {
        Box::pin(read(client, ctx))
    }

    fn add_entries(&self, toc: &mut TocBuilder) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregate_options_leave_defaults_out() {
        let a = Aggregate {
            kind: 'n',
            sfunc: "pg_catalog.int4pl".into(),
            stype: "integer".into(),
            finalmodify: 'r',
            mfinalmodify: 'r',
            parallel: 'u',
            ..Aggregate::default()
        };
        assert_eq!(
            a.options(),
            "SFUNC = pg_catalog.int4pl,\n    STYPE = integer"
        );
    }

    #[test]
    fn aggregate_options_in_create_aggregate_order() {
        let a = Aggregate {
            kind: 'h',
            sfunc: "s.f".into(),
            stype: "internal".into(),
            sspace: 16,
            finalfunc: Some("s.fin".into()),
            finalextra: true,
            finalmodify: 's',
            combinefunc: Some("s.comb".into()),
            serialfunc: Some("s.ser".into()),
            deserialfunc: Some("s.deser".into()),
            initcond: Some("it's \\0".into()),
            msfunc: Some("s.mf".into()),
            minvfunc: Some("s.mi".into()),
            mstype: Some("bigint".into()),
            msspace: 8,
            mfinalfunc: Some("s.mfin".into()),
            mfinalextra: true,
            mfinalmodify: 'r',
            minitcond: Some("0".into()),
            sortop: Some("pg_catalog.<(integer,integer)".into()),
            parallel: 's',
        };
        assert_eq!(
            a.options().split(",\n    ").collect::<Vec<_>>(),
            [
                "SFUNC = s.f",
                "STYPE = internal",
                "SSPACE = 16",
                "FINALFUNC = s.fin",
                "FINALFUNC_EXTRA",
                "FINALFUNC_MODIFY = SHAREABLE",
                "COMBINEFUNC = s.comb",
                "SERIALFUNC = s.ser",
                "DESERIALFUNC = s.deser",
                "INITCOND = E'it''s \\\\0'",
                "MSFUNC = s.mf",
                "MINVFUNC = s.mi",
                "MSTYPE = bigint",
                "MSSPACE = 8",
                "MFINALFUNC = s.mfin",
                "MFINALFUNC_EXTRA",
                // READ_ONLY is not the default of a hypothetical-set aggregate.
                "MFINALFUNC_MODIFY = READ_ONLY",
                "MINITCOND = '0'",
                "SORTOP = pg_catalog.<(integer,integer)",
                "PARALLEL = SAFE",
                "HYPOTHETICAL",
            ]
        );
    }
}
