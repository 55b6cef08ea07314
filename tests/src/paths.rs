//! Where the programs under test and the fixtures are.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::command::{describe, failure_message};

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

/// The `rdump` binary: `RDUMP_BIN` when set, else `target/<profile>/rdump`, built from the
/// current sources first (see [`workspace_binary`]).
pub fn rdump_bin() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| workspace_binary("rdump", "RDUMP_BIN"))
        .clone()
}

/// The `rrestore` binary: `RRESTORE_BIN` when set, else `target/<profile>/rrestore`, built
/// from the current sources first.
pub fn rrestore_bin() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| workspace_binary("rrestore", "RRESTORE_BIN"))
        .clone()
}

/// `cargo test` builds a package's binaries only for that package's own integration tests,
/// so the binaries of `dump` and `restore` are absent from a fresh clone, and stale whenever
/// their sources changed since the last `cargo build`. Running `cargo build` for the one
/// binary (a no-op when it is fresh; cargo releases its lock before tests run) means a test
/// always runs the code it is testing.
fn workspace_binary(name: &str, override_var: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(override_var).filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        if !path.is_file() {
            panic!("{override_var}={} does not name a file", path.display());
        }
        return path;
    }
    let profile_dir = profile_dir();
    build_binary(name, &profile_dir);
    let path = profile_dir.join(name);
    if !path.is_file() {
        panic!(
            "{} not found after building it: run `cargo build --workspace` first (or set {override_var})",
            path.display()
        );
    }
    path
}

fn build_binary(name: &str, profile_dir: &Path) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace_root())
        // --workspace resolves features exactly as a developer's `cargo build --workspace`
        // does, so the two never take turns relinking the binary.
        .args(["build", "--quiet", "--workspace", "--bin", name]);
    let profile = profile_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match profile.as_str() {
        "debug" => {}
        "release" => {
            cmd.arg("--release");
        }
        other => {
            cmd.args(["--profile", other]);
        }
    }
    if let Some(target_dir) = profile_dir.parent() {
        cmd.arg("--target-dir").arg(target_dir);
    }
    eprintln!("$ {}", describe(&cmd));
    let output = cmd
        .output()
        .unwrap_or_else(|err| panic!("could not run `{}`: {err}", describe(&cmd)));
    if !output.status.success() {
        panic!("building {name} failed: {}", failure_message(&cmd, &output));
    }
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
