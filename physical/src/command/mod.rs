//! One module per rbackup command.

pub mod archive;
pub mod backup;
pub mod expire;
pub mod info;
pub mod restore;
pub mod verify;
