//! rrestore: restores an rdump archive with N connections, scheduled over the
//! entries' dependency graph.

pub mod error;
pub mod graph;
pub mod load;
pub mod locks;
pub mod run;
pub mod schedule;
pub mod session;

pub use error::{Error, Result};
pub use run::{restore, RestoreOptions, RestoreSummary};
