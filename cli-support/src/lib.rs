//! What every binary of the toolkit (rdump, rrestore, rbackup, rseed) sets up the same
//! way: the runtime, logging to stderr, the exit codes (0 ok, 1 finished with errors,
//! 2 usage or setup error) with a one-line error, and Ctrl-C.
//!
//! Ctrl-C has one model, [`on_ctrl_c`]: the program's [`pgconn::CancelList`] (where
//! every connection it opens is registered) is triggered — every statement running on
//! the server is cancelled, since a client that just exits leaves it running, and the
//! stop flag its workers check is raised — then the program has a bounded time to wind
//! down on its own (remove what it wrote, report); past that the handler says what is
//! left and what to do, and exits 1.

use std::future::Future;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use pgconn::CancelList;

/// Exit code: finished, with errors.
pub const EXIT_ERRORS: u8 = 1;
/// Exit code: bad usage, or could not set up (connect, read the input).
pub const EXIT_SETUP: u8 = 2;

/// A progress bar of bytes on the terminal, `{verb} 1.2 GiB/4 GiB 300 MiB/s eta 10s`;
/// a hidden one unless `enabled`.
pub fn bytes_progress(enabled: bool, verb: &str, total: u64) -> indicatif::ProgressBar {
    if !enabled {
        return indicatif::ProgressBar::hidden();
    }
    let pb = indicatif::ProgressBar::new(total);
    pb.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{{spinner}} {verb} {{bytes}}/{{total_bytes}} {{bytes_per_sec}} eta {{eta}}"
        ))
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    pb.enable_steady_tick(Duration::from_millis(200));
    pb
}

/// Logs to stderr: warnings, `-v` info, `-vv` debug; `RDUMP_LOG` overrides (an
/// `EnvFilter` spec).
pub fn init_logging(verbose: u8) {
    init_logging_from("RDUMP_LOG", verbose);
}

/// [`init_logging`], with the override read from `variable`.
pub fn init_logging_from(variable: &str, verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env(variable).unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("{level},tokio_postgres=warn"))
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

/// The multi-threaded runtime of a program; `worker_threads` caps its threads (the
/// default is one per core).
pub fn runtime(worker_threads: Option<usize>) -> Result<tokio::runtime::Runtime, String> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = worker_threads {
        builder.worker_threads(n.max(1));
    }
    builder
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
}

/// Runs `work` on a multi-threaded runtime. An error is printed as `program: error: …`
/// (with its causes, for errors that carry them) and exits [`EXIT_SETUP`] when
/// `is_setup` says so, else [`EXIT_ERRORS`].
pub fn run<E: std::fmt::Display>(
    program: &str,
    work: impl Future<Output = Result<ExitCode, E>>,
    is_setup: impl Fn(&E) -> bool,
) -> ExitCode {
    let runtime = match runtime(None) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{program}: error: {e}");
            return ExitCode::from(EXIT_SETUP);
        }
    };
    match runtime.block_on(work) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{program}: error: {e:#}");
            ExitCode::from(if is_setup(&e) {
                EXIT_SETUP
            } else {
                EXIT_ERRORS
            })
        }
    }
}

/// On Ctrl-C: triggers `cancellers` (cancels what every registered connection runs,
/// raises the stop flag), gives the program `wind_down` to end by itself (it sees
/// [`CancelList::is_triggered`] and reports), then prints `interrupted; {state()}`
/// (what is left and what to do) and exits [`EXIT_ERRORS`]. Call from inside the
/// runtime; the handler runs on one of its threads, so it also fires while the
/// program's own thread is blocked.
pub fn on_ctrl_c(
    program: &'static str,
    cancellers: CancelList,
    wind_down: Duration,
    state: impl FnOnce() -> String + Send + 'static,
) {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_err() {
            // No signal handling here: the default action (exit) stays.
            return;
        }
        for failure in cancellers.trigger().await {
            eprintln!("{program}: warning: {failure}");
        }
        if !wind_down.is_zero() {
            tokio::time::sleep(wind_down).await;
        }
        eprintln!("{program}: error: interrupted; {}", state());
        std::process::exit(EXIT_ERRORS.into());
    });
}
