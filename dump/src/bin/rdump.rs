//! `rdump`: pg_dump -Fd -j N, faster. Flags follow pg_dump where the meaning is the same.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use archive_format::Codec;
use clap::{ArgAction, Parser};
use dump::{DumpOptions, Error};
use pgconn::{ConnArgs, ConnectOptions};

#[derive(Parser, Debug)]
#[command(
    name = "rdump",
    version,
    about = "Dump a PostgreSQL database in parallel into a directory archive",
    disable_help_flag = true
)]
struct Cli {
    /// Database to dump: a name, a conninfo string or a postgresql:// URI.
    #[arg(value_name = "DBNAME")]
    dbname_pos: Option<String>,
    /// Database to dump (same as the positional argument).
    #[arg(short = 'd', long = "dbname", value_name = "DBNAME")]
    dbname: Option<String>,
    #[command(flatten)]
    conn: ConnArgs,
    /// Output directory; must not exist or be empty.
    #[arg(short = 'f', long = "file", value_name = "DIR")]
    file: Option<PathBuf>,
    /// Output format; only `d` (directory) is supported.
    #[arg(
        short = 'F',
        long = "format",
        value_name = "FORMAT",
        default_value = "d"
    )]
    format: String,
    /// Number of parallel connections dumping data.
    #[arg(short = 'j', long = "jobs", value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    jobs: u16,
    /// Compression: none, gzip[:N], zstd[:N] or lz4[:N] (pg_dump 16 spelling; 0-9 mean none/gzip).
    #[arg(
        short = 'Z',
        long = "compress",
        value_name = "METHOD[:LEVEL]",
        default_value = "zstd:1"
    )]
    compress: Codec,
    /// Fail instead of waiting longer than this for a table lock (e.g. 5000, 10s, 1min).
    #[arg(long = "lock-wait-timeout", value_name = "TIMEOUT", value_parser = parse_timeout_ms)]
    lock_wait_timeout: Option<u64>,
    /// Do not output commands to set ownership of objects.
    #[arg(short = 'O', long = "no-owner")]
    no_owner: bool,
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

/// PostgreSQL time syntax as pg_dump takes it: a bare number is milliseconds.
fn parse_timeout_ms(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("invalid timeout \"{s}\""))?;
    let factor = match unit.trim() {
        "" | "ms" => 1,
        "s" => 1000,
        "min" => 60_000,
        "h" => 3_600_000,
        other => return Err(format!("invalid unit \"{other}\" (use ms, s, min or h)")),
    };
    Ok(n * factor)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The arguments are parsed: a password in a connection string is no longer needed there.
    pgconn::hide_passwords_in_process_title();
    init_logging(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("rdump: error: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rdump: error: {e:#}");
            let setup = e
                .downcast_ref::<Error>()
                .is_some_and(|e| matches!(e, Error::Usage(_) | Error::Connect(_)));
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

async fn run(cli: Cli) -> anyhow::Result<()> {
    if !matches!(cli.format.as_str(), "d" | "directory") {
        return Err(Error::Usage(format!(
            "unsupported output format \"{}\": rdump writes directory archives (-F d)",
            cli.format
        ))
        .into());
    }
    let Some(output) = cli.file.clone() else {
        return Err(Error::Usage("an output directory is required: -f DIR".into()).into());
    };
    if cli.dbname.is_some() && cli.dbname_pos.is_some() {
        return Err(
            Error::Usage("give the database once: either -d DBNAME or DBNAME".into()).into(),
        );
    }
    let dbname = cli.dbname.as_deref().or(cli.dbname_pos.as_deref());
    let conn = ConnectOptions::resolve(&cli.conn, dbname)
        .map_err(Error::from)?
        .with_application_name("rdump");
    let opts = DumpOptions {
        conn,
        output: output.clone(),
        jobs: cli.jobs as usize,
        codec: cli.compress,
        lock_timeout_ms: cli.lock_wait_timeout.unwrap_or(0),
        no_owner: cli.no_owner,
        progress: std::io::stderr().is_terminal() && cli.verbose == 0,
    };
    tracing::info!("dumping {} into {}", opts.conn.describe(), output.display());
    let summary = dump::dump(&opts)
        .await
        .with_context(|| format!("dump of {} failed", opts.conn.describe()))?;
    if cli.summary_json {
        println!("{}", serde_json::to_string(&summary)?);
    } else if cli.verbose > 0 {
        eprintln!(
            "rdump: dumped database \"{}\": {} tables, {} rows, {} entries, {:.1} MB of data stored as {:.1} MB in {:.2} s",
            summary.database,
            summary.tables,
            summary.rows,
            summary.entries,
            summary.raw_bytes as f64 / 1e6,
            summary.stored_bytes as f64 / 1e6,
            summary.seconds
        );
    }
    Ok(())
}
