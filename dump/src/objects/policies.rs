//! Row-level security: a table's ENABLE / FORCE ROW LEVEL SECURITY and its policies.
//! Both go after the data, so that loading it is never filtered.

use archive_format::toc::{EntryKind, Section};
use futures::future::BoxFuture;
use logical_shared::sql::{qualified, quote_ident};
use tokio_postgres::Client;

use super::{class, Ctx, Family, ObjId, USER_SCHEMA};
use crate::error::Result;
use crate::rows::query;
use crate::toc_builder::{entry, TocBuilder};

#[derive(Debug)]
struct Secured {
    table_oid: u32,
    schema: String,
    name: String,
    owner: String,
    enabled: bool,
    forced: bool,
}

#[derive(Debug)]
struct Policy {
    oid: u32,
    name: String,
    table_oid: u32,
    table_schema: String,
    table_name: String,
    /// '*' all, 'r' SELECT, 'a' INSERT, 'w' UPDATE, 'd' DELETE.
    command: char,
    permissive: bool,
    /// Role names; None is PUBLIC.
    roles: Vec<Option<String>>,
    using: Option<String>,
    with_check: Option<String>,
}

#[derive(Debug, Default)]
pub struct Policies {
    tables: Vec<Secured>,
    policies: Vec<Policy>,
}

async fn read(client: &Client, _ctx: &Ctx) -> Result<Policies> {
    let tables_sql = format!(
        "SELECT c.oid, n.nspname::text, c.relname::text,
                pg_catalog.pg_get_userbyid(c.relowner)::text AS owner,
                c.relrowsecurity, c.relforcerowsecurity
           FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
          WHERE (c.relrowsecurity OR c.relforcerowsecurity) AND {USER_SCHEMA}
          ORDER BY n.nspname, c.relname"
    );
    let tables = query(
        client,
        &tables_sql,
        &[],
        "reading row-level security settings",
    )
    .await?
    .map(|r| {
        Ok(Secured {
            table_oid: r.get("oid")?,
            schema: r.get("nspname")?,
            name: r.get("relname")?,
            owner: r.get("owner")?,
            enabled: r.get("relrowsecurity")?,
            forced: r.get("relforcerowsecurity")?,
        })
    })?;
    let policies_sql = format!(
        "SELECT p.oid, p.polname::text, c.oid AS table_oid, n.nspname::text, c.relname::text,
                p.polcmd::text, p.polpermissive,
                ARRAY(SELECT CASE WHEN u.r = 0 THEN NULL ELSE pg_catalog.pg_get_userbyid(u.r)::text END
                        FROM pg_catalog.unnest(p.polroles) WITH ORDINALITY AS u(r, i) ORDER BY u.i) AS roles,
                pg_catalog.pg_get_expr(p.polqual, p.polrelid) AS using_expr,
                pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid) AS with_check
           FROM pg_catalog.pg_policy p
           JOIN pg_catalog.pg_class c ON c.oid = p.polrelid
           JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
          WHERE {USER_SCHEMA}
          ORDER BY n.nspname, c.relname, p.polname"
    );
    let policies = query(client, &policies_sql, &[], "reading policies")
        .await?
        .map(|r| {
            Ok(Policy {
                oid: r.get("oid")?,
                name: r.get("polname")?,
                table_oid: r.get("table_oid")?,
                table_schema: r.get("nspname")?,
                table_name: r.get("relname")?,
                command: r.char("polcmd")?.unwrap_or('*'),
                permissive: r.get("polpermissive")?,
                roles: r.get("roles")?,
                using: r.get("using_expr")?,
                with_check: r.get("with_check")?,
            })
        })?;
    Ok(Policies { tables, policies })
}

impl Family for Policies {
    fn read<'a>(client: &'a Client, ctx: &'a Ctx) -> BoxFuture<'a, Result<Self>> {
        Box::pin(read(client, ctx))
    }

    fn add_entries(&self, toc: &mut TocBuilder) {
        for t in &self.tables {
            let Some(table_id) = toc.id_of(ObjId::rel(t.table_oid)) else {
                continue;
            };
            let name = qualified(&t.schema, &t.name);
            let mut create = Vec::new();
            if t.enabled {
                create.push(format!("ALTER TABLE {name} ENABLE ROW LEVEL SECURITY;"));
            }
            if t.forced {
                create.push(format!("ALTER TABLE ONLY {name} FORCE ROW LEVEL SECURITY;"));
            }
            let mut e = entry(
                EntryKind::RowSecurity,
                Section::PostData,
                Some(&t.schema),
                &t.name,
                Some(&t.owner),
                create.join("\n"),
                String::new(),
            );
            e.deps = vec![table_id];
            e.table = Some(table_id);
            toc.push(e, None);
        }
        for p in &self.policies {
            let Some(table_id) = toc.id_of(ObjId::rel(p.table_oid)) else {
                continue;
            };
            let table = qualified(&p.table_schema, &p.table_name);
            let name = quote_ident(&p.name);
            let mut e = entry(
                EntryKind::Policy,
                Section::PostData,
                Some(&p.table_schema),
                &format!("{} {}", p.table_name, p.name),
                None,
                create_policy(p),
                format!("DROP POLICY {name} ON {table};"),
            );
            e.deps = vec![table_id];
            e.table = Some(table_id);
            toc.add_object(
                e,
                ObjId::new(class::PG_POLICY, p.oid),
                "POLICY",
                format!("{name} ON {table}"),
            );
        }
    }
}

fn create_policy(p: &Policy) -> String {
    let mut sql = format!(
        "CREATE POLICY {} ON {}",
        quote_ident(&p.name),
        qualified(&p.table_schema, &p.table_name)
    );
    if !p.permissive {
        sql.push_str(" AS RESTRICTIVE");
    }
    sql.push_str(match p.command {
        'r' => " FOR SELECT",
        'a' => " FOR INSERT",
        'w' => " FOR UPDATE",
        'd' => " FOR DELETE",
        _ => "",
    });
    // PUBLIC alone is the default and goes unsaid.
    if p.roles.iter().any(Option::is_some) {
        let roles: Vec<String> = p
            .roles
            .iter()
            .map(|r| r.as_deref().map_or("PUBLIC".to_owned(), quote_ident))
            .collect();
        sql.push_str(&format!(" TO {}", roles.join(", ")));
    }
    if let Some(u) = &p.using {
        sql.push_str(&format!(" USING ({u})"));
    }
    if let Some(c) = &p.with_check {
        sql.push_str(&format!(" WITH CHECK ({c})"));
    }
    sql.push(';');
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(permissive: bool, command: char, roles: Vec<Option<String>>) -> Policy {
        Policy {
            oid: 1,
            name: "Pol \"1\"".into(),
            table_oid: 2,
            table_schema: "s".into(),
            table_name: "T".into(),
            command,
            permissive,
            roles,
            using: Some("(a > 0)".into()),
            with_check: None,
        }
    }

    #[test]
    fn restrictive_policy_for_one_command_and_named_roles() {
        let p = policy(false, 'w', vec![Some("Role B".into()), None]);
        assert_eq!(
            create_policy(&p),
            "CREATE POLICY \"Pol \"\"1\"\"\" ON s.\"T\" AS RESTRICTIVE FOR UPDATE \
             TO \"Role B\", PUBLIC USING ((a > 0));"
        );
    }

    #[test]
    fn public_alone_and_all_commands_go_unsaid() {
        let p = policy(true, '*', vec![None]);
        assert_eq!(
            create_policy(&p),
            "CREATE POLICY \"Pol \"\"1\"\"\" ON s.\"T\" USING ((a > 0));"
        );
    }
}
