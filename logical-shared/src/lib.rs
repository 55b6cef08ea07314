//! What rdump and rrestore (and rseed, which drives both) share beyond the archive format
//! itself: archive-format stores and checks archives; the SQL around them lives here.
//!
//! - [`sql`]: quoting of identifiers and literals for every statement the tools build;
//! - [`database`]: the statements that give a database the properties its DATABASE entry
//!   records;
//! - [`data_order`]: the order a data-only selection loads in, so referenced rows come first;
//! - [`filter`]: pg_dump's and pg_restore's `--filter` files.

pub mod data_order;
pub mod database;
pub mod filter;
pub mod sql;
