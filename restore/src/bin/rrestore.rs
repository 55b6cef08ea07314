//! `rrestore`: pg_restore -j N for rdump archives. Flags follow pg_restore.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgAction, Parser};
use pgconn::{ConnArgs, ConnectOptions};
use restore::{Error, RestoreOptions};

#[derive(Parser, Debug)]
#[command(
    name = "rrestore",
    version,
    about = "Restore an rdump archive in parallel",
    disable_help_flag = true
)]
struct Cli {
    /// The archive directory written by rdump.
    #[arg(value_name = "ARCHIVE")]
    archive: PathBuf,
    /// Database to restore into: a name, a conninfo string or a postgresql:// URI.
    #[arg(short = 'd', long = "dbname", value_name = "DBNAME")]
    dbname: Option<String>,
    #[command(flatten)]
    conn: ConnArgs,
    /// Number of parallel connections.
    #[arg(short = 'j', long = "jobs", value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    jobs: u16,
    /// Stop at the first error instead of carrying on.
    #[arg(short = 'e', long = "exit-on-error")]
    exit_on_error: bool,
    /// maintenance_work_mem for index builds.
    #[arg(
        long = "maintenance-work-mem",
        value_name = "SIZE",
        default_value = "256MB"
    )]
    maintenance_work_mem: String,
    /// Log each step.
    #[arg(short = 'v', long = "verbose", action = ArgAction::Count)]
    verbose: u8,
    /// Print a JSON summary on standard output when done.
    #[arg(long = "summary-json")]
    summary_json: bool,
    /// Print help.
    #[arg(long = "help", action = ArgAction::Help)]
    help: Option<bool>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("rrestore: error: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("rrestore: error: {e}");
            let setup = matches!(e, Error::Usage(_) | Error::Connect(_) | Error::Archive(_));
            ExitCode::from(if setup { 2 } else { 1 })
        }
    }
}

fn init_logging(verbose: u8) {
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

async fn run(cli: Cli) -> Result<ExitCode, Error> {
    let Some(dbname) = cli.dbname.as_deref() else {
        return Err(Error::Usage(
            "a target database is required: -d DBNAME (writing a script with -f is not supported yet)".into(),
        ));
    };
    let conn = ConnectOptions::resolve(&cli.conn, Some(dbname))?.with_application_name("rrestore");
    let opts = RestoreOptions {
        conn,
        archive: cli.archive.clone(),
        jobs: cli.jobs as usize,
        exit_on_error: cli.exit_on_error,
        maintenance_work_mem: cli.maintenance_work_mem.clone(),
        progress: std::io::stderr().is_terminal() && cli.verbose == 0,
    };
    tracing::info!(
        "restoring {} into {}",
        cli.archive.display(),
        opts.conn.describe()
    );
    let summary = restore::restore(&opts).await?;
    if cli.summary_json {
        println!("{}", serde_json::to_string(&summary).unwrap_or_default());
    } else if cli.verbose > 0 {
        eprintln!(
            "rrestore: restored {} of {} items ({} rows) into \"{}\" in {:.2} s",
            summary.done, summary.items, summary.rows, summary.database, summary.seconds
        );
    }
    if !summary.skipped.is_empty() {
        eprintln!(
            "rrestore: skipped because something they depend on failed: {}",
            summary.skipped.join(", ")
        );
    }
    if summary.errors.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "rrestore: warning: errors ignored on restore: {}",
            summary.errors.len()
        );
        Ok(ExitCode::from(1))
    }
}
