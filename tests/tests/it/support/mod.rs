//! The helpers the integration tests share, beside the harness library (`rdump_tests`):
//! running rbackup and checking what it left (`physical`), child processes, signals, sessions
//! and polling with deadlines (`process`), and archives made and edited for rrestore
//! (`restore`).

pub mod physical;
pub mod process;
pub mod restore;
