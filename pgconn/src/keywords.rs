//! The libpq connection keywords, their environment variables, and the raw keyword → value
//! map every source (flags, conninfo strings, URIs, environment) is merged into.

use std::collections::BTreeMap;

use crate::error::Error;

/// Every keyword libpq accepts, with the environment variable that supplies its default.
/// Accepting the whole list means a connection string written for psql never fails with
/// "invalid connection option"; keywords we cannot honour fail later with a clear reason.
const KEYWORDS: &[(&str, Option<&str>)] = &[
    ("host", Some("PGHOST")),
    ("hostaddr", Some("PGHOSTADDR")),
    ("port", Some("PGPORT")),
    ("dbname", Some("PGDATABASE")),
    ("user", Some("PGUSER")),
    ("password", Some("PGPASSWORD")),
    ("passfile", Some("PGPASSFILE")),
    ("require_auth", Some("PGREQUIREAUTH")),
    ("channel_binding", Some("PGCHANNELBINDING")),
    ("connect_timeout", Some("PGCONNECT_TIMEOUT")),
    ("client_encoding", Some("PGCLIENTENCODING")),
    ("options", Some("PGOPTIONS")),
    ("application_name", Some("PGAPPNAME")),
    ("fallback_application_name", None),
    ("keepalives", None),
    ("keepalives_idle", None),
    ("keepalives_interval", None),
    ("keepalives_count", None),
    ("tcp_user_timeout", None),
    ("replication", None),
    ("gssencmode", Some("PGGSSENCMODE")),
    ("sslmode", Some("PGSSLMODE")),
    ("sslnegotiation", Some("PGSSLNEGOTIATION")),
    ("sslcompression", Some("PGSSLCOMPRESSION")),
    ("sslcert", Some("PGSSLCERT")),
    ("sslkey", Some("PGSSLKEY")),
    ("sslkeylogfile", None),
    ("sslpassword", None),
    ("sslcertmode", Some("PGSSLCERTMODE")),
    ("sslrootcert", Some("PGSSLROOTCERT")),
    ("sslcrl", Some("PGSSLCRL")),
    ("sslcrldir", Some("PGSSLCRLDIR")),
    ("sslsni", Some("PGSSLSNI")),
    ("requirepeer", Some("PGREQUIREPEER")),
    ("ssl_min_protocol_version", Some("PGSSLMINPROTOCOLVERSION")),
    ("ssl_max_protocol_version", Some("PGSSLMAXPROTOCOLVERSION")),
    ("min_protocol_version", Some("PGMINPROTOCOLVERSION")),
    ("max_protocol_version", Some("PGMAXPROTOCOLVERSION")),
    ("krbsrvname", Some("PGKRBSRVNAME")),
    ("gsslib", Some("PGGSSLIB")),
    ("gssdelegation", Some("PGGSSDELEGATION")),
    ("service", Some("PGSERVICE")),
    ("servicefile", None),
    ("target_session_attrs", Some("PGTARGETSESSIONATTRS")),
    ("load_balance_hosts", Some("PGLOADBALANCEHOSTS")),
    ("oauth_issuer", None),
    ("oauth_client_id", None),
    ("oauth_client_secret", None),
    ("oauth_scope", None),
];

/// The canonical (static) spelling of a known keyword.
fn known(keyword: &str) -> Option<&'static str> {
    KEYWORDS
        .iter()
        .find(|(name, _)| *name == keyword)
        .map(|(name, _)| *name)
}

/// Raw keyword values as given, before any interpretation. A keyword present with an empty
/// value is different from an absent one: it blocks the environment default, as in libpq.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Params {
    values: BTreeMap<&'static str, String>,
}

impl Params {
    /// Stores `value` under `keyword`, replacing an earlier value. Applies libpq's historical
    /// `requiressl` translation; unknown keywords are an error.
    pub(crate) fn store(&mut self, keyword: &str, value: String) -> Result<(), Error> {
        let (keyword, value) = if keyword == "requiressl" {
            let mode = if value.starts_with('1') {
                "require"
            } else {
                "prefer"
            };
            ("sslmode", mode.to_string())
        } else {
            (keyword, value)
        };
        let name = known(keyword).ok_or_else(|| Error::InvalidOption(keyword.to_string()))?;
        self.values.insert(name, value);
        Ok(())
    }

    /// Copies every value of `other` over ours (how an expanded `dbname` overrides flags).
    pub(crate) fn merge(&mut self, other: Params) {
        self.values.extend(other.values);
    }

    #[cfg(test)]
    pub(crate) fn is_set(&self, keyword: &str) -> bool {
        self.values.contains_key(keyword)
    }

    /// The value, treating an empty one as absent (libpq's reading of every option).
    pub(crate) fn get(&self, keyword: &str) -> Option<&str> {
        self.values
            .get(keyword)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// Fills every keyword that is still absent from its environment variable.
    pub(crate) fn add_env_defaults(&mut self, var: &dyn Fn(&str) -> Option<String>) {
        for (name, env) in KEYWORDS {
            if self.values.contains_key(name) {
                continue;
            }
            if let Some(value) = env.and_then(var) {
                self.values.insert(name, value);
            }
        }
        // The deprecated PGREQUIRESSL only counts when PGSSLMODE did not decide already.
        if !self.values.contains_key("sslmode")
            && var("PGREQUIRESSL").is_some_and(|v| v.starts_with('1'))
        {
            self.values.insert("sslmode", "require".to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keywords_are_rejected_like_libpq() {
        let mut params = Params::default();
        let err = params.store("hots", "x".into()).unwrap_err();
        assert_eq!(err.to_string(), "invalid connection option \"hots\"");
    }

    #[test]
    fn requiressl_becomes_sslmode() {
        let mut params = Params::default();
        params.store("requiressl", "1".into()).unwrap();
        assert_eq!(params.get("sslmode"), Some("require"));
        params.store("requiressl", "0".into()).unwrap();
        assert_eq!(params.get("sslmode"), Some("prefer"));
    }

    #[test]
    fn empty_values_block_environment_defaults_but_read_as_absent() {
        let mut params = Params::default();
        params.store("host", String::new()).unwrap();
        params.add_env_defaults(&|name| {
            (name == "PGHOST" || name == "PGPORT").then(|| "x".to_string())
        });
        assert!(params.is_set("host"));
        assert_eq!(params.get("host"), None);
        assert_eq!(params.get("port"), Some("x"));
    }

    #[test]
    fn pgrequiressl_only_without_sslmode() {
        let env = |name: &str| match name {
            "PGREQUIRESSL" => Some("1".to_string()),
            _ => None,
        };
        let mut params = Params::default();
        params.add_env_defaults(&env);
        assert_eq!(params.get("sslmode"), Some("require"));

        let mut params = Params::default();
        params.store("sslmode", "disable".into()).unwrap();
        params.add_env_defaults(&env);
        assert_eq!(params.get("sslmode"), Some("disable"));
    }
}
