//! The plan phase of a dump: on the leader, inside its snapshot, what the server is, what
//! the selection switches match, the tables to dump (locked, with their sizes and
//! columns), and the extensions' configuration tables.

use logical_shared::sql::qualified;
use tokio_postgres::Client;

use crate::catalog;
use crate::error::{QueryContext, Result};
use crate::model::Catalog;
use crate::objects::{self, extensions::ConfigData};
use crate::rows::NamedRow;
use crate::select::{SelectOptions, Selection};
use crate::session::lock_tables;

/// What the archive header records of the server and database.
#[derive(Clone, Debug)]
pub struct ServerInfo {
    pub server_version: String,
    pub server_version_num: u32,
    pub database: String,
    pub encoding: String,
    pub standard_conforming_strings: bool,
    /// When the snapshot was taken, UTC.
    pub created_at: String,
}

impl ServerInfo {
    pub async fn read(client: &Client) -> Result<ServerInfo> {
        const DURING: &str = "reading server information";
        let row = client
            .query_one(
                "SELECT pg_catalog.current_setting('server_version') AS server_version,
                        pg_catalog.current_setting('server_version_num')::int4 AS server_version_num,
                        pg_catalog.current_database()::text AS database,
                        pg_catalog.pg_encoding_to_char(d.encoding)::text AS encoding,
                        pg_catalog.current_setting('standard_conforming_strings') = 'on' AS standard_conforming_strings,
                        pg_catalog.to_char(pg_catalog.now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS created_at
                   FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database()",
                &[],
            )
            .await
            .during(|| DURING.into())?;
        let row = NamedRow::new(&row, DURING);
        Ok(ServerInfo {
            server_version: row.get("server_version")?,
            server_version_num: row.get::<i32>("server_version_num")?.max(0) as u32,
            database: row.get("database")?,
            encoding: row.get("encoding")?,
            standard_conforming_strings: row.get("standard_conforming_strings")?,
            created_at: row.get("created_at")?,
        })
    }
}

/// What the dump covers, known before any data flows.
pub struct DumpPlan {
    pub info: ServerInfo,
    pub sel: Selection,
    /// Schemas and the selected tables (with sizes and columns) so far; the DDL phase
    /// reads the rest.
    pub cat: Catalog,
    /// The extensions' configuration tables whose rows are dumped.
    pub ext_config: ConfigData,
}

impl DumpPlan {
    /// Reads the plan on the leader and locks every table it will read.
    pub async fn read(client: &Client, select: &SelectOptions) -> Result<DumpPlan> {
        let info = ServerInfo::read(client).await?;
        let sel = Selection::resolve(client, select, &info.database).await?;
        let mut cat = Catalog {
            schemas: catalog::read_schemas(client).await?,
            tables: catalog::read_tables(client).await?,
            ..Default::default()
        };
        cat.tables.retain(|t| sel.relation(&t.schema, &t.name));
        // Extensions' configuration tables: their rows are dumped, their definitions are not.
        let mut ext_config = objects::extensions::read_config(client).await?;
        ext_config.retain_tables(|ext, schema, name| sel.extension_config(ext, schema, name));
        // Foreign tables cannot be locked (and their data is elsewhere).
        let mut names: Vec<String> = cat
            .tables
            .iter()
            .filter(|t| t.kind != 'f')
            .map(|t| qualified(&t.schema, &t.name))
            .collect();
        names.extend(ext_config.table_names());
        lock_tables(client, &names).await?;
        catalog::read_table_sizes(client, &mut cat.tables).await?;
        catalog::read_columns(client, &mut cat.tables, info.server_version_num).await?;
        Ok(DumpPlan {
            info,
            sel,
            cat,
            ext_config,
        })
    }
}
