//! Text search parsers, templates, dictionaries and configurations (with their token
//! mappings, added by ALTER TEXT SEARCH CONFIGURATION ... ADD MAPPING).

use std::collections::HashMap;

use archive_format::sql::{qualified, quote_ident};
use archive_format::toc::Section;
use futures::future::BoxFuture;
use tokio_postgres::Client;

use super::{class, not_extension_member, Ctx, Family, ObjId, USER_SCHEMA};
use crate::error::Result;
use crate::rows::{query, Rows};
use crate::toc_builder::{entry, TocBuilder};

/// One object of any of the four kinds: its options are already deparsed.
#[derive(Debug)]
struct TsObject {
    oid: u32,
    schema: String,
    name: String,
    /// Dictionaries and configurations have owners; parsers and templates do not.
    owner: Option<String>,
    /// The `( ... )` option list of CREATE.
    options: String,
}

#[derive(Debug, Default)]
pub struct TextSearch {
    parsers: Vec<TsObject>,
    templates: Vec<TsObject>,
    dictionaries: Vec<TsObject>,
    configurations: Vec<TsObject>,
    /// Configuration oid -> (token type alias, dictionaries in order).
    mappings: HashMap<u32, Vec<(String, Vec<String>)>>,
}

/// `'KEY = ' || f::regproc` when the function is set.
fn func(col: &str, key: &str) -> String {
    format!("CASE WHEN {col} <> 0 THEN '{key} = ' || {col}::pg_catalog.regproc::text END")
}

async fn read(client: &Client, _ctx: &Ctx) -> Result<TextSearch> {
    let select = |catalog: &str,
                  alias: &str,
                  name: &str,
                  nsp: &str,
                  owner: Option<&str>,
                  options: String| {
        format!(
            "SELECT {alias}.oid, n.nspname::text, {alias}.{name}::text AS name, {} AS owner,
                    {options} AS options
               FROM pg_catalog.{catalog} {alias}
               JOIN pg_catalog.pg_namespace n ON n.oid = {alias}.{nsp}
              WHERE {USER_SCHEMA} AND {}
              ORDER BY n.nspname, {alias}.{name}",
            owner
                .map(|o| format!("pg_catalog.pg_get_userbyid({alias}.{o})::text"))
                .unwrap_or_else(|| "NULL::text".to_owned()),
            not_extension_member(&format!("pg_catalog.{catalog}"), &format!("{alias}.oid"))
        )
    };
    let parsers = select(
        "pg_ts_parser",
        "p",
        "prsname",
        "prsnamespace",
        None,
        format!(
            "concat_ws(E',\\n    ', {}, {}, {}, {}, {})",
            func("p.prsstart", "START"),
            func("p.prstoken", "GETTOKEN"),
            func("p.prsend", "END"),
            func("p.prslextype", "LEXTYPES"),
            func("p.prsheadline", "HEADLINE")
        ),
    );
    let templates = select(
        "pg_ts_template",
        "t",
        "tmplname",
        "tmplnamespace",
        None,
        format!(
            "concat_ws(E',\\n    ', {}, {})",
            func("t.tmplinit", "INIT"),
            func("t.tmpllexize", "LEXIZE")
        ),
    );
    // dictinitoption is stored as the option list the user wrote, already in SQL form.
    let dictionaries = select(
        "pg_ts_dict",
        "d",
        "dictname",
        "dictnamespace",
        Some("dictowner"),
        "concat_ws(E',\\n    ', 'TEMPLATE = ' || (SELECT pg_catalog.quote_ident(tn.nspname) || '.' || pg_catalog.quote_ident(t.tmplname)
                    FROM pg_catalog.pg_ts_template t JOIN pg_catalog.pg_namespace tn ON tn.oid = t.tmplnamespace
                   WHERE t.oid = d.dicttemplate), d.dictinitoption)"
            .to_owned(),
    );
    let configurations = select(
        "pg_ts_config",
        "c",
        "cfgname",
        "cfgnamespace",
        Some("cfgowner"),
        "'PARSER = ' || (SELECT pg_catalog.quote_ident(pn.nspname) || '.' || pg_catalog.quote_ident(p.prsname)
                           FROM pg_catalog.pg_ts_parser p JOIN pg_catalog.pg_namespace pn ON pn.oid = p.prsnamespace
                          WHERE p.oid = c.cfgparser)"
            .to_owned(),
    );
    let what = "reading text search objects";
    let to_objects = |rows: Rows| -> Result<Vec<TsObject>> {
        rows.map(|r| {
            Ok(TsObject {
                oid: r.get("oid")?,
                schema: r.get("nspname")?,
                name: r.get("name")?,
                owner: r.get("owner")?,
                options: r.get("options")?,
            })
        })
    };
    let parsers = to_objects(query(client, &parsers, &[], what).await?)?;
    let templates = to_objects(query(client, &templates, &[], what).await?)?;
    let dictionaries = to_objects(query(client, &dictionaries, &[], what).await?)?;
    let configurations = to_objects(query(client, &configurations, &[], what).await?)?;
    let config_oids: Vec<u32> = configurations.iter().map(|c| c.oid).collect();
    // Token types are named by the configuration's parser: ts_token_type() gives the
    // aliases, one set-returning call per parser inside the same query.
    let rows = query(
        client,
            "SELECT m.mapcfg, t.alias,
                    pg_catalog.array_agg(m.mapdict::pg_catalog.regdictionary::text ORDER BY m.mapseqno)
                      AS dictionaries
               FROM pg_catalog.pg_ts_config_map m
               JOIN pg_catalog.pg_ts_config c ON c.oid = m.mapcfg
              CROSS JOIN LATERAL pg_catalog.ts_token_type(c.cfgparser) AS t
              WHERE t.tokid = m.maptokentype AND m.mapcfg = ANY($1)
              GROUP BY m.mapcfg, m.maptokentype, t.alias
              ORDER BY m.mapcfg, m.maptokentype",
            &[&config_oids],
        what,
    )
    .await?;
    let mut mappings: HashMap<u32, Vec<(String, Vec<String>)>> = HashMap::new();
    for r in rows.iter() {
        mappings
            .entry(r.get("mapcfg")?)
            .or_default()
            .push((r.get("alias")?, r.get("dictionaries")?));
    }
    Ok(TextSearch {
        parsers,
        templates,
        dictionaries,
        configurations,
        mappings,
    })
}

impl Family for TextSearch {
    fn read<'a>(client: &'a Client, ctx: &'a Ctx) -> BoxFuture<'a, Result<Self>> {
        Box::pin(read(client, ctx))
    }

    fn add_entries(&self, toc: &mut TocBuilder) {
        let kinds: [(&[TsObject], &'static str, u32); 4] = [
            (&self.parsers, "TEXT SEARCH PARSER", class::PG_TS_PARSER),
            (
                &self.templates,
                "TEXT SEARCH TEMPLATE",
                class::PG_TS_TEMPLATE,
            ),
            (
                &self.dictionaries,
                "TEXT SEARCH DICTIONARY",
                class::PG_TS_DICT,
            ),
            (
                &self.configurations,
                "TEXT SEARCH CONFIGURATION",
                class::PG_TS_CONFIG,
            ),
        ];
        for (objects, keyword, catalog) in kinds {
            for o in objects {
                let name = qualified(&o.schema, &o.name);
                let mut create = format!("CREATE {keyword} {name} (\n    {}\n);", o.options);
                if let Some(maps) = self.mappings.get(&o.oid) {
                    for (token, dicts) in maps {
                        create.push_str(&format!(
                            "\nALTER {keyword} {name} ADD MAPPING FOR {} WITH {};",
                            quote_ident(token),
                            dicts.join(", ")
                        ));
                    }
                }
                let e = entry(
                    keyword,
                    Section::PreData,
                    Some(&o.schema),
                    &o.name,
                    o.owner.as_deref(),
                    create,
                    format!("DROP {keyword} {name};"),
                );
                toc.add_object(e, ObjId::new(catalog, o.oid), keyword, name);
            }
        }
    }
}
