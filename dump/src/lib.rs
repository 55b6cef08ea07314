//! rdump: a parallel, snapshot-consistent logical dump of one PostgreSQL database into
//! a directory archive (see `archive_format::toc`).

pub mod catalog;
pub mod chunks;
pub mod data;
pub mod ddl;
pub mod deps;
pub mod error;
mod hooks;
pub mod model;
pub mod objects;
pub mod pattern;
pub mod relstats;
pub mod rows;
pub mod run;
pub mod select;
pub mod session;
pub mod toc_builder;

pub use error::{Error, Result};
pub use run::{dump, DumpOptions, DumpSummary};
pub use select::SelectOptions;
