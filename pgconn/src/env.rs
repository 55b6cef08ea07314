//! Where defaults come from: environment variables, the OS user, the home directory, the
//! default socket directory. Behind a trait so tests inject them instead of mutating the
//! process environment (tests run in parallel threads).

use std::collections::HashMap;
use std::ffi::CStr;
use std::path::{Path, PathBuf};

/// The outside world as option resolution sees it.
pub trait Environment {
    /// An environment variable (`PGHOST`, `HOME`, ...).
    fn var(&self, name: &str) -> Option<String>;
    /// The operating system's name for the effective user (libpq's default user name).
    fn os_user(&self) -> Result<String, String>;
    /// The effective user's home directory from the password database (used when `HOME`
    /// is unset or empty).
    fn os_home(&self) -> Option<PathBuf>;
    /// Where the server's socket lives when no host is given.
    fn default_socket_dir(&self) -> PathBuf;
}

/// The real process environment.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcessEnv;

/// Debian's libpq looks in /var/run/postgresql; upstream's default is /tmp.
const SOCKET_DIRS: [&str; 2] = ["/var/run/postgresql", "/tmp"];

impl Environment for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    fn os_user(&self) -> Result<String, String> {
        passwd_entry().map(|(name, _)| name)
    }

    fn os_home(&self) -> Option<PathBuf> {
        passwd_entry().ok().map(|(_, home)| home)
    }

    fn default_socket_dir(&self) -> PathBuf {
        let dir = SOCKET_DIRS
            .iter()
            .find(|dir| Path::new(dir).is_dir())
            .unwrap_or(&SOCKET_DIRS[1]);
        PathBuf::from(dir)
    }
}

/// The password-database entry (name, home) of the effective user.
fn passwd_entry() -> Result<(String, PathBuf), String> {
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    let mut buf = vec![0u8; 16 * 1024];
    // SAFETY: an all-zero passwd is a valid value for getpwuid_r to overwrite.
    let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the duration of the call and buf's length is passed.
    let rc = unsafe {
        libc::getpwuid_r(
            uid,
            &mut entry,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut result,
        )
    };
    if rc != 0 {
        return Err(format!(
            "could not look up local user ID {uid}: {}",
            std::io::Error::from_raw_os_error(rc)
        ));
    }
    if result.is_null() {
        return Err(format!("local user with ID {uid} does not exist"));
    }
    // SAFETY: on success pw_name and pw_dir point to NUL-terminated strings inside buf.
    let (name, dir) = unsafe { (CStr::from_ptr(entry.pw_name), CStr::from_ptr(entry.pw_dir)) };
    Ok((
        name.to_string_lossy().into_owned(),
        PathBuf::from(dir.to_string_lossy().into_owned()),
    ))
}

/// A made-up environment for tests and embedders: only the variables you set exist.
#[derive(Clone, Debug)]
pub struct MapEnv {
    vars: HashMap<String, String>,
    user: Option<String>,
    home: Option<PathBuf>,
    socket_dir: PathBuf,
}

impl Default for MapEnv {
    fn default() -> Self {
        MapEnv {
            vars: HashMap::new(),
            user: Some("tester".to_string()),
            home: None,
            socket_dir: PathBuf::from("/tmp"),
        }
    }
}

impl MapEnv {
    /// No variables, OS user `tester`, no home directory, sockets in /tmp.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets one environment variable.
    pub fn var(mut self, name: &str, value: &str) -> Self {
        self.vars.insert(name.to_string(), value.to_string());
        self
    }

    /// Sets the OS user name (`None`: the lookup fails).
    pub fn os_user(mut self, user: Option<&str>) -> Self {
        self.user = user.map(str::to_string);
        self
    }

    /// Sets the password-database home directory.
    pub fn os_home(mut self, home: Option<&Path>) -> Self {
        self.home = home.map(Path::to_path_buf);
        self
    }

    /// Sets the default socket directory.
    pub fn socket_dir(mut self, dir: &Path) -> Self {
        self.socket_dir = dir.to_path_buf();
        self
    }
}

impl Environment for MapEnv {
    fn var(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }

    fn os_user(&self) -> Result<String, String> {
        self.user
            .clone()
            .ok_or_else(|| "no user name in this environment".to_string())
    }

    fn os_home(&self) -> Option<PathBuf> {
        self.home.clone()
    }

    fn default_socket_dir(&self) -> PathBuf {
        self.socket_dir.clone()
    }
}

/// `HOME` when set and non-empty, else the password database (libpq's rule).
pub(crate) fn home_dir(env: &dyn Environment) -> Option<PathBuf> {
    match env.var("HOME") {
        Some(home) if !home.is_empty() => Some(PathBuf::from(home)),
        _ => env.os_home(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_env_knows_the_current_user() {
        let user = ProcessEnv.os_user().unwrap();
        assert!(!user.is_empty());
        assert!(ProcessEnv.os_home().is_some());
    }

    #[test]
    fn home_prefers_the_variable_unless_empty() {
        let env = MapEnv::new()
            .var("HOME", "/h")
            .os_home(Some(Path::new("/pw")));
        assert_eq!(home_dir(&env), Some(PathBuf::from("/h")));
        let env = MapEnv::new()
            .var("HOME", "")
            .os_home(Some(Path::new("/pw")));
        assert_eq!(home_dir(&env), Some(PathBuf::from("/pw")));
    }
}
