//! The kinds of catalog object rdump dumps, one module per family, and what they share:
//! object identity (which catalog a row lives in and its OID, as pg_depend,
//! pg_description and pg_shdepend name objects) and the SQL filters that keep
//! PostgreSQL's own and extensions' objects out.
//!
//! A family is a type implementing [`Family`]: `read` runs a fixed number of
//! set-returning queries, `add_entries` adds one entry per object with
//! `TocBuilder::add_object` and aliases the object's parts. [`Families`] lists them
//! once, in the order their entries are added.
//! Dependencies between entries come from pg_depend afterwards (`crate::deps`); a
//! family only adds the ones pg_depend does not record.

pub mod access_methods;
pub mod acl;
pub mod casts;
pub mod collations;
pub mod column_settings;
pub mod comments;
pub mod conversions;
pub mod database;
pub mod event_triggers;
pub mod extensions;
pub mod foreign_data;
pub mod functions;
pub mod inheritance;
pub mod languages;
pub mod large_objects;
pub mod opclasses;
pub mod operators;
pub mod partitions;
pub mod policies;
pub mod publications;
pub mod rules;
pub mod seclabels;
pub mod statistics;
pub mod subscriptions;
pub mod text_search;
pub mod transforms;
pub mod triggers;
pub mod types;
pub mod views;

use futures::future::BoxFuture;
use tokio_postgres::Client;

use crate::error::Result;
use crate::toc_builder::TocBuilder;

/// What every family's queries may need to know.
#[derive(Clone, Debug)]
pub struct Ctx {
    /// `server_version_num`, for version-aware catalog queries (13 to 18).
    pub server_version: u32,
}

/// One family of catalog objects.
pub trait Family: Send + Sync {
    /// Reads every object of the family (boxed: a list of families holds any of them).
    fn read<'a>(client: &'a Client, ctx: &'a Ctx) -> BoxFuture<'a, Result<Self>>
    where
        Self: Sized;

    /// Adds the family's entries to the archive.
    fn add_entries(&self, toc: &mut TocBuilder);
}

/// Reads family `F` as a `dyn Family`.
fn read_boxed<'a, F: Family + 'static>(
    client: &'a Client,
    ctx: &'a Ctx,
) -> BoxFuture<'a, Result<Box<dyn Family>>> {
    Box::pin(async move { Ok(Box::new(F::read(client, ctx).await?) as Box<dyn Family>) })
}

type ReadFn = for<'a> fn(&'a Client, &'a Ctx) -> BoxFuture<'a, Result<Box<dyn Family>>>;

/// The families whose entries come between the database's and the large objects', in
/// the order they are added: the archive's entry order follows it.
const ENTRY_FAMILIES: &[ReadFn] = &[
    read_boxed::<types::Types>,
    read_boxed::<functions::Functions>,
    read_boxed::<views::Views>,
    read_boxed::<extensions::Extensions>,
    read_boxed::<languages::Languages>,
    read_boxed::<collations::Collations>,
    read_boxed::<conversions::Conversions>,
    read_boxed::<access_methods::AccessMethods>,
    read_boxed::<casts::Casts>,
    read_boxed::<transforms::Transforms>,
    read_boxed::<operators::Operators>,
    read_boxed::<opclasses::OpClasses>,
    read_boxed::<text_search::TextSearch>,
    read_boxed::<partitions::Partitions>,
    read_boxed::<triggers::Triggers>,
    read_boxed::<event_triggers::EventTriggers>,
    read_boxed::<rules::Rules>,
    read_boxed::<policies::Policies>,
    read_boxed::<statistics::Statistics>,
    read_boxed::<foreign_data::ForeignData>,
    read_boxed::<publications::Publications>,
    read_boxed::<subscriptions::Subscriptions>,
];

/// Comments, privileges and security labels, which name objects through the
/// designators every other family registered, in the order they are added.
const ANNOTATION_FAMILIES: &[ReadFn] = &[
    read_boxed::<comments::Comments>,
    read_boxed::<acl::Acls>,
    read_boxed::<seclabels::SecLabels>,
];

/// Every family beyond the core relations (which `crate::catalog` reads because the
/// data phase needs them first).
pub struct Families {
    /// Public: `--no-tablespaces` reaches into its CREATE DATABASE. Its entries come first.
    pub database: database::Database,
    /// [`ENTRY_FAMILIES`], read.
    entries: Vec<Box<dyn Family>>,
    /// Public: their data is dumped by the run after the entries exist. Their entries
    /// come last.
    pub large_objects: large_objects::LargeObjects,
    /// [`ANNOTATION_FAMILIES`], read.
    annotations: Vec<Box<dyn Family>>,
}

async fn read_each(client: &Client, ctx: &Ctx, list: &[ReadFn]) -> Result<Vec<Box<dyn Family>>> {
    let mut read = Vec::with_capacity(list.len());
    for f in list {
        read.push(f(client, ctx).await?);
    }
    Ok(read)
}

pub async fn read_all(client: &Client, ctx: &Ctx) -> Result<Families> {
    Ok(Families {
        database: database::Database::read(client, ctx).await?,
        entries: read_each(client, ctx, ENTRY_FAMILIES).await?,
        large_objects: large_objects::LargeObjects::read(client, ctx).await?,
        annotations: read_each(client, ctx, ANNOTATION_FAMILIES).await?,
    })
}

impl Families {
    /// Comments, privileges and security labels: call after all `add_entries`.
    pub fn add_annotations(&self, toc: &mut TocBuilder) {
        for f in &self.annotations {
            f.add_entries(toc);
        }
    }

    pub fn add_entries(&self, toc: &mut TocBuilder) {
        self.database.add_entries(toc);
        for f in &self.entries {
            f.add_entries(toc);
        }
        self.large_objects.add_entries(toc);
    }
}

/// SQL condition on `n` (pg_namespace): a user schema, not PostgreSQL's own.
pub const USER_SCHEMA: &str = "n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'";

/// SQL condition: the object `oid_expr` of catalog `class` (e.g. `pg_catalog.pg_proc`)
/// is not part of an extension (CREATE EXTENSION recreates those, not us).
pub fn not_extension_member(class: &str, oid_expr: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend e WHERE e.classid = '{class}'::pg_catalog.regclass \
         AND e.objid = {oid_expr} AND e.deptype = 'e')"
    )
}

/// OIDs of the system catalogs themselves. They are fixed by PostgreSQL's bootstrap
/// and identical in every supported version.
pub mod class {
    pub const PG_AM: u32 = 2601;
    pub const PG_AMOP: u32 = 2602;
    pub const PG_AMPROC: u32 = 2603;
    pub const PG_ATTRDEF: u32 = 2604;
    pub const PG_CAST: u32 = 2605;
    pub const PG_CLASS: u32 = 1259;
    pub const PG_COLLATION: u32 = 3456;
    pub const PG_CONSTRAINT: u32 = 2606;
    pub const PG_CONVERSION: u32 = 2607;
    pub const PG_DATABASE: u32 = 1262;
    pub const PG_DEFAULT_ACL: u32 = 826;
    pub const PG_EVENT_TRIGGER: u32 = 3466;
    pub const PG_EXTENSION: u32 = 3079;
    pub const PG_FOREIGN_DATA_WRAPPER: u32 = 2328;
    pub const PG_FOREIGN_SERVER: u32 = 1417;
    pub const PG_LANGUAGE: u32 = 2612;
    pub const PG_LARGEOBJECT: u32 = 2613;
    pub const PG_NAMESPACE: u32 = 2615;
    pub const PG_OPCLASS: u32 = 2616;
    pub const PG_OPERATOR: u32 = 2617;
    pub const PG_OPFAMILY: u32 = 2753;
    pub const PG_POLICY: u32 = 3256;
    pub const PG_PROC: u32 = 1255;
    pub const PG_PUBLICATION: u32 = 6104;
    pub const PG_PUBLICATION_NAMESPACE: u32 = 6237;
    pub const PG_PUBLICATION_REL: u32 = 6106;
    pub const PG_REWRITE: u32 = 2618;
    pub const PG_STATISTIC_EXT: u32 = 3381;
    pub const PG_SUBSCRIPTION: u32 = 6100;
    pub const PG_TRANSFORM: u32 = 3576;
    pub const PG_TRIGGER: u32 = 2620;
    pub const PG_TS_CONFIG: u32 = 3602;
    pub const PG_TS_DICT: u32 = 3600;
    pub const PG_TS_PARSER: u32 = 3601;
    pub const PG_TS_TEMPLATE: u32 = 3764;
    pub const PG_TYPE: u32 = 1247;
    pub const PG_USER_MAPPING: u32 = 1418;
}

/// A catalog object: (catalog OID, object OID).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjId {
    pub class: u32,
    pub oid: u32,
}

impl ObjId {
    pub const fn new(class: u32, oid: u32) -> Self {
        ObjId { class, oid }
    }
    /// A relation (table, view, sequence, index...).
    pub const fn rel(oid: u32) -> Self {
        ObjId::new(class::PG_CLASS, oid)
    }
    pub const fn namespace(oid: u32) -> Self {
        ObjId::new(class::PG_NAMESPACE, oid)
    }
    pub const fn constraint(oid: u32) -> Self {
        ObjId::new(class::PG_CONSTRAINT, oid)
    }
    pub const fn type_(oid: u32) -> Self {
        ObjId::new(class::PG_TYPE, oid)
    }
    pub const fn proc(oid: u32) -> Self {
        ObjId::new(class::PG_PROC, oid)
    }
}
