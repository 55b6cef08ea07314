//! What to dump: pg_dump's selection switches (`-n -N -t -T -e --exclude-table-data
//! -s -a --section -x --no-comments ...`) resolved against the database, and the pass
//! that removes what they leave out from the finished table of contents.
//!
//! The rules are pg_dump's: `-n`/`-t`/`-e` turn off "include everything", so objects that
//! live outside any schema (extensions, languages, casts, publications, ...) are left
//! out; with `-t` only the matching relations are dumped, not even their schemas;
//! whatever hangs off an object (comments, privileges, indexes, triggers, ...) follows it.

use std::collections::{HashMap, HashSet};

use archive_format::toc::{Entry, EntryKind, Section};
use logical_shared::data_order::data_order;
use tokio_postgres::Client;

use crate::error::{Error, QueryContext, Result};
use crate::pattern::{literal, NamePattern};

/// The switches as given on the command line.
#[derive(Clone, Debug, Default)]
pub struct SelectOptions {
    pub schemas: Vec<String>,
    pub exclude_schemas: Vec<String>,
    pub tables: Vec<String>,
    pub exclude_tables: Vec<String>,
    pub exclude_table_data: Vec<String>,
    pub extensions: Vec<String>,
    /// A pattern of `-n`, `-t` or `-e` that matches nothing is an error.
    pub strict_names: bool,
    /// `--table-and-children`: `-t` with every inheritance child and partition.
    pub tables_and_children: Vec<String>,
    pub exclude_tables_and_children: Vec<String>,
    pub exclude_table_data_and_children: Vec<String>,
    pub exclude_extensions: Vec<String>,
    /// Sections to dump (`--section`); empty means all.
    pub sections: Vec<Section>,
    /// No object definitions (`-a`, `--no-schema`, `--statistics-only`).
    pub no_schema: bool,
    /// No rows, large objects or refreshes (`-s`, `--no-data`, `--statistics-only`).
    pub no_data: bool,
    /// Planner statistics (`--statistics`, `--statistics-only`); off by default, as in
    /// pg_dump 18.
    pub statistics: bool,
    /// Sequence values even when data is not dumped (`--sequence-data`).
    pub sequence_data: bool,
    /// `--no-unlogged-table-data`
    pub no_unlogged_table_data: bool,
    pub no_policies: bool,
    pub no_acl: bool,
    pub no_comments: bool,
    pub no_security_labels: bool,
    pub no_publications: bool,
    pub no_subscriptions: bool,
    pub no_tablespaces: bool,
}

impl SelectOptions {
    /// Options as the archive header records them (only those that were given).
    pub fn describe(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        let mut list = |k: &str, v: &[String]| {
            if !v.is_empty() {
                m.insert(k.into(), serde_json::json!(v));
            }
        };
        list("schemas", &self.schemas);
        list("exclude_schemas", &self.exclude_schemas);
        list("tables", &self.tables);
        list("exclude_tables", &self.exclude_tables);
        list("exclude_table_data", &self.exclude_table_data);
        list("extensions", &self.extensions);
        list("tables_and_children", &self.tables_and_children);
        list(
            "exclude_tables_and_children",
            &self.exclude_tables_and_children,
        );
        list(
            "exclude_table_data_and_children",
            &self.exclude_table_data_and_children,
        );
        list("exclude_extensions", &self.exclude_extensions);
        if !self.sections.is_empty() {
            let s: Vec<&str> = self.sections.iter().map(|s| s.as_str()).collect();
            m.insert("sections".into(), serde_json::json!(s));
        }
        for (k, v) in [
            ("no_schema", self.no_schema),
            ("no_data", self.no_data),
            ("statistics", self.statistics),
            ("sequence_data", self.sequence_data),
            ("no_unlogged_table_data", self.no_unlogged_table_data),
            ("no_policies", self.no_policies),
            ("no_acl", self.no_acl),
            ("no_comments", self.no_comments),
            ("no_security_labels", self.no_security_labels),
            ("no_publications", self.no_publications),
            ("no_subscriptions", self.no_subscriptions),
            ("no_tablespaces", self.no_tablespaces),
        ] {
            if v {
                m.insert(k.into(), serde_json::json!(true));
            }
        }
        serde_json::Value::Object(m)
    }
}

type QualifiedName = (String, String);

/// The switches resolved against the database's catalog.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    opts: SelectOptions,
    include_schemas: Option<HashSet<String>>,
    exclude_schemas: HashSet<String>,
    include_tables: Option<HashSet<QualifiedName>>,
    exclude_tables: HashSet<QualifiedName>,
    exclude_data: HashSet<QualifiedName>,
    include_extensions: Option<HashSet<u32>>,
    exclude_extensions: HashSet<u32>,
    extension_names: HashMap<String, u32>,
}

/// Relation kinds `-t` matches, as pg_dump: tables, sequences, views, materialized
/// views, foreign and partitioned tables.
const TABLE_RELKINDS: &str = "'r', 'S', 'v', 'm', 'f', 'p'";

/// Kinds whose entry annotates the object of its first dependency.
fn is_attached(kind: &EntryKind) -> bool {
    kind.annotates() || *kind == EntryKind::SequenceSet
}

/// Kinds that join two objects and go when either does.
fn is_link(kind: &EntryKind) -> bool {
    use EntryKind::*;
    matches!(
        kind,
        PublicationTable
            | PublicationTablesInSchema
            | TableAttach
            | IndexAttach
            | SequenceOwnedBy
            | UserMapping
    )
}

impl Selection {
    /// Everything, as a dump without switches.
    pub fn all() -> Selection {
        Selection::default()
    }

    /// Expands the patterns with one catalog query each, as pg_dump does. Runs on the
    /// leader inside the snapshot; unqualified table patterns match the relations
    /// visible on the session's default `search_path`, so it is reset for the lookup.
    pub async fn resolve(client: &Client, opts: &SelectOptions, database: &str) -> Result<Self> {
        let mut sel = Selection {
            opts: opts.clone(),
            ..Default::default()
        };
        let strict = opts.strict_names;
        if !opts.schemas.is_empty() {
            let found = schemas(client, &opts.schemas, strict, database).await?;
            if found.is_empty() {
                return Err(Error::Usage("no matching schemas were found".into()));
            }
            sel.include_schemas = Some(found);
        }
        sel.exclude_schemas = schemas(client, &opts.exclude_schemas, false, database).await?;
        let any_tables = !(opts.tables.is_empty()
            && opts.exclude_tables.is_empty()
            && opts.exclude_table_data.is_empty()
            && opts.tables_and_children.is_empty()
            && opts.exclude_tables_and_children.is_empty()
            && opts.exclude_table_data_and_children.is_empty());
        if any_tables {
            client
                .batch_execute("RESET search_path")
                .await
                .during(|| "resetting search_path to match table patterns".into())?;
            let found = async {
                let mut inc = relations(client, &opts.tables, strict, database).await?;
                let mut exc = relations(client, &opts.exclude_tables, false, database).await?;
                let mut data = relations(client, &opts.exclude_table_data, false, database).await?;
                let with_children = |patterns: &[String], strict: bool| {
                    let patterns = patterns.to_vec();
                    async move {
                        let roots = relations(client, &patterns, strict, database).await?;
                        descendants(client, roots).await
                    }
                };
                inc.extend(with_children(&opts.tables_and_children, strict).await?);
                exc.extend(with_children(&opts.exclude_tables_and_children, false).await?);
                data.extend(with_children(&opts.exclude_table_data_and_children, false).await?);
                Result::<_>::Ok((inc, exc, data))
            }
            .await;
            client
                .batch_execute("SELECT pg_catalog.set_config('search_path', '', false)")
                .await
                .during(|| "emptying search_path again".into())?;
            let (inc, exc, data) = found?;
            if !(opts.tables.is_empty() && opts.tables_and_children.is_empty()) {
                if inc.is_empty() {
                    return Err(Error::Usage("no matching tables were found".into()));
                }
                sel.include_tables = Some(inc);
            }
            sel.exclude_tables = exc;
            sel.exclude_data = data;
        }
        sel.extension_names = crate::rows::query(
            client,
            "SELECT oid, extname::text AS name FROM pg_catalog.pg_extension",
            &[],
            "reading the list of extensions",
        )
        .await?
        .map(|r| Ok((r.get("name")?, r.get("oid")?)))?
        .into_iter()
        .collect();
        if !opts.extensions.is_empty() {
            let found = extensions(client, &opts.extensions, strict).await?;
            if found.is_empty() {
                return Err(Error::Usage("no matching extensions were found".into()));
            }
            sel.include_extensions = Some(found);
        }
        sel.exclude_extensions = extensions(client, &opts.exclude_extensions, false).await?;
        Ok(sel)
    }

    /// The switches that need no catalog lookup (sections, `--no-data`...), for tests:
    /// no pattern is resolved.
    #[cfg(test)]
    pub(crate) fn without_patterns(opts: SelectOptions) -> Selection {
        Selection {
            opts,
            ..Default::default()
        }
    }

    /// `--exclude-table-data` of one table, as if resolved, for tests.
    #[cfg(test)]
    pub(crate) fn exclude_data_of(mut self, schema: &str, name: &str) -> Selection {
        self.exclude_data
            .insert((schema.to_owned(), name.to_owned()));
        self
    }

    /// pg_dump's "include everything": none of `-n`, `-t`, `-e` was given.
    pub fn include_everything(&self) -> bool {
        self.include_schemas.is_none()
            && self.include_tables.is_none()
            && self.include_extensions.is_none()
    }

    fn schema_excluded(&self, schema: &str) -> bool {
        self.exclude_schemas.contains(schema)
    }

    /// Whether the schema's own entry (CREATE SCHEMA, its comment, privileges) is dumped.
    pub fn schema_itself(&self, schema: &str) -> bool {
        self.include_tables.is_none() && self.schema_contents(schema)
    }

    /// Whether objects living in the schema are dumped (tables aside, see `relation`).
    pub fn schema_contents(&self, schema: &str) -> bool {
        if self.include_tables.is_some() || self.schema_excluded(schema) {
            return false;
        }
        self.include_schemas
            .as_ref()
            .is_none_or(|s| s.contains(schema))
    }

    /// Whether a table, view, sequence... is dumped.
    pub fn relation(&self, schema: &str, name: &str) -> bool {
        let key = (schema.to_owned(), name.to_owned());
        let included = match &self.include_tables {
            Some(t) => t.contains(&key),
            None => self.schema_contents(schema),
        };
        included && !self.exclude_tables.contains(&key)
    }

    /// Whether rows, large objects and sequence values are dumped at all.
    pub fn data(&self) -> bool {
        self.section(Section::Data) && !self.opts.no_data
    }

    /// Whether the rows of a dumped table are.
    pub fn table_data(&self, schema: &str, name: &str) -> bool {
        self.data()
            && !self
                .exclude_data
                .contains(&(schema.to_owned(), name.to_owned()))
    }

    /// Whether an extension's configuration table's rows are dumped: with the
    /// extension, or when the table or its schema is asked for by name.
    pub fn extension_config(&self, extension: u32, schema: &str, name: &str) -> bool {
        let key = (schema.to_owned(), name.to_owned());
        let wanted = self.extension(extension)
            || self
                .include_tables
                .as_ref()
                .is_some_and(|t| t.contains(&key))
            || self
                .include_schemas
                .as_ref()
                .is_some_and(|s| s.contains(schema));
        wanted
            && !self.exclude_tables.contains(&key)
            && !self.schema_excluded(schema)
            && self.table_data(schema, name)
    }

    pub fn extension(&self, oid: u32) -> bool {
        let included = match &self.include_extensions {
            Some(x) => x.contains(&oid),
            None => self.include_everything(),
        };
        included && !self.exclude_extensions.contains(&oid)
    }

    /// Large objects: with everything and with data, never with `-s` (pg_dump 15).
    pub fn large_objects(&self) -> bool {
        self.include_everything() && self.data()
    }

    /// Whether the kind of content `e` is (definition, data, statistics) is dumped.
    fn content(&self, e: &Entry) -> bool {
        let o = &self.opts;
        match e.kind {
            EntryKind::StatisticsData => o.statistics,
            EntryKind::SequenceSet => !o.no_data || o.sequence_data,
            _ if e.section == Section::Data => !o.no_data,
            _ => !o.no_schema,
        }
    }

    pub fn section(&self, s: Section) -> bool {
        self.opts.sections.is_empty() || self.opts.sections.contains(&s)
    }

    pub fn no_tablespaces(&self) -> bool {
        self.opts.no_tablespaces
    }

    /// Whether an entry is wanted for itself, sections aside (what it hangs off is
    /// `prune`'s business).
    fn direct(&self, e: &Entry) -> bool {
        use EntryKind::*;
        let kind = &e.kind;
        let o = &self.opts;
        let switched_off = (o.no_acl && matches!(kind, Acl | DefaultAcl))
            || (o.no_comments && *kind == Comment)
            || (o.no_security_labels && *kind == SecurityLabel)
            || (o.no_publications
                && matches!(
                    kind,
                    Publication | PublicationTable | PublicationTablesInSchema
                ))
            || (o.no_subscriptions && *kind == Subscription)
            || (o.no_policies && matches!(kind, Policy | RowSecurity));
        // pg_dump -s makes no data objects at all, a refresh among them.
        if switched_off || (o.no_data && *kind == MaterializedViewData) {
            return false;
        }
        if is_attached(kind) || is_link(kind) || e.table.is_some() {
            return match (kind, e.schema.as_deref()) {
                // Privileges of PostgreSQL's own objects hang off nothing: a whole dump's.
                (Acl, _) if e.deps.is_empty() => self.include_everything(),
                (PublicationTablesInSchema, Some(s)) => self.schema_contents(s),
                _ => true,
            };
        }
        let schema = e.schema.as_deref();
        match kind {
            Database | DatabaseProperties => true,
            // Chosen before their entries were made (their data is queued early).
            Table | ForeignTable | Sequence => true,
            // The relations `-t` selects.
            View | MaterializedView => self.relation(schema.unwrap_or(""), &e.name),
            Schema => self.schema_itself(&e.name),
            Extension => self
                .extension_names
                .get(&e.name)
                .is_some_and(|oid| self.extension(*oid)),
            BlobMetadata | Blobs => self.large_objects(),
            TableData => true,
            _ => match schema {
                Some(s) => self.schema_contents(s),
                None => self.include_everything(),
            },
        }
    }

    /// Removes the entries the selection leaves out, and everything that hangs off
    /// them. Dependencies on removed entries are replaced by what those depended on,
    /// so the order between the remaining entries is kept and every id still exists.
    pub fn prune(&self, entries: Vec<Entry>) -> Vec<Entry> {
        let index: HashMap<u32, usize> =
            entries.iter().enumerate().map(|(i, e)| (e.id, i)).collect();
        let mut keep: Vec<Option<bool>> = vec![None; entries.len()];
        for i in 0..entries.len() {
            self.decide(i, &entries, &index, &mut keep, 0);
        }
        // Sections cut last: data whose table is outside the section (`-a`) still goes.
        let keep: Vec<bool> = keep
            .into_iter()
            .zip(&entries)
            .map(|(k, e)| k.unwrap_or(false) && self.section(e.section) && self.content(e))
            .collect();
        let kept_id = |id: u32| index.get(&id).is_some_and(|&i| keep[i]);
        // Data only (`-a`): the keys stay behind, so the order they impose on the rows is
        // written into the data entries' dependencies, for the restore to follow.
        let data_order = data_order(&entries, &keep);
        for tables in &data_order.circular {
            tracing::warn!(
                "there are circular foreign-key constraints among these tables: {}; restoring their data may need --disable-triggers",
                tables.join(", ")
            );
        }
        let mut through: HashMap<u32, Vec<u32>> = HashMap::new();
        let mut out = Vec::with_capacity(entries.len());
        for (i, e) in entries.iter().enumerate() {
            if !keep[i] {
                continue;
            }
            let mut e = e.clone();
            let mut deps = Vec::new();
            for &d in &e.deps {
                if kept_id(d) {
                    deps.push(d);
                } else {
                    deps.extend(reachable(d, &entries, &index, &keep, &mut through));
                }
            }
            deps.extend(data_order.after.get(&e.id).into_iter().flatten());
            deps.sort_unstable();
            deps.dedup();
            e.deps = deps;
            if e.table.is_some_and(|t| !kept_id(t)) {
                e.table = None;
            }
            out.push(e);
        }
        out
    }

    fn decide(
        &self,
        i: usize,
        entries: &[Entry],
        index: &HashMap<u32, usize>,
        keep: &mut Vec<Option<bool>>,
        depth: usize,
    ) -> bool {
        if let Some(k) = keep[i] {
            return k;
        }
        let e = &entries[i];
        let mut k = self.direct(e);
        // Chains are short (comment -> column -> table); the bound guards odd archives.
        if k && depth < 16 {
            let mut parents: Vec<u32> = Vec::new();
            if is_link(&e.kind) {
                parents.extend(e.deps.iter().copied());
            } else if let Some(t) = e.table {
                parents.push(t);
            } else if is_attached(&e.kind) {
                parents.extend(e.deps.first().copied());
            }
            for p in parents {
                if let Some(&pi) = index.get(&p) {
                    if !self.decide(pi, entries, index, keep, depth + 1) {
                        k = false;
                    }
                }
            }
        }
        keep[i] = Some(k);
        k
    }
}

/// The kept entries that removed entry `id` depends on, directly or through other
/// removed entries.
fn reachable(
    id: u32,
    entries: &[Entry],
    index: &HashMap<u32, usize>,
    keep: &[bool],
    memo: &mut HashMap<u32, Vec<u32>>,
) -> Vec<u32> {
    if let Some(v) = memo.get(&id) {
        return v.clone();
    }
    // Mark before descending: a cycle among removed entries ends here.
    memo.insert(id, Vec::new());
    let mut out = Vec::new();
    if let Some(&i) = index.get(&id) {
        for &d in &entries[i].deps {
            match index.get(&d) {
                Some(&j) if keep[j] => out.push(d),
                Some(_) => out.extend(reachable(d, entries, index, keep, memo)),
                None => {}
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    memo.insert(id, out.clone());
    out
}

fn improper(pattern: &str) -> Error {
    Error::Usage(format!(
        "improper qualified name (too many dotted names): {pattern}"
    ))
}

fn cross_database(pattern: &str) -> Error {
    Error::Usage(format!(
        "cross-database references are not implemented: {pattern}"
    ))
}

/// Extensions matching any of `patterns`.
async fn extensions(client: &Client, patterns: &[String], strict: bool) -> Result<HashSet<u32>> {
    let mut found = HashSet::new();
    for p in patterns {
        let pat = NamePattern::parse(p);
        if pat.parts.len() > 1 {
            return Err(improper(p));
        }
        let rows = client
            .query(
                "SELECT oid FROM pg_catalog.pg_extension
                  WHERE extname OPERATOR(pg_catalog.~) $1 COLLATE pg_catalog.default",
                &[&pat.name()],
            )
            .await
            .during(|| format!("matching extension pattern \"{p}\""))?;
        if rows.is_empty() && strict {
            return Err(Error::Usage(format!(
                "no matching extensions were found for pattern \"{p}\""
            )));
        }
        found.extend(rows.iter().map(|r| r.get::<_, u32>(0)));
    }
    Ok(found)
}

/// The relations `roots` and every inheritance child and partition below them.
async fn descendants(
    client: &Client,
    roots: HashSet<QualifiedName>,
) -> Result<HashSet<QualifiedName>> {
    if roots.is_empty() {
        return Ok(roots);
    }
    let (schemas, names): (Vec<String>, Vec<String>) = roots.into_iter().unzip();
    let rows = client
        .query(
            "WITH RECURSIVE tree(oid) AS (
                 SELECT c.oid FROM pg_catalog.pg_class c
                   JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                   JOIN unnest($1::text[], $2::text[]) AS r(s, t)
                     ON n.nspname = r.s AND c.relname = r.t
                 UNION
                 SELECT i.inhrelid FROM pg_catalog.pg_inherits i JOIN tree ON i.inhparent = tree.oid)
             SELECT n.nspname::text, c.relname::text FROM tree
               JOIN pg_catalog.pg_class c ON c.oid = tree.oid
               JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace",
            &[&schemas, &names],
        )
        .await
        .during(|| "finding the children of the tables asked for with their children".into())?;
    Ok(rows
        .iter()
        .map(|r| (r.get::<_, String>(0), r.get::<_, String>(1)))
        .collect())
}

/// Schema names matching any of `patterns`.
async fn schemas(
    client: &Client,
    patterns: &[String],
    strict: bool,
    database: &str,
) -> Result<HashSet<String>> {
    let mut out = HashSet::new();
    for p in patterns {
        let pat = NamePattern::parse(p);
        if pat.parts.len() > 2 {
            return Err(improper(p));
        }
        if pat
            .database(2)
            .is_some_and(|d| literal(d).as_deref() != Some(database))
        {
            return Err(cross_database(p));
        }
        let rows = client
            .query(
                "SELECT n.nspname::text FROM pg_catalog.pg_namespace n
                  WHERE n.nspname OPERATOR(pg_catalog.~) $1 COLLATE pg_catalog.default",
                &[&pat.name()],
            )
            .await
            .during(|| format!("matching schema pattern \"{p}\""))?;
        if rows.is_empty() && strict {
            return Err(Error::Usage(format!(
                "no matching schemas were found for pattern \"{p}\""
            )));
        }
        out.extend(rows.iter().map(|r| r.get::<_, String>(0)));
    }
    Ok(out)
}

/// (schema, name) of the relations matching any of `patterns`.
async fn relations(
    client: &Client,
    patterns: &[String],
    strict: bool,
    database: &str,
) -> Result<HashSet<QualifiedName>> {
    let mut out = HashSet::new();
    for p in patterns {
        let pat = NamePattern::parse(p);
        if pat.parts.len() > 3 {
            return Err(improper(p));
        }
        if pat
            .database(3)
            .is_some_and(|d| literal(d).as_deref() != Some(database))
        {
            return Err(cross_database(p));
        }
        let schema_cond = if pat.qualifier().is_some() {
            "n.nspname OPERATOR(pg_catalog.~) $2 COLLATE pg_catalog.default"
        } else {
            "pg_catalog.pg_table_is_visible(c.oid) AND $2::text IS NULL"
        };
        let sql = format!(
            "SELECT n.nspname::text, c.relname::text
               FROM pg_catalog.pg_class c
               JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
              WHERE c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY[{TABLE_RELKINDS}]::pg_catalog.\"char\"[])
                AND c.relname OPERATOR(pg_catalog.~) $1 COLLATE pg_catalog.default
                AND {schema_cond}"
        );
        let rows = client
            .query(&sql, &[&pat.name(), &pat.qualifier()])
            .await
            .during(|| format!("matching table pattern \"{p}\""))?;
        if rows.is_empty() && strict {
            return Err(Error::Usage(format!(
                "no matching tables were found for pattern \"{p}\""
            )));
        }
        out.extend(
            rows.iter()
                .map(|r| (r.get::<_, String>(0), r.get::<_, String>(1))),
        );
    }
    Ok(out)
}
