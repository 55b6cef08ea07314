//! What rdump knows about a database: plain data read from the catalog, no SQL text
//! generation (that is `ddl`).

#[derive(Clone, Debug)]
pub struct Schema {
    pub oid: u32,
    pub name: String,
    pub owner: String,
}

#[derive(Clone, Debug)]
pub struct Column {
    pub num: i16,
    pub name: String,
    /// `format_type()` of the column type, with typmod.
    pub type_sql: String,
    pub not_null: bool,
    pub default: Option<String>,
    /// 'a' (ALWAYS), 'd' (BY DEFAULT) or None.
    pub identity: Option<char>,
    /// 's' (STORED) or 'v' (VIRTUAL, PostgreSQL 18), with the expression in `default`.
    pub generated: Option<char>,
    /// Collation, qualified and quoted, when it differs from the type's default.
    pub collation: Option<String>,
    /// pg_attrdef row of the default, which pg_depend names in its dependencies.
    pub default_oid: Option<u32>,
    /// Defined by the table itself (attislocal), not only inherited from a parent.
    pub is_local: bool,
    /// Inherited from at least one parent (attinhcount > 0).
    pub inherited: bool,
    /// Storage ('p', 'e', 'm', 'x') when it differs from the type's default.
    pub storage: Option<char>,
    /// Compression method ('p' pglz, 'l' lz4) when one is set (PostgreSQL 14+).
    pub compression: Option<char>,
    /// Statistics target set by ALTER COLUMN ... SET STATISTICS.
    pub stat_target: Option<i32>,
    /// attoptions (`n_distinct=...`), as stored: `name=value`.
    pub options: Vec<String>,
    /// Foreign table column options, as stored: `name=value`.
    pub fdw_options: Vec<String>,
    /// PostgreSQL 18+: the name of the column's NOT NULL constraint.
    pub not_null_name: Option<String>,
    /// PostgreSQL 18+: the NOT NULL constraint is `NO INHERIT`.
    pub not_null_no_inherit: bool,
    /// PostgreSQL 18+: the NOT NULL constraint's oid (comments name it).
    pub not_null_oid: Option<u32>,
    /// PostgreSQL 18+: the NOT NULL constraint is the table's own (`conislocal`), not
    /// only inherited: a child keeps it, under its own name, whatever its parents have.
    pub not_null_local: bool,
}

impl Column {
    /// Generated columns are computed by the server and cannot be loaded by COPY.
    pub fn is_copied(&self) -> bool {
        self.generated.is_none()
    }
}

#[derive(Clone, Debug)]
pub struct Table {
    pub oid: u32,
    pub schema: String,
    pub name: String,
    /// 'r' ordinary, 'p' partitioned, 'f' foreign.
    pub kind: char,
    pub owner: String,
    pub unlogged: bool,
    pub reloptions: Vec<String>,
    /// Heap + TOAST bytes: the work of dumping its data.
    pub size: u64,
    /// Heap pages, for splitting into ctid ranges.
    pub pages: u64,
    pub columns: Vec<Column>,
    /// The table's row type and its array type (parts of the table's entry).
    pub row_types: Vec<u32>,
    /// `pg_get_partkeydef()` of a partitioned table: `RANGE (a)`.
    pub partition_key: Option<String>,
    /// The bound of a partition: `FOR VALUES ...` or `DEFAULT`.
    pub partition_bound: Option<String>,
    /// Inheritance parents (or the partition parent) in `INHERITS` order.
    pub parents: Vec<u32>,
    /// `OF type` of a typed table, qualified and quoted.
    pub of_type: Option<String>,
    /// Table access method when it is not the default one (heap).
    pub access_method: Option<String>,
    /// relreplident: 'd' default, 'n' nothing, 'f' full, 'i' index.
    pub replica_identity: char,
    /// Server and options of a foreign table.
    pub foreign: Option<ForeignTable>,
}

#[derive(Clone, Debug)]
pub struct ForeignTable {
    pub server: String,
    /// As stored: `name=value`.
    pub options: Vec<String>,
}

impl Table {
    /// A relation known by name only, for reading its columns (a materialized view's).
    pub fn named(oid: u32, schema: &str, name: &str, kind: char) -> Table {
        Table {
            oid,
            schema: schema.to_owned(),
            name: name.to_owned(),
            kind,
            owner: String::new(),
            unlogged: false,
            reloptions: Vec::new(),
            size: 0,
            pages: 0,
            columns: Vec::new(),
            row_types: Vec::new(),
            partition_key: None,
            partition_bound: None,
            parents: Vec::new(),
            of_type: None,
            access_method: None,
            replica_identity: 'd',
            foreign: None,
        }
    }

    pub fn has_data(&self) -> bool {
        self.kind == 'r'
    }
    pub fn is_partition(&self) -> bool {
        self.partition_bound.is_some()
    }
}

#[derive(Clone, Debug)]
pub struct Sequence {
    pub oid: u32,
    pub schema: String,
    pub name: String,
    pub owner: String,
    pub type_sql: String,
    pub start: i64,
    pub increment: i64,
    pub min: i64,
    pub max: i64,
    pub cache: i64,
    pub cycle: bool,
    /// Owning column (table oid, column name), from OWNED BY or an identity column.
    pub owned_by: Option<(u32, String)>,
    /// The sequence behind an identity column: created with its table.
    pub identity: bool,
    /// UNLOGGED; None before PostgreSQL 15, which has only logged sequences.
    pub unlogged: Option<bool>,
    pub last_value: i64,
    pub is_called: bool,
}

#[derive(Clone, Debug)]
pub struct Constraint {
    pub oid: u32,
    pub table_oid: u32,
    pub name: String,
    /// 'p', 'u', 'c', 'f', 'x'
    pub kind: char,
    /// `pg_get_constraintdef()`
    pub definition: String,
    /// The index behind it (p/u/x), or the referenced unique index (f).
    pub index_oid: Option<u32>,
    /// For foreign keys: the referenced table.
    pub ref_table_oid: Option<u32>,
    pub validated: bool,
    pub deferrable: bool,
    pub deferred: bool,
    /// `pg_get_indexdef()` of the index behind a PRIMARY KEY or UNIQUE constraint.
    pub index_def: Option<String>,
    /// The constraint's index carries the table's CLUSTER mark / replica identity.
    pub clustered: bool,
    /// A `WITHOUT OVERLAPS` key or a `PERIOD` foreign key (PostgreSQL 18's `conperiod`).
    pub period: bool,
    pub replica_identity: bool,
    /// Defined on the table itself (conislocal), not only inherited.
    pub is_local: bool,
}

#[derive(Clone, Debug)]
pub struct Index {
    pub oid: u32,
    pub table_oid: u32,
    pub schema: String,
    pub name: String,
    /// `pg_get_indexdef()`
    pub definition: String,
    pub clustered: bool,
    pub replica_identity: bool,
}

#[derive(Clone, Debug, Default)]
pub struct Catalog {
    pub schemas: Vec<Schema>,
    pub tables: Vec<Table>,
    pub sequences: Vec<Sequence>,
    pub constraints: Vec<Constraint>,
    pub indexes: Vec<Index>,
}
