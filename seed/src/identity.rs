//! What a template is a copy of: a 128-bit identity taken from the archive's table of
//! contents, never from its data files (their checksums are in the toc already, so a
//! changed row changes the identity without a byte of data being read again).
//!
//! The identity covers, for each entry the restore would run: its kind, names, owner,
//! statements, dependencies and, for data, the COPY statement and every file's size, row
//! count and checksum; plus the restore options that change the result beyond that choice
//! of entries (`-O`). It leaves out what does not change the database: when the dump was
//! taken, by which tool version, with how many jobs, and the entries' size estimates.
//! So two dumps of an unchanged database, with the same rdump and codec, share a template;
//! a different codec or level changes the files' checksums and so gives a new one.

use archive_format::toc::Toc;
use serde_json::Value;
use xxhash_rust::xxh3::Xxh3;

/// Bumped whenever the way a template is built changes what it holds, so templates built
/// the old way are never cloned by a newer rseed.
const RECIPE: &str = "rseed template recipe 1";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Identity(u128);

impl Identity {
    /// The identity of restoring the entries `selected` of `toc`, with `no_owner` (`-O`).
    pub fn of_archive(toc: &Toc, selected: &[bool], no_owner: bool) -> Identity {
        let mut h = Xxh3::new();
        feed(&mut h, "archive");
        feed(&mut h, RECIPE);
        feed(&mut h, &toc.header.encoding);
        feed(
            &mut h,
            if toc.header.standard_conforming_strings {
                "scs on"
            } else {
                "scs off"
            },
        );
        feed(&mut h, if no_owner { "no owner" } else { "owners" });
        for (entry, _) in toc.entries.iter().zip(selected).filter(|(_, s)| **s) {
            let mut v = serde_json::to_value(entry).unwrap_or(Value::Null);
            // An estimate that follows the server's statistics, not the content.
            if let Value::Object(map) = &mut v {
                map.remove("size");
            }
            // serde_json's maps keep keys sorted, so this text is canonical.
            feed(&mut h, &v.to_string());
        }
        Identity(h.digest128())
    }

    /// The identity of a database built by a test suite's setup function, named by the
    /// caller's `key` (for example a hash of its migration files).
    pub fn of_setup(key: &str) -> Identity {
        let mut h = Xxh3::new();
        feed(&mut h, "setup");
        feed(&mut h, RECIPE);
        feed(&mut h, key);
        Identity(h.digest128())
    }

    /// 32 lower-case hex digits.
    pub fn hex(&self) -> String {
        format!("{:032x}", self.0)
    }

    pub fn parse_hex(s: &str) -> Option<Identity> {
        if s.len() != 32 {
            return None;
        }
        u128::from_str_radix(s, 16).ok().map(Identity)
    }

    /// The two keys of `pg_advisory_lock(int4, int4)` that guard building this template.
    pub fn lock_keys(&self) -> (i32, i32) {
        let top = (self.0 >> 64) as u64;
        ((top >> 32) as u32 as i32, top as u32 as i32)
    }
}

/// Length-prefixed, so that no two sequences of parts hash alike.
fn feed(h: &mut Xxh3, part: &str) {
    h.update(&(part.len() as u64).to_le_bytes());
    h.update(part.as_bytes());
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toc() -> Toc {
        serde_json::from_value(serde_json::json!({
            "header": {
                "format": {"major": 1, "minor": 1},
                "tool": "rdump 0.1.0",
                "server_version": "15.18",
                "server_version_num": 150018,
                "database": "app",
                "encoding": "UTF8",
                "standard_conforming_strings": true,
                "created_at": "2026-01-01T00:00:00Z",
                "options": {"jobs": 2},
                "codec": {"method": "zstd", "level": 1},
                "checksum": "xxh3-128"
            },
            "entries": [
                {"id": 1, "kind": "TABLE", "section": "pre-data", "schema": "public",
                 "name": "t", "create": "CREATE TABLE public.t (a int);",
                 "drop": "DROP TABLE public.t;", "size": 8192},
                {"id": 2, "kind": "TABLE DATA", "section": "data", "schema": "public",
                 "name": "t", "deps": [1], "table": 1, "size": 8192,
                 "data": {"copy": "COPY public.t (a) FROM stdin;", "files": [
                    {"path": "data/2.copy.zst", "raw_size": 6, "stored_size": 15,
                     "checksum": "00112233445566778899aabbccddeeff", "rows": 3}]}}
            ]
        }))
        .unwrap_or_else(|e| panic!("sample toc: {e}"))
    }

    #[test]
    fn time_tool_and_estimates_do_not_change_it() {
        let a = toc();
        let mut b = toc();
        b.header.created_at = "2027-05-05T00:00:00Z".into();
        b.header.tool = "rdump 9.9.9".into();
        b.header.options = serde_json::json!({"jobs": 8});
        b.entries[1].size = 1 << 30;
        let all = [true, true];
        assert_eq!(
            Identity::of_archive(&a, &all, false),
            Identity::of_archive(&b, &all, false)
        );
    }

    #[test]
    fn a_changed_file_selection_or_owner_option_changes_it() {
        let a = toc();
        let all = [true, true];
        let base = Identity::of_archive(&a, &all, false);
        let mut b = toc();
        if let Some(data) = b.entries[1].data.as_mut() {
            data.files[0].file.checksum = "ffffffffffffffffffffffffffffffff".into();
        }
        assert_ne!(base, Identity::of_archive(&b, &all, false));
        assert_ne!(base, Identity::of_archive(&a, &[true, false], false));
        assert_ne!(base, Identity::of_archive(&a, &all, true));
        assert_ne!(base, Identity::of_setup("x"));
    }

    #[test]
    fn hex_round_trips_and_lock_keys_are_stable() {
        let id = Identity::of_setup("migrations v3");
        assert_eq!(Identity::parse_hex(&id.hex()), Some(id));
        assert_eq!(
            id.lock_keys(),
            Identity::of_setup("migrations v3").lock_keys()
        );
        assert_eq!(Identity::parse_hex("xyz"), None);
    }
}
