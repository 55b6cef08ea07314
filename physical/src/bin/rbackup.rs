//! `rbackup`: physical backup and restore of a PostgreSQL cluster. Connection flags follow
//! pg_dump (`-h -p -U -w -W`); `-j N` and `--compress` as in rdump.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use archive_format::Codec;
use clap::{ArgAction, Args, Parser, Subcommand};
use pgconn::{ConnArgs, ConnectOptions};
use physical::command::archive::{self, GetOutcome, PushOutcome};
use physical::command::backup::{self, BackupOptions};
use physical::command::expire::{self, ExpireOptions};
use physical::command::info;
use physical::command::restore::{self, recovery::RecoveryOptions, RestoreOptions};
use physical::command::verify;
use physical::postgres::lsn::Lsn;
use physical::repository::manifest::BackupType;
use physical::Error;

#[derive(Parser, Debug)]
#[command(
    name = "rbackup",
    version,
    about = "Physical backup and restore of a PostgreSQL cluster: full, differential and incremental backups, WAL archive, verify, expire",
    disable_help_flag = true,
    disable_help_subcommand = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log each step (-vv for more).
    #[arg(short = 'v', long = "verbose", action = ArgAction::Count, global = true)]
    verbose: u8,
    /// Print help.
    #[arg(long = "help", action = ArgAction::Help, global = true)]
    help: Option<bool>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Back up the cluster into the repository.
    #[command(disable_help_flag = true)]
    Backup(BackupArgs),
    /// Restore a backup into a data directory.
    #[command(disable_help_flag = true)]
    Restore(RestoreArgs),
    /// Read back every file of a backup and the WAL it needs; report damage by name.
    #[command(disable_help_flag = true)]
    Verify(VerifyArgs),
    /// List backups and archived WAL.
    #[command(disable_help_flag = true)]
    Info(InfoArgs),
    /// Remove backups beyond the retention and the WAL only they needed.
    #[command(disable_help_flag = true)]
    Expire(ExpireArgs),
    /// Store a WAL file (for archive_command = 'rbackup archive-push %p --repo DIR').
    #[command(name = "archive-push", disable_help_flag = true)]
    ArchivePush(ArchivePushArgs),
    /// Fetch a WAL file (for restore_command = 'rbackup archive-get %f "%p" --repo DIR').
    #[command(name = "archive-get", disable_help_flag = true)]
    ArchiveGet(ArchiveGetArgs),
}

#[derive(Args, Debug)]
struct RepoArg {
    /// The repository directory.
    #[arg(long = "repo", value_name = "DIR", env = "RBACKUP_REPO")]
    repo: PathBuf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Output {
    Text,
    Json,
}

#[derive(Args, Debug)]
struct OutputArg {
    /// Report format.
    #[arg(long = "output", value_enum, default_value = "text")]
    output: Output,
}

#[derive(Args, Debug)]
struct JobsArg {
    /// Number of parallel workers.
    #[arg(short = 'j', long = "jobs", value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    jobs: u16,
}

#[derive(Args, Debug)]
struct BackupArgs {
    #[command(flatten)]
    repo: RepoArg,
    /// The cluster's data directory (read directly).
    #[arg(short = 'D', long = "pgdata", value_name = "DIR", env = "PGDATA")]
    pgdata: PathBuf,
    #[command(flatten)]
    conn: ConnArgs,
    /// Database to connect to (a name, conninfo string or URI).
    #[arg(
        short = 'd',
        long = "dbname",
        value_name = "DBNAME",
        default_value = "postgres"
    )]
    dbname: String,
    #[command(flatten)]
    jobs: JobsArg,
    /// Compression: none, zstd[:N], lz4[:N] or gzip[:N].
    #[arg(
        long = "compress",
        value_name = "METHOD[:LEVEL]",
        default_value = "zstd:3"
    )]
    compress: Codec,
    /// full, diff (changes since the last full backup) or incr (since the last backup).
    #[arg(long = "type", value_name = "TYPE", default_value = "full")]
    backup_type: BackupType,
    /// Compare files by checksum rather than size and modification time (diff/incr).
    #[arg(long = "delta")]
    delta: bool,
    /// Start with an immediate checkpoint instead of a spread one.
    #[arg(long = "fast")]
    fast: bool,
    #[command(flatten)]
    output: OutputArg,
    /// Print help.
    #[arg(long = "help", action = ArgAction::Help)]
    help: Option<bool>,
}

#[derive(Args, Debug)]
struct RestoreArgs {
    #[command(flatten)]
    repo: RepoArg,
    /// The data directory to restore into (new or empty, or existing with --delta).
    #[arg(short = 'D', long = "pgdata", value_name = "DIR")]
    pgdata: PathBuf,
    /// The backup to restore (default: the latest).
    #[arg(long = "set", value_name = "LABEL")]
    set: Option<String>,
    #[command(flatten)]
    jobs: JobsArg,
    /// Restore over an existing data directory: keep files whose checksum matches,
    /// remove files the backup does not have.
    #[arg(long = "delta")]
    delta: bool,
    /// Recover up to this time (recovery_target_time).
    #[arg(long = "target-time", value_name = "TIMESTAMP")]
    target_time: Option<String>,
    /// Recover up to this WAL position (recovery_target_lsn).
    #[arg(long = "target-lsn", value_name = "LSN")]
    target_lsn: Option<Lsn>,
    /// Recover up to this named restore point (recovery_target_name).
    #[arg(long = "target-name", value_name = "NAME")]
    target_name: Option<String>,
    /// Recover up to this transaction (recovery_target_xid).
    #[arg(long = "target-xid", value_name = "XID")]
    target_xid: Option<String>,
    /// What to do at the target: pause, promote or shutdown.
    #[arg(long = "target-action", value_name = "ACTION")]
    target_action: Option<String>,
    /// recovery_target_timeline (default: latest).
    #[arg(long = "target-timeline", value_name = "TIMELINE")]
    target_timeline: Option<String>,
    /// Use this restore_command instead of rbackup archive-get.
    #[arg(long = "restore-command", value_name = "COMMAND")]
    restore_command: Option<String>,
    /// Restore tablespace OID into DIR instead of its original location (repeatable).
    #[arg(long = "tablespace-map", value_name = "OID=DIR")]
    tablespace_map: Vec<String>,
    #[command(flatten)]
    output: OutputArg,
    /// Print help.
    #[arg(long = "help", action = ArgAction::Help)]
    help: Option<bool>,
}

#[derive(Args, Debug)]
struct VerifyArgs {
    #[command(flatten)]
    repo: RepoArg,
    /// The backup to verify (default: all).
    #[arg(long = "set", value_name = "LABEL")]
    set: Option<String>,
    #[command(flatten)]
    jobs: JobsArg,
    #[command(flatten)]
    output: OutputArg,
    /// Print help.
    #[arg(long = "help", action = ArgAction::Help)]
    help: Option<bool>,
}

#[derive(Args, Debug)]
struct InfoArgs {
    #[command(flatten)]
    repo: RepoArg,
    #[command(flatten)]
    output: OutputArg,
    /// Print help.
    #[arg(long = "help", action = ArgAction::Help)]
    help: Option<bool>,
}

#[derive(Args, Debug)]
struct ExpireArgs {
    #[command(flatten)]
    repo: RepoArg,
    /// Keep this many full backups (and the backups built on them).
    #[arg(long = "retain-full", value_name = "N")]
    retain_full: Option<usize>,
    /// Keep this many differential backups (and the incremental ones built on them).
    #[arg(long = "retain-diff", value_name = "N")]
    retain_diff: Option<usize>,
    /// Show what would go, remove nothing.
    #[arg(long = "dry-run")]
    dry_run: bool,
    #[command(flatten)]
    output: OutputArg,
    /// Print help.
    #[arg(long = "help", action = ArgAction::Help)]
    help: Option<bool>,
}

#[derive(Args, Debug)]
struct ArchivePushArgs {
    /// The WAL file (%p).
    #[arg(value_name = "WALPATH")]
    path: PathBuf,
    #[command(flatten)]
    repo: RepoArg,
    /// The cluster's data directory (default: PGDATA, else the current directory).
    #[arg(short = 'D', long = "pgdata", value_name = "DIR", env = "PGDATA")]
    pgdata: Option<PathBuf>,
    /// Compression: none, zstd[:N], lz4[:N] or gzip[:N].
    #[arg(
        long = "compress",
        value_name = "METHOD[:LEVEL]",
        default_value = "zstd:3"
    )]
    compress: Codec,
    /// Print help.
    #[arg(long = "help", action = ArgAction::Help)]
    help: Option<bool>,
}

#[derive(Args, Debug)]
struct ArchiveGetArgs {
    /// The WAL file name (%f).
    #[arg(value_name = "WALFILE")]
    name: String,
    /// Where to put it (%p).
    #[arg(value_name = "DESTINATION")]
    dest: PathBuf,
    #[command(flatten)]
    repo: RepoArg,
    /// Print help.
    #[arg(long = "help", action = ArgAction::Help)]
    help: Option<bool>,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let usage = e.use_stderr();
            let _ = e.print();
            return ExitCode::from(if usage { 2 } else { 0 });
        }
    };
    // The arguments are parsed: a password in a connection string is no longer needed there.
    pgconn::hide_passwords_in_process_title();
    // Everything rbackup creates in a repository is private to its owner.
    // SAFETY: umask only changes this process's file creation mask.
    unsafe {
        libc::umask(0o077);
    }
    cli_support::init_logging_from("RBACKUP_LOG", cli.verbose);
    match run(cli.command) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("rbackup: error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn print_json<T: serde::Serialize>(value: &T) -> Result<(), Error> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Error::Failed(format!("cannot print the report: {e}")))?;
    println!("{text}");
    Ok(())
}

/// Runs a command; returns the exit code for outcomes that are not errors of their own
/// (a backup with page checksum failures, a verify that found damage).
fn run(command: Command) -> Result<u8, Error> {
    match command {
        Command::Backup(a) => run_backup(a),
        Command::Restore(a) => run_restore(a),
        Command::Verify(a) => {
            let report = verify::verify(&a.repo.repo, a.set.as_deref(), a.jobs.jobs as usize)?;
            if a.output.output == Output::Json {
                print_json(&report)?;
            } else {
                for p in &report.problems {
                    let affects = if p.affects.is_empty() {
                        String::new()
                    } else {
                        format!(" (holds {})", p.affects.join(", "))
                    };
                    eprintln!("rbackup: {}: {}{affects}", p.path, p.detail);
                }
                println!(
                    "verified {} backup(s): {} chunks, {}, {} archived WAL files; {} problem(s)",
                    report.backups.len(),
                    report.chunks,
                    info::human(report.bytes),
                    report.archived_wal,
                    report.problems.len()
                );
            }
            Ok(if report.problems.is_empty() { 0 } else { 1 })
        }
        Command::Info(a) => {
            let i = info::info(&a.repo.repo)?;
            if a.output.output == Output::Json {
                print_json(&i)?;
            } else {
                print!("{}", info::render_text(&i));
            }
            Ok(0)
        }
        Command::Expire(a) => {
            let report = expire::expire(
                &a.repo.repo,
                &ExpireOptions {
                    retain_full: a.retain_full,
                    retain_diff: a.retain_diff,
                    dry_run: a.dry_run,
                },
            )?;
            if a.output.output == Output::Json {
                print_json(&report)?;
            } else {
                let verb = if a.dry_run { "would expire" } else { "expired" };
                for l in &report.expired {
                    println!("{verb} backup {l}");
                }
                println!(
                    "{verb} {} backup(s) and {} archived WAL file(s); {} backup(s) remain",
                    report.expired.len(),
                    report.wal_removed,
                    report.kept.len()
                );
            }
            Ok(0)
        }
        Command::ArchivePush(a) => {
            let pgdata = match a.pgdata {
                Some(p) => p,
                None => std::env::current_dir()
                    .map_err(|e| Error::Setup(format!("cannot read the current directory: {e}")))?,
            };
            let outcome = archive::archive_push(&archive::PushOptions {
                repo: a.repo.repo,
                pgdata,
                codec: a.compress,
                wal_path: a.path,
            })?;
            if outcome == PushOutcome::AlreadyArchived {
                tracing::info!("already archived with identical contents");
            }
            Ok(0)
        }
        Command::ArchiveGet(a) => match archive::archive_get(&a.repo.repo, &a.name, &a.dest)? {
            GetOutcome::Restored => Ok(0),
            GetOutcome::NotArchived => {
                eprintln!("rbackup: archive-get: {} is not in the archive", a.name);
                Ok(1)
            }
        },
    }
}

fn run_backup(a: BackupArgs) -> Result<u8, Error> {
    let conn = ConnectOptions::resolve(&a.conn, Some(&a.dbname))?;
    let opts = BackupOptions {
        repo: a.repo.repo,
        pgdata: a.pgdata,
        conn,
        jobs: a.jobs.jobs as usize,
        codec: a.compress,
        backup_type: a.backup_type,
        delta: a.delta,
        fast: a.fast,
        cancellers: pgconn::CancelList::default(),
    };
    let runtime = cli_support::runtime(Some(2)).map_err(Error::Setup)?;
    let cancellers = opts.cancellers.clone();
    let summary = runtime.block_on(async {
        // Cancels the backup connection's statement (pg_backup_start may wait long for a
        // spread checkpoint). Closing the connection ends the server's backup and drops
        // its temporary slot; the files copied so far stay, without a manifest, for the
        // next backup to take over.
        cli_support::on_ctrl_c("rbackup", cancellers, Duration::ZERO, || {
            "the unfinished backup has no manifest (rbackup info lists it as incomplete) and the next backup takes it over".into()
        });
        backup::backup(&opts).await
    })?;
    if a.output.output == Output::Json {
        print_json(&summary)?;
    } else {
        let s = &summary.stats;
        println!(
            "backup {} ({}) complete: {} files, {} ({} copied, {} referenced files, {} resumed chunks), {} stored, WAL {} .. {}, {:.2} s",
            summary.label,
            summary.backup_type,
            s.files,
            info::human(s.raw_bytes),
            info::human(s.copied_bytes),
            s.referenced_files,
            s.resumed_chunks,
            info::human(s.stored_bytes),
            summary.start_wal,
            summary.stop_wal,
            s.seconds
        );
    }
    if summary.page_errors.is_empty() {
        return Ok(0);
    }
    for p in &summary.page_errors {
        let blocks: Vec<String> = p.blocks.iter().map(u64::to_string).collect();
        eprintln!(
            "rbackup: page checksum failure in {} at block{} {}",
            p.path,
            if p.blocks.len() > 1 { "s" } else { "" },
            blocks.join(", ")
        );
    }
    eprintln!(
        "rbackup: backup {} is complete, but {} page(s) failed checksum validation (recorded in its manifest)",
        summary.label, summary.stats.page_errors
    );
    Ok(1)
}

fn run_restore(a: RestoreArgs) -> Result<u8, Error> {
    let mut tablespace_map = std::collections::HashMap::new();
    for item in &a.tablespace_map {
        let (oid, dir) = item
            .split_once('=')
            .ok_or_else(|| Error::Usage(format!("--tablespace-map {item}: expected OID=DIR")))?;
        tablespace_map.insert(oid.to_owned(), PathBuf::from(dir));
    }
    let program = std::env::current_exe()
        .and_then(std::fs::canonicalize)
        .map_err(|e| Error::Setup(format!("cannot find the rbackup program: {e}")))?;
    let opts = RestoreOptions {
        repo: a.repo.repo,
        pgdata: a.pgdata,
        set: a.set,
        jobs: a.jobs.jobs as usize,
        delta: a.delta,
        recovery: RecoveryOptions {
            target_time: a.target_time,
            target_lsn: a.target_lsn,
            target_name: a.target_name,
            target_xid: a.target_xid,
            target_action: a.target_action,
            target_timeline: a.target_timeline,
            restore_command: a.restore_command,
        },
        tablespace_map,
        rbackup_program: program,
    };
    let summary = restore::restore(&opts)?;
    if a.output.output == Output::Json {
        print_json(&summary)?;
    } else {
        println!(
            "restored backup {}: {} files ({} written, {} kept, {} removed), {} written, {} WAL files, {:.2} s",
            summary.label,
            summary.files,
            summary.written_files,
            summary.kept_files,
            summary.removed_files,
            info::human(summary.written_bytes),
            summary.wal_files,
            summary.seconds
        );
    }
    Ok(0)
}
