//! `rseed`: a ready copy of an archive's (or a live database's) database, cloned from a
//! template that is built once per content identity and kept on the server.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use archive_format::toc::Section;
use clap::{ArgAction, Parser};
use pgconn::{ConnArgs, ConnectOptions};
use restore::Selection;
use rseed::server::Admin;
use rseed::{Error, SeedOptions, Source, StrategyChoice};

#[derive(Parser, Debug)]
#[command(
    name = "rseed",
    version,
    about = "Make a database that is an exact copy of an rdump archive's, in milliseconds once \
             its template exists: the archive is restored once into a template on the server, \
             then every copy is cloned from it",
    disable_help_flag = true
)]
struct Cli {
    /// The rdump archive (directory) to seed from.
    #[arg(value_name = "ARCHIVE", required_unless_present_any = ["from_db", "list", "prune"])]
    archive: Option<PathBuf>,
    /// Seed from this live database of the same server instead of an archive.
    #[arg(long = "from-db", value_name = "DBNAME", conflicts_with = "archive")]
    from_db: Option<String>,
    /// The database to make (with --count: the stem of NAME_1 ... NAME_K).
    #[arg(short = 'd', long = "dbname", value_name = "NAME",
          required_unless_present_any = ["list", "prune"])]
    dbname: Option<String>,
    /// Make K databases, NAME_1 ... NAME_K, side by side.
    #[arg(long = "count", value_name = "K",
          value_parser = clap::value_parser!(u16).range(1..=1000))]
    count: Option<u16>,
    /// Drop a database of that name first (WITH (FORCE)) instead of refusing.
    #[arg(long = "replace")]
    replace: bool,
    /// Connections for building a template (restore and vacuum) and for dumping --from-db.
    #[arg(short = 'j', long = "jobs", value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    jobs: u16,
    /// Where rseed connects: a database name, conninfo string or URI [default: postgres].
    #[arg(long = "maintenance-db", value_name = "DBNAME")]
    maintenance_db: Option<String>,
    #[command(flatten)]
    conn: ConnArgs,
    /// How to copy the template: auto (by server version and size), wal-log, file-copy, clone.
    #[arg(long = "strategy", value_enum, default_value_t = StrategyChoice::Auto)]
    strategy: StrategyChoice,
    /// List the templates on the server (identity, source, size, built, last used).
    #[arg(long = "list", conflicts_with_all = ["prune", "archive", "from_db", "dbname"])]
    list: bool,
    /// Drop templates (all but the --keep most recently used) and unfinished builds.
    #[arg(long = "prune", conflicts_with_all = ["archive", "from_db", "dbname"])]
    prune: bool,
    /// With --prune: how many of the most recently used templates stay.
    #[arg(
        long = "keep",
        value_name = "N",
        default_value_t = 0,
        requires = "prune"
    )]
    keep: usize,
    /// The template holds only the schema (pre-data and post-data).
    #[arg(short = 's', long = "schema-only")]
    schema_only: bool,
    /// Only objects in this schema (repeatable).
    #[arg(short = 'n', long = "schema", value_name = "NAME")]
    schema: Vec<String>,
    /// Not the objects in this schema (repeatable).
    #[arg(short = 'N', long = "exclude-schema", value_name = "NAME")]
    exclude_schema: Vec<String>,
    /// Only the named table (also view, sequence, ...) and its data (repeatable).
    #[arg(short = 't', long = "table", value_name = "NAME")]
    table: Vec<String>,
    /// Only the entries listed in FILE (as `rrestore -L` reads it).
    #[arg(short = 'L', long = "use-list", value_name = "FILE")]
    use_list: Option<PathBuf>,
    /// Do not restore ownership of objects.
    #[arg(short = 'O', long = "no-owner")]
    no_owner: bool,
    /// Do not restore access privileges (GRANT/REVOKE).
    #[arg(short = 'x', long = "no-privileges", visible_alias = "no-acl")]
    no_privileges: bool,
    /// Do not restore comments.
    #[arg(long = "no-comments")]
    no_comments: bool,
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
    // The arguments are parsed: a password in a connection string is no longer needed there.
    pgconn::hide_passwords_in_process_title();
    cli_support::init_logging(cli.verbose);
    cli_support::run("rseed", run(cli), Error::is_setup)
}

async fn run(cli: Cli) -> Result<ExitCode, Error> {
    let maintenance = ConnectOptions::resolve(
        &cli.conn,
        Some(cli.maintenance_db.as_deref().unwrap_or("postgres")),
    )?
    .with_application_name("rseed");
    if cli.list {
        return list(&maintenance, cli.summary_json).await;
    }
    if cli.prune {
        let admin = Admin::connect(&maintenance).await?;
        let summary = rseed::prune::prune(&admin, cli.keep).await?;
        if cli.summary_json {
            println!("{}", serde_json::to_string(&summary).unwrap_or_default());
        } else {
            for name in &summary.removed {
                eprintln!("rseed: dropped template {name}");
            }
            for name in &summary.builds_removed {
                eprintln!("rseed: dropped unfinished build {name}");
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let source = match (&cli.archive, &cli.from_db) {
        (Some(a), None) => Source::Archive(a.clone()),
        (None, Some(db)) => Source::Database(db.clone()),
        _ => {
            return Err(Error::Usage(
                "name one source: an ARCHIVE, or --from-db DBNAME".into(),
            ))
        }
    };
    let cancellers = pgconn::CancelList::default();
    cli_support::on_ctrl_c(
        "rseed",
        cancellers.clone(),
        std::time::Duration::ZERO,
        || {
            "an unfinished template build is removed by the next rseed that needs it (or by rseed --prune)"
                .into()
        },
    );
    let opts = SeedOptions {
        maintenance,
        source,
        name: cli.dbname.clone().unwrap_or_default(),
        count: cli.count.map(usize::from),
        replace: cli.replace,
        jobs: cli.jobs as usize,
        selection: selection(&cli)?,
        no_owner: cli.no_owner,
        strategy: cli.strategy,
        progress: std::io::stderr().is_terminal() && cli.verbose == 0,
        cancellers,
    };
    let summary = rseed::seed(&opts).await?;
    if cli.summary_json {
        println!("{}", serde_json::to_string(&summary).unwrap_or_default());
    } else if cli.verbose > 0 {
        let made = summary
            .databases
            .as_ref()
            .map(|d| d.join(", "))
            .or(summary.database.clone())
            .unwrap_or_default();
        eprintln!(
            "rseed: made {made} from template {} ({}, {}) in {:.3} s",
            summary.template,
            if summary.built {
                "built by this run"
            } else {
                "already built"
            },
            summary.strategy.as_str(),
            summary.seconds
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn selection(cli: &Cli) -> Result<Selection, Error> {
    let use_list = match (&cli.use_list, &cli.archive) {
        (None, _) => None,
        (Some(path), Some(archive)) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Error::Usage(format!(
                    "could not read the list file \"{}\": {e}",
                    path.display()
                ))
            })?;
            let toc = archive_format::toc::Toc::read(archive)?;
            let list = restore::listing::parse_list(&text, &toc);
            for line in &list.ignored {
                eprintln!("rseed: warning: line ignored: {line}");
            }
            Some(list.ids)
        }
        (Some(_), None) => {
            return Err(Error::Usage(
                "-L/--use-list needs an ARCHIVE (its entry numbers belong to it)".into(),
            ))
        }
    };
    Ok(Selection {
        sections: if cli.schema_only {
            vec![Section::PreData, Section::PostData]
        } else {
            Vec::new()
        },
        // Definitions only: no planner statistics either, as pg_restore -s.
        no_statistics: cli.schema_only,
        use_list,
        schemas: cli.schema.clone(),
        exclude_schemas: cli.exclude_schema.clone(),
        tables: cli.table.clone(),
        no_acl: cli.no_privileges,
        no_comments: cli.no_comments,
        ..Selection::default()
    })
}

async fn list(maintenance: &ConnectOptions, json: bool) -> Result<ExitCode, Error> {
    let admin = Admin::connect(maintenance).await?;
    let templates = admin.templates().await?;
    if json {
        println!("{}", serde_json::to_string(&templates).unwrap_or_default());
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<38} {:>10} {:<24} {:<24} source",
        "template", "size", "built", "last used"
    );
    for t in &templates {
        let (built, used, source) = match &t.record {
            Some(r) => (r.built_at.as_str(), r.last_used.as_str(), r.source.as_str()),
            None => ("?", "?", "(no rseed record)"),
        };
        println!(
            "{:<38} {:>10} {:<24} {:<24} {source}",
            t.name,
            human_size(t.size_bytes),
            built,
            used
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn human_size(bytes: i64) -> String {
    let mut v = bytes as f64;
    for unit in ["B", "kB", "MB", "GB"] {
        if v < 1024.0 {
            return format!("{v:.0} {unit}");
        }
        v /= 1024.0;
    }
    format!("{v:.1} TB")
}
