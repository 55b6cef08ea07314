//! Private directories under /tmp, and making sure none outlive the test process.
//!
//! Every directory the harness makes is `/tmp/rdt-XXXXXX` (short, because a unix socket path
//! must fit in ~107 bytes) and holds an `owner.pid` file. Clusters remove theirs on drop; the
//! rest (templates, certificates) go at process exit. A process killed outright cannot clean
//! up, so the first cluster of every later test process stops and removes directories whose
//! owner is gone.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

const PREFIX: &str = "rdt-";
const OWNER_FILE: &str = "owner.pid";

static REMOVE_AT_EXIT: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// A new, empty private directory owned by this process. With `remove_at_exit`, it is also
/// removed (after stopping any server inside it) when the process exits normally.
pub fn private_dir(remove_at_exit: bool) -> PathBuf {
    reap_orphans_once();
    let dir = tempfile::Builder::new()
        .prefix(PREFIX)
        .tempdir_in("/tmp")
        .unwrap_or_else(|err| panic!("cannot create a directory in /tmp: {err}"))
        .keep();
    crate::server_user::set_mode(&dir, 0o755);
    std::fs::write(dir.join(OWNER_FILE), std::process::id().to_string())
        .unwrap_or_else(|err| panic!("write {}/{OWNER_FILE}: {err}", dir.display()));
    if remove_at_exit {
        register_exit_cleanup();
        lock_exit_list().push(dir.clone());
    }
    dir
}

/// Stops any server running on a data directory below `dir`, then removes `dir`.
pub fn remove_private_dir(dir: &Path) {
    stop_servers_below(dir);
    // A server that was just told to stop may still be unlinking its socket or pid file.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match std::fs::remove_dir_all(dir) {
            Ok(()) => return,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return,
            Err(err) if Instant::now() > deadline => {
                eprintln!("warning: could not remove {}: {err}", dir.display());
                return;
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

fn lock_exit_list() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    // A test that panicked while holding the lock poisons it; the list is still valid.
    REMOVE_AT_EXIT.lock().unwrap_or_else(|p| p.into_inner())
}

fn register_exit_cleanup() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        extern "C" fn at_exit() {
            let dirs = std::mem::take(&mut *lock_exit_list());
            for dir in dirs {
                remove_private_dir(&dir);
            }
        }
        // SAFETY: registering a plain extern "C" function with no captured state.
        unsafe {
            libc::atexit(at_exit);
        }
    });
}

/// Sends an immediate-shutdown signal to every postmaster whose `postmaster.pid` lies one or
/// two levels below `dir`, and waits for it to go. Only processes whose command line names
/// that data directory are signalled, so a recycled pid is never hit.
pub fn stop_servers_below(dir: &Path) {
    for data_dir in data_dirs_below(dir) {
        if let Some(pid) = live_postmaster(&data_dir) {
            signal_and_wait(pid, &data_dir);
        }
    }
}

fn data_dirs_below(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.join("postmaster.pid").is_file() {
            found.push(path.clone());
        }
        if let Ok(inner) = std::fs::read_dir(&path) {
            for inner in inner.flatten() {
                if inner.path().join("postmaster.pid").is_file() {
                    found.push(inner.path());
                }
            }
        }
    }
    found
}

/// The pid of the postmaster running on `data_dir`, if one is alive.
pub fn live_postmaster(data_dir: &Path) -> Option<i32> {
    let text = std::fs::read_to_string(data_dir.join("postmaster.pid")).ok()?;
    let pid: i32 = text.lines().next()?.trim().parse().ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let needle = data_dir.as_os_str().as_bytes();
    let names_dir = cmdline
        .split(|b| *b == 0)
        .any(|arg| arg == needle || arg.ends_with(needle));
    names_dir.then_some(pid)
}

fn signal_and_wait(pid: i32, data_dir: &Path) {
    // SIGQUIT is PostgreSQL's immediate shutdown: children exit, shared memory is released.
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(pid, libc::SIGQUIT) };
    let deadline = Instant::now() + Duration::from_secs(10);
    while live_postmaster(data_dir) == Some(pid) {
        if Instant::now() > deadline {
            eprintln!(
                "warning: postmaster {pid} on {} ignored SIGQUIT; killing it",
                data_dir.display()
            );
            // SAFETY: as above.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn reap_orphans_once() {
    static REAP: Once = Once::new();
    REAP.call_once(reap_orphans);
}

/// Removes `/tmp/rdt-*` directories whose owning process no longer exists.
fn reap_orphans() {
    let Ok(entries) = std::fs::read_dir("/tmp") else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with(PREFIX) {
            continue;
        }
        let dir = entry.path();
        let Ok(owner) = std::fs::read_to_string(dir.join(OWNER_FILE)) else {
            continue;
        };
        let Ok(pid) = owner.trim().parse::<i32>() else {
            continue;
        };
        if !process_alive(pid) {
            eprintln!(
                "removing {} left behind by test process {pid}",
                dir.display()
            );
            remove_private_dir(&dir);
        }
    }
}

fn process_alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence and permission.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}
