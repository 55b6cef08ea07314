//! The recovery settings a restore writes: `recovery.signal`, and in
//! `postgresql.auto.conf` (read after postgresql.conf, so it wins) a `restore_command`
//! that fetches WAL through `rbackup archive-get` and the recovery target.

use std::path::Path;

use crate::error::{Error, Result};
use crate::postgres::lsn::Lsn;

const MARKER: &str = "# Recovery settings written by rbackup restore";

/// Where recovery should stop and what it does there.
#[derive(Clone, Debug, Default)]
pub struct RecoveryOptions {
    pub target_time: Option<String>,
    pub target_lsn: Option<Lsn>,
    pub target_name: Option<String>,
    pub target_xid: Option<String>,
    /// `pause`, `promote` or `shutdown`.
    pub target_action: Option<String>,
    pub target_timeline: Option<String>,
    /// Replaces the generated `restore_command`.
    pub restore_command: Option<String>,
}

impl RecoveryOptions {
    /// PostgreSQL refuses more than one recovery target.
    pub fn check(&self) -> Result<()> {
        let targets = [
            self.target_time.is_some(),
            self.target_lsn.is_some(),
            self.target_name.is_some(),
            self.target_xid.is_some(),
        ];
        if targets.iter().filter(|t| **t).count() > 1 {
            return Err(Error::Usage(
                "give at most one of --target-time, --target-lsn, --target-name, --target-xid"
                    .into(),
            ));
        }
        if let Some(action) = &self.target_action {
            if !matches!(action.as_str(), "pause" | "promote" | "shutdown") {
                return Err(Error::Usage(format!(
                    "invalid --target-action \"{action}\" (use pause, promote or shutdown)"
                )));
            }
        }
        Ok(())
    }
}

/// Single-quotes `s` for `sh`.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// `restore_command` substitutes `%f`, `%p`, `%r` and `%%`: a literal `%` is doubled.
fn escape_percent(s: &str) -> String {
    s.replace('%', "%%")
}

/// The command PostgreSQL runs to fetch a WAL file from the repository.
pub fn restore_command(rbackup: &Path, repo: &Path) -> String {
    format!(
        "{} archive-get %f \"%p\" --repo {}",
        escape_percent(&shell_quote(&rbackup.display().to_string())),
        escape_percent(&shell_quote(&repo.display().to_string()))
    )
}

/// A postgresql.conf string literal.
fn conf_literal(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "''"))
}

/// The `name = 'value'` settings for `opts`.
pub fn settings(opts: &RecoveryOptions, default_restore_command: String) -> Vec<(String, String)> {
    let mut out = vec![(
        "restore_command".to_owned(),
        opts.restore_command
            .clone()
            .unwrap_or(default_restore_command),
    )];
    let mut push = |name: &str, value: &Option<String>| {
        if let Some(v) = value {
            out.push((name.to_owned(), v.clone()));
        }
    };
    push("recovery_target_time", &opts.target_time);
    push(
        "recovery_target_lsn",
        &opts.target_lsn.map(|l| l.to_string()),
    );
    push("recovery_target_name", &opts.target_name);
    push("recovery_target_xid", &opts.target_xid);
    push("recovery_target_action", &opts.target_action);
    push("recovery_target_timeline", &opts.target_timeline);
    out
}

fn is_recovery_setting(line: &str) -> bool {
    let name = line
        .trim_start()
        .split(|c: char| c == '=' || c.is_whitespace())
        .next()
        .unwrap_or("");
    name == "restore_command" || name.starts_with("recovery_target") || line.trim() == MARKER
}

/// Writes `recovery.signal` and replaces earlier recovery settings in
/// `postgresql.auto.conf` with `settings`.
pub fn write_recovery(pgdata: &Path, settings: &[(String, String)]) -> Result<()> {
    let auto = pgdata.join("postgresql.auto.conf");
    let old = match std::fs::read_to_string(&auto) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(Error::io(&auto, e)),
    };
    let mut text: String = old
        .lines()
        .filter(|l| !is_recovery_setting(l))
        .map(|l| format!("{l}\n"))
        .collect();
    text.push_str(MARKER);
    text.push('\n');
    for (name, value) in settings {
        text.push_str(&format!("{name} = {}\n", conf_literal(value)));
    }
    write_private(&auto, text.as_bytes())?;
    write_private(&pgdata.join("recovery.signal"), b"")
}

fn write_private(path: &Path, data: &[u8]) -> Result<()> {
    archive_format::atomic::write_atomic(path, data)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restore_command_survives_odd_paths() {
        let cmd = restore_command(Path::new("/opt/rb it's/rbackup"), Path::new("/r/100%"));
        assert_eq!(
            cmd,
            "'/opt/rb it'\\''s/rbackup' archive-get %f \"%p\" --repo '/r/100%%'"
        );
        assert_eq!(conf_literal("a'b\\c"), "'a''b\\\\c'");
    }

    #[test]
    fn replaces_earlier_recovery_settings() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("postgresql.auto.conf"),
            "# Do not edit\nwork_mem = '8MB'\nrestore_command = 'old'\nrecovery_target_name = 'x'\n",
        )
        .unwrap();
        let opts = RecoveryOptions {
            target_name: Some("before".into()),
            target_action: Some("promote".into()),
            ..RecoveryOptions::default()
        };
        opts.check().unwrap();
        let s = settings(&opts, "get %f %p".into());
        write_recovery(dir.path(), &s).unwrap();
        let text = std::fs::read_to_string(dir.path().join("postgresql.auto.conf")).unwrap();
        assert_eq!(
            text,
            format!(
                "# Do not edit\nwork_mem = '8MB'\n{MARKER}\nrestore_command = 'get %f %p'\nrecovery_target_name = 'before'\nrecovery_target_action = 'promote'\n"
            )
        );
        assert!(dir.path().join("recovery.signal").is_file());
        // Again: still one set of settings.
        write_recovery(dir.path(), &s).unwrap();
        let again = std::fs::read_to_string(dir.path().join("postgresql.auto.conf")).unwrap();
        assert_eq!(again, text);
    }

    #[test]
    fn one_target_at_most() {
        let opts = RecoveryOptions {
            target_name: Some("a".into()),
            target_lsn: Some(Lsn(1)),
            ..RecoveryOptions::default()
        };
        assert_eq!(opts.check().unwrap_err().exit_code(), 2);
        let bad = RecoveryOptions {
            target_action: Some("explode".into()),
            ..RecoveryOptions::default()
        };
        assert!(bad.check().is_err());
    }
}
