//! Running external programs: logging the command line (with passwords hidden) and giving
//! client programs an environment that the developer's own `PG*` variables cannot leak into.

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::thread;

/// Runs `cmd` to completion and returns its output. The command line goes to stderr first
/// (captured by the test harness and shown when a test fails), with passwords masked.
pub fn run(cmd: &mut Command) -> Output {
    eprintln!("$ {}", describe(cmd));
    cmd.stdin(Stdio::null());
    match cmd.output() {
        Ok(output) => output,
        Err(err) => panic!("could not start `{}`: {err}", describe(cmd)),
    }
}

/// Like [`run`], but feeds `input` to the program's standard input. The input is written
/// from a separate thread so a program that prints a lot while reading cannot deadlock us.
pub fn run_with_stdin(cmd: &mut Command, input: &[u8]) -> Output {
    eprintln!("$ {}  < ({} bytes of input)", describe(cmd), input.len());
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(err) => panic!("could not start `{}`: {err}", describe(cmd)),
    };
    let mut stdin = child.stdin.take().expect("stdin was piped");
    let input = input.to_vec();
    // A program that exits early closes the pipe; its exit status tells the story, not EPIPE.
    let writer = thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let output = child
        .wait_with_output()
        .unwrap_or_else(|err| panic!("waiting for `{}` failed: {err}", describe(cmd)));
    let _ = writer.join();
    output
}

/// Panics with the command's stderr and stdout unless it exited successfully.
pub fn check(cmd: &mut Command) -> Output {
    let output = run(cmd);
    if !output.status.success() {
        panic!("{}", failure_message(cmd, &output));
    }
    output
}

/// A readable description of a failed command: what ran, how it ended, what it printed.
pub fn failure_message(cmd: &Command, output: &Output) -> String {
    format!(
        "`{}` failed ({})\n--- stderr ---\n{}\n--- stdout ---\n{}",
        describe(cmd),
        output.status,
        String::from_utf8_lossy(&output.stderr).trim_end(),
        String::from_utf8_lossy(&output.stdout).trim_end(),
    )
}

/// The program and its arguments, shell-quoted where needed, with passwords masked.
pub fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|part| shell_quote(&mask_password(&part.to_string_lossy())))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Removes every `PG*` variable (PGHOST, PGPASSWORD, PGSSLMODE, PGSERVICE, ...) from the
/// child's environment, points PGPASSFILE at a file that does not exist and fixes the client
/// encoding, so a test connects exactly where and how its arguments say.
pub fn clean_pg_env(cmd: &mut Command) -> &mut Command {
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("PG") {
            cmd.env_remove(&name);
        }
    }
    cmd.env("PGPASSFILE", "/nonexistent/rdump-tests-pgpass")
        .env("PGSERVICEFILE", "/nonexistent/rdump-tests-pg_service.conf")
        .env("PGSYSCONFDIR", "/nonexistent/rdump-tests-sysconf")
        .env("PGCLIENTENCODING", "UTF8")
        .env("PGCONNECT_TIMEOUT", "30")
}

/// Hides the password in a conninfo fragment (`password=...`) or a URI (`://user:secret@`).
pub fn mask_password(text: &str) -> String {
    let masked = mask_keyword_password(text);
    mask_uri_password(&masked)
}

fn mask_keyword_password(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("password=") {
        let value_start = pos + "password=".len();
        out.push_str(&rest[..value_start]);
        out.push_str("***");
        let value = &rest[value_start..];
        let value_len = if let Some(quoted) = value.strip_prefix('\'') {
            // A quoted conninfo value ends at the first unescaped quote.
            let mut len = 1;
            let mut chars = quoted.char_indices();
            while let Some((i, c)) = chars.next() {
                len = 1 + i + c.len_utf8();
                if c == '\\' {
                    if let Some((j, d)) = chars.next() {
                        len = 1 + j + d.len_utf8();
                    }
                } else if c == '\'' {
                    break;
                }
            }
            len
        } else {
            value
                .find(|c: char| c.is_whitespace() || c == '&')
                .unwrap_or(value.len())
        };
        rest = &value[value_len..];
    }
    out.push_str(rest);
    out
}

fn mask_uri_password(text: &str) -> String {
    let Some(scheme_end) = text.find("://") else {
        return text.to_string();
    };
    let authority_start = scheme_end + 3;
    let authority_len = text[authority_start..]
        .find(['/', '?'])
        .unwrap_or(text.len() - authority_start);
    let authority = &text[authority_start..authority_start + authority_len];
    let Some(at) = authority.rfind('@') else {
        return text.to_string();
    };
    let Some(colon) = authority[..at].find(':') else {
        return text.to_string();
    };
    format!(
        "{}{}:***{}",
        &text[..authority_start],
        &authority[..colon],
        &text[authority_start + at..]
    )
}

fn shell_quote(part: &str) -> String {
    let plain = !part.is_empty()
        && part
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c));
    if plain {
        part.to_string()
    } else {
        format!("'{}'", part.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keyword_passwords() {
        assert_eq!(
            mask_password("host=/tmp password=s3cret user=x"),
            "host=/tmp password=*** user=x"
        );
        assert_eq!(
            mask_password("password='a \\' b' dbname=d"),
            "password=*** dbname=d"
        );
        assert_eq!(mask_password("password=abc"), "password=***");
    }

    #[test]
    fn masks_uri_passwords() {
        assert_eq!(
            mask_password("postgresql://u:pw@localhost:5432/db?sslmode=require"),
            "postgresql://u:***@localhost:5432/db?sslmode=require"
        );
        assert_eq!(
            mask_password("postgresql://u@localhost/db"),
            "postgresql://u@localhost/db"
        );
        assert_eq!(
            mask_password("postgres://h/db?password=x&sslmode=disable"),
            "postgres://h/db?password=***&sslmode=disable"
        );
    }

    #[test]
    fn quotes_arguments_for_display() {
        let mut cmd = Command::new("psql");
        cmd.args(["-c", "SELECT 1", "it's"]);
        assert_eq!(describe(&cmd), r"psql -c 'SELECT 1' 'it'\''s'");
    }
}
