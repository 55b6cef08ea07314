//! rseed: a ready copy of an archive's database in milliseconds.
//!
//! The archive is restored once per server into a template database, made ready for
//! cloning (frozen, analyzed, closed to connections), and from then on every copy is a
//! `CREATE DATABASE … TEMPLATE`, which PostgreSQL does at file-copy speed. The template is
//! found again by the archive's content identity ([`identity`]); any number of processes
//! asking for the same one at once build it exactly once ([`seed::ensure_template`]).
//!
//! [`testing`] is the API for Rust test suites: a fresh database per test.

pub mod build;
pub mod clone;
pub mod error;
mod hooks;
pub mod identity;
pub mod prune;
pub mod record;
pub mod seed;
pub mod server;
pub mod testing;

pub use clone::{Strategy, StrategyChoice};
pub use error::{Error, Result};
pub use seed::{seed, SeedOptions, SeedSummary, Source};
