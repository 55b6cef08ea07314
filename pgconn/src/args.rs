//! pg_dump's connection flags, shared by every binary.

/// `-h -p -U -w -W`, with pg_dump's meanings. `-h` is the host, so binaries that flatten this
/// into their parser must turn off clap's `-h` help flag (`#[command(disable_help_flag = true)]`
/// plus a `--help` argument of their own).
#[derive(clap::Args, Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnArgs {
    /// Database server host or socket directory
    #[arg(short = 'h', long = "host", value_name = "HOSTNAME")]
    pub host: Option<String>,

    /// Database server port number
    #[arg(short = 'p', long = "port", value_name = "PORT")]
    pub port: Option<String>,

    /// Connect as the specified database user
    #[arg(short = 'U', long = "username", value_name = "NAME")]
    pub username: Option<String>,

    /// Never prompt for a password
    #[arg(short = 'w', long = "no-password", conflicts_with = "force_password")]
    pub no_password: bool,

    /// Force a password prompt (should happen automatically)
    #[arg(short = 'W', long = "password")]
    pub force_password: bool,
}

/// When to ask the terminal for a password.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PasswordPrompt {
    /// Only when the server asks for a password and none was found (no `-w` / `-W`).
    #[default]
    WhenNeeded,
    /// Never (`-w`): a server asking for a password is an error, as scripts expect.
    Never,
    /// Before connecting (`-W`).
    Always,
}

impl ConnArgs {
    /// The prompt policy the flags ask for.
    pub fn password_prompt(&self) -> PasswordPrompt {
        if self.no_password {
            PasswordPrompt::Never
        } else if self.force_password {
            PasswordPrompt::Always
        } else {
            PasswordPrompt::WhenNeeded
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    #[command(disable_help_flag = true)]
    struct Cli {
        #[command(flatten)]
        conn: ConnArgs,
        dbname: Option<String>,
    }

    #[test]
    fn pg_dump_short_flags() {
        let cli =
            Cli::try_parse_from(["rdump", "-h", "/tmp", "-p", "5433", "-U", "bob", "-w", "db"])
                .unwrap();
        assert_eq!(cli.conn.host.as_deref(), Some("/tmp"));
        assert_eq!(cli.conn.port.as_deref(), Some("5433"));
        assert_eq!(cli.conn.username.as_deref(), Some("bob"));
        assert_eq!(cli.conn.password_prompt(), PasswordPrompt::Never);
        assert_eq!(cli.dbname.as_deref(), Some("db"));
    }

    #[test]
    fn long_flags_and_forced_prompt() {
        let cli = Cli::try_parse_from([
            "rdump",
            "--host=h",
            "--port=1",
            "--username=u",
            "--password",
        ])
        .unwrap();
        assert_eq!(cli.conn.host.as_deref(), Some("h"));
        assert_eq!(cli.conn.password_prompt(), PasswordPrompt::Always);
        assert!(Cli::try_parse_from(["rdump", "-w", "-W"]).is_err());
    }
}
