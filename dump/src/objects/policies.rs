//! Row-level security: a table's ENABLE / FORCE ROW LEVEL SECURITY and its policies.
//! Both go after the data, so that loading it is never filtered.

use archive_format::toc::{EntryKind, Section};
use logical_shared::sql::{qualified, quote_ident};
use tokio_postgres::Client;

use super::{class, Ctx, ObjId, USER_SCHEMA};
use crate::error::{QueryContext, Result};
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

pub async fn read(client: &Client, _ctx: &Ctx) -> Result<Policies> {
    let tables_sql = format!(
        "SELECT c.oid, n.nspname::text, c.relname::text, pg_catalog.pg_get_userbyid(c.relowner)::text,
                c.relrowsecurity, c.relforcerowsecurity
           FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
          WHERE (c.relrowsecurity OR c.relforcerowsecurity) AND {USER_SCHEMA}
          ORDER BY n.nspname, c.relname"
    );
    let rows = client
        .query(&tables_sql, &[])
        .await
        .during(|| "reading row-level security settings".into())?;
    let tables = rows
        .iter()
        .map(|r| Secured {
            table_oid: r.get(0),
            schema: r.get(1),
            name: r.get(2),
            owner: r.get(3),
            enabled: r.get(4),
            forced: r.get(5),
        })
        .collect();
    let policies_sql = format!(
        "SELECT p.oid, p.polname::text, c.oid, n.nspname::text, c.relname::text, p.polcmd::text,
                p.polpermissive,
                ARRAY(SELECT CASE WHEN u.r = 0 THEN NULL ELSE pg_catalog.pg_get_userbyid(u.r)::text END
                        FROM pg_catalog.unnest(p.polroles) WITH ORDINALITY AS u(r, i) ORDER BY u.i),
                pg_catalog.pg_get_expr(p.polqual, p.polrelid),
                pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid)
           FROM pg_catalog.pg_policy p
           JOIN pg_catalog.pg_class c ON c.oid = p.polrelid
           JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
          WHERE {USER_SCHEMA}
          ORDER BY n.nspname, c.relname, p.polname"
    );
    let rows = client
        .query(&policies_sql, &[])
        .await
        .during(|| "reading policies".into())?;
    let policies = rows
        .iter()
        .map(|r| Policy {
            oid: r.get(0),
            name: r.get(1),
            table_oid: r.get(2),
            table_schema: r.get(3),
            table_name: r.get(4),
            command: r.get::<_, String>(5).chars().next().unwrap_or('*'),
            permissive: r.get(6),
            roles: r.get(7),
            using: r.get(8),
            with_check: r.get(9),
        })
        .collect();
    Ok(Policies { tables, policies })
}

impl Policies {
    pub fn add_entries(&self, toc: &mut TocBuilder) {
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
