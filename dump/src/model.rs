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
    /// 'r' ordinary, 'p' partitioned.
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
}

impl Table {
    pub fn has_data(&self) -> bool {
        self.kind == 'r'
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
    pub replica_identity: bool,
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
