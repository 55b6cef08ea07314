//! How a table with inheritance parents (`INHERITS`, not partitions) is recreated so that
//! its column order and which columns and constraints are its own come back as they were.
//!
//! `CREATE TABLE child (...) INHERITS (a, b)` puts the parents' columns first (in parent
//! order, merged by name), then the child's own. A child that got its parents later
//! (`ALTER TABLE ... INHERIT`) can have any order; when every column and inherited check
//! is the child's own, creating it standalone and attaching the parents afterwards gives
//! back exactly that. Anything else cannot be said in SQL and is reported.

use logical_shared::sql::{qualified, quote_ident};

use crate::model::{Column, Constraint, Table};

/// How the child's CREATE TABLE is written.
#[derive(Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Not an inheritance child (or a partition, which is attached separately).
    Standalone,
    /// `CREATE TABLE child (own columns) INHERITS (parents)`.
    Inherits,
    /// `CREATE TABLE child (all columns)` then `ALTER TABLE child INHERIT parent`.
    InheritLater,
}

#[derive(Debug)]
pub struct Plan {
    pub strategy: Strategy,
    /// Why the table cannot be restored exactly, if it cannot.
    pub warning: Option<String>,
}

impl Plan {
    /// Does the CREATE TABLE list this column?
    pub fn prints(&self, c: &Column) -> bool {
        self.strategy != Strategy::Inherits || c.is_local
    }

    /// Is this CHECK constraint written inside the CREATE TABLE?
    pub fn prints_check(&self, t: &Table, c: &Constraint) -> bool {
        c.validated && (c.is_local || t.is_partition())
    }
}

/// `parents` are the table's parents that are dumped, in `INHERITS` order.
pub fn plan(t: &Table, parents: &[&Table], checks: &[&Constraint]) -> Plan {
    if t.parents.is_empty() || t.is_partition() {
        return Plan {
            strategy: Strategy::Standalone,
            warning: None,
        };
    }
    let natural = natural_order(t, parents);
    let actual: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
    if natural == actual {
        return Plan {
            strategy: Strategy::Inherits,
            warning: None,
        };
    }
    if t.columns.iter().all(|c| c.is_local) && checks.iter().all(|c| c.is_local) {
        return Plan {
            strategy: Strategy::InheritLater,
            warning: None,
        };
    }
    Plan {
        strategy: Strategy::Inherits,
        warning: Some(format!(
            "table {}: its columns ({}) are in an order CREATE TABLE ... INHERITS cannot \
             reproduce (columns were added after the inheritance was set up); the restored \
             table will list them as ({})",
            qualified(&t.schema, &t.name),
            actual.join(", "),
            natural.join(", ")
        )),
    }
}

/// The column order `CREATE TABLE ... INHERITS` produces: the parents' columns, merged by
/// name, then the child's own columns.
fn natural_order<'a>(t: &'a Table, parents: &[&'a Table]) -> Vec<&'a str> {
    let mut order: Vec<&str> = Vec::new();
    let own = t.columns.iter().filter(|c| c.is_local);
    for c in parents.iter().flat_map(|p| p.columns.iter()).chain(own) {
        if !order.contains(&c.name.as_str()) {
            order.push(&c.name);
        }
    }
    order
}

/// Statements after the CREATE TABLE: attaching parents later, and the NOT NULL
/// markings and defaults a child has on inherited columns beyond what it inherits.
pub fn after_create(t: &Table, plan: &Plan, parents: &[&Table]) -> String {
    let name = qualified(&t.schema, &t.name);
    let mut sql = String::new();
    match plan.strategy {
        Strategy::Standalone => {}
        Strategy::InheritLater => {
            for p in parents {
                sql.push_str(&format!(
                    "\nALTER TABLE ONLY {name} INHERIT {};",
                    qualified(&p.schema, &p.name)
                ));
            }
        }
        Strategy::Inherits => {
            for c in t.columns.iter().filter(|c| c.generated.is_none()) {
                let from_parents: Vec<&Column> = parents
                    .iter()
                    .filter_map(|p| p.columns.iter().find(|pc| pc.name == c.name))
                    .collect();
                if from_parents.is_empty() {
                    continue;
                }
                let col = quote_ident(&c.name);
                // A parent's NOT VALID NOT NULL (18+) reaches the child after the data.
                let parent_not_null = from_parents
                    .iter()
                    .any(|p| p.not_null || p.not_null_name.is_some());
                // A child's own, named one is part of its CREATE TABLE (PostgreSQL 18).
                let own_named = c.not_null && c.not_null_local && c.not_null_name.is_some();
                if !plan.prints(c) && c.not_null && !parent_not_null && !own_named {
                    sql.push_str(&match &c.not_null_name {
                        Some(n) => format!(
                            "\nALTER TABLE ONLY {name} ADD CONSTRAINT {} NOT NULL {col};",
                            quote_ident(n)
                        ),
                        None => {
                            format!("\nALTER TABLE ONLY {name} ALTER COLUMN {col} SET NOT NULL;")
                        }
                    });
                }
                // A listed column keeps the default it is listed with; without one it
                // takes its parents'.
                let inherited = from_parents.iter().find_map(|p| p.default.as_deref());
                let expected = match (plan.prints(c), c.default.as_deref()) {
                    (true, Some(d)) => Some(d),
                    _ => inherited,
                };
                match (c.default.as_deref(), expected) {
                    (a, b) if a == b => {}
                    (Some(d), _) => sql.push_str(&format!(
                        "\nALTER TABLE ONLY {name} ALTER COLUMN {col} SET DEFAULT {d};"
                    )),
                    (None, _) => sql.push_str(&format!(
                        "\nALTER TABLE ONLY {name} ALTER COLUMN {col} DROP DEFAULT;"
                    )),
                }
            }
        }
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, local: bool) -> Column {
        Column {
            num: 0,
            name: name.into(),
            type_sql: "integer".into(),
            not_null: false,
            default: None,
            identity: None,
            generated: None,
            collation: None,
            default_oid: None,
            is_local: local,
            inherited: !local,
            storage: None,
            compression: None,
            stat_target: None,
            options: Vec::new(),
            fdw_options: Vec::new(),
            not_null_name: None,
            not_null_no_inherit: false,
            not_null_oid: None,
            not_null_local: false,
        }
    }

    fn table(name: &str, columns: Vec<Column>, parents: Vec<u32>) -> Table {
        Table {
            owner: "o".into(),
            columns,
            parents,
            ..Table::named(1, "s", name, 'r')
        }
    }

    #[test]
    fn child_created_with_inherits_keeps_inherits() {
        let a = table("a", vec![col("x", true), col("y", true)], vec![]);
        let c = table(
            "c",
            vec![col("x", false), col("y", true), col("w", true)],
            vec![2],
        );
        let p = plan(&c, &[&a], &[]);
        assert_eq!(p.strategy, Strategy::Inherits);
        assert!(p.warning.is_none());
        assert!(!p.prints(&c.columns[0]) && p.prints(&c.columns[1]));
    }

    #[test]
    fn child_inheriting_later_is_created_whole_then_attached() {
        let a = table("a", vec![col("x", true)], vec![]);
        let d = table("d", vec![col("q", true), col("x", true)], vec![2]);
        let p = plan(&d, &[&a], &[]);
        assert_eq!(p.strategy, Strategy::InheritLater);
        assert!(after_create(&d, &p, &[&a]).contains("ALTER TABLE ONLY s.d INHERIT s.a;"));
    }

    #[test]
    fn unreproducible_order_is_reported() {
        let a = table("a", vec![col("x", true), col("n", true)], vec![]);
        let d = table(
            "d",
            vec![col("x", false), col("own", true), col("n", false)],
            vec![2],
        );
        let p = plan(&d, &[&a], &[]);
        assert_eq!(p.strategy, Strategy::Inherits);
        assert!(p.warning.unwrap().contains("s.d"));
    }

    #[test]
    fn inherited_columns_get_their_own_not_null_and_default() {
        let mut px = col("x", true);
        px.default = Some("1".into());
        let a = table("a", vec![px, col("y", true)], vec![]);
        let mut cx = col("x", false);
        cx.default = Some("2".into());
        let mut cy = col("y", false);
        cy.not_null = true;
        let c = table("c", vec![cx, cy], vec![2]);
        let p = plan(&c, &[&a], &[]);
        let sql = after_create(&c, &p, &[&a]);
        assert!(sql.contains("ALTER COLUMN x SET DEFAULT 2;"), "{sql}");
        assert!(sql.contains("ALTER COLUMN y SET NOT NULL;"), "{sql}");
    }

    #[test]
    fn a_dropped_inherited_default_is_dropped_again() {
        let mut px = col("x", true);
        px.default = Some("1".into());
        let a = table("a", vec![px], vec![]);
        let c = table("c", vec![col("x", true)], vec![2]);
        let p = plan(&c, &[&a], &[]);
        let sql = after_create(&c, &p, &[&a]);
        assert!(sql.contains("ALTER COLUMN x DROP DEFAULT;"), "{sql}");
    }
}
