//! The held connection of a backup: server facts, the temporary replication slot that
//! keeps the backup's WAL, and the version-aware start and stop calls.

use pgconn::{CancelList, ConnectOptions};
use tokio_postgres::Client;

use crate::error::{Error, Result};
use crate::postgres::lsn::Lsn;

/// The oldest server this backup speaks to (non-exclusive backups with the
/// `pg_start_backup(label, fast, exclusive)` signature and `pg_control_system()`).
pub const MIN_SERVER_VERSION: u32 = 130_000;

/// What the backup needs to know about the server.
#[derive(Clone, Debug)]
pub struct ServerFacts {
    pub version_num: u32,
    pub system_identifier: u64,
    /// `None` when the role may not read it.
    pub data_directory: Option<String>,
    pub data_checksums: bool,
    pub block_size: u32,
    pub wal_segment_size: u64,
}

/// What `pg_backup_stop` hands back.
#[derive(Clone, Debug)]
pub struct StopInfo {
    pub lsn: Lsn,
    pub backup_label: String,
    pub tablespace_map: Option<String>,
}

pub struct Session {
    client: Client,
    version_num: u32,
}

impl Session {
    pub async fn connect(opts: &ConnectOptions, cancellers: &CancelList) -> Result<Session> {
        let opts = opts.with_application_name("rbackup");
        let client = opts.connect().await?;
        if let Ok(c) = opts.canceller(&client) {
            cancellers.add(c);
        }
        let row = client
            .query_one("SELECT current_setting('server_version_num')::int", &[])
            .await
            .map_err(|e| Error::sql("reading the server version", &e))?;
        let version_num = row.get::<_, i32>(0) as u32;
        if version_num < MIN_SERVER_VERSION {
            return Err(Error::Setup(format!(
                "the server runs PostgreSQL {}; rbackup needs 13 or later",
                version_num / 10_000
            )));
        }
        // A long copy leaves this connection idle: no server-side timeout may end it.
        let mut setup = String::from("SET statement_timeout = 0; SET lock_timeout = 0;");
        if version_num >= 140_000 {
            setup.push_str(" SET idle_session_timeout = 0;");
        }
        client
            .batch_execute(&setup)
            .await
            .map_err(|e| Error::sql("setting up the backup session", &e))?;
        Ok(Session {
            client,
            version_num,
        })
    }

    pub async fn facts(&self) -> Result<ServerFacts> {
        let ctx = "reading the server settings";
        let row = self
            .client
            .query_one(
                "SELECT pg_is_in_recovery(),
                        (SELECT system_identifier::text FROM pg_control_system()),
                        current_setting('data_checksums'),
                        current_setting('block_size')::int,
                        (SELECT setting::bigint * CASE unit WHEN '8kB' THEN 8192 WHEN 'MB' THEN 1048576 ELSE 1 END
                           FROM pg_settings WHERE name = 'wal_segment_size'),
                        current_setting('wal_level')",
                &[],
            )
            .await
            .map_err(|e| Error::sql(ctx, &e))?;
        if row.get::<_, bool>(0) {
            return Err(Error::Setup(
                "the server is a standby; rbackup backs up primaries only".into(),
            ));
        }
        let wal_level: String = row.get(5);
        if wal_level == "minimal" {
            return Err(Error::Setup(
                "wal_level is minimal; an online backup needs wal_level = replica (or logical) and a restart".into(),
            ));
        }
        let sysid_text: String = row.get(1);
        let system_identifier = sysid_text
            .parse()
            .map_err(|_| Error::Failed(format!("unexpected system identifier {sysid_text:?}")))?;
        // Reading data_directory needs superuser or pg_read_all_settings.
        let data_directory = match self
            .client
            .query_one("SELECT current_setting('data_directory')", &[])
            .await
        {
            Ok(row) => Some(row.get(0)),
            Err(e) => {
                tracing::debug!("cannot read data_directory: {}", pgconn::server_message(&e));
                None
            }
        };
        Ok(ServerFacts {
            version_num: self.version_num,
            system_identifier,
            data_directory,
            data_checksums: row.get::<_, String>(2) == "on",
            block_size: row.get::<_, i32>(3) as u32,
            wal_segment_size: row.get::<_, i64>(4) as u64,
        })
    }

    /// A temporary physical slot holding WAL from now on; the server drops it when this
    /// session ends, however it ends.
    pub async fn reserve_wal(&self, slot: &str) -> Result<()> {
        self.client
            .query_one(
                "SELECT pg_create_physical_replication_slot($1, true, true)",
                &[&slot],
            )
            .await
            .map_err(|e| {
                Error::Setup(format!(
                    "cannot create the temporary replication slot that keeps the backup's WAL: {} (rbackup needs max_replication_slots > 0 and a free slot)",
                    pgconn::server_message(&e)
                ))
            })?;
        Ok(())
    }

    /// Non-exclusive `pg_backup_start` (or `pg_start_backup` before PostgreSQL 15).
    pub async fn start_backup(&self, label: &str, fast: bool) -> Result<Lsn> {
        let sql = if self.version_num >= 150_000 {
            "SELECT pg_backup_start($1, $2)::text"
        } else {
            "SELECT pg_start_backup($1, $2, false)::text"
        };
        let row = self
            .client
            .query_one(sql, &[&label, &fast])
            .await
            .map_err(|e| Error::sql("starting the backup", &e))?;
        let text: String = row.get(0);
        text.parse().map_err(Error::Failed)
    }

    /// Non-exclusive `pg_backup_stop` (or `pg_stop_backup`), not waiting for the archiver:
    /// the backup copies its WAL itself.
    pub async fn stop_backup(&self) -> Result<StopInfo> {
        let sql = if self.version_num >= 150_000 {
            "SELECT lsn::text, labelfile, spcmapfile FROM pg_backup_stop(false)"
        } else {
            "SELECT lsn::text, labelfile, spcmapfile FROM pg_stop_backup(false, false)"
        };
        let row = self
            .client
            .query_one(sql, &[])
            .await
            .map_err(|e| Error::sql("stopping the backup", &e))?;
        let lsn: String = row.get(0);
        let map: Option<String> = row.get(2);
        Ok(StopInfo {
            lsn: lsn.parse().map_err(Error::Failed)?,
            backup_label: row.get::<_, Option<String>>(1).unwrap_or_default(),
            tablespace_map: map.filter(|m| !m.is_empty()),
        })
    }
}

/// `START WAL LOCATION: 0/2000028 (file 000000010000000000000002)` and
/// `START TIMELINE: 1` from a backup_label.
pub fn parse_backup_label(text: &str) -> Option<(String, u32)> {
    let mut file = None;
    let mut timeline = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("START WAL LOCATION:") {
            file = rest
                .split_once("(file ")
                .and_then(|(_, f)| f.strip_suffix(')'))
                .map(|f| f.trim().to_owned());
        } else if let Some(rest) = line.strip_prefix("START TIMELINE:") {
            timeline = rest.trim().parse().ok();
        }
    }
    Some((file?, timeline?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_start_file_and_timeline_from_a_backup_label() {
        let label = "START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\n\
                     CHECKPOINT LOCATION: 0/2000060\n\
                     BACKUP METHOD: streamed\n\
                     BACKUP FROM: primary\n\
                     START TIME: 2026-11-23 01:02:03 UTC\n\
                     LABEL: x\n\
                     START TIMELINE: 1\n";
        assert_eq!(
            parse_backup_label(label),
            Some(("000000010000000000000002".into(), 1))
        );
        assert_eq!(parse_backup_label("LABEL: x\n"), None);
    }
}
