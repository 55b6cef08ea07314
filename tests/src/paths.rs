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
/// current sources first (see [`build_workspace_binaries`]).
pub fn rdump_bin() -> PathBuf {
    workspace_binary("rdump", "RDUMP_BIN")
}

/// The `rrestore` binary: `RRESTORE_BIN` when set, else `target/<profile>/rrestore`, built
/// from the current sources first.
pub fn rrestore_bin() -> PathBuf {
    workspace_binary("rrestore", "RRESTORE_BIN")
}

/// The `rbackup` binary: `RBACKUP_BIN` when set, else `target/<profile>/rbackup`, built
/// from the current sources first.
pub fn rbackup_bin() -> PathBuf {
    workspace_binary("rbackup", "RBACKUP_BIN")
}

/// The `rseed` binary: `RSEED_BIN` when set, else `target/<profile>/rseed`, built from the
/// current sources with its test hooks first.
pub fn rseed_bin() -> PathBuf {
    workspace_binary("rseed", "RSEED_BIN")
}

/// The workspace programs the tests run, and the variables that override each.
const PROGRAMS: [(&str, &str); 4] = [
    ("rdump", "RDUMP_BIN"),
    ("rrestore", "RRESTORE_BIN"),
    ("rbackup", "RBACKUP_BIN"),
    ("rseed", "RSEED_BIN"),
];

/// Features the tests need in the programs: their test hooks (rseed's pause points, for
/// killing a builder at a chosen stage; rbackup's stall after N chunks; rdump's choice of
/// data client). Release builds have none of them.
const TEST_FEATURES: &str = "rseed/test-hooks,dump/test-hooks,physical/test-hooks";

/// Brings `target/<profile>/rdump`, `rrestore`, `rbackup` and `rseed` up to date with their sources, once per
/// process; later calls return the first outcome.
///
/// `cargo test` builds a package's binaries only for that package's own integration tests,
/// so without this they would be missing from a fresh clone, and stale whenever their
/// sources changed since the last `cargo build`. One `cargo build` for both is a no-op when
/// they are fresh (cargo releases its lock before tests run). Every [`crate::Cluster`] start
/// calls this first, so a build never lands inside a test's timing-sensitive part (a lock held
/// for a while, say); its failure only surfaces when a test asks for a binary.
pub fn build_workspace_binaries() -> Result<(), String> {
    static OUTCOME: OnceLock<Result<(), String>> = OnceLock::new();
    OUTCOME
        .get_or_init(|| {
            let wanted: Vec<&str> = PROGRAMS
                .iter()
                .filter(|(_, var)| std::env::var_os(var).filter(|v| !v.is_empty()).is_none())
                .map(|(name, _)| *name)
                .collect();
            if wanted.is_empty() {
                return Ok(());
            }
            run_cargo_build(&wanted, &profile_dir())
        })
        .clone()
}

fn workspace_binary(name: &str, override_var: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(override_var).filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        if !path.is_file() {
            panic!("{override_var}={} does not name a file", path.display());
        }
        return path;
    }
    if let Err(err) = build_workspace_binaries() {
        panic!("{name} could not be built from the current sources: {err}");
    }
    let path = profile_dir().join(name);
    if !path.is_file() {
        panic!(
            "{} not found after building it: run `cargo build --workspace` first (or set {override_var})",
            path.display()
        );
    }
    path
}

fn run_cargo_build(names: &[&str], profile_dir: &Path) -> Result<(), String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let mut cmd = Command::new(cargo);
    // --workspace resolves features exactly as a developer's `cargo build --workspace`
    // does, so the two never take turns relinking the binaries.
    cmd.current_dir(workspace_root()).args([
        "build",
        "--quiet",
        "--workspace",
        "--features",
        TEST_FEATURES,
    ]);
    for name in names {
        cmd.args(["--bin", name]);
    }
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
        .map_err(|err| format!("could not run `{}`: {err}", describe(&cmd)))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(failure_message(&cmd, &output))
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
