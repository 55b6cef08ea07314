//! rrestore: restores an rdump archive with N connections, scheduled over the entries'
//! dependency graph; or writes it as an SQL script; or lists it. Options follow pg_restore.

pub mod blobs;
pub mod clean;
pub mod database;
pub mod error;
pub mod execute;
pub mod graph;
pub mod journal;
pub mod listing;
pub mod load;
pub mod order;
pub mod run;
pub mod schedule;
pub mod script;
pub mod select;
pub mod session;
#[cfg(test)]
mod test_toc;

pub use error::{Error, Result};
pub use run::{
    check_options, list, restore, script, RestoreOptions, RestoreSummary, ScriptOptions,
};
pub use select::Selection;
pub use session::SessionOptions;
