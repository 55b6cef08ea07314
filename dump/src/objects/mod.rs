//! The kinds of catalog object rdump dumps, one module per family, and what they share:
//! object identity (which catalog a row lives in and its OID, as pg_depend,
//! pg_description and pg_shdepend name objects) and the SQL filters that keep
//! PostgreSQL's own and extensions' objects out.
//!
//! A family module has `read(client, &Ctx) -> Result<Family>` (a fixed number of
//! set-returning queries) and `Family::add_entries(&self, &mut TocBuilder)`, which adds
//! one entry per object with `TocBuilder::add_object` and aliases the object's parts.
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

use tokio_postgres::Client;

use crate::error::Result;
use crate::toc_builder::TocBuilder;

/// What every family's queries may need to know.
#[derive(Clone, Debug)]
pub struct Ctx {
    /// `server_version_num`, for version-aware catalog queries (13 to 18).
    pub server_version: u32,
}

/// Every family beyond the core relations (which `crate::catalog` reads because the
/// data phase needs them first).
#[derive(Default)]
pub struct Families {
    /// Public: `--no-tablespaces` reaches into its CREATE DATABASE.
    pub database: database::Database,
    types: types::Types,
    functions: functions::Functions,
    views: views::Views,
    comments: comments::Comments,
    acls: acl::Acls,
    extensions: extensions::Extensions,
    languages: languages::Languages,
    collations: collations::Collations,
    conversions: conversions::Conversions,
    access_methods: access_methods::AccessMethods,
    casts: casts::Casts,
    transforms: transforms::Transforms,
    operators: operators::Operators,
    opclasses: opclasses::OpClasses,
    text_search: text_search::TextSearch,
    partitions: partitions::Partitions,
    triggers: triggers::Triggers,
    event_triggers: event_triggers::EventTriggers,
    rules: rules::Rules,
    policies: policies::Policies,
    statistics: statistics::Statistics,
    foreign_data: foreign_data::ForeignData,
    publications: publications::Publications,
    subscriptions: subscriptions::Subscriptions,
    /// Public: their data is dumped by the run after the entries exist.
    pub large_objects: large_objects::LargeObjects,
    seclabels: seclabels::SecLabels,
}

pub async fn read_all(client: &Client, ctx: &Ctx) -> Result<Families> {
    Ok(Families {
        database: database::read(client, ctx).await?,
        types: types::read(client, ctx).await?,
        functions: functions::read(client, ctx).await?,
        views: views::read(client, ctx).await?,
        comments: comments::read(client).await?,
        acls: acl::read(client).await?,
        extensions: extensions::read(client, ctx).await?,
        languages: languages::read(client, ctx).await?,
        collations: collations::read(client, ctx).await?,
        conversions: conversions::read(client, ctx).await?,
        access_methods: access_methods::read(client, ctx).await?,
        casts: casts::read(client, ctx).await?,
        transforms: transforms::read(client, ctx).await?,
        operators: operators::read(client, ctx).await?,
        opclasses: opclasses::read(client, ctx).await?,
        text_search: text_search::read(client, ctx).await?,
        partitions: partitions::read(client, ctx).await?,
        triggers: triggers::read(client, ctx).await?,
        event_triggers: event_triggers::read(client, ctx).await?,
        rules: rules::read(client, ctx).await?,
        policies: policies::read(client, ctx).await?,
        statistics: statistics::read(client, ctx).await?,
        foreign_data: foreign_data::read(client, ctx).await?,
        publications: publications::read(client, ctx).await?,
        subscriptions: subscriptions::read(client, ctx).await?,
        large_objects: large_objects::read(client, ctx).await?,
        seclabels: seclabels::read(client, ctx).await?,
    })
}

impl Families {
    /// Comments and privileges, which name objects through the designators every
    /// family registered: call after all `add_entries`.
    pub fn add_annotations(&self, toc: &mut TocBuilder) {
        self.comments.add_entries(toc);
        self.acls.add_entries(toc);
        self.seclabels.add_entries(toc);
    }

    pub fn add_entries(&self, toc: &mut TocBuilder) {
        self.database.add_entries(toc);
        self.types.add_entries(toc);
        self.functions.add_entries(toc);
        self.views.add_entries(toc);
        self.extensions.add_entries(toc);
        self.languages.add_entries(toc);
        self.collations.add_entries(toc);
        self.conversions.add_entries(toc);
        self.access_methods.add_entries(toc);
        self.casts.add_entries(toc);
        self.transforms.add_entries(toc);
        self.operators.add_entries(toc);
        self.opclasses.add_entries(toc);
        self.text_search.add_entries(toc);
        self.partitions.add_entries(toc);
        self.triggers.add_entries(toc);
        self.event_triggers.add_entries(toc);
        self.rules.add_entries(toc);
        self.policies.add_entries(toc);
        self.statistics.add_entries(toc);
        self.foreign_data.add_entries(toc);
        self.publications.add_entries(toc);
        self.subscriptions.add_entries(toc);
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
