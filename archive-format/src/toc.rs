//! `toc.json`: the table of contents of a logical archive (format v1).
//!
//! The TOC is written last, atomically, so a directory without one was never a
//! finished dump. Readers check the format version before anything else so a newer
//! archive fails with a version message rather than a confusing parse error.
//!
//! What the restore needs to know about an entry is a typed field of it (its kind, the
//! lock it takes, whether a table is partitioned, what an attachment joins, what a
//! comment is on), never read back out of its SQL. Archives from before those fields
//! (format 1.0 to 1.2) are read through [`upgrade`], the one place that works them out
//! of the entries' SQL text.

use std::collections::HashSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::atomic::write_atomic;
use crate::checksum::ChecksumAlgo;
use crate::codec::Codec;
use crate::database::DatabaseProps;
use crate::error::{Error, Result};
use crate::record::FileRecord;

mod kind;
mod lock;
pub mod sql_text;
pub mod upgrade;

pub use crate::layout::archive::TOC_FILE;
pub use kind::EntryKind;
pub use lock::LockMode;
pub const FORMAT_MAJOR: u32 = 1;
/// 1.1: the DATABASE entry carries its properties typed (`Entry::database`).
/// 1.2: planner statistics (STATISTICS DATA entries, `Entry::min_server_version`) and
/// `TableData::via_root`.
/// 1.3: what the restore needs is typed: `Entry::partitioned`, `Entry::lock`,
/// `Entry::attach`, `Entry::target_kind` (older archives: see [`upgrade`]).
/// 1.4: `Entry::drop_if_exists`, the DROP script `--if-exists` runs.
pub const FORMAT_MINOR: u32 = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormatVersion {
    pub major: u32,
    pub minor: u32,
}

impl FormatVersion {
    pub const CURRENT: FormatVersion = FormatVersion {
        major: FORMAT_MAJOR,
        minor: FORMAT_MINOR,
    };
}

impl std::fmt::Display for FormatVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub format: FormatVersion,
    /// e.g. "rdump 0.1.0"
    pub tool: String,
    /// `server_version` as the server reports it, e.g. "15.18 (Debian 15.18-0+deb12u1)".
    pub server_version: String,
    /// `server_version_num`, e.g. 150018.
    pub server_version_num: u32,
    pub database: String,
    /// Server encoding of the database; COPY data is in this encoding.
    pub encoding: String,
    pub standard_conforming_strings: bool,
    /// RFC 3339 timestamp of the snapshot.
    pub created_at: String,
    /// The options the dump ran with (for humans and for `rrestore -l`).
    #[serde(default)]
    pub options: serde_json::Value,
    pub codec: Codec,
    pub checksum: ChecksumAlgo,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Section {
    PreData,
    Data,
    PostData,
}

impl Section {
    pub fn as_str(self) -> &'static str {
        match self {
            Section::PreData => "pre-data",
            Section::Data => "data",
            Section::PostData => "post-data",
        }
    }
}

impl std::str::FromStr for Section {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "pre-data" => Ok(Section::PreData),
            "data" => Ok(Section::Data),
            "post-data" => Ok(Section::PostData),
            other => Err(format!(
                "unrecognized section name: \"{other}\" (expected pre-data, data or post-data)"
            )),
        }
    }
}

/// One object of the archive. `kind` is written with pg_dump's names ("TABLE", "INDEX",
/// "FK CONSTRAINT", "TABLE DATA", "SEQUENCE SET", ...).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub id: u32,
    pub kind: EntryKind,
    pub section: Section,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default)]
    pub create: String,
    #[serde(default)]
    pub drop: String,
    /// `drop` in its IF EXISTS form (`--if-exists`); empty when `drop` is.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub drop_if_exists: String,
    /// `ALTER ... OWNER TO ...`, run right after `create` unless the restore skips
    /// ownership (`-O`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_owner: Option<String>,
    #[serde(default)]
    pub deps: Vec<u32>,
    /// The TABLE entry this entry works on (indexes, constraints, data, ...): the
    /// restore scheduler uses it to keep conflicting locks apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<u32>,
    /// Estimated bytes of work (table size for data and index builds): largest first.
    #[serde(default)]
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<TableData>,
    /// For PRIMARY KEY / UNIQUE constraints that can be built from a plain index: the
    /// index alone (takes a SHARE lock, so it builds beside the table's other indexes)
    /// and the statement that turns it into the constraint. `create` stays the
    /// one-statement form for scripts and for servers that refuse the split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_build: Option<IndexBuild>,
    /// On the DATABASE entry: the database's properties, so it can be made under any name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<DatabaseProps>,
    /// The oldest server (`server_version_num`) the entry's SQL runs on: a restore into an
    /// older one skips the entry (statistics need PostgreSQL 18's restore functions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_server_version: Option<u32>,
    /// On a TABLE entry: the table is partitioned. Its rows live in its partitions, so it
    /// is never truncated before a load nor loaded with COPY FREEZE.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partitioned: bool,
    /// The lock `create` takes on `table` (meaningless without one; a data entry's lock
    /// depends on how the restore loads it and is chosen there). ACCESS EXCLUSIVE unless
    /// the entry says otherwise: CREATE INDEX takes SHARE, a trigger or foreign key SHARE
    /// ROW EXCLUSIVE (a foreign key on both its tables), planner statistics SHARE UPDATE
    /// EXCLUSIVE.
    #[serde(default, skip_serializing_if = "LockMode::is_default")]
    pub lock: LockMode,
    /// On a TABLE ATTACH or INDEX ATTACH entry: what it attaches to what.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attach: Option<Attach>,
    /// On an entry that annotates another object (COMMENT, ACL, SECURITY LABEL): the kind
    /// of that object's entry, when it has one. A comment on an EVENT TRIGGER is restored
    /// after the trigger, last; what is on the DATABASE goes with `-C` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_kind: Option<EntryKind>,
}

impl Entry {
    /// An entry of `kind` with nothing but its section and name; the caller fills in the rest.
    pub fn new(kind: EntryKind, section: Section, name: &str) -> Entry {
        Entry {
            id: 0,
            kind,
            section,
            schema: None,
            name: name.to_owned(),
            owner: None,
            create: String::new(),
            drop: String::new(),
            drop_if_exists: String::new(),
            set_owner: None,
            deps: Vec::new(),
            table: None,
            size: 0,
            data: None,
            index_build: None,
            database: None,
            min_server_version: None,
            partitioned: false,
            lock: LockMode::default(),
            attach: None,
            target_kind: None,
        }
    }
}

/// What a TABLE ATTACH or INDEX ATTACH joins: entry ids of the parent (table or index)
/// and of the partition (table or index) attached to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attach {
    pub parent: u32,
    pub child: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexBuild {
    /// `CREATE UNIQUE INDEX name ON ...`
    pub create_index: String,
    /// `ALTER TABLE ONLY t ADD CONSTRAINT name PRIMARY KEY USING INDEX name`
    pub attach: String,
}

/// The data of one table: the COPY statement that loads it and its files (one per chunk).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableData {
    /// e.g. `COPY "s"."t" ("a", "b") FROM stdin`
    pub copy: String,
    pub files: Vec<DataFile>,
    /// A partition's rows loaded through its partition root (`--load-via-partition-root`):
    /// `copy` names the root, so rows go wherever the target's partitioning puts them,
    /// and the partition itself must not be truncated or frozen into.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub via_root: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataFile {
    #[serde(flatten)]
    pub file: FileRecord,
    pub rows: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Toc {
    pub header: Header,
    pub entries: Vec<Entry>,
}

/// Only the part of the document needed to decide whether we can read the rest.
#[derive(Deserialize)]
struct VersionProbe {
    header: ProbeHeader,
}
#[derive(Deserialize)]
struct ProbeHeader {
    format: FormatVersion,
}

impl Toc {
    /// Reads and checks `<dir>/toc.json`.
    pub fn read(dir: &Path) -> Result<Toc> {
        let path = dir.join(TOC_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if dir.is_dir() {
                    return Err(Error::NotArchive {
                        path: dir.to_path_buf(),
                    });
                }
                return Err(Error::Io {
                    path: dir.to_path_buf(),
                    source: e,
                });
            }
            Err(e) => return Err(Error::Io { path, source: e }),
        };
        Self::from_json(&path, &bytes)
    }

    /// Parses a TOC document; `path` is only used in messages.
    pub fn from_json(path: &Path, bytes: &[u8]) -> Result<Toc> {
        let corrupt = |detail: String| Error::Corrupt {
            path: path.to_path_buf(),
            detail,
        };
        let probe: VersionProbe = serde_json::from_slice(bytes)
            .map_err(|e| corrupt(format!("not a valid rdump table of contents: {e}")))?;
        if probe.header.format.major != FORMAT_MAJOR {
            return Err(Error::UnsupportedVersion {
                path: path.to_path_buf(),
                found: probe.header.format.to_string(),
                supported: FormatVersion::CURRENT.to_string(),
            });
        }
        let mut toc: Toc = serde_json::from_slice(bytes)
            .map_err(|e| corrupt(format!("not a valid rdump table of contents: {e}")))?;
        toc.check().map_err(corrupt)?;
        if toc.header.format.minor < upgrade::TYPED_SINCE_MINOR {
            upgrade::derive_typed_fields(&mut toc.entries);
        }
        if toc.header.format.minor < upgrade::IF_EXISTS_SINCE_MINOR {
            upgrade::derive_if_exists_drops(&mut toc.entries);
        }
        Ok(toc)
    }

    /// Structural checks: unique ids, dependencies that exist, file paths that stay
    /// inside the archive, each file listed once (loading one twice would duplicate its
    /// rows). A TOC failing these was not written by rdump.
    fn check(&self) -> std::result::Result<(), String> {
        let mut ids = HashSet::with_capacity(self.entries.len());
        let mut files = HashSet::new();
        for e in &self.entries {
            if !ids.insert(e.id) {
                return Err(format!("entry id {} appears twice", e.id));
            }
        }
        for e in &self.entries {
            let attached = e.attach.iter().flat_map(|a| [a.parent, a.child]);
            for d in e.deps.iter().chain(e.table.iter()).copied().chain(attached) {
                if !ids.contains(&d) {
                    return Err(format!(
                        "entry {} ({} {}) refers to missing entry {d}",
                        e.id, e.kind, e.name
                    ));
                }
            }
            if let Some(data) = &e.data {
                for f in &data.files {
                    if !is_safe_relative_path(&f.file.path) {
                        return Err(format!(
                            "entry {} ({} {}) names a file outside the archive: {:?}",
                            e.id, e.kind, e.name, f.file.path
                        ));
                    }
                    if !files.insert(f.file.path.as_str()) {
                        return Err(format!(
                            "entry {} ({} {}) lists file {:?}, which another entry or chunk already lists",
                            e.id, e.kind, e.name, f.file.path
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Writes `<dir>/toc.json` atomically (temp file, fsync, rename, fsync dir).
    pub fn write(&self, dir: &Path) -> Result<()> {
        let path = dir.join(TOC_FILE);
        let json = self.to_json(&path)?;
        write_atomic(&path, &json)
    }

    /// The document as stored; `path` is only used in messages.
    pub fn to_json(&self, path: &Path) -> Result<Vec<u8>> {
        serde_json::to_vec_pretty(self).map_err(|e| Error::Corrupt {
            path: path.to_path_buf(),
            detail: format!("cannot serialise table of contents: {e}"),
        })
    }

    pub fn entry(&self, id: u32) -> Option<&Entry> {
        self.entries.iter().find(|e| e.id == id)
    }
}

/// A relative path of plain components: no root, no `..`, no empty parts.
pub fn is_safe_relative_path(p: &str) -> bool {
    !p.is_empty()
        && !p.starts_with('/')
        && p.split('/').all(|c| {
            !c.is_empty() && c != "." && c != ".." && !c.contains('\\') && !c.contains('\0')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Toc {
        Toc {
            header: crate::test_util::sample_header(),
            entries: vec![
                Entry {
                    id: 1,
                    schema: Some("public".into()),
                    owner: Some("me".into()),
                    create: "CREATE TABLE public.t (a int);".into(),
                    drop: "DROP TABLE public.t;".into(),
                    drop_if_exists: "DROP TABLE IF EXISTS public.t;".into(),
                    set_owner: Some("ALTER TABLE public.t OWNER TO me;".into()),
                    ..Entry::new(EntryKind::Table, Section::PreData, "t")
                },
                Entry {
                    id: 2,
                    schema: Some("public".into()),
                    deps: vec![1],
                    table: Some(1),
                    size: 10,
                    data: Some(TableData {
                        copy: "COPY public.t (a) FROM stdin".into(),
                        files: vec![DataFile {
                            file: FileRecord {
                                path: "data/2.copy.zst".into(),
                                raw_size: 10,
                                stored_size: 5,
                                checksum: "ab".into(),
                            },
                            rows: 3,
                        }],
                        via_root: false,
                    }),
                    ..Entry::new(EntryKind::TableData, Section::Data, "t")
                },
                Entry {
                    id: 3,
                    schema: Some("public".into()),
                    create: "ALTER TABLE ONLY public.p ATTACH PARTITION public.t DEFAULT;".into(),
                    deps: vec![1, 4],
                    attach: Some(Attach {
                        parent: 4,
                        child: 1,
                    }),
                    ..Entry::new(EntryKind::TableAttach, Section::PreData, "t")
                },
                Entry {
                    id: 4,
                    schema: Some("public".into()),
                    create: "CREATE TABLE public.p (a int)\nPARTITION BY LIST (a);".into(),
                    partitioned: true,
                    ..Entry::new(EntryKind::Table, Section::PreData, "p")
                },
                Entry {
                    id: 5,
                    schema: Some("public".into()),
                    create: "CREATE INDEX i ON public.t (a);".into(),
                    deps: vec![1],
                    table: Some(1),
                    lock: LockMode::Share,
                    ..Entry::new(EntryKind::Index, Section::PostData, "i")
                },
                Entry {
                    id: 6,
                    create: "COMMENT ON EVENT TRIGGER e IS 'x';".into(),
                    target_kind: Some(EntryKind::EventTrigger),
                    ..Entry::new(EntryKind::Comment, Section::PostData, "EVENT TRIGGER e")
                },
            ],
        }
    }

    #[test]
    fn round_trips_through_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        let toc = sample();
        toc.write(dir.path()).unwrap();
        assert_eq!(Toc::read(dir.path()).unwrap(), toc);
    }

    #[test]
    fn missing_toc_is_not_an_archive() {
        let dir = tempfile::tempdir().unwrap();
        let err = Toc::read(dir.path()).unwrap_err();
        assert!(matches!(err, Error::NotArchive { .. }), "{err}");
        assert!(err.to_string().contains("not an rdump archive"));
    }

    #[test]
    fn newer_major_version_is_refused_by_version() {
        let mut v = serde_json::to_value(sample()).unwrap();
        v["header"]["format"]["major"] = 2.into();
        v["header"]["unknown_future_field"] = 1.into();
        let err = Toc::from_json(Path::new("x/toc.json"), v.to_string().as_bytes()).unwrap_err();
        assert!(matches!(err, Error::UnsupportedVersion { .. }), "{err}");
        let named = format!("2.{FORMAT_MINOR}");
        assert!(err.to_string().contains(&named), "{err}");
    }

    #[test]
    fn dangling_dependency_and_escaping_path_are_corrupt() {
        let mut toc = sample();
        toc.entries[1].deps.push(99);
        let json = serde_json::to_vec(&toc).unwrap();
        assert!(Toc::from_json(Path::new("toc.json"), &json)
            .unwrap_err()
            .to_string()
            .contains("missing entry 99"));

        let mut toc = sample();
        toc.entries[1].data.as_mut().unwrap().files[0].file.path = "../../etc/passwd".into();
        let json = serde_json::to_vec(&toc).unwrap();
        assert!(Toc::from_json(Path::new("toc.json"), &json)
            .unwrap_err()
            .to_string()
            .contains("outside the archive"));
    }

    #[test]
    fn a_file_listed_twice_is_corrupt() {
        let mut toc = sample();
        let data = toc.entries[1].data.as_mut().unwrap();
        data.files.push(data.files[0].clone());
        let json = serde_json::to_vec(&toc).unwrap();
        let err = Toc::from_json(Path::new("toc.json"), &json).unwrap_err();
        assert!(err.to_string().contains("already lists"), "{err}");
    }

    #[test]
    fn an_attachment_of_a_missing_entry_is_corrupt() {
        let mut toc = sample();
        toc.entries[2].attach = Some(Attach {
            parent: 77,
            child: 1,
        });
        let json = serde_json::to_vec(&toc).unwrap();
        let err = Toc::from_json(Path::new("toc.json"), &json).unwrap_err();
        assert!(err.to_string().contains("missing entry 77"), "{err}");
    }

    /// The typed fields of a current archive are what it says, never re-derived: the
    /// converter runs for older versions only.
    #[test]
    fn typed_fields_of_a_current_archive_are_read_as_written() {
        let mut toc = sample();
        // What the SQL would suggest, contradicted by the fields.
        toc.entries[3].partitioned = false;
        toc.entries[4].lock = LockMode::AccessExclusive;
        let json = serde_json::to_vec(&toc).unwrap();
        let back = Toc::from_json(Path::new("toc.json"), &json).unwrap();
        assert!(!back.entries[3].partitioned);
        assert_eq!(back.entries[4].lock, LockMode::AccessExclusive);
        assert_eq!(back, toc);
    }

    #[test]
    fn an_older_archive_gets_its_typed_fields_from_the_converter() {
        let mut v = serde_json::to_value(sample()).unwrap();
        v["header"]["format"]["minor"] = 2.into();
        for e in v["entries"].as_array_mut().unwrap() {
            let e = e.as_object_mut().unwrap();
            for field in [
                "partitioned",
                "lock",
                "attach",
                "target_kind",
                "drop_if_exists",
            ] {
                e.remove(field);
            }
        }
        let back = Toc::from_json(Path::new("toc.json"), v.to_string().as_bytes()).unwrap();
        let expected = sample();
        assert_eq!(back.entries, expected.entries);
        assert_eq!(
            back.header.format.minor, 2,
            "the archive's own version is kept"
        );
    }

    #[test]
    fn truncated_json_is_corrupt() {
        let json = serde_json::to_vec(&sample()).unwrap();
        let err = Toc::from_json(Path::new("toc.json"), &json[..json.len() / 2]).unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    }
}
