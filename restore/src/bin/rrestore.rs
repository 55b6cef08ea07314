//! `rrestore`: pg_restore -j N for rdump archives. Flags follow pg_restore.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use archive_format::toc::Section;
use clap::{ArgAction, Parser};
use pgconn::{ConnArgs, ConnectOptions};
use restore::{Error, RestoreOptions, ScriptOptions, Selection, SessionOptions};

#[derive(Parser, Debug)]
#[command(
    name = "rrestore",
    version,
    about = "Restore an rdump archive in parallel, or write it as an SQL script",
    disable_help_flag = true
)]
struct Cli {
    /// The archive directory written by rdump.
    #[arg(value_name = "ARCHIVE")]
    archive: PathBuf,
    /// Database to restore into: a name, a conninfo string or a postgresql:// URI
    /// (with -C: the database to connect to first).
    #[arg(short = 'd', long = "dbname", value_name = "DBNAME")]
    dbname: Option<String>,
    #[command(flatten)]
    conn: ConnArgs,
    /// Write an SQL script (or with -l, the list) to FILE instead; "-" for standard output.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<String>,
    /// Print the archive's table of contents (in a form -L reads back).
    #[arg(short = 'l', long = "list")]
    list: bool,
    /// Restore only the entries listed in FILE (lines commented out with ';' are not).
    #[arg(short = 'L', long = "use-list", value_name = "FILE")]
    use_list: Option<PathBuf>,
    /// Number of parallel connections.
    #[arg(short = 'j', long = "jobs", value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    jobs: u16,
    /// Stop at the first error instead of carrying on.
    #[arg(short = 'e', long = "exit-on-error")]
    exit_on_error: bool,
    /// Restore as a single transaction (only with -j 1; implies -e).
    #[arg(short = '1', long = "single-transaction")]
    single_transaction: bool,
    /// Restore only the schema, no data or statistics.
    #[arg(short = 's', long = "schema-only", conflicts_with = "data_only")]
    schema_only: bool,
    /// Restore only the data.
    #[arg(short = 'a', long = "data-only")]
    data_only: bool,
    /// Do not restore object definitions.
    #[arg(long = "no-schema")]
    no_schema: bool,
    /// Do not restore data.
    #[arg(long = "no-data")]
    no_data: bool,
    /// Restore the planner statistics the archive holds (the default).
    #[arg(long = "statistics")]
    statistics: bool,
    /// Do not restore planner statistics.
    #[arg(long = "no-statistics")]
    no_statistics: bool,
    /// Restore only planner statistics, not definitions or data.
    #[arg(long = "statistics-only")]
    statistics_only: bool,
    /// Restore or skip objects as the rules in FILE say (pg_restore's filter format).
    #[arg(long = "filter", value_name = "FILE")]
    filter: Vec<PathBuf>,
    /// Restore the named section: pre-data, data or post-data (repeatable).
    #[arg(long = "section", value_name = "SECTION", value_parser = parse_section)]
    section: Vec<Section>,
    /// Restore only objects in this schema (repeatable).
    #[arg(short = 'n', long = "schema", value_name = "NAME")]
    schema: Vec<String>,
    /// Do not restore objects in this schema (repeatable).
    #[arg(short = 'N', long = "exclude-schema", value_name = "NAME")]
    exclude_schema: Vec<String>,
    /// Restore only the named table (also view, sequence, ...) and its data (repeatable).
    #[arg(short = 't', long = "table", value_name = "NAME")]
    table: Vec<String>,
    /// Restore only the named trigger (repeatable).
    #[arg(short = 'T', long = "trigger", value_name = "NAME")]
    trigger: Vec<String>,
    /// Restore only the named index (repeatable).
    #[arg(short = 'I', long = "index", value_name = "NAME")]
    index: Vec<String>,
    /// Restore only the named function, e.g. "f(integer)" (repeatable).
    #[arg(short = 'P', long = "function", value_name = "NAME(ARGS)")]
    function: Vec<String>,
    /// Do not restore ownership of objects.
    #[arg(short = 'O', long = "no-owner")]
    no_owner: bool,
    /// Do not restore access privileges (GRANT/REVOKE).
    #[arg(short = 'x', long = "no-privileges", visible_alias = "no-acl")]
    no_privileges: bool,
    /// Do not restore comments.
    #[arg(long = "no-comments")]
    no_comments: bool,
    /// Drop the objects before recreating them.
    #[arg(short = 'c', long = "clean")]
    clean: bool,
    /// With -c: use DROP ... IF EXISTS.
    #[arg(long = "if-exists")]
    if_exists: bool,
    /// Create the archive's database (connecting first to the -d database).
    #[arg(short = 'C', long = "create")]
    create: bool,
    /// Disable triggers while loading data (data-only restores).
    #[arg(long = "disable-triggers")]
    disable_triggers: bool,
    /// SET ROLE to this role after connecting.
    #[arg(long = "role", value_name = "ROLE")]
    role: Option<String>,
    /// Do not load the data of a table whose creation failed.
    #[arg(long = "no-data-for-failed-tables")]
    no_data_for_failed_tables: bool,
    /// Continue a restore that was interrupted, skipping what it finished.
    #[arg(long = "resume")]
    resume: bool,
    /// ANALYZE the restored tables at the end.
    #[arg(long = "analyze")]
    analyze: bool,
    /// Commit after every N definitions, on each connection.
    #[arg(long = "transaction-size", value_name = "N")]
    transaction_size: Option<usize>,
    /// maintenance_work_mem for index builds [default: the server's, raised to 256MB].
    #[arg(long = "maintenance-work-mem", value_name = "SIZE")]
    maintenance_work_mem: Option<String>,
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

fn parse_section(s: &str) -> Result<Section, String> {
    s.parse()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The arguments are parsed: a password in a connection string is no longer needed there.
    pgconn::hide_passwords_in_process_title();
    cli_support::init_logging(cli.verbose);
    cli_support::run("rrestore", run(cli), |e: &Error| {
        matches!(e, Error::Usage(_) | Error::Connect(_) | Error::Archive(_))
    })
}

/// On Ctrl-C while a script is written: remove the unfinished script. The script is
/// written on this (blocked) thread; the handler runs on one of the runtime's.
fn remove_script_on_interrupt(path: Option<PathBuf>) {
    let no_connections = pgconn::CancelList::default();
    cli_support::on_ctrl_c(
        "rrestore",
        no_connections,
        Duration::ZERO,
        move || match path {
            Some(p) => {
                let _ = std::fs::remove_file(&p);
                format!("the unfinished script \"{}\" was removed", p.display())
            }
            None => "the script written so far is incomplete".to_string(),
        },
    );
}

fn selection(cli: &Cli) -> Result<Selection, Error> {
    // pg_restore 18's refusals, in its words.
    let pairs = [
        (
            cli.schema_only,
            "-s/--schema-only",
            cli.no_schema,
            "--no-schema",
        ),
        (cli.data_only, "-a/--data-only", cli.no_data, "--no-data"),
        (
            cli.schema_only,
            "-s/--schema-only",
            cli.statistics,
            "--statistics",
        ),
        (
            cli.data_only,
            "-a/--data-only",
            cli.statistics,
            "--statistics",
        ),
        (
            cli.schema_only,
            "-s/--schema-only",
            cli.statistics_only,
            "--statistics-only",
        ),
        (
            cli.data_only,
            "-a/--data-only",
            cli.statistics_only,
            "--statistics-only",
        ),
        (
            cli.statistics,
            "--statistics",
            cli.no_statistics,
            "--no-statistics",
        ),
        (
            cli.statistics_only,
            "--statistics-only",
            cli.no_statistics,
            "--no-statistics",
        ),
    ];
    for (a, a_name, b, b_name) in pairs {
        if a && b {
            return Err(Error::Usage(format!(
                "options {a_name} and {b_name} cannot be used together"
            )));
        }
    }
    let mut names = NameLists {
        schemas: cli.schema.clone(),
        exclude_schemas: cli.exclude_schema.clone(),
        tables: cli.table.clone(),
        triggers: cli.trigger.clone(),
        indexes: cli.index.clone(),
        functions: cli.function.clone(),
    };
    for path in &cli.filter {
        names.add_filter(path)?;
    }
    let use_list = match &cli.use_list {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Error::Usage(format!(
                    "could not read the list file \"{}\": {e}",
                    path.display()
                ))
            })?;
            let toc = archive_format::toc::Toc::read(&cli.archive)?;
            let list = restore::listing::parse_list(&text, &toc);
            for line in &list.ignored {
                eprintln!("rrestore: warning: line ignored: {line}");
            }
            Some(list.ids)
        }
    };
    Ok(Selection {
        sections: cli.section.clone(),
        no_schema: cli.data_only || cli.no_schema || cli.statistics_only,
        no_data: cli.schema_only || cli.no_data || cli.statistics_only,
        no_statistics: cli.schema_only || cli.data_only || cli.no_statistics,
        use_list,
        schemas: names.schemas,
        exclude_schemas: names.exclude_schemas,
        tables: names.tables,
        triggers: names.triggers,
        indexes: names.indexes,
        functions: names.functions,
        no_acl: cli.no_privileges,
        no_comments: cli.no_comments,
        create_db: cli.create,
    })
}

/// The name switches (`-n -N -t -T -I -P`), to which `--filter` files add.
struct NameLists {
    schemas: Vec<String>,
    exclude_schemas: Vec<String>,
    tables: Vec<String>,
    triggers: Vec<String>,
    indexes: Vec<String>,
    functions: Vec<String>,
}

impl NameLists {
    /// Adds the rules of a `--filter` file; pg_restore takes only these.
    fn add_filter(&mut self, path: &std::path::Path) -> Result<(), Error> {
        use logical_shared::filter::ObjectType as O;
        let rules = logical_shared::filter::read(path).map_err(|e| Error::Usage(e.to_string()))?;
        for r in rules {
            let list = match (r.include, r.object) {
                (true, O::Schema) => &mut self.schemas,
                (false, O::Schema) => &mut self.exclude_schemas,
                (true, O::Table) => &mut self.tables,
                (true, O::Trigger) => &mut self.triggers,
                (true, O::Index) => &mut self.indexes,
                (true, O::Function) => &mut self.functions,
                _ => return Err(Error::Usage(r.unsupported(path, "rrestore").to_string())),
            };
            list.push(r.pattern);
        }
        Ok(())
    }
}

/// Standard output for "-", else a new file; the path of a regular file is kept to remove
/// an unfinished one.
fn output(file: &str) -> Result<(Box<dyn Write>, Option<PathBuf>), Error> {
    if file == "-" {
        return Ok((
            Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            None,
        ));
    }
    let path = PathBuf::from(file);
    let f = std::fs::File::create(&path)
        .map_err(|e| Error::Usage(format!("could not open output file \"{file}\": {e}")))?;
    // Only a regular file can hold an unfinished script worth removing: `-f /dev/null` or
    // a pipe must survive a failed run (as root, removing /dev/null breaks the machine).
    let removable = f.metadata().is_ok_and(|m| m.is_file());
    Ok((
        Box::new(std::io::BufWriter::with_capacity(1 << 20, f)),
        removable.then_some(path),
    ))
}

async fn run(cli: Cli) -> Result<ExitCode, Error> {
    if cli.data_only && cli.clean {
        return Err(Error::Usage(
            "options -c/--clean and -a/--data-only cannot be used together".into(),
        ));
    }
    let selection = selection(&cli)?;
    if cli.list {
        archive_format::toc::Toc::read(&cli.archive)?;
        let (mut out, _) = output(cli.file.as_deref().unwrap_or("-"))?;
        restore::list(&cli.archive, &selection, cli.create, &mut out)?;
        out.flush()
            .map_err(|e| Error::Output(format!("writing the list: {e}")))?;
        return Ok(ExitCode::SUCCESS);
    }
    match (&cli.dbname, &cli.file) {
        (Some(_), Some(_)) => Err(Error::Usage(
            "options -d/--dbname and -f/--file cannot be used together".into(),
        )),
        (None, None) => Err(Error::Usage(
            "one of -d/--dbname and -f/--file must be specified".into(),
        )),
        (None, Some(file)) => write_script(&cli, selection, file),
        (Some(dbname), None) => restore_into(&cli, selection, dbname).await,
    }
}

fn write_script(cli: &Cli, selection: Selection, file: &str) -> Result<ExitCode, Error> {
    if cli.resume {
        return Err(Error::Usage(
            "--resume needs a database connection (-d), not a script (-f)".into(),
        ));
    }
    let opts = ScriptOptions {
        archive: cli.archive.clone(),
        selection,
        no_owner: cli.no_owner,
        clean: cli.clean,
        if_exists: cli.if_exists,
        create: cli.create,
        single_transaction: cli.single_transaction,
        disable_triggers: cli.disable_triggers,
        role: cli.role.clone(),
    };
    // A damaged archive is refused before the output file is truncated.
    archive_format::toc::Toc::read(&cli.archive)?;
    let (mut out, path) = output(file)?;
    remove_script_on_interrupt(path.clone());
    match restore::script(&opts, &mut out) {
        Ok(summary) => {
            if cli.verbose > 0 {
                eprintln!(
                    "rrestore: wrote {} entries ({} rows) as a script",
                    summary.entries, summary.rows
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            drop(out);
            if let Some(p) = path {
                let _ = std::fs::remove_file(&p);
                eprintln!(
                    "rrestore: the unfinished script \"{}\" was removed",
                    p.display()
                );
            }
            Err(e)
        }
    }
}

async fn restore_into(cli: &Cli, selection: Selection, dbname: &str) -> Result<ExitCode, Error> {
    let conn = ConnectOptions::resolve(&cli.conn, Some(dbname))?.with_application_name("rrestore");
    let cancellers = pgconn::CancelList::default();
    let after = if cli.single_transaction {
        "the single transaction was rolled back".to_string()
    } else {
        format!(
            "the database is partly restored: run the same command with --resume to finish, or DROP SCHEMA {} CASCADE and start over",
            restore::journal::SCHEMA
        )
    };
    // Cancelled statements end the restore where it stands: report at once.
    cli_support::on_ctrl_c("rrestore", cancellers.clone(), Duration::ZERO, move || {
        after
    });
    let opts = RestoreOptions {
        archive: cli.archive.clone(),
        conn,
        jobs: cli.jobs as usize,
        exit_on_error: cli.exit_on_error,
        single_transaction: cli.single_transaction,
        session: SessionOptions {
            maintenance_work_mem: cli.maintenance_work_mem.clone(),
            role: cli.role.clone(),
            cancellers: cancellers.clone(),
        },
        selection,
        no_owner: cli.no_owner,
        clean: cli.clean,
        if_exists: cli.if_exists,
        create: cli.create,
        disable_triggers: cli.disable_triggers,
        no_data_for_failed_tables: cli.no_data_for_failed_tables,
        resume: cli.resume,
        analyze: cli.analyze,
        progress: std::io::stderr().is_terminal() && cli.verbose == 0,
        transaction_size: cli.transaction_size.unwrap_or(0),
        freeze_all: false,
    };
    restore::check_options(&opts)?;
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
            "rrestore: restored {} of {} items ({} already restored, {} rows) into \"{}\" in {:.2} s",
            summary.done,
            summary.items,
            summary.resumed,
            summary.rows,
            summary.database,
            summary.seconds
        );
        let t = &summary.timing;
        let busy: Vec<String> = t.busy.iter().map(|(k, s)| format!("{k} {s:.2}")).collect();
        eprintln!(
            "rrestore: prepare {:.2} s, load {:.2} s (sessions busy, in s: {}), finish {:.2} s",
            t.prepare,
            t.load,
            busy.join(", "),
            t.finish
        );
    }
    if !summary.skipped.is_empty() {
        eprintln!(
            "rrestore: skipped because something they depend on failed: {}",
            summary.skipped.join(", ")
        );
    }
    if summary.stopped {
        eprintln!("rrestore: error: stopped at the first error (-e)");
        if summary.resumable {
            eprintln!(
                "rrestore: hint: progress is kept in schema {}: fix the cause and run the same \
                 command with --resume, or DROP SCHEMA {} CASCADE",
                restore::journal::SCHEMA,
                restore::journal::SCHEMA
            );
        }
        return Ok(ExitCode::from(1));
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
