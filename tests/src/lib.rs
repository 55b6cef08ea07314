//! Test harness for rdump: throwaway PostgreSQL clusters started from the installed server
//! binaries, and the comparisons the round-trip tests rely on.
//!
//! ```no_run
//! use rdump_tests::{assert_same, Cluster};
//!
//! let source = Cluster::start();
//! source.create_db("app");
//! source.psql("app", "CREATE TABLE t (id int); INSERT INTO t VALUES (1)");
//! let target = Cluster::start();
//! target.create_db("app");
//! // ... rdump from source, rrestore into target ...
//! assert_same(&source, "app", &target, "app");
//! ```
//!
//! Server binaries come from `PG_BINDIR`, else `pg_config --bindir`. Under root, the server
//! runs as the `postgres` system user (else `nobody`); tests stay root and connect over the
//! cluster's private socket as role `postgres`. Each process runs initdb once and copies the
//! result per cluster. Clusters stop and vanish on drop, also when a test panics.

mod cluster;
mod command;
mod compare;
mod config;
mod fixtures;
mod paths;
mod pg_install;
mod quote;
mod scratch;
mod server_user;
mod template;
mod tls;
mod upgrade_adjust;

pub use cluster::{Cluster, ClusterOptions};
pub use command::{check, clean_pg_env, describe, mask_password, run, run_with_stdin};
pub use compare::{assert_same, compare_databases, diff, normalize_schema_dump};
pub use fixtures::{create_fixture_roles, load_roundtrip, load_zoo, load_zoo_for};
pub use paths::{
    build_workspace_binaries, fixture, rbackup_bin, rdump_bin, rrestore_bin, rseed_bin,
    workspace_root,
};
pub use pg_install::{default_bindir, version_bindir};
pub use quote::{conninfo_value, quote_ident, quote_literal};
pub use server_user::{as_server, give_tree_to_server};
pub use upgrade_adjust::adjust_for_upgrade;
