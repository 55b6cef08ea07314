//! Where the programs under test and the fixtures are.

use std::path::{Path, PathBuf};

/// The workspace root (the directory above this crate).
pub fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives inside the workspace")
}

/// `<workspace>/fixtures/<name>`; panics when it does not exist.
pub fn fixture(name: &str) -> PathBuf {
    let path = workspace_root().join("fixtures").join(name);
    if !path.exists() {
        panic!("fixture {} does not exist", path.display());
    }
    path
}

/// The `rdump` binary: `RDUMP_BIN`, else `target/<profile>/rdump` next to this test binary.
pub fn rdump_bin() -> PathBuf {
    workspace_binary("rdump", "RDUMP_BIN")
}

/// The `rrestore` binary: `RRESTORE_BIN`, else `target/<profile>/rrestore`.
pub fn rrestore_bin() -> PathBuf {
    workspace_binary("rrestore", "RRESTORE_BIN")
}

fn workspace_binary(name: &str, override_var: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(override_var).filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        if !path.is_file() {
            panic!("{override_var}={} does not name a file", path.display());
        }
        return path;
    }
    let dir = profile_dir();
    let path = dir.join(name);
    if !path.is_file() {
        panic!(
            "{} not found: run `cargo build --workspace` first (or set {override_var})",
            path.display()
        );
    }
    path
}

/// `target/<profile>`: test binaries live in `target/<profile>/deps/`, the workspace's
/// programs one level up.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_else(|err| panic!("current_exe: {err}"));
    let deps = exe
        .parent()
        .unwrap_or_else(|| panic!("{} has no parent", exe.display()));
    if deps.file_name().is_some_and(|n| n == "deps") {
        deps.parent().unwrap_or(deps).to_path_buf()
    } else {
        deps.to_path_buf()
    }
}
