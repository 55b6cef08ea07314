//! `rdump`: pg_dump -Fd -j N, faster. Flags follow pg_dump where the meaning is the same.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use archive_format::toc::Section;
use archive_format::Codec;
use clap::{ArgAction, Parser};
use dump::session::SessionSwitches;
use dump::{DumpOptions, Error, SelectOptions};
use pgconn::{CancelList, ConnArgs, ConnectOptions};

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
    /// Dump from SNAPSHOT, a snapshot another session exported (pg_export_snapshot()).
    #[arg(long = "snapshot", value_name = "SNAPSHOT")]
    snapshot: Option<String>,
    /// Wait until the dump can run without serialization anomalies.
    #[arg(long = "serializable-deferrable")]
    serializable_deferrable: bool,
    /// Dump only the rows row security policies let the user see.
    #[arg(long = "enable-row-security")]
    enable_row_security: bool,
    /// Quote every identifier, even those that are not keywords.
    #[arg(long = "quote-all-identifiers")]
    quote_all_identifiers: bool,
    /// Load partitions' rows through their partition root table.
    #[arg(long = "load-via-partition-root")]
    load_via_partition_root: bool,
    #[command(flatten)]
    select: SelectArgs,
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

/// pg_dump's switches choosing what to dump; patterns follow psql's rules.
#[derive(clap::Args, Debug)]
struct SelectArgs {
    /// Dump only schemas matching PATTERN (repeatable).
    #[arg(short = 'n', long = "schema", value_name = "PATTERN")]
    schema: Vec<String>,
    /// Do not dump schemas matching PATTERN (repeatable).
    #[arg(short = 'N', long = "exclude-schema", value_name = "PATTERN")]
    exclude_schema: Vec<String>,
    /// Dump only tables, views, sequences... matching PATTERN (repeatable).
    #[arg(short = 't', long = "table", value_name = "PATTERN")]
    table: Vec<String>,
    /// Do not dump tables matching PATTERN (repeatable).
    #[arg(short = 'T', long = "exclude-table", value_name = "PATTERN")]
    exclude_table: Vec<String>,
    /// Do not dump the rows of tables matching PATTERN (repeatable).
    #[arg(long = "exclude-table-data", value_name = "PATTERN")]
    exclude_table_data: Vec<String>,
    /// Dump only tables matching PATTERN, with their inheritance children and partitions.
    #[arg(long = "table-and-children", value_name = "PATTERN")]
    table_and_children: Vec<String>,
    /// Do not dump tables matching PATTERN, nor their children and partitions.
    #[arg(long = "exclude-table-and-children", value_name = "PATTERN")]
    exclude_table_and_children: Vec<String>,
    /// Do not dump the rows of tables matching PATTERN, nor of their children.
    #[arg(long = "exclude-table-data-and-children", value_name = "PATTERN")]
    exclude_table_data_and_children: Vec<String>,
    /// Dump only extensions matching PATTERN (repeatable).
    #[arg(short = 'e', long = "extension", value_name = "PATTERN")]
    extension: Vec<String>,
    /// Do not dump extensions matching PATTERN (repeatable).
    #[arg(long = "exclude-extension", value_name = "PATTERN")]
    exclude_extension: Vec<String>,
    /// Include or exclude objects as the rules in FILE say (pg_dump's filter format).
    #[arg(long = "filter", value_name = "FILE")]
    filter: Vec<PathBuf>,
    /// Require each -n, -t and -e pattern to match at least one object.
    #[arg(long = "strict-names")]
    strict_names: bool,
    /// Dump only the object definitions, no data or statistics.
    #[arg(short = 's', long = "schema-only")]
    schema_only: bool,
    /// Dump only the data, not the object definitions or statistics.
    #[arg(short = 'a', long = "data-only")]
    data_only: bool,
    /// Do not dump object definitions.
    #[arg(long = "no-schema")]
    no_schema: bool,
    /// Do not dump data.
    #[arg(long = "no-data")]
    no_data: bool,
    /// Dump planner statistics (off by default, as in pg_dump 18).
    #[arg(long = "statistics")]
    statistics: bool,
    /// Do not dump planner statistics.
    #[arg(long = "no-statistics")]
    no_statistics: bool,
    /// Dump only planner statistics, not definitions or data.
    #[arg(long = "statistics-only")]
    statistics_only: bool,
    /// Dump sequence values even when data is not dumped.
    #[arg(long = "sequence-data")]
    sequence_data: bool,
    /// Do not dump the rows of unlogged tables.
    #[arg(long = "no-unlogged-table-data")]
    no_unlogged_table_data: bool,
    /// Do not dump row security policies.
    #[arg(long = "no-policies")]
    no_policies: bool,
    /// Dump only the named section: pre-data, data or post-data (repeatable).
    #[arg(long = "section", value_name = "SECTION")]
    section: Vec<Section>,
    /// Do not dump privileges (GRANT/REVOKE).
    #[arg(short = 'x', long = "no-privileges", alias = "no-acl")]
    no_privileges: bool,
    /// Do not dump comments.
    #[arg(long = "no-comments")]
    no_comments: bool,
    /// Do not dump security labels.
    #[arg(long = "no-security-labels")]
    no_security_labels: bool,
    /// Do not dump publications.
    #[arg(long = "no-publications")]
    no_publications: bool,
    /// Do not dump subscriptions.
    #[arg(long = "no-subscriptions")]
    no_subscriptions: bool,
    /// Do not dump tablespace assignments.
    #[arg(long = "no-tablespaces")]
    no_tablespaces: bool,
    /// Accepted for pg_dump compatibility: the archive always records the database;
    /// create it with `rrestore -C`.
    #[arg(short = 'C', long = "create")]
    create: bool,
}

impl SelectArgs {
    fn options(&self) -> Result<SelectOptions, Error> {
        // pg_dump 18's refusals, in its words.
        let pairs = [
            (
                self.schema_only,
                "-s/--schema-only",
                self.data_only,
                "-a/--data-only",
            ),
            (
                self.schema_only,
                "-s/--schema-only",
                self.no_schema,
                "--no-schema",
            ),
            (self.data_only, "-a/--data-only", self.no_data, "--no-data"),
            (
                self.schema_only,
                "-s/--schema-only",
                self.statistics,
                "--statistics",
            ),
            (
                self.data_only,
                "-a/--data-only",
                self.statistics,
                "--statistics",
            ),
            (
                self.schema_only,
                "-s/--schema-only",
                self.statistics_only,
                "--statistics-only",
            ),
            (
                self.data_only,
                "-a/--data-only",
                self.statistics_only,
                "--statistics-only",
            ),
            (
                self.statistics,
                "--statistics",
                self.no_statistics,
                "--no-statistics",
            ),
            (
                self.statistics_only,
                "--statistics-only",
                self.no_statistics,
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
        let mut sections: Vec<Section> = if self.section.is_empty() {
            vec![Section::PreData, Section::Data, Section::PostData]
        } else {
            self.section.clone()
        };
        sections.sort();
        sections.dedup();
        let only_data = sections == [Section::Data];
        let has_data = sections.contains(&Section::Data);
        if (self.schema_only && only_data) || (self.data_only && !has_data) {
            return Err(Error::Usage(
                "--section and -s/-a together leave no section to dump".into(),
            ));
        }
        let everything = sections.len() == 3;
        let mut opts = SelectOptions {
            schemas: self.schema.clone(),
            exclude_schemas: self.exclude_schema.clone(),
            tables: self.table.clone(),
            exclude_tables: self.exclude_table.clone(),
            exclude_table_data: self.exclude_table_data.clone(),
            tables_and_children: self.table_and_children.clone(),
            exclude_tables_and_children: self.exclude_table_and_children.clone(),
            exclude_table_data_and_children: self.exclude_table_data_and_children.clone(),
            extensions: self.extension.clone(),
            exclude_extensions: self.exclude_extension.clone(),
            strict_names: self.strict_names,
            sections: if everything { Vec::new() } else { sections },
            no_schema: self.data_only || self.no_schema || self.statistics_only,
            no_data: self.schema_only || self.no_data || self.statistics_only,
            statistics: (self.statistics || self.statistics_only) && !self.no_statistics,
            sequence_data: self.sequence_data,
            no_unlogged_table_data: self.no_unlogged_table_data,
            no_policies: self.no_policies,
            no_acl: self.no_privileges,
            no_comments: self.no_comments,
            no_security_labels: self.no_security_labels,
            no_publications: self.no_publications,
            no_subscriptions: self.no_subscriptions,
            no_tablespaces: self.no_tablespaces,
        };
        for path in &self.filter {
            apply_filter(&mut opts, path)?;
        }
        Ok(opts)
    }
}

/// Adds the rules of a `--filter` file to the switches they stand for.
fn apply_filter(opts: &mut SelectOptions, path: &std::path::Path) -> Result<(), Error> {
    use logical_shared::filter::ObjectType as O;
    let rules = logical_shared::filter::read(path).map_err(|e| Error::Usage(e.to_string()))?;
    for r in rules {
        let list = match (r.include, r.object) {
            (true, O::Schema) => &mut opts.schemas,
            (false, O::Schema) => &mut opts.exclude_schemas,
            (true, O::Table) => &mut opts.tables,
            (false, O::Table) => &mut opts.exclude_tables,
            (true, O::TableAndChildren) => &mut opts.tables_and_children,
            (false, O::TableAndChildren) => &mut opts.exclude_tables_and_children,
            (false, O::TableData) => &mut opts.exclude_table_data,
            (false, O::TableDataAndChildren) => &mut opts.exclude_table_data_and_children,
            (true, O::Extension) => &mut opts.extensions,
            (false, O::Extension) => &mut opts.exclude_extensions,
            _ => return Err(Error::Usage(r.unsupported(path, "rdump").to_string())),
        };
        list.push(r.pattern);
    }
    Ok(())
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
    cli_support::init_logging(cli.verbose);
    cli_support::run("rdump", run(cli), |e: &anyhow::Error| {
        e.downcast_ref::<Error>()
            .is_some_and(|e| matches!(e, Error::Usage(_) | Error::Connect(_)))
    })
}

/// How long an interrupted dump may take to stop and remove its files.
const WIND_DOWN: Duration = Duration::from_secs(10);

/// After an interrupt: whether the unfinished dump in `output` is gone.
fn unfinished_state(output: &std::path::Path) -> String {
    if archive_format::archive::is_absent(output) {
        format!(
            "the unfinished dump in \"{}\" was removed",
            output.display()
        )
    } else {
        format!(
            "the unfinished dump in \"{}\" could not be removed (it has no toc.json: delete it)",
            output.display()
        )
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
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
    let select = cli.select.options()?;
    let _ = cli.select.create;
    let opts = DumpOptions {
        conn,
        output: output.clone(),
        jobs: cli.jobs as usize,
        codec: cli.compress,
        lock_timeout_ms: cli.lock_wait_timeout.unwrap_or(0),
        no_owner: cli.no_owner,
        select,
        progress: std::io::stderr().is_terminal() && cli.verbose == 0,
        cancellers: CancelList::default(),
        switches: SessionSwitches {
            row_security: cli.enable_row_security,
            quote_all_identifiers: cli.quote_all_identifiers,
            serializable_deferrable: cli.serializable_deferrable,
            snapshot: cli.snapshot.clone(),
        },
        load_via_partition_root: cli.load_via_partition_root,
    };
    logical_shared::sql::set_quote_all_identifiers(cli.quote_all_identifiers);
    tracing::info!("dumping {} into {}", opts.conn.describe(), output.display());
    // On Ctrl-C the dump sees its connections cancelled and removes its output; a dump
    // that ends before the cancel requests arrive is complete.
    let for_state = output.clone();
    cli_support::on_ctrl_c("rdump", opts.cancellers.clone(), WIND_DOWN, move || {
        unfinished_state(&for_state)
    });
    let summary = match dump::dump(&opts).await {
        Ok(summary) => summary,
        Err(_) if opts.cancellers.is_triggered() => {
            return Err(Error::Other(format!("interrupted; {}", unfinished_state(&output))).into())
        }
        Err(e) => {
            return Err(
                anyhow::Error::from(e).context(format!("dump of {} failed", opts.conn.describe()))
            )
        }
    };
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
    Ok(ExitCode::SUCCESS)
}
