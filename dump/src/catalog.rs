//! Reads the catalog in a fixed number of set-returning queries, never one per object.
//!
//! Runs on the leader connection inside the snapshot, with `search_path` empty so that
//! every name the server deparses (`pg_get_indexdef`, `format_type`, ...) comes back
//! schema-qualified.

use std::collections::HashMap;

use logical_shared::sql::qualified;
use tokio_postgres::Client;

use crate::error::Result;
use crate::model::*;
use crate::objects::{not_extension_member, USER_SCHEMA};
use crate::rows::query;

pub async fn read_schemas(client: &Client) -> Result<Vec<Schema>> {
    let sql = format!(
        "SELECT n.oid, n.nspname::text, pg_catalog.pg_get_userbyid(n.nspowner)::text AS owner
           FROM pg_catalog.pg_namespace n
          WHERE {USER_SCHEMA} AND {}
          ORDER BY n.nspname",
        not_extension_member("pg_catalog.pg_namespace", "n.oid")
    );
    query(client, &sql, &[], "reading schemas").await?.map(|r| {
        Ok(Schema {
            oid: r.get("oid")?,
            name: r.get("nspname")?,
            owner: r.get("owner")?,
        })
    })
}

/// The tables to dump (ordinary, partitioned and foreign), without sizes or columns:
/// enough to lock them and queue their data.
pub async fn read_tables(client: &Client) -> Result<Vec<Table>> {
    let sql = format!(
        "SELECT c.oid, n.nspname::text, c.relname::text, c.relkind::text,
                pg_catalog.pg_get_userbyid(c.relowner)::text AS owner,
                c.relpersistence = 'u' AS unlogged,
                -- The TOAST table's own options are set through its table: toast.name=value.
                coalesce(c.reloptions, '{{}}')::text[]
                  || coalesce(ARRAY(SELECT 'toast.' || o FROM pg_catalog.pg_class tc, unnest(tc.reloptions) o
                                     WHERE tc.oid = c.reltoastrelid), '{{}}')::text[] AS reloptions,
                ARRAY[c.reltype, coalesce(rt.typarray, 0)]::oid[] AS row_types,
                CASE WHEN c.relkind = 'p' THEN pg_catalog.pg_get_partkeydef(c.oid) END AS partition_key,
                CASE WHEN c.relispartition THEN pg_catalog.pg_get_expr(c.relpartbound, c.oid) END
                  AS partition_bound,
                ARRAY(SELECT i.inhparent FROM pg_catalog.pg_inherits i
                       WHERE i.inhrelid = c.oid ORDER BY i.inhseqno)::oid[] AS parents,
                CASE WHEN c.reloftype <> 0 THEN pg_catalog.format_type(c.reloftype, NULL) END AS of_type,
                CASE WHEN c.relkind = 'p' OR am.amname <> 'heap' THEN am.amname::text END AS access_method,
                c.relreplident::text, fs.srvname::text,
                coalesce(ft.ftoptions, '{{}}')::text[] AS ftoptions
           FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
           LEFT JOIN pg_catalog.pg_type rt ON rt.oid = c.reltype
           LEFT JOIN pg_catalog.pg_am am ON am.oid = c.relam
           LEFT JOIN pg_catalog.pg_foreign_table ft ON ft.ftrelid = c.oid
           LEFT JOIN pg_catalog.pg_foreign_server fs ON fs.oid = ft.ftserver
          WHERE c.relkind IN ('r', 'p', 'f') AND {USER_SCHEMA} AND {}
          ORDER BY n.nspname, c.relname",
        not_extension_member("pg_catalog.pg_class", "c.oid")
    );
    query(client, &sql, &[], "reading the list of tables")
        .await?
        .map(|r| {
            let server: Option<String> = r.get("srvname")?;
            Ok(Table {
                oid: r.get("oid")?,
                schema: r.get("nspname")?,
                name: r.get("relname")?,
                kind: r.char("relkind")?.unwrap_or('r'),
                owner: r.get("owner")?,
                unlogged: r.get("unlogged")?,
                reloptions: r.get("reloptions")?,
                size: 0,
                pages: 0,
                columns: Vec::new(),
                row_types: r
                    .get::<Vec<u32>>("row_types")?
                    .into_iter()
                    .filter(|o| *o != 0)
                    .collect(),
                partition_key: r.get("partition_key")?,
                partition_bound: r.get("partition_bound")?,
                parents: r.get("parents")?,
                of_type: r.get("of_type")?,
                access_method: r.get("access_method")?,
                replica_identity: r.char("relreplident")?.unwrap_or('d'),
                foreign: match server {
                    Some(server) => Some(ForeignTable {
                        server,
                        options: r.get("ftoptions")?,
                    }),
                    None => None,
                },
            })
        })
}

/// Heap + TOAST size and heap pages. Run after the tables are locked: the size
/// functions open the relation and would otherwise queue behind other sessions' locks.
pub async fn read_table_sizes(client: &Client, tables: &mut [Table]) -> Result<()> {
    let oids: Vec<u32> = tables.iter().map(|t| t.oid).collect();
    let sizes: HashMap<u32, (i64, i64)> = query(
            client,
            "SELECT c.oid,
                    pg_catalog.pg_relation_size(c.oid)
                      + coalesce(pg_catalog.pg_relation_size(NULLIF(c.reltoastrelid, 0)), 0) AS size,
                    pg_catalog.pg_relation_size(c.oid) / pg_catalog.current_setting('block_size')::int8
                      AS pages
               FROM pg_catalog.pg_class c WHERE c.oid = ANY($1)",
            &[&oids],
            "reading table sizes",
        )
        .await?
        .iter()
        .map(|r| Ok((r.get("oid")?, (r.get("size")?, r.get("pages")?))))
        .collect::<Result<_>>()?;
    for t in tables.iter_mut() {
        if let Some(&(size, pages)) = sizes.get(&t.oid) {
            t.size = size.max(0) as u64;
            t.pages = pages.max(0) as u64;
        }
    }
    Ok(())
}

pub async fn read_columns(
    client: &Client,
    tables: &mut [Table],
    server_version: u32,
) -> Result<()> {
    let oids: Vec<u32> = tables.iter().map(|t| t.oid).collect();
    // attcompression appeared in PostgreSQL 14.
    let compression = if server_version >= 140000 {
        "NULLIF(a.attcompression::text, '')"
    } else {
        "NULL::text"
    };
    // PostgreSQL 18 keeps NOT NULL constraints in pg_constraint, with a name and
    // NO INHERIT; a NOT VALID one is added after the data (see `read_constraints`).
    // The name is always written out: the one PostgreSQL would choose may be taken by
    // then (a partition created before its parent carries the parent's name).
    let (not_null, nn_name, nn_no_inherit, nn_oid, nn_local) = if server_version >= 180000 {
        (
            "a.attnotnull AND coalesce(nn.convalidated, true)",
            "nn.conname::text",
            "coalesce(nn.connoinherit, false)",
            "nn.oid",
            "coalesce(nn.conislocal AND nn.convalidated, false)",
        )
    } else {
        ("a.attnotnull", "NULL::text", "false", "NULL::oid", "false")
    };
    let nn_join = if server_version >= 180000 {
        "LEFT JOIN pg_catalog.pg_constraint nn ON nn.conrelid = a.attrelid AND nn.contype = 'n'
                AND nn.conkey[1] = a.attnum"
    } else {
        ""
    };
    let sql = format!(
        "SELECT a.attrelid, a.attnum, a.attname::text,
                pg_catalog.format_type(a.atttypid, a.atttypmod) AS type_sql, {not_null} AS not_null,
                pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) AS default_expr,
                a.attidentity::text, a.attgenerated::text,
                CASE WHEN a.attcollation <> t.typcollation THEN cn.nspname::text END AS coll_schema,
                CASE WHEN a.attcollation <> t.typcollation THEN co.collname::text END AS coll_name,
                ad.oid AS default_oid, a.attislocal, a.attinhcount > 0 AS inherited,
                CASE WHEN a.attstorage <> t.typstorage THEN a.attstorage::text END AS storage,
                {compression} AS compression,
                -- -1 (up to 16) or NULL (17+) mean the default target.
                (CASE WHEN a.attstattarget >= 0 THEN a.attstattarget END)::int4 AS stat_target,
                -- Not pg_attver: Debian 12's PostgreSQL 15 stores it on every column, a new
                -- value in each database, and no other server accepts it.
                ARRAY(SELECT o FROM pg_catalog.unnest(a.attoptions) AS o
                       WHERE o NOT LIKE 'pg\\_attver=%')::text[] AS options,
                coalesce(a.attfdwoptions, '{{}}')::text[] AS fdw_options,
                {nn_name} AS not_null_name, {nn_no_inherit} AS not_null_no_inherit,
                {nn_oid} AS not_null_oid, {nn_local} AS not_null_local
           FROM pg_catalog.pg_attribute a
           JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
           {nn_join}
           LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
           LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation
           LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace
          WHERE a.attrelid = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped
          ORDER BY a.attrelid, a.attnum"
    );
    let rows = query(client, &sql, &[&oids], "reading table columns").await?;
    let mut by_table: HashMap<u32, Vec<Column>> = HashMap::new();
    for r in rows.iter() {
        let coll_schema: Option<String> = r.get("coll_schema")?;
        let coll_name: Option<String> = r.get("coll_name")?;
        by_table
            .entry(r.get("attrelid")?)
            .or_default()
            .push(Column {
                num: r.get("attnum")?,
                name: r.get("attname")?,
                type_sql: r.get("type_sql")?,
                not_null: r.get("not_null")?,
                default: r.get("default_expr")?,
                identity: r.char("attidentity")?,
                generated: r.char("attgenerated")?,
                collation: coll_schema.zip(coll_name).map(|(s, n)| qualified(&s, &n)),
                default_oid: r.get("default_oid")?,
                is_local: r.get("attislocal")?,
                inherited: r.get("inherited")?,
                storage: r.char("storage")?,
                compression: r.char("compression")?,
                stat_target: r.get("stat_target")?,
                options: r.get("options")?,
                fdw_options: r.get("fdw_options")?,
                not_null_name: r.get("not_null_name")?,
                not_null_no_inherit: r.get("not_null_no_inherit")?,
                not_null_oid: r.get("not_null_oid")?,
                not_null_local: r.get("not_null_local")?,
            });
    }
    for t in tables.iter_mut() {
        t.columns = by_table.remove(&t.oid).unwrap_or_default();
    }
    Ok(())
}

/// Every user sequence's definition; the values come from [`read_sequence_values`].
pub async fn read_sequences(client: &Client) -> Result<Vec<Sequence>> {
    let sql = format!(
        "SELECT c.oid, n.nspname::text, c.relname::text,
                pg_catalog.pg_get_userbyid(c.relowner)::text AS owner,
                pg_catalog.format_type(s.seqtypid, NULL) AS type_sql, s.seqstart, s.seqincrement,
                s.seqmin, s.seqmax, s.seqcache, s.seqcycle, dep.refobjid, a.attname::text,
                dep.deptype::text,
                -- Sequences can be unlogged from PostgreSQL 15 on.
                CASE WHEN pg_catalog.current_setting('server_version_num')::int >= 150000
                     THEN c.relpersistence = 'u' END AS unlogged
           FROM pg_catalog.pg_class c
           JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
           JOIN pg_catalog.pg_sequence s ON s.seqrelid = c.oid
           LEFT JOIN pg_catalog.pg_depend dep ON dep.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                AND dep.objid = c.oid AND dep.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
                AND dep.deptype IN ('a', 'i')
           LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = dep.refobjid AND a.attnum = dep.refobjsubid
          WHERE c.relkind = 'S' AND {USER_SCHEMA} AND {}
          ORDER BY n.nspname, c.relname",
        not_extension_member("pg_catalog.pg_class", "c.oid")
    );
    query(client, &sql, &[], "reading sequences")
        .await?
        .map(|r| {
            let owner_table: Option<u32> = r.get("refobjid")?;
            let owner_col: Option<String> = r.get("attname")?;
            Ok(Sequence {
                oid: r.get("oid")?,
                schema: r.get("nspname")?,
                name: r.get("relname")?,
                owner: r.get("owner")?,
                type_sql: r.get("type_sql")?,
                start: r.get("seqstart")?,
                increment: r.get("seqincrement")?,
                min: r.get("seqmin")?,
                max: r.get("seqmax")?,
                cache: r.get("seqcache")?,
                cycle: r.get("seqcycle")?,
                owned_by: owner_table.zip(owner_col),
                identity: r.char("deptype")? == Some('i'),
                unlogged: r.get("unlogged")?,
                last_value: 0,
                is_called: false,
            })
        })
}

/// The current value of each sequence. Only for the sequences dumped: reading one takes
/// the right to read it, which a user dumping a part of the database may lack elsewhere.
pub async fn read_sequence_values(client: &Client, seqs: &mut [Sequence]) -> Result<()> {
    let values = sequence_states(
        client,
        seqs.iter()
            .map(|s| (s.oid, s.schema.as_str(), s.name.as_str())),
        "reading sequence values",
    )
    .await?;
    for s in seqs.iter_mut() {
        if let Some(&(v, called)) = values.get(&s.oid) {
            s.last_value = v;
            s.is_called = called;
        }
    }
    Ok(())
}

/// `last_value` and `is_called` of each sequence `(oid, schema, name)`, by oid. Sequence
/// state is not in any catalog: it is read with one UNION ALL statement per batch instead
/// of one round trip per sequence.
pub async fn sequence_states<'a>(
    client: &Client,
    seqs: impl Iterator<Item = (u32, &'a str, &'a str)>,
    during: &str,
) -> Result<HashMap<u32, (i64, bool)>> {
    const BATCH: usize = 500;
    let selects: Vec<String> = seqs
        .map(|(oid, schema, name)| {
            format!(
                "SELECT {oid}::oid AS oid, last_value, is_called FROM {}",
                qualified(schema, name)
            )
        })
        .collect();
    let mut values = HashMap::new();
    for batch in selects.chunks(BATCH) {
        let rows = query(client, &batch.join(" UNION ALL "), &[], during).await?;
        for r in rows.iter() {
            values.insert(r.get("oid")?, (r.get("last_value")?, r.get("is_called")?));
        }
    }
    Ok(values)
}

pub async fn read_constraints(client: &Client, tables: &[Table]) -> Result<Vec<Constraint>> {
    let oids: Vec<u32> = tables.iter().map(|t| t.oid).collect();
    query(
            client,
            "SELECT co.oid, co.conrelid, co.conname::text, co.contype::text,
                    pg_catalog.pg_get_constraintdef(co.oid) AS definition,
                    NULLIF(co.conindid, 0) AS index_oid, NULLIF(co.confrelid, 0) AS ref_table_oid,
                    co.convalidated, co.condeferrable, co.condeferred,
                    CASE WHEN co.contype IN ('p', 'u') THEN pg_catalog.pg_get_indexdef(co.conindid) END
                      AS index_def,
                    coalesce(i.indisclustered, false) AS clustered,
                    coalesce(i.indisreplident, false) AS replica_identity,
                    co.conislocal,
                    -- conperiod exists from PostgreSQL 18 on.
                    coalesce((pg_catalog.to_jsonb(co) ->> 'conperiod')::bool, false) AS period
               FROM pg_catalog.pg_constraint co
               LEFT JOIN pg_catalog.pg_index i ON i.indexrelid = co.conindid AND co.contype IN ('p', 'u', 'x')
              WHERE co.conrelid = ANY($1)
                -- NOT NULL constraints (PostgreSQL 18) are columns' business unless NOT VALID.
                AND (co.contype IN ('p', 'u', 'c', 'f', 'x') OR (co.contype = 'n' AND NOT co.convalidated))
                -- A partition's copy of its parent's foreign key comes with the parent's, and
                -- so does its copy of an exclusion constraint (PostgreSQL 17+), which
                -- PostgreSQL 17 cannot attach to the parent's (ALTER INDEX ... ATTACH
                -- PARTITION finds the definitions different).
                AND (co.contype NOT IN ('f', 'x') OR co.conparentid = 0)
              ORDER BY co.conrelid, co.conname",
            &[&oids],
            "reading constraints",
        )
        .await?
        .map(|r| {
            Ok(Constraint {
                oid: r.get("oid")?,
                table_oid: r.get("conrelid")?,
                name: r.get("conname")?,
                kind: r.char("contype")?.unwrap_or('c'),
                definition: r.get("definition")?,
                index_oid: r.get("index_oid")?,
                ref_table_oid: r.get("ref_table_oid")?,
                validated: r.get("convalidated")?,
                deferrable: r.get("condeferrable")?,
                deferred: r.get("condeferred")?,
                index_def: r.get("index_def")?,
                clustered: r.get("clustered")?,
                replica_identity: r.get("replica_identity")?,
                is_local: r.get("conislocal")?,
                period: r.get("period")?,
            })
        })
}

/// Indexes that are not the implementation of a constraint (those come with the constraint).
pub async fn read_indexes(client: &Client, tables: &[Table]) -> Result<Vec<Index>> {
    let oids: Vec<u32> = tables.iter().map(|t| t.oid).collect();
    query(
        client,
        "SELECT i.indexrelid, i.indrelid, n.nspname::text, c.relname::text,
                    pg_catalog.pg_get_indexdef(i.indexrelid) AS definition, i.indisclustered,
                    i.indisreplident
               FROM pg_catalog.pg_index i
               JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
               JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
              WHERE i.indrelid = ANY($1)
                AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint co
                                 WHERE co.conindid = i.indexrelid AND co.conrelid = i.indrelid
                                   AND co.contype IN ('p', 'u', 'x'))
              ORDER BY n.nspname, c.relname",
        &[&oids],
        "reading indexes",
    )
    .await?
    .map(|r| {
        Ok(Index {
            oid: r.get("indexrelid")?,
            table_oid: r.get("indrelid")?,
            schema: r.get("nspname")?,
            name: r.get("relname")?,
            definition: r.get("definition")?,
            clustered: r.get("indisclustered")?,
            replica_identity: r.get("indisreplident")?,
        })
    })
}
