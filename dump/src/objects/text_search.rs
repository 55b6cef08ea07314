//! Text search parsers, templates, dictionaries and configurations (with their token
//! mappings, added by ALTER TEXT SEARCH CONFIGURATION ... ADD MAPPING).

use std::collections::HashMap;

use archive_format::toc::{EntryKind, Section};
use futures::future::BoxFuture;
use logical_shared::sql::{qualified, quote_ident};
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

/// The options of one kind of object: CREATE's key for each, and the SQL expression
/// giving its value (NULL when unset). An empty key: the value is written out already.
type OptionExprs = Vec<(&'static str, String)>;

/// A function option: the function as `regproc` text, NULL when unset.
fn func(key: &'static str, col: &str) -> (&'static str, String) {
    (
        key,
        format!("CASE WHEN {col} <> 0 THEN {col}::pg_catalog.regproc::text END"),
    )
}

/// The `( ... )` option list of CREATE: `KEY = value` for each option set, one a line.
fn option_list(options: &OptionExprs, values: &[Option<String>]) -> String {
    options
        .iter()
        .zip(values)
        .filter_map(|((key, _), value)| {
            let value = value.as_ref()?;
            Some(if key.is_empty() {
                value.clone()
            } else {
                format!("{key} = {value}")
            })
        })
        .collect::<Vec<_>>()
        .join(",\n    ")
}

async fn read(client: &Client, _ctx: &Ctx) -> Result<TextSearch> {
    let select = |catalog: &str,
                  alias: &str,
                  name: &str,
                  nsp: &str,
                  owner: Option<&str>,
                  options: &OptionExprs| {
        let values: Vec<&str> = options.iter().map(|(_, expr)| expr.as_str()).collect();
        format!(
            "SELECT {alias}.oid, n.nspname::text, {alias}.{name}::text AS name, {} AS owner,
                    ARRAY[{}]::text[] AS option_values
               FROM pg_catalog.{catalog} {alias}
               JOIN pg_catalog.pg_namespace n ON n.oid = {alias}.{nsp}
              WHERE {USER_SCHEMA} AND {}
              ORDER BY n.nspname, {alias}.{name}",
            owner
                .map(|o| format!("pg_catalog.pg_get_userbyid({alias}.{o})::text"))
                .unwrap_or_else(|| "NULL::text".to_owned()),
            values.join(", "),
            not_extension_member(&format!("pg_catalog.{catalog}"), &format!("{alias}.oid"))
        )
    };
    let parser_options: OptionExprs = vec![
        func("START", "p.prsstart"),
        func("GETTOKEN", "p.prstoken"),
        func("END", "p.prsend"),
        func("LEXTYPES", "p.prslextype"),
        func("HEADLINE", "p.prsheadline"),
    ];
    let template_options: OptionExprs =
        vec![func("INIT", "t.tmplinit"), func("LEXIZE", "t.tmpllexize")];
    // dictinitoption is stored as the option list the user wrote, already in SQL form.
    let dictionary_options: OptionExprs = vec![
        (
            "TEMPLATE",
            "(SELECT pg_catalog.quote_ident(tn.nspname) || '.' || pg_catalog.quote_ident(t.tmplname)
                FROM pg_catalog.pg_ts_template t JOIN pg_catalog.pg_namespace tn ON tn.oid = t.tmplnamespace
               WHERE t.oid = d.dicttemplate)"
                .to_owned(),
        ),
        ("", "d.dictinitoption".to_owned()),
    ];
    let configuration_options: OptionExprs = vec![(
        "PARSER",
        "(SELECT pg_catalog.quote_ident(pn.nspname) || '.' || pg_catalog.quote_ident(p.prsname)
            FROM pg_catalog.pg_ts_parser p JOIN pg_catalog.pg_namespace pn ON pn.oid = p.prsnamespace
           WHERE p.oid = c.cfgparser)"
            .to_owned(),
    )];
    let parsers = select(
        "pg_ts_parser",
        "p",
        "prsname",
        "prsnamespace",
        None,
        &parser_options,
    );
    let templates = select(
        "pg_ts_template",
        "t",
        "tmplname",
        "tmplnamespace",
        None,
        &template_options,
    );
    let dictionaries = select(
        "pg_ts_dict",
        "d",
        "dictname",
        "dictnamespace",
        Some("dictowner"),
        &dictionary_options,
    );
    let configurations = select(
        "pg_ts_config",
        "c",
        "cfgname",
        "cfgnamespace",
        Some("cfgowner"),
        &configuration_options,
    );
    let what = "reading text search objects";
    let to_objects = |rows: Rows, options: &OptionExprs| -> Result<Vec<TsObject>> {
        rows.map(|r| {
            let values: Vec<Option<String>> = r.get("option_values")?;
            Ok(TsObject {
                oid: r.get("oid")?,
                schema: r.get("nspname")?,
                name: r.get("name")?,
                owner: r.get("owner")?,
                options: option_list(options, &values),
            })
        })
    };
    let parsers = to_objects(query(client, &parsers, &[], what).await?, &parser_options)?;
    let templates = to_objects(
        query(client, &templates, &[], what).await?,
        &template_options,
    )?;
    let dictionaries = to_objects(
        query(client, &dictionaries, &[], what).await?,
        &dictionary_options,
    )?;
    let configurations = to_objects(
        query(client, &configurations, &[], what).await?,
        &configuration_options,
    )?;
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
        let kinds: [(&[TsObject], EntryKind, &'static str, u32); 4] = [
            (
                &self.parsers,
                EntryKind::TextSearchParser,
                "TEXT SEARCH PARSER",
                class::PG_TS_PARSER,
            ),
            (
                &self.templates,
                EntryKind::TextSearchTemplate,
                "TEXT SEARCH TEMPLATE",
                class::PG_TS_TEMPLATE,
            ),
            (
                &self.dictionaries,
                EntryKind::TextSearchDictionary,
                "TEXT SEARCH DICTIONARY",
                class::PG_TS_DICT,
            ),
            (
                &self.configurations,
                EntryKind::TextSearchConfiguration,
                "TEXT SEARCH CONFIGURATION",
                class::PG_TS_CONFIG,
            ),
        ];
        for (objects, kind, keyword, catalog) in kinds {
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
                    kind.clone(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_list_leaves_unset_options_out() {
        let options: OptionExprs = vec![
            func("START", "p.prsstart"),
            func("HEADLINE", "p.prsheadline"),
            ("", "d.dictinitoption".to_owned()),
            ("PARSER", "x".to_owned()),
        ];
        let values = [
            Some("s.start".to_owned()),
            None,
            Some("stopwords = 'english'".to_owned()),
            Some("s.p".to_owned()),
        ];
        assert_eq!(
            option_list(&options, &values),
            "START = s.start,\n    stopwords = 'english',\n    PARSER = s.p"
        );
        assert_eq!(option_list(&options, &[None, None, None, None]), "");
    }
}
