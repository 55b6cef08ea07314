//! The maintenance connection: what rseed asks of the server about databases, templates
//! and the advisory lock that lets exactly one process build each template.
//!
//! Advisory locks belong to the database they are taken in, so every rseed that may build
//! the same template must connect to the same maintenance database (`postgres` unless
//! `--maintenance-db` says otherwise).

use std::time::{Duration, Instant};

use logical_shared::sql::{quote_ident, quote_literal};
use pgconn::ConnectOptions;
use tokio_postgres::types::FromSql;
use tokio_postgres::{Client, Row};

use crate::error::{server, Error, Result};
use crate::identity::Identity;
use crate::record::{self, TemplateRecord, BUILD_PREFIX, TEMPLATE_PREFIX};

/// The server versions rseed works with.
pub const OLDEST_SERVER: u32 = 130000;
pub const NEWEST_SERVER_MAJOR: u32 = 18;

/// SQLSTATE 55006: the database is being accessed by other users.
const OBJECT_IN_USE: &str = "55006";

pub struct Admin {
    pub client: Client,
    /// How to reach the maintenance database; other databases by `with_dbname`.
    pub conn: ConnectOptions,
    /// `server_version_num`.
    pub server_version: u32,
    /// The server's `fsync` setting: without it a file copy's checkpoints cost nothing.
    pub fsync: bool,
}

/// A template as `--list` shows it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TemplateInfo {
    pub name: String,
    pub identity: String,
    pub size_bytes: i64,
    /// The record in its comment; `None` when the comment was changed by somebody else.
    pub record: Option<TemplateRecord>,
}

impl Admin {
    pub async fn connect(conn: &ConnectOptions) -> Result<Admin> {
        let client = conn.connect().await?;
        let row = client
            .query_one(
                "SELECT pg_catalog.current_setting('server_version_num')::int4 AS version,
                        pg_catalog.current_setting('fsync')::bool AS fsync",
                &[],
            )
            .await
            .map_err(server("reading the server's version"))?;
        let v: i32 = column(&row, "version", "reading the server's version")?;
        let fsync: bool = column(&row, "fsync", "reading the server's version")?;
        let server_version = v.max(0) as u32;
        if server_version < OLDEST_SERVER || server_version / 10000 > NEWEST_SERVER_MAJOR {
            return Err(Error::Usage(format!(
                "server version {} is not supported: rseed works with PostgreSQL 13 to {NEWEST_SERVER_MAJOR}",
                server_version / 10000
            )));
        }
        Ok(Admin {
            client,
            conn: conn.clone(),
            server_version,
            fsync,
        })
    }

    pub async fn exists(&self, name: &str) -> Result<bool> {
        let what = format!("looking for database \"{name}\"");
        let row = self
            .client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_database WHERE datname = $1) AS exists",
                &[&name],
            )
            .await
            .map_err(server(what.as_str()))?;
        column(&row, "exists", &what)
    }

    /// The size of the ready template of `id`, or `None` when there is none. A database of
    /// that name that is not marked as a template is not ready (somebody else's, or
    /// damaged): it is never cloned.
    pub async fn ready_template(&self, id: &Identity) -> Result<Option<i64>> {
        let name = record::template_name(id);
        let what = format!("looking for template \"{name}\"");
        let row = self
            .client
            .query_opt(
                "SELECT pg_catalog.pg_database_size(d.oid) AS size
                   FROM pg_catalog.pg_database d
                  WHERE d.datname = $1 AND d.datistemplate AND NOT d.datallowconn",
                &[&name],
            )
            .await
            .map_err(server(what.as_str()))?;
        row.map(|r| column(&r, "size", &what)).transpose()
    }

    /// Takes the lock that guards building `id`'s template, waiting for whoever holds it;
    /// `on_wait` runs once if it must wait.
    pub async fn lock_build(&self, id: &Identity, on_wait: impl FnOnce()) -> Result<()> {
        if self.try_lock_build(id).await? {
            return Ok(());
        }
        on_wait();
        let (a, b) = id.lock_keys();
        self.client
            .execute("SELECT pg_catalog.pg_advisory_lock($1, $2)", &[&a, &b])
            .await
            .map_err(server("waiting for the template's build lock"))?;
        Ok(())
    }

    /// Takes `id`'s build lock if nobody holds it; whether it did.
    pub async fn try_lock_build(&self, id: &Identity) -> Result<bool> {
        let (a, b) = id.lock_keys();
        let what = "taking a template's build lock";
        let row = self
            .client
            .query_one(
                "SELECT pg_catalog.pg_try_advisory_lock($1, $2) AS locked",
                &[&a, &b],
            )
            .await
            .map_err(server(what))?;
        column(&row, "locked", what)
    }

    pub async fn unlock_build(&self, id: &Identity) -> Result<()> {
        let (a, b) = id.lock_keys();
        self.client
            .execute("SELECT pg_catalog.pg_advisory_unlock($1, $2)", &[&a, &b])
            .await
            .map_err(server("releasing the template's build lock"))?;
        Ok(())
    }

    /// `DROP DATABASE IF EXISTS … WITH (FORCE)`: ends the sessions still in it (a killed
    /// builder's, say) and un-marks a template first, which DROP DATABASE refuses.
    pub async fn drop_database(&self, name: &str) -> Result<()> {
        let ident = quote_ident(name);
        // A failure here shows again, with the server's reason, in the DROP.
        if self.exists(name).await? {
            let _ = self
                .client
                .batch_execute(&format!("ALTER DATABASE {ident} IS_TEMPLATE false"))
                .await;
        }
        self.client
            .batch_execute(&format!("DROP DATABASE IF EXISTS {ident} WITH (FORCE)"))
            .await
            .map_err(server(format!("dropping database \"{name}\"")))
    }

    /// Runs `sql` (a statement that needs the database `db` to itself: RENAME, CREATE
    /// DATABASE … TEMPLATE) again while the server still counts sessions that were just
    /// closed, for up to ten seconds.
    pub async fn run_when_unused(&self, db: &str, sql: &str, what: &str) -> Result<()> {
        self.wait_for_sessions_to_end(db).await;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.client.batch_execute(sql).await {
                Ok(()) => return Ok(()),
                Err(e)
                    if e.code().is_some_and(|c| c.code() == OBJECT_IN_USE)
                        && Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => return Err(server(what)(e)),
            }
        }
    }

    /// Waits (briefly) until the sessions in `db` that were just closed have ended. The
    /// server's own wait for them before RENAME or TEMPLATE sleeps 100 ms a round, which
    /// would be most of a small seed's time; polling here returns within a millisecond
    /// or two of their end. Best effort: `run_when_unused` still retries.
    async fn wait_for_sessions_to_end(&self, db: &str) {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let others = self
                .client
                .query_one(
                    "SELECT count(*) AS sessions FROM pg_catalog.pg_stat_activity
                      WHERE datname = $1 AND pid <> pg_catalog.pg_backend_pid()",
                    &[&db],
                )
                .await
                .ok()
                .and_then(|r| r.try_get::<_, i64>("sessions").ok());
            match others {
                Some(n) if n > 0 && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(2)).await
                }
                _ => return,
            }
        }
    }

    pub async fn set_record(&self, name: &str, record: &TemplateRecord) -> Result<()> {
        self.client
            .batch_execute(&format!(
                "COMMENT ON DATABASE {} IS {}",
                quote_ident(name),
                quote_literal(&record.to_comment())
            ))
            .await
            .map_err(server(format!("recording template \"{name}\"")))
    }

    /// Notes that the template was used now. Best effort: the comment's lock waits for
    /// clones in progress, so a busy template is skipped rather than waited for.
    pub async fn touch(&self, name: &str) {
        let Ok(Some(row)) = self
            .client
            .query_opt(
                "SELECT pg_catalog.shobj_description(oid, 'pg_database') AS comment
                   FROM pg_catalog.pg_database WHERE datname = $1",
                &[&name],
            )
            .await
        else {
            return;
        };
        let Ok(comment) = row.try_get::<_, Option<String>>("comment") else {
            return;
        };
        let Some(mut rec) = comment.as_deref().and_then(TemplateRecord::parse) else {
            return;
        };
        rec.last_used = record::now();
        let sql = format!(
            "SET lock_timeout = '100ms'; COMMENT ON DATABASE {} IS {}; RESET lock_timeout",
            quote_ident(name),
            quote_literal(&rec.to_comment())
        );
        if let Err(e) = self.client.batch_execute(&sql).await {
            tracing::debug!(
                "could not note the use of {name}: {}",
                pgconn::server_message(&e)
            );
            let _ = self.client.batch_execute("RESET lock_timeout").await;
        }
    }

    /// Every ready template rseed made on this server, most recently used first.
    pub async fn templates(&self) -> Result<Vec<TemplateInfo>> {
        let what = "listing templates";
        let rows = self
            .client
            .query(
                "SELECT d.datname::text, pg_catalog.pg_database_size(d.oid) AS size,
                        pg_catalog.shobj_description(d.oid, 'pg_database') AS comment
                   FROM pg_catalog.pg_database d
                  WHERE d.datistemplate AND d.datname LIKE $1 AND d.datname NOT LIKE $2",
                &[
                    &format!("{}%", like_escape(TEMPLATE_PREFIX)),
                    &format!("{}%", like_escape(BUILD_PREFIX)),
                ],
            )
            .await
            .map_err(server(what))?;
        let mut out: Vec<TemplateInfo> = Vec::new();
        for r in &rows {
            let name: String = column(r, "datname", what)?;
            let Some((id, _)) = record::identity_in_name(&name) else {
                continue;
            };
            let comment: Option<String> = column(r, "comment", what)?;
            out.push(TemplateInfo {
                identity: id.hex(),
                size_bytes: column(r, "size", what)?,
                record: comment.as_deref().and_then(TemplateRecord::parse),
                name,
            });
        }
        out.sort_by(|a, b| {
            let used = |t: &TemplateInfo| t.record.as_ref().map(|r| r.last_used.clone());
            used(b).cmp(&used(a)).then_with(|| a.name.cmp(&b.name))
        });
        Ok(out)
    }

    /// Databases left by builds (`rseed_build_…`), with the identity each was for.
    pub async fn builds(&self) -> Result<Vec<(String, Identity)>> {
        let what = "listing unfinished builds";
        let rows = self
            .client
            .query(
                "SELECT datname::text FROM pg_catalog.pg_database WHERE datname LIKE $1",
                &[&format!("{}%", like_escape(BUILD_PREFIX))],
            )
            .await
            .map_err(server(what))?;
        let mut out = Vec::new();
        for r in &rows {
            let name: String = column(r, "datname", what)?;
            if let Some((id, true)) = record::identity_in_name(&name) {
                out.push((name, id));
            }
        }
        Ok(out)
    }
}

/// Column `name` of `row`: an error naming the query and the column, not a panic, when
/// the server's answer lacks it or has another type.
pub(crate) fn column<'a, T: FromSql<'a>>(row: &'a Row, name: &str, what: &str) -> Result<T> {
    row.try_get(name)
        .map_err(server(format!("{what}: column `{name}`")))
}

/// `_` is a wildcard in LIKE; our prefixes contain it.
fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('_', "\\_")
        .replace('%', "\\%")
}
