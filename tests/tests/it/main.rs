//! The integration tests: one binary (faster to build and link than one per file), one module
//! per area. Add a `mod` line for your file.

mod bad_input;
mod catalog_rows;
mod dump_data;
mod dump_selection;
mod dump_switches;
mod harness;
mod pgconn;
mod physical_incremental;
mod physical_load;
mod physical_pagecheck;
mod physical_pitr;
mod physical_repository;
mod physical_resume;
mod physical_roundtrip;
mod physical_versions;
mod reliability_backup;
mod reliability_disk;
mod reliability_dump;
mod reliability_input;
mod reliability_restore;
mod reliability_scale;
mod reliability_security;
mod restore_errors;
mod restore_legacy;
mod restore_options;
mod restore_resume;
mod restore_script;
mod roundtrip;
mod seed;
mod seed_library;
mod statistics;
mod support;
mod tools;
mod versions;
mod zoo;
