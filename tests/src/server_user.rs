//! Who the server runs as. initdb and postgres refuse to run as root, so under root the
//! harness runs them as an unprivileged system user and hands that user the data files.
//! Tests and the programs under test stay root and connect as role `postgres`.

use std::ffi::CString;
use std::os::unix::fs::{chown, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

/// A system account: user id and primary group id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Account {
    pub uid: u32,
    pub gid: u32,
}

/// The account server processes run as: `None` when we are not root (they run as us),
/// else the `postgres` system user when it exists, else `nobody`.
pub fn server_account() -> Option<Account> {
    static ACCOUNT: OnceLock<Option<Account>> = OnceLock::new();
    *ACCOUNT.get_or_init(|| {
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            return None;
        }
        let account = lookup("postgres").or_else(|| lookup("nobody"));
        Some(account.unwrap_or_else(|| {
            panic!("running as root, but neither a `postgres` nor a `nobody` user exists to run the server as")
        }))
    })
}

fn lookup(name: &str) -> Option<Account> {
    let c_name = CString::new(name).ok()?;
    let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buffer = vec![0 as libc::c_char; 16 * 1024];
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer refers to live memory of the stated size; getpwnam_r is the
    // thread-safe variant and writes only into `entry` and `buffer`.
    let rc = unsafe {
        libc::getpwnam_r(
            c_name.as_ptr(),
            &mut entry,
            buffer.as_mut_ptr(),
            buffer.len(),
            &mut result,
        )
    };
    (rc == 0 && !result.is_null()).then_some(Account {
        uid: entry.pw_uid,
        gid: entry.pw_gid,
    })
}

/// Makes `cmd` run as the server account (a no-op when we are not root).
pub fn as_server(cmd: &mut Command) -> &mut Command {
    if let Some(account) = server_account() {
        cmd.uid(account.uid).gid(account.gid);
    }
    cmd
}

/// Hands `path` (not its contents) to the server account.
pub fn give_to_server(path: &Path) {
    if let Some(account) = server_account() {
        chown(path, Some(account.uid), Some(account.gid))
            .unwrap_or_else(|err| panic!("chown {}: {err}", path.display()));
    }
}

/// Hands `path` and everything below it (not following links) to the server account.
pub fn give_tree_to_server(path: &Path) {
    let Some(account) = server_account() else {
        return;
    };
    let owner = (Some(account.uid), Some(account.gid));
    let mut stack = vec![path.to_path_buf()];
    while let Some(p) = stack.pop() {
        let meta = std::fs::symlink_metadata(&p)
            .unwrap_or_else(|err| panic!("stat {}: {err}", p.display()));
        if meta.file_type().is_symlink() {
            std::os::unix::fs::lchown(&p, owner.0, owner.1)
                .unwrap_or_else(|err| panic!("chown {}: {err}", p.display()));
            continue;
        }
        chown(&p, owner.0, owner.1).unwrap_or_else(|err| panic!("chown {}: {err}", p.display()));
        if meta.is_dir() {
            let entries =
                std::fs::read_dir(&p).unwrap_or_else(|err| panic!("read {}: {err}", p.display()));
            stack.extend(entries.filter_map(|e| e.ok()).map(|e| e.path()));
        }
    }
}

/// Sets the permission bits of `path`.
pub fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|err| panic!("chmod {:o} {}: {err}", mode, path.display()));
}
