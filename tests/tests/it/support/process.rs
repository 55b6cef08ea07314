//! Shared by the reliability tests: running a tool in the background, interrupting it,
//! watching its server sessions, and judging what an interrupted run left behind.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use archive_format::toc::Toc;
use rdump_tests::{check, Cluster};

use crate::tools::{fails, rrestore_cmd};

/// Starts `cmd` with stderr captured and stdout discarded.
pub fn spawn(cmd: &mut Command) -> Child {
    eprintln!("$ {} &", rdump_tests::describe(cmd));
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for `child` to end within `limit`; kills it and panics otherwise. Returns its
/// status and stderr.
pub fn finish(mut child: Child, limit: Duration) -> (ExitStatus, String) {
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the program did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        pipe.read_to_string(&mut stderr).unwrap();
    }
    (status, stderr)
}

/// Polls `cond` every 10 ms until it holds; panics after `limit` or if `child` ends first.
pub fn wait_for(what: &str, child: &mut Child, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            if let Some(mut pipe) = child.stderr.take() {
                let _ = pipe.read_to_string(&mut stderr);
            }
            panic!("the program ended ({status}) before {what}: {stderr}");
        }
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Sends `signal` (libc::SIGINT, ...) to `child`.
pub fn signal(child: &Child, signal: libc::c_int) {
    // SAFETY: kill has no memory-safety preconditions; the pid is our own child's.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, signal) };
    assert_eq!(rc, 0, "kill({}, {signal}) failed", child.id());
}

/// Server sessions of the program that set `application_name` to `app`.
pub fn sessions(cluster: &Cluster, app: &str) -> usize {
    cluster
        .psql(
            "postgres",
            &format!(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = '{app}' AND pid <> pg_backend_pid()"
            ),
        )
        .parse()
        .unwrap()
}

/// Waits (bounded) until no session of `app` is left on the server; panics naming what
/// the remaining ones are doing.
pub fn wait_for_no_sessions(cluster: &Cluster, app: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    while sessions(cluster, app) > 0 {
        if Instant::now() > deadline {
            panic!(
                "{app} sessions still on the server after {limit:?}:\n{}",
                cluster.psql(
                    "postgres",
                    &format!("SELECT pid, state, query FROM pg_stat_activity WHERE application_name = '{app}'")
                )
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A moment spread over `total`: the i-th of n slices, at a pseudo-random place in it.
pub fn spread(total: Duration, i: u32, n: u32) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let within = f64::from(nanos % 1000) / 1000.0;
    total.mul_f64((f64::from(i) + within) / f64::from(n))
}

/// What an interrupted dump may leave at `dir`: nothing; a directory rrestore refuses as
/// incomplete, naming it; or (killed after it finished) a complete archive whose every
/// listed file is there with its size and checksum. Returns whether it was complete.
pub fn judge_dump_leftover(cluster: &Cluster, dir: &Path) -> bool {
    if !dir.exists() {
        return false;
    }
    if dir.join("toc.json").exists() {
        let toc = Toc::read(dir).unwrap();
        for e in &toc.entries {
            for f in e.data.iter().flat_map(|d| &d.files) {
                archive_format::verify_file(dir, &f.file, toc.header.checksum).unwrap_or_else(
                    |err| panic!("toc.json lists a missing or partial file: {err}"),
                );
            }
        }
        return true;
    }
    let shown = dir.to_str().unwrap();
    let (code, stderr) = fails(&mut rrestore_cmd(cluster, &["-d", "postgres", shown]));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(shown) && stderr.contains("not an rdump archive"),
        "the refusal should name the directory: {stderr}"
    );
    false
}

/// `pgbench -i -s scale` into a new database `db`.
pub fn pgbench_db(cluster: &Cluster, db: &str, scale: u32) {
    cluster.create_db(db);
    let mut init = cluster.client("pgbench");
    init.args(cluster.conn_args())
        .args(["-i", "-q", "-s", &scale.to_string(), db]);
    check(&mut init);
}

/// The exit status's code; panics when a signal ended the process (it was meant to exit).
pub fn exit_code(status: ExitStatus, stderr: &str) -> i32 {
    status
        .code()
        .unwrap_or_else(|| panic!("ended by a signal ({status}), not an exit: {stderr}"))
}
