//! Turns the catalog model into TOC entries: CREATE / DROP SQL, sections and dependencies.

use std::collections::HashMap;

use archive_format::toc::{EntryKind, LockMode, Section};
use logical_shared::sql::{qualified, quote_ident, quote_literal};

use crate::model::*;
use crate::objects::{class, column_settings, inheritance, ObjId};
use crate::toc_builder::{entry, TocBuilder};

impl TocBuilder {
    pub fn add_schemas(&mut self, schemas: &[Schema]) {
        for s in schemas {
            let name = quote_ident(&s.name);
            // `public` comes with every database: its entry only carries a changed owner,
            // and its privileges and comment, which hang off it.
            let public = s.name == "public";
            let owner = Some(s.owner.as_str()).filter(|o| !(public && *o == "pg_database_owner"));
            let (create, drop) = if public {
                (String::new(), String::new())
            } else {
                (
                    format!("CREATE SCHEMA {name};"),
                    format!("DROP SCHEMA {name};"),
                )
            };
            let e = entry(
                EntryKind::Schema,
                Section::PreData,
                None,
                &s.name,
                owner,
                create,
                drop,
            );
            let id = self.add_object(e, ObjId::namespace(s.oid), "SCHEMA", name);
            self.schema_ids.insert(s.name.clone(), id);
        }
    }

    /// Free-standing sequences (identity sequences are created by their table).
    pub fn add_sequences(&mut self, seqs: &[Sequence]) {
        for s in seqs.iter().filter(|s| !s.identity) {
            let name = qualified(&s.schema, &s.name);
            let create = format!(
                "CREATE {}SEQUENCE {name}\n    AS {}\n{};",
                if s.unlogged == Some(true) {
                    "UNLOGGED "
                } else {
                    ""
                },
                s.type_sql,
                sequence_options(s)
            );
            let e = entry(
                EntryKind::Sequence,
                Section::PreData,
                Some(&s.schema),
                &s.name,
                Some(&s.owner),
                create,
                format!("DROP SEQUENCE {name};"),
            );
            self.add_object(e, ObjId::rel(s.oid), "SEQUENCE", name);
        }
    }

    pub fn add_table(
        &mut self,
        t: &Table,
        checks: &[&Constraint],
        seqs: &[Sequence],
        tables: &HashMap<u32, &Table>,
    ) -> u32 {
        let name = qualified(&t.schema, &t.name);
        let parents: Vec<&Table> = t
            .parents
            .iter()
            .filter_map(|p| tables.get(p).copied())
            .collect();
        let plan = inheritance::plan(t, &parents, checks);
        if let Some(w) = &plan.warning {
            tracing::warn!("{w}");
        }
        let mut lines: Vec<String> = if t.of_type.is_some() {
            t.columns.iter().filter_map(typed_column_sql).collect()
        } else {
            t.columns
                .iter()
                .filter(|c| plan.prints(c))
                .map(|c| {
                    // A child listing a column it also inherits takes the parent's
                    // generation expression; repeating it is refused (PostgreSQL < 16).
                    let same_as_parent = plan.strategy == inheritance::Strategy::Inherits
                        && c.inherited
                        && c.generated.is_some()
                        && parents.iter().flat_map(|p| &p.columns).any(|pc| {
                            pc.name == c.name
                                && pc.generated == c.generated
                                && pc.default == c.default
                        });
                    column_sql(t, c, seqs, same_as_parent)
                })
                .collect()
        };
        // PostgreSQL 18: a child's own NOT NULL on a column it inherits keeps its own name
        // (CREATE TABLE ... INHERITS would give it the parent's) and stays the child's when
        // the parent's goes; and a child's validated one under a parent's NOT VALID one (which
        // comes after the data, and no other parent has a valid one) must exist before: a
        // table constraint of the child's CREATE TABLE, as pg_dump writes both.
        if plan.strategy == inheritance::Strategy::Inherits {
            for c in t.columns.iter().filter(|c| !plan.prints(c)) {
                let of_parents = parents
                    .iter()
                    .filter_map(|p| p.columns.iter().find(|pc| pc.name == c.name));
                let (mut not_valid, mut valid) = (false, false);
                for pc in of_parents {
                    not_valid |= !pc.not_null && pc.not_null_name.is_some();
                    valid |= pc.not_null;
                }
                // With another parent's valid one, the child inherits that at CREATE TABLE.
                let parent_not_valid = not_valid && !valid;
                if let Some(line) = own_not_null_line(c, parent_not_valid) {
                    lines.push(line);
                }
            }
        }
        let inline_checks: Vec<&&Constraint> =
            checks.iter().filter(|c| plan.prints_check(t, c)).collect();
        for c in &inline_checks {
            lines.push(check_line(c));
        }
        let keyword = if t.kind == 'f' {
            "FOREIGN TABLE"
        } else {
            "TABLE"
        };
        let mut create = format!(
            "CREATE {}{keyword} {name}",
            if t.unlogged { "UNLOGGED " } else { "" }
        );
        let body = if lines.is_empty() {
            " (\n)".to_owned()
        } else {
            format!(" (\n    {}\n)", lines.join(",\n    "))
        };
        match &t.of_type {
            Some(ty) if lines.is_empty() => create.push_str(&format!(" OF {ty}")),
            Some(ty) => create.push_str(&format!(" OF {ty}{body}")),
            None => create.push_str(&body),
        }
        if plan.strategy == inheritance::Strategy::Inherits {
            let names: Vec<String> = parents
                .iter()
                .map(|p| qualified(&p.schema, &p.name))
                .collect();
            create.push_str(&format!("\nINHERITS ({})", names.join(", ")));
        }
        if let Some(key) = &t.partition_key {
            create.push_str(&format!("\nPARTITION BY {key}"));
        }
        if let Some(am) = &t.access_method {
            create.push_str(&format!("\nUSING {}", quote_ident(am)));
        }
        if let Some(f) = &t.foreign {
            create.push_str(&format!("\nSERVER {}", quote_ident(&f.server)));
            if !f.options.is_empty() {
                create.push_str(&format!(
                    "\nOPTIONS (\n    {}\n)",
                    column_settings::fdw_options_sql(&f.options, ",\n    ")
                ));
            }
        }
        if !t.reloptions.is_empty() {
            create.push_str(&format!(
                "\nWITH ({})",
                column_settings::reloptions_sql(&t.reloptions)
            ));
        }
        create.push(';');
        create.push_str(&inheritance::after_create(t, &plan, &parents));
        create.push_str(&column_settings::alter_statements(t));
        // An identity sequence is created as logged or unlogged as its table; one changed
        // since says so.
        for s in seqs.iter().filter(|s| {
            s.identity
                && s.owned_by.as_ref().is_some_and(|(o, _)| *o == t.oid)
                && s.unlogged.is_some_and(|u| u != t.unlogged)
        }) {
            create.push_str(&format!(
                "\nALTER SEQUENCE {} SET {};",
                qualified(&s.schema, &s.name),
                if s.unlogged == Some(true) {
                    "UNLOGGED"
                } else {
                    "LOGGED"
                }
            ));
        }
        // Foreign tables have no replica identity ('n' in the catalog).
        match t.replica_identity {
            _ if t.kind == 'f' => {}
            'f' => create.push_str(&format!("\nALTER TABLE ONLY {name} REPLICA IDENTITY FULL;")),
            'n' => create.push_str(&format!(
                "\nALTER TABLE ONLY {name} REPLICA IDENTITY NOTHING;"
            )),
            _ => {}
        }
        let kind = if t.kind == 'f' {
            EntryKind::ForeignTable
        } else {
            EntryKind::Table
        };
        let mut e = entry(
            kind,
            Section::PreData,
            Some(&t.schema),
            &t.name,
            Some(&t.owner),
            create,
            format!("DROP {keyword} {name};"),
        );
        e.size = t.size;
        e.partitioned = t.partition_key.is_some();
        let id = self.add_object(e, ObjId::rel(t.oid), keyword, name);
        // What CREATE TABLE makes along with the table: dependencies on these are on it.
        for ty in &t.row_types {
            self.alias(ObjId::type_(*ty), id);
        }
        for d in t.columns.iter().filter_map(|c| c.default_oid) {
            self.alias(ObjId::new(class::PG_ATTRDEF, d), id);
        }
        let tname = qualified(&t.schema, &t.name);
        // Validated NOT NULL constraints (PostgreSQL 18) are made with the table: so that
        // comments can name them. NOT VALID ones have entries of their own.
        for c in t.columns.iter().filter(|c| c.not_null) {
            if let (Some(oid), Some(n)) = (c.not_null_oid, &c.not_null_name) {
                self.alias(ObjId::constraint(oid), id);
                self.register(
                    ObjId::constraint(oid),
                    id,
                    "CONSTRAINT",
                    format!("{} ON {tname}", quote_ident(n)),
                );
            }
        }
        for c in inline_checks {
            self.inline_checks.push(crate::toc_builder::InlineCheck {
                obj: ObjId::constraint(c.oid),
                table_entry: id,
                schema: t.schema.clone(),
                table_name: t.name.clone(),
                name: c.name.clone(),
                definition: c.definition.clone(),
                line: check_line(c),
            });
            self.alias(ObjId::constraint(c.oid), id);
            // So that its comment can name it.
            self.register(
                ObjId::constraint(c.oid),
                id,
                "CONSTRAINT",
                format!("{} ON {tname}", quote_ident(&c.name)),
            );
        }
        for s in seqs
            .iter()
            .filter(|s| s.identity && s.owned_by.as_ref().is_some_and(|(o, _)| *o == t.oid))
        {
            self.alias(ObjId::rel(s.oid), id);
        }
        id
    }

    /// `ALTER SEQUENCE ... OWNED BY` for serial-style sequences, once both exist.
    pub fn add_sequence_ownership(&mut self, seqs: &[Sequence], tables: &HashMap<u32, &Table>) {
        for s in seqs.iter().filter(|s| !s.identity) {
            let (Some((table_oid, column)), Some(seq_id)) =
                (&s.owned_by, self.id_of(ObjId::rel(s.oid)))
            else {
                continue;
            };
            let (Some(table), Some(table_id)) =
                (tables.get(table_oid), self.id_of(ObjId::rel(*table_oid)))
            else {
                continue;
            };
            let create = format!(
                "ALTER SEQUENCE {} OWNED BY {}.{};",
                qualified(&s.schema, &s.name),
                qualified(&table.schema, &table.name),
                quote_ident(column)
            );
            let mut e = entry(
                EntryKind::SequenceOwnedBy,
                Section::PreData,
                Some(&s.schema),
                &s.name,
                Some(&s.owner),
                create,
                String::new(),
            );
            e.deps = vec![seq_id, table_id];
            e.table = Some(table_id);
            self.push(e, None);
        }
    }

    pub fn add_sequence_values(&mut self, seqs: &[Sequence]) {
        for s in seqs {
            // An identity sequence is part of its table's entry.
            let owner_entry = if s.identity {
                s.owned_by
                    .as_ref()
                    .and_then(|(t, _)| self.id_of(ObjId::rel(*t)))
            } else {
                self.id_of(ObjId::rel(s.oid))
            };
            let Some(dep) = owner_entry else { continue };
            let create = format!(
                "SELECT pg_catalog.setval({}, {}, {});",
                quote_literal(&qualified(&s.schema, &s.name)),
                s.last_value,
                s.is_called
            );
            let mut e = entry(
                EntryKind::SequenceSet,
                Section::Data,
                Some(&s.schema),
                &s.name,
                Some(&s.owner),
                create,
                String::new(),
            );
            e.deps = vec![dep];
            self.push(e, None);
        }
    }

    /// Primary key, unique and exclusion constraints; NOT VALID checks; foreign keys.
    pub fn add_constraints(&mut self, cons: &[Constraint], tables: &HashMap<u32, &Table>) {
        // Foreign keys last so that the unique constraints they reference have entries.
        let order = |c: &&Constraint| (c.kind == 'f') as u8;
        // Valid checks are part of CREATE TABLE; inherited NOT VALID ones come with
        // their parent's.
        let mut sorted: Vec<&Constraint> = cons
            .iter()
            .filter(|c| !matches!(c.kind, 'c' | 'n') || (!c.validated && c.is_local))
            .collect();
        sorted.sort_by_key(order);
        for c in sorted {
            let (Some(table), Some(table_id)) = (
                tables.get(&c.table_oid),
                self.id_of(ObjId::rel(c.table_oid)),
            ) else {
                continue;
            };
            let kind = match c.kind {
                'f' => EntryKind::FkConstraint,
                'c' => EntryKind::CheckConstraint,
                _ => EntryKind::Constraint,
            };
            let tname = qualified(&table.schema, &table.name);
            let cname = quote_ident(&c.name);
            // A check reaches the children (it could not be added to the parent alone),
            // and so do a foreign key and an exclusion constraint on a partitioned table; a
            // partitioned table's key is built on it alone and its partitions' keys
            // attached to it.
            let only = match (c.kind, table.kind) {
                ('c' | 'n', _) | ('f' | 'x', 'p') => "",
                _ => "ONLY ",
            };
            let marks = index_marks(&tname, &cname, c.clustered, c.replica_identity);
            let create = format!(
                "ALTER TABLE {only}{tname}\n    ADD CONSTRAINT {cname} {};{marks}",
                c.definition
            );
            let drop = format!("ALTER TABLE {only}{tname} DROP CONSTRAINT {cname};");
            let mut e = entry(
                kind,
                Section::PostData,
                Some(&table.schema),
                &format!("{} {}", table.name, c.name),
                Some(&table.owner),
                create,
                drop,
            );
            e.deps = vec![table_id];
            e.table = Some(table_id);
            e.size = table.size;
            if c.kind == 'f' {
                // On both tables.
                e.lock = LockMode::ShareRowExclusive;
                if let Some(r) = c.ref_table_oid.and_then(|o| self.id_of(ObjId::rel(o))) {
                    e.deps.push(r);
                }
                if let Some(i) = c.index_oid.and_then(|o| self.id_of(ObjId::rel(o))) {
                    e.deps.push(i);
                }
            }
            e.deps.dedup();
            e.index_build = index_build(c, table).map(|mut b| {
                b.attach.push_str(&marks);
                b
            });
            let id = self.push(e, Some(ObjId::constraint(c.oid)));
            self.register(
                ObjId::constraint(c.oid),
                id,
                "CONSTRAINT",
                format!("{cname} ON {tname}"),
            );
            // A foreign key names the index it relies on: let that index oid find this entry.
            // The index is the constraint's and has its name: a comment on it comes after.
            if let Some(idx) = c.index_oid.filter(|_| c.kind != 'f') {
                self.alias(ObjId::rel(idx), id);
                self.register(
                    ObjId::rel(idx),
                    id,
                    "INDEX",
                    qualified(&table.schema, &c.name),
                );
            }
        }
    }

    pub fn add_indexes(&mut self, indexes: &[Index], tables: &HashMap<u32, &Table>) {
        for i in indexes {
            let (Some(table), Some(table_id)) = (
                tables.get(&i.table_oid),
                self.id_of(ObjId::rel(i.table_oid)),
            ) else {
                continue;
            };
            let tname = qualified(&table.schema, &table.name);
            let iname = quote_ident(&i.name);
            let marks = index_marks(&tname, &iname, i.clustered, i.replica_identity);
            // CREATE INDEX takes SHARE; the ALTER TABLEs that mark the index take more.
            let lock = if marks.is_empty() {
                LockMode::Share
            } else {
                LockMode::AccessExclusive
            };
            let create = format!("{};{marks}", i.definition);
            let mut e = entry(
                EntryKind::Index,
                Section::PostData,
                Some(&i.schema),
                &i.name,
                Some(&table.owner),
                create,
                format!("DROP INDEX {};", qualified(&i.schema, &i.name)),
            );
            e.deps = vec![table_id];
            e.table = Some(table_id);
            e.size = table.size;
            e.lock = lock;
            let id = self.push(e, Some(ObjId::rel(i.oid)));
            self.register(
                ObjId::rel(i.oid),
                id,
                "INDEX",
                qualified(&i.schema, &i.name),
            );
        }
    }
}

/// The table's CLUSTER mark and replica identity, when they name this index.
fn index_marks(table: &str, index: &str, clustered: bool, replica_identity: bool) -> String {
    let mut sql = String::new();
    if clustered {
        sql.push_str(&format!("\nALTER TABLE {table} CLUSTER ON {index};"));
    }
    if replica_identity {
        sql.push_str(&format!(
            "\nALTER TABLE ONLY {table} REPLICA IDENTITY USING INDEX {index};"
        ));
    }
    sql
}

/// PRIMARY KEY / UNIQUE as a plain unique index plus `ADD CONSTRAINT ... USING INDEX`
/// (not possible on partitioned tables, nor for a `WITHOUT OVERLAPS` key, whose GiST index
/// the server refuses to take over: those are built by `ADD CONSTRAINT` itself).
fn index_build(c: &Constraint, table: &Table) -> Option<archive_format::toc::IndexBuild> {
    let index_def = c.index_def.as_ref()?;
    if table.kind == 'p' || c.period {
        return None;
    }
    let kind = match c.kind {
        'p' => "PRIMARY KEY",
        'u' => "UNIQUE",
        _ => return None,
    };
    let deferral = match (c.deferrable, c.deferred) {
        (true, true) => " DEFERRABLE INITIALLY DEFERRED",
        (true, false) => " DEFERRABLE",
        _ => "",
    };
    let name = quote_ident(&c.name);
    Some(archive_format::toc::IndexBuild {
        create_index: format!("{index_def};"),
        attach: format!(
            "ALTER TABLE ONLY {} ADD CONSTRAINT {name} {kind} USING INDEX {name}{deferral};",
            qualified(&table.schema, &table.name)
        ),
    })
}

fn sequence_options(s: &Sequence) -> String {
    format!(
        "    START WITH {}\n    INCREMENT BY {}\n    MINVALUE {}\n    MAXVALUE {}\n    CACHE {}{}",
        s.start,
        s.increment,
        s.min,
        s.max,
        s.cache,
        if s.cycle { "\n    CYCLE" } else { "" }
    )
}

/// A CHECK constraint as a line of CREATE TABLE.
fn check_line(c: &Constraint) -> String {
    format!("CONSTRAINT {} {}", quote_ident(&c.name), c.definition)
}

/// A column's definition. `inherited_generation`: the column is generated by the
/// expression it inherits, which is left out.
fn column_sql(t: &Table, c: &Column, seqs: &[Sequence], inherited_generation: bool) -> String {
    let mut sql = format!("{} {}", quote_ident(&c.name), c.type_sql);
    if let Some(coll) = &c.collation {
        sql.push_str(&format!(" COLLATE {coll}"));
    }
    // A partition's identity is its parent's (PostgreSQL 17+): ATTACH brings it.
    let identity = c.identity.filter(|_| !(t.is_partition() && c.inherited));
    match (c.generated, identity) {
        (Some(_), _) if inherited_generation => {}
        (Some(g), _) => {
            let expr = c.default.as_deref().unwrap_or("NULL");
            let kind = if g == 'v' { "VIRTUAL" } else { "STORED" };
            sql.push_str(&format!(" GENERATED ALWAYS AS ({expr}) {kind}"));
        }
        (None, Some(ident)) => {
            let how = if ident == 'a' { "ALWAYS" } else { "BY DEFAULT" };
            sql.push_str(&format!(" GENERATED {how} AS IDENTITY"));
            let seq = seqs.iter().find(|s| {
                s.identity
                    && s.owned_by
                        .as_ref()
                        .is_some_and(|(o, col)| *o == t.oid && *col == c.name)
            });
            if let Some(s) = seq {
                sql.push_str(&format!(
                    " (\n    SEQUENCE NAME {}\n{}\n    )",
                    qualified(&s.schema, &s.name),
                    sequence_options(s).replace('\n', "\n    ")
                ));
            }
        }
        (None, None) => {
            if let Some(d) = &c.default {
                sql.push_str(&format!(" DEFAULT {d}"));
            }
        }
    }
    // An identity column is NOT NULL by itself, but on PostgreSQL 18 its constraint has a
    // name, which the server would otherwise choose (and a partition made earlier may hold).
    if c.not_null && (identity.is_none() || c.not_null_name.is_some()) {
        if let Some(n) = &c.not_null_name {
            sql.push_str(&format!(" CONSTRAINT {}", quote_ident(n)));
        }
        sql.push_str(" NOT NULL");
        if c.not_null_no_inherit {
            sql.push_str(" NO INHERIT");
        }
    }
    sql
}

/// A typed table's column (`OF type`): listed only for what the type does not say.
fn typed_column_sql(c: &Column) -> Option<String> {
    if c.default.is_none() && !c.not_null {
        return None;
    }
    let mut sql = format!("{} WITH OPTIONS", quote_ident(&c.name));
    if let Some(d) = &c.default {
        sql.push_str(&format!(" DEFAULT {d}"));
    }
    if c.not_null {
        if let Some(n) = &c.not_null_name {
            sql.push_str(&format!(" CONSTRAINT {}", quote_ident(n)));
        }
        sql.push_str(" NOT NULL");
    }
    Some(sql)
}

/// `CONSTRAINT name NOT NULL col`: a child's validated NOT NULL on an inherited column that
/// is its own, or under a parent's NOT VALID one (PostgreSQL 18), as a table constraint of
/// its CREATE TABLE.
fn own_not_null_line(c: &Column, parent_not_valid: bool) -> Option<String> {
    if !(c.not_null && (c.not_null_local || parent_not_valid)) {
        return None;
    }
    let name = c.not_null_name.as_ref()?;
    Some(format!(
        "CONSTRAINT {} NOT NULL {}{}",
        quote_ident(name),
        quote_ident(&c.name),
        if c.not_null_no_inherit {
            " NO INHERIT"
        } else {
            ""
        }
    ))
}
