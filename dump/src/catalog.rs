//! Reads the catalog in a fixed number of set-returning queries, never one per object.
//!
//! Runs on the leader connection inside the snapshot, with `search_path` empty so that
//! every name the server deparses (`pg_get_indexdef`, `format_type`, ...) comes back
//! schema-qualified.

use std::collections::HashMap;

use logical_shared::sql::qualified;
use tokio_postgres::Client;

use crate::error::{QueryContext, Result};
use crate::model::*;
use crate::objects::{not_extension_member, USER_SCHEMA};

pub async fn read_schemas(client: &Client) -> Result<Vec<Schema>> {
    let sql = format!(
        "SELECT n.oid, n.nspname::text, pg_catalog.pg_get_userbyid(n.nspowner)::text
           FROM pg_catalog.pg_namespace n
          WHERE {USER_SCHEMA} AND {}
          ORDER BY n.nspname",
        not_extension_member("pg_catalog.pg_namespace", "n.oid")
    );
    let rows = client
        .query(&sql, &[])
        .await
        .during(|| "reading schemas".into())?;
    Ok(rows
        .iter()
        .map(|r| Schema {
            oid: r.get(0),
            name: r.get(1),
            owner: r.get(2),
        })
        .collect())
}

/// The tables to dump (ordinary, partitioned and foreign), without sizes or columns:
/// enough to lock them and queue their data.
pub async fn read_tables(client: &Client) -> Result<Vec<Table>> {
    let sql = format!(
        "SELECT c.oid, n.nspname::text, c.relname::text, c.relkind::text,
                pg_catalog.pg_get_userbyid(c.relowner)::text, c.relpersistence = 'u',
                -- The TOAST table's own options are set through its table: toast.name=value.
                coalesce(c.reloptions, '{{}}')::text[]
                  || coalesce(ARRAY(SELECT 'toast.' || o FROM pg_catalog.pg_class tc, unnest(tc.reloptions) o
                                     WHERE tc.oid = c.reltoastrelid), '{{}}')::text[],
                ARRAY[c.reltype, coalesce(rt.typarray, 0)]::oid[],
                CASE WHEN c.relkind = 'p' THEN pg_catalog.pg_get_partkeydef(c.oid) END,
                CASE WHEN c.relispartition THEN pg_catalog.pg_get_expr(c.relpartbound, c.oid) END,
                ARRAY(SELECT i.inhparent FROM pg_catalog.pg_inherits i
                       WHERE i.inhrelid = c.oid ORDER BY i.inhseqno)::oid[],
                CASE WHEN c.reloftype <> 0 THEN pg_catalog.format_type(c.reloftype, NULL) END,
                CASE WHEN c.relkind = 'p' OR am.amname <> 'heap' THEN am.amname::text END,
                c.relreplident::text, fs.srvname::text, coalesce(ft.ftoptions, '{{}}')::text[]
           FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
           LEFT JOIN pg_catalog.pg_type rt ON rt.oid = c.reltype
           LEFT JOIN pg_catalog.pg_am am ON am.oid = c.relam
           LEFT JOIN pg_catalog.pg_foreign_table ft ON ft.ftrelid = c.oid
           LEFT JOIN pg_catalog.pg_foreign_server fs ON fs.oid = ft.ftserver
          WHERE c.relkind IN ('r', 'p', 'f') AND {USER_SCHEMA} AND {}
          ORDER BY n.nspname, c.relname",
        not_extension_member("pg_catalog.pg_class", "c.oid")
    );
    let rows = client
        .query(&sql, &[])
        .await
        .during(|| "reading the list of tables".into())?;
    Ok(rows
        .iter()
        .map(|r| {
            let kind: String = r.get(3);
            let replident: String = r.get(13);
            let server: Option<String> = r.get(14);
            Table {
                oid: r.get(0),
                schema: r.get(1),
                name: r.get(2),
                kind: kind.chars().next().unwrap_or('r'),
                owner: r.get(4),
                unlogged: r.get(5),
                reloptions: r.get(6),
                size: 0,
                pages: 0,
                columns: Vec::new(),
                row_types: r
                    .get::<_, Vec<u32>>(7)
                    .into_iter()
                    .filter(|o| *o != 0)
                    .collect(),
                partition_key: r.get(8),
                partition_bound: r.get(9),
                parents: r.get(10),
                of_type: r.get(11),
                access_method: r.get(12),
                replica_identity: replident.chars().next().unwrap_or('d'),
                foreign: server.map(|server| ForeignTable {
                    server,
                    options: r.get(15),
                }),
            }
        })
        .collect())
}

/// Heap + TOAST size and heap pages. Run after the tables are locked: the size
/// functions open the relation and would otherwise queue behind other sessions' locks.
pub async fn read_table_sizes(client: &Client, tables: &mut [Table]) -> Result<()> {
    let oids: Vec<u32> = tables.iter().map(|t| t.oid).collect();
    let rows = client
        .query(
            "SELECT c.oid,
                    pg_catalog.pg_relation_size(c.oid)
                      + coalesce(pg_catalog.pg_relation_size(NULLIF(c.reltoastrelid, 0)), 0),
                    pg_catalog.pg_relation_size(c.oid) / pg_catalog.current_setting('block_size')::int8
               FROM pg_catalog.pg_class c WHERE c.oid = ANY($1)",
            &[&oids],
        )
        .await
        .during(|| "reading table sizes".into())?;
    let sizes: HashMap<u32, (i64, i64)> = rows
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2))))
        .collect();
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
                pg_catalog.format_type(a.atttypid, a.atttypmod), {not_null},
                pg_catalog.pg_get_expr(ad.adbin, ad.adrelid),
                a.attidentity::text, a.attgenerated::text,
                CASE WHEN a.attcollation <> t.typcollation THEN cn.nspname::text END,
                CASE WHEN a.attcollation <> t.typcollation THEN co.collname::text END,
                ad.oid, a.attislocal, a.attinhcount > 0,
                CASE WHEN a.attstorage <> t.typstorage THEN a.attstorage::text END,
                {compression},
                -- -1 (up to 16) or NULL (17+) mean the default target.
                (CASE WHEN a.attstattarget >= 0 THEN a.attstattarget END)::int4,
                -- Not pg_attver: Debian 12's PostgreSQL 15 stores it on every column, a new
                -- value in each database, and no other server accepts it.
                ARRAY(SELECT o FROM pg_catalog.unnest(a.attoptions) AS o
                       WHERE o NOT LIKE 'pg\\_attver=%')::text[],
                coalesce(a.attfdwoptions, '{{}}')::text[],
                {nn_name}, {nn_no_inherit}, {nn_oid}, {nn_local}
           FROM pg_catalog.pg_attribute a
           JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
           {nn_join}
           LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
           LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation
           LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace
          WHERE a.attrelid = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped
          ORDER BY a.attrelid, a.attnum"
    );
    let rows = client
        .query(&sql, &[&oids])
        .await
        .during(|| "reading table columns".into())?;
    let mut by_table: HashMap<u32, Vec<Column>> = HashMap::new();
    let first_char = |s: Option<String>| s.and_then(|s| s.chars().next());
    for r in &rows {
        let identity: String = r.get(6);
        let generated: String = r.get(7);
        let coll_schema: Option<String> = r.get(8);
        let coll_name: Option<String> = r.get(9);
        by_table.entry(r.get(0)).or_default().push(Column {
            num: r.get(1),
            name: r.get(2),
            type_sql: r.get(3),
            not_null: r.get(4),
            default: r.get(5),
            identity: identity.chars().next(),
            generated: generated.chars().next(),
            collation: coll_schema.zip(coll_name).map(|(s, n)| qualified(&s, &n)),
            default_oid: r.get(10),
            is_local: r.get(11),
            inherited: r.get(12),
            storage: first_char(r.get(13)),
            compression: first_char(r.get(14)),
            stat_target: r.get(15),
            options: r.get(16),
            fdw_options: r.get(17),
            not_null_name: r.get(18),
            not_null_no_inherit: r.get(19),
            not_null_oid: r.get(20),
            not_null_local: r.get(21),
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
        "SELECT c.oid, n.nspname::text, c.relname::text, pg_catalog.pg_get_userbyid(c.relowner)::text,
                pg_catalog.format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmin,
                s.seqmax, s.seqcache, s.seqcycle, dep.refobjid, a.attname::text, dep.deptype::text,
                -- Sequences can be unlogged from PostgreSQL 15 on.
                CASE WHEN pg_catalog.current_setting('server_version_num')::int >= 150000
                     THEN c.relpersistence = 'u' END
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
    let rows = client
        .query(&sql, &[])
        .await
        .during(|| "reading sequences".into())?;
    let seqs: Vec<Sequence> = rows
        .iter()
        .map(|r| {
            let owner_table: Option<u32> = r.get(11);
            let owner_col: Option<String> = r.get(12);
            let deptype: Option<String> = r.get(13);
            Sequence {
                oid: r.get(0),
                schema: r.get(1),
                name: r.get(2),
                owner: r.get(3),
                type_sql: r.get(4),
                start: r.get(5),
                increment: r.get(6),
                min: r.get(7),
                max: r.get(8),
                cache: r.get(9),
                cycle: r.get(10),
                owned_by: owner_table.zip(owner_col),
                identity: deptype.as_deref() == Some("i"),
                unlogged: r.get(14),
                last_value: 0,
                is_called: false,
            }
        })
        .collect();
    Ok(seqs)
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
                "SELECT {oid}::oid, last_value, is_called FROM {}",
                qualified(schema, name)
            )
        })
        .collect();
    let mut values = HashMap::new();
    for batch in selects.chunks(BATCH) {
        let rows = client
            .query(&batch.join(" UNION ALL "), &[])
            .await
            .during(|| during.to_owned())?;
        for r in &rows {
            values.insert(r.get(0), (r.get(1), r.get(2)));
        }
    }
    Ok(values)
}

pub async fn read_constraints(client: &Client, tables: &[Table]) -> Result<Vec<Constraint>> {
    let oids: Vec<u32> = tables.iter().map(|t| t.oid).collect();
    let rows = client
        .query(
            "SELECT co.oid, co.conrelid, co.conname::text, co.contype::text,
                    pg_catalog.pg_get_constraintdef(co.oid), NULLIF(co.conindid, 0),
                    NULLIF(co.confrelid, 0), co.convalidated, co.condeferrable, co.condeferred,
                    CASE WHEN co.contype IN ('p', 'u') THEN pg_catalog.pg_get_indexdef(co.conindid) END,
                    coalesce(i.indisclustered, false), coalesce(i.indisreplident, false),
                    co.conislocal,
                    -- conperiod exists from PostgreSQL 18 on.
                    coalesce((pg_catalog.to_jsonb(co) ->> 'conperiod')::bool, false)
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
        )
        .await
        .during(|| "reading constraints".into())?;
    Ok(rows
        .iter()
        .map(|r| {
            let kind: String = r.get(3);
            Constraint {
                oid: r.get(0),
                table_oid: r.get(1),
                name: r.get(2),
                kind: kind.chars().next().unwrap_or('c'),
                definition: r.get(4),
                index_oid: r.get(5),
                ref_table_oid: r.get(6),
                validated: r.get(7),
                deferrable: r.get(8),
                deferred: r.get(9),
                index_def: r.get(10),
                clustered: r.get(11),
                replica_identity: r.get(12),
                is_local: r.get(13),
                period: r.get(14),
            }
        })
        .collect())
}

/// Indexes that are not the implementation of a constraint (those come with the constraint).
pub async fn read_indexes(client: &Client, tables: &[Table]) -> Result<Vec<Index>> {
    let oids: Vec<u32> = tables.iter().map(|t| t.oid).collect();
    let rows = client
        .query(
            "SELECT i.indexrelid, i.indrelid, n.nspname::text, c.relname::text,
                    pg_catalog.pg_get_indexdef(i.indexrelid), i.indisclustered, i.indisreplident
               FROM pg_catalog.pg_index i
               JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
               JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
              WHERE i.indrelid = ANY($1)
                AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint co
                                 WHERE co.conindid = i.indexrelid AND co.conrelid = i.indrelid
                                   AND co.contype IN ('p', 'u', 'x'))
              ORDER BY n.nspname, c.relname",
            &[&oids],
        )
        .await
        .during(|| "reading indexes".into())?;
    Ok(rows
        .iter()
        .map(|r| Index {
            oid: r.get(0),
            table_oid: r.get(1),
            schema: r.get(2),
            name: r.get(3),
            definition: r.get(4),
            clustered: r.get(5),
            replica_identity: r.get(6),
        })
        .collect())
}
