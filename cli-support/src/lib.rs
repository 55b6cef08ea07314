//! What every binary of the toolkit sets up the same way: the runtime, logging to stderr,
//! the exit codes (0 ok, 1 finished with errors, 2 usage or setup error) with a one-line
//! error, and Ctrl-C (cancel what every connection runs on the server, say what is left,
//! exit 1).

use std::future::Future;
use std::io::IsTerminal;
use std::process::ExitCode;

/// Exit code: finished, with errors.
pub const EXIT_ERRORS: u8 = 1;
/// Exit code: bad usage, or could not set up (connect, read the input).
pub const EXIT_SETUP: u8 = 2;

/// Logs to stderr: warnings, `-v` info, `-vv` debug; `RDUMP_LOG` overrides (an
/// `EnvFilter` spec).
pub fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("RDUMP_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("{level},tokio_postgres=warn"))
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

/// Runs `work` on a multi-threaded runtime. An error is printed as `program: error: …`
/// and exits [`EXIT_SETUP`] when `is_setup` says so, else [`EXIT_ERRORS`].
pub fn run<E: std::fmt::Display>(
    program: &str,
    work: impl Future<Output = Result<ExitCode, E>>,
    is_setup: impl Fn(&E) -> bool,
) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{program}: error: cannot start the runtime: {e}");
            return ExitCode::from(EXIT_SETUP);
        }
    };
    match runtime.block_on(work) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{program}: error: {e}");
            ExitCode::from(if is_setup(&e) {
                EXIT_SETUP
            } else {
                EXIT_ERRORS
            })
        }
    }
}

/// On Ctrl-C: cancels what every registered connection runs (a client that just exits
/// leaves its statement running on the server), prints `state` (what is left and what to
/// do), and exits 1. Call from inside the runtime.
pub fn exit_on_interrupt(program: &'static str, cancellers: pgconn::CancelList, state: String) {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            for failure in cancellers.cancel_all().await {
                eprintln!("{program}: warning: {failure}");
            }
            eprintln!("{program}: error: interrupted; {state}");
            std::process::exit(EXIT_ERRORS.into());
        }
    });
}
